//! Still images through the real binary: two GStreamer test cameras (H.264 and H.265) record
//! on the hub, and `GET /api/cameras/{name}/still` gives a JPEG of each at the camera's size
//! (read from the JPEG's frame header here, and decoded by `ffprobe`), scaled with `width=`,
//! and from the recording with `at=`. Unknown cameras are 404, widths out of range 400.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use porchlight_e2e::media::{ffprobe_jpeg, jpeg_sof_size};
use porchlight_e2e::rtsp::RtspServer;
use porchlight_e2e::{Daemon, Setup, WAIT};
use serde_json::Value;

/// The camera's picture size (the test server's `--width`/`--height`).
const WIDTH: u32 = 320;
const HEIGHT: u32 = 240;

/// An answer: status, headers (lower-case names), body bytes.
struct Answer {
    code: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `GET path` with the body as bytes (`Connection: close`, so the body ends with the stream).
fn get(addr: SocketAddr, path: &str) -> Answer {
    let mut s = TcpStream::connect(addr).expect("connect to API");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a header block");
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.lines();
    let code =
        lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|c| c.parse().ok()).unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    if headers.iter().any(|(n, v)| n == "transfer-encoding" && v.contains("chunked")) {
        body = dechunk(&body);
    }
    Answer { code, headers, body }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..i]).trim(), 16).unwrap_or(0);
        if n == 0 || b.len() < i + 2 + n {
            break;
        }
        out.extend_from_slice(&b[i + 2..i + 2 + n]);
        b = &b[(i + 4 + n).min(b.len())..];
    }
    out
}

/// A finished segment of `camera` (so its stream has had keyframes, and one is recorded).
fn closed_segment(d: &Daemon, camera: &str) -> Value {
    d.wait_event("segment_closed", |e| e["camera"] == camera)
}

#[test]
fn stills_of_h264_and_h265_cameras_are_jpegs_of_the_camera_size() {
    let Some(server) = RtspServer::start() else { return };
    let s = Setup::new(&format!(
        "[storage]\nsegment_duration = \"2s\"\nmin_free_bytes = \"0 B\"\n\n\
         [[camera]]\nname = \"front\"\nrtsp_url = {:?}\n\n\
         [[camera]]\nname = \"side\"\nrtsp_url = {:?}\n",
        server.url("h264"),
        server.url("h265")
    ));
    let d = Daemon::start(&s.config);
    let addr = d.addr.expect("API address");
    let tmp = s.dir.path();
    for camera in ["front", "side"] {
        let segment = closed_segment(&d, camera);

        let still = get(addr, &format!("/api/cameras/{camera}/still"));
        assert_eq!(still.code, 200, "{camera}: {}", still.text());
        assert_eq!(still.header("content-type"), Some("image/jpeg"));
        assert_eq!(still.header("cache-control"), Some("no-store"));
        assert!(still.header("content-security-policy").is_some(), "the security headers stay");
        assert_eq!(jpeg_sof_size(&still.body), Some((WIDTH, HEIGHT)), "{camera}");
        assert_eq!(ffprobe_jpeg(tmp, &still.body), (WIDTH, HEIGHT), "{camera}");
        let taken: jiff::Timestamp =
            still.header("x-porchlight-frame-time").expect("frame time").parse().expect("RFC 3339");
        let start: jiff::Timestamp = segment["start"].as_str().expect("start").parse().expect("time");
        assert!(taken >= start, "{camera}: the latest keyframe is not older than the closed segment");

        let small = get(addr, &format!("/api/cameras/{camera}/still?width=160"));
        assert_eq!(small.code, 200, "{camera}: {}", small.text());
        assert_eq!(jpeg_sof_size(&small.body), Some((160, 120)), "{camera}");
        assert_eq!(ffprobe_jpeg(tmp, &small.body), (160, 120), "{camera}");

        // From the recording: the keyframe at or before a moment inside the closed segment.
        let end: jiff::Timestamp = segment["end"].as_str().expect("end").parse().expect("time");
        let at = jiff::Timestamp::from_millisecond((start.as_millisecond() + end.as_millisecond()) / 2)
            .expect("a time");
        let recorded = get(addr, &format!("/api/cameras/{camera}/still?at={at}&width=200"));
        assert_eq!(recorded.code, 200, "{camera} at {at}: {}", recorded.text());
        assert_eq!(jpeg_sof_size(&recorded.body), Some((200, 150)), "{camera}");
        assert_eq!(ffprobe_jpeg(tmp, &recorded.body), (200, 150), "{camera}");
        let shown: jiff::Timestamp =
            recorded.header("x-porchlight-frame-time").expect("frame time").parse().expect("RFC 3339");
        assert!(shown >= start && shown <= at, "{camera}: {shown} is the keyframe at or before {at}");
    }

    let unknown = get(addr, "/api/cameras/garage/still");
    assert_eq!(unknown.code, 404, "{}", unknown.text());
    let body: Value = serde_json::from_slice(&unknown.body).expect("JSON error");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("garage")), "{body}");

    for bad in ["width=63", "width=3841", "width=wide", "height=10", "at=yesterday"] {
        let answer = get(addr, &format!("/api/cameras/front/still?{bad}"));
        assert_eq!(answer.code, 400, "{bad}: {}", answer.text());
        let body: Value = serde_json::from_slice(&answer.body).expect("JSON error");
        assert!(body["error"].is_string(), "{body}");
    }

    // Nothing recorded that long ago: no picture.
    let old = get(addr, "/api/cameras/front/still?at=2020-01-01T00:00:00Z");
    assert_eq!(old.code, 404, "{}", old.text());
}

#[test]
fn without_ffmpeg_a_still_is_503_and_says_which_key_to_set() {
    let Some(server) = RtspServer::start() else { return };
    let s = Setup::new(&format!(
        "[storage]\nsegment_duration = \"2s\"\nmin_free_bytes = \"0 B\"\n\n\
         [stills]\nffmpeg = \"/nonexistent/ffmpeg\"\n\n\
         [[camera]]\nname = \"front\"\nrtsp_url = {:?}\n",
        server.url("h264"),
    ));
    let d = Daemon::start(&s.config);
    closed_segment(&d, "front");
    let answer = get(d.addr.expect("API address"), "/api/cameras/front/still");
    assert_eq!(answer.code, 503, "{}", answer.text());
    let body: Value = serde_json::from_slice(&answer.body).expect("JSON error");
    let error = body["error"].as_str().expect("an error");
    assert!(error.contains("front") && error.contains("stills.ffmpeg"), "{error}");
}

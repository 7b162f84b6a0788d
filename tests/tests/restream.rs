//! The RTSP restream through the real binary: a hub records two cameras of the GStreamer test
//! camera (`/h264`, H.264 + AAC, as `front`; `/h265`, H.265, as `back`) and serves them at
//! `rtsp://<restream.listen>/<camera>`. `ffprobe` sees each camera's codec and size, `ffmpeg`
//! decodes 3 s of it without an error, two clients at once are served from the hub's one
//! session at the camera (the test camera logs every connection), a login is enforced with
//! RTSP Digest, and bad requests get their status codes. With `[restream]` off, nothing
//! listens.
//!
//! Skipped with a message when the test camera or ffmpeg cannot run here, unless
//! `PORCHLIGHT_REQUIRE_PEERS=1`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use porchlight_e2e::media::run_tool;
use porchlight_e2e::rtsp::RtspServer;
use porchlight_e2e::{Daemon, Setup, WAIT, message};
use serde_json::Value;

const USER: &str = "viewer";
const PASSWORD: &str = "porch light";

/// A hub recording `front` (`/h264`) and `back` (`/h265`) of `camera`, with `restream` as the
/// `[restream]` section's body (`listen` on an ephemeral port unless it says otherwise).
fn hub(camera: &RtspServer, restream: &str) -> Setup {
    let listen = if restream.contains("listen") { "" } else { "listen = \"127.0.0.1:0\"\n" };
    Setup::new(&format!(
        "[storage]\nsegment_duration = \"2s\"\nmin_free_bytes = \"0 B\"\n\n\
         [[camera]]\nname = \"front\"\nrtsp_url = {:?}\n\n[[camera]]\nname = \"back\"\nrtsp_url = {:?}\n\n\
         [[camera]]\nname = \"off\"\nenabled = false\nrtsp_url = {:?}\n\n\
         [restream]\n{listen}{restream}\n",
        camera.url("h264"),
        camera.url("h265"),
        camera.url("h264"),
    ))
}

/// Starts the daemon and waits until both cameras record and the restream listens; its address.
fn start(s: &Setup) -> (Daemon, SocketAddr) {
    let d = Daemon::start(&s.config);
    let line = d.wait_log("the restream to listen", |l| message(l) == "Restream listening");
    let addr = line["fields"]["addr"].as_str().and_then(|a| a.parse().ok()).expect("restream address");
    for camera in ["front", "back"] {
        d.wait_event("camera_online", |e| e["camera"] == camera);
    }
    (d, addr)
}

fn url(addr: SocketAddr, camera: &str) -> String {
    format!("rtsp://{addr}/{camera}")
}

fn url_with_login(addr: SocketAddr, camera: &str, password: &str) -> String {
    format!("rtsp://{USER}:{}@{addr}/{camera}", password.replace(' ', "%20"))
}

/// `ffprobe -rtsp_transport tcp -show_streams`: the JSON, or ffprobe's complaint.
fn ffprobe(url: &str) -> Option<Result<Value, String>> {
    let out =
        run_tool("ffprobe", &["-rtsp_transport", "tcp", "-v", "error", "-show_streams", "-of", "json", url])?;
    if !out.status.success() {
        return Some(Err(String::from_utf8_lossy(&out.stderr).into_owned()));
    }
    Some(Ok(serde_json::from_slice(&out.stdout).expect("ffprobe JSON")))
}

/// (codec name, width, height) of each stream ffprobe found.
fn streams(json: &Value) -> Vec<(String, u64, u64)> {
    json["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .map(|s| {
            let codec = s["codec_name"].as_str().unwrap_or("?").to_owned();
            (codec, s["width"].as_u64().unwrap_or(0), s["height"].as_u64().unwrap_or(0))
        })
        .collect()
}

/// `ffmpeg -rtsp_transport tcp -i URL -t 3 -f null -`: (video frames decoded, ffmpeg's errors).
fn decode(url: &str) -> Option<(u64, String)> {
    let out = run_tool(
        "ffmpeg",
        &[
            "-nostdin",
            "-v",
            "error",
            "-rtsp_transport",
            "tcp",
            "-i",
            url,
            "-t",
            "3",
            "-f",
            "null",
            "-",
            "-progress",
            "pipe:1",
            "-nostats",
        ],
    )?;
    let progress = String::from_utf8_lossy(&out.stdout);
    let frames = progress
        .lines()
        .filter_map(|l| l.strip_prefix("frame="))
        .filter_map(|n| n.trim().parse().ok())
        .next_back()
        .unwrap_or(0);
    let errors = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "ffmpeg {url} failed:\n{errors}");
    Some((frames, errors))
}

/// Sends one RTSP request on a new connection; the answer's status and head.
fn request(addr: SocketAddr, text: &str) -> (u16, String) {
    let mut c = TcpStream::connect(addr).expect("connect to the restream");
    c.set_read_timeout(Some(WAIT)).expect("timeout");
    c.write_all(text.as_bytes()).expect("send");
    answer(&mut c)
}

/// Reads one RTSP answer from `c`: its status and head.
fn answer(c: &mut TcpStream) -> (u16, String) {
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        let n = c.read(&mut byte).expect("read the answer");
        assert!(n == 1, "the restream closed the connection after {:?}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).expect("text");
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status code");
    // The body (an SDP, or the reason for a refusal) is read past.
    let body = header(&head, "Content-Length").map_or(0, |n| n.parse().expect("a length"));
    let mut skip = vec![0u8; body];
    c.read_exact(&mut skip).expect("read the body");
    (status, head)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// How many RTSP connections the test camera has taken so far.
fn camera_sessions(camera: &RtspServer) -> usize {
    camera.stderr().lines().filter(|l| l.starts_with("rtsp_server: client ")).count()
}

#[test]
fn each_camera_is_served_with_its_codec_and_size_and_decodes_cleanly() {
    let Some(camera) = RtspServer::start() else { return };
    let s = hub(&camera, "enabled = true\n");
    let (_d, addr) = start(&s);

    let Some(front) = ffprobe(&url(addr, "front")) else { return };
    let front = front.unwrap_or_else(|e| panic!("ffprobe front: {e}"));
    assert_eq!(streams(&front), [("h264".into(), 320, 240), ("aac".into(), 0, 0)], "{front:#}");
    let back = ffprobe(&url(addr, "back")).expect("ffprobe").unwrap_or_else(|e| panic!("ffprobe back: {e}"));
    assert_eq!(streams(&back), [("hevc".into(), 320, 240)], "{back:#}");

    for cam in ["front", "back"] {
        let (frames, errors) = decode(&url(addr, cam)).expect("ffmpeg");
        assert!(errors.trim().is_empty(), "{cam}: ffmpeg reported errors:\n{errors}");
        // 3 s of a 15 fps camera, from a keyframe on.
        assert!(frames >= 30, "{cam}: only {frames} frames decoded");
    }
}

#[test]
fn two_clients_at_once_share_the_hubs_one_session_at_the_camera() {
    let Some(camera) = RtspServer::start() else { return };
    let s = hub(&camera, "enabled = true\n");
    let (d, addr) = start(&s);
    let before = camera_sessions(&camera);
    // front and back: the hub's own connections (a port probe, then the session).
    assert!(before >= 2, "camera log:\n{}", camera.stderr());

    let u = url(addr, "front");
    let clients: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn({
                let u = u.clone();
                move || decode(&u)
            })
        })
        .collect();
    let mut played = 0;
    for c in clients {
        if let Some((frames, errors)) = c.join().expect("client thread") {
            assert!(errors.trim().is_empty(), "{errors}");
            assert!(frames >= 30, "only {frames} frames");
            played += 1;
        }
    }
    if played == 0 {
        return;
    }
    // Both clients were playing at the same time (each logs its start, and its stop after).
    let logs = d.logs();
    let events: Vec<&str> = logs
        .iter()
        .map(message)
        .filter(|m| *m == "Restream client playing" || *m == "Restream client stopped")
        .collect();
    assert_eq!(
        &events[..2],
        ["Restream client playing", "Restream client playing"],
        "the two clients did not overlap: {events:?}"
    );
    assert_eq!(
        camera_sessions(&camera),
        before,
        "a restream client opened a session at the camera:\n{}",
        camera.stderr()
    );
}

#[test]
fn with_a_login_only_the_right_digest_credentials_play() {
    let Some(camera) = RtspServer::start() else { return };
    let s = hub(&camera, &format!("enabled = true\nusername = {USER:?}\npassword = {PASSWORD:?}\n"));
    let (d, addr) = start(&s);
    let describe = |extra: &str| {
        request(addr, &format!("DESCRIBE {} RTSP/1.0\r\nCSeq: 2\r\n{extra}\r\n", url(addr, "front")))
    };

    let (status, head) = describe("");
    assert_eq!(status, 401, "{head}");
    let challenge = header(&head, "WWW-Authenticate").expect("a challenge");
    assert!(challenge.starts_with("Digest realm=\"Porchlight\", nonce=\""), "{challenge}");
    assert!(head.contains("CSeq: 2\r\n"), "{head}");
    // Basic is refused, even with the right password.
    let basic = base64_basic(USER, PASSWORD);
    assert_eq!(describe(&format!("Authorization: Basic {basic}\r\n")).0, 401);

    let Some(wrong) = ffprobe(&url_with_login(addr, "front", "guess")) else { return };
    let wrong = wrong.expect_err("a wrong password plays");
    assert!(wrong.contains("401"), "{wrong}");
    d.wait_log("the refusal logged with the client's address", |l| {
        message(l) == "Restream request refused"
            && l["fields"]["status"] == 401
            && l["fields"]["client"].as_str().is_some_and(|c| c.starts_with("127.0.0.1:"))
    });
    let no_login = ffprobe(&url(addr, "front")).expect("ffprobe").expect_err("no login plays");
    assert!(no_login.contains("401"), "{no_login}");

    let (frames, errors) = decode(&url_with_login(addr, "front", PASSWORD)).expect("ffmpeg");
    assert!(errors.trim().is_empty(), "{errors}");
    assert!(frames >= 30, "only {frames} frames");
}

fn base64_basic(user: &str, password: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

#[test]
fn bad_requests_get_clear_status_codes() {
    let Some(camera) = RtspServer::start() else { return };
    let s = hub(&camera, "enabled = true\ncameras = [\"front\", \"off\"]\n");
    let (d, addr) = start(&s);
    let describe =
        |cam: &str| request(addr, &format!("DESCRIBE {} RTSP/1.0\r\nCSeq: 1\r\n\r\n", url(addr, cam)));

    let (status, head) = request(addr, "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n");
    assert_eq!(status, 200, "{head}");
    assert!(header(&head, "Public").is_some_and(|p| p.contains("DESCRIBE") && p.contains("PLAY")), "{head}");
    assert_eq!(describe("nowhere").0, 404, "an unknown camera");
    assert_eq!(describe("back").0, 404, "a camera left out of restream.cameras");
    assert_eq!(describe("off").0, 503, "a disabled camera");
    let (status, head) = describe("front");
    assert_eq!(status, 200, "{head}");
    assert_eq!(header(&head, "Content-Type"), Some("application/sdp"));
    assert_eq!(header(&head, "Content-Base"), Some(format!("{}/", url(addr, "front")).as_str()));

    // On one connection: PLAY wants a session first; UDP is not served; other methods are
    // not served; then a session is set up, and another session's id is refused.
    let front = url(addr, "front");
    let mut c = TcpStream::connect(addr).expect("connect");
    c.set_read_timeout(Some(WAIT)).expect("timeout");
    c.write_all(format!("PLAY {front} RTSP/1.0\r\nCSeq: 2\r\nSession: 1234\r\n\r\n").as_bytes())
        .expect("send");
    assert_eq!(answer(&mut c).0, 455, "PLAY before SETUP");
    c.write_all(
        format!("SETUP {front}/trackID=0 RTSP/1.0\r\nCSeq: 3\r\nTransport: RTP/AVP;unicast;client_port=5000-5001\r\n\r\n")
            .as_bytes(),
    )
    .expect("send");
    assert_eq!(answer(&mut c).0, 461, "UDP");
    c.write_all(format!("RECORD {front} RTSP/1.0\r\nCSeq: 4\r\n\r\n").as_bytes()).expect("send");
    assert_eq!(answer(&mut c).0, 501);
    c.write_all(b"DESCRIBE rtsp://x/a/b/c RTSP/1.0\r\nCSeq: 5\r\n\r\n").expect("send");
    assert_eq!(answer(&mut c).0, 400, "not a camera URL");
    c.write_all(format!("SETUP {front}/trackID=0 RTSP/1.0\r\nCSeq: 6\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n").as_bytes()).expect("send");
    let (status, head) = answer(&mut c);
    assert_eq!(status, 200, "{head}");
    assert_eq!(header(&head, "Transport"), Some("RTP/AVP/TCP;unicast;interleaved=0-1"));
    c.write_all(format!("PLAY {front} RTSP/1.0\r\nCSeq: 7\r\nSession: not-it\r\n\r\n").as_bytes())
        .expect("send");
    assert_eq!(answer(&mut c).0, 454, "another session");

    // A request head beyond 8 KiB is refused and the connection closed.
    let (status, _) = request(addr, &format!("OPTIONS * RTSP/1.0\r\nX: {}\r\n\r\n", "a".repeat(9000)));
    assert_eq!(status, 400);

    for status in [404, 455, 461, 454] {
        d.wait_log("the refusal logged", |l| {
            message(l) == "Restream request refused" && l["fields"]["status"] == status
        });
    }
}

#[test]
fn with_the_restream_off_nothing_listens() {
    let Some(camera) = RtspServer::start() else { return };
    // A port that is free now: the hub would listen on it if the restream were on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let s = hub(&camera, &format!("enabled = false\nlisten = \"127.0.0.1:{port}\"\n"));
    let d = Daemon::start(&s.config);
    d.wait_event("camera_online", |e| e["camera"] == "front");
    assert!(d.find_log(|l| message(l) == "Restream listening").is_none());
    let refused =
        TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), Duration::from_secs(2));
    assert!(refused.is_err(), "something listens on the restream's port");
}

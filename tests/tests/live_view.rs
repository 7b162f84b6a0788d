//! Watching cameras live in the web app, in a real headless Chromium, against the real daemon
//! and the GStreamer RTSP test camera: the live page plays the camera (the `<video>` advances
//! and shows the camera's own size); further viewers (the browser's one page, two `ffmpeg`
//! readers of `GET /api/cameras/{name}/live`) add no session at the camera (counted at the RTSP
//! server); a camera that is offline says so on its tile and plays by itself once it comes up;
//! an H.265 camera, which headless Chromium cannot decode, shows its still picture instead;
//! privacy mode does not stop the resident's own live view. Screenshots in
//! `target/screenshots/<test>/`.

#![allow(clippy::print_stderr)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};

use porchlight_e2e::browser::Browser;
use porchlight_e2e::rtsp::RtspServer;
use porchlight_e2e::web;
use porchlight_e2e::{Daemon, Setup, WAIT, media};

/// Connections the test camera has accepted (it logs `client <ip>` for each, the hub's port
/// probes included).
fn sessions(camera: &RtspServer) -> usize {
    camera.stderr().lines().filter(|l| l.contains(": client ")).count()
}

/// The `<video>` of `camera`'s tile: (currentTime, videoWidth, videoHeight, frames shown).
fn video_state(b: &Browser, camera: &str) -> (f64, u64, u64, u64) {
    let v = b.execute(
        "const v = document.querySelector(`video[data-camera=\"${arguments[0]}\"]`);
         if (!v) return null;
         const q = v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : { totalVideoFrames: 0 };
         return [v.currentTime, v.videoWidth, v.videoHeight, q.totalVideoFrames - q.droppedVideoFrames];",
        &[serde_json::json!(camera)],
    );
    let n = |i: usize| v[i].as_f64().unwrap_or(0.0);
    (n(0), n(1) as u64, n(2) as u64, n(3) as u64)
}

/// Waits until `camera`'s video has shown frames and advanced by `seconds` of media time.
fn wait_playing(b: &Browser, camera: &str, seconds: f64) -> (u64, u64) {
    let (start, ..) = b.wait_until(&format!("{camera}'s video to start"), WAIT, |b| {
        let s = video_state(b, camera);
        (s.3 > 0 && s.1 > 0).then_some(s)
    });
    b.wait_until(&format!("{camera}'s video to advance {seconds} s"), WAIT, |b| {
        let s = video_state(b, camera);
        (s.0 >= start + seconds).then_some((s.1, s.2))
    })
}

/// An `ffmpeg` that reads `url` and decodes `frames` video frames of it.
fn ffmpeg_viewer(url: &str, frames: u32) -> Child {
    Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i", url, "-frames:v", &frames.to_string(), "-f", "null", "-"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ffmpeg")
}

/// A port on 127.0.0.1 that nothing listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

#[test]
fn the_live_page_plays_every_camera_from_the_hubs_own_session() {
    let test = "the_live_page_plays_every_camera_from_the_hubs_own_session";
    if !media::available() {
        return;
    }
    let Some(camera) = RtspServer::start() else { return };
    let Some(b) = Browser::start(test) else { return };
    // `garden` has no camera yet: its port refuses until the test starts one there.
    let garden_port = free_port();
    let setup = Setup::new(&format!(
        "[[camera]]\nname = \"porch\"\nrtsp_url = {:?}\n\n\
         [[camera]]\nname = \"drive\"\nrtsp_url = {:?}\n\n\
         [[camera]]\nname = \"garden\"\nrtsp_url = \"rtsp://127.0.0.1:{garden_port}/h264\"\n",
        camera.url("h264"),
        camera.url("h265")
    ));
    let daemon = Daemon::start(&setup.config);
    let addr = daemon.addr.expect("API address");
    daemon.wait_log("porch streaming", |l| {
        l["fields"]["message"] == "Streaming" && l["span"]["camera"] == "porch"
    });
    // The hub's own connections so far (its port probe and its session).
    let before = sessions(&camera);
    assert!(before >= 1, "the hub's own session: {}", camera.stderr());

    // The grid: porch plays at the camera's size; garden says it is offline.
    b.goto(&format!("http://{addr}/#/live"));
    b.wait_for("main[data-page=\"/live\"]");
    let (w, h) = wait_playing(&b, "porch", 2.0);
    assert_eq!((w, h), (320, 240), "the camera's own size");
    let garden = b.wait_for("li.live-tile[data-camera=\"garden\"][data-live=\"waiting\"]");
    assert!(garden.text().contains("offline"), "garden's tile: {}", garden.text());
    b.wait_for("#live-privacy[data-privacy=\"off\"]");
    // drive is H.265, which this Chromium cannot decode: its tile shows the camera's still
    // picture (a JPEG at the grid's 640 pixels wide, the camera's 4:3 kept) and says why.
    let drive = b.wait_for("li.live-tile[data-camera=\"drive\"][data-live=\"unsupported\"]");
    assert!(drive.text().contains("H.265"), "drive's tile: {}", drive.text());
    let size = b.wait_until("drive's still picture", WAIT, |b| {
        let v = b.execute(
            "const i = document.querySelector('li.live-tile[data-camera=\"drive\"] img.live-still');
             return i && i.complete && i.naturalWidth ? [i.naturalWidth, i.naturalHeight] : null;",
            &[],
        );
        Some((v.get(0)?.as_u64()?, v.get(1)?.as_u64()?))
    });
    assert_eq!(size, (640, 480), "drive's still at the grid's width");
    b.screenshot("grid");

    // Two more viewers of porch, outside the browser: each decodes the camera's frames.
    let url = format!("http://{addr}/api/cameras/porch/live");
    let viewers = [ffmpeg_viewer(&url, 30), ffmpeg_viewer(&url, 30)];
    for v in viewers {
        let out = v.wait_with_output().expect("ffmpeg viewer");
        let errors = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && errors.trim().is_empty(), "ffmpeg viewer: {errors}");
    }
    // Still one session at the camera, with three viewers served.
    assert_eq!(sessions(&camera), before, "no viewer opened a session at the camera: {}", camera.stderr());

    // Privacy mode does not stop the resident's own live view, and the page says so.
    let r = web::request(
        addr,
        "PUT",
        "/api/privacy",
        &[("Content-Type", "application/json")],
        Some("{\"on\": true}"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    b.wait_for("#live-privacy[data-privacy=\"on\"]");
    wait_playing(&b, "porch", 1.0);
    b.screenshot("privacy-on");

    // garden's camera comes up: its tile plays by itself.
    let Some(_garden_camera) = RtspServer::start_with(&["--port", &garden_port.to_string()]) else { return };
    let (w, h) = wait_playing(&b, "garden", 1.0);
    assert_eq!((w, h), (320, 240));
    b.wait_for("li.live-tile[data-camera=\"garden\"][data-live=\"playing\"]");

    // One camera full size.
    b.find("li.live-tile[data-camera=\"porch\"] h3 a").click();
    b.wait_for("li.live-tile.live-one[data-camera=\"porch\"]");
    wait_playing(&b, "porch", 1.0);
    b.screenshot("one-camera");
    b.assert_no_console_errors();
}

#[test]
fn the_live_stream_is_fragmented_mp4_and_refuses_what_cannot_be_watched() {
    if !media::available() {
        return;
    }
    let Some(camera) = RtspServer::start() else { return };
    let setup = Setup::new(&format!(
        "[[camera]]\nname = \"porch\"\nrtsp_url = {:?}\n\n\
         [[camera]]\nname = \"shed\"\nrtsp_url = {:?}\nrecord = \"off\"\n",
        camera.url("h264"),
        camera.url("h264")
    ));
    let daemon = Daemon::start(&setup.config);
    let addr = daemon.addr.expect("API address");
    daemon.wait_log("porch streaming", |l| {
        l["fields"]["message"] == "Streaming" && l["span"]["camera"] == "porch"
    });

    // What ffprobe sees: the camera's H.264 at its size, with its AAC audio.
    let url = format!("http://{addr}/api/cameras/porch/live");
    let out = media::run_tool(
        "ffprobe",
        &["-v", "error", "-show_streams", "-of", "json", "-read_intervals", "%+2", &url],
    )
    .expect("ffprobe");
    assert!(out.status.success(), "ffprobe: {}", String::from_utf8_lossy(&out.stderr));
    let probe: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ffprobe JSON");
    let streams = probe["streams"].as_array().expect("streams");
    let video = streams.iter().find(|s| s["codec_type"] == "video").expect("a video stream");
    assert_eq!(
        (video["codec_name"].as_str(), video["width"].as_u64(), video["height"].as_u64()),
        (Some("h264"), Some(320), Some(240))
    );
    assert!(streams.iter().any(|s| s["codec_name"] == "aac"), "the camera's audio: {streams:?}");

    // A full decode of 45 frames (3 s at 15 fps) without an error.
    let out = ffmpeg_viewer(&url, 45).wait_with_output().expect("ffmpeg");
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && errors.trim().is_empty(), "ffmpeg: {errors}");

    // The headers the web app reads.
    let head = web::request(addr, "HEAD", "/api/cameras/porch/live", &[], None);
    assert_eq!(head.status, 200);
    assert!(
        head.header("x-porchlight-codec").is_some_and(|c| c.contains("avc1.") && c.contains("mp4a.")),
        "{:?}",
        head.headers
    );
    assert!(head.header("x-porchlight-origin").is_some_and(|o| o.ends_with('Z')), "{:?}", head.headers);

    // What cannot be watched, and why.
    let r = web::request(addr, "GET", "/api/cameras/nowhere/live", &[], None);
    assert_eq!(r.status, 404, "{}", r.body);
    let r = web::request(addr, "GET", "/api/cameras/shed/live", &[], None);
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.json()["state"], "off");
    assert!(r.json()["error"].as_str().is_some_and(|e| e.contains("off or paused")), "{}", r.body);
    let r = web::request(addr, "GET", "/api/live", &[], None);
    assert_eq!(r.status, 400, "{}", r.body);
    let r = web::request(addr, "GET", "/api/live?camera=nowhere", &[], None);
    assert_eq!(r.status, 404, "{}", r.body);
}

/// The value of one series in the hub's `/metrics` (0 when absent).
fn metric(addr: std::net::SocketAddr, series: &str) -> f64 {
    let (status, text) = porchlight_e2e::http_get(addr, "/metrics", None);
    assert_eq!(status, 200, "{text}");
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok())).unwrap_or(0.0)
}

#[test]
fn viewers_that_stop_reading_cost_the_recording_nothing() {
    use std::io::Write;
    let Some(camera) = RtspServer::start() else { return };
    let setup = Setup::new(&format!(
        "[storage]\nsegment_duration = \"2s\"\n\n[[camera]]\nname = \"porch\"\nrtsp_url = {:?}\n",
        camera.url("h264")
    ));
    let daemon = Daemon::start(&setup.config);
    let addr = daemon.addr.expect("API address");
    daemon.wait_log("porch streaming", |l| {
        l["fields"]["message"] == "Streaming" && l["span"]["camera"] == "porch"
    });

    // Four viewers that ask for the stream and never read a byte of it.
    let stalled: Vec<_> = (0..4)
        .map(|_| {
            let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
            s.set_recv_buffer_size(4096).expect("small receive buffer");
            s.connect(&addr.into()).expect("connect");
            let mut s: std::net::TcpStream = s.into();
            write!(s, "GET /api/cameras/porch/live HTTP/1.1\r\nHost: {addr}\r\n\r\n").expect("send");
            s
        })
        .collect();
    // Recording goes on: three more segments finish while the viewers hang.
    let mut events = daemon.events();
    for _ in 0..3 {
        events.next_matching(|e| e["type"] == "segment_closed" && e["camera"] == "porch");
    }
    assert_eq!(
        metric(addr, r#"porchlight_recording_frames_dropped_total{camera="porch",reason="backlog"}"#),
        0.0,
        "no frame was dropped from the recording"
    );
    // A new viewer still gets the live picture at once.
    let out = ffmpeg_viewer(&format!("http://{addr}/api/cameras/porch/live"), 15)
        .wait_with_output()
        .expect("ffmpeg");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    drop(stalled);
}

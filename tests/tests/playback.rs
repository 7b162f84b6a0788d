//! Recorded playback against the real daemon recording the `/clock` test camera (each frame
//! carries its capture time, `tests/src/clockcode.rs`):
//! - the test camera's code read by both readers (ffmpeg frames in Rust, a `<video>` in
//!   headless Chromium);
//! - `GET /api/cameras/{name}/play` over raw HTTP: ffprobe decodes the whole stream; every
//!   frame's media time plus `X-Porchlight-Origin` is its capture time (within 1 s), across
//!   segment boundaries and a gap (the camera stopped and started again), which stays a gap;
//!   bad `from` 400, unknown camera 404, a time with no recording 404.

#![allow(clippy::print_stderr)]

use porchlight_e2e::browser::Browser;
use porchlight_e2e::clockcode::{self, now_ms};
use porchlight_e2e::media::{self, run_tool};
use porchlight_e2e::rtsp::RtspServer;
use porchlight_e2e::{Daemon, EventStream, Setup, web};
use serde_json::{Value, json};

/// How far a frame's capture time may lie from the host clock around its reading.
const SLACK_MS: u64 = 5_000;

#[test]
fn clock_code_reads_the_camera_clock() {
    let Some(server) = RtspServer::start() else { return };
    if !media::available() {
        return;
    }
    let before = now_ms();
    let Some(codes) = clockcode::frames(&["-rtsp_transport", "tcp"], &server.url("clock"), 320, 240, 30)
    else {
        return;
    };
    let after = now_ms();
    assert_eq!(codes.len(), 30, "frames decoded");
    let codes: Vec<u64> = codes.into_iter().map(|c| c.expect("every frame carries a code")).collect();
    for &c in &codes {
        assert!(c + SLACK_MS >= before && c <= after, "code {c} outside [{before}, {after}]");
    }
    assert!(codes.windows(2).all(|w| w[0] < w[1]), "codes increase frame to frame: {codes:?}");
    // 30 frames at 15 fps span about two seconds.
    let span = codes[29] - codes[0];
    assert!((1_500..=2_500).contains(&span), "30 frames span {span} ms");
}

#[test]
fn clock_code_reads_in_the_browser() {
    let Some(server) = RtspServer::start() else { return };
    if !media::available() {
        return;
    }
    let Some(browser) = Browser::start("clock_code_reads_in_the_browser") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("clock.mp4");
    let file_arg = file.display().to_string();
    let before = now_ms();
    let Some(out) = run_tool(
        "ffmpeg",
        &[
            "-hide_banner",
            "-loglevel",
            "error",
            "-rtsp_transport",
            "tcp",
            "-i",
            &server.url("clock"),
            "-frames:v",
            "30",
            "-c",
            "copy",
            "-y",
            &file_arg,
        ],
    ) else {
        return;
    };
    assert!(out.status.success(), "ffmpeg: {}", porchlight_e2e::output_text(&out));
    let after = now_ms();
    // The same frames through the Rust reader, to compare with.
    let rust = clockcode::frames(&[], &file_arg, 320, 240, 30).expect("ffmpeg");

    let bytes = std::fs::read(&file).expect("clip");
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &bytes);
    browser.goto("about:blank");
    browser.execute_async(
        "const [b64, done] = arguments;
         const bin = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
         const v = document.createElement('video');
         v.muted = true;
         v.id = 'clip';
         document.body.append(v);
         v.addEventListener('loadeddata', () => done(true), { once: true });
         v.src = URL.createObjectURL(new Blob([bin], { type: 'video/mp4' }));",
        &[json!(b64)],
    );
    let video = browser.find("#clip");
    let mut codes = Vec::new();
    for t in [0.0, 1.0] {
        browser.execute_async(
            "const [v, t, done] = arguments;
             v.addEventListener('seeked', () => done(true), { once: true });
             v.currentTime = t;",
            &[video.to_arg(), json!(t)],
        );
        let code = browser.execute(clockcode::JS, &[video.to_arg()]);
        codes.push(code.as_u64().unwrap_or_else(|| panic!("the frame at {t} s carries a code: {code}")));
    }
    for &c in &codes {
        assert!(c + SLACK_MS >= before && c <= after, "code {c} outside [{before}, {after}]");
    }
    assert!(codes[0] < codes[1], "codes increase: {codes:?}");
    // The first frame reads the same in both readers.
    assert_eq!(Some(codes[0]), rust[0], "browser and ffmpeg read the first frame alike");
    browser.assert_no_console_errors();
}

/// How long the camera is away in the gap tests.
const OUTAGE: std::time::Duration = std::time::Duration::from_secs(3);

/// How far a frame's recorded time may lie from its capture time (the recorder anchors the
/// stream to the hub's clock on arrival).
const ANCHOR_SLACK_MS: i64 = 1_000;

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).expect("time").to_string()
}

fn parse_ms(text: &str) -> i64 {
    text.parse::<jiff::Timestamp>().unwrap_or_else(|e| panic!("{text:?}: {e}")).as_millisecond()
}

/// A daemon recording camera `door` from the test camera's `/clock` in 1 s segments.
fn clock_setup(camera: &RtspServer) -> Setup {
    Setup::new(&format!(
        "[storage]\nsegment_duration = \"1s\"\nmin_free_bytes = \"0 B\"\n\n\
         [[camera]]\nname = \"door\"\nrtsp_url = {:?}\n",
        camera.url("clock")
    ))
}

/// Waits for `n` `segment_closed` events of camera `door`.
fn wait_segments(events: &mut EventStream, n: usize) {
    for _ in 0..n {
        events.next_matching(|e| e["type"] == "segment_closed" && e["camera"] == "door");
    }
}

/// `pts_time` of every video frame ffprobe decodes from `url` (decoding all of it).
fn frame_times(url: &str) -> Vec<f64> {
    let out = run_tool(
        "ffprobe",
        &["-v", "error", "-select_streams", "v:0", "-show_entries", "frame=pts_time", "-of", "json", url],
    )
    .expect("ffprobe");
    assert!(out.status.success(), "ffprobe {url}: {}", porchlight_e2e::output_text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("ffprobe JSON");
    v["frames"]
        .as_array()
        .expect("frames")
        .iter()
        .map(|f| f["pts_time"].as_str().and_then(|t| t.parse().ok()).expect("pts_time"))
        .collect()
}

#[test]
fn play_streams_the_recording_on_its_wall_clock() {
    let Some(mut camera) = RtspServer::start() else { return };
    if !media::available() {
        return;
    }
    let port = camera.port().to_string();
    let setup = clock_setup(&camera);
    let d = Daemon::start(&setup.config);
    let addr = d.addr.expect("API address");
    let mut events = EventStream::open(addr, None);
    wait_segments(&mut events, 3);
    // The camera goes away and comes back: a gap in the recording.
    camera.stop();
    events.next_matching(|e| e["type"] == "camera_offline" && e["camera"] == "door");
    // Not a wait for something: the outage itself, long enough to tell from a late frame.
    std::thread::sleep(OUTAGE);
    let _camera = RtspServer::start_with(&["--port", &port]).expect("the camera starts again");
    events.next_matching(|e| e["type"] == "camera_online" && e["camera"] == "door");
    wait_segments(&mut events, 3);

    let listing = d.get_json("/api/recordings?camera=door");
    let segments = listing["segments"].as_array().expect("segments");
    let gaps = listing["gaps"].as_array().expect("gaps");
    assert!(!gaps.is_empty(), "the outage is a gap: {listing}");
    let gap = (gaps[0]["start_ms"].as_i64().expect("ms"), gaps[0]["end_ms"].as_i64().expect("ms"));
    let first = segments[0]["start_ms"].as_i64().expect("ms");
    let closed_end = segments
        .iter()
        .filter(|s| s["state"] != "open")
        .filter_map(|s| s["end_ms"].as_i64())
        .max()
        .expect("closed segments");
    // From half a second into the recording to the end of the last closed segment.
    let from = first + 500;
    let path = format!("/api/cameras/door/play?from={}&to={}", rfc3339(from), rfc3339(closed_end));
    let resp = web::request(addr, "GET", &path, &[], None);
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.header("content-type"), Some("video/mp4"));
    assert!(
        resp.header("x-porchlight-codec").is_some_and(|c| c.starts_with("video/mp4; codecs=\"avc1.")),
        "{:?}",
        resp.headers
    );
    let origin = parse_ms(resp.header("x-porchlight-origin").expect("origin header"));
    assert!((first..=from).contains(&origin), "origin {origin} is the keyframe at or before {from}");
    assert_eq!(parse_ms(resp.header("x-porchlight-end").expect("end header")), closed_end);

    // ffprobe decodes the whole stream, and each frame's media time puts it at its capture time.
    let url = format!("http://{addr}{path}");
    let times = frame_times(&url);
    let codes = clockcode::frames(&[], &url, 320, 240, times.len() + 1).expect("ffmpeg");
    assert_eq!(codes.len(), times.len(), "ffmpeg and ffprobe decode the same frames");
    let mut jumped = false;
    for (i, (t, code)) in times.iter().zip(&codes).enumerate() {
        let code = i64::try_from(code.unwrap_or_else(|| panic!("frame {i} carries a code"))).expect("ms");
        let wall = origin + (t * 1000.0).round() as i64;
        assert!(
            (wall - code).abs() <= ANCHOR_SLACK_MS,
            "frame {i}: media time {t} s puts it at {wall}, its clock says {code} (origin {origin})"
        );
        if i > 0 && times[i] - times[i - 1] >= OUTAGE.as_secs_f64() {
            jumped = true;
        }
    }
    assert!(jumped, "the gap {gap:?} is a jump in media time: {times:?}");
    // The stream crossed segment boundaries: it spans more than the first segment.
    let last = times.last().copied().unwrap_or(0.0);
    let first_end = segments[0]["end_ms"].as_i64().expect("ms");
    assert!(origin + (last * 1000.0) as i64 > first_end + 3000, "{last} s of media from {origin}");

    // Refusals.
    let get = |p: &str| web::request(addr, "GET", p, &[], None);
    assert_eq!(get("/api/cameras/door/play?from=yesterday").status, 400);
    assert_eq!(get("/api/cameras/door/play").status, 400);
    let r = get(&format!("/api/cameras/nope/play?from={}", rfc3339(from)));
    assert_eq!(r.status, 404, "{}", r.body);
    let r = get("/api/cameras/door/play?from=2001-01-01T00:00:00Z&to=2001-01-01T01:00:00Z");
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(r.json()["error"].as_str().is_some_and(|e| e.contains("no recording")), "{}", r.body);
    let r = get(&format!("/api/cameras/door/play?from={}", rfc3339(now_ms() as i64 + 3_600_000)));
    assert_eq!(r.status, 404, "{}", r.body);
}

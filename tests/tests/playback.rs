//! Recorded playback: the `/clock` test camera's code read by both readers (ffmpeg frames in
//! Rust, a `<video>` in headless Chromium).

#![allow(clippy::print_stderr)]

use porchlight_e2e::browser::Browser;
use porchlight_e2e::clockcode::{self, now_ms};
use porchlight_e2e::media::{self, run_tool};
use porchlight_e2e::rtsp::RtspServer;
use serde_json::json;

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

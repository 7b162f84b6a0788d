//! Checks on the RTSP test camera (`tests/peers/rtsp_server.py`) that the recorder's end-to-end
//! tests and the load benchmark rely on: each mount serves the codecs it promises (as seen by
//! `ffprobe`), `/digest` wants Digest credentials, `/file` passes a file through, and the server
//! stops cleanly on SIGTERM.
//!
//! Skipped with a message when the server or `ffprobe` (Debian's `ffmpeg`) cannot run here,
//! unless `PORCHLIGHT_REQUIRE_PEERS=1`, in which case they fail.

#![allow(clippy::print_stderr)]

use porchlight_e2e::media::run_tool as run;
use porchlight_e2e::rtsp::RtspServer;
use serde_json::Value;

/// `ffprobe -show_streams` of an RTSP URL over TCP: the parsed JSON on success, stderr on failure.
fn ffprobe(url: &str) -> Option<Result<Value, String>> {
    let out =
        run("ffprobe", &["-rtsp_transport", "tcp", "-v", "error", "-show_streams", "-of", "json", url])?;
    if !out.status.success() {
        return Some(Err(String::from_utf8_lossy(&out.stderr).into_owned()));
    }
    Some(Ok(serde_json::from_slice(&out.stdout).expect("ffprobe JSON")))
}

/// The codec names of an RTSP URL's streams, in SDP order; panics (with the server's stderr)
/// when ffprobe fails.
fn codecs(server: &RtspServer, url: &str) -> Option<Vec<String>> {
    let json = ffprobe(url)?
        .unwrap_or_else(|e| panic!("ffprobe {url} failed:\n{e}\nserver stderr:\n{}", server.stderr()));
    let streams = json["streams"].as_array().expect("streams array");
    Some(streams.iter().map(|s| s["codec_name"].as_str().unwrap_or("?").to_owned()).collect())
}

fn video_size(json: &Value) -> (u64, u64) {
    let video = json["streams"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["codec_type"] == "video"))
        .expect("a video stream");
    (video["width"].as_u64().unwrap_or(0), video["height"].as_u64().unwrap_or(0))
}

#[test]
fn h264_mount_serves_h264_and_aac() {
    let Some(server) = RtspServer::start() else { return };
    let Some(json) = ffprobe(&server.url("/h264")) else { return };
    let json = json.unwrap_or_else(|e| panic!("ffprobe /h264: {e}\n{}", server.stderr()));
    let names: Vec<&str> = json["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .filter_map(|s| s["codec_name"].as_str())
        .collect();
    assert_eq!(names, ["h264", "aac"], "{json:#}");
    assert_eq!(video_size(&json), (320, 240), "{json:#}");
}

#[test]
fn h265_mounts_serve_hevc_only() {
    let Some(server) = RtspServer::start() else { return };
    let Some(idr) = codecs(&server, &server.url("/h265")) else { return };
    assert_eq!(idr, ["hevc"]);
    let Some(cra) = codecs(&server, &server.url("/h265cra")) else { return };
    assert_eq!(cra, ["hevc"]);
}

#[test]
fn g711_mount_serves_h264_and_pcmu() {
    let Some(server) = RtspServer::start() else { return };
    let Some(names) = codecs(&server, &server.url("/g711")) else { return };
    assert_eq!(names, ["h264", "pcm_mulaw"]);
}

#[test]
fn digest_mount_needs_credentials() {
    let Some(server) = RtspServer::start() else { return };
    let Some(anonymous) = ffprobe(&server.url("/digest")) else { return };
    let err = anonymous.expect_err("/digest should refuse a client without credentials");
    assert!(err.contains("401"), "expected a 401 challenge, got:\n{err}");

    let wrong = format!("rtsp://porch:wrong@127.0.0.1:{}/digest", server.port());
    let Some(wrong) = ffprobe(&wrong) else { return };
    let err = wrong.expect_err("/digest should refuse a wrong password");
    assert!(err.contains("401"), "expected 401 for a wrong password, got:\n{err}");

    let Some(names) = codecs(&server, &server.url_with_credentials("/digest")) else { return };
    assert_eq!(names, ["h264", "aac"]);
}

#[test]
fn options_change_the_picture() {
    let Some(server) = RtspServer::start_with(&["--width", "176", "--height", "144", "--fps", "10"]) else {
        return;
    };
    let Some(json) = ffprobe(&server.url("h264")) else { return };
    let json = json.unwrap_or_else(|e| panic!("ffprobe /h264: {e}\n{}", server.stderr()));
    assert_eq!(video_size(&json), (176, 144), "{json:#}");
}

#[test]
fn file_mount_passes_an_mp4_through() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clip = dir.path().join("clip.mp4");
    let clip_arg = clip.to_str().expect("UTF-8 temp path");
    let Some(made) = run(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=256x144:rate=10",
            "-t",
            "3",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "10",
            "-bf",
            "0",
            "-pix_fmt",
            "yuv420p",
            clip_arg,
        ],
    ) else {
        return;
    };
    assert!(made.status.success(), "ffmpeg: {}", String::from_utf8_lossy(&made.stderr));
    assert!(clip.exists());

    let Some(server) = RtspServer::start_with(&["--file", clip_arg]) else { return };
    let Some(json) = ffprobe(&server.url("/file")) else { return };
    let json = json.unwrap_or_else(|e| panic!("ffprobe /file: {e}\n{}", server.stderr()));
    let names: Vec<&str> = json["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .filter_map(|s| s["codec_name"].as_str())
        .collect();
    assert_eq!(names, ["h264"], "{json:#}");
    assert_eq!(video_size(&json), (256, 144), "{json:#}");
}

#[test]
fn unknown_mount_is_not_found_and_sigterm_stops_cleanly() {
    let Some(mut server) = RtspServer::start() else { return };
    let Some(missing) = ffprobe(&server.url("/nope")) else { return };
    let err = missing.expect_err("/nope does not exist");
    assert!(err.contains("404"), "expected 404, got:\n{err}");
    server.stop();
    assert!(server.stderr().contains("stopped"), "stderr:\n{}", server.stderr());
    // A second stop is a no-op.
    server.stop();
}

//! `ffprobe` and `ffmpeg` (Debian's `ffmpeg` package) as the judges of whether recordings play:
//! bounded runs, skipped when the tools are missing unless [`peers_required`].

use std::io::ErrorKind;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};

use serde_json::Value;

use crate::{WAIT, peers_required};

/// Runs a tool to completion, at most [`WAIT`]; `None` when it is not installed (skip), unless
/// peers are required.
pub fn run_tool(tool: &str, args: &[&str]) -> Option<Output> {
    let child = match Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            assert!(
                !peers_required(),
                "PORCHLIGHT_REQUIRE_PEERS=1 but {tool} is not installed (apt-get install ffmpeg)"
            );
            #[allow(clippy::print_stderr)]
            {
                eprintln!("skipping: {tool} is not installed");
            }
            return None;
        }
        Err(e) => panic!("spawn {tool}: {e}"),
    };
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(WAIT) {
        Ok(output) => Some(output.unwrap_or_else(|e| panic!("wait for {tool}: {e}"))),
        Err(RecvTimeoutError::Timeout) => {
            // Only the process we started, by its PID; the thread then reaps it.
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            panic!("{tool} {args:?} did not finish within {WAIT:?}");
        }
        Err(RecvTimeoutError::Disconnected) => panic!("lost the {tool} waiter thread"),
    }
}

/// Whether ffprobe and ffmpeg can run (false: skip).
pub fn available() -> bool {
    run_tool("ffprobe", &["-version"]).is_some() && run_tool("ffmpeg", &["-version"]).is_some()
}

/// `ffprobe -show_streams -show_format` of a file, as JSON; panics with ffprobe's complaint.
pub fn probe(path: &Path) -> Value {
    let p = path.display().to_string();
    let out = run_tool("ffprobe", &["-v", "error", "-show_streams", "-show_format", "-of", "json", &p])
        .expect("ffprobe installed");
    assert!(out.status.success(), "ffprobe {p}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("ffprobe JSON")
}

/// The codec names of a probed file's streams, in order.
pub fn codecs(probe: &Value) -> Vec<String> {
    probe["streams"]
        .as_array()
        .map(|s| s.iter().filter_map(|s| s["codec_name"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// The container duration in seconds.
pub fn duration(probe: &Value) -> f64 {
    probe["format"]["duration"].as_str().and_then(|d| d.parse().ok()).unwrap_or(0.0)
}

/// Decodes every frame (`ffmpeg -v error -i FILE -f null -`) and panics if ffmpeg fails or
/// reports any error: the file plays from start to end.
pub fn assert_decodes(path: &Path) {
    let p = path.display().to_string();
    let out = run_tool("ffmpeg", &["-nostdin", "-v", "error", "-i", &p, "-f", "null", "-"])
        .expect("ffmpeg installed");
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && errors.trim().is_empty(),
        "ffmpeg could not decode {p} cleanly:\n{errors}"
    );
}

/// Whether the file's `moov` box comes before its `mdat` (plays while downloading).
pub fn moov_first(path: &Path) -> bool {
    let data = std::fs::read(path).expect("read mp4");
    let mut pos = 0usize;
    while pos + 8 <= data.len() {
        let size = u32::from_be_bytes([data[pos], data[pos + 1], data[pos + 2], data[pos + 3]]) as usize;
        match &data[pos + 4..pos + 8] {
            b"moov" => return true,
            b"mdat" => return false,
            _ => {}
        }
        if size < 8 {
            return false;
        }
        pos += size;
    }
    false
}

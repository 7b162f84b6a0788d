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
    run_tool_within(tool, args, WAIT)
}

/// Like [`run_tool`], at most `limit`.
pub fn run_tool_within(tool: &str, args: &[&str], limit: std::time::Duration) -> Option<Output> {
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
    match rx.recv_timeout(limit) {
        Ok(output) => Some(output.unwrap_or_else(|e| panic!("wait for {tool}: {e}"))),
        Err(RecvTimeoutError::Timeout) => {
            // Only the process we started, by its PID; the thread then reaps it.
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            panic!("{tool} {args:?} did not finish within {limit:?}");
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

/// Width and height from a JPEG's SOF0 (baseline) or SOF2 (progressive) frame header, read
/// marker by marker; `None` for anything else.
pub fn jpeg_sof_size(jpeg: &[u8]) -> Option<(u32, u32)> {
    if !jpeg.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut i = 2;
    while i + 9 <= jpeg.len() && jpeg[i] == 0xFF {
        let marker = jpeg[i + 1];
        let len = usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
        if marker == 0xC0 || marker == 0xC2 {
            let h = u16::from_be_bytes([jpeg[i + 5], jpeg[i + 6]]);
            let w = u16::from_be_bytes([jpeg[i + 7], jpeg[i + 8]]);
            return Some((u32::from(w), u32::from(h)));
        }
        i += 2 + len;
    }
    None
}

/// Decodes a JPEG with `ffmpeg` (every error fails the test) and returns the size `ffprobe`
/// reads from it; the image is written to a file in `dir` first.
pub fn ffprobe_jpeg(dir: &Path, jpeg: &[u8]) -> (u32, u32) {
    let file =
        dir.join(format!("still-{}-{}.jpg", std::process::id(), &porchlight::digest::sha256_hex(jpeg)[..16]));
    std::fs::write(&file, jpeg).expect("write the JPEG");
    assert_decodes(&file);
    let probe = probe(&file);
    let stream = &probe["streams"][0];
    assert_eq!(stream["codec_name"], "mjpeg", "{probe}");
    let n = |k: &str| stream[k].as_u64().and_then(|v| u32::try_from(v).ok()).unwrap_or(0);
    (n("width"), n("height"))
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

/// A real RTSP receiver in record mode: `ffmpeg -rtsp_flags listen` on an ephemeral loopback
/// port, writing what it gets (copied, not re-encoded) to a Matroska file, as a center's
/// ingest server would. It exits when the sender tears the session down or hangs up.
#[derive(Debug)]
pub struct RtspReceiver {
    /// `rtsp://127.0.0.1:<port>/live/<name>`: the ingest URL to hand the hub.
    pub url: String,
    pub file: std::path::PathBuf,
    pid: u32,
    exited: mpsc::Receiver<std::time::SystemTime>,
    exit_time: Option<std::time::SystemTime>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl RtspReceiver {
    /// Starts the receiver and waits (bounded) until it listens. `None`: ffmpeg is missing
    /// (skip), unless peers are required.
    pub fn start(dir: &Path, name: &str) -> Option<Self> {
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        Self::start_on(dir, name, port)
    }

    /// Like [`RtspReceiver::start`], on a given port (e.g. that of a receiver that went away).
    pub fn start_on(dir: &Path, name: &str, port: u16) -> Option<Self> {
        use std::io::Read;
        if !available() {
            return None;
        }
        let url = format!("rtsp://127.0.0.1:{port}/live/{name}");
        let file = dir.join(format!("{name}.mkv"));
        let mut child = Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-nostdin",
                "-loglevel",
                "warning",
                "-rtsp_flags",
                "listen",
                "-timeout",
                "120",
            ])
            .args(["-i", &url, "-c", "copy", "-f", "matroska"])
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ffmpeg");
        let pid = child.id();
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("stderr");
        let sink = std::sync::Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            *sink.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = text;
        });
        let (tx, exited) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = child.wait();
            let _ = tx.send(std::time::SystemTime::now());
        });
        // ffmpeg says nothing when it listens; the kernel's socket table does.
        let deadline = std::time::Instant::now() + WAIT;
        while !listening(port) {
            assert!(std::time::Instant::now() < deadline, "ffmpeg did not listen on {port}");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Some(Self { url, file, pid, exited, exit_time: None, stderr })
    }

    /// When ffmpeg exited, waiting for it (at most `timeout`).
    pub fn wait_exit(&mut self, timeout: std::time::Duration) -> std::time::SystemTime {
        if let Some(t) = self.exit_time {
            return t;
        }
        match self.exited.recv_timeout(timeout) {
            Ok(t) => {
                self.exit_time = Some(t);
                t
            }
            Err(_) => panic!("the RTSP receiver {} is still running after {timeout:?}", self.url),
        }
    }

    /// Whether ffmpeg is still running.
    pub fn running(&mut self) -> bool {
        if self.exit_time.is_none()
            && let Ok(t) = self.exited.try_recv()
        {
            self.exit_time = Some(t);
        }
        self.exit_time.is_none()
    }

    /// Kills ffmpeg (an ingest server that crashes mid-stream) and waits for it to be gone.
    pub fn kill(&mut self) {
        if self.running() {
            let _ = Command::new("kill").args(["-KILL", &self.pid.to_string()]).status();
        }
        self.wait_exit(WAIT);
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.url
            .split(':')
            .nth(2)
            .and_then(|p| p.split('/').next())
            .and_then(|p| p.parse().ok())
            .expect("port")
    }

    /// What ffmpeg complained about.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

impl Drop for RtspReceiver {
    fn drop(&mut self) {
        if self.running() {
            // Only the process we started, by its PID.
            let _ = Command::new("kill").args(["-KILL", &self.pid.to_string()]).status();
        }
    }
}

/// Whether something listens on 127.0.0.1:`port` (from `/proc/net/tcp`).
fn listening(port: u16) -> bool {
    let want = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/tcp").is_ok_and(|t| {
        t.lines().skip(1).any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3 && f[1] == want && f[3] == "0A"
        })
    })
}

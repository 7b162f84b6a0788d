//! The ring-mqtt stand-in, `tests/peers/ring_mqtt.py`, as a child process: a bridge on a real
//! broker announcing Ring cameras and doorbells the way ring-mqtt does, with an RTSP gateway
//! (GStreamer) that builds a stream only while a client is connected and reports each one.
//! Commands go to its stdin (`ding <id>`, `motion <id>`, `status <id> offline`, `crash`); its
//! stdout lines are kept and can be waited for.
//!
//! When the machine cannot run it (no Debian python3 with `gi` and `paho`, no GstRtspServer)
//! [`RingBridge::start`] returns `None` so that the test can skip, unless [`peers_required`]
//! is true: then it panics.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::rtsp::PYTHON;
use crate::{WAIT, peers_required};

const EXIT_UNAVAILABLE: i32 = 77;
const PACKAGES: &str = "python3-paho-mqtt python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base \
     gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly";

/// The script.
pub fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers/ring_mqtt.py")
}

#[derive(Debug, Default)]
struct Lines {
    lines: Vec<String>,
    closed: bool,
}

/// A running ring-mqtt stand-in.
#[derive(Debug)]
pub struct RingBridge {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Arc<(Mutex<Lines>, Condvar)>,
    stderr: Arc<Mutex<String>>,
    /// The RTSP gateway's port on 127.0.0.1.
    pub rtsp_port: u16,
}

impl RingBridge {
    /// Starts the bridge on the broker at `broker_port` with `devices` (`<id>:<name>[:doorbell]`)
    /// and extra arguments (`--republish-delay`, `--info-interval`, `--ding-duration`,
    /// `--motion-duration`, `--fps`), and waits for its READY line. `None`: skip the test.
    pub fn start(broker_port: u16, devices: &[&str], args: &[&str]) -> Option<Self> {
        let mut cmd = Command::new(PYTHON);
        cmd.arg(script()).arg("--broker-port").arg(broker_port.to_string());
        for d in devices {
            cmd.arg("--device").arg(d);
        }
        cmd.args(args)
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) if e.kind() == ErrorKind::NotFound => return unavailable(&format!("{PYTHON} not found")),
            Err(e) => panic!("spawn {PYTHON} {}: {e}", script().display()),
        };
        let stdin = child.stdin.take();
        let lines: Arc<(Mutex<Lines>, Condvar)> = Arc::default();
        let out = child.stdout.take().expect("stdout piped");
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let (m, cv) = &*sink;
                m.lock().unwrap_or_else(PoisonError::into_inner).lines.push(line);
                cv.notify_all();
            }
            let (m, cv) = &*sink;
            m.lock().unwrap_or_else(PoisonError::into_inner).closed = true;
            cv.notify_all();
        });
        let stderr: Arc<Mutex<String>> = Arc::default();
        let mut err = child.stderr.take().expect("stderr piped");
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut b = Self { child, stdin, lines, stderr, rtsp_port: 0 };
        let ready = b.wait_line_or_exit("READY");
        let Some(ready) = ready else {
            let status = b.child.wait().expect("wait for the bridge");
            std::thread::sleep(Duration::from_millis(100));
            let stderr = b.stderr();
            if status.code() == Some(EXIT_UNAVAILABLE) {
                return unavailable(stderr.trim());
            }
            panic!("the ring-mqtt stand-in exited before READY ({status}):\n{stderr}");
        };
        b.rtsp_port = ready
            .strip_prefix("READY rtsp://127.0.0.1:")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("unexpected READY line {ready:?}"));
        Some(b)
    }

    /// Sends one command line.
    pub fn send(&mut self, command: &str) {
        let stdin = self.stdin.as_mut().expect("the bridge's stdin");
        writeln!(stdin, "{command}").and_then(|()| stdin.flush()).expect("write to the bridge");
    }

    /// A doorbell press of `device`: the Unix time in ms at which the bridge published it.
    pub fn ding(&mut self, device: &str) -> i64 {
        let skip = self.lines().len();
        self.send(&format!("ding {device}"));
        let line = self.wait_line_after(skip, &format!("DING {device} "));
        line.rsplit(' ').next().and_then(|t| t.parse().ok()).expect("DING time")
    }

    /// Motion at `device`: the Unix time in ms it was published.
    pub fn motion(&mut self, device: &str) -> i64 {
        let skip = self.lines().len();
        self.send(&format!("motion {device}"));
        let line = self.wait_line_after(skip, &format!("MOTION {device} "));
        line.rsplit(' ').next().and_then(|t| t.parse().ok()).expect("MOTION time")
    }

    /// The bridge process dies at once, closing nothing (no last will, no `offline`).
    pub fn crash(&mut self) {
        self.send("crash");
        let status = self.child.wait().expect("wait for the bridge");
        assert_eq!(status.code(), Some(70), "the bridge did not crash as asked:\n{}", self.stderr());
    }

    /// Every stdout line so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.0.lock().unwrap_or_else(PoisonError::into_inner).lines.clone()
    }

    /// The stream sessions the gateway has had: (`open`/`closed`, path, open on the path,
    /// open in all, most ever open in all), from its `SESSION` lines.
    pub fn sessions(&self) -> Vec<(String, String, u32, u32, u32)> {
        self.lines()
            .iter()
            .filter_map(|l| {
                let w: Vec<&str> = l.split(' ').collect();
                let [_, path, what, on_path, all, most] = w.as_slice() else { return None };
                (w[0] == "SESSION").then(|| {
                    let n = |s: &str| s.parse().unwrap_or(0);
                    ((*what).to_owned(), (*path).to_owned(), n(on_path), n(all), n(most))
                })
            })
            .collect()
    }

    /// Waits (bounded) for a line starting with `prefix` after the first `skip` lines.
    pub fn wait_line_after(&self, skip: usize, prefix: &str) -> String {
        let (m, cv) = &*self.lines;
        let deadline = Instant::now() + WAIT;
        let mut g = m.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(l) = g.lines.iter().skip(skip).find(|l| l.starts_with(prefix)) {
                return l.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero() && !g.closed,
                "no line {prefix:?} from the ring-mqtt stand-in; lines: {:?}\nstderr:\n{}",
                g.lines,
                self.stderr()
            );
            g = cv.wait_timeout(g, left).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    fn wait_line_or_exit(&self, prefix: &str) -> Option<String> {
        let (m, cv) = &*self.lines;
        let deadline = Instant::now() + WAIT;
        let mut g = m.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(l) = g.lines.iter().find(|l| l.starts_with(prefix)) {
                return Some(l.clone());
            }
            if g.closed {
                return None;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no {prefix:?} from the ring-mqtt stand-in:\n{}", self.stderr());
            g = cv.wait_timeout(g, left).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl Drop for RingBridge {
    fn drop(&mut self) {
        self.stdin = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unavailable(why: &str) -> Option<RingBridge> {
    assert!(!peers_required(), "the ring-mqtt stand-in cannot run: {why}; install {PACKAGES}");
    eprintln!("skipping: the ring-mqtt stand-in cannot run: {why} (install {PACKAGES})");
    None
}

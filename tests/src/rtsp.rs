//! The RTSP test camera, `tests/peers/rtsp_server.py` (a GStreamer RTSP server), as a child
//! process: start it, learn its ephemeral port from its `READY rtsp://127.0.0.1:<port>` line,
//! build stream URLs, stop it with SIGTERM.
//!
//! Mount points (see the script's header): `/h264` (H.264 + AAC), `/h265` (IDR keyframes),
//! `/h265cra` (open GOP, CRA keyframes), `/digest` (`/h264` behind Digest auth, see
//! [`DIGEST_USER`]), `/g711` (H.264 + PCMU) and, with `--file PATH`, `/file` (an MP4's H.264
//! passed through, one shared media for all clients).
//! `/h265late` is `/h265` with each frame leaving after twice its frame interval: the stream's
//! timestamps fall behind the wall clock, as from an encoder short of CPU. `/clock` (H.264, closed
//! GOP, at least 256x80) carries the host's wall clock at capture in each frame as a block code,
//! read by [`crate::clockcode`].
//!
//! When the machine cannot run the server (no Debian python3 with `gi`, no GstRtspServer, a
//! missing GStreamer plugin) [`RtspServer::start`] returns `None` so that the test can skip,
//! unless [`peers_required`] is true: then it panics.

use std::io::{BufRead, BufReader, ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

use crate::{WAIT, peers_required};

/// Debian's Python, which has `gi` (the default `python3` on PATH may be a pyenv without it).
pub const PYTHON: &str = "/usr/bin/python3";

/// User and password that open the `/digest` mount.
pub const DIGEST_USER: &str = "porch";
pub const DIGEST_PASSWORD: &str = "light";

/// The script's exit status when it cannot run on this machine.
const EXIT_UNAVAILABLE: i32 = 77;

/// What to install when the server cannot run.
const PACKAGES: &str = "gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
     gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-rtsp \
     gir1.2-gst-rtsp-server-1.0 gir1.2-gstreamer-1.0 python3-gi";

/// The server script.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/rtsp_server.py")
}

/// A running RTSP test server on 127.0.0.1.
#[derive(Debug)]
pub struct RtspServer {
    child: Child,
    /// Held open: the server runs with `--exit-on-stdin-close`, so it goes away with this
    /// process even if nothing gets to stop it.
    stdin: Option<ChildStdin>,
    /// Lines of stdout after READY; disconnected once the server's stdout closes (it exited).
    stdout: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    stderr_thread: Option<JoinHandle<()>>,
    port: u16,
    status: Option<ExitStatus>,
}

impl RtspServer {
    /// Starts the server with its defaults (320x240, 15 fps, 1 s GOP). `None`: skip the test.
    pub fn start() -> Option<Self> {
        Self::start_with(&[])
    }

    /// Starts the server with extra arguments (`--fps`, `--width`, `--height`,
    /// `--gop-seconds`, `--file PATH`, `--shared`) and waits (bounded) for its READY line.
    /// `None`: the server cannot run here and the test should skip.
    pub fn start_with(args: &[&str]) -> Option<Self> {
        let mut cmd = Command::new(PYTHON);
        cmd.arg(script())
            .arg("--exit-on-stdin-close")
            .args(args)
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return unavailable(&format!("{PYTHON} not found"));
            }
            Err(e) => panic!("spawn {PYTHON} {}: {e}", script().display()),
        };
        let stdin = child.stdin.take();

        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut err_pipe = child.stderr.take().expect("stderr piped");
        let stderr: Arc<Mutex<String>> = Arc::default();
        let sink = Arc::clone(&stderr);
        let stderr_thread = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });

        let mut server = Self {
            child,
            stdin,
            stdout: rx,
            stderr,
            stderr_thread: Some(stderr_thread),
            port: 0,
            status: None,
        };
        let line = match server.stdout.recv_timeout(WAIT) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                server.kill();
                panic!(
                    "the RTSP test server did not say READY within {WAIT:?}; stderr:\n{}",
                    server.stderr()
                );
            }
            Err(RecvTimeoutError::Disconnected) => {
                // Stdout closed: the process has exited (or is about to); reap it.
                let status = server.child.wait().expect("wait for the RTSP test server");
                server.status = Some(status);
                server.join_stderr();
                let stderr = server.stderr();
                if status.code() == Some(EXIT_UNAVAILABLE) {
                    return unavailable(stderr.trim());
                }
                panic!("the RTSP test server exited before READY ({status}); stderr:\n{stderr}");
            }
        };
        let port = line
            .strip_prefix("READY rtsp://127.0.0.1:")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from the RTSP test server: {line:?}"));
        server.port = port;
        Some(server)
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `rtsp://127.0.0.1:<port><path>`; `path` like `/h264` (a missing leading `/` is added).
    pub fn url(&self, path: &str) -> String {
        format!("rtsp://127.0.0.1:{}/{}", self.port, path.trim_start_matches('/'))
    }

    /// Like [`RtspServer::url`], with the `/digest` mount's credentials in it.
    pub fn url_with_credentials(&self, path: &str) -> String {
        format!(
            "rtsp://{DIGEST_USER}:{DIGEST_PASSWORD}@127.0.0.1:{}/{}",
            self.port,
            path.trim_start_matches('/')
        )
    }

    /// What the server wrote to stderr so far (one line per client connection, errors).
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Sends SIGTERM to the server's PID and waits (bounded) for it to exit; panics unless it
    /// exits cleanly in time. Does nothing if it has already been stopped.
    pub fn stop(&mut self) {
        if self.status.is_some() {
            return;
        }
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill")
            .success();
        assert!(sent, "kill -TERM {} failed", self.pid());
        // Its stdout closes when it exits: wait for that, with a deadline.
        let deadline = Instant::now() + WAIT;
        loop {
            match self.stdout.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(_) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    self.kill();
                    panic!(
                        "the RTSP test server did not exit within {WAIT:?} of SIGTERM; stderr:\n{}",
                        self.stderr()
                    );
                }
            }
        }
        let status = self.child.wait().expect("wait for the RTSP test server");
        self.status = Some(status);
        self.join_stderr();
        assert!(status.success(), "the RTSP test server exited with {status}; stderr:\n{}", self.stderr());
    }

    /// SIGKILL and reap (for failures and `Drop`).
    fn kill(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
        self.stdin = None;
    }

    fn join_stderr(&mut self) {
        if let Some(t) = self.stderr_thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The server cannot run here: skip (`None`), or fail when peers are required.
fn unavailable(why: &str) -> Option<RtspServer> {
    assert!(
        !peers_required(),
        "PORCHLIGHT_REQUIRE_PEERS=1 but the RTSP test server cannot run: {why}\n\
         install: apt-get install -y --no-install-recommends {PACKAGES}"
    );
    eprintln!("skipping: the RTSP test server cannot run here: {why}");
    None
}

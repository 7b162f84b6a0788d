//! Helpers for the end-to-end tests: start the real `porchlight` binary with a config in a temp
//! dir, read its JSON logs as they come, talk to its API over plain HTTP/1.1, send it signals.
//! Every wait has a deadline and fails with the daemon's log attached.
#![allow(clippy::print_stderr)]

pub mod bench_request;
pub mod browser;
pub mod center;
pub mod clockcode;
pub mod cpu;
pub mod js;
pub mod media;
pub mod mqtt;
pub mod netns;
pub mod ring;
pub mod rtsp;
pub mod tls;
pub mod web;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A command's stdout and stderr, as text.
pub fn output_text(o: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// How long any single wait in these tests may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(20);

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_owned()
}

/// The `porchlight` binary, built once per test process (cargo does not build another
/// package's binary for this crate's tests, so we ask it to; it is a no-op when up to date).
pub fn binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("test exe path");
        // target/<profile>/deps/<test> → target/<profile>
        let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>");
        let target_dir = profile_dir.parent().expect("target dir");
        let profile = profile_dir.file_name().and_then(|s| s.to_str()).unwrap_or("debug");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--quiet", "-p", "porchlight", "--bin", "porchlight"])
            .arg("--target-dir")
            .arg(target_dir)
            .current_dir(repo_root());
        if profile == "release" {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "cargo build of the porchlight binary failed");
        let bin = profile_dir.join("porchlight");
        assert!(bin.exists(), "{} missing after build", bin.display());
        bin
    })
    .clone()
}

/// An example program of this crate (`tests/examples/<name>.rs`), built once per name.
pub fn example_binary(name: &str) -> PathBuf {
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let exe = std::env::current_exe().expect("test exe path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>");
    let target_dir = profile_dir.parent().expect("target dir");
    let bin = profile_dir.join("examples").join(name);
    let mut built = BUILT.lock().unwrap_or_else(PoisonError::into_inner);
    if !built.iter().any(|b| b == name) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--quiet", "-p", "porchlight-e2e", "--example", name])
            .arg("--target-dir")
            .arg(target_dir)
            .current_dir(repo_root());
        if profile_dir.file_name().is_some_and(|p| p == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "cargo build of example {name} failed");
        built.push(name.to_owned());
    }
    assert!(bin.exists(), "{} missing after build", bin.display());
    bin
}

/// The example and test policy plugins, built for `wasm32-unknown-unknown` once per test
/// process (a separate target dir, so it never waits on the build of the tests themselves).
/// Returns the directory holding `<crate_name>.wasm` files.
pub fn plugin_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().expect("test exe path");
        let target_dir = exe.ancestors().nth(3).expect("target dir").join("wasm-plugins");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--quiet", "--target", "wasm32-unknown-unknown", "--profile", "plugin"])
            .arg("--target-dir")
            .arg(&target_dir)
            .env("CARGO_ENCODED_RUSTFLAGS", plugin_rustflags())
            .current_dir(repo_root());
        for p in PLUGINS {
            cmd.args(["-p", p]);
        }
        let status = cmd.status().expect("run cargo build for the plugins");
        assert!(
            status.success(),
            "building the plugins failed (is the wasm32-unknown-unknown target installed? \
             `rustup target add wasm32-unknown-unknown`)"
        );
        target_dir.join("wasm32-unknown-unknown/plugin")
    })
    .clone()
}

/// The compiler flags of every plugin build (`CARGO_ENCODED_RUSTFLAGS`, so the caller's own
/// `RUSTFLAGS` and any other `rustflags` in a cargo config are left out): the same source gives
/// the same bytes on any machine and at any path, which the check of the policies bundled in the
/// daemon (`daemon/bundled/`) relies on. First the repository's own flags for the target (the
/// 32 KiB stack of `.cargo/config.toml`, which the environment variable would otherwise
/// replace), then: paths of the workspace's own crates are already relative; a registry crate's
/// path (in a panic message) starts with `$CARGO_HOME`, which is mapped to `/cargo`.
pub fn plugin_rustflags() -> String {
    let config_path = repo_root().join(".cargo/config.toml");
    let config: toml::Table = std::fs::read_to_string(&config_path)
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("{} is readable TOML", config_path.display()));
    let mut flags: Vec<String> = config
        .get("target")
        .and_then(|t| t.get("wasm32-unknown-unknown"))
        .and_then(|t| t.get("rustflags"))
        .and_then(|f| f.as_array())
        .unwrap_or_else(|| panic!("{}: target.wasm32-unknown-unknown.rustflags", config_path.display()))
        .iter()
        .map(|f| f.as_str().expect("a rustflags string").to_owned())
        .collect();
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .expect("CARGO_HOME or HOME is set");
    let mut homes = vec![cargo_home.clone()];
    if let Ok(real) = cargo_home.canonicalize()
        && real != cargo_home
    {
        homes.push(real);
    }
    flags.extend(homes.iter().map(|h| format!("--remap-path-prefix={}=/cargo", h.display())));
    flags.join("\x1f")
}

/// The body of a dry run (`POST /api/policy/evaluate`): a 60 s live request of camera `porch`
/// with the reason `attack`, on which the hostile test policy misbehaves as its mode says.
pub fn attack_dry_run(id: &str) -> String {
    serde_json::json!({ "request": {
        "id": id,
        "requester": { "organisation": "Flood", "kind": "other" },
        "kind": { "type": "live", "cameras": ["porch"], "max_seconds": 60 },
        "reason": "attack",
        "legal_basis": { "type": "none" },
        "received_at": "2026-11-26T18:00:00Z",
    }})
    .to_string()
}

/// The plugin packages the tests build.
pub const PLUGINS: &[&str] = &[
    "porchlight-plugin-deny-all",
    "porchlight-plugin-warrant-required",
    "porchlight-plugin-ask-resident",
    "porchlight-plugin-street-only",
    "porchlight-plugin-emergency-live",
    "porchlight-plugin-quiet-hours",
    "porchlight-hostile-plugin",
];

/// The example policies that are also bundled with the daemon (`daemon/bundled/`), by the name
/// a resident enables them with (their directory in `plugins/`).
pub const BUNDLED: &[&str] =
    &["deny-all", "warrant-required", "ask-resident", "street-only", "emergency-live", "quiet-hours"];

/// `rustc --version` of the compiler that builds the plugins (`RUSTC`, else `rustc`).
pub fn rustc_version() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(&rustc).arg("--version").output().expect("run rustc --version");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The bytes of a built plugin, by short name (`deny-all`, `hostile-plugin`, …).
pub fn plugin_bytes(name: &str) -> Vec<u8> {
    let file = if name == "hostile-plugin" {
        "porchlight_hostile_plugin.wasm".to_owned()
    } else {
        format!("porchlight_plugin_{}.wasm", name.replace('-', "_"))
    };
    let path = plugin_dir().join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A config file in a fresh temp dir, with a private data dir and an ephemeral API port.
#[derive(Debug)]
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl Setup {
    /// Writes `body` after a `[hub]` header pointing the data dir into the temp dir, JSON logs
    /// and `api.listen` on an ephemeral loopback port (unless `body` sets `[api]` itself).
    pub fn new(body: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("config.toml");
        let text = Self::with_defaults(dir.path(), body);
        std::fs::write(&config, text).expect("write config");
        Self { dir, config }
    }

    /// A config exactly as given (no defaults added).
    pub fn raw(text: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("config.toml");
        std::fs::write(&config, text).expect("write config");
        Self { dir, config }
    }

    pub fn with_defaults(dir: &Path, body: &str) -> String {
        let mut text = format!(
            "[hub]\ndata_dir = {:?}\nlog_format = \"json\"\nlog_level = \"info,porchlight=debug\"\nshutdown_timeout = \"5s\"\n\n",
            dir.join("data").display().to_string()
        );
        if !body.contains("[api]") {
            text.push_str("[api]\nlisten = \"127.0.0.1:0\"\n\n");
        }
        text.push_str(body);
        text
    }

    /// Runs `porchlight --config <this config> ARGS…` to completion (the CLI against this setup).
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(binary()).arg("--config").arg(&self.config).args(args).output().expect("run porchlight")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

#[derive(Debug, Default)]
struct LogState {
    lines: Vec<Value>,
    closed: bool,
}

/// A running daemon.
#[derive(Debug)]
pub struct Daemon {
    child: Child,
    logs: Arc<(Mutex<LogState>, Condvar)>,
    /// Where the API listens (from the "API listening" log line), if it does.
    pub addr: Option<SocketAddr>,
    pub token: Option<String>,
}

impl Daemon {
    /// Starts `porchlight run --config <config>` and waits until it says it is up.
    pub fn start(config: &Path) -> Self {
        Self::start_with(config, &[])
    }

    pub fn start_with(config: &Path, env: &[(&str, &str)]) -> Self {
        let mut d = Self::spawn(&["run", "--config", &config.display().to_string()], env);
        d.wait_log("the daemon to start", |l| message(l) == "Porchlight is up");
        d.addr = d
            .find_log(|l| message(l) == "API listening")
            .and_then(|l| l["fields"]["addr"].as_str().and_then(|a| a.parse().ok()));
        d
    }

    /// Like `start`, with the daemon's open-files limit (soft and hard) set to `nofile` by
    /// util-linux's `prlimit`, so it cannot raise it.
    pub fn start_with_open_files(config: &Path, nofile: u64) -> Self {
        let mut cmd = Command::new("prlimit");
        cmd.arg(format!("--nofile={nofile}:{nofile}")).arg("--").arg(binary()).args([
            "run",
            "--config",
            &config.display().to_string(),
        ]);
        let mut d = Self::spawn_command(cmd, &[]);
        d.wait_log("the daemon to start", |l| message(l) == "Porchlight is up");
        d.addr = d
            .find_log(|l| message(l) == "API listening")
            .and_then(|l| l["fields"]["addr"].as_str().and_then(|a| a.parse().ok()));
        d
    }

    /// Spawns the binary with these arguments; stderr is collected as (JSON) log lines.
    pub fn spawn(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(binary());
        cmd.args(args);
        Self::spawn_command(cmd, env)
    }

    /// Runs `porchlight run --config CONFIG` inside network namespace `ns` (one the test made,
    /// `netns::NetPair`), and waits for it to be up. Its API is only reachable inside `ns`.
    pub fn start_in(ns: &str, config: &Path) -> Self {
        let mut cmd = netns::NetPair::exec(ns, &binary());
        cmd.args(["run", "--config", &config.display().to_string()]);
        let d = Self::spawn_command(cmd, &[]);
        d.wait_log("the daemon to start", |l| message(l) == "Porchlight is up");
        d
    }

    fn spawn_command(mut cmd: Command, env: &[(&str, &str)]) -> Self {
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        for var in ["PORCHLIGHT_LOG", "PORCHLIGHT_CONFIG", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] {
            cmd.env_remove(var);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn porchlight");
        let stderr = child.stderr.take().expect("stderr piped");
        let logs: Arc<(Mutex<LogState>, Condvar)> = Arc::default();
        let sink = Arc::clone(&logs);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let v = serde_json::from_str(&line).unwrap_or(Value::String(line));
                let (m, cv) = &*sink;
                m.lock().unwrap_or_else(PoisonError::into_inner).lines.push(v);
                cv.notify_all();
            }
            let (m, cv) = &*sink;
            m.lock().unwrap_or_else(PoisonError::into_inner).closed = true;
            cv.notify_all();
        });
        Self { child, logs, addr: None, token: None }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every log line so far.
    pub fn logs(&self) -> Vec<Value> {
        self.logs.0.lock().unwrap_or_else(PoisonError::into_inner).lines.clone()
    }

    /// All log output as one string (for "never appears" checks).
    pub fn log_text(&self) -> String {
        self.logs().iter().map(|l| l.to_string()).collect::<Vec<_>>().join("\n")
    }

    pub fn find_log(&self, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        self.logs().into_iter().find(|l| pred(l))
    }

    /// Waits for a log line matching `pred` (already logged or yet to come).
    pub fn wait_log(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait_log_after(0, what, pred)
    }

    /// Like [`Daemon::wait_log`], considering only lines after the first `skip`.
    pub fn wait_log_after(&self, skip: usize, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait_log_within(skip, WAIT, what, pred)
    }

    /// Like [`Daemon::wait_log_after`], waiting at most `wait` (for what is known to be slow,
    /// such as compiling a JavaScript policy's engine in a debug build).
    pub fn wait_log_within(
        &self,
        skip: usize,
        wait: Duration,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + wait;
        let (m, cv) = &*self.logs;
        let mut st = m.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(l) = st.lines.iter().skip(skip).find(|l| pred(l)) {
                return l.clone();
            }
            let now = Instant::now();
            if st.closed || now >= deadline {
                let all: Vec<String> = st.lines.iter().map(|l| l.to_string()).collect();
                panic!("timed out or daemon exited waiting for {what}; log:\n{}", all.join("\n"));
            }
            st = cv.wait_timeout(st, deadline - now).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    pub fn log_len(&self) -> usize {
        self.logs.0.lock().unwrap_or_else(PoisonError::into_inner).lines.len()
    }

    /// Sends a signal by name (`TERM`, `INT`, `HUP`, `KILL`) to the daemon's PID.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// Waits for the process to exit (at most `timeout`), returning its status.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        // Exit closes stderr: wait for that signal first, then reap.
        {
            let (m, cv) = &*self.logs;
            let mut st = m.lock().unwrap_or_else(PoisonError::into_inner);
            while !st.closed {
                let now = Instant::now();
                assert!(now < deadline, "daemon did not exit within {timeout:?}; log:\n{}", {
                    st.lines.iter().map(|l| l.to_string()).collect::<Vec<_>>().join("\n")
                });
                st = cv.wait_timeout(st, deadline - now).unwrap_or_else(PoisonError::into_inner).0;
            }
        }
        self.child.wait().expect("wait for daemon")
    }

    /// Stdout of a finished process.
    pub fn stdout(&mut self) -> String {
        let mut s = String::new();
        if let Some(mut out) = self.child.stdout.take() {
            let _ = out.read_to_string(&mut s);
        }
        s
    }

    /// `GET path` on the API; returns status and body.
    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(self.addr.expect("API address"), path, self.token.as_deref())
    }

    /// `POST path` with a JSON body; returns status and body.
    pub fn post(&self, path: &str, body: &Value) -> (u16, String) {
        http_post_json(self.addr.expect("API address"), path, self.token.as_deref(), &body.to_string())
    }

    /// Waits for an event of type `kind` on the daemon's bus for which `pred` holds, published
    /// since the daemon started or yet to come (`GET /api/events?from=0`).
    pub fn wait_event(&self, kind: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let mut events = EventStream::from_start(self.addr.expect("API address"), self.token.as_deref());
        events.next_matching(|e| e["type"] == kind && pred(e))
    }

    /// The daemon's events from now on (open it before what should cause them).
    pub fn events(&self) -> EventStream {
        EventStream::open(self.addr.expect("API address"), self.token.as_deref())
    }

    pub fn get_json(&self, path: &str) -> Value {
        let (code, body) = self.get(path);
        assert_eq!(code, 200, "GET {path}: {body}");
        serde_json::from_str(&body).expect("JSON body")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // The test failed: its daemon's last words go to the test's output.
            let logs = self.logs();
            eprintln!("--- the daemon's last {} log lines ---", logs.len().min(80));
            for line in &logs[logs.len().saturating_sub(80)..] {
                eprintln!("{line}");
            }
        }
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The `message` of a JSON log line.
pub fn message(line: &Value) -> &str {
    line["fields"]["message"].as_str().unwrap_or("")
}

/// A minimal HTTP/1.1 GET (Connection: close), enough for the API's JSON and text routes.
pub fn http_get(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, String) {
    http(addr, "GET", path, token, None)
}

/// A minimal HTTP/1.1 POST of a JSON body (Connection: close).
pub fn http_post_json(addr: SocketAddr, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
    http(addr, "POST", path, token, Some(body))
}

/// A minimal HTTP/1.1 PUT of a JSON body (Connection: close).
pub fn http_put_json(addr: SocketAddr, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
    http(addr, "PUT", path, token, Some(body))
}

fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect to API");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let content = body
        .map(|b| format!("Content-Type: application/json\r\nContent-Length: {}\r\n", b.len()))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}{content}Connection: close\r\n\r\n{}",
        body.unwrap_or("")
    )
    .expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (code, body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// A Server-Sent Events connection to `GET /api/events`.
#[derive(Debug)]
pub struct EventStream {
    reader: BufReader<TcpStream>,
}

impl EventStream {
    /// The events published from now on.
    pub fn open(addr: SocketAddr, token: Option<&str>) -> Self {
        Self::open_path(addr, token, "/api/events")
    }

    /// Every event the daemon still holds (in a test, all since it started), then new ones.
    pub fn from_start(addr: SocketAddr, token: Option<&str>) -> Self {
        Self::open_path(addr, token, "/api/events?from=0")
    }

    fn open_path(addr: SocketAddr, token: Option<&str>, path: &str) -> Self {
        Self::open_request(addr, token, path, "")
    }

    /// `GET path` (an `/api/events` URL) with extra header lines (each ending in `\r\n`).
    pub fn open_request(addr: SocketAddr, token: Option<&str>, path: &str, headers: &str) -> Self {
        let mut s = TcpStream::connect(addr).expect("connect to API");
        s.set_read_timeout(Some(WAIT)).expect("timeout");
        let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
        write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}{headers}\r\n").expect("send");
        let mut reader = BufReader::new(s);
        let mut status = String::new();
        reader.read_line(&mut status).expect("status line");
        assert!(status.contains(" 200 "), "events: {status}");
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).expect("header");
            if h == "\r\n" || h.is_empty() {
                break;
            }
        }
        Self { reader }
    }

    /// The next event's JSON (`data:`), skipping keep-alive comments. Chunked framing lines
    /// (hex sizes) are skipped too.
    pub fn next_event(&mut self) -> Value {
        self.next_event_within(WAIT)
    }

    /// [`Self::next_event`] with its own wait.
    pub fn next_event_within(&mut self, wait: Duration) -> Value {
        // Keep-alive comments arrive every 15 s and would reset a plain read timeout forever.
        let deadline = Instant::now() + wait;
        self.reader.get_ref().set_read_timeout(Some(wait)).expect("timeout");
        let mut data = String::new();
        loop {
            assert!(Instant::now() < deadline, "no event within {wait:?}");
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).expect("read event (timed out?)");
            assert!(n > 0, "event stream closed");
            let line = line.trim_end_matches(['\r', '\n']);
            if let Some(d) = line.strip_prefix("data:") {
                data.push_str(d.trim_start());
            } else if line.is_empty() && !data.is_empty() {
                return serde_json::from_str(&data).expect("event JSON");
            }
        }
    }

    /// The next event for which `pred` holds (others are skipped).
    pub fn next_matching(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        self.next_matching_within(WAIT, pred)
    }

    /// [`Self::next_matching`] with its own wait (for a slow peer such as the drawn `/clock`).
    pub fn next_matching_within(&mut self, wait: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + wait;
        loop {
            assert!(Instant::now() < deadline, "no matching event within {wait:?}");
            let e = self.next_event_within(wait);
            if pred(&e) {
                return e;
            }
        }
    }
}

/// Whether tests that need an installed peer must fail (CI) rather than skip when it is missing.
pub fn peers_required() -> bool {
    std::env::var("PORCHLIGHT_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

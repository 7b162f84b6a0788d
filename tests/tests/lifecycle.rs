//! Start-up with the example config, health, metrics, systemd notify and clean shutdown.

use std::io::Write;
use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use porchlight_e2e::{Daemon, Setup, WAIT, message, repo_root};

/// `config.example.toml` as shipped, with only the API port and data dir changed so tests can
/// run side by side.
fn example_setup() -> Setup {
    let text = std::fs::read_to_string(repo_root().join("config.example.toml")).expect("example");
    let setup = Setup::raw("");
    let data = setup.path("data");
    let patched = text
        .replacen("listen = \"127.0.0.1:8477\"", "listen = \"127.0.0.1:0\"", 1)
        .replacen(
            "# data_dir = \"/var/lib/porchlight\"",
            &format!("data_dir = {:?}", data.display().to_string()),
            1,
        )
        .replacen("log_format = \"auto\"", "log_format = \"json\"", 1);
    assert_ne!(patched.matches("127.0.0.1:0").count(), 0, "example no longer has the listen line");
    assert!(patched.contains(&data.display().to_string()), "example no longer has the data_dir line");
    std::fs::write(&setup.config, patched).expect("write");
    setup
}

#[test]
fn example_config_starts_and_answers_health() {
    let setup = example_setup();
    let mut d = Daemon::start(&setup.config);
    let health = d.get_json("/api/health");
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["hub"], "porchlight");
    assert_eq!(health["subsystems"]["api"]["state"], "running");
    assert_eq!(health["subsystems"]["cameras"]["state"], "running");
    assert_eq!(health["subsystems"]["relay"]["state"], "disabled");
    // Every subsystem is in the first answer.
    let names: Vec<&str> =
        health["subsystems"].as_object().expect("subsystems").keys().map(String::as_str).collect();
    assert_eq!(
        names,
        ["api", "audit", "bus", "cameras", "config", "discovery", "mqtt", "plugins", "relay", "storage"],
        "{health}"
    );
    // The plugin directory is there to install policies into.
    assert!(setup.path("plugins").is_dir(), "plugin directory created");
    let cams = d.get_json("/api/cameras");
    assert_eq!(cams["cameras"][0]["name"], "front_door", "{cams}");
    assert!(setup.path("data").is_dir(), "data dir created");

    let (code, metrics) = d.get("/metrics");
    assert_eq!(code, 200);
    assert!(metrics.contains("# TYPE porchlight_uptime_seconds gauge"), "{metrics}");
    assert!(
        metrics.contains("porchlight_api_requests_total{route=\"/api/health\",code=\"200\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("porchlight_cameras{state=\"enabled\"} 1"), "{metrics}");

    let (code, body) = d.get("/api/nope");
    assert_eq!(code, 404, "{body}");

    d.signal("TERM");
    let status = d.wait_exit(WAIT);
    assert_eq!(status.code(), Some(0));
}

#[test]
fn sigterm_shuts_down_in_phases_and_exits_zero() {
    let setup = Setup::new("[[camera]]\nname = \"porch\"\nrtsp_url = \"rtsp://127.0.0.1:9/x\"\n");
    let mut d = Daemon::start(&setup.config);
    d.wait_log("camera start", |l| message(l) == "Starting camera");
    d.signal("TERM");
    // The configured deadline is 5 s; a clean exit must come within it.
    let status = d.wait_exit(Duration::from_secs(5));
    assert_eq!(status.code(), Some(0), "{}", d.log_text());
    let logs = d.logs();
    let phases: Vec<&str> = logs
        .iter()
        .filter(|l| message(l) == "Stopped")
        .filter_map(|l| l["fields"]["phase"].as_str())
        .collect();
    assert_eq!(phases, ["ingest", "recording", "relay", "mqtt", "control"]);
    let stopped = logs.iter().find(|l| message(l) == "Camera task stopped").expect("camera task stopped");
    assert_eq!(stopped["span"]["camera"], "porch", "camera task logs in its camera span: {stopped}");
    assert!(logs.iter().any(|l| message(l) == "Shutdown complete"));
}

#[test]
fn sigint_also_shuts_down_cleanly() {
    let setup = Setup::new("");
    let mut d = Daemon::start(&setup.config);
    d.signal("INT");
    assert_eq!(d.wait_exit(WAIT).code(), Some(0));
}

/// The notify socket a test binds in place of systemd's, and every message received on it.
struct NotifySocket {
    sock: UnixDatagram,
    path: String,
    seen: Vec<String>,
}

impl NotifySocket {
    fn bind(setup: &Setup) -> Self {
        let path = setup.path("notify.sock");
        let sock = UnixDatagram::bind(&path).expect("bind notify socket");
        sock.set_read_timeout(Some(WAIT)).expect("timeout");
        Self { sock, path: path.display().to_string(), seen: Vec::new() }
    }

    /// Receives until a message matching `pred` has arrived (fails after `WAIT` of silence).
    fn until(&mut self, pred: impl Fn(&str) -> bool) {
        let mut buf = [0u8; 512];
        while !self.seen.iter().any(|m| pred(m)) {
            let n = self.sock.recv(&mut buf).expect("notification (timed out?)");
            self.seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
}

#[test]
fn tells_systemd_ready_watchdog_and_stopping() {
    let setup = Setup::new("");
    let mut notify = NotifySocket::bind(&setup);
    let mut d = Daemon::start_with(
        &setup.config,
        &[("NOTIFY_SOCKET", notify.path.as_str()), ("WATCHDOG_USEC", "200000")],
    );
    notify.until(|m| m.contains("READY=1"));
    notify.until(|m| m == "WATCHDOG=1");
    d.signal("TERM");
    notify.until(|m| m.contains("STOPPING=1"));
    assert_eq!(d.wait_exit(WAIT).code(), Some(0));
}

#[test]
fn watchdog_for_another_pid_is_ignored() {
    // WATCHDOG_PID names a different process: the daemon must not ping on its behalf.
    let setup = Setup::new("");
    let mut notify = NotifySocket::bind(&setup);
    let mut d = Daemon::start_with(
        &setup.config,
        &[("NOTIFY_SOCKET", notify.path.as_str()), ("WATCHDOG_USEC", "20000"), ("WATCHDOG_PID", "1")],
    );
    d.signal("TERM");
    notify.until(|m| m.contains("STOPPING=1"));
    assert!(!notify.seen.iter().any(|m| m.contains("WATCHDOG=1")), "{:?}", notify.seen);
    assert_eq!(d.wait_exit(WAIT).code(), Some(0));
}

#[test]
fn api_port_in_use_is_a_runtime_failure() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let setup = Setup::new(&format!("[api]\nlisten = \"127.0.0.1:{port}\"\n"));
    let mut d = Daemon::spawn(&["run", "--config", &setup.config.display().to_string()], &[]);
    let status = d.wait_exit(WAIT);
    assert_eq!(status.code(), Some(1), "{}", d.log_text());
    assert!(d.log_text().contains("cannot listen for the API on 127.0.0.1:"), "{}", d.log_text());
}

/// A daemon with the given shutdown deadline, and a client that has started a request it never
/// finishes: the API cannot finish its graceful drain, so shutdown has something that really
/// takes long. The client is returned so it stays connected.
fn daemon_with_stuck_client(shutdown_timeout: &str) -> (Setup, Daemon, TcpStream) {
    let setup = Setup::new("");
    let text = std::fs::read_to_string(&setup.config).expect("read");
    let text =
        text.replace("shutdown_timeout = \"5s\"", &format!("shutdown_timeout = \"{shutdown_timeout}\""));
    std::fs::write(&setup.config, text).expect("write");
    let d = Daemon::start(&setup.config);
    let mut s = TcpStream::connect(d.addr.expect("addr")).expect("connect");
    // Half a request: the server has a connection in progress that it cannot complete. (A half
    // *second* request on a kept-alive connection does not count: the server drops that one.)
    s.write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n").expect("partial request");
    // Connections are accepted in order: once this later one is served, the stuck one has been
    // accepted and handed to its own task.
    assert_eq!(d.get("/api/health").0, 200);
    (setup, d, s)
}

#[test]
fn shutdown_deadline_is_enforced_and_logged() {
    // Well under the API's 1 s grace for open connections at shutdown, which would otherwise
    // race the deadline and sometimes close the stuck connection first.
    let (_setup, mut d, _client) = daemon_with_stuck_client("300ms");
    d.signal("TERM");
    let status = d.wait_exit(WAIT);
    assert_eq!(status.code(), Some(1), "{}", d.log_text());
    let line = d.wait_log("deadline error", |l| message(l) == "Shutdown deadline passed");
    assert_eq!(line["level"], "ERROR");
    assert!(line["fields"]["tasks"].as_str().is_some_and(|t| t.contains("api")), "{line}");
}

#[test]
fn second_signal_exits_at_once() {
    let (_setup, mut d, _client) = daemon_with_stuck_client("10m");
    let before = d.log_len();
    d.signal("TERM");
    d.wait_log_after(before, "first signal handled", |l| message(l) == "Shutdown requested");
    d.signal("TERM");
    // Without the second signal this would take 10 minutes.
    let status = d.wait_exit(WAIT);
    assert_eq!(status.code(), Some(1));
    assert!(d.log_text().contains("Second signal; exiting now"), "{}", d.log_text());
}

#[test]
fn under_journald_logs_are_plain_lines_with_priority_prefix() {
    let setup = Setup::new("");
    let text = std::fs::read_to_string(&setup.config).expect("read");
    std::fs::write(&setup.config, text.replace("log_format = \"json\"", "log_format = \"auto\""))
        .expect("write");
    // JOURNAL_STREAM is how systemd tells a service its stderr goes to the journal;
    // PORCHLIGHT_LOG overrides hub.log_level.
    let mut d = Daemon::spawn(
        &["run", "--config", &setup.config.display().to_string()],
        &[("JOURNAL_STREAM", "8:12345"), ("PORCHLIGHT_LOG", "debug")],
    );
    let up = d.wait_log("ready line", |l| l.as_str().is_some_and(|s| s.contains("Porchlight is up")));
    let up = up.as_str().expect("plain text line");
    // Priority first, then the target: no timestamp (journald adds its own), no colours.
    assert!(up.starts_with("<6>porchlight::run: "), "{up}");
    assert!(!up.contains('\x1b'), "{up:?}");
    // PORCHLIGHT_LOG=debug lets debug lines through, at syslog priority 7.
    d.wait_log("debug line", |l| l.as_str().is_some_and(|s| s.starts_with("<7>")));
    d.signal("TERM");
    assert_eq!(d.wait_exit(WAIT).code(), Some(0));
}

//! Replay before you trust: a real daemon (with `street-only` and `warrant-required`) decides
//! real requests (`POST /api/requests`), then a candidate policy (a real compiled plugin) decides
//! them again from the audit log through `porchlight plugin replay` (while the daemon runs) and
//! `POST /api/policy/replay`. A candidate that allows exactly one more request is reported with
//! exactly that change, alone and composed; a hostile candidate that panics is reported as
//! `deny`; the audit log is byte-identical before and after every replay; `--since` picks the
//! period; bad input gets clear errors.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use porchlight_e2e::output_text as text;
use porchlight_e2e::{Daemon, Setup, plugin_bytes};
use serde_json::{Value, json};

/// A hub with camera `front` (tagged `street`, not recording) and the bundled policies
/// `street-only` and `warrant-required` (default settings: no snapshots).
fn hub() -> Setup {
    let s = Setup::new(
        "[[camera]]\nname = \"front\"\nrtsp_url = \"rtsp://127.0.0.1:9/front\"\nrecord = \"off\"\ntags = [\"street\"]\n\n\
         [plugins]\ndir = \"plugins\"\nenabled = [\"street-only\", \"warrant-required\"]\ntime_limit = \"2s\"\n",
    );
    // Both run as bundled with the daemon: no plugin files.
    s
}

/// A warrant for camera `front` valid for years around now, covering the same years.
fn warrant() -> Value {
    json!({ "type": "warrant", "reference": "W-1", "court": "County Court",
            "issued": "2026-01-01T00:00:00Z", "expires": "2036-01-01T00:00:00Z",
            "scope": { "cameras": ["front"], "from": "2026-01-01T00:00:00Z", "to": "2036-01-01T00:00:00Z" } })
}

fn request(id: &str, kind: Value, legal_basis: Value, reason: &str) -> Value {
    json!({ "request": {
        "id": id,
        "requester": { "organisation": "City Police", "person": "Det. Smith", "kind": "police" },
        "kind": kind,
        "reason": reason,
        "legal_basis": legal_basis,
        "received_at": "2026-11-26T18:00:00Z",
    }})
}

fn clip() -> Value {
    json!({ "type": "clip", "cameras": ["front"], "from": "2026-11-26T17:00:00Z", "to": "2026-11-26T17:30:00Z" })
}

fn snapshot() -> Value {
    json!({ "type": "snapshot", "cameras": ["front"] })
}

/// Submits a request and checks the decision the policies recorded.
fn submit(d: &Daemon, body: &Value, expected: &str) {
    let (code, answer) = d.post("/api/requests", body);
    assert_eq!(code, 200, "{answer}");
    let answer: Value = serde_json::from_str(&answer).expect("JSON");
    assert_eq!(answer["decision"], expected, "{body}: {answer}");
}

/// The three requests of the log: a clip under a warrant (allowed; its reason "attack" makes
/// the hostile plugin misbehave), a clip without a legal basis (refused) and a snapshot under a
/// warrant (refused: `warrant-required` shares no snapshots by default).
fn three_requests(d: &Daemon) {
    submit(d, &request("clip-warrant", clip(), warrant(), "attack"), "allow");
    submit(d, &request("clip-nothing", clip(), json!({ "type": "none" }), "burglary"), "deny");
    submit(d, &request("snap-warrant", snapshot(), warrant(), "burglary"), "deny");
}

fn audit_bytes(s: &Setup) -> Vec<u8> {
    std::fs::read(s.path("data/audit/audit.jsonl")).expect("audit log")
}

/// A candidate file and, if given, its settings file, in a directory of their own.
fn candidate(dir: &Path, file: &str, plugin: &str, config: Option<&str>) -> (PathBuf, Option<PathBuf>) {
    let path = dir.join(file);
    std::fs::write(&path, plugin_bytes(plugin)).expect("candidate");
    let config = config.map(|c| {
        let p = dir.join(format!("{file}.toml"));
        std::fs::write(&p, c).expect("candidate config");
        p
    });
    (path, config)
}

/// `porchlight plugin replay … --json`, which must succeed.
fn replay_cli(s: &Setup, file: &Path, config: Option<&Path>, since: &str) -> Value {
    let mut args = vec!["plugin".to_owned(), "replay".to_owned(), file.display().to_string()];
    if let Some(c) = config {
        args.extend(["--plugin-config".to_owned(), c.display().to_string()]);
    }
    args.extend(["--since".to_owned(), since.to_owned(), "--json".to_owned()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = s.cli(&args);
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)))
}

/// The changes of a report as (request id, alone's change, composed's change).
fn changes(report: &Value) -> Vec<(String, Value, Value)> {
    report["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            (
                c["request_id"].as_str().unwrap_or_default().to_owned(),
                c["alone"]["change"].clone(),
                c["composed"]["change"].clone(),
            )
        })
        .collect()
}

/// What a candidate allowing snapshots under a warrant changes: exactly the snapshot.
fn assert_one_more_allowed(report: &Value) {
    assert_eq!(
        changes(report),
        vec![("snap-warrant".to_owned(), json!("deny_to_allow"), json!("deny_to_allow"))],
        "{report:#}"
    );
    let t = &report["totals"];
    assert_eq!((t["requests"].clone(), t["replayed"].clone()), (json!(3), json!(3)), "{t}");
    assert_eq!(
        (t["alone"]["changed"].clone(), t["composed"]["changed"].clone()),
        (json!(1), json!(1)),
        "{t}"
    );
    assert_eq!(t["alone"]["by_change"]["deny_to_allow"], 1, "{t}");
    assert_eq!(t["candidate_failures"], 0, "{t}");
    assert_eq!(report["candidate"]["replaces"], "warrant-required", "{report:#}");
    let names: Vec<&str> = report["composed_with"]
        .as_array()
        .expect("composed_with")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(names, ["street-only", "warrant-required"]);
    let change = &report["changes"][0];
    assert_eq!(change["recorded"]["decision"], "deny");
    assert_eq!(change["requester"]["organisation"], "City Police");
    assert_eq!(change["composed"]["decision"]["grant"]["cameras"], json!(["front"]));
    let words = change["alone"]["words"].as_str().unwrap_or_default();
    assert!(
        words.starts_with("would be allowed: front") && words.contains("snapshots are not shared"),
        "{words}"
    );
    assert!(report["complete"].as_bool().unwrap_or(false), "{report:#}");
}

#[test]
fn a_candidate_allowing_one_more_request_names_exactly_that_one() {
    let s = hub();
    let d = Daemon::start(&s.config);
    three_requests(&d);
    let dir = tempfile::tempdir().expect("tempdir");
    let (file, config) =
        candidate(dir.path(), "warrant-required.wasm", "warrant-required", Some("allow_snapshots = true\n"));

    // From the command line, while the daemon runs.
    let before = audit_bytes(&s);
    let report = replay_cli(&s, &file, config.as_deref(), "90d");
    assert_one_more_allowed(&report);
    assert_eq!(report["candidate"]["config_from"], "given");
    assert_eq!(audit_bytes(&s), before, "the replay wrote to the audit log");

    // The plain-words report names it too.
    let out = s.cli(&[
        "plugin",
        "replay",
        &file.display().to_string(),
        "--plugin-config",
        &config.as_ref().expect("config").display().to_string(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let plain = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(plain.contains("snap-warrant from City Police (police), snapshot of front"), "{plain}");
    assert!(plain.contains("Alone: 1 changed, 2 unchanged (deny_to_allow 1)"), "{plain}");
    assert!(!plain.contains("clip-nothing") && !plain.contains("clip-warrant"), "{plain}");

    // Without its settings it is the enabled policy's twin: nothing changes.
    let report = replay_cli(&s, &file, None, "90d");
    assert_eq!(report["candidate"]["config_from"], "enabled");
    assert_eq!(changes(&report), vec![], "{report:#}");

    // Through the API: the same, with the settings as TOML text.
    let body = json!({
        "wasm": base64::engine::general_purpose::STANDARD.encode(plugin_bytes("warrant-required")),
        "name": "warrant-required",
        "config": "allow_snapshots = true",
        "since": "90d",
    });
    let (code, answer) = d.post("/api/policy/replay", &body);
    assert_eq!(code, 200, "{answer}");
    assert_one_more_allowed(&serde_json::from_str(&answer).expect("JSON"));
    assert_eq!(audit_bytes(&s), before, "the API's replay wrote to the audit log");

    // A policy bundled with the daemon, by name: the same change, from the CLI and the API.
    let out = s.cli(&[
        "plugin",
        "replay",
        "--bundled",
        "warrant-required",
        "--plugin-config",
        &config.as_ref().expect("config").display().to_string(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert_one_more_allowed(&serde_json::from_slice(&out.stdout).expect("JSON report"));
    let body = json!({ "bundled": "warrant-required", "config": "allow_snapshots = true" });
    let (code, answer) = d.post("/api/policy/replay", &body);
    assert_eq!(code, 200, "{answer}");
    assert_one_more_allowed(&serde_json::from_str(&answer).expect("JSON"));
    let out = s.cli(&["plugin", "replay", "--bundled", "no-such-policy"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("no policy named \"no-such-policy\" is bundled"), "{}", text(&out));
    let (code, answer) = d.post("/api/policy/replay", &json!({ "bundled": "no-such-policy" }));
    assert_eq!(code, 400, "{answer}");
    let both = json!({ "bundled": "deny-all", "wasm": "AA==" });
    let (code, answer) = d.post("/api/policy/replay", &both);
    assert_eq!(code, 400, "{answer}");
    assert!(answer.contains("exactly one of `wasm`"), "{answer}");
    assert_eq!(audit_bytes(&s), before, "a bundled replay wrote to the audit log");

    // `--since` picks the period: a fourth request after `mark` is the only one replayed.
    let mark = jiff::Timestamp::now().to_string();
    submit(&d, &request("snap-later", snapshot(), warrant(), "theft"), "deny");
    let report = replay_cli(&s, &file, config.as_deref(), &mark);
    assert_eq!(report["totals"]["replayed"], 1, "{report:#}");
    assert_eq!(
        changes(&report),
        vec![("snap-later".to_owned(), json!("deny_to_allow"), json!("deny_to_allow"))]
    );
    let report = replay_cli(&s, &file, config.as_deref(), "1d");
    assert_eq!(report["totals"]["replayed"], 4, "{report:#}");
    let ids: Vec<String> = changes(&report).into_iter().map(|c| c.0).collect();
    assert_eq!(ids, ["snap-later", "snap-warrant"], "newest first");
}

#[test]
fn a_hostile_candidate_fails_closed_and_writes_nothing() {
    let s = hub();
    let d = Daemon::start(&s.config);
    three_requests(&d);
    let dir = tempfile::tempdir().expect("tempdir");
    let (file, config) = candidate(dir.path(), "hostile.wasm", "hostile-plugin", Some("mode = \"panic\"\n"));
    let before = audit_bytes(&s);
    let report = replay_cli(&s, &file, config.as_deref(), "90d");
    // It panics on the request whose reason is "attack" (allowed then) and refuses the rest
    // ("behaving"): only that decision changes, to deny.
    assert_eq!(
        changes(&report),
        vec![("clip-warrant".to_owned(), json!("allow_to_deny"), json!("allow_to_deny"))],
        "{report:#}"
    );
    let change = &report["changes"][0];
    assert_eq!(change["alone"]["decision"]["decision"], "deny");
    assert_eq!(change["composed"]["decision"]["decision"], "deny");
    let failure = change["alone"]["candidate_failure"].as_str().unwrap_or_default();
    assert!(failure.contains("panicked"), "{change:#}");
    assert_eq!(report["totals"]["candidate_failures"], 1);
    assert_eq!(report["candidate"]["replaces"], Value::Null, "added after the enabled ones");
    assert_eq!(audit_bytes(&s), before, "the replay wrote to the audit log");

    // One that runs away (an endless loop) is stopped by its limits and denies as well.
    let (file, config) = candidate(dir.path(), "looping.wasm", "hostile-plugin", Some("mode = \"loop\"\n"));
    let report = replay_cli(&s, &file, config.as_deref(), "90d");
    assert_eq!(changes(&report)[0].1, json!("allow_to_deny"), "{report:#}");
    let failure = report["changes"][0]["alone"]["candidate_failure"].as_str().unwrap_or_default();
    assert!(failure.contains("ran out of"), "{failure}");
    assert_eq!(audit_bytes(&s), before, "the replay wrote to the audit log");
    drop(d);
}

#[test]
fn bad_input_gets_clear_errors() {
    let s = hub();
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str]| {
        let mut all = vec!["plugin", "replay"];
        all.extend_from_slice(args);
        s.cli(&all)
    };
    let good = dir.path().join("good.wasm");
    std::fs::write(&good, plugin_bytes("deny-all")).expect("plugin");
    let good = good.display().to_string();

    let missing = dir.path().join("missing.wasm").display().to_string();
    let out = run(&[&missing]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains(&format!("cannot read {missing}")), "{}", text(&out));

    let garbage = dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"this is not WebAssembly").expect("garbage");
    let out = run(&[&garbage.display().to_string()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("the candidate policy \"garbage\" was rejected: not a WebAssembly file"),
        "{}",
        text(&out)
    );

    let toml = dir.path().join("bad.toml");
    std::fs::write(&toml, "allow_snapshots = \n").expect("toml");
    let out = run(&[&good, "--plugin-config", &toml.display().to_string()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).starts_with(&format!("plugin config: {}:", toml.display())), "{}", text(&out));

    let out = run(&[&good, "--since", "yesterday"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--since \"yesterday\""), "{}", text(&out));
    assert!(text(&out).contains("`90d`"), "{}", text(&out));

    // A settings table the candidate refuses.
    std::fs::write(&toml, "mesage = \"typo\"\n").expect("toml");
    let out = run(&[&good, "--plugin-config", &toml.display().to_string()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("was rejected: the plugin rejected its configuration"), "{}", text(&out));

    // A log with nothing in it yet: an empty report, not an error.
    let out = run(&[&good, "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["totals"]["requests"], 0, "{report}");

    // The API: the same mistakes, and the checks every write passes.
    let d = Daemon::start(&s.config);
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let post = |body: Value| {
        let (code, answer) = d.post("/api/policy/replay", &body);
        (code, serde_json::from_str::<Value>(&answer).unwrap_or(Value::String(answer)))
    };
    let (code, answer) = post(json!({ "wasm": "***" }));
    assert_eq!(code, 400, "{answer}");
    assert!(answer["error"].as_str().is_some_and(|e| e.starts_with("wasm is not base64")), "{answer}");
    let (code, answer) = post(json!({ "wasm": b64(b"garbage") }));
    assert_eq!(code, 422, "{answer}");
    assert!(answer["error"].as_str().is_some_and(|e| e.contains("not a WebAssembly file")), "{answer}");
    let (code, answer) = post(json!({ "wasm": b64(&plugin_bytes("deny-all")), "since": "soon" }));
    assert_eq!(code, 400, "{answer}");
    assert!(answer["error"].as_str().is_some_and(|e| e.starts_with("since \"soon\"")), "{answer}");
    let (code, answer) = post(json!({ "wasm": b64(&plugin_bytes("deny-all")), "config": "x = " }));
    assert_eq!(code, 400, "{answer}");
    assert!(answer["error"].as_str().is_some_and(|e| e.starts_with("config is not TOML")), "{answer}");
    let (code, answer) = post(json!({ "wasm": b64(&plugin_bytes("deny-all")), "name": "../x" }));
    assert_eq!(code, 400, "{answer}");
    let (code, answer) = post(json!({ "wasm": b64(&plugin_bytes("deny-all")), "extra": 1 }));
    assert_eq!(code, 400, "{answer}");

    // A plugin over the API's usual 256 KiB (a real one with a 1 MiB custom section) is taken…
    let mut big = plugin_bytes("deny-all");
    let payload = vec![0u8; 1 << 20];
    let name = b"padding";
    let mut section = vec![name.len() as u8];
    section.extend_from_slice(name);
    section.extend_from_slice(&payload);
    big.push(0);
    let mut n = section.len();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        big.push(if n == 0 { byte } else { byte | 0x80 });
        if n == 0 {
            break;
        }
    }
    big.extend_from_slice(&section);
    let (code, answer) = post(json!({ "wasm": b64(&big), "name": "deny-all" }));
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["candidate"]["name"], "deny-all");
    // … one that says it is over the route's limit is refused before it is read.
    let addr = d.addr.expect("API address");
    let mut conn = std::net::TcpStream::connect(addr).expect("connect");
    conn.set_read_timeout(Some(porchlight_e2e::WAIT)).expect("timeout");
    write!(
        conn,
        "POST /api/policy/replay HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        (24 << 20) + 1
    )
    .expect("send");
    let mut answer = String::new();
    conn.read_to_string(&mut answer).expect("answer");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("limit of 25165824 bytes"), "{answer}");
    // A cross-site page cannot start one.
    let body = json!({ "wasm": b64(&plugin_bytes("deny-all")) }).to_string();
    let refused = porchlight_e2e::web::request(
        addr,
        "POST",
        "/api/policy/replay",
        &[("Origin", "http://evil.example"), ("Content-Type", "application/json")],
        Some(&body),
    );
    assert_eq!(refused.status, 403, "{}", refused.body);
}

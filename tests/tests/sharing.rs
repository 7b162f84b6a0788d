//! The policy engine inside the real daemon: plugins load from the plugin directory, are listed
//! by the API, decide evaluations that are written to the audit log (which `porchlight audit
//! verify` checks), and are hot-swapped or rejected as their files change.

use porchlight_e2e::{Daemon, EventStream, Setup, WAIT, message, plugin_bytes};
use serde_json::{Value, json};

fn request(reason: &str, warrant: bool) -> Value {
    let mut r = json!({
        "id": "req-1",
        "requester": { "organisation": "City Police", "person": "Det. Smith", "kind": "police" },
        "kind": { "type": "clip", "cameras": ["front", "kitchen"], "from": "2026-11-26T17:00:00Z", "to": "2026-11-26T17:30:00Z" },
        "reason": reason,
        "case_number": "2026-1",
        "legal_basis": { "type": "none" },
        "received_at": "2026-11-26T18:00:00Z",
    });
    if warrant {
        r["legal_basis"] = json!({
            "type": "warrant", "reference": "W-1", "court": "District Court",
            "issued": "2026-11-01T00:00:00Z", "expires": "2030-01-01T00:00:00Z",
            "scope": { "cameras": ["front", "kitchen"], "from": "2026-11-26T16:00:00Z", "to": "2026-11-26T17:15:00Z" },
        });
    }
    r
}

const CAMERAS: &str = r#"
[[camera]]
name = "front"
rtsp_url = "rtsp://127.0.0.1:9/front"
tags = ["street"]

[[camera]]
name = "kitchen"
rtsp_url = "rtsp://127.0.0.1:9/kitchen"
tags = ["indoor"]
"#;

fn setup(enabled: &[&str], extra: &str) -> Setup {
    let s = Setup::new("");
    std::fs::create_dir_all(s.path("plugins")).expect("plugins dir");
    let list = enabled.iter().map(|e| format!("{e:?}")).collect::<Vec<_>>().join(", ");
    // A generous time limit: an unoptimised daemon on a busy CI machine (see tests/policy.rs).
    // The files just built, not the policies bundled under the same names.
    let sources: String = enabled
        .iter()
        .filter(|e| porchlight::policy::bundled::find(e).is_some())
        .map(|e| format!("[plugins.policy.{e}]\nsource = \"file\"\n"))
        .collect();
    let body = format!(
        "{CAMERAS}\n[plugins]\ndir = \"plugins\"\nenabled = [{list}]\ntime_limit = \"2s\"\n{sources}{extra}"
    );
    std::fs::write(&s.config, Setup::with_defaults(s.dir.path(), &body)).expect("config");
    s
}

fn install(s: &Setup, name: &str, from: &str) {
    std::fs::write(s.path(&format!("plugins/{name}.wasm")), plugin_bytes(from)).expect("install plugin");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

fn verify(s: &Setup) -> (i32, String) {
    let mut v = Daemon::spawn(&["audit", "verify", "--config", &s.config.display().to_string()], &[]);
    let code = v.wait_exit(WAIT).code().unwrap_or(-1);
    (code, v.stdout())
}

#[test]
fn policies_decide_evaluations_and_every_decision_is_audited() {
    let s = setup(&["street-only", "warrant-required"], "");
    install(&s, "street-only", "street-only");
    install(&s, "warrant-required", "warrant-required");
    let mut d = Daemon::start(&s.config);
    let plugins = d.get_json("/api/plugins");
    assert_eq!(plugins["contract"], "porchlight:policy@0.1.0");
    assert_eq!(plugins["plugins"][0]["name"], "street-only");
    assert_eq!(plugins["plugins"][0]["state"], "loaded", "{plugins}");
    assert_eq!(plugins["plugins"][1]["state"], "loaded", "{plugins}");
    assert_eq!(d.get_json("/api/health")["subsystems"]["plugins"]["state"], "running");

    // No legal basis: warrant-required denies, so the request is denied.
    let (code, body) = d.post("/api/policy/evaluate", &json!({ "request": request("burglary", false) }));
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["decision"], "deny", "{v}");
    assert!(v["reason"].as_str().is_some_and(|r| r.contains("warrant-required")), "{v}");

    // With a warrant: street-only drops the kitchen, the warrant narrows the time.
    let (_, body) = d.post("/api/policy/evaluate", &json!({ "request": request("burglary", true) }));
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["decision"], "allow", "{v}");
    assert_eq!(v["grant"]["cameras"], json!(["front"]));
    assert_eq!(v["grant"]["to"], "2026-11-26T17:15:00Z");
    assert_eq!(v["plugins"].as_array().map(Vec::len), Some(2));

    // Malformed requests are refused with a message naming the problem.
    let (code, body) = d.post("/api/policy/evaluate", &json!({ "request": { "id": 5 } }));
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("invalid request body"), "{body}");

    d.signal("TERM");
    assert_eq!(d.wait_exit(WAIT).code(), Some(0));

    // The compiled plugins are cached on disk for the next start.
    let cached = walk(&s.path("data/cache/plugins"));
    assert!(!cached.is_empty(), "no compiled plugin in the cache");

    let (code, out) = verify(&s);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("intact"), "{out}");
    let mut show = Daemon::spawn(&["audit", "show", "--config", &s.config.display().to_string()], &[]);
    assert_eq!(show.wait_exit(WAIT).code(), Some(0));
    let shown = show.stdout();
    let kinds: Vec<&str> = shown.lines().filter_map(|l| l.split_whitespace().nth(2)).collect();
    assert_eq!(
        kinds,
        ["plugin_loaded", "plugin_loaded", "request", "decision", "request", "decision"],
        "{shown}"
    );
    assert!(shown.contains("warrant-required"), "{shown}");

    // Tampering: change one recorded decision; verify names the line.
    let log = s.path("data/audit/audit.jsonl");
    let text = std::fs::read_to_string(&log).expect("audit log");
    let edited = text.replacen("\"deny\"", "\"allow\"", 1);
    assert_ne!(edited, text);
    std::fs::write(&log, edited).expect("tamper");
    let (code, out) = verify(&s);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("audit.jsonl:4:"), "{out}");
}

#[test]
fn no_plugin_means_deny_and_hostile_or_broken_plugins_never_share() {
    let s = setup(&[], "");
    let d = Daemon::start(&s.config);
    let (_, body) = d.post("/api/policy/evaluate", &json!({ "request": request("attack", true) }));
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["decision"], "deny");
    assert_eq!(v["reason"], "no sharing policy is installed");
    drop(d);

    // A looping plugin, configured to misbehave only on "attack" requests: it loads, then its
    // runaway decision is cut off and counted as deny; the daemon keeps serving.
    let s = setup(&["hostile"], "[plugins.policy.hostile]\nconfig = { mode = \"loop\" }\n");
    install(&s, "hostile", "hostile-plugin");
    let d = Daemon::start(&s.config);
    for _ in 0..3 {
        let (code, body) = d.post("/api/policy/evaluate", &json!({ "request": request("attack", true) }));
        assert_eq!(code, 200, "{body}");
        let v: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(v["decision"], "deny", "{v}");
        assert!(v["plugins"][0]["failure"].as_str().is_some_and(|f| f.contains("ran out of")), "{v}");
    }
    assert_eq!(d.get("/api/health").0, 200);
    drop(d);
    // Each of those decisions is on record, with the plugin's failure.
    let (code, out) = verify(&s);
    assert_eq!(code, 0, "{out}");
    let log = std::fs::read_to_string(s.path("data/audit/audit.jsonl")).expect("audit log");
    let decisions: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["kind"] == "decision")
        .collect();
    assert_eq!(decisions.len(), 3, "{log}");
    for e in &decisions {
        assert_eq!(e["final"]["decision"], "deny", "{e}");
        assert!(e["plugins"][0]["failure"].as_str().is_some_and(|f| f.contains("ran out of")), "{e}");
        assert_eq!(e["plugins"][0]["sha256"].as_str().map(str::len), Some(64), "{e}");
    }
}

#[test]
fn plugin_files_are_hot_swapped_and_bad_ones_rejected() {
    let s = setup(&["policy"], "");
    install(&s, "policy", "deny-all");
    let d = Daemon::start(&s.config);
    let mut events = EventStream::open(d.addr.expect("addr"), None);
    let first = d.get_json("/api/plugins")["plugins"][0]["sha256"].clone();

    // A broken file: rejected, the previous version keeps deciding.
    std::fs::write(s.path("plugins/policy.wasm"), &plugin_bytes("deny-all")[..1000]).expect("write");
    let e = events.next_matching(|e| e["type"] == "plugin_rejected");
    assert!(e["reason"].as_str().is_some_and(|r| r.contains("invalid WebAssembly")), "{e}");
    assert_eq!(d.get_json("/api/plugins")["plugins"][0]["sha256"], first);
    let (_, body) = d.post("/api/policy/evaluate", &json!({ "request": request("x", true) }));
    assert!(body.contains("this household does not share footage"), "{body}");

    // A good new file (via a rename, as installers do): swapped in.
    let tmp = s.path("plugins/.policy.tmp");
    std::fs::write(&tmp, plugin_bytes("ask-resident")).expect("write");
    std::fs::rename(&tmp, s.path("plugins/policy.wasm")).expect("rename");
    let e = events.next_matching(|e| e["type"] == "plugin_loaded");
    assert_ne!(e["sha256"], first);
    let (_, body) = d.post("/api/policy/evaluate", &json!({ "request": request("x", true) }));
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["decision"], "ask", "{v}");
    d.wait_log("load logged", |l| message(l) == "Plugin loaded");
}

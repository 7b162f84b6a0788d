//! The resident answers sharing requests and switches privacy mode from the command line
//! (`porchlight requests`, `porchlight privacy`), which talks to the running daemon's API; the
//! config can force privacy mode on, and the switch survives a restart.

use porchlight_e2e::output_text as text;
use porchlight_e2e::{Daemon, Setup, message, plugin_bytes};
use serde_json::{Value, json};

fn request(id: &str) -> Value {
    json!({ "request": {
        "id": id,
        "requester": { "organisation": "County Insurance", "kind": "insurer" },
        "kind": { "type": "clip", "cameras": ["porch", "garden"], "from": "2026-11-26T17:00:00Z", "to": "2026-11-26T17:30:00Z" },
        "reason": "claim 77: car hit the fence",
        "legal_basis": { "type": "consent" },
        "received_at": "2026-11-26T18:00:00Z",
    }})
}

/// A daemon with the ask-resident policy, its API on a fixed loopback port (the CLI reads the
/// address from the config), and `extra` appended to `[hub]`.
fn setup(extra_hub: &str) -> Setup {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let s = Setup::new("");
    std::fs::create_dir_all(s.path("plugins")).expect("plugins dir");
    std::fs::write(s.path("plugins/ask.wasm"), plugin_bytes("ask-resident")).expect("plugin");
    let text = format!(
        "[hub]\ndata_dir = {:?}\nlog_format = \"json\"\nshutdown_timeout = \"5s\"\n{extra_hub}\n\n[api]\nlisten = \"127.0.0.1:{port}\"\n\n\
         [[camera]]\nname = \"porch\"\nrtsp_url = \"rtsp://127.0.0.1:9/porch\"\nrecord = \"off\"\n\n\
         [[camera]]\nname = \"garden\"\nrtsp_url = \"rtsp://127.0.0.1:9/garden\"\nrecord = \"off\"\n\n\
         [plugins]\ndir = \"plugins\"\nenabled = [\"ask\"]\ntime_limit = \"2s\"\n",
        s.path("data").display().to_string()
    );
    std::fs::write(&s.config, text).expect("config");
    s
}

#[test]
fn resident_answers_from_the_command_line() {
    let s = setup("");
    let d = Daemon::start(&s.config);
    for id in ["claim-1", "claim-2", "claim-3"] {
        let (code, body) = d.post("/api/requests", &request(id));
        assert_eq!(code, 202, "{body}");
    }

    let out = s.cli(&["requests", "list"]);
    assert!(out.status.success(), "{}", text(&out));
    let listing = text(&out);
    assert!(listing.contains("WAITING claim-1") && listing.contains("County Insurance"), "{listing}");

    // Wider than asked: refused, and the request still waits.
    let out = s.cli(&["requests", "approve", "claim-1", "--camera", "kitchen"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("\"kitchen\" was not requested"), "{}", text(&out));

    let out =
        s.cli(&["requests", "approve", "claim-1", "--camera", "porch", "--from", "2026-11-26T17:10:00Z"]);
    assert!(out.status.success(), "{}", text(&out));
    let decision: Value = serde_json::from_slice(&out.stdout).expect("decision JSON");
    assert_eq!(decision["decision"], "allow");
    assert_eq!(decision["grant"]["cameras"], json!(["porch"]));
    assert_eq!(decision["grant"]["from"], "2026-11-26T17:10:00Z");
    assert_eq!(decision["grant"]["to"], "2026-11-26T17:30:00Z");

    let out = s.cli(&["requests", "deny", "claim-2", "--reason", "not without a police report"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = s.cli(&["requests", "deny", "claim-2"]);
    assert_eq!(out.status.code(), Some(1), "answered twice: {}", text(&out));

    // Privacy mode denies what still waits.
    let out = s.cli(&["privacy", "on"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("privacy mode: ON"), "{}", text(&out));
    let listed = d.get_json("/api/requests");
    assert!(listed["pending"].as_array().is_some_and(Vec::is_empty), "{listed}");
    let recent: Vec<(Value, Value, Value)> = listed["recent"]
        .as_array()
        .expect("recent")
        .iter()
        .map(|r| (r["id"].clone(), r["decision"]["decision"].clone(), r["decided_by"].clone()))
        .collect();
    assert_eq!(
        recent,
        vec![
            (json!("claim-3"), json!("deny"), json!("privacy mode")),
            (json!("claim-2"), json!("deny"), json!("resident (api)")),
            (json!("claim-1"), json!("allow"), json!("resident (api)")),
        ]
    );
    let out = s.cli(&["requests", "list"]);
    assert!(text(&out).contains("No request is waiting"), "{}", text(&out));

    // The switch survives a restart.
    drop(d);
    let d = Daemon::start(&s.config);
    assert_eq!(d.get_json("/api/privacy")["on"], true);
    let out = s.cli(&["privacy", "off"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(d.get_json("/api/privacy")["on"], false);
}

#[test]
fn config_forces_privacy_on() {
    let s = setup("privacy = true");
    let d = Daemon::start(&s.config);
    let out = s.cli(&["privacy"]);
    assert!(text(&out).contains("forced by hub.privacy"), "{}", text(&out));
    let out = s.cli(&["privacy", "off"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("forced on by `hub.privacy = true`"), "{}", text(&out));
    let (code, body) = d.post("/api/requests", &request("r"));
    assert_eq!(code, 200, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).expect("json")["decision"], "deny");

    // Taking it out of the config (a reload) gives the runtime switch back.
    let text = std::fs::read_to_string(&s.config).expect("config");
    std::fs::write(&s.config, text.replace("privacy = true", "")).expect("rewrite");
    let mut events = d.events();
    d.signal("HUP");
    let e = events.next_matching(|e| e["type"] == "privacy_changed");
    assert_eq!((e["on"].clone(), e["by"].clone()), (json!(false), json!("config")), "{e}");
    let state = d.get_json("/api/privacy");
    assert_eq!((state["on"].clone(), state["forced"].clone()), (json!(false), json!(false)));
}

#[test]
fn cli_says_when_the_daemon_is_not_running() {
    let s = setup("");
    let out = s.cli(&["requests", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("is porchlight running?"), "{}", text(&out));
}

/// The hub mode from the command line: shown, switched (recorded in the audit log), kept across
/// a restart, and what a request handed in without a mode is decided under.
#[test]
fn hub_mode_from_the_command_line() {
    let s = setup("");
    let d = Daemon::start(&s.config);
    let out = s.cli(&["mode"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(text(&out).trim(), "hub mode: home");
    let out = s.cli(&["mode", "vacation"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).starts_with("hub mode: vacation; switched by api at "), "{}", text(&out));
    let out = s.cli(&["mode", "party"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(d.get_json("/api/mode")["mode"], "vacation");

    let (code, body) = d.post("/api/requests", &request("claim-mode"));
    assert_eq!(code, 202, "{body}");
    let log = porchlight::audit::entries(&s.path("data/audit")).expect("audit");
    let asked =
        log.iter().find(|e| e["kind"] == "request" && e["request"]["id"] == "claim-mode").expect("request");
    assert_eq!(asked["context"]["mode"], "vacation");
    let switched: Vec<&Value> = log.iter().filter(|e| e["kind"] == "mode").collect();
    assert_eq!(switched.len(), 1, "{switched:?}");
    assert_eq!((switched[0]["mode"].as_str(), switched[0]["by"].as_str()), (Some("vacation"), Some("api")));
    drop(d);

    let _d = Daemon::start(&s.config);
    let out = s.cli(&["mode"]);
    assert!(text(&out).starts_with("hub mode: vacation"), "kept across a restart: {}", text(&out));
}

/// No grant of live video outlasts the resident's ceiling (`hub.max_live`), however long a
/// policy allows it for: the decision is cut before it is recorded or acted on.
#[test]
fn a_live_grant_never_exceeds_the_residents_ceiling() {
    let s = Setup::new(
        "[[camera]]\nname = \"porch\"\nrtsp_url = \"rtsp://127.0.0.1:9/porch\"\nrecord = \"off\"\n\n\
         [plugins]\ndir = \"plugins\"\nenabled = [\"allow\"]\ntime_limit = \"2s\"\n\n\
         [plugins.policy.allow]\nconfig = { mode = \"allow\" }\n",
    );
    std::fs::create_dir_all(s.path("plugins")).expect("plugins dir");
    std::fs::write(s.path("plugins/allow.wasm"), plugin_bytes("hostile-plugin")).expect("plugin");
    let text = std::fs::read_to_string(&s.config).expect("config");
    std::fs::write(&s.config, text.replacen("[hub]\n", "[hub]\nmax_live = \"5m\"\n", 1)).expect("config");
    let d = Daemon::start(&s.config);
    let body = json!({ "request": {
        "id": "forever",
        "requester": { "organisation": "Monitoring Co", "kind": "other" },
        "kind": { "type": "live", "cameras": ["porch"], "max_seconds": u32::MAX },
        "reason": "attack",
        "legal_basis": { "type": "consent" },
        "received_at": "2026-11-26T18:00:00Z",
    }});
    let (code, text) = d.post("/api/policy/evaluate", &body);
    assert_eq!(code, 200, "{text}");
    let v: Value = serde_json::from_str(&text).expect("verdict");
    assert_eq!(v["decision"], "allow", "{v}");
    assert_eq!(v["grant"]["live_max_seconds"], 300, "{v}");
    assert_eq!(
        v["plugins"][0]["grant"]["live_max_seconds"],
        u32::MAX,
        "the plugin's own answer is kept: {v}"
    );
    let cut = d.wait_log("the cut to be logged", |l| message(l) == "Live grant cut to hub.max_live");
    assert_eq!(cut["fields"]["granted_s"], u32::MAX, "{cut}");
    // The audit log records the cut grant as the final decision.
    let log = std::fs::read_to_string(s.path("data/audit/audit.jsonl")).expect("audit log");
    let decision: Value = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["kind"] == "decision" && e["request_id"] == "forever")
        .unwrap_or_else(|| panic!("no decision entry:\n{log}"));
    assert_eq!(decision["final"]["grant"]["live_max_seconds"], 300, "{decision}");
}

//! The API the resident's web app reads beyond the basic routes, against the real daemon and the
//! real `ask-resident` plugin: `GET /api/report` (what left the house) agrees with the audit log
//! as `porchlight audit show` lists it; pins made through `/api/pins` are the CLI's pins and
//! show in `/api/recordings`; `/api/plugins` shows each plugin's config.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use porchlight_e2e::output_text as text;
use porchlight_e2e::{Daemon, Setup, plugin_bytes};
use serde_json::{Value, json};

fn request(id: &str, organisation: &str) -> Value {
    json!({ "request": {
        "id": id,
        "requester": { "organisation": organisation, "kind": "insurer" },
        "kind": { "type": "clip", "cameras": ["porch"], "from": "2026-11-26T17:00:00Z", "to": "2026-11-26T17:30:00Z" },
        "reason": "claim: car hit the fence",
        "legal_basis": { "type": "consent" },
        "received_at": "2026-11-26T18:00:00Z",
    }})
}

/// A hub named "elm-street-4" with the ask-resident policy (its `config` table set) and two
/// cameras that record nothing.
fn setup() -> Setup {
    let s = Setup::new(
        "[[camera]]\nname = \"porch\"\nrtsp_url = \"rtsp://127.0.0.1:9/porch\"\nrecord = \"off\"\n\n\
         [[camera]]\nname = \"garden\"\nrtsp_url = \"rtsp://127.0.0.1:9/garden\"\nrecord = \"off\"\n\n\
         [plugins]\ndir = \"plugins\"\nenabled = [\"ask\"]\ntime_limit = \"2s\"\n\n\
         [plugins.policy.ask.config]\ntimeout_seconds = 3600\n",
    );
    std::fs::create_dir_all(s.path("plugins")).expect("plugins dir");
    std::fs::write(s.path("plugins/ask.wasm"), plugin_bytes("ask-resident")).expect("plugin");
    let config = std::fs::read_to_string(&s.config).expect("config");
    std::fs::write(&s.config, config.replacen("[hub]\n", "[hub]\nname = \"elm-street-4\"\n", 1))
        .expect("config");
    s
}

/// One HTTP/1.1 request (Connection: close): status, the header block (lowercase) and body.
fn call(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).expect("connect to API");
    s.set_read_timeout(Some(std::time::Duration::from_secs(30))).expect("timeout");
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a header block");
    let code = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).expect("status");
    (code, head.to_ascii_lowercase(), body.to_owned())
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// `porchlight audit show --since FROM`: the kind of each line, and the line.
fn audit_lines(s: &Setup, since: &str) -> Vec<(String, String)> {
    let out = s.cli(&["audit", "show", "--since", since]);
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| (l.split_whitespace().nth(2).unwrap_or_default().to_owned(), l.to_owned()))
        .collect()
}

#[test]
fn the_report_agrees_with_the_audit_log() {
    let s = setup();
    let d = Daemon::start(&s.config);
    let addr = d.addr.expect("api");
    // Before the period: answered, and left out.
    let (code, body) = d.post("/api/requests", &request("claim-0", "Early Insurance"));
    assert_eq!(code, 202, "{body}");
    let (code, body) = d.post("/api/requests/claim-0/deny", &json!({}));
    assert_eq!(code, 200, "{body}");

    // The period starts at the next entry: the first request in it.
    let (code, body) = d.post("/api/requests", &request("claim-1", "County Insurance"));
    assert_eq!(code, 202, "{body}");
    let log = porchlight::audit::entries(&s.path("data/audit")).expect("audit log");
    let from = log
        .iter()
        .find(|e| e["kind"] == "request" && e["request"]["id"] == "claim-1")
        .and_then(|e| e["time"].as_str())
        .expect("claim-1's request entry")
        .to_owned();
    for (id, org) in [("claim-2", "County Insurance"), ("claim-3", "Acme <Insurance> & Co")] {
        let (code, body) = d.post("/api/requests", &request(id, org));
        assert_eq!(code, 202, "{body}");
    }
    let (code, body) = d.post(
        "/api/requests/claim-1/approve",
        &json!({"cameras": ["porch"], "from": "2026-11-26T17:10:00Z"}),
    );
    assert_eq!(code, 200, "{body}");
    let (code, body) =
        d.post("/api/requests/claim-2/deny", &json!({"reason": "not without a police report"}));
    assert_eq!(code, 200, "{body}");
    // A dry run shares nothing and is not in the report.
    let (code, body) = d.post("/api/policy/evaluate", &request("dry-1", "Dry Run Ltd"));
    assert_eq!(code, 200, "{body}");
    let to = jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_secs(1)).expect("to").to_string();

    let (code, _, body) = call(addr, "GET", &format!("/api/report?from={from}&to={to}"), None);
    assert_eq!(code, 200, "{body}");
    let report = json_of(&body);
    let lines = audit_lines(&s, &from);
    let count = |pred: &dyn Fn(&(String, String)) -> bool| lines.iter().filter(|l| pred(l)).count() as u64;
    let of_kind = |kind: &'static str| move |l: &(String, String)| l.0 == kind;
    let requests = count(&|l| l.0 == "request" && !l.1.contains("source=\"api-evaluate\""));
    let allowed = count(&|l| l.0 == "resident_decision" && l.1.contains("final={\"decision\":\"allow\""));
    let denied = count(&|l| l.0 == "resident_decision" && l.1.contains("final={\"decision\":\"deny\""));
    let totals = &report["totals"];
    assert_eq!((requests, allowed, denied), (3, 1, 1), "{lines:#?}");
    assert_eq!(totals["requests"], requests, "{report}");
    assert_eq!(totals["allowed"], allowed, "{report}");
    assert_eq!(totals["denied"], denied, "{report}");
    assert_eq!(totals["undecided"], requests - allowed - denied, "{report}");
    for (field, kind) in [
        ("clips", "shared_clip"),
        ("stills", "shared_snapshot"),
        ("live_streams", "live_stopped"),
        ("resident_shares", "resident_share"),
        ("failed", "share_failed"),
        ("revoked", "revoked"),
    ] {
        assert_eq!(totals[field], count(&of_kind(kind)), "{field}: {report}");
    }
    assert_eq!(report["hub"], "elm-street-4");
    assert_eq!(report["chain"]["state"], "intact", "{report}");
    let ids: Vec<&str> =
        report["requests"].as_array().expect("requests").iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(ids, ["claim-1", "claim-2", "claim-3"]);
    let claim1 = &report["requests"][0];
    assert_eq!(
        (claim1["outcome"].as_str(), claim1["decided_by"].as_str()),
        (Some("allowed"), Some("resident (api)"))
    );
    assert_eq!(claim1["grant"]["from"], "2026-11-26T17:10:00Z", "{claim1}");
    assert_eq!(report["requests"][1]["deny_reason"], "not without a police report");
    assert_eq!(report["requests"][2]["outcome"], "undecided");
    let county = report["by_requester"]
        .as_array()
        .expect("by_requester")
        .iter()
        .find(|r| r["organisation"] == "County Insurance");
    assert_eq!(
        county.map(|r| (r["requests"].clone(), r["allowed"].clone())),
        Some((json!(2), json!(1))),
        "{report}"
    );

    // CSV: an attachment, a header and one row per request.
    let (code, head, csv) = call(addr, "GET", &format!("/api/report?from={from}&to={to}&format=csv"), None);
    assert_eq!(code, 200, "{csv}");
    assert!(head.contains("content-type: text/csv"), "{head}");
    assert!(head.contains("content-disposition: attachment; filename=\"porchlight-report-"), "{head}");
    let rows: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(rows.len() as u64, 1 + requests, "{csv}");
    assert!(rows[0].starts_with("id,received,source,organisation,"), "{csv}");
    assert!(rows[3].starts_with("claim-3,") && rows[3].contains(",Acme <Insurance> & Co,"), "{csv}");

    // HTML: an attachment with the hub's name, the outside party's words escaped, no script.
    let (code, head, html) = call(addr, "GET", &format!("/api/report?from={from}&to={to}&format=html"), None);
    assert_eq!(code, 200, "{html}");
    assert!(
        head.contains("content-type: text/html") && head.contains("content-disposition: attachment"),
        "{head}"
    );
    assert!(html.contains("What left the house: elm-street-4"), "{html}");
    assert!(html.contains("Acme &lt;Insurance&gt; &amp; Co") && !html.contains("<Insurance>"), "{html}");
    assert!(!html.to_ascii_lowercase().contains("<script"), "{html}");
    assert!(html.contains("The audit log is intact"), "{html}");

    // Refusals name the parameter.
    let (code, _, body) = call(addr, "GET", "/api/report?format=pdf", None);
    assert_eq!(
        (code, json_of(&body)["error"].as_str()),
        (400, Some("`format` must be json, csv or html, not \"pdf\""))
    );
    let (code, _, body) = call(addr, "GET", "/api/report?from=-1d&to=-2d", None);
    assert_eq!(code, 400, "{body}");
    assert!(json_of(&body)["error"].as_str().is_some_and(|e| e.starts_with("`from` (")), "{body}");

    // The default period (the last 7 days) holds all of it, claim-0 too.
    let week = d.get_json("/api/report");
    assert_eq!(week["totals"]["requests"], 4, "{week}");
}

#[test]
fn a_broken_chain_is_reported_as_broken() {
    let s = setup();
    let d = Daemon::start(&s.config);
    for id in ["b-1", "b-2"] {
        let (code, body) = d.post("/api/requests", &request(id, "County Insurance"));
        assert_eq!(code, 202, "{body}");
    }
    // Someone edits an entry on the hub's disk.
    let path = s.path("data/audit/audit.jsonl");
    let log = std::fs::read_to_string(&path).expect("audit log");
    std::fs::write(&path, log.replacen("\"b-1\"", "\"b-9\"", 1)).expect("tamper");
    let report = d.get_json("/api/report");
    assert_eq!(report["chain"]["state"], "broken", "{report}");
    let out = s.cli(&["audit", "verify"]);
    let said = text(&out);
    let line = report["chain"]["line"].as_u64().expect("line");
    assert!(
        said.contains(&format!("audit.jsonl:{line}: {}", report["chain"]["message"].as_str().unwrap_or("?"))),
        "{said}\n{report}"
    );
}

#[test]
fn pins_from_the_api_are_the_clis_pins() {
    let s = setup();
    let d = Daemon::start(&s.config);
    let addr = d.addr.expect("api");
    let body = json!({"camera": "porch", "from": "2026-12-01T10:00:00Z", "to": "2026-12-01T10:05:00Z", "reason": "parcel theft"});
    let (code, _, made) = call(addr, "POST", "/api/pins", Some(&body));
    assert_eq!(code, 201, "{made}");
    let pin = json_of(&made)["pin"].clone();
    assert_eq!(
        (pin["camera"].as_str(), pin["from"].as_str(), pin["to"].as_str(), pin["reason"].as_str()),
        (Some("porch"), Some("2026-12-01T10:00:00Z"), Some("2026-12-01T10:05:00Z"), Some("parcel theft")),
        "{pin}"
    );
    let id = pin["id"].as_i64().expect("id");
    assert_eq!(d.get_json("/api/pins")["pins"], json!([pin]));
    let out = s.cli(&["recordings", "pins"]);
    assert!(text(&out).contains("porch") && text(&out).contains("parcel theft"), "{}", text(&out));

    // The timeline lists the pins and events that overlap its interval.
    let listed = d.get_json("/api/recordings?from=2026-12-01T10:04:00Z&to=2026-12-01T11:00:00Z");
    assert_eq!(listed["pins"], json!([pin]), "{listed}");
    assert_eq!(listed["events"], json!([]), "{listed}");
    let later = d.get_json("/api/recordings?from=2026-12-01T10:05:00Z&to=2026-12-01T11:00:00Z");
    assert_eq!(later["pins"], json!([]), "{later}");

    // Refused, naming the field; nothing pinned.
    for (body, says) in [
        (json!({"camera": "porhc", "from": "-1h", "to": "now"}), "`camera`: no camera named \"porhc\""),
        (json!({"camera": "porch", "from": "now", "to": "-1h"}), "`from` ("),
        (json!({"camera": "porch", "from": "soon", "to": "now"}), "`from`: invalid time"),
        (json!({"camera": "porch", "from": "-1h"}), "missing field `to`"),
    ] {
        let (code, _, answer) = call(addr, "POST", "/api/pins", Some(&body));
        assert_eq!(code, 400, "{body}: {answer}");
        assert!(json_of(&answer)["error"].as_str().is_some_and(|e| e.contains(says)), "{body}: {answer}");
    }
    assert_eq!(d.get_json("/api/pins")["pins"].as_array().map(Vec::len), Some(1));

    let (code, _, answer) = call(addr, "DELETE", &format!("/api/pins/{id}"), None);
    assert_eq!((code, json_of(&answer)), (200, json!({"unpinned": id})));
    let (code, _, answer) = call(addr, "DELETE", &format!("/api/pins/{id}"), None);
    assert_eq!(
        (code, json_of(&answer)["error"].as_str()),
        (404, Some(format!("no pin with id {id}").as_str()))
    );
    assert_eq!(d.get_json("/api/pins")["pins"], json!([]));

    // The CLI pins through the same checks.
    let out = s.cli(&["recordings", "pin", "--camera", "porhc", "--from", "-1h", "--to", "now"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("`camera`: no camera named \"porhc\""), "{}", text(&out));
}

#[test]
fn plugins_show_their_config() {
    let s = setup();
    let d = Daemon::start(&s.config);
    let plugins = d.get_json("/api/plugins");
    assert_eq!(plugins["plugins"][0]["name"], "ask", "{plugins}");
    assert_eq!(plugins["plugins"][0]["config"], json!({"timeout_seconds": 3600}), "{plugins}");
}

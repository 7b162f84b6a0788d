//! The resident's web app in a real headless Chromium, against the real daemon with a real RTSP
//! camera (the GStreamer test server), the real `ask-resident` policy and a real MQTT broker
//! (mosquitto): the home page shows the camera recording; privacy mode switched from the page
//! reaches the API and MQTT; a request the policy answers `ask` appears in the inbox within a
//! second; approving it narrowed to one camera is audited as `resident (web)` with exactly that
//! grant; the report's totals agree with `porchlight audit show`; no page logs a console error.
//! Every page is saved as a screenshot (`target/screenshots/<test>/`).

#![allow(clippy::print_stderr)]

use std::time::{Duration, Instant};

use porchlight_e2e::browser::Browser;
use porchlight_e2e::mqtt::{Broker, Observer};
use porchlight_e2e::rtsp::RtspServer;
use porchlight_e2e::{Daemon, Setup, WAIT, output_text, plugin_bytes};
use serde_json::{Value, json};

/// The pages of the app that need no report or pins (hash route, screenshot name).
const PAGES: &[(&str, &str)] =
    &[("/", "home"), ("/live", "live"), ("/policies", "policies"), ("/events", "events")];

/// The pages that read `GET /api/report` (the history of requests, and the report itself) or
/// `GET /api/pins` (recordings).
const REPORT_PAGES: &[(&str, &str)] =
    &[("/requests", "requests"), ("/report", "report"), ("/recordings", "recordings")];

/// A hub with camera `porch` (recording from the RTSP test server), camera `garden` (not
/// recording), the `ask-resident` policy and MQTT, with the peers it needs. `None`: skip.
struct Hub {
    // Dropped in this order: browser first, then the daemon, then its peers.
    browser: Browser,
    daemon: Daemon,
    setup: Setup,
    observer: Observer,
    _broker: Broker,
    _camera: RtspServer,
}

impl Hub {
    fn start(test: &str) -> Option<Self> {
        let camera = RtspServer::start()?;
        let broker = Broker::start()?;
        let browser = Browser::start(test)?;
        let setup = Setup::new(&format!(
            "[[camera]]\nname = \"porch\"\nrtsp_url = {:?}\n\n\
             [[camera]]\nname = \"garden\"\nrtsp_url = \"rtsp://127.0.0.1:9/garden\"\nrecord = \"off\"\n\n\
             [plugins]\ndir = \"plugins\"\nenabled = [\"ask\"]\ntime_limit = \"2s\"\n\n{}",
            camera.url("h264"),
            broker.section("")
        ));
        std::fs::create_dir_all(setup.path("plugins")).expect("plugins dir");
        std::fs::write(setup.path("plugins/ask.wasm"), plugin_bytes("ask-resident")).expect("plugin");
        let observer = Observer::connect(&broker);
        let daemon = Daemon::start(&setup.config);
        Some(Self { browser, daemon, setup, observer, _broker: broker, _camera: camera })
    }

    fn url(&self, hash: &str) -> String {
        format!("http://{}/#{hash}", self.daemon.addr.expect("API address"))
    }

    /// Opens page `hash` and waits until the app shows it.
    fn open(&self, hash: &str) {
        self.browser.goto(&self.url(hash));
        self.browser.wait_for(&format!("main[data-page=\"{hash}\"]"));
    }

    /// The audit log's entries, as the daemon wrote them.
    fn audit(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.setup.path("data/audit/audit.jsonl")).expect("audit log");
        text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }
}

/// A clip request for both cameras, which `ask-resident` puts to the resident.
fn clip_request(id: &str) -> Value {
    json!({ "request": {
        "id": id,
        "requester": { "organisation": "County Insurance", "person": "A. Adjuster", "kind": "insurer" },
        "kind": { "type": "clip", "cameras": ["porch", "garden"],
                  "from": "2026-11-26T17:00:00Z", "to": "2026-11-26T17:30:00Z" },
        "reason": "claim 77: car hit the fence",
        "legal_basis": { "type": "consent" },
        "received_at": "2026-11-26T18:00:00Z",
    }})
}

#[test]
fn home_page_shows_the_camera_and_switches_privacy() {
    let Some(hub) = Hub::start("home_page_shows_the_camera_and_switches_privacy") else { return };
    let b = &hub.browser;
    hub.observer.wait("porchlight/privacy", |t| t == "OFF");

    hub.open("/");
    b.wait_for("li.camera[data-camera=\"porch\"][data-state=\"recording\"]");
    b.wait_for("#privacy[data-on=\"false\"]");
    b.assert_no_console_errors();
    // The app's modules came gzip-compressed (made at build time) and the browser decoded them.
    let sizes = b.execute(
        "return performance.getEntriesByType('resource').filter(e => e.name.includes('/app/') && e.name.endsWith('.js')).map(e => [e.encodedBodySize, e.decodedBodySize]);",
        &[],
    );
    let sizes: Vec<(u64, u64)> = sizes
        .as_array()
        .expect("resource timings")
        .iter()
        .map(|s| (s[0].as_u64().unwrap_or(0), s[1].as_u64().unwrap_or(0)))
        .collect();
    assert!(sizes.len() >= 5, "the app's modules: {sizes:?}");
    let (sent, decoded) = sizes.iter().fold((0, 0), |(a, b), (s, d)| (a + s, b + d));
    assert!(sent > 0 && sent * 2 < decoded, "compressed {sent} of {decoded} bytes: {sizes:?}");
    b.screenshot("home");
    b.set_viewport(390, 844, true);
    b.wait_for("li.camera[data-camera=\"porch\"]");
    b.screenshot("home-phone");
    b.clear_viewport();

    // Privacy on from the page: the API and an MQTT subscriber both see it.
    let mark = hub.observer.len();
    b.find("#privacy-switch").click();
    b.wait_for("#privacy[data-on=\"true\"]");
    assert_eq!(hub.daemon.get_json("/api/privacy")["on"], true);
    hub.observer
        .wait_after(mark, "privacy ON on MQTT", |m| m.topic == "porchlight/privacy" && m.text() == "ON");
    b.screenshot("home-privacy-on");

    // And off again.
    let mark = hub.observer.len();
    b.find("#privacy-switch").click();
    b.wait_for("#privacy[data-on=\"false\"]");
    assert_eq!(hub.daemon.get_json("/api/privacy")["on"], false);
    hub.observer
        .wait_after(mark, "privacy OFF on MQTT", |m| m.topic == "porchlight/privacy" && m.text() == "OFF");

    // The switch was audited as the web app's doing.
    let by: Vec<Value> =
        hub.audit().iter().filter(|e| e["kind"] == "privacy").map(|e| e["by"].clone()).collect();
    assert_eq!(by, vec![json!("web"), json!("web")], "privacy entries");

    // Every other page opens without a console error.
    tour(&hub, PAGES);
}

/// Opens each page, waits until it has loaded, saves a screenshot and checks that it shows no
/// error and the console has none.
fn tour(hub: &Hub, pages: &[(&str, &str)]) {
    let b = &hub.browser;
    for (hash, name) in pages {
        hub.open(hash);
        b.wait_until(&format!("page {hash} to finish loading"), WAIT, |b| {
            let text = b.execute("return document.getElementById('main').innerText", &[]);
            (!text.as_str().unwrap_or_default().contains("Loading…")).then_some(())
        });
        let failed: Vec<String> = b.find_all("main [role=alert]").iter().map(|e| e.text()).collect();
        assert!(failed.is_empty(), "page {hash}: {failed:?}");
        b.screenshot(name);
        b.assert_no_console_errors();
    }
}

#[test]
fn request_in_the_inbox_and_approved_narrowed() {
    let Some(hub) = Hub::start("request_in_the_inbox_and_approved_narrowed") else { return };
    let b = &hub.browser;
    hub.open("/requests");
    b.wait_for("#pending[data-count=\"0\"]");

    // The policy asks: the request is in the open inbox within a second.
    let (code, body) = hub.daemon.post("/api/requests", &clip_request("claim-77"));
    assert_eq!(code, 202, "{body}");
    let asked = Instant::now();
    b.wait_until("the request in the inbox within 1 s", Duration::from_secs(1), |b| {
        b.try_find("li.request[data-request-id=\"claim-77\"]").map(|_| ())
    });
    eprintln!("request shown {:?} after it was answered `ask`", asked.elapsed());
    b.screenshot("inbox");

    // Approve it for the porch camera only.
    b.find("#narrow-open-claim-77").click();
    let garden = b.wait_for("#narrow-claim-77-cam-garden");
    assert_eq!(garden.property("checked"), json!(true));
    garden.click();
    assert_eq!(garden.property("checked"), json!(false));
    b.screenshot("approve-narrowed");
    b.find("#approve-narrowed-claim-77").click();
    b.wait_for("#pending[data-count=\"0\"]");

    let decided: Vec<Value> = hub
        .audit()
        .into_iter()
        .filter(|e| e["kind"] == "resident_decision" && e["request_id"] == "claim-77")
        .collect();
    assert_eq!(decided.len(), 1, "{decided:#?}");
    let entry = &decided[0];
    assert_eq!(entry["by"], "resident (web)", "{entry}");
    assert_eq!(entry["final"]["decision"], "allow", "{entry}");
    let grant = &entry["final"]["grant"];
    assert_eq!(grant["cameras"], json!(["porch"]), "{entry}");
    assert_eq!(
        (grant["from"].clone(), grant["to"].clone()),
        (json!("2026-11-26T17:00:00Z"), json!("2026-11-26T17:30:00Z"))
    );
    let listed = hub.daemon.get_json("/api/requests");
    let recent = listed["recent"].as_array().and_then(|r| r.first()).cloned().unwrap_or_default();
    assert_eq!(
        (recent["id"].clone(), recent["decided_by"].clone()),
        (json!("claim-77"), json!("resident (web)"))
    );

    // A second one refused from the page, with the resident's reason.
    let (code, body) = hub.daemon.post("/api/requests", &clip_request("claim-78"));
    assert_eq!(code, 202, "{body}");
    b.wait_for("li.request[data-request-id=\"claim-78\"]");
    b.find("#deny-claim-78").click();
    b.wait_for("#deny-reason-claim-78").type_text("not without a police report");
    b.screenshot("deny");
    b.find("#deny-confirm-claim-78").click();
    b.wait_for("#pending[data-count=\"0\"]");
    let denied = hub
        .audit()
        .into_iter()
        .find(|e| e["kind"] == "resident_decision" && e["request_id"] == "claim-78")
        .expect("the refusal in the audit log");
    assert_eq!(denied["by"], "resident (web)", "{denied}");
    assert_eq!(denied["final"]["decision"], "deny", "{denied}");
    assert!(
        denied["final"]["reason"].as_str().is_some_and(|r| r.contains("not without a police report")),
        "{denied}"
    );
}

/// Needs `GET /api/report`, which the requests page (its history) and the report page read,
/// and `GET /api/pins` for the recordings page.
#[test]
fn report_totals_match_the_audit_log() {
    let Some(hub) = Hub::start("report_totals_match_the_audit_log") else { return };
    let b = &hub.browser;
    // One request allowed, one refused, one still waiting.
    for id in ["claim-77", "claim-78", "claim-79"] {
        let (code, body) = hub.daemon.post("/api/requests", &clip_request(id));
        assert_eq!(code, 202, "{body}");
    }
    let (code, body) = hub.daemon.post("/api/requests/claim-77/approve", &json!({ "cameras": ["porch"] }));
    assert_eq!(code, 200, "{body}");
    let (code, body) = hub.daemon.post("/api/requests/claim-78/deny", &json!({ "reason": "no" }));
    assert_eq!(code, 200, "{body}");

    hub.open("/requests");
    b.wait_for("#history-table tr[data-request-id=\"claim-77\"][data-outcome=\"allowed\"]");
    b.wait_for("#history-table tr[data-request-id=\"claim-78\"][data-outcome=\"denied\"]");
    b.wait_for("li.request[data-request-id=\"claim-79\"]");
    b.execute("document.getElementById('history').scrollIntoView()", &[]);
    b.screenshot("history");

    // The report's totals are what `porchlight audit show` lists for the same period.
    hub.open("/report");
    let report = b.wait_for("#report");
    let from = report.attr("data-from").expect("data-from");
    let to = report.attr("data-to").expect("data-to");
    b.wait_for("[data-total=\"requests\"]");
    let shown: Vec<(String, i64)> = b
        .find_all("[data-total]")
        .iter()
        .map(|e| {
            let name = e.attr("data-total").expect("data-total");
            let value = e.attr("data-value").and_then(|v| v.parse().ok()).unwrap_or(-1);
            (name, value)
        })
        .collect();
    let counted = audit_show_totals(&hub.setup, &from, &to);
    for (name, value) in &shown {
        if let Some(expected) = counted.get(name.as_str()) {
            assert_eq!(value, expected, "total {name:?} for [{from}, {to})");
        }
    }
    for name in ["requests", "allowed", "denied", "undecided"] {
        assert!(shown.iter().any(|(n, _)| n == name), "the report shows no {name:?} total: {shown:?}");
    }
    assert_eq!(
        (counted["requests"], counted["allowed"], counted["denied"], counted["undecided"]),
        (3, 1, 1, 1)
    );
    tour(&hub, REPORT_PAGES);
}

/// Counts of what `porchlight audit show --since FROM` lists before `TO`, by the report's total
/// names: entries by kind, and each request's outcome from its final decision.
fn audit_show_totals(setup: &Setup, from: &str, to: &str) -> std::collections::BTreeMap<&'static str, i64> {
    let out = setup.cli(&["audit", "show", "--since", from]);
    assert!(out.status.success(), "{}", output_text(&out));
    let from: jiff::Timestamp = from.parse().expect("report from");
    let to: jiff::Timestamp = to.parse().expect("report to");
    let mut totals = std::collections::BTreeMap::new();
    let mut requests = Vec::new();
    let mut finals = std::collections::HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut words = line.split_whitespace();
        let (Some(_seq), Some(time), Some(kind)) = (words.next(), words.next(), words.next()) else {
            continue;
        };
        let time: jiff::Timestamp = time.parse().expect("entry time");
        if time < from || time >= to {
            continue;
        }
        let total = match kind {
            "request" => "requests",
            "shared_clip" => "clips",
            "shared_snapshot" => "stills",
            "live_stopped" => "live_streams",
            "resident_share" => "resident_shares",
            "share_failed" => "failed",
            "revoked" => "revoked",
            _ => "",
        };
        if !total.is_empty() {
            *totals.entry(total).or_insert(0) += 1;
        }
        match kind {
            "request" => requests.push(field(line, "request").map(|r| r["id"].clone()).unwrap_or_default()),
            "decision" | "resident_decision" => {
                if let (Some(id), Some(fin)) = (field(line, "request_id"), field(line, "final")) {
                    finals.insert(id.as_str().unwrap_or_default().to_owned(), fin["decision"].clone());
                }
            }
            _ => {}
        }
    }
    for id in &requests {
        let outcome = match finals.get(id.as_str().unwrap_or_default()).and_then(Value::as_str) {
            Some("allow") => "allowed",
            Some("deny") => "denied",
            _ => "undecided",
        };
        *totals.entry(outcome).or_insert(0) += 1;
    }
    for name in ["requests", "allowed", "denied", "undecided"] {
        totals.entry(name).or_insert(0);
    }
    totals
}

/// The JSON value of ` key=` in an `audit show` line.
fn field(line: &str, key: &str) -> Option<Value> {
    let at = line.find(&format!(" {key}="))? + key.len() + 2;
    serde_json::Deserializer::from_str(&line[at..]).into_iter::<Value>().next()?.ok()
}

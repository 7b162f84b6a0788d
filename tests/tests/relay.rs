//! The relay against a test center over TLS (`porchlight_e2e::center`, axum with a certificate
//! from a test CA): the hub long-polls for requests, its policies decide, and it posts the
//! decision back; an `ask` is answered `pending`, then with the resident's answer; malformed
//! requests are refused with an error reply and an audit entry, and the hub keeps serving.

use porchlight_e2e::center::Center;
use porchlight_e2e::tls::TestCa;
use porchlight_e2e::{Daemon, Setup, message, plugin_bytes};
use serde_json::{Value, json};

const TOKEN: &str = "s3cret-hub-token";

fn request(id: &str, warrant: bool) -> Value {
    let mut r = json!({
        "id": id,
        "requester": { "organisation": "City Police RTCC", "person": "Det. Smith", "kind": "police" },
        "kind": { "type": "clip", "cameras": ["front", "kitchen"], "from": "2026-11-26T17:00:00Z", "to": "2026-11-26T17:30:00Z" },
        "reason": "burglary on Elm St",
        "case_number": "2026-0042",
        "legal_basis": { "type": "none" },
        "received_at": "2026-11-26T18:00:00Z",
    });
    if warrant {
        r["legal_basis"] = json!({
            "type": "warrant", "reference": "W-77", "court": "District Court",
            "issued": "2026-11-01T00:00:00Z", "expires": "2030-01-01T00:00:00Z",
            "scope": { "cameras": ["front"], "from": "2026-11-26T16:00:00Z", "to": "2026-11-26T17:15:00Z" },
        });
    }
    r
}

/// A hub with one policy plugin and the relay pointed at `center` (trusting `ca`).
fn hub(center: &Center, ca: &TestCa, plugin: &str, token: &str) -> Setup {
    let s = Setup::new("");
    std::fs::create_dir_all(s.path("plugins")).expect("plugins dir");
    std::fs::write(s.path(&format!("plugins/{plugin}.wasm")), plugin_bytes(plugin)).expect("plugin");
    let body = format!(
        "[[camera]]\nname = \"front\"\nrtsp_url = \"rtsp://127.0.0.1:9/front\"\nrecord = \"off\"\ntags = [\"street\"]\n\n\
         [[camera]]\nname = \"kitchen\"\nrtsp_url = \"rtsp://127.0.0.1:9/kitchen\"\nrecord = \"off\"\ntags = [\"indoor\"]\n\n\
         [plugins]\ndir = \"plugins\"\nenabled = [{plugin:?}]\ntime_limit = \"2s\"\n\n\
         [relay]\nenabled = true\nurl = {:?}\nhub_id = \"elm-st-12\"\ntoken = {token:?}\nca_file = {:?}\npoll_wait = \"2s\"\n",
        center.url,
        ca.file("ca.pem").display().to_string()
    );
    std::fs::write(&s.config, Setup::with_defaults(s.dir.path(), &body)).expect("config");
    s
}

fn audit(s: &Setup) -> Vec<Value> {
    porchlight::audit::entries(&s.dir.path().join("data/audit")).expect("audit log")
}

#[test]
fn the_policy_decides_what_the_center_asks() {
    let ca = TestCa::new("Relay test CA");
    let center = Center::start(&ca, "elm-st-12", TOKEN);
    let s = hub(&center, &ca, "warrant-required", TOKEN);
    let d = Daemon::start(&s.config);
    center.wait_polls(1);

    // No legal basis under a warrant-only policy: denied.
    center.push(request("rtcc-1", false));
    let deny = center.wait_decision("rtcc-1", |_| true);
    assert_eq!(deny["decision"], "deny", "{deny}");
    assert!(deny["reason"].as_str().is_some_and(|r| r.contains("warrant")), "{deny}");
    assert!(deny.get("grant").is_none());

    // A warrant for the front camera only: allowed, narrowed to the warrant's scope.
    center.push(request("rtcc-2", true));
    let allow = center.wait_decision("rtcc-2", |_| true);
    assert_eq!(allow["decision"], "allow", "{allow}");
    assert_eq!(allow["grant"]["cameras"], json!(["front"]));
    assert_eq!(allow["grant"]["from"], "2026-11-26T17:00:00Z");
    assert_eq!(allow["grant"]["to"], "2026-11-26T17:15:00Z");

    // The same request again (as if our answer had been lost): the same answer, decided once.
    center.push(request("rtcc-2", true));
    center.wait_until_decisions(3);
    let again: Vec<Value> =
        center.decisions().into_iter().filter(|d| d["id"] == "rtcc-2").map(|d| d["body"].clone()).collect();
    assert_eq!(again.len(), 2);
    assert_eq!(again[0], again[1]);

    // One id twice in the same poll answer: decided once, answered once.
    center.push_all(vec![request("rtcc-4", false), request("rtcc-4", false)]);
    center.wait_decision("rtcc-4", |_| true);
    center.push(request("rtcc-5", false));
    center.wait_decision("rtcc-5", |_| true);
    let answers = center.decisions().iter().filter(|d| d["id"] == "rtcc-4").count();
    assert_eq!(answers, 1, "{:?}", center.decisions());

    let log = audit(&s);
    let decided: Vec<&Value> = log.iter().filter(|e| e["kind"] == "decision").collect();
    assert_eq!(decided.len(), 4, "each request decided once: {log:?}");
    assert!(decided.iter().all(|e| e["source"] == "relay"));
    let sent: Vec<&Value> = log.iter().filter(|e| e["kind"] == "relay_reply").collect();
    assert_eq!(sent.len(), 5, "every answer that left is recorded: {log:?}");
    assert_eq!(d.get_json("/api/health")["subsystems"]["relay"]["state"], "running");
}

#[test]
fn ask_is_pending_until_the_resident_answers() {
    let ca = TestCa::new("Relay test CA");
    let center = Center::start(&ca, "elm-st-12", TOKEN);
    let s = hub(&center, &ca, "ask-resident", TOKEN);
    let d = Daemon::start(&s.config);
    center.push(request("rtcc-7", false));
    let pending = center.wait_decision("rtcc-7", |b| b["decision"] == "pending");
    assert!(pending["expires"].as_str().is_some(), "{pending}");
    assert!(pending["reason"].as_str().is_some_and(|r| r.contains("City Police RTCC")), "{pending}");

    let (code, body) =
        d.post("/api/requests/rtcc-7/approve", &json!({ "cameras": ["front"], "strip_audio": true }));
    assert_eq!(code, 200, "{body}");
    let allow = center.wait_decision("rtcc-7", |b| b["decision"] == "allow");
    assert_eq!(allow["grant"]["cameras"], json!(["front"]));
    assert_eq!(allow["grant"]["strip_audio"], true);

    // Privacy mode denies what waits, and the center hears it.
    center.push(request("rtcc-8", false));
    center.wait_decision("rtcc-8", |b| b["decision"] == "pending");
    let (code, _) =
        porchlight_e2e::http_put_json(d.addr.expect("api"), "/api/privacy", None, r#"{"on": true}"#);
    assert_eq!(code, 200);
    let deny = center.wait_decision("rtcc-8", |b| b["decision"] == "deny");
    assert!(deny["reason"].as_str().is_some_and(|r| r.contains("privacy")), "{deny}");
}

#[test]
fn malformed_requests_are_refused_and_the_hub_keeps_serving() {
    let ca = TestCa::new("Relay test CA");
    let center = Center::start(&ca, "elm-st-12", TOKEN);
    let s = hub(&center, &ca, "warrant-required", TOKEN);
    let d = Daemon::start(&s.config);
    center.push(json!({ "id": "bad-1", "kind": "everything, forever" }));
    center.push(json!("not even an object"));
    center.push(json!({ "id": "../../etc", "requester": 1 }));
    let error = center.wait_decision("bad-1", |_| true);
    assert_eq!(error["decision"], "error");
    assert!(error["error"].as_str().is_some_and(|e| e.starts_with("malformed request")), "{error}");
    // Still serving: the next good request is decided.
    center.push(request("rtcc-3", false));
    assert_eq!(center.wait_decision("rtcc-3", |_| true)["decision"], "deny");
    let refused: Vec<Value> = audit(&s).into_iter().filter(|e| e["kind"] == "relay_refused").collect();
    assert_eq!(refused.len(), 3, "{refused:?}");
    assert!(center.decisions().iter().all(|d| d["id"] != "../../etc"));
    drop(d);
}

#[test]
fn problems_with_the_center_show_in_health() {
    let ca = TestCa::new("Relay test CA");
    let center = Center::start(&ca, "elm-st-12", TOKEN);
    // A wrong token: the center says 401.
    let s = hub(&center, &ca, "deny-all", "wrong-token");
    let d = Daemon::start(&s.config);
    let line = d.wait_log("the refused poll", |l| message(l) == "Relay poll failed; retrying");
    assert!(line.to_string().contains("HTTP 401"), "{line}");
    let health = d.get_json("/api/health");
    assert_eq!(health["subsystems"]["relay"]["state"], "degraded", "{health}");

    // A center whose certificate this hub does not trust: no request is sent at all.
    let other = TestCa::new("Someone else's CA");
    let s2 = hub(&center, &other, "deny-all", TOKEN);
    let d2 = Daemon::start(&s2.config);
    let line = d2.wait_log("the TLS failure", |l| message(l) == "Relay poll failed; retrying");
    assert!(line.to_string().to_lowercase().contains("certificate"), "{line}");
    drop((d, d2));
}

/// A warrant-scoped clip request, allowed by the example policy: the hub cuts the granted
/// camera's footage for the granted time, uploads an MP4 that plays, with a manifest whose
/// hash matches and whose signature verifies with the hub's key; the footage is pinned.
#[test]
fn granted_clip_is_uploaded_with_a_signed_manifest() {
    use porchlight_e2e::rtsp::RtspServer;
    let Some(camera) = RtspServer::start() else { return };
    let ca = TestCa::new("Relay test CA");
    let center = Center::start(&ca, "elm-st-12", TOKEN);
    let s = hub(&center, &ca, "warrant-required", TOKEN);
    // The front camera records for real (2 s segments); kitchen stays off.
    let text = std::fs::read_to_string(&s.config).expect("config");
    let text = text.replacen(
        "rtsp://127.0.0.1:9/front\"\nrecord = \"off\"",
        &format!("{}\"\nrecord = \"continuous\"", camera.url("/h264")),
        1,
    );
    let text = text.replacen(
        "[[camera]]",
        "[storage]\nsegment_duration = \"2s\"\nmin_free_bytes = \"0 B\"\n\n[[camera]]",
        1,
    );
    std::fs::write(&s.config, text).expect("config");
    let d = Daemon::start(&s.config);
    let mut events = porchlight_e2e::EventStream::open(d.addr.expect("api"), None);
    let first = events.next_matching(|e| e["type"] == "segment_closed" && e["camera"] == "front");
    let second = events.next_matching(|e| e["type"] == "segment_closed" && e["camera"] == "front");
    let (from, to) =
        (first["start"].as_str().expect("start").to_owned(), second["end"].as_str().expect("end").to_owned());

    let mut r = request("rtcc-clip", true);
    r["kind"]["from"] = json!(from);
    r["kind"]["to"] = json!(to);
    r["legal_basis"]["scope"] =
        json!({ "cameras": ["front"], "from": "2026-01-01T00:00:00Z", "to": "2030-01-01T00:00:00Z" });
    center.push(r);
    let allow = center.wait_decision("rtcc-clip", |_| true);
    assert_eq!(allow["decision"], "allow", "{allow}");
    assert_eq!(allow["grant"]["cameras"], json!(["front"]));

    let mp4 = center.wait_upload("rtcc-clip/clips/front");
    let manifest = center.wait_upload("rtcc-clip/clips/front/manifest");
    let (clip_path, manifest_path) = (s.path("received.mp4"), s.path("received.manifest.json"));
    std::fs::write(&clip_path, &mp4).expect("clip");
    std::fs::write(&manifest_path, &manifest).expect("manifest");
    porchlight_e2e::media::assert_decodes(&clip_path);

    let key = porchlight::keys::HubKey::load(&s.dir.path().join("data/keys")).expect("hub key");
    let verified = porchlight::evidence::verify(&manifest, &clip_path, Some(&key.public_base64()))
        .expect("manifest verifies");
    let m = verified.manifest;
    assert_eq!(
        (m.request_id.as_str(), m.camera.as_str(), m.hub_id.as_str()),
        ("rtcc-clip", "front", "elm-st-12")
    );
    assert_eq!(m.bytes, mp4.len() as u64);
    assert_eq!(m.plugins[0].plugin, "warrant-required");
    assert_eq!(m.plugins[0].decision, "allow");
    // The clip lies within the grant: it starts at the first keyframe at or after its start.
    assert!(m.from >= from.parse().expect("from"), "{} < {from}", m.from);
    assert!(m.to <= to.parse().expect("to"), "{} > {to}", m.to);
    let probe = porchlight_e2e::media::probe(&clip_path);
    let secs = porchlight_e2e::media::duration(&probe);
    assert!(secs > 1.0, "{secs} s");
    // Nothing was sent for the camera the warrant does not cover.
    assert!(center.uploads().iter().all(|u| !u.contains("kitchen")), "{:?}", center.uploads());

    let log = audit(&s);
    let shared: Vec<&Value> = log.iter().filter(|e| e["kind"] == "shared_clip").collect();
    assert_eq!(shared.len(), 1, "{log:?}");
    assert_eq!(shared[0]["sha256"], m.sha256.as_str());
    let pins = std::process::Command::new(porchlight_e2e::binary())
        .args(["--config", &s.config.display().to_string(), "recordings", "pins"])
        .output()
        .expect("pins");
    let pins = String::from_utf8_lossy(&pins.stdout).into_owned();
    assert!(pins.contains("shared with City Police RTCC for request rtcc-clip"), "{pins}");
    drop(d);
}

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
         [plugins]\ndir = \"plugins\"\nenabled = [{plugin:?}]\ntime_limit = \"2s\"\n\n{}\
         [relay]\nenabled = true\nurl = {:?}\nhub_id = \"elm-st-12\"\ntoken = {token:?}\nca_file = {:?}\npoll_wait = \"2s\"\n",
        file_source(plugin),
        center.url,
        ca.file("ca.pem").display().to_string()
    );
    std::fs::write(&s.config, Setup::with_defaults(s.dir.path(), &body)).expect("config");
    s
}

/// `source = "file"` for a plugin whose name is also bundled with the daemon: these tests run the
/// plugin file just built from `plugins/` (without it the name would be ambiguous).
fn file_source(plugin: &str) -> String {
    match porchlight::policy::bundled::find(plugin) {
        Some(_) => format!("[plugins.policy.{plugin}]\nsource = \"file\"\n\n"),
        None => String::new(),
    }
}

fn audit(s: &Setup) -> Vec<Value> {
    porchlight::audit::entries(&s.dir.path().join("data/audit")).expect("audit log")
}

/// Takes `audit_head` out of a posted decision body.
fn without_head(body: &mut Value) -> Option<Value> {
    body.as_object_mut().and_then(|o| o.remove("audit_head"))
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
    let mut again: Vec<Value> =
        center.decisions().into_iter().filter(|d| d["id"] == "rtcc-2").map(|d| d["body"].clone()).collect();
    assert_eq!(again.len(), 2);
    // The same answer; only the audit head (the log has grown) differs.
    let heads: Vec<Value> = again.iter_mut().filter_map(without_head).collect();
    assert_eq!(again[0], again[1]);
    assert!(heads[1]["entries"].as_u64() > heads[0]["entries"].as_u64(), "{heads:?}");

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

/// Every decision the hub posts carries the audit log's head with the record of that answer:
/// the center keeps a copy of it off the hub, which `porchlight audit verify --head` checks the
/// log against.
#[test]
fn each_decision_carries_the_audit_head() {
    let ca = TestCa::new("Relay test CA");
    let center = Center::start(&ca, "elm-st-12", TOKEN);
    let s = hub(&center, &ca, "ask-resident", TOKEN);
    let d = Daemon::start(&s.config);
    center.push(request("head-1", false));
    let pending = center.wait_decision("head-1", |b| b["decision"] == "pending");
    let (code, body) = d.post("/api/requests/head-1/deny", &json!({ "reason": "no" }));
    assert_eq!(code, 200, "{body}");
    let deny = center.wait_decision("head-1", |b| b["decision"] == "deny");
    // A deny shares nothing, so the log ends with the record of that answer.
    let out = s.cli(&["audit", "head"]);
    assert!(out.status.success(), "{}", porchlight_e2e::output_text(&out));
    let printed: porchlight::audit::Anchor =
        String::from_utf8_lossy(&out.stdout).parse().expect("audit head output");
    assert_eq!(deny["audit_head"], json!(printed), "{deny}");
    let log = audit(&s);
    let last = log.last().expect("entries");
    assert_eq!(last["kind"], "relay_reply");
    assert_eq!(last["sent"]["decision"], "deny");
    assert!(last["sent"].get("audit_head").is_none(), "{last}");
    // The pending answer carries the head of its own record, earlier in the log.
    let at = pending["audit_head"]["entries"].as_u64().expect("entries");
    let recorded = &log[usize::try_from(at).expect("small") - 1];
    assert_eq!(recorded["kind"], "relay_reply");
    assert_eq!(recorded["sent"]["decision"], "pending");
    assert_eq!(pending["audit_head"]["hash"], recorded["hash"]);
    // What the center kept is a head the log must contain.
    let out = s.cli(&["audit", "verify", "--head", &deny.to_string(), "--head", &pending.to_string()]);
    assert!(out.status.success(), "{}", porchlight_e2e::output_text(&out));
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

/// A snapshot request, allowed by the resident: the ONVIF camera's own still image (the oxvif
/// mock camera, with WS-Security and its login) is uploaded with a signed manifest; a camera
/// without ONVIF whose stream has sent nothing has no image to give, which is recorded.
#[test]
fn granted_snapshots_are_the_cameras_own_images_signed() {
    let ca = TestCa::new("Relay test CA");
    let center = Center::start(&ca, "elm-st-12", TOKEN);
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let server = runtime.block_on(async {
        oxvif::mock::MockServer::builder().enforce_auth(true).start().await.expect("mock camera")
    });
    let s = hub(&center, &ca, "ask-resident", TOKEN);
    let text = std::fs::read_to_string(&s.config).expect("config").replacen(
        "[[camera]]",
        &format!(
            "[[camera]]\nname = \"door\"\nonvif_url = {:?}\nusername = \"admin\"\npassword = \"admin\"\nrecord = \"off\"\n\n[[camera]]",
            server.device_url()
        ),
        1,
    );
    std::fs::write(&s.config, text).expect("config");
    let d = Daemon::start(&s.config);
    let mut r = request("snap-1", false);
    r["kind"] = json!({ "type": "snapshot", "cameras": ["door", "front"] });
    center.push(r);
    center.wait_decision("snap-1", |b| b["decision"] == "pending");
    let (code, body) = d.post("/api/requests/snap-1/approve", &json!({}));
    assert_eq!(code, 200, "{body}");

    let image = center.wait_upload("snap-1/snapshots/door");
    let manifest = center.wait_upload("snap-1/snapshots/door/manifest");
    assert!(
        image.starts_with(b"BM") && image.len() > 1000,
        "the camera's BMP test image: {} bytes",
        image.len()
    );
    let file = s.path("door.bmp");
    std::fs::write(&file, &image).expect("image");
    let key = porchlight::keys::HubKey::load(&s.dir.path().join("data/keys")).expect("hub key");
    let m = porchlight::evidence::verify(&manifest, &file, Some(&key.public_base64()))
        .expect("verifies")
        .manifest;
    assert_eq!(
        (m.request_id.as_str(), m.camera.as_str(), m.file_name.as_str()),
        ("snap-1", "door", "snap-1-door.bmp")
    );

    let log = audit(&s);
    let shared = log.iter().find(|e| e["kind"] == "shared_snapshot").expect("shared_snapshot");
    assert_eq!(shared["sha256"], m.sha256.as_str());
    assert_eq!(shared["camera"], "door");
    let failed = log.iter().find(|e| e["kind"] == "share_failed").expect("share_failed for front");
    assert_eq!(failed["camera"], "front");
    assert!(failed["error"].as_str().is_some_and(|e| e.contains("onvif_url")), "{failed}");
    assert!(center.uploads().iter().all(|u| !u.contains("front")), "{:?}", center.uploads());
    drop(d);
    runtime.block_on(async {
        let _ = server.shutdown().await;
    });
}

/// A snapshot request for a camera recorded from an RTSP address alone (no ONVIF), allowed by
/// the resident: the hub shares a JPEG decoded from the latest keyframe of the camera's stream,
/// with a signed manifest that verifies, audited like any snapshot.
#[test]
fn granted_snapshot_of_an_rtsp_only_camera_is_a_still_from_its_stream() {
    let Some(camera) = porchlight_e2e::rtsp::RtspServer::start() else { return };
    let ca = TestCa::new("Relay test CA");
    let center = Center::start(&ca, "elm-st-12", TOKEN);
    let s = hub(&center, &ca, "ask-resident", TOKEN);
    let text = std::fs::read_to_string(&s.config).expect("config").replacen(
        "[[camera]]",
        &format!(
            "[storage]\nsegment_duration = \"2s\"\nmin_free_bytes = \"0 B\"\n\n\
             [[camera]]\nname = \"yard\"\nrtsp_url = {:?}\n\n[[camera]]",
            camera.url("h264")
        ),
        1,
    );
    std::fs::write(&s.config, text).expect("config");
    let d = Daemon::start(&s.config);
    // A closed segment: the camera's stream has sent keyframes.
    d.wait_event("segment_closed", |e| e["camera"] == "yard");
    let mut r = request("snap-2", false);
    r["kind"] = json!({ "type": "snapshot", "cameras": ["yard"] });
    center.push(r);
    center.wait_decision("snap-2", |b| b["decision"] == "pending");
    let (code, body) = d.post("/api/requests/snap-2/approve", &json!({}));
    assert_eq!(code, 200, "{body}");

    let image = center.wait_upload("snap-2/snapshots/yard");
    let manifest = center.wait_upload("snap-2/snapshots/yard/manifest");
    assert_eq!(porchlight_e2e::media::jpeg_sof_size(&image), Some((320, 240)), "{} bytes", image.len());
    assert_eq!(porchlight_e2e::media::ffprobe_jpeg(s.dir.path(), &image), (320, 240));
    let file = s.path("yard.jpg");
    std::fs::write(&file, &image).expect("image");
    let key = porchlight::keys::HubKey::load(&s.dir.path().join("data/keys")).expect("hub key");
    let m = porchlight::evidence::verify(&manifest, &file, Some(&key.public_base64()))
        .expect("verifies")
        .manifest;
    assert_eq!(
        (m.request_id.as_str(), m.camera.as_str(), m.file_name.as_str()),
        ("snap-2", "yard", "snap-2-yard.jpg")
    );
    assert_eq!(m.from, m.to);

    let log = audit(&s);
    let shared = log.iter().find(|e| e["kind"] == "shared_snapshot").expect("shared_snapshot");
    assert_eq!(shared["sha256"], m.sha256.as_str());
    assert_eq!(shared["camera"], "yard");
    assert_eq!(shared["content_type"], "image/jpeg");
    assert!(!log.iter().any(|e| e["kind"] == "share_failed"), "{log:#?}");
    drop(d);
}

/// A policy that asks with a short timeout (a test mode of the hostile plugin): nobody answers,
/// so the request is denied when the time is up, and the center hears it.
#[test]
fn an_unanswered_ask_is_denied_when_its_time_is_up() {
    let ca = TestCa::new("Relay test CA");
    let center = Center::start(&ca, "elm-st-12", TOKEN);
    let s = hub(&center, &ca, "hostile-plugin", TOKEN);
    let mut text = std::fs::read_to_string(&s.config).expect("config");
    text.push_str("\n[plugins.policy.hostile-plugin]\nconfig = { mode = \"ask-briefly\" }\n");
    std::fs::write(&s.config, text).expect("config");
    let _d = Daemon::start(&s.config);
    let mut r = request("rtcc-quiet", false);
    r["reason"] = json!("attack");
    center.push(r);
    let pending = center.wait_decision("rtcc-quiet", |b| b["decision"] == "pending");
    assert_eq!(pending["reason"], "a quick question");
    let deny = center.wait_decision("rtcc-quiet", |b| b["decision"] == "deny");
    assert_eq!(deny["reason"], "the resident did not answer in time", "{deny}");
    let log = audit(&s);
    let answer = log.iter().find(|e| e["kind"] == "resident_decision").expect("the timeout is recorded");
    assert_eq!(answer["by"], "timeout");
    assert!(center.uploads().is_empty());
}

/// Requests built to hurt: wrong types, a traversal camera name, a reversed time range, one
/// huge request, and a poll answer over the 1 MiB cap. Each is refused (an error reply or a
/// deny) and recorded; the hub keeps serving.
#[test]
fn hostile_requests_are_refused_and_recorded() {
    let ca = TestCa::new("Relay test CA");
    let center = Center::start(&ca, "elm-st-12", TOKEN);
    let s = hub(&center, &ca, "ask-resident", TOKEN);
    let d = Daemon::start(&s.config);

    let mut wrong = request("h-types", false);
    wrong["kind"]["cameras"] = json!("front");
    let mut traversal = request("h-traversal", false);
    traversal["kind"]["cameras"] = json!(["../../etc/passwd"]);
    let mut reversed = request("h-reversed", false);
    reversed["kind"]["from"] = json!("2026-11-26T18:00:00Z");
    reversed["kind"]["to"] = json!("2026-11-26T17:00:00Z");
    let mut huge = request("h-huge", false);
    huge["reason"] = json!("x".repeat(100_000));
    center.push_all(vec![wrong, traversal, reversed, huge]);

    let e = center.wait_decision("h-types", |_| true);
    assert_eq!(e["decision"], "error", "{e}");
    assert!(e["error"].as_str().is_some_and(|m| m.contains("malformed request")), "{e}");
    let t = center.wait_decision("h-traversal", |_| true);
    assert_eq!(t["decision"], "deny", "{t}");
    assert!(t["reason"].as_str().is_some_and(|m| m.contains("cannot be a camera name")), "{t}");
    let r = center.wait_decision("h-reversed", |_| true);
    assert_eq!(r["decision"], "deny", "{r}");
    assert!(r["reason"].as_str().is_some_and(|m| m.contains("empty or reversed")), "{r}");
    let h = center.wait_decision("h-huge", |_| true);
    assert_eq!(h["decision"], "error", "{h}");
    assert!(h["error"].as_str().is_some_and(|m| m.contains("at most 65536")), "{h}");

    // An answer over the cap is refused whole (nothing in it is decided), on record.
    let flood: Vec<Value> = (0..20)
        .map(|i| {
            let mut f = request(&format!("flood-{i}"), false);
            f["reason"] = json!("y".repeat(60_000));
            f
        })
        .collect();
    center.push_all(flood);
    d.wait_log("the refused flood", |l| {
        message(l) == "Relay request refused" && l.to_string().contains("larger than")
    });
    // Still serving.
    center.push(request("h-after", false));
    center.wait_decision("h-after", |b| b["decision"] == "pending");
    assert!(center.decisions().iter().all(|d| !d["id"].as_str().unwrap_or("").starts_with("flood-")));

    let log = audit(&s);
    let refused: Vec<&Value> = log.iter().filter(|e| e["kind"] == "relay_refused").collect();
    assert_eq!(refused.len(), 3, "wrong types, huge, flood: {refused:#?}");
    for id in ["h-traversal", "h-reversed"] {
        let decided = log.iter().find(|e| e["kind"] == "decision" && e["request_id"] == id);
        assert!(decided.is_some_and(|e| e["final"]["decision"] == "deny"), "{id}: {decided:?}");
    }
    assert!(!s.dir.path().join("etc").exists());
}

/// No center at the configured address: the hub retries with backoff (the daemon stays up and
/// reports it), and once a center answers there the requests flow.
#[test]
fn an_unreachable_center_is_retried_until_it_answers() {
    let ca = TestCa::new("Relay test CA");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let placeholder = Center::start(&ca, "elm-st-12", TOKEN);
    let s = hub(&placeholder, &ca, "deny-all", TOKEN);
    drop(placeholder);
    let text = std::fs::read_to_string(&s.config)
        .expect("config")
        .lines()
        .map(|l| {
            if l.starts_with("url = ") {
                format!("url = \"https://127.0.0.1:{port}/rtcc\"")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&s.config, text).expect("config");
    let d = Daemon::start(&s.config);
    d.wait_log("the first failure", |l| message(l) == "Relay poll failed; retrying");
    d.wait_log("a retry", |l| message(l) == "Relay poll failed again");
    assert_eq!(d.get_json("/api/health")["subsystems"]["relay"]["state"], "degraded");

    let center = Center::start_on(port, &ca, "elm-st-12", TOKEN);
    center.push(request("rtcc-late", false));
    assert_eq!(center.wait_decision("rtcc-late", |_| true)["decision"], "deny");
    d.wait_log("the reconnection", |l| message(l) == "Relay connected again");
    assert_eq!(d.get_json("/api/health")["subsystems"]["relay"]["state"], "running");
}

/// The hub restarts between two asks of the same request: the second gets the first answer,
/// and the request is not decided (or shared) again.
#[test]
fn a_request_asked_again_after_a_restart_gets_the_same_answer() {
    let ca = TestCa::new("Relay test CA");
    let center = Center::start(&ca, "elm-st-12", TOKEN);
    let s = hub(&center, &ca, "warrant-required", TOKEN);
    let d = Daemon::start(&s.config);
    center.push(request("rtcc-again", true));
    let first = center.wait_decision("rtcc-again", |_| true);
    assert_eq!(first["decision"], "allow", "{first}");
    drop(d);

    let _d = Daemon::start(&s.config);
    center.push(request("rtcc-again", true));
    center.wait_until_decisions(2);
    let mut answers: Vec<Value> = center
        .decisions()
        .into_iter()
        .filter(|d| d["id"] == "rtcc-again")
        .map(|d| d["body"].clone())
        .collect();
    let mut first = first;
    without_head(&mut first);
    answers.iter_mut().for_each(|a| drop(without_head(a)));
    assert_eq!(answers, [first.clone(), first]);
    let decided = audit(&s).into_iter().filter(|e| e["kind"] == "decision").count();
    assert_eq!(decided, 1, "decided once, across the restart");
}

/// The emergency-live policy through the relay: a monitoring company's live request is denied
/// while the resident is home, and while away with no alarm; once the house is away and an
/// alarm fires at the camera, it is allowed. The policies see the hub mode and the camera's
/// latest alarm in their context.
#[test]
fn hub_mode_and_a_recent_alarm_decide_an_emergency_live_request() {
    let ca = TestCa::new("Relay test CA");
    let center = Center::start(&ca, "elm-st-12", TOKEN);
    let s = hub(&center, &ca, "emergency-live", TOKEN);
    let d = Daemon::start(&s.config);
    let live = |id: &str| {
        let mut r = request(id, false);
        r["requester"] = json!({ "organisation": "Elm St Monitoring", "person": "", "kind": "monitoring" });
        r["kind"] = json!({ "type": "live", "cameras": ["front"], "max_seconds": 300 });
        r["legal_basis"] = json!({ "type": "consent" });
        r
    };
    center.push(live("em-home"));
    let home = center.wait_decision("em-home", |_| true);
    assert!(home["reason"].as_str().is_some_and(|r| r.contains("home mode")), "{home}");

    let (code, body) =
        porchlight_e2e::http_put_json(d.addr.expect("api"), "/api/mode", None, r#"{"mode": "away"}"#);
    assert_eq!(code, 200, "{body}");
    center.push(live("em-quiet"));
    let quiet = center.wait_decision("em-quiet", |_| true);
    assert!(quiet["reason"].as_str().is_some_and(|r| r.contains("no alarm")), "{quiet}");

    let (code, body) = d.post("/api/cameras/front/events", &json!({ "event": "alarm" }));
    assert_eq!(code, 202, "{body}");
    center.push(live("em-alarm"));
    let allow = center.wait_decision("em-alarm", |_| true);
    assert_eq!(allow["decision"], "allow", "{allow}");
    assert_eq!(allow["grant"]["cameras"], json!(["front"]));
    assert_eq!(allow["grant"]["live_max_seconds"], 300);

    let log = audit(&s);
    let asked =
        log.iter().find(|e| e["kind"] == "request" && e["request"]["id"] == "em-alarm").expect("request");
    assert_eq!(asked["context"]["mode"], "away");
    let front = asked["context"]["cameras"].as_array().and_then(|c| c.iter().find(|c| c["name"] == "front"));
    assert!(front.is_some_and(|c| c["last_alarm"].is_string()), "{asked}");
}

/// A decision the link could not deliver is kept and posted later: the resident's answer to a
/// request that waited across a `[relay]` change (the link restarted meanwhile), and the deny a
/// waiting request gets at shutdown (posted after the restart).
#[test]
fn undelivered_decisions_are_posted_after_a_reload_and_after_a_restart() {
    let ca = TestCa::new("Relay test CA");
    let center = Center::start(&ca, "elm-st-12", TOKEN);
    let s = hub(&center, &ca, "ask-resident", TOKEN);
    let mut d = Daemon::start(&s.config);
    center.push(request("ob-1", false));
    center.wait_decision("ob-1", |b| b["decision"] == "pending");
    let text = std::fs::read_to_string(&s.config)
        .expect("config")
        .replace("poll_wait = \"2s\"", "poll_wait = \"3s\"");
    std::fs::write(&s.config, text).expect("config");
    d.wait_log("the link to restart", |l| message(l) == "Relay settings changed; reconnecting");
    let (code, body) = d.post("/api/requests/ob-1/approve", &json!({}));
    assert_eq!(code, 200, "{body}");
    assert_eq!(center.wait_decision("ob-1", |b| b["decision"] != "pending")["decision"], "allow");

    center.push(request("ob-2", false));
    center.wait_decision("ob-2", |b| b["decision"] == "pending");
    d.signal("TERM");
    assert!(d.wait_exit(porchlight_e2e::WAIT).success());
    let _d = Daemon::start(&s.config);
    let deny = center.wait_decision("ob-2", |b| b["decision"] != "pending");
    assert_eq!(deny["decision"], "deny", "{deny}");
    assert_eq!(deny["reason"], "the hub is shutting down");
}

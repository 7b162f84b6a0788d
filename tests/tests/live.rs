//! Live streams through the real binary: a camera (the GStreamer RTSP test server) records on
//! the hub; a test center asks for a live stream; the resident approves; the hub pushes the
//! camera's stream with RTSP ANNOUNCE/RECORD to a real receiver (`ffmpeg -rtsp_flags listen`)
//! at the ingest URL the center gives. The stream stops within 1 s of the grant's end, of
//! privacy mode coming on, and of the resident revoking it; the receiver's file plays, and the
//! audit log has every start and stop with the bytes sent. The resident's own shares
//! (`porchlight share`) go the same way: signed files on the hub, or clips sent to the center.

use std::time::{Duration, SystemTime};

use porchlight_e2e::center::Center;
use porchlight_e2e::media::{self, RtspReceiver};
use porchlight_e2e::output_text as text;
use porchlight_e2e::rtsp::RtspServer;
use porchlight_e2e::tls::TestCa;
use porchlight_e2e::{Daemon, Setup, WAIT, binary, message, plugin_bytes};
use serde_json::{Value, json};

const TOKEN: &str = "live-hub-token";

fn live_request(id: &str, seconds: u32) -> Value {
    json!({
        "id": id,
        "requester": { "organisation": "Elm St Monitoring", "person": "Operator 4", "kind": "monitoring" },
        "kind": { "type": "live", "cameras": ["front"], "max_seconds": seconds },
        "reason": "alarm at the front door",
        "case_number": null,
        "legal_basis": { "type": "consent" },
        "received_at": "2026-11-27T05:00:00Z",
    })
}

/// A hub recording `camera_url` as `front` (its API on a fixed loopback port), with the `ask-resident` policy and the relay
/// pointed at `center`.
fn hub(center: &Center, ca: &TestCa, camera_url: &str) -> Setup {
    hub_with(center, ca, camera_url, "")
}

/// [`hub`] with `extra` config appended (e.g. an `[mqtt]` section).
fn hub_with(center: &Center, ca: &TestCa, camera_url: &str, extra: &str) -> Setup {
    let s = Setup::new("");
    std::fs::create_dir_all(s.path("plugins")).expect("plugins dir");
    std::fs::write(s.path("plugins/ask-resident.wasm"), plugin_bytes("ask-resident")).expect("plugin");
    // A fixed API port: the CLI finds the daemon through the config.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let body = format!(
        "[api]\nlisten = \"127.0.0.1:{port}\"\n\n[storage]\nsegment_duration = \"2s\"\nmin_free_bytes = \"0 B\"\n\n[[camera]]\nname = \"front\"\nrtsp_url = {camera_url:?}\ntags = [\"street\"]\n\n\
         [plugins]\ndir = \"plugins\"\nenabled = [\"ask-resident\"]\ntime_limit = \"2s\"\n\n{}\
         [relay]\nenabled = true\nurl = {:?}\nhub_id = \"elm-st-12\"\ntoken = {TOKEN:?}\nca_file = {:?}\npoll_wait = \"2s\"\n\n{extra}",
        // The file just built, not the policy bundled under the same name (a test that brings
        // its own table for the policy says so there).
        if extra.contains("[plugins.policy.") {
            ""
        } else {
            "[plugins.policy.ask-resident]\nsource = \"file\"\n\n"
        },
        center.url,
        ca.file("ca.pem").display().to_string()
    );
    std::fs::write(&s.config, Setup::with_defaults(s.dir.path(), &body)).expect("config");
    s
}

fn audit(s: &Setup) -> Vec<Value> {
    porchlight::audit::entries(&s.dir.path().join("data/audit")).expect("audit log")
}

fn entry<'a>(log: &'a [Value], kind: &str, id: &str) -> &'a Value {
    log.iter()
        .find(|e| e["kind"] == kind && e["request_id"] == id)
        .unwrap_or_else(|| panic!("no {kind} entry for {id} in {log:#?}"))
}

fn time(v: &Value) -> SystemTime {
    let t: jiff::Timestamp = v.as_str().expect("a time").parse().expect("RFC 3339");
    SystemTime::UNIX_EPOCH + Duration::from_micros(u64::try_from(t.as_microsecond()).expect("after 1970"))
}

/// `later` is at most `bound` after `earlier`.
fn within(earlier: SystemTime, later: SystemTime, bound: Duration, what: &str) {
    let gap = later.duration_since(earlier).unwrap_or(Duration::ZERO);
    assert!(gap <= bound, "{what}: {gap:?} (bound {bound:?})");
}

/// The center asks for a live stream of `front`, the resident approves it with `approval`.
fn ask_and_approve(center: &Center, d: &Daemon, id: &str, seconds: u32, approval: Value) -> Value {
    center.push(live_request(id, seconds));
    center.wait_decision(id, |b| b["decision"] == "pending");
    let (code, body) = d.post(&format!("/api/requests/{id}/approve"), &approval);
    assert_eq!(code, 200, "{body}");
    center.wait_decision(id, |b| b["decision"] == "allow")
}

#[test]
fn a_live_grant_streams_the_camera_until_its_time_is_over() {
    let Some(camera) = RtspServer::start() else { return };
    let tmp = tempfile::tempdir().expect("tmp");
    let Some(mut receiver) = RtspReceiver::start(tmp.path(), "front") else { return };
    let ca = TestCa::new("Live test CA");
    let center = Center::start(&ca, "elm-st-12", TOKEN);
    center.set_ingest("live-1", "front", &receiver.url);
    let s = hub(&center, &ca, &camera.url("h264"));
    let d = Daemon::start(&s.config);
    d.wait_event("camera_online", |_| true);

    let allow = ask_and_approve(&center, &d, "live-1", 5, json!({}));
    assert_eq!(allow["grant"]["live_max_seconds"], 5, "{allow}");
    let exited = receiver.wait_exit(WAIT);

    let log = audit(&s);
    let started = entry(&log, "live_started", "live-1");
    let stopped = entry(&log, "live_stopped", "live-1");
    assert_eq!(started["camera"], "front");
    assert_eq!(started["ingest"], receiver.url.as_str());
    assert_eq!(started["audio"], true, "the grant keeps the audio: {started}");
    assert_eq!(stopped["reason"], "the grant's time is over", "{stopped}");
    assert!(stopped["bytes"].as_u64().is_some_and(|b| b > 10_000), "{stopped}");
    // The grant runs 5 s from the resident's approval; the receiver is done within 1 s of it.
    let until = time(&started["until"]);
    let approved = time(&entry(&log, "resident_decision", "live-1")["time"]);
    within(approved, until, Duration::from_millis(5500), "grant end after the approval");
    within(until, exited, Duration::from_secs(1), "receiver still running after the grant ended");
    within(until, time(&stopped["time"]), Duration::from_secs(1), "stop recorded after the grant ended");
    // The center was told the same end when it was asked for the ingest URL.
    let asked = center.live_starts();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(time(&asked[0]["body"]["until"]), until);

    // What arrived plays: the camera's H.264 and AAC, copied, and no longer than granted.
    let probe = media::probe(&receiver.file);
    assert_eq!(media::codecs(&probe), ["h264", "aac"], "{probe}");
    let seconds = media::duration(&probe);
    assert!((1.0..=6.0).contains(&seconds), "received {seconds} s of a 5 s grant");
    media::assert_decodes(&receiver.file);

    assert_eq!(d.get_json("/api/requests")["sharing"], json!([]), "nothing is shared any more");
    let verified = std::process::Command::new(binary())
        .arg("--config")
        .arg(&s.config)
        .args(["audit", "verify"])
        .output()
        .expect("audit verify");
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stdout));
}

/// An ingest URL with a stream key in its query (`…/live/keyed?key=…`, as MediaMTX and most
/// ingest services hand out): the receiver (ffmpeg, which matches each `SETUP` against the
/// track URL its SDP resolves to) takes both tracks, the file plays, and the key is in no log
/// line and no audit entry, not even in the error for an ingest URL the hub refuses.
#[test]
fn a_keyed_ingest_url_gets_the_stream_and_the_key_stays_out_of_the_logs() {
    const KEY: &str = "k3y-9f2c1e";
    let Some(camera) = RtspServer::start() else { return };
    let tmp = tempfile::tempdir().expect("tmp");
    // The receiver listens at `rtsp://127.0.0.1:<port>/live/<name>`: the name carries the query.
    let Some(mut receiver) = RtspReceiver::start(tmp.path(), &format!("keyed?key={KEY}")) else { return };
    assert!(receiver.url.ends_with(&format!("/live/keyed?key={KEY}")), "{}", receiver.url);
    let ca = TestCa::new("Live test CA");
    let center = Center::start(&ca, "elm-st-12", TOKEN);
    center.set_ingest("live-k1", "front", &receiver.url);
    // Unencrypted to a host that is not loopback: refused before any connection.
    center.set_ingest("live-k2", "front", &format!("rtsp://192.0.2.7:8554/live/keyed?key={KEY}"));
    let s = hub(&center, &ca, &camera.url("h264"));
    let d = Daemon::start(&s.config);
    d.wait_event("camera_online", |_| true);

    ask_and_approve(&center, &d, "live-k1", 8, json!({}));
    receiver.wait_exit(WAIT);
    let probe = media::probe(&receiver.file);
    assert_eq!(media::codecs(&probe), ["h264", "aac"], "{probe}\n{}", receiver.stderr());
    media::assert_decodes(&receiver.file);

    // `relay_stopped` comes after the camera's `share_failed` entry is written.
    let mut events = porchlight_e2e::EventStream::open(d.addr.expect("api"), None);
    ask_and_approve(&center, &d, "live-k2", 120, json!({}));
    let over = events.next_matching(|e| e["type"] == "relay_stopped" && e["request_id"] == "live-k2");
    assert!(over["reason"].as_str().is_some_and(|r| r.starts_with("no camera could be streamed")), "{over}");

    let log = audit(&s);
    let started = entry(&log, "live_started", "live-k1");
    assert_eq!(started["ingest"], receiver.url.split('?').next().expect("url"), "{started}");
    assert_eq!(started["audio"], true, "{started}");
    let stopped = entry(&log, "live_stopped", "live-k1");
    assert_eq!(stopped["reason"], "the grant's time is over", "{stopped}");
    assert!(stopped["bytes"].as_u64().is_some_and(|b| b > 10_000), "{stopped}");
    let failed = entry(&log, "share_failed", "live-k2");
    assert!(failed["error"].as_str().is_some_and(|e| e.contains("not loopback")), "{failed}");
    let everything = serde_json::to_string(&log).expect("audit as text");
    assert!(!everything.contains(KEY), "the stream key is in the audit log: {log:#?}");
    let lines = d.log_text();
    assert!(!lines.contains(KEY), "the stream key is in the log:\n{lines}");
}

#[test]
fn privacy_mode_and_the_resident_cut_a_live_stream_within_a_second() {
    let Some(camera) = RtspServer::start() else { return };
    let tmp = tempfile::tempdir().expect("tmp");
    let Some(mut first) = RtspReceiver::start(tmp.path(), "first") else { return };
    let Some(mut second) = RtspReceiver::start(tmp.path(), "second") else { return };
    let ca = TestCa::new("Live test CA");
    let center = Center::start(&ca, "elm-st-12", TOKEN);
    center.set_ingest("live-2", "front", &first.url);
    center.set_ingest("live-3", "front", &second.url);
    let s = hub(&center, &ca, &camera.url("h264"));
    let d = Daemon::start(&s.config);
    d.wait_event("camera_online", |_| true);

    // Privacy mode cuts a 2-minute grant (approved video only).
    let allow = ask_and_approve(&center, &d, "live-2", 120, json!({ "strip_audio": true }));
    assert_eq!(allow["grant"]["strip_audio"], true);
    d.wait_log("the stream to start", |l| message(l) == "Live stream started");
    let sharing = d.get_json("/api/requests")["sharing"].clone();
    assert_eq!(sharing[0]["id"], "live-2", "{sharing}");
    assert_eq!(sharing[0]["kind"], "live");
    let switched = SystemTime::now();
    let (code, body) =
        porchlight_e2e::http_put_json(d.addr.expect("api"), "/api/privacy", None, r#"{"on": true}"#);
    assert_eq!(code, 200, "{body}");
    within(switched, first.wait_exit(WAIT), Duration::from_secs(1), "privacy mode did not cut the stream");
    let probe = media::probe(&first.file);
    assert_eq!(media::codecs(&probe), ["h264"], "audio was stripped: {probe}");
    media::assert_decodes(&first.file);

    // Privacy off again; the resident revokes the next stream with the CLI.
    let (code, body) =
        porchlight_e2e::http_put_json(d.addr.expect("api"), "/api/privacy", None, r#"{"on": false}"#);
    assert_eq!(code, 200, "{body}");
    let skip = d.log_len();
    ask_and_approve(&center, &d, "live-3", 120, json!({}));
    d.wait_log_after(skip, "the second stream to start", |l| message(l) == "Live stream started");
    let revoked = SystemTime::now();
    let out = std::process::Command::new(binary())
        .arg("--config")
        .arg(&s.config)
        .args(["requests", "revoke", "live-3"])
        .output()
        .expect("porchlight requests revoke");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    within(revoked, second.wait_exit(WAIT), Duration::from_secs(1), "revoking did not cut the stream");
    media::assert_decodes(&second.file);

    // Revoking what is not shared is an error that names it.
    let (code, body) = d.post("/api/requests/live-3/revoke", &json!({}));
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("nothing is being shared"), "{body}");

    let log = audit(&s);
    assert_eq!(entry(&log, "live_stopped", "live-2")["reason"], "privacy mode is on");
    assert_eq!(entry(&log, "live_stopped", "live-3")["reason"], "revoked by the resident (api)");
    assert_eq!(entry(&log, "revoked", "live-3")["by"], "resident (api)");
    for id in ["live-2", "live-3"] {
        assert!(entry(&log, "live_stopped", id)["bytes"].as_u64().is_some_and(|b| b > 0));
    }
}

#[test]
fn the_resident_shares_a_clip_as_signed_files_or_with_the_center() {
    let Some(camera) = RtspServer::start() else { return };
    let ca = TestCa::new("Live test CA");
    let center = Center::start(&ca, "elm-st-12", TOKEN);
    let s = hub(&center, &ca, &camera.url("h264"));
    let d = Daemon::start(&s.config);
    let mut events = porchlight_e2e::EventStream::open(d.addr.expect("api"), None);
    let first = events.next_matching(|e| e["type"] == "segment_closed" && e["camera"] == "front");
    let second = events.next_matching(|e| e["type"] == "segment_closed" && e["camera"] == "front");
    let (from, to) = (first["start"].as_str().expect("start"), second["end"].as_str().expect("end"));

    // As files on the hub: a clip that plays and a manifest that verifies.
    let o = s.cli(&["share", "--camera", "front", "--from", from, "--to", to, "--note", "for my insurer"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    let path = |label: &str| {
        out.lines().find_map(|l| l.trim().strip_prefix(label)).map(|p| p.trim().to_owned()).expect(label)
    };
    let (clip, manifest) = (path("clip:"), path("manifest:"));
    media::assert_decodes(std::path::Path::new(&clip));
    let v = s.cli(&["evidence", "verify", &manifest, &clip]);
    assert!(v.status.success(), "{}", text(&v));

    // To the center, video only: uploaded with its manifest.
    let o =
        s.cli(&["share", "--camera", "front", "--from", from, "--to", to, "--to-center", "--strip-audio"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    let id = out.split("(request ").nth(1).and_then(|r| r.split(')').next()).expect("request id").to_owned();
    assert!(id.starts_with("share-"), "{out}");
    let mp4 = center.wait_upload(&format!("{id}/clips/front"));
    let signed = center.wait_upload(&format!("{id}/clips/front/manifest"));
    let received = s.path("received.mp4");
    std::fs::write(&received, &mp4).expect("clip");
    let key = porchlight::keys::HubKey::load(&s.dir.path().join("data/keys")).expect("hub key");
    let verified =
        porchlight::evidence::verify(&signed, &received, Some(&key.public_base64())).expect("verifies");
    assert_eq!(verified.manifest.request_id, id);
    assert!(verified.manifest.grant.strip_audio);
    assert_eq!(media::codecs(&media::probe(&received)), ["h264"]);

    // Bad orders are refused with the reason, and nothing is recorded for them.
    for (args, why) in [
        (vec!["--camera", "../../etc/passwd", "--from", from, "--to", to], "no camera named"),
        (vec!["--camera", "front", "--from", to, "--to", from], "must be before"),
        (vec!["--camera", "front", "--from", "yesterday-ish", "--to", to], "use RFC 3339 such as"),
        // Days are read like every other command's times (this order fails only on its camera).
        (vec!["--camera", "nosuch", "--from", "-1d", "--to", "now"], "no camera named \"nosuch\""),
    ] {
        let o = s.cli(&[&["share"][..], &args].concat());
        assert!(!o.status.success(), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(why), "{args:?}: {}", text(&o));
    }
    // In privacy mode nothing goes to the center.
    let (code, body) =
        porchlight_e2e::http_put_json(d.addr.expect("api"), "/api/privacy", None, r#"{"on": true}"#);
    assert_eq!(code, 200, "{body}");
    let o = s.cli(&["share", "--camera", "front", "--from", from, "--to", to, "--to-center"]);
    assert!(!o.status.success() && text(&o).contains("privacy mode is on"), "{}", text(&o));

    let log = audit(&s);
    let orders: Vec<&Value> = log.iter().filter(|e| e["kind"] == "resident_share").collect();
    assert_eq!(orders.len(), 2, "{log:#?}");
    assert_eq!(orders[0]["note"], "for my insurer");
    assert_eq!(orders[0]["by"], "resident (api)");
    let shared: Vec<&str> =
        log.iter().filter(|e| e["kind"] == "shared_clip").filter_map(|e| e["destination"].as_str()).collect();
    assert_eq!(shared, ["file", "center"]);
}

/// The ingest server goes away mid-stream: the hub pushes again, inside the grant, once it is
/// back (the center gives the same URL), and both starts and stops are on record. Then the
/// resident presses Home Assistant's "Stop sharing" button (MQTT).
#[test]
fn a_push_that_breaks_is_started_again_within_the_grant() {
    let Some(camera) = RtspServer::start() else { return };
    let Some(broker) = porchlight_e2e::mqtt::Broker::start() else { return };
    let obs = porchlight_e2e::mqtt::Observer::connect(&broker);
    let tmp = tempfile::tempdir().expect("tmp");
    let Some(mut first) = RtspReceiver::start(tmp.path(), "first") else { return };
    let ca = TestCa::new("Live test CA");
    let center = Center::start(&ca, "elm-st-12", TOKEN);
    center.set_ingest("live-4", "front", &first.url);
    let s = hub_with(&center, &ca, &camera.url("h264"), &broker.section(""));
    let d = Daemon::start(&s.config);
    d.wait_event("camera_online", |_| true);
    ask_and_approve(&center, &d, "live-4", 120, json!({}));
    d.wait_log("the stream to start", |l| message(l) == "Live stream started");
    let skip = d.log_len();
    first.kill();
    d.wait_log_after(skip, "the broken push", |l| {
        message(l) == "Live stream failed; trying again while the grant lasts"
    });

    let Some(mut second) = RtspReceiver::start_on(tmp.path(), "second", first.port()) else { return };
    d.wait_log_after(skip, "the push again", |l| message(l) == "Live stream started");
    obs.wait("porchlight/relay/active", |p| p == "ON");
    obs.wait("homeassistant/button/porchlight_porchlight_stop_sharing/config", |_| true);
    let mark = obs.len();
    obs.publish("porchlight/relay/stop", b"PRESS", false);
    second.wait_exit(WAIT);
    obs.wait_after(mark, "relay inactive", |m| m.topic == "porchlight/relay/active" && m.text() == "OFF");
    media::assert_decodes(&second.file);

    let log = audit(&s);
    let starts = log.iter().filter(|e| e["kind"] == "live_started" && e["request_id"] == "live-4").count();
    let stops: Vec<&Value> =
        log.iter().filter(|e| e["kind"] == "live_stopped" && e["request_id"] == "live-4").collect();
    assert_eq!(starts, 2, "{log:#?}");
    assert_eq!(stops.len(), 2, "{log:#?}");
    assert_eq!(stops[1]["reason"], "revoked by the resident (mqtt)");
    assert_eq!(entry(&log, "revoked", "live-4")["by"], "resident (mqtt)");
    assert_eq!(center.live_starts().len(), 2, "the hub asked for the ingest again");
}

/// A policy's offer: with the house away, an alarm at the camera makes `emergency-live` offer
/// a live stream to the monitoring company. The hub announces the offer to the center, every
/// policy decides it like a request, and the stream goes to the ingest the center gives.
#[test]
fn an_alarm_while_away_offers_live_to_the_monitoring_company() {
    let Some(camera) = RtspServer::start() else { return };
    let tmp = tempfile::tempdir().expect("tmp");
    let Some(mut receiver) = RtspReceiver::start(tmp.path(), "offer") else { return };
    let ca = TestCa::new("Live test CA");
    let center = Center::start(&ca, "elm-st-12", TOKEN);
    center.set_ingest("*", "front", &receiver.url);
    let s = hub_with(
        &center,
        &ca,
        &camera.url("h264"),
        "[plugins.policy.emergency-live]\nsource = \"file\"\nconfig = { monitoring_organisation = \"Elm St Monitoring\", max_seconds = 4 }\n",
    );
    let text = std::fs::read_to_string(&s.config).expect("config").replace("ask-resident", "emergency-live");
    std::fs::write(s.path("plugins/emergency-live.wasm"), plugin_bytes("emergency-live")).expect("plugin");
    std::fs::write(&s.config, text).expect("config");
    let d = Daemon::start(&s.config);
    d.wait_event("camera_online", |_| true);

    // At home, an alarm offers nothing.
    let (code, body) = d.post("/api/cameras/front/events", &json!({ "event": "alarm" }));
    assert_eq!(code, 202, "{body}");
    let (code, body) =
        porchlight_e2e::http_put_json(d.addr.expect("api"), "/api/mode", None, r#"{"mode": "away"}"#);
    assert_eq!(code, 200, "{body}");
    let (code, body) = d.post("/api/cameras/front/events", &json!({ "event": "alarm" }));
    assert_eq!(code, 202, "{body}");

    let offer = center.wait_offer();
    let id = offer["request"]["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("offer-"), "{offer}");
    assert_eq!(offer["request"]["requester"]["organisation"], "Elm St Monitoring");
    assert_eq!(offer["request"]["kind"], json!({ "type": "live", "cameras": ["front"], "max_seconds": 4 }));
    let allow = center.wait_decision(&id, |_| true);
    assert_eq!(allow["decision"], "allow", "{allow}");
    receiver.wait_exit(WAIT);
    media::assert_decodes(&receiver.file);
    assert_eq!(center.offers().len(), 1, "one offer for one alarm while away");

    let log = audit(&s);
    let made = entry(&log, "offer", &id);
    assert_eq!(made["plugin"], "emergency-live");
    assert_eq!(made["event"]["kind"], "alarm");
    let decided = entry(&log, "decision", &id);
    assert_eq!(decided["source"], "offer");
    assert_eq!(entry(&log, "live_stopped", &id)["reason"], "the grant's time is over");
}

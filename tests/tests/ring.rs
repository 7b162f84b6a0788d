//! Ring cameras and doorbells through a ring-mqtt bridge (`docs/ring.md`), against a real
//! broker (mosquitto) and a stand-in for ring-mqtt (`tests/peers/ring_mqtt.py`: its topics and
//! discovery configs, and an RTSP gateway that builds a stream only while a client is
//! connected): adoption (also when the hub starts after the bridge), a doorbell press on the
//! bus, on MQTT and recorded on demand, the bound on open streams, offline detection (the
//! device's status, and a bridge that dies without a word), and a clip request decided and
//! audited like any other.

use std::path::Path;

use porchlight_e2e::mqtt::{Broker, Observer};
use porchlight_e2e::ring::RingBridge;
use porchlight_e2e::{Daemon, Setup, media, plugin_bytes};
use serde_json::{Value, json};

const DOORBELL: &str = "abc123:Front Door:doorbell";

/// The daemon's config: the broker's `[mqtt]` with `[mqtt.ring]` (adoption as given, a short
/// post-roll), and `extra` at the end.
fn config(broker: &Broker, adopt: bool, extra: &str) -> String {
    format!(
        "{}\n[mqtt.ring]\nenabled = true\nadopt = {adopt}\npost_roll = \"3s\"\n\n{extra}",
        broker.section("")
    )
}

/// Waits until the camera's state is `state` (its retained MQTT status topic, which follows
/// every change), and returns the camera as `GET /api/cameras` shows it then.
fn wait_state(d: &Daemon, obs: &Observer, camera: &str, state: &str) -> Value {
    let topic = format!("porchlight/{camera}/status");
    let skip = obs.len();
    if obs.last(&topic).is_none_or(|m| m.text() != state) {
        obs.wait_after(skip, &format!("{camera} {state}"), |m| m.topic == topic && m.text() == state);
    }
    let cams = d.get_json("/api/cameras");
    let cam = cams["cameras"].as_array().and_then(|a| a.iter().find(|c| c["name"] == camera)).cloned();
    let cam = cam.unwrap_or_else(|| panic!("no camera {camera}: {cams}"));
    assert_eq!(cam["state"], state, "{cam}");
    cam
}

fn discovered(d: &Daemon, endpoint: &str) -> Value {
    d.wait_event("device_discovered", |e| e["endpoint"] == endpoint)
}

/// The hub adopts the announced doorbell (its name, the gateway stream, a doorbell); a press
/// reaches the bus and Home Assistant, opens the gateway stream once, and the post-roll is
/// recorded (a file that plays) from within 2 s of the press, then the stream is closed.
#[test]
fn a_ring_doorbell_is_adopted_and_a_press_is_recorded() {
    let Some(broker) = Broker::start() else { return };
    if !media::available() {
        assert!(!porchlight_e2e::peers_required(), "ffmpeg/ffprobe are required");
        return;
    }
    let Some(mut bridge) = RingBridge::start(broker.port, &[DOORBELL], &["--ding-duration", "1"]) else {
        return;
    };
    let s = Setup::new(&config(&broker, true, ""));
    let d = Daemon::start(&s.config);
    let obs = Observer::connect(&broker);

    let found = discovered(&d, "ring:abc123");
    assert_eq!(found["adopted"], "front-door", "{found}");
    assert_eq!(found["doorbell"], true);
    assert_eq!(found["name"], "Front Door");
    let stream = format!("rtsp://127.0.0.1:{}/abc123_live", bridge.rtsp_port);
    assert_eq!(found["rtsp_url"], stream.as_str());
    let cam = wait_state(&d, &obs, "front-door", "standby");
    assert_eq!((cam["record"].as_str(), cam["adopted"].as_bool()), (Some("on_event"), Some(true)));
    assert_eq!(cam["rtsp_url"], stream.as_str());
    assert_eq!(cam["tags"], json!(["ring"]));
    assert!(bridge.sessions().is_empty(), "a stream was opened before any event: {:?}", bridge.sessions());

    let mut events = d.events();
    let ding_ms = bridge.ding("abc123");
    let press = events.next_matching(|e| e["type"] == "doorbell_press");
    assert_eq!(press["camera"], "front-door");
    let ha = obs.wait("porchlight/front-door/doorbell", |_| true).json();
    assert_eq!(ha["event_type"], "press", "{ha}");
    // The ding expires (OFF) a second later: no second press, and the recording ends after
    // the post-roll.
    let closed = events.next_matching(|e| e["type"] == "segment_closed" && e["camera"] == "front-door");
    bridge.wait_line_after(0, "SESSION /abc123_live closed");
    let opened: Vec<_> = bridge.sessions().into_iter().filter(|s| s.0 == "open").collect();
    assert_eq!(opened.len(), 1, "one stream for one press: {opened:?}");
    assert_eq!(opened[0].1, "/abc123_live");

    let listing = d.get_json("/api/recordings?camera=front-door");
    let segs = listing["segments"].as_array().expect("segments");
    assert_eq!(segs.len(), 1, "{listing}");
    let start_ms = segs[0]["start_ms"].as_i64().expect("start_ms");
    assert!(
        (0..=2000).contains(&(start_ms - ding_ms)),
        "first recorded frame at {start_ms}, {} ms after the press at {ding_ms}",
        start_ms - ding_ms
    );
    let len_ms = segs[0]["end_ms"].as_i64().unwrap_or(0) - start_ms;
    assert!(len_ms >= 2000, "the post-roll (3 s after the press) was recorded: {len_ms} ms");
    assert_eq!(closed["path"], segs[0]["path"]);
    let path = s.path("data/recordings").join(segs[0]["path"].as_str().expect("path"));
    let path =
        if path.exists() { path } else { Path::new(segs[0]["path"].as_str().unwrap_or("")).to_owned() };
    let probe = media::probe(&path);
    assert_eq!(media::codecs(&probe), ["h264"]);
    media::assert_decodes(&path);
    // Back to waiting, the stream closed.
    wait_state(&d, &obs, "front-door", "standby");
    assert!(d.find_log(|l| porchlight_e2e::message(l) == "Post-roll over: camera's stream closed").is_some());
}

/// Adoption only when the resident turned it on: the device is announced, not recorded.
#[test]
fn without_adopt_a_ring_camera_is_announced_but_not_recorded() {
    let Some(broker) = Broker::start() else { return };
    let Some(_bridge) = RingBridge::start(broker.port, &[DOORBELL], &[]) else { return };
    let s = Setup::new(&config(&broker, false, ""));
    let d = Daemon::start(&s.config);
    let found = discovered(&d, "ring:abc123");
    assert_eq!(found["adopted"], Value::Null, "{found}");
    assert_eq!(found["configured"], false);
    assert_eq!(d.get_json("/api/cameras")["cameras"], json!([]));
    assert!(!s.path("data/state/adopted.json").exists());
}

/// ring-mqtt retains nothing: a hub that starts after the bridge asks it (`online` on
/// `hassio/status`) to announce its devices again, and adopts them.
#[test]
fn a_hub_started_after_the_bridge_still_finds_its_cameras() {
    let Some(broker) = Broker::start() else { return };
    let Some(bridge) = RingBridge::start(broker.port, &[DOORBELL], &["--republish-delay", "0.2"]) else {
        return;
    };
    let obs = Observer::connect(&broker);
    let s = Setup::new(&config(&broker, true, ""));
    let d = Daemon::start(&s.config);
    bridge.wait_line_after(0, "REPUBLISH hassio/status");
    let found = discovered(&d, "ring:abc123");
    assert_eq!(found["adopted"], "front-door");
    wait_state(&d, &obs, "front-door", "standby");
    // The wake-up is not retained (it would wake the bridge at every restart of anything).
    let wake = obs.wait("hassio/status", |t| t == "online");
    assert!(!wake.retain);
    let late = Observer::connect(&broker);
    late.wait("porchlight/available", |_| true);
    assert!(late.last("hassio/status").is_none(), "hassio/status was retained");
}

/// Bursts of motion on two cameras never open more gateway streams at once than
/// `storage.max_on_demand_sessions`, nor more than one per camera.
#[test]
fn motion_bursts_open_no_more_streams_than_the_limit() {
    let Some(broker) = Broker::start() else { return };
    let devices = ["cam1:Garden:camera", "cam2:Drive:camera"];
    let Some(mut bridge) = RingBridge::start(broker.port, &devices, &["--motion-duration", "0.3"]) else {
        return;
    };
    let obs = Observer::connect(&broker);
    let s = Setup::new(&format!("[storage]\nmax_on_demand_sessions = 1\n\n{}", config(&broker, true, "")));
    let d = Daemon::start(&s.config);
    wait_state(&d, &obs, "garden", "standby");
    wait_state(&d, &obs, "drive", "standby");
    let mut events = d.events();
    let mut skip = 0;
    for _ in 0..3 {
        skip = d.log_len();
        bridge.motion("cam1");
        bridge.motion("cam2");
        // The motion ends and starts again (another event while the first stream is open).
        events.next_matching(|e| e["type"] == "motion_end" && e["camera"] == "garden");
        events.next_matching(|e| e["type"] == "motion_end" && e["camera"] == "drive");
    }
    // Each camera's events after the last burst end with its stream closed after the
    // post-roll, or with the event not recorded because the other camera held the one slot.
    for camera in ["garden", "drive"] {
        d.wait_log_after(skip, &format!("{camera}'s events to be over"), |l| {
            let m = porchlight_e2e::message(l);
            l["span"]["camera"] == camera
                && (m == "Post-roll over: camera's stream closed"
                    || m.starts_with("The event was not recorded"))
        });
    }
    let sessions = bridge.sessions();
    assert!(sessions.iter().any(|s| s.0 == "open"), "no stream was opened: {sessions:?}");
    for (what, path, on_path, _, most) in &sessions {
        assert!(*most <= 1, "{most} streams open at once (limit 1): {sessions:?}");
        assert!(*on_path <= 1, "{path}: {on_path} streams of one camera ({what}): {sessions:?}");
    }
}

/// The device going offline (its `status`) and the bridge dying without a word both end with
/// the camera offline, on the bus, in the API and in Home Assistant's connectivity sensor.
#[test]
fn device_offline_and_a_crashed_bridge_show_the_camera_offline() {
    let Some(broker) = Broker::start() else { return };
    let Some(mut bridge) = RingBridge::start(broker.port, &[DOORBELL], &[]) else { return };
    let obs = Observer::connect(&broker);
    let s = Setup::new(&config(&broker, true, ""));
    let d = Daemon::start(&s.config);
    wait_state(&d, &obs, "front-door", "standby");
    obs.wait("porchlight/front-door/connectivity", |t| t == "ON");

    let mut events = d.events();
    bridge.send("status abc123 offline");
    let off = events.next_matching(|e| e["type"] == "camera_offline" && e["camera"] == "front-door");
    assert!(
        off["reason"].as_str().is_some_and(|r| r.contains("ring-mqtt reports the device offline")),
        "{off}"
    );
    wait_state(&d, &obs, "front-door", "offline");
    obs.wait("porchlight/front-door/connectivity", |t| t == "OFF");

    bridge.send("status abc123 online");
    events.next_matching(|e| e["type"] == "camera_online" && e["camera"] == "front-door");
    wait_state(&d, &obs, "front-door", "standby");

    // No last will, no `offline`: the gateway's port refusing is the signal.
    bridge.crash();
    let off = events.next_matching(|e| e["type"] == "camera_offline" && e["camera"] == "front-door");
    assert!(off["reason"].as_str().is_some_and(|r| r.contains("refuses connections")), "{off}");
    wait_state(&d, &obs, "front-door", "offline");
}

/// A request for a clip of the Ring doorbell goes through the resident's policy and the audit
/// log like any other camera's, with the press in the policy's context.
#[test]
fn a_clip_request_for_a_ring_camera_is_decided_and_audited() {
    let Some(broker) = Broker::start() else { return };
    let Some(mut bridge) = RingBridge::start(broker.port, &[DOORBELL], &["--ding-duration", "1"]) else {
        return;
    };
    let s = Setup::new(&config(
        &broker,
        true,
        "[plugins]\ndir = \"plugins\"\nenabled = [\"ask\"]\ntime_limit = \"2s\"\n",
    ));
    std::fs::create_dir_all(s.path("plugins")).expect("plugins dir");
    std::fs::write(s.path("plugins/ask.wasm"), plugin_bytes("ask-resident")).expect("plugin");
    let obs = Observer::connect(&broker);
    let d = Daemon::start(&s.config);
    wait_state(&d, &obs, "front-door", "standby");
    let mut events = d.events();
    bridge.ding("abc123");
    let press = events.next_matching(|e| e["type"] == "doorbell_press" && e["camera"] == "front-door");

    let request = json!({ "request": {
        "id": "parcel-1",
        "requester": { "organisation": "Parcel Co", "kind": "insurer" },
        "kind": { "type": "clip", "cameras": ["front-door"], "from": "2026-11-26T17:00:00Z", "to": "2026-11-26T17:30:00Z" },
        "reason": "missing parcel",
        "legal_basis": { "type": "consent" },
        "received_at": "2026-11-26T18:00:00Z",
    }});
    let (code, body) = d.post("/api/requests", &request);
    assert_eq!(code, 202, "the policy asks the resident: {body}");
    let (code, body) = d.post("/api/requests/parcel-1/deny", &json!({ "reason": "not without a warrant" }));
    assert_eq!(code, 200, "{body}");

    let log = porchlight::audit::entries(&s.path("data/audit")).expect("audit");
    let asked = log
        .iter()
        .find(|e| e["kind"] == "request" && e["request"]["id"] == "parcel-1")
        .expect("the request is audited");
    assert_eq!(asked["request"]["kind"]["cameras"], json!(["front-door"]));
    let cams = asked["context"]["cameras"].as_array().expect("cameras in the context");
    let ring = cams.iter().find(|c| c["name"] == "front-door").expect("the Ring camera in the context");
    assert_eq!(ring["tags"], json!(["ring"]));
    let last: jiff::Timestamp =
        ring["last_doorbell"].as_str().expect("last_doorbell in the policy context").parse().expect("time");
    let pressed: jiff::Timestamp = press["time"].as_str().expect("press time").parse().expect("time");
    assert_eq!(last.as_millisecond(), pressed.as_millisecond(), "{asked}");
    let decided: Vec<&Value> =
        log.iter().filter(|e| e["request_id"] == "parcel-1" || e["request"]["id"] == "parcel-1").collect();
    assert!(decided.iter().any(|e| e["kind"] == "decision"), "{decided:?}");
    assert!(decided.iter().any(|e| e["kind"] == "resident_decision"), "{decided:?}");
}

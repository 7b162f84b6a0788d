//! MQTT against a real broker (Debian's mosquitto on an ephemeral loopback port): Home Assistant
//! discovery for the hub and its cameras, events from the bus, the resident's commands
//! (privacy, answers to sharing requests, recording), availability when the daemon dies, and a
//! broker restart with retained state restored and queued events delivered.

use porchlight_e2e::mqtt::{Broker, Message, Observer};
use porchlight_e2e::{Daemon, Setup, message, plugin_bytes};
use serde_json::{Value, json};

const CAMERAS: &str = r#"
[[camera]]
name = "porch"
rtsp_url = "rtsp://127.0.0.1:9/porch"
record = "off"
mqtt_event = [{ topic = "ring/home/camera/abc/ding/state", kind = "doorbell" }]

[[camera]]
name = "drive"
rtsp_url = "rtsp://127.0.0.1:9/drive"
"#;

fn config(broker: &Broker, extra: &str) -> String {
    format!("{CAMERAS}\n{}", broker.section(extra))
}

fn discovery_topics(seen: &[Message]) -> Vec<&str> {
    seen.iter()
        .filter(|m| m.topic.starts_with("homeassistant/") && !m.payload.is_empty())
        .map(|m| m.topic.as_str())
        .collect()
}

/// Home Assistant sees the hub and both cameras with working entities; bus events reach the
/// broker; a camera removed from the config takes its entities with it.
#[test]
fn home_assistant_discovery_state_and_events() {
    let Some(broker) = Broker::start() else { return };
    let obs = Observer::connect(&broker);
    let s = Setup::new(&config(&broker, ""));
    let d = Daemon::start(&s.config);

    obs.wait("porchlight/available", |t| t == "online");
    // 13 hub entities, 5 per camera (with the snapshot camera), and a doorbell for porch (its
    // mqtt_event is a doorbell).
    let want = 13 + 2 * 5 + 1;
    obs.wait_until("all discovery configs", |all| discovery_topics(all).len() >= want);
    let configs: Vec<_> =
        obs.messages().into_iter().filter(|m| m.topic.starts_with("homeassistant/")).collect();
    assert_eq!(configs.len(), want, "{:?}", configs.iter().map(|m| &m.topic).collect::<Vec<_>>());
    // A client that connects later (Home Assistant after a restart) gets them all, retained.
    let late = Observer::connect(&broker);
    late.wait_until("retained configs", |all| discovery_topics(all).len() >= want);
    for m in late.messages().iter().filter(|m| m.topic.starts_with("homeassistant/")) {
        assert!(m.retain, "{} not retained", m.topic);
    }
    for m in &configs {
        let c = m.json();
        // Every entity goes unavailable with the hub; the request select and buttons also
        // while nothing waits.
        let with_hub = c["availability_topic"] == "porchlight/available"
            || (c["availability"][0]["topic"] == "porchlight/available" && c["availability_mode"] == "all");
        assert!(with_hub, "{}: {c}", m.topic);
        assert!(
            c["device"]["identifiers"][0].as_str().is_some_and(|i| i.starts_with("porchlight_porchlight"))
        );
        assert_eq!(c["origin"]["name"], "Porchlight");
    }
    let doorbell =
        obs.wait("homeassistant/event/porchlight_porchlight_porch_doorbell/config", |_| true).json();
    assert_eq!(doorbell["event_types"], json!(["press"]));
    assert_eq!(doorbell["state_topic"], "porchlight/porch/doorbell");
    assert_eq!(doorbell["device"]["via_device"], "porchlight_porchlight");
    // Entity ids and device names carry the hub's prefix; unique ids stay as they were.
    assert_eq!(doorbell["device"]["name"], "Porchlight porch");
    assert_eq!(doorbell["default_entity_id"], "event.porchlight_porch_doorbell");
    assert_eq!(doorbell["object_id"], "porchlight_porch_doorbell");
    // The drive camera is no doorbell: no doorbell entity for it.
    assert!(
        !discovery_topics(&obs.messages()).iter().any(|t| t.contains("drive_doorbell")),
        "a doorbell entity for a camera that is not one"
    );
    // The recording state is an enum Home Assistant can offer in automations.
    let status = obs.wait("homeassistant/sensor/porchlight_porchlight_porch_status/config", |_| true).json();
    assert_eq!(status["device_class"], "enum");
    let options: Vec<&str> =
        status["options"].as_array().expect("options").iter().filter_map(Value::as_str).collect();
    for state in ["recording", "offline", "connecting", "off", "error"] {
        assert!(options.contains(&state), "{state} missing from {options:?}");
    }
    // Storage sensors in bytes, shown in GiB, and filled as soon as the hub connects.
    let used = obs.wait("homeassistant/sensor/porchlight_porchlight_storage_used/config", |_| true).json();
    assert_eq!((&used["device_class"], &used["unit_of_measurement"]), (&json!("data_size"), &json!("B")));
    assert_eq!(used["suggested_unit_of_measurement"], "GiB");
    let stats = obs.wait("porchlight/stats", |_| true).json();
    assert!(stats["storage_free_bytes"].as_u64().is_some_and(|b| b > 0), "{stats}");
    let privacy = obs.wait("homeassistant/switch/porchlight_porchlight_privacy/config", |_| true).json();
    assert_eq!(privacy["command_topic"], "porchlight/privacy/set");

    // Initial state.
    obs.wait("porchlight/privacy", |t| t == "OFF");
    obs.wait("porchlight/requests", |t| t == "[]");
    obs.wait("porchlight/porch/motion", |t| t == "OFF");
    obs.wait("porchlight/porch/record", |t| t == "OFF");
    obs.wait("porchlight/porch/status", |t| t == "off");
    // Recording is off: the hub does not connect to porch, so whether it is connected is unknown.
    obs.wait("porchlight/porch/connectivity", |t| t == "None");
    obs.wait("porchlight/relay/active", |t| t == "OFF");

    // Events from the bus.
    let mark = obs.len();
    let (code, _) = d.post("/api/cameras/porch/events", &json!({ "event": "motion_start" }));
    assert_eq!(code, 202);
    obs.wait_after(mark, "motion ON", |m| m.topic == "porchlight/porch/motion" && m.text() == "ON");
    let (_, body) = d.post("/api/cameras/porch/events", &json!({ "event": "doorbell_press" }));
    let sent: Value = serde_json::from_str(&body).expect("json");
    let press = obs.wait_after(mark, "doorbell", |m| m.topic == "porchlight/porch/doorbell").json();
    assert_eq!(press["event_type"], "press");
    assert_eq!(press["time"], sent["time"]);
    let feed = obs.wait_after(mark, "events feed", |m| {
        m.topic == "porchlight/events" && m.text().contains("doorbell_press")
    });
    assert_eq!(feed.json()["camera"], "porch");
    assert!(!feed.retain);

    // A doorbell that is not ONVIF: a ring-mqtt style topic. Other payloads are not a press.
    let mark = obs.len();
    obs.publish("ring/home/camera/abc/ding/state", b"OFF", false);
    obs.publish("ring/home/camera/abc/ding/state", b"ON", false);
    obs.wait_after(mark, "doorbell from ring-mqtt", |m| m.topic == "porchlight/porch/doorbell");
    let presses =
        obs.messages().into_iter().skip(mark).filter(|m| m.topic == "porchlight/porch/doorbell").count();
    assert_eq!(presses, 1);

    // Home Assistant restarts: discovery and state are published again.
    let mark = obs.len();
    obs.publish("homeassistant/status", b"online", false);
    obs.wait_after(mark, "discovery republished", |m| m.topic.ends_with("porch_motion/config"));
    obs.wait_after(mark, "state republished", |m| m.topic == "porchlight/privacy");

    // The drive camera leaves the config: its entities are removed (empty retained configs).
    let mark = obs.len();
    let body = format!(
        "{}\n{}",
        CAMERAS.split("[[camera]]\nname = \"drive\"").next().expect("split"),
        broker.section("")
    );
    std::fs::write(&s.config, Setup::with_defaults(s.dir.path(), &body)).expect("rewrite config");
    d.signal("HUP");
    obs.wait_after(mark, "drive motion entity removed", |m| {
        m.topic == "homeassistant/binary_sensor/porchlight_porchlight_drive_motion/config"
            && m.payload.is_empty()
    });
    let removed: Vec<_> = obs
        .messages()
        .into_iter()
        .skip(mark)
        .filter(|m| m.topic.starts_with("homeassistant/") && m.payload.is_empty())
        .map(|m| m.topic)
        .collect();
    assert!(removed.iter().all(|t| t.contains("_drive_")), "{removed:?}");
    obs.wait_until("all five drive entities removed", |all| {
        all[mark..].iter().filter(|m| m.topic.contains("_drive_") && m.payload.is_empty()).count() == 5
    });
}

fn request(id: &str) -> Value {
    json!({
        "id": id,
        "requester": { "organisation": "City Police", "person": "Det. Smith", "kind": "police" },
        "kind": { "type": "clip", "cameras": ["porch", "drive"], "from": "2026-11-26T17:00:00Z", "to": "2026-11-26T17:30:00Z" },
        "reason": "burglary next door",
        "legal_basis": { "type": "none" },
        "received_at": "2026-11-26T18:00:00Z",
    })
}

/// Privacy mode and answers to sharing requests from MQTT (as Home Assistant's switch and
/// buttons send them), each recorded in the audit log; garbage commands change nothing.
#[test]
fn privacy_and_approvals_from_mqtt() {
    let Some(broker) = Broker::start() else { return };
    let obs = Observer::connect(&broker);
    let s = Setup::new("");
    std::fs::create_dir_all(s.path("plugins")).expect("plugins dir");
    std::fs::write(s.path("plugins/ask.wasm"), plugin_bytes("ask-resident")).expect("plugin");
    let body = format!(
        "{}\n[plugins]\ndir = \"plugins\"\nenabled = [\"ask\"]\ntime_limit = \"2s\"\n",
        config(&broker, "")
    );
    std::fs::write(&s.config, Setup::with_defaults(s.dir.path(), &body)).expect("config");
    let d = Daemon::start(&s.config);
    obs.wait("porchlight/privacy", |t| t == "OFF");

    // Garbage first: none of it may change anything or stop the daemon.
    for (topic, payload) in [
        ("porchlight/privacy/set", &b"maybe"[..]),
        ("porchlight/privacy/set", &[0xff, 0xfe, 0x00][..]),
        ("porchlight/requests/nope/set", &b"approve"[..]),
        ("porchlight/requests/oldest/set", &b"{"[..]),
        ("porchlight/porch/record/set", &b"sideways"[..]),
        ("porchlight/ghost/record/set", &b"ON"[..]),
        ("porchlight/mode/set", &b"party"[..]),
    ] {
        obs.publish(topic, payload, false);
    }
    let mut events = d.events();
    obs.publish("porchlight/privacy/set", b"ON", false);
    obs.wait("porchlight/privacy", |t| t == "ON");
    let ignored = d.logs().iter().filter(|l| message(l) == "MQTT command ignored").count();
    assert_eq!(ignored, 7, "{}", d.log_text());

    // The hub mode, from Home Assistant's select.
    obs.wait("porchlight/mode", |t| t == "home");
    let mark = obs.len();
    obs.publish("porchlight/mode/set", b"away", false);
    obs.wait_after(mark, "mode away", |m| m.topic == "porchlight/mode" && m.text() == "away");
    assert_eq!(d.get_json("/api/mode")["changed_by"], "mqtt");
    let e = events.next_matching(|e| e["type"] == "privacy_changed");
    assert_eq!((e["on"].clone(), e["by"].clone()), (json!(true), json!("mqtt")), "{e}");
    assert_eq!(d.get_json("/api/privacy")["on"], true);

    // Under privacy mode a request is denied before any plugin runs.
    let (code, body) = d.post("/api/requests", &json!({ "request": request("r-privacy") }));
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["decision"], "deny", "{v}");
    assert!(v["reason"].as_str().is_some_and(|r| r.contains("privacy")), "{v}");

    let mark = obs.len();
    obs.publish("porchlight/privacy/set", b"OFF", false);
    obs.wait_after(mark, "privacy off", |m| m.topic == "porchlight/privacy" && m.text() == "OFF");

    // ask-resident asks: the request waits, and shows up on MQTT.
    let (code, body) = d.post("/api/requests", &json!({ "request": request("r-1") }));
    assert_eq!(code, 202, "{body}");
    let list = obs
        .wait_after(mark, "pending list", |m| m.topic == "porchlight/requests" && m.text().contains("r-1"));
    let list = list.json();
    assert_eq!(list[0]["id"], "r-1");
    assert!(list[0]["prompt"].as_str().is_some_and(|p| p.contains("City Police")), "{list}");
    obs.wait_after(mark, "received event", |m| {
        m.topic == "porchlight/requests/received" && m.json()["request_id"] == "r-1"
    });

    // Approve from MQTT, narrowed to one camera.
    let mark = obs.len();
    obs.publish(
        "porchlight/requests/r-1/set",
        br#"{"action":"approve","cameras":["porch"],"strip_audio":true}"#,
        false,
    );
    let decided = obs
        .wait_after(mark, "decision", |m| {
            m.topic == "porchlight/requests/decided" && m.json()["event_type"] != "ask"
        })
        .json();
    assert_eq!(decided["event_type"], "allow");
    assert_eq!(decided["request_id"], "r-1");
    obs.wait_after(mark, "list empty", |m| m.topic == "porchlight/requests" && m.text() == "[]");
    let recent = &d.get_json("/api/requests")["recent"][0];
    assert_eq!(recent["id"], "r-1");
    assert_eq!(recent["decided_by"], "resident (mqtt)");
    assert_eq!(recent["decision"]["grant"]["cameras"], json!(["porch"]));
    assert_eq!(recent["decision"]["grant"]["strip_audio"], true);

    // Two requests wait: Home Assistant's select offers both, the oldest chosen.
    let mark = obs.len();
    for id in ["r-2", "r-3"] {
        let (code, _) = d.post("/api/requests", &json!({ "request": request(id) }));
        assert_eq!(code, 202);
    }
    obs.wait_after(mark, "r-2 and r-3 waiting", |m| {
        m.topic == "porchlight/requests" && m.text().contains("r-3")
    });
    obs.wait_after(mark, "buttons available", |m| {
        m.topic == "porchlight/requests/waiting" && m.text() == "ON"
    });
    let select = obs.wait_after(mark, "select options", |m| {
        m.topic == "homeassistant/select/porchlight_porchlight_request_selected/config"
            && m.json()["options"].as_array().is_some_and(|o| o.len() == 2)
    });
    let options = select.json()["options"].clone();
    assert_eq!(options, json!(["r-2: City Police, Det. Smith", "r-3: City Police, Det. Smith"]));
    obs.wait_after(mark, "the oldest selected", |m| {
        m.topic == "porchlight/requests/selection" && m.text() == options[0]
    });
    // The resident picks r-3 and presses Deny: r-3 is denied, r-2 still waits.
    let mark = obs.len();
    obs.publish("porchlight/requests/selection/set", options[1].as_str().expect("option").as_bytes(), false);
    obs.wait_after(mark, "r-3 selected", |m| {
        m.topic == "porchlight/requests/selection" && m.text() == options[1]
    });
    obs.publish("porchlight/requests/selected/set", b"deny", false);
    let decided = obs
        .wait_after(mark, "deny", |m| {
            m.topic == "porchlight/requests/decided" && m.json()["event_type"] != "ask"
        })
        .json();
    assert_eq!((&decided["event_type"], &decided["request_id"]), (&json!("deny"), &json!("r-3")));
    obs.wait_after(mark, "last answer", |m| {
        m.topic == "porchlight/requests/last_result" && m.text() == "request r-3: deny"
    });
    obs.wait_after(mark, "r-2 selected again", |m| {
        m.topic == "porchlight/requests/selection" && m.text() == options[0]
    });

    // Deny the oldest (r-2) through its own topic, as automations do.
    let mark = obs.len();
    obs.publish("porchlight/requests/oldest/set", b"deny", false);
    let decided = obs
        .wait_after(mark, "deny", |m| {
            m.topic == "porchlight/requests/decided" && m.json()["event_type"] != "ask"
        })
        .json();
    assert_eq!((&decided["event_type"], &decided["request_id"]), (&json!("deny"), &json!("r-2")));
    obs.wait_after(mark, "buttons unavailable", |m| {
        m.topic == "porchlight/requests/waiting" && m.text() == "OFF"
    });

    // Nothing waits: a press is answered with a notice, not silence.
    let mark = obs.len();
    obs.publish("porchlight/requests/selected/set", b"approve", false);
    obs.wait_after(mark, "nothing waits", |m| {
        m.topic == "porchlight/requests/last_result" && m.text() == "no request is waiting"
    });

    // Recording off for one camera from MQTT.
    obs.wait("porchlight/drive/record", |t| t == "ON");
    let mark = obs.len();
    obs.publish("porchlight/drive/record/set", b"OFF", false);
    obs.wait_after(mark, "recording switched off", |m| {
        m.topic == "porchlight/drive/record" && m.text() == "OFF"
    });
    obs.wait_after(mark, "camera task restarted without recording", |m| {
        m.topic == "porchlight/drive/status" && m.text() == "off"
    });

    // Everything that changed sharing is in the audit log.
    let entries = porchlight::audit::entries(&s.dir.path().join("data/audit")).expect("audit log");
    let text = entries.iter().map(Value::to_string).collect::<Vec<_>>().join("\n");
    let privacy: Vec<_> = entries
        .iter()
        .filter(|e| e["kind"] == "privacy")
        .map(|e| (e["on"].clone(), e["by"].clone()))
        .collect();
    assert_eq!(privacy, vec![(json!(true), json!("mqtt")), (json!(false), json!("mqtt"))], "{text}");
    let answers: Vec<_> = entries
        .iter()
        .filter(|e| e["kind"] == "resident_decision")
        .map(|e| (e["request_id"].clone(), e["final"]["decision"].clone(), e["by"].clone()))
        .collect();
    assert_eq!(
        answers,
        vec![
            (json!("r-1"), json!("allow"), json!("resident (mqtt)")),
            (json!("r-3"), json!("deny"), json!("resident (mqtt)")),
            (json!("r-2"), json!("deny"), json!("resident (mqtt)")),
        ],
        "{text}"
    );
}

/// A daemon killed with SIGKILL: the broker publishes its will, `offline`.
#[test]
fn killed_daemon_goes_offline() {
    let Some(broker) = Broker::start() else { return };
    let obs = Observer::connect(&broker);
    let s = Setup::new(&config(&broker, ""));
    let mut d = Daemon::start(&s.config);
    obs.wait("porchlight/available", |t| t == "online");
    let mark = obs.len();
    d.signal("KILL");
    d.wait_exit(porchlight_e2e::WAIT);
    let m = obs.wait_after(mark, "will", |m| m.topic == "porchlight/available");
    assert_eq!(m.text(), "offline");
}

/// A graceful stop says `offline` itself.
#[test]
fn stopped_daemon_says_offline() {
    let Some(broker) = Broker::start() else { return };
    let obs = Observer::connect(&broker);
    let s = Setup::new(&config(&broker, ""));
    let mut d = Daemon::start(&s.config);
    obs.wait("porchlight/available", |t| t == "online");
    let mark = obs.len();
    d.signal("TERM");
    assert!(d.wait_exit(porchlight_e2e::WAIT).success());
    assert_eq!(obs.wait_after(mark, "offline", |m| m.topic == "porchlight/available").text(), "offline");
}

/// The broker restarts: the daemon reconnects and publishes its state again, and the events of
/// the outage arrive, the oldest dropped beyond `queue_limit`.
#[test]
fn broker_restart_restores_state_and_delivers_queued_events() {
    let Some(mut broker) = Broker::start_persistent() else { return };
    // A persistent session, so messages sent while the observer itself reconnects wait for it.
    let obs = Observer::connect_persistent(&broker, "restart-observer");
    let s = Setup::new(&config(&broker, "queue_limit = 4\nkeep_alive = \"5s\""));
    let d = Daemon::start(&s.config);
    obs.wait("porchlight/available", |t| t == "online");
    obs.wait("porchlight/privacy", |t| t == "OFF");

    let skip = d.log_len();
    broker.stop();
    d.wait_log_after(skip, "the daemon to notice", |l| message(l) == "MQTT connection lost; retrying");
    // The drive camera leaves the config while the broker is away: its entities go at reconnect.
    let body = format!(
        "{}\n{}",
        CAMERAS.split("[[camera]]\nname = \"drive\"").next().expect("split"),
        broker.section("queue_limit = 4\nkeep_alive = \"5s\"")
    );
    std::fs::write(&s.config, Setup::with_defaults(s.dir.path(), &body)).expect("rewrite config");
    let mut events = d.events();
    d.signal("HUP");
    let e = events.next_matching(|e| e["type"] == "config_reloaded");
    assert_eq!(e["outcome"], "applied", "{e}");
    // Six presses while the broker is away: 12 messages (doorbell + events feed), 4 kept.
    let mut times = Vec::new();
    for _ in 0..6 {
        let (code, body) = d.post("/api/cameras/porch/events", &json!({ "event": "doorbell_press" }));
        assert_eq!(code, 202);
        times.push(serde_json::from_str::<Value>(&body).expect("json")["time"].clone());
    }
    let mark = obs.len();
    broker.restart();
    obs.wait_connects(2);
    obs.wait_after(mark, "online again", |m| m.topic == "porchlight/available" && m.text() == "online");
    obs.wait_after(mark, "privacy state again", |m| m.topic == "porchlight/privacy");
    obs.wait_after(mark, "discovery again", |m| m.topic.ends_with("porch_doorbell/config"));
    obs.wait_after(mark, "the removed camera's entity gone", |m| {
        m.topic == "homeassistant/binary_sensor/porchlight_porchlight_drive_motion/config"
            && m.payload.is_empty()
    });
    let last = obs.wait_after(mark, "the last press", |m| {
        m.topic == "porchlight/porch/doorbell" && m.json()["time"] == times[5]
    });
    assert!(!last.retain);
    let delivered: Vec<Value> = obs
        .messages()
        .into_iter()
        .skip(mark)
        .filter(|m| m.topic == "porchlight/porch/doorbell")
        .map(|m| m.json()["time"].clone())
        .collect();
    assert_eq!(delivered, times[4..].to_vec(), "the newest presses, in order");
    let metrics = d.get("/metrics").1;
    let dropped = metrics
        .lines()
        .find(|l| l.starts_with("porchlight_mqtt_messages_total{result=\"dropped\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<u64>().ok())
        .expect("dropped counter");
    assert!(dropped >= 8, "{metrics}");
    d.find_log(|l| message(l).starts_with("MQTT queue overflowed")).expect("overflow logged");
}

/// TLS to a broker that requires a client certificate: the daemon connects with the configured
/// CA and client certificate (seen by `mosquitto_sub`, over TLS too); with a CA that did not
/// sign the broker's certificate it does not connect, and its health says why.
#[test]
fn tls_with_a_client_certificate() {
    let ca = porchlight_e2e::tls::TestCa::new("Porchlight test CA");
    let Some(broker) = Broker::start_tls(&ca) else { return };
    let files = format!(
        "ca_file = {:?}\nclient_cert_file = {:?}\nclient_key_file = {:?}",
        ca.file("ca.pem").display().to_string(),
        ca.file("client.pem").display().to_string(),
        ca.file("client.key").display().to_string()
    );
    let s = Setup::new(&config(&broker, &files));
    let d = Daemon::start(&s.config);
    d.wait_log("the TLS connection", |l| message(l) == "MQTT connected");
    let out = std::process::Command::new("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &broker.port.to_string(),
            "-t",
            "porchlight/available",
            "-C",
            "1",
            "-W",
            "20",
        ])
        .arg("--cafile")
        .arg(ca.file("ca.pem"))
        .arg("--cert")
        .arg(ca.file("client.pem"))
        .arg("--key")
        .arg(ca.file("client.key"))
        .output()
        .expect("mosquitto_sub (apt-get install mosquitto-clients)");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "online",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(d.get_json("/api/health")["subsystems"]["mqtt"]["state"], "running");

    // Another CA: the broker's certificate is not trusted, so nothing is sent.
    let other = porchlight_e2e::tls::TestCa::new("Someone else's CA");
    let files =
        files.replace(&ca.file("ca.pem").display().to_string(), &other.file("ca.pem").display().to_string());
    let s2 = Setup::new(&config(&broker, &files));
    let d2 = Daemon::start(&s2.config);
    let line = d2.wait_log("the refused connection", |l| message(l) == "MQTT connect failed; retrying");
    assert!(line.to_string().to_lowercase().contains("certificate"), "{line}");
    assert_eq!(line["level"], "WARN", "{line}");
    let health = d2.get_json("/api/health");
    assert_eq!(health["subsystems"]["mqtt"]["state"], "degraded", "{health}");
}

/// An ONVIF camera's still image is fetched for Home Assistant's `camera` entity from the
/// snapshot URI the camera names (the oxvif mock camera, with WS-Security and its login), at
/// start and again on a doorbell press. The mock's image is a BMP, which the entity cannot
/// show: the hub says so once and turns to a still from the camera's stream, which this camera
/// (not streaming) does not have yet, so nothing is published.
#[test]
fn onvif_snapshot_for_the_camera_entity() {
    let Some(broker) = Broker::start() else { return };
    let obs = Observer::connect(&broker);
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let server = runtime.block_on(async {
        oxvif::mock::MockServer::builder().enforce_auth(true).start().await.expect("mock camera")
    });
    let s = Setup::new(&format!(
        "[[camera]]\nname = \"door\"\nonvif_url = {:?}\nusername = \"admin\"\npassword = \"admin\"\nrecord = \"off\"\n\n{}",
        server.device_url(),
        broker.section("")
    ));
    let d = Daemon::start(&s.config);
    let entity = obs.wait("homeassistant/camera/porchlight_porchlight_door_snapshot/config", |_| true).json();
    assert_eq!(entity["topic"], "porchlight/door/snapshot");
    let fallback = "Cannot fetch the camera's ONVIF snapshot; using a still from its stream";
    let line = d.wait_log("the refused snapshot", |l| message(l) == fallback);
    assert_eq!(line["level"], "WARN", "{line}");
    assert!(line["fields"]["error"].as_str().is_some_and(|e| e.contains("BMP")), "{line}");
    let no_still = "No still image of the camera yet";
    d.wait_log("the stream still's answer", |l| message(l) == no_still);

    // A doorbell press fetches a fresh one (a camera with no picture yet is not held to the
    // 5 s between two images).
    let mark = d.log_len();
    let (code, _) = d.post("/api/cameras/door/events", &json!({ "event": "doorbell_press" }));
    assert_eq!(code, 202);
    d.wait_log_after(mark, "the second try", |l| message(l) == no_still);
    assert!(!obs.messages().iter().any(|m| m.topic == "porchlight/door/snapshot"), "a BMP was published");
    let warned = d.logs().iter().filter(|l| message(l) == fallback).count();
    assert_eq!(warned, 1, "{}", d.log_text());
    drop(d);
    runtime.block_on(async {
        let _ = server.shutdown().await;
    });
}

/// A camera with only an RTSP address (no ONVIF) has Home Assistant's `camera` entity too: its
/// snapshot topic gets a JPEG decoded from the stream's latest keyframe, at the camera's size.
#[test]
fn rtsp_only_camera_gets_a_still_from_its_stream() {
    let Some(broker) = Broker::start() else { return };
    let Some(camera) = porchlight_e2e::rtsp::RtspServer::start() else { return };
    let obs = Observer::connect(&broker);
    let s = Setup::new(&format!(
        "[storage]\nmin_free_bytes = \"0 B\"\n\n[[camera]]\nname = \"yard\"\nrtsp_url = {:?}\n\n{}",
        camera.url("h264"),
        broker.section("snapshot_interval = \"5s\"")
    ));
    let d = Daemon::start(&s.config);
    let entity = obs.wait("homeassistant/camera/porchlight_porchlight_yard_snapshot/config", |_| true).json();
    assert_eq!(entity["topic"], "porchlight/yard/snapshot");
    let still = obs.wait_after(0, "a JPEG on porchlight/yard/snapshot", |m| {
        m.topic == "porchlight/yard/snapshot" && m.payload.starts_with(&[0xFF, 0xD8, 0xFF])
    });
    // Retained: a client that connects later (Home Assistant after a restart) gets it too.
    let late = Observer::connect(&broker);
    let kept = late.wait_after(0, "the retained snapshot", |m| m.topic == "porchlight/yard/snapshot");
    assert!(kept.retain && kept.payload.starts_with(&[0xFF, 0xD8, 0xFF]), "the snapshot is retained");
    // The test camera's picture is 320x240: the frame header says so, and ffprobe decodes it.
    assert_eq!(porchlight_e2e::media::jpeg_sof_size(&still.payload), Some((320, 240)));
    assert_eq!(porchlight_e2e::media::ffprobe_jpeg(s.dir.path(), &still.payload), (320, 240));
    drop(d);
}

/// The audit log's head, retained on `P/audit/head`: published at start, published again after
/// a decision, and what a client that connects later gets is what `porchlight audit head`
/// prints; saved to a file, `audit verify --head-file` checks the log against it.
#[test]
fn audit_head_is_retained_and_follows_the_log() {
    let Some(broker) = Broker::start() else { return };
    let obs = Observer::connect(&broker);
    let s = Setup::new(&config(&broker, ""));
    let d = Daemon::start(&s.config);
    let head = |s: &Setup| -> porchlight::audit::Anchor {
        let out = s.cli(&["audit", "head"]);
        assert!(out.status.success(), "{}", porchlight_e2e::output_text(&out));
        String::from_utf8_lossy(&out.stdout).parse().expect("audit head output")
    };
    let topic = "porchlight/audit/head";
    let first = obs.wait(topic, |_| true);
    let at_start = head(&s);
    assert_eq!(first.text().parse::<porchlight::audit::Anchor>().expect("anchor"), at_start);
    assert!(
        first.json()["time"].as_str().is_some_and(|t| t.parse::<jiff::Timestamp>().is_ok()),
        "{}",
        first.text()
    );

    // A decision (no policy installed: deny) adds its request and decision to the log.
    let (code, body) = d.post("/api/requests", &json!({ "request": request("r-head") }));
    assert_eq!(code, 200, "{body}");
    let now = head(&s);
    assert!(now.entries > at_start.entries, "{now} after {at_start}");
    let want = json!({ "entries": now.entries, "hash": now.hash });
    let seen = obs.wait_after(0, "the head after the decision", |m| {
        m.topic == topic && m.json()["entries"] == want["entries"] && m.json()["hash"] == want["hash"]
    });

    // Retained: a client that connects later gets the newest head.
    let late = Observer::connect(&broker);
    let kept = late.wait(topic, |_| true);
    assert!(kept.retain);
    assert_eq!(kept.payload, seen.payload);

    // A resident's copy of it is a head the log must contain.
    let file = s.path("head.json");
    std::fs::write(&file, &kept.payload).expect("head file");
    let out = s.cli(&["audit", "verify", "--head-file", &file.display().to_string()]);
    assert!(out.status.success(), "{}", porchlight_e2e::output_text(&out));
    drop(d);
}

/// A broker that cannot be reached shows in the log, not only in `/api/health`: the first failed
/// connect at warn, with the broker's address and the error; the tries after it, with the same
/// error, only at debug. When the broker comes up, the connect says how many tries failed.
#[test]
fn unreachable_broker_is_logged_once_and_so_is_its_return() {
    let Some(mut broker) = Broker::start() else { return };
    // Nothing listens on the broker's port until it starts again: a real "cannot connect".
    broker.stop();
    let s = Setup::new(&config(&broker, ""));
    let d = Daemon::start(&s.config);
    let failed = "MQTT connect failed; retrying";
    let first = d.wait_log("the first failure", |l| message(l) == failed);
    assert_eq!(first["level"], "WARN", "{first}");
    assert_eq!(first["fields"]["broker"], format!("127.0.0.1:{}", broker.port), "{first}");
    assert!(first["fields"]["error"].as_str().is_some_and(|e| !e.is_empty()), "{first}");
    // The next try (after the poller's pause) fails the same way: said at debug level only.
    let second =
        d.wait_log("the second failure", |l| message(l) == failed && l["fields"]["failed_tries"] == 2);
    assert_eq!(second["level"], "DEBUG", "{second}");
    let warned = d.logs().iter().filter(|l| message(l) == failed && l["level"] == "WARN").count();
    assert_eq!(warned, 1, "{}", d.log_text());

    broker.restart();
    let back = d.wait_log("the connect", |l| message(l) == "MQTT connected after failed tries");
    assert_eq!(back["level"], "INFO", "{back}");
    assert_eq!(back["fields"]["broker"], format!("127.0.0.1:{}", broker.port), "{back}");
    assert!(back["fields"]["failed_tries"].as_u64().is_some_and(|n| n >= 2), "{back}");
    let obs = Observer::connect(&broker);
    obs.wait("porchlight/available", |t| t == "online");
}

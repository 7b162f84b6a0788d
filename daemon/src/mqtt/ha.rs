//! Home Assistant MQTT discovery: one retained config per entity at
//! `<discovery_prefix>/<component>/<unique_id>/config` (single-component discovery), each with
//! its device (`dev`), the origin (`o`) and the hub's availability topic. The hub is one device;
//! each camera is a device `via_device` the hub. Payloads use full key names, not abbreviations,
//! so they read like Home Assistant's documentation.
//!
//! Entity ids: every entity asks for `<component>.porchlight_<entity>` (`default_entity_id`, and
//! `object_id` for Home Assistant before 2025.10), and camera devices are named
//! `Porchlight <camera>`, so ids do not collide with other integrations' (`binary_sensor.porch_motion`).
//! `unique_id` is what Home Assistant keys its registry on; it never changes, so installs that
//! already have the entities keep them (with the ids they had).

use serde_json::{Value, json};

use super::topics::Topics;
use crate::config::SignalKind;
use crate::config::{CameraSettings, Settings};

/// One entity's discovery message.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub topic: String,
    pub payload: Value,
}

/// The tag that makes a camera a doorbell for Home Assistant (`camera.tags`).
pub const DOORBELL_TAG: &str = "doorbell";

fn hub_id(settings: &Settings) -> String {
    format!("porchlight_{}", settings.hub.name)
}

fn origin() -> Value {
    json!({ "name": "Porchlight", "sw_version": env!("CARGO_PKG_VERSION") })
}

/// Whether a camera gets Home Assistant's doorbell `event` entity: it is tagged `doorbell`, or
/// one of its `event_map` or `mqtt_event` entries is a doorbell.
pub fn is_doorbell(c: &CameraSettings) -> bool {
    c.tags.iter().any(|t| t == DOORBELL_TAG)
        || c.event_map.iter().any(|m| m.kind == SignalKind::Doorbell)
        || c.mqtt_events.iter().any(|e| e.kind == SignalKind::Doorbell)
}

/// Every entity of the hub and its enabled cameras. `requests`: the labels of the waiting
/// requests, oldest first (the options of the request `select`).
pub fn configs(settings: &Settings, topics: &Topics, requests: &[String]) -> Vec<Config> {
    let prefix = &settings.mqtt.discovery_prefix;
    let hub = hub_id(settings);
    let hub_device = json!({
        "identifiers": [hub],
        "name": format!("Porchlight {}", settings.hub.name),
        "manufacturer": "Porchlight",
        "model": "Porchlight hub",
        "sw_version": env!("CARGO_PKG_VERSION"),
    });
    let mut out = Vec::new();
    // `object`: the unique id's tail (never changes); `slug`: the entity id asked for.
    let mut add = |component: &str, object: &str, slug: &str, device: &Value, mut entity: Value| {
        let unique_id = format!("{hub}_{object}");
        let object_id = format!("porchlight_{slug}");
        if let Some(e) = entity.as_object_mut() {
            e.insert("unique_id".into(), unique_id.clone().into());
            e.insert("object_id".into(), object_id.clone().into());
            e.insert("default_entity_id".into(), format!("{component}.{object_id}").into());
            e.insert("device".into(), device.clone());
            e.insert("origin".into(), origin());
            if !e.contains_key("availability") {
                e.insert("availability_topic".into(), topics.available().into());
            }
        }
        out.push(Config { topic: format!("{prefix}/{component}/{unique_id}/config"), payload: entity });
    };
    // Available while the hub is and a request waits.
    let while_waiting = json!([
        { "topic": topics.available() },
        { "topic": topics.requests_waiting(), "payload_available": "ON", "payload_not_available": "OFF" },
    ]);
    let options: Vec<String> =
        if requests.is_empty() { vec![super::payload::NONE_WAITING.to_owned()] } else { requests.to_vec() };

    add(
        "switch",
        "privacy",
        "privacy",
        &hub_device,
        json!({
            "name": "Privacy mode",
            "icon": "mdi:shield-lock",
            "command_topic": topics.privacy_set(),
            "state_topic": topics.privacy(),
            "payload_on": "ON",
            "payload_off": "OFF",
        }),
    );
    add(
        "select",
        "mode",
        "mode",
        &hub_device,
        json!({
            "name": "Hub mode",
            "icon": "mdi:home-account",
            "state_topic": topics.mode(),
            "command_topic": topics.mode_set(),
            "options": ["home", "away", "night", "vacation"],
        }),
    );
    add(
        "sensor",
        "pending_requests",
        "pending_requests",
        &hub_device,
        json!({
            "name": "Pending sharing requests",
            "icon": "mdi:account-question",
            "state_topic": topics.requests(),
            "value_template": "{{ value_json | count }}",
            "json_attributes_topic": topics.requests(),
            "json_attributes_template": "{{ {'requests': value_json} | tojson }}",
            "state_class": "measurement",
        }),
    );
    add(
        "event",
        "request_received",
        "request_received",
        &hub_device,
        json!({
            "name": "Sharing request received",
            "icon": "mdi:email-alert",
            "state_topic": topics.request_received(),
            "event_types": ["received"],
        }),
    );
    add(
        "event",
        "request_decided",
        "request_decided",
        &hub_device,
        json!({
            "name": "Sharing decision",
            "icon": "mdi:gavel",
            "state_topic": topics.request_decided(),
            "event_types": ["allow", "deny", "ask"],
        }),
    );
    // The resident picks a waiting request here; Approve and Deny answer the one picked (the
    // oldest until another is picked). The options follow the list of waiting requests.
    add(
        "select",
        "request_selected",
        "request_selected",
        &hub_device,
        json!({
            "name": "Sharing request",
            "icon": "mdi:account-question",
            "state_topic": topics.request_selection(),
            "command_topic": topics.request_selection_set(),
            "options": options,
            "availability": while_waiting,
            "availability_mode": "all",
        }),
    );
    // Unique ids kept from when the buttons answered the oldest request.
    for (object, slug, name, icon, press) in [
        ("approve_oldest", "approve_request", "Approve selected request", "mdi:check-circle", "approve"),
        ("deny_oldest", "deny_request", "Deny selected request", "mdi:close-circle", "deny"),
    ] {
        add(
            "button",
            object,
            slug,
            &hub_device,
            json!({
                "name": name,
                "icon": icon,
                "command_topic": topics.request_set("selected"),
                "payload_press": press,
                "availability": while_waiting,
                "availability_mode": "all",
            }),
        );
    }
    add(
        "sensor",
        "request_last_result",
        "request_last_result",
        &hub_device,
        json!({
            "name": "Last answer",
            "icon": "mdi:message-reply-text",
            "state_topic": topics.requests_last_result(),
        }),
    );
    add(
        "button",
        "stop_sharing",
        "stop_sharing",
        &hub_device,
        json!({
            "name": "Stop sharing",
            "icon": "mdi:access-point-network-off",
            "command_topic": topics.relay_stop(),
            "payload_press": "PRESS",
        }),
    );
    add(
        "binary_sensor",
        "relay_active",
        "relay_active",
        &hub_device,
        json!({
            "name": "Live relay active",
            "icon": "mdi:access-point-network",
            "state_topic": topics.relay_active(),
            "payload_on": "ON",
            "payload_off": "OFF",
        }),
    );
    for (object, name, field, shown_in) in [
        ("storage_used", "Storage used", "storage_used_bytes", "GiB"),
        ("storage_free", "Storage free", "storage_free_bytes", "GiB"),
    ] {
        add(
            "sensor",
            object,
            object,
            &hub_device,
            json!({
                "name": name,
                "state_topic": topics.stats(),
                "value_template": format!("{{{{ value_json.{field} }}}}"),
                "device_class": "data_size",
                "unit_of_measurement": "B",
                "suggested_unit_of_measurement": shown_in,
                "suggested_display_precision": 1,
                "state_class": "measurement",
                "entity_category": "diagnostic",
            }),
        );
    }

    for c in settings.cameras.iter().filter(|c| c.enabled) {
        let cam = &c.name;
        let device = json!({
            "identifiers": [format!("{hub}_{cam}")],
            "name": format!("Porchlight {cam}"),
            "manufacturer": "Porchlight",
            "model": "Camera",
            "via_device": hub,
        });
        let id = |what: &str| format!("{cam}_{what}");
        add(
            "binary_sensor",
            &id("motion"),
            &id("motion"),
            &device,
            json!({
                "name": "Motion",
                "device_class": "motion",
                "state_topic": topics.motion(cam),
                "payload_on": "ON",
                "payload_off": "OFF",
            }),
        );
        if is_doorbell(c) {
            add(
                "event",
                &id("doorbell"),
                &id("doorbell"),
                &device,
                json!({
                    "name": "Doorbell",
                    "device_class": "doorbell",
                    "state_topic": topics.doorbell(cam),
                    "event_types": ["press"],
                }),
            );
        }
        // `None` (unknown) while the hub does not connect to the camera (recording off).
        add(
            "binary_sensor",
            &id("connectivity"),
            &id("connectivity"),
            &device,
            json!({
                "name": "Connected",
                "device_class": "connectivity",
                "state_topic": topics.connectivity(cam),
                "payload_on": "ON",
                "payload_off": "OFF",
                "entity_category": "diagnostic",
            }),
        );
        add(
            "sensor",
            &id("status"),
            &id("status"),
            &device,
            json!({
                "name": "Recording state",
                "icon": "mdi:record-rec",
                "state_topic": topics.status(cam),
                "device_class": "enum",
                "options": crate::recording::CameraState::REPORTED,
            }),
        );
        // Every camera has a still: the ONVIF snapshot, or one decoded from its stream.
        add(
            "camera",
            &id("snapshot"),
            &id("snapshot"),
            &device,
            json!({
                "name": "Snapshot",
                "topic": topics.snapshot(cam),
            }),
        );
        add(
            "switch",
            &id("record"),
            &id("record"),
            &device,
            json!({
                "name": "Recording",
                "icon": "mdi:record-circle",
                "command_topic": topics.record_set(cam),
                "state_topic": topics.record(cam),
                "payload_on": "ON",
                "payload_off": "OFF",
            }),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Settings {
        crate::config::parse(
            std::path::Path::new("/etc/porchlight/config.toml"),
            text.into(),
            &crate::config::Env::from_pairs::<_, String, String>([]),
        )
        .expect("valid config")
    }

    fn settings() -> Settings {
        parse(
            r#"
            [hub]
            name = "home"
            data_dir = "/var/lib/porchlight"
            [[camera]]
            name = "porch"
            rtsp_url = "rtsp://10.0.0.5/stream1"
            tags = ["doorbell"]
            [[camera]]
            name = "drive"
            onvif_url = "http://10.0.0.6/onvif/device_service"
            [[camera]]
            name = "old"
            enabled = false
            rtsp_url = "rtsp://10.0.0.7/stream1"
            [mqtt]
            discovery_prefix = "ha"
        "#,
        )
    }

    /// Every payload, as Home Assistant receives it (one request waiting).
    #[test]
    fn discovery_payloads() {
        let s = settings();
        let configs =
            configs(&s, &Topics::new("porchlight"), &["rtcc-4411: City Police RTCC, Det. Smith".into()]);
        let by_topic: serde_json::Map<String, Value> =
            configs.iter().map(|c| (c.topic.clone(), c.payload.clone())).collect();
        // The version changes with every release; the snapshot shows where it goes.
        let version = format!("\"{}\"", env!("CARGO_PKG_VERSION"));
        let text = serde_json::to_string_pretty(&by_topic).expect("json").replace(&version, "\"[version]\"");
        insta::assert_snapshot!(text);
    }

    #[test]
    fn a_camera_with_only_an_rtsp_url_gets_a_camera_entity_on_its_snapshot_topic() {
        let s = settings();
        let configs = configs(&s, &Topics::new("porchlight"), &[]);
        let porch = configs
            .iter()
            .find(|c| c.topic == "ha/camera/porchlight_home_porch_snapshot/config")
            .expect("the RTSP-only camera has a camera entity");
        assert_eq!(porch.payload["topic"], "porchlight/porch/snapshot");
        assert_eq!(porch.payload["device"]["name"], "Porchlight porch");
        assert!(!configs.iter().any(|c| c.topic.starts_with("ha/camera/") && c.topic.contains("_old_")));
    }

    #[test]
    fn every_entity_is_available_with_the_hub_and_unique() {
        let s = settings();
        let configs = configs(&s, &Topics::new("porchlight"), &[]);
        // 13 hub entities, 5 per enabled camera (a snapshot camera for each, ONVIF or not) and
        // a doorbell for the tagged one; the disabled one has none.
        assert_eq!(configs.len(), 13 + 2 * 5 + 1);
        assert!(configs.iter().any(|c| c.topic == "ha/camera/porchlight_home_drive_snapshot/config"));
        let mut ids = std::collections::BTreeSet::new();
        let mut entity_ids = std::collections::BTreeSet::new();
        for c in &configs {
            let p = &c.payload;
            let with_hub = p["availability_topic"] == "porchlight/available"
                || (p["availability"][0]["topic"] == "porchlight/available"
                    && p["availability_mode"] == "all");
            assert!(with_hub, "{}", c.topic);
            let id = p["unique_id"].as_str().expect("unique_id");
            assert!(ids.insert(id.to_owned()), "duplicate {id}");
            assert!(c.topic.starts_with("ha/") && c.topic.ends_with(&format!("/{id}/config")), "{}", c.topic);
            assert!(p["device"]["identifiers"][0].as_str().is_some_and(|d| d.starts_with("porchlight_home")));
            assert!(!c.topic.contains("_old_"), "disabled camera announced: {}", c.topic);
            // Entity ids carry the hub's prefix: the new key and the one before 2025.10 agree.
            let component = c.topic.split('/').nth(1).expect("component");
            let object_id = p["object_id"].as_str().expect("object_id");
            assert!(object_id.starts_with("porchlight_"), "{object_id}");
            assert_eq!(p["default_entity_id"], format!("{component}.{object_id}"));
            assert!(entity_ids.insert(object_id.to_owned()), "duplicate entity id {object_id}");
        }
        let cam = configs.iter().find(|c| c.topic.contains("porch_motion")).expect("motion");
        assert_eq!(cam.payload["device"]["via_device"], "porchlight_home");
        assert_eq!(cam.payload["device"]["name"], "Porchlight porch");
        assert_eq!(cam.payload["default_entity_id"], "binary_sensor.porchlight_porch_motion");
        // Unique ids stay as they were, so existing entities are kept.
        assert_eq!(cam.payload["unique_id"], "porchlight_home_porch_motion");
        // Nothing waits: the select still has an option, and says so.
        let select = configs
            .iter()
            .find(|c| c.topic.starts_with("ha/select/") && c.topic.contains("request"))
            .expect("select");
        assert_eq!(select.payload["options"], json!([crate::mqtt::payload::NONE_WAITING]));
    }

    /// Only doorbells get the doorbell `event` entity: a camera tagged `doorbell`, or with an
    /// `event_map` or `mqtt_event` doorbell.
    #[test]
    fn only_doorbells_have_a_doorbell_entity() {
        let s = parse(
            r#"
            [hub]
            name = "home"
            data_dir = "/var/lib/porchlight"
            [[camera]]
            name = "garden"
            rtsp_url = "rtsp://10.0.0.5/a"
            tags = ["outdoor"]
            [[camera]]
            name = "tagged"
            rtsp_url = "rtsp://10.0.0.5/b"
            tags = ["doorbell"]
            [[camera]]
            name = "onvif"
            onvif_url = "http://10.0.0.6/onvif/device_service"
            event_map = [{ topic = "tns1:Device/Trigger/DigitalInput", kind = "doorbell" }]
            [[camera]]
            name = "ring"
            rtsp_url = "rtsp://10.0.0.5/c"
            mqtt_event = [{ topic = "ring/x/ding", kind = "doorbell" }]
            [[camera]]
            name = "yard"
            rtsp_url = "rtsp://10.0.0.5/d"
            mqtt_event = [{ topic = "ring/y/motion", kind = "motion" }]
            [mqtt]
            enabled = true
            host = "127.0.0.1"
        "#,
        );
        let doorbells: Vec<&str> =
            s.cameras.iter().filter(|c| is_doorbell(c)).map(|c| c.name.as_str()).collect();
        assert_eq!(doorbells, ["tagged", "onvif", "ring"]);
        let events: Vec<String> = configs(&s, &Topics::new("porchlight"), &[])
            .into_iter()
            .filter(|c| c.topic.contains("/event/") && c.topic.ends_with("_doorbell/config"))
            .map(|c| c.topic)
            .collect();
        assert_eq!(events.len(), 3, "{events:?}");
        assert!(events.iter().all(|t| !t.contains("garden") && !t.contains("yard")), "{events:?}");
    }
}

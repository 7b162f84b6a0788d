//! Home Assistant MQTT discovery: one retained config per entity at
//! `<discovery_prefix>/<component>/<unique_id>/config` (single-component discovery), each with
//! its device (`dev`), the origin (`o`) and the hub's availability topic. The hub is one device;
//! each camera is a device `via_device` the hub. Payloads use full key names, not abbreviations,
//! so they read like Home Assistant's documentation.

use serde_json::{Value, json};

use super::topics::Topics;
use crate::config::Settings;

/// One entity's discovery message.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub topic: String,
    pub payload: Value,
}

fn hub_id(settings: &Settings) -> String {
    format!("porchlight_{}", settings.hub.name)
}

fn origin() -> Value {
    json!({ "name": "Porchlight", "sw_version": env!("CARGO_PKG_VERSION") })
}

/// Every entity of the hub and its enabled cameras.
pub fn configs(settings: &Settings, topics: &Topics) -> Vec<Config> {
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
    let mut add = |component: &str, object: &str, device: &Value, mut entity: Value| {
        let unique_id = format!("{hub}_{object}");
        if let Some(e) = entity.as_object_mut() {
            e.insert("unique_id".into(), unique_id.clone().into());
            e.insert("device".into(), device.clone());
            e.insert("origin".into(), origin());
            e.insert("availability_topic".into(), topics.available().into());
        }
        out.push(Config { topic: format!("{prefix}/{component}/{unique_id}/config"), payload: entity });
    };

    add(
        "switch",
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
        &hub_device,
        json!({
            "name": "Sharing decision",
            "icon": "mdi:gavel",
            "state_topic": topics.request_decided(),
            "event_types": ["allow", "deny", "ask"],
        }),
    );
    add(
        "button",
        "approve_oldest",
        &hub_device,
        json!({
            "name": "Approve oldest request",
            "icon": "mdi:check-circle",
            "command_topic": topics.request_set("oldest"),
            "payload_press": "approve",
        }),
    );
    add(
        "button",
        "deny_oldest",
        &hub_device,
        json!({
            "name": "Deny oldest request",
            "icon": "mdi:close-circle",
            "command_topic": topics.request_set("oldest"),
            "payload_press": "deny",
        }),
    );
    add(
        "button",
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
        &hub_device,
        json!({
            "name": "Live relay active",
            "icon": "mdi:access-point-network",
            "state_topic": topics.relay_active(),
            "payload_on": "ON",
            "payload_off": "OFF",
        }),
    );
    for (object, name, field) in [
        ("storage_used", "Storage used", "storage_used_bytes"),
        ("storage_free", "Storage free", "storage_free_bytes"),
    ] {
        add(
            "sensor",
            object,
            &hub_device,
            json!({
                "name": name,
                "state_topic": topics.stats(),
                "value_template": format!("{{{{ value_json.{field} }}}}"),
                "device_class": "data_size",
                "unit_of_measurement": "B",
                "state_class": "measurement",
                "entity_category": "diagnostic",
            }),
        );
    }

    for c in settings.cameras.iter().filter(|c| c.enabled) {
        let cam = &c.name;
        let device = json!({
            "identifiers": [format!("{hub}_{cam}")],
            "name": cam,
            "manufacturer": "Porchlight",
            "model": "Camera",
            "via_device": hub,
        });
        add(
            "binary_sensor",
            &format!("{cam}_motion"),
            &device,
            json!({
                "name": "Motion",
                "device_class": "motion",
                "state_topic": topics.motion(cam),
                "payload_on": "ON",
                "payload_off": "OFF",
            }),
        );
        add(
            "event",
            &format!("{cam}_doorbell"),
            &device,
            json!({
                "name": "Doorbell",
                "device_class": "doorbell",
                "state_topic": topics.doorbell(cam),
                "event_types": ["press"],
            }),
        );
        add(
            "binary_sensor",
            &format!("{cam}_connectivity"),
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
            &format!("{cam}_status"),
            &device,
            json!({
                "name": "Recording state",
                "icon": "mdi:record-rec",
                "state_topic": topics.status(cam),
            }),
        );
        if c.onvif_url.is_some() {
            add(
                "camera",
                &format!("{cam}_snapshot"),
                &device,
                json!({
                    "name": "Snapshot",
                    "topic": topics.snapshot(cam),
                }),
            );
        }
        add(
            "switch",
            &format!("{cam}_record"),
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

    fn settings() -> Settings {
        let text = r#"
            [hub]
            name = "home"
            data_dir = "/var/lib/porchlight"
            [[camera]]
            name = "porch"
            rtsp_url = "rtsp://10.0.0.5/stream1"
            [[camera]]
            name = "drive"
            onvif_url = "http://10.0.0.6/onvif/device_service"
            [[camera]]
            name = "old"
            enabled = false
            rtsp_url = "rtsp://10.0.0.7/stream1"
            [mqtt]
            discovery_prefix = "ha"
        "#;
        crate::config::parse(
            std::path::Path::new("/etc/porchlight/config.toml"),
            text.into(),
            &crate::config::Env::from_pairs::<_, String, String>([]),
        )
        .expect("valid config")
    }

    /// Every payload, as Home Assistant receives it.
    #[test]
    fn discovery_payloads() {
        let s = settings();
        let configs = configs(&s, &Topics::new("porchlight"));
        let by_topic: serde_json::Map<String, Value> =
            configs.iter().map(|c| (c.topic.clone(), c.payload.clone())).collect();
        // The version changes with every release; the snapshot shows where it goes.
        let version = format!("\"{}\"", env!("CARGO_PKG_VERSION"));
        let text = serde_json::to_string_pretty(&by_topic).expect("json").replace(&version, "\"[version]\"");
        insta::assert_snapshot!(text);
    }

    #[test]
    fn every_entity_is_available_with_the_hub_and_unique() {
        let s = settings();
        let configs = configs(&s, &Topics::new("porchlight"));
        // 9 hub entities + 2 storage sensors, 5 per enabled camera and a snapshot camera for the
        // ONVIF one; the disabled one has none.
        assert_eq!(configs.len(), 11 + 2 * 5 + 1);
        assert!(configs.iter().any(|c| c.topic == "ha/camera/porchlight_home_drive_snapshot/config"));
        let mut ids = std::collections::BTreeSet::new();
        for c in &configs {
            let p = &c.payload;
            assert_eq!(p["availability_topic"], "porchlight/available", "{}", c.topic);
            let id = p["unique_id"].as_str().expect("unique_id");
            assert!(ids.insert(id.to_owned()), "duplicate {id}");
            assert!(c.topic.starts_with("ha/") && c.topic.ends_with(&format!("/{id}/config")), "{}", c.topic);
            assert!(p["device"]["identifiers"][0].as_str().is_some_and(|d| d.starts_with("porchlight_home")));
            assert!(!c.topic.contains("_old_"), "disabled camera announced: {}", c.topic);
        }
        let cam = configs.iter().find(|c| c.topic.contains("porch_motion")).expect("motion");
        assert_eq!(cam.payload["device"]["via_device"], "porchlight_home");
    }
}

//! Layer one: the config file as written, as serde structs that reject unknown keys.
//! Every field has its default here and is documented in `config.example.toml` and
//! `docs/ref/config.md`. Validation ([`super::validate`]) turns these into [`super::Settings`].

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::units;

/// The top-level sections, in the order the docs present them.
pub const SECTIONS: &[&str] =
    &["hub", "api", "storage", "camera", "discovery", "mqtt", "plugins", "relay", "restream", "stills"];

/// A duration written as `"10s"`, `"5m"`, `"1h30m"`, `"30d"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        units::parse_duration(&s).map(HumanDuration).map_err(serde::de::Error::custom)
    }
}

/// A byte size written as an integer or as `"500 GiB"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Int(u64),
            Text(String),
        }
        match Either::deserialize(d).map_err(|_: D::Error| {
            serde::de::Error::custom("expected a size: a number of bytes or a string such as \"500 GiB\"")
        })? {
            Either::Int(n) => Ok(ByteSize(n)),
            Either::Text(s) => units::parse_bytes(&s).map(ByteSize).map_err(serde::de::Error::custom),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// `journald` under systemd, else `human`.
    #[default]
    Auto,
    Human,
    Json,
    Journald,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordMode {
    #[default]
    Continuous,
    Events,
    /// Nothing is connected until an event; the stream is opened then, recorded for the
    /// post-roll and closed (cameras whose stream costs something while open, such as the
    /// RTSP gateway of ring-mqtt, which starts a cloud stream per client).
    OnEvent,
    Off,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RtspTransport {
    #[default]
    Tcp,
    Udp,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Hub {
    pub name: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub log_level: Option<String>,
    pub log_format: LogFormat,
    pub shutdown_timeout: Option<HumanDuration>,
    pub privacy: Option<bool>,
    pub max_live: Option<HumanDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Api {
    pub enabled: Option<bool>,
    pub listen: Option<String>,
    pub token: Option<String>,
    pub token_file: Option<PathBuf>,
    pub token_env: Option<String>,
    pub max_connections: Option<u32>,
    pub max_connections_per_client: Option<u32>,
    pub request_timeout: Option<HumanDuration>,
    pub session_lifetime: Option<HumanDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Storage {
    pub dir: Option<PathBuf>,
    pub max_age: Option<HumanDuration>,
    pub max_bytes: Option<ByteSize>,
    pub min_free_bytes: Option<ByteSize>,
    pub segment_duration: Option<HumanDuration>,
    pub max_on_demand_sessions: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Camera {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub rtsp_url: Option<String>,
    pub onvif_url: Option<String>,
    pub onvif_tls_sha256: Option<String>,
    pub onvif_ca_file: Option<PathBuf>,
    pub transport: RtspTransport,
    pub username: Option<String>,
    pub password: Option<String>,
    pub password_file: Option<PathBuf>,
    pub password_env: Option<String>,
    pub record: RecordMode,
    pub pre_roll: Option<HumanDuration>,
    pub post_roll: Option<HumanDuration>,
    pub max_age: Option<HumanDuration>,
    pub tags: Vec<String>,
    pub event_map: Vec<EventMap>,
    pub mqtt_event: Vec<MqttEvent>,
}

/// `[[camera.mqtt_event]]`: a doorbell press, motion or tamper taken from an MQTT topic (for
/// cameras whose events are not ONVIF, such as a ring-mqtt bridge).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MqttEvent {
    pub topic: Option<String>,
    pub kind: Option<String>,
    pub on: Option<String>,
    pub off: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventMap {
    pub topic: Option<String>,
    pub kind: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Discovery {
    pub enabled: Option<bool>,
    pub interval: Option<HumanDuration>,
    pub multicast: Option<bool>,
    pub interfaces: Vec<String>,
    pub probe: Vec<String>,
    pub adopt: Option<bool>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub password_file: Option<PathBuf>,
    pub password_env: Option<String>,
    pub record: Option<RecordMode>,
    pub tags: Option<Vec<String>>,
    pub ignore: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mqtt {
    pub enabled: Option<bool>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub password_file: Option<PathBuf>,
    pub password_env: Option<String>,
    pub client_id: Option<String>,
    pub topic_prefix: Option<String>,
    pub discovery_prefix: Option<String>,
    pub discovery: Option<bool>,
    pub tls: Option<bool>,
    pub ca_file: Option<PathBuf>,
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
    pub keep_alive: Option<HumanDuration>,
    pub queue_limit: Option<usize>,
    pub snapshot_interval: Option<HumanDuration>,
    pub ring: Option<MqttRing>,
}

/// `[mqtt.ring]`: Ring cameras and doorbells announced on the broker by a ring-mqtt bridge.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MqttRing {
    pub enabled: Option<bool>,
    pub adopt: Option<bool>,
    pub topic: Option<String>,
    pub gateway: Option<String>,
    pub record: Option<RecordMode>,
    pub post_roll: Option<HumanDuration>,
    pub tags: Option<Vec<String>>,
    pub silence: Option<HumanDuration>,
    pub wake_topic: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Plugins {
    pub dir: Option<PathBuf>,
    pub enabled: Vec<String>,
    pub time_limit: Option<HumanDuration>,
    pub memory_limit: Option<ByteSize>,
    pub fuel_limit: Option<u64>,
    pub log_limit: Option<ByteSize>,
    pub policy: std::collections::BTreeMap<String, PolicyEntry>,
}

/// `[plugins.policy.<name>]`: one plugin's pin, limits and configuration.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyEntry {
    /// `"bundled"` or `"file"`; absent: by name (the file if it exists, else the bundled policy;
    /// both: refused).
    pub source: Option<String>,
    pub sha256: Option<String>,
    pub time_limit: Option<HumanDuration>,
    pub memory_limit: Option<ByteSize>,
    pub fuel_limit: Option<u64>,
    pub config: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Relay {
    pub enabled: Option<bool>,
    pub url: Option<String>,
    pub hub_id: Option<String>,
    pub token: Option<String>,
    pub token_file: Option<PathBuf>,
    pub token_env: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
    pub poll_wait: Option<HumanDuration>,
}

/// `[stills]`: still images decoded from the cameras' streams.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Stills {
    /// The `ffmpeg` program (a name looked up in `PATH`, or a path). Default `"ffmpeg"`.
    pub ffmpeg: Option<PathBuf>,
}

/// `[restream]`: the local RTSP server that serves each camera's stream as the hub receives it.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Restream {
    pub enabled: Option<bool>,
    pub listen: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub password_file: Option<PathBuf>,
    pub password_env: Option<String>,
    pub max_clients: Option<u32>,
    pub cameras: Option<Vec<String>>,
    pub keyframe_wait: Option<HumanDuration>,
}

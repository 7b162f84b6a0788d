//! Counters and gauges, rendered in the Prometheus text format at `GET /metrics`.
//! Small on purpose: a map behind a mutex, touched a few times per event.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

type Labels = Vec<(String, String)>;

/// Every metric the daemon exports: name, type, help. Names not listed here are not rendered.
const FAMILIES: &[(&str, &str, &str)] = &[
    ("porchlight_uptime_seconds", "gauge", "Seconds since the daemon started."),
    ("porchlight_events_total", "counter", "Events published on the bus, by kind."),
    ("porchlight_bus_lagged_events_total", "counter", "Events a slow bus subscriber missed, by subscriber."),
    (
        "porchlight_config_reloads_total",
        "counter",
        "Config reloads, by result (applied, unchanged, rejected).",
    ),
    ("porchlight_cameras", "gauge", "Cameras in the running config, by state."),
    ("porchlight_api_requests_total", "counter", "HTTP API requests, by route and status code."),
    ("porchlight_api_connections", "gauge", "Open HTTP API connections."),
    (
        "porchlight_api_connections_refused_total",
        "counter",
        "HTTP API connections closed at once because a limit was reached, by limit (max_connections, max_connections_per_client).",
    ),
    ("porchlight_policy_decisions_total", "counter", "Sharing requests decided, by final decision."),
    (
        "porchlight_recording_bytes_total",
        "counter",
        "Bytes of video and audio made durable on disk, by camera.",
    ),
    ("porchlight_recording_segments_total", "counter", "Segment files finished, by camera."),
    (
        "porchlight_recording_frames_dropped_total",
        "counter",
        "Frames not recorded, by camera and reason (waiting_for_keyframe, disk, backlog, no_audio_track, pre_roll_full).",
    ),
    (
        "porchlight_camera_reconnects_total",
        "counter",
        "RTSP sessions that ended and were retried, by camera.",
    ),
    ("porchlight_storage_bytes", "gauge", "Bytes of recordings in the index, by camera."),
    ("porchlight_storage_free_bytes", "gauge", "Free bytes on the recordings filesystem."),
    (
        "porchlight_mqtt_messages_total",
        "counter",
        "MQTT messages handed to the broker connection (result=sent) or dropped from the full queue while the broker was away (result=dropped).",
    ),
    (
        "porchlight_relay_requests_total",
        "counter",
        "Requests from the relay center, by result (taken, malformed).",
    ),
    ("porchlight_relay_replies_total", "counter", "Decisions delivered to the relay center, by decision."),
    (
        "porchlight_relay_uploads_total",
        "counter",
        "Clips and snapshots uploaded to the relay center (granted, or shared by the resident), by result (sent, failed).",
    ),
    ("porchlight_relay_shared_bytes_total", "counter", "Bytes of footage uploaded to the relay center."),
    ("porchlight_mqtt_commands_total", "counter", "MQTT commands received, by result (ok, refused)."),
    (
        "porchlight_retention_deleted_total",
        "counter",
        "Segments deleted by retention, by reason (max_age, max_bytes, min_free_bytes, disk_full).",
    ),
];

#[derive(Debug, Clone, Default)]
pub struct Metrics {
    inner: Arc<Mutex<BTreeMap<(String, Labels), f64>>>,
}

fn key(name: &str, labels: &[(&str, &str)]) -> (String, Labels) {
    (name.to_owned(), labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn inc(&self, name: &str, labels: &[(&str, &str)]) {
        self.add(name, labels, 1);
    }

    pub fn add(&self, name: &str, labels: &[(&str, &str)], n: u64) {
        let mut m = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        *m.entry(key(name, labels)).or_insert(0.0) += n as f64;
    }

    pub fn set(&self, name: &str, labels: &[(&str, &str)], value: f64) {
        let mut m = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        m.insert(key(name, labels), value);
    }

    /// Removes every series of `name` (before setting a gauge's new label set).
    pub fn clear(&self, name: &str) {
        let mut m = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        m.retain(|(n, _), _| n != name);
    }

    /// A counter's value (0 if never touched).
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        let m = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        m.get(&key(name, labels)).copied().unwrap_or(0.0) as u64
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let m = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = String::new();
        for (family, kind, help) in FAMILIES {
            let _ = writeln!(out, "# HELP {family} {help}");
            let _ = writeln!(out, "# TYPE {family} {kind}");
            for ((name, labels), value) in m.iter().filter(|((n, _), _)| n == family) {
                out.push_str(name);
                if !labels.is_empty() {
                    out.push('{');
                    for (i, (k, v)) in labels.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        let _ = write!(out, "{k}=\"{}\"", escape(v));
                    }
                    out.push('}');
                }
                let _ = writeln!(out, " {value}");
            }
        }
        out
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_help_type_and_escaped_labels() {
        let m = Metrics::new();
        m.inc("porchlight_events_total", &[("kind", "motion_start")]);
        m.add("porchlight_events_total", &[("kind", "motion_start")], 2);
        m.inc("porchlight_bus_lagged_events_total", &[("subscriber", "a\"b\\c\nd")]);
        m.set("porchlight_uptime_seconds", &[], 12.5);
        m.inc("not_a_family", &[]);
        let text = m.render();
        assert!(text.contains("# TYPE porchlight_events_total counter\n"));
        assert!(text.contains("porchlight_events_total{kind=\"motion_start\"} 3\n"), "{text}");
        assert!(text.contains(r#"porchlight_bus_lagged_events_total{subscriber="a\"b\\c\nd"} 1"#), "{text}");
        assert!(text.contains("porchlight_uptime_seconds 12.5\n"));
        assert!(!text.contains("not_a_family"));
        assert_eq!(m.get("porchlight_events_total", &[("kind", "motion_start")]), 3);
    }
}

//! Counters and gauges, rendered in the Prometheus text format at `GET /metrics`.
//! Small on purpose: a map behind a mutex, touched a few times per event.
//!
//! Every series the daemon exports is a [`Metric`] (name, type, help text and label names in one
//! place) and every label name a [`Label`], so a misspelt name does not compile.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

/// The Prometheus type of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
        }
    }
}

/// The label names the metrics use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    Camera,
    Code,
    Decision,
    Kind,
    Limit,
    Reason,
    Result,
    Route,
    State,
    Subscriber,
}

impl Label {
    pub const ALL: [Label; 10] = [
        Self::Camera,
        Self::Code,
        Self::Decision,
        Self::Kind,
        Self::Limit,
        Self::Reason,
        Self::Result,
        Self::Route,
        Self::State,
        Self::Subscriber,
    ];

    /// The label name in the exposition.
    pub fn name(self) -> &'static str {
        match self {
            Self::Camera => "camera",
            Self::Code => "code",
            Self::Decision => "decision",
            Self::Kind => "kind",
            Self::Limit => "limit",
            Self::Reason => "reason",
            Self::Result => "result",
            Self::Route => "route",
            Self::State => "state",
            Self::Subscriber => "subscriber",
        }
    }
}

/// Every metric family the daemon exports (`docs/ref/api.md`, `GET /metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    UptimeSeconds,
    Events,
    BusLaggedEvents,
    ConfigReloads,
    Cameras,
    ApiRequests,
    ApiConnections,
    ApiConnectionsRefused,
    PolicyDecisions,
    RecordingBytes,
    RecordingSegments,
    RecordingFramesDropped,
    CameraReconnects,
    StorageBytes,
    StorageFreeBytes,
    MqttMessages,
    RelayRequests,
    RelayReplies,
    RelayUploads,
    RelaySharedBytes,
    MqttCommands,
    RetentionDeleted,
}

impl Metric {
    /// Every family, in the order `GET /metrics` lists them.
    pub const ALL: [Metric; 22] = [
        Self::UptimeSeconds,
        Self::Events,
        Self::BusLaggedEvents,
        Self::ConfigReloads,
        Self::Cameras,
        Self::ApiRequests,
        Self::ApiConnections,
        Self::ApiConnectionsRefused,
        Self::PolicyDecisions,
        Self::RecordingBytes,
        Self::RecordingSegments,
        Self::RecordingFramesDropped,
        Self::CameraReconnects,
        Self::StorageBytes,
        Self::StorageFreeBytes,
        Self::MqttMessages,
        Self::RelayRequests,
        Self::RelayReplies,
        Self::RelayUploads,
        Self::RelaySharedBytes,
        Self::MqttCommands,
        Self::RetentionDeleted,
    ];

    /// The family's name in the exposition.
    pub fn name(self) -> &'static str {
        self.family().0
    }

    pub fn kind(self) -> Kind {
        self.family().1
    }

    /// The `# HELP` text.
    pub fn help(self) -> &'static str {
        self.family().2
    }

    /// The label names of every series of this family, in the order they are written.
    pub fn labels(self) -> &'static [Label] {
        self.family().3
    }

    fn family(self) -> (&'static str, Kind, &'static str, &'static [Label]) {
        use Kind::{Counter, Gauge};
        match self {
            Self::UptimeSeconds => {
                ("porchlight_uptime_seconds", Gauge, "Seconds since the daemon started.", &[])
            }
            Self::Events => {
                ("porchlight_events_total", Counter, "Events published on the bus, by kind.", &[Label::Kind])
            }
            Self::BusLaggedEvents => (
                "porchlight_bus_lagged_events_total",
                Counter,
                "Events a slow bus subscriber missed, by subscriber.",
                &[Label::Subscriber],
            ),
            Self::ConfigReloads => (
                "porchlight_config_reloads_total",
                Counter,
                "Config reloads, by result (applied, unchanged, rejected).",
                &[Label::Result],
            ),
            Self::Cameras => {
                ("porchlight_cameras", Gauge, "Cameras in the running config, by state.", &[Label::State])
            }
            Self::ApiRequests => (
                "porchlight_api_requests_total",
                Counter,
                "HTTP API requests, by route and status code.",
                &[Label::Route, Label::Code],
            ),
            Self::ApiConnections => ("porchlight_api_connections", Gauge, "Open HTTP API connections.", &[]),
            Self::ApiConnectionsRefused => (
                "porchlight_api_connections_refused_total",
                Counter,
                "HTTP API connections closed at once because a limit was reached, by limit (max_connections, max_connections_per_client).",
                &[Label::Limit],
            ),
            Self::PolicyDecisions => (
                "porchlight_policy_decisions_total",
                Counter,
                "Sharing requests decided, by final decision.",
                &[Label::Decision],
            ),
            Self::RecordingBytes => (
                "porchlight_recording_bytes_total",
                Counter,
                "Bytes of video and audio made durable on disk, by camera.",
                &[Label::Camera],
            ),
            Self::RecordingSegments => (
                "porchlight_recording_segments_total",
                Counter,
                "Segment files finished, by camera.",
                &[Label::Camera],
            ),
            Self::RecordingFramesDropped => (
                "porchlight_recording_frames_dropped_total",
                Counter,
                "Frames not recorded, by camera and reason (waiting_for_keyframe, disk, backlog, no_audio_track, pre_roll_full).",
                &[Label::Camera, Label::Reason],
            ),
            Self::CameraReconnects => (
                "porchlight_camera_reconnects_total",
                Counter,
                "RTSP sessions that ended and were retried, by camera.",
                &[Label::Camera],
            ),
            Self::StorageBytes => (
                "porchlight_storage_bytes",
                Gauge,
                "Bytes of recordings in the index, by camera.",
                &[Label::Camera],
            ),
            Self::StorageFreeBytes => {
                ("porchlight_storage_free_bytes", Gauge, "Free bytes on the recordings filesystem.", &[])
            }
            Self::MqttMessages => (
                "porchlight_mqtt_messages_total",
                Counter,
                "MQTT messages handed to the broker connection (result=sent) or dropped from the full queue while the broker was away (result=dropped).",
                &[Label::Result],
            ),
            Self::RelayRequests => (
                "porchlight_relay_requests_total",
                Counter,
                "Requests from the relay center, by result (taken, malformed).",
                &[Label::Result],
            ),
            Self::RelayReplies => (
                "porchlight_relay_replies_total",
                Counter,
                "Decisions delivered to the relay center, by decision.",
                &[Label::Decision],
            ),
            Self::RelayUploads => (
                "porchlight_relay_uploads_total",
                Counter,
                "Clips and snapshots uploaded to the relay center (granted, or shared by the resident), by result (sent, failed).",
                &[Label::Result],
            ),
            Self::RelaySharedBytes => (
                "porchlight_relay_shared_bytes_total",
                Counter,
                "Bytes of footage uploaded to the relay center.",
                &[Label::Kind],
            ),
            Self::MqttCommands => (
                "porchlight_mqtt_commands_total",
                Counter,
                "MQTT commands received, by result (ok, refused).",
                &[Label::Result],
            ),
            Self::RetentionDeleted => (
                "porchlight_retention_deleted_total",
                Counter,
                "Segments deleted by retention, by reason (max_age, max_bytes, min_free_bytes, disk_full).",
                &[Label::Reason],
            ),
        }
    }
}

/// A series' labels: names and values, in the order they are written.
type Labels = Vec<(&'static str, String)>;

#[derive(Debug, Clone, Default)]
pub struct Metrics {
    inner: Arc<Mutex<BTreeMap<(&'static str, Labels), f64>>>,
}

fn key(metric: Metric, labels: &[(Label, &str)]) -> (&'static str, Labels) {
    debug_assert!(
        labels.iter().map(|(l, _)| *l).eq(metric.labels().iter().copied()),
        "{} has the labels {:?}",
        metric.name(),
        metric.labels()
    );
    (metric.name(), labels.iter().map(|(k, v)| (k.name(), (*v).to_owned())).collect())
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn inc(&self, metric: Metric, labels: &[(Label, &str)]) {
        self.add(metric, labels, 1);
    }

    pub fn add(&self, metric: Metric, labels: &[(Label, &str)], n: u64) {
        let mut m = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        *m.entry(key(metric, labels)).or_insert(0.0) += n as f64;
    }

    pub fn set(&self, metric: Metric, labels: &[(Label, &str)], value: f64) {
        let mut m = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        m.insert(key(metric, labels), value);
    }

    /// Removes every series of `metric` (before setting a gauge's new label set).
    pub fn clear(&self, metric: Metric) {
        let mut m = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        m.retain(|(n, _), _| *n != metric.name());
    }

    /// A counter's value (0 if never touched).
    pub fn get(&self, metric: Metric, labels: &[(Label, &str)]) -> u64 {
        let m = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        m.get(&key(metric, labels)).copied().unwrap_or(0.0) as u64
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let m = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = String::new();
        for metric in Metric::ALL {
            let family = metric.name();
            let _ = writeln!(out, "# HELP {family} {}", metric.help());
            let _ = writeln!(out, "# TYPE {family} {}", metric.kind().as_str());
            for ((name, labels), value) in m.iter().filter(|((n, _), _)| *n == family) {
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
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn renders_help_type_and_escaped_labels() {
        let m = Metrics::new();
        m.inc(Metric::Events, &[(Label::Kind, "motion_start")]);
        m.add(Metric::Events, &[(Label::Kind, "motion_start")], 2);
        m.inc(Metric::BusLaggedEvents, &[(Label::Subscriber, "a\"b\\c\nd")]);
        m.set(Metric::UptimeSeconds, &[], 12.5);
        let text = m.render();
        assert!(text.contains("# TYPE porchlight_events_total counter\n"));
        assert!(text.contains("porchlight_events_total{kind=\"motion_start\"} 3\n"), "{text}");
        assert!(text.contains(r#"porchlight_bus_lagged_events_total{subscriber="a\"b\\c\nd"} 1"#), "{text}");
        assert!(text.contains("porchlight_uptime_seconds 12.5\n"));
        assert_eq!(m.get(Metric::Events, &[(Label::Kind, "motion_start")]), 3);
    }

    #[test]
    fn clear_removes_only_that_family() {
        let m = Metrics::new();
        m.set(Metric::Cameras, &[(Label::State, "enabled")], 2.0);
        m.set(Metric::StorageBytes, &[(Label::Camera, "front")], 5.0);
        m.clear(Metric::Cameras);
        let text = m.render();
        assert!(!text.contains("porchlight_cameras{"), "{text}");
        assert!(text.contains("porchlight_storage_bytes{camera=\"front\"} 5\n"), "{text}");
    }

    /// The exposition of one value in every family, byte for byte: families in their fixed
    /// order, each with `# HELP` and `# TYPE`, series sorted by label values.
    #[test]
    fn exposition_is_byte_exact() {
        let m = Metrics::new();
        m.set(Metric::UptimeSeconds, &[], 6.639044947);
        m.inc(Metric::Events, &[(Label::Kind, "motion_start")]);
        m.add(Metric::Events, &[(Label::Kind, "config_reloaded")], 3);
        m.add(Metric::BusLaggedEvents, &[(Label::Subscriber, "a\"b\\c\nd")], 7);
        m.inc(Metric::ConfigReloads, &[(Label::Result, "unchanged")]);
        m.inc(Metric::ConfigReloads, &[(Label::Result, "applied")]);
        m.set(Metric::Cameras, &[(Label::State, "enabled")], 2.0);
        m.set(Metric::Cameras, &[(Label::State, "disabled")], 0.0);
        m.inc(Metric::ApiRequests, &[(Label::Route, "/api/health"), (Label::Code, "200")]);
        m.inc(Metric::ApiRequests, &[(Label::Route, "/api/cameras"), (Label::Code, "401")]);
        m.set(Metric::ApiConnections, &[], 3.0);
        m.inc(Metric::ApiConnectionsRefused, &[(Label::Limit, "max_connections")]);
        m.inc(Metric::PolicyDecisions, &[(Label::Decision, "ask")]);
        m.add(Metric::RecordingBytes, &[(Label::Camera, "front")], 1_234_567_890_123);
        m.inc(Metric::RecordingSegments, &[(Label::Camera, "front")]);
        m.add(Metric::RecordingFramesDropped, &[(Label::Camera, "front"), (Label::Reason, "backlog")], 12);
        m.inc(Metric::RecordingFramesDropped, &[(Label::Camera, "back"), (Label::Reason, "disk")]);
        m.inc(Metric::CameraReconnects, &[(Label::Camera, "back")]);
        m.set(Metric::StorageBytes, &[(Label::Camera, "front")], 1e6);
        m.set(Metric::StorageFreeBytes, &[], 50813231104.0);
        m.inc(Metric::MqttMessages, &[(Label::Result, "sent")]);
        m.inc(Metric::RelayRequests, &[(Label::Result, "taken")]);
        m.inc(Metric::RelayReplies, &[(Label::Decision, "allow")]);
        m.inc(Metric::RelayUploads, &[(Label::Result, "failed")]);
        m.add(Metric::RelaySharedBytes, &[(Label::Kind, "clip")], 4096);
        m.inc(Metric::MqttCommands, &[(Label::Result, "refused")]);
        m.add(Metric::RetentionDeleted, &[(Label::Reason, "max_age")], 5);
        assert_eq!(m.render(), EXPOSITION);
    }

    const EXPOSITION: &str = r#"# HELP porchlight_uptime_seconds Seconds since the daemon started.
# TYPE porchlight_uptime_seconds gauge
porchlight_uptime_seconds 6.639044947
# HELP porchlight_events_total Events published on the bus, by kind.
# TYPE porchlight_events_total counter
porchlight_events_total{kind="config_reloaded"} 3
porchlight_events_total{kind="motion_start"} 1
# HELP porchlight_bus_lagged_events_total Events a slow bus subscriber missed, by subscriber.
# TYPE porchlight_bus_lagged_events_total counter
porchlight_bus_lagged_events_total{subscriber="a\"b\\c\nd"} 7
# HELP porchlight_config_reloads_total Config reloads, by result (applied, unchanged, rejected).
# TYPE porchlight_config_reloads_total counter
porchlight_config_reloads_total{result="applied"} 1
porchlight_config_reloads_total{result="unchanged"} 1
# HELP porchlight_cameras Cameras in the running config, by state.
# TYPE porchlight_cameras gauge
porchlight_cameras{state="disabled"} 0
porchlight_cameras{state="enabled"} 2
# HELP porchlight_api_requests_total HTTP API requests, by route and status code.
# TYPE porchlight_api_requests_total counter
porchlight_api_requests_total{route="/api/cameras",code="401"} 1
porchlight_api_requests_total{route="/api/health",code="200"} 1
# HELP porchlight_api_connections Open HTTP API connections.
# TYPE porchlight_api_connections gauge
porchlight_api_connections 3
# HELP porchlight_api_connections_refused_total HTTP API connections closed at once because a limit was reached, by limit (max_connections, max_connections_per_client).
# TYPE porchlight_api_connections_refused_total counter
porchlight_api_connections_refused_total{limit="max_connections"} 1
# HELP porchlight_policy_decisions_total Sharing requests decided, by final decision.
# TYPE porchlight_policy_decisions_total counter
porchlight_policy_decisions_total{decision="ask"} 1
# HELP porchlight_recording_bytes_total Bytes of video and audio made durable on disk, by camera.
# TYPE porchlight_recording_bytes_total counter
porchlight_recording_bytes_total{camera="front"} 1234567890123
# HELP porchlight_recording_segments_total Segment files finished, by camera.
# TYPE porchlight_recording_segments_total counter
porchlight_recording_segments_total{camera="front"} 1
# HELP porchlight_recording_frames_dropped_total Frames not recorded, by camera and reason (waiting_for_keyframe, disk, backlog, no_audio_track, pre_roll_full).
# TYPE porchlight_recording_frames_dropped_total counter
porchlight_recording_frames_dropped_total{camera="back",reason="disk"} 1
porchlight_recording_frames_dropped_total{camera="front",reason="backlog"} 12
# HELP porchlight_camera_reconnects_total RTSP sessions that ended and were retried, by camera.
# TYPE porchlight_camera_reconnects_total counter
porchlight_camera_reconnects_total{camera="back"} 1
# HELP porchlight_storage_bytes Bytes of recordings in the index, by camera.
# TYPE porchlight_storage_bytes gauge
porchlight_storage_bytes{camera="front"} 1000000
# HELP porchlight_storage_free_bytes Free bytes on the recordings filesystem.
# TYPE porchlight_storage_free_bytes gauge
porchlight_storage_free_bytes 50813231104
# HELP porchlight_mqtt_messages_total MQTT messages handed to the broker connection (result=sent) or dropped from the full queue while the broker was away (result=dropped).
# TYPE porchlight_mqtt_messages_total counter
porchlight_mqtt_messages_total{result="sent"} 1
# HELP porchlight_relay_requests_total Requests from the relay center, by result (taken, malformed).
# TYPE porchlight_relay_requests_total counter
porchlight_relay_requests_total{result="taken"} 1
# HELP porchlight_relay_replies_total Decisions delivered to the relay center, by decision.
# TYPE porchlight_relay_replies_total counter
porchlight_relay_replies_total{decision="allow"} 1
# HELP porchlight_relay_uploads_total Clips and snapshots uploaded to the relay center (granted, or shared by the resident), by result (sent, failed).
# TYPE porchlight_relay_uploads_total counter
porchlight_relay_uploads_total{result="failed"} 1
# HELP porchlight_relay_shared_bytes_total Bytes of footage uploaded to the relay center.
# TYPE porchlight_relay_shared_bytes_total counter
porchlight_relay_shared_bytes_total{kind="clip"} 4096
# HELP porchlight_mqtt_commands_total MQTT commands received, by result (ok, refused).
# TYPE porchlight_mqtt_commands_total counter
porchlight_mqtt_commands_total{result="refused"} 1
# HELP porchlight_retention_deleted_total Segments deleted by retention, by reason (max_age, max_bytes, min_free_bytes, disk_full).
# TYPE porchlight_retention_deleted_total counter
porchlight_retention_deleted_total{reason="max_age"} 5
"#;

    /// The `GET /metrics` table in docs/ref/api.md: one row per family, with its type and the
    /// names of its labels (the first backquoted words of the labels column that are label names).
    fn documented() -> Vec<(String, String, BTreeSet<String>)> {
        let docs = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/ref/api.md"),
        )
        .expect("docs/ref/api.md");
        let section = docs.split("## `GET /metrics`").nth(1).expect("the GET /metrics section");
        let names: BTreeSet<&str> = Label::ALL.iter().map(|l| l.name()).collect();
        section
            .lines()
            .skip_while(|l| !l.starts_with("| Family |"))
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .map(|row| {
                let cells: Vec<&str> = row.split(" | ").collect();
                let family = cells[0].trim_start_matches("| ").trim_matches('`').to_owned();
                let labels = cells[2]
                    .split('`')
                    .skip(1)
                    .step_by(2)
                    .filter(|w| names.contains(w))
                    .map(str::to_owned)
                    .collect();
                (family, cells[1].to_owned(), labels)
            })
            .collect()
    }

    #[test]
    fn every_metric_is_documented_and_every_documented_metric_exists() {
        let docs = documented();
        let documented: BTreeSet<&str> = docs.iter().map(|(f, _, _)| f.as_str()).collect();
        let known: BTreeSet<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
        assert_eq!(documented, known, "docs/ref/api.md (left) and Metric::ALL (right) differ");
        for (family, kind, labels) in &docs {
            let Some(m) = Metric::ALL.iter().find(|m| m.name() == family) else { continue };
            assert_eq!(kind, m.kind().as_str(), "type of {family} in docs/ref/api.md");
            let own: BTreeSet<String> = m.labels().iter().map(|l| l.name().to_owned()).collect();
            assert_eq!(labels, &own, "labels of {family} in docs/ref/api.md");
        }
    }

    #[test]
    fn names_are_distinct() {
        let names: BTreeSet<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
        assert_eq!(names.len(), Metric::ALL.len());
        let labels: BTreeSet<&str> = Label::ALL.iter().map(|l| l.name()).collect();
        assert_eq!(labels.len(), Label::ALL.len());
    }
}

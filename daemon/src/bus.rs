//! The event bus: one typed [`Event`] stream, fanned out to every subscriber.
//!
//! Producers never wait: the bus is a bounded ring (tokio `broadcast`). A subscriber that falls
//! behind by more than the ring's capacity misses the oldest events; the miss is counted in
//! `porchlight_bus_lagged_events_total{subscriber=...}` and logged, and the subscriber carries on
//! with the newest events.
//!
//! The bus also holds the newest events (as many as the ring) so that a subscriber can start a
//! little in the past: `GET /api/events` replays them to a client that reconnects with
//! `Last-Event-ID` or asks `?from=<seq>`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use serde::Serialize;
use tokio::sync::broadcast;

use crate::metrics::{Label, Metric, Metrics};

/// Events in the ring before the slowest subscriber starts missing them.
pub const DEFAULT_CAPACITY: usize = 1024;

/// Something that happened, with when and (if it concerns one) which camera.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Increases by one per event published on this bus; gaps seen by a subscriber are missed events.
    pub seq: u64,
    /// Wall-clock time (may jump if the system clock is set).
    pub time: jiff::Timestamp,
    /// Monotonic time since the bus started; never jumps.
    #[serde(serialize_with = "ser_mono")]
    pub mono: Instant,
    #[serde(skip)]
    pub epoch: Instant,
    pub camera: Option<String>,
    #[serde(flatten)]
    pub kind: EventKind,
}

fn ser_mono<S: serde::Serializer>(_: &Instant, s: S) -> Result<S::Ok, S::Error> {
    // Replaced in `Event::to_json`; a bare Instant has no meaning outside the process.
    s.serialize_none()
}

impl Event {
    /// Milliseconds since the bus started, on the monotonic clock.
    pub fn uptime_ms(&self) -> u64 {
        u64::try_from(self.mono.duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    /// The event as a JSON object: `{seq, time, uptime_ms, camera, type, ...}`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let Some(obj) = v.as_object_mut() {
            obj.remove("mono");
            obj.insert("uptime_ms".into(), self.uptime_ms().into());
        }
        v
    }
}

/// What happened. `type` in JSON is the snake_case variant name (also the metrics label).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    CameraOnline,
    CameraOffline {
        reason: String,
    },
    MotionStart,
    MotionEnd,
    DoorbellPress,
    Tamper,
    /// An alarm at the camera (e.g. from an alarm panel, through the API).
    Alarm,
    SegmentClosed {
        path: String,
        bytes: u64,
        start: jiff::Timestamp,
        end: jiff::Timestamp,
    },
    StoragePressure {
        free_bytes: u64,
        message: String,
    },
    RequestReceived {
        request_id: String,
        requester: String,
    },
    DecisionMade {
        request_id: String,
        decision: String,
        reason: String,
    },
    /// A policy said `ask`: the request waits for the resident until `expires`.
    RequestPending {
        request_id: String,
        requester: String,
        prompt: String,
        expires: jiff::Timestamp,
    },
    PrivacyChanged {
        on: bool,
        by: String,
    },
    /// The hub mode changed (`home`, `away`, `night`, `vacation`).
    ModeChanged {
        mode: String,
        by: String,
    },
    RelayStarted {
        request_id: String,
    },
    RelayStopped {
        request_id: String,
        reason: String,
    },
    ConfigReloaded {
        outcome: ReloadOutcome,
        changes: Vec<String>,
        problems: Vec<String>,
    },
    PluginLoaded {
        plugin: String,
        sha256: String,
    },
    PluginRejected {
        plugin: String,
        reason: String,
    },
    /// An ONVIF device answered a discovery probe for the first time since the daemon started.
    DeviceDiscovered {
        endpoint: String,
        onvif_url: Option<String>,
        name: Option<String>,
        model: Option<String>,
        doorbell: bool,
        /// Whether a configured camera already has this device's address as its `onvif_url`.
        configured: bool,
        /// The camera name it was adopted under (`discovery.adopt = true`, or
        /// `[mqtt.ring] adopt = true` for a Ring device).
        adopted: Option<String>,
        /// A device announced by a bridge (ring-mqtt): the stream it offers (no credentials).
        #[serde(skip_serializing_if = "Option::is_none")]
        rtsp_url: Option<String>,
    },
    /// A device announced before said Bye (it is shutting down or leaving the network). The
    /// event's camera is the one it is (adopted, or configured at its address), if any.
    DeviceLeft {
        endpoint: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReloadOutcome {
    Applied,
    Rejected,
}

impl EventKind {
    /// The snake_case name used in JSON `type` and the `kind` metrics label.
    pub fn name(&self) -> &'static str {
        match self {
            Self::CameraOnline => "camera_online",
            Self::CameraOffline { .. } => "camera_offline",
            Self::MotionStart => "motion_start",
            Self::MotionEnd => "motion_end",
            Self::DoorbellPress => "doorbell_press",
            Self::Tamper => "tamper",
            Self::Alarm => "alarm",
            Self::SegmentClosed { .. } => "segment_closed",
            Self::StoragePressure { .. } => "storage_pressure",
            Self::RequestReceived { .. } => "request_received",
            Self::DecisionMade { .. } => "decision_made",
            Self::RequestPending { .. } => "request_pending",
            Self::PrivacyChanged { .. } => "privacy_changed",
            Self::ModeChanged { .. } => "mode_changed",
            Self::RelayStarted { .. } => "relay_started",
            Self::RelayStopped { .. } => "relay_stopped",
            Self::ConfigReloaded { .. } => "config_reloaded",
            Self::PluginLoaded { .. } => "plugin_loaded",
            Self::PluginRejected { .. } => "plugin_rejected",
            Self::DeviceDiscovered { .. } => "device_discovered",
            Self::DeviceLeft { .. } => "device_left",
        }
    }
}

/// The bus. Cheap to clone; every clone publishes into the same ring.
#[derive(Debug, Clone)]
pub struct Bus {
    tx: broadcast::Sender<Arc<Event>>,
    held: Arc<Mutex<Held>>,
    epoch: Instant,
    metrics: Metrics,
}

/// The next sequence number and the newest events, behind one lock so that a subscriber that
/// starts in the past sees every event exactly once: those held, then those sent.
#[derive(Debug)]
struct Held {
    next_seq: u64,
    recent: VecDeque<Arc<Event>>,
    capacity: usize,
}

/// Where a new subscriber starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// With the next event published.
    Now,
    /// With the held event whose `seq` is this one, or the oldest held after it. A `seq` this bus
    /// has not reached (a client that remembers an earlier run of the daemon) starts with the
    /// oldest held event.
    From(u64),
}

impl Bus {
    pub fn new(capacity: usize, metrics: Metrics) -> Self {
        let capacity = capacity.max(1);
        let (tx, _) = broadcast::channel(capacity);
        let held = Held { next_seq: 0, recent: VecDeque::with_capacity(capacity), capacity };
        Self { tx, held: Arc::new(Mutex::new(held)), epoch: Instant::now(), metrics }
    }

    /// Publishes an event. Never blocks on a subscriber and never fails: with no subscribers it is
    /// only counted and held.
    pub fn publish(&self, camera: Option<&str>, kind: EventKind) -> Arc<Event> {
        self.metrics.inc(Metric::Events, &[(Label::Kind, kind.name())]);
        let event = {
            let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
            let event = Arc::new(Event {
                seq: held.next_seq,
                time: jiff::Timestamp::now(),
                mono: Instant::now(),
                epoch: self.epoch,
                camera: camera.map(str::to_owned),
                kind,
            });
            held.next_seq += 1;
            if held.recent.len() == held.capacity {
                held.recent.pop_front();
            }
            held.recent.push_back(Arc::clone(&event));
            // An error only means nobody is subscribed right now.
            let _ = self.tx.send(Arc::clone(&event));
            event
        };
        tracing::debug!(seq = event.seq, kind = event.kind.name(), camera = ?event.camera, "Event");
        event
    }

    /// A new subscriber that starts at `start`: the held events it asked for (oldest first),
    /// and the subscriber that receives every event published after them.
    pub fn subscribe_at(&self, name: &str, start: Start) -> (Vec<Arc<Event>>, Subscriber) {
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let past = match start {
            Start::Now => Vec::new(),
            Start::From(seq) if seq > held.next_seq => held.recent.iter().cloned().collect(),
            Start::From(seq) => held.recent.iter().filter(|e| e.seq >= seq).cloned().collect(),
        };
        (past, self.subscribe(name))
    }

    /// A new subscriber, named for logs and metrics. It sees events published from now on.
    pub fn subscribe(&self, name: &str) -> Subscriber {
        Subscriber {
            rx: self.tx.subscribe(),
            name: name.to_owned(),
            metrics: self.metrics.clone(),
            lagged: 0,
        }
    }
}

/// One consumer of the bus.
#[derive(Debug)]
pub struct Subscriber {
    rx: broadcast::Receiver<Arc<Event>>,
    name: String,
    metrics: Metrics,
    lagged: u64,
}

impl Subscriber {
    /// The next event, or `None` once every publisher is gone. Missed events (the subscriber was
    /// too slow) are counted, logged, and skipped.
    pub async fn recv(&mut self) -> Option<Arc<Event>> {
        loop {
            match self.rx.recv().await {
                Ok(e) => return Some(e),
                Err(broadcast::error::RecvError::Closed) => return None,
                Err(broadcast::error::RecvError::Lagged(n)) => self.note_lag(n),
            }
        }
    }

    /// The next event if one is ready, without waiting.
    pub fn try_recv(&mut self) -> Option<Arc<Event>> {
        loop {
            match self.rx.try_recv() {
                Ok(e) => return Some(e),
                Err(broadcast::error::TryRecvError::Lagged(n)) => self.note_lag(n),
                Err(_) => return None,
            }
        }
    }

    /// Events this subscriber has missed so far.
    pub fn lagged(&self) -> u64 {
        self.lagged
    }

    fn note_lag(&mut self, n: u64) {
        self.lagged += n;
        self.metrics.add(Metric::BusLaggedEvents, &[(Label::Subscriber, &self.name)], n);
        tracing::warn!(subscriber = %self.name, missed = n, total_missed = self.lagged, "Bus subscriber fell behind; skipped oldest events");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bus(cap: usize) -> (Bus, Metrics) {
        let m = Metrics::new();
        (Bus::new(cap, m.clone()), m)
    }

    #[tokio::test]
    async fn fans_out_to_every_subscriber_in_order() {
        let (bus, _) = bus(16);
        let mut a = bus.subscribe("a");
        let mut b = bus.subscribe("b");
        bus.publish(Some("front"), EventKind::MotionStart);
        bus.publish(Some("front"), EventKind::MotionEnd);
        for s in [&mut a, &mut b] {
            let e1 = s.recv().await.expect("event");
            let e2 = s.recv().await.expect("event");
            assert_eq!(e1.kind, EventKind::MotionStart);
            assert_eq!(e2.kind, EventKind::MotionEnd);
            assert_eq!(e1.camera.as_deref(), Some("front"));
            assert_eq!(e2.seq, e1.seq + 1);
            assert!(e2.mono >= e1.mono);
        }
    }

    /// A subscriber that never reads must not stall producers: publishing far more events than
    /// the ring holds completes, a live subscriber sees everything, and the idle one's miss is
    /// counted exactly.
    #[tokio::test]
    async fn subscriber_that_never_reads_does_not_stall_producers() {
        let (bus, metrics) = bus(64);
        let mut idle = bus.subscribe("idle");
        let mut live = bus.subscribe("live");
        let total = 10_000u64;
        let reader = tokio::spawn(async move {
            let mut n = 0u64;
            let mut last = None;
            while let Some(e) = live.recv().await {
                if let Some(l) = last {
                    assert_eq!(e.seq, l + 1, "live subscriber missed an event");
                }
                last = Some(e.seq);
                n += 1;
                if n == total {
                    break;
                }
            }
            n
        });
        for i in 0..total {
            bus.publish(None, EventKind::DoorbellPress);
            if i % 32 == 0 {
                // Let the live reader keep up; the idle one never gets a turn.
                tokio::task::yield_now().await;
            }
        }
        assert_eq!(reader.await.expect("reader"), total);
        // The idle subscriber only finds out now: it gets the newest 64 and the rest are counted.
        let first = idle.try_recv().expect("newest events still there");
        assert_eq!(idle.lagged(), total - 64);
        assert_eq!(first.seq, total - 64);
        assert_eq!(metrics.get(Metric::BusLaggedEvents, &[(Label::Subscriber, "idle")]), total - 64);
        assert_eq!(metrics.get(Metric::Events, &[(Label::Kind, "doorbell_press")]), total);
    }

    /// A subscriber that starts in the past gets the held events it asked for, then every new
    /// one, each exactly once and in order, even while another thread publishes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_subscriber_can_start_with_held_events_and_misses_none_in_between() {
        let (bus, _) = bus(512);
        for _ in 0..20 {
            bus.publish(None, EventKind::MotionStart);
        }
        let producer = {
            let bus = bus.clone();
            tokio::spawn(async move {
                for _ in 0..200 {
                    bus.publish(None, EventKind::MotionEnd);
                    tokio::task::yield_now().await;
                }
            })
        };
        let (past, mut sub) = bus.subscribe_at("t", Start::From(15));
        let mut want = 15;
        for e in &past {
            assert_eq!(e.seq, want);
            want += 1;
        }
        producer.await.expect("producer");
        while let Some(e) = sub.try_recv() {
            assert_eq!(e.seq, want, "a new event is seen once, right after the held ones");
            want += 1;
        }
        assert_eq!(want, 220, "every event up to the last one");
    }

    #[test]
    fn the_bus_holds_as_many_events_as_its_ring() {
        let (bus, _) = bus(8);
        for _ in 0..20 {
            bus.publish(None, EventKind::MotionStart);
        }
        let seqs = |start| bus.subscribe_at("t", start).0.iter().map(|e| e.seq).collect::<Vec<_>>();
        assert_eq!(seqs(Start::From(14)), (14..20).collect::<Vec<_>>());
        // A seq from before the held ones starts with the oldest held.
        assert_eq!(seqs(Start::From(0)), (12..20).collect::<Vec<_>>());
        // The next seq: nothing held is replayed.
        assert!(seqs(Start::From(20)).is_empty());
        // A seq this bus has not reached (an earlier run of the daemon) gets all held.
        assert_eq!(seqs(Start::From(5_000)), (12..20).collect::<Vec<_>>());
        let (past, mut sub) = bus.subscribe_at("t", Start::Now);
        assert!(past.is_empty());
        bus.publish(None, EventKind::Tamper);
        assert_eq!(sub.try_recv().map(|e| e.seq), Some(20));
    }

    #[test]
    fn event_json_has_type_camera_and_times() {
        let (bus, _) = bus(4);
        let e = bus.publish(Some("porch"), EventKind::CameraOffline { reason: "timeout".into() });
        let j = e.to_json();
        assert_eq!(j["type"], "camera_offline");
        assert_eq!(j["camera"], "porch");
        assert_eq!(j["reason"], "timeout");
        assert!(j["time"].as_str().is_some_and(|t| t.ends_with('Z')));
        assert!(j["uptime_ms"].is_u64());
        assert!(j.get("mono").is_none());
    }
}

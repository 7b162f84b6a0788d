//! What each camera task is doing ([`CameraState`]), kept by camera name in [`CameraStates`]
//! with each camera's live feed: written by the supervisor (`cameras.rs`) and the camera tasks
//! (this module's parent), read by the API (`GET /api/cameras`, `/api/health`), the `mqtt`
//! task and the relay's live push.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::live::LiveTaps;
use crate::config::{RecordMode, Settings};

/// A camera's state as `GET /api/cameras` and MQTT `<prefix>/<camera>/status` show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraState {
    /// Its task is starting (or has not reported yet).
    Starting,
    /// Asking its ONVIF service for the stream URI.
    Resolving,
    /// Connecting to its stream.
    Connecting,
    Recording,
    /// Its stream cannot be reached or dropped.
    Offline,
    /// `record = "on_event"`: reachable, waiting for an event to open its stream.
    Standby,
    /// It cannot be recorded (no usable stream URI, or its writer failed).
    Error,
    /// `record = "off"`, or paused by the resident.
    Off,
    /// Enabled, but the recording index did not open, so nothing is recorded.
    NotRecording,
    /// `enabled = false` in the config: no task runs.
    Disabled,
}

impl CameraState {
    /// Every state a camera task reports (not `Disabled`, which no task has), in the order
    /// Home Assistant's `enum` sensor lists them as options.
    pub const REPORTED: [Self; 9] = [
        Self::Starting,
        Self::Resolving,
        Self::Connecting,
        Self::Recording,
        Self::Offline,
        Self::Standby,
        Self::Error,
        Self::Off,
        Self::NotRecording,
    ];

    /// The state's name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Resolving => "resolving",
            Self::Connecting => "connecting",
            Self::Recording => "recording",
            Self::Offline => "offline",
            Self::Standby => "standby",
            Self::Error => "error",
            Self::Off => "off",
            Self::NotRecording => "not_recording",
            Self::Disabled => "disabled",
        }
    }

    /// Whether a camera in this state is meant to record but does not.
    fn is_down(self) -> bool {
        match self {
            Self::Starting | Self::Resolving | Self::Connecting | Self::Offline | Self::Error => true,
            Self::Recording | Self::Standby | Self::Off | Self::NotRecording | Self::Disabled => false,
        }
    }
}

impl fmt::Display for CameraState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `GET /api/cameras` shows for one camera. Never holds credentials.
#[derive(Debug, Clone, Serialize)]
pub struct CameraView {
    pub name: String,
    pub enabled: bool,
    pub state: CameraState,
    pub record: RecordMode,
    pub tags: Vec<String>,
    pub rtsp_url: Option<String>,
    pub onvif_url: Option<String>,
    /// Found by discovery and recorded with `discovery.adopt = true`, not from the config file.
    pub adopted: bool,
    /// When the camera's latest keyframe arrived (a still image can be made of it), if one has
    /// since the daemon started.
    pub still_at: Option<jiff::Timestamp>,
}

/// The runtime state of each camera task, by camera name, and each camera's live feed.
#[derive(Debug, Clone, Default)]
pub struct CameraStates {
    inner: Arc<Mutex<BTreeMap<String, Task>>>,
    live: LiveTaps,
    reachable: Reachability,
    slots: OnDemandSlots,
}

/// The streams open on demand (`record = "on_event"`), all cameras together, so a burst of
/// events cannot open more than `storage.max_on_demand_sessions` at once.
#[derive(Debug, Clone)]
pub struct OnDemandSlots {
    open: Arc<tokio::sync::watch::Sender<usize>>,
}

impl Default for OnDemandSlots {
    fn default() -> Self {
        Self { open: Arc::new(tokio::sync::watch::Sender::new(0)) }
    }
}

/// One open on-demand stream; the slot is free again when dropped.
#[derive(Debug)]
pub struct OnDemandSlot {
    open: Arc<tokio::sync::watch::Sender<usize>>,
}

impl Drop for OnDemandSlot {
    fn drop(&mut self) {
        self.open.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl OnDemandSlots {
    /// Waits until fewer than `limit` streams are open, then takes a slot.
    pub async fn take(&self, limit: usize) -> OnDemandSlot {
        let mut rx = self.open.subscribe();
        loop {
            // Seen before the try, so a slot freed after it wakes the wait below.
            rx.borrow_and_update();
            let mut taken = false;
            self.open.send_if_modified(|n| {
                taken = *n < limit;
                if taken {
                    *n += 1;
                }
                taken
            });
            if taken {
                return OnDemandSlot { open: Arc::clone(&self.open) };
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Streams open now.
    pub fn open(&self) -> usize {
        *self.open.borrow()
    }
}

/// What a bridge says about cameras it serves (ring-mqtt's device `status`, or its silence):
/// `Some(reason)` while a camera is unreachable through it. Written by the `mqtt` task, read by
/// on-demand camera tasks, which show the camera offline instead of waiting for an event.
#[derive(Debug, Clone)]
pub struct Reachability {
    tx: Arc<tokio::sync::watch::Sender<BTreeMap<String, String>>>,
}

impl Default for Reachability {
    fn default() -> Self {
        Self { tx: Arc::new(tokio::sync::watch::Sender::new(BTreeMap::new())) }
    }
}

impl Reachability {
    /// `camera` is unreachable (`Some(why)`) or reachable again (`None`).
    pub fn set(&self, camera: &str, unreachable: Option<&str>) {
        self.tx.send_if_modified(|m| match unreachable {
            Some(why) if m.get(camera).map(String::as_str) != Some(why) => {
                m.insert(camera.to_owned(), why.to_owned());
                true
            }
            None => m.remove(camera).is_some(),
            Some(_) => false,
        });
    }

    /// Why `camera` is unreachable, if a bridge says so.
    pub fn why(&self, camera: &str) -> Option<String> {
        self.tx.borrow().get(camera).cloned()
    }

    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<BTreeMap<String, String>> {
        self.tx.subscribe()
    }
}

/// One camera task's state, and since when it has been trying to record without recording.
#[derive(Debug, Clone, Copy)]
struct Task {
    state: CameraState,
    down_since: Option<Instant>,
}

impl CameraStates {
    /// The cameras' live feeds (fed by their ingest while they stream).
    pub fn live(&self) -> &LiveTaps {
        &self.live
    }

    /// The on-demand streams open now, shared by every camera task.
    pub fn on_demand(&self) -> &OnDemandSlots {
        &self.slots
    }

    /// What bridges say about the cameras they serve.
    pub fn reachable(&self) -> &Reachability {
        &self.reachable
    }

    /// Every camera of `settings` (the running config) with its task's state: the list follows
    /// the config at once; the state follows the task.
    pub fn view(&self, settings: &Settings) -> Vec<CameraView> {
        let states = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        settings
            .cameras
            .iter()
            .map(|c| CameraView {
                name: c.name.clone(),
                enabled: c.enabled,
                state: if c.enabled {
                    states.get(&c.name).map_or(CameraState::Starting, |t| t.state)
                } else {
                    CameraState::Disabled
                },
                record: c.record,
                tags: c.tags.clone(),
                // Validation moved any credentials out of the URLs.
                rtsp_url: c.rtsp_url.as_ref().map(ToString::to_string),
                onvif_url: c.onvif_url.as_ref().map(ToString::to_string),
                adopted: c.adopted,
                still_at: self.live.latest_keyframe(&c.name).map(|k| k.at),
            })
            .collect()
    }

    pub fn set(&self, name: &str, state: CameraState) {
        let mut states = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let since = states.get(name).and_then(|t| t.down_since);
        let down_since = state.is_down().then(|| since.unwrap_or_else(Instant::now));
        states.insert(name.to_owned(), Task { state, down_since });
    }

    /// Enabled cameras of `settings` that have been meant to record but not recording for
    /// longer than `grace`, with their state and for how long (whole seconds).
    pub fn down_for(&self, settings: &Settings, grace: Duration) -> Vec<(String, CameraState, u64)> {
        let states = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        settings
            .cameras
            .iter()
            .filter(|c| c.enabled)
            .filter_map(|c| {
                let t = states.get(&c.name)?;
                let down = t.down_since?.elapsed();
                (down > grace).then(|| (c.name.clone(), t.state, down.as_secs()))
            })
            .collect()
    }

    /// Forgets a camera whose task stopped.
    pub fn remove(&self, name: &str) {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).remove(name);
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn a_camera_is_down_from_when_it_stopped_recording_until_it_records_again() {
        let states = CameraStates::default();
        let text = "[hub]\ndata_dir = \"/tmp/x\"\n\
            [[camera]]\nname = \"door\"\nrtsp_url = \"rtsp://127.0.0.1:9/a\"\n\
            [[camera]]\nname = \"yard\"\nrtsp_url = \"rtsp://127.0.0.1:9/b\"\n\
            [[camera]]\nname = \"shed\"\nrtsp_url = \"rtsp://127.0.0.1:9/c\"\nenabled = false\n";
        let env = crate::config::Env::from_pairs([("HOME", "/tmp")]);
        let settings = crate::config::parse(Path::new("/tmp/c.toml"), text.to_owned(), &env).expect("config");
        let none = Duration::ZERO;
        states.set("door", CameraState::Connecting);
        states.set("yard", CameraState::Recording);
        states.set("shed", CameraState::Offline);
        std::thread::sleep(Duration::from_millis(5));
        states.set("door", CameraState::Offline);
        let down = states.down_for(&settings, none);
        assert_eq!(
            down.iter().map(|(n, s, _)| (n.as_str(), *s)).collect::<Vec<_>>(),
            [("door", CameraState::Offline)]
        );
        // Flapping between connecting and offline keeps the first moment it went down.
        assert!(states.down_for(&settings, Duration::from_millis(4)).len() == 1);
        states.set("door", CameraState::Recording);
        assert!(states.down_for(&settings, none).is_empty());
        states.set("yard", CameraState::Off);
        assert!(states.down_for(&settings, none).is_empty(), "a camera switched off is not down");
    }

    /// The JSON of `GET /api/cameras` and the MQTT status payload are the names the API and
    /// Home Assistant have always seen.
    #[test]
    fn states_serialize_as_their_names() {
        let all = [CameraState::Disabled].into_iter().chain(CameraState::REPORTED);
        let names: Vec<String> = all
            .map(|s| serde_json::to_value(s).expect("json").as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(
            names,
            [
                "disabled",
                "starting",
                "resolving",
                "connecting",
                "recording",
                "offline",
                "standby",
                "error",
                "off",
                "not_recording"
            ]
        );
        for s in CameraState::REPORTED {
            assert_eq!(serde_json::to_value(s).expect("json"), s.as_str());
            assert_eq!(s.to_string(), s.as_str());
        }
    }

    /// Home Assistant refuses a state its `enum` sensor does not list: every state but
    /// `Disabled` is reported by a task, so each must be in `REPORTED` (a new state fails to
    /// compile here until it is sorted into one arm).
    #[test]
    fn every_task_state_is_reported() {
        for s in CameraState::REPORTED.into_iter().chain([CameraState::Disabled]) {
            match s {
                CameraState::Disabled => assert!(!CameraState::REPORTED.contains(&s)),
                CameraState::Starting
                | CameraState::Resolving
                | CameraState::Connecting
                | CameraState::Recording
                | CameraState::Offline
                | CameraState::Standby
                | CameraState::Error
                | CameraState::Off
                | CameraState::NotRecording => {
                    assert_eq!(CameraState::REPORTED.iter().filter(|r| **r == s).count(), 1, "{s}")
                }
            }
        }
    }
}

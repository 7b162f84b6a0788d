//! The camera supervisor: one task per enabled camera, started, stopped and restarted as the
//! config changes. The per-camera task is where ingest and recording live (the recording work
//! fills it in); today it holds the camera's place, state and span.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::bus::Bus;
use crate::config::{CameraSettings, RecordMode, Settings};
use crate::health::{Health, State};
use crate::metrics::Metrics;

/// What `GET /api/cameras` shows for one camera. Never holds credentials.
#[derive(Debug, Clone, Serialize)]
pub struct CameraView {
    pub name: String,
    pub enabled: bool,
    pub state: &'static str,
    pub record: RecordMode,
    pub tags: Vec<String>,
    pub rtsp_url: Option<String>,
    pub onvif_url: Option<String>,
}

/// The runtime state of each camera task, by camera name.
#[derive(Debug, Clone, Default)]
pub struct CameraStates {
    inner: Arc<Mutex<BTreeMap<String, &'static str>>>,
}

impl CameraStates {
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
                    states.get(&c.name).copied().unwrap_or("starting")
                } else {
                    "disabled"
                },
                record: c.record,
                tags: c.tags.clone(),
                // Validation moved any credentials out of the URLs.
                rtsp_url: c.rtsp_url.as_ref().map(ToString::to_string),
                onvif_url: c.onvif_url.as_ref().map(ToString::to_string),
            })
            .collect()
    }

    fn set(&self, name: &str, state: &'static str) {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).insert(name.to_owned(), state);
    }

    fn remove(&self, name: &str) {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).remove(name);
    }
}

struct Running {
    settings: CameraSettings,
    cancel: CancellationToken,
    done: tokio::task::JoinHandle<()>,
}

/// Keeps one task per enabled camera in line with the current settings until `cancel` fires,
/// then stops them all.
pub async fn supervise(
    mut settings: watch::Receiver<Arc<Settings>>,
    bus: Bus,
    health: Health,
    metrics: Metrics,
    states: CameraStates,
    cancel: CancellationToken,
) {
    let tracker = TaskTracker::new();
    let mut running: HashMap<String, Running> = HashMap::new();
    loop {
        let current = settings.borrow_and_update().clone();
        reconcile(&current, &mut running, &tracker, &bus, &states, &cancel).await;
        let enabled = current.cameras.iter().filter(|c| c.enabled).count();
        metrics.clear("porchlight_cameras");
        metrics.set("porchlight_cameras", &[("state", "enabled")], enabled as f64);
        metrics.set("porchlight_cameras", &[("state", "disabled")], (current.cameras.len() - enabled) as f64);
        health.set(
            "cameras",
            State::Running,
            format!("{enabled} of {} cameras enabled", current.cameras.len()),
        );
        tokio::select! {
            () = cancel.cancelled() => break,
            changed = settings.changed() => if changed.is_err() { break },
        }
    }
    for (name, r) in running.drain() {
        tracing::debug!(camera = %name, "Stopping camera task");
        r.cancel.cancel();
    }
    tracker.close();
    tracker.wait().await;
    health.set("cameras", State::Stopped, "");
}

async fn reconcile(
    settings: &Settings,
    running: &mut HashMap<String, Running>,
    tracker: &TaskTracker,
    bus: &Bus,
    states: &CameraStates,
    parent: &CancellationToken,
) {
    // Stop what was removed, disabled or changed.
    let stale: Vec<String> = running
        .iter()
        .filter(|(name, r)| settings.camera(name).is_none_or(|c| !c.enabled || *c != r.settings))
        .map(|(n, _)| n.clone())
        .collect();
    for name in stale {
        if let Some(r) = running.remove(&name) {
            let why = match settings.camera(&name) {
                None => "removed from config",
                Some(c) if !c.enabled => "disabled",
                Some(_) => "config changed",
            };
            tracing::info!(camera = %name, reason = why, "Stopping camera");
            r.cancel.cancel();
            let _ = r.done.await;
            states.remove(&name);
        }
    }
    // Start what is new, enabled or changed.
    for c in &settings.cameras {
        if !c.enabled {
            continue;
        }
        if running.contains_key(&c.name) {
            continue;
        }
        tracing::info!(camera = %c.name, record = ?c.record, "Starting camera");
        let cancel = parent.child_token();
        let span = tracing::info_span!("camera", camera = %c.name);
        states.set(&c.name, "starting");
        let done = tracker
            .spawn(camera_task(c.clone(), bus.clone(), states.clone(), cancel.clone()).instrument(span));
        running.insert(c.name.clone(), Running { settings: c.clone(), cancel, done });
    }
}

/// One camera's task. Recording and ONVIF events plug in here.
async fn camera_task(settings: CameraSettings, _bus: Bus, states: CameraStates, cancel: CancellationToken) {
    tracing::debug!(rtsp_url = ?settings.rtsp_url.as_ref().map(ToString::to_string), "Camera task running");
    states.set(&settings.name, "idle");
    cancel.cancelled().await;
    tracing::debug!("Camera task stopped");
}

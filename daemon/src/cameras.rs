//! The camera supervisor: one task per enabled camera, started, stopped and restarted as the
//! config changes. Each camera task records (`crate::recording::record_camera`): RTSP ingest
//! with reconnects, and a writer thread for its segment files.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::bus::Bus;
use crate::config::{CameraSettings, RecordMode, Settings};
use crate::health::{Health, State, Subsystem};
use crate::metrics::{Label, Metric, Metrics};
use crate::recording::index::Index;
use crate::recording::{CameraState, CameraStates};

/// The resident's runtime recording switch per camera (MQTT `<camera>/record/set`, API): a
/// paused camera records nothing until switched back on, as if `record = "off"`. Kept in
/// `data_dir/state/recording.json`, so a pause survives a restart.
#[derive(Debug, Clone)]
pub struct RecordPause {
    tx: Arc<watch::Sender<BTreeSet<String>>>,
    file: PathBuf,
    lock: Arc<Mutex<()>>,
}

impl RecordPause {
    pub fn open(data_dir: &Path) -> Self {
        let file = data_dir.join("state/recording.json");
        let paused = match std::fs::read(&file) {
            Ok(b) => serde_json::from_slice::<PauseFile>(&b).map(|f| f.paused).unwrap_or_else(|e| {
                tracing::error!(file = %file.display(), error = %e, "Recording switch file is damaged; every camera records");
                BTreeSet::new()
            }),
            Err(_) => BTreeSet::new(),
        };
        if !paused.is_empty() {
            tracing::info!(cameras = ?paused, "Recording is switched off for some cameras");
        }
        Self { tx: Arc::new(watch::channel(paused).0), file, lock: Arc::default() }
    }

    pub fn paused(&self) -> BTreeSet<String> {
        self.tx.borrow().clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<BTreeSet<String>> {
        self.tx.subscribe()
    }

    /// Pauses (or resumes) recording for `camera`. `by` says who, for the log.
    pub fn set(&self, camera: &str, paused: bool, by: &str) {
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        let mut next = self.paused();
        let changed = if paused { next.insert(camera.to_owned()) } else { next.remove(camera) };
        if !changed {
            return;
        }
        tracing::info!(camera, by, "Recording switched {}", if paused { "off" } else { "on" });
        if let Err(e) = crate::files::write_atomically(&self.file, &PauseFile { paused: next.clone() }) {
            tracing::error!(file = %self.file.display(), error = %e, "Cannot store the recording switch; it will not survive a restart");
        }
        self.tx.send_replace(next);
    }

    /// `settings` with paused cameras set to `record = "off"`.
    pub fn apply(&self, settings: &Arc<Settings>) -> Arc<Settings> {
        let paused = self.tx.borrow();
        if !settings.cameras.iter().any(|c| paused.contains(&c.name) && c.record != RecordMode::Off) {
            return Arc::clone(settings);
        }
        let mut s = (**settings).clone();
        for c in &mut s.cameras {
            if paused.contains(&c.name) {
                c.record = RecordMode::Off;
            }
        }
        Arc::new(s)
    }
}

#[derive(Serialize, serde::Deserialize)]
struct PauseFile {
    paused: BTreeSet<String>,
}

struct Running {
    settings: CameraSettings,
    segment_duration: std::time::Duration,
    cancel: CancellationToken,
    done: tokio::task::JoinHandle<()>,
}

/// Keeps one task per enabled camera in line with the current settings until `cancel` fires,
/// then stops them all.
#[allow(clippy::too_many_arguments)]
pub async fn supervise(
    mut settings: watch::Receiver<Arc<Settings>>,
    index: Option<Index>,
    bus: Bus,
    health: Health,
    metrics: Metrics,
    states: CameraStates,
    pause: RecordPause,
    cancel: CancellationToken,
) {
    let tracker = TaskTracker::new();
    let mut running: HashMap<String, Running> = HashMap::new();
    let mut paused = pause.subscribe();
    loop {
        paused.borrow_and_update();
        let current = pause.apply(&settings.borrow_and_update().clone());
        reconcile(&current, &mut running, &tracker, index.as_ref(), &bus, &metrics, &states, &cancel).await;
        let enabled = current.cameras.iter().filter(|c| c.enabled).count();
        metrics.clear(Metric::Cameras);
        metrics.set(Metric::Cameras, &[(Label::State, "enabled")], enabled as f64);
        metrics.set(Metric::Cameras, &[(Label::State, "disabled")], (current.cameras.len() - enabled) as f64);
        health.set(
            Subsystem::Cameras,
            State::Running,
            format!("{enabled} of {} cameras enabled", current.cameras.len()),
        );
        tokio::select! {
            () = cancel.cancelled() => break,
            changed = settings.changed() => if changed.is_err() { break },
            changed = paused.changed() => if changed.is_err() { break },
        }
    }
    for (name, r) in running.drain() {
        tracing::debug!(camera = %name, "Stopping camera task");
        r.cancel.cancel();
    }
    tracker.close();
    tracker.wait().await;
    health.set(Subsystem::Cameras, State::Stopped, "");
}

#[allow(clippy::too_many_arguments)]
async fn reconcile(
    settings: &Arc<Settings>,
    running: &mut HashMap<String, Running>,
    tracker: &TaskTracker,
    index: Option<&Index>,
    bus: &Bus,
    metrics: &Metrics,
    states: &CameraStates,
    parent: &CancellationToken,
) {
    // Stop what was removed, disabled or changed.
    let stale: Vec<String> = running
        .iter()
        .filter(|(name, r)| {
            r.segment_duration != settings.storage.segment_duration
                || settings.camera(name).is_none_or(|c| !c.enabled || *c != r.settings)
        })
        .map(|(n, _)| n.clone())
        .collect();
    for name in stale {
        if let Some(r) = running.remove(&name) {
            let why = match settings.camera(&name) {
                None => "removed from config",
                Some(c) if !c.enabled => "disabled",
                Some(c) if *c == r.settings => "storage.segment_duration changed",
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
        states.set(&c.name, CameraState::Starting);
        let task = camera_task(
            c.clone(),
            Arc::clone(settings),
            index.cloned(),
            bus.clone(),
            metrics.clone(),
            states.clone(),
            cancel.clone(),
        );
        let done = tracker.spawn(task.instrument(span));
        running.insert(
            c.name.clone(),
            Running {
                settings: c.clone(),
                segment_duration: settings.storage.segment_duration,
                cancel,
                done,
            },
        );
    }
}

/// One camera's task: records it, or (without an index) holds its place until stopped.
async fn camera_task(
    camera: CameraSettings,
    settings: Arc<Settings>,
    index: Option<Index>,
    bus: Bus,
    metrics: Metrics,
    states: CameraStates,
    cancel: CancellationToken,
) {
    tracing::debug!(rtsp_url = ?camera.rtsp_url.as_ref().map(ToString::to_string), "Camera task running");
    match index {
        Some(index) => {
            crate::recording::record_camera(camera, settings, index, bus, metrics, states, cancel).await;
        }
        None => {
            states.set(&camera.name, CameraState::NotRecording);
            cancel.cancelled().await;
        }
    }
    tracing::debug!("Camera task stopped");
}

//! Local recording: RTSP ingest ([`ingest`]) feeding one writer thread per camera
//! ([`writer`]) that lays fMP4 segment files ([`segment`]) into the recordings directory and
//! lists them in an SQLite index ([`index`]); crash repair at start-up ([`recover`]); retention
//! ([`retention`]); and clip export ([`export`]). Design and loss bound:
//! `docs/design/recording.md`.

pub mod export;
pub mod fmp4;
pub mod frames;
pub mod index;
pub mod ingest;
pub mod live;
pub mod mp4read;
pub mod on_demand;
pub mod playback;
pub mod reconnect;
pub mod recover;
pub mod retention;
pub mod rtsp;
pub mod segment;
pub mod states;
pub mod writer;
pub mod writes;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::bus::{Bus, EventKind};
use crate::config::{CameraSettings, RecordMode, Settings};
use crate::health::{Health, State, Subsystem};
use crate::metrics::{Label, Metric, Metrics};
use index::{Index, IndexError};
pub use states::{CameraState, CameraStates, CameraView};
use writer::{CameraWriter, Input, WriterSettings};

/// How often each fragment is made durable (the crash-loss bound, plus one frame).
pub const FRAGMENT: Duration = Duration::from_secs(1);
/// Batches (of `ingest::BATCH` each) queued between ingest and a camera's writer before ingest
/// skips to a keyframe: about 3 s.
const WRITER_QUEUE: usize = 32;
/// Upper bound of one camera's pre-roll buffer.
const PRE_ROLL_MAX_BYTES: usize = 32 << 20;
/// How often retention runs at least (it also runs after every segment and storage complaint).
const RETENTION_INTERVAL: Duration = Duration::from_secs(30);

/// The index file, under the data directory.
pub fn index_path(settings: &Settings) -> PathBuf {
    settings.hub.data_dir.join("recordings.sqlite")
}

/// Free bytes for an unprivileged writer on the filesystem holding `dir` (0 if unknown).
pub fn free_bytes(dir: &Path) -> u64 {
    free_bytes_checked(dir).unwrap_or(0)
}

/// Free bytes for an unprivileged writer on the filesystem holding `dir`, if it can be read.
pub fn free_bytes_checked(dir: &Path) -> Option<u64> {
    rustix::fs::statvfs(dir).ok().map(|s| s.f_bavail.saturating_mul(s.f_frsize))
}

/// Size of the filesystem holding `dir` (0 if unknown).
pub fn total_bytes(dir: &Path) -> u64 {
    match rustix::fs::statvfs(dir) {
        Ok(s) => s.f_blocks.saturating_mul(s.f_frsize),
        Err(_) => 0,
    }
}

/// A wall time in milliseconds as RFC 3339.
pub fn fmt_ms(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string())
}

/// Segments and gaps as JSON, the same for `GET /api/recordings` and `recordings list --json`.
pub fn listing_json(segments: &[index::Segment], gaps: &[index::Gap]) -> serde_json::Value {
    let segments: Vec<_> = segments
        .iter()
        .map(|s| {
            serde_json::json!({
                "camera": s.camera,
                "start": fmt_ms(s.start_ms),
                "end": fmt_ms(s.end_ms),
                "start_ms": s.start_ms,
                "end_ms": s.end_ms,
                "bytes": s.bytes,
                "codec": s.codec,
                "width": s.width,
                "height": s.height,
                "audio": s.audio,
                "state": s.state,
                "path": s.path,
            })
        })
        .collect();
    let gaps: Vec<_> = gaps
        .iter()
        .map(|g| {
            serde_json::json!({
                "camera": g.camera,
                "start": fmt_ms(g.start_ms),
                "end": fmt_ms(g.end_ms),
                "start_ms": g.start_ms,
                "end_ms": g.end_ms,
                "reason": g.reason,
            })
        })
        .collect();
    serde_json::json!({ "segments": segments, "gaps": gaps })
}

/// Opens the index, creating the directories, and repairs it against the files.
pub fn open(settings: &Settings) -> Result<(Index, recover::Report), IndexError> {
    let _ = std::fs::create_dir_all(&settings.storage.dir);
    let index = Index::open(&index_path(settings))?;
    let report = recover::recover(&index, &settings.storage.dir);
    Ok((index, report))
}

/// The retention limits of `settings`.
pub fn retention_policy(settings: &Settings) -> retention::Policy {
    retention::Policy {
        max_age: settings
            .cameras
            .iter()
            .map(|c| (c.name.clone(), c.max_age.or(settings.storage.max_age)))
            .collect(),
        default_max_age: settings.storage.max_age,
        max_bytes: settings.storage.max_bytes,
        min_free_bytes: settings.storage.min_free_bytes,
    }
}

/// Runs retention every [`RETENTION_INTERVAL`], after each finished segment and storage
/// pressure, and when the limits change, until `cancel` fires. It also keeps the `storage`
/// health: `degraded` while a camera's writes fail or a limit cannot be met.
pub async fn retention_task(
    index: Index,
    mut settings: watch::Receiver<Arc<Settings>>,
    bus: Bus,
    metrics: Metrics,
    health: Health,
    cancel: CancellationToken,
) {
    let mut events = bus.subscribe("retention");
    let mut failing = index.writes().subscribe();
    let mut tick = tokio::time::interval(RETENTION_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_unmet: Vec<String> = Vec::new();
    let mut usage_detail = String::new();
    loop {
        let mut emergency = false;
        tokio::select! {
            () = cancel.cancelled() => break,
            _ = tick.tick() => {}
            changed = settings.changed() => if changed.is_err() { break },
            changed = failing.changed() => {
                // A camera's writes started or stopped failing: only the health changes.
                if changed.is_err() {
                    break;
                }
                set_storage_health(&health, &index, &last_unmet, &usage_detail);
                continue;
            }
            e = events.recv() => match e {
                // Every finished segment and every storage complaint: the limits are checked as
                // fast as footage arrives, not only on the timer. A camera's complaint means a
                // write failed: free some space now.
                Some(e) if matches!(e.kind, EventKind::SegmentClosed { .. }) => {}
                // Only a writer's complaint (retention's own has no camera) starts a sweep.
                Some(e) if matches!(e.kind, EventKind::StoragePressure { .. }) && e.camera.is_some() => emergency = true,
                Some(_) => continue,
                None => break,
            },
        }
        let current = settings.borrow().clone();
        let policy = retention_policy(&current);
        let dir = current.storage.dir.clone();
        let (idx, m) = (index.clone(), metrics.clone());
        let now = jiff::Timestamp::now().as_millisecond();
        let rate = index.writes().rate(std::time::Instant::now());
        let swept = tokio::task::spawn_blocking(move || {
            let target = emergency.then(|| retention::emergency_target(rate, total_bytes(&dir)));
            let r = retention::sweep(&idx, &dir, &policy, now, target, &m);
            let usage = idx.usage();
            (r, usage, free_bytes(&dir), target)
        })
        .await;
        let Ok((result, usage, free, target)) = swept else { continue };
        metrics.set(Metric::StorageFreeBytes, &[], free as f64);
        if let Ok(usage) = usage {
            metrics.clear(Metric::StorageBytes);
            let mut total = 0;
            for (camera, bytes, _) in usage {
                total += bytes;
                metrics.set(Metric::StorageBytes, &[(Label::Camera, &camera)], bytes as f64);
            }
            usage_detail = format!("{total} bytes recorded, {free} bytes free");
        }
        match result {
            Ok(sweep) => {
                if sweep.deleted > 0 {
                    tracing::info!(
                        deleted = sweep.deleted,
                        freed_bytes = sweep.freed_bytes,
                        "Retention deleted old recordings"
                    );
                }
                if let Some(target) = target {
                    tracing::debug!(
                        rate_bytes_per_sec = rate as u64,
                        target_free_bytes = target,
                        free_bytes = free,
                        "Emergency retention sweep after a failed write"
                    );
                }
                if !sweep.unmet.is_empty() && sweep.unmet != last_unmet {
                    for u in &sweep.unmet {
                        tracing::error!(limit = %u, "Storage limit cannot be met: everything left is pinned or being written");
                    }
                    bus.publish(
                        None,
                        EventKind::StoragePressure { free_bytes: free, message: sweep.unmet.join("; ") },
                    );
                }
                last_unmet = sweep.unmet;
            }
            Err(e) => tracing::error!(error = %e, "Retention failed"),
        }
        set_storage_health(&health, &index, &last_unmet, &usage_detail);
    }
}

/// `storage` health: `degraded` while a camera's writes fail (each camera with its error) or
/// a limit cannot be met, else `running` with the usage.
fn set_storage_health(health: &Health, index: &Index, unmet: &[String], usage: &str) {
    let failing = index.writes().failing();
    let mut problems: Vec<String> =
        failing.iter().map(|(camera, error)| format!("{camera}: cannot write recordings: {error}")).collect();
    problems.extend(unmet.iter().cloned());
    if problems.is_empty() {
        health.set(Subsystem::Storage, State::Running, usage);
    } else {
        health.set(Subsystem::Storage, State::Degraded, problems.join("; "));
    }
}

/// One camera: its ONVIF events (when it has an `onvif_url`) and its recording, until
/// `cancel` fires.
pub async fn record_camera(
    camera: CameraSettings,
    settings: Arc<Settings>,
    index: Index,
    bus: Bus,
    metrics: Metrics,
    states: CameraStates,
    cancel: CancellationToken,
) {
    let creds = crate::onvif::client::camera_credentials(&camera);
    let events = camera.onvif_url.clone().map(|device_url| {
        let src = crate::onvif::events::Source {
            camera: camera.name.clone(),
            device_url,
            creds: creds.clone(),
            map: camera.event_map.clone(),
            http: crate::onvif::client::camera_http(&camera),
        };
        crate::onvif::events::run(src, bus.clone(), cancel.clone())
    });
    let recording = record(camera, settings, index, bus, metrics, states, creds, cancel);
    match events {
        Some(events) => {
            tokio::join!(events, recording);
        }
        None => recording.await,
    }
}

/// The stream to record: `rtsp_url`, else the main stream the camera's ONVIF media service
/// names (asked again with backoff until it answers). `None` when cancelled first.
async fn stream_url(
    camera: &CameraSettings,
    creds: Option<crate::onvif::client::Credentials>,
    states: &CameraStates,
    cancel: &CancellationToken,
) -> Option<url::Url> {
    if let Some(u) = &camera.rtsp_url {
        return Some(u.clone());
    }
    let onvif = camera.onvif_url.as_ref()?;
    let mut attempt = 0u32;
    loop {
        states.set(&camera.name, CameraState::Resolving);
        match crate::onvif::events::resolve_stream(
            onvif,
            creds.clone(),
            crate::onvif::client::camera_http(camera),
        )
        .await
        {
            Ok(url) => {
                tracing::info!(rtsp_url = %url, "Stream found through ONVIF");
                return Some(url);
            }
            Err(e) => {
                let log = attempt == 0;
                if log {
                    tracing::warn!(error = %e, "Cannot get the stream address from ONVIF; retrying");
                }
                states.set(&camera.name, CameraState::Offline);
            }
        }
        let delay = crate::backoff::delay(attempt);
        attempt = attempt.saturating_add(1);
        tokio::select! {
            () = cancel.cancelled() => return None,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// The writer thread plus the ingest loop that reconnects with backoff, until `cancel` fires.
/// Returns once the writer has finished its last segment.
#[allow(clippy::too_many_arguments)]
async fn record(
    camera: CameraSettings,
    settings: Arc<Settings>,
    index: Index,
    bus: Bus,
    metrics: Metrics,
    states: CameraStates,
    creds: Option<crate::onvif::client::Credentials>,
    cancel: CancellationToken,
) {
    if camera.record == RecordMode::Off {
        states.set(&camera.name, CameraState::Off);
        cancel.cancelled().await;
        return;
    }
    let Some(url) = stream_url(&camera, creds, &states, &cancel).await else { return };
    let writer_settings = WriterSettings {
        camera: camera.name.clone(),
        dir: settings.storage.dir.clone(),
        // On demand: recorded like events mode, with nothing before the event (the stream
        // is opened by it).
        mode: if camera.record == RecordMode::OnEvent { RecordMode::Events } else { camera.record },
        segment_duration: settings.storage.segment_duration,
        fragment_duration: FRAGMENT,
        pre_roll: if camera.record == RecordMode::OnEvent { Duration::ZERO } else { camera.pre_roll },
        post_roll: camera.post_roll,
        pre_roll_max_bytes: PRE_ROLL_MAX_BYTES,
        disk_retry: Duration::from_secs(5),
    };
    let (tx, mut rx) = mpsc::channel::<Input>(WRITER_QUEUE);
    let (done_tx, done_rx) = oneshot::channel::<()>();
    let mut writer = CameraWriter::new(writer_settings, index, bus.clone(), metrics.clone());
    let span = tracing::Span::current();
    let spawned = std::thread::Builder::new()
        .name(format!("rec-{}", camera.name))
        .stack_size(512 << 10)
        .spawn(move || {
            let _e = span.enter();
            while let Some(input) = rx.blocking_recv() {
                writer.handle(input);
            }
            writer.finish();
            let _ = done_tx.send(());
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "Cannot start the recording thread");
        states.set(&camera.name, CameraState::Error);
        cancel.cancelled().await;
        return;
    }
    let source = ingest::Source {
        camera: camera.name.clone(),
        url,
        username: camera.username.clone(),
        password: camera.password.as_ref().map(|p| p.expose().to_owned()),
        transport: camera.transport,
        stall_timeout: Duration::from_secs(10),
    };
    let events = forward_events(camera.name.clone(), bus.clone(), tx.clone(), cancel.clone());
    if camera.record == RecordMode::OnEvent {
        let live = states.live().tap(&source.camera);
        let feed = ingest::Feed::new(tx, live, metrics, ingest::SystemClock);
        let od = on_demand::OnDemand {
            post_roll: camera.post_roll,
            max_sessions: settings.storage.max_on_demand_sessions,
        };
        let ingest = on_demand::run(rtsp::Rtsp, source, feed, bus, states, od, cancel);
        tokio::join!(events, ingest);
    } else {
        let ingest = ingest_loop(source, tx, bus, metrics, states, cancel);
        tokio::join!(events, ingest);
    }
    // Every sender is gone now; the writer finishes its segment and says so.
    let _ = done_rx.await;
}

/// Sessions with the camera over RTSP, one after the other, until `cancel` fires
/// ([`run_sessions`] with retina and the system clock).
async fn ingest_loop(
    source: ingest::Source,
    tx: mpsc::Sender<Input>,
    bus: Bus,
    metrics: Metrics,
    states: CameraStates,
    cancel: CancellationToken,
) {
    let live = states.live().tap(&source.camera);
    let feed = ingest::Feed::new(tx, live, metrics.clone(), ingest::SystemClock);
    run_sessions(rtsp::Rtsp, source, feed, bus, metrics, states, cancel).await;
}

/// Sessions with the camera, one after the other, until `cancel` fires. Between them it waits
/// as [`reconnect::Reconnect`] says, then probes the camera's port until it accepts a
/// connection (`docs/design/recording.md`, Reconnecting). Reports `camera_online`/`offline`
/// on the bus, the camera's state, and each session's frames to the writer through `feed`.
async fn run_sessions<O: ingest::Opener, C: ingest::WallClock>(
    opener: O,
    source: ingest::Source,
    mut feed: ingest::Feed<C>,
    bus: Bus,
    metrics: Metrics,
    states: CameraStates,
    cancel: CancellationToken,
) {
    let camera = source.camera.clone();
    let mut reconnect = reconnect::Reconnect::default();
    let online: std::sync::Mutex<Option<bool>> = std::sync::Mutex::new(None);
    let get = || *online.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let set = |v| *online.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(v);
    let mut gap_reason = "recorder was not running".to_owned();
    // A failed session or a refused connection: offline (announced once per outage).
    let failed = |reason: &str, gap_reason: &mut String| {
        if get() != Some(false) {
            tracing::warn!(error = %reason, "Camera offline");
            bus.publish(Some(&camera), EventKind::CameraOffline { reason: reason.to_owned() });
            set(false);
        } else {
            tracing::debug!(error = %reason, "Camera still offline");
        }
        states.set(&camera, CameraState::Offline);
        metrics.inc(Metric::CameraReconnects, &[(Label::Camera, &camera)]);
        *gap_reason = format!("camera offline: {reason}");
    };
    states.set(&camera, CameraState::Connecting);
    while !cancel.is_cancelled() {
        let delay = reconnect.delay(tokio::time::Instant::now());
        if !delay.is_zero() {
            tracing::debug!(delay_ms = delay.as_millis() as u64, "Reconnecting after a pause");
            tokio::select! {
                () = cancel.cancelled() => break,
                () = tokio::time::sleep(delay) => {}
            }
        }
        // Until the camera's port accepts a connection: a probe every `PROBE_INTERVAL`, the
        // first refusal of a run counted as a failed attempt.
        let mut refused = false;
        loop {
            let probed = tokio::select! {
                () = cancel.cancelled() => break,
                r = opener.probe(&source) => r,
            };
            match probed {
                Ok(()) => break,
                Err(e) if !refused => {
                    refused = true;
                    failed(&e.to_string(), &mut gap_reason);
                }
                Err(_) => {}
            }
            tokio::select! {
                () = cancel.cancelled() => break,
                () = tokio::time::sleep(reconnect::PROBE_INTERVAL) => {}
            }
        }
        if cancel.is_cancelled() {
            break;
        }
        states.set(&camera, CameraState::Connecting);
        reconnect.session_started(tokio::time::Instant::now());
        let streamed = std::sync::atomic::AtomicBool::new(false);
        let announce = || {
            streamed.store(true, std::sync::atomic::Ordering::Relaxed);
            if get() != Some(true) {
                bus.publish(Some(&camera), EventKind::CameraOnline);
                set(true);
                states.set(&camera, CameraState::Recording);
            }
        };
        let connected =
            ingest::session(&opener, &mut feed, &source, gap_reason.clone(), &announce, &cancel).await;
        feed.end_session().await;
        if cancel.is_cancelled() {
            break;
        }
        reconnect.session_ended(streamed.load(std::sync::atomic::Ordering::Relaxed));
        let reason = match connected {
            Ok(()) => "session ended".to_owned(),
            Err(e) => e.describe(&source.url),
        };
        failed(&reason, &mut gap_reason);
    }
}

#[cfg(test)]
mod ingest_loop_tests;

/// Passes this camera's motion and doorbell events to its writer (for `record = "events"`
/// and the index's event list).
async fn forward_events(camera: String, bus: Bus, tx: mpsc::Sender<Input>, cancel: CancellationToken) {
    let mut sub = bus.subscribe(&format!("recorder-{camera}"));
    loop {
        let e = tokio::select! {
            () = cancel.cancelled() => break,
            e = sub.recv() => match e { Some(e) => e, None => break },
        };
        if e.camera.as_deref() != Some(camera.as_str()) {
            continue;
        }
        let wall_ms = jiff::Timestamp::now().as_millisecond();
        let input = match e.kind {
            EventKind::MotionStart => Input::Motion { active: true, wall_ms },
            EventKind::MotionEnd => Input::Motion { active: false, wall_ms },
            EventKind::DoorbellPress | EventKind::Tamper | EventKind::Alarm => Input::Trigger { wall_ms },
            _ => continue,
        };
        if tx.send(input).await.is_err() {
            break;
        }
    }
}

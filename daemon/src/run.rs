//! The one wiring point: builds every subsystem, spawns each as a named task in its tracing span
//! under one cancellation tree, tells systemd when it is ready, and shuts down in logged phases
//! with a deadline. See ARCHITECTURE.md for the map.

use std::collections::BTreeSet;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::api::{self, ApiState};
use crate::bus::{self, Bus};
use crate::cameras;
use crate::config::{Env, Settings};
use crate::health::{Health, State, Subsystem};
use crate::logging::LogHandle;
use crate::metrics::Metrics;
use crate::recording::CameraStates;
use crate::reload::Reloader;
use crate::sdnotify::Notifier;

/// Why the daemon stopped abnormally (exit code 1).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot create data directory {}", path.display())]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error("cannot listen for the API on {addr}")]
    ApiBind { addr: std::net::SocketAddr, source: std::io::Error },
    #[error("shutdown did not finish within {timeout:?}; still running: {}", tasks.join(", "))]
    ShutdownTimeout { timeout: Duration, tasks: Vec<String> },
}

/// A group of tasks stopped together at shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
enum Phase {
    Ingest,
    Recording,
    Relay,
    Mqtt,
    Control,
}

impl Phase {
    /// Shutdown order: what produces data stops first, what reports on it last. The variants
    /// are declared in this order.
    const ORDER: [Phase; 5] = [Self::Ingest, Self::Recording, Self::Relay, Self::Mqtt, Self::Control];

    /// The name in the shutdown log (`phase=…`).
    fn name(self) -> &'static str {
        match self {
            Self::Ingest => "ingest",
            Self::Recording => "recording",
            Self::Relay => "relay",
            Self::Mqtt => "mqtt",
            Self::Control => "control",
        }
    }
}

/// One phase's tasks: a child token of the root and a tracker to wait for them.
struct Group {
    phase: Phase,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

/// Spawns named tasks into phases and remembers which are still running.
struct Tasks {
    /// One group per phase, in [`Phase::ORDER`] (so at index `phase as usize`).
    groups: [Group; 5],
    running: Arc<Mutex<BTreeSet<String>>>,
}

impl Tasks {
    fn new(root: &CancellationToken) -> Self {
        let groups = Phase::ORDER.map(|phase| Group {
            phase,
            cancel: root.child_token(),
            tracker: TaskTracker::new(),
        });
        Self { groups, running: Arc::default() }
    }

    fn group(&self, phase: Phase) -> &Group {
        &self.groups[phase as usize]
    }

    /// Spawns `make(cancel)` as task `name` in `phase`, inside a span `task=name`.
    fn spawn<F, Fut>(&self, phase: Phase, name: &str, make: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let p = self.group(phase);
        let fut = make(p.cancel.clone());
        let running = Arc::clone(&self.running);
        running.lock().unwrap_or_else(PoisonError::into_inner).insert(name.to_owned());
        let owned = name.to_owned();
        let span = tracing::info_span!("task", task = name);
        p.tracker.spawn(
            async move {
                fut.await;
                running.lock().unwrap_or_else(PoisonError::into_inner).remove(&owned);
                tracing::debug!("Task finished");
            }
            .instrument(span),
        );
    }

    fn still_running(&self) -> Vec<String> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner).iter().cloned().collect()
    }
}

/// Runs the daemon until `shutdown` is cancelled (or a subsystem fails, which cancels it), then
/// stops it in phases.
pub async fn run(
    path: PathBuf,
    settings: Settings,
    env: Arc<Env>,
    log: LogHandle,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    let started = Instant::now();
    let notifier = Notifier::from_env();
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        config = %path.display(),
        hub = %settings.hub.name,
        data_dir = %settings.hub.data_dir.display(),
        cameras = settings.cameras.len(),
        "Starting Porchlight"
    );
    tracing::debug!(settings = ?settings, "Effective settings");
    raise_open_files_limit(settings.api.max_connections);
    let data_dir = settings.hub.data_dir.clone();
    std::fs::create_dir_all(&data_dir)
        .map_err(|source| RunError::DataDir { path: data_dir.clone(), source })?;

    // Temporary clip files of a previous run (the API cuts clips there) are never needed again.
    if let Ok(entries) = std::fs::read_dir(data_dir.join("tmp")) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with("clip-") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    // The file's settings (what a reload compares with), and what runs: plus adopted cameras.
    let adopted = crate::onvif::adopt::Adopted::open(&data_dir);
    let file_settings = settings;
    let settings = adopted.apply(file_settings.clone());
    if settings.cameras.len() > file_settings.cameras.len() {
        tracing::info!(
            adopted = settings.cameras.len() - file_settings.cameras.len(),
            "Recording cameras adopted by discovery (data_dir/state/adopted.json)"
        );
    }
    let metrics = Metrics::new();
    // Every subsystem is listed from the first answer of `/api/health`, `starting` until it
    // reports; those the config turns off are `disabled` at once.
    let health = Health::starting(&Subsystem::ALL);
    for (subsystem, on) in [
        (Subsystem::Discovery, settings.discovery.enabled),
        (Subsystem::Mqtt, settings.mqtt.enabled),
        (Subsystem::Relay, settings.relay.enabled),
    ] {
        if !on {
            health.set(subsystem, State::Disabled, "");
        }
    }
    let bus = Bus::new(bus::DEFAULT_CAPACITY, metrics.clone());
    let camera_states = CameraStates::default();
    let (settings_tx, settings_rx) = watch::channel(Arc::new(settings.clone()));
    let root = CancellationToken::new();
    let tasks = Tasks::new(&root);

    health.set(Subsystem::Bus, State::Running, "");
    // The recording index, repaired against the files before anything records (a crash or power
    // cut leaves the last fragment torn; docs/design/recording.md).
    let index = match crate::recording::open(&settings) {
        Ok((index, report)) => {
            if report != crate::recording::recover::Report::default() {
                tracing::info!(report = ?report, "Recording index repaired after an unclean stop");
            }
            health.set(
                Subsystem::Storage,
                State::Running,
                format!("recordings in {}", settings.storage.dir.display()),
            );
            Some(index)
        }
        Err(e) => {
            tracing::error!(error = %e, "Cannot open the recording index; not recording");
            health.set(Subsystem::Storage, State::Failed, e.to_string());
            None
        }
    };

    // The audit log and the policy engine. Either failing leaves the hub running (recording
    // matters) but unable to share anything.
    let audit = match crate::audit::Audit::open(&data_dir.join("audit")) {
        Ok(a) => {
            health.set(Subsystem::Audit, State::Running, format!("{}", data_dir.join("audit").display()));
            Some(a)
        }
        Err(e) => {
            tracing::error!(error = %e, "Cannot open the audit log; nothing can be shared");
            health.set(Subsystem::Audit, State::Failed, e.to_string());
            None
        }
    };
    // The key that signs evidence manifests: made once, on the first start.
    match crate::keys::HubKey::load_or_create(&data_dir.join("keys")) {
        Ok(key) => tracing::info!(fingerprint = %key.fingerprint(), "Hub signing key"),
        Err(e) => tracing::error!(error = %e, "No hub signing key; shared footage could not be signed"),
    }
    let privacy = crate::privacy::Privacy::open(&data_dir, settings.hub.privacy, audit.clone(), bus.clone());
    let mode = crate::mode::Mode::open(&data_dir, audit.clone(), bus.clone());
    let pause = cameras::RecordPause::open(&data_dir);
    let engine = crate::policy::PolicyEngine::new(Some(&data_dir.join("cache/plugins")))
        .map_err(|e| e.to_string())
        .and_then(|engine| {
            let pool = crate::policy::pool::DecisionPool::for_this_machine()
                .map_err(|e| format!("cannot start the decision threads: {e}"))?;
            Ok((engine, pool))
        });
    let policy = match engine {
        Ok((engine, pool)) => Some(Arc::new(crate::policy::service::PolicyService {
            pool,
            settings: settings_rx.clone(),
            engine: Arc::new(engine),
            audit: audit.clone(),
            bus: bus.clone(),
            health: health.clone(),
            metrics: metrics.clone(),
            recent: crate::policy::recent::Recent::default(),
        })),
        Err(e) => {
            tracing::error!(error = %e, "Cannot start the policy engine; nothing can be shared");
            health.set(Subsystem::Plugins, State::Failed, e.to_string());
            None
        }
    };

    let requests = crate::requests::Requests::new(
        policy.clone(),
        privacy.clone(),
        settings_rx.clone(),
        bus.clone(),
        audit.clone(),
    );
    // Requests decided before this start: asked again, they get the same answer (and nothing is
    // shared twice).
    if audit.is_some() {
        match crate::audit::read(&data_dir.join("audit")) {
            Ok(records) => {
                let known = requests.remember(&records);
                tracing::debug!(known, "Earlier decisions read from the audit log");
            }
            Err(e) => tracing::error!(error = %e, "Cannot read earlier decisions from the audit log"),
        }
    }

    // Still images for the API, MQTT and the relay.
    let stills = crate::stills::Stills::new(settings_rx.clone(), camera_states.clone(), index.clone());

    // What the relay works with; the API uses it too, for the resident's own shares.
    let relay_deps = crate::relay::Deps {
        settings: settings_rx.clone(),
        requests: requests.clone(),
        health: health.clone(),
        metrics: metrics.clone(),
        audit: audit.clone(),
        index: index.clone(),
        cameras: camera_states.clone(),
        bus: bus.clone(),
        mode: mode.clone(),
        outbox: crate::relay::outbox::Outbox::open(&data_dir),
        stills: stills.clone(),
    };

    // The API binds before READY=1 so a port clash is a start-up failure systemd can see.
    if settings.api.enabled {
        let addr = settings.api.listen;
        let listener =
            tokio::net::TcpListener::bind(addr).await.map_err(|source| RunError::ApiBind { addr, source })?;
        let local = listener.local_addr().map_err(|source| RunError::ApiBind { addr, source })?;
        if settings.api.token.is_none() {
            tracing::warn!(addr = %local, "API has no token: any local user can use it; set api.token_file");
        }
        tracing::info!(addr = %local, "API listening");
        health.set(Subsystem::Api, State::Running, format!("http://{local}"));
        let health_c = health.clone();
        let state = ApiState {
            settings: settings_rx.clone(),
            health: health.clone(),
            metrics: metrics.clone(),
            bus: bus.clone(),
            cameras: camera_states.clone(),
            policy: policy.clone(),
            privacy: privacy.clone(),
            requests: requests.clone(),
            pause: pause.clone(),
            index: index.clone(),
            relay: relay_deps.clone(),
            mode: mode.clone(),
            started,
            cancel: tasks.group(Phase::Control).cancel.clone(),
            web: crate::web::Web::new(settings_rx.clone()),
            stills: stills.clone(),
        };
        tasks.spawn(Phase::Control, "api", |cancel| async move {
            let (settings, metrics) = (state.settings.clone(), state.metrics.clone());
            let app = api::router(state);
            api::serve::serve(listener, app, settings, metrics, cancel).await;
            health_c.set(Subsystem::Api, State::Stopped, "");
        });
    } else {
        health.set(Subsystem::Api, State::Disabled, "");
    }

    let enabled = settings.cameras.iter().filter(|c| c.enabled).count();
    health.set(
        Subsystem::Cameras,
        State::Running,
        format!("{enabled} of {} cameras enabled", settings.cameras.len()),
    );
    {
        let (rx, bus, health, metrics, states) =
            (settings_rx.clone(), bus.clone(), health.clone(), metrics.clone(), camera_states.clone());
        let (index, pause) = (index.clone(), pause.clone());
        tasks.spawn(Phase::Ingest, "cameras", |cancel| {
            cameras::supervise(rx, index, bus, health, metrics, states, pause, cancel)
        });
    }
    {
        let (rx, tx, adopted) = (settings_rx.clone(), settings_tx.clone(), adopted.clone());
        let (bus, health) = (bus.clone(), health.clone());
        tasks.spawn(Phase::Ingest, "discovery", |cancel| {
            crate::onvif::watch::run(rx, tx, adopted, bus, health, cancel)
        });
    }
    if let Some(index) = &index {
        let (index, rx, bus, metrics, health) =
            (index.clone(), settings_rx.clone(), bus.clone(), metrics.clone(), health.clone());
        tasks.spawn(Phase::Recording, "retention", |cancel| {
            crate::recording::retention_task(index, rx, bus, metrics, health, cancel)
        });
    }

    // The plugin directory is where the resident installs policies: there from the start (it
    // stays empty until they do). Under the hardened unit /etc is read-only; install.md has
    // it made at install time.
    if !settings.plugins.dir.exists()
        && let Err(e) = std::fs::create_dir_all(&settings.plugins.dir)
    {
        tracing::warn!(dir = %settings.plugins.dir.display(), error = %e, "Cannot create the plugin directory; create it to install policies");
    }
    if let Some(service) = &policy {
        // Before READY=1: a request must never meet a half-loaded policy set.
        service.reload_blocking(&settings.plugins, "start").await;
        let (recent, bus) = (service.recent.clone(), bus.clone());
        let (service, rx) = (Arc::clone(service), settings_rx.clone());
        tasks.spawn(Phase::Relay, "policy", |cancel| service.run(rx, cancel));
        tasks.spawn(Phase::Ingest, "policy-context", |cancel| recent.run(bus, cancel));
    }

    {
        let (privacy, rx) = (privacy.clone(), settings_rx.clone());
        tasks.spawn(Phase::Control, "privacy", |cancel| privacy.follow_config(rx, cancel));
        let requests = requests.clone();
        tasks.spawn(Phase::Relay, "requests", |cancel| requests.run(cancel));
    }
    {
        let deps = crate::mqtt::Deps {
            settings: settings_rx.clone(),
            bus: bus.clone(),
            health: health.clone(),
            metrics: metrics.clone(),
            cameras: camera_states.clone(),
            pause: pause.clone(),
            privacy: privacy.clone(),
            requests: requests.clone(),
            index: index.clone(),
            mode: mode.clone(),
            audit: audit.clone(),
            stills: stills.clone(),
            adopt: Some((adopted.clone(), settings_tx.clone())),
        };
        tasks.spawn(Phase::Mqtt, "mqtt", |cancel| crate::mqtt::run(deps, cancel));
    }
    {
        tasks.spawn(Phase::Relay, "relay", |cancel| crate::relay::run(relay_deps, cancel));
    }
    {
        let deps =
            crate::restream::Deps { settings: settings_rx.clone(), taps: camera_states.live().clone() };
        tasks.spawn(Phase::Relay, "restream", |cancel| crate::restream::run(deps, cancel));
    }

    let (hup_tx, hup_rx) = mpsc::channel(1);
    {
        let reloader = Reloader {
            path: path.clone(),
            env,
            settings: settings_tx,
            bus: bus.clone(),
            metrics: metrics.clone(),
            health: health.clone(),
            log,
            adopted,
            loaded: Mutex::new(Arc::new(file_settings)),
        };
        let watch = reloader.watch();
        tasks.spawn(Phase::Control, "config-watcher", |cancel| reloader.run(watch, hup_rx, cancel));
    }
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(mut hup) => tasks.spawn(Phase::Control, "sighup", |cancel| async move {
            loop {
                tokio::select! {
                    () = cancel.cancelled() => break,
                    Some(()) = hup.recv() => { let _ = hup_tx.try_send(()); }
                }
            }
        }),
        Err(e) => tracing::warn!(error = %e, "Cannot handle SIGHUP; reload by editing the file"),
    }

    if let Some(every) = Notifier::watchdog_interval() {
        let n = notifier.clone();
        tasks.spawn(Phase::Control, "watchdog", |cancel| async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    () = cancel.cancelled() => break,
                    _ = tick.tick() => n.notify("WATCHDOG=1"),
                }
            }
        });
    }

    notifier.notify("READY=1\nSTATUS=Running");
    tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "Porchlight is up");

    shutdown.cancelled().await;
    tracing::info!("Shutdown requested");

    let timeout = settings_rx.borrow().hub.shutdown_timeout;
    notifier.notify("STOPPING=1\nSTATUS=Shutting down");
    let deadline = tokio::time::Instant::now() + timeout;
    for group in &tasks.groups {
        let t0 = Instant::now();
        group.cancel.cancel();
        group.tracker.close();
        if tokio::time::timeout_at(deadline, group.tracker.wait()).await.is_err() {
            let still = tasks.still_running();
            tracing::error!(phase = group.phase.name(), tasks = %still.join(", "), ?timeout, "Shutdown deadline passed");
            return Err(RunError::ShutdownTimeout { timeout, tasks: still });
        }
        tracing::info!(phase = group.phase.name(), elapsed_ms = t0.elapsed().as_millis() as u64, "Stopped");
    }
    root.cancel();
    tracing::info!(uptime_s = started.elapsed().as_secs(), "Shutdown complete");
    Ok(())
}

/// Raises the soft limit on open files to the hard limit: each camera holds a socket and a
/// segment file, the index and audit log hold files, and the API's connections are capped
/// (`api.max_connections`) well below what is left. Warns when the limit is still small.
fn raise_open_files_limit(max_connections: usize) {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        let wanted = rustix::process::Rlimit { current: limit.maximum, maximum: limit.maximum };
        match setrlimit(Resource::Nofile, wanted) {
            Ok(()) => limit.current = limit.maximum,
            Err(e) => tracing::warn!(error = %e, "Cannot raise the open-files limit"),
        }
    }
    let soft = limit.current.unwrap_or(u64::MAX);
    tracing::debug!(open_files = soft, "Open-files limit");
    if soft < (max_connections as u64) * 4 {
        tracing::warn!(
            open_files = soft,
            max_connections,
            "The open-files limit is small for api.max_connections; raise LimitNOFILE or lower api.max_connections"
        );
    }
}

/// An error and its causes on one line: `a: b: c`.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_phase_has_its_own_group_in_shutdown_order() {
        let tasks = Tasks::new(&CancellationToken::new());
        let order: Vec<&str> = tasks.groups.iter().map(|g| g.phase.name()).collect();
        assert_eq!(order, ["ingest", "recording", "relay", "mqtt", "control"]);
        for phase in Phase::ORDER {
            assert_eq!(tasks.group(phase).phase, phase);
        }
    }

    #[tokio::test]
    async fn a_task_runs_with_its_phase_token() {
        let tasks = Tasks::new(&CancellationToken::new());
        let (tx, rx) = tokio::sync::oneshot::channel();
        tasks.spawn(Phase::Mqtt, "t", |cancel| async move {
            cancel.cancelled().await;
            let _ = tx.send(());
        });
        assert_eq!(tasks.still_running(), ["t"]);
        tasks.group(Phase::Control).cancel.cancel();
        assert!(!tasks.group(Phase::Mqtt).cancel.is_cancelled());
        tasks.group(Phase::Mqtt).cancel.cancel();
        rx.await.expect("the task saw its phase cancelled");
        let mqtt = tasks.group(Phase::Mqtt);
        mqtt.tracker.close();
        mqtt.tracker.wait().await;
        assert!(tasks.still_running().is_empty());
    }
}

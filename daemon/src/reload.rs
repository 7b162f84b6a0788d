//! Hot reload: watches the config file's directory (so editors that save by writing a temporary
//! file and renaming it over the original are seen), and SIGHUP. A valid edit is applied through
//! the settings channel; an invalid one is logged with every problem and the running config stays.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::bus::{Bus, EventKind, ReloadOutcome};
use crate::config::{self, Env, Settings};
use crate::health::{Health, State, Subsystem};
use crate::logging::LogHandle;
use crate::metrics::{Label, Metric, Metrics};

/// Quiet time after the last file event before the file is read (editors write in bursts).
const SETTLE: Duration = Duration::from_millis(150);

/// Everything the reloader needs.
#[derive(Debug)]
pub struct Reloader {
    pub path: PathBuf,
    pub env: Arc<Env>,
    pub settings: watch::Sender<Arc<Settings>>,
    pub bus: Bus,
    pub metrics: Metrics,
    pub health: Health,
    pub log: LogHandle,
    /// Cameras adopted by discovery, added to every config that loads.
    pub adopted: crate::onvif::adopt::Adopted,
    /// The settings of the last file that loaded (before restart-only keys were kept).
    pub loaded: Mutex<Arc<Settings>>,
}

impl Reloader {
    /// Starts watching the config file's directory. Call before telling anyone the daemon is
    /// ready, so no edit made after that is missed. The watcher lives as long as the returned
    /// [`Watch`].
    pub fn watch(&self) -> Watch {
        let (tx, rx) = mpsc::channel::<()>(1);
        let file_name = self.path.file_name().map(ToOwned::to_owned);
        let dir = watched_dir(&self.path);
        let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            let Ok(event) = res else { return };
            let ours = event.paths.iter().any(|p| p.file_name() == file_name.as_deref());
            if ours && !matches!(event.kind, notify::EventKind::Access(_)) {
                // Full means a reload is already pending; that one will read the latest file.
                let _ = tx.try_send(());
            }
        });
        let watcher = match watcher.and_then(|mut w| w.watch(&dir, RecursiveMode::NonRecursive).map(|()| w)) {
            Ok(w) => {
                self.health.set(
                    Subsystem::Config,
                    State::Running,
                    format!("watching {}", self.path.display()),
                );
                Some(w)
            }
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "Cannot watch the config directory; reload with SIGHUP");
                self.health.set(Subsystem::Config, State::Degraded, format!("not watching for changes: {e}"));
                None
            }
        };
        Watch { _watcher: watcher, rx }
    }

    /// Runs until `cancel`: reloads on file changes seen by `watch` and on messages from `hup`
    /// (SIGHUP).
    pub async fn run(self, watch: Watch, mut hup: mpsc::Receiver<()>, cancel: CancellationToken) {
        let Watch { _watcher, mut rx } = watch;
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                Some(()) = rx.recv() => {
                    if !settle(&mut rx, SETTLE, &cancel).await {
                        return;
                    }
                    self.reload("file changed");
                }
                Some(()) = hup.recv() => self.reload("SIGHUP"),
            }
        }
    }

    /// Reads, validates and (if valid) applies the config file.
    pub fn reload(&self, trigger: &str) {
        let new = match config::load(&self.path, &self.env) {
            Ok(new) => new,
            Err(e) => return self.reject(trigger, e.problems()),
        };
        let mut loaded = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        // Compared with the last file that loaded, so a pending restart-only change is reported
        // once, not on every later reload.
        let mut changes = changes(&loaded, &new);
        let running = self.settings.borrow().clone();
        let merged = self.adopted.apply(merge(&running, new.clone()));
        changes.extend(adopted_changes(&running, &merged));
        if changes.is_empty() {
            tracing::debug!(trigger, "Config file unchanged in effect");
            self.metrics.inc(Metric::ConfigReloads, &[(Label::Result, "unchanged")]);
            return;
        }
        if let Some(problem) = unsafe_api(&merged) {
            return self.reject(trigger, vec![format!("{}: {problem}", self.path.display())]);
        }
        *loaded = Arc::new(new);
        for key in changes.iter().filter_map(|c| c.strip_suffix(" (needs restart)")) {
            tracing::warn!(key, "This setting takes effect only after a restart");
        }
        tracing::info!(trigger, changes = %changes.join(", "), "Config reloaded");
        self.log.set_level(&merged.hub.log_level);
        self.metrics.inc(Metric::ConfigReloads, &[(Label::Result, "applied")]);
        self.settings.send_replace(Arc::new(merged));
        self.bus.publish(
            None,
            EventKind::ConfigReloaded { outcome: ReloadOutcome::Applied, changes, problems: vec![] },
        );
    }

    fn reject(&self, trigger: &str, problems: Vec<String>) {
        tracing::error!(
            trigger,
            file = %self.path.display(),
            problems = %problems.join("\n"),
            "Config reload rejected; the running config stays"
        );
        self.metrics.inc(Metric::ConfigReloads, &[(Label::Result, "rejected")]);
        self.bus.publish(
            None,
            EventKind::ConfigReloaded { outcome: ReloadOutcome::Rejected, changes: vec![], problems },
        );
    }
}

/// Waits until the part of the settings that `get` picks differs from `current`: `true`, or
/// `false` if the settings channel closed first. Subsystems with a session per config section
/// (MQTT, the relay) restart it on `true`.
pub async fn section_changed<T: PartialEq>(
    mut settings: watch::Receiver<Arc<Settings>>,
    current: T,
    get: impl Fn(&Settings) -> T,
) -> bool {
    while settings.changed().await.is_ok() {
        if get(&settings.borrow_and_update()) != current {
            return true;
        }
    }
    false
}

/// Waits until `rx` has been quiet for `quiet` (editors and installers write in bursts).
/// False if `cancel` fired first.
pub(crate) async fn settle(rx: &mut mpsc::Receiver<()>, quiet: Duration, cancel: &CancellationToken) -> bool {
    loop {
        tokio::select! {
            () = cancel.cancelled() => return false,
            () = tokio::time::sleep(quiet) => return true,
            Some(()) = rx.recv() => {}
        }
    }
}

/// A running watch on the config directory (see [`Reloader::watch`]).
#[derive(Debug)]
pub struct Watch {
    _watcher: Option<notify::RecommendedWatcher>,
    rx: mpsc::Receiver<()>,
}

/// Settings that only take effect at start-up: (name, differs).
fn restart_only(old: &Settings, new: &Settings) -> [(&'static str, bool); 5] {
    [
        ("hub.data_dir", old.hub.data_dir != new.hub.data_dir),
        ("hub.log_format", old.hub.log_format != new.hub.log_format),
        ("api.listen", old.api.listen != new.api.listen),
        ("api.enabled", old.api.enabled != new.api.enabled),
        ("storage.dir", old.storage.dir != new.storage.dir),
    ]
}

/// What differs between two loaded configs, restart-only keys marked `(needs restart)`.
pub fn changes(old: &Settings, new: &Settings) -> Vec<String> {
    let mut changes: Vec<String> = restart_only(old, new)
        .iter()
        .filter(|(_, c)| *c)
        .map(|(n, _)| format!("{n} (needs restart)"))
        .collect();
    let mut old_storage = old.storage.clone();
    old_storage.dir.clone_from(&new.storage.dir);
    let live = [
        ("hub.name", old.hub.name != new.hub.name),
        ("hub.log_level", old.hub.log_level != new.hub.log_level),
        ("hub.shutdown_timeout", old.hub.shutdown_timeout != new.hub.shutdown_timeout),
        ("hub.privacy", old.hub.privacy != new.hub.privacy),
        ("hub.max_live", old.hub.max_live != new.hub.max_live),
        ("api.token", old.api.token != new.api.token),
        ("api.max_connections", old.api.max_connections != new.api.max_connections),
        (
            "api.max_connections_per_client",
            old.api.max_connections_per_client != new.api.max_connections_per_client,
        ),
        ("api.request_timeout", old.api.request_timeout != new.api.request_timeout),
        ("storage", old_storage != new.storage),
        ("discovery", old.discovery != new.discovery),
        ("mqtt", old.mqtt != new.mqtt),
        ("plugins", old.plugins != new.plugins),
        ("relay", old.relay != new.relay),
        ("stills", old.stills != new.stills),
        ("restream", old.restream != new.restream),
    ];
    changes.extend(live.iter().filter(|(_, c)| *c).map(|(n, _)| (*n).to_owned()));
    for c in &new.cameras {
        match old.camera(&c.name) {
            None => changes.push(format!("camera {} added", c.name)),
            Some(o) if o != c => changes.push(format!("camera {} changed", c.name)),
            Some(_) => {}
        }
    }
    for o in &old.cameras {
        if new.camera(&o.name).is_none() {
            changes.push(format!("camera {} removed", o.name));
        }
    }
    changes
}

/// Adopted cameras that a change to the file starts or stops (turning `discovery.adopt` on or
/// off, or naming the same camera in the file).
fn adopted_changes(running: &Settings, merged: &Settings) -> Vec<String> {
    let mut out = Vec::new();
    for c in merged.cameras.iter().filter(|c| c.adopted) {
        if !running.cameras.iter().any(|r| r.adopted && r.name == c.name) {
            out.push(format!("adopted camera {} added", c.name));
        }
    }
    for r in running.cameras.iter().filter(|r| r.adopted) {
        if !merged.cameras.iter().any(|c| c.adopted && c.name == r.name) {
            out.push(format!("adopted camera {} removed", r.name));
        }
    }
    out
}

/// The settings to run with: `new`, except restart-only keys keep their `running` values.
pub fn merge(running: &Settings, mut new: Settings) -> Settings {
    new.hub.data_dir.clone_from(&running.hub.data_dir);
    new.hub.log_format = running.hub.log_format;
    new.api.listen = running.api.listen;
    new.api.enabled = running.api.enabled;
    new.storage.dir.clone_from(&running.storage.dir);
    new
}

/// The rule the config enforces on a file, checked again on what would actually run: the API
/// keeps its (restart-only) address, so removing the token must not leave a non-loopback
/// listener open without one.
fn unsafe_api(s: &Settings) -> Option<String> {
    (s.api.enabled && s.api.token.is_none() && !s.api.listen.ip().is_loopback()).then(|| {
        format!(
            "api.token: the API keeps listening on {} until a restart and must keep a token until then",
            s.api.listen
        )
    })
}

/// The directory watched for a config path: its parent, where renames happen.
fn watched_dir(path: &Path) -> PathBuf {
    path.parent().filter(|p| !p.as_os_str().is_empty()).map_or_else(|| PathBuf::from("."), Path::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Env;

    fn settings(text: &str) -> Settings {
        let env = Env::from_pairs([("HOME", "/tmp")]);
        config::parse(Path::new("/etc/porchlight/config.toml"), text.to_owned(), &env).expect("valid config")
    }

    #[test]
    fn removing_the_token_of_a_non_loopback_listener_is_refused() {
        let running = settings("[api]\nlisten = \"0.0.0.0:8477\"\ntoken = \"t0ken\"\n");
        // The new file is valid on its own (loopback, no token) ...
        let new = settings("[api]\nlisten = \"127.0.0.1:8477\"\n");
        // ... but the listener keeps its address until a restart, so it must keep a token.
        let merged = merge(&running, new);
        assert_eq!(merged.api.listen.to_string(), "0.0.0.0:8477");
        let problem = unsafe_api(&merged).expect("refused");
        assert!(problem.starts_with("api.token:"), "{problem}");
        // Keeping the token is fine.
        let keep = settings("[api]\nlisten = \"127.0.0.1:8477\"\ntoken = \"t0ken\"\n");
        assert_eq!(unsafe_api(&merge(&running, keep)), None);
    }

    #[test]
    fn restart_only_change_is_reported_once() {
        let a = settings("[api]\nlisten = \"127.0.0.1:8477\"\n");
        let b = settings("[api]\nlisten = \"127.0.0.1:9000\"\n");
        assert_eq!(changes(&a, &b), ["api.listen (needs restart)"]);
        // The next reload compares with the last loaded file: nothing new to report.
        assert!(changes(&b, &b).is_empty());
    }

    #[test]
    fn camera_changes_are_named() {
        let a = settings(
            "[[camera]]\nname = \"a\"\nrtsp_url = \"rtsp://127.0.0.1/a\"\n[[camera]]\nname = \"b\"\nrtsp_url = \"rtsp://127.0.0.1/b\"\n",
        );
        let b = settings(
            "[[camera]]\nname = \"a\"\nrtsp_url = \"rtsp://127.0.0.1/a2\"\n[[camera]]\nname = \"c\"\nrtsp_url = \"rtsp://127.0.0.1/c\"\n",
        );
        assert_eq!(changes(&a, &b), ["camera a changed", "camera c added", "camera b removed"]);
    }
}

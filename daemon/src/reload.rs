//! Hot reload: watches the config file's directory (so editors that save by writing a temporary
//! file and renaming it over the original are seen), and SIGHUP. A valid edit is applied through
//! the settings channel; an invalid one is logged with every problem and the running config stays.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::bus::{Bus, EventKind, ReloadOutcome};
use crate::config::{self, Env, Settings};
use crate::health::{Health, State};
use crate::logging::LogHandle;
use crate::metrics::Metrics;

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
}

impl Reloader {
    /// Runs until `cancel`: reloads on file changes and on messages from `hup` (SIGHUP).
    pub async fn run(self, mut hup: mpsc::Receiver<()>, cancel: CancellationToken) {
        let (tx, mut rx) = mpsc::channel::<()>(1);
        let file_name = self.path.file_name().map(ToOwned::to_owned);
        let dir = watched_dir(&self.path);
        let watcher = {
            let file_name = file_name.clone();
            notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
                let Ok(event) = res else { return };
                let ours = event.paths.iter().any(|p| p.file_name() == file_name.as_deref());
                if ours && !matches!(event.kind, notify::EventKind::Access(_)) {
                    // Full means a reload is already pending; that one will read the latest file.
                    let _ = tx.try_send(());
                }
            })
        };
        let _watcher = match watcher.and_then(|mut w| w.watch(&dir, RecursiveMode::NonRecursive).map(|()| w))
        {
            Ok(w) => {
                self.health.set("config", State::Running, format!("watching {}", self.path.display()));
                Some(w)
            }
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "Cannot watch the config directory; reload with SIGHUP");
                self.health.set("config", State::Degraded, format!("not watching for changes: {e}"));
                None
            }
        };
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                Some(()) = rx.recv() => {
                    // Let the burst of events from one save settle.
                    loop {
                        tokio::select! {
                            () = cancel.cancelled() => return,
                            () = tokio::time::sleep(SETTLE) => break,
                            Some(()) = rx.recv() => {}
                        }
                    }
                    self.reload("file changed");
                }
                Some(()) = hup.recv() => self.reload("SIGHUP"),
            }
        }
    }

    /// Reads, validates and (if valid) applies the config file.
    pub fn reload(&self, trigger: &str) {
        let current = self.settings.borrow().clone();
        match config::load(&self.path, &self.env) {
            Err(e) => {
                let problems = e.problems();
                tracing::error!(
                    trigger,
                    file = %self.path.display(),
                    problems = %problems.join("\n"),
                    "Config reload rejected; the running config stays"
                );
                self.metrics.inc("porchlight_config_reloads_total", &[("result", "rejected")]);
                self.bus.publish(
                    None,
                    EventKind::ConfigReloaded { outcome: ReloadOutcome::Rejected, changes: vec![], problems },
                );
            }
            Ok(new) => {
                let (merged, changes) = merge(&current, new);
                if changes.is_empty() {
                    tracing::debug!(trigger, "Config file unchanged in effect");
                    self.metrics.inc("porchlight_config_reloads_total", &[("result", "unchanged")]);
                    return;
                }
                tracing::info!(trigger, changes = %changes.join(", "), "Config reloaded");
                self.log.set_level(&merged.hub.log_level);
                self.metrics.inc("porchlight_config_reloads_total", &[("result", "applied")]);
                self.settings.send_replace(Arc::new(merged));
                self.bus.publish(
                    None,
                    EventKind::ConfigReloaded { outcome: ReloadOutcome::Applied, changes, problems: vec![] },
                );
            }
        }
    }
}

/// The settings to run with after a reload, and a list of what changed. Settings that only take
/// effect at start-up keep their running value and are reported as `… (needs restart)`.
pub fn merge(old: &Settings, mut new: Settings) -> (Settings, Vec<String>) {
    let mut changes = Vec::new();
    let restart = |name: &str, changed: bool, changes: &mut Vec<String>| {
        if changed {
            tracing::warn!(key = name, "This setting takes effect only after a restart");
            changes.push(format!("{name} (needs restart)"));
        }
    };
    restart("hub.data_dir", old.hub.data_dir != new.hub.data_dir, &mut changes);
    new.hub.data_dir = old.hub.data_dir.clone();
    restart("hub.log_format", old.hub.log_format != new.hub.log_format, &mut changes);
    new.hub.log_format = old.hub.log_format;
    restart("api.listen", old.api.listen != new.api.listen, &mut changes);
    new.api.listen = old.api.listen;
    restart("api.enabled", old.api.enabled != new.api.enabled, &mut changes);
    new.api.enabled = old.api.enabled;
    restart("storage.dir", old.storage.dir != new.storage.dir, &mut changes);
    new.storage.dir = old.storage.dir.clone();

    let simple: [(&str, bool); 9] = [
        ("hub.name", old.hub.name != new.hub.name),
        ("hub.log_level", old.hub.log_level != new.hub.log_level),
        ("hub.shutdown_timeout", old.hub.shutdown_timeout != new.hub.shutdown_timeout),
        ("api.token", old.api.token != new.api.token),
        ("storage", old.storage != new.storage),
        ("discovery", old.discovery != new.discovery),
        ("mqtt", old.mqtt != new.mqtt),
        ("plugins", old.plugins != new.plugins),
        ("relay", old.relay != new.relay),
    ];
    changes.extend(simple.iter().filter(|(_, c)| *c).map(|(n, _)| (*n).to_owned()));
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
    (new, changes)
}

/// The directory watched for a config path: its parent, where renames happen.
fn watched_dir(path: &Path) -> PathBuf {
    path.parent().filter(|p| !p.as_os_str().is_empty()).map_or_else(|| PathBuf::from("."), Path::to_owned)
}

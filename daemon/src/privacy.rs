//! Privacy mode: while it is on, every sharing request is denied before any plugin runs and
//! live relays stop. The resident flips it at runtime (API, CLI, MQTT switch); the switch is
//! kept in `data_dir/state/privacy.json` so it survives a restart. `hub.privacy = true` in the
//! config forces it on, and then the switch cannot turn it off.
//!
//! Turning privacy on always takes effect, even if the change cannot be written down (it is
//! the safe direction). Turning it off is refused unless the audit log records it first.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::audit::{self, Audit, Entry, NotWritten};
use crate::bus::{Bus, EventKind};
use crate::config::Settings;

/// What privacy mode is now, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrivacyState {
    /// Whether privacy mode is in effect (`switch` or `forced`).
    pub on: bool,
    /// The resident's runtime switch.
    pub switch: bool,
    /// `hub.privacy = true` in the config.
    pub forced: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<jiff::Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_by: Option<String>,
}

/// Why a change was refused.
#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    #[error(
        "privacy mode is forced on by `hub.privacy = true` in the config; change the config to turn it off"
    )]
    Forced,
    #[error("privacy mode stays on: the audit log cannot record turning it off ({0})")]
    NotRecorded(NotWritten),
}

/// The file the switch lives in.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    on: bool,
    changed_at: Option<jiff::Timestamp>,
    changed_by: Option<String>,
}

/// The privacy switch. Cheap to clone; every clone sees the same state.
#[derive(Debug, Clone)]
pub struct Privacy {
    tx: Arc<watch::Sender<PrivacyState>>,
    file: PathBuf,
    audit: Option<Audit>,
    bus: Bus,
    /// Serialises changes (read, decide, write, publish).
    lock: Arc<Mutex<()>>,
}

impl Privacy {
    /// Loads the switch from `data_dir/state/privacy.json` (off when there is none). A file that
    /// cannot be read or parsed turns privacy **on**: the resident may have turned it on.
    pub fn open(data_dir: &Path, forced: bool, audit: Option<Audit>, bus: Bus) -> Self {
        let file = data_dir.join("state/privacy.json");
        let stored = match std::fs::read(&file) {
            Ok(bytes) => match serde_json::from_slice::<Stored>(&bytes) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(file = %file.display(), error = %e, "Privacy switch file is damaged; privacy mode is ON until it is switched off");
                    Stored { on: true, changed_at: None, changed_by: Some("damaged state file".into()) }
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Stored { on: false, changed_at: None, changed_by: None }
            }
            Err(e) => {
                tracing::error!(file = %file.display(), error = %e, "Cannot read the privacy switch; privacy mode is ON until it is switched off");
                Stored { on: true, changed_at: None, changed_by: Some("unreadable state file".into()) }
            }
        };
        let state = PrivacyState {
            on: stored.on || forced,
            switch: stored.on,
            forced,
            changed_at: stored.changed_at,
            changed_by: stored.changed_by,
        };
        if state.on {
            tracing::info!(switch = state.switch, forced, "Privacy mode is on: nothing is shared");
        }
        Self { tx: Arc::new(watch::channel(state).0), file, audit, bus, lock: Arc::default() }
    }

    pub fn state(&self) -> PrivacyState {
        self.tx.borrow().clone()
    }

    pub fn is_on(&self) -> bool {
        self.tx.borrow().on
    }

    /// Follows every change (the relay cuts live streams on it; MQTT publishes it).
    pub fn subscribe(&self) -> watch::Receiver<PrivacyState> {
        self.tx.subscribe()
    }

    /// Sets the resident's switch. `by` says who (`api`, `mqtt`, `cli`, ...). Returns the new
    /// state; a switch to the value it already has changes nothing and records nothing.
    pub fn set(&self, on: bool, by: &str) -> Result<PrivacyState, PrivacyError> {
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.state();
        if !on && current.forced {
            return Err(PrivacyError::Forced);
        }
        if current.switch == on {
            return Ok(current);
        }
        let now = jiff::Timestamp::now();
        let entry = Entry::Privacy {
            on: Some(on),
            by: by.to_owned(),
            forced: current.forced,
            effective: on || current.forced,
        };
        if on {
            // The safe direction: it happens anyway.
            audit::best_effort(self.audit.as_ref(), &entry);
        } else {
            audit::required(self.audit.as_ref(), &entry).map_err(PrivacyError::NotRecorded)?;
        }
        let stored = Stored { on, changed_at: Some(now), changed_by: Some(by.to_owned()) };
        if let Err(e) = crate::files::write_atomically(&self.file, &stored) {
            tracing::error!(file = %self.file.display(), error = %e, "Cannot store the privacy switch; it will not survive a restart");
        }
        let next = PrivacyState {
            on: on || current.forced,
            switch: on,
            forced: current.forced,
            changed_at: Some(now),
            changed_by: Some(by.to_owned()),
        };
        self.apply(next.clone(), by);
        Ok(next)
    }

    /// Follows `hub.privacy` in the config (at start-up and on reload).
    pub fn set_forced(&self, forced: bool) {
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.state();
        if current.forced == forced {
            return;
        }
        // The config has changed already: it happens anyway.
        audit::best_effort(
            self.audit.as_ref(),
            &Entry::Privacy {
                on: None,
                by: "config".to_owned(),
                forced,
                effective: forced || current.switch,
            },
        );
        let next = PrivacyState { on: forced || current.switch, forced, ..current };
        self.apply(next, "config");
    }

    fn apply(&self, next: PrivacyState, by: &str) {
        let was = self.tx.borrow().on;
        let now_on = next.on;
        self.tx.send_replace(next);
        if was != now_on {
            tracing::info!(
                on = now_on,
                by,
                "Privacy mode {}",
                if now_on { "on: nothing is shared" } else { "off" }
            );
            self.bus.publish(None, EventKind::PrivacyChanged { on: now_on, by: by.to_owned() });
        }
    }

    /// Keeps `forced` in line with the config until `cancel`.
    pub async fn follow_config(
        self,
        mut settings: watch::Receiver<Arc<Settings>>,
        cancel: CancellationToken,
    ) {
        loop {
            let forced = settings.borrow_and_update().hub.privacy;
            self.set_forced(forced);
            tokio::select! {
                () = cancel.cancelled() => break,
                changed = settings.changed() => if changed.is_err() { break },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;

    fn bus() -> Bus {
        Bus::new(16, Metrics::new())
    }

    #[test]
    fn switch_survives_a_restart_and_is_audited() {
        let dir = tempfile::tempdir().expect("tempdir");
        let audit = Audit::open(&dir.path().join("audit")).expect("audit");
        let bus = bus();
        let mut events = bus.subscribe("t");
        let p = Privacy::open(dir.path(), false, Some(audit.clone()), bus.clone());
        assert!(!p.is_on());
        let s = p.set(true, "mqtt").expect("set");
        assert!(s.on && s.switch && !s.forced);
        assert_eq!(s.changed_by.as_deref(), Some("mqtt"));
        let e = events.try_recv().expect("event");
        assert_eq!(e.kind, EventKind::PrivacyChanged { on: true, by: "mqtt".into() });
        // The same value again changes and records nothing.
        p.set(true, "api").expect("set");
        assert!(events.try_recv().is_none());
        let again = Privacy::open(dir.path(), false, Some(audit), bus);
        assert!(again.is_on());
        assert_eq!(again.state().changed_by.as_deref(), Some("mqtt"));
        let log = audit::read(&dir.path().join("audit")).expect("read");
        let privacy: Vec<_> = log
            .iter()
            .filter_map(|r| match &r.entry {
                Some(Entry::Privacy { on, by, forced, effective }) => {
                    Some((*on, by.as_str(), *forced, *effective))
                }
                _ => None,
            })
            .collect();
        assert_eq!(privacy, [(Some(true), "mqtt", false, true)], "{log:?}");
    }

    #[test]
    fn forced_privacy_cannot_be_switched_off() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = Privacy::open(dir.path(), true, None, bus());
        assert!(p.is_on());
        assert!(matches!(p.set(false, "api"), Err(PrivacyError::Forced)));
        p.set_forced(false);
        assert!(!p.is_on());
    }

    #[test]
    fn damaged_state_file_means_privacy_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("state")).expect("mkdir");
        std::fs::write(dir.path().join("state/privacy.json"), b"{\"on\": fa").expect("write");
        let p = Privacy::open(dir.path(), false, None, bus());
        assert!(p.is_on());
    }

    #[test]
    fn turning_off_without_an_audit_log_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("state")).expect("mkdir");
        std::fs::write(
            dir.path().join("state/privacy.json"),
            br#"{"on": true, "changed_at": null, "changed_by": "cli"}"#,
        )
        .expect("write");
        let p = Privacy::open(dir.path(), false, None, bus());
        assert!(matches!(p.set(false, "mqtt"), Err(PrivacyError::NotRecorded(_))));
        assert!(p.is_on());
        // Turning on is never refused.
        let dir2 = tempfile::tempdir().expect("tempdir");
        let p2 = Privacy::open(dir2.path(), false, None, bus());
        assert!(p2.set(true, "mqtt").expect("on").on);
    }
}

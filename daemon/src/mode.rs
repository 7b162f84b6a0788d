//! The hub mode (`home`, `away`, `night`, `vacation`): what the policies see as
//! `context.mode` for every request and event, so a policy can share only while the house is
//! empty (`emergency-live`) or keep quiet at night. The resident switches it at runtime (API,
//! CLI, MQTT select); it is kept in `data_dir/state/mode.json` so it survives a restart.
//!
//! A mode change can widen what the policies allow, so it is recorded in the audit log first:
//! a change that cannot be recorded is refused. A missing or damaged file means `home`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::audit::{self, Audit, Entry, NotWritten};
use crate::bus::{Bus, EventKind};
use crate::policy::HubMode;

/// The mode now, and who set it when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeState {
    pub mode: HubMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<jiff::Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_by: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ModeError {
    #[error("the mode stays {0}: the audit log cannot record the change ({1})")]
    NotRecorded(&'static str, NotWritten),
}

/// The mode switch. Cheap to clone; every clone sees the same state.
#[derive(Debug, Clone)]
pub struct Mode {
    tx: Arc<watch::Sender<ModeState>>,
    file: PathBuf,
    audit: Option<Audit>,
    bus: Bus,
    lock: Arc<Mutex<()>>,
}

/// The mode's name in JSON, MQTT and the log.
pub fn name(mode: HubMode) -> &'static str {
    match mode {
        HubMode::Home => "home",
        HubMode::Away => "away",
        HubMode::Night => "night",
        HubMode::Vacation => "vacation",
    }
}

/// Reads a mode's name (case-insensitive).
pub fn parse(text: &str) -> Option<HubMode> {
    match text.trim().to_ascii_lowercase().as_str() {
        "home" => Some(HubMode::Home),
        "away" => Some(HubMode::Away),
        "night" => Some(HubMode::Night),
        "vacation" => Some(HubMode::Vacation),
        _ => None,
    }
}

impl Mode {
    /// Loads the mode from `data_dir/state/mode.json` (`home` when there is none or it is
    /// damaged).
    pub fn open(data_dir: &Path, audit: Option<Audit>, bus: Bus) -> Self {
        let file = data_dir.join("state/mode.json");
        let home = ModeState { mode: HubMode::Home, changed_at: None, changed_by: None };
        let state = match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice::<ModeState>(&bytes).unwrap_or_else(|e| {
                tracing::error!(file = %file.display(), error = %e, "Hub mode file is damaged; the mode is home");
                home.clone()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => home,
            Err(e) => {
                tracing::error!(file = %file.display(), error = %e, "Cannot read the hub mode; the mode is home");
                home
            }
        };
        if state.mode != HubMode::Home {
            tracing::info!(mode = name(state.mode), "Hub mode");
        }
        Self { tx: Arc::new(watch::channel(state).0), file, audit, bus, lock: Arc::default() }
    }

    pub fn state(&self) -> ModeState {
        self.tx.borrow().clone()
    }

    pub fn current(&self) -> HubMode {
        self.tx.borrow().mode
    }

    pub fn subscribe(&self) -> watch::Receiver<ModeState> {
        self.tx.subscribe()
    }

    /// Switches the mode; `by` says who (`api`, `mqtt`, …). Recorded in the audit log (`mode`)
    /// before it counts; the same mode again changes and records nothing.
    pub fn set(&self, mode: HubMode, by: &str) -> Result<ModeState, ModeError> {
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.state();
        if current.mode == mode {
            return Ok(current);
        }
        // Required: a change not on record does not count.
        let entry = Entry::Mode {
            mode: name(mode).to_owned(),
            was: name(current.mode).to_owned(),
            by: by.to_owned(),
        };
        audit::required(self.audit.as_ref(), &entry)
            .map_err(|e| ModeError::NotRecorded(name(current.mode), e))?;
        let next =
            ModeState { mode, changed_at: Some(jiff::Timestamp::now()), changed_by: Some(by.to_owned()) };
        if let Err(e) = crate::files::write_atomically(&self.file, &next) {
            tracing::error!(file = %self.file.display(), error = %e, "Cannot store the hub mode; it will not survive a restart");
        }
        self.tx.send_replace(next.clone());
        tracing::info!(mode = name(mode), by, "Hub mode changed");
        self.bus.publish(None, EventKind::ModeChanged { mode: name(mode).to_owned(), by: by.to_owned() });
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mode_is_recorded_kept_and_announced() {
        let dir = tempfile::tempdir().expect("tmp");
        let bus = Bus::new(16, crate::metrics::Metrics::new());
        let mut sub = bus.subscribe("test");
        let audit = Audit::open(&dir.path().join("audit")).expect("audit");
        let mode = Mode::open(dir.path(), Some(audit.clone()), bus.clone());
        assert_eq!(mode.current(), HubMode::Home);
        let state = mode.set(HubMode::Away, "api").expect("set");
        assert_eq!((state.mode, state.changed_by.as_deref()), (HubMode::Away, Some("api")));
        assert_eq!(
            sub.try_recv().map(|e| e.kind.clone()),
            Some(EventKind::ModeChanged { mode: "away".into(), by: "api".into() })
        );
        // The same mode again records nothing.
        mode.set(HubMode::Away, "mqtt").expect("same");
        let records = audit::read(&dir.path().join("audit")).expect("read");
        let modes: Vec<_> = records
            .iter()
            .filter_map(|r| match &r.entry {
                Some(Entry::Mode { mode, was, by }) => Some((mode.as_str(), was.as_str(), by.as_str())),
                _ => None,
            })
            .collect();
        assert_eq!(modes, [("away", "home", "api")]);
        // Kept across a restart; a damaged file is home.
        assert_eq!(Mode::open(dir.path(), None, bus.clone()).current(), HubMode::Away);
        std::fs::write(dir.path().join("state/mode.json"), b"{").expect("damage");
        assert_eq!(Mode::open(dir.path(), None, bus.clone()).current(), HubMode::Home);
        // Without an audit log, nothing changes.
        let unaudited = Mode::open(dir.path(), None, bus);
        assert!(matches!(
            unaudited.set(HubMode::Vacation, "api"),
            Err(ModeError::NotRecorded("home", NotWritten::NotOpen))
        ));
        assert_eq!(unaudited.current(), HubMode::Home);
    }

    #[test]
    fn names_round_trip() {
        for m in [HubMode::Home, HubMode::Away, HubMode::Night, HubMode::Vacation] {
            assert_eq!(parse(name(m)), Some(m));
        }
        assert_eq!(parse(" AWAY "), Some(HubMode::Away));
        assert_eq!(parse("party"), None);
    }
}

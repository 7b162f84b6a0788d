//! Subsystem states for `GET /api/health`: each subsystem reports what it is doing.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Starting,
    Running,
    /// Working, but something needs attention (details say what).
    Degraded,
    /// Turned off in the config.
    Disabled,
    /// Configured, but this build has no implementation yet.
    NotImplemented,
    Stopping,
    Stopped,
    Failed,
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub state: State,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// Shared registry of subsystem states.
#[derive(Debug, Clone, Default)]
pub struct Health {
    inner: Arc<Mutex<BTreeMap<String, Status>>>,
}

impl Health {
    pub fn set(&self, subsystem: &str, state: State, detail: impl Into<String>) {
        let mut m = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        m.insert(subsystem.to_owned(), Status { state, detail: detail.into() });
    }

    pub fn snapshot(&self) -> BTreeMap<String, Status> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// A registry in which each of `subsystems` is `starting` until it reports, so the first
    /// answer of `GET /api/health` already names every one.
    pub fn starting(subsystems: &[&str]) -> Self {
        let h = Self::default();
        for s in subsystems {
            h.set(s, State::Starting, "");
        }
        h
    }

    /// `ok` when nothing is degraded, failed or stopping.
    pub fn overall(&self) -> &'static str {
        overall_of(&self.snapshot())
    }
}

/// The overall state of a set of subsystem states (see [`Health::overall`]).
pub fn overall_of(m: &BTreeMap<String, Status>) -> &'static str {
    if m.values().any(|s| matches!(s.state, State::Stopping | State::Stopped)) {
        "stopping"
    } else if m.values().any(|s| matches!(s.state, State::Failed | State::Degraded | State::Starting)) {
        "degraded"
    } else {
        "ok"
    }
}

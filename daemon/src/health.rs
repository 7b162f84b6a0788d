//! Subsystem states for `GET /api/health`: each subsystem reports what it is doing.
//! The subsystems are a fixed set, [`Subsystem`]; `docs/ref/api.md` describes each.

use std::cmp::Ordering;
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

/// A part of the daemon that reports its state: a key of `subsystems` in `GET /api/health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subsystem {
    Api,
    Audit,
    Bus,
    Cameras,
    Config,
    Discovery,
    Mqtt,
    Plugins,
    Relay,
    Storage,
}

impl Subsystem {
    /// Every subsystem; `GET /api/health` lists each from its first answer.
    pub const ALL: [Subsystem; 10] = [
        Self::Api,
        Self::Audit,
        Self::Bus,
        Self::Cameras,
        Self::Config,
        Self::Discovery,
        Self::Mqtt,
        Self::Plugins,
        Self::Relay,
        Self::Storage,
    ];

    /// The key in `GET /api/health`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Audit => "audit",
            Self::Bus => "bus",
            Self::Cameras => "cameras",
            Self::Config => "config",
            Self::Discovery => "discovery",
            Self::Mqtt => "mqtt",
            Self::Plugins => "plugins",
            Self::Relay => "relay",
            Self::Storage => "storage",
        }
    }
}

/// Ordered by name, so a map of subsystems serializes in alphabetical order.
impl Ord for Subsystem {
    fn cmp(&self, other: &Self) -> Ordering {
        self.name().cmp(other.name())
    }
}

impl PartialOrd for Subsystem {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Serialize for Subsystem {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
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
    inner: Arc<Mutex<BTreeMap<Subsystem, Status>>>,
}

impl Health {
    pub fn set(&self, subsystem: Subsystem, state: State, detail: impl Into<String>) {
        let mut m = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        m.insert(subsystem, Status { state, detail: detail.into() });
    }

    pub fn snapshot(&self) -> BTreeMap<Subsystem, Status> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// A registry in which each of `subsystems` is `starting` until it reports, so the first
    /// answer of `GET /api/health` already names every one.
    pub fn starting(subsystems: &[Subsystem]) -> Self {
        let h = Self::default();
        for s in subsystems {
            h.set(*s, State::Starting, "");
        }
        h
    }

    /// `ok` when nothing is degraded, failed or stopping.
    pub fn overall(&self) -> &'static str {
        overall_of(&self.snapshot())
    }
}

/// The overall state of a set of subsystem states (see [`Health::overall`]).
pub fn overall_of(m: &BTreeMap<Subsystem, Status>) -> &'static str {
    if m.values().any(|s| matches!(s.state, State::Stopping | State::Stopped)) {
        "stopping"
    } else if m.values().any(|s| matches!(s.state, State::Failed | State::Degraded | State::Starting)) {
        "degraded"
    } else {
        "ok"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_every_subsystem_by_name_in_alphabetical_order() {
        let h = Health::starting(&Subsystem::ALL);
        h.set(Subsystem::Api, State::Running, "http://127.0.0.1:8477");
        h.set(Subsystem::Mqtt, State::Disabled, "");
        let json = serde_json::to_string(&h.snapshot()).expect("json");
        assert_eq!(
            json,
            concat!(
                r#"{"api":{"state":"running","detail":"http://127.0.0.1:8477"},"audit":{"state":"starting"},"#,
                r#""bus":{"state":"starting"},"cameras":{"state":"starting"},"config":{"state":"starting"},"#,
                r#""discovery":{"state":"starting"},"mqtt":{"state":"disabled"},"plugins":{"state":"starting"},"#,
                r#""relay":{"state":"starting"},"storage":{"state":"starting"}}"#
            )
        );
    }

    /// The subsystem table of `GET /api/health` in docs/ref/api.md names exactly these.
    #[test]
    fn every_subsystem_is_documented() {
        let docs = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/ref/api.md"),
        )
        .expect("docs/ref/api.md");
        let table = docs
            .split("| Subsystem | States and detail |")
            .nth(1)
            .expect("the subsystem table in docs/ref/api.md");
        let documented: std::collections::BTreeSet<&str> = table
            .lines()
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .filter_map(|l| l.split('`').nth(1))
            .collect();
        let known: std::collections::BTreeSet<&str> = Subsystem::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(documented, known, "docs/ref/api.md (left) and Subsystem::ALL (right) differ");
    }
}

//! Decisions the center has not taken yet because the link stopped (a `[relay]` change,
//! shutdown) or the hub gave up retrying: kept in `data_dir/state/relay-outbox.json` and posted
//! again by the link, after its next successful poll (also after a restart). Each is already in
//! the audit log (`relay_reply`); this only makes sure it also reaches the center.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Decisions kept at most; beyond, the oldest are dropped (and logged).
pub const MAX_KEPT: usize = 1000;

/// One undelivered decision: the exact body that was (to be) posted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Undelivered {
    pub request_id: String,
    pub body: Value,
}

/// The outbox. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Outbox {
    file: PathBuf,
    inner: Arc<Mutex<Vec<Undelivered>>>,
}

impl Outbox {
    /// Loads what an earlier run could not deliver (nothing if the file is missing; a damaged
    /// file is logged and set aside).
    pub fn open(data_dir: &Path) -> Self {
        let file = data_dir.join("state/relay-outbox.json");
        let kept = match std::fs::read(&file) {
            Ok(b) => serde_json::from_slice::<Vec<Undelivered>>(&b).unwrap_or_else(|e| {
                tracing::error!(file = %file.display(), error = %e, "The relay outbox is damaged; its decisions are only in the audit log");
                Vec::new()
            }),
            Err(_) => Vec::new(),
        };
        if !kept.is_empty() {
            tracing::info!(count = kept.len(), "Decisions not yet delivered to the relay center");
        }
        Self { file, inner: Arc::new(Mutex::new(kept)) }
    }

    /// Keeps a decision for later (replacing an earlier one for the same request: the latest
    /// answer is the one that counts).
    pub fn keep(&self, request_id: &str, body: Value) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.retain(|u| u.request_id != request_id);
        inner.push(Undelivered { request_id: request_id.to_owned(), body });
        if inner.len() > MAX_KEPT {
            let dropped = inner.len() - MAX_KEPT;
            inner.drain(..dropped);
            tracing::error!(
                dropped,
                "The relay outbox is full; the oldest decisions are only in the audit log"
            );
        }
        self.store(&inner);
    }

    /// Takes everything kept (to post it now; what fails is kept again).
    pub fn take(&self) -> Vec<Undelivered> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let all = std::mem::take(&mut *inner);
        if !all.is_empty() {
            self.store(&inner);
        }
        all
    }

    fn store(&self, list: &[Undelivered]) {
        if let Err(e) = crate::files::write_atomically(&self.file, &list) {
            tracing::error!(file = %self.file.display(), error = %e, "Cannot store the relay outbox; undelivered decisions will not survive a restart");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_decisions_survive_a_restart_and_the_latest_per_request_counts() {
        let dir = tempfile::tempdir().expect("tmp");
        let o = Outbox::open(dir.path());
        o.keep("r-1", serde_json::json!({ "decision": "pending" }));
        o.keep("r-2", serde_json::json!({ "decision": "deny" }));
        o.keep("r-1", serde_json::json!({ "decision": "allow" }));
        let again = Outbox::open(dir.path());
        let kept = again.take();
        assert_eq!(kept.len(), 2);
        assert_eq!((kept[0].request_id.as_str(), kept[0].body["decision"].as_str()), ("r-2", Some("deny")));
        assert_eq!((kept[1].request_id.as_str(), kept[1].body["decision"].as_str()), ("r-1", Some("allow")));
        assert!(Outbox::open(dir.path()).take().is_empty(), "taken is gone from the file too");
    }
}

//! What the camera writers report besides index rows: which cameras cannot write (and why),
//! and how many bytes all of them made durable lately. It travels with the [`Index`] (every
//! writer and the retention task hold one), so retention can set the `storage` health from it
//! and size its emergency sweep by the current write rate (`docs/design/recording.md` §7, §8).
//!
//! [`Index`]: super::index::Index

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// The write rate is measured over this long.
pub const RATE_WINDOW: Duration = Duration::from_secs(60);

/// Cheap to clone; all clones share one state.
#[derive(Debug, Clone)]
pub struct WriteStatus {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Camera → the error of its last failed write, while its writes fail.
    failing: watch::Sender<BTreeMap<String, String>>,
    /// (when, bytes) of every durable fragment within [`RATE_WINDOW`], oldest first.
    written: Mutex<VecDeque<(Instant, u64)>>,
}

impl Default for WriteStatus {
    fn default() -> Self {
        Self {
            inner: Arc::new(Inner {
                failing: watch::Sender::new(BTreeMap::new()),
                written: Mutex::new(VecDeque::new()),
            }),
        }
    }
}

impl WriteStatus {
    /// `camera`'s write (or segment creation) failed with `error`.
    pub fn failed(&self, camera: &str, error: &str) {
        self.inner.failing.send_if_modified(|m| {
            if m.get(camera).is_some_and(|e| e == error) {
                return false;
            }
            m.insert(camera.to_owned(), error.to_owned());
            true
        });
    }

    /// `camera` wrote successfully, or stopped recording: it no longer counts as failing.
    pub fn cleared(&self, camera: &str) {
        self.inner.failing.send_if_modified(|m| m.remove(camera).is_some());
    }

    /// The cameras whose writes fail now, with their errors.
    pub fn failing(&self) -> BTreeMap<String, String> {
        self.inner.failing.borrow().clone()
    }

    /// Changes of [`WriteStatus::failing`].
    pub fn subscribe(&self) -> watch::Receiver<BTreeMap<String, String>> {
        self.inner.failing.subscribe()
    }

    /// A fragment of `bytes` became durable at `at`.
    pub fn wrote(&self, at: Instant, bytes: u64) {
        let mut w = self.inner.written.lock().unwrap_or_else(PoisonError::into_inner);
        prune(&mut w, at);
        w.push_back((at, bytes));
    }

    /// Bytes per second all cameras made durable over the last [`RATE_WINDOW`] (or since the
    /// first write in it, but at least over 1 s: a fragment holds about a second).
    pub fn rate(&self, now: Instant) -> f64 {
        let mut w = self.inner.written.lock().unwrap_or_else(PoisonError::into_inner);
        prune(&mut w, now);
        let Some(&(oldest, _)) = w.front() else { return 0.0 };
        let span = now.saturating_duration_since(oldest).clamp(Duration::from_secs(1), RATE_WINDOW);
        let bytes: u64 = w.iter().map(|(_, b)| b).sum();
        bytes as f64 / span.as_secs_f64()
    }
}

fn prune(w: &mut VecDeque<(Instant, u64)>, now: Instant) {
    while w.front().is_some_and(|(t, _)| now.saturating_duration_since(*t) > RATE_WINDOW) {
        w.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_is_what_was_written_over_the_last_minute() {
        let s = WriteStatus::default();
        let t0 = Instant::now();
        assert_eq!(s.rate(t0), 0.0);
        // 90 s of one fragment of 1000 bytes per second.
        for i in 0..90 {
            s.wrote(t0 + Duration::from_secs(i), 1000);
        }
        let now = t0 + Duration::from_secs(90);
        let r = s.rate(now);
        assert!((990.0..=1010.0).contains(&r), "{r}");
        // Two seconds in: about the rate of those two seconds, not spread over a minute.
        let s = WriteStatus::default();
        s.wrote(t0, 5000);
        s.wrote(t0 + Duration::from_secs(1), 5000);
        let r = s.rate(t0 + Duration::from_secs(2));
        assert!((4000.0..=6000.0).contains(&r), "{r}");
        // Nothing for over a minute: nothing.
        assert_eq!(s.rate(t0 + Duration::from_secs(120)), 0.0);
    }

    #[test]
    fn failing_cameras_are_listed_until_they_write_again_and_changes_are_signalled() {
        let s = WriteStatus::default();
        let mut rx = s.subscribe();
        s.failed("door", "No space left on device (os error 28)");
        assert!(rx.has_changed().expect("sender alive"));
        rx.mark_unchanged();
        // The same error again is no change.
        s.failed("door", "No space left on device (os error 28)");
        assert!(!rx.has_changed().expect("sender alive"));
        s.failed("yard", "Input/output error (os error 5)");
        assert_eq!(s.failing().keys().collect::<Vec<_>>(), ["door", "yard"]);
        s.cleared("door");
        assert_eq!(s.failing().keys().collect::<Vec<_>>(), ["yard"]);
        rx.mark_unchanged();
        s.cleared("door");
        assert!(!rx.has_changed().expect("sender alive"));
    }
}

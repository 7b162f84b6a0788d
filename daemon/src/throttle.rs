//! Rate-limiting for repeated log lines: the first occurrence is logged at once, then at most
//! one line per interval, carrying how many occurrences it stands for. A leaf module: it
//! imports nothing from the crate.

use std::time::{Duration, Instant};

/// Counts occurrences of something worth a log line and says when to write one.
#[derive(Debug)]
pub struct Throttle {
    every: Duration,
    last: Option<Instant>,
    count: u64,
}

impl Throttle {
    /// At most one line per `every`.
    pub const fn new(every: Duration) -> Self {
        Self { every, last: None, count: 0 }
    }

    /// Counts an occurrence at `now`; `Some(n)` when a line is due, `n` occurrences since the
    /// previous line (this one included).
    pub fn note(&mut self, now: Instant) -> Option<u64> {
        self.count += 1;
        if self.last.is_some_and(|t| now.saturating_duration_since(t) < self.every) {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_at_once_then_one_per_interval_with_a_count() {
        let mut t = Throttle::new(Duration::from_secs(60));
        let t0 = Instant::now();
        assert_eq!(t.note(t0), Some(1));
        for s in 1..60 {
            assert_eq!(t.note(t0 + Duration::from_secs(s)), None, "{s}");
        }
        assert_eq!(t.note(t0 + Duration::from_secs(60)), Some(60));
        assert_eq!(t.note(t0 + Duration::from_secs(200)), Some(1));
    }
}

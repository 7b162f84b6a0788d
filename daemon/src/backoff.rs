//! The one retry schedule: how long to wait before trying again something that failed (a camera
//! session, an ONVIF subscription, the relay link, an upload, the MQTT broker). A leaf: it
//! imports nothing of the crate.

use std::time::Duration;

/// The delay before retry `attempt` (0-based) of something that failed: 1 s doubling to a 30 s
/// cap, with ±20 % jitter so cameras that fell off together do not all come back at the same
/// instant.
pub fn delay(attempt: u32) -> Duration {
    let base = 1000u64.saturating_mul(1u64 << attempt.min(5)).min(30_000);
    let jitter = 0.8 + fastrand::f64() * 0.4;
    Duration::from_millis((base as f64 * jitter) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_to_a_thirty_second_cap_with_jitter() {
        for (attempt, base) in
            [(0u32, 1000u64), (1, 2000), (2, 4000), (3, 8000), (4, 16000), (5, 30000), (40, 30000)]
        {
            for _ in 0..50 {
                let ms = delay(attempt).as_millis() as u64;
                assert!(ms >= base * 8 / 10 && ms <= base * 12 / 10, "attempt {attempt}: {ms} ms");
            }
        }
    }
}

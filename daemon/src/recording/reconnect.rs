//! When to try a camera again. Two kinds of waiting, because a camera that is down and a camera
//! that answers but will not stream cost different things to retry:
//!
//! - While its RTSP port refuses connections (camera rebooting, unplugged, server stopped), a
//!   TCP connect is tried every [`PROBE_INTERVAL`]: one SYN, nothing for the camera to do, and
//!   recording resumes within about that long of the port opening again.
//! - Once the port accepts, a full RTSP session is tried, and sessions that fail without a
//!   frame (401, 404, no video, a stall) back off from 1 s doubling to 30 s, so a misconfigured
//!   camera is not hammered. A session that delivered frames resets that backoff, and at most
//!   one session starts per [`MIN_SESSION_SPACING`] whatever happens.
//!
//! [`Reconnect`] is the state; the ingest loop (`recording/mod.rs`) feeds it what happened and
//! sleeps for what it says. Times are tokio's, so tests run the loop on paused time.

use std::time::Duration;

use tokio::time::Instant;

/// Between TCP probes of a camera whose port refuses connections.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(500);
/// How long one TCP probe may take (a host that drops SYNs instead of refusing them).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// At least this long between the starts of two RTSP sessions with one camera.
pub const MIN_SESSION_SPACING: Duration = Duration::from_secs(1);

/// The reconnect state of one camera.
#[derive(Debug, Default)]
pub struct Reconnect {
    /// RTSP sessions in a row that ended without a frame.
    failures: u32,
    last_start: Option<Instant>,
}

impl Reconnect {
    /// An RTSP session starts at `now`.
    pub fn session_started(&mut self, now: Instant) {
        self.last_start = Some(now);
    }

    /// The session ended; `streamed`: it delivered at least one frame.
    pub fn session_ended(&mut self, streamed: bool) {
        self.failures = if streamed { 0 } else { self.failures.saturating_add(1) };
    }

    /// How long to wait at `now` before probing the camera for the next session: the backoff
    /// after failed sessions, and never less than what keeps session starts
    /// [`MIN_SESSION_SPACING`] apart. Nothing after a session that streamed, when the last
    /// start is long enough ago.
    pub fn delay(&self, now: Instant) -> Duration {
        let spacing = self
            .last_start
            .map_or(Duration::ZERO, |t| MIN_SESSION_SPACING.saturating_sub(now.saturating_duration_since(t)));
        let backoff = match self.failures {
            0 => Duration::ZERO,
            n => crate::backoff::delay(n - 1),
        };
        spacing.max(backoff)
    }
}

/// Whether the camera's RTSP port accepts a TCP connection (closed again at once); the error
/// says why not. Port 554 when the URL names none.
pub async fn probe(url: &url::Url) -> Result<(), ProbeError> {
    let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_owned();
    let port = url.port().unwrap_or(554);
    let fail = |reason: String| ProbeError { host: host.clone(), port, reason };
    match tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect((host.as_str(), port))).await {
        Ok(Ok(_stream)) => Ok(()),
        Ok(Err(e)) => Err(fail(e.to_string())),
        Err(_) => Err(fail(format!("no answer within {PROBE_TIMEOUT:?}"))),
    }
}

/// The camera's RTSP port did not accept a connection.
#[derive(Debug, thiserror::Error)]
#[error("cannot connect to {host}:{port}: {reason}")]
pub struct ProbeError {
    pub host: String,
    pub port: u16,
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_camera_that_streamed_is_tried_again_at_once_but_sessions_start_at_most_once_a_second() {
        let t0 = Instant::now();
        let mut r = Reconnect::default();
        assert_eq!(r.delay(t0), Duration::ZERO, "the first session starts at once");
        r.session_started(t0);
        // It streamed for a minute, then the camera went away: no pause before probing.
        r.session_ended(true);
        assert_eq!(r.delay(t0 + Duration::from_secs(60)), Duration::ZERO);
        // A session that streamed briefly: the next one still waits out the spacing.
        r.session_started(t0 + Duration::from_secs(60));
        r.session_ended(true);
        assert_eq!(r.delay(t0 + Duration::from_millis(60_300)), Duration::from_millis(700));
    }

    #[test]
    fn sessions_that_fail_without_a_frame_back_off_to_thirty_seconds_and_a_frame_resets_it() {
        let mut now = Instant::now();
        let mut r = Reconnect::default();
        let mut waits = Vec::new();
        for _ in 0..8 {
            r.session_started(now);
            now += Duration::from_millis(50); // a 401 comes back quickly
            r.session_ended(false);
            let d = r.delay(now);
            waits.push(d);
            now += d;
        }
        for (i, base) in [1000u128, 2000, 4000, 8000, 16000, 30000, 30000, 30000].into_iter().enumerate() {
            let ms = waits[i].as_millis();
            assert!(ms >= base * 8 / 10 && ms <= base * 12 / 10, "failure {}: {ms} ms", i + 1);
        }
        r.session_started(now);
        r.session_ended(true);
        assert_eq!(r.delay(now + MIN_SESSION_SPACING), Duration::ZERO, "frames reset the backoff");
    }

    #[tokio::test]
    async fn the_probe_says_whether_the_port_accepts_connections() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let url: url::Url = format!("rtsp://127.0.0.1:{port}/stream").parse().expect("url");
        probe(&url).await.expect("an open port accepts");
        drop(listener);
        let e = probe(&url).await.expect_err("a closed port refuses");
        assert_eq!((e.host.as_str(), e.port), ("127.0.0.1", port));
        assert!(e.to_string().starts_with(&format!("cannot connect to 127.0.0.1:{port}: ")), "{e}");
    }
}

//! Browser sessions for the web app, and the brake on failed sign-ins.
//!
//! A session is a random 256-bit id in an `HttpOnly`, `SameSite=Strict` cookie, with its own
//! random CSRF token that the app sends back in a header on every write. Sessions live in
//! memory only (a restart signs everyone out), end at `api.session_lifetime` after sign-in, at
//! sign-out, and as soon as the token they were signed in with is no longer the configured one.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::digest::{hex, sha256_hex};
use crate::secret::Secret;

/// The cookie's name.
pub const COOKIE: &str = "porchlight_session";

/// Sessions kept at most; signing in beyond it ends the one closest to its end.
pub const MAX_SESSIONS: usize = 256;

/// No random source: nothing can be signed in (never expected on Linux).
#[derive(Debug, thiserror::Error)]
#[error("no random source for a session id: {0}")]
pub struct NoRandom(String);

/// A live session as its holder may see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// What writes must carry in the CSRF header (redacted in `Debug`, like the token).
    pub csrf: Secret,
    /// When it ends at the latest.
    pub expires: jiff::Timestamp,
}

#[derive(Debug)]
struct Entry {
    session: Session,
    ends: Instant,
    /// SHA-256 of the token it was signed in with; `None` when the hub had none.
    token: Option<String>,
}

/// The hub's browser sessions. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Sessions {
    // Keyed by the SHA-256 of the id, so that the id itself is never kept and a lookup reveals
    // nothing about ids through its timing.
    inner: Arc<Mutex<HashMap<String, Entry>>>,
}

fn token_hash(token: Option<&Secret>) -> Option<String> {
    token.map(|t| sha256_hex(t.expose().as_bytes()))
}

fn random_hex() -> Result<String, NoRandom> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| NoRandom(e.to_string()))?;
    Ok(hex(&bytes))
}

impl Sessions {
    /// Starts a session for a browser that proved it knows `token` (or for any local browser
    /// when the hub has none). Returns the cookie value and the session.
    pub fn start(&self, token: Option<&Secret>, lifetime: Duration) -> Result<(String, Session), NoRandom> {
        let id = random_hex()?;
        let session = Session {
            csrf: Secret::new(random_hex()?),
            expires: jiff::Timestamp::now()
                .checked_add(jiff::SignedDuration::try_from(lifetime).unwrap_or(jiff::SignedDuration::ZERO))
                .unwrap_or(jiff::Timestamp::MAX),
        };
        let now = Instant::now();
        let mut map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, e| e.ends > now);
        while map.len() >= MAX_SESSIONS {
            let Some(first) = map.iter().min_by_key(|(_, e)| e.ends).map(|(k, _)| k.clone()) else { break };
            map.remove(&first);
        }
        let entry = Entry { session: session.clone(), ends: now + lifetime, token: token_hash(token) };
        map.insert(sha256_hex(id.as_bytes()), entry);
        Ok((id, session))
    }

    /// The live session with this cookie value, if it is one signed in with the current token.
    pub fn find(&self, id: &str, token: Option<&Secret>) -> Option<Session> {
        let key = sha256_hex(id.as_bytes());
        let mut map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = map.get(&key)?;
        if entry.ends <= Instant::now() || entry.token != token_hash(token) {
            map.remove(&key);
            return None;
        }
        Some(entry.session.clone())
    }

    /// Ends the session with this cookie value; whether there was one.
    pub fn end(&self, id: &str) -> bool {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).remove(&sha256_hex(id.as_bytes())).is_some()
    }

    /// Live sessions (for tests and the log).
    pub fn len(&self) -> usize {
        let now = Instant::now();
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).values().filter(|e| e.ends > now).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Failed sign-ins allowed from one address before each further attempt must wait.
pub const FREE_FAILURES: u32 = 5;
/// The longest wait between attempts.
pub const MAX_WAIT: Duration = Duration::from_secs(300);
/// Failures are forgotten after this long without one.
pub const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// Addresses remembered at most (the oldest is forgotten first).
const MAX_CLIENTS: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// Slows down guessing: after [`FREE_FAILURES`] wrong tokens from one address, each further
/// attempt from it must wait twice as long as the one before (1 s, 2 s, 4 s, … up to
/// [`MAX_WAIT`]). A sign-in attempt while waiting is refused without looking at the token.
#[derive(Debug, Clone, Default)]
pub struct SignInBrake {
    inner: Arc<Mutex<HashMap<IpAddr, Failures>>>,
}

impl SignInBrake {
    /// `Err(wait)` when `ip` must wait that long more before trying again.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(f) = map.get(&ip) else { return Ok(()) };
        let until = f.last + wait_after(f.count);
        if until > now { Err(until - now) } else { Ok(()) }
    }

    /// Counts a wrong token from `ip`; the wait before its next attempt.
    pub fn failed(&self, ip: IpAddr, now: Instant) -> Duration {
        let mut map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, f| now.saturating_duration_since(f.last) < FORGET_AFTER);
        if map.len() >= MAX_CLIENTS
            && !map.contains_key(&ip)
            && let Some(oldest) = map.iter().min_by_key(|(_, f)| f.last).map(|(ip, _)| *ip)
        {
            map.remove(&oldest);
        }
        let f = map.entry(ip).or_insert(Failures { count: 0, last: now });
        f.count = f.count.saturating_add(1);
        f.last = now;
        wait_after(f.count)
    }

    /// A right token from `ip` clears its failures.
    pub fn succeeded(&self, ip: IpAddr) {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).remove(&ip);
    }
}

/// The wait after `failures` wrong tokens in a row.
fn wait_after(failures: u32) -> Duration {
    match failures.checked_sub(FREE_FAILURES) {
        None => Duration::ZERO,
        Some(extra) => Duration::from_secs(1u64 << extra.min(16)).min(MAX_WAIT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_by_its_id_until_it_ends() {
        let sessions = Sessions::default();
        let token = Secret::new("hunter2");
        let (id, s) = sessions.start(Some(&token), Duration::from_secs(60)).expect("start");
        assert_eq!(id.len(), 64);
        assert_eq!(sessions.find(&id, Some(&token)), Some(s.clone()));
        assert_ne!(s.csrf.expose(), id, "the CSRF token is not the session id");
        assert_eq!(sessions.find("0".repeat(64).as_str(), Some(&token)), None);
        assert!(sessions.end(&id));
        assert_eq!(sessions.find(&id, Some(&token)), None);
        assert!(!sessions.end(&id));
    }

    #[test]
    fn a_new_token_ends_the_sessions_signed_in_with_the_old_one() {
        let sessions = Sessions::default();
        let (id, _) = sessions.start(Some(&Secret::new("old")), Duration::from_secs(60)).expect("start");
        assert_eq!(sessions.find(&id, Some(&Secret::new("new"))), None);
        assert_eq!(sessions.find(&id, Some(&Secret::new("old"))), None, "it was ended, not just refused");
        let (open, _) = sessions.start(None, Duration::from_secs(60)).expect("start");
        assert!(sessions.find(&open, None).is_some());
        assert_eq!(sessions.find(&open, Some(&Secret::new("set later"))), None);
    }

    #[test]
    fn an_expired_session_is_gone() {
        let sessions = Sessions::default();
        let (id, _) = sessions.start(None, Duration::ZERO).expect("start");
        assert_eq!(sessions.find(&id, None), None);
        assert!(sessions.is_empty());
    }

    #[test]
    fn sessions_are_capped() {
        let sessions = Sessions::default();
        let (first, _) = sessions.start(None, Duration::from_secs(10)).expect("start");
        for _ in 0..MAX_SESSIONS {
            sessions.start(None, Duration::from_secs(60)).expect("start");
        }
        assert_eq!(sessions.len(), MAX_SESSIONS);
        assert_eq!(sessions.find(&first, None), None, "the one closest to its end made room");
    }

    #[test]
    fn five_wrong_tokens_are_free_then_each_attempt_waits_twice_as_long() {
        let brake = SignInBrake::default();
        let ip: IpAddr = [127, 0, 0, 9].into();
        let other: IpAddr = [127, 0, 0, 10].into();
        let t0 = Instant::now();
        for i in 0..FREE_FAILURES {
            assert_eq!(brake.check(ip, t0), Ok(()), "attempt {i}");
            assert_eq!(brake.failed(ip, t0) > Duration::ZERO, i + 1 == FREE_FAILURES);
        }
        assert_eq!(brake.check(ip, t0), Err(Duration::from_secs(1)));
        assert_eq!(brake.check(other, t0), Ok(()), "other addresses are not slowed");
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(brake.check(ip, t1), Ok(()));
        assert_eq!(brake.failed(ip, t1), Duration::from_secs(2));
        assert_eq!(brake.check(ip, t1 + Duration::from_millis(500)), Err(Duration::from_millis(1500)));
        let mut t = t1;
        for _ in 0..20 {
            t += MAX_WAIT;
            brake.failed(ip, t);
        }
        assert_eq!(brake.check(ip, t), Err(MAX_WAIT), "the wait is capped");
        brake.succeeded(ip);
        assert_eq!(brake.check(ip, t), Ok(()));
    }
}

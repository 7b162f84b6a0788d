//! Sharing requests in the hub: each one is decided by the policies ([`PolicyService`]); an
//! `ask` waits here for the resident (API, CLI, MQTT/Home Assistant) until its timeout, and no
//! answer in time is `deny`. Privacy mode denies every waiting request at once. Every answer is
//! written to the audit log before it counts; an approval that cannot be recorded is refused.
//!
//! The relay (and the local API) hand requests in with [`Requests::submit`]; whoever waits for
//! the outcome of an `ask` gets it through the receiver in [`Submitted::Pending`].

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::audit::{self, Audit, Entry, NotWritten, Record};
use crate::bus::{Bus, EventKind};
use crate::config::Settings;
use crate::policy::pool::Admission;
use crate::policy::service::PolicyService;
use crate::policy::{Decision, Grant, HubMode, Request, RequestKind, Verdict};
use crate::privacy::Privacy;

/// Decided requests kept for `GET /api/requests` (older ones are only in the audit log).
const KEEP_DONE: usize = 200;
/// Ids of requests decided before this start (from the audit log) kept so that one asked again
/// after a restart gets the answer it had, and nothing is shared twice by accident.
pub const KEEP_EARLIER: usize = 10_000;
/// Requests waiting at once; more are denied (a flood must not hide real ones or grow memory).
pub const MAX_PENDING: usize = 100;

/// A request waiting for the resident.
#[derive(Debug, Clone, Serialize)]
pub struct PendingView {
    pub id: String,
    pub source: String,
    pub request: Request,
    pub prompt: String,
    pub asked_at: Timestamp,
    pub expires: Timestamp,
}

/// A request that has its final answer.
#[derive(Debug, Clone, Serialize)]
pub struct Finished {
    pub id: String,
    pub source: String,
    pub decision: Decision,
    /// `policy`, `resident (<channel>)`, `timeout`, `privacy mode` or `shutdown`.
    pub decided_by: String,
    pub at: Timestamp,
}

/// What [`Requests::submit`] returns.
#[derive(Debug)]
pub enum Submitted {
    /// The policies answered `allow` or `deny`.
    Decided(Verdict),
    /// The policies said `ask`: the final decision arrives on `outcome`.
    Pending { view: Box<PendingView>, verdict: Verdict, outcome: oneshot::Receiver<Decision> },
}

/// The resident's narrowing of a request when approving it (all optional: the request as asked).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    #[serde(default)]
    pub cameras: Option<Vec<String>>,
    #[serde(default)]
    pub from: Option<Timestamp>,
    #[serde(default)]
    pub to: Option<Timestamp>,
    #[serde(default)]
    pub live_max_seconds: Option<u32>,
    #[serde(default)]
    pub strip_audio: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("request id {0:?} must be 1-128 characters of A-Z, a-z, 0-9, `.`, `_`, `:` and `-`")]
    BadId(String),
    #[error("request {0:?} was already received")]
    Duplicate(String),
    #[error("no request {0:?} is waiting for an answer")]
    NotPending(String),
    #[error("the approval is wider than the request: {0}")]
    Wider(Wider),
    #[error("privacy mode is on: nothing can be approved")]
    Privacy,
    #[error("the approval cannot be recorded in the audit log, so it is not given ({0})")]
    NotRecorded(NotWritten),
    #[error("nothing is being shared for request {0:?}")]
    NotSharing(String),
    #[error(transparent)]
    Busy(#[from] crate::policy::pool::Busy),
}

/// A share in progress: registered with the desk (listed, revocable, cut by privacy mode) until
/// dropped. Whatever sends the footage stops when [`ShareGuard::cancel`] fires.
pub struct ShareGuard {
    inner: Arc<Mutex<Inner>>,
    serial: u64,
    pub cancel: CancellationToken,
    why: Arc<std::sync::OnceLock<String>>,
    changed: Arc<watch::Sender<u64>>,
}

impl std::fmt::Debug for ShareGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShareGuard").field("serial", &self.serial).finish_non_exhaustive()
    }
}

impl ShareGuard {
    /// Why the share was cut: `revoked by the resident (<channel>)`, `privacy mode is on`, or
    /// (the parent token fired) `the hub is stopping`.
    pub fn cut_reason(&self) -> String {
        self.why.get().cloned().unwrap_or_else(|| "the hub is stopping".to_owned())
    }
}

impl Drop for ShareGuard {
    fn drop(&mut self) {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).sharing.retain(|s| s.serial != self.serial);
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }
}

struct Waiting {
    view: PendingView,
    tx: Option<oneshot::Sender<Decision>>,
}

/// Footage leaving the house right now for a request (a live stream, clips being sent).
#[derive(Debug, Clone, Serialize)]
pub struct ShareView {
    pub id: String,
    /// `clip`, `live` or `snapshot`.
    pub kind: String,
    pub cameras: Vec<String>,
    pub started: Timestamp,
    /// When it ends at the latest (live streams).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
}

struct Sharing {
    view: ShareView,
    serial: u64,
    cancel: CancellationToken,
    why: Arc<std::sync::OnceLock<String>>,
}

#[derive(Default)]
struct Inner {
    pending: Vec<Waiting>,
    sharing: Vec<Sharing>,
    next_share: u64,
    done: VecDeque<Finished>,
    /// Ids being decided right now (so the same id handed in twice is decided once).
    deciding: std::collections::HashSet<String>,
    /// Requests decided before this start, by id (from the audit log).
    earlier: std::collections::HashMap<String, Finished>,
}

/// Takes an id off the "being decided" list when dropped.
struct Deciding {
    inner: Arc<Mutex<Inner>>,
    id: String,
}

impl Drop for Deciding {
    fn drop(&mut self) {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).deciding.remove(&self.id);
    }
}

/// The request desk. Cheap to clone.
#[derive(Clone)]
pub struct Requests {
    inner: Arc<Mutex<Inner>>,
    policy: Option<Arc<PolicyService>>,
    privacy: Privacy,
    settings: watch::Receiver<Arc<Settings>>,
    bus: Bus,
    audit: Option<Audit>,
    wake: Arc<Notify>,
    changed: Arc<watch::Sender<u64>>,
}

impl std::fmt::Debug for Requests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Requests").field("pending", &self.pending().len()).finish_non_exhaustive()
    }
}

impl Requests {
    pub fn new(
        policy: Option<Arc<PolicyService>>,
        privacy: Privacy,
        settings: watch::Receiver<Arc<Settings>>,
        bus: Bus,
        audit: Option<Audit>,
    ) -> Self {
        Self {
            inner: Arc::default(),
            policy,
            privacy,
            settings,
            bus,
            audit,
            wake: Arc::new(Notify::new()),
            changed: Arc::new(watch::channel(0).0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The policy service (`None` when the engine could not start).
    pub fn policy(&self) -> Option<Arc<PolicyService>> {
        self.policy.clone()
    }

    /// Requests waiting for the resident, oldest first.
    pub fn pending(&self) -> Vec<PendingView> {
        self.lock().pending.iter().map(|w| w.view.clone()).collect()
    }

    /// Recently decided requests, newest first.
    pub fn recent(&self) -> Vec<Finished> {
        self.lock().done.iter().rev().cloned().collect()
    }

    /// How request `id` was finally decided: in this run, or (from the audit log) before it.
    pub fn decided(&self, id: &str) -> Option<Finished> {
        let inner = self.lock();
        inner.done.iter().rev().find(|d| d.id == id).cloned().or_else(|| inner.earlier.get(id).cloned())
    }

    /// Learns the final decisions of earlier runs from the audit log (`entries`, oldest first):
    /// the policies' `allow`/`deny` for requests from the relay or the API, and the answers to
    /// those that asked (the resident's, a timeout, privacy mode, shutdown). An `ask` with no
    /// recorded answer (the hub stopped hard) counts as denied. Keeps the newest
    /// [`KEEP_EARLIER`]; returns how many it knows.
    pub fn remember(&self, records: &[Record]) -> usize {
        let mut known: std::collections::HashMap<String, (usize, Finished)> =
            std::collections::HashMap::new();
        for (n, r) in records.iter().enumerate() {
            let (id, decision, source, by) = match &r.entry {
                Some(Entry::Decision { source, request_id, decision, .. }) => match source.as_str() {
                    "relay" | "api" | "offer" => (request_id, decision, source.clone(), "policy".to_owned()),
                    _ => continue,
                },
                Some(Entry::ResidentDecision { request_id, by, decision }) => match known.get(request_id) {
                    Some((_, f)) => (request_id, decision, f.source.clone(), by.clone()),
                    None => continue,
                },
                _ => continue,
            };
            let Ok(decision) = Decision::deserialize(decision) else { continue };
            let at = r.time.unwrap_or(Timestamp::UNIX_EPOCH);
            let decision = match decision {
                Decision::Ask { .. } => Decision::deny("the hub stopped before the resident answered"),
                d => d,
            };
            known.insert(
                id.to_owned(),
                (n, Finished { id: id.to_owned(), source, decision, decided_by: by, at }),
            );
        }
        let mut list: Vec<(usize, Finished)> = known.into_values().collect();
        list.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
        list.truncate(KEEP_EARLIER);
        let mut inner = self.lock();
        inner.earlier = list.into_iter().map(|(_, f)| (f.id.clone(), f)).collect();
        inner.earlier.len()
    }

    /// Ticks whenever the pending list changes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn touch(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Decides `request` with the resident's policies; `source` says where it came from
    /// (`relay`, `api`, ...). Never shares anything by itself.
    pub async fn submit(
        &self,
        request: Request,
        mode: HubMode,
        source: &str,
    ) -> Result<Submitted, RequestError> {
        if !valid_id(&request.id) {
            return Err(RequestError::BadId(request.id.chars().take(140).collect()));
        }
        {
            let mut inner = self.lock();
            if inner.pending.iter().any(|w| w.view.id == request.id)
                || inner.done.iter().any(|d| d.id == request.id)
                || inner.earlier.contains_key(&request.id)
                || !inner.deciding.insert(request.id.clone())
            {
                return Err(RequestError::Duplicate(request.id));
            }
        }
        // Decided to the end on a task of its own, even if the caller gives up (an API client
        // hanging up drops this future): a request that is recorded is also finished (or waits
        // for the resident), and its id is released only then, so it cannot be decided twice.
        let deciding = Deciding { inner: Arc::clone(&self.inner), id: request.id.clone() };
        let (me, source) = (self.clone(), source.to_owned());
        let task = tokio::spawn(async move {
            let _deciding = deciding;
            me.decide(request, mode, &source).await
        });
        task.await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "Deciding a request failed");
            Ok(Submitted::Decided(Verdict {
                decision: Decision::deny("the hub failed while deciding, so nothing is shared"),
                plugins: Vec::new(),
            }))
        })
    }

    async fn decide(&self, request: Request, mode: HubMode, source: &str) -> Result<Submitted, RequestError> {
        let settings = self.settings.borrow().clone();
        let mut context = crate::policy::service::context_from(&settings, mode);
        context.privacy = self.privacy.is_on();
        // A local client is told at once when the hub is busy; the relay's requests (at most
        // 100 per poll) and the policies' offers wait for their turn.
        let admission = if source == "api" { Admission::RefuseWhenBusy } else { Admission::Wait };
        let verdict = match &self.policy {
            Some(p) => p.decide(request.clone(), context, source, admission).await?,
            None => Verdict {
                decision: Decision::deny("the policy engine is not running, so nothing is shared"),
                plugins: Vec::new(),
            },
        };
        let Decision::Ask { prompt, timeout_seconds } = &verdict.decision else {
            self.finish(&request.id, source, verdict.decision.clone(), "policy");
            return Ok(Submitted::Decided(verdict));
        };
        let now = Timestamp::now();
        let expires = now
            .checked_add(jiff::SignedDuration::from_secs(i64::from(*timeout_seconds)))
            .unwrap_or(Timestamp::MAX);
        let view = PendingView {
            id: request.id.clone(),
            source: source.to_owned(),
            request,
            prompt: prompt.clone(),
            asked_at: now,
            expires,
        };
        let (tx, rx) = oneshot::channel();
        let full = {
            let mut inner = self.lock();
            if inner.pending.len() >= MAX_PENDING {
                true
            } else {
                inner.pending.push(Waiting { view: view.clone(), tx: Some(tx) });
                false
            }
        };
        if full {
            let decision =
                Decision::deny(format!("{MAX_PENDING} requests are already waiting for the resident"));
            self.record_answer(&view.id, &decision, "overflow");
            self.finish(&view.id, source, decision.clone(), "overflow");
            return Ok(Submitted::Decided(Verdict { decision, plugins: verdict.plugins }));
        }
        tracing::info!(request = %view.id, expires = %expires, "Request waits for the resident");
        self.bus.publish(
            None,
            EventKind::RequestPending {
                request_id: view.id.clone(),
                requester: format!(
                    "{} ({})",
                    view.request.requester.organisation,
                    view.request.requester.kind.name()
                ),
                prompt: view.prompt.clone(),
                expires,
            },
        );
        self.touch();
        self.wake.notify_one();
        Ok(Submitted::Pending { view: Box::new(view), verdict, outcome: rx })
    }

    /// The resident approves a waiting request, optionally narrowed. `by` names the channel
    /// (`api`, `mqtt`, `cli`).
    pub fn approve(&self, id: &str, approval: &Approval, by: &str) -> Result<Decision, RequestError> {
        if self.privacy.is_on() {
            return Err(RequestError::Privacy);
        }
        let request = {
            let inner = self.lock();
            let w = inner
                .pending
                .iter()
                .find(|w| w.view.id == id)
                .ok_or_else(|| RequestError::NotPending(id.to_owned()))?;
            w.view.request.clone()
        };
        let mut grant = narrow(&request, approval).map_err(RequestError::Wider)?;
        crate::policy::service::cap_live(&mut grant, self.settings.borrow().hub.max_live);
        let decision = Decision::Allow { grant };
        let who = format!("resident ({by})");
        // Required: an approval not on record is not given.
        audit::required(self.audit.as_ref(), &answer(id, &decision, &who))
            .map_err(RequestError::NotRecorded)?;
        self.resolve(id, decision.clone(), &who).ok_or_else(|| RequestError::NotPending(id.to_owned()))?;
        Ok(decision)
    }

    /// The resident denies a waiting request.
    pub fn deny(&self, id: &str, reason: &str, by: &str) -> Result<Decision, RequestError> {
        if !self.lock().pending.iter().any(|w| w.view.id == id) {
            return Err(RequestError::NotPending(id.to_owned()));
        }
        let reason = if reason.is_empty() { "denied by the resident" } else { reason };
        let decision = Decision::deny(reason);
        let who = format!("resident ({by})");
        self.record_answer(id, &decision, &who);
        self.resolve(id, decision.clone(), &who).ok_or_else(|| RequestError::NotPending(id.to_owned()))?;
        Ok(decision)
    }

    /// Switches privacy mode; turning it on denies every waiting request before this returns.
    pub fn set_privacy(
        &self,
        on: bool,
        by: &str,
    ) -> Result<crate::privacy::PrivacyState, crate::privacy::PrivacyError> {
        let state = self.privacy.set(on, by)?;
        if state.on {
            self.cut(None, "privacy mode is on");
            self.deny_all("privacy mode is on", "privacy mode");
        }
        Ok(state)
    }

    /// Registers footage leaving for request `id` until the guard is dropped. Its token is a
    /// child of `parent`, and is already cancelled if privacy mode is on.
    pub fn start_share(
        &self,
        id: &str,
        kind: &str,
        cameras: Vec<String>,
        until: Option<Timestamp>,
        parent: &CancellationToken,
    ) -> ShareGuard {
        let cancel = parent.child_token();
        let why = Arc::new(std::sync::OnceLock::new());
        let serial = {
            let mut inner = self.lock();
            inner.next_share += 1;
            let serial = inner.next_share;
            let view = ShareView {
                id: id.to_owned(),
                kind: kind.to_owned(),
                cameras,
                started: Timestamp::now(),
                until,
            };
            inner.sharing.push(Sharing { view, serial, cancel: cancel.clone(), why: Arc::clone(&why) });
            serial
        };
        // After registering: privacy mode coming on from here on cuts it like any other.
        if self.privacy.is_on() {
            let _ = why.set("privacy mode is on".to_owned());
            cancel.cancel();
        }
        self.touch();
        ShareGuard { inner: Arc::clone(&self.inner), serial, cancel, why, changed: Arc::clone(&self.changed) }
    }

    /// What is being shared right now, oldest first.
    pub fn sharing(&self) -> Vec<ShareView> {
        self.lock().sharing.iter().map(|s| s.view.clone()).collect()
    }

    /// The resident stops everything being shared for request `id` (a live stream is cut, clips
    /// not yet sent are not sent). Recorded in the audit log (`revoked`).
    pub fn revoke(&self, id: &str, by: &str) -> Result<(), RequestError> {
        let who = format!("resident ({by})");
        let cut = self.cut(Some(id), &format!("revoked by the {who}"));
        if cut == 0 {
            return Err(RequestError::NotSharing(id.to_owned()));
        }
        tracing::info!(request = %id, by = %who, "Share revoked");
        // Written after the cut: the revocation holds even if it is not on record.
        audit::best_effort(self.audit.as_ref(), &Entry::Revoked { request_id: id.to_owned(), by: who });
        Ok(())
    }

    /// The resident stops everything being shared (e.g. Home Assistant's "Stop sharing"
    /// button). Each request's shares are recorded as `revoked`; returns how many were cut.
    pub fn revoke_all(&self, by: &str) -> usize {
        let mut ids: Vec<String> = self.lock().sharing.iter().map(|s| s.view.id.clone()).collect();
        ids.dedup();
        ids.iter().filter(|id| self.revoke(id, by).is_ok()).count()
    }

    /// Cuts the shares of `id` (or all); returns how many.
    fn cut(&self, id: Option<&str>, why: &str) -> usize {
        let inner = self.lock();
        let mut n = 0;
        for s in inner.sharing.iter().filter(|s| id.is_none_or(|id| s.view.id == id)) {
            let _ = s.why.set(why.to_owned());
            s.cancel.cancel();
            n += 1;
        }
        n
    }

    /// Whether privacy mode is in effect.
    pub fn privacy_on(&self) -> bool {
        self.privacy.is_on()
    }

    /// The oldest waiting request's id.
    pub fn oldest(&self) -> Option<String> {
        self.lock().pending.first().map(|w| w.view.id.clone())
    }

    /// Records a deny, which takes effect even if it is not on record.
    fn record_answer(&self, id: &str, decision: &Decision, by: &str) {
        audit::best_effort(self.audit.as_ref(), &answer(id, decision, by));
    }

    fn resolve(&self, id: &str, decision: Decision, by: &str) -> Option<()> {
        let waiting = {
            let mut inner = self.lock();
            let at = inner.pending.iter().position(|w| w.view.id == id)?;
            inner.pending.remove(at)
        };
        let mut waiting = waiting;
        if let Some(tx) = waiting.tx.take() {
            let _ = tx.send(decision.clone());
        }
        self.finish(id, &waiting.view.source, decision, by);
        self.touch();
        Some(())
    }

    fn finish(&self, id: &str, source: &str, decision: Decision, by: &str) {
        let (outcome, reason) = match &decision {
            Decision::Deny { reason } => ("deny", reason.clone()),
            Decision::Ask { prompt, .. } => ("ask", prompt.clone()),
            Decision::Allow { .. } => ("allow", String::new()),
        };
        if by != "policy" {
            tracing::info!(request = %id, decision = outcome, by, "Request answered");
            self.bus.publish(
                None,
                EventKind::DecisionMade { request_id: id.to_owned(), decision: outcome.to_owned(), reason },
            );
        }
        let mut inner = self.lock();
        inner.done.push_back(Finished {
            id: id.to_owned(),
            source: source.to_owned(),
            decision,
            decided_by: by.to_owned(),
            at: Timestamp::now(),
        });
        while inner.done.len() > KEEP_DONE {
            inner.done.pop_front();
        }
    }

    /// Denies every waiting request (privacy mode, shutdown).
    fn deny_all(&self, reason: &str, by: &str) {
        let ids: Vec<String> = self.lock().pending.iter().map(|w| w.view.id.clone()).collect();
        for id in ids {
            let decision = Decision::deny(reason);
            self.record_answer(&id, &decision, by);
            self.resolve(&id, decision, by);
        }
    }

    /// Expires unanswered requests and denies everything waiting when privacy mode turns on,
    /// until `cancel`; then denies what is still waiting.
    pub async fn run(self, cancel: CancellationToken) {
        let mut privacy = self.privacy.subscribe();
        loop {
            if privacy.borrow_and_update().on {
                self.cut(None, "privacy mode is on");
                self.deny_all("privacy mode is on", "privacy mode");
            }
            let now = Timestamp::now();
            let expired: Vec<String> = self
                .lock()
                .pending
                .iter()
                .filter(|w| w.view.expires <= now)
                .map(|w| w.view.id.clone())
                .collect();
            for id in expired {
                let decision = Decision::deny("the resident did not answer in time");
                self.record_answer(&id, &decision, "timeout");
                self.resolve(&id, decision, "timeout");
            }
            let next = self.lock().pending.iter().map(|w| w.view.expires).min();
            let wait = next.map_or(Duration::from_secs(3600), |t| {
                Duration::try_from(t.duration_since(Timestamp::now())).unwrap_or(Duration::ZERO)
            });
            // Wall-clock deadlines: wake at least once a minute in case the clock was set.
            let wait = wait.min(Duration::from_secs(60));
            tokio::select! {
                () = cancel.cancelled() => break,
                () = tokio::time::sleep(wait) => {}
                () = self.wake.notified() => {}
                changed = privacy.changed() => if changed.is_err() { break },
            }
        }
        self.deny_all("the hub is shutting down", "shutdown");
    }
}

/// Whether `id` can name a request: 1-128 characters of A-Z, a-z, 0-9, `.`, `_`, `:`, `-` (it
/// goes into MQTT topics and relay URLs), and not `oldest` (MQTT's name for the oldest one).
/// Wider than the config's name rule (`config::valid_name`, lowercase, 64 characters) on
/// purpose: the center chooses request ids, and the hub's own carry a UTC time
/// (`share-20261126T180000Z-…`).
pub fn valid_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
        && id != "oldest"
}

/// How an approval would grant more than, or other than, the request asked.
#[derive(Debug, thiserror::Error)]
pub enum Wider {
    #[error("no cameras")]
    NoCameras,
    #[error("camera {0:?} was not requested")]
    Camera(String),
    #[error("{from} .. {to} is outside the requested {asked_from} .. {asked_to}")]
    Outside { from: Timestamp, to: Timestamp, asked_from: Timestamp, asked_to: Timestamp },
    #[error("{from} .. {to} is empty or reversed")]
    Empty { from: Timestamp, to: Timestamp },
    #[error("`live_max_seconds` is for live requests")]
    LiveOnly,
    #[error("`from` and `to` are for clip requests")]
    ClipOnly,
    #[error("live for {granted}s, {asked}s requested")]
    Live { granted: u32, asked: u32 },
    #[error("a snapshot request takes only `cameras`")]
    Snapshot,
}

/// The grant for an approval: the request as asked, narrowed by `a`, never wider.
pub fn narrow(request: &Request, a: &Approval) -> Result<Grant, Wider> {
    let asked = request.kind.cameras();
    let cameras = match &a.cameras {
        Some(c) if c.is_empty() => return Err(Wider::NoCameras),
        Some(c) => {
            if let Some(extra) = c.iter().find(|c| !asked.contains(c)) {
                return Err(Wider::Camera(extra.clone()));
            }
            let mut c = c.clone();
            c.dedup();
            c
        }
        None => asked.to_vec(),
    };
    let mut grant = Grant {
        cameras,
        from: None,
        to: None,
        live_max_seconds: None,
        strip_audio: a.strip_audio,
        notify_resident: false,
    };
    match &request.kind {
        RequestKind::Clip { from, to, .. } => {
            let (f, t) = (a.from.unwrap_or(*from), a.to.unwrap_or(*to));
            if f < *from || t > *to {
                return Err(Wider::Outside { from: f, to: t, asked_from: *from, asked_to: *to });
            }
            if f >= t {
                return Err(Wider::Empty { from: f, to: t });
            }
            if a.live_max_seconds.is_some() {
                return Err(Wider::LiveOnly);
            }
            (grant.from, grant.to) = (Some(f), Some(t));
        }
        RequestKind::Live { max_seconds, .. } => {
            if a.from.is_some() || a.to.is_some() {
                return Err(Wider::ClipOnly);
            }
            let secs = a.live_max_seconds.unwrap_or(*max_seconds);
            if secs == 0 || secs > *max_seconds {
                return Err(Wider::Live { granted: secs, asked: *max_seconds });
            }
            grant.live_max_seconds = Some(secs);
        }
        RequestKind::Snapshot { .. } => {
            if a.from.is_some() || a.to.is_some() || a.live_max_seconds.is_some() {
                return Err(Wider::Snapshot);
            }
        }
    }
    Ok(grant)
}

/// The `resident_decision` entry: the final answer `decision` to request `id`, given `by`.
fn answer(id: &str, decision: &Decision, by: &str) -> Entry {
    Entry::ResidentDecision {
        request_id: id.to_owned(),
        by: by.to_owned(),
        decision: audit::to_json(decision),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{LegalBasis, Requester, RequesterKind};
    use serde_json::json;

    fn clip(id: &str) -> Request {
        Request {
            id: id.into(),
            requester: Requester {
                organisation: "PD".into(),
                person: String::new(),
                kind: RequesterKind::Police,
            },
            kind: RequestKind::Clip {
                cameras: vec!["porch".into(), "drive".into()],
                from: "2026-11-01T10:00:00Z".parse().expect("ts"),
                to: "2026-11-01T11:00:00Z".parse().expect("ts"),
            },
            reason: String::new(),
            case_number: None,
            legal_basis: LegalBasis::None,
            received_at: "2026-11-01T12:00:00Z".parse().expect("ts"),
        }
    }

    fn desk(dir: &std::path::Path) -> (Requests, Privacy, Bus) {
        let settings = crate::config::parse(
            &dir.join("config.toml"),
            String::new(),
            &crate::config::Env::from_pairs::<_, String, String>([]),
        )
        .expect("config");
        let (_tx, rx) = watch::channel(Arc::new(settings));
        let bus = Bus::new(64, crate::metrics::Metrics::new());
        let audit = Audit::open(&dir.join("audit")).expect("audit");
        let privacy = Privacy::open(dir, false, Some(audit.clone()), bus.clone());
        (Requests::new(None, privacy.clone(), rx, bus.clone(), Some(audit)), privacy, bus)
    }

    /// Puts `request` in the waiting list as if a policy had said `ask` with this timeout.
    fn wait_for(desk: &Requests, request: Request, timeout: Duration) -> oneshot::Receiver<Decision> {
        let now = Timestamp::now();
        let (tx, rx) = oneshot::channel();
        let view = PendingView {
            id: request.id.clone(),
            source: "test".into(),
            request,
            prompt: "ok?".into(),
            asked_at: now,
            expires: now + jiff::SignedDuration::try_from(timeout).expect("duration"),
        };
        desk.lock().pending.push(Waiting { view, tx: Some(tx) });
        desk.touch();
        desk.wake.notify_one();
        rx
    }

    #[tokio::test]
    async fn decisions_of_earlier_runs_are_remembered_from_the_audit_log() {
        let dir = tempfile::tempdir().expect("tmp");
        let (desk, _, _) = desk(dir.path());
        let allow = json!({ "decision": "allow", "grant": { "cameras": ["porch"], "strip_audio": false, "notify_resident": false } });
        let ask = json!({ "decision": "ask", "prompt": "ok?", "timeout_seconds": 60 });
        let deny = json!({ "decision": "deny", "reason": "no" });
        let entries = vec![
            json!({ "kind": "decision", "source": "relay", "request_id": "r1", "final": allow, "plugins": [] }),
            json!({ "kind": "decision", "source": "relay", "request_id": "r2", "final": ask, "plugins": [] }),
            json!({ "kind": "resident_decision", "by": "resident (mqtt)", "request_id": "r2", "final": deny }),
            json!({ "kind": "decision", "source": "relay", "request_id": "r3", "final": ask, "plugins": [] }),
            json!({ "kind": "decision", "source": "api-evaluate", "request_id": "r4", "final": allow, "plugins": [] }),
            json!({ "kind": "privacy", "on": true }),
        ];
        let records: Vec<Record> = entries.into_iter().map(Record::from_line).collect();
        assert_eq!(desk.remember(&records), 3);
        assert!(matches!(desk.decided("r1").map(|f| f.decision), Some(Decision::Allow { .. })));
        let r2 = desk.decided("r2").expect("r2");
        assert_eq!((r2.decision, r2.decided_by.as_str()), (Decision::deny("no"), "resident (mqtt)"));
        assert_eq!(
            desk.decided("r3").map(|f| f.decision),
            Some(Decision::deny("the hub stopped before the resident answered"))
        );
        assert!(desk.decided("r4").is_none(), "dry runs decide nothing");
        // Asked again, a remembered request is not decided again.
        let again = desk.submit(clip("r1"), HubMode::Home, "relay").await;
        assert!(matches!(again, Err(RequestError::Duplicate(_))), "{again:?}");
    }

    #[tokio::test]
    async fn no_answer_in_time_is_deny() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (desk, _, _) = desk(dir.path());
        let cancel = CancellationToken::new();
        let task = tokio::spawn(desk.clone().run(cancel.clone()));
        let rx = wait_for(&desk, clip("slow"), Duration::from_millis(200));
        let decision = rx.await.expect("answered");
        assert_eq!(decision, Decision::deny("the resident did not answer in time"));
        assert!(desk.pending().is_empty());
        assert_eq!(desk.recent()[0].decided_by, "timeout");
        // Too late now.
        assert!(matches!(
            desk.approve("slow", &Approval::default(), "api"),
            Err(RequestError::NotPending(_))
        ));
        cancel.cancel();
        task.await.expect("task");
        let log = audit::read(&dir.path().join("audit")).expect("audit");
        assert!(
            log.iter()
                .any(|r| matches!(&r.entry, Some(Entry::ResidentDecision { by, .. }) if by == "timeout")),
            "{log:?}"
        );
    }

    #[tokio::test]
    async fn privacy_mode_and_shutdown_deny_what_waits() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (desk, privacy, _) = desk(dir.path());
        let cancel = CancellationToken::new();
        let task = tokio::spawn(desk.clone().run(cancel.clone()));
        let a = wait_for(&desk, clip("a"), Duration::from_secs(3600));
        privacy.set(true, "test").expect("privacy on");
        assert_eq!(a.await.expect("answered"), Decision::deny("privacy mode is on"));
        assert!(matches!(desk.approve("a", &Approval::default(), "api"), Err(RequestError::Privacy)));
        privacy.set(false, "test").expect("privacy off");
        let b = wait_for(&desk, clip("b"), Duration::from_secs(3600));
        assert_eq!(desk.pending().len(), 1);
        cancel.cancel();
        assert_eq!(b.await.expect("answered"), Decision::deny("the hub is shutting down"));
        task.await.expect("task");
    }

    #[tokio::test]
    async fn approve_and_deny_answer_the_waiting_side_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (desk, _, bus) = desk(dir.path());
        let mut events = bus.subscribe("t");
        let a = wait_for(&desk, clip("a"), Duration::from_secs(3600));
        let d = desk
            .approve("a", &Approval { cameras: Some(vec!["drive".into()]), ..Approval::default() }, "mqtt")
            .expect("approve");
        let Decision::Allow { grant } = a.await.expect("answered") else { panic!("not allow") };
        assert_eq!(Decision::Allow { grant: grant.clone() }, d);
        assert_eq!(grant.cameras, vec!["drive"]);
        let e = events.try_recv().expect("event");
        assert!(
            matches!(&e.kind, EventKind::DecisionMade { request_id, decision, .. } if request_id == "a" && decision == "allow")
        );
        assert!(matches!(desk.deny("a", "", "api"), Err(RequestError::NotPending(_))));
        let b = wait_for(&desk, clip("b"), Duration::from_secs(3600));
        assert_eq!(desk.oldest().as_deref(), Some("b"));
        desk.deny("b", "", "cli").expect("deny");
        assert_eq!(b.await.expect("answered"), Decision::deny("denied by the resident"));
        // Ids are checked: they end up in MQTT topics.
        for bad in ["", "a/b", "a+", "#", "oldest", &"x".repeat(129)] {
            let mut r = clip(bad);
            r.id = bad.to_owned();
            assert!(
                matches!(desk.submit(r, HubMode::Home, "api").await, Err(RequestError::BadId(_))),
                "{bad:?}"
            );
        }
        // Without a policy engine every request is denied, and a second one with the same id is refused.
        let Submitted::Decided(v) = desk.submit(clip("c"), HubMode::Home, "api").await.expect("submit")
        else {
            panic!("not decided")
        };
        assert_eq!(v.decision.outcome(), "deny");
        assert!(matches!(
            desk.submit(clip("c"), HubMode::Home, "api").await,
            Err(RequestError::Duplicate(_))
        ));
    }

    #[test]
    fn approvals_only_narrow() {
        let r = clip("a");
        let g = narrow(&r, &Approval::default()).expect("as asked");
        assert_eq!(g.cameras, vec!["porch", "drive"]);
        assert_eq!(g.from, Some("2026-11-01T10:00:00Z".parse().expect("ts")));
        let g = narrow(
            &r,
            &Approval {
                cameras: Some(vec!["porch".into()]),
                from: Some("2026-11-01T10:30:00Z".parse().expect("ts")),
                strip_audio: true,
                ..Approval::default()
            },
        )
        .expect("narrower");
        assert_eq!(g.cameras, vec!["porch"]);
        assert!(g.strip_audio);
        let wider = [
            Approval { cameras: Some(vec!["garden".into()]), ..Approval::default() },
            Approval { cameras: Some(vec![]), ..Approval::default() },
            Approval { to: Some("2026-11-01T11:00:01Z".parse().expect("ts")), ..Approval::default() },
            Approval { from: Some("2026-11-01T11:00:00Z".parse().expect("ts")), ..Approval::default() },
            Approval { live_max_seconds: Some(5), ..Approval::default() },
        ];
        for a in wider {
            assert!(narrow(&r, &a).is_err(), "{a:?} accepted");
        }
    }
}

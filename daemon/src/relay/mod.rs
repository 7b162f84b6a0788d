//! The relay: the hub's outbound-only link to a center that may ask for footage (a police Real
//! Time Crime Center, an insurer, a monitoring company). Nothing listens for the outside world:
//! the hub long-polls the center for requests, hands each one to the resident's policies
//! ([`Requests::submit`], source `relay`) and posts the decision back; a request that waits for
//! the resident gets `pending` first and its final decision when it comes. Protocol:
//! `docs/ref/relay-protocol.md`.
//!
//! After an `allow`, the granted footage leaves: clips with signed evidence manifests
//! (`clips.rs`), live streams pushed to the center's ingest (`live.rs`). Each share is
//! registered with the request desk while it lasts, so the resident can see and revoke it and
//! privacy mode cuts it. Snapshots are the cameras' ONVIF still images (`snapshot.rs`); the
//! resident's own shares (`porchlight share`) go through `resident.rs`.

pub mod clips;
pub mod link;
pub mod live;
pub mod offers;
pub mod outbox;
pub mod resident;
pub mod snapshot;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::audit::{self, Anchor, Audit, Entry};
use crate::config::Settings;
use crate::health::{Health, State, Subsystem};
use crate::metrics::{Label, Metric, Metrics};
use crate::policy::{Decision, Request};
use crate::requests::{RequestError, Requests, Submitted};
use link::Link;

/// At most this many requests are taken from one poll (more wait for the next).
pub const MAX_BATCH: usize = 100;
/// The largest single request (its JSON): a real one is a few hundred bytes.
pub const MAX_REQUEST_BYTES: usize = 64 << 10;
/// Tries to deliver one decision before it waits in the outbox for the next successful poll.
const REPLY_TRIES: u32 = 8;
/// Requests from the center that may wait for a decision at once; the link polls again only
/// while a whole batch more fits, so a center that answers at once cannot pile up work.
pub const MAX_UNDECIDED: usize = 2 * MAX_BATCH;

/// What the relay task needs.
#[derive(Debug, Clone)]
pub struct Deps {
    pub settings: watch::Receiver<Arc<Settings>>,
    pub requests: Requests,
    pub health: Health,
    pub metrics: Metrics,
    pub audit: Option<Audit>,
    /// Where granted clips are cut from (`None`: recordings are not available).
    pub index: Option<crate::recording::index::Index>,
    /// The cameras' live feeds (for live grants).
    pub cameras: crate::recording::CameraStates,
    pub bus: crate::bus::Bus,
    /// The hub mode the policies see.
    pub mode: crate::mode::Mode,
    /// Decisions not delivered yet.
    pub outbox: outbox::Outbox,
    /// Still images from the cameras' streams (snapshots of cameras without ONVIF).
    pub stills: crate::stills::Stills,
}

/// Runs the relay per the settings until `cancel`; restarts the link when `[relay]` changes.
pub async fn run(deps: Deps, cancel: CancellationToken) {
    let mut settings = deps.settings.clone();
    loop {
        let current = settings.borrow_and_update().clone();
        if !current.relay.enabled {
            deps.health.set(Subsystem::Relay, State::Disabled, "");
            tokio::select! {
                () = cancel.cancelled() => return,
                changed = settings.changed() => if changed.is_err() { return } else { continue },
            }
        }
        let session = cancel.child_token();
        let restart =
            crate::reload::section_changed(settings.clone(), current.relay.clone(), |s| s.relay.clone());
        tokio::select! {
            () = poll_loop(&deps, &current, session.clone()) => {}
            changed = restart => if changed { tracing::info!("Relay settings changed; reconnecting") },
        }
        session.cancel();
        if cancel.is_cancelled() {
            deps.health.set(Subsystem::Relay, State::Stopped, "");
            return;
        }
    }
}

async fn poll_loop(deps: &Deps, settings: &Settings, cancel: CancellationToken) {
    let link = match Link::new(&settings.relay) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "Cannot set up the relay");
            deps.health.set(Subsystem::Relay, State::Failed, e.to_string());
            cancel.cancelled().await;
            return;
        }
    };
    let wait = settings.relay.poll_wait;
    let Ok(url) = link.url(&format!("requests?wait={}", wait.as_secs().max(1))) else { return };
    deps.health.set(
        Subsystem::Relay,
        State::Starting,
        format!("connecting to {}", settings.relay.url.as_ref().map_or("", |u| u.as_str())),
    );
    let replies = TaskTracker::new();
    // What the policies offer on camera events goes to this center too.
    if let Some(service) = deps.requests.policy() {
        let (d, l, t, c) = (deps.clone(), link.clone(), replies.clone(), cancel.clone());
        replies.spawn(offers::run(d, l, service, t, c));
    }
    let mut failures = 0u32;
    let undecided = Arc::new(tokio::sync::Semaphore::new(MAX_UNDECIDED));
    loop {
        // Room for a whole batch before the next poll (each request holds a place until its
        // decision is made).
        let room = tokio::select! {
            () = cancel.cancelled() => break,
            r = Arc::clone(&undecided).acquire_many_owned(MAX_BATCH as u32) => r,
        };
        drop(room);
        let started = tokio::time::Instant::now();
        let answer = tokio::select! {
            () = cancel.cancelled() => break,
            a = link.call("GET", &url, None, wait + Duration::from_secs(15)) => a,
        };
        let problem = match answer {
            Ok(a) if a.status == 200 => {
                if failures > 0 {
                    tracing::info!("Relay connected again");
                }
                failures = 0;
                deps.health.set(
                    Subsystem::Relay,
                    State::Running,
                    format!("polling {}", url.as_str().split('?').next().unwrap_or("")),
                );
                let took = take(deps, &link, &a.body, &replies, &undecided, &cancel);
                // The center answers again: what it has not taken yet goes now.
                for u in deps.outbox.take() {
                    let (deps, link, cancel) = (deps.clone(), link.clone(), cancel.clone());
                    replies.spawn(async move { deliver(&deps, &link, &u.request_id, u.body, &cancel).await });
                }
                // A center that answers at once with nothing (or with garbage) is not polled in a
                // tight loop: at most one poll per second then.
                if took == 0 && started.elapsed() < Duration::from_secs(1) {
                    tokio::select! {
                        () = cancel.cancelled() => break,
                        () = tokio::time::sleep_until(started + Duration::from_secs(1)) => {}
                    }
                }
                continue;
            }
            Ok(a) => format!("the center answered HTTP {}: {}", a.status, snippet(&a.body)),
            Err(e @ link::LinkError::TooLarge { .. }) => {
                // A flood is refused like a malformed request: on record, and the hub goes on.
                refuse(deps, None, &e.to_string());
                e.to_string()
            }
            Err(e) => e.to_string(),
        };
        failures = failures.saturating_add(1);
        if failures == 1 {
            tracing::warn!(error = %problem, "Relay poll failed; retrying");
        } else {
            tracing::debug!(error = %problem, failures, "Relay poll failed again");
        }
        deps.health.set(Subsystem::Relay, State::Degraded, problem);
        let pause = crate::backoff::delay(failures).min(Duration::from_secs(60));
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(pause) => {}
        }
    }
    // Replies in flight stop at cancellation (shutdown, or new `[relay]` settings); what they
    // were to say is in the audit log and the outbox, posted by the next link.
    replies.close();
    replies.wait().await;
}

fn snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(200)])
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Takes the requests of one poll answer: each is checked on its own, so one bad request
/// cannot hide the others. Returns how many were taken.
fn take(
    deps: &Deps,
    link: &Link,
    body: &[u8],
    replies: &TaskTracker,
    undecided: &Arc<tokio::sync::Semaphore>,
    cancel: &CancellationToken,
) -> usize {
    let items = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(mut o)) => match o.remove("requests") {
            Some(Value::Array(items)) => items,
            _ => {
                refuse(deps, None, "the answer has no `requests` array");
                return 0;
            }
        },
        Ok(_) => {
            refuse(deps, None, "the answer is not a JSON object");
            return 0;
        }
        Err(e) => {
            refuse(deps, None, &format!("the answer is not JSON: {e}"));
            return 0;
        }
    };
    let count = items.len().min(MAX_BATCH);
    if items.len() > MAX_BATCH {
        tracing::warn!(
            count = items.len(),
            max = MAX_BATCH,
            "The center sent more requests than one poll takes; the rest are ignored until sent again"
        );
    }
    let mut seen = std::collections::HashSet::new();
    for item in items.into_iter().take(MAX_BATCH) {
        let id = item.get("id").and_then(Value::as_str).map(str::to_owned);
        // The same id twice in one answer is one request.
        if let Some(id) = &id
            && !seen.insert(id.clone())
        {
            tracing::debug!(request = %id, "The center sent a request twice in one answer; taken once");
            continue;
        }
        // Refused on record; answered `error` when the id is one a URL can carry.
        let refuse_item = |message: String| {
            refuse(deps, id.as_deref(), &message);
            if let Some(id) = id.clone().filter(|i| crate::requests::valid_id(i)) {
                let (link, deps, cancel) = (link.clone(), deps.clone(), cancel.clone());
                let body = json!({ "request_id": id, "decision": "error", "error": message });
                replies.spawn(async move { reply(&deps, &link, &id, body, &cancel).await });
            }
        };
        let size = item.to_string().len();
        if size > MAX_REQUEST_BYTES {
            refuse_item(format!("the request is {size} bytes; at most {MAX_REQUEST_BYTES} are taken"));
            continue;
        }
        match serde_json::from_value::<Request>(item) {
            Ok(request) => {
                // The poll loop made room for the whole batch before polling.
                let place = Arc::clone(undecided).try_acquire_owned().ok();
                let (deps, link, cancel) = (deps.clone(), link.clone(), cancel.clone());
                replies
                    .spawn(async move { handle_from(&deps, &link, request, "relay", place, &cancel).await });
            }
            Err(e) => refuse_item(format!("malformed request: {e}")),
        }
    }
    count
}

/// Records a request the hub could not take.
fn refuse(deps: &Deps, id: Option<&str>, message: &str) {
    tracing::warn!(request = ?id, error = %message, "Relay request refused");
    deps.metrics.inc(Metric::RelayRequests, &[(Label::Result, "malformed")]);
    audit::best_effort(
        deps.audit.as_ref(),
        &Entry::RelayRefused { request_id: id.map(str::to_owned), error: message.to_owned() },
    );
}

/// Decides one request from `source` (`relay`, or `offer` for a policy's own offer) and answers
/// the center: the decision, or `pending` and later the final one. `place` (a relay request's
/// place among the undecided) is given back once the decision is made.
async fn handle_from(
    deps: &Deps,
    link: &Link,
    request: Request,
    source: &str,
    place: Option<tokio::sync::OwnedSemaphorePermit>,
    cancel: &CancellationToken,
) {
    let id = request.id.clone();
    deps.metrics.inc(Metric::RelayRequests, &[(Label::Result, "taken")]);
    let asked = request.clone();
    // A request waiting for the decision pool does not hold up a shutdown (its decision, once
    // begun, still ends on its own task, `Requests::submit`).
    let submitted = tokio::select! {
        s = deps.requests.submit(request, deps.mode.current(), source) => s,
        () = cancel.cancelled() => return,
    };
    drop(place);
    match submitted {
        Ok(Submitted::Decided(verdict)) => {
            let decided = tokio::time::Instant::now();
            reply(deps, link, &id, decision_body(&id, &verdict.decision), cancel).await;
            send_footage(deps, link, &asked, &verdict.decision, &verdict.plugins, decided, cancel).await;
        }
        Ok(Submitted::Pending { view, outcome, verdict }) => {
            let body = json!({ "request_id": id, "decision": "pending", "reason": view.prompt, "expires": view.expires });
            reply(deps, link, &id, body, cancel).await;
            // The final answer: the resident's, a timeout, privacy mode, or shutdown.
            let decision = outcome.await.unwrap_or_else(|_| Decision::deny("the hub stopped waiting"));
            let decided = tokio::time::Instant::now();
            reply(deps, link, &id, decision_body(&id, &decision), cancel).await;
            send_footage(deps, link, &asked, &decision, &verdict.plugins, decided, cancel).await;
        }
        Err(RequestError::Duplicate(_)) => {
            // The center asked again (our answer may have been lost): answer what was decided.
            let pending = deps.requests.pending().into_iter().find(|p| p.id == id);
            let body = match pending {
                Some(p) => {
                    json!({ "request_id": id, "decision": "pending", "reason": p.prompt, "expires": p.expires })
                }
                None => match deps.requests.decided(&id) {
                    Some(f) => decision_body(&id, &f.decision),
                    None => return,
                },
            };
            reply(deps, link, &id, body, cancel).await;
        }
        Err(e) => {
            refuse(deps, Some(&id), &e.to_string());
            if crate::requests::valid_id(&id) {
                reply(
                    deps,
                    link,
                    &id,
                    json!({ "request_id": id, "decision": "error", "error": e.to_string() }),
                    cancel,
                )
                .await;
            }
        }
    }
}

/// What an `allow` shares: clips, a live stream, or snapshots. Registered with the request desk
/// while it lasts (listed, revocable, cut by privacy mode).
async fn send_footage(
    deps: &Deps,
    link: &Link,
    request: &Request,
    decision: &Decision,
    plugins: &[crate::policy::PluginOutcome],
    decided: tokio::time::Instant,
    cancel: &CancellationToken,
) {
    let Decision::Allow { grant } = decision else { return };
    // Privacy mode may have come on since the decision: then nothing leaves.
    if deps.requests.privacy_on() {
        tracing::warn!(request = %request.id, "Privacy mode is on; the granted footage is not sent");
        return;
    }
    match &request.kind {
        crate::policy::RequestKind::Clip { .. } => {
            let share = deps.requests.start_share(&request.id, "clip", grant.cameras.clone(), None, cancel);
            clips::share(deps, link, request, grant, plugins, &share.cancel).await;
        }
        crate::policy::RequestKind::Live { .. } => {
            // The grant's time runs from the decision, not from when the stream gets going (nor
            // from when the center took the answer).
            let seconds = u64::from(grant.live_max_seconds.unwrap_or(0));
            let until = decided + Duration::from_secs(seconds);
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            let until_wall = jiff::Timestamp::now()
                .checked_add(jiff::SignedDuration::try_from(left).unwrap_or_default())
                .unwrap_or(jiff::Timestamp::MAX);
            let share = deps.requests.start_share(
                &request.id,
                "live",
                grant.cameras.clone(),
                Some(until_wall),
                cancel,
            );
            live::share(deps, link, request, grant, until, until_wall, &share).await;
        }
        crate::policy::RequestKind::Snapshot { .. } => {
            let share =
                deps.requests.start_share(&request.id, "snapshot", grant.cameras.clone(), None, cancel);
            snapshot::share(deps, link, request, grant, plugins, &share.cancel).await;
        }
    }
}

/// The hub's signing key for evidence manifests; logged (naming what is then not sent) when it
/// cannot be loaded.
fn signing_key(deps: &Deps, request_id: &str, what: &str) -> Option<crate::keys::HubKey> {
    let data_dir = deps.settings.borrow().hub.data_dir.clone();
    crate::keys::HubKey::load(&data_dir.join("keys"))
        .map_err(|e| tracing::error!(request = %request_id, error = %e, "No signing key; the granted {what} are not sent"))
        .ok()
}

fn decision_body(id: &str, d: &Decision) -> Value {
    match d {
        Decision::Allow { grant } => json!({ "request_id": id, "decision": "allow", "grant": grant }),
        Decision::Deny { reason } => json!({ "request_id": id, "decision": "deny", "reason": reason }),
        Decision::Ask { prompt, .. } => json!({ "request_id": id, "decision": "pending", "reason": prompt }),
    }
}

/// Posts a decision to the center, retrying with backoff. The answer is recorded in the audit
/// log before it is sent (it is information leaving the house); every attempt is logged. The
/// post carries `audit_head`, the log's head with that record, so the center keeps a copy of it
/// off the hub.
async fn reply(deps: &Deps, link: &Link, id: &str, mut body: Value, cancel: &CancellationToken) {
    if let Some(a) = &deps.audit {
        // Best effort: the answer carries no footage, and the center waits for it.
        let entry = Entry::RelayReply { request_id: id.to_owned(), sent: body.clone() };
        let head = audit::best_effort(Some(a), &entry).map_or_else(|| a.anchor(), |h| Anchor::of(Some(&h)));
        if let Value::Object(fields) = &mut body {
            fields.insert("audit_head".into(), json!(head));
        }
    }
    deliver(deps, link, id, body, cancel).await;
}

/// Posts a decision, retrying with backoff; what the link stops or gives up on is kept in the
/// outbox for the next successful poll.
async fn deliver(deps: &Deps, link: &Link, id: &str, body: Value, cancel: &CancellationToken) {
    let Ok(url) = link.url(&format!("requests/{id}/decision")) else { return };
    let decision = body["decision"].as_str().unwrap_or("?").to_owned();
    for attempt in 0..REPLY_TRIES {
        let result = tokio::select! {
            () = cancel.cancelled() => {
                deps.outbox.keep(id, body);
                return;
            }
            r = link.call("POST", &url, Some(&body), Duration::from_secs(30)) => r,
        };
        let problem = match result {
            Ok(a) if (200..300).contains(&a.status) => {
                tracing::info!(request = %id, decision = %decision, "Decision sent to the center");
                deps.metrics.inc(Metric::RelayReplies, &[(Label::Decision, decision.as_str())]);
                return;
            }
            // The center refuses the answer itself: sending it again will not help.
            Ok(a) if (400..500).contains(&a.status) && a.status != 408 && a.status != 429 => {
                tracing::error!(request = %id, status = a.status, answer = %snippet(&a.body), "The center refused the decision");
                return;
            }
            Ok(a) => format!("HTTP {}: {}", a.status, snippet(&a.body)),
            Err(e) => e.to_string(),
        };
        tracing::warn!(request = %id, attempt = attempt + 1, error = %problem, "Cannot send the decision to the center; retrying");
        tokio::select! {
            () = cancel.cancelled() => {
                deps.outbox.keep(id, body);
                return;
            }
            () = tokio::time::sleep(crate::backoff::delay(attempt + 1).min(Duration::from_secs(60))) => {}
        }
    }
    tracing::error!(request = %id, "Gave up sending the decision for now; it goes again after the next successful poll");
    deps.outbox.keep(id, body);
}

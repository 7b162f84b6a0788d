//! Offers: a policy's event hook may propose a share when something happens at a camera
//! (`emergency-live`: an alarm while the house is away → live to the monitoring company). The
//! relay calls every enabled policy's hook for each camera event (motion, doorbell, tamper,
//! alarm), and turns each offer into a request of its own (id `offer-…`), which it first
//! announces to the center (`POST …/offers`) and then handles like a request from the center:
//! every policy decides it with the usual composition (so one policy's offer cannot outvote
//! another's deny), the decision is posted, and an `allow` sends the footage.
//!
//! Nothing is offered in privacy mode; one policy offers at most once per camera and event kind
//! every [`COOLDOWN`] (a camera reporting motion every second must not flood the center).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Deps;
use super::link::Link;
use crate::audit::{self, Entry, OfferEvent};
use crate::bus::EventKind;
use crate::policy::service::PolicyService;
use crate::policy::{self, LegalBasis, PolicyEvent, Request};

/// The least time between two offers of one policy for one camera and kind of event.
pub const COOLDOWN: Duration = Duration::from_secs(600);

/// Follows the bus until `cancel`, offering what the policies propose through `link`.
pub async fn run(
    deps: Deps,
    link: Link,
    service: Arc<PolicyService>,
    tasks: TaskTracker,
    cancel: CancellationToken,
) {
    let mut sub = deps.bus.subscribe("relay-offers");
    let mut last: HashMap<(String, String, &'static str), Instant> = HashMap::new();
    loop {
        let e = tokio::select! {
            () = cancel.cancelled() => return,
            e = sub.recv() => match e { Some(e) => e, None => return },
        };
        let kind = match e.kind {
            EventKind::MotionStart => policy::EventKind::Motion,
            EventKind::DoorbellPress => policy::EventKind::Doorbell,
            EventKind::Tamper => policy::EventKind::Tamper,
            EventKind::Alarm => policy::EventKind::Alarm,
            _ => continue,
        };
        let Some(camera) = e.camera.clone() else { continue };
        if deps.requests.privacy_on() {
            continue;
        }
        // The context a decision on this offer will see knows of this event too.
        service.recent.observe(&e);
        let settings = deps.settings.borrow().clone();
        let mut context = policy::service::context_from(&settings, deps.mode.current());
        service.recent.apply(&mut context);
        let event = PolicyEvent { kind, camera: camera.clone(), time: e.time };
        let engine = Arc::clone(&service.engine);
        let (ev, ctx) = (event.clone(), context);
        let offers =
            tokio::task::spawn_blocking(move || engine.on_event(&ev, &ctx)).await.unwrap_or_default();
        for (plugin, offer) in offers {
            let key = (plugin.clone(), camera.clone(), kind_name(kind));
            let now = Instant::now();
            if last.get(&key).is_some_and(|t| now.duration_since(*t) < COOLDOWN) {
                tracing::debug!(plugin = %plugin, camera = %camera, "Offer skipped: one was made recently");
                continue;
            }
            last.insert(key, now);
            let id = format!(
                "offer-{}-{:06x}",
                jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ"),
                fastrand::u32(..0x100_0000)
            );
            let request = Request {
                id: id.clone(),
                requester: offer.recipient,
                kind: offer.kind,
                reason: offer.reason.chars().take(512).collect(),
                case_number: None,
                // The resident's own policy proposes it.
                legal_basis: LegalBasis::Consent,
                received_at: jiff::Timestamp::now(),
            };
            let (deps, link, cancel) = (deps.clone(), link.clone(), cancel.clone());
            let event = event.clone();
            tasks.spawn(async move { offer_one(&deps, &link, &plugin, &event, request, &cancel).await });
        }
    }
}

fn kind_name(k: policy::EventKind) -> &'static str {
    match k {
        policy::EventKind::Motion => "motion",
        policy::EventKind::Doorbell => "doorbell",
        policy::EventKind::Tamper => "tamper",
        policy::EventKind::Alarm => "alarm",
    }
}

/// Announces one offer to the center, then has it decided and answered like a request.
async fn offer_one(
    deps: &Deps,
    link: &Link,
    plugin: &str,
    event: &PolicyEvent,
    request: Request,
    cancel: &CancellationToken,
) {
    let id = request.id.clone();
    let entry = Entry::Offer {
        request_id: id.clone(),
        plugin: plugin.to_owned(),
        event: OfferEvent {
            kind: kind_name(event.kind).to_owned(),
            camera: event.camera.clone(),
            time: event.time,
        },
        request: audit::to_json(&request),
    };
    // Required: no entry, no offer.
    if audit::required(deps.audit.as_ref(), &entry).is_err() {
        return;
    }
    tracing::info!(request = %id, plugin, camera = %event.camera, "A policy offers a share");
    let Ok(url) = link.url("offers") else { return };
    let body = json!({ "request": request });
    let answer = tokio::select! {
        () = cancel.cancelled() => return,
        a = link.call("POST", &url, Some(&body), Duration::from_secs(30)) => a,
    };
    match answer {
        Ok(a) if (200..300).contains(&a.status) => {}
        Ok(a) => {
            let why = format!("the center declined: HTTP {}: {}", a.status, super::snippet(&a.body));
            tracing::info!(request = %id, why = %why, "Offer not taken");
            audit::best_effort(deps.audit.as_ref(), &Entry::OfferDeclined { request_id: id, error: why });
            return;
        }
        Err(e) => {
            tracing::warn!(request = %id, error = %e, "Cannot make the offer to the center");
            audit::best_effort(
                deps.audit.as_ref(),
                &Entry::OfferDeclined { request_id: id, error: e.to_string() },
            );
            return;
        }
    }
    super::handle_from(deps, link, request, "offer", None, cancel).await;
}

//! Sharing the resident starts (`porchlight share`, `POST /api/shares`): a clip of one camera
//! over a time range, cut and signed like a granted clip, either kept as files under
//! `data_dir/shares/<id>/` for the resident to hand over, or sent to the relay's center. No
//! policy runs (the resident is the one deciding), but it is recorded the same way: a
//! `resident_share` audit entry for the order, `shared_clip` before the footage leaves, and the
//! footage pinned. Privacy mode blocks sending to the center.

use std::time::Duration;

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::Deps;
use super::link::Link;
use crate::audit::{self, Entry};
use crate::policy::{Grant, LegalBasis, Request, RequestKind, Requester, RequesterKind};

/// The longest clip one order shares.
pub const MAX_SPAN: Duration = Duration::from_secs(24 * 3600);

/// The resident's order.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Order {
    pub camera: String,
    pub from: Timestamp,
    pub to: Timestamp,
    /// Send it to the relay's center (else: files on the hub).
    #[serde(default)]
    pub to_center: bool,
    #[serde(default)]
    pub strip_audio: bool,
    /// Why, for the audit log.
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ShareError {
    #[error("{0}")]
    Bad(String),
    #[error("privacy mode is on: nothing is sent to the center")]
    Privacy,
    #[error("cannot send to a center: {0}")]
    NoRelay(String),
    #[error("the share cannot be recorded in the audit log, so it is not made ({0})")]
    NotRecorded(String),
    #[error("{0}")]
    Failed(String),
}

/// Carries out `order` for the resident (`by`: the channel, e.g. `api`). Files: cut now and
/// returned. Center: recorded, then sent in the background (listed in `GET /api/requests`
/// under `sharing` while it lasts, revocable); returns at once.
pub async fn share(
    deps: &Deps,
    order: Order,
    by: &str,
    parent: &CancellationToken,
) -> Result<Value, ShareError> {
    let settings = deps.settings.borrow().clone();
    if settings.camera(&order.camera).is_none() {
        return Err(ShareError::Bad(format!("no camera named {:?}", order.camera)));
    }
    if order.from >= order.to {
        return Err(ShareError::Bad(format!("`from` ({}) must be before `to` ({})", order.from, order.to)));
    }
    let span = order.to.duration_since(order.from);
    if span > jiff::SignedDuration::try_from(MAX_SPAN).unwrap_or(jiff::SignedDuration::MAX) {
        return Err(ShareError::Bad(format!(
            "one share covers at most {} hours, and {} to {} is {:#}; share a longer time as several shares",
            MAX_SPAN.as_secs() / 3600,
            order.from,
            order.to,
            span.round(jiff::Unit::Second).unwrap_or(span)
        )));
    }
    if order.from > Timestamp::now() {
        return Err(ShareError::Bad(format!("`from` ({}) is in the future", order.from)));
    }
    let link = if order.to_center {
        if deps.requests.privacy_on() {
            return Err(ShareError::Privacy);
        }
        if !settings.relay.enabled {
            return Err(ShareError::NoRelay("the relay is not enabled (`[relay] enabled = true`)".into()));
        }
        Some(Link::new(&settings.relay).map_err(|e| ShareError::NoRelay(e.to_string()))?)
    } else {
        None
    };
    let now = Timestamp::now();
    let id = format!("share-{}-{:06x}", now.strftime("%Y%m%dT%H%M%SZ"), fastrand::u32(..0x100_0000));
    let note = if order.note.is_empty() { "shared by the resident".to_owned() } else { order.note.clone() };
    let request = Request {
        id: id.clone(),
        requester: Requester {
            organisation: "resident".into(),
            person: String::new(),
            kind: RequesterKind::Resident,
        },
        kind: RequestKind::Clip { cameras: vec![order.camera.clone()], from: order.from, to: order.to },
        reason: note.chars().take(512).collect(),
        case_number: None,
        legal_basis: LegalBasis::Consent,
        received_at: now,
    };
    let grant = Grant {
        cameras: vec![order.camera.clone()],
        from: Some(order.from),
        to: Some(order.to),
        live_max_seconds: None,
        strip_audio: order.strip_audio,
        notify_resident: false,
    };
    let destination = if order.to_center { "center" } else { "file" };
    let entry = Entry::ResidentShare {
        request_id: id.clone(),
        by: format!("resident ({by})"),
        camera: order.camera.clone(),
        from: order.from,
        to: order.to,
        destination: destination.to_owned(),
        strip_audio: order.strip_audio,
        note: request.reason.clone(),
    };
    // Required: no entry, no share.
    audit::required(deps.audit.as_ref(), &entry).map_err(|e| ShareError::NotRecorded(e.to_string()))?;
    tracing::info!(request = %id, camera = %order.camera, destination, by, "The resident shares a clip");

    if let Some(link) = link {
        let guard = deps.requests.start_share(&id, "clip", grant.cameras.clone(), None, parent);
        let deps = deps.clone();
        let (request, grant) = (request.clone(), grant.clone());
        tokio::spawn(async move {
            super::clips::share(&deps, &link, &request, &grant, &[], &guard.cancel).await;
            drop(guard);
        });
        return Ok(json!({ "request_id": id, "destination": "center", "status": "sending" }));
    }

    let data_dir = settings.hub.data_dir.clone();
    let key =
        crate::keys::HubKey::load(&data_dir.join("keys")).map_err(|e| ShareError::Failed(e.to_string()))?;
    let dir = data_dir.join("shares").join(&id);
    let file = dir.join(format!("{id}-{}.mp4", order.camera));
    let hub_id = settings.relay.hub_id.clone().unwrap_or_else(|| "porchlight".to_owned());
    let failed = |e: String| {
        let entry =
            Entry::ShareFailed { request_id: id.clone(), camera: order.camera.clone(), error: e.clone() };
        audit::best_effort(deps.audit.as_ref(), &entry);
        let _ = std::fs::remove_dir_all(&dir);
        ShareError::Failed(e)
    };
    let c = super::clips::cut(deps, &hub_id, &request, &grant, &order.camera, &[], &key, file)
        .await
        .map_err(|e| failed(e.to_string()))?;
    let manifest_file = dir.join(format!("{id}-{}.manifest.json", order.camera));
    let text = serde_json::to_vec_pretty(&c.signed).unwrap_or_default();
    std::fs::write(&manifest_file, text).map_err(|e| failed(format!("{}: {e}", manifest_file.display())))?;
    if !super::clips::record_shared(deps, &request, &grant, &c.manifest, "file") {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(ShareError::NotRecorded("shared_clip".into()));
    }
    Ok(json!({
        "request_id": id, "destination": "file", "file": c.file, "manifest": manifest_file,
        "from": c.manifest.from, "to": c.manifest.to, "bytes": c.manifest.bytes, "sha256": c.manifest.sha256,
    }))
}

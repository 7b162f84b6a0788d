//! Sending granted clips: for an `allow` of a clip request, each granted camera's footage in the
//! granted time range is pinned (retention keeps it), cut with the recording exporter (audio
//! left out if the grant says so), described by an evidence manifest signed with the hub's key,
//! recorded in the audit log, and uploaded with `PUT` (so sending it again replaces, never
//! duplicates). Protocol: `docs/ref/relay-protocol.md`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper::body::Bytes;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::Deps;
use super::link::Link;
use crate::evidence::{Manifest, PluginDecision};
use crate::policy::{Grant, PluginOutcome, Request};
use crate::recording::export::{self, ClipRequest};

/// Tries to upload one file before giving up (it stays pinned, and in the audit log).
const UPLOAD_TRIES: u32 = 5;
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(600);

/// Cuts, signs and uploads the granted clips of `request`.
pub async fn share(
    deps: &Deps,
    link: &Link,
    request: &Request,
    grant: &Grant,
    plugins: &[PluginOutcome],
    cancel: &CancellationToken,
) {
    let (Some(from), Some(to)) = (grant.from, grant.to) else { return };
    let Some(index) = deps.index.clone() else {
        tracing::error!(request = %request.id, "The recording index is not available; the granted clips cannot be sent");
        return;
    };
    let data_dir = deps.settings.borrow().hub.data_dir.clone();
    let key = match crate::keys::HubKey::load(&data_dir.join("keys")) {
        Ok(k) => k,
        Err(e) => {
            tracing::error!(request = %request.id, error = %e, "No signing key; the granted clips are not sent");
            return;
        }
    };
    let plugins: Vec<PluginDecision> = plugins
        .iter()
        .map(|p| PluginDecision {
            plugin: p.plugin.clone(),
            sha256: p.sha256.clone().unwrap_or_default(),
            decision: p.decision.outcome().to_owned(),
        })
        .collect();
    for camera in &grant.cameras {
        // Privacy mode may come on while clips are being cut or sent: then nothing more leaves.
        if deps.requests.privacy_on() {
            tracing::warn!(request = %request.id, "Privacy mode is on; the remaining granted clips are not sent");
            return;
        }
        if deps.settings.borrow().camera(camera).is_none() {
            audit(
                deps,
                "share_failed",
                json!({ "request_id": request.id, "camera": camera, "error": "no such camera" }),
            );
            continue;
        }
        let work_dir = data_dir.join("tmp");
        let file = work_dir.join(format!("share-{}-{camera}.mp4", request.id));
        let clip = ClipRequest {
            camera: camera.clone(),
            from_ms: from.as_millisecond(),
            to_ms: to.as_millisecond(),
            audio: !grant.strip_audio,
            // Nothing before the granted start leaves the house.
            strict: true,
        };
        let reason = format!("shared with {} for request {}", request.requester.organisation, request.id);
        let (index2, file2, camera2) = (index.clone(), file.clone(), camera.clone());
        let cut = tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(file2.parent().unwrap_or(Path::new("."))).map_err(|e| e.to_string())?;
            index2
                .pin(&camera2, clip.from_ms, clip.to_ms, &reason, jiff::Timestamp::now().as_millisecond())
                .map_err(|e| format!("cannot pin the shared footage: {e}"))?;
            let info = export::export(&index2, &clip, &file2).map_err(|e| e.to_string())?;
            let (sha256, bytes) = crate::evidence::hash_file(&file2).map_err(|e| e.to_string())?;
            Ok::<_, String>((info, sha256, bytes))
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        let (info, sha256, bytes) = match cut {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(request = %request.id, camera = %camera, error = %e, "Cannot cut the granted clip");
                audit(
                    deps,
                    "share_failed",
                    json!({ "request_id": request.id, "camera": camera, "error": e }),
                );
                continue;
            }
        };
        let manifest = Manifest {
            version: 1,
            hub_id: link.hub_id().to_owned(),
            request_id: request.id.clone(),
            camera: camera.clone(),
            from: jiff::Timestamp::from_millisecond(info.start_ms).unwrap_or(from),
            to: jiff::Timestamp::from_millisecond(info.end_ms).unwrap_or(to),
            file_name: format!("{}-{camera}.mp4", request.id),
            bytes,
            sha256: sha256.clone(),
            grant: grant.clone(),
            plugins: plugins.clone(),
            created_at: jiff::Timestamp::now(),
        };
        let signed = crate::evidence::sign(&manifest, &key);
        // What is about to leave the house, on record first: no record, no upload.
        let recorded = match &deps.audit {
            Some(a) => a
                .append(
                    "shared_clip",
                    json!({ "request_id": request.id, "camera": camera, "from": manifest.from, "to": manifest.to, "bytes": bytes, "sha256": sha256, "strip_audio": grant.strip_audio }),
                )
                .map_err(|e| e.to_string()),
            None => Err("the audit log is not open".to_owned()),
        };
        if let Err(e) = recorded {
            tracing::error!(request = %request.id, camera = %camera, error = %e, "The clip cannot be recorded in the audit log, so it is not sent");
            let _ = std::fs::remove_file(&file);
            continue;
        }
        let sent = upload(deps, link, &request.id, camera, &file, &signed, cancel).await;
        let _ = std::fs::remove_file(&file);
        if sent {
            tracing::info!(request = %request.id, camera = %camera, bytes, sha256 = %sha256, "Clip sent to the center");
            deps.metrics.add("porchlight_relay_shared_bytes_total", &[], bytes);
        }
    }
}

fn audit(deps: &Deps, kind: &str, fields: serde_json::Value) {
    if let Some(a) = &deps.audit
        && let Err(e) = a.append(kind, fields)
    {
        tracing::error!(error = %e, kind, "Cannot write the audit log");
    }
}

async fn upload(
    deps: &Deps,
    link: &Link,
    id: &str,
    camera: &str,
    file: &PathBuf,
    signed: &crate::evidence::Signed,
    cancel: &CancellationToken,
) -> bool {
    let (Ok(clip_url), Ok(manifest_url)) = (
        link.url(&format!("requests/{id}/clips/{camera}")),
        link.url(&format!("requests/{id}/clips/{camera}/manifest")),
    ) else {
        return false;
    };
    let bytes = match tokio::fs::read(file).await {
        Ok(b) => Bytes::from(b),
        Err(e) => {
            tracing::error!(file = %file.display(), error = %e, "Cannot read the cut clip");
            return false;
        }
    };
    let manifest = Bytes::from(serde_json::to_vec_pretty(signed).unwrap_or_default());
    for attempt in 0..UPLOAD_TRIES {
        let mut ok = true;
        for (url, body) in [
            (&clip_url, ("video/mp4", bytes.clone())),
            (&manifest_url, ("application/json", manifest.clone())),
        ] {
            let result = tokio::select! {
                () = cancel.cancelled() => return false,
                r = link.send("PUT", url, Some(body), UPLOAD_TIMEOUT) => r,
            };
            match result {
                Ok(a) if (200..300).contains(&a.status) => {}
                Ok(a) => {
                    tracing::warn!(request = %id, camera, status = a.status, attempt = attempt + 1, "The center did not take the upload");
                    ok = false;
                    break;
                }
                Err(e) => {
                    tracing::warn!(request = %id, camera, error = %e, attempt = attempt + 1, "Upload failed");
                    ok = false;
                    break;
                }
            }
        }
        if ok {
            deps.metrics.inc("porchlight_relay_uploads_total", &[("result", "sent")]);
            return true;
        }
        tokio::select! {
            () = cancel.cancelled() => return false,
            () = tokio::time::sleep(crate::recording::ingest::backoff(attempt + 1)) => {}
        }
    }
    deps.metrics.inc("porchlight_relay_uploads_total", &[("result", "failed")]);
    tracing::error!(request = %id, camera, "Gave up uploading the clip; the footage stays pinned");
    false
}

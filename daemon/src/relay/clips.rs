//! Sending granted clips: for an `allow` of a clip request, each granted camera's footage in the
//! granted time range is pinned (retention keeps it), cut with the recording exporter (audio
//! left out if the grant says so), described by an evidence manifest signed with the hub's key,
//! recorded in the audit log, and uploaded with `PUT` (so sending it again replaces, never
//! duplicates). Protocol: `docs/ref/relay-protocol.md`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper::body::Bytes;
use tokio_util::sync::CancellationToken;

use super::Deps;
use super::link::{Link, Payload};
use crate::audit::{self, Entry};
use crate::evidence::{Manifest, PluginDecision};
use crate::metrics::{Label, Metric};
use crate::policy::{Grant, PluginOutcome, Request};
use crate::recording::export::{self, ClipRequest};

/// Tries to upload one file before giving up (it stays pinned, and in the audit log).
const UPLOAD_TRIES: u32 = 5;
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(600);

/// A cut clip with its signed manifest.
#[derive(Debug)]
pub struct Cut {
    pub file: PathBuf,
    pub manifest: Manifest,
    pub signed: crate::evidence::Signed,
}

/// The policies' part in a decision, as manifests list it.
pub fn plugin_decisions(plugins: &[PluginOutcome]) -> Vec<PluginDecision> {
    plugins
        .iter()
        .map(|p| PluginDecision {
            plugin: p.plugin.clone(),
            sha256: p.sha256.clone().unwrap_or_default(),
            decision: p.decision.outcome().to_owned(),
        })
        .collect()
}

/// Why a granted clip could not be made (recorded as `share_failed`).
#[derive(Debug, thiserror::Error)]
pub enum CutError {
    #[error("the grant has no time range")]
    NoTimeRange,
    #[error("the recording index is not available")]
    NoIndex,
    #[error("no such camera")]
    NoSuchCamera,
    /// The directory the clip is cut into cannot be made.
    #[error("{source}")]
    Directory { path: PathBuf, source: std::io::Error },
    #[error("cannot pin the shared footage: {0}")]
    Pin(#[source] crate::recording::index::IndexError),
    #[error(transparent)]
    Export(#[from] export::ExportError),
    /// The cut file cannot be read back to hash it.
    #[error("{source}")]
    Hash { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Pins the granted footage of `camera` (retention keeps it), cuts it into `file` (nothing
/// before the granted start; audio only if the grant keeps it) and signs its manifest.
#[allow(clippy::too_many_arguments)]
pub async fn cut(
    deps: &Deps,
    hub_id: &str,
    request: &Request,
    grant: &Grant,
    camera: &str,
    plugins: &[PluginDecision],
    key: &crate::keys::HubKey,
    file: PathBuf,
) -> Result<Cut, CutError> {
    let (Some(from), Some(to)) = (grant.from, grant.to) else {
        return Err(CutError::NoTimeRange);
    };
    let index = deps.index.clone().ok_or(CutError::NoIndex)?;
    if deps.settings.borrow().camera(camera).is_none() {
        return Err(CutError::NoSuchCamera);
    }
    let clip = ClipRequest {
        camera: camera.to_owned(),
        from_ms: from.as_millisecond(),
        to_ms: to.as_millisecond(),
        audio: !grant.strip_audio,
        // Nothing before the granted start leaves the house.
        strict: true,
    };
    let reason = format!("shared with {} for request {}", request.requester.organisation, request.id);
    let (file2, camera2) = (file.clone(), camera.to_owned());
    let (info, sha256, bytes) = tokio::task::spawn_blocking(move || {
        let dir = file2.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)
            .map_err(|source| CutError::Directory { path: dir.to_owned(), source })?;
        index
            .pin(&camera2, clip.from_ms, clip.to_ms, &reason, jiff::Timestamp::now().as_millisecond())
            .map_err(CutError::Pin)?;
        let info = export::export(&index, &clip, &file2)?;
        let (sha256, bytes) = crate::evidence::hash_file(&file2)
            .map_err(|source| CutError::Hash { path: file2.clone(), source })?;
        Ok::<_, CutError>((info, sha256, bytes))
    })
    .await??;
    let manifest = Manifest {
        version: 1,
        hub_id: hub_id.to_owned(),
        request_id: request.id.clone(),
        camera: camera.to_owned(),
        from: jiff::Timestamp::from_millisecond(info.start_ms).unwrap_or(from),
        to: jiff::Timestamp::from_millisecond(info.end_ms).unwrap_or(to),
        file_name: format!("{}-{camera}.mp4", request.id),
        bytes,
        sha256,
        grant: grant.clone(),
        plugins: plugins.to_vec(),
        created_at: jiff::Timestamp::now(),
    };
    let signed = crate::evidence::sign(&manifest, key);
    Ok(Cut { file, manifest, signed })
}

/// Records a clip about to leave in the audit log (`shared_clip`); `false`: it must not leave.
pub fn record_shared(deps: &Deps, request: &Request, grant: &Grant, m: &Manifest, destination: &str) -> bool {
    let entry = Entry::SharedClip {
        request_id: request.id.clone(),
        camera: m.camera.clone(),
        from: m.from,
        to: m.to,
        bytes: m.bytes,
        sha256: m.sha256.clone(),
        strip_audio: grant.strip_audio,
        destination: destination.to_owned(),
    };
    audit::required(deps.audit.as_ref(), &entry).is_ok()
}

/// Cuts, signs and uploads the granted clips of `request`.
pub async fn share(
    deps: &Deps,
    link: &Link,
    request: &Request,
    grant: &Grant,
    plugins: &[PluginOutcome],
    cancel: &CancellationToken,
) {
    let Some(key) = super::signing_key(deps, &request.id, "clips") else { return };
    let data_dir = deps.settings.borrow().hub.data_dir.clone();
    let plugins = plugin_decisions(plugins);
    for camera in &grant.cameras {
        // Privacy mode or the resident may stop it while clips are cut or sent: then nothing
        // more leaves.
        if deps.requests.privacy_on() || cancel.is_cancelled() {
            tracing::warn!(request = %request.id, "The share was cut; the remaining granted clips are not sent");
            return;
        }
        let file = data_dir.join("tmp").join(format!("share-{}-{camera}.mp4", request.id));
        let c = match cut(deps, link.hub_id(), request, grant, camera, &plugins, &key, file).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(request = %request.id, camera = %camera, error = %e, "Cannot cut the granted clip");
                audit::best_effort(
                    deps.audit.as_ref(),
                    &Entry::ShareFailed {
                        request_id: request.id.clone(),
                        camera: camera.clone(),
                        error: e.to_string(),
                    },
                );
                continue;
            }
        };
        // What is about to leave the house, on record first: no record, no upload.
        if !record_shared(deps, request, grant, &c.manifest, "center") {
            tracing::error!(request = %request.id, camera = %camera, "The clip cannot be recorded in the audit log, so it is not sent");
            let _ = std::fs::remove_file(&c.file);
            continue;
        }
        // Sent straight from the file: a long clip is never held whole in memory.
        let body = Payload::File("video/mp4", c.file.clone());
        let sent = upload(deps, link, &request.id, camera, "clips", body, &c.signed, cancel).await;
        let _ = std::fs::remove_file(&c.file);
        if sent {
            let (bytes, sha256) = (c.manifest.bytes, &c.manifest.sha256);
            tracing::info!(request = %request.id, camera = %camera, bytes, sha256 = %sha256, "Clip sent to the center");
            deps.metrics.add(Metric::RelaySharedBytes, &[(Label::Kind, "clip")], bytes);
        }
    }
}

/// Uploads one piece of footage and its manifest with `PUT` to
/// `…/requests/<id>/<what>/<camera>` and `…/manifest` (`what`: `clips` or `snapshots`),
/// retrying with backoff. `true` once both are taken.
#[allow(clippy::too_many_arguments)]
pub async fn upload(
    deps: &Deps,
    link: &Link,
    id: &str,
    camera: &str,
    what: &str,
    body: Payload,
    signed: &crate::evidence::Signed,
    cancel: &CancellationToken,
) -> bool {
    let (Ok(clip_url), Ok(manifest_url)) = (
        link.url(&format!("requests/{id}/{what}/{camera}")),
        link.url(&format!("requests/{id}/{what}/{camera}/manifest")),
    ) else {
        return false;
    };
    let manifest = Bytes::from(serde_json::to_vec_pretty(signed).unwrap_or_default());
    for attempt in 0..UPLOAD_TRIES {
        let mut ok = true;
        for (url, body) in
            [(&clip_url, body.clone()), (&manifest_url, Payload::Bytes("application/json", manifest.clone()))]
        {
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
            deps.metrics.inc(Metric::RelayUploads, &[(Label::Result, "sent")]);
            return true;
        }
        tokio::select! {
            () = cancel.cancelled() => return false,
            () = tokio::time::sleep(crate::backoff::delay(attempt + 1)) => {}
        }
    }
    deps.metrics.inc(Metric::RelayUploads, &[(Label::Result, "failed")]);
    tracing::error!(request = %id, camera, what, "Gave up uploading; it stays in the audit log (and a clip stays pinned)");
    false
}

//! Sending still images for an `allow` of a snapshot request: for each granted camera the hub
//! takes a fresh image from the camera's ONVIF snapshot URI (the image as the camera makes it)
//! or, for a camera without ONVIF and when that fails, a still decoded from the latest keyframe
//! of its stream (`crate::stills`); it signs a manifest for it, records it in the audit log
//! (`shared_snapshot`; no record, no upload) and uploads both with
//! `PUT …/requests/<id>/snapshots/<camera>[/manifest]`. A camera with neither image is a
//! `share_failed` entry.

use hyper::body::Bytes;
use tokio_util::sync::CancellationToken;

use super::Deps;
use super::link::Link;
use crate::audit::{self, Entry};
use crate::evidence::Manifest;
use crate::metrics::{Label, Metric};
use crate::policy::{Grant, PluginOutcome, Request};

/// The image's media type and file extension, from its first bytes.
pub fn image_kind(b: &[u8]) -> Option<(&'static str, &'static str)> {
    match b {
        [0xFF, 0xD8, 0xFF, ..] => Some(("image/jpeg", "jpg")),
        [0x89, b'P', b'N', b'G', ..] => Some(("image/png", "png")),
        [b'B', b'M', ..] => Some(("image/bmp", "bmp")),
        _ => None,
    }
}

/// Takes, signs and uploads an image of each granted camera.
pub async fn share(
    deps: &Deps,
    link: &Link,
    request: &Request,
    grant: &Grant,
    plugins: &[PluginOutcome],
    cancel: &CancellationToken,
) {
    let Some(key) = super::signing_key(deps, &request.id, "snapshots") else { return };
    let plugins = super::clips::plugin_decisions(plugins);
    for camera in &grant.cameras {
        if deps.requests.privacy_on() || cancel.is_cancelled() {
            tracing::warn!(request = %request.id, "The share was cut; the remaining snapshots are not sent");
            return;
        }
        let failed = |e: String| {
            tracing::error!(request = %request.id, camera = %camera, error = %e, "Cannot take the granted snapshot");
            audit::best_effort(
                deps.audit.as_ref(),
                &Entry::ShareFailed { request_id: request.id.clone(), camera: camera.clone(), error: e },
            );
        };
        let Some(cam) = deps.settings.borrow().camera(camera).cloned() else {
            failed("no such camera".into());
            continue;
        };
        let taken = tokio::select! {
            () = cancel.cancelled() => return,
            r = image(deps, &cam) => r,
        };
        let (image, content_type, ext, taken_at) = match taken {
            Ok(i) => i,
            Err(e) => {
                failed(e);
                continue;
            }
        };
        let sha256 = crate::digest::sha256_hex(&image);
        let manifest = Manifest {
            version: 1,
            hub_id: link.hub_id().to_owned(),
            request_id: request.id.clone(),
            camera: camera.clone(),
            from: taken_at,
            to: taken_at,
            file_name: format!("{}-{camera}.{ext}", request.id),
            bytes: image.len() as u64,
            sha256: sha256.clone(),
            grant: grant.clone(),
            plugins: plugins.clone(),
            created_at: jiff::Timestamp::now(),
        };
        let signed = crate::evidence::sign(&manifest, &key);
        let entry = Entry::SharedSnapshot {
            request_id: request.id.clone(),
            camera: camera.clone(),
            at: taken_at,
            bytes: image.len() as u64,
            sha256,
            content_type: content_type.to_owned(),
        };
        if audit::required(deps.audit.as_ref(), &entry).is_err() {
            tracing::error!(request = %request.id, camera = %camera, "The snapshot cannot be recorded in the audit log, so it is not sent");
            continue;
        }
        let bytes = image.len() as u64;
        let body = super::link::Payload::Bytes(content_type, Bytes::from(image));
        if super::clips::upload(deps, link, &request.id, camera, "snapshots", body, &signed, cancel).await {
            tracing::info!(request = %request.id, camera = %camera, bytes, "Snapshot sent to the center");
            deps.metrics.add(Metric::RelaySharedBytes, &[(Label::Kind, "snapshot")], bytes);
        }
    }
}

/// The camera's image: its ONVIF snapshot if it has an `onvif_url`, else (and when that fails)
/// a still from its stream; with its media type, file extension and when it was taken. The
/// error says why neither came.
async fn image(
    deps: &Deps,
    cam: &crate::config::CameraSettings,
) -> Result<(Vec<u8>, &'static str, &'static str, jiff::Timestamp), String> {
    let mut onvif_failed = None;
    if let Some(device) = &cam.onvif_url {
        let creds = crate::onvif::client::camera_credentials(cam);
        match take(device, creds, crate::onvif::client::camera_http(cam)).await {
            Ok(image) => match image_kind(&image) {
                Some((content_type, ext)) => return Ok((image, content_type, ext, jiff::Timestamp::now())),
                None => {
                    onvif_failed = Some(format!(
                        "the camera's snapshot ({} bytes) is not a JPEG, PNG or BMP image",
                        image.len()
                    ));
                }
            },
            Err(e) => onvif_failed = Some(e),
        }
        if let Some(e) = &onvif_failed {
            tracing::warn!(camera = %cam.name, error = %e, "The camera's ONVIF snapshot failed; sharing a still from its stream");
        }
    }
    match deps.stills.still(&cam.name, None, None).await {
        Ok(still) => Ok((still.jpeg.to_vec(), "image/jpeg", "jpg", still.at)),
        Err(e) => Err(match onvif_failed {
            Some(onvif) => format!("{onvif}; and no still from its stream: {e}"),
            None => format!("no still from its stream (it has no `onvif_url`): {e}"),
        }),
    }
}

async fn take(
    device: &url::Url,
    creds: Option<crate::onvif::client::Credentials>,
    http: std::sync::Arc<crate::onvif::client::HttpTransport>,
) -> Result<Vec<u8>, String> {
    let uri = crate::onvif::snapshot::snapshot_uri(device, creds.clone(), http.clone())
        .await
        .map_err(|e| format!("cannot get the snapshot address from ONVIF: {e}"))?;
    crate::onvif::snapshot::fetch(&uri, creds.as_ref(), &http).await.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_told_apart_by_their_first_bytes() {
        assert_eq!(image_kind(&[0xFF, 0xD8, 0xFF, 0xE0, 0]), Some(("image/jpeg", "jpg")));
        assert_eq!(image_kind(b"\x89PNG\r\n"), Some(("image/png", "png")));
        assert_eq!(image_kind(b"BM\x36\x00"), Some(("image/bmp", "bmp")));
        assert_eq!(image_kind(b"<html>401</html>"), None);
        assert_eq!(image_kind(b""), None);
    }
}

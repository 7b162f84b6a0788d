//! `GET /api/recordings` (segments, gaps, camera events and pins), `GET /api/clips` (an
//! exported MP4, with HTTP Range support so players can seek) and the resident's pins
//! (`GET`/`POST /api/pins`, `DELETE /api/pins/{id}`).

use std::collections::HashMap;
use std::io::SeekFrom;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::{ApiState, error};
use serde_json::json;

use crate::recording::export::{self, ClipRequest, ExportError};
use crate::recording::index::{Pin, PinError};

/// The longest clip the API cuts in one request.
const MAX_CLIP_MS: i64 = 6 * 3600 * 1000;

/// A time parameter that is missing or cannot be read (answered `400`).
#[derive(Debug, thiserror::Error)]
pub(super) enum TimeParamError {
    #[error("`{name}`: {reason}")]
    Invalid { name: &'static str, reason: crate::config::units::TimeError },
    #[error("`{name}` is required (RFC 3339, or relative such as -10m)")]
    Missing { name: &'static str },
}

pub(super) fn time_param(
    q: &HashMap<String, String>,
    name: &'static str,
    default: Option<jiff::Timestamp>,
) -> Result<i64, TimeParamError> {
    match (q.get(name), default) {
        (Some(v), _) => crate::config::units::parse_time(v, jiff::Timestamp::now())
            .map(|t| t.as_millisecond())
            .map_err(|reason| TimeParamError::Invalid { name, reason }),
        (None, Some(d)) => Ok(d.as_millisecond()),
        (None, None) => Err(TimeParamError::Missing { name }),
    }
}

pub async fn recordings(State(st): State<ApiState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let Some(index) = st.index.clone() else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "the recording index is not available");
    };
    let range = time_param(&q, "from", Some(jiff::Timestamp::UNIX_EPOCH))
        .and_then(|f| time_param(&q, "to", Some(jiff::Timestamp::now())).map(|t| (f, t)));
    let (from, to) = match range {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let camera = q.get("camera").cloned();
    let listed = tokio::task::spawn_blocking(move || {
        let segments = index.segments(camera.as_deref(), from, to)?;
        let gaps = index.gaps(camera.as_deref(), from, to)?;
        let events = index.events(camera.as_deref(), from, to)?;
        let pins = index.pins_overlapping(camera.as_deref(), from, to)?;
        Ok::<_, crate::recording::index::IndexError>((segments, gaps, events, pins))
    })
    .await;
    match listed {
        Ok(Ok((segments, gaps, events, pins))) => {
            let mut body = crate::recording::listing_json(&segments, &gaps);
            body["events"] = events
                .iter()
                .map(|e| {
                    json!({"camera": e.camera, "kind": e.kind, "at": crate::recording::fmt_ms(e.at_ms), "at_ms": e.at_ms})
                })
                .collect();
            body["pins"] = pins.iter().map(pin_json).collect();
            axum::Json(body).into_response()
        }
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

fn pin_json(p: &Pin) -> serde_json::Value {
    json!({
        "id": p.id,
        "camera": p.camera,
        "from": crate::recording::fmt_ms(p.start_ms),
        "to": crate::recording::fmt_ms(p.end_ms),
        "from_ms": p.start_ms,
        "to_ms": p.end_ms,
        "reason": p.reason,
    })
}

/// `GET /api/pins`: every pin, ordered by start.
pub async fn pins(State(st): State<ApiState>) -> Response {
    let Some(index) = st.index.clone() else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "the recording index is not available");
    };
    match tokio::task::spawn_blocking(move || index.pins()).await {
        Ok(Ok(pins)) => {
            axum::Json(json!({"pins": pins.iter().map(pin_json).collect::<Vec<_>>()})).into_response()
        }
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinBody {
    camera: String,
    from: String,
    to: String,
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /api/pins`: keeps a camera's recordings of an interval from retention (checked and
/// made by `Index::pin_checked`, like `porchlight recordings pin`).
pub async fn add_pin(
    State(st): State<ApiState>,
    body: Result<axum::Json<PinBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let body = match body {
        Ok(axum::Json(b)) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("invalid request body: {}", e.body_text())),
    };
    let Some(index) = st.index.clone() else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "the recording index is not available");
    };
    let now = jiff::Timestamp::now();
    let time = |name: &'static str, text: &str| {
        crate::config::units::parse_time(text, now)
            .map(|t| t.as_millisecond())
            .map_err(|reason| TimeParamError::Invalid { name, reason })
    };
    let (from_ms, to_ms) = match time("from", &body.from).and_then(|f| time("to", &body.to).map(|t| (f, t))) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let configured = st.settings.borrow().camera(&body.camera).is_some();
    let made = tokio::task::spawn_blocking(move || {
        index.pin_checked(
            configured,
            &body.camera,
            from_ms,
            to_ms,
            body.reason.as_deref(),
            now.as_millisecond(),
        )
    })
    .await;
    match made {
        Ok(Ok(pin)) => (StatusCode::CREATED, axum::Json(json!({"pin": pin_json(&pin)}))).into_response(),
        Ok(Err(e @ (PinError::Order { .. } | PinError::UnknownCamera(_) | PinError::ReasonTooLong(_)))) => {
            error(StatusCode::BAD_REQUEST, &e.to_string())
        }
        Ok(Err(e @ PinError::Index(_))) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// `DELETE /api/pins/{id}`.
pub async fn remove_pin(State(st): State<ApiState>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return error(StatusCode::BAD_REQUEST, &format!("`id` must be a pin's number, not {id:?}"));
    };
    let Some(index) = st.index.clone() else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "the recording index is not available");
    };
    match tokio::task::spawn_blocking(move || index.unpin(id)).await {
        Ok(Ok(true)) => axum::Json(json!({"unpinned": id})).into_response(),
        Ok(Ok(false)) => error(StatusCode::NOT_FOUND, &format!("no pin with id {id}")),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

pub async fn clips(
    State(st): State<ApiState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(index) = st.index.clone() else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "the recording index is not available");
    };
    let Some(camera) = q.get("camera").cloned() else {
        return error(StatusCode::BAD_REQUEST, "`camera` is required");
    };
    let range = time_param(&q, "from", None).and_then(|f| time_param(&q, "to", None).map(|t| (f, t)));
    let (from_ms, to_ms) = match range {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    if to_ms - from_ms > MAX_CLIP_MS {
        return error(StatusCode::BAD_REQUEST, "clips are limited to 6 hours per request");
    }
    let audio = match q.get("audio").map(String::as_str) {
        None | Some("true" | "1") => true,
        Some("false" | "0") => false,
        Some(other) => {
            return error(StatusCode::BAD_REQUEST, &format!("`audio` must be true or false, not {other:?}"));
        }
    };
    let dir = st.settings.borrow().hub.data_dir.join("tmp");
    let req = ClipRequest { camera: camera.clone(), from_ms, to_ms, audio, strict: false };
    let made = tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir).map_err(|source| ExportError::Write { path: dir.clone(), source })?;
        let path = dir.join(format!("clip-{:016x}.mp4", fastrand::u64(..)));
        let info = export::export(&index, &req, &path);
        // Opened, then unlinked: the download reads the open file; nothing is left behind.
        let file = info.and_then(|info| {
            let f = std::fs::File::open(&path)
                .map_err(|source| ExportError::Write { path: path.clone(), source });
            let _ = std::fs::remove_file(&path);
            f.map(|f| (info, f))
        });
        if file.is_err() {
            let _ = std::fs::remove_file(&path);
        }
        file
    })
    .await;
    let (info, file) = match made {
        Ok(Ok(x)) => x,
        Ok(Err(e @ ExportError::Nothing { .. })) => return error(StatusCode::NOT_FOUND, &e.to_string()),
        Ok(Err(e @ ExportError::BadInterval { .. })) => {
            return error(StatusCode::BAD_REQUEST, &e.to_string());
        }
        Ok(Err(e)) => return error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let len = info.bytes;
    let (status, start, end) = match parse_range(headers.get(header::RANGE), len) {
        RangeSpec::Full => (StatusCode::OK, 0, len),
        RangeSpec::Part(a, b) => (StatusCode::PARTIAL_CONTENT, a, b + 1),
        RangeSpec::Unsatisfiable => {
            return (StatusCode::RANGE_NOT_SATISFIABLE, [(header::CONTENT_RANGE, format!("bytes */{len}"))])
                .into_response();
        }
    };
    let mut file = tokio::fs::File::from_std(file);
    if let Err(e) = file.seek(SeekFrom::Start(start)).await {
        return error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
    }
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file.take(end - start)));
    let stamp = jiff::Timestamp::from_millisecond(info.start_ms)
        .map(|t| t.strftime("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_default();
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{len}", end - 1))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{camera}-{stamp}.mp4\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    for (name, value) in [
        ("x-clip-start", crate::recording::fmt_ms(info.start_ms)),
        ("x-clip-end", crate::recording::fmt_ms(info.end_ms)),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    resp
}

#[derive(Debug, PartialEq, Eq)]
enum RangeSpec {
    Full,
    /// Inclusive byte positions.
    Part(u64, u64),
    Unsatisfiable,
}

/// One `bytes=` range (RFC 9110 14.1.2); several ranges or another unit get the whole body.
fn parse_range(value: Option<&HeaderValue>, len: u64) -> RangeSpec {
    let Some(spec) = value.and_then(|v| v.to_str().ok()).and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return RangeSpec::Full;
    };
    if spec.contains(',') {
        return RangeSpec::Full;
    }
    let Some((a, b)) = spec.split_once('-') else { return RangeSpec::Full };
    let (a, b) = (a.trim(), b.trim());
    let range = match (a.parse::<u64>().ok(), b.parse::<u64>().ok()) {
        (Some(a), Some(b)) if a <= b => Some((a, b.min(len.saturating_sub(1)))),
        (Some(a), None) if b.is_empty() => Some((a, len.saturating_sub(1))),
        (None, Some(n)) if a.is_empty() && n > 0 => Some((len.saturating_sub(n), len.saturating_sub(1))),
        _ => return RangeSpec::Full,
    };
    match range {
        Some((a, b)) if a < len && a <= b => RangeSpec::Part(a, b),
        _ => RangeSpec::Unsatisfiable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(v: &str, len: u64) -> RangeSpec {
        parse_range(Some(&HeaderValue::from_str(v).expect("header")), len)
    }

    #[test]
    fn byte_ranges_follow_rfc_9110() {
        assert_eq!(parse_range(None, 100), RangeSpec::Full);
        assert_eq!(r("bytes=0-9", 100), RangeSpec::Part(0, 9));
        assert_eq!(r("bytes=90-", 100), RangeSpec::Part(90, 99));
        assert_eq!(r("bytes=-10", 100), RangeSpec::Part(90, 99));
        assert_eq!(r("bytes=50-500", 100), RangeSpec::Part(50, 99));
        assert_eq!(r("bytes=100-", 100), RangeSpec::Unsatisfiable);
        assert_eq!(r("bytes=0-1,5-6", 100), RangeSpec::Full);
        assert_eq!(r("items=0-1", 100), RangeSpec::Full);
        assert_eq!(r("bytes=9-0", 100), RangeSpec::Full);
    }
}

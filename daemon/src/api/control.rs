//! The resident's controls: privacy mode, sharing requests (list, submit, approve, deny,
//! revoke what is being shared) and the per-camera recording switch.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{ApiState, Via, error};
use crate::policy::{HubMode, Request as PolicyRequest};
use crate::privacy::PrivacyError;
use crate::requests::{Approval, RequestError, Submitted};

/// A request body that is not the JSON the route takes (answered `400`).
#[derive(Debug, thiserror::Error)]
#[error("invalid request body: {source}")]
struct BodyError {
    #[from]
    source: serde_json::Error,
}

/// Parses a JSON body; an empty body is `T::default()`.
fn body<T: for<'de> Deserialize<'de> + Default>(bytes: &Bytes) -> Result<T, BodyError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    required(bytes)
}

fn required<T: for<'de> Deserialize<'de>>(bytes: &Bytes) -> Result<T, BodyError> {
    Ok(serde_json::from_slice(bytes)?)
}

pub async fn privacy(State(st): State<ApiState>) -> Response {
    axum::Json(st.privacy.state()).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Switch {
    on: bool,
}

pub async fn set_privacy(State(st): State<ApiState>, Via(via): Via, bytes: Bytes) -> Response {
    let s: Switch = match required(&bytes) {
        Ok(s) => s,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    match st.requests.set_privacy(s.on, via.name()) {
        Ok(state) => axum::Json(state).into_response(),
        Err(e @ PrivacyError::Forced) => error(StatusCode::CONFLICT, &e.to_string()),
        Err(e @ PrivacyError::NotRecorded(_)) => error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    }
}

pub async fn requests(State(st): State<ApiState>) -> Response {
    axum::Json(json!({
        "pending": st.requests.pending(),
        "sharing": st.requests.sharing(),
        "recent": st.requests.recent(),
    }))
    .into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmitBody {
    request: PolicyRequest,
    /// Default: the hub's current mode.
    #[serde(default)]
    mode: Option<HubMode>,
}

fn request_error(e: &RequestError) -> Response {
    let code = match e {
        RequestError::Duplicate(_) => StatusCode::CONFLICT,
        RequestError::NotPending(_) | RequestError::NotSharing(_) => StatusCode::NOT_FOUND,
        RequestError::Wider(_) | RequestError::BadId(_) => StatusCode::BAD_REQUEST,
        RequestError::Privacy => StatusCode::CONFLICT,
        RequestError::NotRecorded(_) | RequestError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    error(code, &e.to_string())
}

/// Hands a request in as the relay would (for local integrations, and to try a policy end to
/// end): decided and audited; an `ask` waits in `GET /api/requests`.
pub async fn submit(State(st): State<ApiState>, bytes: Bytes) -> Response {
    let b: SubmitBody = match required(&bytes) {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let mode = b.mode.unwrap_or_else(|| st.mode.current());
    match st.requests.submit(b.request, mode, "api").await {
        Ok(Submitted::Decided(verdict)) => axum::Json(verdict).into_response(),
        Ok(Submitted::Pending { view, verdict, .. }) => {
            (StatusCode::ACCEPTED, axum::Json(json!({ "pending": view, "plugins": verdict.plugins })))
                .into_response()
        }
        Err(e) => request_error(&e),
    }
}

pub async fn approve(
    State(st): State<ApiState>,
    Via(via): Via,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Response {
    let a: Approval = match body(&bytes) {
        Ok(a) => a,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    match st.requests.approve(&id, &a, via.name()) {
        Ok(d) => axum::Json(d).into_response(),
        Err(e) => request_error(&e),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DenyBody {
    #[serde(default)]
    reason: String,
}

pub async fn deny(
    State(st): State<ApiState>,
    Via(via): Via,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Response {
    let d: DenyBody = match body(&bytes) {
        Ok(d) => d,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let reason: String = d.reason.chars().take(512).collect();
    match st.requests.deny(&id, &reason, via.name()) {
        Ok(d) => axum::Json(d).into_response(),
        Err(e) => request_error(&e),
    }
}

/// The resident stops what is being shared for a request: a live stream is cut at once, clips
/// not yet sent stay home.
pub async fn revoke(State(st): State<ApiState>, Via(via): Via, Path(id): Path<String>) -> Response {
    match st.requests.revoke(&id, via.name()) {
        Ok(()) => axum::Json(json!({ "request_id": id, "revoked": true })).into_response(),
        Err(e) => request_error(&e),
    }
}

/// The resident shares a clip: kept as signed files on the hub, or sent to the relay's center.
pub async fn share(State(st): State<ApiState>, Via(via): Via, bytes: Bytes) -> Response {
    use crate::relay::resident::{self, ShareError};
    let order: resident::Order = match required(&bytes) {
        Ok(o) => o,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    match resident::share(&st.relay, order, via.name(), &st.cancel).await {
        Ok(v) if v["destination"] == "center" => (StatusCode::ACCEPTED, axum::Json(v)).into_response(),
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => {
            let code = match &e {
                ShareError::Bad(_) => StatusCode::BAD_REQUEST,
                ShareError::Privacy | ShareError::NoRelay(_) => StatusCode::CONFLICT,
                ShareError::NotRecorded(_) => StatusCode::SERVICE_UNAVAILABLE,
                ShareError::Failed(_) => StatusCode::UNPROCESSABLE_ENTITY,
            };
            error(code, &e.to_string())
        }
    }
}

pub async fn mode(State(st): State<ApiState>) -> Response {
    axum::Json(st.mode.state()).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModeBody {
    mode: HubMode,
}

/// Switches the hub mode the policies see (`home`, `away`, `night`, `vacation`).
pub async fn set_mode(State(st): State<ApiState>, Via(via): Via, bytes: Bytes) -> Response {
    let b: ModeBody = match required(&bytes) {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    match st.mode.set(b.mode, via.name()) {
        Ok(state) => axum::Json(state).into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    }
}

pub async fn set_record(
    State(st): State<ApiState>,
    Via(via): Via,
    Path(name): Path<String>,
    bytes: Bytes,
) -> Response {
    let s: Switch = match required(&bytes) {
        Ok(s) => s,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    if st.settings.borrow().camera(&name).is_none() {
        return error(StatusCode::NOT_FOUND, &format!("no camera named {name:?}"));
    }
    st.pause.set(&name, !s.on, via.name());
    axum::Json(json!({ "camera": name, "record": s.on })).into_response()
}

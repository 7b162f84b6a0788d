//! `GET /api/cameras/{name}/still`: a JPEG of a camera, from its latest keyframe or, with
//! `at=`, the recorded keyframe at or before that time (`crate::stills`). Reference:
//! `docs/ref/api.md`.

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{ApiState, error};
use crate::stills::StillError;

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StillQuery {
    width: Option<u32>,
    at: Option<String>,
}

pub async fn still(
    State(st): State<ApiState>,
    Path(name): Path<String>,
    query: Result<Query<StillQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let query = match query {
        Ok(Query(q)) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("invalid query: {}", e.body_text())),
    };
    let at = match query.at.as_deref().map(str::parse::<jiff::Timestamp>).transpose() {
        Ok(at) => at,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("`at` must be an RFC 3339 time: {e}")),
    };
    match st.stills.still(&name, at, query.width).await {
        Ok(still) => (
            [
                (header::CONTENT_TYPE, "image/jpeg".to_owned()),
                (header::CACHE_CONTROL, "no-store".to_owned()),
                (header::HeaderName::from_static("x-porchlight-frame-time"), still.at.to_string()),
            ],
            still.jpeg,
        )
            .into_response(),
        Err(e) => {
            let code = match &e {
                StillError::NoSuchCamera(_) | StillError::NoPicture { .. } => StatusCode::NOT_FOUND,
                StillError::Width(_) => StatusCode::BAD_REQUEST,
                StillError::NoIndex { .. } | StillError::Decode { .. } => StatusCode::SERVICE_UNAVAILABLE,
                StillError::Recording { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            };
            if code.is_server_error() {
                tracing::warn!(camera = %name, error = %e, "Cannot give a still image");
            }
            error(code, &e.to_string())
        }
    }
}

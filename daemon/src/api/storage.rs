//! `GET /api/storage`: how much the recordings take, per camera, how much room is left, and
//! the retention limits that keep it so (the web app's home page).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{ApiState, error};

pub async fn storage(State(st): State<ApiState>) -> Response {
    let Some(index) = st.index.clone() else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "the recording index is not available");
    };
    let storage = st.settings.borrow().storage.clone();
    let dir = storage.dir.clone();
    let read = tokio::task::spawn_blocking(move || {
        let usage = index.usage()?;
        let free = crate::recording::free_bytes_checked(&dir);
        let total = crate::recording::total_bytes(&dir);
        Ok::<_, crate::recording::index::IndexError>((usage, free, total))
    })
    .await;
    let (usage, free, total) = match read {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let cameras: Vec<_> = usage
        .iter()
        .map(|(camera, bytes, segments)| json!({ "camera": camera, "bytes": bytes, "segments": segments }))
        .collect();
    axum::Json(json!({
        "dir": storage.dir,
        "recorded_bytes": usage.iter().map(|(_, b, _)| b).sum::<u64>(),
        "free_bytes": free,
        "filesystem_bytes": total,
        "cameras": cameras,
        "max_bytes": storage.max_bytes,
        "max_age_seconds": storage.max_age.map(|d| d.as_secs()),
        "min_free_bytes": storage.min_free_bytes,
    }))
    .into_response()
}

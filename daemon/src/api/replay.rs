//! `POST /api/policy/replay`: a candidate policy (an uploaded plugin) decides the requests of
//! the audit log again, alone and composed with the running policies (`policy::replay`). One
//! replay at a time, on a blocking thread, on the running engine's host with the running
//! plugins, in instances of its own; nothing is shared or written. `docs/ref/api.md`.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;
use tokio::sync::Semaphore;

use super::{ApiState, error};
use crate::policy::replay::{self, CancelOnDrop, Candidate, Options, ReplayError, Source};

/// The largest body this route reads: a plugin of the largest size accepted
/// (`policy::host::MAX_PLUGIN_BYTES`, 16 MiB) in base64, with room for the rest.
pub const MAX_BODY_BYTES: usize = 24 << 20;

/// One replay at a time, whoever asks.
static RUNNING: Semaphore = Semaphore::const_new(1);

/// The candidate's configuration: TOML text (as the resident writes it) or a JSON object.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum PluginConfig {
    Toml(String),
    Table(serde_json::Map<String, serde_json::Value>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    /// The plugin file, base64 (standard alphabet, padded); or `bundled`.
    #[serde(default)]
    wasm: Option<String>,
    /// A policy bundled with the daemon, by name; or `wasm`.
    #[serde(default)]
    bundled: Option<String>,
    /// The name it goes by (default `candidate`); an enabled policy of that name is replaced in
    /// the composed replay.
    #[serde(default)]
    name: Option<String>,
    /// Default: that of the enabled policy of the same name, else none.
    #[serde(default)]
    config: Option<PluginConfig>,
    /// Default `90d`.
    #[serde(default)]
    since: Option<String>,
}

/// Why the body cannot be replayed (answered `400`).
#[derive(Debug, thiserror::Error)]
enum BodyError {
    #[error("invalid request body: {0}")]
    Json(#[from] serde_json::Error),
    #[error("wasm is not base64: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("config is not TOML: {0}")]
    Toml(String),
    #[error("give the candidate as exactly one of `wasm` (the file, base64) and `bundled` (a name)")]
    Candidate,
}

fn parse(bytes: &Bytes) -> Result<(Candidate, String), BodyError> {
    let body: Body = serde_json::from_slice(bytes)?;
    let config = match body.config {
        None => None,
        Some(PluginConfig::Toml(text)) => {
            let value: serde_json::Value =
                toml::from_str(&text).map_err(|e| BodyError::Toml(e.message().to_owned()))?;
            Some(value.to_string())
        }
        Some(PluginConfig::Table(map)) => Some(serde_json::Value::Object(map).to_string()),
    };
    let source = match (body.wasm, body.bundled) {
        (Some(wasm), None) => {
            let bytes = base64::engine::general_purpose::STANDARD.decode(wasm.trim())?;
            let name = body.name.unwrap_or_else(|| "candidate".to_owned());
            Source::Bytes { name, bytes }
        }
        (None, Some(name)) if body.name.is_none() => Source::Bundled(name),
        _ => return Err(BodyError::Candidate),
    };
    let since = body.since.unwrap_or_else(|| replay::DEFAULT_SINCE.to_owned());
    Ok((Candidate { source, config }, since))
}

fn status(e: &ReplayError) -> StatusCode {
    match e {
        ReplayError::BadSince { .. }
        | ReplayError::BadName(_)
        | ReplayError::Unreadable(_)
        | ReplayError::UnknownBundled(_) => StatusCode::BAD_REQUEST,
        ReplayError::Rejected { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        ReplayError::Audit(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

pub async fn replay(State(st): State<ApiState>, bytes: Bytes) -> Response {
    let (candidate, since) = match parse(&bytes) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    drop(bytes);
    let Some(policy) = st.policy.clone() else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "the policy engine is not running; nothing is shared");
    };
    let now = jiff::Timestamp::now();
    let since = match replay::parse_since(&since, now) {
        Ok(t) => t,
        Err(e) => return error(status(&e), &e.to_string()),
    };
    let Ok(permit) = RUNNING.try_acquire() else {
        return error(StatusCode::CONFLICT, "another replay is running; try again when it has finished");
    };
    let settings = st.settings.borrow().clone();
    let mut opts = Options::new(since, settings.hub.max_live);
    opts.until = now;
    // Dropped (the flag set) when this handler is, e.g. because the client went away.
    let cancel = CancelOnDrop(Arc::new(AtomicBool::new(false)));
    let flag = Arc::clone(&cancel.0);
    let ran = tokio::task::spawn_blocking(move || {
        // Held until the replay has stopped, even when this handler is gone.
        let _permit = permit;
        let engine = &policy.engine;
        let audit_dir = settings.hub.data_dir.join("audit");
        // The candidate's log lines and the engine's per-request warnings stay out of the hub's
        // log: a replay writes nothing.
        tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), || {
            replay::replay(engine, &engine.slots(), &settings.plugins, candidate, &audit_dir, &opts, &flag)
        })
    })
    .await;
    drop(cancel);
    match ran {
        Ok(Ok(report)) => {
            tracing::info!(
                candidate = %report.candidate.name,
                replayed = report.totals.replayed,
                changed_alone = report.totals.alone.changed,
                changed_composed = report.totals.composed.changed,
                elapsed_ms = report.elapsed_ms,
                "Policy replayed"
            );
            axum::Json(report).into_response()
        }
        Ok(Err(e)) => error(status(&e), &e.to_string()),
        Err(e) => {
            tracing::error!(error = %e, "Policy replay failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, "the replay failed")
        }
    }
}

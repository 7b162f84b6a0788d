//! The local HTTP API (routes only; logic lives in the subsystems). Bearer-token auth when
//! `api.token*` is set; the config refuses a non-loopback address without one.
//! Reference: `docs/ref/api.md`.

mod control;
mod live;
mod playback;
mod recordings;
mod replay;
mod report;
pub mod serve;
mod stills;
mod storage;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::bus::Bus;
use crate::config::Settings;
use crate::health::Health;
use crate::metrics::{Label, Metric, Metrics};
use crate::policy::pool::Admission;
use crate::policy::service::PolicyService;
use crate::policy::{HubMode, Request as PolicyRequest, Slot};
use crate::recording::CameraStates;

/// What the handlers read. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ApiState {
    pub settings: watch::Receiver<Arc<Settings>>,
    pub health: Health,
    pub metrics: Metrics,
    pub bus: Bus,
    pub cameras: CameraStates,
    /// `None` when the policy engine could not start (then nothing is shared).
    pub policy: Option<Arc<PolicyService>>,
    pub privacy: crate::privacy::Privacy,
    pub requests: crate::requests::Requests,
    pub pause: crate::cameras::RecordPause,
    /// `None` when the recording index could not be opened.
    pub index: Option<crate::recording::index::Index>,
    /// For the resident's own shares (cut and signed like the relay's, sent through it).
    pub relay: crate::relay::Deps,
    /// The hub mode (`GET`/`PUT /api/mode`).
    pub mode: crate::mode::Mode,
    pub started: Instant,
    /// Ends long-lived responses (the event stream) at shutdown.
    pub cancel: CancellationToken,
    /// The web app's sessions and sign-in brake.
    pub web: crate::web::Web,
    /// Still images of the cameras.
    pub stills: crate::stills::Stills,
}

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/api/health", get(health))
        .route("/api/cameras", get(cameras))
        .route("/api/events", get(events))
        .route("/api/plugins", get(plugins))
        .route("/api/policy/evaluate", axum::routing::post(evaluate))
        .route("/api/policy/replay", axum::routing::post(replay::replay))
        .route("/api/cameras/{name}/events", axum::routing::post(camera_event))
        .route("/api/recordings", get(recordings::recordings))
        .route("/api/clips", get(recordings::clips))
        .route("/api/storage", get(storage::storage))
        .route("/api/pins", get(recordings::pins).post(recordings::add_pin))
        .route("/api/pins/{id}", axum::routing::delete(recordings::remove_pin))
        .route("/api/report", get(report::report))
        .route("/api/privacy", get(control::privacy).put(control::set_privacy))
        .route("/api/requests", get(control::requests).post(control::submit))
        .route("/api/requests/{id}/approve", axum::routing::post(control::approve))
        .route("/api/requests/{id}/deny", axum::routing::post(control::deny))
        .route("/api/requests/{id}/revoke", axum::routing::post(control::revoke))
        .route("/api/shares", axum::routing::post(control::share))
        .route("/api/mode", get(control::mode).put(control::set_mode))
        .route("/api/cameras/{name}/record", axum::routing::put(control::set_record))
        .route("/api/cameras/{name}/play", get(playback::play))
        .route("/api/cameras/{name}/live", get(live::live))
        .route("/api/live", get(live::many))
        .route("/api/cameras/{name}/still", get(stills::still))
        .route("/metrics", get(metrics))
        .with_state(state.clone())
        .merge(crate::web::router(state.web.clone()))
        .fallback(not_found)
        // Layers run outside in: the token is checked before any body is read.
        .layer(middleware::from_fn_with_state(state.clone(), bounded_body))
        .layer(middleware::from_fn_with_state(state, auth))
        .layer(middleware::from_fn(crate::web::security_headers))
}

/// Every request passes [`crate::web::admit`] first (token, session, host, cross-site
/// checks); the routes find the [`crate::web::Caller`] in the request's extensions.
async fn auth(State(st): State<ApiState>, mut req: Request, next: Next) -> Response {
    let route = route_label(req.uri().path());
    let token = st.settings.borrow().api.token.clone();
    let admitted =
        crate::web::admit(&st.web.sessions, token.as_ref(), req.method(), req.uri().path(), req.headers());
    let caller = match admitted {
        Ok(caller) => caller,
        Err(refusal) => {
            let resp = refusal.clone().into_response();
            st.metrics
                .inc(Metric::ApiRequests, &[(Label::Route, route), (Label::Code, resp.status().as_str())]);
            match refusal {
                crate::web::Refusal::Unauthorized => {
                    tracing::warn!(path = %req.uri().path(), "API request without a valid token");
                }
                crate::web::Refusal::SignIn => {}
                other => tracing::warn!(path = %req.uri().path(), "API request refused: {other}"),
            }
            return resp;
        }
    };
    req.extensions_mut().insert(caller);
    let resp = next.run(req).await;
    st.metrics.inc(Metric::ApiRequests, &[(Label::Route, route), (Label::Code, resp.status().as_str())]);
    resp
}

/// The channel a request came through (`api`, or `web` for the web app's session), as the
/// audit log and `changed_by` name it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Via(pub crate::web::Channel);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Via {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Infallible> {
        let caller = parts.extensions.get::<crate::web::Caller>();
        Ok(Self(caller.map_or(crate::web::Channel::Api, crate::web::Caller::channel)))
    }
}

/// The largest request body the API reads (requests, dry runs and controls are small JSON
/// documents).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Reads the whole request body before the handler runs, bounded in size (`413`) and in time
/// (`api.request_timeout`, `408`), so a client that sends half a body cannot hold a handler.
/// The body limit of a route: [`MAX_BODY_BYTES`], except a replay's, which carries a plugin.
fn body_limit(path: &str) -> usize {
    if path == "/api/policy/replay" { replay::MAX_BODY_BYTES } else { MAX_BODY_BYTES }
}

async fn bounded_body(State(st): State<ApiState>, req: Request, next: Next) -> Response {
    let timeout = st.settings.borrow().api.request_timeout;
    let limit = body_limit(req.uri().path());
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large(limit);
    }
    let (parts, body) = req.into_parts();
    let bytes = match tokio::time::timeout(timeout, axum::body::to_bytes(body, limit)).await {
        Err(_) => {
            return error(
                StatusCode::REQUEST_TIMEOUT,
                &format!("the request body did not arrive within {timeout:?} (api.request_timeout)"),
            );
        }
        Ok(Err(e)) if is_length_limit(&e) => return too_large(limit),
        Ok(Err(e)) => {
            return error(StatusCode::BAD_REQUEST, &format!("could not read the request body: {e}"));
        }
        Ok(Ok(b)) => b,
    };
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes))).await
}

fn too_large(limit: usize) -> Response {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("the request body is larger than the API's limit of {limit} bytes"),
    )
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// A fixed label per route, so clients cannot create unbounded metric series.
fn route_label(path: &str) -> &'static str {
    match path {
        "/api/health" => "/api/health",
        "/api/cameras" => "/api/cameras",
        "/api/events" => "/api/events",
        "/metrics" => "/metrics",
        "/" => "/",
        "/login" => "/login",
        "/logout" => "/logout",
        "/api/session" => "/api/session",
        p if p.starts_with("/app/") => "/app/{file}",
        "/api/plugins" => "/api/plugins",
        "/api/policy/evaluate" => "/api/policy/evaluate",
        "/api/policy/replay" => "/api/policy/replay",
        "/api/recordings" => "/api/recordings",
        p if p.starts_with("/api/cameras/") && p.ends_with("/events") => "/api/cameras/{name}/events",
        "/api/clips" => "/api/clips",
        "/api/storage" => "/api/storage",
        "/api/pins" => "/api/pins",
        p if p.starts_with("/api/pins/") => "/api/pins/{id}",
        "/api/report" => "/api/report",
        "/api/privacy" => "/api/privacy",
        "/api/requests" => "/api/requests",
        "/api/shares" => "/api/shares",
        "/api/mode" => "/api/mode",
        p if p.starts_with("/api/requests/") && p.ends_with("/approve") => "/api/requests/{id}/approve",
        p if p.starts_with("/api/requests/") && p.ends_with("/deny") => "/api/requests/{id}/deny",
        p if p.starts_with("/api/requests/") && p.ends_with("/revoke") => "/api/requests/{id}/revoke",
        p if p.starts_with("/api/cameras/") && p.ends_with("/record") => "/api/cameras/{name}/record",
        p if p.starts_with("/api/cameras/") && p.ends_with("/still") => "/api/cameras/{name}/still",
        p if p.starts_with("/api/cameras/") && p.ends_with("/play") => "/api/cameras/{name}/play",
        p if p.starts_with("/api/cameras/") && p.ends_with("/live") => "/api/cameras/{name}/live",
        "/api/live" => "/api/live",
        _ => "other",
    }
}

/// How long an enabled camera may be without recording (connecting, offline, ...) before
/// `/api/health` calls it a problem: a camera that drops and comes back is not one.
pub const CAMERA_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

async fn health(State(st): State<ApiState>) -> Response {
    let settings = st.settings.borrow().clone();
    let mut subsystems = st.health.snapshot();
    let down = st.cameras.down_for(&settings, CAMERA_GRACE);
    if !down.is_empty()
        && let Some(cameras) = subsystems.get_mut(&crate::health::Subsystem::Cameras)
        && cameras.state == crate::health::State::Running
    {
        let names: Vec<String> = down.iter().map(|(n, s, secs)| format!("{n} ({s} for {secs} s)")).collect();
        cameras.state = crate::health::State::Degraded;
        cameras.detail = format!("{}; not recording: {}", cameras.detail, names.join(", "));
    }
    let overall = crate::health::overall_of(&subsystems);
    let code = if overall == "stopping" { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
    let body = json!({
        "status": overall,
        "hub": settings.hub.name,
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": st.started.elapsed().as_secs(),
        "subsystems": subsystems,
    });
    (code, axum::Json(body)).into_response()
}

async fn cameras(State(st): State<ApiState>) -> Response {
    let settings = st.settings.borrow().clone();
    axum::Json(json!({ "cameras": st.cameras.view(&settings) })).into_response()
}

async fn metrics(State(st): State<ApiState>) -> Response {
    st.metrics.set(Metric::UptimeSeconds, &[], st.started.elapsed().as_secs_f64());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], st.metrics.render())
        .into_response()
}

/// Server-sent events: every bus event as JSON, from the moment of connection, or from a held
/// event: after the `Last-Event-ID` a reconnecting client sends, or from `?from=<seq>`.
async fn events(State(st): State<ApiState>, headers: HeaderMap, uri: axum::http::Uri) -> Response {
    let start = match replay_start(&headers, uri.query()) {
        Ok(start) => start,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let (past, sub) = st.bus.subscribe_at("api-events", start);
    let sse = |e: &crate::bus::Event| {
        Ok::<_, Infallible>(
            SseEvent::default().event(e.kind.name()).id(e.seq.to_string()).data(e.to_json().to_string()),
        )
    };
    let past: Vec<_> = past.iter().map(|e| sse(e)).collect();
    let live = futures_util::stream::unfold((sub, st.cancel.clone()), move |(mut sub, cancel)| async move {
        let e = tokio::select! {
            () = cancel.cancelled() => return None,
            e = sub.recv() => e?,
        };
        Some((sse(&e), (sub, cancel)))
    });
    let stream = futures_util::StreamExt::chain(futures_util::stream::iter(past), live);
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

/// Why an event stream cannot start where it was asked to.
#[derive(Debug, thiserror::Error)]
enum ReplayError {
    #[error("{what} must be an event id (a whole number ≥ 0), not {text:?}")]
    NotAnId { what: &'static str, text: String },
    #[error("unknown query parameter {0:?}; only from=<seq> is taken")]
    UnknownParameter(String),
}

/// Where an event stream starts: `?from=<seq>` (that event), else `Last-Event-ID: <seq>` (the
/// one after it), else now.
fn replay_start(headers: &HeaderMap, query: Option<&str>) -> Result<crate::bus::Start, ReplayError> {
    use crate::bus::Start;
    let seq = |what: &'static str, text: &str| {
        text.trim().parse::<u64>().map_err(|_| ReplayError::NotAnId { what, text: text.to_owned() })
    };
    if let Some(pair) = query.unwrap_or_default().split('&').find(|p| !p.is_empty()) {
        return match pair.split_once('=') {
            Some(("from", v)) => Ok(Start::From(seq("from", v)?)),
            _ => Err(ReplayError::UnknownParameter(pair.to_owned())),
        };
    }
    match headers.get("last-event-id") {
        None => Ok(Start::Now),
        Some(v) => {
            let text = String::from_utf8_lossy(v.as_bytes());
            Ok(Start::From(seq("Last-Event-ID", &text)?.saturating_add(1)))
        }
    }
}

async fn plugins(State(st): State<ApiState>) -> Response {
    let Some(policy) = &st.policy else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "the policy engine is not running; nothing is shared");
    };
    let settings = st.settings.borrow().clone();
    let rejected = policy.engine.rejected();
    let list: Vec<serde_json::Value> = policy
        .engine
        .slots()
        .iter()
        .map(|s| {
            let mut entry = match s {
                Slot::Loaded(p) => match rejected.get(&p.name) {
                    None => json!({
                        "name": p.name, "state": "loaded", "source": p.source, "sha256": p.sha256,
                    }),
                    // The file or config now in place was refused; the version before keeps deciding.
                    Some(reason) => json!({
                        "name": p.name, "state": "rejected", "reason": reason, "kept_previous": true,
                        "source": p.source, "sha256": p.sha256,
                    }),
                },
                Slot::Missing { name, reason } => {
                    json!({ "name": name, "state": "not_loaded", "reason": reason })
                }
            };
            // A file's path; a bundled policy has none.
            if let Slot::Loaded(p) = s
                && p.source == crate::config::PolicySource::File
            {
                entry["file"] = json!(p.settings.file.display().to_string());
            }
            entry["config"] = plugin_config(&settings, s);
            entry
        })
        .collect();
    // The policies built into the daemon, which `plugins.enabled` can name without a file.
    let bundled: Vec<serde_json::Value> = crate::policy::bundled::bundled()
        .iter()
        .map(|b| json!({ "name": b.name, "sha256": b.sha256, "summary": b.summary }))
        .collect();
    axum::Json(json!({ "contract": crate::policy::CONTRACT, "plugins": list, "bundled": bundled }))
        .into_response()
}

/// The resident's config table of a plugin as the settings now have it (for a plugin the
/// settings no longer name, the one it was loaded with); `{}` when there is none.
fn plugin_config(settings: &Settings, slot: &Slot) -> serde_json::Value {
    let name = slot.name();
    let text = match (settings.plugins.enabled.iter().find(|p| p.name == name), slot) {
        (Some(p), _) => Some(p.config.as_str()),
        (None, Slot::Loaded(p)) => Some(p.settings.config.as_str()),
        (None, Slot::Missing { .. }) => None,
    };
    match text.map(serde_json::from_str::<serde_json::Value>) {
        None => json!({}),
        Some(Ok(v)) if v.is_object() => v,
        Some(_) => {
            tracing::warn!(plugin = %name, "Plugin config is not a JSON object; shown as {{}}");
            json!({})
        }
    }
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EvaluateBody {
    request: PolicyRequest,
    /// Default: the hub's current mode.
    #[serde(default)]
    mode: Option<HubMode>,
}

/// Asks the installed policies what they would decide about a request (nothing is shared;
/// the evaluation is recorded in the audit log like any decision).
async fn evaluate(
    State(st): State<ApiState>,
    body: Result<axum::Json<EvaluateBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let body = match body {
        Ok(axum::Json(b)) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("invalid request body: {}", e.body_text())),
    };
    let Some(policy) = &st.policy else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "the policy engine is not running; nothing is shared");
    };
    let settings = st.settings.borrow().clone();
    let mode = body.mode.unwrap_or_else(|| st.mode.current());
    let context = crate::policy::service::context_from(&settings, mode);
    match policy.decide(body.request, context, "api-evaluate", Admission::RefuseWhenBusy).await {
        Ok(verdict) => axum::Json(verdict).into_response(),
        Err(busy) => error(StatusCode::SERVICE_UNAVAILABLE, &busy.to_string()),
    }
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CameraEventBody {
    event: String,
}

/// Reports an event for a camera from outside (a sensor, a Home Assistant automation, a
/// doorbell without ONVIF): it goes on the bus like a camera's own event, so `record =
/// "events"` records and policies see it.
async fn camera_event(
    State(st): State<ApiState>,
    axum::extract::Path(name): axum::extract::Path<String>,
    body: Result<axum::Json<CameraEventBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    use crate::bus::EventKind;
    let body = match body {
        Ok(axum::Json(b)) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("invalid request body: {}", e.body_text())),
    };
    if st.settings.borrow().camera(&name).is_none() {
        return error(StatusCode::NOT_FOUND, &format!("no camera named {name:?}"));
    }
    let kind = match body.event.as_str() {
        "motion_start" => EventKind::MotionStart,
        "motion_end" => EventKind::MotionEnd,
        "doorbell_press" => EventKind::DoorbellPress,
        "tamper" => EventKind::Tamper,
        "alarm" => EventKind::Alarm,
        other => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!(
                    "unknown event {other:?}; expected motion_start, motion_end, doorbell_press, tamper or alarm"
                ),
            );
        }
    };
    let event = st.bus.publish(Some(&name), kind);
    (StatusCode::ACCEPTED, axum::Json(event.to_json())).into_response()
}

pub(crate) fn error(code: StatusCode, message: &str) -> Response {
    (code, axum::Json(json!({ "error": message }))).into_response()
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, axum::Json(json!({"error": "no such route"}))).into_response()
}

//! The resident's web app: the pages and scripts in `assets/` (embedded in the binary, served
//! under `/app/`), the sign-in page, browser sessions, and the rules that keep other web sites
//! from acting through a resident's browser. The app itself is a client of the documented
//! `/api/*`; the API's access check ([`admit`]) runs before every route, the app's and the
//! API's alike. Reference: `docs/ui.md`, `docs/ref/api.md` (Authentication).

mod assets;
pub mod session;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tokio::sync::watch;

use crate::config::Settings;
use crate::secret::Secret;
pub use session::{Sessions, SignInBrake};

/// The header the app sends its session's CSRF token in, on every write.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// What the web routes read. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Web {
    pub settings: watch::Receiver<Arc<Settings>>,
    pub sessions: Sessions,
    pub brake: SignInBrake,
}

impl Web {
    pub fn new(settings: watch::Receiver<Arc<Settings>>) -> Self {
        Self { settings, sessions: Sessions::default(), brake: SignInBrake::default() }
    }
}

/// The channel an action came through, as the audit log and `changed_by` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// A bearer token, or a local client of an API without one (the CLI, scripts).
    Api,
    /// The web app, signed in with a session cookie.
    Web,
}

impl Channel {
    pub const fn name(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Web => "web",
        }
    }
}

/// Who is asking, as [`admit`] found out; put in the request's extensions for the routes.
#[derive(Debug, Clone)]
pub enum Caller {
    /// The configured bearer token.
    Bearer,
    /// A browser session (its cookie value and the session).
    Session { id: String, session: session::Session },
    /// No token is configured and no session cookie came: a local client.
    Open,
    /// A token is configured and none came, on a route anyone may see (the sign-in page and
    /// the app's static files).
    Anonymous,
}

impl Caller {
    pub fn channel(&self) -> Channel {
        match self {
            Self::Session { .. } => Channel::Web,
            Self::Bearer | Self::Open | Self::Anonymous => Channel::Api,
        }
    }
}

/// Why a request was refused before any route saw it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("missing or wrong bearer token")]
    Unauthorized,
    /// A page asked for without being signed in: the browser is sent to the sign-in page.
    #[error("sign in first")]
    SignIn,
    #[error(
        "the Host header {0:?} is not a loopback address: without api.token the hub answers only requests addressed to 127.0.0.1, [::1] or localhost"
    )]
    Host(String),
    #[error("refused a cross-site request from {0}: the hub's controls can only be used from its own pages")]
    CrossSite(String),
    #[error("missing or wrong {CSRF_HEADER} header: reload the page")]
    Csrf,
}

impl Refusal {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::SignIn => StatusCode::SEE_OTHER,
            Self::Host(_) | Self::CrossSite(_) | Self::Csrf => StatusCode::FORBIDDEN,
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Self::SignIn => (StatusCode::SEE_OTHER, [(header::LOCATION, "/login")]).into_response(),
            Self::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer realm=\"porchlight\"")],
                axum::Json(json!({"error": self.to_string()})),
            )
                .into_response(),
            other => (other.status(), axum::Json(json!({"error": other.to_string()}))).into_response(),
        }
    }
}

/// Routes anyone may reach even when a token is configured: the sign-in page and the app's
/// static files (they hold no data; the data comes from the API).
fn public(path: &str) -> bool {
    path == "/login" || path.starts_with("/app/")
}

/// The app's page, which a browser navigates to: without a session it is answered with a
/// redirect to the sign-in page, not a 401.
fn page(method: &Method, path: &str) -> bool {
    *method == Method::GET && path == "/"
}

/// Decides whether a request may go on, and as whom. Runs before every route.
///
/// - A configured token must come as `Authorization: Bearer` or through a session signed in
///   with it; without either only [`public`] routes answer.
/// - Without a token (the config allows that only on loopback), the `Host` must be a loopback
///   address or `localhost`, so that a web page whose name points at 127.0.0.1 (DNS
///   rebinding) cannot read or drive the hub.
/// - Every write (any method but `GET`/`HEAD`/`OPTIONS`) must come from the hub's own pages
///   or from a client that is no web page: an `Origin` of another site, or a `Sec-Fetch-Site`
///   other than `same-origin`/`none`, is refused. A write with a session cookie must also carry
///   the session's CSRF token in [`CSRF_HEADER`].
pub fn admit(
    sessions: &Sessions,
    token: Option<&Secret>,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Result<Caller, Refusal> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    if token.is_none()
        && let Some(host) = host
        && !loopback_host(host)
    {
        return Err(Refusal::Host(host.to_owned()));
    }
    let session = session_cookie(headers).and_then(|id| Some((id.to_owned(), sessions.find(id, token)?)));
    let caller = match (token, session) {
        (Some(token), session) => {
            if bearer(headers).is_some_and(|b| token.constant_time_eq(b.as_bytes())) {
                Caller::Bearer
            } else if let Some((id, session)) = session {
                Caller::Session { id, session }
            } else if public(path) {
                Caller::Anonymous
            } else if page(method, path) {
                return Err(Refusal::SignIn);
            } else {
                return Err(Refusal::Unauthorized);
            }
        }
        (None, Some((id, session))) => Caller::Session { id, session },
        (None, None) => Caller::Open,
    };
    if !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("an unreadable Origin");
            // A page served with `Referrer-Policy: no-referrer` (as the hub's are) sends its own
            // form posts (the sign-in form) with `Origin: null`; the browser's `Sec-Fetch-Site`
            // still says whether the post came from the hub's own page.
            let own_form = origin == "null"
                && headers.get("sec-fetch-site").is_some_and(|s| s.as_bytes() == b"same-origin");
            let own = own_form
                || host.is_some_and(|h| origin == format!("http://{h}") || origin == format!("https://{h}"));
            if !own {
                return Err(Refusal::CrossSite(format!("Origin {origin}")));
            }
        }
        if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
            && site != "same-origin"
            && site != "none"
        {
            return Err(Refusal::CrossSite(format!("a {site} page")));
        }
        if let Caller::Session { session, .. } = &caller {
            let given = headers.get(CSRF_HEADER).map(HeaderValue::as_bytes);
            if !given.is_some_and(|g| session.csrf.constant_time_eq(g)) {
                return Err(Refusal::Csrf);
            }
        }
    }
    Ok(caller)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        // The scheme name is case-insensitive (RFC 7235).
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
}

fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == session::COOKIE)
        .map(|(_, value)| value)
}

/// `127.0.0.1:8477`, `[::1]:8477`, `localhost` and the like.
fn loopback_host(host: &str) -> bool {
    let (name, port) = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((ip, after)) => (ip, after.strip_prefix(':')),
            None => return false,
        },
        None => match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        },
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    port_ok
        && (name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()))
}

/// The app's routes: `/`, `/app/*`, the sign-in page, sign-out and `/api/session`.
pub fn router(web: Web) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/app/{*path}", get(asset))
        .route("/login", get(login_page).post(sign_in))
        .route("/logout", post(sign_out))
        .route("/api/session", get(session_info))
        .with_state(web)
}

/// Headers on every answer, the API's too: a strict Content-Security-Policy (no inline
/// scripts or styles, nothing from elsewhere, no framing), no MIME sniffing, no referrer, and
/// no caching unless the route chose otherwise.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; media-src 'self' blob:; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        if !h.contains_key(&name) {
            h.insert(name, HeaderValue::from_static(value));
        }
    }
    resp
}

fn caller(req_ext: &axum::http::Extensions) -> Caller {
    req_ext.get::<Caller>().cloned().unwrap_or(Caller::Open)
}

fn cookie(id: &str, max_age: u64) -> String {
    format!("{}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}", session::COOKIE)
}

/// The app's shell. A local browser of a hub without a token gets a session here, so that its
/// writes carry a CSRF token and are audited as the web app's.
async fn index(State(web): State<Web>, req: Request) -> Response {
    let Some(shell) = assets::get("index.html") else {
        return (StatusCode::NOT_FOUND, "the web app is not built into this binary").into_response();
    };
    let mut resp = html(shell.bytes);
    if matches!(caller(req.extensions()), Caller::Open) {
        let lifetime = web.settings.borrow().api.session_lifetime;
        match web.sessions.start(None, lifetime) {
            Ok((id, _)) => {
                if let Ok(v) = HeaderValue::from_str(&cookie(&id, lifetime.as_secs())) {
                    resp.headers_mut().insert(header::SET_COOKIE, v);
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot start a web app session"),
        }
    }
    resp
}

fn html(body: &'static [u8]) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

/// A static file of the app, revalidated by its version tag (`ETag`), compressed when the
/// browser takes gzip.
async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    let Some(asset) = assets::get(&path) else {
        return (StatusCode::NOT_FOUND, axum::Json(json!({"error": format!("no such file: /app/{path}")})))
            .into_response();
    };
    let gzip = asset.gzip.len() < asset.bytes.len() && accepts_gzip(&headers);
    let etag = if gzip { format!("\"{}-gz\"", asset.tag) } else { format!("\"{}\"", asset.tag) };
    let mut resp = if headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes()) {
        StatusCode::NOT_MODIFIED.into_response()
    } else if gzip {
        ([(header::CONTENT_ENCODING, "gzip")], asset.gzip).into_response()
    } else {
        asset.bytes.into_response()
    };
    let h = resp.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, assets::content_type(&path)),
        (header::CACHE_CONTROL, "no-cache"),
        (header::VARY, "Accept-Encoding"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    resp
}

/// Whether `Accept-Encoding` names gzip (or `*`) without `q=0`.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or("");
            let refused =
                parts.any(|p| p.strip_prefix("q=").is_some_and(|q| q.parse::<f32>().is_ok_and(|q| q <= 0.0)));
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
}

const LOGIN_PAGE: &str = include_str!("login.html");

fn login(status: StatusCode, message: &str) -> Response {
    let message = if message.is_empty() {
        String::new()
    } else {
        format!("<p class=\"problem\" role=\"alert\">{message}</p>")
    };
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        LOGIN_PAGE.replace("<!--message-->", &message),
    )
        .into_response()
}

fn see_other(to: &'static str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
}

async fn login_page(State(web): State<Web>, req: Request) -> Response {
    let no_token = web.settings.borrow().api.token.is_none();
    if no_token || matches!(caller(req.extensions()), Caller::Session { .. }) {
        return see_other("/");
    }
    login(StatusCode::OK, "")
}

async fn sign_in(State(web): State<Web>, req: Request) -> Response {
    let (token, lifetime) = {
        let s = web.settings.borrow();
        (s.api.token.clone(), s.api.session_lifetime)
    };
    let Some(token) = token else { return see_other("/") };
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let now = Instant::now();
    if let Err(wait) = web.brake.check(ip, now) {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        tracing::warn!(client = %ip, wait_seconds = secs, "web app sign-in refused: too many wrong tokens");
        let mut resp = login(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("Too many wrong tokens from this device. Try again in {secs} s."),
        );
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return resp;
    }
    let body: Bytes = match axum::body::to_bytes(req.into_body(), 4096).await {
        Ok(b) => b,
        Err(_) => return login(StatusCode::BAD_REQUEST, "The sign-in form could not be read."),
    };
    let given = url::form_urlencoded::parse(&body).find(|(k, _)| k == "token").map(|(_, v)| v.into_owned());
    if !given.is_some_and(|g| token.constant_time_eq(g.trim().as_bytes())) {
        let wait = web.brake.failed(ip, now);
        tracing::warn!(client = %ip, wait_seconds = wait.as_secs(), "web app sign-in with a wrong token");
        return login(StatusCode::UNAUTHORIZED, "That is not the hub's token.");
    }
    web.brake.succeeded(ip);
    match web.sessions.start(Some(&token), lifetime) {
        Ok((id, _)) => {
            tracing::info!(client = %ip, "web app: signed in");
            let mut resp = see_other("/");
            if let Ok(v) = HeaderValue::from_str(&cookie(&id, lifetime.as_secs())) {
                resp.headers_mut().insert(header::SET_COOKIE, v);
            }
            resp
        }
        Err(e) => login(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

async fn sign_out(State(web): State<Web>, req: Request) -> Response {
    let ended = match caller(req.extensions()) {
        Caller::Session { id, .. } => web.sessions.end(&id),
        _ => false,
    };
    if ended {
        tracing::info!("web app: signed out");
    }
    ([(header::SET_COOKIE, cookie("", 0))], axum::Json(json!({ "signed_out": ended }))).into_response()
}

async fn session_info(State(web): State<Web>, req: Request) -> Response {
    match caller(req.extensions()) {
        Caller::Session { session, .. } => axum::Json(json!({
            "csrf": session.csrf.expose(),
            "expires": session.expires.to_string(),
            "token_required": web.settings.borrow().api.token.is_some(),
        }))
        .into_response(),
        _ => (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "no web app session: open the app at / (and sign in)"})),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests;

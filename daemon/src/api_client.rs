//! A small client for the daemon's own API, for the CLI commands that act on the running
//! daemon (`porchlight privacy`, `porchlight requests`). It reads the address and token from
//! the same config file as the daemon.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use serde_json::Value;

use crate::config::Settings;
use crate::http::HttpError;

/// Why the CLI could not get an answer from the running daemon's API.
#[derive(Debug, thiserror::Error)]
pub enum ApiClientError {
    #[error("the API is off (`api.enabled = false`); this command talks to the running daemon through it")]
    ApiOff,
    #[error("`api.listen` has port 0 (a random port), so the CLI cannot find the daemon")]
    RandomPort,
    #[error("cannot start the async runtime: {source}")]
    Runtime { source: std::io::Error },
    #[error("the daemon at http://{addr} did not answer within {timeout:?}")]
    Timeout { addr: SocketAddr, timeout: std::time::Duration },
    #[error("bad API path {path:?}: {source}")]
    Path { path: String, source: url::ParseError },
    #[error("{source}")]
    Method { source: hyper::http::method::InvalidMethod },
    #[error("cannot reach the daemon's API at http://{addr} ({source}); is porchlight running?")]
    Unreachable { addr: SocketAddr, source: HttpError },
}

/// The largest answer read from the API.
const MAX_ANSWER: usize = 16 << 20;
/// How long the CLI waits for the daemon.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Where to reach the API of the daemon that runs with `settings` (a wildcard listen address
/// is reached on loopback).
pub fn address(settings: &Settings) -> Result<SocketAddr, ApiClientError> {
    if !settings.api.enabled {
        return Err(ApiClientError::ApiOff);
    }
    let mut a = settings.api.listen;
    if a.ip().is_unspecified() {
        a.set_ip(match a.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    if a.port() == 0 {
        return Err(ApiClientError::RandomPort);
    }
    Ok(a)
}

/// `method path` with an optional JSON body; the status and the JSON answer.
pub fn call(
    settings: &Settings,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, Value), ApiClientError> {
    call_within(settings, method, path, body, TIMEOUT)
}

/// Like [`call`], waiting up to `timeout` for the answer (work that takes long, like cutting a
/// clip).
pub fn call_within(
    settings: &Settings,
    method: &str,
    path: &str,
    body: Option<&Value>,
    timeout: std::time::Duration,
) -> Result<(u16, Value), ApiClientError> {
    let addr = address(settings)?;
    let token = settings.api.token.as_ref().map(|t| t.expose().to_owned());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| ApiClientError::Runtime { source })?;
    let body = body.map(Value::to_string);
    runtime.block_on(async move {
        tokio::time::timeout(timeout, request(addr, token, method, path, body))
            .await
            .map_err(|_| ApiClientError::Timeout { addr, timeout })?
    })
}

async fn request(
    addr: SocketAddr,
    token: Option<String>,
    method: &str,
    path: &str,
    body: Option<String>,
) -> Result<(u16, Value), ApiClientError> {
    let url = url::Url::parse(&format!("http://{addr}{path}"))
        .map_err(|source| ApiClientError::Path { path: path.to_owned(), source })?;
    let method =
        hyper::Method::from_bytes(method.as_bytes()).map_err(|source| ApiClientError::Method { source })?;
    let mut headers = Vec::new();
    if let Some(t) = token {
        headers.push(("Authorization".to_owned(), format!("Bearer {t}")));
    }
    if body.is_some() {
        headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
    }
    let answer = crate::http::send_plain(method, &url, headers, body.unwrap_or_default(), MAX_ANSWER)
        .await
        .map_err(|source| ApiClientError::Unreachable { addr, source })?;
    let value = serde_json::from_slice(&answer.body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&answer.body).into_owned()));
    Ok((answer.status, value))
}

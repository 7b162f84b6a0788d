//! A small client for the daemon's own API, for the CLI commands that act on the running
//! daemon (`porchlight privacy`, `porchlight requests`). It reads the address and token from
//! the same config file as the daemon.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use serde_json::Value;

use crate::config::Settings;

/// The largest answer read from the API.
const MAX_ANSWER: usize = 16 << 20;
/// How long the CLI waits for the daemon.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Where to reach the API of the daemon that runs with `settings` (a wildcard listen address
/// is reached on loopback).
pub fn address(settings: &Settings) -> Result<SocketAddr, String> {
    if !settings.api.enabled {
        return Err(
            "the API is off (`api.enabled = false`); this command talks to the running daemon through it"
                .into(),
        );
    }
    let mut a = settings.api.listen;
    if a.ip().is_unspecified() {
        a.set_ip(match a.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    if a.port() == 0 {
        return Err("`api.listen` has port 0 (a random port), so the CLI cannot find the daemon".into());
    }
    Ok(a)
}

/// `method path` with an optional JSON body; the status and the JSON answer.
pub fn call(
    settings: &Settings,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, Value), String> {
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
) -> Result<(u16, Value), String> {
    let addr = address(settings)?;
    let token = settings.api.token.as_ref().map(|t| t.expose().to_owned());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let body = body.map(Value::to_string);
    runtime.block_on(async move {
        tokio::time::timeout(timeout, request(addr, token, method, path, body))
            .await
            .map_err(|_| format!("the daemon at http://{addr} did not answer within {timeout:?}"))?
    })
}

async fn request(
    addr: SocketAddr,
    token: Option<String>,
    method: &str,
    path: &str,
    body: Option<String>,
) -> Result<(u16, Value), String> {
    let url = url::Url::parse(&format!("http://{addr}{path}"))
        .map_err(|e| format!("bad API path {path:?}: {e}"))?;
    let method = hyper::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
    let mut headers = Vec::new();
    if let Some(t) = token {
        headers.push(("Authorization".to_owned(), format!("Bearer {t}")));
    }
    if body.is_some() {
        headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
    }
    let answer = crate::onvif::client::http_send(method, &url, headers, body.unwrap_or_default(), MAX_ANSWER)
        .await
        .map_err(|e| {
            format!("cannot reach the daemon's API at http://{addr} ({e}); is porchlight running?")
        })?;
    let value = serde_json::from_slice(&answer.body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&answer.body).into_owned()));
    Ok((answer.status, value))
}

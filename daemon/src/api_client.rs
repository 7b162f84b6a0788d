//! A small client for the daemon's own API, for the CLI commands that act on the running
//! daemon (`porchlight privacy`, `porchlight requests`). It reads the address and token from
//! the same config file as the daemon.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::Value;

use crate::config::Settings;

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
    let addr = address(settings)?;
    let token = settings.api.token.as_ref().map(|t| t.expose().to_owned());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let body = body.map(Value::to_string);
    runtime.block_on(async move {
        tokio::time::timeout(TIMEOUT, request(addr, token, method, path, body))
            .await
            .map_err(|_| format!("the daemon at http://{addr} did not answer within {TIMEOUT:?}"))?
    })
}

async fn request(
    addr: SocketAddr,
    token: Option<String>,
    method: &str,
    path: &str,
    body: Option<String>,
) -> Result<(u16, Value), String> {
    let stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| {
        format!("cannot reach the daemon's API at http://{addr} ({e}); is porchlight running?")
    })?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake with http://{addr}: {e}"))?;
    tokio::spawn(conn);
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("Host", addr.to_string())
        .header("Connection", "close");
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    if body.is_some() {
        req = req.header("Content-Type", "application/json");
    }
    let req = req
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .map_err(|e| format!("bad request: {e}"))?;
    let resp = sender.send_request(req).await.map_err(|e| format!("request to http://{addr}{path}: {e}"))?;
    let status = resp.status().as_u16();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("reading the answer from http://{addr}{path}: {e}"))?
        .to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Ok((status, value))
}

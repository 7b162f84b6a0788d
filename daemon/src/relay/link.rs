//! The connection to the center: one HTTP/1.1 request at a time over TLS (rustls, the
//! configured CA and client certificate) or, to a loopback address only, plain TCP. Every
//! request carries the hub's bearer token; answers are bounded in size.

use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Bytes, Frame};
use serde_json::Value;
use url::Url;

use crate::config::RelaySettings;
use crate::secret::Secret;

/// The largest answer read from the center.
pub const MAX_ANSWER: usize = 1 << 20;

/// Why a call to the center failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("cannot reach the center at {url}: {message}")]
    Connect { url: String, message: String },
    #[error("TLS with the center at {url}: {message}")]
    Tls { url: String, message: String },
    #[error("{method} {url}: {message}")]
    Http { method: &'static str, url: String, message: String },
    #[error("{method} {url}: no answer within {timeout:?}")]
    Timeout { method: &'static str, url: String, timeout: Duration },
    #[error("{method} {url}: the answer is larger than {max} bytes")]
    TooLarge { method: &'static str, url: String, max: usize },
}

/// Why a link to the center cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A setting an enabled relay needs (`relay.url`, `relay.hub_id`, `relay.token`).
    #[error("{0} is not set")]
    Missing(&'static str),
    /// The TLS settings cannot be built from the configured files.
    #[error(transparent)]
    Tls(crate::tls::TlsError),
}

/// A path under the hub's URL that does not make a URL.
#[derive(Debug, thiserror::Error)]
#[error("bad URL for {rest:?}: {source}")]
pub struct BadUrl {
    rest: String,
    source: url::ParseError,
}

/// Why a request could not be put together.
#[derive(Debug, thiserror::Error)]
enum BuildError {
    /// The file to send cannot be opened or measured.
    #[error("{}: {source}", path.display())]
    File { path: std::path::PathBuf, source: std::io::Error },
    #[error("bad request: {0}")]
    Request(#[from] hyper::http::Error),
}

/// What a request carries.
#[derive(Debug, Clone)]
pub enum Payload {
    /// Bytes in memory (decisions, manifests, images).
    Bytes(&'static str, Bytes),
    /// A file, read as it is sent (a clip can be large; it is never held whole in memory).
    File(&'static str, std::path::PathBuf),
}

type Body = BoxBody<Bytes, std::io::Error>;

/// An HTTP answer from the center.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
}

/// How the hub reaches the center.
#[derive(Clone)]
pub struct Link {
    base: Url,
    hub_id: String,
    token: Secret,
    tls: Option<Arc<rustls::ClientConfig>>,
    tls_files: crate::config::TlsFiles,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("base", &self.base.as_str())
            .field("hub_id", &self.hub_id)
            .finish_non_exhaustive()
    }
}

impl Link {
    /// From validated settings (an enabled relay has a URL, a hub id and a token).
    pub fn new(s: &RelaySettings) -> Result<Self, SetupError> {
        let mut base = s.url.clone().ok_or(SetupError::Missing("relay.url"))?;
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let tls = if base.scheme() == "https" {
            Some(Arc::new(crate::tls::client_config(&s.tls).map_err(SetupError::Tls)?))
        } else {
            None
        };
        Ok(Self {
            base,
            hub_id: s.hub_id.clone().ok_or(SetupError::Missing("relay.hub_id"))?,
            token: s.token.clone().ok_or(SetupError::Missing("relay.token"))?,
            tls,
            tls_files: s.tls.clone(),
        })
    }

    /// The TLS settings for other connections to the center (`rtsps://` live ingest): the
    /// link's own, or built from the same files when the link itself is plain (loopback).
    pub fn tls(&self) -> Result<Arc<rustls::ClientConfig>, SetupError> {
        match &self.tls {
            Some(c) => Ok(Arc::clone(c)),
            None => crate::tls::client_config(&self.tls_files).map(Arc::new).map_err(SetupError::Tls),
        }
    }

    pub fn hub_id(&self) -> &str {
        &self.hub_id
    }

    /// `<base>/v1/hubs/<hub_id>/<rest>`.
    pub fn url(&self, rest: &str) -> Result<Url, BadUrl> {
        self.base
            .join(&format!("v1/hubs/{}/{rest}", self.hub_id))
            .map_err(|source| BadUrl { rest: rest.to_owned(), source })
    }

    /// One request; `body` is sent as JSON.
    pub async fn call(
        &self,
        method: &'static str,
        url: &Url,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<Answer, LinkError> {
        let body = body.map(|v| Payload::Bytes("application/json", Bytes::from(v.to_string())));
        self.send(method, url, body, timeout).await
    }

    /// One request with a body of any type.
    pub async fn send(
        &self,
        method: &'static str,
        url: &Url,
        body: Option<Payload>,
        timeout: Duration,
    ) -> Result<Answer, LinkError> {
        tokio::time::timeout(timeout, self.call_inner(method, url, body))
            .await
            .map_err(|_| LinkError::Timeout { method, url: url.to_string(), timeout })?
    }

    async fn call_inner(
        &self,
        method: &'static str,
        url: &Url,
        body: Option<Payload>,
    ) -> Result<Answer, LinkError> {
        let shown = url.to_string();
        let host =
            url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_owned();
        let port = url.port_or_known_default().unwrap_or(443);
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| LinkError::Connect { url: shown.clone(), message: e.to_string() })?;
        let _ = tcp.set_nodelay(true);
        let request = build(method, url, &self.token, body).await.map_err(|e| LinkError::Http {
            method,
            url: shown.clone(),
            message: e.to_string(),
        })?;
        let http = |f: Failed| match f {
            Failed::TooLarge => LinkError::TooLarge { method, url: shown.clone(), max: MAX_ANSWER },
            Failed::Other(message) => LinkError::Http { method, url: shown.clone(), message },
        };
        let response = match &self.tls {
            Some(config) => {
                let name = rustls::pki_types::ServerName::try_from(host.clone()).map_err(|e| {
                    LinkError::Tls { url: shown.clone(), message: format!("bad server name: {e}") }
                })?;
                let stream = tokio_rustls::TlsConnector::from(Arc::clone(config))
                    .connect(name, tcp)
                    .await
                    .map_err(|e| LinkError::Tls { url: shown.clone(), message: e.to_string() })?;
                send(stream, request).await.map_err(http)?
            }
            None => send(tcp, request).await.map_err(http)?,
        };
        Ok(response)
    }
}

async fn build(
    method: &str,
    url: &Url,
    token: &Secret,
    body: Option<Payload>,
) -> Result<hyper::Request<Body>, BuildError> {
    let mut path = url.path().to_owned();
    if let Some(q) = url.query() {
        path.push('?');
        path.push_str(q);
    }
    let host = match url.port() {
        Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("Host", host)
        .header("Authorization", format!("Bearer {}", token.expose()))
        .header("User-Agent", concat!("porchlight/", env!("CARGO_PKG_VERSION")))
        .header("Connection", "close");
    let body: Body = match body {
        Some(Payload::Bytes(content_type, bytes)) => {
            req = req.header("Content-Type", content_type);
            Full::new(bytes).map_err(|never| match never {}).boxed()
        }
        Some(Payload::File(content_type, path)) => {
            let file = match tokio::fs::File::open(&path).await {
                Ok(f) => f,
                Err(source) => return Err(BuildError::File { path, source }),
            };
            let len = match file.metadata().await {
                Ok(m) => m.len(),
                Err(source) => return Err(BuildError::File { path, source }),
            };
            req = req.header("Content-Type", content_type).header("Content-Length", len);
            let frames = tokio_util::io::ReaderStream::with_capacity(file, 64 << 10).map_ok(Frame::data);
            StreamBody::new(frames).boxed()
        }
        None => Full::new(Bytes::new()).map_err(|never| match never {}).boxed(),
    };
    Ok(req.body(body)?)
}

/// Why one exchange failed.
enum Failed {
    /// The answer is larger than [`MAX_ANSWER`].
    TooLarge,
    Other(String),
}

async fn send<S>(stream: S, request: hyper::Request<Body>) -> Result<Answer, Failed>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .map_err(|e| Failed::Other(format!("HTTP handshake: {e}")))?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let resp = sender.send_request(request).await.map_err(|e| Failed::Other(format!("HTTP: {e}")))?;
    let status = resp.status().as_u16();
    let body = Limited::new(resp.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                Failed::TooLarge
            } else {
                Failed::Other(format!("reading the answer: {e}"))
            }
        })?
        .to_bytes();
    driver.abort();
    Ok(Answer { status, body })
}

//! One HTTP/1.1 request on its own connection (hyper, `Connection: close`), over plain TCP or
//! over a given rustls client config, with the answer's body capped. A leaf module: the CLI's
//! API client (`api_client.rs`) and the ONVIF client (`onvif/client.rs`) use it.

use std::sync::Arc;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use rustls::pki_types::ServerName;
use url::Url;

/// An HTTP response with its body as bytes.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub www_authenticate: Vec<String>,
    pub content_type: Option<String>,
    pub body: Bytes,
}

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{scheme} endpoints are not supported here (only http)")]
    NotPlainHttp { scheme: String },
    #[error("URL has no host")]
    NoHost,
    #[error("cannot connect: {source}")]
    Connect { source: std::io::Error },
    #[error("TLS: bad server name {host:?}: {source}")]
    ServerName { host: String, source: rustls::pki_types::InvalidDnsNameError },
    #[error("TLS: {}", tls_reason(source))]
    Tls { source: std::io::Error },
    #[error("HTTP handshake: {source}")]
    Handshake { source: hyper::Error },
    #[error("bad request: {source}")]
    Request { source: hyper::http::Error },
    #[error("HTTP: {source}")]
    Send { source: hyper::Error },
    #[error("reading the response: {source}")]
    Body { source: Box<dyn std::error::Error + Send + Sync> },
}

/// One HTTP/1.1 request over plain TCP (`http://` only); a body longer than `limit` bytes is
/// an error.
pub async fn send_plain(
    method: hyper::Method,
    url: &Url,
    headers: Vec<(String, String)>,
    body: String,
    limit: usize,
) -> Result<Response, HttpError> {
    if url.scheme() != "http" {
        return Err(HttpError::NotPlainHttp { scheme: url.scheme().to_owned() });
    }
    send(method, url, headers, body, limit, None).await
}

/// One HTTP/1.1 request, over TLS with `tls` when given (the URL's scheme is not checked);
/// a body longer than `limit` bytes is an error.
pub async fn send(
    method: hyper::Method,
    url: &Url,
    headers: Vec<(String, String)>,
    body: String,
    limit: usize,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<Response, HttpError> {
    let host = url.host_str().ok_or(HttpError::NoHost)?;
    // An IPv6 host comes bracketed.
    let bare = host.trim_matches(['[', ']']);
    let port = url.port_or_known_default().unwrap_or(80);
    let stream =
        tokio::net::TcpStream::connect((bare, port)).await.map_err(|source| HttpError::Connect { source })?;
    let (mut sender, driver) = match tls {
        None => handshake(hyper_util::rt::TokioIo::new(stream)).await?,
        Some(config) => {
            let name = ServerName::try_from(bare.to_owned())
                .map_err(|source| HttpError::ServerName { host: host.to_owned(), source })?;
            let stream = tokio_rustls::TlsConnector::from(config)
                .connect(name, stream)
                .await
                .map_err(|source| HttpError::Tls { source })?;
            handshake(hyper_util::rt::TokioIo::new(stream)).await?
        }
    };
    let mut path = url.path().to_owned();
    if let Some(q) = url.query() {
        path.push('?');
        path.push_str(q);
    }
    let host_header = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("Host", host_header)
        .header("Connection", "close");
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let req = req.body(Full::new(Bytes::from(body))).map_err(|source| HttpError::Request { source })?;
    let resp = sender.send_request(req).await.map_err(|source| HttpError::Send { source })?;
    let status = resp.status().as_u16();
    let www_authenticate = resp
        .headers()
        .get_all(hyper::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    let content_type =
        resp.headers().get(hyper::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = Limited::new(resp.into_body(), limit)
        .collect()
        .await
        .map_err(|source| HttpError::Body { source })?
        .to_bytes();
    driver.abort();
    Ok(Response { status, www_authenticate, content_type, body })
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// An HTTP/1.1 connection over `io`, its driver spawned.
async fn handshake<T>(io: T) -> Result<(Sender, tokio::task::JoinHandle<()>), HttpError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, conn) =
        hyper::client::conn::http1::handshake(io).await.map_err(|source| HttpError::Handshake { source })?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok((sender, driver))
}

/// The certificate verifier's own words for a refused certificate, not rustls' wrapping of
/// them.
fn tls_reason(e: &std::io::Error) -> String {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::General(why)) => why.clone(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_plain_http_is_sent_without_tls() {
        let url = Url::parse("https://127.0.0.1:9/").expect("url");
        let e = send_plain(hyper::Method::GET, &url, Vec::new(), String::new(), 16).await.expect_err("https");
        assert!(matches!(&e, HttpError::NotPlainHttp { scheme } if scheme == "https"), "{e:?}");
        assert_eq!(e.to_string(), "https endpoints are not supported here (only http)");
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_an_error() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.expect("accept");
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789").await;
        });
        let url = Url::parse(&format!("http://{addr}/x")).expect("url");
        let e =
            send_plain(hyper::Method::GET, &url, Vec::new(), String::new(), 4).await.expect_err("too long");
        assert!(matches!(e, HttpError::Body { .. }), "{e:?}");
        let ok = {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("addr");
            tokio::spawn(async move {
                let (mut s, _) = listener.accept().await.expect("accept");
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok").await;
            });
            let url = Url::parse(&format!("http://{addr}/x")).expect("url");
            send_plain(hyper::Method::GET, &url, Vec::new(), String::new(), 4).await.expect("answer")
        };
        assert_eq!((ok.status, &ok.body[..]), (201, &b"ok"[..]));
        let _ = server.await;
    }
}

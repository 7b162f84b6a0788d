//! A SOAP 1.2 client for the ONVIF device, media (1 and 2) and event services.
//!
//! Authentication: WS-UsernameToken with PasswordDigest, its `Created` time shifted by the
//! camera's clock offset (read unauthenticated with GetSystemDateAndTime first; cameras with a
//! wrong clock reject digests otherwise), plus HTTP Digest when a camera answers 401 with a
//! Digest challenge. HTTP Basic is refused: it would send the password in clear.
//!
//! The network sits behind [`Transport`] so tests can inject what a real camera cannot be made
//! to do on demand (say so where a test does).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use sha1::{Digest as _, Sha1};
use url::Url;

use super::parse::{
    self, DeviceInformation, FaultKind, Notification, Profile, Services, SoapError, Subscription,
};
use super::xml;
use crate::config::{CameraSettings, OnvifTrust};
use crate::secret::Secret;

/// An HTTP response as the client needs it.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub www_authenticate: Vec<String>,
    pub body: String,
}

pub type HttpFuture<'a> = Pin<Box<dyn Future<Output = Result<HttpResponse, TransportError>> + Send + 'a>>;

/// Why an HTTP request to a camera got no answer.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("{scheme} endpoints are not supported (only http and https)")]
    Scheme { scheme: String },
    /// The TLS client for the camera's `https://` services could not be made (made once, so
    /// shared by every request that needed it).
    #[error("{source}")]
    Tls { source: Arc<CameraTlsError> },
    #[error("{source}")]
    Http {
        #[from]
        source: crate::http::HttpError,
    },
    #[error("no answer within {} s", timeout.as_secs_f32())]
    Timeout { timeout: Duration },
}

/// Why the TLS client for a camera's `https://` services could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CameraTlsError {
    #[error("{source}")]
    Protocols { source: rustls::Error },
    #[error("{source}")]
    Roots {
        #[from]
        source: crate::tls::TlsError,
    },
    #[error("TLS: {source}")]
    Verifier { source: rustls::client::VerifierBuilderError },
}

/// One HTTP POST.
pub trait Transport: Send + Sync + std::fmt::Debug {
    fn post<'a>(
        &'a self,
        url: &'a Url,
        headers: Vec<(String, String)>,
        body: String,
        timeout: Duration,
    ) -> HttpFuture<'a>;
}

/// HTTP/1.1 over TCP (what cameras on a home network speak), or over TLS for `https://`
/// services, trusted as [`OnvifTrust`] says.
#[derive(Debug, Default)]
pub struct HttpTransport {
    trust: OnvifTrust,
    /// Made at the first `https://` request (most cameras never need it).
    tls: std::sync::OnceLock<Result<Arc<rustls::ClientConfig>, Arc<CameraTlsError>>>,
}

impl HttpTransport {
    pub fn new(trust: OnvifTrust) -> Self {
        Self { trust, tls: std::sync::OnceLock::new() }
    }

    /// One request; a body longer than `limit` bytes is an error.
    pub async fn send(
        &self,
        method: hyper::Method,
        url: &Url,
        headers: Vec<(String, String)>,
        body: String,
        limit: usize,
    ) -> Result<crate::http::Response, TransportError> {
        let tls = match url.scheme() {
            "http" => None,
            "https" => Some(
                self.tls
                    .get_or_init(|| tls_config(&self.trust).map_err(Arc::new))
                    .clone()
                    .map_err(|source| TransportError::Tls { source })?,
            ),
            other => return Err(TransportError::Scheme { scheme: other.to_owned() }),
        };
        Ok(crate::http::send(method, url, headers, body, limit, tls).await?)
    }
}

impl Transport for HttpTransport {
    fn post<'a>(
        &'a self,
        url: &'a Url,
        headers: Vec<(String, String)>,
        body: String,
        timeout: Duration,
    ) -> HttpFuture<'a> {
        Box::pin(async move {
            let raw = tokio::time::timeout(
                timeout,
                self.send(hyper::Method::POST, url, headers, body, xml::MAX_BYTES),
            )
            .await
            .map_err(|_| TransportError::Timeout { timeout })??;
            Ok(HttpResponse {
                status: raw.status,
                www_authenticate: raw.www_authenticate,
                body: String::from_utf8_lossy(&raw.body).into_owned(),
            })
        })
    }
}

fn tls_config(trust: &OnvifTrust) -> Result<Arc<rustls::ClientConfig>, CameraTlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|source| CameraTlsError::Protocols { source })?;
    let named = |ca_file: Option<std::path::PathBuf>| -> Result<CameraVerifier, CameraTlsError> {
        let files = crate::config::TlsFiles { ca_file, client_cert_file: None, client_key_file: None };
        let roots = crate::tls::root_store(&files)?;
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
            .build()
            .map(CameraVerifier::Named)
            .map_err(|source| CameraTlsError::Verifier { source })
    };
    let how = match trust {
        OnvifTrust::Sha256(pin) => CameraVerifier::Pinned(*pin),
        OnvifTrust::System => named(None)?,
        OnvifTrust::CaFile(f) => named(Some(f.clone()))?,
    };
    let config = builder
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Verifier { how, provider }))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// How a camera's certificate is checked: the usual checks (CA and host name, with the
/// certificate's fingerprint in the error so the resident can pin it), or exactly one
/// certificate by its SHA-256. The handshake signature is checked either way.
#[derive(Debug)]
enum CameraVerifier {
    Named(Arc<rustls::client::WebPkiServerVerifier>),
    Pinned([u8; 32]),
}

#[derive(Debug)]
struct Verifier {
    how: CameraVerifier,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.how {
            CameraVerifier::Named(webpki) => {
                webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp, now).map_err(|e| {
                    rustls::Error::General(format!(
                        "the camera's certificate is not trusted ({e}); if it is the camera's own, pin it with `onvif_tls_sha256 = \"{}\"`",
                        crate::digest::sha256_hex(end_entity)
                    ))
                })
            }
            CameraVerifier::Pinned(pin) => {
                let seen: [u8; 32] = sha2::Sha256::digest(end_entity.as_ref()).into();
                if seen == *pin {
                    Ok(ServerCertVerified::assertion())
                } else {
                    Err(rustls::Error::General(format!(
                        "the camera's certificate is not the pinned one: it has SHA-256 {}, `onvif_tls_sha256` says {}",
                        crate::digest::sha256_hex(end_entity),
                        crate::digest::hex(pin)
                    )))
                }
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OnvifError {
    #[error("{url}: {message}")]
    Network { url: String, message: String },
    #[error("{url}: {source}")]
    Transport { url: String, source: TransportError },
    #[error("{url}: {action}: {source}")]
    Soap { url: String, action: &'static str, source: SoapError },
    #[error("{url}: {action}: HTTP {status}{}", if body.is_empty() { String::new() } else { format!(": {body}") })]
    Http { url: String, action: &'static str, status: u16, body: String },
    #[error("{url}: {action}: not authorized: {detail}")]
    NotAuthorized { url: String, action: &'static str, detail: String },
    #[error("{url}: {message}")]
    Unsupported { url: String, message: String },
}

impl OnvifError {
    pub fn is_not_authorized(&self) -> bool {
        matches!(self, Self::NotAuthorized { .. })
            || matches!(self, Self::Soap { source: SoapError::Fault(f), .. } if f.kind() == FaultKind::NotAuthorized)
    }

    fn is_unsupported_action(&self) -> bool {
        matches!(self, Self::Soap { source: SoapError::Fault(f), .. } if f.kind() == FaultKind::ActionNotSupported)
            || matches!(self, Self::Http { status: 400 | 404 | 405 | 500 | 501, .. })
    }
}

/// A login for a camera's ONVIF services and snapshot URI. The password stays a [`Secret`]
/// (redacted in `Debug`) until the digest that uses it is computed.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub username: String,
    pub password: Secret,
}

/// The HTTP(S) client for a camera's ONVIF services and snapshots, trusting its `https://`
/// services as its `onvif_tls` says.
pub fn camera_http(camera: &CameraSettings) -> Arc<HttpTransport> {
    Arc::new(HttpTransport::new(camera.onvif_tls.clone()))
}

/// A camera's login for its ONVIF services and snapshot URI, if it has a user name.
pub fn camera_credentials(camera: &CameraSettings) -> Option<Credentials> {
    camera.username.clone().map(|username| Credentials {
        username,
        password: camera.password.clone().unwrap_or_else(|| Secret::new("")),
    })
}

const NS: &str = concat!(
    r#"xmlns:s="http://www.w3.org/2003/05/soap-envelope" "#,
    r#"xmlns:tds="http://www.onvif.org/ver10/device/wsdl" "#,
    r#"xmlns:trt="http://www.onvif.org/ver10/media/wsdl" "#,
    r#"xmlns:tr2="http://www.onvif.org/ver20/media/wsdl" "#,
    r#"xmlns:tt="http://www.onvif.org/ver10/schema" "#,
    r#"xmlns:tev="http://www.onvif.org/ver10/events/wsdl" "#,
    r#"xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" "#,
    r#"xmlns:wsa="http://www.w3.org/2005/08/addressing""#
);
const WSSE: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
const WSU: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
const DIGEST_TYPE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest";
const NONCE_TYPE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary";

/// The WS-UsernameToken header: `Digest = Base64(SHA-1(nonce + created + password))`.
pub fn username_token(creds: &Credentials, created: jiff::Timestamp, nonce: &[u8]) -> String {
    let created = created.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let mut h = Sha1::new();
    h.update(nonce);
    h.update(created.as_bytes());
    h.update(creds.password.expose().as_bytes());
    let b64 = base64::engine::general_purpose::STANDARD;
    format!(
        r#"<wsse:Security s:mustUnderstand="1" xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}"><wsse:UsernameToken><wsse:Username>{}</wsse:Username><wsse:Password Type="{DIGEST_TYPE}">{}</wsse:Password><wsse:Nonce EncodingType="{NONCE_TYPE}">{}</wsse:Nonce><wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security>"#,
        crate::markup::escape(&creds.username),
        b64.encode(h.finalize()),
        b64.encode(nonce),
    )
}

/// A SOAP call's fixed parts.
struct Call<'a> {
    action: &'static str,
    /// The SOAP action URI.
    uri: &'static str,
    body: String,
    /// WS-Addressing `To` (event subscriptions want it).
    to: Option<&'a str>,
    authenticate: bool,
    timeout: Duration,
}

/// One ONVIF device.
#[derive(Debug, Clone)]
pub struct Device {
    pub device_url: Url,
    creds: Option<Credentials>,
    transport: Arc<dyn Transport>,
    /// Device clock minus ours, applied to `Created` in the digest.
    pub clock_offset: jiff::SignedDuration,
    pub services: Services,
}

const TIMEOUT: Duration = Duration::from_secs(5);

/// Which media service a call goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Media {
    V1,
    V2,
}

impl Device {
    /// A device at `device_url` (its device service), without talking to it yet.
    pub fn new(device_url: Url, creds: Option<Credentials>, transport: Arc<dyn Transport>) -> Self {
        Self {
            device_url,
            creds,
            transport,
            clock_offset: jiff::SignedDuration::ZERO,
            services: Services::default(),
        }
    }

    /// Reads the device's clock, then its service addresses (GetServices, or GetCapabilities
    /// on devices without it).
    pub async fn connect(
        device_url: Url,
        creds: Option<Credentials>,
        transport: Arc<dyn Transport>,
    ) -> Result<Self, OnvifError> {
        let mut d = Self::new(device_url, creds, transport);
        match d.system_date_time().await {
            Ok(t) => {
                d.clock_offset = t.duration_since(jiff::Timestamp::now());
                if d.clock_offset.abs() > jiff::SignedDuration::from_secs(5) {
                    tracing::info!(offset_s = d.clock_offset.as_secs(), url = %d.device_url, "Camera clock differs from ours; compensating");
                }
            }
            // Some cameras want authentication even for the time; the digest then uses ours.
            Err(e) => tracing::debug!(error = %e, "Cannot read the camera's clock"),
        }
        d.services = match d.get_services().await {
            Ok(s) => s,
            Err(e) if e.is_not_authorized() => return Err(e),
            Err(e) => {
                tracing::debug!(error = %e, "GetServices failed; trying GetCapabilities");
                d.get_capabilities().await?
            }
        };
        // Some devices leave services out of GetServices that GetCapabilities lists (the
        // events service, typically): fill the holes from there.
        if d.services.events.is_none() || (d.services.media.is_none() && d.services.media2.is_none()) {
            match d.get_capabilities().await {
                Ok(caps) => {
                    d.services.events = d.services.events.take().or(caps.events);
                    d.services.media = d.services.media.take().or(caps.media);
                    d.services.media2 = d.services.media2.take().or(caps.media2);
                }
                Err(e) => tracing::debug!(error = %e, "GetCapabilities failed"),
            }
        }
        if d.services.device.is_none() {
            d.services.device = Some(d.device_url.to_string());
        }
        Ok(d)
    }

    fn url(&self, service: Option<&String>) -> Url {
        // Devices behind NAT or with several addresses often report an address we cannot
        // reach; keep their path, but use the host and port we reached the device on.
        let Some(s) = service.and_then(|s| Url::parse(s).ok()) else { return self.device_url.clone() };
        let mut u = self.device_url.clone();
        u.set_path(s.path());
        u.set_query(s.query());
        u
    }

    async fn call(&self, url: &Url, c: Call<'_>) -> Result<String, OnvifError> {
        let mut header = String::new();
        if let Some(to) = c.to {
            header.push_str(&format!(
                r#"<wsa:Action>{}</wsa:Action><wsa:To>{}</wsa:To>"#,
                c.uri,
                crate::markup::escape(to)
            ));
        }
        if c.authenticate
            && let Some(creds) = &self.creds
        {
            let created = jiff::Timestamp::now()
                .checked_add(self.clock_offset)
                .unwrap_or_else(|_| jiff::Timestamp::now());
            let nonce: [u8; 16] = std::array::from_fn(|_| fastrand::u8(..));
            header.push_str(&username_token(creds, created, &nonce));
        }
        let envelope = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><s:Envelope {NS}><s:Header>{header}</s:Header><s:Body>{}</s:Body></s:Envelope>"#,
            c.body
        );
        let content_type = format!(r#"application/soap+xml; charset=utf-8; action="{}""#, c.uri);
        let net = |message: String| OnvifError::Network { url: url.to_string(), message };
        let transport = |source| OnvifError::Transport { url: url.to_string(), source };
        let headers = vec![("Content-Type".to_owned(), content_type.clone())];
        let mut resp =
            self.transport.post(url, headers, envelope.clone(), c.timeout).await.map_err(transport)?;
        if resp.status == 401 && c.authenticate {
            let Some(creds) = &self.creds else {
                return Err(OnvifError::NotAuthorized {
                    url: url.to_string(),
                    action: c.action,
                    detail: "the camera needs a user name and password".into(),
                });
            };
            let challenge = resp
                .www_authenticate
                .iter()
                .find(|h| h.trim_start().to_ascii_lowercase().starts_with("digest"));
            let Some(challenge) = challenge else {
                let detail = if resp
                    .www_authenticate
                    .iter()
                    .any(|h| h.to_ascii_lowercase().starts_with("basic"))
                {
                    "the camera asks for HTTP Basic authentication, which would send the password in clear; enable digest authentication on the camera"
                } else {
                    "wrong user name or password (or the camera's clock is far off)"
                };
                return Err(OnvifError::NotAuthorized {
                    url: url.to_string(),
                    action: c.action,
                    detail: detail.into(),
                });
            };
            let mut prompt = digest_auth::parse(challenge)
                .map_err(|e| net(format!("cannot parse the camera's Digest challenge {challenge:?}: {e}")))?;
            let mut path = url.path().to_owned();
            if let Some(q) = url.query() {
                path.push('?');
                path.push_str(q);
            }
            let ctx = digest_auth::AuthContext::new_post(
                creds.username.as_str(),
                creds.password.expose(),
                path.as_str(),
                Some(envelope.as_bytes()),
            );
            let answer =
                prompt.respond(&ctx).map_err(|e| net(format!("cannot answer the Digest challenge: {e}")))?;
            let headers = vec![
                ("Content-Type".to_owned(), content_type),
                ("Authorization".to_owned(), answer.to_header_string()),
            ];
            resp = self.transport.post(url, headers, envelope, c.timeout).await.map_err(transport)?;
            if resp.status == 401 {
                return Err(OnvifError::NotAuthorized {
                    url: url.to_string(),
                    action: c.action,
                    detail: "wrong user name or password (HTTP Digest)".into(),
                });
            }
        }
        // A SOAP fault comes with 400 or 500; let the parser name it.
        if resp.status != 200 && !resp.body.trim_start().starts_with('<') {
            if resp.status == 401 {
                return Err(OnvifError::NotAuthorized {
                    url: url.to_string(),
                    action: c.action,
                    detail: "HTTP 401".into(),
                });
            }
            let body: String = resp.body.chars().take(120).collect();
            return Err(OnvifError::Http {
                url: url.to_string(),
                action: c.action,
                status: resp.status,
                body,
            });
        }
        if resp.status != 200 {
            // A fault explains itself; an HTML error page is reported by status.
            match parse::response(&resp.body) {
                Err(SoapError::Fault(f)) => {
                    return Err(OnvifError::Soap {
                        url: url.to_string(),
                        action: c.action,
                        source: SoapError::Fault(f),
                    });
                }
                _ if resp.status == 401 => {
                    return Err(OnvifError::NotAuthorized {
                        url: url.to_string(),
                        action: c.action,
                        detail: "HTTP 401".into(),
                    });
                }
                _ => {
                    let body: String = resp.body.chars().take(120).collect();
                    return Err(OnvifError::Http {
                        url: url.to_string(),
                        action: c.action,
                        status: resp.status,
                        body,
                    });
                }
            }
        }
        Ok(resp.body)
    }

    fn soap(&self, action: &'static str, e: SoapError, url: &Url) -> OnvifError {
        OnvifError::Soap { url: url.to_string(), action, source: e }
    }

    /// One call and the parse of its answer (both errors name the action).
    async fn request<T>(
        &self,
        url: &Url,
        action: &'static str,
        uri: &'static str,
        body: &str,
        authenticate: bool,
        parse: fn(&str) -> Result<T, SoapError>,
    ) -> Result<T, OnvifError> {
        let call = Call { action, uri, body: body.to_owned(), to: None, authenticate, timeout: TIMEOUT };
        let answer = self.call(url, call).await?;
        parse(&answer).map_err(|e| self.soap(action, e, url))
    }

    pub async fn system_date_time(&self) -> Result<jiff::Timestamp, OnvifError> {
        let uri = "http://www.onvif.org/ver10/device/wsdl/GetSystemDateAndTime";
        let body = "<tds:GetSystemDateAndTime/>";
        self.request(&self.device_url, "GetSystemDateAndTime", uri, body, false, parse::system_date_time)
            .await
    }

    async fn get_services(&self) -> Result<Services, OnvifError> {
        let uri = "http://www.onvif.org/ver10/device/wsdl/GetServices";
        let body = "<tds:GetServices><tds:IncludeCapability>false</tds:IncludeCapability></tds:GetServices>";
        self.request(&self.device_url, "GetServices", uri, body, true, parse::services).await
    }

    async fn get_capabilities(&self) -> Result<Services, OnvifError> {
        let uri = "http://www.onvif.org/ver10/device/wsdl/GetCapabilities";
        let body = "<tds:GetCapabilities><tds:Category>All</tds:Category></tds:GetCapabilities>";
        self.request(&self.device_url, "GetCapabilities", uri, body, true, parse::capabilities).await
    }

    pub async fn device_information(&self) -> Result<DeviceInformation, OnvifError> {
        let url = self.url(self.services.device.as_ref());
        let uri = "http://www.onvif.org/ver10/device/wsdl/GetDeviceInformation";
        self.request(
            &url,
            "GetDeviceInformation",
            uri,
            "<tds:GetDeviceInformation/>",
            true,
            parse::device_information,
        )
        .await
    }

    /// Media profiles, from Media2 where the device has it, else (or when Media2 fails, or
    /// names no encoder) from Media1. Media2's profiles without encoder details are kept for
    /// when Media1 fails too.
    pub async fn profiles(&self) -> Result<Vec<Profile>, OnvifError> {
        let mut bare = None;
        if let Some(m2) = &self.services.media2 {
            let url = self.url(Some(m2));
            let r = self
                .call(
                    &url,
                    Call {
                        action: "GetProfiles",
                        uri: "http://www.onvif.org/ver20/media/wsdl/GetProfiles",
                        body: "<tr2:GetProfiles><tr2:Type>All</tr2:Type></tr2:GetProfiles>".into(),
                        to: None,
                        authenticate: true,
                        timeout: TIMEOUT,
                    },
                )
                .await
                .and_then(|b| parse::profiles(&b).map_err(|e| self.soap("GetProfiles", e, &url)));
            match r {
                // Media2 profiles without encoder details are no use for choosing a stream.
                Ok(p) if p.iter().any(|p| p.encoding.is_some()) || self.services.media.is_none() => {
                    return Ok(p);
                }
                Ok(p) => bare = Some(p),
                Err(e) if e.is_not_authorized() || self.services.media.is_none() => return Err(e),
                Err(e) => tracing::debug!(error = %e, "Media2 GetProfiles failed; trying Media1"),
            }
        }
        let url = self.url(self.services.media.as_ref());
        let r1 = self
            .call(
                &url,
                Call {
                    action: "GetProfiles",
                    uri: "http://www.onvif.org/ver10/media/wsdl/GetProfiles",
                    body: "<trt:GetProfiles/>".into(),
                    to: None,
                    authenticate: true,
                    timeout: TIMEOUT,
                },
            )
            .await
            .and_then(|b| parse::profiles(&b).map_err(|e| self.soap("GetProfiles", e, &url)));
        match (r1, bare) {
            (Err(e), Some(p)) if e.is_unsupported_action() => {
                tracing::debug!(error = %e, "Media1 GetProfiles not supported; using Media2's profiles");
                Ok(p)
            }
            (r1, _) => r1,
        }
    }

    /// The RTSP URI of a profile.
    pub async fn stream_uri(&self, profile: &str) -> Result<String, OnvifError> {
        self.media_uri(profile, "GetStreamUri").await
    }

    pub async fn snapshot_uri(&self, profile: &str) -> Result<String, OnvifError> {
        self.media_uri(profile, "GetSnapshotUri").await
    }

    /// GetStreamUri or GetSnapshotUri, from Media1 where the device has it, else Media2. A
    /// service that does not support the call (ActionNotSupported, or an HTTP status that says
    /// so) leaves it to the other one, where the device has both.
    async fn media_uri(&self, profile: &str, action: &'static str) -> Result<String, OnvifError> {
        let (first, other) = match (&self.services.media, &self.services.media2) {
            (Some(m1), m2) => ((Media::V1, m1), m2.as_ref().map(|m2| (Media::V2, m2))),
            (None, Some(m2)) => ((Media::V2, m2), None),
            (None, None) => {
                return Err(OnvifError::Unsupported {
                    url: self.device_url.to_string(),
                    message: "the device has no media service".into(),
                });
            }
        };
        match (self.media_uri_on(first, profile, action).await, other) {
            (Err(e), Some(other)) if e.is_unsupported_action() => {
                tracing::debug!(error = %e, "{action} not supported there; asking the other media service");
                self.media_uri_on(other, profile, action).await
            }
            (tried, _) => tried,
        }
    }

    /// GetStreamUri or GetSnapshotUri on one media service.
    async fn media_uri_on(
        &self,
        (media, service): (Media, &String),
        profile: &str,
        action: &'static str,
    ) -> Result<String, OnvifError> {
        let token = crate::markup::escape(profile);
        let stream = action == "GetStreamUri";
        let (uri, body) = match (media, stream) {
            (Media::V1, true) => (
                "http://www.onvif.org/ver10/media/wsdl/GetStreamUri",
                format!(
                    "<trt:GetStreamUri><trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream><tt:Transport><tt:Protocol>RTSP</tt:Protocol></tt:Transport></trt:StreamSetup><trt:ProfileToken>{token}</trt:ProfileToken></trt:GetStreamUri>"
                ),
            ),
            (Media::V1, false) => (
                "http://www.onvif.org/ver10/media/wsdl/GetSnapshotUri",
                format!(
                    "<trt:GetSnapshotUri><trt:ProfileToken>{token}</trt:ProfileToken></trt:GetSnapshotUri>"
                ),
            ),
            (Media::V2, true) => (
                "http://www.onvif.org/ver20/media/wsdl/GetStreamUri",
                format!(
                    "<tr2:GetStreamUri><tr2:Protocol>RTSP</tr2:Protocol><tr2:ProfileToken>{token}</tr2:ProfileToken></tr2:GetStreamUri>"
                ),
            ),
            (Media::V2, false) => (
                "http://www.onvif.org/ver20/media/wsdl/GetSnapshotUri",
                format!(
                    "<tr2:GetSnapshotUri><tr2:ProfileToken>{token}</tr2:ProfileToken></tr2:GetSnapshotUri>"
                ),
            ),
        };
        let url = self.url(Some(service));
        let body = self
            .call(&url, Call { action, uri, body, to: None, authenticate: true, timeout: TIMEOUT })
            .await?;
        parse::media_uri(&body, action).map_err(|e| self.soap(action, e, &url))
    }

    /// The event topics the device can send.
    pub async fn event_topics(&self) -> Result<Vec<String>, OnvifError> {
        let Some(events) = self.services.events.as_ref() else {
            return Err(OnvifError::Unsupported {
                url: self.device_url.to_string(),
                message: "the device has no event service".into(),
            });
        };
        let url = self.url(Some(events));
        let uri = "http://www.onvif.org/ver10/events/wsdl/EventPortType/GetEventPropertiesRequest";
        self.request(&url, "GetEventProperties", uri, "<tev:GetEventProperties/>", true, parse::event_topics)
            .await
    }

    /// Subscribes for events, to be pulled from the returned address.
    pub async fn create_pull_point(&self, termination: Duration) -> Result<Subscription, OnvifError> {
        let Some(events) = self.services.events.as_ref() else {
            return Err(OnvifError::Unsupported {
                url: self.device_url.to_string(),
                message: "the device has no event service".into(),
            });
        };
        let url = self.url(Some(events));
        let body = self
            .call(&url, Call {
                action: "CreatePullPointSubscription",
                uri: "http://www.onvif.org/ver10/events/wsdl/EventPortType/CreatePullPointSubscriptionRequest",
                body: format!(
                    "<tev:CreatePullPointSubscription><tev:InitialTerminationTime>PT{}S</tev:InitialTerminationTime></tev:CreatePullPointSubscription>",
                    termination.as_secs()
                ),
                to: Some(url.as_str()),
                authenticate: true,
                timeout: TIMEOUT,
            })
            .await?;
        let mut sub =
            parse::create_pull_point(&body).map_err(|e| self.soap("CreatePullPointSubscription", e, &url))?;
        // Keep the device's path, but the address we reach it on.
        sub.address = self.url(Some(&sub.address)).to_string();
        Ok(sub)
    }

    /// One long poll: waits up to `wait` on the device for at most `limit` messages.
    pub async fn pull_messages(
        &self,
        sub: &Subscription,
        wait: Duration,
        limit: u32,
    ) -> Result<Vec<Notification>, OnvifError> {
        let url = Url::parse(&sub.address)
            .map_err(|e| OnvifError::Network { url: sub.address.clone(), message: e.to_string() })?;
        let body = self
            .call(&url, Call {
                action: "PullMessages",
                uri: "http://www.onvif.org/ver10/events/wsdl/PullPointSubscription/PullMessagesRequest",
                body: format!(
                    "<tev:PullMessages><tev:Timeout>PT{}S</tev:Timeout><tev:MessageLimit>{limit}</tev:MessageLimit></tev:PullMessages>",
                    wait.as_secs().max(1)
                ),
                to: Some(&sub.address),
                authenticate: true,
                timeout: wait + TIMEOUT,
            })
            .await?;
        parse::pull_messages(&body).map_err(|e| self.soap("PullMessages", e, &url))
    }

    pub async fn renew(&self, sub: &Subscription, termination: Duration) -> Result<(), OnvifError> {
        self.subscription_call(
            sub,
            "Renew",
            "http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/RenewRequest",
            format!(
                "<wsnt:Renew><wsnt:TerminationTime>PT{}S</wsnt:TerminationTime></wsnt:Renew>",
                termination.as_secs()
            ),
        )
        .await
    }

    pub async fn unsubscribe(&self, sub: &Subscription) -> Result<(), OnvifError> {
        self.subscription_call(
            sub,
            "Unsubscribe",
            "http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/UnsubscribeRequest",
            "<wsnt:Unsubscribe/>".into(),
        )
        .await
    }

    /// Asks the device to send the current state of every property (where supported).
    pub async fn set_synchronization_point(&self, sub: &Subscription) -> Result<(), OnvifError> {
        self.subscription_call(
            sub,
            "SetSynchronizationPoint",
            "http://www.onvif.org/ver10/events/wsdl/PullPointSubscription/SetSynchronizationPointRequest",
            "<tev:SetSynchronizationPoint/>".into(),
        )
        .await
    }

    async fn subscription_call(
        &self,
        sub: &Subscription,
        action: &'static str,
        uri: &'static str,
        body: String,
    ) -> Result<(), OnvifError> {
        let url = Url::parse(&sub.address)
            .map_err(|e| OnvifError::Network { url: sub.address.clone(), message: e.to_string() })?;
        let body = self
            .call(
                &url,
                Call { action, uri, body, to: Some(&sub.address), authenticate: true, timeout: TIMEOUT },
            )
            .await?;
        parse::response(&body).map(drop).map_err(|e| self.soap(action, e, &url))
    }

    /// Whether an error means the device does not do this at all.
    pub fn unsupported(e: &OnvifError) -> bool {
        e.is_unsupported_action()
    }
}

/// The main (largest) and sub (smallest) H.264/H.265 profiles.
pub fn best_profiles(profiles: &[Profile]) -> (Option<&Profile>, Option<&Profile>) {
    let video: Vec<&Profile> =
        profiles.iter().filter(|p| matches!(p.encoding.as_deref(), Some("H264" | "H265" | "HEVC"))).collect();
    let area = |p: &&Profile| u64::from(p.width.unwrap_or(0)) * u64::from(p.height.unwrap_or(0));
    // Profiles that do not say their encoding (Media2 without configurations) may be H.26x;
    // one that says JPEG or MPEG-4 is never recorded.
    let main =
        video.iter().copied().max_by_key(area).or_else(|| profiles.iter().find(|p| p.encoding.is_none()));
    let sub = video.iter().copied().min_by_key(area).filter(|s| main.is_some_and(|m| m.token != s.token));
    (main, sub)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_http_and_https_are_spoken() {
        let t = HttpTransport::default();
        let url = Url::parse("ftp://127.0.0.1/x").expect("url");
        let err = t.send(hyper::Method::GET, &url, vec![], String::new(), 10).await.expect_err("refused");
        assert!(matches!(&err, TransportError::Scheme { scheme } if scheme == "ftp"), "{err:?}");
        assert!(err.to_string().contains("only http and https"), "{err}");
    }

    #[test]
    fn the_username_token_digest_matches_the_ws_security_example() {
        // The worked example of the WS-Security UsernameToken profile as ONVIF's
        // programmer's guide uses it: nonce, created and password give this digest.
        let b64 = base64::engine::general_purpose::STANDARD;
        let nonce = b64.decode("LKqI6G/AikKCQrN0zqZFlg==").expect("nonce");
        let created: jiff::Timestamp = "2010-09-16T07:50:45Z".parse().expect("time");
        let creds = Credentials { username: "admin".into(), password: Secret::new("userpassword") };
        let header = username_token(&creds, created, &nonce);
        assert!(header.contains(">tuOSpGlFlIXsozq4HFNeeGeFLEI=<"), "{header}");
        assert!(header.contains("<wsu:Created>2010-09-16T07:50:45Z</wsu:Created>"), "{header}");
        assert!(header.contains("<wsse:Username>admin</wsse:Username>"));
    }

    /// A camera that answers each SOAP action from a script, and the actions it was asked.
    /// (A fake: the oxvif mock cannot fault Media1 GetProfiles while its Media2 profiles lack
    /// encoder details, nor answer with a real camera's fault document.)
    #[derive(Debug, Default)]
    struct Scripted {
        answers: Vec<(&'static str, u16, String)>,
        asked: std::sync::Mutex<Vec<String>>,
    }

    impl Transport for Scripted {
        fn post<'a>(
            &'a self,
            _url: &'a Url,
            headers: Vec<(String, String)>,
            _body: String,
            _timeout: Duration,
        ) -> HttpFuture<'a> {
            let action = headers
                .iter()
                .find_map(|(_, v)| v.split("action=\"").nth(1))
                .map(|a| a.trim_end_matches('"').to_owned())
                .unwrap_or_default();
            self.asked.lock().expect("asked").push(action.clone());
            let answer = self.answers.iter().find(|(a, _, _)| *a == action);
            Box::pin(async move {
                let Some((_, status, body)) = answer else { panic!("nothing scripted for {action}") };
                Ok(HttpResponse { status: *status, www_authenticate: Vec::new(), body: body.clone() })
            })
        }
    }

    fn corpus(rel: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/onvif").join(rel);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// A device with both media services, answering as `answers` says.
    fn scripted(answers: Vec<(&'static str, u16, String)>) -> (Device, Arc<Scripted>) {
        let camera = Arc::new(Scripted { answers, ..Scripted::default() });
        let url = Url::parse("http://192.0.2.10/onvif/device_service").expect("url");
        let mut device = Device::new(url, None, camera.clone());
        device.services = Services {
            media: Some("http://192.0.2.10/onvif/media_service".into()),
            media2: Some("http://192.0.2.10/onvif/media2_service".into()),
            ..Services::default()
        };
        (device, camera)
    }

    const M1: &str = "http://www.onvif.org/ver10/media/wsdl/";
    const M2: &str = "http://www.onvif.org/ver20/media/wsdl/";

    #[tokio::test]
    async fn a_uri_call_one_media_service_does_not_support_is_asked_of_the_other() {
        // A real camera's ActionNotSupported fault (HTTP 500, as cameras send faults).
        let unsupported = corpus("unbranded/ipg-8150pss_Fault_ActionNotSupported.xml");
        let (device, camera) = scripted(vec![
            ("http://www.onvif.org/ver10/media/wsdl/GetStreamUri", 500, unsupported.clone()),
            (
                "http://www.onvif.org/ver20/media/wsdl/GetStreamUri",
                200,
                corpus("sunba/performance-series_Media2-GetStreamUri.xml"),
            ),
            (
                "http://www.onvif.org/ver10/media/wsdl/GetSnapshotUri",
                200,
                corpus("sunba/405-xm530_GetSnapshotUri.xml"),
            ),
        ]);
        let uri = device.stream_uri("Profile_1").await.expect("the stream from Media2");
        assert_eq!(uri, "rtsp://192.0.2.100/media/video1");
        let snapshot = device.snapshot_uri("Profile_1").await.expect("the snapshot from Media1");
        assert!(snapshot.starts_with("http://192.168.15.40/webcapture.jpg"), "{snapshot}");
        let asked = camera.asked.lock().expect("asked").clone();
        assert_eq!(
            asked,
            [format!("{M1}GetStreamUri"), format!("{M2}GetStreamUri"), format!("{M1}GetSnapshotUri")]
        );

        // Any other failure is the answer: a refused login is not asked again elsewhere.
        let refused = corpus("dvc/dcn-bf5365_Fault_GetSystemDateAndTime-Unauthorized.xml");
        let (device, camera) =
            scripted(vec![("http://www.onvif.org/ver10/media/wsdl/GetStreamUri", 400, refused)]);
        let e = device.stream_uri("Profile_1").await.expect_err("refused");
        assert!(e.is_not_authorized(), "{e}");
        assert_eq!(camera.asked.lock().expect("asked").len(), 1);

        // A device with Media2 only has nowhere else to ask.
        let (mut device, camera) =
            scripted(vec![("http://www.onvif.org/ver20/media/wsdl/GetSnapshotUri", 500, unsupported)]);
        device.services.media = None;
        let e = device.snapshot_uri("Profile_1").await.expect_err("not supported");
        assert!(Device::unsupported(&e), "{e}");
        assert_eq!(camera.asked.lock().expect("asked").clone(), [format!("{M2}GetSnapshotUri")]);
    }

    #[tokio::test]
    async fn media2_profiles_without_encoders_are_used_when_media1_does_not_support_get_profiles() {
        let (device, camera) = scripted(vec![
            (
                "http://www.onvif.org/ver20/media/wsdl/GetProfiles",
                200,
                corpus("unbranded/ipg-8150pss_Media2-GetProfiles.xml"),
            ),
            (
                "http://www.onvif.org/ver10/media/wsdl/GetProfiles",
                500,
                corpus("sunba/performance-series_Fault_ActionNotSupported.xml"),
            ),
        ]);
        let profiles = device.profiles().await.expect("Media2's profiles");
        assert!(!profiles.is_empty() && profiles.iter().all(|p| p.encoding.is_none()), "{profiles:?}");
        assert_eq!(
            camera.asked.lock().expect("asked").clone(),
            [format!("{M2}GetProfiles"), format!("{M1}GetProfiles")]
        );
    }

    #[test]
    fn the_largest_h26x_profile_is_main_and_the_smallest_is_sub() {
        let p = |token: &str, enc: &str, w: u32| Profile {
            token: token.into(),
            encoding: Some(enc.into()),
            width: Some(w),
            height: Some(w * 9 / 16),
            ..Profile::default()
        };
        let list = [p("a", "JPEG", 4000), p("b", "H264", 640), p("c", "H265", 2560), p("d", "H264", 1280)];
        let (main, sub) = best_profiles(&list);
        assert_eq!(main.map(|p| p.token.as_str()), Some("c"));
        assert_eq!(sub.map(|p| p.token.as_str()), Some("b"));
    }
}

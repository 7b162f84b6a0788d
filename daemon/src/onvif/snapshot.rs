//! Still images from ONVIF cameras (for the Home Assistant `camera` entity): the main profile's
//! snapshot URI (GetSnapshotUri), fetched with HTTP GET and the camera's login (HTTP Digest,
//! or none). The image is passed on as the camera sends it (usually JPEG).

use std::sync::Arc;
use std::time::Duration;

use url::Url;

use super::client::{Credentials, HttpTransport, OnvifError, TransportError};

/// Why no image came from a snapshot URI. Each names the URI.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("{url}: no image within {} s", TIMEOUT.as_secs())]
    Timeout { url: Url },
    #[error("{url}: {source}")]
    Transport { url: Url, source: TransportError },
    #[error("{url}: the camera asks for a login; set the camera's username and password")]
    NeedsLogin { url: Url },
    #[error(
        "{url}: the camera asks for a login other than HTTP Digest (Basic is refused: it would send the password in clear)"
    )]
    NotDigest { url: Url },
    #[error("{url}: cannot parse the Digest challenge: {source}")]
    Challenge { url: Url, source: digest_auth::Error },
    #[error("{url}: cannot answer the Digest challenge: {source}")]
    Answer { url: Url, source: digest_auth::Error },
    #[error("{url}: wrong user name or password (HTTP Digest)")]
    WrongLogin { url: Url },
    #[error("{url}: HTTP {status}")]
    Status { url: Url, status: u16 },
    #[error("{url}: not an image (Content-Type {content_type:?})")]
    NotImage { url: Url, content_type: String },
    #[error("{url}: empty image")]
    Empty { url: Url },
}

/// The largest image accepted.
pub const MAX_BYTES: usize = 4 << 20;
const TIMEOUT: Duration = Duration::from_secs(10);

/// The snapshot URI of the camera's main (largest H.264/H.265) profile, without credentials.
pub async fn snapshot_uri(
    device_url: &Url,
    creds: Option<Credentials>,
    http: Arc<HttpTransport>,
) -> Result<Url, OnvifError> {
    super::events::main_profile_uri(device_url, creds, http, super::events::UriKind::Snapshot).await
}

/// Fetches one image. Errors name the URL and what went wrong.
pub async fn fetch(
    url: &Url,
    creds: Option<&Credentials>,
    http: &HttpTransport,
) -> Result<Vec<u8>, SnapshotError> {
    tokio::time::timeout(TIMEOUT, fetch_inner(url, creds, http))
        .await
        .map_err(|_| SnapshotError::Timeout { url: url.clone() })?
}

async fn fetch_inner(
    url: &Url,
    creds: Option<&Credentials>,
    http: &HttpTransport,
) -> Result<Vec<u8>, SnapshotError> {
    let transport = |source| SnapshotError::Transport { url: url.clone(), source };
    let get = |headers| http.send(hyper::Method::GET, url, headers, String::new(), MAX_BYTES);
    let mut resp = get(Vec::new()).await.map_err(transport)?;
    if resp.status == 401 {
        let creds = creds.ok_or_else(|| SnapshotError::NeedsLogin { url: url.clone() })?;
        let challenge = resp
            .www_authenticate
            .iter()
            .find(|c| c.trim_start().to_ascii_lowercase().starts_with("digest"))
            .ok_or_else(|| SnapshotError::NotDigest { url: url.clone() })?;
        let mut prompt = digest_auth::parse(challenge)
            .map_err(|source| SnapshotError::Challenge { url: url.clone(), source })?;
        let mut path = url.path().to_owned();
        if let Some(q) = url.query() {
            path.push('?');
            path.push_str(q);
        }
        let ctx =
            digest_auth::AuthContext::new(creds.username.as_str(), creds.password.expose(), path.as_str());
        let answer =
            prompt.respond(&ctx).map_err(|source| SnapshotError::Answer { url: url.clone(), source })?;
        resp = get(vec![("Authorization".to_owned(), answer.to_header_string())]).await.map_err(transport)?;
        if resp.status == 401 {
            return Err(SnapshotError::WrongLogin { url: url.clone() });
        }
    }
    if resp.status != 200 {
        return Err(SnapshotError::Status { url: url.clone(), status: resp.status });
    }
    if let Some(ct) = &resp.content_type
        && !ct.to_ascii_lowercase().starts_with("image/")
    {
        return Err(SnapshotError::NotImage { url: url.clone(), content_type: ct.clone() });
    }
    if resp.body.is_empty() {
        return Err(SnapshotError::Empty { url: url.clone() });
    }
    Ok(resp.body.to_vec())
}

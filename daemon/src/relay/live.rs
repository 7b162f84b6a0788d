//! Live streams for a `live` grant: for each granted camera the hub asks the center for an
//! ingest URL, then pushes the camera's stream there with RTSP `ANNOUNCE`/`SETUP`/`RECORD`
//! (RTP interleaved on the RTSP connection, so it is one outbound TCP or TLS connection; what
//! MediaMTX, ffmpeg and GStreamer accept). The frames are the camera's own (the recorder's live
//! feed, `recording/live.rs`), never re-encoded; audio only if the grant keeps it.
//!
//! The stream stops at the end of the grant, when the resident revokes it, when privacy mode
//! comes on, or at shutdown: the push loop waits on those together with the next frame, so the
//! cut is immediate (a `TEARDOWN` is sent if the connection takes it at once). A push that fails
//! is started again, with backoff, while the grant lasts. Every start and stop, with the bytes
//! sent, is in the audit log (`live_started` before the first byte, `live_stopped` after).
//! Protocol: `docs/ref/relay-protocol.md`.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use jiff::Timestamp;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::Deps;
use super::link::Link;
use crate::audit::{self, Entry};
use crate::metrics::{Label, Metric};
use crate::policy::{Grant, Request};
use crate::recording::frames::{AudioParams, VideoCodec, VideoParams};
use crate::recording::live::LiveFrame;
use crate::requests::ShareGuard;

/// The largest RTP payload: packets stay under a 1500-byte MTU if the center relays them on
/// over UDP.
const MAX_PAYLOAD: usize = 1400;
/// Each RTSP exchange with the ingest server, and the connection.
const STEP: Duration = Duration::from_secs(10);
/// How long a camera may take to send a keyframe (or any frame, once streaming).
const CAMERA_WAIT: Duration = Duration::from_secs(15);
/// How long `TEARDOWN` may take on the way out.
const TEARDOWN: Duration = Duration::from_millis(300);
/// Tries to get an ingest URL from the center.
const INGEST_TRIES: u32 = 5;
/// The largest RTSP answer head read.
const MAX_HEAD: usize = 16 << 10;

/// Why a push stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("the center gave no usable ingest URL: {0}")]
    Ingest(String),
    #[error("camera {0:?} sends nothing to stream (disabled, recording off or paused, or offline)")]
    NotStreaming(String),
    #[error("cannot connect to {url}: {message}")]
    Connect { url: String, message: String },
    #[error("{method} {url}: {message}")]
    Rtsp { method: &'static str, url: String, message: String },
    #[error("{method} {url}: {source}")]
    Send { method: &'static str, url: String, source: std::io::Error },
    #[error("{method} {url}: {source}")]
    Answer { method: &'static str, url: String, source: AnswerError },
    #[error("the center gave no usable ingest URL: {0}")]
    IngestUrl(#[from] IngestUrlError),
    #[error("the ingest server closed the connection")]
    Closed,
    #[error("writing to the ingest server: {0}")]
    Write(#[source] std::io::Error),
    #[error("reading from the ingest server: {0}")]
    Read(#[source] std::io::Error),
    #[error("the camera's stream changed ({0}); starting over")]
    Changed(&'static str),
    #[error("bad frame from the camera: {0}")]
    Frame(#[from] NalError),
    #[error("bad frame from the camera: {0}")]
    Track(#[from] TrackError),
    #[error("the start cannot be recorded in the audit log, so nothing is sent")]
    NotRecorded,
}

/// How a push ended without error.
enum End {
    /// The grant's time is over.
    Expired,
    /// Revoked, privacy mode, or shutdown.
    Cut,
}

/// Streams every granted camera of `request` until `until` or until `share` is cut.
pub async fn share(
    deps: &Deps,
    link: &Link,
    request: &Request,
    grant: &Grant,
    until: Instant,
    until_wall: Timestamp,
    share: &ShareGuard,
) {
    deps.bus.publish(None, crate::bus::EventKind::RelayStarted { request_id: request.id.clone() });
    let pushes = grant
        .cameras
        .iter()
        .map(|camera| push_camera(Job { deps, link, request, grant, camera, until, until_wall }, share));
    futures_util::future::join_all(pushes).await;
    let reason = if share.cancel.is_cancelled() {
        share.cut_reason()
    } else if Instant::now() >= until {
        "the grant's time is over".to_owned()
    } else {
        "no camera could be streamed (see the audit log's share_failed entries)".to_owned()
    };
    deps.bus.publish(None, crate::bus::EventKind::RelayStopped { request_id: request.id.clone(), reason });
}

/// One granted camera's stream.
#[derive(Clone, Copy)]
struct Job<'a> {
    deps: &'a Deps,
    link: &'a Link,
    request: &'a Request,
    grant: &'a Grant,
    camera: &'a str,
    /// The grant's end.
    until: Instant,
    until_wall: Timestamp,
}

/// One camera's push, started again after failures while the grant lasts.
async fn push_camera(job: Job<'_>, share: &ShareGuard) {
    let Job { deps, link, request, grant, camera, until, until_wall } = job;
    let id = request.id.as_str();
    let cancel = &share.cancel;
    let mut failures = 0u32;
    loop {
        if cancel.is_cancelled() || Instant::now() >= until {
            return;
        }
        let ingest = match ingest_url(link, id, camera, grant, until_wall, cancel).await {
            Ok(Some(u)) => u,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(request = %id, camera, error = %e, "No live stream: the center gave no ingest URL");
                let entry = Entry::ShareFailed {
                    request_id: id.to_owned(),
                    camera: camera.to_owned(),
                    error: e.to_string(),
                };
                audit::best_effort(deps.audit.as_ref(), &entry);
                return;
            }
        };
        let mut sent = Sent::default();
        let result = push(job, &ingest, cancel, &mut sent).await;
        if sent.started.is_some() {
            let reason = match &result {
                Ok(End::Expired) => "the grant's time is over".to_owned(),
                Ok(End::Cut) => share.cut_reason(),
                Err(e) => e.to_string(),
            };
            let seconds = sent.started.map_or(0.0, |s| s.elapsed().as_secs_f64());
            tracing::info!(request = %id, camera, bytes = sent.bytes, seconds, reason = %reason, "Live stream stopped");
            let entry = Entry::LiveStopped {
                request_id: id.to_owned(),
                camera: camera.to_owned(),
                bytes: sent.bytes,
                seconds: (seconds * 1000.0).round() / 1000.0,
                reason,
            };
            audit::best_effort(deps.audit.as_ref(), &entry);
            deps.metrics.add(Metric::RelaySharedBytes, &[(Label::Kind, "live")], sent.bytes);
            failures = 0;
        }
        let e = match result {
            Ok(_) => return,
            Err(e @ LiveError::NotStreaming(_)) if Instant::now() + CAMERA_WAIT >= until => {
                // Not enough of the grant is left to wait for the camera again.
                let entry = Entry::ShareFailed {
                    request_id: id.to_owned(),
                    camera: camera.to_owned(),
                    error: e.to_string(),
                };
                audit::best_effort(deps.audit.as_ref(), &entry);
                return;
            }
            Err(e) => e,
        };
        failures = failures.saturating_add(1);
        tracing::warn!(request = %id, camera, error = %e, failures, "Live stream failed; trying again while the grant lasts");
        let pause = crate::backoff::delay(failures - 1).min(Duration::from_secs(10));
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep_until(until) => return,
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// Asks the center where to push `camera`: `POST …/requests/<id>/live/<camera>`, answered
/// `{"ingest": "rtsps://…"}`. `None`: cut or over meanwhile.
async fn ingest_url(
    link: &Link,
    id: &str,
    camera: &str,
    grant: &Grant,
    until: Timestamp,
    cancel: &CancellationToken,
) -> Result<Option<Url>, LiveError> {
    let url =
        link.url(&format!("requests/{id}/live/{camera}")).map_err(|e| LiveError::Ingest(e.to_string()))?;
    let body =
        json!({ "request_id": id, "camera": camera, "until": until, "strip_audio": grant.strip_audio });
    let mut last = String::new();
    for attempt in 0..INGEST_TRIES {
        let answer = tokio::select! {
            () = cancel.cancelled() => return Ok(None),
            a = link.call("POST", &url, Some(&body), STEP) => a,
        };
        match answer {
            Ok(a) if a.status == 200 => {
                let v: serde_json::Value = serde_json::from_slice(&a.body)
                    .map_err(|e| LiveError::Ingest(format!("the answer is not JSON: {e}")))?;
                let ingest = v
                    .get("ingest")
                    .and_then(|i| i.as_str())
                    .ok_or_else(|| LiveError::Ingest("the answer has no `ingest` string".into()))?;
                return Ok(Some(check_ingest(ingest)?));
            }
            Ok(a) if (400..500).contains(&a.status) && a.status != 408 && a.status != 429 => {
                return Err(LiveError::Ingest(format!(
                    "the center refused: HTTP {}: {}",
                    a.status,
                    super::snippet(&a.body)
                )));
            }
            Ok(a) => last = format!("HTTP {}: {}", a.status, super::snippet(&a.body)),
            Err(e) => last = e.to_string(),
        }
        tokio::select! {
            () = cancel.cancelled() => return Ok(None),
            () = tokio::time::sleep(crate::backoff::delay(attempt).min(Duration::from_secs(10))) => {}
        }
    }
    Err(LiveError::Ingest(format!("no answer after {INGEST_TRIES} tries: {last}")))
}

/// Why the hub will not push to an ingest URL. `url` is the URL without its query (see
/// [`redacted`]), which may hold a stream key.
#[derive(Debug, thiserror::Error)]
pub enum IngestUrlError {
    #[error("{url:?} is not a URL: {source}")]
    NotUrl { url: String, source: url::ParseError },
    #[error("the ingest URL must not carry a user name or password")]
    Credentials,
    #[error("the ingest URL {url:?} has no host")]
    NoHost { url: String },
    #[error(
        "the ingest URL {url:?} is unencrypted `rtsp://` to a host that is not loopback; only `rtsps://` leaves the hub"
    )]
    Unencrypted { url: String },
    #[error("the ingest URL {url:?} has scheme {scheme:?}; expected `rtsps://`")]
    Scheme { url: String, scheme: String },
}

/// An ingest URL the hub will push to: `rtsps://` anywhere, `rtsp://` (unencrypted) only to a
/// loopback host; no user name or password in it.
/// The error names the URL without its query (see [`redacted`]). A fragment is dropped: it is
/// never part of a request.
pub fn check_ingest(s: &str) -> Result<Url, IngestUrlError> {
    let shown = || redacted(s).to_owned();
    let mut url = Url::parse(s).map_err(|source| IngestUrlError::NotUrl { url: shown(), source })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(IngestUrlError::Credentials);
    }
    let host = url.host_str().unwrap_or_default();
    if host.is_empty() {
        return Err(IngestUrlError::NoHost { url: shown() });
    }
    url.set_fragment(None);
    match url.scheme() {
        "rtsps" => Ok(url),
        "rtsp" if is_loopback(&url) => Ok(url),
        "rtsp" => Err(IngestUrlError::Unencrypted { url: shown() }),
        other => Err(IngestUrlError::Scheme { url: shown(), scheme: other.to_owned() }),
    }
}

/// Whether the URL's host is a loopback address. (`rtsp:` is not a scheme the URL parser knows,
/// so its host comes as text.)
fn is_loopback(u: &Url) -> bool {
    let host = u.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|a| a.is_loopback())
}

#[derive(Default)]
struct Sent {
    bytes: u64,
    started: Option<std::time::Instant>,
}

/// One push: waits for a keyframe, connects, announces, records until the end or an error.
async fn push(
    job: Job<'_>,
    ingest: &Url,
    cancel: &CancellationToken,
    sent: &mut Sent,
) -> Result<End, LiveError> {
    let Job { deps, link, request, grant, camera, until, until_wall } = job;
    let mut rx = deps.cameras.live().subscribe(camera);
    // The stream starts at a keyframe, which also says whether the camera has audio.
    let deadline = (Instant::now() + CAMERA_WAIT).min(until);
    let first = loop {
        let frame = tokio::select! {
            () = cancel.cancelled() => return Ok(End::Cut),
            () = tokio::time::sleep_until(deadline) => {
                if Instant::now() >= until { return Ok(End::Expired) }
                return Err(LiveError::NotStreaming(camera.to_owned()));
            }
            f = rx.recv() => f,
        };
        match frame {
            Ok(f) => {
                if let LiveFrame::Video { keyframe: true, params, pts, audio, .. } = &*f {
                    let audio = audio.clone().filter(|_| !grant.strip_audio);
                    break (Arc::clone(&f), Arc::clone(params), *pts, audio);
                }
            }
            Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return Err(LiveError::NotStreaming(camera.to_owned())),
        }
    };
    let (first, video, base_pts, audio) = first;
    let track = VideoTrack::new(&video)?;
    let audio_track = audio.as_ref().and_then(|a| match AudioTrack::new(a) {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::info!(camera, error = %e, "The camera's audio cannot be streamed live; video only");
            None
        }
    });
    let sdp = sdp(&track, audio_track.as_ref(), ingest);

    let shown = shown_url(ingest);
    let mut rtsp = tokio::select! {
        () = cancel.cancelled() => return Ok(End::Cut),
        c = tokio::time::timeout(STEP, Rtsp::connect(ingest, link)) => {
            c.map_err(|_| LiveError::Connect { url: shown.clone(), message: format!("no connection within {STEP:?}") })??
        }
    };
    let steps = async {
        rtsp.call("OPTIONS", ingest.as_str(), &[], None).await?;
        rtsp.call("ANNOUNCE", ingest.as_str(), &[], Some(("application/sdp", &sdp))).await?;
        let tracks = 1 + usize::from(audio_track.is_some());
        for t in 0..tracks {
            let transport = format!("RTP/AVP/TCP;unicast;interleaved={}-{};mode=record", 2 * t, 2 * t + 1);
            rtsp.call("SETUP", control_url(ingest, t).as_str(), &[("Transport", transport)], None).await?;
        }
        rtsp.call("RECORD", ingest.as_str(), &[("Range", "npt=0.000-".to_owned())], None).await?;
        Ok::<(), LiveError>(())
    };
    tokio::select! {
        () = cancel.cancelled() => return Ok(End::Cut),
        r = tokio::time::timeout(STEP * 4, steps) => {
            r.map_err(|_| LiveError::Rtsp { method: "RECORD", url: shown.clone(), message: "the ingest server is too slow".into() })??
        }
    }

    // Recorded before the first frame leaves; no record, no stream.
    let entry = Entry::LiveStarted {
        request_id: request.id.clone(),
        camera: camera.to_owned(),
        ingest: shown.clone(),
        until: until_wall,
        audio: audio_track.is_some(),
        codec: video.codec.clone(),
    };
    if audit::required(deps.audit.as_ref(), &entry).is_err() {
        rtsp.teardown(ingest).await;
        return Err(LiveError::NotRecorded);
    }
    tracing::info!(request = %request.id, camera, ingest = %shown, until = %until_wall, "Live stream started");
    sent.started = Some(std::time::Instant::now());

    let (mut reader, mut writer) = rtsp.split();
    let mut video_rtp = Rtp::new(0);
    let mut audio_rtp = Rtp::new(2);
    let audio_base = audio_track.as_ref().map(|a| base_pts * i64::from(a.rate) / 90_000);
    let mut out = Vec::with_capacity(64 << 10);
    let mut wait_keyframe = false;
    let mut last_pts = base_pts;
    let mut next = Some(first);
    loop {
        let frame = match next.take() {
            Some(f) => f,
            None => {
                let got = tokio::select! {
                    biased;
                    () = cancel.cancelled() => { writer.teardown(ingest).await; return Ok(End::Cut) }
                    () = tokio::time::sleep_until(until) => { writer.teardown(ingest).await; return Ok(End::Expired) }
                    closed = &mut reader => return Err(closed),
                    f = tokio::time::timeout(CAMERA_WAIT, rx.recv()) => f,
                };
                match got {
                    Err(_) => return Err(LiveError::NotStreaming(camera.to_owned())),
                    Ok(Ok(f)) => f,
                    Ok(Err(RecvError::Lagged(n))) => {
                        tracing::warn!(request = %request.id, camera, frames = n, "The live stream fell behind; skipping to the next keyframe");
                        wait_keyframe = true;
                        continue;
                    }
                    Ok(Err(RecvError::Closed)) => return Err(LiveError::NotStreaming(camera.to_owned())),
                }
            }
        };
        out.clear();
        match &*frame {
            LiveFrame::Video { params, pts, keyframe, data, .. } => {
                if !Arc::ptr_eq(params, &video) && **params != *video {
                    writer.teardown(ingest).await;
                    return Err(LiveError::Changed("new codec parameters"));
                }
                // The camera's session started over (a reconnect): its clock did too, and the
                // receiver must not see time run backwards.
                if *pts < last_pts - 90_000 {
                    writer.teardown(ingest).await;
                    return Err(LiveError::Changed("the camera reconnected"));
                }
                last_pts = *pts;
                if wait_keyframe && !keyframe {
                    continue;
                }
                wait_keyframe = false;
                let ts = (pts - base_pts) as u32;
                track.packetize(&mut video_rtp, ts, *keyframe, data, &mut out)?;
            }
            LiveFrame::Audio { pts, data, .. } => {
                let (Some(a), Some(base)) = (&audio_track, audio_base) else { continue };
                if *pts < base || wait_keyframe {
                    continue;
                }
                a.packetize(&mut audio_rtp, (pts - base) as u32, data, &mut out);
            }
        }
        if out.is_empty() {
            continue;
        }
        // A center that stops reading must not hold the cut up: the write gives way too.
        tokio::select! {
            biased;
            () = cancel.cancelled() => return Ok(End::Cut),
            () = tokio::time::sleep_until(until) => return Ok(End::Expired),
            r = writer.w.write_all(&out) => r.map_err(LiveError::Write)?,
        }
        sent.bytes += out.len() as u64;
    }
}

/// The ingest URL as logged and audited: without its query (which may hold a stream key).
fn shown_url(u: &Url) -> String {
    let mut u = u.clone();
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

/// The URL `SETUP` asks for track `t`: `trackID=<t>` appended to the ingest URL's path, any
/// query kept at the end (`rtsp://h/live/x/trackID=1?key=…`).
fn control_url(ingest: &Url, t: usize) -> Url {
    let mut u = ingest.clone();
    let path = u.path().trim_end_matches('/').to_owned();
    u.set_path(&format!("{path}/trackID={t}"));
    u
}

/// Track `t`'s `a=control` in the SDP. Without a query, relative (`trackID=<t>`): every
/// receiver resolves it against the ingest URL to [`control_url`]. With a query, receivers
/// resolve a relative control differently (ffmpeg appends it after the query and refuses any
/// other `SETUP` URL; GStreamer's server takes the query as part of the control), so the SDP
/// names [`control_url`] itself, absolute, and `SETUP` asks for exactly that string, which
/// ffmpeg and MediaMTX match as it is.
fn sdp_control(ingest: &Url, t: usize) -> String {
    if ingest.query().is_some() { control_url(ingest, t).to_string() } else { format!("trackID={t}") }
}

/// A URL as text for errors: cut before its query and fragment, which may hold a stream key.
fn redacted(s: &str) -> &str {
    s.split(['?', '#']).next().unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// RTSP (RFC 2326) client side of a RECORD session.

trait Conn: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Conn for T {}

/// What is wrong with the ingest server's answer to a request.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error("{0}")]
    Read(#[from] std::io::Error),
    #[error("the ingest server closed the connection")]
    Closed,
    #[error("an answer head longer than {MAX_HEAD} bytes")]
    LongHead,
    #[error("an answer body of {0} bytes")]
    LongBody(usize),
    #[error("not an RTSP answer: {0:?}")]
    NotRtsp(String),
    #[error("bad status line {0:?}")]
    StatusLine(String),
}

struct Rtsp {
    conn: Box<dyn Conn>,
    buf: Vec<u8>,
    cseq: u32,
    session: Option<String>,
}

impl Rtsp {
    async fn connect(url: &Url, link: &Link) -> Result<Self, LiveError> {
        let shown = shown_url(url);
        let host =
            url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_owned();
        let tls = url.scheme() == "rtsps";
        let port = url.port().unwrap_or(if tls { 322 } else { 554 });
        let err = |message: String| LiveError::Connect { url: shown.clone(), message };
        let tcp =
            tokio::net::TcpStream::connect((host.as_str(), port)).await.map_err(|e| err(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let conn: Box<dyn Conn> = if tls {
            let config = link.tls().map_err(|e| err(format!("TLS settings: {e}")))?;
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|e| err(format!("bad server name: {e}")))?;
            let stream = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await
                .map_err(|e| err(format!("TLS: {e}")))?;
            Box::new(stream)
        } else {
            Box::new(tcp)
        };
        Ok(Self { conn, buf: Vec::new(), cseq: 0, session: None })
    }

    fn request(
        &mut self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: Option<(&str, &str)>,
    ) -> Vec<u8> {
        self.cseq += 1;
        request_text(method, url, self.cseq, self.session.as_deref(), headers, body)
    }

    /// One request and its answer; a non-2xx answer is an error naming the step.
    async fn call(
        &mut self,
        method: &'static str,
        url: &str,
        headers: &[(&str, String)],
        body: Option<(&str, &str)>,
    ) -> Result<(), LiveError> {
        let shown = url.split('?').next().unwrap_or_default().to_owned();
        let err = |message: String| LiveError::Rtsp { method, url: shown.clone(), message };
        let req = self.request(method, url, headers, body);
        self.conn.write_all(&req).await.map_err(|source| LiveError::Send {
            method,
            url: shown.clone(),
            source,
        })?;
        let (status, reason, head) =
            self.answer().await.map_err(|source| LiveError::Answer { method, url: shown.clone(), source })?;
        if !(200..300).contains(&status) {
            let hint = if status == 401 {
                " (the ingest server asks for credentials; Porchlight sends none: put the stream key in the ingest URL)"
            } else {
                ""
            };
            return Err(err(format!("the ingest server answered {status} {reason}{hint}")));
        }
        if let Some(s) = header(&head, "session") {
            // `Session: <id>;timeout=60`: only the id is sent back.
            self.session = Some(s.split(';').next().unwrap_or_default().trim().to_owned());
        }
        Ok(())
    }

    /// Reads one RTSP answer: `(status, reason, head)`. Interleaved packets before it (RTCP
    /// from the server) are skipped; a body is read and dropped.
    async fn answer(&mut self) -> Result<(u16, String, String), AnswerError> {
        loop {
            if self.buf.first() == Some(&b'$') {
                if self.buf.len() >= 4 {
                    let len = 4 + usize::from(u16::from_be_bytes([self.buf[2], self.buf[3]]));
                    if self.buf.len() >= len {
                        self.buf.drain(..len);
                        continue;
                    }
                }
            } else if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                let body_len: usize =
                    header(&head, "content-length").and_then(|v| v.trim().parse().ok()).unwrap_or(0);
                if body_len > MAX_HEAD {
                    return Err(AnswerError::LongBody(body_len));
                }
                if self.buf.len() >= end + 4 + body_len {
                    self.buf.drain(..end + 4 + body_len);
                    let mut status_line = head.lines().next().unwrap_or_default().splitn(3, ' ');
                    let proto = status_line.next().unwrap_or_default();
                    let first = || head.lines().next().unwrap_or_default().to_owned();
                    if !proto.starts_with("RTSP/") {
                        return Err(AnswerError::NotRtsp(first()));
                    }
                    let status = status_line
                        .next()
                        .and_then(|s| s.parse::<u16>().ok())
                        .ok_or_else(|| AnswerError::StatusLine(first()))?;
                    let reason = status_line.next().unwrap_or_default().to_owned();
                    return Ok((status, reason, head));
                }
            } else if self.buf.len() > MAX_HEAD {
                return Err(AnswerError::LongHead);
            }
            let mut chunk = [0u8; 4096];
            let n = self.conn.read(&mut chunk).await?;
            if n == 0 {
                return Err(AnswerError::Closed);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    async fn teardown(self, ingest: &Url) {
        self.split().1.teardown(ingest).await;
    }

    /// Splits into a reader that drains what the server sends (RTCP, answers) and ends with
    /// why the connection is gone, and the writer for media.
    fn split(self) -> (std::pin::Pin<Box<dyn Future<Output = LiveError> + Send>>, Writer) {
        let Self { conn, cseq, session, .. } = self;
        let (mut r, w) = tokio::io::split(conn);
        let reader = Box::pin(async move {
            let mut scratch = vec![0u8; 8192];
            loop {
                match r.read(&mut scratch).await {
                    Ok(0) => return LiveError::Closed,
                    Ok(_) => {}
                    Err(e) => return LiveError::Read(e),
                }
            }
        });
        (reader, Writer { w, cseq, session })
    }
}

struct Writer {
    w: tokio::io::WriteHalf<Box<dyn Conn>>,
    cseq: u32,
    session: Option<String>,
}

impl Writer {
    /// Sends `TEARDOWN` and closes, within [`TEARDOWN`] (a stuck connection is just dropped).
    async fn teardown(&mut self, ingest: &Url) {
        self.cseq += 1;
        let req = request_text("TEARDOWN", ingest.as_str(), self.cseq, self.session.as_deref(), &[], None);
        let _ = tokio::time::timeout(TEARDOWN, async {
            let _ = self.w.write_all(&req).await;
            let _ = self.w.shutdown().await;
        })
        .await;
    }
}

/// One RTSP request's bytes.
fn request_text(
    method: &str,
    url: &str,
    cseq: u32,
    session: Option<&str>,
    headers: &[(&str, String)],
    body: Option<(&str, &str)>,
) -> Vec<u8> {
    let mut r = format!(
        "{method} {url} RTSP/1.0\r\nCSeq: {cseq}\r\nUser-Agent: porchlight/{}\r\n",
        env!("CARGO_PKG_VERSION")
    );
    if let Some(s) = session {
        r.push_str(&format!("Session: {s}\r\n"));
    }
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    match body {
        Some((kind, b)) => {
            r.push_str(&format!("Content-Type: {kind}\r\nContent-Length: {}\r\n\r\n{b}", b.len()))
        }
        None => r.push_str("\r\n"),
    }
    r.into_bytes()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

// ---------------------------------------------------------------------------------------------
// RTP packetization (RFC 3550; H.264 RFC 6184, H.265 RFC 7798, AAC RFC 3640), each packet
// framed for RTSP interleaving (`$`, channel, length).

struct Rtp {
    channel: u8,
    seq: u16,
    ssrc: u32,
    offset: u32,
}

impl Rtp {
    fn new(channel: u8) -> Self {
        Self { channel, seq: fastrand::u16(..), ssrc: fastrand::u32(..), offset: fastrand::u32(..) }
    }

    fn packet(&mut self, out: &mut Vec<u8>, pt: u8, ts: u32, marker: bool, parts: &[&[u8]]) {
        let len = 12 + parts.iter().map(|p| p.len()).sum::<usize>();
        out.push(b'$');
        out.push(self.channel);
        out.extend_from_slice(&(len as u16).to_be_bytes());
        out.push(0x80);
        out.push(if marker { 0x80 | pt } else { pt });
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&ts.wrapping_add(self.offset).to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        for p in parts {
            out.extend_from_slice(p);
        }
        self.seq = self.seq.wrapping_add(1);
    }
}

const VIDEO_PT: u8 = 96;
const AUDIO_PT: u8 = 97;

/// The video track: codec, parameter sets (sent in the SDP and again before each keyframe
/// that lacks them) and the NAL length size of the camera's frames.
struct VideoTrack {
    codec: VideoCodec,
    length_size: usize,
    /// H.264: SPS, PPS. H.265: VPS, SPS, PPS.
    params: Vec<Vec<u8>>,
    fmtp: String,
}

impl VideoTrack {
    fn new(v: &VideoParams) -> Result<Self, TrackError> {
        use shiguredo_mp4::boxes::SampleEntry;
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        match &v.sample_entry {
            SampleEntry::Avc1(e) => {
                let c = &e.avcc_box;
                let sps = c.sps_list.first().ok_or(TrackError::NoSps)?;
                let pps = c.pps_list.first().ok_or(TrackError::NoPps)?;
                let profile = sps
                    .get(1..4)
                    .map_or_else(String::new, |p| format!("{:02X}{:02X}{:02X}", p[0], p[1], p[2]));
                let fmtp = format!(
                    "packetization-mode=1;profile-level-id={profile};sprop-parameter-sets={},{}",
                    b64(sps),
                    b64(pps)
                );
                let params = c.sps_list.iter().chain(&c.pps_list).cloned().collect();
                Ok(Self {
                    codec: VideoCodec::H264,
                    length_size: usize::from(c.length_size_minus_one.get()) + 1,
                    params,
                    fmtp,
                })
            }
            SampleEntry::Hvc1(shiguredo_mp4::boxes::Hvc1Box { hvcc_box: c, .. })
            | SampleEntry::Hev1(shiguredo_mp4::boxes::Hev1Box { hvcc_box: c, .. }) => {
                let of = |t: u8| -> Vec<Vec<u8>> {
                    c.nalu_arrays
                        .iter()
                        .filter(|a| a.nal_unit_type.get() == t)
                        .flat_map(|a| a.nalus.clone())
                        .collect()
                };
                let (vps, sps, pps) = (of(32), of(33), of(34));
                let (Some(v), Some(s), Some(p)) = (vps.first(), sps.first(), pps.first()) else {
                    return Err(TrackError::H265Sets);
                };
                let fmtp = format!("sprop-vps={};sprop-sps={};sprop-pps={}", b64(v), b64(s), b64(p));
                let params = vps.iter().chain(&sps).chain(&pps).cloned().collect();
                Ok(Self {
                    codec: VideoCodec::H265,
                    length_size: usize::from(c.length_size_minus_one.get()) + 1,
                    params,
                    fmtp,
                })
            }
            other => {
                use shiguredo_mp4::BaseBox;
                Err(TrackError::Video(other.box_type()))
            }
        }
    }

    fn rtpmap(&self) -> &'static str {
        match self.codec {
            VideoCodec::H264 => "H264/90000",
            VideoCodec::H265 => "H265/90000",
        }
    }

    fn is_param_set(&self, nal: &[u8]) -> bool {
        match self.codec {
            VideoCodec::H264 => nal.first().is_some_and(|h| matches!(h & 0x1F, 7 | 8)),
            VideoCodec::H265 => nal.first().is_some_and(|h| matches!((h >> 1) & 0x3F, 32..=34)),
        }
    }

    /// One access unit (`data`: length-prefixed NAL units) as RTP packets; the marker bit is on
    /// its last packet.
    fn packetize(
        &self,
        rtp: &mut Rtp,
        ts: u32,
        keyframe: bool,
        data: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), NalError> {
        let mut nals = split_nals(data, self.length_size)?;
        if keyframe && !nals.iter().any(|n| self.is_param_set(n)) {
            let mut with = self.params.iter().map(Vec::as_slice).collect::<Vec<_>>();
            with.append(&mut nals);
            nals = with;
        }
        let count = nals.len();
        for (i, nal) in nals.into_iter().enumerate() {
            let last = i + 1 == count;
            if nal.len() <= MAX_PAYLOAD {
                rtp.packet(out, VIDEO_PT, ts, last, &[nal]);
                continue;
            }
            // Fragmentation units: H.264 FU-A (type 28), H.265 FU (type 49).
            let (indicator, skip, nal_type): (Vec<u8>, usize, u8) = match self.codec {
                VideoCodec::H264 => (vec![(nal[0] & 0xE0) | 28], 1, nal[0] & 0x1F),
                VideoCodec::H265 => (vec![(nal[0] & 0x81) | (49 << 1), nal[1]], 2, (nal[0] >> 1) & 0x3F),
            };
            let body = &nal[skip..];
            let room = MAX_PAYLOAD - indicator.len() - 1;
            let chunks = body.len().div_ceil(room);
            for (j, chunk) in body.chunks(room).enumerate() {
                let mut fu = nal_type;
                if j == 0 {
                    fu |= 0x80;
                }
                if j + 1 == chunks {
                    fu |= 0x40;
                }
                rtp.packet(out, VIDEO_PT, ts, last && j + 1 == chunks, &[&indicator, &[fu], chunk]);
            }
        }
        Ok(())
    }
}

/// A camera's codec parameters the live stream cannot describe.
#[derive(Debug, thiserror::Error)]
pub enum TrackError {
    #[error("the camera's H.264 parameters have no SPS")]
    NoSps,
    #[error("the camera's H.264 parameters have no PPS")]
    NoPps,
    #[error("the camera's H.265 parameters lack a VPS, SPS or PPS")]
    H265Sets,
    #[error("cannot stream video sample entry {0:?}")]
    Video(shiguredo_mp4::BoxType),
    #[error("not AAC")]
    NotAac,
    #[error("the AAC parameters have no AudioSpecificConfig")]
    NoAudioConfig,
}

/// A camera's access unit that does not split into NAL units.
#[derive(Debug, thiserror::Error)]
pub enum NalError {
    #[error("a NAL unit length is cut short")]
    CutShort,
    #[error("a NAL unit of {len} bytes in {left} bytes left")]
    Length { len: usize, left: usize },
}

/// NAL units of a length-prefixed access unit.
fn split_nals(mut data: &[u8], length_size: usize) -> Result<Vec<&[u8]>, NalError> {
    let mut nals = Vec::new();
    while !data.is_empty() {
        if data.len() < length_size {
            return Err(NalError::CutShort);
        }
        let len = data[..length_size].iter().fold(0usize, |n, b| (n << 8) | usize::from(*b));
        data = &data[length_size..];
        if len == 0 || len > data.len() {
            return Err(NalError::Length { len, left: data.len() });
        }
        nals.push(&data[..len]);
        data = &data[len..];
    }
    Ok(nals)
}

/// The AAC track (`mpeg4-generic`, AAC-hbr: one access unit per packet).
struct AudioTrack {
    rate: u32,
    channels: u16,
    config: String,
}

impl AudioTrack {
    fn new(a: &AudioParams) -> Result<Self, TrackError> {
        let shiguredo_mp4::boxes::SampleEntry::Mp4a(m) = &a.sample_entry else {
            return Err(TrackError::NotAac);
        };
        let config = m
            .esds_box
            .es
            .dec_config_descr
            .dec_specific_info
            .as_ref()
            .ok_or(TrackError::NoAudioConfig)?
            .payload
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Self { rate: a.clock_rate, channels: m.audio.channelcount.max(1), config })
    }

    fn packetize(&self, rtp: &mut Rtp, ts: u32, au: &[u8], out: &mut Vec<u8>) {
        // The AU size has 13 bits; a larger frame is not AAC as cameras send it.
        let Ok(size) = u16::try_from(au.len()) else { return };
        if size >= 1 << 13 {
            return;
        }
        let headers = [0x00, 0x10, (size >> 5) as u8, ((size & 0x1F) << 3) as u8];
        rtp.packet(out, AUDIO_PT, ts, true, &[&headers, au]);
    }
}

/// The session description sent with `ANNOUNCE`.
fn sdp(video: &VideoTrack, audio: Option<&AudioTrack>, ingest: &Url) -> String {
    let host = ingest.host_str().unwrap_or("0.0.0.0");
    let ip = if host.contains(':') { "IP6" } else { "IP4" };
    let mut s = format!(
        "v=0\r\no=- 0 0 IN {ip} {host}\r\ns=Porchlight live\r\nc=IN {ip} {host}\r\nt=0 0\r\na=tool:porchlight\r\n\
         m=video 0 RTP/AVP {VIDEO_PT}\r\na=rtpmap:{VIDEO_PT} {}\r\na=fmtp:{VIDEO_PT} {}\r\na=control:{}\r\n",
        video.rtpmap(),
        video.fmtp,
        sdp_control(ingest, 0)
    );
    if let Some(a) = audio {
        s.push_str(&format!(
            "m=audio 0 RTP/AVP {AUDIO_PT}\r\na=rtpmap:{AUDIO_PT} mpeg4-generic/{}/{}\r\n\
             a=fmtp:{AUDIO_PT} streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;config={}\r\n\
             a=control:{}\r\n",
            a.rate,
            a.channels,
            a.config,
            sdp_control(ingest, 1)
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h264() -> VideoTrack {
        VideoTrack {
            codec: VideoCodec::H264,
            length_size: 4,
            params: vec![vec![0x67, 0x64, 0x00, 0x1f], vec![0x68, 0xee]],
            fmtp: String::new(),
        }
    }

    /// (channel, marker, seq, payload) of each interleaved packet in `out`.
    fn packets(mut out: &[u8]) -> Vec<(u8, bool, u16, Vec<u8>)> {
        let mut v = Vec::new();
        while !out.is_empty() {
            assert_eq!(out[0], b'$');
            let len = usize::from(u16::from_be_bytes([out[2], out[3]]));
            let p = &out[4..4 + len];
            assert_eq!(p[0], 0x80, "RTP version 2");
            v.push((out[1], p[1] & 0x80 != 0, u16::from_be_bytes([p[2], p[3]]), p[12..].to_vec()));
            out = &out[4 + len..];
        }
        v
    }

    fn au(nals: &[&[u8]]) -> Vec<u8> {
        nals.iter()
            .flat_map(|n| (n.len() as u32).to_be_bytes().into_iter().chain(n.iter().copied()))
            .collect()
    }

    #[test]
    fn a_keyframe_gets_parameter_sets_and_large_nal_units_are_fragmented_and_rebuild_exactly() {
        let track = h264();
        let mut rtp = Rtp::new(0);
        let idr: Vec<u8> = std::iter::once(0x65).chain((0..5000u32).map(|i| (i % 251) as u8)).collect();
        let mut out = Vec::new();
        track.packetize(&mut rtp, 9000, true, &au(&[&idr]), &mut out).expect("packetized");
        let p = packets(&out);
        assert_eq!(p[0].3, vec![0x67, 0x64, 0x00, 0x1f], "SPS first");
        assert_eq!(p[1].3, vec![0x68, 0xee], "then PPS");
        // The IDR in FU-A fragments: start bit on the first, end bit on the last, and the
        // marker bit only on the access unit's last packet.
        let fus = &p[2..];
        assert!(fus.len() >= 4);
        assert!(fus.iter().all(|f| f.3.len() <= MAX_PAYLOAD && f.3[0] == (0x60 | 28)));
        assert_eq!(fus[0].3[1], 0x80 | 5);
        assert_eq!(fus.last().expect("last").3[1], 0x40 | 5);
        assert!(p.iter().rev().skip(1).all(|f| !f.1) && p.last().expect("last").1);
        let mut rebuilt = vec![(fus[0].3[0] & 0xE0) | (fus[0].3[1] & 0x1F)];
        for f in fus {
            rebuilt.extend_from_slice(&f.3[2..]);
        }
        assert_eq!(rebuilt, idr);
        let seqs: Vec<u16> = p.iter().map(|f| f.2).collect();
        assert!(seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)), "{seqs:?}");

        // A non-key frame with parameter sets of its own gets none added.
        let mut out = Vec::new();
        track.packetize(&mut rtp, 12000, false, &au(&[&[0x41, 1, 2, 3]]), &mut out).expect("packetized");
        let p = packets(&out);
        assert_eq!(p.len(), 1);
        assert!(p[0].1);
    }

    #[test]
    fn h265_fragments_carry_the_two_byte_header() {
        let track =
            VideoTrack { codec: VideoCodec::H265, length_size: 4, params: vec![], fmtp: String::new() };
        let mut rtp = Rtp::new(0);
        // nal_unit_type 1 (TRAIL_R): header 0x02 0x01.
        let nal: Vec<u8> = [0x02, 0x01].into_iter().chain(std::iter::repeat_n(7u8, 3000)).collect();
        let mut out = Vec::new();
        track.packetize(&mut rtp, 0, false, &au(&[&nal]), &mut out).expect("packetized");
        let p = packets(&out);
        assert_eq!(p.len(), 3);
        assert_eq!(&p[0].3[..3], &[(49 << 1), 0x01, 0x80 | 1]);
        assert_eq!(p[2].3[2], 0x40 | 1);
        let total: usize = p.iter().map(|f| f.3.len() - 3).sum();
        assert_eq!(total, 3000);
    }

    #[test]
    fn broken_access_units_are_errors() {
        assert!(split_nals(&[0, 0, 0, 9, 1, 2], 4).is_err());
        assert!(split_nals(&[0, 0], 4).is_err());
        assert!(split_nals(&[0, 0, 0, 0], 4).is_err());
        assert_eq!(split_nals(&[0, 0, 0, 1, 5, 0, 0, 0, 2, 6, 7], 4).expect("ok"), vec![&[5u8][..], &[6, 7]]);
    }

    /// A connection whose reads fail and whose writes go nowhere.
    struct ResetOnRead;

    impl AsyncRead for ResetOnRead {
        fn poll_read(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            _: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Err(std::io::ErrorKind::ConnectionReset.into()))
        }
    }

    impl AsyncWrite for ResetOnRead {
        fn poll_write(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            std::task::Poll::Ready(Ok(buf.len()))
        }

        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn a_connection_that_fails_while_streaming_is_reported_as_a_failed_read() {
        let rtsp = Rtsp { conn: Box::new(ResetOnRead), buf: Vec::new(), cseq: 4, session: None };
        let (reader, _writer) = rtsp.split();
        let e = reader.await;
        assert!(matches!(e, LiveError::Read(_)), "{e:?}");
        assert!(e.to_string().starts_with("reading from the ingest server: "), "{e}");
        let source = std::error::Error::source(&e).expect("the I/O error is its source");
        assert_eq!(source.to_string(), std::io::Error::from(std::io::ErrorKind::ConnectionReset).to_string());
    }

    #[test]
    fn aac_packets_carry_one_au_header() {
        let track = AudioTrack { rate: 16000, channels: 1, config: "1408".into() };
        let mut rtp = Rtp::new(2);
        let mut out = Vec::new();
        track.packetize(&mut rtp, 1024, &[9u8; 300], &mut out);
        let p = packets(&out);
        assert_eq!(p[0].0, 2);
        assert_eq!(&p[0].3[..4], &[0x00, 0x10, (300u16 >> 5) as u8, ((300u16 & 0x1F) << 3) as u8]);
        assert_eq!(p[0].3.len(), 304);
    }

    #[test]
    fn ingest_urls_must_be_encrypted_unless_loopback() {
        assert!(check_ingest("rtsps://ingest.example.org/live/abc?key=1").is_ok());
        assert!(check_ingest("rtsp://127.0.0.1:8554/live/abc").is_ok());
        assert!(check_ingest("rtsp://[::1]:8554/live").is_ok());
        let e = check_ingest("rtsp://203.0.113.9/live").expect_err("plain to the outside").to_string();
        assert!(e.contains("rtsps://"), "{e}");
        assert!(check_ingest("rtsps://user:pw@ingest.example.org/live").is_err());
        assert!(check_ingest("http://127.0.0.1/live").is_err());
        assert!(check_ingest("not a url").is_err());
        assert_eq!(
            shown_url(&Url::parse("rtsp://127.0.0.1:1/live/x?k=1").expect("url")),
            "rtsp://127.0.0.1:1/live/x"
        );
        assert_eq!(
            check_ingest("rtsp://127.0.0.1:1/live/x?key=1#part").expect("ok").as_str(),
            "rtsp://127.0.0.1:1/live/x?key=1",
            "no fragment in requests"
        );
    }

    #[test]
    fn a_refused_ingest_url_is_named_without_its_stream_key() {
        for bad in [
            "rtsp://203.0.113.9/live/x?key=s3cret",
            "ftp://127.0.0.1/live/x?key=s3cret",
            "rtsp:///live?key=s3cret",
            "no url?key=s3cret",
        ] {
            let e = check_ingest(bad).expect_err(bad).to_string();
            assert!(!e.contains("s3cret"), "{e}");
        }
        let e = check_ingest("rtsp://203.0.113.9/live/x?key=s3cret")
            .expect_err("plain to the outside")
            .to_string();
        assert!(e.contains("\"rtsp://203.0.113.9/live/x\""), "{e}");
    }

    fn sdp_of(ingest: &str, audio: bool) -> (Url, String) {
        let ingest = Url::parse(ingest).expect("url");
        let aac = AudioTrack { rate: 16000, channels: 1, config: "1408".into() };
        let sdp = sdp(&h264(), audio.then_some(&aac), &ingest);
        (ingest, sdp)
    }

    fn controls(sdp: &str) -> Vec<&str> {
        sdp.lines().filter_map(|l| l.strip_prefix("a=control:")).collect()
    }

    #[test]
    fn without_a_query_tracks_are_named_relative_to_the_ingest_url() {
        let (ingest, sdp) = sdp_of("rtsp://127.0.0.1:8554/live/front", true);
        assert_eq!(controls(&sdp), ["trackID=0", "trackID=1"]);
        assert_eq!(control_url(&ingest, 1).as_str(), "rtsp://127.0.0.1:8554/live/front/trackID=1");
        let (ingest, sdp) = sdp_of("rtsp://127.0.0.1:8554/live/front/", false);
        assert_eq!(controls(&sdp), ["trackID=0"]);
        assert_eq!(control_url(&ingest, 0).as_str(), "rtsp://127.0.0.1:8554/live/front/trackID=0");
    }

    /// A relative control under a URL with a query resolves differently at each receiver
    /// (ffmpeg: `…/front?key=abc/trackID=0`; MediaMTX also `…/front/trackID=0?key=abc`), so the
    /// SDP names each track's URL in full, and `SETUP` asks for that very string.
    #[test]
    fn with_a_query_tracks_are_named_by_absolute_urls_that_keep_the_query() {
        let (ingest, sdp) = sdp_of("rtsps://ingest.example.org/live/front?key=abc&x=%2B1", true);
        assert_eq!(
            controls(&sdp),
            [
                "rtsps://ingest.example.org/live/front/trackID=0?key=abc&x=%2B1",
                "rtsps://ingest.example.org/live/front/trackID=1?key=abc&x=%2B1"
            ]
        );
        for t in 0..2 {
            assert_eq!(
                control_url(&ingest, t).as_str(),
                controls(&sdp)[t],
                "SETUP asks for what the SDP names"
            );
        }
        let (_, sdp) = sdp_of("rtsp://[::1]:8554?key=abc", false);
        assert_eq!(controls(&sdp), ["rtsp://[::1]:8554/trackID=0?key=abc"]);
    }
}

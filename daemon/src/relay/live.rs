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
use crate::recording::live::LiveFrame;
use crate::requests::ShareGuard;
use crate::rtp::{self, AudioTrack, NalError, Rtp, TrackError, VideoTrack};

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

/// The session description sent with `ANNOUNCE`.
fn sdp(video: &VideoTrack, audio: Option<&AudioTrack>, ingest: &Url) -> String {
    let host = ingest.host_str().unwrap_or("0.0.0.0");
    let ip = if host.contains(':') { "IP6" } else { "IP4" };
    let mut s = format!(
        "v=0\r\no=- 0 0 IN {ip} {host}\r\ns=Porchlight live\r\nc=IN {ip} {host}\r\nt=0 0\r\na=tool:porchlight\r\n"
    );
    s.push_str(&rtp::media_sdp(video, audio, |t| sdp_control(ingest, t)));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::tests::h264;

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

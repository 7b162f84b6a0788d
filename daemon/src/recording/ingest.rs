//! Ingest: one session at a time per camera, frames forwarded to the camera's writer thread
//! without re-encoding. The camera's clock gives each frame's place in the stream; the hub's
//! clock anchors the stream to wall time (re-anchored when the stream runs more than
//! [`MAX_DRIFT_MS`] ahead of it, e.g. after a camera clock reset, or more than [`MAX_LAG_MS`]
//! behind it, e.g. an encoder short of CPU; logged by [`DriftLog`]).
//!
//! Two seams keep the network and the wall clock out of the session logic, so tests drive it
//! on paused time with a scripted camera: an [`Opener`] probes the camera and opens a session
//! that yields [`Item`]s (the real one, RTSP with retina, is `recording/rtsp.rs`), and a
//! [`WallClock`] gives the hub's time for anchoring ([`SystemClock`] in the daemon). Waits and
//! timeouts use tokio's time.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::frames::{self, AudioFrame, AudioParams, ParamsError, VideoFrame, VideoParams};
use super::live::{LiveFrame, LiveTap};
use super::reconnect::ProbeError;
use super::writer::Input;
use crate::config::RtspTransport;
use crate::metrics::{Label, Metric, Metrics};

/// How far the stream's own clock may run ahead of the hub's before it is re-anchored.
pub const MAX_DRIFT_MS: i64 = 2000;
/// How far the stream may fall behind the hub's clock (frames arriving later than their
/// timestamps say) before it is re-anchored. Small, because the recording's timeline lags
/// the hub's clock by as much, which adds to what a crash loses (`docs/design/recording.md` §6).
pub const MAX_LAG_MS: i64 = 500;
/// After the first re-anchor warning of a camera, at most one per this long.
pub const DRIFT_LOG_INTERVAL: Duration = Duration::from_secs(60);
/// Frames are handed to the writer thread in batches of this long (one wake-up instead of one
/// per frame; `docs/benchmarks.md`). It adds as much to the crash-loss bound.
pub const BATCH: Duration = Duration::from_millis(100);

/// Where and how to pull a stream.
#[derive(Debug, Clone)]
pub struct Source {
    pub camera: String,
    pub url: url::Url,
    pub username: Option<String>,
    pub password: Option<String>,
    pub transport: RtspTransport,
    /// A session that delivers nothing for this long is dropped and retried.
    pub stall_timeout: Duration,
}

/// Why a session ended.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{}", rtsp_message(.0, None))]
    Rtsp(#[from] retina::Error),
    #[error("the camera offers no H.264 or H.265 video (streams: {0})")]
    NoVideo(String),
    #[error("bad codec parameters from the camera: {0}")]
    Params(#[from] ParamsError),
    #[error("bad codec parameters from the camera: {source}")]
    SampleEntry { source: retina::Error },
    #[error("no media for {0:?}")]
    Stalled(Duration),
    #[error("the camera did not answer {0} within {1:?}")]
    NoAnswer(&'static str, Duration),
    #[error("the camera ended the stream")]
    Ended,
    #[error("the recorder stopped")]
    WriterGone,
}

impl IngestError {
    /// One line for the log, `camera_offline` and gaps; an RTSP error names `url` (without
    /// credentials) and, for a refused path or login, what to check.
    pub fn describe(&self, url: &url::Url) -> String {
        match self {
            Self::Rtsp(e) => rtsp_message(e, Some(url)),
            other => other.to_string(),
        }
    }
}

/// retina's error on one line: its summary without the connection and message context that
/// follow it on further lines, the method, status and retina's reason for an answer, and a
/// hint for 404 (the stream path) and 401/403 (the login).
fn rtsp_message(e: &retina::Error, url: Option<&url::Url>) -> String {
    let full = e.to_string();
    let head = full.split("\n\n").next().unwrap_or(&full);
    let head = head.split_whitespace().collect::<Vec<_>>().join(" ");
    let url = url.map(|u| {
        let mut u = u.clone();
        let _ = u.set_username("");
        let _ = u.set_password(None);
        u.to_string()
    });
    let Some(status) = e.status_code() else {
        return match url {
            Some(u) => format!("{u}: {head}"),
            None => head,
        };
    };
    // "404 response to DESCRIBE CSeq=2: Unexpected RTSP response status"
    let (method, why) = head
        .split_once(" response to ")
        .map(|(_, rest)| rest.split_once(": ").unwrap_or((rest, "")))
        .map_or(("RTSP request", head.as_str()), |(m, why)| (m.split(" CSeq=").next().unwrap_or(m), why));
    let phrase = match status {
        400 => " Bad Request",
        401 => " Unauthorized",
        403 => " Forbidden",
        404 => " Not Found",
        454 => " Session Not Found",
        461 => " Unsupported Transport",
        500 => " Internal Server Error",
        503 => " Service Unavailable",
        _ => "",
    };
    let mut line = match url {
        Some(u) => format!("{method} {u}: {status}{phrase}"),
        None => format!("{method}: {status}{phrase}"),
    };
    // retina's words for a plain error status add nothing to the status itself.
    if !why.is_empty() && why != "Unexpected RTSP response status" {
        line.push_str(&format!(" ({why})"));
    }
    match status {
        404 => line.push_str("; check the stream path in rtsp_url"),
        401 | 403 => line.push_str("; check the user name and password"),
        _ => {}
    }
    line
}

/// One thing a camera session yields, in the order the camera sent it.
#[derive(Debug)]
pub enum Item {
    /// A video frame (one access unit, length-prefixed NAL units) at `pts` (90 kHz ticks since
    /// the session began). `params`: the stream's parameters, with the first frame and whenever
    /// the camera changes them.
    Video { params: Option<Arc<VideoParams>>, pts: i64, data: Vec<u8> },
    /// An AAC frame of the session's audio (see [`CameraSession::audio`]): `pts` and `duration`
    /// in ticks of its clock rate.
    Audio { pts: i64, duration: u32, data: Vec<u8> },
    /// Anything else from the camera (a control report, a stream that is not recorded, a
    /// frame that cannot be used yet): not recorded, but proof that the camera still sends.
    Other,
}

/// Reaches a camera: probes its port and opens sessions. The seam between the ingest loop
/// and the network; `recording::rtsp::Rtsp` is the real one.
pub trait Opener: Send + Sync {
    type Session: CameraSession;

    /// Whether the camera's port accepts a connection now.
    fn probe(&self, src: &Source) -> impl Future<Output = Result<(), ProbeError>> + Send;

    /// A session with the camera, set up and playing. May wait for ever: the caller cancels
    /// it (the real one bounds each exchange with the stall timeout).
    fn open(&self, src: &Source) -> impl Future<Output = Result<Self::Session, IngestError>> + Send;
}

/// One open session with a camera.
pub trait CameraSession: Send {
    /// The session's audio track, known from its description before any audio frame; `None`
    /// when there is none the recordings can hold.
    fn audio(&self) -> Option<Arc<AudioParams>>;

    /// What the camera sends next; `None` when it ended the session. May wait for ever: the
    /// caller bounds it with the stall timeout.
    fn next(&mut self) -> impl Future<Output = Option<Result<Item, IngestError>>> + Send;
}

/// The hub's wall clock, which anchors streams to real time.
pub trait WallClock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl WallClock for SystemClock {
    fn now_ms(&self) -> i64 {
        jiff::Timestamp::now().as_millisecond()
    }
}

/// Maps a stream's tick count to wall time.
#[derive(Debug)]
struct StreamClock {
    anchor_ms: i64,
    anchor_pts: i64,
    rate: i64,
}

impl StreamClock {
    fn new(pts: i64, rate: u32, now_ms: i64) -> Self {
        Self { anchor_ms: now_ms, anchor_pts: pts, rate: i64::from(rate.max(1)) }
    }

    /// The wall time of the frame at `pts` arriving at `now_ms`, and the drift (stream minus
    /// hub) if the clock was re-anchored for it.
    fn wall(&mut self, pts: i64, now_ms: i64) -> (i64, Option<i64>) {
        let wall = self.anchor_ms + (pts - self.anchor_pts) * 1000 / self.rate;
        let drift = wall - now_ms;
        if !(-MAX_LAG_MS..=MAX_DRIFT_MS).contains(&drift) {
            self.anchor_ms = now_ms;
            self.anchor_pts = pts;
            return (now_ms, Some(drift));
        }
        (wall, None)
    }
}

/// A camera's re-anchor warnings: the first, then at most one per [`DRIFT_LOG_INTERVAL`] with
/// the number of re-anchors since the previous warning (a stream that keeps falling behind
/// re-anchors every second or so).
#[derive(Debug)]
pub struct DriftLog(crate::throttle::Throttle);

impl Default for DriftLog {
    fn default() -> Self {
        Self(crate::throttle::Throttle::new(DRIFT_LOG_INTERVAL))
    }
}

impl DriftLog {
    fn reanchored(&mut self, camera: &str, drift_ms: i64) {
        if let Some(n) = self.0.note(Instant::now().into_std()) {
            tracing::warn!(
                camera,
                drift_ms,
                reanchors = n,
                "Stream clock drifted from the hub's; re-anchoring"
            );
        }
    }
}

/// Wall time for a frame of a stream: the stream's clock, created at its first frame.
fn place(
    clock: &mut Option<StreamClock>,
    pts: i64,
    rate: u32,
    drift: &mut DriftLog,
    camera: &str,
    hub: &impl WallClock,
) -> i64 {
    let now = hub.now_ms();
    let (wall, reanchored) = clock.get_or_insert_with(|| StreamClock::new(pts, rate, now)).wall(pts, now);
    if let Some(d) = reanchored {
        drift.reanchored(camera, d);
    }
    wall
}

/// Where one camera's sessions deliver, kept from one session to the next: its writer
/// thread's queue and the batch being gathered for it, its live tap, metrics, re-anchor
/// warnings and the hub's clock.
#[derive(Debug)]
pub struct Feed<C> {
    tx: mpsc::Sender<Input>,
    batch: Vec<Input>,
    live: LiveTap,
    metrics: Metrics,
    drift: DriftLog,
    clock: C,
}

impl<C: WallClock> Feed<C> {
    pub fn new(tx: mpsc::Sender<Input>, live: LiveTap, metrics: Metrics, clock: C) -> Self {
        Self { tx, batch: Vec::new(), live, metrics, drift: DriftLog::default(), clock }
    }

    /// After a session: what the last batch held goes to the writer too (it finishes it
    /// before the end), then the end of the session.
    pub async fn end_session(&mut self) {
        self.live.session_ended();
        if !self.batch.is_empty() {
            let _ = self.tx.send(Input::Batch(std::mem::take(&mut self.batch))).await;
        }
        let _ = self.tx.send(Input::SessionEnd).await;
    }
}

/// Runs one session with the camera until it fails, the camera ends it, or `cancel` fires
/// (then `Ok`). `online` is called at the first frame. Frames gather in the feed's batch,
/// sent every [`BATCH`]; the caller ends the session with [`Feed::end_session`].
pub async fn session<O: Opener, C: WallClock>(
    opener: &O,
    feed: &mut Feed<C>,
    src: &Source,
    gap_reason: String,
    online: &(dyn Fn() + Sync),
    cancel: &CancellationToken,
) -> Result<(), IngestError> {
    let mut session = tokio::select! {
        () = cancel.cancelled() => return Ok(()),
        s = opener.open(src) => s?,
    };
    let Feed { tx, batch, live, metrics, drift, clock } = feed;
    let audio_params = session.audio();
    let mut gap_reason = Some(gap_reason);
    let mut video_clock: Option<StreamClock> = None;
    let mut audio_clock: Option<StreamClock> = None;
    let mut current: Option<Arc<VideoParams>> = None;
    let mut skip_to_keyframe = false;
    let mut streamed = false;
    let mut last_item = Instant::now();
    let mut batch_started = Instant::now();
    loop {
        let item = tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            item = tokio::time::timeout(src.stall_timeout, session.next()) => item,
        };
        let item = match item {
            Err(_) => return Err(IngestError::Stalled(last_item.elapsed())),
            Ok(None) => return Err(IngestError::Ended),
            Ok(Some(Err(e))) => return Err(e),
            Ok(Some(Ok(item))) => item,
        };
        last_item = Instant::now();
        match item {
            Item::Video { params: new_params, pts, data } => {
                let mut params = None;
                if let Some(p) = new_params {
                    if current.is_none() {
                        let start = Input::SessionStart {
                            video: Arc::clone(&p),
                            audio: audio_params.clone(),
                            gap_reason: gap_reason.take().unwrap_or_default(),
                        };
                        tx.send(start).await.map_err(|_| IngestError::WriterGone)?;
                        tracing::info!(codec = %p.codec, width = p.width, height = p.height, audio = audio_params.is_some(), "Streaming");
                    }
                    current = Some(Arc::clone(&p));
                    params = Some(p);
                }
                let Some(codec) = current.as_ref().map(|p| p.kind) else { continue };
                if !streamed {
                    streamed = true;
                    online();
                }
                let wall = place(&mut video_clock, pts, 90_000, drift, &src.camera, clock);
                let keyframe = frames::is_random_access(codec, &data);
                if let Some(p) = &current {
                    live.offer(LiveFrame::Video {
                        params: Arc::clone(p),
                        pts,
                        at: jiff::Timestamp::from_millisecond(wall).unwrap_or(jiff::Timestamp::UNIX_EPOCH),
                        keyframe,
                        data: data.clone(),
                        audio: audio_params.clone(),
                    });
                }
                if skip_to_keyframe && !keyframe {
                    metrics.inc(
                        Metric::RecordingFramesDropped,
                        &[(Label::Camera, &src.camera), (Label::Reason, "backlog")],
                    );
                    continue;
                }
                skip_to_keyframe = false;
                if batch.is_empty() {
                    batch_started = Instant::now();
                }
                batch.push(Input::Video(VideoFrame { pts, wall_ms: wall, keyframe, params, data }));
                if batch_started.elapsed() >= BATCH {
                    let frames = std::mem::take(batch);
                    let n = frames.len() as u64;
                    if let Err(e) = tx.try_send(Input::Batch(frames)) {
                        if matches!(e, mpsc::error::TrySendError::Closed(_)) {
                            return Err(IngestError::WriterGone);
                        }
                        // The writer is behind (a slow disk): skip to the next keyframe rather
                        // than record a broken picture or grow without bound.
                        skip_to_keyframe = true;
                        metrics.add(
                            Metric::RecordingFramesDropped,
                            &[(Label::Camera, &src.camera), (Label::Reason, "backlog")],
                            n,
                        );
                    }
                }
            }
            Item::Audio { pts, duration, data } if audio_params.is_some() && current.is_some() => {
                let rate = audio_params.as_ref().map_or(1, |a| a.clock_rate);
                let wall = place(&mut audio_clock, pts, rate, drift, &src.camera, clock);
                let frame = AudioFrame { pts, wall_ms: wall, duration, data };
                if let Some(p) = &audio_params {
                    live.offer(LiveFrame::Audio { params: Arc::clone(p), pts, data: frame.data.clone() });
                }
                if skip_to_keyframe {
                    continue;
                }
                if batch.is_empty() {
                    batch_started = Instant::now();
                }
                batch.push(Input::Audio(frame));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_behind_the_hub_is_re_anchored_sooner_than_one_ahead_of_it() {
        let mut c = StreamClock::new(0, 90_000, 1000);
        // On time, a little late, a little early: the stream's own clock.
        assert_eq!(c.wall(90_000, 2000), (2000, None));
        assert_eq!(c.wall(180_000, 3400), (3000, None));
        assert_eq!(c.wall(270_000, 2500), (4000, None));
        // More than MAX_LAG_MS late: re-anchored to the arrival.
        assert_eq!(c.wall(360_000, 5600), (5600, Some(-600)));
        assert_eq!(c.wall(450_000, 6600), (6600, None));
        // Ahead by up to MAX_DRIFT_MS is kept; beyond it, re-anchored.
        assert_eq!(c.wall(720_000, 7700), (9600, None));
        assert_eq!(c.wall(900_000, 9000), (9000, Some(2600)));
    }

    #[test]
    fn re_anchor_warnings_are_the_first_then_one_a_minute_with_a_count() {
        let DriftLog(mut log) = DriftLog::default();
        let t0 = std::time::Instant::now();
        assert_eq!(log.note(t0), Some(1));
        for s in 1..60 {
            assert_eq!(log.note(t0 + Duration::from_secs(s)), None, "{s}");
        }
        assert_eq!(log.note(t0 + Duration::from_secs(60)), Some(60));
        assert_eq!(log.note(t0 + Duration::from_secs(200)), Some(1));
    }
}

//! RTSP ingest with `retina`: one session at a time per camera, frames forwarded to the
//! camera's writer thread without re-encoding. The camera's clock gives each frame's place in
//! the stream; the hub's clock anchors the stream to wall time (re-anchored when the stream runs
//! more than [`MAX_DRIFT_MS`] ahead of it, e.g. after a camera clock reset, or more than
//! [`MAX_LAG_MS`] behind it, e.g. an encoder short of CPU; logged by [`DriftLog`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use retina::client::{Credentials, PlayOptions, SessionOptions, SetupOptions, Transport};
use retina::codec::{CodecItem, FrameFormat, ParametersRef};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use super::frames::{self, AudioFrame, AudioParams, VideoFrame, VideoParams};
use super::live::{self, LiveFrame};
/// The retry delay shared with the other reconnecting tasks (MQTT, ONVIF events, the relay).
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
    Params(String),
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

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Maps a stream's tick count to wall time.
#[derive(Debug)]
struct Clock {
    anchor_ms: i64,
    anchor_pts: i64,
    rate: i64,
}

impl Clock {
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
        if let Some(n) = self.0.note(Instant::now()) {
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
fn place(clock: &mut Option<Clock>, pts: i64, rate: u32, drift: &mut DriftLog, camera: &str) -> i64 {
    let now = now_ms();
    let (wall, reanchored) = clock.get_or_insert_with(|| Clock::new(pts, rate, now)).wall(pts, now);
    if let Some(d) = reanchored {
        drift.reanchored(camera, d);
    }
    wall
}

/// Runs one RTSP session until it fails, the camera ends it, or `cancel` fires (then `Ok`).
/// Frames gather in `batch`, sent every [`BATCH`]; the caller sends what is left when this
/// returns.
#[allow(clippy::too_many_arguments)]
pub async fn session(
    src: &Source,
    tx: &mpsc::Sender<Input>,
    batch: &mut Vec<Input>,
    gap_reason: String,
    metrics: &Metrics,
    online: &(dyn Fn() + Sync),
    live: &broadcast::Sender<Arc<LiveFrame>>,
    drift: &mut DriftLog,
    cancel: &CancellationToken,
) -> Result<(), IngestError> {
    let creds = match (&src.username, &src.password) {
        (Some(u), p) => Some(Credentials { username: u.clone(), password: p.clone().unwrap_or_default() }),
        (None, _) => None,
    };
    let options = SessionOptions::default()
        .creds(creds)
        .user_agent(format!("porchlight/{}", env!("CARGO_PKG_VERSION")));
    // Every RTSP exchange is bounded and cancellable: a camera that stops answering halfway
    // (accepts DESCRIBE, never answers SETUP) must neither hang the camera nor shutdown.
    let step = src.stall_timeout;
    let mut session = tokio::select! {
        () = cancel.cancelled() => return Ok(()),
        s = tokio::time::timeout(step, retina::client::Session::describe(src.url.clone(), options)) => {
            s.map_err(|_| IngestError::NoAnswer("DESCRIBE", step))??
        }
    };
    let streams = session.streams();
    let video_i = streams
        .iter()
        .position(|s| s.media() == "video" && matches!(s.encoding_name(), "h264" | "h265"))
        .ok_or_else(|| {
            IngestError::NoVideo(
                streams
                    .iter()
                    .map(|s| format!("{}/{}", s.media(), s.encoding_name()))
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        })?;
    let audio_i = match streams.iter().position(|s| s.media() == "audio") {
        Some(i) if streams[i].encoding_name() == "mpeg4-generic" => Some(i),
        Some(i) => {
            tracing::info!(
                codec = streams[i].encoding_name(),
                "Not recording this camera's audio: only AAC can go into the MP4 recordings"
            );
            None
        }
        None => None,
    };
    let transport = match src.transport {
        RtspTransport::Tcp => Transport::Tcp(Default::default()),
        RtspTransport::Udp => Transport::Udp(Default::default()),
    };
    let setup = || SetupOptions::default().transport(transport.clone()).frame_format(FrameFormat::MP4);
    for i in std::iter::once(video_i).chain(audio_i) {
        tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            r = tokio::time::timeout(step, session.setup(i, setup())) => r.map_err(|_| IngestError::NoAnswer("SETUP", step))??,
        }
    }
    // A restreamer's shared media (go2rtc, MediaMTX, GStreamer) is already running when we join:
    // the sequence number in the PLAY answer need not match the first packet we get.
    let play = PlayOptions::default().initial_seq(retina::client::InitialSequenceNumberPolicy::Ignore);
    let playing = tokio::select! {
        () = cancel.cancelled() => return Ok(()),
        r = tokio::time::timeout(step, session.play(play)) => r.map_err(|_| IngestError::NoAnswer("PLAY", step))??,
    };
    let mut demuxed = playing.demuxed()?;

    let audio_params = match audio_i.and_then(|i| demuxed.streams()[i].parameters()) {
        Some(ParametersRef::Audio(a)) => {
            let built = a.mp4_sample_entry().build().map_err(|e| e.to_string()).and_then(|b| {
                AudioParams::from_sample_entry_box(
                    &b,
                    a.rfc6381_codec().unwrap_or("mp4a").to_owned(),
                    a.clock_rate(),
                )
            });
            match built {
                Ok(p) => Some(Arc::new(p)),
                Err(e) => {
                    tracing::info!(error = %e, "Not recording this camera's audio");
                    None
                }
            }
        }
        _ => None,
    };
    let mut gap_reason = Some(gap_reason);
    let mut video_clock: Option<Clock> = None;
    let mut audio_clock: Option<Clock> = None;
    let mut current: Option<Arc<VideoParams>> = None;
    let mut skip_to_keyframe = false;
    let mut streamed = false;
    let mut last_item = Instant::now();
    let mut batch_started = Instant::now();
    loop {
        let item = tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            item = tokio::time::timeout(src.stall_timeout, demuxed.next()) => item,
        };
        let item = match item {
            Err(_) => return Err(IngestError::Stalled(last_item.elapsed())),
            Ok(None) => return Err(IngestError::Ended),
            Ok(Some(Err(e))) => return Err(e.into()),
            Ok(Some(Ok(item))) => item,
        };
        last_item = Instant::now();
        match item {
            CodecItem::VideoFrame(f) if f.stream_id() == video_i => {
                let mut params = None;
                if f.has_new_parameters() || current.is_none() {
                    let Some(ParametersRef::Video(v)) = demuxed.streams()[video_i].parameters() else {
                        continue;
                    };
                    let entry =
                        v.mp4_sample_entry().build().map_err(|e| IngestError::Params(e.to_string()))?;
                    let (w, h) = v.pixel_dimensions();
                    let p = Arc::new(
                        VideoParams::from_sample_entry_box(
                            &entry,
                            v.rfc6381_codec().to_owned(),
                            w,
                            h,
                            90_000,
                        )
                        .map_err(IngestError::Params)?,
                    );
                    if current.is_none() {
                        let start = Input::SessionStart {
                            video: Arc::clone(&p),
                            audio: audio_params.clone(),
                            gap_reason: gap_reason.take().unwrap_or_default(),
                        };
                        tx.send(start).await.map_err(|_| IngestError::WriterGone)?;
                        tracing::info!(codec = %p.codec, width = w, height = h, audio = audio_params.is_some(), "Streaming");
                    }
                    current = Some(Arc::clone(&p));
                    params = Some(p);
                }
                let Some(codec) = current.as_ref().map(|p| p.kind) else { continue };
                if !streamed {
                    streamed = true;
                    online();
                }
                let pts = f.timestamp().elapsed();
                let wall = place(&mut video_clock, pts, 90_000, drift, &src.camera);
                let data = f.into_data();
                let keyframe = frames::is_random_access(codec, &data);
                if let Some(p) = &current {
                    live::offer(live, || LiveFrame::Video {
                        params: Arc::clone(p),
                        pts,
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
            CodecItem::AudioFrame(f)
                if Some(f.stream_id()) == audio_i && audio_params.is_some() && current.is_some() =>
            {
                let rate = audio_params.as_ref().map_or(1, |a| a.clock_rate);
                let pts = f.timestamp().elapsed();
                let wall = place(&mut audio_clock, pts, rate, drift, &src.camera);
                let frame = AudioFrame {
                    pts,
                    wall_ms: wall,
                    duration: f.frame_length().get(),
                    data: f.data().to_vec(),
                };
                if let Some(p) = &audio_params {
                    live::offer(live, || LiveFrame::Audio {
                        params: Arc::clone(p),
                        pts,
                        data: frame.data.clone(),
                    });
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
        let mut c = Clock::new(0, 90_000, 1000);
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
        let t0 = Instant::now();
        assert_eq!(log.note(t0), Some(1));
        for s in 1..60 {
            assert_eq!(log.note(t0 + Duration::from_secs(s)), None, "{s}");
        }
        assert_eq!(log.note(t0 + Duration::from_secs(60)), Some(60));
        assert_eq!(log.note(t0 + Duration::from_secs(200)), Some(1));
    }
}

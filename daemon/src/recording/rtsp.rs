//! The real camera behind [`Opener`]: RTSP with `retina`. Probes the camera's port with one
//! TCP connect, then `DESCRIBE`, `SETUP` (H.264/H.265 video, AAC audio when offered) and `PLAY`,
//! each bounded by the stall timeout; the session's frames come out as [`Item`]s, with the
//! stream's parameters as MP4 sample entries. Everything else (anchoring, batches, stalls, the
//! writer) is `ingest.rs`.

use std::sync::Arc;

use futures_util::StreamExt;
use retina::client::{
    Credentials, Demuxed, InitialSequenceNumberPolicy, PlayOptions, SessionOptions, SetupOptions, Transport,
};
use retina::codec::{CodecItem, FrameFormat, ParametersRef};

use super::frames::{AudioParams, VideoParams};
use super::ingest::{CameraSession, IngestError, Item, Opener, Source};
use super::reconnect::{self, ProbeError};
use crate::config::RtspTransport;

/// Opens RTSP sessions with retina.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rtsp;

impl Opener for Rtsp {
    type Session = RtspSession;

    async fn probe(&self, src: &Source) -> Result<(), ProbeError> {
        reconnect::probe(&src.url).await
    }

    async fn open(&self, src: &Source) -> Result<RtspSession, IngestError> {
        let creds = match (&src.username, &src.password) {
            (Some(u), p) => {
                Some(Credentials { username: u.clone(), password: p.clone().unwrap_or_default() })
            }
            (None, _) => None,
        };
        let options = SessionOptions::default()
            .creds(creds)
            .user_agent(format!("porchlight/{}", env!("CARGO_PKG_VERSION")));
        // Every RTSP exchange is bounded: a camera that stops answering halfway (accepts
        // DESCRIBE, never answers SETUP) must not hang the camera. (The caller cancels it.)
        let step = src.stall_timeout;
        let mut session =
            tokio::time::timeout(step, retina::client::Session::describe(src.url.clone(), options))
                .await
                .map_err(|_| IngestError::NoAnswer("DESCRIBE", step))??;
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
            tokio::time::timeout(step, session.setup(i, setup()))
                .await
                .map_err(|_| IngestError::NoAnswer("SETUP", step))??;
        }
        // A restreamer's shared media (go2rtc, MediaMTX, GStreamer) is already running when we
        // join: the sequence number in the PLAY answer need not match the first packet we get.
        let play = PlayOptions::default().initial_seq(InitialSequenceNumberPolicy::Ignore);
        let playing = tokio::time::timeout(step, session.play(play))
            .await
            .map_err(|_| IngestError::NoAnswer("PLAY", step))??;
        let demuxed = playing.demuxed()?;
        let audio = match audio_i.and_then(|i| demuxed.streams()[i].parameters()) {
            Some(ParametersRef::Audio(a)) => match audio_params(a) {
                Ok(p) => Some(Arc::new(p)),
                Err(e) => {
                    tracing::info!(error = %e, "Not recording this camera's audio");
                    None
                }
            },
            _ => None,
        };
        Ok(RtspSession { demuxed, video_i, audio_i, audio, has_params: false })
    }
}

/// The audio track's parameters; the error as logged (without the video's "bad codec
/// parameters" heading: the session goes on without audio).
fn audio_params(a: &retina::codec::AudioParameters) -> Result<AudioParams, Box<dyn std::error::Error>> {
    let entry = a.mp4_sample_entry().build()?;
    let codec = a.rfc6381_codec().unwrap_or("mp4a").to_owned();
    Ok(AudioParams::from_sample_entry_box(&entry, codec, a.clock_rate())?)
}

/// A playing RTSP session.
pub struct RtspSession {
    demuxed: Demuxed,
    video_i: usize,
    audio_i: Option<usize>,
    audio: Option<Arc<AudioParams>>,
    /// Whether the video's parameters went out with a frame yet.
    has_params: bool,
}

impl std::fmt::Debug for RtspSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtspSession")
            .field("video_i", &self.video_i)
            .field("audio_i", &self.audio_i)
            .field("has_params", &self.has_params)
            .finish_non_exhaustive()
    }
}

impl RtspSession {
    /// The video's parameters as they are now; `None` while the camera has given none.
    fn video_params(&self) -> Option<Result<Arc<VideoParams>, IngestError>> {
        let Some(ParametersRef::Video(v)) = self.demuxed.streams()[self.video_i].parameters() else {
            return None;
        };
        let built = v.mp4_sample_entry().build().map_err(|source| IngestError::SampleEntry { source });
        Some(built.and_then(|entry| {
            let (w, h) = v.pixel_dimensions();
            let p = VideoParams::from_sample_entry_box(&entry, v.rfc6381_codec().to_owned(), w, h, 90_000)?;
            Ok(Arc::new(p))
        }))
    }
}

impl CameraSession for RtspSession {
    fn audio(&self) -> Option<Arc<AudioParams>> {
        self.audio.clone()
    }

    async fn next(&mut self) -> Option<Result<Item, IngestError>> {
        let item = match self.demuxed.next().await? {
            Ok(item) => item,
            Err(e) => return Some(Err(e.into())),
        };
        let item = match item {
            CodecItem::VideoFrame(f) if f.stream_id() == self.video_i => {
                let mut params = None;
                if f.has_new_parameters() || !self.has_params {
                    match self.video_params() {
                        None => return Some(Ok(Item::Other)),
                        Some(Err(e)) => return Some(Err(e)),
                        Some(Ok(p)) => params = Some(p),
                    }
                    self.has_params = true;
                }
                Item::Video { params, pts: f.timestamp().elapsed(), data: f.into_data() }
            }
            CodecItem::AudioFrame(f) if Some(f.stream_id()) == self.audio_i && self.audio.is_some() => {
                Item::Audio {
                    pts: f.timestamp().elapsed(),
                    duration: f.frame_length().get(),
                    data: f.data().to_vec(),
                }
            }
            _ => Item::Other,
        };
        Some(Ok(item))
    }
}

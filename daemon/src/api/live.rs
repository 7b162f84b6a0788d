//! `GET /api/cameras/{name}/live`: a camera live, for the web app's `<video>` through Media
//! Source Extensions: a fragmented MP4 stream (`recording/fmp4.rs`) of the frames the hub's own
//! session with the camera delivers (never a second connection to the camera), from the current
//! group of pictures on, one fragment per frame. A viewer that cannot keep up loses frames up to
//! the next keyframe; it never holds more than the live tap's ring, and never slows recording.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

use super::{ApiState, error};
use crate::recording::fmp4::{Fragmenter, Sample};
use crate::recording::frames::VideoParams;
use crate::recording::live::LiveFrame;
use crate::recording::states::CameraState;

/// How long a request waits for the camera's first keyframe when the hub holds none.
const FIRST_KEYFRAME: Duration = Duration::from_secs(10);
/// A stream that gets no frame for this long ends (the camera went offline); the page says
/// so and asks again.
const IDLE: Duration = Duration::from_secs(5);
/// The frame interval assumed before two frames have been seen (30 fps).
const FIRST_INTERVAL: u32 = 3000;

/// Why a camera cannot be watched now.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    message: String,
    state: Option<CameraState>,
}

impl Refusal {
    fn response(&self) -> Response {
        let body = serde_json::json!({ "error": self.message, "state": self.state });
        (self.status, axum::Json(body)).into_response()
    }
}

/// A camera's live stream, opened: what the player needs first, then the fragments.
struct Opened {
    mime: String,
    /// The wall time of decode time 0 (RFC 3339, milliseconds).
    origin: String,
    width: u32,
    height: u32,
    audio: bool,
    init: Bytes,
    stream: Stream,
}

/// `GET /api/cameras/{name}/live`: one camera, as a plain fMP4 stream (any fMP4 reader plays it).
pub async fn live(State(st): State<ApiState>, Path(name): Path<String>) -> Response {
    let o = match open(&st, &name, st.cancel.clone()).await {
        Ok(o) => o,
        Err(r) => return r.response(),
    };
    tracing::debug!(camera = %name, "Live view started");
    let frames = futures_util::stream::unfold(o.stream, |mut s| async move {
        let bytes = s.next().await?;
        Some((Ok::<_, std::convert::Infallible>(Bytes::from(bytes)), s))
    });
    let init = o.init;
    let body = futures_util::StreamExt::chain(futures_util::stream::once(async { Ok(init) }), frames);
    (
        [
            (header::CONTENT_TYPE, "video/mp4".to_owned()),
            (header::HeaderName::from_static("x-porchlight-codec"), o.mime),
            (header::HeaderName::from_static("x-porchlight-origin"), o.origin),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

/// Opens `name`'s live feed from its current group of pictures.
async fn open(st: &ApiState, name: &str, cancel: CancellationToken) -> Result<Opened, Refusal> {
    let settings = st.settings.borrow().clone();
    let Some(view) = st.cameras.view(&settings).into_iter().find(|c| c.name == name) else {
        return Err(Refusal {
            status: StatusCode::NOT_FOUND,
            message: format!("no camera named {name:?}"),
            state: None,
        });
    };
    if view.state != CameraState::Recording {
        let why = match view.state {
            CameraState::Off => "its recording is off or paused, so the hub does not receive its picture",
            CameraState::Disabled => "it is disabled in the config",
            CameraState::Standby => {
                "its stream is opened only when it reports an event (record = \"on_event\")"
            }
            CameraState::NotRecording => {
                "the recording index could not be opened, so the hub does not stream it"
            }
            _ => "the hub is not receiving its stream now",
        };
        return Err(Refusal {
            status: StatusCode::CONFLICT,
            message: format!("camera {name:?} is {}: {why}", view.state),
            state: Some(view.state),
        });
    }
    let watch = st.cameras.live().watch(name);
    let mut pending: VecDeque<_> = watch.gop.into();
    let mut rx = watch.rx;
    if pending.is_empty() {
        let got = tokio::select! {
            () = cancel.cancelled() => None,
            got = tokio::time::timeout(FIRST_KEYFRAME, first_keyframe(&mut rx)) => got.ok().flatten(),
        };
        let Some(k) = got else {
            return Err(Refusal {
                status: StatusCode::GATEWAY_TIMEOUT,
                message: format!("camera {name:?} sent no keyframe within {} s", FIRST_KEYFRAME.as_secs()),
                state: Some(view.state),
            });
        };
        pending.push_back(k);
    }
    let first = pending.front().map(Arc::clone);
    let Some(LiveFrame::Video { params, pts, at, audio, .. }) = first.as_deref() else {
        return Err(Refusal {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!("camera {name:?}: the live feed does not start with video"),
            state: None,
        });
    };
    let fragmenter = Fragmenter::new(params, audio.as_deref()).map_err(|e| Refusal {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message: format!("camera {name:?}: {e}"),
        state: None,
    })?;
    Ok(Opened {
        mime: fragmenter.mime().to_owned(),
        origin: at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        width: params.width,
        height: params.height,
        audio: audio.is_some(),
        init: Bytes::copy_from_slice(fragmenter.init()),
        stream: Stream {
            params: Arc::clone(params),
            fragmenter,
            pending,
            rx,
            skip_to_keyframe: false,
            base_pts: *pts,
            audio_base: audio.as_ref().map(|a| pts.saturating_mul(i64::from(a.clock_rate)) / 90_000),
            last_pts: None,
            interval: FIRST_INTERVAL,
            cancel,
        },
    })
}

/// The most cameras one multiplexed stream carries.
const MAX_CAMERAS: usize = 32;
/// How often a camera that cannot be watched is tried again.
const RETRY: Duration = Duration::from_secs(2);

/// Message kinds of the multiplexed stream (`docs/ref/api.md`, Live view).
const MSG_START: u8 = 0;
const MSG_MEDIA: u8 = 1;
const MSG_STATUS: u8 = 2;

fn message(kind: u8, camera: u8, payload: &[u8]) -> Bytes {
    let mut b = Vec::with_capacity(6 + payload.len());
    b.push(kind);
    b.push(camera);
    b.extend_from_slice(&u32::try_from(payload.len()).unwrap_or(u32::MAX).to_be_bytes());
    b.extend_from_slice(payload);
    Bytes::from(b)
}

/// `GET /api/live?camera=A&camera=B…`: several cameras in one response, so that a grid of
/// cameras takes one of the browser's few connections to the hub. Each message is a kind
/// byte, the camera's position in the query, a 32-bit length and the payload: `start` (JSON:
/// codec, origin, size), `media` (that camera's fMP4 bytes, from its init segment on) or
/// `status` (JSON: why the camera cannot be watched now). A camera that goes offline gets a
/// `status`, and a new `start` when it comes back.
pub async fn many(State(st): State<ApiState>, uri: axum::http::Uri) -> Response {
    let cameras: Vec<String> = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .filter(|(k, _)| k == "camera")
        .map(|(_, v)| v.into_owned())
        .collect();
    if cameras.is_empty() || cameras.len() > MAX_CAMERAS {
        return error(
            StatusCode::BAD_REQUEST,
            &format!("name 1 to {MAX_CAMERAS} cameras, as ?camera=NAME&camera=…"),
        );
    }
    let settings = st.settings.borrow().clone();
    if let Some(unknown) = cameras.iter().find(|c| settings.camera(c).is_none()) {
        return error(StatusCode::NOT_FOUND, &format!("no camera named {unknown:?}"));
    }
    // Ends every camera's task when the response ends (the viewer left) or at shutdown.
    let cancel = st.cancel.child_token();
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    for (i, camera) in cameras.into_iter().enumerate() {
        let (st, tx, cancel) = (st.clone(), tx.clone(), cancel.clone());
        let index = u8::try_from(i).unwrap_or(u8::MAX);
        tokio::spawn(async move { watch_camera(st, camera, index, tx, cancel).await });
    }
    let guard = cancel.drop_guard();
    let body = futures_util::stream::unfold((rx, guard), |(mut rx, guard)| async move {
        let b = rx.recv().await?;
        Some((Ok::<_, std::convert::Infallible>(b), (rx, guard)))
    });
    ([(header::CONTENT_TYPE, "application/octet-stream")], Body::from_stream(body)).into_response()
}

/// One camera of a multiplexed stream, until the viewer leaves.
async fn watch_camera(
    st: ApiState,
    camera: String,
    index: u8,
    tx: tokio::sync::mpsc::Sender<Bytes>,
    cancel: CancellationToken,
) {
    let mut told: Option<String> = None;
    while !cancel.is_cancelled() {
        match open(&st, &camera, cancel.clone()).await {
            Ok(mut o) => {
                let start = serde_json::json!({
                    "camera": camera, "codec": o.mime, "origin": o.origin,
                    "width": o.width, "height": o.height, "audio": o.audio,
                });
                if tx.send(message(MSG_START, index, start.to_string().as_bytes())).await.is_err()
                    || tx.send(message(MSG_MEDIA, index, &o.init)).await.is_err()
                {
                    return;
                }
                while let Some(b) = o.stream.next().await {
                    if tx.send(message(MSG_MEDIA, index, &b)).await.is_err() {
                        return;
                    }
                }
                told = None;
            }
            Err(r) if told.as_deref() != Some(r.message.as_str()) => {
                // The camera's latest picture, if the hub has seen one (a still can show it).
                let still_at = st.cameras.live().latest_keyframe(&camera).map(|k| k.at.to_string());
                let status = serde_json::json!({
                    "camera": camera, "error": r.message, "state": r.state, "still_at": still_at,
                });
                if tx.send(message(MSG_STATUS, index, status.to_string().as_bytes())).await.is_err() {
                    return;
                }
                told = Some(r.message);
            }
            Err(_) => {}
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(RETRY) => {}
        }
    }
}

/// Waits for a video keyframe on the live feed; `None` if the feed closed.
async fn first_keyframe(rx: &mut broadcast::Receiver<Arc<LiveFrame>>) -> Option<Arc<LiveFrame>> {
    loop {
        match rx.recv().await {
            Ok(f) if matches!(&*f, LiveFrame::Video { keyframe: true, .. }) => return Some(f),
            Ok(_) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return None,
        }
    }
}

/// One viewer's stream: the group of pictures first, then the live feed.
struct Stream {
    params: Arc<VideoParams>,
    fragmenter: Fragmenter,
    pending: VecDeque<Arc<LiveFrame>>,
    rx: broadcast::Receiver<Arc<LiveFrame>>,
    skip_to_keyframe: bool,
    /// The first frame's pts: decode time 0.
    base_pts: i64,
    /// The same moment in the audio clock's ticks, when the stream has audio.
    audio_base: Option<i64>,
    last_pts: Option<i64>,
    /// The last frame interval, in 90 kHz ticks: each frame's duration until the next comes
    /// (the next fragment's decode time places it exactly, so nothing drifts).
    interval: u32,
    cancel: CancellationToken,
}

impl Stream {
    /// The next fragment; `None` ends the stream (camera gone quiet, new codec parameters,
    /// shutdown).
    async fn next(&mut self) -> Option<Vec<u8>> {
        loop {
            let frame = match self.pending.pop_front() {
                Some(f) => f,
                None => {
                    let got = tokio::select! {
                        () = self.cancel.cancelled() => return None,
                        got = tokio::time::timeout(IDLE, self.rx.recv()) => got,
                    };
                    match got {
                        Err(_) | Ok(Err(RecvError::Closed)) => return None,
                        Ok(Err(RecvError::Lagged(_))) => {
                            // Too slow a viewer: on from the next keyframe.
                            self.skip_to_keyframe = true;
                            continue;
                        }
                        Ok(Ok(f)) => f,
                    }
                }
            };
            match &*frame {
                LiveFrame::Video { params, pts, keyframe, data, .. } => {
                    if !Arc::ptr_eq(params, &self.params) && **params != *self.params {
                        // The camera changed its stream (size, codec): the page starts anew.
                        return None;
                    }
                    if self.skip_to_keyframe && !keyframe {
                        continue;
                    }
                    self.skip_to_keyframe = false;
                    if let Some(last) = self.last_pts {
                        let step = pts.saturating_sub(last);
                        if step > 0 {
                            self.interval = u32::try_from(step).unwrap_or(u32::MAX);
                        }
                    }
                    self.last_pts = Some(*pts);
                    let Ok(decode_time) = u64::try_from(pts.saturating_sub(self.base_pts)) else { continue };
                    let sample = Sample { decode_time, duration: self.interval, keyframe: *keyframe, data };
                    return self.fragmenter.fragment(&[sample], &[]).ok();
                }
                LiveFrame::Audio { pts, data, .. } => {
                    let Some(base) = self.audio_base else { continue };
                    if self.skip_to_keyframe || self.last_pts.is_none() {
                        continue;
                    }
                    let Ok(decode_time) = u64::try_from(pts.saturating_sub(base)) else { continue };
                    let sample = Sample { decode_time, duration: 1024, keyframe: true, data };
                    return self.fragmenter.fragment(&[], &[sample]).ok();
                }
            }
        }
    }
}

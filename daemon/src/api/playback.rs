//! `GET /api/cameras/{name}/play?from=<time>[&to=<time>][&audio=false]`: a camera's recordings
//! as one streamed fragmented MP4 for a browser's Media Source (or any fMP4 reader), built by
//! `recording::playback` from the segment files and `recording::fmp4` without re-encoding.
//! Media time 0 is the first keyframe's wall time, sent as `X-Porchlight-Origin`; gaps in the
//! recording are gaps in media time.
//!
//! The body is a stream that reads the next fragment from disk (on a blocking thread) only when
//! hyper asks for it, so a client that stops reading stops the reading, and nothing waits on a
//! thread meanwhile. The stream ends at `to`, after `recording::playback::MAX_SPAN_MS`, at the
//! live edge, when the recording's codec string changes (the client asks again from there), or
//! at shutdown.

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use futures_util::StreamExt;

use super::recordings::{TimeParamError, time_param};
use super::{ApiState, error};
use crate::recording::fmp4::{Fmp4Error, Fragmenter, Sample};
use crate::recording::playback::{Batch, PlayError, PlaySample, Player, Tracks};
use crate::recording::{fmt_ms, index::Index};

/// What a stream step failed on.
#[derive(Debug, thiserror::Error)]
enum StepError {
    #[error(transparent)]
    Play(#[from] PlayError),
    #[error(transparent)]
    Fmp4(#[from] Fmp4Error),
}

/// One playback's state between body chunks.
#[derive(Debug)]
struct Stream {
    player: Player,
    fragmenter: Fragmenter,
    camera: String,
}

/// A batch as fMP4 bytes: a fresh init segment first if its tracks changed (with the same
/// codecs), or `None` when they changed codecs (the stream ends).
fn encode(fragmenter: &mut Fragmenter, batch: &Batch) -> Result<Option<Vec<u8>>, StepError> {
    let mut out = Vec::new();
    if let Some(Tracks { video, audio }) = &batch.tracks {
        let fresh = Fragmenter::new(video, audio.as_deref())?;
        if fresh.mime() != fragmenter.mime() {
            return Ok(None);
        }
        out.extend_from_slice(fresh.init());
        *fragmenter = fresh;
    }
    out.extend(fragmenter.fragment(&as_samples(&batch.video), &as_samples(&batch.audio))?);
    Ok(Some(out))
}

fn as_samples(list: &[PlaySample]) -> Vec<Sample<'_>> {
    list.iter()
        .map(|s| Sample {
            decode_time: s.decode_time,
            duration: s.duration,
            keyframe: s.keyframe,
            data: &s.data,
        })
        .collect()
}

/// Opens the playback and builds its first bytes (init segment and first fragment), so that
/// errors before any media are answered with a status.
fn start(
    index: &Index,
    camera: &str,
    from_ms: i64,
    to_ms: Option<i64>,
    audio: bool,
) -> Result<(Stream, Vec<u8>), StepError> {
    let mut player = Player::open(index, camera, from_ms, to_ms, audio)?;
    let Some(first) = player.next_batch()? else {
        return Err(PlayError::Nothing {
            camera: camera.to_owned(),
            from: fmt_ms(from_ms),
            to: fmt_ms(player.end_ms()),
        }
        .into());
    };
    let Some(Tracks { video, audio }) = &first.tracks else {
        return Err(PlayError::Segment {
            path: camera.to_owned(),
            message: "first batch without tracks".into(),
        }
        .into());
    };
    let mut fragmenter = Fragmenter::new(video, audio.as_deref())?;
    let mut bytes = fragmenter.init().to_vec();
    let first = Batch { tracks: None, ..first };
    if let Some(frag) = encode(&mut fragmenter, &first)? {
        bytes.extend(frag);
    }
    Ok((Stream { player, fragmenter, camera: camera.to_owned() }, bytes))
}

/// The next chunk of the body, or `None` at the end.
fn step(s: &mut Stream) -> Result<Option<Vec<u8>>, StepError> {
    let Some(batch) = s.player.next_batch()? else { return Ok(None) };
    encode(&mut s.fragmenter, &batch)
}

pub async fn play(
    State(st): State<ApiState>,
    Path(camera): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(index) = st.index.clone() else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "the recording index is not available");
    };
    let from_ms = match time_param(&q, "from", None) {
        Ok(t) => t,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let to_ms = match time_param(&q, "to", None) {
        Ok(t) => Some(t),
        Err(TimeParamError::Missing { .. }) => None,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let audio = match q.get("audio").map(String::as_str) {
        None | Some("true" | "1") => true,
        Some("false" | "0") => false,
        Some(other) => {
            return error(StatusCode::BAD_REQUEST, &format!("`audio` must be true or false, not {other:?}"));
        }
    };
    let configured = st.settings.borrow().camera(&camera).is_some();
    let cam = camera.clone();
    let opened = tokio::task::spawn_blocking(move || {
        if !configured && !index.knows_camera(&cam).map_err(PlayError::from)? {
            return Ok(None);
        }
        start(&index, &cam, from_ms, to_ms, audio).map(Some)
    })
    .await;
    let (stream, first) = match opened {
        Ok(Ok(Some(x))) => x,
        Ok(Ok(None)) => return error(StatusCode::NOT_FOUND, &format!("no camera named {camera:?}")),
        Ok(Err(e)) => return error(status_of(&e), &e.to_string()),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let origin = fmt_ms(stream.player.origin_ms());
    let end = fmt_ms(stream.player.end_ms());
    let mime = stream.fragmenter.mime().to_owned();

    // Each poll reads and builds one fragment on a blocking thread; nothing is read ahead of
    // what hyper has sent, so a client that does not read pauses this.
    let rest = futures_util::stream::unfold(Some(stream), |state| async move {
        let mut s = state?;
        let done = tokio::task::spawn_blocking(move || {
            let r = step(&mut s);
            (s, r)
        })
        .await;
        match done {
            Ok((s, Ok(Some(bytes)))) => Some((Ok::<_, std::io::Error>(Bytes::from(bytes)), Some(s))),
            Ok((_, Ok(None))) => None,
            Ok((s, Err(e))) => {
                tracing::warn!(camera = %s.camera, "Playback stopped: {e}");
                Some((Err(std::io::Error::other(e.to_string())), None))
            }
            Err(e) => Some((Err(std::io::Error::other(e.to_string())), None)),
        }
    });
    let body = futures_util::stream::once(async move { Ok(Bytes::from(first)) })
        .chain(rest)
        .take_until(st.cancel.clone().cancelled_owned());
    let mut resp = Response::new(Body::from_stream(body));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    for (name, value) in
        [("x-porchlight-origin", origin), ("x-porchlight-end", end), ("x-porchlight-codec", mime)]
    {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    resp
}

/// The answer to a playback that cannot start; a `match` without a catch-all, so a new error
/// must be given its status.
fn status_of(e: &StepError) -> StatusCode {
    match e {
        StepError::Play(PlayError::Nothing { .. }) => StatusCode::NOT_FOUND,
        StepError::Play(PlayError::BadInterval { .. }) => StatusCode::BAD_REQUEST,
        StepError::Play(PlayError::Index(_) | PlayError::Read(_) | PlayError::Segment { .. })
        | StepError::Fmp4(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

//! Live feeds: each camera's ingest offers its frames, as they arrive and untouched, to whoever
//! watches the camera live (the web app's live view, the restream server, a relay push) and
//! keeps the frames since the latest keyframe (the current group of pictures), so that a new
//! watcher starts with a whole picture at once instead of waiting for the camera's next
//! keyframe, and the latest keyframe is there for a still image. A watcher that falls behind
//! loses frames (it is told how many) rather than slowing the recording down.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::broadcast;

use super::frames::{AudioParams, VideoParams};

/// Frames a watcher may fall behind by before it loses some (about 8 s of 30 fps video with
/// audio).
const CAPACITY: usize = 512;

/// The most frames and bytes kept of one group of pictures. A camera whose keyframes are
/// further apart (or whose frames are bigger) has no group kept until its next keyframe: a
/// new watcher then waits for that keyframe.
const GOP_FRAMES: usize = 600;
const GOP_BYTES: usize = 16 << 20;

/// One frame of a camera's stream, as the camera sent it.
#[derive(Debug)]
pub enum LiveFrame {
    Video {
        params: Arc<VideoParams>,
        /// In 90 kHz ticks since the camera's session began.
        pts: i64,
        /// The hub's wall clock for this frame, as the recording anchors it.
        at: jiff::Timestamp,
        keyframe: bool,
        /// NAL units, each behind a big-endian length (the `avcC`/`hvcC` length size).
        data: Vec<u8>,
        /// The session's audio track, if it has one: known from the session's description,
        /// so a watcher starting at this frame knows before any audio frame comes.
        audio: Option<Arc<AudioParams>>,
    },
    Audio {
        params: Arc<AudioParams>,
        /// In ticks of the audio clock rate since the camera's session began.
        pts: i64,
        /// One AAC access unit.
        data: Vec<u8>,
    },
}

impl LiveFrame {
    fn len(&self) -> usize {
        match self {
            Self::Video { data, .. } | Self::Audio { data, .. } => data.len(),
        }
    }
}

/// A camera's latest video keyframe.
#[derive(Debug, Clone)]
pub struct Keyframe {
    pub params: Arc<VideoParams>,
    /// A [`LiveFrame::Video`] with `keyframe: true`.
    pub data: Arc<LiveFrame>,
    /// When it arrived (the hub's wall clock).
    pub at: jiff::Timestamp,
}

/// A new watcher's start: the current group of pictures (from a keyframe; empty while there
/// is none), then every later frame on `rx`, with no frame missed or repeated between them.
/// On [`broadcast::error::RecvError::Lagged`] the watcher must drop frames until the next
/// video keyframe.
#[derive(Debug)]
pub struct Watch {
    pub gop: Vec<Arc<LiveFrame>>,
    pub rx: broadcast::Receiver<Arc<LiveFrame>>,
}

#[derive(Debug, Default)]
struct Gop {
    frames: Vec<Arc<LiveFrame>>,
    bytes: usize,
    keyframe: Option<Keyframe>,
}

#[derive(Debug)]
struct Inner {
    tx: broadcast::Sender<Arc<LiveFrame>>,
    /// Sending happens under this lock too, so that [`LiveTap::watch`] sees each frame either
    /// in the group or on the channel.
    gop: Mutex<Gop>,
}

/// One camera's feed. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LiveTap {
    inner: Arc<Inner>,
}

impl LiveTap {
    fn new() -> Self {
        Self {
            inner: Arc::new(Inner { tx: broadcast::channel(CAPACITY).0, gop: Mutex::new(Gop::default()) }),
        }
    }

    fn gop(&self) -> std::sync::MutexGuard<'_, Gop> {
        self.inner.gop.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Offers a frame: kept in the current group of pictures and sent to the watchers.
    pub fn offer(&self, frame: LiveFrame) {
        let frame = Arc::new(frame);
        let mut gop = self.gop();
        match &*frame {
            LiveFrame::Video { keyframe: true, params, at, .. } => {
                gop.frames.clear();
                gop.bytes = 0;
                gop.keyframe =
                    Some(Keyframe { params: Arc::clone(params), data: Arc::clone(&frame), at: *at });
                gop.frames.push(Arc::clone(&frame));
                gop.bytes = frame.len();
            }
            _ if gop.frames.is_empty() => {}
            _ if gop.frames.len() >= GOP_FRAMES || gop.bytes + frame.len() > GOP_BYTES => {
                // Too long a group to keep: none until the next keyframe.
                gop.frames = Vec::new();
                gop.bytes = 0;
            }
            _ => {
                gop.bytes += frame.len();
                gop.frames.push(Arc::clone(&frame));
            }
        }
        if self.inner.tx.receiver_count() > 0 {
            // An error only means the last watcher left meanwhile.
            let _ = self.inner.tx.send(frame);
        }
    }

    /// The camera's session ended: the group of pictures is no longer live. The latest
    /// keyframe stays (a still of how the camera last looked, with its time).
    pub fn session_ended(&self) {
        let mut gop = self.gop();
        gop.frames = Vec::new();
        gop.bytes = 0;
    }

    /// Watches from the current group of pictures on.
    pub fn watch(&self) -> Watch {
        let gop = self.gop();
        Watch { gop: gop.frames.clone(), rx: self.inner.tx.subscribe() }
    }

    pub fn latest_keyframe(&self) -> Option<Keyframe> {
        self.gop().keyframe.clone()
    }

    /// How many watch the camera now.
    #[cfg(test)]
    fn watchers(&self) -> usize {
        self.inner.tx.receiver_count()
    }
}

/// Every camera's live feed, by camera name. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct LiveTaps {
    inner: Arc<Mutex<HashMap<String, LiveTap>>>,
}

impl LiveTaps {
    /// `camera`'s feed (ingest offers to it).
    pub fn tap(&self, camera: &str) -> LiveTap {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(camera.to_owned())
            .or_insert_with(LiveTap::new)
            .clone()
    }

    /// Watches `camera` from now on. Frames come only while the camera is being streamed
    /// (it is enabled, recording is not off or paused, and it is online).
    pub fn subscribe(&self, camera: &str) -> broadcast::Receiver<Arc<LiveFrame>> {
        self.tap(camera).inner.tx.subscribe()
    }

    /// Watches `camera` from its current group of pictures on ([`Watch`]).
    pub fn watch(&self, camera: &str) -> Watch {
        self.tap(camera).watch()
    }

    /// `camera`'s latest video keyframe, also after its session ended; `None` before the
    /// first.
    pub fn latest_keyframe(&self, camera: &str) -> Option<Keyframe> {
        self.tap(camera).latest_keyframe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn params() -> Arc<VideoParams> {
        crate::recording::writer::tests::params(320, 240)
    }

    fn video(n: i64, keyframe: bool, len: usize) -> LiveFrame {
        LiveFrame::Video {
            params: params(),
            pts: n,
            at: jiff::Timestamp::from_millisecond(n).unwrap_or(jiff::Timestamp::UNIX_EPOCH),
            keyframe,
            data: vec![0; len],
            audio: None,
        }
    }

    fn pts(f: &LiveFrame) -> i64 {
        match f {
            LiveFrame::Video { pts, .. } | LiveFrame::Audio { pts, .. } => *pts,
        }
    }

    #[test]
    fn a_new_watcher_gets_the_group_since_the_latest_keyframe_then_the_rest() {
        let tap = LiveTap::new();
        tap.offer(video(1, false, 10)); // before any keyframe: not kept
        tap.offer(video(2, true, 10));
        tap.offer(video(3, false, 10));
        tap.offer(video(4, true, 10));
        tap.offer(video(5, false, 10));
        let mut w = tap.watch();
        assert_eq!(w.gop.iter().map(|f| pts(f)).collect::<Vec<_>>(), vec![4, 5]);
        tap.offer(video(6, false, 10));
        assert_eq!(pts(&w.rx.try_recv().expect("the next frame")), 6);
        assert!(w.rx.try_recv().is_err());
        let k = tap.latest_keyframe().expect("a keyframe");
        assert_eq!(pts(&k.data), 4);
        assert_eq!(k.at.as_millisecond(), 4);
    }

    #[test]
    fn a_group_too_long_to_keep_is_dropped_until_the_next_keyframe() {
        let tap = LiveTap::new();
        tap.offer(video(0, true, 10));
        for n in 1..GOP_FRAMES as i64 + 5 {
            tap.offer(video(n, false, 10));
        }
        assert!(tap.watch().gop.is_empty());
        tap.offer(video(10_000, true, 10));
        assert_eq!(tap.watch().gop.len(), 1);
        tap.offer(video(10_001, false, GOP_BYTES));
        assert!(tap.watch().gop.is_empty(), "over the byte bound");
    }

    #[test]
    fn an_ended_session_leaves_no_group_but_keeps_the_keyframe() {
        let tap = LiveTap::new();
        tap.offer(video(7, true, 10));
        tap.session_ended();
        assert!(tap.watch().gop.is_empty());
        assert!(tap.latest_keyframe().is_some());
    }

    #[test]
    fn frames_are_sent_only_while_someone_watches_and_a_slow_watcher_lags() {
        let tap = LiveTap::new();
        tap.offer(video(0, true, 1));
        let mut w = tap.watch();
        assert_eq!(tap.watchers(), 1);
        for n in 1..=CAPACITY as i64 + 3 {
            tap.offer(video(n, n % 50 == 0, 1));
        }
        assert!(matches!(w.rx.try_recv(), Err(broadcast::error::TryRecvError::Lagged(_))));
        drop(w);
        assert_eq!(tap.watchers(), 0);
    }
}

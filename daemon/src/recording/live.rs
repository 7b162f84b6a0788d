//! Live feeds: each camera's ingest offers its frames, as they arrive and untouched, to whoever
//! watches the camera live (a relay push, `relay/live.rs`). Nothing is copied while nobody
//! watches. A watcher that falls behind loses frames (it is told how many) rather than slowing
//! the recording down.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::broadcast;

use super::frames::{AudioParams, VideoParams};

/// Frames a watcher may fall behind by before it loses some (about 8 s of 30 fps video with
/// audio).
const CAPACITY: usize = 512;

/// One frame of a camera's stream, as the camera sent it.
#[derive(Debug)]
pub enum LiveFrame {
    Video {
        params: Arc<VideoParams>,
        /// In 90 kHz ticks since the camera's session began.
        pts: i64,
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

/// Every camera's live feed, by camera name. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct LiveTaps {
    inner: Arc<Mutex<HashMap<String, broadcast::Sender<Arc<LiveFrame>>>>>,
}

impl LiveTaps {
    /// The sending end of `camera`'s feed (ingest holds it).
    pub fn sender(&self, camera: &str) -> broadcast::Sender<Arc<LiveFrame>> {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(camera.to_owned())
            .or_insert_with(|| broadcast::channel(CAPACITY).0)
            .clone()
    }

    /// Watches `camera` from now on. Frames come only while the camera is being streamed
    /// (it is enabled, recording is not off or paused, and it is online).
    pub fn subscribe(&self, camera: &str) -> broadcast::Receiver<Arc<LiveFrame>> {
        self.sender(camera).subscribe()
    }
}

/// Offers a frame to `camera`'s watchers; builds it only when someone watches.
pub fn offer(tx: &broadcast::Sender<Arc<LiveFrame>>, frame: impl FnOnce() -> LiveFrame) {
    if tx.receiver_count() > 0 {
        // An error only means the last watcher left meanwhile.
        let _ = tx.send(Arc::new(frame()));
    }
}

//! One camera's recorder: turns the frames of successive RTSP sessions into segment files and
//! index rows. It decides where segments start (a random-access frame once the segment is long
//! enough, a parameter change, a timestamp jump), when fragments are flushed, what `record =
//! "events"` keeps (a bounded pre-roll, then until the post-roll after the last event), and what
//! happens when the disk is full (stop, report, retry). It runs on its own thread: everything
//! here is blocking file and SQLite I/O.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::frames::{AudioFrame, AudioParams, VideoFrame, VideoParams};
use super::index::{Index, NewSegment};
use super::segment::{SegmentError, SegmentFile};
use crate::bus::{Bus, EventKind};
use crate::config::RecordMode;
use crate::metrics::{Label, Metric, Metrics};

/// What the writer is told, in order.
#[derive(Debug)]
pub enum Input {
    /// A new RTSP session: its parameters and, for the index, why recording stopped before.
    SessionStart {
        video: Arc<VideoParams>,
        audio: Option<Arc<AudioParams>>,
        gap_reason: String,
    },
    Video(VideoFrame),
    Audio(AudioFrame),
    /// The session ended; finish the open segment.
    SessionEnd,
    /// Motion started (`true`) or ended at `wall_ms`.
    Motion {
        active: bool,
        wall_ms: i64,
    },
    /// A momentary event (doorbell press, manual trigger) at `wall_ms`.
    Trigger {
        wall_ms: i64,
    },
    /// Frames gathered by ingest over a short while (one wake-up of the writer thread for
    /// many frames).
    Batch(Vec<Input>),
}

#[derive(Debug, Clone)]
pub struct WriterSettings {
    pub camera: String,
    /// The recordings directory; files go to `<dir>/<camera>/<YYYY-MM-DD>/<start_ms>.mp4`.
    pub dir: PathBuf,
    pub mode: RecordMode,
    pub segment_duration: Duration,
    pub fragment_duration: Duration,
    pub pre_roll: Duration,
    pub post_roll: Duration,
    /// Upper bound on the pre-roll buffer's bytes.
    pub pre_roll_max_bytes: usize,
    /// After a write fails for lack of space, how long to wait before trying again.
    pub disk_retry: Duration,
}

/// A pause between two sessions longer than this is recorded as a gap (shorter ones are the
/// jitter of anchoring streams to the hub's clock).
const GAP_MIN_MS: i64 = 500;

/// Frames further apart than this are a discontinuity (camera clock reset, a jump).
const MAX_FRAME_GAP_SECS: i64 = 5;

/// When two frames' wall times are further apart than their timestamps by more than this,
/// ingest re-anchored the stream forward (it fell behind the hub's clock): the earlier frame
/// stands still for the difference, so the segment's timeline keeps to the hub's clock.
const REANCHOR_MIN_MS: i64 = 250;

#[derive(Debug)]
struct Session {
    video: Arc<VideoParams>,
    audio: Option<Arc<AudioParams>>,
    /// A gap to record before the next segment: where it started (`None`: the end of the
    /// camera's last segment in the index) and why.
    gap: Option<(Option<i64>, String)>,
    /// Whether the "B-frames" error was logged for this session.
    reorder_logged: bool,
    /// The last good frame-to-frame distance, used to close a segment after a jump.
    last_delta: u32,
}

#[derive(Debug)]
struct Open {
    file: SegmentFile,
    id: i64,
    start_ms: i64,
}

#[derive(Debug)]
enum Buffered {
    Video(VideoFrame, u32),
    Audio(AudioFrame),
}

#[derive(Debug)]
pub struct CameraWriter {
    settings: WriterSettings,
    index: Index,
    bus: Bus,
    metrics: Metrics,
    session: Option<Session>,
    /// The newest video frame, waiting for the next one to know its duration.
    held: Option<VideoFrame>,
    open: Option<Open>,
    pre_roll: VecDeque<Buffered>,
    pre_roll_bytes: usize,
    motion_active: bool,
    record_until_ms: i64,
    /// Whether "Pre-roll buffer full" was logged for this session.
    pre_roll_full_logged: bool,
    /// While set, the disk was full: no new segment before this wall time.
    disk_blocked_until: Option<i64>,
    /// Whether writes are failing (logged once until one succeeds).
    write_failing: bool,
    /// Whether this camera is listed as failing in the index's [`super::writes::WriteStatus`].
    reported_failing: bool,
    /// Wall time of the last video frame seen (recorded or not).
    last_seen_ms: Option<i64>,
}

impl CameraWriter {
    pub fn new(settings: WriterSettings, index: Index, bus: Bus, metrics: Metrics) -> Self {
        Self {
            settings,
            index,
            bus,
            metrics,
            session: None,
            held: None,
            open: None,
            pre_roll: VecDeque::new(),
            pre_roll_bytes: 0,
            motion_active: false,
            record_until_ms: i64::MIN,
            pre_roll_full_logged: false,
            disk_blocked_until: None,
            write_failing: false,
            reported_failing: false,
            last_seen_ms: None,
        }
    }

    pub fn handle(&mut self, input: Input) {
        match input {
            Input::SessionStart { video, audio, gap_reason } => {
                self.end_session("new session");
                // In events mode the last segment may have ended long before the camera went
                // away; the gap starts where the camera was last seen (when known).
                let from = match self.settings.mode {
                    RecordMode::Events => self.last_seen_ms,
                    _ => None,
                };
                let gap = (self.settings.mode != RecordMode::Events || from.is_some())
                    .then_some((from, gap_reason));
                self.session = Some(Session { video, audio, gap, reorder_logged: false, last_delta: 3000 });
            }
            Input::Video(f) => self.video(f),
            Input::Audio(a) => self.audio(a),
            Input::SessionEnd => {
                self.end_session("camera disconnected");
                // Nothing is being written for this camera now: it no longer keeps storage
                // degraded (it is listed again if a write fails when it is back).
                self.clear_failing();
            }
            Input::Motion { active, wall_ms } => {
                self.index_event(if active { "motion_start" } else { "motion_end" }, wall_ms);
                self.motion_active = active;
                self.extend(wall_ms);
            }
            Input::Trigger { wall_ms } => {
                self.index_event("trigger", wall_ms);
                self.extend(wall_ms);
            }
            Input::Batch(inputs) => {
                for i in inputs {
                    self.handle(i);
                }
            }
        }
    }

    /// Finishes whatever is open (shutdown).
    pub fn finish(&mut self) {
        self.end_session("recorder stopped");
        // A stopped recorder no longer fails (a removed camera must not keep storage degraded).
        self.clear_failing();
    }

    fn clear_failing(&mut self) {
        if self.reported_failing {
            self.reported_failing = false;
            self.index.writes().cleared(&self.settings.camera);
        }
    }

    fn index_event(&self, kind: &str, wall_ms: i64) {
        if let Err(e) = self.index.insert_event(&self.settings.camera, kind, wall_ms) {
            tracing::warn!(error = %e, "Cannot record the event in the index");
        }
    }

    /// An event at `wall_ms` keeps an events-mode camera recording until the post-roll passes;
    /// what the pre-roll buffer holds is written first.
    fn extend(&mut self, wall_ms: i64) {
        let until = wall_ms.saturating_add(millis(self.settings.post_roll));
        self.record_until_ms = self.record_until_ms.max(until);
        if self.settings.mode == RecordMode::Events {
            let buffered = std::mem::take(&mut self.pre_roll);
            self.pre_roll_bytes = 0;
            for b in buffered {
                match b {
                    Buffered::Video(f, d) => self.emit(f, d),
                    Buffered::Audio(a) => self.audio_now(a),
                }
            }
        }
    }

    fn recording_at(&self, wall_ms: i64) -> bool {
        match self.settings.mode {
            RecordMode::Continuous => true,
            RecordMode::Off => false,
            // `on_event` runs the writer as `events` (see `record`).
            RecordMode::Events | RecordMode::OnEvent => self.motion_active || wall_ms <= self.record_until_ms,
        }
    }

    fn video(&mut self, f: VideoFrame) {
        let Some(session) = self.session.as_mut() else { return };
        self.last_seen_ms = Some(f.wall_ms);
        if let Some(p) = &f.params
            && **p != *session.video
        {
            let last = session.last_delta;
            session.video = Arc::clone(p);
            tracing::info!(codec = %p.codec, width = p.width, height = p.height, "Stream parameters changed; starting a new segment");
            if let Some(h) = self.held.take() {
                self.emit(h, last);
            }
            self.close("parameters changed");
        }
        let Some(session) = self.session.as_mut() else { return };
        if let Some(h) = self.held.take() {
            let delta = f.pts - h.pts;
            let max = MAX_FRAME_GAP_SECS * i64::from(session.video.clock_rate);
            if delta <= 0 || delta > max {
                let last = session.last_delta;
                let clock = i64::from(session.video.clock_rate);
                if delta < 0 && -delta < clock && !f.keyframe {
                    // Frames out of presentation order inside a GOP: B-frames. RTP carries
                    // presentation times only, so decode times cannot be rebuilt reliably.
                    if !session.reorder_logged {
                        session.reorder_logged = true;
                        tracing::error!(
                            "The camera's stream has B-frames, which Porchlight cannot record without losing frames; turn B-frames off in the camera's encoder settings"
                        );
                    }
                } else {
                    tracing::warn!(
                        delta_ticks = delta,
                        "Video timestamps jumped; closing the segment and starting a new one at the next keyframe"
                    );
                }
                self.emit(h, last);
                self.close("timestamp jump");
            } else {
                let d = u32::try_from(delta).unwrap_or(u32::MAX);
                session.last_delta = d;
                // Ingest re-anchored the stream forward between the two frames: the held frame
                // covers the jump, in whole frame intervals, so that every frame stays on the
                // stream's own grid of times (`docs/design/recording.md` §3).
                let clock = i64::from(session.video.clock_rate);
                let wall_ticks = (f.wall_ms - h.wall_ms).saturating_mul(clock) / 1000;
                let duration = if wall_ticks - delta > REANCHOR_MIN_MS * clock / 1000 && wall_ticks <= max {
                    let frames = (wall_ticks + delta / 2) / delta;
                    u32::try_from(frames * delta).unwrap_or(d)
                } else {
                    d
                };
                // The audio, placed by its own sample durations, is held back by as much, so
                // the two stay in step (the sound has a silence where the picture holds).
                let audio_clock = session.audio.as_ref().map(|a| i64::from(a.clock_rate));
                if duration > d
                    && let Some(audio_clock) = audio_clock
                    && let Some(open) = self.open.as_mut()
                {
                    let extra = i64::from(duration - d) * audio_clock / clock.max(1);
                    open.file.stretch_audio(u32::try_from(extra).unwrap_or(u32::MAX));
                }
                self.emit(h, duration);
            }
        }
        self.held = Some(f);
    }

    /// Places one video frame whose duration is now known.
    fn emit(&mut self, f: VideoFrame, duration: u32) {
        if !self.recording_at(f.wall_ms) {
            if self.open.is_some() {
                self.close("post-roll over");
            }
            if self.settings.mode == RecordMode::Events {
                self.buffer(Buffered::Video(f, duration));
            }
            return;
        }
        let Some(session) = self.session.as_ref() else { return };
        let clock = u64::from(session.video.clock_rate.max(1));
        if let Some(open) = &self.open
            && f.keyframe
            && open.file.ticks() * 1000 / clock >= millis(self.settings.segment_duration) as u64
        {
            self.close("segment complete");
        }
        if self.open.is_none() {
            if !f.keyframe {
                let why = if self.disk_blocked_until.is_some() { "disk" } else { "waiting_for_keyframe" };
                self.drop_frames(1, why);
                return;
            }
            if let Some(until) = self.disk_blocked_until {
                if f.wall_ms < until {
                    self.drop_frames(1, "disk");
                    return;
                }
                self.disk_blocked_until = None;
                tracing::debug!("Trying to record again after a write failure");
            }
            self.start(f.wall_ms);
        }
        let Some(open) = self.open.as_mut() else {
            self.drop_frames(1, "disk");
            return;
        };
        open.file.push_video(duration, f.keyframe, f.data);
        let fragment = millis(self.settings.fragment_duration) as u64;
        let pending_ms = open.file.pending_video_ticks() * 1000 / clock;
        // The first fragment waits (a little) for audio, so the track list includes it.
        if pending_ms >= fragment && (!open.file.wants_audio_for_init() || pending_ms >= 3 * fragment) {
            self.flush();
        }
    }

    fn audio(&mut self, a: AudioFrame) {
        if self.session.as_ref().is_none_or(|s| s.audio.is_none()) {
            return;
        }
        if !self.recording_at(a.wall_ms) {
            // Pre-roll audio only after a buffered keyframe (a buffer always starts with one).
            if self.settings.mode == RecordMode::Events && !self.pre_roll.is_empty() {
                self.buffer(Buffered::Audio(a));
            }
            return;
        }
        self.audio_now(a);
    }

    fn audio_now(&mut self, a: AudioFrame) {
        if let Some(open) = self.open.as_mut()
            && !open.file.push_audio(a.duration, a.data)
        {
            self.metrics.inc(
                Metric::RecordingFramesDropped,
                &[(Label::Camera, &self.settings.camera), (Label::Reason, "no_audio_track")],
            );
        }
    }

    /// Keeps the pre-roll: whole GOPs covering at least `pre_roll`, within the byte bound.
    fn buffer(&mut self, b: Buffered) {
        if self.pre_roll.is_empty() && !matches!(&b, Buffered::Video(f, _) if f.keyframe) {
            return;
        }
        let (wall, bytes) = match &b {
            Buffered::Video(f, _) => (f.wall_ms, f.data.len()),
            Buffered::Audio(a) => (a.wall_ms, a.data.len()),
        };
        self.pre_roll.push_back(b);
        self.pre_roll_bytes += bytes;
        let keep = millis(self.settings.pre_roll);
        loop {
            // The second keyframe: dropping the first GOP leaves the buffer starting there.
            let second = self
                .pre_roll
                .iter()
                .enumerate()
                .skip(1)
                .find(|(_, b)| matches!(b, Buffered::Video(f, _) if f.keyframe))
                .map(|(i, b)| (i, if let Buffered::Video(f, _) = b { f.wall_ms } else { 0 }));
            let too_big = self.pre_roll_bytes > self.settings.pre_roll_max_bytes;
            match second {
                Some((i, second_wall)) if too_big || wall - second_wall >= keep => {
                    for b in self.pre_roll.drain(..i) {
                        self.pre_roll_bytes -= match b {
                            Buffered::Video(f, _) => f.data.len(),
                            Buffered::Audio(a) => a.data.len(),
                        };
                    }
                }
                None if too_big => {
                    // One GOP larger than the bound: keep nothing rather than grow.
                    self.pre_roll.clear();
                    self.pre_roll_bytes = 0;
                    self.drop_frames(1, "pre_roll_full");
                    break;
                }
                _ => break,
            }
        }
        if !self.pre_roll_full_logged
            && let Some(Buffered::Video(f, _)) = self.pre_roll.front()
            && wall - f.wall_ms >= keep
        {
            self.pre_roll_full_logged = true;
            tracing::debug!(pre_roll_ms = keep, "Pre-roll buffer full");
        }
    }

    fn drop_frames(&self, n: u64, reason: &str) {
        self.metrics.add(
            Metric::RecordingFramesDropped,
            &[(Label::Camera, &self.settings.camera), (Label::Reason, reason)],
            n,
        );
    }

    fn start(&mut self, start_ms: i64) {
        let Some(session) = self.session.as_mut() else { return };
        let camera = &self.settings.camera;
        if let Some((from, reason)) = session.gap.take() {
            let from = match from {
                Some(f) => Ok(Some(f)),
                None => self.index.last_end(camera),
            };
            match from {
                Ok(Some(last)) if start_ms - last > GAP_MIN_MS => {
                    if let Err(e) = self.index.insert_gap(camera, last, start_ms, &reason) {
                        tracing::warn!(error = %e, "Cannot record the gap in the index");
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "Cannot read the index"),
            }
        }
        let path = segment_path(&self.settings.dir, camera, start_ms);
        let video = Arc::clone(&session.video);
        let audio = session.audio.clone();
        let row = NewSegment {
            camera,
            start_ms,
            path: &path,
            codec: &video.codec,
            width: video.width,
            height: video.height,
            audio: audio.as_ref().map(|a| a.codec.as_str()),
        };
        // The row first: a crash between the two leaves a row without a file, which recovery
        // drops, rather than a file nobody knows about.
        let id = match self.index.insert_segment(&row) {
            Ok(id) => id,
            Err(e) => {
                tracing::error!(error = %e, "Cannot add a segment to the index; not recording");
                self.block_disk(start_ms, &e.to_string());
                return;
            }
        };
        match SegmentFile::create(&path, video, audio) {
            Ok(file) => {
                tracing::debug!(path = %path.display(), "Segment started");
                self.open = Some(Open { file, id, start_ms });
            }
            Err(e) => {
                let _ = self.index.delete_segment(id);
                self.write_failed(start_ms, &e);
            }
        }
    }

    fn flush(&mut self) {
        let Some(open) = self.open.as_mut() else { return };
        let before = open.file.durable_bytes();
        match open.file.flush() {
            Ok(()) => {
                if self.write_failing {
                    self.write_failing = false;
                    tracing::info!("Recording resumed after a write failure");
                }
                let wrote = open.file.durable_bytes() - before;
                let writes = self.index.writes();
                writes.wrote(std::time::Instant::now(), wrote);
                if self.reported_failing {
                    self.reported_failing = false;
                    writes.cleared(&self.settings.camera);
                }
                let end = open.start_ms + ticks_ms(open.file.durable_ticks(), open.file.video().clock_rate);
                if let Err(e) = self.index.update_segment(open.id, end, open.file.durable_bytes()) {
                    tracing::warn!(error = %e, "Cannot update the index");
                }
                self.metrics.add(Metric::RecordingBytes, &[(Label::Camera, &self.settings.camera)], wrote);
            }
            Err(e) => {
                // What did not reach the disk is dropped; the file keeps its durable part.
                let at = open.start_ms + ticks_ms(open.file.ticks(), open.file.video().clock_rate);
                if let Some(open) = self.open.take() {
                    self.finish_segment(open, "write failed");
                }
                self.write_failed(at, &e);
            }
        }
    }

    fn write_failed(&mut self, at_ms: i64, e: &SegmentError) {
        // Logged loudly once; the retries every `disk_retry` stay quiet until one succeeds.
        if self.write_failing {
            tracing::debug!(error = %e, "Still cannot write recording");
        } else if e.is_disk_full() {
            tracing::error!(error = %e, "Disk full: recording stopped until space is freed");
        } else {
            tracing::error!(error = %e, "Cannot write recording");
        }
        self.write_failing = true;
        self.block_disk(at_ms, &e.to_string());
    }

    fn block_disk(&mut self, at_ms: i64, message: &str) {
        self.disk_blocked_until = Some(at_ms + millis(self.settings.disk_retry));
        // Before the event: whoever sees it finds the camera listed as failing.
        self.index.writes().failed(&self.settings.camera, message);
        self.reported_failing = true;
        // The time until recording resumes is a gap, like a camera outage.
        if let Some(session) = self.session.as_mut()
            && session.gap.is_none()
        {
            session.gap = Some((Some(at_ms), format!("cannot write: {message}")));
        }
        self.bus.publish(
            Some(&self.settings.camera),
            EventKind::StoragePressure {
                free_bytes: super::free_bytes(&self.settings.dir),
                message: message.to_owned(),
            },
        );
    }

    /// Flushes and finishes the open segment; an empty one is removed.
    fn close(&mut self, why: &str) {
        if self.open.as_ref().is_some_and(|o| o.file.pending_video_ticks() > 0) {
            self.flush();
        }
        if let Some(open) = self.open.take() {
            self.finish_segment(open, why);
        }
    }

    /// Records a segment's durable part as finished (or removes it if nothing is durable).
    fn finish_segment(&mut self, open: Open, why: &str) {
        if !open.file.is_started() {
            let _ = std::fs::remove_file(open.file.path());
            let _ = self.index.delete_segment(open.id);
            return;
        }
        let end = open.start_ms + ticks_ms(open.file.durable_ticks(), open.file.video().clock_rate);
        let bytes = open.file.durable_bytes();
        if let Err(e) = self.index.close_segment(open.id, end, bytes, "closed") {
            tracing::warn!(error = %e, "Cannot close the segment in the index");
        }
        tracing::debug!(path = %open.file.path().display(), bytes, reason = why, "Segment closed");
        self.metrics.inc(Metric::RecordingSegments, &[(Label::Camera, &self.settings.camera)]);
        self.bus.publish(
            Some(&self.settings.camera),
            EventKind::SegmentClosed {
                path: open.file.path().display().to_string(),
                bytes,
                start: ts(open.start_ms),
                end: ts(end),
            },
        );
    }

    fn end_session(&mut self, why: &str) {
        if let Some(h) = self.held.take() {
            let last = self.session.as_ref().map_or(3000, |s| s.last_delta);
            self.emit(h, last);
        }
        self.close(why);
        self.session = None;
        self.pre_roll_full_logged = false;
        self.pre_roll.clear();
        self.pre_roll_bytes = 0;
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn ticks_ms(ticks: u64, clock_rate: u32) -> i64 {
    i64::try_from(ticks * 1000 / u64::from(clock_rate.max(1))).unwrap_or(i64::MAX)
}

fn ts(ms: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// `<dir>/<camera>/<YYYY-MM-DD>/<start_ms>.mp4` (UTC date), with a suffix if that name is taken
/// (a camera clock that went back in time).
pub fn segment_path(dir: &std::path::Path, camera: &str, start_ms: i64) -> PathBuf {
    let day = ts(start_ms).strftime("%Y-%m-%d").to_string();
    let base = dir.join(camera).join(day);
    let mut path = base.join(format!("{start_ms}.mp4"));
    let mut n = 1;
    while path.exists() {
        path = base.join(format!("{start_ms}-{n}.mp4"));
        n += 1;
    }
    path
}

/// The start time encoded in a segment file's name.
pub fn start_from_name(path: &std::path::Path) -> Option<i64> {
    let stem = path.file_stem()?.to_str()?;
    stem.split('-').next()?.parse().ok()
}

#[cfg(test)]
pub(crate) mod tests {
    //! The writer fed with synthetic frames: segment boundaries, drops, parameter changes,
    //! timestamp jumps and events mode, checked through the index and the files' layout. The
    //! pictures are not decodable (the e2e tests check real ones with ffmpeg).
    use shiguredo_mp4::Uint;
    use shiguredo_mp4::boxes::{Avc1Box, AvccBox, SampleEntry, VisualSampleEntryFields};

    use super::*;
    use crate::recording::frames::VideoCodec;
    use crate::recording::index::Segment;
    use crate::recording::mp4read;

    const BASE_MS: i64 = 1_800_000_000_000;
    const FPS: i64 = 15;
    const TICKS: i64 = 90_000 / FPS;

    /// Baseline H.264 parameters of this size (what the writer puts in a segment's `stsd`).
    pub(crate) fn params(width: u16, height: u16) -> Arc<VideoParams> {
        let entry = SampleEntry::Avc1(Avc1Box {
            visual: VisualSampleEntryFields {
                data_reference_index: VisualSampleEntryFields::DEFAULT_DATA_REFERENCE_INDEX,
                width,
                height,
                horizresolution: VisualSampleEntryFields::DEFAULT_HORIZRESOLUTION,
                vertresolution: VisualSampleEntryFields::DEFAULT_VERTRESOLUTION,
                frame_count: VisualSampleEntryFields::DEFAULT_FRAME_COUNT,
                compressorname: VisualSampleEntryFields::NULL_COMPRESSORNAME,
                depth: VisualSampleEntryFields::DEFAULT_DEPTH,
            },
            avcc_box: AvccBox {
                avc_profile_indication: 66,
                profile_compatibility: 0xc0,
                avc_level_indication: 13,
                length_size_minus_one: Uint::new(3),
                sps_list: vec![vec![0x67, 0x42, 0xc0, 0x0d, 0xd9]],
                pps_list: vec![vec![0x68, 0xce, 0x3c, 0x80]],
                chroma_format: None,
                bit_depth_luma_minus8: None,
                bit_depth_chroma_minus8: None,
                sps_ext_list: Vec::new(),
            },
            unknown_boxes: Vec::new(),
        });
        Arc::new(VideoParams {
            sample_entry: entry,
            codec: "avc1.42c00d".into(),
            width: u32::from(width),
            height: u32::from(height),
            clock_rate: 90_000,
            kind: VideoCodec::H264,
        })
    }

    /// Frame `n` of a 15 fps stream with a keyframe every `gop` frames.
    fn frame(n: i64, gop: i64, params: Option<Arc<VideoParams>>) -> Input {
        let key = n % gop == 0;
        let mut data = vec![0, 0, 0, 96, if key { 0x65 } else { 0x41 }];
        data.resize(100, 0xab);
        Input::Video(VideoFrame {
            pts: n * TICKS,
            wall_ms: BASE_MS + n * 1000 / FPS,
            keyframe: key,
            params,
            data,
        })
    }

    struct Rig {
        _dir: tempfile::TempDir,
        index: Index,
        metrics: Metrics,
        writer: CameraWriter,
    }

    fn rig(mode: RecordMode, segment: Duration) -> Rig {
        let dir = tempfile::tempdir().expect("tempdir");
        let index = Index::open(&dir.path().join("index.sqlite")).expect("index");
        let metrics = Metrics::new();
        let settings = WriterSettings {
            camera: "door".into(),
            dir: dir.path().join("rec"),
            mode,
            segment_duration: segment,
            fragment_duration: Duration::from_secs(1),
            pre_roll: Duration::from_secs(2),
            post_roll: Duration::from_secs(1),
            pre_roll_max_bytes: 1 << 20,
            disk_retry: Duration::from_secs(5),
        };
        let writer =
            CameraWriter::new(settings, index.clone(), Bus::new(64, metrics.clone()), metrics.clone());
        Rig { _dir: dir, index, metrics, writer }
    }

    impl Rig {
        fn start(&mut self, p: &Arc<VideoParams>) {
            self.writer.handle(Input::SessionStart {
                video: Arc::clone(p),
                audio: None,
                gap_reason: "test".into(),
            });
        }

        fn segments(&self) -> Vec<Segment> {
            self.index.segments(Some("door"), 0, i64::MAX).expect("segments")
        }
    }

    fn check_files(segs: &[Segment]) {
        for s in segs {
            let layout = mp4read::layout(&s.path).expect("layout");
            assert_eq!(layout.valid_len, layout.file_len, "{} has a torn tail", s.path.display());
            assert_eq!(layout.file_len, s.bytes);
            let samples = mp4read::samples(&s.path).expect("samples");
            assert!(samples.first().is_some_and(|f| f.keyframe), "{} starts at a keyframe", s.path.display());
            assert_eq!(mp4read::video_millis(&samples), s.end_ms - s.start_ms, "{}", s.path.display());
        }
    }

    #[test]
    fn segments_start_at_keyframes_roll_after_their_duration_and_follow_each_other() {
        let mut r = rig(RecordMode::Continuous, Duration::from_secs(2));
        let p = params(320, 240);
        r.start(&p);
        for n in 0..75 {
            r.writer.handle(frame(n, FPS, (n == 0).then(|| Arc::clone(&p))));
        }
        r.writer.handle(Input::SessionEnd);
        let segs = r.segments();
        let spans: Vec<(i64, i64)> =
            segs.iter().map(|s| (s.start_ms - BASE_MS, s.end_ms - BASE_MS)).collect();
        assert_eq!(spans, [(0, 2000), (2000, 4000), (4000, 5000)]);
        assert!(segs.iter().all(|s| s.state == "closed"));
        check_files(&segs);
        assert_eq!(r.metrics.get(Metric::RecordingSegments, &[(Label::Camera, "door")]), 3);
    }

    #[test]
    fn the_index_follows_each_durable_fragment_of_the_open_segment() {
        let mut r = rig(RecordMode::Continuous, Duration::from_secs(60));
        let p = params(320, 240);
        r.start(&p);
        for n in 0..40 {
            r.writer.handle(frame(n, FPS, (n == 0).then(|| Arc::clone(&p))));
        }
        let segs = r.segments();
        assert_eq!(segs.len(), 1);
        assert_eq!(segs[0].state, "open");
        // Two whole fragments (2 s) are durable; the rest waits in memory.
        assert_eq!(segs[0].end_ms - segs[0].start_ms, 2000);
        assert_eq!(std::fs::metadata(&segs[0].path).expect("file").len(), segs[0].bytes);
    }

    #[test]
    fn frames_before_the_first_keyframe_are_dropped_and_counted() {
        let mut r = rig(RecordMode::Continuous, Duration::from_secs(60));
        let p = params(320, 240);
        r.start(&p);
        for n in 10..40 {
            r.writer.handle(frame(n, FPS, (n == 10).then(|| Arc::clone(&p))));
        }
        r.writer.finish();
        let segs = r.segments();
        assert_eq!(segs.len(), 1);
        assert_eq!(segs[0].start_ms - BASE_MS, 1000, "starts at the keyframe of frame 15");
        let dropped = r.metrics.get(
            Metric::RecordingFramesDropped,
            &[(Label::Camera, "door"), (Label::Reason, "waiting_for_keyframe")],
        );
        assert_eq!(dropped, 5);
        check_files(&segs);
    }

    #[test]
    fn a_resolution_change_starts_a_new_segment_with_the_new_parameters() {
        let mut r = rig(RecordMode::Continuous, Duration::from_secs(60));
        let small = params(320, 240);
        let big = params(640, 480);
        r.start(&small);
        for n in 0..45 {
            let p = match n {
                0 => Some(Arc::clone(&small)),
                30 => Some(Arc::clone(&big)),
                _ => None,
            };
            r.writer.handle(frame(n, FPS, p));
        }
        r.writer.finish();
        let segs = r.segments();
        let sizes: Vec<(u32, i64)> = segs.iter().map(|s| (s.width, s.start_ms - BASE_MS)).collect();
        assert_eq!(sizes, [(320, 0), (640, 2000)]);
        check_files(&segs);
    }

    #[test]
    fn a_camera_clock_reset_closes_the_segment_and_recording_resumes_at_a_keyframe() {
        let mut r = rig(RecordMode::Continuous, Duration::from_secs(60));
        let p = params(320, 240);
        r.start(&p);
        for n in 0..20 {
            r.writer.handle(frame(n, FPS, (n == 0).then(|| Arc::clone(&p))));
        }
        // The camera's clock jumps back (a reboot or NTP step); wall time goes on.
        for n in 20..50 {
            let Input::Video(mut f) = frame(n, FPS, None) else { unreachable!() };
            f.pts = (n - 20 + 3) * TICKS;
            f.keyframe = (n - 20 + 3) % FPS == 0;
            r.writer.handle(Input::Video(f));
        }
        r.writer.finish();
        let segs = r.segments();
        assert_eq!(segs.len(), 2, "{segs:?}");
        assert_eq!(segs[0].start_ms - BASE_MS, 0);
        // Frame 32 is the first keyframe of the new timeline (pts 15 frames).
        assert_eq!(segs[1].start_ms - BASE_MS, 32 * 1000 / FPS);
        check_files(&segs);
    }

    #[test]
    fn a_stream_re_anchored_forward_keeps_the_segment_on_the_hubs_clock() {
        // Ingest re-anchors a stream that falls behind the hub's clock: from frame 30 on, wall
        // times are 600 ms later than the timestamps say. The frame before stands still for
        // it, so the segment ends on the hub's clock, as its file's durations say.
        let mut r = rig(RecordMode::Continuous, Duration::from_secs(60));
        let p = params(320, 240);
        r.start(&p);
        for n in 0..45 {
            let Input::Video(mut f) = frame(n, FPS, (n == 0).then(|| Arc::clone(&p))) else { unreachable!() };
            if n >= 30 {
                f.wall_ms += 600;
            }
            r.writer.handle(Input::Video(f));
        }
        r.writer.finish();
        let segs = r.segments();
        assert_eq!(segs.len(), 1, "{segs:?}");
        assert_eq!(segs[0].end_ms - segs[0].start_ms, 3600);
        check_files(&segs);
        // Wall times earlier than the timestamps (re-anchored back) stretch nothing.
        let mut r = rig(RecordMode::Continuous, Duration::from_secs(60));
        r.start(&p);
        for n in 0..45 {
            let Input::Video(mut f) = frame(n, FPS, (n == 0).then(|| Arc::clone(&p))) else { unreachable!() };
            if n >= 30 {
                f.wall_ms -= 2500;
            }
            r.writer.handle(Input::Video(f));
        }
        r.writer.finish();
        let segs = r.segments();
        assert_eq!(segs[0].end_ms - segs[0].start_ms, 3000);
    }

    #[test]
    fn a_failed_write_lists_the_camera_as_failing_until_a_write_succeeds() {
        let mut r = rig(RecordMode::Continuous, Duration::from_secs(60));
        let p = params(320, 240);
        // The recordings directory cannot be created: a file is in its way.
        std::fs::write(&r.writer.settings.dir, b"in the way").expect("block the directory");
        r.start(&p);
        for n in 0..20 {
            r.writer.handle(frame(n, FPS, (n == 0).then(|| Arc::clone(&p))));
        }
        let failing = r.index.writes().failing();
        assert!(failing.get("door").is_some_and(|e| !e.is_empty()), "{failing:?}");
        std::fs::remove_file(&r.writer.settings.dir).expect("unblock");
        // The next keyframe 5 s (disk_retry) after the failure tries again and succeeds.
        for n in 20..150 {
            r.writer.handle(frame(n, FPS, None));
        }
        assert!(r.index.writes().failing().is_empty());
        assert!(r.index.writes().rate(std::time::Instant::now()) > 0.0);
        r.writer.finish();
        assert_eq!(r.segments().len(), 1);
    }

    #[test]
    fn events_mode_writes_the_pre_roll_then_stops_after_the_post_roll() {
        let mut r = rig(RecordMode::Events, Duration::from_secs(60));
        let p = params(320, 240);
        r.start(&p);
        for n in 0..=60 {
            r.writer.handle(frame(n, FPS, (n == 0).then(|| Arc::clone(&p))));
        }
        assert!(r.segments().is_empty(), "nothing is written before an event");
        r.writer.handle(Input::Trigger { wall_ms: BASE_MS + 4000 });
        for n in 61..120 {
            r.writer.handle(frame(n, FPS, None));
        }
        r.writer.finish();
        let segs = r.segments();
        assert_eq!(segs.len(), 1, "{segs:?}");
        // Whole GOPs covering at least the 2 s pre-roll: from the keyframe at 1 s.
        assert_eq!(segs[0].start_ms - BASE_MS, 1000);
        // Until the post-roll (1 s) after the event at 4 s, to the frame.
        let end = segs[0].end_ms - BASE_MS;
        assert!((5000..=5000 + 1000 / FPS).contains(&end), "ends at {end} ms");
        check_files(&segs);
    }
}

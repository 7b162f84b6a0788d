//! Recorded playback: the samples of one camera's segment files from a moment on, in order,
//! across segment boundaries, with decode times on one media clock whose zero is the first
//! keyframe's wall time (the *origin*), so media time `t` is wall time `origin + t` and a gap in
//! the recording stays a gap in media time. `GET /api/cameras/{name}/play` (`api/playback.rs`)
//! turns each [`Batch`] into an fMP4 fragment with `fmp4::Fragmenter`.
//!
//! Nothing is re-encoded and little is held: one segment's sample table at a time, and the bytes
//! of one batch (at most a second of video, cut before each keyframe). A segment still being
//! written is read up to its last durable fragment; when playback has used those up it looks
//! once more (the writer may have added fragments meanwhile) and ends at the live edge. A
//! response covers at most [`MAX_SPAN_MS`] from the origin (the client asks again from there).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use shiguredo_mp4::boxes::SampleEntry;
use shiguredo_mp4::{BaseBox, TrackKind};

use super::frames::{AudioParams, VideoCodec, VideoParams};
use super::index::{Index, IndexError, Segment};
use super::mp4read::{self, ReadError, SampleInfo};

/// The longest span one playback covers, from its origin.
pub const MAX_SPAN_MS: i64 = 3600 * 1000;
/// The most video one batch holds (then the next starts, as it does at every keyframe).
const BATCH_MS: u64 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum PlayError {
    #[error("no recording of camera {camera:?} from {from} to {to}")]
    Nothing { camera: String, from: String, to: String },
    #[error("`to` ({}) must be after `from` ({})", super::fmt_ms(*to_ms), super::fmt_ms(*from_ms))]
    BadInterval { from_ms: i64, to_ms: i64 },
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("cannot read recording: {0}")]
    Read(#[from] ReadError),
    #[error("segment {path}: {message}")]
    Segment { path: String, message: String },
}

/// The tracks of the samples that follow: given with the first batch and again whenever the
/// recording's codec parameters change (a new init segment is due).
#[derive(Debug, Clone, PartialEq)]
pub struct Tracks {
    pub video: Arc<VideoParams>,
    pub audio: Option<Arc<AudioParams>>,
}

/// A recorded sample on the playback's media clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaySample {
    /// Ticks of its track's clock since the origin.
    pub decode_time: u64,
    pub duration: u32,
    pub keyframe: bool,
    pub data: Vec<u8>,
}

/// One fragment's worth of samples, all from one segment; the video starts with a keyframe
/// unless it continues the previous batch's group of pictures.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub tracks: Option<Tracks>,
    pub video: Vec<PlaySample>,
    pub audio: Vec<PlaySample>,
}

/// The segment being played.
#[derive(Debug)]
struct Loaded {
    seg: Segment,
    /// Whether the index listed it as still being written when its samples were read.
    open: bool,
    file: File,
    samples: Vec<SampleInfo>,
    /// The sample entry in force before `samples[i]`, per track (video, audio).
    entries: [Option<SampleEntry>; 2],
    /// The next sample to play.
    pos: usize,
    /// Ticks added to a sample's in-file time to put it on the media clock, per track.
    base: [i64; 2],
}

/// A playback of one camera's recordings: [`Player::open`], then [`Player::next_batch`] until
/// it returns `None`.
#[derive(Debug)]
pub struct Player {
    index: Index,
    camera: String,
    audio: bool,
    origin_ms: i64,
    end_ms: i64,
    current: Option<Loaded>,
    /// (start, id) of the last segment loaded: the next is the first after it.
    last: (i64, i64),
    /// The tracks of the last batch.
    tracks: Option<Tracks>,
    /// Where each track's previous sample ended on the media clock (video, audio).
    track_end: [u64; 2],
    done: bool,
}

/// The samples of a segment file; none while it has no whole fragment yet (a segment just
/// opened: its file is empty until its first fragment is durable).
fn samples_of(seg: &Segment) -> Result<Vec<SampleInfo>, ReadError> {
    if mp4read::layout(&seg.path)?.fragments == 0 {
        return Ok(Vec::new());
    }
    mp4read::samples(&seg.path)
}

fn track(kind: TrackKind) -> usize {
    usize::from(kind == TrackKind::Audio)
}

/// Ticks of a `timescale` clock in `ms` milliseconds (rounded down; negative stays negative).
fn ms_to_ticks(ms: i64, timescale: u32) -> i64 {
    (i128::from(ms) * i128::from(timescale)).div_euclid(1000) as i64
}

/// A sample's wall time in milliseconds (rounded down), from its segment's start.
fn wall_ms(seg: &Segment, s: &SampleInfo) -> i64 {
    let ms = s.timestamp.saturating_mul(1000) / u64::from(s.timescale.max(1));
    seg.start_ms + i64::try_from(ms).unwrap_or(i64::MAX / 2)
}

impl Player {
    /// Finds where playback of `camera` from `from_ms` starts: the last keyframe at or before
    /// `from_ms` when a recording holds that moment, else the first keyframe after it (before
    /// `to_ms`). The playback ends at `to_ms`, at the origin plus [`MAX_SPAN_MS`], or at the
    /// live edge, whichever comes first. `audio`: keep the audio track, if recorded.
    pub fn open(
        index: &Index,
        camera: &str,
        from_ms: i64,
        to_ms: Option<i64>,
        audio: bool,
    ) -> Result<Self, PlayError> {
        let limit = to_ms.unwrap_or(from_ms.saturating_add(MAX_SPAN_MS));
        if limit <= from_ms {
            return Err(PlayError::BadInterval { from_ms, to_ms: limit });
        }
        let nothing = || PlayError::Nothing {
            camera: camera.to_owned(),
            from: super::fmt_ms(from_ms),
            to: super::fmt_ms(limit),
        };
        let candidates = index.segments(Some(camera), from_ms, limit)?;
        let mut start = None;
        for seg in &candidates {
            let open = seg.state == "open";
            let samples = samples_of(seg)?;
            let mut keys =
                samples.iter().enumerate().filter(|(_, s)| s.kind == TrackKind::Video && s.keyframe);
            let holds_from = seg.start_ms <= from_ms && from_ms < seg.end_ms;
            let pick = if holds_from {
                keys.rfind(|(_, s)| wall_ms(seg, s) <= from_ms).or_else(|| {
                    let mut after = samples
                        .iter()
                        .enumerate()
                        .filter(|(_, s)| s.kind == TrackKind::Video && s.keyframe && wall_ms(seg, s) < limit);
                    after.next()
                })
            } else {
                keys.filter(|(_, s)| wall_ms(seg, s) >= from_ms && wall_ms(seg, s) < limit)
                    .min_by_key(|(i, _)| *i)
            };
            if let Some((i, _)) = pick {
                start = Some((seg.clone(), open, samples, i));
                break;
            }
        }
        let (seg, open, samples, i) = start.ok_or_else(nothing)?;
        let origin_ms = wall_ms(&seg, &samples[i]);
        let end_ms = limit.min(origin_ms.saturating_add(MAX_SPAN_MS));
        let mut player = Self {
            index: index.clone(),
            camera: camera.to_owned(),
            audio,
            origin_ms,
            end_ms,
            current: None,
            last: (seg.start_ms, seg.id),
            tracks: None,
            track_end: [0, 0],
            done: false,
        };
        player.current = Some(player.load(seg, open, samples, i)?);
        Ok(player)
    }

    /// The wall time (ms since the epoch) of media time 0: the first keyframe's.
    pub fn origin_ms(&self) -> i64 {
        self.origin_ms
    }

    /// Where this playback stops at the latest (exclusive), ms since the epoch.
    pub fn end_ms(&self) -> i64 {
        self.end_ms
    }

    /// Prepares segment `seg` (whose samples are `samples`) to play from sample `pos`: the
    /// sample entries in force there, and the offsets that put its samples on the media clock
    /// after what was played before.
    fn load(
        &self,
        seg: Segment,
        open: bool,
        samples: Vec<SampleInfo>,
        pos: usize,
    ) -> Result<Loaded, PlayError> {
        let file = File::open(&seg.path)
            .map_err(|source| ReadError::Io { path: seg.path.display().to_string(), source })?;
        let mut entries: [Option<SampleEntry>; 2] = [None, None];
        for s in &samples[..pos] {
            if let Some(e) = &s.sample_entry {
                entries[track(s.kind)] = Some(e.clone());
            }
        }
        let mut base = [0i64; 2];
        for (t, slot) in base.iter_mut().enumerate() {
            let Some(first) = samples[pos..].iter().find(|s| track(s.kind) == t) else { continue };
            let b = ms_to_ticks(seg.start_ms - self.origin_ms, first.timescale);
            // Never before the previous sample's end: segments can overlap by a little after the
            // stream was re-anchored to the hub's clock, and decode times must not go back.
            let at = b + i64::try_from(first.timestamp).unwrap_or(i64::MAX / 2);
            let floor = i64::try_from(self.track_end[t]).unwrap_or(i64::MAX / 2);
            *slot = if self.track_end[t] > 0 && at < floor { b + (floor - at) } else { b };
        }
        Ok(Loaded { seg, open, file, samples, entries, pos, base })
    }

    /// The next batch of samples, or `None` when playback has ended.
    pub fn next_batch(&mut self) -> Result<Option<Batch>, PlayError> {
        loop {
            if self.done {
                return Ok(None);
            }
            let Some(cur) = self.current.as_mut() else {
                self.advance()?;
                continue;
            };
            if cur.pos >= cur.samples.len() {
                self.advance()?;
                continue;
            }
            let batch = self.take_batch()?;
            if !batch.video.is_empty() || !batch.audio.is_empty() {
                return Ok(Some(batch));
            }
        }
    }

    /// Moves on when the current segment is used up: the same segment again if it was being
    /// written and has grown, else the next segment, else the end.
    fn advance(&mut self) -> Result<(), PlayError> {
        if let Some(cur) = self.current.take()
            && cur.open
        {
            {
                let seg = self.index.segments(Some(&self.camera), cur.seg.start_ms, cur.seg.start_ms + 1)?;
                let now_open = seg.iter().find(|s| s.id == cur.seg.id).map(|s| s.state == "open");
                let samples = samples_of(&cur.seg)?;
                if samples.len() > cur.samples.len() {
                    let pos = cur.pos;
                    let open = now_open.unwrap_or(false);
                    let mut again = self.load(cur.seg, open, samples, pos)?;
                    // Same file, same clock: keep its offsets.
                    again.base = cur.base;
                    self.current = Some(again);
                    return Ok(());
                }
            }
        }
        let (after_start, after_id) = self.last;
        let next = self
            .index
            .segments(Some(&self.camera), after_start, self.end_ms)?
            .into_iter()
            .find(|s| (s.start_ms, s.id) > (after_start, after_id) && s.start_ms < self.end_ms);
        let Some(seg) = next else {
            self.done = true;
            return Ok(());
        };
        self.last = (seg.start_ms, seg.id);
        let open = seg.state == "open";
        let samples = samples_of(&seg)?;
        self.current = Some(self.load(seg, open, samples, 0)?);
        Ok(())
    }

    /// Takes the next batch from the current segment (which has samples left).
    fn take_batch(&mut self) -> Result<Batch, PlayError> {
        let Some(cur) = self.current.as_mut() else {
            return Ok(Batch { tracks: None, video: Vec::new(), audio: Vec::new() });
        };
        let mut video: Vec<PlaySample> = Vec::new();
        let mut audio: Vec<PlaySample> = Vec::new();
        let mut video_ticks = 0u64;
        let mut tracks_now: Option<Tracks> = None;
        while cur.pos < cur.samples.len() {
            let s = &cur.samples[cur.pos];
            let t = track(s.kind);
            let wall = wall_ms(&cur.seg, s);
            if wall >= self.end_ms {
                if t == 0 {
                    // Video past the end: nothing more to play.
                    cur.pos = cur.samples.len();
                    self.done = true;
                    break;
                }
                cur.pos += 1;
                continue;
            }
            if t == 0 && !video.is_empty() {
                let full = video_ticks * 1000 >= BATCH_MS * u64::from(s.timescale.max(1));
                if s.keyframe || full {
                    break;
                }
            }
            if let Some(e) = &s.sample_entry
                && cur.entries[t].as_ref() != Some(e)
            {
                if !video.is_empty() || !audio.is_empty() {
                    // New parameters start a new batch (with a new init segment).
                    break;
                }
                cur.entries[t] = Some(e.clone());
            }
            if s.kind != TrackKind::Video && (s.kind != TrackKind::Audio || !self.audio) {
                cur.pos += 1;
                continue;
            }
            let at = cur.base[t] + i64::try_from(s.timestamp).unwrap_or(i64::MAX / 2);
            let Ok(decode_time) = u64::try_from(at) else {
                // Before the origin (audio that began before the first keyframe).
                cur.pos += 1;
                continue;
            };
            if video.is_empty() && audio.is_empty() {
                let tracks = tracks_of(&cur.seg, &cur.entries, &cur.samples, self.audio)?;
                if self.tracks.as_ref() != Some(&tracks) {
                    tracks_now = Some(tracks);
                }
            }
            let mut data = vec![0u8; s.data_size];
            cur.file
                .read_exact_at(&mut data, s.data_offset)
                .map_err(|source| ReadError::Io { path: cur.seg.path.display().to_string(), source })?;
            let sample = PlaySample { decode_time, duration: s.duration, keyframe: s.keyframe, data };
            self.track_end[t] = decode_time + u64::from(s.duration);
            if t == 0 {
                video_ticks += u64::from(s.duration);
                video.push(sample);
            } else {
                audio.push(sample);
            }
            cur.pos += 1;
        }
        if let Some(tr) = &tracks_now {
            self.tracks = Some(tr.clone());
        }
        Ok(Batch { tracks: tracks_now, video, audio })
    }
}

/// The tracks in force in a segment: the entries seen so far (or the file's first ones).
fn tracks_of(
    seg: &Segment,
    entries: &[Option<SampleEntry>; 2],
    samples: &[SampleInfo],
    with_audio: bool,
) -> Result<Tracks, PlayError> {
    let first = |kind: TrackKind| samples.iter().find(|s| s.kind == kind);
    let missing = |what: &str| PlayError::Segment {
        path: seg.path.display().to_string(),
        message: format!("no {what} sample entry"),
    };
    let video_entry = entries[0]
        .clone()
        .or_else(|| first(TrackKind::Video).and_then(|s| s.sample_entry.clone()))
        .ok_or_else(|| missing("video"))?;
    let kind = match &video_entry {
        SampleEntry::Avc1(_) => VideoCodec::H264,
        SampleEntry::Hev1(_) | SampleEntry::Hvc1(_) => VideoCodec::H265,
        other => {
            return Err(PlayError::Segment {
                path: seg.path.display().to_string(),
                message: format!("unsupported video sample entry {:?}", other.box_type()),
            });
        }
    };
    let video_rate = first(TrackKind::Video).map_or(90_000, |s| s.timescale);
    let video = Arc::new(VideoParams {
        sample_entry: video_entry,
        codec: seg.codec.clone(),
        width: seg.width,
        height: seg.height,
        clock_rate: video_rate,
        kind,
    });
    let audio = match (with_audio, &seg.audio, first(TrackKind::Audio)) {
        (true, Some(codec), Some(a)) => {
            let entry = entries[1].clone().or_else(|| a.sample_entry.clone());
            entry.map(|sample_entry| {
                Arc::new(AudioParams { sample_entry, codec: codec.clone(), clock_rate: a.timescale })
            })
        }
        _ => None,
    };
    Ok(Tracks { video, audio })
}

#[cfg(test)]
mod tests {
    //! Segment files written with the recorder's own `SegmentFile` and listed in a real index;
    //! the player's batches checked for order, decode times, gaps and bounds.
    use std::path::PathBuf;

    use super::*;
    use crate::recording::index::NewSegment;
    use crate::recording::segment::SegmentFile;
    use crate::recording::writer::tests::params;

    const BASE_MS: i64 = 1_800_000_000_000;
    /// 10 fps, 9000 ticks a frame at 90 kHz.
    const FRAME_MS: i64 = 100;
    const TICKS: u32 = 9000;

    struct Rig {
        dir: tempfile::TempDir,
        index: Index,
        n: usize,
    }

    impl Rig {
        fn new() -> Self {
            let dir = tempfile::tempdir().expect("tempdir");
            let index = Index::open(&dir.path().join("index.sqlite")).expect("index");
            Self { dir, index, n: 0 }
        }

        /// A closed (or still open) segment starting at `start_ms` with `frames` frames, a
        /// keyframe every `gop`, one fragment per `per_fragment` frames. Frame `i`'s data
        /// names its segment and number.
        fn segment(
            &mut self,
            start_ms: i64,
            frames: usize,
            gop: usize,
            per_fragment: usize,
            open: bool,
        ) -> PathBuf {
            self.n += 1;
            let path = self.dir.path().join(format!("seg{}.mp4", self.n));
            let video = params(640, 360);
            let id = self
                .index
                .insert_segment(&NewSegment {
                    camera: "door",
                    start_ms,
                    path: &path,
                    codec: &video.codec,
                    width: 640,
                    height: 360,
                    audio: None,
                })
                .expect("insert");
            let mut file = SegmentFile::create(&path, video, None).expect("create");
            for i in 0..frames {
                file.push_video(TICKS, i % gop == 0, frame_data(self.n, i));
                if (i + 1) % per_fragment == 0 {
                    file.flush().expect("flush");
                }
            }
            file.flush().expect("flush");
            let end = start_ms + frames as i64 * FRAME_MS;
            if open {
                self.index.update_segment(id, end, file.durable_bytes()).expect("update");
            } else {
                self.index.close_segment(id, end, file.durable_bytes(), "closed").expect("close");
            }
            path
        }

        fn play(&self, from_ms: i64, to_ms: Option<i64>) -> Result<(Player, Vec<Batch>), PlayError> {
            let mut p = Player::open(&self.index, "door", from_ms, to_ms, true)?;
            let mut out = Vec::new();
            while let Some(b) = p.next_batch()? {
                out.push(b);
            }
            Ok((p, out))
        }
    }

    fn frame_data(segment: usize, i: usize) -> Vec<u8> {
        let mut d = vec![0, 0, 0, 8, 0x41];
        d.extend_from_slice(&u32::try_from(segment).expect("small").to_be_bytes());
        d.extend_from_slice(&u32::try_from(i).expect("small").to_be_bytes());
        d
    }

    fn video(batches: &[Batch]) -> Vec<&PlaySample> {
        batches.iter().flat_map(|b| b.video.iter()).collect()
    }

    #[test]
    fn starts_at_the_keyframe_at_or_before_from() {
        let mut rig = Rig::new();
        rig.segment(BASE_MS, 30, 10, 10, false);
        // 1.45 s in: frames 10..=14 are after the keyframe at 1.0 s.
        let (p, batches) = rig.play(BASE_MS + 1450, None).expect("play");
        assert_eq!(p.origin_ms(), BASE_MS + 1000);
        let v = video(&batches);
        assert_eq!(v.len(), 20, "frames 10..30");
        assert_eq!(v[0].data, frame_data(1, 10));
        assert!(v[0].keyframe);
        assert_eq!(v[0].decode_time, 0);
        assert_eq!(v[19].decode_time, 19 * u64::from(TICKS));
        // The first batch names the tracks; no later one does (nothing changed).
        assert!(batches[0].tracks.is_some());
        assert!(batches[1..].iter().all(|b| b.tracks.is_none()));
        // Every batch starts at a keyframe here (GOP of 1 s = one batch).
        assert!(batches.iter().all(|b| b.video[0].keyframe));
        assert_eq!(batches.len(), 2);
    }

    #[test]
    fn crosses_segments_and_keeps_gaps_in_media_time() {
        let mut rig = Rig::new();
        rig.segment(BASE_MS, 20, 10, 10, false);
        // Right after the first: continuous.
        rig.segment(BASE_MS + 2000, 20, 10, 10, false);
        // 5 s later: a gap from 4 s to 9 s.
        rig.segment(BASE_MS + 9000, 10, 10, 10, false);
        let (p, batches) = rig.play(BASE_MS, None).expect("play");
        assert_eq!(p.origin_ms(), BASE_MS);
        let v = video(&batches);
        assert_eq!(v.len(), 50);
        let times: Vec<u64> = v.iter().map(|s| s.decode_time).collect();
        assert!(times.windows(2).all(|w| w[0] < w[1]), "decode times increase");
        // The second segment continues the first without a hole.
        assert_eq!(v[20].decode_time, 20 * u64::from(TICKS));
        assert_eq!(v[20].data, frame_data(2, 0));
        // The third starts 9 s after the origin: the gap is kept.
        assert_eq!(v[40].decode_time, 9 * 90_000);
        assert_eq!(v[40].data, frame_data(3, 0));
        // No batch mixes segments.
        assert!(batches.iter().all(|b| b.video.iter().all(|s| s.data[5..9] == b.video[0].data[5..9])));
    }

    #[test]
    fn overlapping_segments_never_go_back_in_media_time() {
        let mut rig = Rig::new();
        rig.segment(BASE_MS, 20, 10, 10, false);
        // Starts 300 ms before the first ends (a re-anchor).
        rig.segment(BASE_MS + 1700, 10, 10, 10, false);
        let (_, batches) = rig.play(BASE_MS, None).expect("play");
        let v = video(&batches);
        assert_eq!(v.len(), 30);
        assert_eq!(v[20].decode_time, 20 * u64::from(TICKS), "the second is moved to the first's end");
    }

    #[test]
    fn stops_at_to_and_at_the_span_limit() {
        let mut rig = Rig::new();
        rig.segment(BASE_MS, 50, 10, 10, false);
        let (p, batches) = rig.play(BASE_MS + 500, Some(BASE_MS + 2500)).expect("play");
        assert_eq!(p.origin_ms(), BASE_MS);
        assert_eq!(p.end_ms(), BASE_MS + 2500);
        // Frames 0..25 start before `to`.
        assert_eq!(video(&batches).len(), 25);
        // Without `to`, the span is bounded from `from`.
        let p = Player::open(&rig.index, "door", BASE_MS, None, true).expect("open");
        assert_eq!(p.end_ms(), BASE_MS + MAX_SPAN_MS);
    }

    #[test]
    fn from_in_a_gap_starts_after_it_and_nothing_is_an_error() {
        let mut rig = Rig::new();
        rig.segment(BASE_MS, 10, 10, 10, false);
        rig.segment(BASE_MS + 5000, 10, 10, 10, false);
        let (p, batches) = rig.play(BASE_MS + 3000, None).expect("play");
        assert_eq!(p.origin_ms(), BASE_MS + 5000);
        assert_eq!(video(&batches)[0].data, frame_data(2, 0));
        // After everything, before everything (with `to`), and another camera: nothing.
        assert!(matches!(rig.play(BASE_MS + 60_000, None), Err(PlayError::Nothing { .. })));
        assert!(matches!(rig.play(BASE_MS - 60_000, Some(BASE_MS - 1)), Err(PlayError::Nothing { .. })));
        assert!(matches!(
            Player::open(&rig.index, "gate", BASE_MS, None, true),
            Err(PlayError::Nothing { .. })
        ));
        assert!(matches!(rig.play(BASE_MS, Some(BASE_MS)), Err(PlayError::BadInterval { .. })));
    }

    #[test]
    fn an_open_segment_is_read_to_its_last_durable_fragment() {
        let mut rig = Rig::new();
        let path = rig.segment(BASE_MS, 20, 10, 10, true);
        // Half a fragment more, as if the writer were cut off mid-write.
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).expect("open");
        std::io::Write::write_all(&mut f, &[0, 0, 1, 0, b'm', b'o', b'o', b'f', 1, 2, 3]).expect("append");
        let (_, batches) = rig.play(BASE_MS, None).expect("play");
        assert_eq!(video(&batches).len(), 20);
    }

    #[test]
    fn a_segment_just_opened_ends_playback_quietly() {
        let mut rig = Rig::new();
        rig.segment(BASE_MS, 10, 10, 10, false);
        // The writer's next segment: listed, its file still empty.
        let path = rig.dir.path().join("empty.mp4");
        std::fs::write(&path, b"").expect("empty file");
        rig.index
            .insert_segment(&NewSegment {
                camera: "door",
                start_ms: BASE_MS + 1000,
                path: &path,
                codec: "avc1.42c00d",
                width: 640,
                height: 360,
                audio: None,
            })
            .expect("insert");
        let (_, batches) = rig.play(BASE_MS, None).expect("play");
        assert_eq!(video(&batches).len(), 10);
        // Starting in it finds nothing to play.
        assert!(matches!(rig.play(BASE_MS + 1000, None), Err(PlayError::Nothing { .. })));
    }

    #[test]
    fn a_batch_holds_at_most_a_second_of_video() {
        let mut rig = Rig::new();
        // One keyframe in 4 s.
        rig.segment(BASE_MS, 40, 40, 10, false);
        let (_, batches) = rig.play(BASE_MS, None).expect("play");
        let sizes: Vec<usize> = batches.iter().map(|b| b.video.len()).collect();
        assert_eq!(sizes, vec![10, 10, 10, 10]);
    }
}

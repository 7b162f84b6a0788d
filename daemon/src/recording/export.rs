//! Clip export: one standard MP4 (moov first, so browsers and players start at once) covering
//! an interval of one camera, cut on keyframes, with every sample copied bit-exact from the
//! segment files. The CLI, the API and the relay all call [`export`].

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::num::NonZeroU32;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use shiguredo_mp4::TrackKind;
use shiguredo_mp4::boxes::SampleEntry;
use shiguredo_mp4::mux::{Mp4FileMuxer, Mp4FileMuxerOptions, Sample};

use super::index::{Index, IndexError};
use super::mp4read::{self, SampleInfo};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipRequest {
    pub camera: String,
    pub from_ms: i64,
    pub to_ms: i64,
    /// Keep the audio track (when the recording has one).
    pub audio: bool,
    /// Stay within `from`..`to` (for footage shared outside the house, which must not exceed
    /// its grant): begin at the first keyframe at or after `from`, and leave out a last frame
    /// that would still be showing at `to`. Otherwise the clip begins at the keyframe at or
    /// before `from` and keeps every frame that starts before `to`, so it shows the whole
    /// asked interval.
    pub strict: bool,
}

/// What was exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClipInfo {
    pub camera: String,
    /// The clip's real span: it starts at its first keyframe (at or before the asked start, or
    /// with `strict` at or after it) and ends where its last frame stops showing (with
    /// `strict` never after the asked end).
    pub start_ms: i64,
    pub end_ms: i64,
    pub bytes: u64,
    pub video_samples: usize,
    pub audio_samples: usize,
    pub segments: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("`from` ({}) must be before `to` ({})", super::fmt_ms(*from_ms), super::fmt_ms(*to_ms))]
    BadInterval { from_ms: i64, to_ms: i64 },
    #[error("no recordings of camera {camera:?} between {from} and {to}")]
    Nothing { camera: String, from: String, to: String },
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("cannot read recording: {0}")]
    Read(#[from] mp4read::ReadError),
    #[error("{}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot build the MP4: {0}")]
    Mux(String),
}

struct Picked {
    file: usize,
    wall_us: i64,
    sample: SampleInfo,
    /// Extra ticks added to the duration (a recording gap after this video sample).
    stretch: u32,
}

impl Picked {
    /// Where the sample stops showing, in wall-clock microseconds (rounded up).
    fn end_us(&self) -> i64 {
        let scale = i64::from(self.sample.timescale.max(1));
        let ticks = i64::from(self.sample.duration) + i64::from(self.stretch);
        self.wall_us + (ticks * 1_000_000 + scale - 1) / scale
    }
}

/// The clip's MP4 boxes, for its samples laid out in `picked` order right after the initial
/// boxes. The `moov` goes before the `mdat` in the space reserved for it, and that space is
/// sized exactly: a first layout with none learns the `moov`'s size, the next reserves that
/// much. Only the chunk offsets differ between the two, and they change the size only if the
/// file crosses 4 GiB (32-bit `stco` becomes 64-bit `co64`): then one more round.
fn lay_out(picked: &[Picked], creation: std::time::Duration) -> Result<Mp4FileMuxer, ExportError> {
    let mux_err = |e: shiguredo_mp4::mux::MuxError| ExportError::Mux(e.to_string());
    let mut reserved = 0;
    for _ in 0..4 {
        let mut muxer = Mp4FileMuxer::with_options(Mp4FileMuxerOptions {
            reserved_moov_box_size: reserved,
            creation_timestamp: creation,
            ..Default::default()
        })
        .map_err(mux_err)?;
        let mut pos = muxer.initial_boxes_bytes().len() as u64;
        let mut last_entry: [Option<&SampleEntry>; 2] = [None, None];
        for p in picked {
            let track = usize::from(p.sample.kind == TrackKind::Audio);
            // The entry goes with a track's first sample and wherever it changes.
            let entry = match (&p.sample.sample_entry, last_entry[track]) {
                (Some(e), Some(last)) if e == last => None,
                (Some(e), _) => {
                    last_entry[track] = Some(e);
                    Some(e.clone())
                }
                (None, None) => return Err(ExportError::Mux("a track starts without a sample entry".into())),
                (None, Some(_)) => None,
            };
            muxer
                .append_sample(&Sample {
                    track_kind: p.sample.kind,
                    sample_entry: entry,
                    keyframe: p.sample.keyframe,
                    timescale: NonZeroU32::new(p.sample.timescale).unwrap_or(NonZeroU32::MIN),
                    duration: p.sample.duration.saturating_add(p.stretch),
                    composition_time_offset: None,
                    data_offset: pos,
                    data_size: p.sample.data_size,
                })
                .map_err(mux_err)?;
            pos += p.sample.data_size as u64;
        }
        let finalized = muxer.finalize().map_err(mux_err)?;
        if finalized.is_faststart_enabled() {
            return Ok(muxer);
        }
        reserved = finalized.moov_box_size();
    }
    Err(ExportError::Mux(format!("the clip's index ({reserved} bytes) did not fit before its media")))
}

/// Writes the clip to `out` (through a temporary file next to it, renamed at the end).
pub fn export(index: &Index, req: &ClipRequest, out: &Path) -> Result<ClipInfo, ExportError> {
    if req.from_ms >= req.to_ms {
        return Err(ExportError::BadInterval { from_ms: req.from_ms, to_ms: req.to_ms });
    }
    let nothing = || ExportError::Nothing {
        camera: req.camera.clone(),
        from: super::fmt_ms(req.from_ms),
        to: super::fmt_ms(req.to_ms),
    };
    let segments = index.segments(Some(&req.camera), req.from_ms, req.to_ms)?;
    // Every sample of the segments, with its wall time in microseconds.
    let mut all: Vec<Picked> = Vec::new();
    // The sample entry in force for each (file, track): a sample only carries one where it
    // changes, and the clip may start in the middle of a file.
    let mut entries: std::collections::HashMap<(usize, usize), SampleEntry> =
        std::collections::HashMap::new();
    for (i, seg) in segments.iter().enumerate() {
        for mut s in mp4read::samples(&seg.path)? {
            if s.kind == TrackKind::Audio && !req.audio {
                continue;
            }
            let track = usize::from(s.kind == TrackKind::Audio);
            match s.sample_entry.take() {
                Some(e) => {
                    entries.insert((i, track), e.clone());
                    s.sample_entry = Some(e);
                }
                None => s.sample_entry = entries.get(&(i, track)).cloned(),
            }
            let wall_us = seg.start_ms * 1000
                + i64::try_from(s.timestamp * 1_000_000 / u64::from(s.timescale.max(1))).unwrap_or(0);
            all.push(Picked { file: i, wall_us, sample: s, stretch: 0 });
        }
    }
    let from_us = req.from_ms * 1000;
    let to_us = req.to_ms * 1000;
    // Start at the last keyframe at or before `from` (unless strict), or the first one after it.
    let is_key = |p: &Picked| p.sample.kind == TrackKind::Video && p.sample.keyframe;
    let before = if req.strict {
        None
    } else {
        all.iter().filter(|p| is_key(p) && p.wall_us <= from_us).map(|p| p.wall_us).max()
    };
    let start_us = before
        .or_else(|| {
            let floor = if req.strict { from_us } else { i64::MIN };
            all.iter()
                .filter(|p| is_key(p) && p.wall_us >= floor && p.wall_us < to_us)
                .map(|p| p.wall_us)
                .min()
        })
        .ok_or_else(nothing)?;
    let mut picked: Vec<Picked> =
        all.into_iter().filter(|p| p.wall_us >= start_us && p.wall_us < to_us).collect();
    // Files in index order; within a file, the tracks interleaved by time (video before audio
    // at equal times). Sorting across files by wall time would interleave two segments that
    // overlap after the stream was re-anchored to the hub's clock, and break decoding order.
    picked.sort_by_key(|p| (p.file, p.wall_us, p.sample.kind == TrackKind::Audio));
    if req.strict {
        // Never past `to` either: a frame still showing at `to` is left out. For video that is
        // the first such frame and every video frame after it (in the rare case of
        // overlapping segments), so no kept frame refers to one left out; audio frames are
        // all independent.
        let over = picked.iter().position(|p| p.sample.kind == TrackKind::Video && p.end_us() > to_us);
        let mut i = 0;
        picked.retain(|p| {
            let keep = match p.sample.kind {
                TrackKind::Video => over.is_none_or(|o| i < o),
                _ => p.end_us() <= to_us,
            };
            i += 1;
            keep
        });
    }
    // A gap between recordings: the last video frame before it is held for the gap, so the
    // video timeline keeps wall-clock time.
    let video_idx: Vec<usize> = picked
        .iter()
        .enumerate()
        .filter(|(_, p)| p.sample.kind == TrackKind::Video)
        .map(|(i, _)| i)
        .collect();
    for pair in video_idx.windows(2) {
        let (a, b) = (&picked[pair[0]], &picked[pair[1]]);
        let scale = i64::from(a.sample.timescale.max(1));
        let end_us = a.wall_us + i64::from(a.sample.duration) * 1_000_000 / scale;
        let gap_us = b.wall_us - end_us;
        if gap_us > 0 {
            let extra = u32::try_from(gap_us * scale / 1_000_000).unwrap_or(u32::MAX);
            picked[pair[0]].stretch = extra;
        }
    }
    let nv = video_idx.len();
    let na = picked.len() - nv;
    if nv == 0 {
        return Err(nothing());
    }
    // The clip ends where its last sample stops showing, whichever track that is.
    let end_us = picked.iter().map(Picked::end_us).max().unwrap_or(start_us);

    let tmp = out.with_extension("mp4.part");
    let write_err = |source| ExportError::Write { path: tmp.clone(), source };
    let creation = std::time::Duration::from_millis(u64::try_from(start_us / 1000).unwrap_or(0));
    let muxer = lay_out(&picked, creation)?;
    let Some(finalized) = muxer.finalized_boxes() else {
        return Err(ExportError::Mux("the clip's index was not built".into()));
    };
    let mut file =
        OpenOptions::new().write(true).create(true).truncate(true).open(&tmp).map_err(write_err)?;
    let result = (|| -> Result<u64, ExportError> {
        file.write_all(muxer.initial_boxes_bytes()).map_err(write_err)?;
        let mut sources: Vec<Option<File>> = (0..segments.len()).map(|_| None).collect();
        let mut data = Vec::new();
        for p in &picked {
            let src = match &mut sources[p.file] {
                Some(f) => f,
                slot => {
                    let path = &segments[p.file].path;
                    slot.insert(
                        File::open(path)
                            .map_err(|source| ExportError::Write { path: path.clone(), source })?,
                    )
                }
            };
            data.resize(p.sample.data_size, 0);
            src.read_exact_at(&mut data, p.sample.data_offset)
                .map_err(|source| ExportError::Write { path: segments[p.file].path.clone(), source })?;
            file.write_all(&data).map_err(write_err)?;
        }
        for (offset, bytes) in finalized.offset_and_bytes_pairs() {
            file.write_all_at(bytes, offset).map_err(write_err)?;
        }
        file.sync_all().map_err(write_err)?;
        Ok(file.metadata().map_err(write_err)?.len())
    })();
    let bytes = match result {
        Ok(b) => b,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    std::fs::rename(&tmp, out).map_err(|source| ExportError::Write { path: out.to_owned(), source })?;
    let used: std::collections::BTreeSet<usize> = picked.iter().map(|p| p.file).collect();
    Ok(ClipInfo {
        camera: req.camera.clone(),
        start_ms: start_us / 1000,
        // Rounded up: the real end, and still within `to` when that was the limit.
        end_ms: (end_us + 999).div_euclid(1000),
        bytes,
        video_samples: nv,
        audio_samples: na,
        segments: used.into_iter().map(|i| segments[i].path.clone()).collect(),
    })
}

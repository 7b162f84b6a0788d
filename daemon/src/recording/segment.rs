//! One segment file: an fMP4 init segment followed by a `moof`+`mdat` fragment per second or
//! so. Each fragment is written with one `write` and made durable with `fdatasync` before the
//! index hears about it, so a crash loses at most the fragment being built (docs/design/
//! recording.md). Boxes come from `shiguredo_mp4`; this file only lays them out and syncs.

use std::fs::{File, OpenOptions};
use std::io::{IoSlice, Write};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use shiguredo_mp4::TrackKind;
use shiguredo_mp4::mux::{Fmp4SegmentMuxer, Sample};

use super::frames::{AudioParams, VideoParams};

#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: cannot build MP4 boxes: {message}", path.display())]
    Mux { path: PathBuf, message: String },
}

impl SegmentError {
    /// Whether the filesystem is full (or over quota).
    pub fn is_disk_full(&self) -> bool {
        matches!(self, Self::Io { source, .. }
            if matches!(source.raw_os_error(), Some(28 /* ENOSPC */ | 122 /* EDQUOT */)))
    }
}

/// Writes every slice, however the kernel splits the writes.
fn write_all_vectored(file: &mut File, mut slices: &mut [IoSlice<'_>]) -> std::io::Result<()> {
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        match file.write_vectored(slices) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A sample waiting in the fragment being built.
#[derive(Debug)]
struct Pending {
    duration: u32,
    keyframe: bool,
    data: Vec<u8>,
}

/// An open segment file.
#[derive(Debug)]
pub struct SegmentFile {
    path: PathBuf,
    file: File,
    muxer: Fmp4SegmentMuxer,
    video: Arc<VideoParams>,
    audio: Option<Arc<AudioParams>>,
    /// Whether the init segment (and so the track list) is on disk.
    started: bool,
    audio_in_init: bool,
    video_entry_sent: bool,
    audio_entry_sent: bool,
    pending_video: Vec<Pending>,
    pending_audio: Vec<Pending>,
    pending_video_ticks: u64,
    /// Bytes durable on disk.
    durable_bytes: u64,
    /// Video ticks durable on disk.
    durable_ticks: u64,
}

impl SegmentFile {
    /// Creates the file (never overwriting one) and makes its directory entry durable.
    pub fn create(
        path: &Path,
        video: Arc<VideoParams>,
        audio: Option<Arc<AudioParams>>,
    ) -> Result<Self, SegmentError> {
        let io = |source| SegmentError::Io { path: path.to_owned(), source };
        let dir = path.parent().unwrap_or(Path::new("."));
        // Directories this creates (a new day, a new camera) are synced into their parents.
        let mut created = Vec::new();
        let mut d = Some(dir);
        while let Some(p) = d.filter(|p| !p.as_os_str().is_empty() && !p.exists()) {
            created.push(p.to_owned());
            d = p.parent();
        }
        std::fs::create_dir_all(dir).map_err(io)?;
        for c in created.iter().rev() {
            if let Some(parent) = c.parent() {
                File::open(parent).and_then(|d| d.sync_all()).map_err(io)?;
            }
        }
        let file = OpenOptions::new().write(true).create_new(true).open(path).map_err(io)?;
        // The new name must survive a power cut too, or recovery would never find the file.
        File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        let muxer = Fmp4SegmentMuxer::new()
            .map_err(|e| SegmentError::Mux { path: path.to_owned(), message: e.to_string() })?;
        Ok(Self {
            path: path.to_owned(),
            file,
            muxer,
            video,
            audio,
            started: false,
            audio_in_init: false,
            video_entry_sent: false,
            audio_entry_sent: false,
            pending_video: Vec::new(),
            pending_audio: Vec::new(),
            pending_video_ticks: 0,
            durable_bytes: 0,
            durable_ticks: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn video(&self) -> &Arc<VideoParams> {
        &self.video
    }

    /// Video ticks written or waiting, since the segment's first frame.
    pub fn ticks(&self) -> u64 {
        self.durable_ticks + self.pending_video_ticks
    }

    pub fn durable_ticks(&self) -> u64 {
        self.durable_ticks
    }

    pub fn durable_bytes(&self) -> u64 {
        self.durable_bytes
    }

    pub fn pending_video_ticks(&self) -> u64 {
        self.pending_video_ticks
    }

    /// Whether the segment still waits for its first audio sample before writing its init
    /// segment (the track list is fixed then).
    pub fn wants_audio_for_init(&self) -> bool {
        !self.started && self.audio.is_some() && self.pending_audio.is_empty()
    }

    pub fn push_video(&mut self, duration: u32, keyframe: bool, data: Vec<u8>) {
        self.pending_video_ticks += u64::from(duration);
        self.pending_video.push(Pending { duration, keyframe, data });
    }

    /// Lengthens the last audio sample not yet written by `ticks` (the audio track's clock), so
    /// that audio keeps in step when the video's timeline is stretched over a re-anchor.
    /// Returns false when there is none to lengthen.
    pub fn stretch_audio(&mut self, ticks: u32) -> bool {
        match self.pending_audio.last_mut() {
            Some(last) => {
                last.duration = last.duration.saturating_add(ticks);
                true
            }
            None => false,
        }
    }

    /// Adds an audio sample; returns false (and drops it) when this segment has no audio track.
    pub fn push_audio(&mut self, duration: u32, data: Vec<u8>) -> bool {
        if self.audio.is_none() || (self.started && !self.audio_in_init) {
            return false;
        }
        self.pending_audio.push(Pending { duration, keyframe: true, data });
        true
    }

    /// Writes the pending samples as one fragment and syncs it. Nothing is written when no
    /// video is pending (a fragment without video would have nothing to show).
    pub fn flush(&mut self) -> Result<(), SegmentError> {
        if self.pending_video.is_empty() {
            return Ok(());
        }
        let mux_err = |e: shiguredo_mp4::mux::MuxError| SegmentError::Mux {
            path: self.path.clone(),
            message: e.to_string(),
        };
        let audio_now =
            self.audio.is_some() && (!self.started || self.audio_in_init) && !self.pending_audio.is_empty();
        let mut samples = Vec::with_capacity(self.pending_video.len() + self.pending_audio.len());
        let mut offset = 0u64;
        let video_rate = NonZeroU32::new(self.video.clock_rate).unwrap_or(NonZeroU32::MIN);
        for (i, p) in self.pending_video.iter().enumerate() {
            samples.push(Sample {
                track_kind: TrackKind::Video,
                sample_entry: (i == 0 && !self.video_entry_sent).then(|| self.video.sample_entry.clone()),
                keyframe: p.keyframe,
                timescale: video_rate,
                duration: p.duration,
                composition_time_offset: None,
                data_offset: offset,
                data_size: p.data.len(),
            });
            offset += p.data.len() as u64;
        }
        if let (true, Some(audio)) = (audio_now, &self.audio) {
            let rate = NonZeroU32::new(audio.clock_rate).unwrap_or(NonZeroU32::MIN);
            for (i, p) in self.pending_audio.iter().enumerate() {
                samples.push(Sample {
                    track_kind: TrackKind::Audio,
                    sample_entry: (i == 0 && !self.audio_entry_sent).then(|| audio.sample_entry.clone()),
                    keyframe: true,
                    timescale: rate,
                    duration: p.duration,
                    composition_time_offset: None,
                    data_offset: offset,
                    data_size: p.data.len(),
                });
                offset += p.data.len() as u64;
            }
        }
        let header = self.muxer.create_media_segment_metadata(&samples).map_err(mux_err)?;
        let init =
            if self.started { Vec::new() } else { self.muxer.init_segment_bytes().map_err(mux_err)? };
        // One vectored write of the boxes and the samples as they are (no copy into one buffer).
        let mut slices: Vec<IoSlice<'_>> =
            Vec::with_capacity(2 + self.pending_video.len() + self.pending_audio.len());
        slices.push(IoSlice::new(&init));
        slices.push(IoSlice::new(&header));
        slices.extend(self.pending_video.iter().map(|p| IoSlice::new(&p.data)));
        if audio_now {
            slices.extend(self.pending_audio.iter().map(|p| IoSlice::new(&p.data)));
        }
        let total: u64 = slices.iter().map(|s| s.len() as u64).sum();
        if let Err(source) =
            write_all_vectored(&mut self.file, &mut slices).and_then(|()| self.file.sync_data())
        {
            // Cut back to the last durable fragment so the file stays playable.
            let _ = self.file.set_len(self.durable_bytes);
            return Err(SegmentError::Io { path: self.path.clone(), source });
        }
        if !self.started {
            self.started = true;
            self.audio_in_init = audio_now;
        }
        self.video_entry_sent = true;
        self.audio_entry_sent |= audio_now;
        self.durable_bytes += total;
        self.durable_ticks += self.pending_video_ticks;
        self.pending_video.clear();
        self.pending_video_ticks = 0;
        self.pending_audio.clear();
        Ok(())
    }

    /// Whether anything reached the disk.
    pub fn is_started(&self) -> bool {
        self.started
    }

    pub fn has_audio(&self) -> bool {
        self.audio_in_init
    }
}

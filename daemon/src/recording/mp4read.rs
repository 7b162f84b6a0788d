//! Reading segment files back: the top-level box walk that finds where a torn file stops being
//! valid, and a file-backed driver for `shiguredo_mp4`'s fMP4 demuxer (which does no I/O
//! itself) used by recovery and clip export.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use shiguredo_mp4::TrackKind;
use shiguredo_mp4::boxes::SampleEntry;
use shiguredo_mp4::demux::{DemuxError, Fmp4FileDemuxer, Input};

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: not a segment file: {message}")]
    Format { path: String, message: String },
}

/// The layout of a segment file as found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Bytes from the start that form a valid init segment plus whole fragments.
    pub valid_len: u64,
    pub file_len: u64,
    pub fragments: usize,
    /// The file holds a complete box that a segment file never has there.
    pub foreign: bool,
}

/// Walks the top-level boxes: `ftyp`, `moov`, then `moof`+`mdat` pairs. Whatever follows the
/// last complete pair (a fragment cut by a crash) is not valid.
pub fn layout(path: &Path) -> Result<Layout, ReadError> {
    let io = |source| ReadError::Io { path: path.display().to_string(), source };
    let file = File::open(path).map_err(io)?;
    let file_len = file.metadata().map_err(io)?.len();
    let mut pos = 0u64;
    let mut valid_len = 0u64;
    let mut fragments = 0usize;
    let mut expect: &[u8; 4] = b"ftyp";
    let mut foreign = false;
    let mut header = [0u8; 16];
    while pos + 8 <= file_len {
        let n = usize::try_from((file_len - pos).min(16)).unwrap_or(16);
        file.read_exact_at(&mut header[..n], pos).map_err(io)?;
        let size32 = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        let kind: [u8; 4] = [header[4], header[5], header[6], header[7]];
        let size = match size32 {
            0 => break, // "to the end of file": never written by the recorder
            1 if n == 16 => u64::from_be_bytes([
                header[8], header[9], header[10], header[11], header[12], header[13], header[14], header[15],
            ]),
            1 => break,
            s => u64::from(s),
        };
        if pos == 0 && &kind != b"ftyp" {
            return Err(ReadError::Format {
                path: path.display().to_string(),
                message: format!("starts with {:?}, not an ftyp box", String::from_utf8_lossy(&kind)),
            });
        }
        if size < 8 || pos.checked_add(size).is_none_or(|end| end > file_len) {
            break;
        }
        match (&kind, expect) {
            (b"ftyp", b"ftyp") => expect = b"moov",
            (b"moov", b"moov") => {
                expect = b"moof";
                valid_len = pos + size;
            }
            (b"moof", b"moof") => expect = b"mdat",
            (b"mdat", b"mdat") => {
                expect = b"moof";
                fragments += 1;
                valid_len = pos + size;
            }
            // A whole box that no recorder segment has here (an `mdat` right after the `moov`:
            // a plain MP4, such as an exported clip): not ours to repair.
            _ => {
                foreign = true;
                break;
            }
        }
        pos += size;
    }
    Ok(Layout { valid_len, file_len, fragments, foreign })
}

/// A sample as export and recovery need it.
#[derive(Debug, Clone)]
pub struct SampleInfo {
    pub kind: TrackKind,
    pub timescale: u32,
    /// Decode time from the segment's start, in `timescale` ticks.
    pub timestamp: u64,
    pub duration: u32,
    pub keyframe: bool,
    pub data_offset: u64,
    pub data_size: usize,
    /// Set on a track's first sample and whenever its entry changes.
    pub sample_entry: Option<SampleEntry>,
}

/// Every sample of an fMP4 file, in file order, reading only what the demuxer asks for.
pub fn samples(path: &Path) -> Result<Vec<SampleInfo>, ReadError> {
    let io = |source| ReadError::Io { path: path.display().to_string(), source };
    let format =
        |e: DemuxError| ReadError::Format { path: path.display().to_string(), message: e.to_string() };
    // Only the whole fragments: a file being written (or torn by a crash) may end in a part.
    let len = layout(path)?.valid_len;
    let file = File::open(path).map_err(io)?;
    let mut demuxer = Fmp4FileDemuxer::new();
    let mut buf = Vec::new();
    let mut out = Vec::new();
    loop {
        if let Some(required) = demuxer.required_input() {
            let start = required.position.min(len);
            let want = required.size.map_or(len - start, |s| (s as u64).min(len - start));
            buf.resize(usize::try_from(want).unwrap_or(0), 0);
            file.read_exact_at(&mut buf, start).map_err(io)?;
            demuxer.handle_input(Input { position: start, data: &buf });
            continue;
        }
        match demuxer.next_sample() {
            Ok(Some(s)) => out.push(SampleInfo {
                kind: s.track.kind,
                timescale: s.track.timescale.get(),
                timestamp: s.timestamp,
                duration: s.duration,
                keyframe: s.keyframe,
                data_offset: s.data_offset,
                data_size: s.data_size,
                sample_entry: s.sample_entry.cloned(),
            }),
            Ok(None) => return Ok(out),
            Err(DemuxError::InputRequired(_)) => {
                if demuxer.required_input().is_none() {
                    return Err(format(DemuxError::InputRequired(shiguredo_mp4::demux::RequiredInput {
                        position: len,
                        size: None,
                    })));
                }
            }
            Err(e) => return Err(format(e)),
        }
    }
}

/// The video duration of a file's samples, in milliseconds.
pub fn video_millis(samples: &[SampleInfo]) -> i64 {
    let mut ticks = 0u64;
    let mut scale = 90_000u64;
    for s in samples.iter().filter(|s| s.kind == TrackKind::Video) {
        ticks += u64::from(s.duration);
        scale = u64::from(s.timescale.max(1));
    }
    i64::try_from(ticks * 1000 / scale).unwrap_or(i64::MAX)
}

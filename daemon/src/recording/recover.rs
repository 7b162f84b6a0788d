//! Start-up recovery: makes the index and the files agree after a crash or power cut.
//!
//! - A segment still `open` in the index was being written: its file is cut back to the last
//!   whole fragment, and the row gets the file's true end and size (`recovered`).
//! - A row whose file is missing (crash between the insert and the create, or a file removed
//!   by hand) is dropped.
//! - A segment file the index does not know (an index restored from a backup, a lost WAL
//!   commit) is adopted: repaired the same way and added as `recovered`.

use std::fs::OpenOptions;
use std::path::Path;

use shiguredo_mp4::TrackKind;
use shiguredo_mp4::boxes::SampleEntry;

use super::index::{Index, NewSegment};
use super::mp4read::{self, SampleInfo};
use super::writer::start_from_name;

/// What recovery did, for the log and for tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub repaired: usize,
    pub truncated_bytes: u64,
    pub dropped_rows: usize,
    pub removed_files: usize,
    pub adopted: usize,
}

/// Repairs `index` against the files under `dir`. Problems with one file are logged and do
/// not stop the others.
pub fn recover(index: &Index, dir: &Path) -> Report {
    let mut report = Report::default();
    match index.open_segments() {
        Ok(open) => {
            for seg in open {
                let _span = tracing::info_span!("recover", camera = %seg.camera).entered();
                if !seg.path.exists() {
                    tracing::warn!(path = %seg.path.display(), "Segment file missing; dropping it from the index");
                    let _ = index.delete_segment(seg.id);
                    report.dropped_rows += 1;
                    continue;
                }
                match repair(&seg.path) {
                    Ok(Some(Repaired { bytes, millis, cut, .. })) => {
                        report.repaired += 1;
                        report.truncated_bytes += cut;
                        tracing::info!(
                            path = %seg.path.display(), bytes, cut_bytes = cut, duration_ms = millis,
                            "Recovered a segment that was open when the daemon stopped"
                        );
                        if let Err(e) = index.close_segment(seg.id, seg.start_ms + millis, bytes, "recovered")
                        {
                            tracing::warn!(error = %e, "Cannot update the index");
                        }
                    }
                    Ok(None) => {
                        tracing::info!(path = %seg.path.display(), "Segment held no whole fragment; removing it");
                        let _ = std::fs::remove_file(&seg.path);
                        let _ = index.delete_segment(seg.id);
                        report.removed_files += 1;
                        report.dropped_rows += 1;
                    }
                    Err(e) => tracing::warn!(error = %e, "Cannot recover segment; leaving it open"),
                }
            }
        }
        Err(e) => tracing::error!(error = %e, "Cannot list open segments"),
    }
    adopt_orphans(index, dir, &mut report);
    report
}

/// A segment file after repair.
struct Repaired {
    bytes: u64,
    millis: i64,
    cut: u64,
    samples: Vec<SampleInfo>,
}

/// Cuts a torn file back to its last whole fragment; `None` when no whole fragment is left.
fn repair(path: &Path) -> Result<Option<Repaired>, String> {
    let layout = mp4read::layout(path).map_err(|e| e.to_string())?;
    if layout.foreign && layout.fragments == 0 {
        return Err(format!("{}: not a fragmented recording (a plain MP4?); left alone", path.display()));
    }
    if layout.fragments == 0 {
        return Ok(None);
    }
    let cut = layout.file_len - layout.valid_len;
    if cut > 0 {
        let file =
            OpenOptions::new().write(true).open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        file.set_len(layout.valid_len)
            .and_then(|()| file.sync_all())
            .map_err(|e| format!("{}: cannot truncate: {e}", path.display()))?;
    }
    let samples = mp4read::samples(path).map_err(|e| e.to_string())?;
    Ok(Some(Repaired { bytes: layout.valid_len, millis: mp4read::video_millis(&samples), cut, samples }))
}

fn adopt_orphans(index: &Index, dir: &Path, report: &mut Report) {
    let Ok(cameras) = std::fs::read_dir(dir) else { return };
    for camera in cameras.flatten() {
        let Ok(name) = camera.file_name().into_string() else { continue };
        let Ok(days) = std::fs::read_dir(camera.path()) else { continue };
        for day in days.flatten() {
            let Ok(files) = std::fs::read_dir(day.path()) else { continue };
            for file in files.flatten() {
                let path = file.path();
                if path.extension().is_none_or(|e| e != "mp4") {
                    continue;
                }
                if index.has_path(&path).unwrap_or(true) {
                    continue;
                }
                let Some(start_ms) = start_from_name(&path) else { continue };
                let _span = tracing::info_span!("recover", camera = %name).entered();
                match repair(&path) {
                    Ok(Some(Repaired { bytes, millis, samples, .. })) => {
                        let Some((codec, width, height)) = describe(&samples) else {
                            tracing::warn!(path = %path.display(), "Orphan segment has no video track; leaving it");
                            continue;
                        };
                        let audio = samples
                            .iter()
                            .find(|s| s.kind == TrackKind::Audio)
                            .and_then(|s| s.sample_entry.as_ref())
                            .and_then(|e| shiguredo_mp4::codec_string::from_sample_entry(e).ok());
                        let row = NewSegment {
                            camera: &name,
                            start_ms,
                            path: &path,
                            codec: &codec,
                            width,
                            height,
                            audio: audio.as_deref(),
                        };
                        match index.insert_segment(&row) {
                            Ok(id) => {
                                let _ = index.close_segment(id, start_ms + millis, bytes, "recovered");
                                tracing::info!(path = %path.display(), "Adopted a segment file the index did not list");
                                report.adopted += 1;
                            }
                            Err(e) => tracing::warn!(error = %e, "Cannot adopt segment"),
                        }
                    }
                    Ok(None) => {
                        tracing::info!(path = %path.display(), "Unlisted segment held no whole fragment; removing it");
                        let _ = std::fs::remove_file(&path);
                        report.removed_files += 1;
                    }
                    Err(e) => tracing::warn!(error = %e, "Cannot read unlisted segment; leaving it"),
                }
            }
        }
    }
}

/// Codec string and size of the first video sample entry.
fn describe(samples: &[SampleInfo]) -> Option<(String, u32, u32)> {
    let entry = samples.iter().find(|s| s.kind == TrackKind::Video)?.sample_entry.as_ref()?;
    let codec = shiguredo_mp4::codec_string::from_sample_entry(entry).ok()?;
    let (w, h) = match entry {
        SampleEntry::Avc1(b) => (b.visual.width, b.visual.height),
        SampleEntry::Hev1(b) => (b.visual.width, b.visual.height),
        SampleEntry::Hvc1(b) => (b.visual.width, b.visual.height),
        _ => return None,
    };
    Some((codec, u32::from(w), u32::from(h)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_without_files_are_dropped_and_files_without_a_fragment_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let index = Index::open(&dir.path().join("index.sqlite")).expect("index");
        let rec = dir.path().join("rec");
        let missing = rec.join("door/day/1000.mp4");
        let seg = NewSegment {
            camera: "door",
            start_ms: 1000,
            path: &missing,
            codec: "x",
            width: 1,
            height: 1,
            audio: None,
        };
        index.insert_segment(&seg).expect("insert");
        // An open segment whose file holds only part of an init segment (crash at once).
        let stub = rec.join("door/day/2000.mp4");
        std::fs::create_dir_all(stub.parent().expect("parent")).expect("mkdir");
        std::fs::write(&stub, [0, 0, 0, 24, b'f', b't', b'y', b'p', 0, 0]).expect("write");
        let seg = NewSegment { start_ms: 2000, path: &stub, ..seg };
        index.insert_segment(&seg).expect("insert");
        // An unlisted file that is not MP4 at all is left alone.
        let junk = rec.join("door/day/3000.mp4");
        std::fs::write(&junk, b"not a video").expect("write");

        let report = recover(&index, &rec);
        assert_eq!(report.dropped_rows, 2, "{report:?}");
        assert_eq!(report.removed_files, 1, "{report:?}");
        assert_eq!(report.adopted, 0);
        assert!(!stub.exists());
        assert!(junk.exists(), "a file recovery cannot read is never deleted");
        assert!(index.segments(None, 0, i64::MAX).expect("list").is_empty());
    }
}

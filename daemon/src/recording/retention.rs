//! Retention: deletes the oldest finished segments first, by each camera's `max_age`, then by
//! the global `max_bytes`, then until the filesystem has `min_free_bytes` free. A segment that
//! a pin touches (evidence that was shared, or that the resident pinned) and a segment still
//! being written are never deleted, even if that means the limits cannot be met — then the
//! sweep says so and the writers stop at the disk-full error instead.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::index::{Index, IndexError, Segment};
use crate::metrics::{Label, Metric, Metrics};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Per camera (cameras in the config); `None` keeps footage regardless of age.
    pub max_age: BTreeMap<String, Option<Duration>>,
    /// The age limit for cameras no longer in the config.
    pub default_max_age: Option<Duration>,
    pub max_bytes: Option<u64>,
    pub min_free_bytes: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Sweep {
    pub deleted: usize,
    pub freed_bytes: u64,
    /// Limits that could not be met because everything left is pinned or open.
    pub unmet: Vec<String>,
}

/// A sweep after a failed write frees room for this much recording at the current write rate
/// (all cameras together), so that the cameras record for a while before the disk is full
/// again, instead of failing every few seconds.
pub const EMERGENCY_HEADROOM: Duration = Duration::from_secs(5 * 60);

/// The least free space a sweep after a failed write aims for: 64 MiB, or a tenth of the
/// filesystem if that is smaller.
pub const EMERGENCY_FREE_BYTES: u64 = 64 << 20;

/// The free space a sweep after a failed write aims for, beyond `min_free_bytes`:
/// [`EMERGENCY_HEADROOM`] at `rate` bytes per second, at least [`EMERGENCY_FREE_BYTES`] (or a
/// tenth of a filesystem of `fs_bytes`). Bounded by what is deletable: the sweep never deletes
/// pinned or open segments, so it may fall short.
pub fn emergency_target(rate: f64, fs_bytes: u64) -> u64 {
    let headroom = (rate.max(0.0) * EMERGENCY_HEADROOM.as_secs_f64()) as u64;
    headroom.max(EMERGENCY_FREE_BYTES.min(fs_bytes / 10))
}

/// One retention pass at wall time `now_ms`. `emergency`: a writer just failed for lack of
/// space (something else filled the disk, or `min_free_bytes` is 0), so the pass also frees
/// until this many bytes are free ([`emergency_target`]).
pub fn sweep(
    index: &Index,
    dir: &Path,
    policy: &Policy,
    now_ms: i64,
    emergency: Option<u64>,
    metrics: &Metrics,
) -> Result<Sweep, IndexError> {
    let mut out = Sweep::default();
    // 1. Age, per camera.
    for (camera, _, _) in index.usage()? {
        let max_age = policy.max_age.get(&camera).copied().unwrap_or(policy.default_max_age);
        let Some(max_age) = max_age else { continue };
        let before = now_ms.saturating_sub(i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX));
        for seg in index.deletable(Some(&camera), before)? {
            if delete(index, dir, &seg, "max_age", metrics, &mut out)? == Outcome::Stop {
                return Ok(out);
            }
        }
    }
    // 2. Total bytes.
    if let Some(max) = policy.max_bytes {
        let mut total: u64 = index.usage()?.iter().map(|(_, b, _)| b).sum();
        if total > max {
            for seg in index.deletable(None, i64::MAX)? {
                if total <= max {
                    break;
                }
                match delete(index, dir, &seg, "max_bytes", metrics, &mut out)? {
                    Outcome::Deleted => total = total.saturating_sub(seg.bytes),
                    Outcome::Kept => {}
                    Outcome::Stop => return Ok(out),
                }
            }
            if total > max {
                out.unmet
                    .push(format!("max_bytes: {total} bytes of recordings left are pinned or being written"));
            }
        }
    }
    // 3. Free space on the filesystem (skipped when it cannot be read: a missing or failing
    // disk must not make retention delete everything).
    let want = policy.min_free_bytes.max(emergency.unwrap_or(0));
    if want > 0 {
        let Some(mut free) = super::free_bytes_checked(dir) else {
            out.unmet.push(format!("min_free_bytes: cannot read the free space of {}", dir.display()));
            return Ok(out);
        };
        if free < want {
            let reason = if emergency.is_some() { "disk_full" } else { "min_free_bytes" };
            for seg in index.deletable(None, i64::MAX)? {
                if free >= want {
                    break;
                }
                if delete(index, dir, &seg, reason, metrics, &mut out)? == Outcome::Stop {
                    return Ok(out);
                }
                free = super::free_bytes_checked(dir).unwrap_or(0);
            }
            if free < want && emergency.is_none() {
                out.unmet.push(format!(
                    "min_free_bytes: only {free} bytes free and nothing left that may be deleted"
                ));
            }
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Deleted,
    /// A pin made since the list was read keeps it.
    Kept,
    /// The file could not be removed: stop the sweep.
    Stop,
}

fn delete(
    index: &Index,
    dir: &Path,
    seg: &Segment,
    reason: &str,
    metrics: &Metrics,
    out: &mut Sweep,
) -> Result<Outcome, IndexError> {
    // The row first: a crash in between leaves an unlisted file, which recovery adopts and a
    // later sweep deletes, never a row pointing at nothing. A pin made since the list was read
    // keeps the segment.
    if !index.delete_unpinned(seg.id)? {
        return Ok(Outcome::Kept);
    }
    match std::fs::remove_file(&seg.path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            // A read-only or failing disk: stop rather than empty the index of files that stay.
            tracing::error!(path = %seg.path.display(), error = %e, "Cannot delete segment file; retention stops");
            return Ok(Outcome::Stop);
        }
    }
    // Remove the day directory once empty (only inside the recordings directory).
    if let Some(day) = seg.path.parent()
        && day.starts_with(dir)
    {
        let _ = std::fs::remove_dir(day);
    }
    tracing::debug!(camera = %seg.camera, path = %seg.path.display(), reason, "Retention deleted a segment");
    metrics.inc(Metric::RetentionDeleted, &[(Label::Reason, reason)]);
    out.deleted += 1;
    out.freed_bytes += seg.bytes;
    Ok(Outcome::Deleted)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::recording::index::NewSegment;

    const DAY: i64 = 86_400_000;

    /// An index with `n` closed one-hour segments per camera, one file of `bytes` each, the
    /// newest ending at `now`.
    fn setup(cameras: &[&str], n: i64, bytes: usize, now: i64) -> (tempfile::TempDir, Index) {
        let dir = tempfile::tempdir().expect("tempdir");
        let index = Index::open(&dir.path().join("index.sqlite")).expect("index");
        for cam in cameras {
            for i in 0..n {
                let start = now - (n - i) * 3_600_000;
                let path = dir.path().join(cam).join("day").join(format!("{start}.mp4"));
                std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
                std::fs::write(&path, vec![0u8; bytes]).expect("write");
                let seg = NewSegment {
                    camera: cam,
                    start_ms: start,
                    path: &path,
                    codec: "x",
                    width: 1,
                    height: 1,
                    audio: None,
                };
                let id = index.insert_segment(&seg).expect("insert");
                index.close_segment(id, start + 3_600_000, bytes as u64, "closed").expect("close");
            }
        }
        (dir, index)
    }

    fn left(index: &Index, camera: &str) -> Vec<PathBuf> {
        index.segments(Some(camera), 0, i64::MAX).expect("list").into_iter().map(|s| s.path).collect()
    }

    #[test]
    fn each_camera_keeps_its_own_max_age_and_the_default_applies_to_the_rest() {
        let now = 100 * DAY;
        let (dir, index) = setup(&["door", "yard", "gone"], 48, 10, now);
        let policy = Policy {
            max_age: [("door".to_owned(), Some(Duration::from_secs(6 * 3600))), ("yard".to_owned(), None)]
                .into(),
            default_max_age: Some(Duration::from_secs(24 * 3600)),
            max_bytes: None,
            min_free_bytes: 0,
        };
        let swept = sweep(&index, dir.path(), &policy, now, None, &Metrics::new()).expect("sweep");
        assert_eq!(left(&index, "door").len(), 6);
        assert_eq!(left(&index, "yard").len(), 48, "no age limit for yard");
        assert_eq!(left(&index, "gone").len(), 24, "a camera not in the config gets storage.max_age");
        assert_eq!(swept.deleted, 42 + 24);
        // Files go with their rows.
        let files = walk(dir.path());
        assert_eq!(files, 6 + 48 + 24);
    }

    #[test]
    fn max_bytes_deletes_oldest_first_across_cameras_but_never_pinned_ones() {
        let now = 10 * DAY;
        let (dir, index) = setup(&["door", "yard"], 5, 100, now);
        let oldest_door = left(&index, "door")[0].clone();
        index.pin("door", now - 5 * 3_600_000, now - 5 * 3_600_000 + 1, "case 7", now).expect("pin");
        let policy = Policy { max_bytes: Some(450), ..Policy::default() };
        let metrics = Metrics::new();
        let swept = sweep(&index, dir.path(), &policy, now, None, &metrics).expect("sweep");
        // 1000 bytes, limit 450: six go, oldest first, skipping the pinned one (100 + 4 left).
        assert_eq!(swept.deleted, 6);
        assert!(swept.unmet.is_empty());
        assert!(oldest_door.exists());
        assert!(left(&index, "door").contains(&oldest_door));
        let total: usize = ["door", "yard"].iter().map(|c| left(&index, c).len()).sum();
        assert_eq!(total, 4);
        assert_eq!(metrics.get(Metric::RetentionDeleted, &[(Label::Reason, "max_bytes")]), 6);
    }

    #[test]
    fn a_limit_that_only_pinned_footage_blocks_is_reported_unmet() {
        let now = 10 * DAY;
        let (dir, index) = setup(&["door"], 3, 100, now);
        index.pin("door", 0, now, "everything", now).expect("pin");
        let policy = Policy { max_bytes: Some(10), ..Policy::default() };
        let swept = sweep(&index, dir.path(), &policy, now, None, &Metrics::new()).expect("sweep");
        assert_eq!(swept.deleted, 0);
        assert_eq!(swept.unmet.len(), 1, "{swept:?}");
        assert_eq!(left(&index, "door").len(), 3);
    }

    #[test]
    fn an_emergency_sweep_aims_for_minutes_of_recording_at_the_current_rate() {
        // 1 MB/s for five minutes.
        assert_eq!(emergency_target(1e6, 1 << 40), 300_000_000);
        // A trickle: the floor, 64 MiB, or a tenth of a small disk.
        assert_eq!(emergency_target(10.0, 1 << 40), 64 << 20);
        assert_eq!(emergency_target(10.0, 64 << 20), (64 << 20) / 10);
        // On a small disk, minutes at the rate win over a tenth of it: room for them, as far as
        // unpinned footage allows.
        assert_eq!(emergency_target(70_000.0, 64 << 20), 21_000_000);
        assert_eq!(emergency_target(0.0, 0), 0);
    }

    fn walk(dir: &Path) -> usize {
        let mut n = 0;
        for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                n += walk(&p);
            } else if p.extension().is_some_and(|x| x == "mp4") {
                n += 1;
            }
        }
        n
    }
}

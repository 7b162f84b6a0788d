//! Retention: deletes the oldest finished segments first, by each camera's `max_age`, then by
//! the global `max_bytes`, then until the filesystem has `min_free_bytes` free. A segment that
//! a pin touches (evidence that was shared, or that the resident pinned) and a segment still
//! being written are never deleted, even if that means the limits cannot be met — then the
//! sweep says so and the writers stop at the disk-full error instead.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::index::{Index, IndexError, Segment};
use crate::metrics::Metrics;

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

/// Free space a sweep after a failed write aims for, beyond `min_free_bytes`: 64 MiB, or a
/// tenth of the filesystem if that is smaller (a small disk must not be emptied for it).
pub const EMERGENCY_FREE_BYTES: u64 = 64 << 20;

/// One retention pass at wall time `now_ms`. `emergency`: a writer just failed for lack of
/// space (something else filled the disk, or `min_free_bytes` is 0), so the pass also frees
/// [`EMERGENCY_FREE_BYTES`].
pub fn sweep(
    index: &Index,
    dir: &Path,
    policy: &Policy,
    now_ms: i64,
    emergency: bool,
    metrics: &Metrics,
) -> Result<Sweep, IndexError> {
    let mut out = Sweep::default();
    // 1. Age, per camera.
    for (camera, _, _) in index.usage()? {
        let max_age = policy.max_age.get(&camera).copied().unwrap_or(policy.default_max_age);
        let Some(max_age) = max_age else { continue };
        let before = now_ms.saturating_sub(i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX));
        for seg in index.deletable(Some(&camera), before)? {
            delete(index, dir, &seg, "max_age", metrics, &mut out)?;
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
                total = total.saturating_sub(seg.bytes);
                delete(index, dir, &seg, "max_bytes", metrics, &mut out)?;
            }
            if total > max {
                out.unmet
                    .push(format!("max_bytes: {total} bytes of recordings left are pinned or being written"));
            }
        }
    }
    // 3. Free space on the filesystem.
    let want = if emergency {
        policy.min_free_bytes.max(EMERGENCY_FREE_BYTES.min(super::total_bytes(dir) / 10))
    } else {
        policy.min_free_bytes
    };
    if want > 0 {
        let mut free = super::free_bytes(dir);
        if free < want {
            for seg in index.deletable(None, i64::MAX)? {
                if free >= want {
                    break;
                }
                delete(
                    index,
                    dir,
                    &seg,
                    if emergency { "disk_full" } else { "min_free_bytes" },
                    metrics,
                    &mut out,
                )?;
                free = super::free_bytes(dir);
            }
            if free < want && !emergency {
                out.unmet.push(format!(
                    "min_free_bytes: only {free} bytes free and nothing left that may be deleted"
                ));
            }
        }
    }
    Ok(out)
}

fn delete(
    index: &Index,
    dir: &Path,
    seg: &Segment,
    reason: &str,
    metrics: &Metrics,
    out: &mut Sweep,
) -> Result<(), IndexError> {
    // The row first: a crash in between leaves an unlisted file, which recovery adopts and a
    // later sweep deletes, never a row pointing at nothing.
    index.delete_segment(seg.id)?;
    match std::fs::remove_file(&seg.path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(path = %seg.path.display(), error = %e, "Cannot delete segment file"),
    }
    // Remove the day directory once empty (only inside the recordings directory).
    if let Some(day) = seg.path.parent()
        && day.starts_with(dir)
    {
        let _ = std::fs::remove_dir(day);
    }
    tracing::debug!(camera = %seg.camera, path = %seg.path.display(), reason, "Retention deleted a segment");
    metrics.inc("porchlight_retention_deleted_total", &[("reason", reason)]);
    out.deleted += 1;
    out.freed_bytes += seg.bytes;
    Ok(())
}

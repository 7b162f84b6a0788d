//! Small file helpers shared by the subsystems that keep state on disk (privacy switch, hub mode,
//! paused cameras, adopted cameras, the relay's outbox, MQTT discovery). A leaf: it imports
//! nothing of the crate.

use serde::Serialize;
use std::path::Path;

/// Writes `value` as JSON to `path` so that a crash leaves the old file or the new one.
pub fn write_atomically<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

//! The recording index: one SQLite database (WAL mode) under the data directory that lists every
//! segment file with its camera, wall-clock span, size and codec, the gaps between recordings,
//! camera events, and pins that retention must respect. The schema is versioned with
//! `PRAGMA user_version` and upgraded by [`MIGRATIONS`] in one transaction.
//!
//! Times are milliseconds since the Unix epoch (UTC). The index is shared by the daemon's
//! writers and by the CLI (`recordings list`, `clip export`), which open it read-mostly beside a
//! running daemon; SQLite's WAL mode lets them read while the daemon writes.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::writes::WriteStatus;

/// Schema upgrades; entry `n` takes a database from version `n` to `n + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    "CREATE TABLE cameras (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE
     );
     CREATE TABLE segments (
        id INTEGER PRIMARY KEY,
        camera_id INTEGER NOT NULL REFERENCES cameras(id),
        start_ms INTEGER NOT NULL,
        end_ms INTEGER NOT NULL,
        path TEXT NOT NULL UNIQUE,
        bytes INTEGER NOT NULL DEFAULT 0,
        codec TEXT NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        audio TEXT,
        state TEXT NOT NULL CHECK (state IN ('open', 'closed', 'recovered'))
     );
     CREATE INDEX segments_by_camera_time ON segments(camera_id, start_ms);
     CREATE INDEX segments_by_time ON segments(start_ms);
     CREATE TABLE gaps (
        id INTEGER PRIMARY KEY,
        camera_id INTEGER NOT NULL REFERENCES cameras(id),
        start_ms INTEGER NOT NULL,
        end_ms INTEGER NOT NULL,
        reason TEXT NOT NULL
     );
     CREATE INDEX gaps_by_camera_time ON gaps(camera_id, start_ms);
     CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        camera_id INTEGER NOT NULL REFERENCES cameras(id),
        kind TEXT NOT NULL,
        start_ms INTEGER NOT NULL,
        end_ms INTEGER
     );
     CREATE INDEX events_by_camera_time ON events(camera_id, start_ms);
     CREATE TABLE pins (
        id INTEGER PRIMARY KEY,
        camera_id INTEGER NOT NULL REFERENCES cameras(id),
        start_ms INTEGER NOT NULL,
        end_ms INTEGER NOT NULL,
        reason TEXT NOT NULL,
        created_ms INTEGER NOT NULL
     );
     CREATE INDEX pins_by_camera_time ON pins(camera_id, start_ms);",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("recording index {}: {source}", path.display())]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    #[error(
        "recording index {} has schema version {found}, newer than this build's {SCHEMA_VERSION}; \
         upgrade porchlight or restore a backup",
        path.display()
    )]
    TooNew { path: PathBuf, found: usize },
    #[error(
        "recording index {} has schema version {found}, older than this build's {SCHEMA_VERSION}; \
         start the daemon once to upgrade it",
        path.display()
    )]
    TooOld { path: PathBuf, found: usize },
}

/// A segment as the index lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Segment {
    pub id: i64,
    pub camera: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub path: PathBuf,
    pub bytes: u64,
    pub codec: String,
    pub width: u32,
    pub height: u32,
    pub audio: Option<String>,
    pub state: String,
}

/// What a writer knows when it opens a segment.
#[derive(Debug, Clone)]
pub struct NewSegment<'a> {
    pub camera: &'a str,
    pub start_ms: i64,
    pub path: &'a Path,
    pub codec: &'a str,
    pub width: u32,
    pub height: u32,
    pub audio: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gap {
    pub camera: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pin {
    pub id: i64,
    pub camera: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub reason: String,
}

/// A camera event as the index keeps it (`motion_start`, `motion_end`, `trigger`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexedEvent {
    pub camera: String,
    pub kind: String,
    pub at_ms: i64,
}

/// The reason a pin gets when the resident gives none.
pub const DEFAULT_PIN_REASON: &str = "pinned by the resident";

/// The longest pin reason kept, in characters.
pub const MAX_PIN_REASON: usize = 512;

/// A pin the resident asked for (`POST /api/pins`, `porchlight recordings pin`) that is not
/// made, and why; each names the field at fault.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    #[error("`from` ({}) must be before `to` ({})", super::fmt_ms(*from_ms), super::fmt_ms(*to_ms))]
    Order { from_ms: i64, to_ms: i64 },
    #[error("`camera`: no camera named {0:?} in the config or the recordings")]
    UnknownCamera(String),
    #[error("`reason` is {0} characters long; at most {MAX_PIN_REASON} are kept")]
    ReasonTooLong(usize),
    #[error(transparent)]
    Index(#[from] IndexError),
}

/// The index. Cheap to clone; all clones share one connection (and one [`WriteStatus`]).
#[derive(Debug, Clone)]
pub struct Index {
    path: Arc<PathBuf>,
    conn: Arc<Mutex<Connection>>,
    writes: WriteStatus,
}

impl Index {
    /// Opens (creating if needed) the index at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, IndexError> {
        let err = |source| IndexError::Sqlite { path: path.to_owned(), source };
        let mut conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(err)?;
        // WAL: readers (the CLI, the API) never block the writers. NORMAL: a commit is durable
        // once the WAL is checkpointed; after a power cut the last commits may be missing, which
        // start-up recovery repairs from the files themselves (docs/design/recording.md).
        conn.pragma_update(None, "journal_mode", "WAL").map_err(err)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(err)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(err)?;
        migrate(&mut conn).map_err(|e| match e {
            MigrateError::Sqlite(source) => err(source),
            MigrateError::TooNew(found) => IndexError::TooNew { path: path.to_owned(), found },
        })?;
        Ok(Self {
            path: Arc::new(path.to_owned()),
            conn: Arc::new(Mutex::new(conn)),
            writes: WriteStatus::default(),
        })
    }

    /// Opens an existing index for a command-line tool: never creates or upgrades it (the
    /// daemon owns that), and refuses a schema it does not know.
    pub fn open_existing(path: &Path) -> Result<Self, IndexError> {
        let err = |source| IndexError::Sqlite { path: path.to_owned(), source };
        let conn =
            Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(err)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(err)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(err)?;
        let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(err)?;
        let v = usize::try_from(v).unwrap_or(0);
        if v > SCHEMA_VERSION {
            return Err(IndexError::TooNew { path: path.to_owned(), found: v });
        }
        if v < SCHEMA_VERSION {
            return Err(IndexError::TooOld { path: path.to_owned(), found: v });
        }
        Ok(Self {
            path: Arc::new(path.to_owned()),
            conn: Arc::new(Mutex::new(conn)),
            writes: WriteStatus::default(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the writers of this process report: failing cameras, the write rate.
    pub fn writes(&self) -> &WriteStatus {
        &self.writes
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn err(&self, source: rusqlite::Error) -> IndexError {
        IndexError::Sqlite { path: self.path.to_path_buf(), source }
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<usize, IndexError> {
        let v: i64 =
            self.conn().query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|e| self.err(e))?;
        Ok(usize::try_from(v).unwrap_or(0))
    }

    fn camera_id(conn: &Connection, name: &str) -> rusqlite::Result<i64> {
        conn.execute("INSERT OR IGNORE INTO cameras(name) VALUES (?1)", [name])?;
        conn.query_row("SELECT id FROM cameras WHERE name = ?1", [name], |r| r.get(0))
    }

    /// Adds an open segment and returns its id.
    pub fn insert_segment(&self, s: &NewSegment<'_>) -> Result<i64, IndexError> {
        let conn = self.conn();
        let run = || -> rusqlite::Result<i64> {
            let camera = Self::camera_id(&conn, s.camera)?;
            conn.execute(
                "INSERT INTO segments(camera_id, start_ms, end_ms, path, bytes, codec, width, height, audio, state)
                 VALUES (?1, ?2, ?2, ?3, 0, ?4, ?5, ?6, ?7, 'open')",
                params![camera, s.start_ms, s.path.to_string_lossy(), s.codec, s.width, s.height, s.audio],
            )?;
            Ok(conn.last_insert_rowid())
        };
        run().map_err(|e| self.err(e))
    }

    /// Records how far an open segment has got (after each durable fragment).
    pub fn update_segment(&self, id: i64, end_ms: i64, bytes: u64) -> Result<(), IndexError> {
        self.conn()
            .execute(
                "UPDATE segments SET end_ms = ?2, bytes = ?3 WHERE id = ?1",
                params![id, end_ms, i64::try_from(bytes).unwrap_or(i64::MAX)],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Marks a segment finished (`closed` by its writer, or `recovered` after a crash).
    pub fn close_segment(&self, id: i64, end_ms: i64, bytes: u64, state: &str) -> Result<(), IndexError> {
        self.conn()
            .execute(
                "UPDATE segments SET end_ms = ?2, bytes = ?3, state = ?4 WHERE id = ?1",
                params![id, end_ms, i64::try_from(bytes).unwrap_or(i64::MAX), state],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Deletes a finished segment's row unless a pin now touches it (a pin made while a
    /// retention sweep runs wins). Returns whether the row was deleted.
    pub fn delete_unpinned(&self, id: i64) -> Result<bool, IndexError> {
        self.conn()
            .execute(
                "DELETE FROM segments WHERE id = ?1 AND state != 'open'
                   AND NOT EXISTS (SELECT 1 FROM pins p WHERE p.camera_id = segments.camera_id
                                   AND p.start_ms < segments.end_ms AND p.end_ms > segments.start_ms)",
                [id],
            )
            .map(|n| n > 0)
            .map_err(|e| self.err(e))
    }

    /// Whether a camera has ever been recorded (or pinned).
    pub fn knows_camera(&self, camera: &str) -> Result<bool, IndexError> {
        self.conn()
            .query_row("SELECT 1 FROM cameras WHERE name = ?1", [camera], |_| Ok(()))
            .optional()
            .map(|o| o.is_some())
            .map_err(|e| self.err(e))
    }

    pub fn delete_segment(&self, id: i64) -> Result<(), IndexError> {
        self.conn().execute("DELETE FROM segments WHERE id = ?1", [id]).map(drop).map_err(|e| self.err(e))
    }

    fn segment_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Segment> {
        Ok(Segment {
            id: r.get(0)?,
            camera: r.get(1)?,
            start_ms: r.get(2)?,
            end_ms: r.get(3)?,
            path: PathBuf::from(r.get::<_, String>(4)?),
            bytes: u64::try_from(r.get::<_, i64>(5)?).unwrap_or(0),
            codec: r.get(6)?,
            width: r.get(7)?,
            height: r.get(8)?,
            audio: r.get(9)?,
            state: r.get(10)?,
        })
    }

    const SEGMENT_COLUMNS: &str =
        "s.id, c.name, s.start_ms, s.end_ms, s.path, s.bytes, s.codec, s.width, s.height, s.audio, s.state";

    /// Segments that overlap `[from, to)`, oldest first; every camera when `camera` is `None`.
    pub fn segments(
        &self,
        camera: Option<&str>,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<Segment>, IndexError> {
        let conn = self.conn();
        let sql = format!(
            "SELECT {} FROM segments s JOIN cameras c ON c.id = s.camera_id
             WHERE (?1 IS NULL OR c.name = ?1) AND s.end_ms > ?2 AND s.start_ms < ?3
             ORDER BY s.start_ms, s.id",
            Self::SEGMENT_COLUMNS
        );
        let run = || -> rusqlite::Result<Vec<Segment>> {
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params![camera, from_ms, to_ms], Self::segment_from_row)?;
            rows.collect()
        };
        run().map_err(|e| self.err(e))
    }

    /// Segments left `open` (their writer did not finish: the daemon crashed or lost power).
    pub fn open_segments(&self) -> Result<Vec<Segment>, IndexError> {
        let conn = self.conn();
        let sql = format!(
            "SELECT {} FROM segments s JOIN cameras c ON c.id = s.camera_id WHERE s.state = 'open' ORDER BY s.id",
            Self::SEGMENT_COLUMNS
        );
        let run = || -> rusqlite::Result<Vec<Segment>> {
            let mut stmt = conn.prepare(&sql)?;
            let rows = stmt.query_map([], Self::segment_from_row)?;
            rows.collect()
        };
        run().map_err(|e| self.err(e))
    }

    /// Whether a segment file is known to the index.
    pub fn has_path(&self, path: &Path) -> Result<bool, IndexError> {
        self.conn()
            .query_row("SELECT 1 FROM segments WHERE path = ?1", [path.to_string_lossy()], |_| Ok(()))
            .optional()
            .map(|o| o.is_some())
            .map_err(|e| self.err(e))
    }

    /// The end of the camera's newest segment, if it has any.
    pub fn last_end(&self, camera: &str) -> Result<Option<i64>, IndexError> {
        self.conn()
            .query_row(
                "SELECT MAX(s.end_ms) FROM segments s JOIN cameras c ON c.id = s.camera_id WHERE c.name = ?1",
                [camera],
                |r| r.get::<_, Option<i64>>(0),
            )
            .map_err(|e| self.err(e))
    }

    pub fn insert_gap(
        &self,
        camera: &str,
        start_ms: i64,
        end_ms: i64,
        reason: &str,
    ) -> Result<(), IndexError> {
        let conn = self.conn();
        let run = || -> rusqlite::Result<()> {
            let id = Self::camera_id(&conn, camera)?;
            conn.execute(
                "INSERT INTO gaps(camera_id, start_ms, end_ms, reason) VALUES (?1, ?2, ?3, ?4)",
                params![id, start_ms, end_ms, reason],
            )?;
            Ok(())
        };
        run().map_err(|e| self.err(e))
    }

    /// Gaps that overlap `[from, to)`, oldest first.
    pub fn gaps(&self, camera: Option<&str>, from_ms: i64, to_ms: i64) -> Result<Vec<Gap>, IndexError> {
        let conn = self.conn();
        let run = || -> rusqlite::Result<Vec<Gap>> {
            let mut stmt = conn.prepare_cached(
                "SELECT c.name, g.start_ms, g.end_ms, g.reason FROM gaps g JOIN cameras c ON c.id = g.camera_id
                 WHERE (?1 IS NULL OR c.name = ?1) AND g.end_ms > ?2 AND g.start_ms < ?3
                 ORDER BY g.start_ms",
            )?;
            let rows = stmt.query_map(params![camera, from_ms, to_ms], |r| {
                Ok(Gap { camera: r.get(0)?, start_ms: r.get(1)?, end_ms: r.get(2)?, reason: r.get(3)? })
            })?;
            rows.collect()
        };
        run().map_err(|e| self.err(e))
    }

    pub fn insert_event(&self, camera: &str, kind: &str, start_ms: i64) -> Result<(), IndexError> {
        let conn = self.conn();
        let run = || -> rusqlite::Result<()> {
            let id = Self::camera_id(&conn, camera)?;
            conn.execute(
                "INSERT INTO events(camera_id, kind, start_ms) VALUES (?1, ?2, ?3)",
                params![id, kind, start_ms],
            )?;
            Ok(())
        };
        run().map_err(|e| self.err(e))
    }

    /// Camera events at times in `[from, to)` (of one camera, or all), oldest first.
    pub fn events(
        &self,
        camera: Option<&str>,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<IndexedEvent>, IndexError> {
        let conn = self.conn();
        let run = || -> rusqlite::Result<Vec<IndexedEvent>> {
            let mut stmt = conn.prepare_cached(
                "SELECT c.name, e.kind, e.start_ms FROM events e JOIN cameras c ON c.id = e.camera_id
                 WHERE (?1 IS NULL OR c.name = ?1) AND e.start_ms >= ?2 AND e.start_ms < ?3
                 ORDER BY e.start_ms, e.id",
            )?;
            let rows = stmt.query_map(params![camera, from_ms, to_ms], |r| {
                Ok(IndexedEvent { camera: r.get(0)?, kind: r.get(1)?, at_ms: r.get(2)? })
            })?;
            rows.collect()
        };
        run().map_err(|e| self.err(e))
    }

    /// Pins `[start, end)` of a camera so retention keeps the segments it touches. The commit
    /// is synced before this returns (evidence must survive a power cut).
    pub fn pin(
        &self,
        camera: &str,
        start_ms: i64,
        end_ms: i64,
        reason: &str,
        now_ms: i64,
    ) -> Result<i64, IndexError> {
        let conn = self.conn();
        let run = || -> rusqlite::Result<i64> {
            conn.pragma_update(None, "synchronous", "FULL")?;
            let id = Self::camera_id(&conn, camera)?;
            conn.execute(
                "INSERT INTO pins(camera_id, start_ms, end_ms, reason, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, start_ms, end_ms, reason, now_ms],
            )?;
            let pin = conn.last_insert_rowid();
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            Ok(pin)
        };
        run().map_err(|e| self.err(e))
    }

    /// Removes a pin; false if there was none with this id.
    pub fn unpin(&self, id: i64) -> Result<bool, IndexError> {
        let conn = self.conn();
        let run = || -> rusqlite::Result<bool> {
            conn.pragma_update(None, "synchronous", "FULL")?;
            let n = conn.execute("DELETE FROM pins WHERE id = ?1", [id])?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            Ok(n > 0)
        };
        run().map_err(|e| self.err(e))
    }

    /// The resident's pin: the camera must be in the config (`configured`) or have
    /// recordings, `from` before `to`, the reason at most [`MAX_PIN_REASON`] characters
    /// (blank: [`DEFAULT_PIN_REASON`]). The one path for the API and the CLI.
    pub fn pin_checked(
        &self,
        configured: bool,
        camera: &str,
        from_ms: i64,
        to_ms: i64,
        reason: Option<&str>,
        now_ms: i64,
    ) -> Result<Pin, PinError> {
        if from_ms >= to_ms {
            return Err(PinError::Order { from_ms, to_ms });
        }
        let reason = reason.map(str::trim).filter(|r| !r.is_empty()).unwrap_or(DEFAULT_PIN_REASON);
        let chars = reason.chars().count();
        if chars > MAX_PIN_REASON {
            return Err(PinError::ReasonTooLong(chars));
        }
        // A typo must not pin nothing while seeming to work.
        if !configured && !self.knows_camera(camera)? {
            return Err(PinError::UnknownCamera(camera.to_owned()));
        }
        let id = self.pin(camera, from_ms, to_ms, reason, now_ms)?;
        Ok(Pin { id, camera: camera.to_owned(), start_ms: from_ms, end_ms: to_ms, reason: reason.to_owned() })
    }

    /// Every pin, ordered by start.
    pub fn pins(&self) -> Result<Vec<Pin>, IndexError> {
        self.pins_overlapping(None, i64::MIN, i64::MAX)
    }

    /// The pins that overlap `[from, to)` (of one camera, or all), ordered by start.
    pub fn pins_overlapping(
        &self,
        camera: Option<&str>,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<Pin>, IndexError> {
        let conn = self.conn();
        let run = || -> rusqlite::Result<Vec<Pin>> {
            let mut stmt = conn.prepare_cached(
                "SELECT p.id, c.name, p.start_ms, p.end_ms, p.reason FROM pins p JOIN cameras c ON c.id = p.camera_id
                 WHERE (?1 IS NULL OR c.name = ?1) AND p.end_ms > ?2 AND p.start_ms < ?3
                 ORDER BY p.start_ms, p.id",
            )?;
            let rows = stmt.query_map(params![camera, from_ms, to_ms], |r| {
                Ok(Pin {
                    id: r.get(0)?,
                    camera: r.get(1)?,
                    start_ms: r.get(2)?,
                    end_ms: r.get(3)?,
                    reason: r.get(4)?,
                })
            })?;
            rows.collect()
        };
        run().map_err(|e| self.err(e))
    }

    /// Finished, unpinned segments, oldest first: what retention may delete.
    pub fn deletable(&self, camera: Option<&str>, before_ms: i64) -> Result<Vec<Segment>, IndexError> {
        let conn = self.conn();
        let sql = format!(
            "SELECT {} FROM segments s JOIN cameras c ON c.id = s.camera_id
             WHERE s.state != 'open' AND (?1 IS NULL OR c.name = ?1) AND s.end_ms <= ?2
               AND NOT EXISTS (SELECT 1 FROM pins p WHERE p.camera_id = s.camera_id
                               AND p.start_ms < s.end_ms AND p.end_ms > s.start_ms)
             ORDER BY s.start_ms, s.id",
            Self::SEGMENT_COLUMNS
        );
        let run = || -> rusqlite::Result<Vec<Segment>> {
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params![camera, before_ms], Self::segment_from_row)?;
            rows.collect()
        };
        run().map_err(|e| self.err(e))
    }

    /// Bytes of all segments, and per camera.
    pub fn usage(&self) -> Result<Vec<(String, u64, u64)>, IndexError> {
        let conn = self.conn();
        let run = || -> rusqlite::Result<Vec<(String, u64, u64)>> {
            let mut stmt = conn.prepare_cached(
                "SELECT c.name, COALESCE(SUM(s.bytes), 0), COUNT(s.id) FROM cameras c
                 LEFT JOIN segments s ON s.camera_id = c.id GROUP BY c.id ORDER BY c.name",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((r.get(0)?, u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0), r.get::<_, u64>(2)?))
            })?;
            rows.collect()
        };
        run().map_err(|e| self.err(e))
    }
}

enum MigrateError {
    Sqlite(rusqlite::Error),
    TooNew(usize),
}

fn migrate(conn: &mut Connection) -> Result<(), MigrateError> {
    let version: i64 =
        conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(MigrateError::Sqlite)?;
    let version = usize::try_from(version).unwrap_or(0);
    if version > MIGRATIONS.len() {
        return Err(MigrateError::TooNew(version));
    }
    if version == MIGRATIONS.len() {
        return Ok(());
    }
    let tx = conn.transaction().map_err(MigrateError::Sqlite)?;
    for (n, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        tracing::info!(from = n, to = n + 1, "Upgrading the recording index");
        tx.execute_batch(sql).map_err(MigrateError::Sqlite)?;
    }
    tx.pragma_update(None, "user_version", MIGRATIONS.len() as i64).map_err(MigrateError::Sqlite)?;
    tx.commit().map_err(MigrateError::Sqlite)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> (tempfile::TempDir, Index) {
        let dir = tempfile::tempdir().expect("tempdir");
        let index = Index::open(&dir.path().join("index.sqlite")).expect("open");
        (dir, index)
    }

    fn seg(index: &Index, camera: &str, start: i64, end: i64, name: &str) -> i64 {
        let id = index
            .insert_segment(&NewSegment {
                camera,
                start_ms: start,
                path: Path::new(name),
                codec: "avc1.42c01e",
                width: 320,
                height: 240,
                audio: None,
            })
            .expect("insert");
        index.close_segment(id, end, 100, "closed").expect("close");
        id
    }

    #[test]
    fn events_are_listed_by_time_and_camera() {
        let (_d, index) = index();
        for (camera, kind, at) in
            [("door", "motion_start", 100), ("yard", "trigger", 150), ("door", "motion_end", 200)]
        {
            index.insert_event(camera, kind, at).expect("event");
        }
        let all = index.events(None, 100, 200).expect("events");
        let listed: Vec<(&str, &str, i64)> =
            all.iter().map(|e| (e.camera.as_str(), e.kind.as_str(), e.at_ms)).collect();
        assert_eq!(listed, [("door", "motion_start", 100), ("yard", "trigger", 150)]);
        let door = index.events(Some("door"), 0, 1000).expect("events");
        assert_eq!(door.iter().map(|e| e.at_ms).collect::<Vec<_>>(), [100, 200]);
    }

    #[test]
    fn the_residents_pin_is_checked_then_listed_by_overlap() {
        let (_d, index) = index();
        seg(&index, "door", 0, 1000, "a.mp4");
        let err = |r: Result<Pin, PinError>| r.map(|_| ()).expect_err("refused").to_string();
        assert_eq!(
            err(index.pin_checked(true, "door", 500, 500, None, 0)),
            "`from` (1970-01-01T00:00:00.5Z) must be before `to` (1970-01-01T00:00:00.5Z)"
        );
        assert_eq!(
            err(index.pin_checked(false, "dor", 0, 10, None, 0)),
            "`camera`: no camera named \"dor\" in the config or the recordings"
        );
        assert!(
            err(index.pin_checked(true, "door", 0, 10, Some(&"x".repeat(513)), 0))
                .starts_with("`reason` is 513")
        );
        assert!(index.pins().expect("pins").is_empty(), "nothing pinned by a refused pin");
        // Known from its recordings; a blank reason gets the default.
        let a = index.pin_checked(false, "door", 100, 200, Some("  "), 0).expect("pin");
        assert_eq!((a.camera.as_str(), a.reason.as_str()), ("door", DEFAULT_PIN_REASON));
        // Named in the config only.
        let b = index.pin_checked(true, "yard", 300, 400, Some("parcel"), 0).expect("pin");
        assert_eq!(index.pins().expect("pins"), [a.clone(), b.clone()]);
        assert_eq!(index.pins_overlapping(None, 150, 350).expect("pins"), [a.clone(), b.clone()]);
        assert_eq!(index.pins_overlapping(None, 200, 300).expect("pins"), [], "half-open on both ends");
        assert_eq!(index.pins_overlapping(Some("yard"), 0, 1000).expect("pins"), [b]);
    }

    #[test]
    fn a_new_index_has_the_current_schema_and_reopening_keeps_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("index.sqlite");
        let index = Index::open(&path).expect("open");
        assert_eq!(index.schema_version().expect("version"), SCHEMA_VERSION);
        seg(&index, "door", 0, 1000, "a.mp4");
        drop(index);
        let index = Index::open(&path).expect("reopen");
        assert_eq!(index.segments(Some("door"), 0, 2000).expect("list").len(), 1);
    }

    #[test]
    fn an_index_from_a_newer_build_is_refused_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("index.sqlite");
        drop(Index::open(&path).expect("open"));
        let conn = Connection::open(&path).expect("raw open");
        conn.pragma_update(None, "user_version", 99).expect("bump");
        drop(conn);
        let err = Index::open(&path).expect_err("too new");
        assert!(err.to_string().contains("schema version 99"), "{err}");
    }

    #[test]
    fn segments_are_listed_by_overlap_and_camera() {
        let (_d, index) = index();
        seg(&index, "door", 0, 1000, "a.mp4");
        seg(&index, "door", 1000, 2000, "b.mp4");
        seg(&index, "yard", 500, 1500, "c.mp4");
        let names = |v: Vec<Segment>| v.into_iter().map(|s| s.path.display().to_string()).collect::<Vec<_>>();
        assert_eq!(names(index.segments(Some("door"), 999, 1001).expect("list")), ["a.mp4", "b.mp4"]);
        assert_eq!(names(index.segments(Some("door"), 1000, 1001).expect("list")), ["b.mp4"]);
        assert_eq!(names(index.segments(None, 0, 600).expect("list")), ["a.mp4", "c.mp4"]);
        assert!(index.segments(Some("nobody"), 0, 5000).expect("list").is_empty());
    }

    #[test]
    fn a_pin_made_after_the_deletable_list_was_read_still_keeps_the_segment() {
        let (_d, index) = index();
        let id = seg(&index, "door", 0, 1000, "a.mp4");
        assert_eq!(index.deletable(None, i64::MAX).expect("list").len(), 1);
        index.pin("door", 500, 600, "just in time", 0).expect("pin");
        assert!(!index.delete_unpinned(id).expect("delete"), "the pin wins");
        assert_eq!(index.segments(Some("door"), 0, 2000).expect("list").len(), 1);
        assert!(index.knows_camera("door").expect("known"));
        assert!(!index.knows_camera("frontdoor").expect("unknown"));
    }

    #[test]
    fn pinned_and_open_segments_are_never_deletable() {
        let (_d, index) = index();
        seg(&index, "door", 0, 1000, "a.mp4");
        seg(&index, "door", 1000, 2000, "b.mp4");
        seg(&index, "door", 2000, 3000, "c.mp4");
        index
            .insert_segment(&NewSegment {
                camera: "door",
                start_ms: 3000,
                path: Path::new("d.mp4"),
                codec: "x",
                width: 1,
                height: 1,
                audio: None,
            })
            .expect("open one");
        index.pin("door", 1500, 1600, "shared with request r1", 0).expect("pin");
        let paths: Vec<_> =
            index.deletable(None, i64::MAX).expect("deletable").into_iter().map(|s| s.path).collect();
        assert_eq!(paths, [PathBuf::from("a.mp4"), PathBuf::from("c.mp4")]);
        assert_eq!(index.pins().expect("pins")[0].reason, "shared with request r1");
    }
}

//! The audit log: every sharing request, every policy's decision, the final decision and
//! (later) everything that actually left the house, appended to a hash-chained JSON-lines file
//! under `data_dir/audit/`. Format and verification: `docs/ref/audit.md`.
//!
//! Each line is a JSON object that ends with `"hash":"<sha256>"`, the SHA-256 of the line's
//! text without that field; every entry carries the previous entry's hash in `prev` and a
//! sequence number one higher than the previous. A separate head file records the newest
//! entry, so a truncated tail is caught too. Every append is fsynced before it returns.
//!
//! Both files can be rewritten together by someone with disk access, so the head is also kept
//! outside the hub as an [`Anchor`] (entry count and hash: published over MQTT and sent with the
//! relay's decisions, [`Audit::subscribe`]); [`verify`] checks the log against such anchors.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};

use crate::digest::sha256_hex;
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::watch;

/// The `prev` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// File names inside the audit directory.
pub const LOG_FILE: &str = "audit.jsonl";
pub const HEAD_FILE: &str = "audit.head";

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("audit log {}: line {line}: {message}", path.display())]
    Corrupt { path: PathBuf, line: usize, message: String },
}

/// The newest entry: its sequence number and hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
}

/// The log's head as it is kept outside the hub: the log had `entries` entries and the last of
/// them hashed to `hash` (for no entries, [`GENESIS`]). Written `ENTRIES:HASH`; as JSON
/// `{"entries":N,"hash":"…"}`. A log rewritten at or before that entry no longer contains it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Anchor {
    pub entries: u64,
    pub hash: String,
}

/// An audit head (`--head`, a head file) that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("audit head {text:?}: {problem}")]
pub struct BadAnchor {
    /// The start of the text.
    pub text: String,
    pub problem: String,
}

impl Anchor {
    /// The head of a log with no entries.
    pub fn empty() -> Self {
        Self { entries: 0, hash: GENESIS.to_owned() }
    }

    /// The head of a log whose newest entry is `head` (`None`: no entries).
    pub fn of(head: Option<&Head>) -> Self {
        head.map_or_else(Self::empty, |h| Self { entries: h.seq + 1, hash: h.hash.clone() })
    }

    /// `ENTRIES:HASH` with the hash cut short, for messages.
    fn short(&self) -> String {
        format!("{}:{}…", self.entries, &self.hash[..self.hash.len().min(12)])
    }
}

impl std::fmt::Display for Anchor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.entries, self.hash)
    }
}

impl FromStr for Anchor {
    type Err = BadAnchor;

    /// `ENTRIES:HASH` (as `porchlight audit head` prints it), or JSON: the object published on
    /// MQTT (`{"entries":N,"hash":"…","time":"…"}`) or a relay decision holding `audit_head`.
    fn from_str(text: &str) -> Result<Self, BadAnchor> {
        let t = text.trim();
        let bad =
            |problem: &str| BadAnchor { text: t.chars().take(80).collect(), problem: problem.to_owned() };
        let (entries, hash) = if t.starts_with('{') {
            let v: Value = serde_json::from_str(t).map_err(|e| bad(&format!("not JSON: {e}")))?;
            let v = v.get("audit_head").unwrap_or(&v);
            let entries = v["entries"].as_u64().ok_or_else(|| bad("no `entries` number"))?;
            (entries, v["hash"].as_str().ok_or_else(|| bad("no `hash` string"))?.to_owned())
        } else {
            let (n, h) = t.split_once(':').ok_or_else(|| bad("expected ENTRIES:HASH"))?;
            (n.parse::<u64>().map_err(|_| bad("the entry count is not a number"))?, h.to_owned())
        };
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("the hash is not 64 hex digits"));
        }
        let hash = hash.to_ascii_lowercase();
        if entries == 0 && hash != GENESIS {
            return Err(bad("the head of an empty log has the hash 64 zeros"));
        }
        Ok(Self { entries, hash })
    }
}

/// An open audit log. Cheap to clone; appends are serialised.
#[derive(Debug, Clone)]
pub struct Audit {
    inner: Arc<Mutex<Writer>>,
    /// The current head, for those who publish it (MQTT).
    head: Arc<watch::Sender<Anchor>>,
}

#[derive(Debug)]
struct Writer {
    dir: PathBuf,
    file: File,
    next_seq: u64,
    prev: String,
}

/// Splits a line into (body, hash): the body is the line without its trailing `"hash"` field.
fn split_hash(line: &str) -> Option<(String, &str)> {
    let (front, rest) = line.rsplit_once(",\"hash\":\"")?;
    let hash = rest.strip_suffix("\"}")?;
    (hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit())).then(|| (format!("{front}}}"), hash))
}

impl Audit {
    /// Opens (creating if needed) the audit log in `dir`. A torn last line, left by a crash in
    /// the middle of an append, is cut off and the cut is itself recorded as an entry.
    pub fn open(dir: &Path) -> Result<Self, AuditError> {
        let io = |source| AuditError::Io { path: dir.join(LOG_FILE), source };
        std::fs::create_dir_all(dir).map_err(io)?;
        let path = dir.join(LOG_FILE);
        let mut file = OpenOptions::new().create(true).read(true).append(true).open(&path).map_err(io)?;
        let mut text = String::new();
        std::io::Read::read_to_string(&mut file, &mut text).map_err(io)?;
        let mut torn = None;
        if !text.is_empty() && !text.ends_with('\n') {
            let keep = text.rfind('\n').map_or(0, |i| i + 1);
            torn = Some(text.len() - keep);
            file.set_len(keep as u64).map_err(io)?;
            file.sync_all().map_err(io)?;
            text.truncate(keep);
        }
        let (next_seq, prev) = match text.lines().last() {
            None => (0, GENESIS.to_owned()),
            Some(last) => {
                let line_no = text.lines().count();
                let corrupt = |message: &str| AuditError::Corrupt {
                    path: path.clone(),
                    line: line_no,
                    message: message.to_owned(),
                };
                let (body, hash) = split_hash(last).ok_or_else(|| corrupt("no hash field"))?;
                let v: Value = serde_json::from_str(&body).map_err(|_| corrupt("not JSON"))?;
                let seq = v["seq"].as_u64().ok_or_else(|| corrupt("no seq"))?;
                (seq + 1, hash.to_owned())
            }
        };
        file.seek(SeekFrom::End(0)).map_err(io)?;
        // A crash between appending an entry and updating the head leaves the head one entry
        // behind: bring it up to date (a head *ahead* of the log is a cut-off tail, left for
        // `verify` to report).
        if let Some(seq) = next_seq.checked_sub(1) {
            let head: Option<Head> =
                std::fs::read_to_string(dir.join(HEAD_FILE)).ok().and_then(|t| serde_json::from_str(&t).ok());
            if head.as_ref().map_or(seq == 0, |h| h.seq + 1 == seq) {
                write_head(dir, &Head { seq, hash: prev.clone() })?;
            }
        }
        let anchor =
            if next_seq == 0 { Anchor::empty() } else { Anchor { entries: next_seq, hash: prev.clone() } };
        let audit = Self {
            inner: Arc::new(Mutex::new(Writer { dir: dir.to_owned(), file, next_seq, prev })),
            head: Arc::new(watch::Sender::new(anchor)),
        };
        if let Some(bytes) = torn {
            tracing::warn!(bytes, file = %path.display(), "Audit log ended in a torn line (crash during append); cut it off");
            audit.append("audit_recovered", serde_json::json!({ "torn_bytes": bytes }))?;
        }
        Ok(audit)
    }

    /// Appends an entry of `kind` with `fields` (a JSON object) and fsyncs it. Returns its head.
    /// Fields named `seq`, `time`, `kind`, `prev` or `hash` are replaced by the log's own.
    pub fn append(&self, kind: &str, fields: Value) -> Result<Head, AuditError> {
        let mut w = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut obj = Map::new();
        obj.insert("seq".into(), w.next_seq.into());
        obj.insert("time".into(), jiff::Timestamp::now().to_string().into());
        obj.insert("kind".into(), kind.into());
        obj.insert("prev".into(), w.prev.clone().into());
        if let Value::Object(extra) = fields {
            for (k, v) in extra {
                if !matches!(k.as_str(), "seq" | "time" | "kind" | "prev" | "hash") {
                    obj.insert(k, v);
                }
            }
        }
        // serde_json keeps insertion order only with its `preserve_order` feature; without it
        // keys are sorted, which is just as deterministic. The hash covers the exact bytes.
        let body = Value::Object(obj).to_string();
        let hash = sha256_hex(body.as_bytes());
        let line = format!("{},\"hash\":\"{hash}\"}}\n", &body[..body.len() - 1]);
        let path = w.dir.join(LOG_FILE);
        let io = |source| AuditError::Io { path: path.clone(), source };
        w.file.write_all(line.as_bytes()).map_err(io)?;
        w.file.sync_data().map_err(io)?;
        let head = Head { seq: w.next_seq, hash: hash.clone() };
        write_head(&w.dir, &head)?;
        w.next_seq += 1;
        w.prev = hash;
        // Still under the lock, so watchers see heads in order.
        self.head.send_replace(Anchor::of(Some(&head)));
        Ok(head)
    }

    /// The current head as an [`Anchor`].
    pub fn anchor(&self) -> Anchor {
        self.head.borrow().clone()
    }

    /// Follows the head: the receiver sees a change after every append.
    pub fn subscribe(&self) -> watch::Receiver<Anchor> {
        self.head.subscribe()
    }

    /// The newest entry, if any.
    pub fn head(&self) -> Option<Head> {
        let w = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        w.next_seq.checked_sub(1).map(|seq| Head { seq, hash: w.prev.clone() })
    }
}

/// Writes the head file atomically (temp file, fsync, rename).
fn write_head(dir: &Path, head: &Head) -> Result<(), AuditError> {
    let path = dir.join(HEAD_FILE);
    let tmp = dir.join(format!("{HEAD_FILE}.tmp"));
    let io = |source| AuditError::Io { path: path.clone(), source };
    let mut f = File::create(&tmp).map_err(io)?;
    let text = serde_json::to_string(head).unwrap_or_default();
    f.write_all(text.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)?;
    // Make the rename itself durable.
    File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    Ok(())
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every entry is intact, the head file agrees and the log contains every anchor.
    Intact { entries: u64, head: Option<Head> },
    /// The first bad line (1-based; 0: the log file as a whole) and why.
    Broken { line: usize, message: String },
}

/// Checks the whole chain in `dir`: each line's hash, its link to the previous line, the
/// sequence, that the log contains every one of `anchors` (heads kept outside the hub), and the
/// head file. Names the first line that is wrong.
pub fn verify(dir: &Path, anchors: &[Anchor]) -> Result<Verdict, AuditError> {
    let path = dir.join(LOG_FILE);
    let io = |source| AuditError::Io { path: path.clone(), source };
    let file = match File::open(&path) {
        Ok(f) => f,
        // A hub that has not recorded anything yet, unless an anchor says it had.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !dir.join(HEAD_FILE).exists() => {
            if let Some(a) = anchors.iter().filter(|a| a.entries > 0).max_by_key(|a| a.entries) {
                return Ok(Verdict::Broken {
                    line: 0,
                    message: format!(
                        "the log is missing but the audit head {} says it had {} entries: it was deleted",
                        a.short(),
                        a.entries
                    ),
                });
            }
            return Ok(Verdict::Intact { entries: 0, head: None });
        }
        Err(e) => return Err(io(e)),
    };
    let mut prev = GENESIS.to_owned();
    let mut expected_seq = 0u64;
    let mut last: Option<Head> = None;
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line_no = i + 1;
        let line = line.map_err(io)?;
        let broken = |message: String| Ok(Verdict::Broken { line: line_no, message });
        let Some((body, hash)) = split_hash(&line) else {
            return broken("no valid hash field at the end of the line".into());
        };
        if sha256_hex(body.as_bytes()) != hash {
            return broken("the entry was changed after it was written (its hash does not match)".into());
        }
        let v: Value = match serde_json::from_str(&body) {
            Ok(v) => v,
            Err(e) => return broken(format!("not a JSON object: {e}")),
        };
        if v["prev"].as_str() != Some(prev.as_str()) {
            return broken(
                "does not follow the line before it (an entry was removed, inserted or moved here)".into(),
            );
        }
        match v["seq"].as_u64() {
            Some(s) if s == expected_seq => {}
            Some(s) => return broken(format!("sequence number {s}, expected {expected_seq}")),
            None => return broken("no sequence number".into()),
        }
        if let Some(a) = anchors.iter().find(|a| a.entries == expected_seq + 1 && a.hash != hash) {
            return broken(format!(
                "entry {expected_seq} does not match the audit head {} (it hashes to {}…): the log was rewritten at or before this entry",
                a.short(),
                &hash[..12],
            ));
        }
        prev = hash.to_owned();
        last = Some(Head { seq: expected_seq, hash: prev.clone() });
        expected_seq += 1;
    }
    if let Some(a) = anchors.iter().filter(|a| a.entries > expected_seq).max_by_key(|a| a.entries) {
        let line = usize::try_from(expected_seq).unwrap_or(usize::MAX);
        return Ok(Verdict::Broken {
            line,
            message: format!(
                "the log has {expected_seq} entries but the audit head {} says it had {}: entries were cut off the end or the log was replaced",
                a.short(),
                a.entries
            ),
        });
    }
    match std::fs::read_to_string(dir.join(HEAD_FILE)) {
        Ok(text) => {
            let head: Option<Head> = serde_json::from_str(&text).ok();
            if head.is_none() || head != last {
                let line = usize::try_from(expected_seq).unwrap_or(usize::MAX);
                return Ok(Verdict::Broken {
                    line: line.max(1),
                    message: format!(
                        "the log ends at entry {} but the head file records {}: entries were cut off the end or the head was changed",
                        last.as_ref().map_or("(none)".into(), |h| h.seq.to_string()),
                        head.as_ref().map_or("an unreadable head".into(), |h| format!("entry {}", h.seq)),
                    ),
                });
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && last.is_none() => {}
        Err(e) => {
            return Ok(Verdict::Broken {
                line: 1,
                message: format!("head file {HEAD_FILE} unreadable: {e}"),
            });
        }
    }
    Ok(Verdict::Intact { entries: expected_seq, head: last })
}

/// Every entry, parsed, for `porchlight audit show`.
pub fn entries(dir: &Path) -> Result<Vec<Value>, AuditError> {
    let path = dir.join(LOG_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(AuditError::Io { path, source }),
    };
    Ok(text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
}

/// One entry as a readable line: `#seq time kind key=value …` (chain fields left out).
pub fn render(entry: &Value) -> String {
    let mut out = format!(
        "#{} {} {}",
        entry["seq"].as_u64().map_or_else(|| "?".into(), |s| s.to_string()),
        entry["time"].as_str().unwrap_or("?"),
        entry["kind"].as_str().unwrap_or("?"),
    );
    if let Value::Object(map) = entry {
        for (k, v) in map {
            if matches!(k.as_str(), "seq" | "time" | "kind" | "prev" | "hash") {
                continue;
            }
            match v {
                Value::String(s) => {
                    let _ = write!(out, " {k}={s:?}");
                }
                other => {
                    let _ = write!(out, " {k}={other}");
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn log_with(n: usize) -> (tempfile::TempDir, Audit) {
        let dir = tempfile::tempdir().expect("tempdir");
        let audit = Audit::open(dir.path()).expect("open");
        for i in 0..n {
            audit
                .append("request", json!({ "request_id": format!("r{i}"), "note": "a\"b\nc" }))
                .expect("append");
        }
        (dir, audit)
    }

    fn lines(dir: &Path) -> Vec<String> {
        std::fs::read_to_string(dir.join(LOG_FILE)).expect("read").lines().map(str::to_owned).collect()
    }

    fn write_lines(dir: &Path, lines: &[String]) {
        let mut text = lines.join("\n");
        text.push('\n');
        std::fs::write(dir.join(LOG_FILE), text).expect("write");
    }

    fn broken_line(dir: &Path) -> usize {
        match verify(dir, &[]).expect("verify") {
            Verdict::Broken { line, .. } => line,
            Verdict::Intact { .. } => panic!("tampering not detected"),
        }
    }

    #[test]
    fn intact_log_verifies_and_reopens_where_it_left_off() {
        let (dir, audit) = log_with(3);
        assert_eq!(audit.head().map(|h| h.seq), Some(2));
        drop(audit);
        let audit = Audit::open(dir.path()).expect("reopen");
        let head = audit.append("decision", json!({ "outcome": "deny" })).expect("append");
        assert_eq!(head.seq, 3);
        match verify(dir.path(), &[]).expect("verify") {
            Verdict::Intact { entries, head: Some(h) } => {
                assert_eq!(entries, 4);
                assert_eq!(h, head);
            }
            other => panic!("{other:?}"),
        }
        let all = entries(dir.path()).expect("entries");
        assert_eq!(all[1]["request_id"], "r1");
        assert_eq!(all[1]["note"], "a\"b\nc");
        assert_eq!(all[3]["kind"], "decision");
    }

    #[test]
    fn edited_entry_is_named() {
        let (dir, _a) = log_with(5);
        let mut l = lines(dir.path());
        l[2] = l[2].replace("r2", "r9");
        write_lines(dir.path(), &l);
        assert_eq!(broken_line(dir.path()), 3);
    }

    #[test]
    fn edited_entry_with_recomputed_hash_is_caught_at_the_next_line() {
        let (dir, _a) = log_with(5);
        let mut l = lines(dir.path());
        let (body, _) = split_hash(&l[1]).expect("hash");
        let body = body.replace("r1", "r7");
        l[1] = format!("{},\"hash\":\"{}\"}}", &body[..body.len() - 1], sha256_hex(body.as_bytes()));
        write_lines(dir.path(), &l);
        assert_eq!(broken_line(dir.path()), 3);
    }

    #[test]
    fn deleted_inserted_and_reordered_entries_are_caught() {
        let (dir, _a) = log_with(5);
        let orig = lines(dir.path());

        let mut deleted = orig.clone();
        deleted.remove(1);
        write_lines(dir.path(), &deleted);
        assert_eq!(broken_line(dir.path()), 2);

        let mut inserted = orig.clone();
        inserted.insert(2, orig[0].clone());
        write_lines(dir.path(), &inserted);
        assert_eq!(broken_line(dir.path()), 3);

        let mut swapped = orig.clone();
        swapped.swap(3, 4);
        write_lines(dir.path(), &swapped);
        assert_eq!(broken_line(dir.path()), 4);

        let mut truncated = orig;
        truncated.truncate(3);
        write_lines(dir.path(), &truncated);
        match verify(dir.path(), &[]).expect("verify") {
            Verdict::Broken { message, .. } => assert!(message.contains("cut off the end"), "{message}"),
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn torn_last_line_is_cut_and_recorded() {
        let (dir, audit) = log_with(2);
        drop(audit);
        let mut f = OpenOptions::new().append(true).open(dir.path().join(LOG_FILE)).expect("open");
        f.write_all(b"{\"seq\":2,\"time\":\"2026-").expect("torn write");
        drop(f);
        let audit = Audit::open(dir.path()).expect("reopen");
        assert_eq!(audit.head().map(|h| h.seq), Some(2));
        let all = entries(dir.path()).expect("entries");
        assert_eq!(all.len(), 3);
        assert_eq!(all[2]["kind"], "audit_recovered");
        assert!(matches!(verify(dir.path(), &[]).expect("verify"), Verdict::Intact { entries: 3, .. }));
    }

    #[test]
    fn head_one_behind_after_a_crash_is_repaired_but_a_cut_tail_is_not() {
        let (dir, audit) = log_with(3);
        drop(audit);
        // Crash after the append, before the head update: the head says entry 1.
        let heads = |seq: u64| {
            let l = lines(dir.path());
            let (_, hash) = split_hash(&l[usize::try_from(seq).expect("small")]).expect("hash");
            write_head(dir.path(), &Head { seq, hash: hash.to_owned() }).expect("head");
        };
        heads(1);
        Audit::open(dir.path()).expect("reopen");
        assert!(matches!(verify(dir.path(), &[]).expect("verify"), Verdict::Intact { entries: 3, .. }));
        // Two behind is not a crash: it is left for verify to report.
        let (dir2, audit2) = log_with(4);
        drop(audit2);
        let l = lines(dir2.path());
        let (_, hash) = split_hash(&l[1]).expect("hash");
        write_head(dir2.path(), &Head { seq: 1, hash: hash.to_owned() }).expect("head");
        Audit::open(dir2.path()).expect("reopen");
        assert!(matches!(verify(dir2.path(), &[]).expect("verify"), Verdict::Broken { .. }));
    }

    /// What someone with disk access can do: write `entries` as a freshly chained log, and a
    /// head file to match.
    fn rechain(dir: &Path, entries: &[Value]) {
        let mut prev = GENESIS.to_owned();
        let mut out = Vec::new();
        for (seq, e) in entries.iter().enumerate() {
            let mut e = e.clone();
            let obj = e.as_object_mut().expect("object");
            obj.remove("hash");
            obj.insert("seq".into(), seq.into());
            obj.insert("prev".into(), prev.clone().into());
            let body = e.to_string();
            let hash = sha256_hex(body.as_bytes());
            out.push(format!("{},\"hash\":\"{hash}\"}}", &body[..body.len() - 1]));
            prev = hash;
        }
        write_lines(dir, &out);
        let seq = u64::try_from(entries.len()).expect("small") - 1;
        write_head(dir, &Head { seq, hash: prev }).expect("head");
    }

    fn intact(dir: &Path) -> u64 {
        match verify(dir, &[]).expect("verify") {
            Verdict::Intact { entries, .. } => entries,
            v => panic!("the rewrite should pass a plain verify: {v:?}"),
        }
    }

    fn anchored(dir: &Path, anchors: &[Anchor]) -> (usize, String) {
        match verify(dir, anchors).expect("verify") {
            Verdict::Broken { line, message } => (line, message),
            v => panic!("the rewrite passed the anchor: {v:?}"),
        }
    }

    #[test]
    fn deleting_the_last_entries_fails_against_an_anchor() {
        let (dir, audit) = log_with(6);
        let anchor = audit.anchor();
        assert_eq!(anchor, Anchor { entries: 6, hash: audit.head().expect("head").hash });
        drop(audit);
        let mut all = entries(dir.path()).expect("entries");
        all.truncate(4);
        rechain(dir.path(), &all);
        assert_eq!(intact(dir.path()), 4);
        let (line, message) = anchored(dir.path(), &[anchor]);
        assert_eq!(line, 4);
        assert!(message.contains("the log has 4 entries but the audit head 6:"), "{message}");
        assert!(message.contains("cut off the end"), "{message}");
    }

    #[test]
    fn forged_entries_appended_fail_against_a_later_anchor_only() {
        let (dir, audit) = log_with(4);
        // While the hub runs, forged entries are appended and the head file rewritten.
        let mut all = entries(dir.path()).expect("entries");
        all.push(json!({ "kind": "revoked", "request_id": "r1", "by": "resident (api)", "time": "2026-11-27T08:00:00Z" }));
        all.push(json!({ "kind": "revoked", "request_id": "r2", "by": "resident (api)", "time": "2026-11-27T08:00:01Z" }));
        rechain(dir.path(), &all);
        // Forged entries after the newest anchor are not caught by it (its entry is still there).
        let before = audit.anchor();
        assert_eq!(intact(dir.path()), 6);
        assert!(matches!(verify(dir.path(), std::slice::from_ref(&before)), Ok(Verdict::Intact { .. })));
        // The hub's next entry (its head is published) lands after them; the whole file is
        // chained again so a plain verify passes.
        audit.append("decision", json!({ "request_id": "r5" })).expect("append");
        let anchor = audit.anchor();
        assert_eq!(anchor.entries, 5);
        let all = entries(dir.path()).expect("entries");
        assert_eq!(all.len(), 7);
        rechain(dir.path(), &all);
        assert_eq!(intact(dir.path()), 7);
        let (line, message) = anchored(dir.path(), &[before, anchor.clone()]);
        assert_eq!(line, 5, "{message}");
        assert!(message.starts_with("entry 4 does not match the audit head 5:"), "{message}");
        assert!(message.contains("rewritten at or before this entry"), "{message}");
    }

    #[test]
    fn a_middle_rewritten_and_chained_again_fails_against_an_anchor() {
        let (dir, audit) = log_with(6);
        let early = Anchor::of(Some(&Head {
            seq: 2,
            hash: split_hash(&lines(dir.path())[2]).expect("hash").1.to_owned(),
        }));
        let anchor = audit.anchor();
        drop(audit);
        let mut all = entries(dir.path()).expect("entries");
        all[2]["request_id"] = "r9".into();
        rechain(dir.path(), &all);
        assert_eq!(intact(dir.path()), 6);
        let (line, message) = anchored(dir.path(), std::slice::from_ref(&anchor));
        assert_eq!(line, 6);
        assert!(message.starts_with("entry 5 does not match the audit head 6:"), "{message}");
        // An anchor at the rewritten entry names it.
        let (line, message) = anchored(dir.path(), &[anchor, early]);
        assert_eq!(line, 3);
        assert!(message.starts_with("entry 2 does not match the audit head 3:"), "{message}");
    }

    #[test]
    fn deleting_both_files_fails_against_an_anchor() {
        let (dir, audit) = log_with(6);
        let anchor = audit.anchor();
        drop(audit);
        std::fs::remove_file(dir.path().join(LOG_FILE)).expect("rm log");
        std::fs::remove_file(dir.path().join(HEAD_FILE)).expect("rm head");
        assert_eq!(intact(dir.path()), 0);
        let (line, message) = anchored(dir.path(), std::slice::from_ref(&anchor));
        assert_eq!(line, 0);
        assert!(message.contains("the log is missing but the audit head 6:"), "{message}");
        assert!(message.contains("says it had 6 entries"), "{message}");
        // The hub starts again on a fresh log: it is shorter than the anchor, and once it is as
        // long, entry 5 is not the anchored one.
        let audit = Audit::open(dir.path()).expect("reopen");
        assert_eq!(audit.anchor(), Anchor::empty());
        audit.append("request", json!({})).expect("append");
        let (_, message) = anchored(dir.path(), std::slice::from_ref(&anchor));
        assert!(message.contains("the log has 1 entries but"), "{message}");
        for _ in 0..5 {
            audit.append("request", json!({})).expect("append");
        }
        let (line, message) = anchored(dir.path(), &[anchor]);
        assert_eq!(line, 6);
        assert!(message.starts_with("entry 5 does not match"), "{message}");
    }

    #[test]
    fn anchors_parse_from_the_cli_form_and_the_published_json() {
        let (dir, audit) = log_with(3);
        let anchor = audit.anchor();
        let text = anchor.to_string();
        assert_eq!(text.parse::<Anchor>().expect("parse"), anchor);
        assert_eq!(text.to_ascii_uppercase().parse::<Anchor>().expect("parse upper"), anchor);
        let published = json!({ "entries": 3, "hash": anchor.hash, "time": "2026-11-27T08:00:00Z" });
        assert_eq!(published.to_string().parse::<Anchor>().expect("mqtt"), anchor);
        let posted = json!({ "request_id": "r", "decision": "deny", "audit_head": anchor });
        assert_eq!(posted.to_string().parse::<Anchor>().expect("relay"), anchor);
        assert_eq!(format!("0:{GENESIS}").parse::<Anchor>().expect("empty"), Anchor::empty());
        assert!(matches!(
            verify(dir.path(), &[anchor, Anchor::empty()]),
            Ok(Verdict::Intact { entries: 3, .. })
        ));
        for bad in ["", "3", "x:abc", "3:abc", &format!("0:{}", "1".repeat(64)), "{\"entries\":3}", "{"] {
            assert!(bad.parse::<Anchor>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn watchers_see_every_new_head() {
        let (_dir, audit) = log_with(0);
        let mut rx = audit.subscribe();
        assert_eq!(*rx.borrow_and_update(), Anchor::empty());
        let head = audit.append("request", json!({})).expect("append");
        assert!(rx.has_changed().expect("sender alive"));
        assert_eq!(*rx.borrow_and_update(), Anchor { entries: 1, hash: head.hash });
    }

    #[test]
    fn fresh_hub_verifies_as_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(verify(dir.path(), &[]).expect("verify"), Verdict::Intact { entries: 0, head: None });
    }

    #[test]
    fn reserved_fields_cannot_be_forged() {
        let (dir, audit) = log_with(0);
        audit.append("request", json!({ "seq": 99, "prev": "x", "hash": "y", "kind": "z" })).expect("append");
        let e = &entries(dir.path()).expect("entries")[0];
        assert_eq!(e["seq"], 0);
        assert_eq!(e["kind"], "request");
        assert_eq!(e["prev"], GENESIS);
        assert!(matches!(verify(dir.path(), &[]).expect("verify"), Verdict::Intact { entries: 1, .. }));
    }
}

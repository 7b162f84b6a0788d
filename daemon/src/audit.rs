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
//!
//! What can be written is [`Entry`], one variant per kind of `docs/ref/audit.md`; every writer
//! goes through [`required`] (the action needs its entry) or [`best_effort`] (it happens
//! anyway), which hold the one rule for an entry that cannot be written. [`read`] gives the
//! entries back, typed where this version knows their kind.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};

use crate::digest::sha256_hex;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
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
    #[error("audit log {}: cannot write a {kind} entry as JSON: {source}", path.display())]
    Encode { path: PathBuf, kind: &'static str, source: serde_json::Error },
}

/// One audit entry: its kind (`kind` in the line) and the fields of that kind, as
/// `docs/ref/audit.md` ("Entry kinds") lists them, in that order. The log writes the fields
/// sorted by name (see [`Audit::append`]); a test checks this type against the reference.
///
/// The objects an entry carries from other subsystems (a request, a context, a decision, the
/// plugins' outcomes, a body sent) are JSON ([`to_json`] makes them): the log is below every
/// subsystem, and reads an entry whatever those types have become in another version.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// A policy plugin was (re)loaded; `trigger`: `start`, `plugin file changed`, `config changed`.
    PluginLoaded { plugin: String, sha256: String, trigger: String },
    /// A plugin file or its settings were refused.
    PluginRejected { plugin: String, reason: String, kept_previous: bool, trigger: String },
    /// A request, before any policy decides it, and the context the policies saw.
    Request { source: String, request: Value, context: Value },
    /// The policies' decision.
    Decision {
        source: String,
        request_id: String,
        /// The final decision (`docs/ref/plugins.md`).
        #[serde(rename = "final")]
        decision: Value,
        plugins: Value,
    },
    /// The final answer to a request the policies answered `ask`.
    ResidentDecision {
        request_id: String,
        by: String,
        #[serde(rename = "final")]
        decision: Value,
    },
    /// Privacy mode changed: the resident's switch (`on` set) or the config (`by` `config`).
    Privacy {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        on: Option<bool>,
        by: String,
        forced: bool,
        effective: bool,
    },
    /// The hub mode changed.
    Mode { mode: String, was: String, by: String },
    /// The relay is about to send an answer to the center: `sent`, the body but for its
    /// `audit_head`.
    RelayReply { request_id: String, sent: Value },
    /// The relay could not take something from the center (`request_id` null when it has none).
    RelayRefused { request_id: Option<String>, error: String },
    /// A clip is about to leave (`destination` `center` or `file`).
    SharedClip {
        request_id: String,
        camera: String,
        from: Timestamp,
        to: Timestamp,
        bytes: u64,
        sha256: String,
        strip_audio: bool,
        destination: String,
    },
    /// A still image is about to be uploaded.
    SharedSnapshot {
        request_id: String,
        camera: String,
        at: Timestamp,
        bytes: u64,
        sha256: String,
        content_type: String,
    },
    /// The resident orders a share of a clip without a request.
    ResidentShare {
        request_id: String,
        by: String,
        camera: String,
        from: Timestamp,
        to: Timestamp,
        destination: String,
        strip_audio: bool,
        note: String,
    },
    /// Nothing was sent for a granted camera, and why.
    ShareFailed { request_id: String, camera: String, error: String },
    /// A live stream is about to send its first byte of media (`ingest` without its query).
    LiveStarted {
        request_id: String,
        camera: String,
        ingest: String,
        until: Timestamp,
        audio: bool,
        codec: String,
    },
    /// A live stream ended.
    LiveStopped { request_id: String, camera: String, bytes: u64, seconds: f64, reason: String },
    /// A policy's event hook offered a share (`request`: the request the offer became).
    Offer { request_id: String, plugin: String, event: OfferEvent, request: Value },
    /// The center did not take an offer.
    OfferDeclined { request_id: String, error: String },
    /// The resident revoked what was being shared for a request.
    Revoked { request_id: String, by: String },
    /// A torn last line was cut off when the log was opened.
    AuditRecovered { torn_bytes: u64 },
}

impl Entry {
    /// The entry's `kind` in the log.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::PluginLoaded { .. } => "plugin_loaded",
            Self::PluginRejected { .. } => "plugin_rejected",
            Self::Request { .. } => "request",
            Self::Decision { .. } => "decision",
            Self::ResidentDecision { .. } => "resident_decision",
            Self::Privacy { .. } => "privacy",
            Self::Mode { .. } => "mode",
            Self::RelayReply { .. } => "relay_reply",
            Self::RelayRefused { .. } => "relay_refused",
            Self::SharedClip { .. } => "shared_clip",
            Self::SharedSnapshot { .. } => "shared_snapshot",
            Self::ResidentShare { .. } => "resident_share",
            Self::ShareFailed { .. } => "share_failed",
            Self::LiveStarted { .. } => "live_started",
            Self::LiveStopped { .. } => "live_stopped",
            Self::Offer { .. } => "offer",
            Self::OfferDeclined { .. } => "offer_declined",
            Self::Revoked { .. } => "revoked",
            Self::AuditRecovered { .. } => "audit_recovered",
        }
    }

    /// The request the entry is about, if any (for log messages).
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::Decision { request_id, .. }
            | Self::ResidentDecision { request_id, .. }
            | Self::RelayReply { request_id, .. }
            | Self::SharedClip { request_id, .. }
            | Self::SharedSnapshot { request_id, .. }
            | Self::ResidentShare { request_id, .. }
            | Self::ShareFailed { request_id, .. }
            | Self::LiveStarted { request_id, .. }
            | Self::LiveStopped { request_id, .. }
            | Self::Offer { request_id, .. }
            | Self::OfferDeclined { request_id, .. }
            | Self::Revoked { request_id, .. } => Some(request_id),
            Self::RelayRefused { request_id, .. } => request_id.as_deref(),
            Self::Request { request, .. } => request["id"].as_str(),
            Self::PluginLoaded { .. }
            | Self::PluginRejected { .. }
            | Self::Privacy { .. }
            | Self::Mode { .. }
            | Self::AuditRecovered { .. } => None,
        }
    }
}

/// The camera event behind an offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferEvent {
    /// `motion`, `doorbell`, `tamper` or `alarm`.
    pub kind: String,
    pub camera: String,
    pub time: Timestamp,
}

/// `value` as JSON, for an entry's objects. The types logged this way serialise to JSON
/// objects and cannot fail; if one did, the field is `null` and the error is logged.
pub fn to_json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or_else(|e| {
        tracing::error!(error = %e, "Cannot write an object of an audit entry as JSON; it is null");
        Value::Null
    })
}

/// Why an entry was not written.
#[derive(Debug, thiserror::Error)]
pub enum NotWritten {
    /// The log could not be opened at start-up (logged then; health `audit` = `failed`).
    #[error("the audit log is not open")]
    NotOpen,
    #[error(transparent)]
    Failed(#[from] AuditError),
}

/// Writes `entry` where what it records must not happen without it: an approval, a mode
/// change, privacy mode turned off, a request and its decision (else the decision is `deny`),
/// anything about to leave the house. On `Err` the caller refuses and says why.
///
/// The one rule for what happens when an entry cannot be written (this and [`best_effort`]):
/// a failed write is logged here at ERROR (`Cannot write the audit log`, with `kind`,
/// `request` and `error`), each time; a log that is not open is not logged per entry (it was
/// logged once at start-up, and health `audit` is `failed`). Whether the action then goes ahead
/// is the caller's choice, made by calling this or [`best_effort`].
pub fn required(log: Option<&Audit>, entry: &Entry) -> Result<Head, NotWritten> {
    let Some(log) = log else {
        tracing::debug!(kind = entry.kind(), request = ?entry.request_id(), "No audit log; entry not written");
        return Err(NotWritten::NotOpen);
    };
    log.append(entry).map_err(|e| {
        tracing::error!(kind = entry.kind(), request = ?entry.request_id(), error = %e, "Cannot write the audit log");
        NotWritten::Failed(e)
    })
}

/// Writes `entry` where what it records happens anyway: a deny, a revocation, privacy mode
/// turned on, a plugin (re)load, a failure report, an answer to the center that carries no
/// footage. `None` if it was not written (logged as [`required`] says).
pub fn best_effort(log: Option<&Audit>, entry: &Entry) -> Option<Head> {
    required(log, entry).ok()
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
            audit.append(&Entry::AuditRecovered { torn_bytes: bytes as u64 })?;
        }
        Ok(audit)
    }

    /// Appends `entry` and fsyncs it. Returns its head. Writers call [`required`] or
    /// [`best_effort`], which say what happens when this fails.
    pub fn append(&self, entry: &Entry) -> Result<Head, AuditError> {
        let kind = entry.kind();
        let fields = serde_json::to_value(entry);
        let mut w = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let fields =
            fields.map_err(|source| AuditError::Encode { path: w.dir.join(LOG_FILE), kind, source })?;
        let mut obj = Map::new();
        obj.insert("seq".into(), w.next_seq.into());
        obj.insert("time".into(), Timestamp::now().to_string().into());
        obj.insert("kind".into(), kind.into());
        obj.insert("prev".into(), w.prev.clone().into());
        // No entry has a field of these names (a test checks); were one added, the log's own win.
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
    check(dir, anchors, BufReader::new(file).lines())
}

/// [`verify`] and [`read`] from one reading of the log (the transparency report needs both).
pub fn read_verified(dir: &Path) -> Result<(Verdict, Vec<Record>), AuditError> {
    let path = dir.join(LOG_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        // No log: whatever `verify` says of that (empty, or an error if a head file is left).
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((verify(dir, &[])?, Vec::new())),
        Err(source) => return Err(AuditError::Io { path, source }),
    };
    let verdict = check(dir, &[], text.lines().map(|l| Ok(l.to_owned())))?;
    Ok((verdict, records_of(&text)))
}

/// The chain check of [`verify`] over the log's lines.
fn check(
    dir: &Path,
    anchors: &[Anchor],
    lines: impl Iterator<Item = std::io::Result<String>>,
) -> Result<Verdict, AuditError> {
    let path = dir.join(LOG_FILE);
    let io = |source| AuditError::Io { path: path.clone(), source };
    let mut prev = GENESIS.to_owned();
    let mut expected_seq = 0u64;
    let mut last: Option<Head> = None;
    for (i, line) in lines.enumerate() {
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

/// One entry as read back from the log.
#[derive(Debug, Clone)]
pub struct Record {
    pub seq: Option<u64>,
    pub time: Option<Timestamp>,
    /// The entry, if this version knows its kind and the line reads as one; `None` for a kind
    /// written by a newer version (the line still has it).
    pub entry: Option<Entry>,
    /// The line as written: every field, `prev` and `hash` too.
    pub line: Value,
}

impl Record {
    /// Reads one line, already parsed as JSON.
    pub fn from_line(line: Value) -> Self {
        Self {
            seq: line["seq"].as_u64(),
            time: line["time"].as_str().and_then(|t| t.parse().ok()),
            entry: Entry::deserialize(&line).ok(),
            line,
        }
    }
}

/// Every entry, oldest first (`porchlight audit show`, what the hub remembers at start). Lines
/// that are not JSON are skipped, and an entry this version cannot read is kept with `entry`
/// `None`: neither costs the rest of the log. No log file: no entries.
pub fn read(dir: &Path) -> Result<Vec<Record>, AuditError> {
    let path = dir.join(LOG_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(AuditError::Io { path, source }),
    };
    Ok(records_of(&text))
}

fn records_of(text: &str) -> Vec<Record> {
    text.lines().filter_map(|l| serde_json::from_str(l).ok()).map(Record::from_line).collect()
}

/// Every line as the JSON written, oldest first, for checks of the format itself; otherwise
/// use [`read`].
pub fn entries(dir: &Path) -> Result<Vec<Value>, AuditError> {
    Ok(read(dir)?.into_iter().map(|r| r.line).collect())
}

/// One entry as a readable line: `#seq time kind key=value …` (chain fields left out), as
/// written, whatever its kind.
pub fn render(record: &Record) -> String {
    let line = &record.line;
    let mut out = format!(
        "#{} {} {}",
        record.seq.map_or_else(|| "?".into(), |s| s.to_string()),
        line["time"].as_str().unwrap_or("?"),
        line["kind"].as_str().unwrap_or("?"),
    );
    if let Value::Object(map) = line {
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
            audit.append(&revoked(&format!("r{i}"), "a\"b\nc")).expect("append");
        }
        (dir, audit)
    }

    fn revoked(id: &str, by: &str) -> Entry {
        Entry::Revoked { request_id: id.to_owned(), by: by.to_owned() }
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
        let head = audit.append(&Entry::AuditRecovered { torn_bytes: 7 }).expect("append");
        assert_eq!(head.seq, 3);
        match verify(dir.path(), &[]).expect("verify") {
            Verdict::Intact { entries, head: Some(h) } => {
                assert_eq!(entries, 4);
                assert_eq!(h, head);
            }
            other => panic!("{other:?}"),
        }
        let all = read(dir.path()).expect("read");
        assert!(
            matches!(&all[1].entry, Some(Entry::Revoked { request_id, by }) if request_id == "r1" && by == "a\"b\nc"),
            "{all:?}"
        );
        assert!(matches!(all[3].entry, Some(Entry::AuditRecovered { torn_bytes: 7 })), "{all:?}");
        assert_eq!(all[3].seq, Some(3));
    }

    #[test]
    fn read_verified_says_what_verify_and_read_say_from_one_reading() {
        let empty = tempfile::tempdir().expect("dir");
        let (verdict, records) = read_verified(empty.path()).expect("no log yet");
        assert_eq!((verdict, records.len()), (Verdict::Intact { entries: 0, head: None }, 0));
        let (dir, _a) = log_with(4);
        let (verdict, records) = read_verified(dir.path()).expect("read");
        assert_eq!(verdict, verify(dir.path(), &[]).expect("verify"));
        assert!(matches!(verdict, Verdict::Intact { entries: 4, .. }), "{verdict:?}");
        let read_back: Vec<Value> = read(dir.path()).expect("read").into_iter().map(|r| r.line).collect();
        assert_eq!(records.into_iter().map(|r| r.line).collect::<Vec<_>>(), read_back);
        let mut l = lines(dir.path());
        l[1] = l[1].replace("r1", "r7");
        write_lines(dir.path(), &l);
        let (verdict, records) = read_verified(dir.path()).expect("read");
        assert_eq!(verdict, verify(dir.path(), &[]).expect("verify"));
        assert!(matches!(verdict, Verdict::Broken { line: 2, .. }), "{verdict:?}");
        assert_eq!(records.len(), 4, "a broken chain still lists every entry");
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
        let torn = b"{\"seq\":2,\"time\":\"2026-";
        f.write_all(torn).expect("torn write");
        drop(f);
        let audit = Audit::open(dir.path()).expect("reopen");
        assert_eq!(audit.head().map(|h| h.seq), Some(2));
        let all = read(dir.path()).expect("read");
        assert_eq!(all.len(), 3);
        assert!(
            matches!(all[2].entry, Some(Entry::AuditRecovered { torn_bytes }) if torn_bytes == torn.len() as u64),
            "{all:?}"
        );
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
        audit.append(&revoked("r5", "resident (api)")).expect("append");
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
        audit.append(&revoked("r0", "resident (api)")).expect("append");
        let (_, message) = anchored(dir.path(), std::slice::from_ref(&anchor));
        assert!(message.contains("the log has 1 entries but"), "{message}");
        for _ in 0..5 {
            audit.append(&revoked("r0", "resident (api)")).expect("append");
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
        let head = audit.append(&revoked("r0", "resident (api)")).expect("append");
        assert!(rx.has_changed().expect("sender alive"));
        assert_eq!(*rx.borrow_and_update(), Anchor { entries: 1, hash: head.hash });
    }

    #[test]
    fn fresh_hub_verifies_as_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(verify(dir.path(), &[]).expect("verify"), Verdict::Intact { entries: 0, head: None });
    }

    /// One entry of every kind (both shapes of `privacy`), for the checks against the reference.
    fn samples() -> Vec<Entry> {
        let t: Timestamp = "2026-11-27T04:05:12Z".parse().expect("time");
        let s = |x: &str| x.to_owned();
        vec![
            Entry::PluginLoaded { plugin: s("street-only"), sha256: s("84"), trigger: s("start") },
            Entry::PluginRejected {
                plugin: s("p"),
                reason: s("bad"),
                kept_previous: true,
                trigger: s("start"),
            },
            Entry::Request { source: s("api"), request: json!({ "id": "r1" }), context: json!({}) },
            Entry::Decision {
                source: s("relay"),
                request_id: s("r1"),
                decision: json!({ "decision": "deny", "reason": "no" }),
                plugins: json!([]),
            },
            Entry::ResidentDecision { request_id: s("r1"), by: s("timeout"), decision: json!({}) },
            Entry::Privacy { on: Some(true), by: s("api"), forced: false, effective: true },
            Entry::Privacy { on: None, by: s("config"), forced: true, effective: true },
            Entry::Mode { mode: s("away"), was: s("home"), by: s("api") },
            Entry::RelayReply { request_id: s("r1"), sent: json!({ "decision": "deny" }) },
            Entry::RelayRefused { request_id: None, error: s("malformed") },
            Entry::SharedClip {
                request_id: s("r1"),
                camera: s("front"),
                from: t,
                to: t,
                bytes: 1,
                sha256: s("ab"),
                strip_audio: false,
                destination: s("center"),
            },
            Entry::SharedSnapshot {
                request_id: s("r1"),
                camera: s("front"),
                at: t,
                bytes: 1,
                sha256: s("ab"),
                content_type: s("image/jpeg"),
            },
            Entry::ResidentShare {
                request_id: s("share-1"),
                by: s("resident (api)"),
                camera: s("front"),
                from: t,
                to: t,
                destination: s("file"),
                strip_audio: true,
                note: s("shared by the resident"),
            },
            Entry::ShareFailed { request_id: s("r1"), camera: s("front"), error: s("no recordings") },
            Entry::LiveStarted {
                request_id: s("r1"),
                camera: s("front"),
                ingest: s("rtsp://center/live"),
                until: t,
                audio: false,
                codec: s("avc1.64001f"),
            },
            Entry::LiveStopped {
                request_id: s("r1"),
                camera: s("front"),
                bytes: 1,
                seconds: 1.5,
                reason: s("x"),
            },
            Entry::Offer {
                request_id: s("offer-1"),
                plugin: s("p"),
                event: OfferEvent { kind: s("alarm"), camera: s("front"), time: t },
                request: json!({ "id": "offer-1" }),
            },
            Entry::OfferDeclined { request_id: s("offer-1"), error: s("HTTP 404") },
            Entry::Revoked { request_id: s("r1"), by: s("resident (api)") },
            Entry::AuditRecovered { torn_bytes: 23 },
        ]
    }

    /// The keys of a JSON object in the order they are written.
    struct Keys(Vec<String>);

    impl<'de> Deserialize<'de> for Keys {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Keys;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                    let mut keys = Vec::new();
                    while let Some((k, _)) = map.next_entry::<String, serde::de::IgnoredAny>()? {
                        keys.push(k);
                    }
                    Ok(Keys(keys))
                }
            }
            d.deserialize_map(V)
        }
    }

    /// `kind` and its fields, in the order the type declares them.
    fn declared(e: &Entry) -> (String, Vec<String>) {
        let text = serde_json::to_string(e).expect("serialise");
        let Keys(keys) = serde_json::from_str(&text).expect("keys");
        assert_eq!(keys.first().map(String::as_str), Some("kind"), "{text}");
        (e.kind().to_owned(), keys[1..].to_vec())
    }

    /// The "Entry kinds" table of `docs/ref/audit.md`: each row's kind and fields (the
    /// backquoted names of the Fields column, leaving out what is in parentheses).
    fn documented() -> Vec<(String, Vec<String>)> {
        let doc = include_str!("../../docs/ref/audit.md");
        let table = doc.split("\n## Entry kinds\n").nth(1).expect("an Entry kinds section");
        let table = table.split("\n## ").next().unwrap_or(table);
        let mut rows = Vec::new();
        for line in table.lines().filter(|l| l.starts_with("| `")) {
            let cells: Vec<&str> = line.split(" | ").collect();
            assert!(cells.len() >= 3, "not a row of kind | fields | written when: {line}");
            if cells[1] == "Fields" {
                continue;
            }
            let kind = cells[0].trim_start_matches("| ").trim_matches('`').to_owned();
            let mut depth = 0usize;
            let mut outside = String::new();
            for c in cells[1].chars() {
                match c {
                    '(' => depth += 1,
                    ')' => depth = depth.saturating_sub(1),
                    c if depth == 0 => outside.push(c),
                    _ => {}
                }
            }
            let fields = outside.split('`').skip(1).step_by(2).map(str::to_owned).collect();
            rows.push((kind, fields));
        }
        rows
    }

    /// Every kind the enum can read, from serde's own list of its variants.
    fn variants() -> std::collections::BTreeSet<String> {
        let e = serde_json::from_str::<Entry>(r#"{"kind":"no such kind"}"#).expect_err("unknown kind");
        let text = e.to_string();
        let list = text.split("expected one of").nth(1).expect("serde lists the variants");
        list.split('`').skip(1).step_by(2).map(str::to_owned).collect()
    }

    #[test]
    fn entries_match_the_reference() {
        let documented = documented();
        let doc_kinds: std::collections::BTreeSet<String> =
            documented.iter().map(|(k, _)| k.clone()).collect();
        assert!(doc_kinds.len() > 10, "the table was not read: {documented:?}");
        assert_eq!(variants(), doc_kinds, "the enum's kinds and the documented kinds");
        let written: Vec<(String, Vec<String>)> = samples().iter().map(declared).collect();
        let sampled: std::collections::BTreeSet<String> = written.iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(sampled, doc_kinds, "a sample of every kind");
        // Every documented row is written by some sample, field for field in order, and every
        // sample is a documented row.
        for row in &documented {
            assert!(written.contains(row), "documented but not written: {row:?}\nwritten: {written:?}");
        }
        for w in &written {
            assert!(documented.contains(w), "written but not documented: {w:?}\ndocumented: {documented:?}");
            for reserved in ["seq", "time", "kind", "prev", "hash"] {
                assert!(!w.1.iter().any(|f| f == reserved), "{} has a field named {reserved}", w.0);
            }
        }
    }

    #[test]
    fn the_line_is_the_sorted_fields_and_reads_back() {
        let (dir, audit) = log_with(0);
        for e in samples() {
            audit.append(&e).expect("append");
        }
        let text = std::fs::read_to_string(dir.path().join(LOG_FILE)).expect("log");
        let records = read(dir.path()).expect("read");
        for ((line, record), sample) in text.lines().zip(&records).zip(samples()) {
            let Keys(keys) = serde_json::from_str(line).expect("keys");
            let mut sorted = keys[..keys.len() - 1].to_vec();
            sorted.sort();
            assert_eq!(keys[..keys.len() - 1], sorted, "{line}");
            assert_eq!(keys.last().map(String::as_str), Some("hash"), "{line}");
            let entry = record.entry.as_ref().expect("a known kind reads back");
            assert_eq!(to_json(entry), to_json(&sample), "{line}");
        }
        assert_eq!(records.len(), samples().len());
    }

    #[test]
    fn an_unknown_kind_is_kept_and_shown_and_the_rest_still_reads() {
        let (dir, audit) = log_with(1);
        drop(audit);
        let mut l = lines(dir.path());
        l.push(r#"{"kind":"from_the_future","seq":1,"time":"2026-11-27T08:00:00Z","zeta":[1]}"#.to_owned());
        l.push("not json".to_owned());
        l.push(r#"{"kind":"revoked","seq":2,"request_id":"r7","by":"resident (mqtt)"}"#.to_owned());
        write_lines(dir.path(), &l);
        let records = read(dir.path()).expect("read");
        assert_eq!(records.len(), 3);
        assert!(records[1].entry.is_none());
        assert_eq!(render(&records[1]), "#1 2026-11-27T08:00:00Z from_the_future zeta=[1]");
        assert!(matches!(&records[2].entry, Some(Entry::Revoked { request_id, .. }) if request_id == "r7"));
        assert_eq!(render(&records[2]), r#"#2 ? revoked by="resident (mqtt)" request_id="r7""#);
    }

    #[test]
    fn an_entry_not_written_is_an_error_only_where_it_is_required() {
        let entry = revoked("r1", "resident (api)");
        assert!(matches!(required(None, &entry), Err(NotWritten::NotOpen)));
        assert_eq!(NotWritten::NotOpen.to_string(), "the audit log is not open");
        assert!(best_effort(None, &entry).is_none());
        let (dir, audit) = log_with(0);
        let head = best_effort(Some(&audit), &entry).expect("written");
        assert_eq!(required(Some(&audit), &entry).expect("written").seq, head.seq + 1);
        // A log whose file went away under it: the write fails.
        std::fs::remove_dir_all(dir.path()).expect("rm");
        assert!(matches!(required(Some(&audit), &entry), Err(NotWritten::Failed(_))));
        assert!(best_effort(Some(&audit), &entry).is_none());
    }
}

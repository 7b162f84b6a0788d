//! Replay: a candidate policy decides the sharing requests of the audit log again, alone and
//! composed with the enabled policies (the live engine's composition rule), and the report says
//! which recorded decisions it would change, in plain words. Used by `porchlight plugin replay`
//! and `POST /api/policy/replay`; `docs/plugins.md` ("Replay before you trust").
//!
//! Read-only: it reads the audit log and writes nothing (not the log, not the request desk);
//! nothing is shared. Each request is decided with the request and the context the policies saw
//! then (both recorded in its `request` entry), every plugin in a fresh instance under its own
//! limits, like a live decision. Bounded: at most [`MAX_REQUESTS`] requests (the newest in the
//! period), replayed newest first for at most [`MAX_TIME`].

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

use super::{
    Context, Decision, Grant, LoadError, PluginOutcome, PolicyEngine, PolicySettings, Request, Requester,
    Slot, convert, host, refusal, verdict,
};
use crate::audit::{self, Entry, Record};
use crate::config::PluginSettings;
use crate::config::PolicySource;

/// The most requests one replay decides (the newest of the period).
pub const MAX_REQUESTS: usize = 10_000;
/// The longest one replay runs; what is left after it is reported as not replayed.
pub const MAX_TIME: Duration = Duration::from_secs(60);
/// The period replayed when none is given.
pub const DEFAULT_SINCE: &str = "90d";

/// Why a replay could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(
        "since {text:?}: {why} (give how far back, such as `90d`, `12h` or `30m`, or an RFC 3339 time such as `2026-11-26T18:00:00Z`)"
    )]
    BadSince { text: String, why: String },
    #[error("the candidate's name {0:?} cannot be a policy name (1-64 characters of a-z, 0-9, `_` and `-`)")]
    BadName(String),
    #[error("{0}")]
    Unreadable(LoadError),
    #[error("no policy named {0:?} is bundled with the daemon (`porchlight plugin list` names them)")]
    UnknownBundled(String),
    #[error("the candidate policy {name:?} was rejected: {reason}")]
    Rejected { name: String, reason: String },
    #[error("{0}")]
    Audit(#[from] audit::AuditError),
}

/// Where the candidate comes from. Each source is one arm of [`Source::resolve`].
#[derive(Debug, Clone)]
pub enum Source {
    /// A plugin file; its name is the file's stem.
    File(PathBuf),
    /// A plugin's bytes (an upload), with the name it goes by.
    Bytes { name: String, bytes: Vec<u8> },
    /// A policy bundled with the daemon, by name (`policy::bundled`).
    Bundled(String),
}

impl Source {
    /// The candidate's name and bytes.
    pub fn resolve(self) -> Result<(String, Vec<u8>), ReplayError> {
        match self {
            Self::File(path) => {
                let bytes = host::read_plugin_file(&path).map_err(ReplayError::Unreadable)?;
                let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("candidate").to_owned();
                Ok((name, bytes))
            }
            Self::Bytes { name, bytes } => Ok((name, bytes)),
            Self::Bundled(name) => match super::bundled::find(&name) {
                Some(b) => Ok((name, b.bytes.to_vec())),
                None => Err(ReplayError::UnknownBundled(name)),
            },
        }
    }

    /// Where the component comes from, as the engine records it.
    fn kind(&self) -> PolicySource {
        match self {
            Self::Bundled(_) => PolicySource::Bundled,
            Self::File(_) | Self::Bytes { .. } => PolicySource::File,
        }
    }
}

/// The policy to try.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub source: Source,
    /// Its configuration as JSON text; `None`: that of the enabled policy of the same name, if
    /// there is one, else `{}`.
    pub config: Option<String>,
}

/// What one replay covers.
#[derive(Debug, Clone)]
pub struct Options {
    /// Requests recorded at or after this time …
    pub since: Timestamp,
    /// … and at or before this one.
    pub until: Timestamp,
    pub max_requests: usize,
    pub max_time: Duration,
    /// `hub.max_live`: every live grant is cut to it, as in a live decision.
    pub max_live: Duration,
}

impl Options {
    /// The default bounds for the period from `since` to now.
    pub fn new(since: Timestamp, max_live: Duration) -> Self {
        Self { since, until: Timestamp::now(), max_requests: MAX_REQUESTS, max_time: MAX_TIME, max_live }
    }
}

/// `since` as given on the command line or in the API: how far back (`90d`, `12h`, `30m`,
/// also written `-90d`) or an RFC 3339 time; not in the future.
pub fn parse_since(text: &str, now: Timestamp) -> Result<Timestamp, ReplayError> {
    let bad = |why: String| ReplayError::BadSince { text: text.to_owned(), why };
    let t = text.trim();
    let at = if t.starts_with(|c: char| c.is_ascii_digit()) && !t.contains(['-', ':']) {
        let d = crate::config::units::parse_duration(t).map_err(|e| bad(e.to_string()))?;
        let d = jiff::SignedDuration::try_from(d).map_err(|e| bad(e.to_string()))?;
        now.checked_sub(d).map_err(|e| bad(e.to_string()))?
    } else {
        crate::config::units::parse_time(t, now).map_err(|e| bad(e.to_string()))?
    };
    if at > now {
        return Err(bad("it is in the future".into()));
    }
    Ok(at)
}

/// How a decision would change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    AllowToDeny,
    AllowToAsk,
    DenyToAllow,
    DenyToAsk,
    AskToAllow,
    AskToDeny,
    /// Still `ask`, with another time to answer.
    AskChanged,
    /// Still `allow`, sharing less (fewer cameras, less time, audio stripped, …).
    GrantNarrowed,
    /// Still `allow`, sharing more.
    GrantWidened,
    /// Still `allow`, less in one way and more (or otherwise different) in another.
    GrantChanged,
}

impl Change {
    /// Every kind, for the totals.
    pub const ALL: [Self; 10] = [
        Self::AllowToDeny,
        Self::AllowToAsk,
        Self::DenyToAllow,
        Self::DenyToAsk,
        Self::AskToAllow,
        Self::AskToDeny,
        Self::AskChanged,
        Self::GrantNarrowed,
        Self::GrantWidened,
        Self::GrantChanged,
    ];

    /// The name in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::AllowToDeny => "allow_to_deny",
            Self::AllowToAsk => "allow_to_ask",
            Self::DenyToAllow => "deny_to_allow",
            Self::DenyToAsk => "deny_to_ask",
            Self::AskToAllow => "ask_to_allow",
            Self::AskToDeny => "ask_to_deny",
            Self::AskChanged => "ask_changed",
            Self::GrantNarrowed => "grant_narrowed",
            Self::GrantWidened => "grant_widened",
            Self::GrantChanged => "grant_changed",
        }
    }
}

/// One side of a changed request: what the replay decided and how that differs.
#[derive(Debug, Clone, Serialize)]
pub struct Difference {
    pub change: Change,
    pub decision: Decision,
    /// The change in plain words.
    pub words: String,
    /// Why the candidate's own answer was replaced by `deny` (a trap, a time-out, an answer
    /// wider than the request), if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate_failure: Option<String>,
}

/// How a request the policies answered `ask` ended.
#[derive(Debug, Clone, Serialize)]
pub struct ResidentAnswer {
    pub by: String,
    pub decision: Decision,
}

/// A request whose decision the candidate would change, alone or composed.
#[derive(Debug, Clone, Serialize)]
pub struct Changed {
    pub request_id: String,
    /// When its `request` entry was written.
    pub time: Timestamp,
    pub source: String,
    pub requester: Requester,
    /// `clip`, `live` or `snapshot`.
    pub kind: &'static str,
    pub cameras: Vec<String>,
    /// The decision in the log.
    pub recorded: Decision,
    /// The final answer to a recorded `ask`, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resident: Option<ResidentAnswer>,
    /// The candidate on its own; `null`: no change.
    pub alone: Option<Difference>,
    /// The candidate with the enabled policies; `null`: no change.
    pub composed: Option<Difference>,
}

/// The counts of one side.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Side {
    pub changed: usize,
    pub unchanged: usize,
    /// Every [`Change`] kind, zero or not.
    pub by_change: BTreeMap<&'static str, usize>,
}

impl Side {
    fn new() -> Self {
        Self { by_change: Change::ALL.iter().map(|c| (c.name(), 0)).collect(), ..Self::default() }
    }

    fn count(&mut self, d: Option<&Difference>) {
        match d {
            Some(d) => {
                self.changed += 1;
                *self.by_change.entry(d.change.name()).or_default() += 1;
            }
            None => self.unchanged += 1,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    /// Sharing requests recorded in the period (dry runs not counted).
    pub requests: usize,
    /// Those decided again.
    pub replayed: usize,
    /// Dry runs (`POST /api/policy/evaluate`) in the period, left out.
    pub dry_runs: usize,
    /// Requests with no recorded decision (the hub stopped in between), left out.
    pub undecided: usize,
    /// Entries this version cannot read back as a request or decision, left out.
    pub unreadable: usize,
    /// Requests left out by the bounds (older than the newest `max_requests`, or not reached
    /// within `max_seconds`).
    pub not_replayed: usize,
    /// Replayed requests that were decided by another set of policies (names or SHA-256) than
    /// the one enabled now.
    pub decided_by_other_policies: usize,
    /// Replayed requests on which the candidate failed (its answer counted as `deny`).
    pub candidate_failures: usize,
    pub alone: Side,
    pub composed: Side,
}

/// The candidate as replayed.
#[derive(Debug, Clone, Serialize)]
pub struct CandidateInfo {
    pub name: String,
    pub sha256: String,
    /// Its configuration.
    pub config: Value,
    /// `given`, `enabled` (that of the enabled policy of the same name) or `none` (`{}`).
    pub config_from: &'static str,
    /// The enabled policy it takes the place of when composed (same name), if any.
    pub replaces: Option<String>,
}

/// An enabled policy as composed.
#[derive(Debug, Clone, Serialize)]
pub struct EnabledInfo {
    pub name: String,
    /// `null`: not loaded (it denies everything).
    pub sha256: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Bounds {
    pub max_requests: usize,
    pub max_seconds: u64,
}

/// What a replay found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub candidate: CandidateInfo,
    /// The enabled policies, in order, as the composed replay ran them (the candidate in the
    /// place of the one it replaces, else after them).
    pub composed_with: Vec<EnabledInfo>,
    pub since: Timestamp,
    pub until: Timestamp,
    pub bounds: Bounds,
    /// Every request of the period was replayed.
    pub complete: bool,
    /// Why not, when not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// The oldest request replayed (they go newest first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldest_replayed: Option<Timestamp>,
    pub elapsed_ms: u64,
    pub totals: Totals,
    /// The requests whose decision would change, newest first.
    pub changes: Vec<Changed>,
}

/// A request from the log with its recorded outcome.
#[derive(Debug)]
struct Recorded {
    time: Timestamp,
    source: String,
    request: Request,
    context: Context,
    decision: Option<Decision>,
    /// The policies that decided it: (name, SHA-256).
    plugins: Vec<(String, Option<String>)>,
    resident: Option<ResidentAnswer>,
}

/// The requests of the log in `[since, until]`, the newest `max` of them, oldest first; and the
/// counts of what was left out.
fn read_log(dir: &Path, opts: &Options, totals: &mut Totals) -> Result<Vec<Recorded>, ReplayError> {
    let path = dir.join(audit::LOG_FILE);
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(audit::AuditError::Io { path, source }.into()),
    };
    let mut kept: VecDeque<Recorded> = VecDeque::new();
    // Absolute number of the front of `kept`, and where each id waits for its decision or the
    // resident's answer.
    let (mut front, mut pushed) = (0usize, 0usize);
    let mut waiting: HashMap<String, usize> = HashMap::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line.map_err(|source| audit::AuditError::Io { path: path.clone(), source })?;
        // Only these kinds matter; every other line is passed over unparsed.
        if !["\"kind\":\"request\"", "\"kind\":\"decision\"", "\"kind\":\"resident_decision\""]
            .iter()
            .any(|k| line.contains(k))
        {
            continue;
        }
        let Ok(value) = serde_json::from_str::<Value>(&line) else { continue };
        let record = Record::from_line(value);
        let Some(time) = record.time else { continue };
        if time < opts.since || time > opts.until {
            continue;
        }
        let at = |waiting: &HashMap<String, usize>, id: &str| {
            waiting.get(id).copied().filter(|&i| i >= front).map(|i| i - front)
        };
        match record.entry {
            Some(Entry::Request { source, request, context }) => {
                if source == "api-evaluate" {
                    totals.dry_runs += 1;
                    continue;
                }
                totals.requests += 1;
                let (Ok(request), Ok(context)) =
                    (serde_json::from_value::<Request>(request), serde_json::from_value::<Context>(context))
                else {
                    totals.unreadable += 1;
                    continue;
                };
                waiting.insert(request.id.clone(), pushed);
                kept.push_back(Recorded {
                    time,
                    source,
                    request,
                    context,
                    decision: None,
                    plugins: Vec::new(),
                    resident: None,
                });
                pushed += 1;
                if kept.len() > opts.max_requests {
                    kept.pop_front();
                    front += 1;
                    totals.not_replayed += 1;
                }
                if waiting.len() > 2 * opts.max_requests.max(1) {
                    waiting.retain(|_, i| *i >= front);
                }
            }
            Some(Entry::Decision { source, request_id, decision, plugins }) if source != "api-evaluate" => {
                let Some(i) = at(&waiting, &request_id) else { continue };
                let r = &mut kept[i];
                if r.decision.is_some() {
                    continue;
                }
                match serde_json::from_value::<Decision>(decision) {
                    Ok(d) => r.decision = Some(d),
                    Err(_) => {
                        totals.unreadable += 1;
                        continue;
                    }
                }
                r.plugins = plugins
                    .as_array()
                    .map(|ps| {
                        ps.iter()
                            .map(|p| {
                                (
                                    p["plugin"].as_str().unwrap_or_default().to_owned(),
                                    p["sha256"].as_str().map(str::to_owned),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                if !matches!(r.decision, Some(Decision::Ask { .. })) {
                    waiting.remove(&request_id);
                }
            }
            Some(Entry::ResidentDecision { request_id, by, decision }) => {
                let Some(i) = at(&waiting, &request_id) else { continue };
                let r = &mut kept[i];
                if matches!(r.decision, Some(Decision::Ask { .. }))
                    && r.resident.is_none()
                    && let Ok(d) = serde_json::from_value::<Decision>(decision)
                {
                    r.resident = Some(ResidentAnswer { by, decision: d });
                    waiting.remove(&request_id);
                }
            }
            _ => {}
        }
    }
    Ok(kept.into())
}

/// Replays `candidate` over the requests of the audit log in `audit_dir`, alone and composed
/// with `enabled` (the engine's current slots, or those loaded from `plugins` for the command
/// line), on `engine`'s host. `cancel` stops it early (the caller went away). The candidate's
/// limits and default configuration are those the hub would give a policy of its name.
pub fn replay(
    engine: &PolicyEngine,
    enabled: &[Slot],
    plugins: &PluginSettings,
    candidate: Candidate,
    audit_dir: &Path,
    opts: &Options,
    cancel: &AtomicBool,
) -> Result<Report, ReplayError> {
    let started = Instant::now();
    let kind = candidate.source.kind();
    let (name, bytes) = candidate.source.resolve()?;
    if !crate::config::valid_name(&name) {
        return Err(ReplayError::BadName(name));
    }
    let same = plugins.enabled.iter().find(|p| p.name == name);
    let (config, config_from) = match (candidate.config, same) {
        (Some(c), _) => (c, "given"),
        (None, Some(p)) => (p.config.clone(), "enabled"),
        (None, None) => ("{}".to_owned(), "none"),
    };
    let settings = PolicySettings {
        name: name.clone(),
        file: PathBuf::from(format!("{name}.wasm")),
        source: Some(kind),
        sha256: None,
        limits: same.map_or(plugins.limits, |p| p.limits),
        config,
    };
    let rejected = |e: LoadError| ReplayError::Rejected { name: name.clone(), reason: e.0 };
    let compiled = engine.host().compile(&bytes).map_err(rejected)?;
    let plugin =
        engine.admit(&settings, crate::digest::sha256_hex(&bytes), kind, compiled).map_err(rejected)?;
    drop(bytes);
    let plugin = Arc::new(plugin);
    let candidate_slot = Slot::Loaded(Arc::clone(&plugin));

    // Composed: the enabled policies in order, the candidate in the place of the one of its
    // name, else last.
    let replaces = enabled.iter().any(|s| s.name() == name).then(|| name.clone());
    let mut composed: Vec<&Slot> =
        enabled.iter().map(|s| if s.name() == name { &candidate_slot } else { s }).collect();
    if replaces.is_none() {
        composed.push(&candidate_slot);
    }
    let now_set: Vec<(String, Option<String>)> = enabled
        .iter()
        .map(|s| match s {
            Slot::Loaded(p) => (p.name.clone(), Some(p.sha256.clone())),
            Slot::Missing { name, .. } => (name.clone(), None),
        })
        .collect();

    let mut totals = Totals { alone: Side::new(), composed: Side::new(), ..Totals::default() };
    let recorded = read_log(audit_dir, opts, &mut totals)?;
    let mut changes = Vec::new();
    let mut stopped = None;
    let mut oldest = None;
    for (done, r) in recorded.iter().rev().enumerate() {
        if cancel.load(Ordering::Relaxed) {
            stopped = Some("the replay was cancelled".to_owned());
        } else if started.elapsed() > opts.max_time {
            stopped = Some(format!("stopped after {} s (the limit of one replay)", opts.max_time.as_secs()));
        }
        if stopped.is_some() {
            totals.not_replayed += recorded.len() - done;
            break;
        }
        let Some(recorded_decision) = &r.decision else {
            totals.undecided += 1;
            continue;
        };
        totals.replayed += 1;
        oldest = Some(r.time);
        if r.plugins != now_set {
            totals.decided_by_other_policies += 1;
        }
        let (alone, together, failure) = decide(engine, &candidate_slot, &composed, r, opts.max_live);
        if failure.is_some() {
            totals.candidate_failures += 1;
        }
        let diff = |d: Decision| {
            compare(recorded_decision, &d, r.resident.as_ref()).map(|(change, words)| Difference {
                change,
                decision: d,
                words,
                candidate_failure: failure.clone(),
            })
        };
        let (alone, together) = (diff(alone), diff(together));
        totals.alone.count(alone.as_ref());
        totals.composed.count(together.as_ref());
        if alone.is_some() || together.is_some() {
            changes.push(Changed {
                request_id: r.request.id.clone(),
                time: r.time,
                source: r.source.clone(),
                requester: r.request.requester.clone(),
                kind: r.request.kind.name(),
                cameras: r.request.kind.cameras().to_vec(),
                recorded: recorded_decision.clone(),
                resident: r.resident.clone(),
                alone,
                composed: together,
            });
        }
    }
    Ok(Report {
        candidate: CandidateInfo {
            name: name.clone(),
            sha256: plugin.sha256.clone(),
            config: serde_json::from_str(&plugin.settings.config).unwrap_or(Value::Null),
            config_from,
            replaces,
        },
        composed_with: composed
            .iter()
            .map(|s| EnabledInfo {
                name: s.name().to_owned(),
                sha256: match s {
                    Slot::Loaded(p) => Some(p.sha256.clone()),
                    Slot::Missing { .. } => None,
                },
            })
            .collect(),
        since: opts.since,
        until: opts.until,
        bounds: Bounds { max_requests: opts.max_requests, max_seconds: opts.max_time.as_secs() },
        complete: totals.not_replayed == 0,
        stopped,
        oldest_replayed: oldest,
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        totals,
        changes,
    })
}

/// One request decided again: the candidate alone, and composed; the candidate runs once.
/// Also the candidate's failure, if its answer was replaced by `deny`.
fn decide(
    engine: &PolicyEngine,
    candidate: &Slot,
    composed: &[&Slot],
    r: &Recorded,
    max_live: Duration,
) -> (Decision, Decision, Option<String>) {
    if let Some(d) = refusal(&r.request, &r.context) {
        return (d.clone(), d, None);
    }
    let (wreq, wctx) = (convert::request(&r.request), convert::context(&r.context));
    let mine = engine.outcome(candidate, &r.request, &wreq, &wctx);
    let failure = mine.failure.clone();
    let outcomes: Vec<PluginOutcome> = composed
        .iter()
        .map(|s| {
            if std::ptr::eq(*s, candidate) {
                mine.clone()
            } else {
                engine.outcome(s, &r.request, &wreq, &wctx)
            }
        })
        .collect();
    let cap = |mut d: Decision| {
        if let Decision::Allow { grant } = &mut d {
            super::service::cap_live(grant, max_live);
        }
        d
    };
    (cap(verdict(vec![mine]).decision), cap(verdict(outcomes).decision), failure)
}

/// How `new` differs from `old`, in plain words; `None`: the same (a `deny` for another reason,
/// or an `ask` with another prompt, counts as the same).
fn compare(old: &Decision, new: &Decision, resident: Option<&ResidentAnswer>) -> Option<(Change, String)> {
    let asked = || match resident {
        Some(a) => format!(" (when you were asked, it ended {} by {})", past(&a.decision), a.by),
        None => String::new(),
    };
    let reason = |d: &Decision| match d {
        Decision::Deny { reason } => reason.clone(),
        _ => String::new(),
    };
    Some(match (old, new) {
        (Decision::Deny { .. }, Decision::Deny { .. }) => return None,
        (Decision::Allow { grant: a }, Decision::Allow { grant: b }) => return grant_change(a, b),
        (Decision::Ask { timeout_seconds: a, .. }, Decision::Ask { timeout_seconds: b, .. }) => {
            if a == b {
                return None;
            }
            (
                Change::AskChanged,
                format!(
                    "you would still be asked, with {} to answer instead of {}",
                    seconds(u64::from(*b)),
                    seconds(u64::from(*a))
                ),
            )
        }
        (Decision::Allow { grant }, Decision::Deny { .. }) => (
            Change::AllowToDeny,
            format!("would be refused ({}); it was allowed: {}", reason(new), grant_words(grant)),
        ),
        (Decision::Allow { .. }, Decision::Ask { .. }) => {
            (Change::AllowToAsk, "you would be asked first; it was allowed without asking".to_owned())
        }
        (Decision::Deny { .. }, Decision::Allow { grant }) => (
            Change::DenyToAllow,
            format!("would be allowed: {}; it was refused ({})", grant_words(grant), reason(old)),
        ),
        (Decision::Deny { .. }, Decision::Ask { .. }) => {
            (Change::DenyToAsk, format!("you would be asked; it was refused ({})", reason(old)))
        }
        (Decision::Ask { .. }, Decision::Allow { grant }) => (
            Change::AskToAllow,
            format!("would be allowed without asking you: {}{}", grant_words(grant), asked()),
        ),
        (Decision::Ask { .. }, Decision::Deny { .. }) => {
            (Change::AskToDeny, format!("would be refused without asking you ({}){}", reason(new), asked()))
        }
    })
}

fn past(d: &Decision) -> &'static str {
    match d {
        Decision::Allow { .. } => "allowed",
        Decision::Deny { .. } => "refused",
        Decision::Ask { .. } => "asked",
    }
}

/// Which way one aspect of a grant moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    Less,
    More,
    Other,
}

/// How grant `b` differs from grant `a`; `None`: the same.
fn grant_change(a: &Grant, b: &Grant) -> Option<(Change, String)> {
    let mut ways = Vec::new();
    let mut words = Vec::new();
    let gone: Vec<&str> = a.cameras.iter().filter(|c| !b.cameras.contains(c)).map(String::as_str).collect();
    let added: Vec<&str> = b.cameras.iter().filter(|c| !a.cameras.contains(c)).map(String::as_str).collect();
    if !gone.is_empty() {
        ways.push(Way::Less);
        words.push(format!("fewer cameras: not {}", gone.join(", ")));
    }
    if !added.is_empty() {
        ways.push(Way::More);
        words.push(format!("more cameras: also {}", added.join(", ")));
    }
    if (a.from, a.to) != (b.from, b.to) {
        // An open end means the whole request on that side.
        let start = match (a.from, b.from) {
            (Some(x), Some(y)) if y > x => Some(Way::Less),
            (Some(x), Some(y)) if y < x => Some(Way::More),
            (None, Some(_)) => Some(Way::Less),
            (Some(_), None) => Some(Way::More),
            _ => None,
        };
        let end = match (a.to, b.to) {
            (Some(x), Some(y)) if y < x => Some(Way::Less),
            (Some(x), Some(y)) if y > x => Some(Way::More),
            (None, Some(_)) => Some(Way::Less),
            (Some(_), None) => Some(Way::More),
            _ => None,
        };
        let moved: Vec<Way> = [start, end].into_iter().flatten().collect();
        let way = if moved.iter().all(|w| *w == Way::Less) {
            Way::Less
        } else if moved.iter().all(|w| *w == Way::More) {
            Way::More
        } else {
            Way::Other
        };
        ways.push(way);
        let what = match way {
            Way::Less => "a shorter clip",
            Way::More => "a longer clip",
            Way::Other => "another part of the recording",
        };
        words.push(format!("{what}: {} instead of {}", span(b), span(a)));
    }
    if a.live_max_seconds != b.live_max_seconds {
        let (x, y) = (a.live_max_seconds.map(u64::from), b.live_max_seconds.map(u64::from));
        let way = match (x, y) {
            (Some(x), Some(y)) if y < x => Way::Less,
            (None, Some(_)) => Way::Less,
            _ => Way::More,
        };
        ways.push(way);
        let show = |s: Option<u64>| s.map_or_else(|| "as long as asked".to_owned(), seconds);
        words.push(format!(
            "{}: at most {} instead of {}",
            if way == Way::Less { "a shorter live stream" } else { "a longer live stream" },
            show(y),
            show(x)
        ));
    }
    if a.strip_audio != b.strip_audio {
        ways.push(if b.strip_audio { Way::Less } else { Way::More });
        words.push(if b.strip_audio { "audio stripped".into() } else { "with audio".into() });
    }
    if a.notify_resident != b.notify_resident {
        ways.push(Way::Other);
        words.push(if b.notify_resident {
            "you would be told about the share".into()
        } else {
            "you would not be told about the share".into()
        });
    }
    if ways.is_empty() {
        return None;
    }
    let (change, lead) = if ways.iter().all(|w| *w == Way::Less) {
        (Change::GrantNarrowed, "would share less")
    } else if ways.iter().all(|w| *w == Way::More) {
        (Change::GrantWidened, "would share more")
    } else {
        (Change::GrantChanged, "would share differently")
    };
    Some((change, format!("{lead}: {}", words.join("; "))))
}

/// A grant in words: `front, drive from 2026-11-26 17:00:00 UTC to … with audio`.
fn grant_words(g: &Grant) -> String {
    let mut s = g.cameras.join(", ");
    if g.from.is_some() || g.to.is_some() {
        s.push(' ');
        s.push_str(&span(g));
    }
    if let Some(l) = g.live_max_seconds {
        s.push_str(&format!(" live for at most {}", seconds(u64::from(l))));
    }
    s.push_str(if g.strip_audio { ", without audio" } else { ", with audio" });
    s
}

fn span(g: &Grant) -> String {
    let at = |t: Option<Timestamp>| {
        t.map_or_else(|| "…".to_owned(), |t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
    };
    format!("from {} to {}", at(g.from), at(g.to))
}

fn seconds(s: u64) -> String {
    crate::config::units::format_duration(Duration::from_secs(s))
}

impl Report {
    /// The report for a terminal: what was replayed, then each change on a few lines.
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let t = &self.totals;
        let mut out = String::new();
        let c = &self.candidate;
        let _ = writeln!(out, "Candidate {} (sha256 {}), config {}", c.name, c.sha256, c.config_from);
        let names: Vec<&str> = self.composed_with.iter().map(|e| e.name.as_str()).collect();
        let _ = writeln!(
            out,
            "Composed with the enabled policies: {} ({})",
            names.join(", "),
            match &c.replaces {
                Some(r) => format!("in place of the enabled {r}"),
                None => "added after them".to_owned(),
            }
        );
        let _ = writeln!(out, "Requests recorded {} to {}: {}", self.since, self.until, t.requests);
        let _ = writeln!(
            out,
            "Replayed {} (left out: {} not replayed, {} without a recorded decision, {} unreadable; {} dry runs not counted)",
            t.replayed, t.not_replayed, t.undecided, t.unreadable, t.dry_runs
        );
        if let Some(why) = &self.stopped {
            let _ = writeln!(out, "Incomplete: {why}");
        }
        if t.decided_by_other_policies > 0 {
            let _ = writeln!(
                out,
                "{} of them were decided by other policies than those enabled now",
                t.decided_by_other_policies
            );
        }
        if t.candidate_failures > 0 {
            let _ = writeln!(out, "The candidate failed on {} (counted as deny)", t.candidate_failures);
        }
        for (label, side) in [("Alone", &t.alone), ("Composed", &t.composed)] {
            let kinds: Vec<String> =
                side.by_change.iter().filter(|(_, n)| **n > 0).map(|(k, n)| format!("{k} {n}")).collect();
            let _ = writeln!(
                out,
                "{label}: {} changed, {} unchanged{}",
                side.changed,
                side.unchanged,
                if kinds.is_empty() { String::new() } else { format!(" ({})", kinds.join(", ")) }
            );
        }
        for ch in &self.changes {
            let _ = writeln!(
                out,
                "\n{} {} from {} ({}), {} of {} [{}]",
                ch.time,
                ch.request_id,
                ch.requester.organisation,
                ch.requester.kind.name(),
                ch.kind,
                ch.cameras.join(", "),
                ch.source
            );
            for (label, d) in [("alone", &ch.alone), ("composed", &ch.composed)] {
                match d {
                    Some(d) => {
                        let _ = writeln!(out, "  {label}: {}: {}", d.change.name(), d.words);
                    }
                    None => {
                        let _ = writeln!(out, "  {label}: unchanged");
                    }
                }
            }
        }
        out
    }
}

/// A flag that stops a replay when dropped (the HTTP handler holds it: a client that goes away
/// stops the replay at the next request).
#[derive(Debug, Default)]
pub struct CancelOnDrop(pub Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn grant(cameras: &[&str], from: &str, to: &str, audio: bool) -> Grant {
        Grant {
            cameras: cameras.iter().map(|c| (*c).to_owned()).collect(),
            from: Some(ts(from)),
            to: Some(ts(to)),
            live_max_seconds: None,
            strip_audio: !audio,
            notify_resident: true,
        }
    }

    #[test]
    fn since_takes_durations_and_times() {
        let now = ts("2026-12-06T00:00:00Z");
        assert_eq!(parse_since("90d", now).ok(), Some(ts("2026-09-07T00:00:00Z")));
        assert_eq!(parse_since("-12h", now).ok(), Some(ts("2026-12-05T12:00:00Z")));
        assert_eq!(parse_since("2026-12-01T00:00:00Z", now).ok(), Some(ts("2026-12-01T00:00:00Z")));
        for bad in ["yesterday", "90x", "", "2027-01-01T00:00:00Z", "+1h"] {
            let e = parse_since(bad, now).expect_err(bad);
            assert!(matches!(&e, ReplayError::BadSince { text, .. } if text == bad), "{bad}: {e}");
            assert!(e.to_string().contains("`90d`"), "{e}");
        }
    }

    #[test]
    fn decision_changes_are_named() {
        let g = grant(&["front"], "2026-11-26T17:00:00Z", "2026-11-26T17:30:00Z", false);
        let allow = Decision::Allow { grant: g.clone() };
        let deny = Decision::deny("no warrant");
        let ask = Decision::Ask { prompt: "ok?".into(), timeout_seconds: 60 };
        assert!(compare(&deny, &Decision::deny("another reason"), None).is_none());
        assert!(compare(&allow, &allow, None).is_none());
        assert!(
            compare(&ask, &Decision::Ask { prompt: "other".into(), timeout_seconds: 60 }, None).is_none()
        );
        let (c, words) = compare(&deny, &allow, None).expect("change");
        assert_eq!(c, Change::DenyToAllow);
        assert!(words.contains("would be allowed") && words.contains("no warrant"), "{words}");
        assert_eq!(compare(&allow, &deny, None).map(|c| c.0), Some(Change::AllowToDeny));
        assert_eq!(compare(&allow, &ask, None).map(|c| c.0), Some(Change::AllowToAsk));
        assert_eq!(compare(&deny, &ask, None).map(|c| c.0), Some(Change::DenyToAsk));
        let answered = ResidentAnswer { by: "resident (web)".into(), decision: deny.clone() };
        let (c, words) = compare(&ask, &allow, Some(&answered)).expect("change");
        assert_eq!(c, Change::AskToAllow);
        assert!(words.contains("it ended refused by resident (web)"), "{words}");
        assert_eq!(compare(&ask, &deny, None).map(|c| c.0), Some(Change::AskToDeny));
        let longer = Decision::Ask { prompt: "ok?".into(), timeout_seconds: 600 };
        assert_eq!(compare(&ask, &longer, None).map(|c| c.0), Some(Change::AskChanged));
    }

    #[test]
    fn grants_narrowed_widened_or_changed() {
        let wide = grant(&["front", "drive"], "2026-11-26T17:00:00Z", "2026-11-26T17:30:00Z", true);
        let short = grant(&["front", "drive"], "2026-11-26T17:00:00Z", "2026-11-26T17:10:00Z", true);
        let (c, words) = grant_change(&wide, &short).expect("change");
        assert_eq!(c, Change::GrantNarrowed);
        assert!(words.contains("a shorter clip") && words.contains("17:10:00"), "{words}");
        assert_eq!(grant_change(&short, &wide).map(|c| c.0), Some(Change::GrantWidened));
        let fewer = grant(&["front"], "2026-11-26T17:00:00Z", "2026-11-26T17:30:00Z", false);
        let (c, words) = grant_change(&wide, &fewer).expect("change");
        assert_eq!(c, Change::GrantNarrowed);
        assert!(words.contains("not drive") && words.contains("audio stripped"), "{words}");
        let mut other = fewer.clone();
        other.cameras = vec!["back".into()];
        assert_eq!(grant_change(&fewer, &other).map(|c| c.0), Some(Change::GrantChanged));
        let mut live = wide.clone();
        live.live_max_seconds = Some(600);
        let mut shorter = live.clone();
        shorter.live_max_seconds = Some(60);
        let (c, words) = grant_change(&live, &shorter).expect("change");
        assert_eq!(c, Change::GrantNarrowed);
        assert!(words.contains("at most 1m instead of 10m"), "{words}");
        let mut quiet = wide.clone();
        quiet.notify_resident = false;
        assert_eq!(grant_change(&wide, &quiet).map(|c| c.0), Some(Change::GrantChanged));
        assert!(grant_change(&wide, &wide.clone()).is_none());
    }

    /// Writes an audit log with these entries (through the real `Audit`).
    fn log(dir: &Path, entries: &[Entry]) {
        let audit = audit::Audit::open(dir).expect("open");
        for e in entries {
            audit.append(e).expect("append");
        }
    }

    fn request(id: &str) -> Value {
        serde_json::json!({
            "id": id,
            "requester": { "organisation": "County", "kind": "police" },
            "kind": { "type": "snapshot", "cameras": ["front"] },
            "legal_basis": { "type": "none" },
            "received_at": "2026-11-26T18:00:00Z",
        })
    }

    fn context() -> Value {
        serde_json::json!({ "now": "2026-11-26T18:00:00Z", "cameras": [{ "name": "front" }] })
    }

    #[test]
    fn the_log_is_read_newest_within_bounds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let deny = serde_json::json!({ "decision": "deny", "reason": "no" });
        let ask = serde_json::json!({ "decision": "ask", "prompt": "?", "timeout_seconds": 60 });
        let mut entries = Vec::new();
        for (i, source) in ["api", "relay", "api-evaluate", "api"].iter().enumerate() {
            let id = format!("r{i}");
            entries.push(Entry::Request {
                source: (*source).to_owned(),
                request: request(&id),
                context: context(),
            });
            entries.push(Entry::Decision {
                source: (*source).to_owned(),
                request_id: id.clone(),
                decision: if i == 1 { ask.clone() } else { deny.clone() },
                plugins: serde_json::json!([{ "plugin": "p", "sha256": "ab" }]),
            });
        }
        entries.push(Entry::ResidentDecision {
            request_id: "r1".into(),
            by: "timeout".into(),
            decision: deny.clone(),
        });
        // Recorded but never decided, and one a newer version wrote in another shape.
        entries.push(Entry::Request { source: "api".into(), request: request("r4"), context: context() });
        entries.push(Entry::Request {
            source: "api".into(),
            request: serde_json::json!({ "id": "r5" }),
            context: context(),
        });
        log(dir.path(), &entries);
        let mut opts = Options::new(ts("2000-01-01T00:00:00Z"), Duration::from_secs(600));
        let mut totals = Totals::default();
        let got = read_log(dir.path(), &opts, &mut totals).expect("read");
        let ids: Vec<&str> = got.iter().map(|r| r.request.id.as_str()).collect();
        assert_eq!(ids, ["r0", "r1", "r3", "r4"]);
        assert_eq!((totals.requests, totals.dry_runs, totals.unreadable), (5, 1, 1));
        assert!(got[3].decision.is_none());
        assert_eq!(got[1].resident.as_ref().map(|a| a.by.as_str()), Some("timeout"));
        assert_eq!(got[0].plugins, [("p".to_owned(), Some("ab".to_owned()))]);

        opts.max_requests = 2;
        let mut totals = Totals::default();
        let got = read_log(dir.path(), &opts, &mut totals).expect("read");
        let ids: Vec<&str> = got.iter().map(|r| r.request.id.as_str()).collect();
        assert_eq!(ids, ["r3", "r4"]);
        assert_eq!(totals.not_replayed, 2);
        assert!(got[0].decision.is_some(), "the newest kept still get their decisions");

        opts.since = Timestamp::now();
        let mut totals = Totals::default();
        assert!(read_log(dir.path(), &opts, &mut totals).expect("read").is_empty());
        assert_eq!(totals.requests, 0);
    }
}

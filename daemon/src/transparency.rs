//! The transparency report: what left the house in a period, read from the audit log. A pure
//! function from the log's records, a period and the chain's state to a [`Report`], plus two
//! renderers: [`to_csv`] (one row per request) and [`to_html`] (a self-contained page a
//! resident can print, publish or hand to a neighbour). It knows nothing of HTTP; the API's
//! `GET /api/report` (`api/report.rs`) reads the log and serves it. Reference: `docs/ref/api.md`.
//!
//! An entry belongs to the period by its own `time`: the totals count entries in `[from, to)`,
//! and a request is listed when its `request` entry is in the period, with what the log says
//! about it up to `to` (a request decided after `to` is still undecided in that report). Dry
//! runs (`request` entries with source `api-evaluate`) share nothing and are left out.
//! Everything an audit entry carries may come from outside parties (a center, a requester), so
//! both renderers escape every field.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

use crate::audit::{Entry, Record, Verdict};

/// The source of a dry run (`POST /api/policy/evaluate`): nothing is shared, not in reports.
const DRY_RUN_SOURCE: &str = "api-evaluate";

/// The report (`GET /api/report`, `format=json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub from: Timestamp,
    pub to: Timestamp,
    pub generated: Timestamp,
    /// `hub.name`.
    pub hub: String,
    pub chain: Chain,
    pub totals: Totals,
    pub by_requester: Vec<RequesterTotals>,
    pub by_day: Vec<DayTotals>,
    pub requests: Vec<RequestRow>,
    pub resident_shares: Vec<ResidentShareRow>,
}

/// The state of the whole hash chain (not only the period's entries).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Chain {
    Intact {
        entries: u64,
    },
    /// The first bad line (1-based) and why, as `porchlight audit verify` says it.
    Broken {
        line: usize,
        message: String,
    },
}

impl From<&Verdict> for Chain {
    fn from(v: &Verdict) -> Self {
        match v {
            Verdict::Intact { entries, .. } => Self::Intact { entries: *entries },
            Verdict::Broken { line, message } => Self::Broken { line: *line, message: message.clone() },
        }
    }
}

/// Counts of the period's audit entries.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    /// `request` entries (not dry runs).
    pub requests: u64,
    /// The final outcome of those requests, as of `to`.
    pub allowed: u64,
    pub denied: u64,
    pub undecided: u64,
    /// `shared_clip` entries, every destination.
    pub clips: u64,
    pub clip_bytes: u64,
    /// `shared_snapshot` entries.
    pub stills: u64,
    pub still_bytes: u64,
    /// `live_stopped` entries.
    pub live_streams: u64,
    pub live_seconds: f64,
    pub live_bytes: u64,
    /// `resident_share` entries.
    pub resident_shares: u64,
    /// `share_failed` entries.
    pub failed: u64,
    /// `revoked` entries.
    pub revoked: u64,
    /// `clip_bytes + still_bytes + live_bytes`.
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequesterTotals {
    pub organisation: String,
    pub kind: String,
    pub requests: u64,
    pub allowed: u64,
    pub denied: u64,
    /// Sent for these requests in the period.
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayTotals {
    /// The UTC date.
    pub date: String,
    /// Requests received that day, and their outcomes.
    pub requests: u64,
    pub allowed: u64,
    pub denied: u64,
    /// Bytes sent that day (clips, still images, live streams).
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Requester {
    pub organisation: String,
    pub person: String,
    pub kind: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Allowed,
    Denied,
    Undecided,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Denied => "denied",
            Self::Undecided => "undecided",
        }
    }
}

/// One plugin's answer to a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyVote {
    pub plugin: String,
    pub decision: String,
}

/// What was sent for one request.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Sent {
    pub clips: u64,
    pub clip_bytes: u64,
    pub stills: u64,
    pub still_bytes: u64,
    pub live_seconds: f64,
    pub live_bytes: u64,
}

impl Sent {
    pub fn bytes(&self) -> u64 {
        self.clip_bytes + self.still_bytes + self.live_bytes
    }
}

/// One request received in the period and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestRow {
    pub id: String,
    /// The time of its `request` entry.
    pub received: Timestamp,
    /// `relay`, `api`, `offer`.
    pub source: String,
    pub requester: Requester,
    /// `clip`, `live`, `snapshot`.
    pub kind: String,
    pub cameras: Vec<String>,
    /// A clip's range (null for the other kinds).
    pub from: Option<String>,
    pub to: Option<String>,
    /// A live request's longest stream (null for the other kinds).
    pub max_seconds: Option<u64>,
    pub legal_basis: Value,
    pub reason: String,
    pub case_number: Option<String>,
    pub outcome: Outcome,
    /// Whether the policies left the answer to the resident (`ask`).
    pub asked_resident: bool,
    /// `policy`, or the `by` of the resident's answer (`resident (api)`, `timeout`, …).
    pub decided_by: Option<String>,
    pub decided_at: Option<Timestamp>,
    pub deny_reason: Option<String>,
    pub grant: Option<Value>,
    pub policies: Vec<PolicyVote>,
    pub sent: Sent,
    pub revoked_by: Option<String>,
}

/// A share the resident started without a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResidentShareRow {
    pub request_id: String,
    pub time: Timestamp,
    pub by: String,
    pub camera: String,
    pub from: Timestamp,
    pub to: Timestamp,
    pub destination: String,
    pub note: String,
}

/// The report of `[from, to)` from the audit log's `records` (oldest first, as
/// [`crate::audit::read`] gives them) and the chain's state.
pub fn build(
    records: &[Record],
    chain: Chain,
    hub: &str,
    from: Timestamp,
    to: Timestamp,
    generated: Timestamp,
) -> Report {
    let mut totals = Totals::default();
    let mut rows: Vec<RequestRow> = Vec::new();
    // Request id → its row (the newest request entry with that id).
    let mut by_id: HashMap<String, usize> = HashMap::new();
    let mut resident_shares = Vec::new();
    // Bytes sent per day, by the sharing entries' own days.
    let mut day_bytes: BTreeMap<String, u64> = BTreeMap::new();
    for record in records {
        let (Some(time), Some(entry)) = (record.time, record.entry.as_ref()) else { continue };
        if time < from || time >= to {
            continue;
        }
        let row = |id: &str| by_id.get(id).copied();
        match entry {
            Entry::Request { source, request, .. } if source != DRY_RUN_SOURCE => {
                totals.requests += 1;
                let r = request_row(time, source, request);
                by_id.insert(r.id.clone(), rows.len());
                rows.push(r);
            }
            Entry::Decision { source, request_id, decision, plugins } if source != DRY_RUN_SOURCE => {
                if let Some(i) = row(request_id) {
                    let r = &mut rows[i];
                    r.policies = votes(plugins);
                    match decision["decision"].as_str() {
                        Some("ask") => r.asked_resident = true,
                        _ => decide(r, decision, "policy", time),
                    }
                }
            }
            Entry::ResidentDecision { request_id, by, decision } => {
                if let Some(i) = row(request_id) {
                    decide(&mut rows[i], decision, by, time);
                }
            }
            Entry::SharedClip { request_id, bytes, .. } => {
                totals.clips += 1;
                totals.clip_bytes += bytes;
                *day_bytes.entry(date_of(time)).or_default() += bytes;
                if let Some(i) = row(request_id) {
                    rows[i].sent.clips += 1;
                    rows[i].sent.clip_bytes += bytes;
                }
            }
            Entry::SharedSnapshot { request_id, bytes, .. } => {
                totals.stills += 1;
                totals.still_bytes += bytes;
                *day_bytes.entry(date_of(time)).or_default() += bytes;
                if let Some(i) = row(request_id) {
                    rows[i].sent.stills += 1;
                    rows[i].sent.still_bytes += bytes;
                }
            }
            Entry::LiveStopped { request_id, bytes, seconds, .. } => {
                totals.live_streams += 1;
                totals.live_seconds += seconds;
                totals.live_bytes += bytes;
                *day_bytes.entry(date_of(time)).or_default() += bytes;
                if let Some(i) = row(request_id) {
                    rows[i].sent.live_seconds += seconds;
                    rows[i].sent.live_bytes += bytes;
                }
            }
            Entry::ResidentShare { request_id, by, camera, from, to, destination, note, .. } => {
                totals.resident_shares += 1;
                resident_shares.push(ResidentShareRow {
                    request_id: request_id.clone(),
                    time,
                    by: by.clone(),
                    camera: camera.clone(),
                    from: *from,
                    to: *to,
                    destination: destination.clone(),
                    note: note.clone(),
                });
            }
            Entry::ShareFailed { .. } => totals.failed += 1,
            Entry::Revoked { request_id, by } => {
                totals.revoked += 1;
                if let Some(i) = row(request_id) {
                    rows[i].revoked_by = Some(by.clone());
                }
            }
            _ => {}
        }
    }
    totals.bytes = totals.clip_bytes + totals.still_bytes + totals.live_bytes;
    for r in &rows {
        match r.outcome {
            Outcome::Allowed => totals.allowed += 1,
            Outcome::Denied => totals.denied += 1,
            Outcome::Undecided => totals.undecided += 1,
        }
    }
    Report {
        from,
        to,
        generated,
        hub: hub.to_owned(),
        chain,
        by_requester: by_requester(&rows),
        by_day: by_day(&rows, day_bytes),
        totals,
        requests: rows,
        resident_shares,
    }
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

fn request_row(received: Timestamp, source: &str, request: &Value) -> RequestRow {
    let kind = &request["kind"];
    let requester = &request["requester"];
    RequestRow {
        id: text(&request["id"]),
        received,
        source: source.to_owned(),
        requester: Requester {
            organisation: text(&requester["organisation"]),
            person: text(&requester["person"]),
            kind: text(&requester["kind"]),
        },
        kind: text(&kind["type"]),
        cameras: kind["cameras"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default(),
        from: kind["from"].as_str().map(str::to_owned),
        to: kind["to"].as_str().map(str::to_owned),
        max_seconds: kind["max_seconds"].as_u64(),
        legal_basis: request["legal_basis"].clone(),
        reason: text(&request["reason"]),
        case_number: request["case_number"].as_str().map(str::to_owned),
        outcome: Outcome::Undecided,
        asked_resident: false,
        decided_by: None,
        decided_at: None,
        deny_reason: None,
        grant: None,
        policies: Vec::new(),
        sent: Sent::default(),
        revoked_by: None,
    }
}

/// Records a final decision (`{"decision":"allow","grant":…}` or `deny` with `reason`).
fn decide(row: &mut RequestRow, decision: &Value, by: &str, at: Timestamp) {
    let outcome = match decision["decision"].as_str() {
        Some("allow") => Outcome::Allowed,
        Some("deny") => Outcome::Denied,
        _ => return,
    };
    row.outcome = outcome;
    row.decided_by = Some(by.to_owned());
    row.decided_at = Some(at);
    row.deny_reason = decision["reason"].as_str().filter(|_| outcome == Outcome::Denied).map(str::to_owned);
    row.grant = Some(&decision["grant"]).filter(|g| outcome == Outcome::Allowed && !g.is_null()).cloned();
}

fn votes(plugins: &Value) -> Vec<PolicyVote> {
    plugins
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| PolicyVote { plugin: text(&p["plugin"]), decision: text(&p["decision"]) })
                .collect()
        })
        .unwrap_or_default()
}

fn date_of(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d").to_string()
}

/// Per organisation and kind, most requests first.
fn by_requester(rows: &[RequestRow]) -> Vec<RequesterTotals> {
    let mut map: BTreeMap<(String, String), RequesterTotals> = BTreeMap::new();
    for r in rows {
        let key = (r.requester.organisation.clone(), r.requester.kind.clone());
        let t = map.entry(key).or_insert_with(|| RequesterTotals {
            organisation: r.requester.organisation.clone(),
            kind: r.requester.kind.clone(),
            requests: 0,
            allowed: 0,
            denied: 0,
            bytes: 0,
        });
        t.requests += 1;
        t.allowed += u64::from(r.outcome == Outcome::Allowed);
        t.denied += u64::from(r.outcome == Outcome::Denied);
        t.bytes += r.sent.bytes();
    }
    let mut list: Vec<RequesterTotals> = map.into_values().collect();
    list.sort_by(|a, b| b.requests.cmp(&a.requests).then_with(|| a.organisation.cmp(&b.organisation)));
    list
}

/// The days with a request received or something sent, oldest first.
fn by_day(rows: &[RequestRow], bytes: BTreeMap<String, u64>) -> Vec<DayTotals> {
    let mut map: BTreeMap<String, DayTotals> = BTreeMap::new();
    fn day<'a>(map: &'a mut BTreeMap<String, DayTotals>, date: &str) -> &'a mut DayTotals {
        map.entry(date.to_owned()).or_insert_with(|| DayTotals {
            date: date.to_owned(),
            requests: 0,
            allowed: 0,
            denied: 0,
            bytes: 0,
        })
    }
    for r in rows {
        let t = day(&mut map, &date_of(r.received));
        t.requests += 1;
        t.allowed += u64::from(r.outcome == Outcome::Allowed);
        t.denied += u64::from(r.outcome == Outcome::Denied);
    }
    for (date, b) in bytes {
        day(&mut map, &date).bytes += b;
    }
    map.into_values().collect()
}

/// A legal basis in plain words.
pub fn legal_basis_text(basis: &Value) -> String {
    match basis["type"].as_str() {
        Some("warrant") => format!(
            "warrant {} from {} (issued {}, expires {})",
            text(&basis["reference"]),
            text(&basis["court"]),
            text(&basis["issued"]),
            text(&basis["expires"]),
        ),
        Some("exigent") => format!("exigent circumstances: {}", text(&basis["statement"])),
        Some("consent") => "consent".to_owned(),
        Some("none") => "none given".to_owned(),
        _ if basis.is_null() => "not recorded".to_owned(),
        _ => basis.to_string(),
    }
}

/// What a request asked for, in plain words.
pub fn asked_text(r: &RequestRow) -> String {
    let cameras = r.cameras.join(", ");
    match (r.kind.as_str(), &r.from, &r.to, r.max_seconds) {
        ("clip", Some(f), Some(t), _) => format!("recordings of {cameras} from {f} to {t}"),
        ("live", _, _, Some(s)) => format!("live video of {cameras} for up to {s} s"),
        ("snapshot", ..) => format!("a still image of {cameras}"),
        (kind, ..) => format!("{kind} of {cameras}"),
    }
}

/// What was sent for a request, in plain words.
pub fn sent_text(s: &Sent) -> String {
    let mut parts = Vec::new();
    if s.clips > 0 {
        parts.push(format!("{} ({})", plural(s.clips, "clip", "clips"), human_bytes(s.clip_bytes)));
    }
    if s.stills > 0 {
        parts.push(format!(
            "{} ({})",
            plural(s.stills, "still image", "still images"),
            human_bytes(s.still_bytes)
        ));
    }
    if s.live_seconds > 0.0 || s.live_bytes > 0 {
        parts.push(format!("{:.0} s of live video ({})", s.live_seconds, human_bytes(s.live_bytes)));
    }
    if parts.is_empty() { "nothing".to_owned() } else { parts.join(", ") }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Bytes in decimal units (`1.2 MB`).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if n < 1000 {
        return format!("{n} bytes");
    }
    let mut v = n as f64 / 1000.0;
    let mut unit = UNITS[0];
    for u in &UNITS[1..] {
        if v < 1000.0 {
            break;
        }
        v /= 1000.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

/// A time for people: to the second, UTC.
fn when(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// The CSV columns, in order.
pub const CSV_COLUMNS: [&str; 25] = [
    "id",
    "received",
    "source",
    "organisation",
    "person",
    "requester_kind",
    "kind",
    "cameras",
    "from",
    "to",
    "max_seconds",
    "legal_basis",
    "reason",
    "case_number",
    "outcome",
    "decided_by",
    "decided_at",
    "deny_reason",
    "clips",
    "clip_bytes",
    "stills",
    "still_bytes",
    "live_seconds",
    "live_bytes",
    "revoked_by",
];

/// One row per request (RFC 4180: CRLF line ends, a header row, fields quoted when they hold
/// a comma, quote or line break). A text cell that a spreadsheet would run as a formula
/// (starting with `=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading `'`.
pub fn to_csv(report: &Report) -> String {
    let mut out = String::new();
    push_row(&mut out, CSV_COLUMNS.iter().map(|c| (*c).to_owned()));
    for r in &report.requests {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        push_row(
            &mut out,
            [
                r.id.clone(),
                r.received.to_string(),
                r.source.clone(),
                r.requester.organisation.clone(),
                r.requester.person.clone(),
                r.requester.kind.clone(),
                r.kind.clone(),
                r.cameras.join(" "),
                opt(&r.from),
                opt(&r.to),
                r.max_seconds.map(|s| s.to_string()).unwrap_or_default(),
                legal_basis_text(&r.legal_basis),
                r.reason.clone(),
                opt(&r.case_number),
                r.outcome.name().to_owned(),
                opt(&r.decided_by),
                r.decided_at.map(|t| t.to_string()).unwrap_or_default(),
                opt(&r.deny_reason),
                r.sent.clips.to_string(),
                r.sent.clip_bytes.to_string(),
                r.sent.stills.to_string(),
                r.sent.still_bytes.to_string(),
                r.sent.live_seconds.to_string(),
                r.sent.live_bytes.to_string(),
                opt(&r.revoked_by),
            ],
        );
    }
    out
}

fn push_row(out: &mut String, cells: impl IntoIterator<Item = String>) {
    for (i, cell) in cells.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&csv_cell(&cell));
    }
    out.push_str("\r\n");
}

/// One CSV field, guarded against formula injection and quoted when needed.
pub fn csv_cell(value: &str) -> String {
    let guarded = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if guarded.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#111;line-height:1.45}\
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #999}\
table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{border:1px solid #bbb;padding:.3rem .5rem;text-align:left;vertical-align:top}\
th{background:#eee}td.n{text-align:right}.intact{color:#05612a}.broken{color:#a00;font-weight:bold}\
.small{color:#555;font-size:.85rem}@media print{body{margin:0;max-width:none}h2{break-after:avoid}tr{break-inside:avoid}}";

/// The report as one HTML page: inline style, no scripts, no outside resources, every field
/// escaped.
pub fn to_html(report: &Report) -> String {
    let e = crate::markup::escape;
    let t = &report.totals;
    let mut h = String::new();
    let period = format!("{} to {}", when(report.from), when(report.to));
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>What left the house: {hub}, {period}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>What left the house: {hub}</h1>\n<p>From {from} to {to}. Made from the hub's audit log on {generated}.</p>\n",
        hub = e(&report.hub),
        period = e(&period),
        from = e(&when(report.from)),
        to = e(&when(report.to)),
        generated = e(&when(report.generated)),
    );
    match &report.chain {
        Chain::Intact { entries } => {
            let _ = writeln!(
                h,
                "<p class=\"intact\">The audit log is intact: all {entries} entries were checked and none was changed, removed or reordered since it was written.</p>"
            );
        }
        Chain::Broken { line, message } => {
            let _ = writeln!(
                h,
                "<p class=\"broken\">Warning: the audit log is broken at line {line}: {}. It was changed after it was written, so this report may be incomplete or wrong.</p>",
                e(message)
            );
        }
    }
    let _ = write!(
        h,
        "<h2>In short</h2>\n<p>{} received: {} allowed, {} denied, {} not decided.</p>\n\
         <p>Sent out of the house: {}, {} and {} of live video from {}; {} in all.</p>\n\
         <p>The resident shared {} without a request. {} could not be sent; {} stopped by the resident.</p>\n",
        plural(t.requests, "request for footage was", "requests for footage were"),
        t.allowed,
        t.denied,
        t.undecided,
        plural(t.clips, "clip", "clips"),
        plural(t.stills, "still image", "still images"),
        format_args!("{:.0} s", t.live_seconds),
        plural(t.live_streams, "stream", "streams"),
        e(&human_bytes(t.bytes)),
        plural(t.resident_shares, "clip", "clips"),
        plural(t.failed, "share", "shares"),
        plural(t.revoked, "share was", "shares were"),
    );
    h.push_str("<table>\n<tr><th>What</th><th>How many</th><th>Bytes</th></tr>\n");
    for (what, n, bytes) in [
        ("Requests", t.requests.to_string(), String::new()),
        ("Allowed", t.allowed.to_string(), String::new()),
        ("Denied", t.denied.to_string(), String::new()),
        ("Not decided", t.undecided.to_string(), String::new()),
        ("Clips sent", t.clips.to_string(), t.clip_bytes.to_string()),
        ("Still images sent", t.stills.to_string(), t.still_bytes.to_string()),
        ("Live streams", format!("{} ({:.0} s)", t.live_streams, t.live_seconds), t.live_bytes.to_string()),
        ("Shared by the resident", t.resident_shares.to_string(), String::new()),
        ("Failed shares", t.failed.to_string(), String::new()),
        ("Revoked shares", t.revoked.to_string(), String::new()),
        ("Everything sent", String::new(), t.bytes.to_string()),
    ] {
        let _ = writeln!(
            h,
            "<tr><td>{what}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            e(&n),
            e(&bytes)
        );
    }
    h.push_str("</table>\n");

    h.push_str("<h2>Who asked</h2>\n");
    if report.by_requester.is_empty() {
        h.push_str("<p>Nobody asked for footage in this period.</p>\n");
    } else {
        h.push_str("<table>\n<tr><th>Organisation</th><th>Kind</th><th>Requests</th><th>Allowed</th><th>Denied</th><th>Sent</th></tr>\n");
        for r in &report.by_requester {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                e(&r.organisation),
                e(&r.kind),
                r.requests,
                r.allowed,
                r.denied,
                e(&human_bytes(r.bytes)),
            );
        }
        h.push_str("</table>\n");
    }

    h.push_str("<h2>Every request</h2>\n");
    if report.requests.is_empty() {
        h.push_str("<p>No requests in this period.</p>\n");
    } else {
        h.push_str(
            "<table>\n<tr><th>Received</th><th>Who</th><th>What was asked</th><th>Legal basis and reason</th>\
             <th>Outcome</th><th>What was sent</th></tr>\n",
        );
        for r in &report.requests {
            let who = if r.requester.person.is_empty() {
                format!("{} ({})", r.requester.organisation, r.requester.kind)
            } else {
                format!("{}, {} ({})", r.requester.person, r.requester.organisation, r.requester.kind)
            };
            let mut reason = legal_basis_text(&r.legal_basis);
            if !r.reason.is_empty() {
                let _ = write!(reason, "; reason: {}", r.reason);
            }
            if let Some(case) = &r.case_number {
                let _ = write!(reason, "; case {case}");
            }
            let decided = |word: &str| {
                format!(
                    "{word} by {} at {}",
                    r.decided_by.as_deref().unwrap_or("?"),
                    r.decided_at.map(when).unwrap_or_default()
                )
            };
            let mut outcome = match r.outcome {
                Outcome::Allowed => decided("Allowed"),
                Outcome::Denied => match &r.deny_reason {
                    Some(why) => format!("{}: {why}", decided("Denied")),
                    None => decided("Denied"),
                },
                Outcome::Undecided if r.asked_resident => "Not decided: left to the resident".to_owned(),
                Outcome::Undecided => "Not decided".to_owned(),
            };
            if let Some(by) = &r.revoked_by {
                let _ = write!(outcome, "; sharing stopped by {by}");
            }
            let _ = writeln!(
                h,
                "<tr><td>{}<br><span class=\"small\">{}</span></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                e(&when(r.received)),
                e(&r.id),
                e(&who),
                e(&asked_text(r)),
                e(&reason),
                e(&outcome),
                e(&sent_text(&r.sent)),
            );
        }
        h.push_str("</table>\n");
    }

    if !report.resident_shares.is_empty() {
        h.push_str("<h2>Shared by the resident</h2>\n<table>\n<tr><th>When</th><th>Camera</th><th>Recordings</th><th>To</th><th>Note</th></tr>\n");
        for s in &report.resident_shares {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{} to {}</td><td>{}</td><td>{}</td></tr>",
                e(&when(s.time)),
                e(&s.camera),
                e(&when(s.from)),
                e(&when(s.to)),
                e(&s.destination),
                e(&s.note),
            );
        }
        h.push_str("</table>\n");
    }
    h.push_str(
        "<p class=\"small\">Every request and everything sent is written to the hub's audit log before it happens; \
         anyone with the log can check it with <code>porchlight audit verify</code>.</p>\n</body>\n</html>\n",
    );
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    /// A log line as the audit log writes it (chain fields but for `hash` left out: the report
    /// reads only `time`, `kind` and the entry's fields).
    fn line(seq: u64, time: &str, fields: Value) -> Record {
        let mut v = fields;
        v["seq"] = seq.into();
        v["time"] = time.into();
        Record::from_line(v)
    }

    fn request(id: &str, org: &str, kind: &str) -> Value {
        json!({
            "id": id,
            "requester": {"organisation": org, "person": "Sgt. Reyes", "kind": kind},
            "kind": {"type": "clip", "cameras": ["porch", "garden"], "from": "2026-12-01T17:00:00Z", "to": "2026-12-01T17:30:00Z"},
            "reason": "burglary on Elm Street",
            "case_number": "C-17",
            "legal_basis": {"type": "warrant", "reference": "W-9", "court": "District Court", "issued": "2026-11-30T00:00:00Z",
                            "expires": "2026-12-30T00:00:00Z", "scope": {"cameras": [], "from": "2026-12-01T00:00:00Z", "to": "2026-12-02T00:00:00Z"}},
            "received_at": "2026-12-01T18:00:00Z",
        })
    }

    fn grant() -> Value {
        json!({"cameras": ["porch"], "from": "2026-12-01T17:00:00Z", "to": "2026-12-01T17:30:00Z", "strip_audio": false, "notify_resident": true})
    }

    /// A week of a hand-made log: one request allowed by the policies (a clip sent, then
    /// revoked), one the resident approved after an ask (a still image), one denied, one still
    /// waiting, a dry run, a live stream, a resident's share, a failure, and entries outside
    /// the period on both sides.
    fn log() -> Vec<Record> {
        let req = |id: &str, org: &str, kind: &str, source: &str| json!({"kind": "request", "source": source, "request": request(id, org, kind), "context": {}});
        let decision = |id: &str, fin: Value, plugins: Value| json!({"kind": "decision", "source": "relay", "request_id": id, "final": fin, "plugins": plugins});
        vec![
            // Before the period: its request, decision and clip are not counted.
            line(0, "2026-11-30T23:59:59Z", req("old", "County Police", "police", "relay")),
            line(
                1,
                "2026-11-30T23:59:59.5Z",
                decision("old", json!({"decision": "allow", "grant": grant()}), json!([])),
            ),
            line(
                2,
                "2026-11-30T23:59:59.9Z",
                json!({"kind": "shared_clip", "request_id": "old", "camera": "porch",
                "from": "2026-11-30T17:00:00Z", "to": "2026-11-30T17:30:00Z", "bytes": 999, "sha256": "00", "strip_audio": false, "destination": "center"}),
            ),
            // In the period.
            line(3, "2026-12-01T18:00:00Z", req("r1", "County Police", "police", "relay")),
            line(
                4,
                "2026-12-01T18:00:01Z",
                decision(
                    "r1",
                    json!({"decision": "allow", "grant": grant()}),
                    json!([{"plugin": "warrant-required", "decision": "allow", "sha256": "ab", "time_us": 10, "fuel": 5}]),
                ),
            ),
            line(
                5,
                "2026-12-01T18:00:05Z",
                json!({"kind": "shared_clip", "request_id": "r1", "camera": "porch",
                "from": "2026-12-01T17:00:00Z", "to": "2026-12-01T17:30:00Z", "bytes": 1_500_000, "sha256": "11", "strip_audio": false, "destination": "center"}),
            ),
            line(
                6,
                "2026-12-01T18:00:06Z",
                json!({"kind": "share_failed", "request_id": "r1", "camera": "garden", "error": "no recordings"}),
            ),
            line(
                7,
                "2026-12-01T18:01:00Z",
                json!({"kind": "revoked", "request_id": "r1", "by": "resident (web)"}),
            ),
            line(8, "2026-12-02T09:00:00Z", req("r2", "Acme Insurance", "insurer", "api")),
            line(
                9,
                "2026-12-02T09:00:01Z",
                json!({"kind": "decision", "source": "api", "request_id": "r2",
                "final": {"decision": "ask", "prompt": "share?", "timeout_seconds": 600},
                "plugins": [{"plugin": "ask-resident", "decision": "ask"}]}),
            ),
            line(
                10,
                "2026-12-02T09:05:00Z",
                json!({"kind": "resident_decision", "request_id": "r2", "by": "resident (web)",
                "final": {"decision": "allow", "grant": grant()}}),
            ),
            line(
                11,
                "2026-12-02T09:05:02Z",
                json!({"kind": "shared_snapshot", "request_id": "r2", "camera": "porch",
                "at": "2026-12-02T09:05:01Z", "bytes": 20_000, "sha256": "22", "content_type": "image/jpeg"}),
            ),
            line(12, "2026-12-03T10:00:00Z", req("r3", "County Police", "police", "relay")),
            line(
                13,
                "2026-12-03T10:00:01Z",
                decision(
                    "r3",
                    json!({"decision": "deny", "reason": "a warrant is required"}),
                    json!([{"plugin": "warrant-required", "decision": "deny", "reason": "a warrant is required"}]),
                ),
            ),
            line(14, "2026-12-03T11:00:00Z", req("r4", "Acme Insurance", "insurer", "api")),
            line(
                15,
                "2026-12-03T11:00:01Z",
                json!({"kind": "decision", "source": "api", "request_id": "r4",
                "final": {"decision": "ask", "prompt": "share?", "timeout_seconds": 600}, "plugins": []}),
            ),
            // A dry run, with the id of a real request: neither counted nor mixed in.
            line(16, "2026-12-03T12:00:00Z", req("r3", "Dry Run Org", "other", "api-evaluate")),
            line(
                17,
                "2026-12-03T12:00:01Z",
                json!({"kind": "decision", "source": "api-evaluate", "request_id": "r3",
                "final": {"decision": "allow", "grant": grant()}, "plugins": []}),
            ),
            // A live stream for a request outside the period still counts as sent in it.
            line(
                18,
                "2026-12-04T08:00:00Z",
                json!({"kind": "live_stopped", "request_id": "old", "camera": "porch",
                "bytes": 3_000, "seconds": 12.5, "reason": "the grant's time is over"}),
            ),
            line(
                19,
                "2026-12-04T09:00:00Z",
                json!({"kind": "resident_share", "request_id": "share-1", "by": "resident (api)",
                "camera": "porch", "from": "2026-12-04T08:00:00Z", "to": "2026-12-04T08:05:00Z", "destination": "file",
                "strip_audio": true, "note": "for the neighbour"}),
            ),
            line(
                20,
                "2026-12-04T09:00:03Z",
                json!({"kind": "shared_clip", "request_id": "share-1", "camera": "porch",
                "from": "2026-12-04T08:00:00Z", "to": "2026-12-04T08:05:00Z", "bytes": 500, "sha256": "33", "strip_audio": true, "destination": "file"}),
            ),
            line(
                21,
                "2026-12-04T09:30:00Z",
                json!({"kind": "mode", "mode": "away", "was": "home", "by": "api"}),
            ),
            // At `to`: outside (the period is half-open), and so is the answer to r4.
            line(22, "2026-12-08T00:00:00Z", req("late", "County Police", "police", "relay")),
            line(
                23,
                "2026-12-08T00:00:00Z",
                json!({"kind": "resident_decision", "request_id": "r4", "by": "timeout",
                "final": {"decision": "deny", "reason": "no answer"}}),
            ),
        ]
    }

    fn report(chain: Chain) -> Report {
        build(
            &log(),
            chain,
            "Elm St 4",
            ts("2026-12-01T00:00:00Z"),
            ts("2026-12-08T00:00:00Z"),
            ts("2026-12-08T10:00:00Z"),
        )
    }

    fn intact() -> Chain {
        Chain::Intact { entries: 24 }
    }

    #[test]
    fn totals_count_the_periods_entries() {
        let r = report(intact());
        assert_eq!(
            r.totals,
            Totals {
                requests: 4,
                allowed: 2,
                denied: 1,
                undecided: 1,
                clips: 2,
                clip_bytes: 1_500_500,
                stills: 1,
                still_bytes: 20_000,
                live_streams: 1,
                live_seconds: 12.5,
                live_bytes: 3_000,
                resident_shares: 1,
                failed: 1,
                revoked: 1,
                bytes: 1_523_500,
            }
        );
        let ids: Vec<&str> = r.requests.iter().map(|q| q.id.as_str()).collect();
        assert_eq!(ids, ["r1", "r2", "r3", "r4"]);
        assert_eq!(r.hub, "Elm St 4");
    }

    #[test]
    fn each_request_shows_its_outcome_who_decided_and_what_was_sent() {
        let r = report(intact());
        let r1 = &r.requests[0];
        assert_eq!((r1.outcome, r1.decided_by.as_deref()), (Outcome::Allowed, Some("policy")));
        assert_eq!(r1.decided_at, Some(ts("2026-12-01T18:00:01Z")));
        assert_eq!(r1.grant, Some(grant()));
        assert_eq!(r1.sent, Sent { clips: 1, clip_bytes: 1_500_000, ..Sent::default() });
        assert_eq!(r1.revoked_by.as_deref(), Some("resident (web)"));
        assert_eq!(r1.policies, [PolicyVote { plugin: "warrant-required".into(), decision: "allow".into() }]);
        assert_eq!(
            (r1.requester.organisation.as_str(), r1.requester.kind.as_str()),
            ("County Police", "police")
        );
        assert_eq!((r1.from.as_deref(), r1.max_seconds), (Some("2026-12-01T17:00:00Z"), None));
        assert_eq!(r1.case_number.as_deref(), Some("C-17"));

        // Asked, then approved by the resident.
        let r2 = &r.requests[1];
        assert_eq!(
            (r2.outcome, r2.decided_by.as_deref(), r2.asked_resident),
            (Outcome::Allowed, Some("resident (web)"), true)
        );
        assert_eq!(r2.decided_at, Some(ts("2026-12-02T09:05:00Z")));
        assert_eq!(r2.sent, Sent { stills: 1, still_bytes: 20_000, ..Sent::default() });

        // Denied by the policies, not by the dry run that reused its id.
        let r3 = &r.requests[2];
        assert_eq!((r3.outcome, r3.deny_reason.as_deref()), (Outcome::Denied, Some("a warrant is required")));
        assert_eq!(r3.grant, None);
        assert_eq!(r3.requester.organisation, "County Police");

        // Still waiting at `to` (the timeout came at `to`, outside the period).
        let r4 = &r.requests[3];
        assert_eq!(
            (r4.outcome, r4.decided_by.as_deref(), r4.asked_resident),
            (Outcome::Undecided, None, true)
        );
        assert_eq!(r4.sent, Sent::default());
    }

    #[test]
    fn requesters_and_days_add_up() {
        let r = report(intact());
        let who: Vec<(&str, u64, u64, u64, u64)> = r
            .by_requester
            .iter()
            .map(|t| (t.organisation.as_str(), t.requests, t.allowed, t.denied, t.bytes))
            .collect();
        assert_eq!(who, [("Acme Insurance", 2, 1, 0, 20_000), ("County Police", 2, 1, 1, 1_500_000)]);
        let days: Vec<(&str, u64, u64, u64, u64)> =
            r.by_day.iter().map(|d| (d.date.as_str(), d.requests, d.allowed, d.denied, d.bytes)).collect();
        assert_eq!(
            days,
            [
                ("2026-12-01", 1, 1, 0, 1_500_000),
                ("2026-12-02", 1, 1, 0, 20_000),
                ("2026-12-03", 2, 0, 1, 0),
                ("2026-12-04", 0, 0, 0, 3_500),
            ]
        );
        assert_eq!(r.by_day.iter().map(|d| d.bytes).sum::<u64>(), r.totals.bytes);
        assert_eq!(r.resident_shares.len(), 1);
        assert_eq!(r.resident_shares[0].note, "for the neighbour");
    }

    #[test]
    fn json_has_the_contracts_shape() {
        let v = serde_json::to_value(report(Chain::Broken { line: 17, message: "changed".into() }))
            .expect("json");
        assert_eq!(v["chain"], json!({"state": "broken", "line": 17, "message": "changed"}));
        assert_eq!(v["from"], "2026-12-01T00:00:00Z");
        assert_eq!(v["requests"][0]["outcome"], "allowed");
        assert_eq!(v["requests"][3]["decided_by"], Value::Null);
        assert_eq!(v["requests"][0]["sent"]["live_seconds"], 0.0);
        assert_eq!(serde_json::to_value(intact()).expect("json"), json!({"state": "intact", "entries": 24}));
    }

    /// A log where the outside parties' fields try to break out of HTML and CSV.
    fn hostile() -> Report {
        let mut q = request("x<y", "<script>alert(1)</script>", "police");
        q["reason"] = json!("=HYPERLINK(\"http://evil\"),\"x\"\nline two");
        q["requester"]["person"] = json!("@SUM(A1) & 'Co'");
        q["case_number"] = json!("-1+1");
        let records = vec![
            line(
                0,
                "2026-12-01T10:00:00Z",
                json!({"kind": "request", "source": "relay", "request": q, "context": {}}),
            ),
            line(
                1,
                "2026-12-01T10:00:01Z",
                json!({"kind": "decision", "source": "relay", "request_id": "x<y",
                "final": {"decision": "deny", "reason": "<b>no</b>"}, "plugins": []}),
            ),
        ];
        build(
            &records,
            Chain::Broken { line: 2, message: "the entry was changed <after>".into() },
            "Hub \"<Elm>\"",
            ts("2026-12-01T00:00:00Z"),
            ts("2026-12-02T00:00:00Z"),
            ts("2026-12-02T00:00:00Z"),
        )
    }

    #[test]
    fn html_escapes_everything_and_runs_nothing() {
        let html = to_html(&hostile());
        for raw in ["<script>", "<b>no</b>", "x<y", "<Elm>", "<after>", "'Co'"] {
            assert!(!html.contains(raw), "{raw} left unescaped:\n{html}");
        }
        for escaped in [
            "&lt;script&gt;alert(1)&lt;/script&gt;",
            "&lt;b&gt;no&lt;/b&gt;",
            "x&lt;y",
            "Hub &quot;&lt;Elm&gt;&quot;",
            "&amp; &#39;Co&#39;",
        ] {
            assert!(html.contains(escaped), "{escaped} missing:\n{html}");
        }
        assert!(!html.to_ascii_lowercase().contains("<script"), "{html}");
        assert!(!html.contains(" style=") && !html.contains("src="), "{html}");
        assert!(html.contains("<style>") && html.starts_with("<!DOCTYPE html>"), "{html}");
        assert!(html.contains("class=\"broken\">Warning: the audit log is broken at line 2"), "{html}");
    }

    #[test]
    fn html_names_the_hub_period_and_an_intact_chain() {
        let html = to_html(&report(intact()));
        assert!(
            html.contains(
                "<title>What left the house: Elm St 4, 2026-12-01 00:00:00 UTC to 2026-12-08 00:00:00 UTC</title>"
            ),
            "{html}"
        );
        assert!(html.contains("The audit log is intact: all 24 entries were checked"), "{html}");
        assert!(
            html.contains("4 requests for footage were received: 2 allowed, 1 denied, 1 not decided."),
            "{html}"
        );
        assert!(html.contains("warrant W-9 from District Court"), "{html}");
        assert!(html.contains("Allowed by resident (web) at 2026-12-02 09:05:00 UTC"), "{html}");
        assert!(html.contains("Not decided: left to the resident"), "{html}");
        assert!(html.contains("1 clip (1.5 MB)"), "{html}");
        assert!(!html.contains("class=\"broken\""), "{html}");
    }

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let csv = to_csv(&hostile());
        let mut lines = csv.split("\r\n");
        assert_eq!(lines.next(), Some(CSV_COLUMNS.join(",").as_str()));
        let row = csv.split_once("\r\n").map(|(_, rest)| rest).expect("a row");
        // The reason: a formula, quotes, a comma and a line break, all inside one quoted field.
        assert!(row.contains("\"'=HYPERLINK(\"\"http://evil\"\"),\"\"x\"\"\nline two\""), "{row}");
        assert!(row.contains(",'@SUM(A1) & 'Co',"), "{row}");
        assert!(row.contains(",'-1+1,"), "{row}");
        assert!(row.contains(",<script>alert(1)</script>,"), "CSV is not HTML: {row}");
        assert!(row.ends_with("\r\n") && csv.matches("\r\n").count() == 2, "{csv:?}");
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("+1"), "'+1");
        assert_eq!(csv_cell("\ttab"), "'\ttab");
    }

    #[test]
    fn csv_has_one_row_per_request() {
        let csv = to_csv(&report(intact()));
        assert_eq!(csv.matches("\r\n").count(), 1 + 4, "{csv}");
        let r2 = csv.lines().find(|l| l.starts_with("r2,")).expect("r2");
        assert!(r2.contains(",allowed,resident (web),2026-12-02T09:05:00Z,,0,0,1,20000,0,0,"), "{r2}");
    }
}

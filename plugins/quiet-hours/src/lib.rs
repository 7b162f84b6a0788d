//! `quiet-hours`: at night, nothing is shared without asking you, and no live streams at all.
//!
//! During your quiet hours (local time, from `start` up to but not including `end`; they may run
//! past midnight, e.g. 22:00 to 07:00), a live stream is denied and any other request (a clip or
//! a snapshot) is put to you as a question; no answer within `ask_timeout_seconds` means no.
//!
//! Outside quiet hours this policy allows, by itself, nothing: it answers "allow everything that
//! was asked", and since Porchlight lets the most restrictive decision of all installed policies
//! win, that leaves the decision entirely to your other policies. It is a pure restriction, meant
//! to be installed *next to* a policy that decides what may be shared at all (e.g.
//! `warrant-required` or `street-only`). **Do not install it alone**: the only policy, it would
//! share everything asked outside quiet hours.
//!
//! Plugins have no time zone database, so give your offset from UTC in minutes (e.g. 60 for
//! Central European winter time, -300 for US Eastern standard time), and change it when the
//! clocks change.
//!
//! ```toml
//! [plugins]
//! enabled = ["quiet-hours"]
//!
//! [plugins.policy.quiet-hours.config]
//! start = "22:00"            # local time, "HH:MM" (default "22:00")
//! end = "07:00"              # local time, "HH:MM" (default "07:00"); may be before start
//! utc_offset_minutes = 60    # local time minus UTC, -720 to 840 (default 0)
//! ask_timeout_seconds = 900  # how long to wait for your answer, 60 to 604800 (default 15 min)
//! ```

use std::fmt::Write as _;

use porchlight_sdk::text::{MAX_NAME, MAX_TEXT, camera_list, clean, date_time, hhmm, quoted, requester_kind};
use porchlight_sdk::{
    Ask, Context, Decision, Grant, LegalBasis, LogLevel, Policy, Request, RequestKind, TimeRange, Timestamp,
    log,
};

pub struct QuietHours;

/// The shortest and longest wait for the resident's answer.
pub const ASK_TIMEOUT_SECONDS: std::ops::RangeInclusive<u32> = 60..=604_800;
/// Offsets from UTC in use on Earth (UTC-12:00 to UTC+14:00), in minutes.
pub const UTC_OFFSET_MINUTES: std::ops::RangeInclusive<i32> = -720..=840;

#[derive(Debug, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// When quiet hours begin, local time, "HH:MM".
    pub start: String,
    /// When quiet hours end (exclusive), local time, "HH:MM".
    pub end: String,
    /// Local time minus UTC, in minutes.
    pub utc_offset_minutes: i32,
    /// How long to wait for the resident's answer during quiet hours.
    pub ask_timeout_seconds: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self { start: "22:00".into(), end: "07:00".into(), utc_offset_minutes: 0, ask_timeout_seconds: 900 }
    }
}

/// The checked configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Hours {
    /// Minutes after local midnight.
    start: u32,
    end: u32,
    offset_minutes: i32,
    timeout: u32,
}

impl Hours {
    fn new(config: &Config) -> Result<Self, String> {
        let start = minutes_of_day("start", &config.start)?;
        let end = minutes_of_day("end", &config.end)?;
        if start == end {
            return Err(format!(
                "start and end are both {:?}: quiet hours would be empty or the whole day (to ask about \
                 everything at all times, use the ask-resident policy)",
                config.start
            ));
        }
        if !UTC_OFFSET_MINUTES.contains(&config.utc_offset_minutes) {
            return Err(format!(
                "utc_offset_minutes = {} is out of range: it must be {} to {} (UTC-12:00 to UTC+14:00)",
                config.utc_offset_minutes,
                UTC_OFFSET_MINUTES.start(),
                UTC_OFFSET_MINUTES.end()
            ));
        }
        if !ASK_TIMEOUT_SECONDS.contains(&config.ask_timeout_seconds) {
            return Err(format!(
                "ask_timeout_seconds = {} is out of range: it must be {} (a minute) to {} (a week)",
                config.ask_timeout_seconds,
                ASK_TIMEOUT_SECONDS.start(),
                ASK_TIMEOUT_SECONDS.end()
            ));
        }
        Ok(Self {
            start,
            end,
            offset_minutes: config.utc_offset_minutes,
            timeout: config.ask_timeout_seconds,
        })
    }

    /// Local minutes after midnight at `ts`.
    fn local_minute(&self, ts: Timestamp) -> u32 {
        let secs = (ts.rem_euclid(86_400) + i64::from(self.offset_minutes) * 60).rem_euclid(86_400);
        // 0..1440, so it fits.
        u32::try_from(secs / 60).unwrap_or(0)
    }

    fn contains(&self, ts: Timestamp) -> bool {
        let m = self.local_minute(ts);
        if self.start < self.end { self.start <= m && m < self.end } else { m >= self.start || m < self.end }
    }

    /// "22:00–07:00".
    fn label(&self) -> String {
        format!("{}\u{2013}{}", hhmm(self.start), hhmm(self.end))
    }
}

/// Parses "HH:MM" (00:00 to 23:59) into minutes after midnight; the error names the key and value.
fn minutes_of_day(key: &str, value: &str) -> Result<u32, String> {
    let bad = || format!("{key} = {value:?} is not a time of day as \"HH:MM\" (00:00 to 23:59)");
    let b = value.as_bytes();
    if b.len() != 5 || b[2] != b':' || ![b[0], b[1], b[3], b[4]].iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let digit = |i: usize| u32::from(b[i] - b'0');
    let (h, m) = (digit(0) * 10 + digit(1), digit(3) * 10 + digit(4));
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

impl Policy for QuietHours {
    type Config = Config;

    fn check_config(config: &Config) -> Result<(), String> {
        Hours::new(config).map(|_| ())
    }

    fn decide(config: &Config, request: &Request, context: &Context) -> Decision {
        let hours = match Hours::new(config) {
            Ok(hours) => hours,
            // Fail closed (the hub checks the configuration at load time, so this is for tests).
            Err(e) => return Decision::Deny(format!("quiet-hours is misconfigured: {e}")),
        };
        if !hours.contains(context.now) {
            // Not a permission: a restriction that does not apply now (see the module docs).
            return Decision::Allow(Grant::everything(request));
        }
        let label = hours.label();
        if let RequestKind::Live(_) = request.kind {
            return Decision::Deny(format!("no live streams during quiet hours ({label} local time)"));
        }
        log(LogLevel::Info, &format!("request {}: quiet hours ({label}), asking the resident", request.id));
        Decision::Ask(Ask { prompt: prompt(request, context, &hours), timeout_seconds: hours.timeout })
    }
}

porchlight_sdk::export_policy!(QuietHours);

fn prompt(request: &Request, context: &Context, hours: &Hours) -> String {
    let r = &request.requester;
    let kind = requester_kind(r.kind);
    let person = clean(&r.person, MAX_NAME);
    let who = if person.is_empty() {
        format!("{}, {kind}", quoted(&r.organisation, MAX_NAME))
    } else {
        format!("{} ({person}), {kind}", quoted(&r.organisation, MAX_NAME))
    };
    let cameras = camera_list(request.cameras());

    let mut p = format!("Quiet hours ({}): footage request from {who}.\n", hours.label());
    let _ = match &request.kind {
        RequestKind::Clip(c) => writeln!(p, "Asks for: a clip from {cameras}, {}.", range(&c.range, hours)),
        RequestKind::Snapshot(_) => writeln!(p, "Asks for: a snapshot from {cameras}."),
        RequestKind::Live(l) => {
            writeln!(p, "Asks for: a live stream from {cameras}, up to {} s.", l.max_seconds)
        }
    };
    let unknown: Vec<String> = request
        .cameras()
        .iter()
        .filter(|c| context.camera(c).is_none())
        .map(|c| quoted(c, MAX_NAME))
        .collect();
    if !unknown.is_empty() {
        let _ = writeln!(p, "Not cameras of this hub: {}.", unknown.join(", "));
    }
    let _ = writeln!(p, "Reason: {}", quoted(&request.reason, MAX_TEXT));
    let _ = writeln!(
        p,
        "Case number: {}",
        request.case_number.as_deref().map_or_else(|| "none given".into(), |c| quoted(c, MAX_NAME))
    );
    let basis = match &request.legal_basis {
        LegalBasis::None => "none given".into(),
        LegalBasis::Consent => "the requester says you consented".into(),
        LegalBasis::Exigent(statement) => {
            format!("claimed emergency, no warrant: {}", quoted(statement, MAX_TEXT))
        }
        LegalBasis::Warrant(w) => {
            let status = if context.now < w.issued {
                " (NOT YET ISSUED)"
            } else if context.now >= w.expires {
                " (EXPIRED)"
            } else {
                ""
            };
            format!("warrant {} from {}{status}", quoted(&w.reference, MAX_NAME), quoted(&w.court, MAX_NAME))
        }
    };
    let _ = writeln!(p, "Legal basis: {basis}");
    let _ = write!(p, "No answer within {} min means no.", hours.timeout.div_ceil(60));
    p
}

fn range(r: &TimeRange, hours: &Hours) -> String {
    let local = |ts| date_time(ts, hours.offset_minutes);
    let text = format!("from {} to {} local time", local(r.start), local(r.end));
    if r.start > r.end { format!("{text} (reversed: it ends before it starts)") } else { text }
}

#[cfg(test)]
mod tests {
    use porchlight_sdk::{RequesterKind, testing};

    use super::*;

    /// 2027-01-15 00:00 UTC.
    const MIDNIGHT: Timestamp = 1_800_000_000 - 8 * 3600;

    fn at(h: i64, m: i64) -> Timestamp {
        MIDNIGHT + h * 3600 + m * 60
    }

    fn ctx(now: Timestamp) -> Context {
        testing::context(now, &[("front", &["street"]), ("back", &[])])
    }

    fn decide(config: &str, request: &Request, now: Timestamp) -> Decision {
        testing::decide::<QuietHours>(config, request, &ctx(now))
    }

    fn clip() -> Request {
        testing::clip(&["front", "back"], at(7, 50) - 86_400, at(8, 0) - 86_400)
    }

    fn is_quiet(config: &str, now: Timestamp) -> bool {
        match decide(config, &clip(), now) {
            Decision::Ask(_) => true,
            Decision::Allow(grant) => {
                assert_eq!(grant, Grant::everything(&clip()));
                false
            }
            Decision::Deny(reason) => panic!("{reason}"),
        }
    }

    #[test]
    fn default_quiet_hours_wrap_midnight() {
        for (h, m, quiet) in [
            (21, 59, false),
            (22, 0, true),
            (23, 59, true),
            (0, 0, true),
            (3, 30, true),
            (6, 59, true),
            (7, 0, false),
            (12, 0, false),
        ] {
            assert_eq!(is_quiet("{}", at(h, m)), quiet, "{h:02}:{m:02}");
        }
        // The last second before the end is still quiet.
        assert!(is_quiet("{}", at(7, 0) - 1));
    }

    #[test]
    fn daytime_quiet_hours() {
        let config = r#"{"start":"13:00","end":"15:30"}"#;
        assert!(!is_quiet(config, at(12, 59)));
        assert!(is_quiet(config, at(13, 0)));
        assert!(is_quiet(config, at(15, 29)));
        assert!(!is_quiet(config, at(15, 30)));
        assert!(!is_quiet(config, at(23, 0)));
        // Almost all day.
        let config = r#"{"start":"00:00","end":"23:59"}"#;
        assert!(is_quiet(config, at(0, 0)) && is_quiet(config, at(23, 58)) && !is_quiet(config, at(23, 59)));
    }

    #[test]
    fn local_time_uses_the_utc_offset() {
        // 21:30 UTC is 22:30 at UTC+1, 16:30 at UTC-5.
        assert!(!is_quiet("{}", at(21, 30)));
        assert!(is_quiet(r#"{"utc_offset_minutes":60}"#, at(21, 30)));
        assert!(!is_quiet(r#"{"utc_offset_minutes":-300}"#, at(21, 30)));
        // 03:00 UTC is 22:00 the day before at UTC-5; 07:00 UTC is 07:00 at UTC+0 only.
        assert!(is_quiet(r#"{"utc_offset_minutes":-300}"#, at(3, 0)));
        assert!(!is_quiet(r#"{"utc_offset_minutes":-300}"#, at(3, 0) - 1));
        assert!(is_quiet(r#"{"utc_offset_minutes":-300}"#, at(11, 59)));
        // Half-hour offsets (India, UTC+5:30): 16:30 UTC is 22:00.
        assert!(is_quiet(r#"{"utc_offset_minutes":330}"#, at(16, 30)));
        assert!(!is_quiet(r#"{"utc_offset_minutes":330}"#, at(16, 29)));
        // Extreme offsets and timestamps.
        assert!(is_quiet(r#"{"utc_offset_minutes":840}"#, at(8, 0)));
        assert!(is_quiet(r#"{"utc_offset_minutes":-720}"#, at(10, 0)));
        assert!(is_quiet("{}", 0)); // 1970-01-01 00:00 UTC
        assert!(is_quiet("{}", -3600)); // 1969-12-31 23:00 UTC
        assert!(!is_quiet("{}", -86_400 + 12 * 3600));
        is_quiet(r#"{"utc_offset_minutes":840}"#, i64::MAX);
        is_quiet(r#"{"utc_offset_minutes":-720}"#, i64::MIN);
    }

    #[test]
    fn live_is_denied_during_quiet_hours() {
        let live = testing::live(&["front"], 60, at(23, 0));
        match decide("{}", &live, at(23, 0)) {
            Decision::Deny(reason) => {
                assert!(reason.contains("no live streams during quiet hours (22:00\u{2013}07:00"))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(decide("{}", &live, at(12, 0)), Decision::Allow(Grant::everything(&live)));
    }

    #[test]
    fn clips_and_snapshots_are_asked_during_quiet_hours() {
        let mut req = clip();
        req.reason = "Hit and run\non the street".into();
        req.case_number = Some("HR-7".into());
        let req = testing::with_warrant(req, &["front"], at(0, 0) - 86_400, at(12, 0) - 86_400);
        testing::take_logs();
        let Decision::Ask(ask) = decide(r#"{"utc_offset_minutes":60}"#, &req, at(23, 0)) else { panic!() };
        assert_eq!(ask.timeout_seconds, 900);
        assert_eq!(
            ask.prompt,
            "Quiet hours (22:00\u{2013}07:00): footage request from \u{201c}City Police\u{201d} (Det. Example), \
             police.\n\
             Asks for: a clip from \u{201c}front\u{201d}, \u{201c}back\u{201d}, from 2027-01-14 08:50 to \
             2027-01-14 09:00 local time.\n\
             Reason: \u{201c}Hit and run on the street\u{201d}\n\
             Case number: \u{201c}HR-7\u{201d}\n\
             Legal basis: warrant \u{201c}W-1\u{201d} from \u{201c}District Court\u{201d}\n\
             No answer within 15 min means no."
        );
        assert_eq!(testing::take_logs().len(), 1);

        let snap = testing::from(testing::snapshot(&["front", "garage"], at(1, 0)), RequesterKind::Neighbour);
        let Decision::Ask(ask) = decide(r#"{"ask_timeout_seconds":120}"#, &snap, at(1, 0)) else { panic!() };
        assert_eq!(ask.timeout_seconds, 120);
        assert!(
            ask.prompt.contains("Asks for: a snapshot from \u{201c}front\u{201d}, \u{201c}garage\u{201d}.")
        );
        assert!(ask.prompt.contains("Not cameras of this hub: \u{201c}garage\u{201d}."));
        assert!(ask.prompt.contains("), neighbour."));
        assert!(ask.prompt.contains("Legal basis: none given"));
        assert!(ask.prompt.ends_with("within 2 min means no."));
    }

    #[test]
    fn prompt_shows_odd_requests_as_they_are() {
        let reversed = testing::clip(&[], at(8, 0), at(7, 0));
        let Decision::Ask(ask) = decide("{}", &reversed, at(23, 0)) else { panic!() };
        assert!(ask.prompt.contains(
            "a clip from no cameras, from 2027-01-15 08:00 to 2027-01-15 07:00 local time (reversed"
        ));
        let mut expired = testing::with_warrant(clip(), &["front"], at(0, 0), at(1, 0));
        if let LegalBasis::Warrant(w) = &mut expired.legal_basis {
            w.expires = at(2, 0);
        }
        let Decision::Ask(ask) = decide("{}", &expired, at(23, 0)) else { panic!() };
        assert!(ask.prompt.contains("(EXPIRED)"), "{}", ask.prompt);
        let mut exigent = clip();
        exigent.legal_basis = LegalBasis::Exigent("x".repeat(1000));
        let Decision::Ask(ask) = decide("{}", &exigent, at(23, 0)) else { panic!() };
        assert!(ask.prompt.contains(&format!("{}\u{2026}\u{201d}", "x".repeat(MAX_TEXT))));
        assert_eq!(ask.prompt.lines().count(), 6);
    }

    #[test]
    fn prompt_text_is_cleaned_and_times_are_local() {
        let mut req = testing::clip(&["front"], at(7, 0) + 30, i64::MAX);
        req.reason = "a\u{061c}b\u{202e}c\nd".into();
        let Decision::Ask(ask) = decide(r#"{"utc_offset_minutes":-300}"#, &req, at(4, 0)) else { panic!() };
        assert!(ask.prompt.contains("Reason: \u{201c}a b c d\u{201d}\n"), "{}", ask.prompt);
        assert!(
            ask.prompt
                .contains(&format!("from 2027-01-15 02:00:30 to {} s after 1970 (UTC) local time", i64::MAX)),
            "{}",
            ask.prompt
        );
    }

    #[test]
    fn outside_quiet_hours_everything_asked_passes_through() {
        for req in
            [clip(), testing::snapshot(&["front", "garage"], at(12, 0)), testing::live(&[], 0, at(12, 0))]
        {
            assert_eq!(decide("{}", &req, at(12, 0)), Decision::Allow(Grant::everything(&req)));
        }
    }

    #[test]
    fn times_must_be_hh_mm() {
        let check = testing::check_config::<QuietHours>;
        for good in ["00:00", "23:59", "07:05"] {
            assert!(check(&format!(r#"{{"start":"{good}","end":"12:34"}}"#)).is_ok(), "{good}");
        }
        for bad in [
            "24:00",
            "7:00",
            "07:0",
            "12:60",
            "ab:cd",
            "",
            "12:00:00",
            "12.00",
            " 12:00",
            "\u{0661}2:00",
            "-1:00",
        ] {
            let err = check(&format!(r#"{{"start":{bad:?}}}"#)).unwrap_err();
            assert!(err.contains(&format!("start = {bad:?}")) && err.contains("HH:MM"), "{bad}: {err}");
            let err = check(&format!(r#"{{"end":{bad:?}}}"#)).unwrap_err();
            assert!(err.contains(&format!("end = {bad:?}")), "{bad}: {err}");
        }
        assert!(check(r#"{"start":2200}"#).is_err());
        let err = check(r#"{"start":"07:00","end":"07:00"}"#).unwrap_err();
        assert!(err.contains("both \"07:00\""), "{err}");
    }

    #[test]
    fn config_is_checked() {
        let check = testing::check_config::<QuietHours>;
        assert!(check("").is_ok() && check("{}").is_ok());
        assert!(
            check(r#"{"start":"23:00","end":"06:30","utc_offset_minutes":-300,"ask_timeout_seconds":60}"#)
                .is_ok()
        );
        assert!(
            check(r#"{"utc_offset_minutes":840}"#).is_ok() && check(r#"{"utc_offset_minutes":-720}"#).is_ok()
        );
        assert!(check(r#"{"utc_offset_minutes":841}"#).unwrap_err().contains("utc_offset_minutes = 841"));
        assert!(check(r#"{"utc_offset_minutes":-721}"#).is_err());
        assert!(check(r#"{"utc_offset_minutes":1.5}"#).is_err());
        assert!(check(r#"{"ask_timeout_seconds":604800}"#).is_ok());
        assert!(check(r#"{"ask_timeout_seconds":59}"#).unwrap_err().contains("ask_timeout_seconds = 59"));
        assert!(check(r#"{"ask_timeout_seconds":604801}"#).is_err());
        assert!(check(r#"{"timezone":"Europe/Berlin"}"#).is_err());
    }

    #[test]
    fn bad_config_fails_closed_even_outside_quiet_hours() {
        let d = decide(r#"{"start":"25:00"}"#, &clip(), at(12, 0));
        assert!(
            matches!(&d, Decision::Deny(r) if r.contains("misconfigured") && r.contains("\"25:00\"")),
            "{d:?}"
        );
        let d = decide(r#"{"stat":"22:00"}"#, &clip(), at(12, 0));
        assert!(matches!(&d, Decision::Deny(r) if r.contains("invalid configuration")), "{d:?}");
    }
}

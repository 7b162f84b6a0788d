//! Text for prompts and log lines: dates, durations, and requester-written text made safe.
//!
//! A policy that asks the resident ([`Decision::Ask`](crate::Decision::Ask)) writes a prompt
//! that shows, among its own words, text the requester chose: a reason, a name, a case number,
//! camera names. [`clean`] and [`quoted`] make such text safe for one line of a prompt: line
//! breaks and other control or text-direction characters become spaces and long texts are cut,
//! so a request cannot dress up its reason as a line of the prompt's own.
//!
//! Plugins have no clock and no time zone database: [`date_time`] and [`utc`] turn a
//! [`Timestamp`] into a civil date and time by arithmetic alone, for any offset from UTC.
//!
//! ```
//! use porchlight_sdk::text;
//!
//! assert_eq!(text::utc(1_800_000_000), "2027-01-15 08:00 UTC");
//! assert_eq!(text::date_time(1_800_000_000, 60), "2027-01-15 09:00");
//! assert_eq!(text::duration(5400), "1 h 30 min");
//! let reason = "routine\nLegal basis: a warrant";
//! assert_eq!(text::quoted(reason, text::MAX_TEXT), "\u{201c}routine Legal basis: a warrant\u{201d}");
//! assert_eq!(text::quoted(" \n", text::MAX_TEXT), "none given");
//! ```

use crate::{RequesterKind, Timestamp};

/// A sensible longest name (organisation, person, camera, case number, ...) in a prompt, in
/// characters.
pub const MAX_NAME: usize = 80;
/// A sensible longest free text (a reason, a statement) in a prompt, in characters.
pub const MAX_TEXT: usize = 300;
/// Cameras [`camera_list`] names; the rest are counted.
pub const MAX_CAMERAS: usize = 12;

/// A timestamp as a civil date and time at `utc_offset_minutes` from UTC (local time minus UTC),
/// `2027-01-15 08:00`, with seconds when not zero (`2027-01-15 08:00:01`) and without a zone:
/// add `" UTC"`, `" local time"` or the like yourself.
///
/// Far outside years 0000–9999 (at that offset) it is instead the number of seconds since 1970,
/// which names its zone itself: `253402300800 s after 1970 (UTC)`.
pub fn date_time(ts: Timestamp, utc_offset_minutes: i32) -> String {
    civil(ts, utc_offset_minutes).unwrap_or_else(|| far(ts))
}

/// A timestamp in UTC, `2027-01-15 08:00 UTC` (with seconds when not zero); far outside years
/// 0000–9999, `253402300800 s after 1970 (UTC)`.
pub fn utc(ts: Timestamp) -> String {
    civil(ts, 0).map_or_else(|| far(ts), |t| t + " UTC")
}

fn far(ts: Timestamp) -> String {
    format!("{ts} s after 1970 (UTC)")
}

/// The civil date and time, if years 0000–9999.
fn civil(ts: Timestamp, utc_offset_minutes: i32) -> Option<String> {
    let t = ts.checked_add(i64::from(utc_offset_minutes) * 60)?;
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    if !(0..=9999).contains(&year) {
        return None;
    }
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    Some(if s == 0 {
        format!("{year:04}-{month:02}-{day:02} {h:02}:{m:02}")
    } else {
        format!("{year:04}-{month:02}-{day:02} {h:02}:{m:02}:{s:02}")
    })
}

/// A time of day given in minutes after midnight, `07:05`.
pub fn hhmm(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// A length of time, rounded down to its two largest units: `45 s`, `10 min`, `1 min 30 s`,
/// `1 h 30 min`, `2 d 3 h`.
pub fn duration(secs: i64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match () {
        _ if secs < 60 => format!("{secs} s"),
        _ if secs < 3600 && s == 0 => format!("{m} min"),
        _ if secs < 3600 => format!("{m} min {s} s"),
        _ if secs < 86_400 && m == 0 => format!("{h} h"),
        _ if secs < 86_400 => format!("{h} h {m} min"),
        _ if h == 0 => format!("{d} d"),
        _ => format!("{d} d {h} h"),
    }
}

/// Requester-written text made safe for one line of a prompt: control characters (line breaks
/// included), other whitespace and text-direction characters ([`is_direction_mark`]) become
/// spaces, runs of spaces one, leading and trailing spaces go, and it is cut to `max_chars`
/// characters, marked with `…`.
pub fn clean(text: &str, max_chars: usize) -> String {
    let mut out = String::new();
    let mut count = 0;
    for c in text.chars() {
        let c = if c.is_control() || c.is_whitespace() || is_direction_mark(c) { ' ' } else { c };
        if c == ' ' && (out.is_empty() || out.ends_with(' ')) {
            continue;
        }
        if count == max_chars {
            out.truncate(out.trim_end().len());
            out.push('\u{2026}');
            return out;
        }
        out.push(c);
        count += 1;
    }
    out.truncate(out.trim_end().len());
    out
}

/// Whether `c` is one of the Unicode bidirectional formatting characters (marks, embeddings,
/// overrides and isolates), which can make text display in another order than it is written.
pub fn is_direction_mark(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{061c}')
}

/// Requester-written text [`clean`]ed and in quotation marks, `“Burglary at number 12”`, or
/// `none given` when nothing is left.
pub fn quoted(text: &str, max_chars: usize) -> String {
    match clean(text, max_chars) {
        t if t.is_empty() => "none given".into(),
        t => format!("\u{201c}{t}\u{201d}"),
    }
}

/// Camera names, each [`quoted`] (at most [`MAX_NAME`] characters), the first [`MAX_CAMERAS`]
/// by name and the rest counted: `“front”, “back”`, `“cam0”, …, “cam11”, and 8 more`, or
/// `no cameras`.
pub fn camera_list(cameras: &[String]) -> String {
    if cameras.is_empty() {
        return "no cameras".into();
    }
    let mut names: Vec<String> = cameras.iter().take(MAX_CAMERAS).map(|c| quoted(c, MAX_NAME)).collect();
    if cameras.len() > MAX_CAMERAS {
        names.push(format!("and {} more", cameras.len() - MAX_CAMERAS));
    }
    names.join(", ")
}

/// What kind of requester this is, for the resident: `police`, `monitoring company`, ...
pub fn requester_kind(kind: RequesterKind) -> &'static str {
    match kind {
        RequesterKind::Police => "police",
        RequesterKind::Monitoring => "monitoring company",
        RequesterKind::Insurer => "insurer",
        RequesterKind::Neighbour => "neighbour",
        RequesterKind::Resident => "resident",
        RequesterKind::Other => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_reads_well() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(-1), "1969-12-31 23:59:59 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(utc(1_800_000_000), "2027-01-15 08:00 UTC");
        assert_eq!(utc(1_800_000_001), "2027-01-15 08:00:01 UTC");
        assert_eq!(utc(253_402_300_799), "9999-12-31 23:59:59 UTC");
        assert_eq!(utc(-62_167_219_200), "0000-01-01 00:00 UTC");
        assert_eq!(utc(-62_167_219_201), "-62167219201 s after 1970 (UTC)");
        assert_eq!(utc(253_402_300_800), "253402300800 s after 1970 (UTC)");
        assert_eq!(utc(i64::MIN), format!("{} s after 1970 (UTC)", i64::MIN));
        assert_eq!(utc(i64::MAX), format!("{} s after 1970 (UTC)", i64::MAX));
    }

    #[test]
    fn date_time_uses_the_offset() {
        const NOW: Timestamp = 1_800_000_000; // 2027-01-15 08:00 UTC
        assert_eq!(date_time(NOW, 0), "2027-01-15 08:00");
        assert_eq!(date_time(NOW, 60), "2027-01-15 09:00");
        assert_eq!(date_time(NOW, 330), "2027-01-15 13:30");
        assert_eq!(date_time(NOW, -720), "2027-01-14 20:00");
        assert_eq!(date_time(NOW + 59, 840), "2027-01-15 22:00:59");
        assert_eq!(date_time(-1, 0), "1969-12-31 23:59:59");
        assert_eq!(date_time(0, -60), "1969-12-31 23:00");
        // The year is the local one; out of range, the timestamp is shown as it is.
        assert_eq!(date_time(253_402_300_799 - 3600, 60), "9999-12-31 23:59:59");
        assert_eq!(date_time(253_402_300_799, 60), "253402300799 s after 1970 (UTC)");
        assert_eq!(date_time(i64::MAX, 840), format!("{} s after 1970 (UTC)", i64::MAX));
        assert_eq!(date_time(i64::MIN, -720), format!("{} s after 1970 (UTC)", i64::MIN));
        assert_eq!(date_time(i64::MIN, 0), format!("{} s after 1970 (UTC)", i64::MIN));
    }

    #[test]
    fn durations_and_times_of_day_read_well() {
        assert_eq!(duration(0), "0 s");
        assert_eq!(duration(59), "59 s");
        assert_eq!(duration(60), "1 min");
        assert_eq!(duration(90), "1 min 30 s");
        assert_eq!(duration(3600), "1 h");
        assert_eq!(duration(5400), "1 h 30 min");
        assert_eq!(duration(7200), "2 h");
        assert_eq!(duration(86_400), "1 d");
        assert_eq!(duration(604_800), "7 d");
        assert_eq!(duration(183_600), "2 d 3 h");
        assert_eq!(hhmm(0), "00:00");
        assert_eq!(hhmm(7 * 60 + 5), "07:05");
        assert_eq!(hhmm(23 * 60 + 59), "23:59");
    }

    #[test]
    fn clean_keeps_text_on_one_line() {
        assert_eq!(clean("routine\nLegal basis: x\r\n\u{202e}evil", 100), "routine Legal basis: x evil");
        assert_eq!(clean("  a \t\u{0}b\u{2028}c\u{85}  ", 100), "a b c");
        for mark in ['\u{200e}', '\u{200f}', '\u{202a}', '\u{202e}', '\u{2066}', '\u{2069}', '\u{061c}'] {
            assert!(is_direction_mark(mark), "{mark:?}");
            assert_eq!(clean(&format!("a{mark}b"), 100), "a b", "{mark:?}");
        }
        assert!(!is_direction_mark('a') && !is_direction_mark('\u{200b}'));
        assert_eq!(clean("", 10), "");
        assert_eq!(clean(" \n ", 10), "");
        // Non-ASCII text is kept, and cut by characters, not bytes.
        assert_eq!(clean("Zoë Müller", 100), "Zoë Müller");
        assert_eq!(clean("ëëëë", 3), "ëëë\u{2026}");
    }

    #[test]
    fn clean_cuts_long_text() {
        assert_eq!(clean("abc", 3), "abc");
        assert_eq!(clean("abcd", 3), "abc\u{2026}");
        assert_eq!(clean("ab cd", 3), "ab\u{2026}");
        assert_eq!(clean("abc   ", 4), "abc");
        // Anything after the limit, even trailing space, is marked as cut.
        assert_eq!(clean("abc   ", 3), "abc\u{2026}");
        assert_eq!(clean("abc", 0), "\u{2026}");
        let long = clean(&"x".repeat(1000), MAX_NAME);
        assert_eq!(long, format!("{}\u{2026}", "x".repeat(MAX_NAME)));
    }

    #[test]
    fn quoted_says_when_nothing_is_left() {
        assert_eq!(quoted("shots fired", MAX_TEXT), "\u{201c}shots fired\u{201d}");
        assert_eq!(quoted("  ", MAX_TEXT), "none given");
        assert_eq!(quoted("\u{202e}", MAX_TEXT), "none given");
        assert_eq!(quoted("abcd", 2), "\u{201c}ab\u{2026}\u{201d}");
    }

    #[test]
    fn camera_lists_are_quoted_and_counted() {
        let names = |n: usize| -> Vec<String> { (0..n).map(|i| format!("cam{i}")).collect() };
        assert_eq!(camera_list(&[]), "no cameras");
        assert_eq!(camera_list(&names(2)), "\u{201c}cam0\u{201d}, \u{201c}cam1\u{201d}");
        let twelve = camera_list(&names(MAX_CAMERAS));
        assert!(twelve.ends_with("\u{201c}cam11\u{201d}") && !twelve.contains("more"), "{twelve}");
        let twenty = camera_list(&names(20));
        assert!(twenty.ends_with("\u{201c}cam11\u{201d}, and 8 more"), "{twenty}");
        assert!(!twenty.contains("cam12"));
        assert_eq!(camera_list(&["\n".into(), "a\nb".into()]), "none given, \u{201c}a b\u{201d}");
    }

    #[test]
    fn requester_kinds_have_names() {
        assert_eq!(requester_kind(RequesterKind::Police), "police");
        assert_eq!(requester_kind(RequesterKind::Monitoring), "monitoring company");
        assert_eq!(requester_kind(RequesterKind::Other), "other");
    }
}

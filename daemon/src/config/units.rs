//! Human-friendly durations (`"90s"`, `"1h 30m"`, `"30d"`) and byte sizes (`"500 GiB"`, `1000000`).

use std::time::Duration;

/// Why a duration could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration; write e.g. \"10s\", \"5m\", \"1h30m\" or \"30d\"")]
    Empty,
    #[error("invalid duration {text:?}: expected a number at {at:?}; write e.g. \"10s\", \"5m\", \"1h30m\"")]
    NoNumber { text: String, at: String },
    #[error("invalid duration {text:?}: number too large")]
    Number { text: String, source: std::num::ParseIntError },
    #[error("invalid duration {text:?}: missing unit after {number} (use ms, s, m, h, d or w)")]
    MissingUnit { text: String, number: u128 },
    #[error("invalid duration {text:?}: unknown unit {unit:?} (use ms, s, m, h, d or w)")]
    UnknownUnit { text: String, unit: String },
    #[error("invalid duration {text:?}: too large")]
    TooLarge { text: String },
}

/// Why a byte size could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    #[error("invalid size {text:?}: expected a number, e.g. \"500 GiB\"")]
    NoNumber { text: String },
    #[error("invalid size {text:?}: bad number")]
    Number { text: String, source: std::num::ParseFloatError },
    #[error("invalid size {text:?}: unknown unit {unit:?} (use B, kB, MB, GB, TB, KiB, MiB, GiB or TiB)")]
    UnknownUnit { text: String, unit: String },
    #[error("invalid size {text:?}: too large")]
    TooLarge { text: String },
}

/// Why a point in time could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TimeError {
    #[error(transparent)]
    Duration(#[from] DurationError),
    #[error("invalid time {text:?}: {source}")]
    OutOfRange { text: String, source: jiff::Error },
    #[error(
        "invalid time {text:?}: {source}; use RFC 3339 such as 2026-11-26T18:00:00Z, or -10m / -2h / -1d / +1h"
    )]
    Syntax { text: String, source: jiff::Error },
}

/// Parses a duration such as `"10s"`, `"250ms"`, `"1h30m"` or `"30d"`.
/// Units: `ms`, `s`, `m`, `h`, `d` (24 h), `w` (7 d). A bare `"0"` is zero.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let t = text.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    if t.is_empty() {
        return Err(DurationError::Empty);
    }
    let mut total: u128 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        rest = rest.trim_start();
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 {
            return Err(DurationError::NoNumber { text: text.to_owned(), at: rest.to_owned() });
        }
        let n: u128 = rest[..digits]
            .parse()
            .map_err(|source| DurationError::Number { text: text.to_owned(), source })?;
        rest = rest[digits..].trim_start();
        let unit_len = rest.chars().take_while(char::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        let millis_per = match unit {
            "ms" => 1,
            "s" | "sec" | "secs" => 1_000,
            "m" | "min" | "mins" => 60_000,
            "h" | "hr" | "hrs" => 3_600_000,
            "d" | "day" | "days" => 86_400_000,
            "w" | "week" | "weeks" => 604_800_000,
            "" => {
                return Err(DurationError::MissingUnit { text: text.to_owned(), number: n });
            }
            other => {
                return Err(DurationError::UnknownUnit { text: text.to_owned(), unit: other.to_owned() });
            }
        };
        total = total
            .checked_add(n.saturating_mul(millis_per))
            .ok_or_else(|| DurationError::TooLarge { text: text.to_owned() })?;
        rest = &rest[unit_len..];
    }
    let millis = u64::try_from(total).map_err(|_| DurationError::TooLarge { text: text.to_owned() })?;
    Ok(Duration::from_millis(millis))
}

/// Formats a duration the way [`parse_duration`] reads it (largest exact units).
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, per) in [("d", 86_400_000u128), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
        if ms >= per {
            out.push_str(&format!("{}{unit}", ms / per));
            ms %= per;
        }
    }
    out
}

/// Parses a byte size: an integer number of bytes, or a string such as `"500 GiB"`, `"2TB"`, `"64 MiB"`.
/// Decimal (`kB`, `MB`, `GB`, `TB`) and binary (`KiB`, `MiB`, `GiB`, `TiB`) units.
pub fn parse_bytes(text: &str) -> Result<u64, SizeError> {
    let t = text.trim();
    let digits = t.chars().take_while(|c| c.is_ascii_digit() || *c == '.').count();
    if digits == 0 {
        return Err(SizeError::NoNumber { text: text.to_owned() });
    }
    let number: f64 =
        t[..digits].parse().map_err(|source| SizeError::Number { text: text.to_owned(), source })?;
    let unit = t[digits..].trim();
    let mult: f64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => {
            return Err(SizeError::UnknownUnit { text: text.to_owned(), unit: unit.to_owned() });
        }
    };
    let bytes = number * mult;
    if !bytes.is_finite() || bytes > u64::MAX as f64 {
        return Err(SizeError::TooLarge { text: text.to_owned() });
    }
    Ok(bytes.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86400)));
        assert_eq!(parse_duration("2w"), Ok(Duration::from_secs(14 * 86400)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("10").expect_err("must fail").to_string().contains("missing unit"));
        assert!(parse_duration("10x").expect_err("must fail").to_string().contains("unknown unit"));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("99999999999999999999999999999999999999999d").is_err());
    }

    #[test]
    fn duration_round_trip() {
        for s in ["10s", "1h30m", "30d", "250ms", "1d2h3m4s5ms"] {
            let d = parse_duration(s).expect("parses");
            assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{s}");
        }
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("1000"), Ok(1000));
        assert_eq!(parse_bytes("2 GiB"), Ok(2 << 30));
        assert_eq!(parse_bytes("1.5GB"), Ok(1_500_000_000));
        assert_eq!(parse_bytes("64MiB"), Ok(64 << 20));
        assert!(parse_bytes("12 furlongs").expect_err("must fail").to_string().contains("unknown unit"));
        assert!(parse_bytes("GiB").is_err());
    }
}

/// Parses a point in time for the command line: RFC 3339 (`2026-11-26T18:00:00Z`), or relative
/// to `now` as `-10m`, `-2h`, `-1d` (the past), `+1h` (the future, e.g. the end of a pin) or
/// `now`.
pub fn parse_time(text: &str, now: jiff::Timestamp) -> Result<jiff::Timestamp, TimeError> {
    let t = text.trim();
    if t == "now" {
        return Ok(now);
    }
    if let Some(rel) = t.strip_prefix('-') {
        let d = parse_duration(rel)?;
        let d = jiff::SignedDuration::try_from(d)
            .map_err(|source| TimeError::OutOfRange { text: text.to_owned(), source })?;
        return now.checked_sub(d).map_err(|source| TimeError::OutOfRange { text: text.to_owned(), source });
    }
    if let Some(rel) = t.strip_prefix('+')
        && rel.starts_with(|c: char| c.is_ascii_digit())
        && !rel.contains(['-', ':'])
    {
        let d = parse_duration(rel)?;
        let d = jiff::SignedDuration::try_from(d)
            .map_err(|source| TimeError::OutOfRange { text: text.to_owned(), source })?;
        return now.checked_add(d).map_err(|source| TimeError::OutOfRange { text: text.to_owned(), source });
    }
    t.parse::<jiff::Timestamp>().map_err(|source| TimeError::Syntax { text: text.to_owned(), source })
}

#[cfg(test)]
mod time_tests {
    use super::*;

    #[test]
    fn absolute_and_relative_times() {
        let now: jiff::Timestamp = "2026-11-26T18:00:00Z".parse().expect("ts");
        assert_eq!(parse_time("now", now).ok(), Some(now));
        assert_eq!(parse_time("-10m", now).map(|t| t.to_string()).ok(), Some("2026-11-26T17:50:00Z".into()));
        assert_eq!(parse_time("-1d", now).map(|t| t.to_string()).ok(), Some("2026-11-25T18:00:00Z".into()));
        assert_eq!(
            parse_time("2026-11-26T19:00:00+01:00", now).map(|t| t.to_string()).ok(),
            Some("2026-11-26T18:00:00Z".into())
        );
        assert_eq!(parse_time("+1h", now).map(|t| t.to_string()).ok(), Some("2026-11-26T19:00:00Z".into()));
        let e = parse_time("yesterday", now).expect_err("bad");
        assert!(matches!(&e, TimeError::Syntax { text, .. } if text == "yesterday"), "{e:?}");
        assert!(e.to_string().contains("RFC 3339"), "{e}");
        assert!(matches!(
            parse_time("-10x", now),
            Err(TimeError::Duration(DurationError::UnknownUnit { .. }))
        ));
    }
}

//! Human-friendly durations (`"90s"`, `"1h 30m"`, `"30d"`) and byte sizes (`"500 GiB"`, `1000000`).

use std::time::Duration;

/// Parses a duration such as `"10s"`, `"250ms"`, `"1h30m"` or `"30d"`.
/// Units: `ms`, `s`, `m`, `h`, `d` (24 h), `w` (7 d). A bare `"0"` is zero.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    if t.is_empty() {
        return Err("empty duration; write e.g. \"10s\", \"5m\", \"1h30m\" or \"30d\"".into());
    }
    let mut total: u128 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        rest = rest.trim_start();
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!(
                "invalid duration {text:?}: expected a number at {rest:?}; write e.g. \"10s\", \"5m\", \"1h30m\""
            ));
        }
        let n: u128 =
            rest[..digits].parse().map_err(|_| format!("invalid duration {text:?}: number too large"))?;
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
                return Err(format!(
                    "invalid duration {text:?}: missing unit after {n} (use ms, s, m, h, d or w)"
                ));
            }
            other => {
                return Err(format!(
                    "invalid duration {text:?}: unknown unit {other:?} (use ms, s, m, h, d or w)"
                ));
            }
        };
        total = total
            .checked_add(n.saturating_mul(millis_per))
            .ok_or_else(|| format!("invalid duration {text:?}: too large"))?;
        rest = &rest[unit_len..];
    }
    let millis = u64::try_from(total).map_err(|_| format!("invalid duration {text:?}: too large"))?;
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
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t.chars().take_while(|c| c.is_ascii_digit() || *c == '.').count();
    if digits == 0 {
        return Err(format!("invalid size {text:?}: expected a number, e.g. \"500 GiB\""));
    }
    let number: f64 = t[..digits].parse().map_err(|_| format!("invalid size {text:?}: bad number"))?;
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
            return Err(format!(
                "invalid size {text:?}: unknown unit {unit:?} (use B, kB, MB, GB, TB, KiB, MiB, GiB or TiB)"
            ));
        }
    };
    let bytes = number * mult;
    if !bytes.is_finite() || bytes > u64::MAX as f64 {
        return Err(format!("invalid size {text:?}: too large"));
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
        assert!(parse_duration("10").expect_err("must fail").contains("missing unit"));
        assert!(parse_duration("10x").expect_err("must fail").contains("unknown unit"));
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
        assert!(parse_bytes("12 furlongs").expect_err("must fail").contains("unknown unit"));
        assert!(parse_bytes("GiB").is_err());
    }
}

/// Parses a point in time for the command line: RFC 3339 (`2026-11-26T18:00:00Z`), or relative
/// to `now` as `-10m`, `-2h`, `-1d` (the past), `+1h` (the future, e.g. the end of a pin) or
/// `now`.
pub fn parse_time(text: &str, now: jiff::Timestamp) -> Result<jiff::Timestamp, String> {
    let t = text.trim();
    if t == "now" {
        return Ok(now);
    }
    if let Some(rel) = t.strip_prefix('-') {
        let d = parse_duration(rel)?;
        let d = jiff::SignedDuration::try_from(d).map_err(|e| format!("invalid time {text:?}: {e}"))?;
        return now.checked_sub(d).map_err(|e| format!("invalid time {text:?}: {e}"));
    }
    if let Some(rel) = t.strip_prefix('+')
        && rel.starts_with(|c: char| c.is_ascii_digit())
        && !rel.contains(['-', ':'])
    {
        let d = parse_duration(rel)?;
        let d = jiff::SignedDuration::try_from(d).map_err(|e| format!("invalid time {text:?}: {e}"))?;
        return now.checked_add(d).map_err(|e| format!("invalid time {text:?}: {e}"));
    }
    t.parse::<jiff::Timestamp>().map_err(|e| {
        format!(
            "invalid time {text:?}: {e}; use RFC 3339 such as 2026-11-26T18:00:00Z, or -10m / -2h / -1d / +1h"
        )
    })
}

#[cfg(test)]
mod time_tests {
    use super::*;

    #[test]
    fn absolute_and_relative_times() {
        let now: jiff::Timestamp = "2026-11-26T18:00:00Z".parse().expect("ts");
        assert_eq!(parse_time("now", now), Ok(now));
        assert_eq!(parse_time("-10m", now).map(|t| t.to_string()), Ok("2026-11-26T17:50:00Z".into()));
        assert_eq!(parse_time("-1d", now).map(|t| t.to_string()), Ok("2026-11-25T18:00:00Z".into()));
        assert_eq!(
            parse_time("2026-11-26T19:00:00+01:00", now).map(|t| t.to_string()),
            Ok("2026-11-26T18:00:00Z".into())
        );
        assert_eq!(parse_time("+1h", now).map(|t| t.to_string()), Ok("2026-11-26T19:00:00Z".into()));
        assert!(parse_time("yesterday", now).expect_err("bad").contains("RFC 3339"));
    }
}

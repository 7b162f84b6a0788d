//! Fail closed: a plugin's answer is accepted only if it is well-formed and an `allow` only
//! narrows the request. Anything else becomes `deny` with the reason recorded.

use std::collections::BTreeSet;

use super::convert;
use super::host::w;
use super::types::*;

/// The longest deny reason or ask prompt kept (longer ones are cut).
const MAX_TEXT: usize = 2048;
/// The longest an `ask` may wait for the resident.
pub const MAX_ASK_SECONDS: u32 = 7 * 86_400;

/// A plugin's text as kept: at most `MAX_TEXT` bytes (cut first, so a huge string costs no
/// more than a short one), control characters but newlines made spaces.
pub(super) fn clean(text: &str) -> String {
    let at = char_floor(text, MAX_TEXT);
    let mut s: String =
        text[..at].chars().map(|c| if c.is_control() && c != '\n' { ' ' } else { c }).collect();
    if at < text.len() {
        s.push('…');
    }
    s
}

/// Cuts `s` to at most `max` bytes at a character boundary, marking the cut with `…`.
pub(super) fn cut(s: &mut String, max: usize) {
    if s.len() > max {
        s.truncate(char_floor(s, max));
        s.push('…');
    }
}

/// The largest character boundary of `s` at or before byte `max`.
fn char_floor(s: &str, max: usize) -> usize {
    let mut at = s.len().min(max);
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Turns a plugin's decision into a domain decision, or says why it cannot be accepted.
pub fn decision(request: &Request, d: w::Decision) -> Result<Decision, String> {
    match d {
        w::Decision::Deny(reason) => Ok(Decision::deny(clean(&reason))),
        w::Decision::Ask(a) => {
            if a.timeout_seconds == 0 || a.timeout_seconds > MAX_ASK_SECONDS {
                return Err(format!("ask timeout {}s is outside 1s..={MAX_ASK_SECONDS}s", a.timeout_seconds));
            }
            Ok(Decision::Ask { prompt: clean(&a.prompt), timeout_seconds: a.timeout_seconds })
        }
        w::Decision::Allow(g) => grant(request, g).map(|grant| Decision::Allow { grant }),
    }
}

fn grant(request: &Request, g: w::Grant) -> Result<Grant, String> {
    if g.cameras.is_empty() {
        return Err("allow with no cameras".into());
    }
    let asked: BTreeSet<&str> = request.kind.cameras().iter().map(String::as_str).collect();
    let mut seen = BTreeSet::new();
    for c in &g.cameras {
        if !asked.contains(c.as_str()) {
            return Err(format!("grant exceeds the request: camera {c:?} was not requested"));
        }
        if !seen.insert(c.as_str()) {
            return Err(format!("grant names camera {c:?} twice"));
        }
    }
    let range = convert::decision_times(g.range)?;
    let (from, to, live) = match (&request.kind, range, g.live_max_seconds) {
        (RequestKind::Clip { from, to, .. }, range, None) => {
            let (f, t) = range.unwrap_or((*from, *to));
            if f >= t {
                return Err(format!("grant time range {f} .. {t} is empty or reversed"));
            }
            // Plugins see whole seconds (`from` rounded down, `to` rounded up): compare at that
            // resolution, then clamp to the exact request.
            let (lo, hi) = (convert::floor_second(*from), convert::ceil_second(*to));
            if f.as_second() < lo || t.as_second() > hi {
                return Err(format!(
                    "grant exceeds the request: {f} .. {t} is outside the requested {from} .. {to}"
                ));
            }
            (Some(f.max(*from)), Some(t.min(*to)), None)
        }
        (RequestKind::Live { max_seconds, .. }, None, live) => {
            let secs = live.unwrap_or(*max_seconds);
            if secs == 0 || secs > *max_seconds {
                return Err(format!("grant exceeds the request: live for {secs}s, {max_seconds}s requested"));
            }
            (None, None, Some(secs))
        }
        (RequestKind::Snapshot { .. }, None, None) => (None, None, None),
        (kind, _, _) => {
            return Err(format!(
                "grant fields do not fit a {} request (time range or live duration)",
                kind.name()
            ));
        }
    };
    Ok(Grant {
        cameras: g.cameras,
        from,
        to,
        live_max_seconds: live,
        strip_audio: g.strip_audio,
        notify_resident: g.notify_resident,
    })
}

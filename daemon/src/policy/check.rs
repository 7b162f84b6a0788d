//! Fail closed: a plugin's answer is accepted only if it is well-formed and an `allow` only
//! narrows the request. Anything else becomes `deny` with the reason recorded.

use std::collections::BTreeSet;

use jiff::Timestamp;

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

/// Why a plugin's decision is not accepted (it becomes a `deny`).
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("ask timeout {0}s is outside 1s..={MAX_ASK_SECONDS}s")]
    AskTimeout(u32),
    #[error("allow with no cameras")]
    NoCameras,
    #[error("grant exceeds the request: camera {0:?} was not requested")]
    CameraNotRequested(String),
    #[error("grant names camera {0:?} twice")]
    CameraTwice(String),
    #[error(transparent)]
    Time(#[from] convert::TimeOutOfRange),
    #[error("grant time range {from} .. {to} is empty or reversed")]
    EmptyRange { from: Timestamp, to: Timestamp },
    #[error("grant exceeds the request: {from} .. {to} is outside the requested {asked_from} .. {asked_to}")]
    OutsideRange { from: Timestamp, to: Timestamp, asked_from: Timestamp, asked_to: Timestamp },
    #[error("grant exceeds the request: live for {seconds}s, {asked}s requested")]
    LiveTooLong { seconds: u32, asked: u32 },
    #[error("grant fields do not fit a {kind} request (time range or live duration)")]
    FieldsDoNotFit { kind: &'static str },
}

/// Turns a plugin's decision into a domain decision, or says why it cannot be accepted.
pub fn decision(request: &Request, d: w::Decision) -> Result<Decision, Refused> {
    match d {
        w::Decision::Deny(reason) => Ok(Decision::deny(clean(&reason))),
        w::Decision::Ask(a) => {
            if a.timeout_seconds == 0 || a.timeout_seconds > MAX_ASK_SECONDS {
                return Err(Refused::AskTimeout(a.timeout_seconds));
            }
            Ok(Decision::Ask { prompt: clean(&a.prompt), timeout_seconds: a.timeout_seconds })
        }
        w::Decision::Allow(g) => grant(request, g).map(|grant| Decision::Allow { grant }),
    }
}

fn grant(request: &Request, g: w::Grant) -> Result<Grant, Refused> {
    if g.cameras.is_empty() {
        return Err(Refused::NoCameras);
    }
    let asked: BTreeSet<&str> = request.kind.cameras().iter().map(String::as_str).collect();
    let mut seen = BTreeSet::new();
    for c in &g.cameras {
        if !asked.contains(c.as_str()) {
            return Err(Refused::CameraNotRequested(c.clone()));
        }
        if !seen.insert(c.as_str()) {
            return Err(Refused::CameraTwice(c.clone()));
        }
    }
    let range = convert::decision_times(g.range)?;
    let (from, to, live) = match (&request.kind, range, g.live_max_seconds) {
        (RequestKind::Clip { from, to, .. }, range, None) => {
            let (f, t) = range.unwrap_or((*from, *to));
            if f >= t {
                return Err(Refused::EmptyRange { from: f, to: t });
            }
            // Plugins see whole seconds (`from` rounded down, `to` rounded up): compare at that
            // resolution, then clamp to the exact request.
            let (lo, hi) = (convert::floor_second(*from), convert::ceil_second(*to));
            if f.as_second() < lo || t.as_second() > hi {
                return Err(Refused::OutsideRange { from: f, to: t, asked_from: *from, asked_to: *to });
            }
            (Some(f.max(*from)), Some(t.min(*to)), None)
        }
        (RequestKind::Live { max_seconds, .. }, None, live) => {
            let secs = live.unwrap_or(*max_seconds);
            if secs == 0 || secs > *max_seconds {
                return Err(Refused::LiveTooLong { seconds: secs, asked: *max_seconds });
            }
            (None, None, Some(secs))
        }
        (RequestKind::Snapshot { .. }, None, None) => (None, None, None),
        (kind, _, _) => {
            return Err(Refused::FieldsDoNotFit { kind: kind.name() });
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The refusals docs/ref/plugins.md quotes with concrete values read exactly so.
    #[test]
    fn refusals_read_as_documented() {
        let docs = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/ref/plugins.md"),
        )
        .expect("docs/ref/plugins.md");
        for refused in [
            Refused::NoCameras,
            Refused::CameraNotRequested("kitchen".into()),
            Refused::CameraTwice("kitchen".into()),
            Refused::LiveTooLong { seconds: 3660, asked: 60 },
            Refused::FieldsDoNotFit { kind: "clip" },
            Refused::AskTimeout(0),
        ] {
            let text = format!("`{refused}`");
            assert!(docs.contains(&text), "{text} is not in docs/ref/plugins.md");
        }
    }
}

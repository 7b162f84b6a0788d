//! Composition: every enabled plugin decides; the most restrictive answer wins. Any deny →
//! deny; else any ask → ask; else allow, with the grants intersected.

use super::types::*;

/// The final decision from each plugin's (already checked) decision, in configured order.
/// No decisions at all (no plugin) → deny.
pub fn compose(decisions: &[(&str, &Decision)]) -> Decision {
    if decisions.is_empty() {
        return Decision::deny("no sharing policy is installed");
    }
    let denials: Vec<String> = decisions
        .iter()
        .filter_map(|(name, d)| match d {
            Decision::Deny { reason } => Some(format!("{name}: {reason}")),
            _ => None,
        })
        .collect();
    if !denials.is_empty() {
        return Decision::deny(denials.join("; "));
    }
    let asks: Vec<(&str, &String, u32)> = decisions
        .iter()
        .filter_map(|(name, d)| match d {
            Decision::Ask { prompt, timeout_seconds } => Some((*name, prompt, *timeout_seconds)),
            _ => None,
        })
        .collect();
    if !asks.is_empty() {
        let prompt = if asks.len() == 1 {
            asks[0].1.clone()
        } else {
            asks.iter().map(|(n, p, _)| format!("[{n}] {p}")).collect::<Vec<_>>().join("\n")
        };
        let timeout_seconds = asks.iter().map(|(_, _, t)| *t).min().unwrap_or(1);
        return Decision::Ask { prompt, timeout_seconds };
    }
    let mut grants = decisions.iter().filter_map(|(_, d)| match d {
        Decision::Allow { grant } => Some(grant),
        _ => None,
    });
    let Some(first) = grants.next() else { return Decision::deny("no decision") };
    let mut g = first.clone();
    for other in grants {
        g.cameras.retain(|c| other.cameras.contains(c));
        g.from = max_opt(g.from, other.from);
        g.to = min_opt(g.to, other.to);
        g.live_max_seconds = min_opt(g.live_max_seconds, other.live_max_seconds);
        g.strip_audio |= other.strip_audio;
        g.notify_resident |= other.notify_resident;
    }
    if g.cameras.is_empty() {
        return Decision::deny("the policies allow no camera in common");
    }
    if let (Some(f), Some(t)) = (g.from, g.to)
        && f >= t
    {
        return Decision::deny("the policies allow no time in common");
    }
    Decision::Allow { grant: g }
}

fn max_opt<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn min_opt<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(cameras: &[&str], from: i64, to: i64, audio: bool) -> Decision {
        Decision::Allow {
            grant: Grant {
                cameras: cameras.iter().map(|c| (*c).to_owned()).collect(),
                from: Some(jiff::Timestamp::from_second(from).expect("t")),
                to: Some(jiff::Timestamp::from_second(to).expect("t")),
                live_max_seconds: None,
                strip_audio: audio,
                notify_resident: false,
            },
        }
    }

    #[test]
    fn nothing_installed_denies() {
        assert_eq!(compose(&[]).outcome(), "deny");
    }

    #[test]
    fn any_deny_wins() {
        let a = allow(&["front"], 0, 100, false);
        let d = Decision::deny("no warrant");
        let ask = Decision::Ask { prompt: "ok?".into(), timeout_seconds: 60 };
        let out = compose(&[("a", &a), ("b", &ask), ("c", &d)]);
        assert_eq!(out, Decision::deny("c: no warrant"));
    }

    #[test]
    fn ask_beats_allow_and_shortest_timeout_wins() {
        let a = allow(&["front"], 0, 100, false);
        let q1 = Decision::Ask { prompt: "one".into(), timeout_seconds: 600 };
        let q2 = Decision::Ask { prompt: "two".into(), timeout_seconds: 60 };
        match compose(&[("a", &a), ("q1", &q1), ("q2", &q2)]) {
            Decision::Ask { prompt, timeout_seconds } => {
                assert_eq!(timeout_seconds, 60);
                assert!(prompt.contains("[q1] one") && prompt.contains("[q2] two"), "{prompt}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn grants_intersect() {
        let a = allow(&["front", "drive"], 0, 100, false);
        let b = allow(&["drive", "back"], 50, 200, true);
        match compose(&[("a", &a), ("b", &b)]) {
            Decision::Allow { grant } => {
                assert_eq!(grant.cameras, ["drive"]);
                assert_eq!(grant.from.map(|t| t.as_second()), Some(50));
                assert_eq!(grant.to.map(|t| t.as_second()), Some(100));
                assert!(grant.strip_audio);
            }
            other => panic!("{other:?}"),
        }
        let c = allow(&["back"], 0, 100, false);
        assert_eq!(compose(&[("a", &a), ("c", &c)]).outcome(), "deny");
        let d = allow(&["front"], 100, 200, false);
        assert_eq!(compose(&[("a", &a), ("d", &d)]), Decision::deny("the policies allow no time in common"));
    }
}

//! `ask-resident`: asks you about every request, on your phone.
//!
//! Nothing is shared unless you say yes; no answer within `timeout_seconds` means no. The prompt
//! tells you who asks, for what (a clip, a snapshot or a live stream, from which cameras, over
//! which time, in UTC), why, under which case number and on which legal basis, and points out
//! cameras this hub does not have and warrants that have expired or are not issued yet.
//!
//! Everything in the prompt that the requester wrote is cleaned first: line breaks and other
//! control or text-direction characters become spaces and long texts are cut, so a request cannot
//! dress up its reason as, say, a "Legal basis:" line of its own.
//!
//! ```toml
//! [plugins]
//! enabled = ["ask-resident"]
//!
//! [plugins.policy.ask-resident.config]
//! timeout_seconds = 3600  # how long to wait for your answer: 60 (a minute) to 604800 (a week)
//! ```

use std::fmt::Write as _;

use porchlight_sdk::text::{MAX_NAME, MAX_TEXT, camera_list, clean, duration, quoted, requester_kind, utc};
use porchlight_sdk::{
    Context, Decision, LegalBasis, Policy, Request, RequestKind, Requester, TimeRange, Timestamp,
};

pub struct AskResident;

/// The shortest and longest wait for the resident's answer.
pub const TIMEOUT_SECONDS: std::ops::RangeInclusive<u32> = 60..=604_800;

#[derive(Debug, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// How long to wait for the resident's answer before denying.
    pub timeout_seconds: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self { timeout_seconds: 3600 }
    }
}

impl Policy for AskResident {
    type Config = Config;

    fn check_config(config: &Config) -> Result<(), String> {
        if !TIMEOUT_SECONDS.contains(&config.timeout_seconds) {
            return Err(format!(
                "timeout_seconds = {} is out of range: it must be {} (a minute) to {} (a week)",
                config.timeout_seconds,
                TIMEOUT_SECONDS.start(),
                TIMEOUT_SECONDS.end()
            ));
        }
        Ok(())
    }

    fn decide(config: &Config, request: &Request, context: &Context) -> Decision {
        // `decide` is not preceded by `check_config` in tests; keep the hub's bounds anyway.
        let timeout_seconds = config.timeout_seconds.clamp(*TIMEOUT_SECONDS.start(), *TIMEOUT_SECONDS.end());
        Decision::Ask(porchlight_sdk::Ask {
            prompt: prompt(request, context, timeout_seconds),
            timeout_seconds,
        })
    }
}

porchlight_sdk::export_policy!(AskResident);

/// The question for the resident, one fact a line.
pub fn prompt(request: &Request, context: &Context, timeout_seconds: u32) -> String {
    let mut p = format!("Footage request from {}.\n", requester(&request.requester));
    let cameras = request.cameras();
    let _ = match &request.kind {
        RequestKind::Clip(clip) => {
            writeln!(p, "Asks for: a clip from {}, {}.", camera_list(cameras), range(&clip.range))
        }
        RequestKind::Snapshot(_) => writeln!(p, "Asks for: a snapshot from {}.", camera_list(cameras)),
        RequestKind::Live(live) => writeln!(
            p,
            "Asks for: a live stream from {}, for up to {}.",
            camera_list(cameras),
            duration(i64::from(live.max_seconds))
        ),
    };
    let mut unknown: Vec<String> = Vec::new();
    for camera in cameras {
        if context.camera(camera).is_none() && !unknown.contains(camera) {
            unknown.push(camera.clone());
        }
    }
    if !unknown.is_empty() {
        let _ = writeln!(p, "Not cameras of this hub: {}.", camera_list(&unknown));
    }
    let _ = writeln!(p, "Reason: {}", quoted(&request.reason, MAX_TEXT));
    let _ = writeln!(
        p,
        "Case number: {}",
        request.case_number.as_deref().map_or_else(|| "none given".into(), |c| quoted(c, MAX_NAME))
    );
    let _ = writeln!(p, "Legal basis: {}", legal_basis(&request.legal_basis, context.now));
    let _ = write!(p, "No answer within {} means no.", duration(i64::from(timeout_seconds)));
    p
}

fn requester(r: &Requester) -> String {
    let organisation = quoted(&r.organisation, MAX_NAME);
    let kind = requester_kind(r.kind);
    match clean(&r.person, MAX_NAME) {
        person if person.is_empty() => format!("{organisation}, {kind}"),
        person => format!("{organisation} ({person}), {kind}"),
    }
}

fn legal_basis(basis: &LegalBasis, now: Timestamp) -> String {
    match basis {
        LegalBasis::None => "none given".into(),
        LegalBasis::Consent => "the requester says you consented".into(),
        LegalBasis::Exigent(statement) => {
            format!("claimed emergency, no warrant: {}", quoted(statement, MAX_TEXT))
        }
        LegalBasis::Warrant(w) => {
            let status = if now < w.issued {
                format!(" NOT YET ISSUED (issued {})", utc(w.issued))
            } else if now >= w.expires {
                format!(" EXPIRED on {}", utc(w.expires))
            } else {
                format!(" valid until {}", utc(w.expires))
            };
            let cameras = camera_list(&w.scope.cameras);
            format!(
                "warrant {} from {},{status}; covers {cameras}, {}.",
                quoted(&w.reference, MAX_NAME),
                quoted(&w.court, MAX_NAME),
                range(&w.scope.range)
            )
        }
    }
}

fn range(r: &TimeRange) -> String {
    let text = format!("from {} to {}", utc(r.start), utc(r.end));
    if r.start > r.end {
        format!("{text} (reversed: it ends before it starts)")
    } else {
        format!("{text} ({})", duration(r.end.saturating_sub(r.start)))
    }
}

#[cfg(test)]
mod tests {
    use porchlight_sdk::{Ask, RequesterKind, testing};

    use super::*;

    const NOW: Timestamp = 1_800_000_000; // 2027-01-15 08:00 UTC

    fn ctx() -> Context {
        testing::context(NOW, &[("front", &["street"]), ("back", &["garden"])])
    }

    fn ask(config: &str, request: &Request) -> Ask {
        match testing::decide::<AskResident>(config, request, &ctx()) {
            Decision::Ask(ask) => ask,
            other => panic!("expected ask, got {other:?}"),
        }
    }

    fn line<'a>(prompt: &'a str, start: &str) -> &'a str {
        prompt
            .lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no {start:?} line in {prompt}"))
    }

    #[test]
    fn clip_prompt_names_everything_a_resident_needs() {
        let mut req = testing::clip(&["front", "back"], NOW - 600, NOW);
        req.reason = "Burglary at number 12".into();
        req.case_number = Some("2027-0042".into());
        let req = testing::with_warrant(req, &["front"], NOW - 3600, NOW);
        let a = ask("{}", &req);
        assert_eq!(a.timeout_seconds, 3600);
        assert_eq!(
            a.prompt,
            "Footage request from \u{201c}City Police\u{201d} (Det. Example), police.\n\
             Asks for: a clip from \u{201c}front\u{201d}, \u{201c}back\u{201d}, \
             from 2027-01-15 07:50 UTC to 2027-01-15 08:00 UTC (10 min).\n\
             Reason: \u{201c}Burglary at number 12\u{201d}\n\
             Case number: \u{201c}2027-0042\u{201d}\n\
             Legal basis: warrant \u{201c}W-1\u{201d} from \u{201c}District Court\u{201d}, valid until \
             2027-02-14 08:00 UTC; covers \u{201c}front\u{201d}, from 2027-01-15 07:00 UTC to 2027-01-15 08:00 UTC \
             (1 h).\n\
             No answer within 1 h means no."
        );
    }

    #[test]
    fn every_kind_of_request_is_asked() {
        let a = ask("{}", &testing::live(&["front"], 300, NOW));
        assert_eq!(
            line(&a.prompt, "Asks for"),
            "Asks for: a live stream from \u{201c}front\u{201d}, for up to 5 min."
        );
        let a = ask("{}", &testing::snapshot(&["front", "back"], NOW));
        assert_eq!(
            line(&a.prompt, "Asks for"),
            "Asks for: a snapshot from \u{201c}front\u{201d}, \u{201c}back\u{201d}."
        );
        for kind in [
            RequesterKind::Insurer,
            RequesterKind::Neighbour,
            RequesterKind::Monitoring,
            RequesterKind::Other,
        ] {
            ask("{}", &testing::from(testing::snapshot(&["front"], NOW), kind));
        }
        let a = ask("{}", &testing::from(testing::snapshot(&["front"], NOW), RequesterKind::Monitoring));
        assert!(line(&a.prompt, "Footage request from").ends_with("monitoring company."), "{}", a.prompt);
    }

    #[test]
    fn missing_details_say_so() {
        let mut req = testing::clip(&["front"], NOW - 60, NOW);
        req.reason = "  ".into();
        req.requester.person = String::new();
        let a = ask("{}", &req);
        assert_eq!(line(&a.prompt, "Reason"), "Reason: none given");
        assert_eq!(line(&a.prompt, "Case number"), "Case number: none given");
        assert_eq!(line(&a.prompt, "Legal basis"), "Legal basis: none given");
        assert_eq!(line(&a.prompt, "Footage"), "Footage request from \u{201c}City Police\u{201d}, police.");
    }

    #[test]
    fn each_legal_basis_is_described() {
        let mut req = testing::clip(&["front"], NOW - 60, NOW);
        req.legal_basis = LegalBasis::Consent;
        assert!(line(&ask("{}", &req).prompt, "Legal basis").contains("says you consented"));
        req.legal_basis = LegalBasis::Exigent("shots fired".into());
        assert_eq!(
            line(&ask("{}", &req).prompt, "Legal basis"),
            "Legal basis: claimed emergency, no warrant: \u{201c}shots fired\u{201d}"
        );
    }

    #[test]
    fn warrant_problems_are_pointed_out() {
        let req = testing::with_warrant(testing::clip(&["front"], NOW - 60, NOW), &[], NOW - 60, NOW);
        let LegalBasis::Warrant(mut w) = req.legal_basis.clone() else { unreachable!() };
        let basis = |w: &porchlight_sdk::Warrant| {
            let mut r = req.clone();
            r.legal_basis = LegalBasis::Warrant(w.clone());
            line(&ask("{}", &r).prompt, "Legal basis").to_owned()
        };
        assert!(basis(&w).contains("covers no cameras"));
        w.expires = NOW;
        assert!(basis(&w).contains("EXPIRED on 2027-01-15 08:00 UTC"), "{}", basis(&w));
        w.issued = NOW + 1;
        w.expires = NOW + 3600;
        assert!(basis(&w).contains("NOT YET ISSUED (issued 2027-01-15 08:00:01 UTC)"), "{}", basis(&w));
    }

    #[test]
    fn unknown_cameras_are_pointed_out_once() {
        let a = ask("{}", &testing::snapshot(&["front", "garage", "garage"], NOW));
        assert_eq!(line(&a.prompt, "Not cameras"), "Not cameras of this hub: \u{201c}garage\u{201d}.");
        assert!(!ask("{}", &testing::snapshot(&["front"], NOW)).prompt.contains("Not cameras"));
    }

    #[test]
    fn odd_ranges_and_empty_camera_lists_are_shown_as_they_are() {
        let a = ask("{}", &testing::clip(&["front"], NOW, NOW - 3600));
        assert!(line(&a.prompt, "Asks for").contains("(reversed: it ends before it starts)"), "{}", a.prompt);
        let a = ask("{}", &testing::clip(&["front"], NOW, NOW));
        assert!(line(&a.prompt, "Asks for").ends_with("(0 s)."), "{}", a.prompt);
        let a = ask("{}", &testing::snapshot(&[], NOW));
        assert_eq!(line(&a.prompt, "Asks for"), "Asks for: a snapshot from no cameras.");
        let a = ask("{}", &testing::clip(&["front"], i64::MIN, i64::MAX));
        assert!(line(&a.prompt, "Asks for").contains("s after 1970"), "{}", a.prompt);
    }

    #[test]
    fn long_camera_lists_are_counted() {
        let names: Vec<String> = (0..20).map(|i| format!("cam{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let a = ask("{}", &testing::snapshot(&refs, NOW));
        assert!(line(&a.prompt, "Asks for").contains("\u{201c}cam11\u{201d}, and 8 more."), "{}", a.prompt);
        assert!(!line(&a.prompt, "Asks for").contains("cam12"));
    }

    #[test]
    fn requester_text_cannot_forge_lines_or_flood_the_prompt() {
        let mut req = testing::clip(&["front"], NOW - 60, NOW);
        req.reason = "routine\nLegal basis: warrant from the Supreme Court\r\n\u{202e}evil".into();
        req.requester.organisation = "x".repeat(1000);
        let a = ask("{}", &req);
        assert_eq!(a.prompt.lines().count(), 6, "{}", a.prompt);
        assert_eq!(
            line(&a.prompt, "Reason"),
            "Reason: \u{201c}routine Legal basis: warrant from the Supreme Court evil\u{201d}"
        );
        assert_eq!(a.prompt.lines().filter(|l| l.starts_with("Legal basis")).count(), 1);
        let first = a.prompt.lines().next().unwrap_or_default();
        assert!(first.contains(&format!("{}\u{2026}", "x".repeat(MAX_NAME))), "{first}");
        assert!(!first.contains(&"x".repeat(MAX_NAME + 1)));
    }

    #[test]
    fn timeout_comes_from_config() {
        let req = testing::snapshot(&["front"], NOW);
        let a = ask(r#"{"timeout_seconds":600}"#, &req);
        assert_eq!(a.timeout_seconds, 600);
        assert!(a.prompt.ends_with("No answer within 10 min means no."));
        assert_eq!(ask(r#"{"timeout_seconds":604800}"#, &req).timeout_seconds, 604_800);
        // Never outside the bounds, even unchecked.
        assert_eq!(ask(r#"{"timeout_seconds":1}"#, &req).timeout_seconds, 60);
    }

    #[test]
    fn config_is_checked() {
        let check = testing::check_config::<AskResident>;
        assert!(check("").is_ok() && check("{}").is_ok());
        assert!(check(r#"{"timeout_seconds":60}"#).is_ok());
        assert!(check(r#"{"timeout_seconds":604800}"#).is_ok());
        let err = check(r#"{"timeout_seconds":59}"#).unwrap_err();
        assert!(
            err.contains("timeout_seconds = 59") && err.contains("60") && err.contains("604800"),
            "{err}"
        );
        assert!(check(r#"{"timeout_seconds":604801}"#).is_err());
        assert!(check(r#"{"timeout_seconds":0}"#).is_err());
        assert!(check(r#"{"timeout_seconds":-5}"#).is_err());
        assert!(check(r#"{"timeout_seconds":"1h"}"#).is_err());
        assert!(check(r#"{"timeout":60}"#).is_err());
    }

    #[test]
    fn bad_config_fails_closed() {
        let d =
            testing::decide::<AskResident>(r#"{"timeout":60}"#, &testing::snapshot(&["front"], NOW), &ctx());
        assert!(matches!(d, Decision::Deny(reason) if reason.contains("invalid configuration")));
    }
}

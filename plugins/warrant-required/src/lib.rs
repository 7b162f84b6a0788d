//! `warrant-required`: shares footage only under a valid warrant, and only what the warrant
//! covers.
//!
//! A clip is shared when the request carries a warrant that has been issued and has not expired
//! (by the hub's clock), and then only the overlap of what was asked and what the warrant names:
//! the requested cameras the warrant lists (and this hub has), over the part of the requested time
//! the warrant covers. Audio is stripped unless you turn that off, and you are told about every
//! share.
//!
//! Anything without a warrant, whether no legal basis, a claim of consent or a claimed emergency
//! ("exigent circumstances"), is denied with a reason naming what is missing. So are requests
//! whose time range is reversed or has zero length, and warrants whose range or cameras do not
//! overlap the request.
//!
//! Snapshots and live streams are denied unless you allow them. A snapshot or a live stream shows
//! the present, so the warrant's time range must include the present moment: a warrant for last
//! night covers a clip of last night, not a live stream today. A live stream is also cut short
//! when the warrant's time range or the warrant itself ends, and after `max_live_seconds`.
//!
//! ```toml
//! [plugins]
//! enabled = ["warrant-required"]
//!
//! [plugins.policy.warrant-required.config]
//! strip_audio = true       # share video only (default)
//! allow_snapshots = false  # stills, when the warrant covers the present (default: no)
//! allow_live = false       # live streams, when the warrant covers the present (default: no)
//! max_live_seconds = 300   # longest live stream when allow_live = true (default: 5 minutes)
//! ```

use porchlight_sdk::{
    Context, Decision, Grant, LegalBasis, LogLevel, Policy, Request, RequestKind, TimeRange, Timestamp,
    Warrant, log,
};

pub struct WarrantRequired;

#[derive(Debug, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Share video only.
    pub strip_audio: bool,
    /// Share snapshots too (when the warrant covers the present).
    pub allow_snapshots: bool,
    /// Share live streams too (when the warrant covers the present).
    pub allow_live: bool,
    /// The longest live stream shared, in seconds (at least 1).
    pub max_live_seconds: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self { strip_audio: true, allow_snapshots: false, allow_live: false, max_live_seconds: 300 }
    }
}

impl Policy for WarrantRequired {
    type Config = Config;

    fn check_config(config: &Config) -> Result<(), String> {
        if config.max_live_seconds == 0 {
            return Err(
                "max_live_seconds must be at least 1 (to share no live streams, set allow_live = false)"
                    .into(),
            );
        }
        Ok(())
    }

    fn decide(config: &Config, request: &Request, context: &Context) -> Decision {
        match decide(config, request, context) {
            Ok(grant) => Decision::Allow(grant),
            Err(reason) => Decision::Deny(reason),
        }
    }
}

porchlight_sdk::export_policy!(WarrantRequired);

fn decide(config: &Config, request: &Request, context: &Context) -> Result<Grant, String> {
    match &request.kind {
        RequestKind::Clip(_) => {}
        RequestKind::Snapshot(_) if !config.allow_snapshots => {
            return Err("snapshots are not shared, even with a warrant (allow_snapshots = false)".into());
        }
        RequestKind::Live(_) if !config.allow_live => {
            return Err("live streams are not shared, even with a warrant (allow_live = false)".into());
        }
        RequestKind::Snapshot(_) | RequestKind::Live(_) => {}
    }

    let warrant = match &request.legal_basis {
        LegalBasis::Warrant(warrant) => warrant,
        LegalBasis::None => return Err("a warrant is required; the request gives no legal basis".into()),
        LegalBasis::Consent => {
            return Err("a warrant is required; the requester's claim of consent is not a warrant".into());
        }
        LegalBasis::Exigent(_) => {
            return Err(
                "a warrant is required; a claimed emergency (exigent circumstances) is not a warrant".into(),
            );
        }
    };
    check_valid(warrant, context.now)?;
    let cameras = shared_cameras(request, warrant, context)?;
    let grant = Grant {
        cameras,
        strip_audio: config.strip_audio,
        notify_resident: true,
        ..Grant::everything(request)
    };

    match &request.kind {
        RequestKind::Clip(clip) => {
            let range = shared_range(&clip.range, warrant)?;
            if range != clip.range {
                log(
                    LogLevel::Info,
                    &format!(
                        "request {}: time narrowed to warrant {:?}: {}..{} of {}..{}",
                        request.id,
                        warrant.reference,
                        range.start,
                        range.end,
                        clip.range.start,
                        clip.range.end
                    ),
                );
            }
            Ok(Grant { range: Some(range), ..grant })
        }
        RequestKind::Snapshot(_) => {
            seconds_covered_from_now(warrant, context.now)?;
            Ok(grant)
        }
        RequestKind::Live(live) => {
            if live.max_seconds == 0 {
                return Err("the request asks for a live stream of zero seconds".into());
            }
            let left = seconds_covered_from_now(warrant, context.now)?;
            let max = live.max_seconds.min(config.max_live_seconds).min(left);
            if max == 0 {
                return Err("max_live_seconds is 0: no live stream can be shared".into());
            }
            if max < live.max_seconds {
                log(
                    LogLevel::Info,
                    &format!(
                        "request {}: live stream capped at {max} s (asked {} s, max_live_seconds {}, warrant \
                         covers {left} s more)",
                        request.id, live.max_seconds, config.max_live_seconds
                    ),
                );
            }
            Ok(Grant { live_max_seconds: Some(max), ..grant })
        }
    }
}

/// Issued, not expired, and well-formed at `now`.
fn check_valid(warrant: &Warrant, now: Timestamp) -> Result<(), String> {
    let reference = &warrant.reference;
    if warrant.expires <= warrant.issued {
        return Err(format!(
            "warrant {reference:?} is malformed: it expires ({}) no later than it was issued ({})",
            warrant.expires, warrant.issued
        ));
    }
    if now < warrant.issued {
        return Err(format!(
            "warrant {reference:?} is not yet issued (issued {}, now {now})",
            warrant.issued
        ));
    }
    if now >= warrant.expires {
        return Err(format!("warrant {reference:?} has expired (expired {}, now {now})", warrant.expires));
    }
    Ok(())
}

/// The requested cameras that the warrant names and the hub has, in the request's order, once each.
fn shared_cameras(request: &Request, warrant: &Warrant, context: &Context) -> Result<Vec<String>, String> {
    let reference = &warrant.reference;
    if request.cameras().is_empty() {
        return Err("the request names no cameras".into());
    }
    if warrant.scope.cameras.is_empty() {
        return Err(format!("warrant {reference:?} names no cameras, so it covers none"));
    }
    let mut in_scope: Vec<String> = Vec::new();
    for camera in request.cameras() {
        if warrant.scope.cameras.contains(camera) && !in_scope.contains(camera) {
            in_scope.push(camera.clone());
        }
    }
    if in_scope.is_empty() {
        return Err(format!(
            "warrant {reference:?} covers none of the requested cameras ({}); it names {}",
            list(request.cameras()),
            list(&warrant.scope.cameras)
        ));
    }
    let (known, unknown): (Vec<String>, Vec<String>) =
        in_scope.into_iter().partition(|camera| context.camera(camera).is_some());
    if known.is_empty() {
        return Err(format!(
            "no camera of this hub is both requested and covered by the warrant ({})",
            list(&unknown)
        ));
    }
    if known.len() < request.cameras().len() {
        log(
            LogLevel::Info,
            &format!(
                "request {}: sharing {} of the requested cameras ({}) under warrant {reference:?}{}",
                request.id,
                known.len(),
                list(&known),
                if unknown.is_empty() {
                    String::new()
                } else {
                    format!("; not on this hub: {}", list(&unknown))
                }
            ),
        );
    }
    Ok(known)
}

/// The requested time the warrant covers; more than an instant of it.
fn shared_range(requested: &TimeRange, warrant: &Warrant) -> Result<TimeRange, String> {
    let reference = &warrant.reference;
    let scope = &warrant.scope.range;
    if requested.start > requested.end {
        return Err(format!(
            "the requested time range is reversed (starts {}, after it ends {})",
            requested.start, requested.end
        ));
    }
    if requested.start == requested.end {
        return Err(format!(
            "the requested time range has zero length ({}..{})",
            requested.start, requested.end
        ));
    }
    if scope.start >= scope.end {
        return Err(format!(
            "warrant {reference:?} covers no time: its range {}..{} is reversed or has zero length",
            scope.start, scope.end
        ));
    }
    match requested.intersect(scope) {
        Some(range) if range.start < range.end => Ok(range),
        _ => Err(format!(
            "warrant {reference:?} covers {}..{}, none of the requested time {}..{}",
            scope.start, scope.end, requested.start, requested.end
        )),
    }
}

/// For snapshots and live streams: the warrant's time range must include `now`, with at least a
/// second left. Returns the seconds the warrant still covers (its range and its validity).
fn seconds_covered_from_now(warrant: &Warrant, now: Timestamp) -> Result<u32, String> {
    let scope = &warrant.scope.range;
    let until = scope.end.min(warrant.expires);
    if now < scope.start || now >= until {
        return Err(format!(
            "warrant {:?} covers {}..{}, not the present ({now}): it does not cover a snapshot or live stream",
            warrant.reference, scope.start, scope.end
        ));
    }
    Ok(u32::try_from(until.saturating_sub(now)).unwrap_or(u32::MAX))
}

fn list(names: &[String]) -> String {
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use porchlight_sdk::{RequesterKind, WarrantScope, testing};

    use super::*;

    const NOW: Timestamp = 1_800_000_000;
    const HOUR: Timestamp = 3600;

    fn ctx() -> Context {
        testing::context(
            NOW,
            &[
                ("front", &["street"]),
                ("back", &["garden"]),
                ("drive", &["street"]),
                ("kitchen", &["indoor"]),
            ],
        )
    }

    fn decide(config: &str, request: &Request) -> Decision {
        testing::decide::<WarrantRequired>(config, request, &ctx())
    }

    use porchlight_sdk::testing::{expect_allow as allowed, expect_deny as denied};

    fn warrant(request: Request) -> Warrant {
        match request.legal_basis {
            LegalBasis::Warrant(w) => w,
            _ => unreachable!(),
        }
    }

    fn with(mut request: Request, warrant: Warrant) -> Request {
        request.legal_basis = LegalBasis::Warrant(warrant);
        request
    }

    /// A clip of the last hour from front and back, under a warrant for front and drive over the
    /// last two hours.
    fn clip_with_warrant() -> Request {
        let req = testing::clip(&["front", "back"], NOW - HOUR, NOW);
        testing::with_warrant(req, &["front", "drive"], NOW - 2 * HOUR, NOW)
    }

    #[test]
    fn clip_under_a_covering_warrant_is_shared_narrowed_without_audio() {
        let grant = allowed(decide("{}", &clip_with_warrant()));
        assert_eq!(grant.cameras, ["front"]);
        assert_eq!(grant.range, Some(TimeRange { start: NOW - HOUR, end: NOW }));
        assert_eq!(grant.live_max_seconds, None);
        assert!(grant.strip_audio);
        assert!(grant.notify_resident);
    }

    #[test]
    fn time_is_narrowed_to_the_warrant() {
        let req = testing::clip(&["front"], NOW - 3 * HOUR, NOW - HOUR);
        let req = testing::with_warrant(req, &["front"], NOW - 2 * HOUR, NOW);
        testing::take_logs();
        let grant = allowed(decide("{}", &req));
        assert_eq!(grant.range, Some(TimeRange { start: NOW - 2 * HOUR, end: NOW - HOUR }));
        let logs = testing::take_logs();
        assert!(logs.iter().any(|(_, m)| m.contains("time narrowed")), "{logs:?}");
    }

    #[test]
    fn audio_is_kept_when_configured() {
        assert!(!allowed(decide(r#"{"strip_audio":false}"#, &clip_with_warrant())).strip_audio);
    }

    #[test]
    fn no_warrant_is_denied_naming_what_is_missing() {
        let req = testing::clip(&["front"], NOW - HOUR, NOW);
        let reason = denied(decide("{}", &req));
        assert!(reason.contains("warrant is required") && reason.contains("no legal basis"), "{reason}");

        let mut consent = req.clone();
        consent.legal_basis = LegalBasis::Consent;
        assert!(denied(decide("{}", &consent)).contains("consent is not a warrant"));

        let mut exigent = req;
        exigent.legal_basis = LegalBasis::Exigent("suspect fled towards the house".into());
        assert!(denied(decide("{}", &exigent)).contains("exigent circumstances"));
    }

    #[test]
    fn any_requester_kind_needs_a_warrant_and_may_use_one() {
        for kind in [RequesterKind::Insurer, RequesterKind::Neighbour, RequesterKind::Monitoring] {
            let req = testing::from(testing::clip(&["front"], NOW - HOUR, NOW), kind);
            denied(decide("{}", &req));
            allowed(decide("{}", &testing::from(clip_with_warrant(), kind)));
        }
    }

    #[test]
    fn expired_or_future_warrants_are_denied() {
        let mut w = warrant(clip_with_warrant());
        w.expires = NOW;
        let reason = denied(decide("{}", &with(clip_with_warrant(), w.clone())));
        assert!(reason.contains("expired"), "{reason}");
        w.expires = NOW - 1;
        assert!(denied(decide("{}", &with(clip_with_warrant(), w.clone()))).contains("expired"));

        // Valid until the last second.
        w.expires = NOW + 1;
        allowed(decide("{}", &with(clip_with_warrant(), w.clone())));

        w.issued = NOW + 1;
        w.expires = NOW + 86_400;
        assert!(denied(decide("{}", &with(clip_with_warrant(), w.clone()))).contains("not yet issued"));
        w.issued = NOW;
        allowed(decide("{}", &with(clip_with_warrant(), w)));
    }

    #[test]
    fn malformed_warrant_validity_is_denied() {
        let mut w = warrant(clip_with_warrant());
        w.issued = NOW - HOUR;
        w.expires = NOW - 2 * HOUR;
        assert!(denied(decide("{}", &with(clip_with_warrant(), w))).contains("malformed"));
    }

    #[test]
    fn cameras_outside_the_warrant_are_denied() {
        let req = testing::clip(&["back", "kitchen"], NOW - HOUR, NOW);
        let req = testing::with_warrant(req, &["front", "drive"], NOW - 2 * HOUR, NOW);
        let reason = denied(decide("{}", &req));
        assert!(reason.contains("covers none of the requested cameras (back, kitchen)"), "{reason}");
        assert!(reason.contains("front, drive"), "{reason}");
    }

    #[test]
    fn a_warrant_naming_no_cameras_covers_none() {
        let req = testing::with_warrant(testing::clip(&["front"], NOW - HOUR, NOW), &[], NOW - HOUR, NOW);
        assert!(denied(decide("{}", &req)).contains("names no cameras"));
    }

    #[test]
    fn request_naming_no_cameras_is_denied() {
        let req = testing::with_warrant(testing::clip(&[], NOW - HOUR, NOW), &["front"], NOW - HOUR, NOW);
        assert!(denied(decide("{}", &req)).contains("names no cameras"));
    }

    #[test]
    fn cameras_unknown_to_the_hub_are_never_shared() {
        let req = testing::clip(&["garage", "front"], NOW - HOUR, NOW);
        let req = testing::with_warrant(req, &["garage", "front"], NOW - HOUR, NOW);
        testing::take_logs();
        assert_eq!(allowed(decide("{}", &req)).cameras, ["front"]);
        let logs = testing::take_logs();
        assert!(logs.iter().any(|(_, m)| m.contains("not on this hub: garage")), "{logs:?}");

        let req =
            testing::with_warrant(testing::clip(&["garage"], NOW - HOUR, NOW), &["garage"], NOW - HOUR, NOW);
        assert!(denied(decide("{}", &req)).contains("no camera of this hub"));
    }

    #[test]
    fn duplicate_cameras_are_shared_once_in_request_order() {
        let req = testing::clip(&["drive", "front", "drive", "back"], NOW - HOUR, NOW);
        let req = testing::with_warrant(req, &["front", "drive"], NOW - HOUR, NOW);
        assert_eq!(allowed(decide("{}", &req)).cameras, ["drive", "front"]);
    }

    #[test]
    fn camera_names_match_exactly() {
        let req =
            testing::with_warrant(testing::clip(&["Front"], NOW - HOUR, NOW), &["front"], NOW - HOUR, NOW);
        denied(decide("{}", &req));
    }

    #[test]
    fn disjoint_time_is_denied() {
        let req = testing::clip(&["front"], NOW - 2 * HOUR, NOW - HOUR);
        let req = testing::with_warrant(req, &["front"], NOW - HOUR + 1, NOW);
        let reason = denied(decide("{}", &req));
        assert!(reason.contains("none of the requested time"), "{reason}");
    }

    #[test]
    fn ranges_touching_at_one_instant_are_denied() {
        let req = testing::clip(&["front"], NOW - 2 * HOUR, NOW - HOUR);
        let req = testing::with_warrant(req, &["front"], NOW - HOUR, NOW);
        assert!(denied(decide("{}", &req)).contains("none of the requested time"));
    }

    #[test]
    fn reversed_or_zero_length_request_ranges_are_denied() {
        let req = testing::with_warrant(testing::clip(&["front"], NOW, NOW - HOUR), &["front"], 0, NOW);
        assert!(denied(decide("{}", &req)).contains("reversed"));
        let req = testing::with_warrant(testing::clip(&["front"], NOW - 5, NOW - 5), &["front"], 0, NOW);
        assert!(denied(decide("{}", &req)).contains("zero length"));
    }

    #[test]
    fn reversed_or_zero_length_warrant_ranges_cover_nothing() {
        for (start, end) in [(NOW, NOW - 2 * HOUR), (NOW - HOUR, NOW - HOUR)] {
            let mut w = warrant(clip_with_warrant());
            w.scope.range = TimeRange { start, end };
            let reason = denied(decide("{}", &with(clip_with_warrant(), w)));
            assert!(reason.contains("covers no time"), "{reason}");
        }
    }

    #[test]
    fn snapshots_are_denied_by_default() {
        let req =
            testing::with_warrant(testing::snapshot(&["front"], NOW), &["front"], NOW - HOUR, NOW + HOUR);
        assert!(denied(decide("{}", &req)).contains("allow_snapshots = false"));
    }

    #[test]
    fn snapshots_when_allowed_need_a_warrant_covering_the_present() {
        let config = r#"{"allow_snapshots":true}"#;
        let snap = testing::snapshot(&["front", "back"], NOW);
        let grant =
            allowed(decide(config, &testing::with_warrant(snap.clone(), &["front"], NOW - HOUR, NOW + HOUR)));
        assert_eq!(grant.cameras, ["front"]);
        assert_eq!((grant.range, grant.live_max_seconds), (None, None));
        assert!(grant.notify_resident);

        // A warrant for last night does not cover a picture taken now.
        let past = testing::with_warrant(snap.clone(), &["front"], NOW - 10 * HOUR, NOW - 5 * HOUR);
        assert!(denied(decide(config, &past)).contains("not the present"));
        // Nor does a warrant without a camera of the request, or none at all.
        denied(decide(config, &testing::with_warrant(snap.clone(), &["drive"], NOW - HOUR, NOW + HOUR)));
        assert!(denied(decide(config, &snap)).contains("warrant is required"));
    }

    #[test]
    fn live_is_denied_by_default_even_with_a_warrant() {
        let req =
            testing::with_warrant(testing::live(&["front"], 60, NOW), &["front"], NOW - HOUR, NOW + HOUR);
        assert!(denied(decide("{}", &req)).contains("allow_live = false"));
    }

    #[test]
    fn live_when_allowed_is_capped_by_config_and_warrant() {
        let config = r#"{"allow_live":true}"#;
        let live = |secs| testing::live(&["front", "kitchen"], secs, NOW);

        let grant =
            allowed(decide(config, &testing::with_warrant(live(60), &["front"], NOW - HOUR, NOW + HOUR)));
        assert_eq!(grant.cameras, ["front"]);
        assert_eq!(grant.live_max_seconds, Some(60));
        assert_eq!(grant.range, None);
        assert!(grant.strip_audio && grant.notify_resident);

        // Capped by max_live_seconds (default 300) ...
        let req = testing::with_warrant(live(3600), &["front"], NOW - HOUR, NOW + HOUR);
        assert_eq!(allowed(decide(config, &req)).live_max_seconds, Some(300));
        let grant = allowed(decide(r#"{"allow_live":true,"max_live_seconds":30}"#, &req));
        assert_eq!(grant.live_max_seconds, Some(30));

        // ... by the end of the warrant's time range ...
        let req = testing::with_warrant(live(3600), &["front"], NOW - HOUR, NOW + 100);
        assert_eq!(allowed(decide(config, &req)).live_max_seconds, Some(100));

        // ... and by the warrant's expiry.
        let mut w = warrant(testing::with_warrant(live(3600), &["front"], NOW - HOUR, NOW + HOUR));
        w.expires = NOW + 42;
        assert_eq!(allowed(decide(config, &with(live(3600), w))).live_max_seconds, Some(42));
    }

    #[test]
    fn live_when_allowed_is_denied_without_a_covering_warrant() {
        let config = r#"{"allow_live":true}"#;
        let live = testing::live(&["front"], 60, NOW);
        assert!(denied(decide(config, &live)).contains("warrant is required"));
        // Past range.
        let req = testing::with_warrant(live.clone(), &["front"], NOW - 2 * HOUR, NOW - HOUR);
        assert!(denied(decide(config, &req)).contains("not the present"));
        // Range ending right now leaves nothing.
        let req = testing::with_warrant(live.clone(), &["front"], NOW - HOUR, NOW);
        assert!(denied(decide(config, &req)).contains("not the present"));
        // Range starting later (the warrant itself is already issued).
        let mut w = warrant(testing::with_warrant(live.clone(), &["front"], NOW + 1, NOW + HOUR));
        w.issued = NOW - HOUR;
        assert!(denied(decide(config, &with(live.clone(), w))).contains("not the present"));
        // Other cameras.
        denied(decide(config, &testing::with_warrant(live, &["back"], NOW - HOUR, NOW + HOUR)));
        // Zero-second stream.
        let req =
            testing::with_warrant(testing::live(&["front"], 0, NOW), &["front"], NOW - HOUR, NOW + HOUR);
        assert!(denied(decide(config, &req)).contains("zero seconds"));
    }

    #[test]
    fn far_future_warrant_does_not_overflow_the_live_cap() {
        let config = r#"{"allow_live":true,"max_live_seconds":4294967295}"#;
        let mut w = warrant(testing::with_warrant(testing::live(&["front"], 1, NOW), &["front"], 0, 0));
        w.scope = WarrantScope {
            cameras: vec!["front".into()],
            range: TimeRange { start: i64::MIN, end: i64::MAX },
        };
        w.issued = i64::MIN;
        w.expires = i64::MAX;
        let req = with(testing::live(&["front"], u32::MAX, NOW), w);
        assert_eq!(allowed(decide(config, &req)).live_max_seconds, Some(u32::MAX));
    }

    #[test]
    fn config_is_checked() {
        assert!(testing::check_config::<WarrantRequired>("").is_ok());
        assert!(testing::check_config::<WarrantRequired>("{}").is_ok());
        assert!(
            testing::check_config::<WarrantRequired>(
                r#"{"strip_audio":false,"allow_snapshots":true,"allow_live":true,"max_live_seconds":60}"#
            )
            .is_ok()
        );
        let err = testing::check_config::<WarrantRequired>(r#"{"max_live_seconds":0}"#).unwrap_err();
        assert!(err.contains("max_live_seconds"), "{err}");
        assert!(testing::check_config::<WarrantRequired>(r#"{"allow_lives":true}"#).is_err());
        assert!(testing::check_config::<WarrantRequired>(r#"{"max_live_seconds":-1}"#).is_err());
        assert!(testing::check_config::<WarrantRequired>(r#"{"strip_audio":"yes"}"#).is_err());
    }

    #[test]
    fn bad_config_fails_closed() {
        let reason = denied(decide(r#"{"allow_snapshot":true}"#, &clip_with_warrant()));
        assert!(reason.contains("invalid configuration"), "{reason}");
    }
}

//! `emergency-live`: lets your monitoring company watch live when an alarm goes off while you are
//! away, and nothing else.
//!
//! When an alarm fires on a camera while the hub is in away or vacation mode, this policy offers a
//! live stream of that camera to your monitoring center. Like any request, the offer is then
//! decided by every installed policy, this one included, which allows it only while all of this
//! holds:
//!
//! - it is a live stream, asked for by a requester of kind "monitoring" (and, if you set
//!   `monitoring_organisation`, from exactly that organisation);
//! - the hub is in away or vacation mode;
//! - an alarm fired in the last `alarm_window_seconds` on a requested camera. Only those cameras
//!   are shared, for at most `max_seconds`.
//!
//! Everything else is denied: clips, snapshots, anyone else, and any time you are home (or in
//! night mode). No offer is made at home, in night mode, while privacy mode is on, or for motion,
//! doorbell or tamper events. Since the most restrictive decision of all installed policies wins,
//! install this next to policies that allow only what they mean to, not next to ones that deny
//! everything (which would overrule it).
//!
//! ```toml
//! [plugins]
//! enabled = ["emergency-live"]
//!
//! [plugins.policy.emergency-live.config]
//! monitoring_organisation = "Acme Alarm Monitoring"  # who receives offers, and the only one allowed
//!                                                    # (default: offers go to "Monitoring center"
//!                                                    # and any monitoring company is allowed)
//! alarm_window_seconds = 600                         # how recent the alarm must be (default 10 min)
//! max_seconds = 600                                  # longest live stream (default 10 min)
//! ```

use porchlight_sdk::{
    Context, Decision, Event, EventKind, Grant, HubMode, LiveRequest, LogLevel, Offer, Policy, Request,
    RequestKind, Requester, RequesterKind, Timestamp, log,
};

pub struct EmergencyLive;

/// Who receives offers when `monitoring_organisation` is not set.
pub const DEFAULT_MONITORING_CENTER: &str = "Monitoring center";

#[derive(Debug, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The monitoring company: receives offers and is the only one allowed. Unset: offers go to
    /// [`DEFAULT_MONITORING_CENTER`] and any requester of kind "monitoring" is allowed.
    pub monitoring_organisation: Option<String>,
    /// How recent an alarm on a camera must be for it to be shared, in seconds.
    pub alarm_window_seconds: u32,
    /// The longest live stream, in seconds (also the length of offers).
    pub max_seconds: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self { monitoring_organisation: None, alarm_window_seconds: 600, max_seconds: 600 }
    }
}

impl Policy for EmergencyLive {
    type Config = Config;

    fn check_config(config: &Config) -> Result<(), String> {
        if config.monitoring_organisation.as_deref().is_some_and(|o| o.trim().is_empty()) {
            return Err("monitoring_organisation must not be empty (leave it out to allow any monitoring \
                        company)"
                .into());
        }
        if config.alarm_window_seconds == 0 {
            return Err("alarm_window_seconds must be at least 1".into());
        }
        if config.max_seconds == 0 {
            return Err("max_seconds must be at least 1".into());
        }
        Ok(())
    }

    fn decide(config: &Config, request: &Request, context: &Context) -> Decision {
        let RequestKind::Live(live) = &request.kind else {
            return Decision::Deny("emergency-live shares only live streams".into());
        };
        if !matches!(request.requester.kind, RequesterKind::Monitoring) {
            return Decision::Deny(format!(
                "emergency-live shares only with the monitoring company, not with a requester of kind {}",
                kind_name(request.requester.kind)
            ));
        }
        if let Some(organisation) = &config.monitoring_organisation
            && request.requester.organisation != *organisation
        {
            return Decision::Deny(format!(
                "emergency-live shares only with {organisation:?}, not with {:?}",
                request.requester.organisation
            ));
        }
        if !is_away(context.mode) {
            return Decision::Deny(format!(
                "emergency-live shares only while the house is away or on vacation (it is in {} mode)",
                mode_name(context.mode)
            ));
        }
        let max_seconds = live.max_seconds.min(config.max_seconds);
        if max_seconds == 0 {
            return Decision::Deny("a live stream of zero seconds".into());
        }
        let window = config.alarm_window_seconds;
        let mut cameras: Vec<String> = Vec::new();
        for name in request.cameras() {
            let recent = context
                .camera(name)
                .and_then(|c| c.last_alarm)
                .is_some_and(|alarm| is_recent(alarm, context.now, window));
            if recent && !cameras.contains(name) {
                cameras.push(name.clone());
            }
        }
        if cameras.is_empty() {
            return Decision::Deny(format!(
                "no alarm in the last {window} s on the requested cameras ({})",
                request.cameras().join(", ")
            ));
        }
        if cameras.len() < request.cameras().len() {
            log(
                LogLevel::Info,
                &format!(
                    "request {}: live only from {} (alarm in the last {window} s) of {}",
                    request.id,
                    cameras.join(", "),
                    request.cameras().join(", ")
                ),
            );
        }
        Decision::Allow(Grant { cameras, live_max_seconds: Some(max_seconds), ..Grant::everything(request) })
    }

    fn on_event(config: &Config, event: &Event, context: &Context) -> Option<Offer> {
        if !matches!(event.kind, EventKind::Alarm) || !is_away(context.mode) {
            return None;
        }
        if context.privacy {
            log(
                LogLevel::Info,
                &format!("alarm on {:?}: no live offer while privacy mode is on", event.camera),
            );
            return None;
        }
        if context.camera(&event.camera).is_none() {
            log(
                LogLevel::Warn,
                &format!("alarm on {:?}, which is not a camera of this hub: no offer", event.camera),
            );
            return None;
        }
        let organisation =
            config.monitoring_organisation.clone().unwrap_or_else(|| DEFAULT_MONITORING_CENTER.into());
        Some(Offer {
            recipient: Requester { organisation, person: "on duty".into(), kind: RequesterKind::Monitoring },
            kind: RequestKind::Live(LiveRequest {
                cameras: vec![event.camera.clone()],
                max_seconds: config.max_seconds,
            }),
            reason: format!(
                "alarm on camera {:?} at {} while the house is {}",
                event.camera,
                event.time,
                if matches!(context.mode, HubMode::Vacation) { "on vacation" } else { "away" }
            ),
        })
    }
}

porchlight_sdk::export_policy!(EmergencyLive);

fn is_away(mode: HubMode) -> bool {
    matches!(mode, HubMode::Away | HubMode::Vacation)
}

/// Fired at most `window` seconds before `now`, and not after it.
fn is_recent(alarm: Timestamp, now: Timestamp, window: u32) -> bool {
    alarm <= now && now.saturating_sub(alarm) <= i64::from(window)
}

fn mode_name(mode: HubMode) -> &'static str {
    match mode {
        HubMode::Home => "home",
        HubMode::Away => "away",
        HubMode::Night => "night",
        HubMode::Vacation => "vacation",
    }
}

fn kind_name(kind: RequesterKind) -> &'static str {
    match kind {
        RequesterKind::Police => "police",
        RequesterKind::Monitoring => "monitoring",
        RequesterKind::Insurer => "insurer",
        RequesterKind::Neighbour => "neighbour",
        RequesterKind::Resident => "resident",
        RequesterKind::Other => "other",
    }
}

#[cfg(test)]
mod tests {
    use porchlight_sdk::testing;

    use super::*;

    const NOW: Timestamp = 1_800_000_000;

    /// Away, with an alarm 60 s ago on "front", an old one on "drive", none on "back".
    fn ctx() -> Context {
        let mut ctx = testing::context(NOW, &[("front", &["street"]), ("drive", &["street"]), ("back", &[])]);
        ctx.mode = HubMode::Away;
        ctx.cameras[0].last_alarm = Some(NOW - 60);
        ctx.cameras[1].last_alarm = Some(NOW - 3600);
        ctx.cameras[2].last_motion = Some(NOW - 5);
        ctx.cameras[2].last_doorbell = Some(NOW - 5);
        ctx
    }

    fn monitoring(mut request: Request, organisation: &str) -> Request {
        request.requester = Requester {
            organisation: organisation.into(),
            person: "on duty".into(),
            kind: RequesterKind::Monitoring,
        };
        request
    }

    fn live(cameras: &[&str], max_seconds: u32) -> Request {
        monitoring(testing::live(cameras, max_seconds, NOW), "Acme Alarm Monitoring")
    }

    fn decide_in(config: &str, request: &Request, ctx: &Context) -> Decision {
        testing::decide::<EmergencyLive>(config, request, ctx)
    }

    fn decide(config: &str, request: &Request) -> Decision {
        decide_in(config, request, &ctx())
    }

    use porchlight_sdk::testing::{expect_allow as allowed, expect_deny as denied};

    fn alarm(camera: &str) -> Event {
        Event { kind: EventKind::Alarm, camera: camera.into(), time: NOW }
    }

    #[test]
    fn monitoring_gets_live_after_a_recent_alarm_while_away() {
        let req = live(&["front"], 300);
        let grant = allowed(decide("{}", &req));
        assert_eq!(grant, Grant { live_max_seconds: Some(300), ..Grant::everything(&req) });
        assert!(grant.notify_resident);
    }

    #[test]
    fn vacation_counts_as_away_home_and_night_do_not() {
        let req = live(&["front"], 300);
        for (mode, allow) in [
            (HubMode::Vacation, true),
            (HubMode::Away, true),
            (HubMode::Home, false),
            (HubMode::Night, false),
        ] {
            let mut ctx = ctx();
            ctx.mode = mode;
            let d = decide_in("{}", &req, &ctx);
            assert_eq!(matches!(d, Decision::Allow(_)), allow, "{mode:?}: {d:?}");
            if !allow {
                assert!(denied(d).contains(&format!("{} mode", mode_name(mode))));
            }
        }
    }

    #[test]
    fn only_live_is_decided() {
        let clip = monitoring(testing::clip(&["front"], NOW - 60, NOW), "Acme");
        assert!(denied(decide("{}", &clip)).contains("only live streams"));
        denied(decide("{}", &monitoring(testing::snapshot(&["front"], NOW), "Acme")));
    }

    #[test]
    fn only_the_monitoring_company_is_allowed() {
        for kind in [
            RequesterKind::Police,
            RequesterKind::Insurer,
            RequesterKind::Neighbour,
            RequesterKind::Resident,
            RequesterKind::Other,
        ] {
            let reason = denied(decide("{}", &testing::from(live(&["front"], 60), kind)));
            assert!(reason.contains(kind_name(kind)), "{reason}");
        }
        // A warrant changes nothing here.
        let req = testing::with_warrant(testing::live(&["front"], 60, NOW), &["front"], NOW - 60, NOW + 60);
        denied(decide("{}", &req));
    }

    #[test]
    fn a_configured_organisation_must_match_exactly() {
        let config = r#"{"monitoring_organisation":"Acme Alarm Monitoring"}"#;
        allowed(decide(config, &live(&["front"], 60)));
        for other in ["acme alarm monitoring", "Acme Alarm Monitoring ", "Evil Corp", ""] {
            let reason = denied(decide(config, &monitoring(testing::live(&["front"], 60, NOW), other)));
            assert!(reason.contains("only with \"Acme Alarm Monitoring\""), "{reason}");
        }
        // Unset: any monitoring company.
        allowed(decide("{}", &monitoring(testing::live(&["front"], 60, NOW), "Someone Else")));
    }

    #[test]
    fn only_cameras_with_a_recent_alarm_are_shared() {
        testing::take_logs();
        let grant = allowed(decide("{}", &live(&["back", "front", "drive", "garage", "front"], 60)));
        assert_eq!(grant.cameras, ["front"]);
        let logs = testing::take_logs();
        assert!(logs.iter().any(|(_, m)| m.contains("live only from front")), "{logs:?}");
        // Old alarm, motion and doorbell only, unknown camera, no camera.
        for cameras in [&["drive"][..], &["back"], &["garage"], &[]] {
            assert!(denied(decide("{}", &live(cameras, 60))).contains("no alarm in the last 600 s"));
        }
    }

    #[test]
    fn the_alarm_window_is_inclusive_and_configurable() {
        let req = live(&["front"], 60);
        let at = |alarm: Timestamp, config: &str| {
            let mut ctx = ctx();
            ctx.cameras[0].last_alarm = Some(alarm);
            decide_in(config, &req, &ctx)
        };
        allowed(at(NOW, "{}"));
        allowed(at(NOW - 600, "{}"));
        denied(at(NOW - 601, "{}"));
        allowed(at(NOW - 3600, r#"{"alarm_window_seconds":3600}"#));
        denied(at(NOW - 61, r#"{"alarm_window_seconds":60}"#));
        // An alarm "in the future" is a clock problem, not a recent alarm.
        denied(at(NOW + 1, "{}"));
        denied(at(i64::MAX, "{}"));
        denied(at(i64::MIN, "{}"));
    }

    #[test]
    fn duration_is_capped() {
        assert_eq!(allowed(decide("{}", &live(&["front"], 3600))).live_max_seconds, Some(600));
        assert_eq!(allowed(decide("{}", &live(&["front"], 30))).live_max_seconds, Some(30));
        let grant = allowed(decide(r#"{"max_seconds":120}"#, &live(&["front"], 3600)));
        assert_eq!(grant.live_max_seconds, Some(120));
        assert!(denied(decide("{}", &live(&["front"], 0))).contains("zero seconds"));
    }

    #[test]
    fn an_alarm_while_away_offers_live_to_the_monitoring_center() {
        let offer = testing::on_event::<EmergencyLive>("{}", &alarm("front"), &ctx()).expect("an offer");
        assert_eq!(
            offer.recipient,
            Requester {
                organisation: DEFAULT_MONITORING_CENTER.into(),
                person: "on duty".into(),
                kind: RequesterKind::Monitoring
            }
        );
        assert_eq!(
            offer.kind,
            RequestKind::Live(LiveRequest { cameras: vec!["front".into()], max_seconds: 600 })
        );
        assert_eq!(offer.reason, format!("alarm on camera \"front\" at {NOW} while the house is away"));

        let config = r#"{"monitoring_organisation":"Acme","max_seconds":90}"#;
        let mut ctx = ctx();
        ctx.mode = HubMode::Vacation;
        let offer = testing::on_event::<EmergencyLive>(config, &alarm("drive"), &ctx).expect("an offer");
        assert_eq!(offer.recipient.organisation, "Acme");
        assert_eq!(
            offer.kind,
            RequestKind::Live(LiveRequest { cameras: vec!["drive".into()], max_seconds: 90 })
        );
        assert!(offer.reason.ends_with("on vacation"));
    }

    #[test]
    fn no_offer_at_home_at_night_or_for_other_events() {
        for mode in [HubMode::Home, HubMode::Night] {
            let mut ctx = ctx();
            ctx.mode = mode;
            assert_eq!(testing::on_event::<EmergencyLive>("{}", &alarm("front"), &ctx), None);
        }
        for kind in [EventKind::Motion, EventKind::Doorbell, EventKind::Tamper] {
            let event = Event { kind, ..alarm("front") };
            assert_eq!(testing::on_event::<EmergencyLive>("{}", &event, &ctx()), None);
        }
    }

    #[test]
    fn no_offer_in_privacy_mode_or_for_unknown_cameras() {
        let mut private = ctx();
        private.privacy = true;
        testing::take_logs();
        assert_eq!(testing::on_event::<EmergencyLive>("{}", &alarm("front"), &private), None);
        assert_eq!(testing::on_event::<EmergencyLive>("{}", &alarm("garage"), &ctx()), None);
        let logs = testing::take_logs();
        assert_eq!(logs.len(), 2, "{logs:?}");
    }

    #[test]
    fn its_own_offer_is_allowed_once_the_alarm_is_in_the_context() {
        for config in ["{}", r#"{"monitoring_organisation":"Acme","max_seconds":120}"#] {
            let mut ctx = ctx();
            ctx.cameras[2].last_alarm = Some(NOW);
            let offer = testing::on_event::<EmergencyLive>(config, &alarm("back"), &ctx).expect("an offer");
            let request = Request {
                id: "offer-1".into(),
                requester: offer.recipient.clone(),
                kind: offer.kind.clone(),
                reason: offer.reason.clone(),
                case_number: None,
                legal_basis: porchlight_sdk::LegalBasis::None,
                received: NOW,
            };
            let grant = allowed(decide_in(config, &request, &ctx));
            assert_eq!(grant, Grant::everything(&request));
        }
    }

    #[test]
    fn config_is_checked() {
        let check = testing::check_config::<EmergencyLive>;
        assert!(check("").is_ok() && check("{}").is_ok());
        assert!(
            check(r#"{"monitoring_organisation":"Acme","alarm_window_seconds":60,"max_seconds":60}"#).is_ok()
        );
        assert!(check(r#"{"monitoring_organisation":" "}"#).unwrap_err().contains("monitoring_organisation"));
        assert!(check(r#"{"alarm_window_seconds":0}"#).unwrap_err().contains("alarm_window_seconds"));
        assert!(check(r#"{"max_seconds":0}"#).unwrap_err().contains("max_seconds"));
        assert!(check(r#"{"max_seconds":-1}"#).is_err());
        assert!(check(r#"{"organisation":"Acme"}"#).is_err());
    }

    #[test]
    fn bad_config_fails_closed() {
        let reason = denied(decide(r#"{"max_second":60}"#, &live(&["front"], 60)));
        assert!(reason.contains("invalid configuration"), "{reason}");
        assert_eq!(testing::on_event::<EmergencyLive>(r#"{"max_second":60}"#, &alarm("front"), &ctx()), None);
        // Unchecked zero cap: still no stream.
        denied(decide(r#"{"max_seconds":0}"#, &live(&["front"], 60)));
    }
}

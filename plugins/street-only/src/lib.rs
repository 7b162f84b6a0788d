//! `street-only`: never shares a camera you did not tag as facing the street.
//!
//! This policy decides only *which cameras* may be shared: of the cameras a request names, it
//! allows the ones that carry your tag (`"street"` unless you choose another) and none of the
//! excluded tags, and denies the request when none is left. It says nothing about who asks, what
//! for, or when; combine it with another policy (e.g. `warrant-required` or `ask-resident`) for
//! that, since the most restrictive decision of all installed policies wins. Installed alone, it
//! would share street cameras with anyone who asks.
//!
//! A camera tagged both `street` and, say, `neighbour-facing` is never shared: an excluded tag
//! always wins. A camera this hub does not have is never shared either.
//!
//! ```toml
//! [[camera]]
//! name = "front"
//! tags = ["street", "doorbell"]
//!
//! [plugins]
//! enabled = ["street-only"]
//!
//! [plugins.policy.street-only.config]
//! tag = "street"                                # the tag a shared camera must have
//! exclude_tags = ["indoor", "neighbour-facing"] # never share a camera with any of these
//! ```

use porchlight_sdk::{CameraInfo, Context, Decision, Grant, LogLevel, Policy, Request, log};

pub struct StreetOnly;

#[derive(Debug, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The tag a camera needs to be shared.
    pub tag: String,
    /// A camera with any of these tags is never shared, even with `tag`.
    pub exclude_tags: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self { tag: "street".into(), exclude_tags: vec!["indoor".into(), "neighbour-facing".into()] }
    }
}

impl Config {
    fn shares(&self, camera: &CameraInfo) -> bool {
        camera.has_tag(&self.tag) && !self.exclude_tags.iter().any(|t| camera.has_tag(t))
    }
}

impl Policy for StreetOnly {
    type Config = Config;

    fn check_config(config: &Config) -> Result<(), String> {
        if config.tag.trim().is_empty() {
            return Err("tag must not be empty: it names the tag a camera needs to be shared".into());
        }
        if config.exclude_tags.iter().any(|t| t.trim().is_empty()) {
            return Err("exclude_tags must not contain an empty tag".into());
        }
        if config.exclude_tags.contains(&config.tag) {
            return Err(format!(
                "tag {:?} is also in exclude_tags, so no camera could ever be shared",
                config.tag
            ));
        }
        Ok(())
    }

    fn decide(config: &Config, request: &Request, context: &Context) -> Decision {
        if config.tag.trim().is_empty() {
            // Not checked (tests call `decide` directly): fail closed rather than match nothing.
            return Decision::Deny("street-only is misconfigured: tag is empty".into());
        }
        let mut shared: Vec<String> = Vec::new();
        let mut withheld: Vec<&str> = Vec::new();
        for name in request.cameras() {
            if shared.contains(name) || withheld.contains(&name.as_str()) {
                continue;
            }
            match context.camera(name) {
                Some(camera) if config.shares(camera) => shared.push(name.clone()),
                _ => withheld.push(name),
            }
        }
        if shared.is_empty() {
            return Decision::Deny(if request.cameras().is_empty() {
                "the request names no cameras".into()
            } else {
                format!(
                    "none of the requested cameras ({}) is a camera of this hub tagged {:?} without {}",
                    request.cameras().join(", "),
                    config.tag,
                    excluded(config)
                )
            });
        }
        if !withheld.is_empty() {
            log(
                LogLevel::Info,
                &format!(
                    "request {}: sharing only {} (tagged {:?}); withheld: {}",
                    request.id,
                    shared.join(", "),
                    config.tag,
                    withheld.join(", ")
                ),
            );
        }
        Decision::Allow(Grant { cameras: shared, ..Grant::everything(request) })
    }
}

porchlight_sdk::export_policy!(StreetOnly);

fn excluded(config: &Config) -> String {
    if config.exclude_tags.is_empty() {
        "an excluded tag".into()
    } else {
        config.exclude_tags.iter().map(|t| format!("{t:?}")).collect::<Vec<_>>().join(" or ")
    }
}

#[cfg(test)]
mod tests {
    use porchlight_sdk::{RequesterKind, TimeRange, Timestamp, testing};

    use super::*;

    const NOW: Timestamp = 1_800_000_000;

    fn ctx() -> Context {
        testing::context(
            NOW,
            &[
                ("front", &["street", "doorbell"]),
                ("drive", &["street"]),
                ("side", &["street", "neighbour-facing"]),
                ("hall", &["street", "indoor"]),
                ("garden", &["garden"]),
                ("kitchen", &["indoor"]),
                ("porch", &["porch"]),
            ],
        )
    }

    fn decide(config: &str, request: &Request) -> Decision {
        testing::decide::<StreetOnly>(config, request, &ctx())
    }

    use porchlight_sdk::testing::{expect_allow as allowed, expect_deny as denied};

    #[test]
    fn only_street_cameras_are_shared_and_nothing_else_changes() {
        let req = testing::clip(&["front", "garden", "drive", "kitchen"], NOW - 600, NOW);
        testing::take_logs();
        let grant = allowed(decide("{}", &req));
        assert_eq!(grant, Grant { cameras: vec!["front".into(), "drive".into()], ..Grant::everything(&req) });
        assert_eq!(grant.range, Some(TimeRange { start: NOW - 600, end: NOW }));
        let logs = testing::take_logs();
        assert!(logs.iter().any(|(_, m)| m.contains("withheld: garden, kitchen")), "{logs:?}");
    }

    #[test]
    fn all_street_cameras_shares_the_whole_request_without_a_log() {
        let req = testing::live(&["front", "drive"], 120, NOW);
        testing::take_logs();
        assert_eq!(allowed(decide("{}", &req)), Grant::everything(&req));
        assert!(testing::take_logs().is_empty());
        let snap = testing::snapshot(&["drive"], NOW);
        assert_eq!(allowed(decide("{}", &snap)), Grant::everything(&snap));
    }

    #[test]
    fn decides_only_about_cameras_not_about_who_asks() {
        for kind in [RequesterKind::Neighbour, RequesterKind::Insurer, RequesterKind::Other] {
            let req = testing::from(testing::snapshot(&["front"], NOW), kind);
            assert_eq!(allowed(decide("{}", &req)).cameras, ["front"]);
        }
    }

    #[test]
    fn no_street_camera_is_denied() {
        let reason = denied(decide("{}", &testing::clip(&["garden", "kitchen"], NOW - 60, NOW)));
        assert!(reason.contains("(garden, kitchen)") && reason.contains("\"street\""), "{reason}");
        assert!(reason.contains("\"indoor\" or \"neighbour-facing\""), "{reason}");
    }

    #[test]
    fn excluded_tags_win_over_the_street_tag() {
        denied(decide("{}", &testing::snapshot(&["side", "hall"], NOW)));
        let grant = allowed(decide("{}", &testing::snapshot(&["side", "hall", "front"], NOW)));
        assert_eq!(grant.cameras, ["front"]);
        // With no exclusions, the street tag is enough.
        let grant = allowed(decide(r#"{"exclude_tags":[]}"#, &testing::snapshot(&["side", "hall"], NOW)));
        assert_eq!(grant.cameras, ["side", "hall"]);
        // Custom exclusions.
        let grant =
            allowed(decide(r#"{"exclude_tags":["doorbell"]}"#, &testing::snapshot(&["front", "side"], NOW)));
        assert_eq!(grant.cameras, ["side"]);
    }

    #[test]
    fn cameras_unknown_to_the_hub_are_never_shared() {
        denied(decide("{}", &testing::snapshot(&["street", "garage"], NOW)));
        assert_eq!(allowed(decide("{}", &testing::snapshot(&["garage", "front"], NOW))).cameras, ["front"]);
    }

    #[test]
    fn tags_and_names_match_exactly() {
        let ctx = testing::context(NOW, &[("front", &["Street"]), ("drive", &["street "])]);
        let d = testing::decide::<StreetOnly>("{}", &testing::snapshot(&["front", "drive"], NOW), &ctx);
        denied(d);
        denied(decide("{}", &testing::snapshot(&["Front"], NOW)));
    }

    #[test]
    fn another_tag_can_be_configured() {
        let config = r#"{"tag":"porch"}"#;
        assert_eq!(allowed(decide(config, &testing::snapshot(&["front", "porch"], NOW))).cameras, ["porch"]);
        assert!(denied(decide(config, &testing::snapshot(&["front"], NOW))).contains("\"porch\""));
    }

    #[test]
    fn duplicates_are_shared_once_in_request_order() {
        let grant =
            allowed(decide("{}", &testing::snapshot(&["drive", "front", "drive", "kitchen", "front"], NOW)));
        assert_eq!(grant.cameras, ["drive", "front"]);
    }

    #[test]
    fn empty_requests_are_denied() {
        assert!(denied(decide("{}", &testing::snapshot(&[], NOW))).contains("names no cameras"));
        let empty_hub = testing::context(NOW, &[]);
        denied(testing::decide::<StreetOnly>("{}", &testing::snapshot(&["front"], NOW), &empty_hub));
    }

    #[test]
    fn config_is_checked() {
        let check = testing::check_config::<StreetOnly>;
        assert!(check("").is_ok() && check("{}").is_ok());
        assert!(check(r#"{"tag":"porch","exclude_tags":[]}"#).is_ok());
        assert!(check(r#"{"tag":""}"#).unwrap_err().contains("tag must not be empty"));
        assert!(check(r#"{"tag":"  "}"#).is_err());
        assert!(check(r#"{"exclude_tags":["indoor",""]}"#).unwrap_err().contains("empty tag"));
        assert!(
            check(r#"{"exclude_tags":["street"]}"#).unwrap_err().contains("no camera could ever be shared")
        );
        assert!(check(r#"{"exclude_tags":"indoor"}"#).is_err());
        assert!(check(r#"{"tags":["street"]}"#).is_err());
    }

    #[test]
    fn bad_config_fails_closed() {
        let req = testing::snapshot(&["front"], NOW);
        assert!(denied(decide(r#"{"tag":""}"#, &req)).contains("misconfigured"));
        assert!(denied(decide(r#"{"tag":5}"#, &req)).contains("invalid configuration"));
    }
}

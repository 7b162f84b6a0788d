//! `deny-all`: denies every request. What Porchlight does with no plugin at all, made explicit,
//! with a message the resident chose.
//!
//! ```toml
//! [plugins]
//! enabled = ["deny-all"]
//!
//! [plugins.policy.deny-all.config]
//! message = "This household does not share footage."
//! ```

use porchlight_sdk::{Context, Decision, Policy, Request};

pub struct DenyAll;

#[derive(Debug, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The reason given to every requester.
    pub message: String,
}

impl Default for Config {
    fn default() -> Self {
        Self { message: "this household does not share footage".into() }
    }
}

impl Policy for DenyAll {
    type Config = Config;

    fn decide(config: &Config, _request: &Request, _context: &Context) -> Decision {
        Decision::Deny(config.message.clone())
    }
}

porchlight_sdk::export_policy!(DenyAll);

#[cfg(test)]
mod tests {
    use porchlight_sdk::testing;

    use super::*;

    #[test]
    fn denies_everything_with_the_configured_message() {
        let ctx = testing::context(1000, &[("front", &["street"])]);
        let req = testing::with_warrant(testing::clip(&["front"], 0, 100), &["front"], 0, 100);
        assert_eq!(testing::decide::<DenyAll>("{}", &req, &ctx), Decision::Deny(Config::default().message));
        let d = testing::decide::<DenyAll>(r#"{"message":"no"}"#, &testing::live(&["front"], 60, 0), &ctx);
        assert_eq!(d, Decision::Deny("no".into()));
    }

    #[test]
    fn unknown_config_key_is_rejected() {
        assert!(testing::check_config::<DenyAll>(r#"{"mesage":"x"}"#).is_err());
        assert!(testing::check_config::<DenyAll>("").is_ok());
    }
}

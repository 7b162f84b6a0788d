//! Write, test and build a Porchlight sharing policy.
//!
//! A policy decides, for every request to share footage with someone outside the house, whether
//! to deny it, ask the resident, or allow a (possibly narrowed) part of it. It runs inside
//! Porchlight as a sandboxed WebAssembly component: no clock, no files, no network; the only
//! thing it can do besides answering is [`log`].
//!
//! ```
//! use porchlight_sdk::*;
//!
//! /// Shares clips only from cameras the resident tagged "street", only with a warrant.
//! #[derive(Default)]
//! pub struct StreetWithWarrant;
//!
//! #[derive(Default, serde::Deserialize)]
//! pub struct Config {
//!     /// Tag a camera must have to be shared.
//!     #[serde(default)]
//!     pub tag: Option<String>,
//! }
//!
//! impl Policy for StreetWithWarrant {
//!     type Config = Config;
//!
//!     fn decide(config: &Config, request: &Request, context: &Context) -> Decision {
//!         let tag = config.tag.as_deref().unwrap_or("street");
//!         let LegalBasis::Warrant(_) = &request.legal_basis else {
//!             return Decision::Deny("a warrant is required".into());
//!         };
//!         let cameras: Vec<String> = request
//!             .cameras()
//!             .iter()
//!             .filter(|c| context.camera(c).is_some_and(|info| info.has_tag(tag)))
//!             .cloned()
//!             .collect();
//!         if cameras.is_empty() {
//!             return Decision::Deny(format!("no requested camera is tagged {tag:?}"));
//!         }
//!         log(LogLevel::Info, &format!("sharing {} camera(s)", cameras.len()));
//!         Decision::Allow(Grant { cameras, ..Grant::everything(request) })
//!     }
//! }
//!
//! // In a plugin crate (crate-type = ["cdylib", "rlib"]) this line makes it a Porchlight policy:
//! // porchlight_sdk::export_policy!(StreetWithWarrant);
//!
//! // And it can be tested natively with `cargo test`:
//! let now = 1_800_000_000;
//! let ctx = testing::context(now, &[("front", &["street"]), ("kitchen", &["indoor"])]);
//! let req = testing::clip(&["front", "kitchen"], now - 600, now - 60);
//! assert!(matches!(testing::decide::<StreetWithWarrant>("{}", &req, &ctx), Decision::Deny(_)));
//! let req = testing::with_warrant(req, &["front", "kitchen"], now - 3600, now);
//! match testing::decide::<StreetWithWarrant>("{}", &req, &ctx) {
//!     Decision::Allow(g) => assert_eq!(g.cameras, ["front"]),
//!     other => panic!("{other:?}"),
//! }
//! ```
//!
//! Build a plugin with `cargo build --target wasm32-unknown-unknown --release` and install the
//! `.wasm` file into the hub's plugin directory; `porchlight plugin check FILE.wasm` tells you
//! whether the hub will accept it. See `docs/plugins.md`.
//!
//! For prompts to the resident, [`text`] writes dates, times and durations and makes
//! requester-written text safe to show.
#![deny(unsafe_code)]

#[cfg(all(target_arch = "wasm32", feature = "bump-allocator"))]
pub mod alloc;

#[cfg(all(target_arch = "wasm32", feature = "bump-allocator"))]
#[global_allocator]
static ALLOCATOR: alloc::BumpAllocator = alloc::BumpAllocator::new();

/// The generated bindings of the WIT contract in `sdk/wit/` (used by [`export_policy!`]).
#[doc(hidden)]
#[allow(unsafe_code, missing_debug_implementations, unused_qualifications, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "policy",
        pub_export_macro: true,
        export_macro_name: "__export_policy_world",
        default_bindings_module: "porchlight_sdk::bindings",
        additional_derives: [PartialEq, Clone],
    });
}

pub use bindings::porchlight::policy::types::{
    Ask, CameraInfo, ClipRequest, Context, Decision, Event, EventKind, Grant, HubMode, LegalBasis,
    LiveRequest, LogLevel, Offer, Request, RequestKind, Requester, RequesterKind, SnapshotRequest, TimeRange,
    Timestamp, Warrant, WarrantScope,
};

#[doc(hidden)]
pub use serde_json as __serde_json;

pub mod text;

/// A sharing policy. Implement [`Policy::decide`]; the rest have defaults.
pub trait Policy {
    /// The resident's settings for this policy (their TOML table, handed over as JSON).
    /// `{}` (no table) must deserialize, so give every field a default.
    type Config: serde::de::DeserializeOwned;

    /// Checks a configuration beyond what deserializing it checks. An error rejects the plugin
    /// at load time with this message.
    fn check_config(_config: &Self::Config) -> Result<(), String> {
        Ok(())
    }

    /// Decides one request.
    fn decide(config: &Self::Config, request: &Request, context: &Context) -> Decision;

    /// Optionally offers a share when something happens (the offer is then decided by every
    /// policy like any request). Default: no offer.
    fn on_event(_config: &Self::Config, _event: &Event, _context: &Context) -> Option<Offer> {
        None
    }
}

/// Writes to the hub's log (at most 4 KiB per message; the hub also limits the total).
pub fn log(level: LogLevel, message: &str) {
    #[cfg(target_arch = "wasm32")]
    bindings::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    testing::record_log(level, message);
}

fn parse_config<C: serde::de::DeserializeOwned>(config: &str) -> Result<C, String> {
    let text = if config.trim().is_empty() { "{}" } else { config };
    serde_json::from_str(text).map_err(|e| format!("invalid configuration: {e}"))
}

#[doc(hidden)]
pub fn __check_config<P: Policy>(config: &str) -> Result<(), String> {
    P::check_config(&parse_config::<P::Config>(config)?)
}

#[doc(hidden)]
pub fn __decide<P: Policy>(config: &str, request: &Request, context: &Context) -> Decision {
    match parse_config::<P::Config>(config) {
        Ok(c) => P::decide(&c, request, context),
        // Fail closed.
        Err(e) => Decision::Deny(e),
    }
}

#[doc(hidden)]
pub fn __on_event<P: Policy>(config: &str, event: &Event, context: &Context) -> Option<Offer> {
    parse_config::<P::Config>(config).ok().and_then(|c| P::on_event(&c, event, context))
}

/// Disposes of a call's arguments. With the bump allocator nothing is ever freed and the
/// instance is thrown away after the call, so walking the request and context to drop every
/// string in them would be wasted work (about 3 % of the guest's time in a profile); they are
/// forgotten instead. Elsewhere (native tests, another allocator) they are dropped as usual.
#[doc(hidden)]
pub fn __discard<T>(args: T) {
    #[cfg(all(target_arch = "wasm32", feature = "bump-allocator"))]
    core::mem::forget(args);
    #[cfg(not(all(target_arch = "wasm32", feature = "bump-allocator")))]
    drop(args);
}

/// Makes a type that implements [`Policy`] the policy of this plugin crate. Use once, at the
/// crate root of a `cdylib`.
#[macro_export]
macro_rules! export_policy {
    ($policy:ty) => {
        #[doc(hidden)]
        pub struct __PorchlightExport;

        impl $crate::bindings::Guest for __PorchlightExport {
            fn check_config(config: String) -> Result<(), String> {
                $crate::__check_config::<$policy>(&config)
            }
            fn decide(config: String, request: $crate::Request, context: $crate::Context) -> $crate::Decision {
                let decision = $crate::__decide::<$policy>(&config, &request, &context);
                $crate::__discard((config, request, context));
                decision
            }
            fn on_event(config: String, event: $crate::Event, context: $crate::Context) -> Option<$crate::Offer> {
                let offer = $crate::__on_event::<$policy>(&config, &event, &context);
                $crate::__discard((config, event, context));
                offer
            }
        }

        $crate::bindings::__export_policy_world!(__PorchlightExport with_types_in $crate::bindings);
    };
}

impl Request {
    /// The cameras the request names, whatever its kind.
    pub fn cameras(&self) -> &[String] {
        match &self.kind {
            RequestKind::Clip(c) => &c.cameras,
            RequestKind::Live(l) => &l.cameras,
            RequestKind::Snapshot(s) => &s.cameras,
        }
    }

    /// The time range of a clip request.
    pub fn clip_range(&self) -> Option<TimeRange> {
        match &self.kind {
            RequestKind::Clip(c) => Some(c.range),
            _ => None,
        }
    }
}

impl Context {
    /// The camera with this name, if the hub has it.
    pub fn camera(&self, name: &str) -> Option<&CameraInfo> {
        self.cameras.iter().find(|c| c.name == name)
    }
}

impl CameraInfo {
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }
}

impl Grant {
    /// Everything the request asked for, nothing more (narrow it with struct update syntax).
    pub fn everything(request: &Request) -> Self {
        Grant {
            cameras: request.cameras().to_vec(),
            range: request.clip_range(),
            live_max_seconds: match &request.kind {
                RequestKind::Live(l) => Some(l.max_seconds),
                _ => None,
            },
            strip_audio: false,
            notify_resident: true,
        }
    }
}

impl TimeRange {
    /// The overlap of two ranges, if any.
    pub fn intersect(&self, other: &TimeRange) -> Option<TimeRange> {
        let start = self.start.max(other.start);
        let end = self.end.min(other.end);
        (start <= end).then_some(TimeRange { start, end })
    }
}

/// Helpers to unit-test a policy natively, with plain `cargo test`.
pub mod testing {
    use std::cell::RefCell;

    use super::*;

    thread_local! {
        static LOGS: RefCell<Vec<(LogLevel, String)>> = const { RefCell::new(Vec::new()) };
    }

    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub(crate) fn record_log(level: LogLevel, message: &str) {
        LOGS.with(|l| l.borrow_mut().push((level, message.to_owned())));
    }

    /// What the policy logged on this thread so far (and clears it).
    pub fn take_logs() -> Vec<(LogLevel, String)> {
        LOGS.with(|l| std::mem::take(&mut *l.borrow_mut()))
    }

    /// Runs the policy as the hub would: `config` is JSON, parsed for each call.
    pub fn decide<P: Policy>(config: &str, request: &Request, context: &Context) -> Decision {
        __decide::<P>(config, request, context)
    }

    /// Checks a configuration as the hub does at load time.
    pub fn check_config<P: Policy>(config: &str) -> Result<(), String> {
        __check_config::<P>(config)
    }

    /// The grant of an `allow`; panics (failing the test) on anything else.
    pub fn expect_allow(decision: Decision) -> Grant {
        match decision {
            Decision::Allow(grant) => grant,
            other => panic!("expected allow, got {other:?}"),
        }
    }

    /// The reason of a `deny`; panics (failing the test) on anything else.
    pub fn expect_deny(decision: Decision) -> String {
        match decision {
            Decision::Deny(reason) => reason,
            other => panic!("expected deny, got {other:?}"),
        }
    }

    /// The question of an `ask`; panics (failing the test) on anything else.
    pub fn expect_ask(decision: Decision) -> Ask {
        match decision {
            Decision::Ask(ask) => ask,
            other => panic!("expected ask, got {other:?}"),
        }
    }

    /// Runs the policy's event hook as the hub would.
    pub fn on_event<P: Policy>(config: &str, event: &Event, context: &Context) -> Option<Offer> {
        __on_event::<P>(config, event, context)
    }

    fn police() -> Requester {
        Requester {
            organisation: "City Police".into(),
            person: "Det. Example".into(),
            kind: RequesterKind::Police,
        }
    }

    fn request(kind: RequestKind, received: Timestamp) -> Request {
        Request {
            id: "test-request".into(),
            requester: police(),
            kind,
            reason: "test".into(),
            case_number: None,
            legal_basis: LegalBasis::None,
            received,
        }
    }

    /// A clip request from the police, with no legal basis.
    pub fn clip(cameras: &[&str], start: Timestamp, end: Timestamp) -> Request {
        let cameras = cameras.iter().map(|c| (*c).to_owned()).collect();
        request(RequestKind::Clip(ClipRequest { cameras, range: TimeRange { start, end } }), end)
    }

    /// A live request from the police, with no legal basis.
    pub fn live(cameras: &[&str], max_seconds: u32, received: Timestamp) -> Request {
        let cameras = cameras.iter().map(|c| (*c).to_owned()).collect();
        request(RequestKind::Live(LiveRequest { cameras, max_seconds }), received)
    }

    /// A snapshot request from the police, with no legal basis.
    pub fn snapshot(cameras: &[&str], received: Timestamp) -> Request {
        let cameras = cameras.iter().map(|c| (*c).to_owned()).collect();
        request(RequestKind::Snapshot(SnapshotRequest { cameras }), received)
    }

    /// The request, now with a warrant covering these cameras and this time range.
    pub fn with_warrant(mut request: Request, cameras: &[&str], start: Timestamp, end: Timestamp) -> Request {
        request.legal_basis = LegalBasis::Warrant(Warrant {
            reference: "W-1".into(),
            court: "District Court".into(),
            issued: start,
            expires: end + 30 * 86_400,
            scope: WarrantScope {
                cameras: cameras.iter().map(|c| (*c).to_owned()).collect(),
                range: TimeRange { start, end },
            },
        });
        request
    }

    /// The request, now from someone of this kind.
    pub fn from(mut request: Request, kind: RequesterKind) -> Request {
        request.requester.kind = kind;
        request
    }

    /// A hub at home at time `now`, with these cameras and tags and no recent events.
    pub fn context(now: Timestamp, cameras: &[(&str, &[&str])]) -> Context {
        Context {
            now,
            mode: HubMode::Home,
            privacy: false,
            cameras: cameras
                .iter()
                .map(|(name, tags)| CameraInfo {
                    name: (*name).to_owned(),
                    tags: tags.iter().map(|t| (*t).to_owned()).collect(),
                    last_motion: None,
                    last_doorbell: None,
                    last_alarm: None,
                })
                .collect(),
        }
    }
}

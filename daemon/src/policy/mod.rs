//! The sharing-policy engine: the resident's policies — sandboxed WebAssembly components that
//! implement `sdk/wit/policy.wit` — decide every request to share footage. Fail closed: a plugin
//! that traps, runs out of time, fuel or memory, returns something malformed or an `allow`
//! wider than the request, or is missing, counts as `deny`. No plugin → deny. Privacy mode →
//! deny before any plugin runs. Reference: `docs/ref/plugins.md`.

pub mod bundled;
mod check;
mod compose;
mod convert;
pub mod host;
pub mod pool;
pub mod recent;
pub mod replay;
pub mod service;
pub mod types;
pub mod wasi;

use std::sync::{Arc, RwLock};

use serde::Serialize;

pub use compose::compose;
pub use host::{CONTRACT, CallError, Host, Limits, LoadError, MAX_MEMORY};
pub use types::*;

use crate::config::{PluginSettings, PolicySettings, PolicySource};

/// A plugin that loaded and passed its checks.
#[derive(Debug)]
pub struct Plugin {
    pub name: String,
    pub sha256: String,
    /// Whether its component is built into the daemon or a file in the plugin directory.
    pub source: PolicySource,
    pub settings: PolicySettings,
    compiled: host::Compiled,
}

impl Plugin {
    /// What the host made of the plugin file.
    pub fn compiled(&self) -> &host::Compiled {
        &self.compiled
    }
}

/// One configured plugin: loaded, or why not (which means it denies everything).
#[derive(Debug, Clone)]
pub enum Slot {
    Loaded(Arc<Plugin>),
    Missing { name: String, reason: String },
}

impl Slot {
    pub fn name(&self) -> &str {
        match self {
            Self::Loaded(p) => &p.name,
            Self::Missing { name, .. } => name,
        }
    }
}

/// What a plugin decided about one request, and what it cost.
#[derive(Debug, Clone, Serialize)]
pub struct PluginOutcome {
    pub plugin: String,
    pub sha256: Option<String>,
    #[serde(flatten)]
    pub decision: Decision,
    /// Why the plugin's own answer was replaced by `deny`, if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    pub time_us: u64,
    pub fuel: u64,
    /// Log messages dropped because the plugin went over its log limit.
    #[serde(skip_serializing_if = "is_zero")]
    pub log_dropped: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The final decision and every plugin's part in it.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    #[serde(flatten)]
    pub decision: Decision,
    pub plugins: Vec<PluginOutcome>,
}

/// What happened to one plugin on (re)load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadReport {
    Loaded {
        plugin: String,
        sha256: String,
        source: PolicySource,
    },
    Unchanged {
        plugin: String,
    },
    /// The file was refused; `kept` says whether an earlier version keeps running.
    Rejected {
        plugin: String,
        reason: String,
        kept: bool,
    },
}

use crate::digest::sha256_hex;

/// The engine: the host and the current plugin set, swapped atomically on reload.
#[derive(Debug)]
pub struct PolicyEngine {
    host: Host,
    slots: RwLock<Arc<Vec<Slot>>>,
    /// Compiled components by file SHA-256, so a config-only change or a reload of the same file
    /// does not compile again.
    compiled: std::sync::Mutex<std::collections::HashMap<String, host::Compiled>>,
    /// Plugins whose latest file or config was rejected while an earlier version keeps
    /// deciding: name → why.
    rejected: std::sync::Mutex<std::collections::BTreeMap<String, String>>,
}

impl PolicyEngine {
    /// An engine; `cache_dir` holds compiled plugins across restarts (see [`Host::new`]).
    pub fn new(cache_dir: Option<&std::path::Path>) -> Result<Self, LoadError> {
        Ok(Self {
            host: Host::new(cache_dir)?,
            slots: RwLock::new(Arc::new(Vec::new())),
            compiled: Default::default(),
            rejected: Default::default(),
        })
    }

    pub fn host(&self) -> &Host {
        &self.host
    }

    /// Plugins whose latest version was rejected while an earlier one keeps deciding, with why.
    pub fn rejected(&self) -> std::collections::BTreeMap<String, String> {
        self.rejected.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// The current plugin set.
    pub fn slots(&self) -> Arc<Vec<Slot>> {
        Arc::clone(&self.slots.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Checks and compiles one plugin file with its settings: contract, imports, then a
    /// conformance run under its production limits (its config accepted, and a sample request
    /// answered well-formed).
    pub fn load(&self, settings: &PolicySettings, bytes: &[u8]) -> Result<Plugin, LoadError> {
        self.load_from(settings, bytes, PolicySource::File)
    }

    /// [`PolicyEngine::load`] of a component that came from `source`.
    pub fn load_from(
        &self,
        settings: &PolicySettings,
        bytes: &[u8],
        source: PolicySource,
    ) -> Result<Plugin, LoadError> {
        let sha256 = sha256_hex(bytes);
        if let Some(pin) = &settings.sha256
            && *pin != sha256
        {
            let what = match source {
                PolicySource::File => "file",
                PolicySource::Bundled => "bundled policy",
            };
            return Err(LoadError(format!("{what} has SHA-256 {sha256}, but the config pins {pin}")));
        }
        let cached =
            self.compiled.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&sha256).cloned();
        let compiled = match cached {
            Some(c) => c,
            None => {
                let c = self.host.compile(bytes)?;
                let mut cache = self.compiled.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                // Bounded: a hub has a handful of plugins; forget old builds beyond that.
                if cache.len() >= 32 {
                    cache.clear();
                }
                cache.insert(sha256.clone(), c.clone());
                c
            }
        };
        self.admit(settings, sha256, source, compiled)
    }

    /// The checks of [`PolicyEngine::load`] once the file is compiled: a conformance run under
    /// the plugin's production limits (its config accepted, and a sample request answered
    /// well-formed).
    fn admit(
        &self,
        settings: &PolicySettings,
        sha256: String,
        source: PolicySource,
        compiled: host::Compiled,
    ) -> Result<Plugin, LoadError> {
        // Loading has its own time limit (instantiating a large plugin on a busy machine may take
        // longer than a decision may); fuel and memory stay the plugin's own.
        let limits = Limits { time: settings.limits.time.max(host::LOAD_TIME_LIMIT), ..settings.limits };
        let (checked, _) = self
            .host
            .call(&settings.name, &compiled, limits, |store, p| p.check_config(store, &settings.config));
        match checked {
            Ok(Ok(())) => {}
            Ok(Err(msg)) => {
                // Cut like a deny reason: it is kept in the audit log, `/api/plugins` and every
                // later decision while the plugin stays rejected.
                let msg = check::clean(&msg).replace('\n', " ");
                return Err(LoadError(format!("the plugin rejected its configuration: {msg}")));
            }
            Err(e) => return Err(LoadError(format!("check-config {e}"))),
        }
        let (request, context) = conformance_sample();
        let (wreq, wctx) = (convert::request(&request), convert::context(&context));
        let (answer, _) = self.host.call(&settings.name, &compiled, limits, |store, p| {
            p.decide(store, &settings.config, &wreq, &wctx)
        });
        if let Some(failure) = judge(&request, answer).1 {
            return Err(LoadError(format!("conformance call failed: {failure}")));
        }
        Ok(Plugin { name: settings.name.clone(), sha256, source, settings: settings.clone(), compiled })
    }

    /// Loads every enabled plugin of `settings` and swaps the set in at once. A plugin whose
    /// file and settings are unchanged is kept as is; one that fails keeps its previous version
    /// if there is one, else its slot denies everything.
    pub fn reload(&self, settings: &PluginSettings) -> Vec<LoadReport> {
        let current = self.slots();
        let mut reports = Vec::new();
        let mut next = Vec::new();
        for ps in &settings.enabled {
            let previous = current.iter().find_map(|s| match s {
                Slot::Loaded(p) if p.name == ps.name => Some(Arc::clone(p)),
                _ => None,
            });
            // Which component runs is decided first; when that cannot be decided (both a bundled
            // policy and a file, and no `source`), the slot denies everything, whatever ran before.
            let resolved = match bundled::resolve(ps) {
                Ok(r) => r,
                // A file that cannot be read now: the version of it that ran before keeps running
                // (never a bundled one in its place).
                Err(e @ bundled::ResolveError::File { .. }) => {
                    let previous = previous.filter(|p| p.source == PolicySource::File);
                    reject(&mut reports, &mut next, ps, e.to_string(), previous);
                    continue;
                }
                Err(e) => {
                    reject(&mut reports, &mut next, ps, e.to_string(), None);
                    continue;
                }
            };
            let attempt = {
                let bytes = &resolved.bytes;
                if let Some(p) = &previous
                    && p.sha256 == sha256_hex(bytes)
                    && p.source == resolved.source
                    && p.settings == *ps
                {
                    Ok(None)
                } else {
                    self.load_from(ps, bytes, resolved.source).map(Some)
                }
            };
            match (attempt, previous) {
                (Ok(None), Some(p)) => {
                    reports.push(LoadReport::Unchanged { plugin: ps.name.clone() });
                    next.push(Slot::Loaded(p));
                }
                (Ok(Some(p)), _) => {
                    reports.push(LoadReport::Loaded {
                        plugin: p.name.clone(),
                        sha256: p.sha256.clone(),
                        source: p.source,
                    });
                    next.push(Slot::Loaded(Arc::new(p)));
                }
                // Refused: what ran before keeps running only if it came from the same place.
                (Err(e), previous) => {
                    let previous = previous.filter(|p| p.source == resolved.source);
                    reject(&mut reports, &mut next, ps, e.0, previous);
                }
                (Ok(None), None) => {}
            }
        }
        *self.slots.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(next);
        let mut rejected = self.rejected.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        rejected.clear();
        for r in &reports {
            if let LoadReport::Rejected { plugin, reason, kept: true } = r {
                rejected.insert(plugin.clone(), reason.clone());
            }
        }
        reports
    }

    /// Runs one plugin's `decide` and checks its answer; any failure is a `deny`.
    pub fn run(&self, plugin: &Plugin, request: &Request, context: &Context) -> (PluginOutcome, host::Usage) {
        self.run_converted(plugin, request, &convert::request(request), &convert::context(context))
    }

    fn run_converted(
        &self,
        plugin: &Plugin,
        request: &Request,
        wreq: &host::w::Request,
        wctx: &host::w::Context,
    ) -> (PluginOutcome, host::Usage) {
        let (result, usage) =
            self.host.call(&plugin.name, &plugin.compiled, plugin.settings.limits, |store, p| {
                p.decide(store, &plugin.settings.config, wreq, wctx)
            });
        let (decision, failure) = judge(request, result);
        if let Some(f) = &failure {
            tracing::warn!(plugin = %plugin.name, request = %request.id, failure = %f, "Plugin failed; counted as deny");
        }
        let outcome = PluginOutcome {
            plugin: plugin.name.clone(),
            sha256: Some(plugin.sha256.clone()),
            decision,
            failure,
            time_us: u64::try_from(usage.time.as_micros()).unwrap_or(u64::MAX),
            fuel: usage.fuel,
            log_dropped: usage.log_dropped,
        };
        (outcome, usage)
    }

    /// Decides a request with every configured plugin, in order.
    pub fn decide(&self, request: &Request, context: &Context) -> Verdict {
        if let Some(decision) = refusal(request, context) {
            return Verdict { decision, plugins: Vec::new() };
        }
        let slots = self.slots();
        // Converted once for every plugin.
        let (wreq, wctx) = (convert::request(request), convert::context(context));
        let outcomes: Vec<PluginOutcome> =
            slots.iter().map(|slot| self.outcome(slot, request, &wreq, &wctx)).collect();
        verdict(outcomes)
    }

    /// One slot's part in a decision: its plugin's checked answer, or `deny` if it is not loaded.
    fn outcome(
        &self,
        slot: &Slot,
        request: &Request,
        wreq: &host::w::Request,
        wctx: &host::w::Context,
    ) -> PluginOutcome {
        match slot {
            Slot::Loaded(p) => self.run_converted(p, request, wreq, wctx).0,
            Slot::Missing { name, reason } => PluginOutcome {
                plugin: name.clone(),
                sha256: None,
                decision: Decision::deny(format!("plugin not loaded: {reason}")),
                failure: Some(format!("not loaded: {reason}")),
                time_us: 0,
                fuel: 0,
                log_dropped: 0,
            },
        }
    }

    /// Offers from every plugin's event hook (each still to be decided like a request).
    pub fn on_event(&self, event: &PolicyEvent, context: &Context) -> Vec<(String, Offer)> {
        if context.privacy {
            return Vec::new();
        }
        let wev = convert::event(event);
        let wctx = convert::context(context);
        let mut offers = Vec::new();
        for slot in self.slots().iter() {
            let Slot::Loaded(p) = slot else { continue };
            let (result, _) = self.host.call(&p.name, &p.compiled, p.settings.limits, |store, inst| {
                inst.on_event(store, &p.settings.config, &wev, &wctx)
            });
            match result.map(|o| o.map(convert::offer)) {
                Ok(Some(Ok(offer))) => offers.push((p.name.clone(), offer)),
                Ok(None) => {}
                Ok(Some(Err(why))) => {
                    let why = why.to_string();
                    tracing::warn!(plugin = %p.name, why, "Plugin offer refused");
                }
                Err(e) => tracing::warn!(plugin = %p.name, error = %e, "Plugin event hook failed"),
            }
        }
        offers
    }
}

/// A plugin refused on (re)load: the version before keeps deciding if there is one, else its
/// slot denies everything.
fn reject(
    reports: &mut Vec<LoadReport>,
    next: &mut Vec<Slot>,
    ps: &PolicySettings,
    reason: String,
    previous: Option<Arc<Plugin>>,
) {
    match previous {
        Some(p) => {
            reports.push(LoadReport::Rejected { plugin: ps.name.clone(), reason, kept: true });
            next.push(Slot::Loaded(p));
        }
        None => {
            reports.push(LoadReport::Rejected {
                plugin: ps.name.clone(),
                reason: reason.clone(),
                kept: false,
            });
            next.push(Slot::Missing { name: ps.name.clone(), reason });
        }
    }
}

/// A plugin's answer as a decision: its own if it is well-formed and within the request, else
/// `deny` with the reason (also returned on its own).
fn judge(request: &Request, answer: Result<host::w::Decision, CallError>) -> (Decision, Option<String>) {
    match answer {
        Ok(raw) => match check::decision(request, raw) {
            Ok(d) => (d, None),
            Err(why) => (Decision::deny(format!("plugin answer refused: {why}")), Some(why.to_string())),
        },
        Err(e) => {
            let why = format!("plugin {e}");
            (Decision::deny(why.clone()), Some(why))
        }
    }
}

/// The host's own `deny`, before any policy sees the request: privacy mode, or a request no
/// policy should see ([`sanity`]).
fn refusal(request: &Request, context: &Context) -> Option<Decision> {
    if context.privacy {
        return Some(Decision::deny("privacy mode is on: nothing is shared"));
    }
    sanity(request).err().map(|why| Decision::deny(why.to_string()))
}

/// The final decision from the plugins' outcomes, in order (the composition rule).
fn verdict(outcomes: Vec<PluginOutcome>) -> Verdict {
    let named: Vec<(&str, &Decision)> = outcomes.iter().map(|o| (o.plugin.as_str(), &o.decision)).collect();
    Verdict { decision: compose(&named), plugins: outcomes }
}

/// Why the host denies a request before any policy sees it.
#[derive(Debug, thiserror::Error)]
enum Insane {
    #[error("the request names no camera")]
    NoCamera,
    /// The name as shown: at most 80 characters.
    #[error("{0:?} cannot be a camera name (1-64 characters of a-z, 0-9, `_` and `-`)")]
    BadCameraName(String),
    #[error("the requested time range {from} .. {to} is empty or reversed")]
    EmptyRange { from: jiff::Timestamp, to: jiff::Timestamp },
    #[error("a live request for 0 seconds")]
    LiveForNothing,
}

/// Requests that no policy should even see: denied by the host.
fn sanity(request: &Request) -> Result<(), Insane> {
    let cameras = request.kind.cameras();
    if cameras.is_empty() {
        return Err(Insane::NoCamera);
    }
    // Names that no camera can have (`../../etc`, `front/../x`, control characters) are refused
    // before they reach a policy, a file name or a URL.
    if let Some(bad) = cameras.iter().find(|c| !crate::config::valid_name(c)) {
        return Err(Insane::BadCameraName(bad.chars().take(80).collect()));
    }
    if let RequestKind::Clip { from, to, .. } = &request.kind
        && from >= to
    {
        return Err(Insane::EmptyRange { from: *from, to: *to });
    }
    if let RequestKind::Live { max_seconds: 0, .. } = &request.kind {
        return Err(Insane::LiveForNothing);
    }
    Ok(())
}

/// A fixed request and context for the conformance call at load time.
fn conformance_sample() -> (Request, Context) {
    let now = jiff::Timestamp::from_second(1_800_000_000).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let earlier = jiff::Timestamp::from_second(1_799_999_400).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let request = Request {
        id: "conformance".into(),
        requester: Requester {
            organisation: "Porchlight".into(),
            person: "load check".into(),
            kind: RequesterKind::Other,
        },
        kind: RequestKind::Clip { cameras: vec!["conformance".into()], from: earlier, to: now },
        reason: "load-time conformance check".into(),
        case_number: None,
        legal_basis: LegalBasis::None,
        received_at: now,
    };
    let context = Context {
        now,
        mode: HubMode::Home,
        privacy: false,
        cameras: vec![CameraInfo {
            name: "conformance".into(),
            tags: vec![],
            last_motion: None,
            last_doorbell: None,
            last_alarm: None,
        }],
    };
    (request, context)
}

//! The policy engine inside the daemon: loads the configured plugins at start-up, reloads them
//! when their files or the `[plugins]` settings change, and decides requests with every
//! decision written to the audit log first. If the audit log cannot be written, the decision
//! is `deny` (nothing is shared that is not on record).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::pool::{Admission, Busy, DecisionPool};
use super::{Context, Decision, LoadReport, PolicyEngine, Request, Slot, Verdict};
use crate::audit::{self, Audit, Entry};
use crate::bus::{Bus, EventKind};
use crate::config::{PluginSettings, Settings};
use crate::health::{Health, State, Subsystem};
use crate::metrics::{Label, Metric, Metrics};

/// Quiet time after the last change in the plugin directory before reloading.
const SETTLE: Duration = Duration::from_millis(200);

#[derive(Debug)]
pub struct PolicyService {
    pub engine: Arc<PolicyEngine>,
    pub audit: Option<Audit>,
    pub bus: Bus,
    pub health: Health,
    pub metrics: Metrics,
    /// The cameras' latest events, filled into every decision's context.
    pub recent: super::recent::Recent,
    /// Where decisions run (never on the async runtime).
    pub pool: DecisionPool,
    /// For `hub.max_live`, the ceiling on any live grant.
    pub settings: watch::Receiver<Arc<Settings>>,
}

impl PolicyService {
    /// (Re)loads the plugins, then reports each outcome: log, bus event, audit entry, health.
    pub fn reload(&self, settings: &PluginSettings, trigger: &str) {
        let reports = self.engine.reload(settings);
        // Health first: whoever reacts to the events below sees the state they announce.
        self.update_health();
        for r in &reports {
            match r {
                LoadReport::Loaded { plugin, sha256, source } => {
                    let source = source.name();
                    tracing::info!(plugin = %plugin, source, sha256 = %sha256, trigger, "Plugin loaded");
                    self.bus.publish(
                        None,
                        EventKind::PluginLoaded { plugin: plugin.clone(), sha256: sha256.clone() },
                    );
                    audit::best_effort(
                        self.audit.as_ref(),
                        &Entry::PluginLoaded {
                            plugin: plugin.clone(),
                            sha256: sha256.clone(),
                            trigger: trigger.to_owned(),
                        },
                    );
                }
                LoadReport::Unchanged { .. } => {}
                LoadReport::Rejected { plugin, reason, kept } => {
                    tracing::error!(plugin = %plugin, reason = %reason, kept_previous = kept, trigger, "Plugin rejected");
                    self.bus.publish(
                        None,
                        EventKind::PluginRejected { plugin: plugin.clone(), reason: reason.clone() },
                    );
                    audit::best_effort(
                        self.audit.as_ref(),
                        &Entry::PluginRejected {
                            plugin: plugin.clone(),
                            reason: reason.clone(),
                            kept_previous: *kept,
                            trigger: trigger.to_owned(),
                        },
                    );
                }
            }
        }
    }

    /// [`PolicyService::reload`] on a blocking thread: compiling a plugin takes a while.
    pub async fn reload_blocking(self: &Arc<Self>, settings: &PluginSettings, trigger: &'static str) {
        let (me, settings) = (Arc::clone(self), settings.clone());
        if let Err(e) = tokio::task::spawn_blocking(move || me.reload(&settings, trigger)).await {
            tracing::error!(error = %e, "Plugin reload failed");
        }
    }

    fn update_health(&self) {
        let slots = self.engine.slots();
        let loaded = slots.iter().filter(|s| matches!(s, Slot::Loaded(_))).count();
        let missing: Vec<String> = slots
            .iter()
            .filter_map(|s| match s {
                Slot::Missing { name, reason } => Some(format!("{name}: {reason}")),
                Slot::Loaded(_) => None,
            })
            .collect();
        let rejected: Vec<String> =
            self.engine.rejected().into_iter().map(|(name, why)| format!("{name}: {why}")).collect();
        let mut problems = Vec::new();
        if !missing.is_empty() {
            problems.push(format!("not loaded (so every request is denied): {}", missing.join("; ")));
        }
        if !rejected.is_empty() {
            problems.push(format!(
                "new version rejected (the one before keeps deciding): {}",
                rejected.join("; ")
            ));
        }
        if slots.is_empty() {
            self.health.set(
                Subsystem::Plugins,
                State::Running,
                "no policy installed: every request is denied",
            );
        } else if problems.is_empty() {
            self.health.set(Subsystem::Plugins, State::Running, format!("{loaded} loaded"));
        } else {
            self.health.set(
                Subsystem::Plugins,
                State::Degraded,
                format!("{loaded} loaded; {}", problems.join("; ")),
            );
        }
    }

    /// Decides a request with every plugin and records it, on the decision pool. `source` says
    /// where it came from (e.g. `api-evaluate`, `relay`). Fails closed when the record cannot be
    /// written; `Busy` (nothing decided, nothing recorded) when the pool's queue is full and
    /// `admission` says not to wait.
    pub async fn decide(
        self: &Arc<Self>,
        request: Request,
        context: Context,
        source: &str,
        admission: Admission,
    ) -> Result<Verdict, Busy> {
        let (me, source) = (Arc::clone(self), source.to_owned());
        let id = request.id.clone();
        let ran = self.pool.run(admission, move || me.decide_now(request, context, &source)).await?;
        Ok(ran.unwrap_or_else(|| {
            tracing::error!(request = %id, "The policy engine failed while deciding; denied");
            Verdict {
                decision: Decision::deny("the policy engine failed, so nothing is shared"),
                plugins: Vec::new(),
            }
        }))
    }

    /// The decision itself, on the calling (worker) thread.
    fn decide_now(&self, request: Request, context: Context, source: &str) -> Verdict {
        let mut context = context;
        self.recent.apply(&mut context);
        self.bus.publish(
            None,
            EventKind::RequestReceived {
                request_id: request.id.clone(),
                requester: format!("{} ({})", request.requester.organisation, request.requester.kind.name()),
            },
        );
        // Both entries are required: a decision not on record is `deny`.
        let recorded = audit::required(
            self.audit.as_ref(),
            &Entry::Request {
                source: source.to_owned(),
                request: audit::to_json(&request),
                context: audit::to_json(&context),
            },
        )
        .is_ok();
        let mut verdict = self.engine.decide(&request, &context);
        let max_live = self.settings.borrow().hub.max_live;
        if let Decision::Allow { grant } = &mut verdict.decision
            && let Some(cut) = cap_live(grant, max_live)
        {
            tracing::info!(request = %request.id, granted_s = cut, max_live_s = max_live.as_secs(), "Live grant cut to hub.max_live");
        }
        if !recorded {
            verdict.decision = Decision::deny("the audit log cannot be written, so nothing is shared");
        }
        let written = audit::required(
            self.audit.as_ref(),
            &Entry::Decision {
                source: source.to_owned(),
                request_id: request.id.clone(),
                decision: audit::to_json(&verdict.decision),
                plugins: audit::to_json(&verdict.plugins),
            },
        )
        .is_ok();
        if !written && verdict.decision.outcome() != "deny" {
            verdict.decision = Decision::deny("the audit log cannot be written, so nothing is shared");
        }
        let (outcome, reason) = match &verdict.decision {
            Decision::Deny { reason } => ("deny", reason.clone()),
            Decision::Ask { prompt, .. } => ("ask", prompt.clone()),
            Decision::Allow { .. } => ("allow", String::new()),
        };
        self.metrics.inc(Metric::PolicyDecisions, &[(Label::Decision, outcome)]);
        tracing::info!(request = %request.id, decision = outcome, source, "Request decided");
        self.bus.publish(
            None,
            EventKind::DecisionMade { request_id: request.id, decision: outcome.to_owned(), reason },
        );
        verdict
    }

    /// Keeps the plugins in line with the settings and the plugin directory until `cancel`.
    pub async fn run(
        self: Arc<Self>,
        mut settings: watch::Receiver<Arc<Settings>>,
        cancel: CancellationToken,
    ) {
        // The first load happened before the daemon reported ready (`run.rs`).
        let mut current = settings.borrow_and_update().plugins.clone();
        let (tx, mut rx) = mpsc::channel::<()>(1);
        let mut watching: Option<(PathBuf, notify::RecommendedWatcher)> = None;
        loop {
            if watching.as_ref().is_none_or(|(d, _)| *d != current.dir) {
                watching = watch_dir(&current.dir, tx.clone());
            }
            tokio::select! {
                () = cancel.cancelled() => break,
                changed = settings.changed() => {
                    if changed.is_err() { break }
                    let next = settings.borrow_and_update().plugins.clone();
                    if next != current {
                        current = next;
                        self.reload_blocking(&current, "config changed").await;
                    }
                }
                Some(()) = rx.recv() => {
                    if !crate::reload::settle(&mut rx, SETTLE, &cancel).await {
                        return;
                    }
                    self.reload_blocking(&current, "plugin file changed").await;
                }
            }
        }
    }
}

fn watch_dir(dir: &std::path::Path, tx: mpsc::Sender<()>) -> Option<(PathBuf, notify::RecommendedWatcher)> {
    let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let Ok(event) = res else { return };
        let wasm = event.paths.iter().any(|p| p.extension().is_some_and(|e| e == "wasm"));
        if wasm && !matches!(event.kind, notify::EventKind::Access(_)) {
            let _ = tx.try_send(());
        }
    });
    match watcher.and_then(|mut w| w.watch(dir, RecursiveMode::NonRecursive).map(|()| w)) {
        Ok(w) => Some((dir.to_owned(), w)),
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "Cannot watch the plugin directory; plugins reload with the config");
            None
        }
    }
}

/// Cuts a live grant to the resident's ceiling (`hub.max_live`); returns what was granted if it
/// was longer.
pub fn cap_live(grant: &mut super::Grant, max_live: Duration) -> Option<u32> {
    let ceiling = u32::try_from(max_live.as_secs()).unwrap_or(u32::MAX);
    match grant.live_max_seconds {
        Some(s) if s > ceiling => {
            grant.live_max_seconds = Some(ceiling);
            Some(s)
        }
        _ => None,
    }
}

/// The context the hub gives policies now: its cameras and their tags.
pub fn context_from(settings: &Settings, mode: super::HubMode) -> Context {
    Context {
        now: jiff::Timestamp::now(),
        mode,
        privacy: false,
        cameras: settings
            .cameras
            .iter()
            .map(|c| super::CameraInfo {
                name: c.name.clone(),
                tags: c.tags.clone(),
                last_motion: None,
                last_doorbell: None,
                last_alarm: None,
            })
            .collect(),
    }
}

//! `record = "on_event"`: a camera whose stream is opened only when it reports an event.
//!
//! Some streams cost something while they are open: the RTSP gateway of ring-mqtt starts a
//! stream from Ring's cloud for each client (and a Ring camera sends no motion or ding alerts
//! while it streams), so such a camera cannot be recorded all the time. Here the camera task
//! waits in state `standby`; a motion start, doorbell press, tamper or alarm of the camera opens
//! its stream, which is recorded until `post_roll` after the latest event and then closed.
//! There is no pre-roll: nothing is received before the event. Streams open at once are bounded
//! by `storage.max_on_demand_sessions` for all cameras together ([`super::OnDemandSlot`]).
//!
//! While waiting, the camera is shown offline when the stream's port refuses connections (a
//! TCP connect every [`PROBE_EVERY`], no RTSP request, so nothing is started at the source) or
//! when a bridge says it cannot reach the camera ([`super::states::Reachability`]).

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::states::CameraStates;
use super::{CameraState, ingest};
use crate::bus::{Bus, EventKind};

/// Between TCP probes of an idle on-demand camera's stream port.
pub const PROBE_EVERY: Duration = Duration::from_secs(2);
/// The least time between two tries to open the stream for the same events.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// What the on-demand loop needs besides the camera.
#[derive(Debug, Clone, Copy)]
pub struct OnDemand {
    pub post_roll: Duration,
    /// `storage.max_on_demand_sessions`.
    pub max_sessions: usize,
}

/// Whether an event of this kind opens the stream.
fn opens(kind: &EventKind) -> bool {
    matches!(kind, EventKind::MotionStart | EventKind::DoorbellPress | EventKind::Tamper | EventKind::Alarm)
}

/// Runs the camera on demand until `cancel` fires (see the module docs).
pub async fn run<O: ingest::Opener, C: ingest::WallClock>(
    opener: O,
    source: ingest::Source,
    mut feed: ingest::Feed<C>,
    bus: Bus,
    states: CameraStates,
    od: OnDemand,
    cancel: CancellationToken,
) {
    let camera = source.camera.clone();
    let mut events = bus.subscribe(&format!("on-demand-{camera}"));
    let mut reach = states.reachable().subscribe();
    let mut probe_tick = tokio::time::interval(PROBE_EVERY);
    probe_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Why the camera is down (`None`: reachable), as last announced.
    let mut down: Option<Option<String>> = None;
    let mut port_refused: Option<String> = None;
    let mut gap_reason = "recorder was not running".to_owned();
    // Announces a change of reachability (once per change) and the idle state.
    let show = |port: &Option<String>, down: &mut Option<Option<String>>| {
        let why = states.reachable().why(&camera).or_else(|| port.clone());
        if down.as_ref() != Some(&why) {
            match &why {
                Some(reason) => {
                    tracing::warn!(error = %reason, "Camera offline");
                    bus.publish(Some(&camera), EventKind::CameraOffline { reason: reason.clone() });
                }
                None if down.is_some() => {
                    tracing::info!("Camera reachable again; waiting for events");
                    bus.publish(Some(&camera), EventKind::CameraOnline);
                }
                None => {}
            }
            *down = Some(why.clone());
        }
        states.set(&camera, if why.is_some() { CameraState::Offline } else { CameraState::Standby });
    };
    show(&port_refused, &mut down);
    loop {
        // Idle: wait for an event, watching reachability.
        let first = tokio::select! {
            () = cancel.cancelled() => return,
            e = events.recv() => match e {
                Some(e) if e.camera.as_deref() == Some(camera.as_str()) && opens(&e.kind) => Instant::now(),
                Some(_) => continue,
                None => return,
            },
            changed = reach.changed() => {
                if changed.is_err() { return }
                show(&port_refused, &mut down);
                continue;
            }
            _ = probe_tick.tick() => {
                port_refused = opener.probe(&source).await.err().map(|e| format!("the stream's port refuses connections: {e}"));
                show(&port_refused, &mut down);
                continue;
            }
        };
        let mut until = first + od.post_roll;
        tracing::info!(post_roll_ms = od.post_roll.as_millis() as u64, "Event: opening the camera's stream");
        // A slot among the on-demand streams, unless the events are over first.
        let slot = tokio::select! {
            () = cancel.cancelled() => return,
            s = states.on_demand().take(od.max_sessions) => s,
            () = extend_until(&mut events, &camera, &mut until, od.post_roll) => {
                tracing::warn!(limit = od.max_sessions, "The event was not recorded: the most on-demand streams were open until its post-roll ended (storage.max_on_demand_sessions)");
                continue;
            }
        };
        // Sessions until the post-roll after the latest event has passed.
        let mut failed: Option<String> = None;
        while Instant::now() < until && !cancel.is_cancelled() {
            states.set(&camera, CameraState::Connecting);
            let session_cancel = cancel.child_token();
            let streamed = std::sync::atomic::AtomicBool::new(false);
            let announce = || {
                if !streamed.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    states.set(&camera, CameraState::Recording);
                }
            };
            let started = Instant::now();
            let ended = {
                let session = ingest::session(
                    &opener,
                    &mut feed,
                    &source,
                    gap_reason.clone(),
                    &announce,
                    &session_cancel,
                );
                tokio::pin!(session);
                loop {
                    tokio::select! {
                        r = &mut session => break r,
                        () = tokio::time::sleep_until(until), if !session_cancel.is_cancelled() => {
                            session_cancel.cancel();
                        }
                        e = events.recv(), if !session_cancel.is_cancelled() => match e {
                            Some(e) if e.camera.as_deref() == Some(camera.as_str()) && opens(&e.kind) => {
                                until = until.max(Instant::now() + od.post_roll);
                            }
                            Some(_) => {}
                            None => session_cancel.cancel(),
                        },
                    }
                }
            };
            feed.end_session().await;
            let got_frames = streamed.load(std::sync::atomic::Ordering::Relaxed);
            gap_reason = "no event (the stream is opened on events only)".to_owned();
            match ended {
                Ok(()) if session_cancel.is_cancelled() => {
                    failed = None;
                    break;
                }
                Ok(()) => failed = Some("the stream ended".to_owned()),
                Err(e) => failed = Some(e.describe(&source.url)),
            }
            if got_frames {
                failed = None;
            }
            tracing::debug!(error = failed.as_deref().unwrap_or(""), "On-demand session ended early");
            let wait = RETRY_AFTER.saturating_sub(started.elapsed());
            tokio::select! {
                () = cancel.cancelled() => break,
                () = tokio::time::sleep(wait) => {}
            }
        }
        drop(slot);
        tracing::info!("Post-roll over: camera's stream closed");
        match failed {
            Some(reason) => {
                down = Some(Some(reason.clone()));
                tracing::warn!(error = %reason, "Camera offline: its stream could not be opened for the event");
                bus.publish(Some(&camera), EventKind::CameraOffline { reason: reason.clone() });
                states.set(&camera, CameraState::Offline);
                gap_reason = format!("camera offline: {reason}");
            }
            None => show(&port_refused, &mut down),
        }
    }
}

/// Follows the camera's events, moving `until` to `post_roll` after each; returns once
/// `until` has passed.
async fn extend_until(
    events: &mut crate::bus::Subscriber,
    camera: &str,
    until: &mut Instant,
    post_roll: Duration,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(*until) => return,
            e = events.recv() => match e {
                Some(e) if e.camera.as_deref() == Some(camera) && opens(&e.kind) => {
                    *until = (*until).max(Instant::now() + post_roll);
                }
                Some(_) => {}
                None => return,
            },
        }
    }
}

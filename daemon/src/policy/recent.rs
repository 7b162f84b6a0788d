//! What happened at each camera lately, for the policies' context (`last_motion`,
//! `last_doorbell`, `last_alarm`): kept from the event bus, so a policy can share only right
//! after an alarm (`emergency-live`) or a doorbell press. An alarm is a camera's `alarm` event
//! (e.g. from an alarm panel, `POST /api/cameras/{name}/events`) or its tamper alarm.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use jiff::Timestamp;
use tokio_util::sync::CancellationToken;

use super::Context;
use crate::bus::{Bus, Event, EventKind};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Last {
    motion: Option<Timestamp>,
    doorbell: Option<Timestamp>,
    alarm: Option<Timestamp>,
}

/// The latest events per camera. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Recent {
    inner: Arc<Mutex<HashMap<String, Last>>>,
}

impl Recent {
    /// Takes note of a camera event.
    pub fn observe(&self, e: &Event) {
        let Some(camera) = &e.camera else { return };
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let last = inner.entry(camera.clone()).or_default();
        match e.kind {
            EventKind::MotionStart => last.motion = Some(e.time),
            EventKind::DoorbellPress => last.doorbell = Some(e.time),
            EventKind::Alarm | EventKind::Tamper => last.alarm = Some(e.time),
            _ => {}
        }
    }

    /// Fills in what the context does not say yet about each of its cameras.
    pub fn apply(&self, context: &mut Context) {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        for c in &mut context.cameras {
            if let Some(last) = inner.get(&c.name) {
                c.last_motion = c.last_motion.or(last.motion);
                c.last_doorbell = c.last_doorbell.or(last.doorbell);
                c.last_alarm = c.last_alarm.or(last.alarm);
            }
        }
    }

    /// Follows the bus until `cancel`.
    pub async fn run(self, bus: Bus, cancel: CancellationToken) {
        let mut sub = bus.subscribe("policy-context");
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                e = sub.recv() => match e {
                    Some(e) => self.observe(&e),
                    None => return,
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{CameraInfo, HubMode};

    #[test]
    fn the_latest_events_reach_the_context() {
        let bus = Bus::new(16, crate::metrics::Metrics::new());
        let recent = Recent::default();
        for (camera, kind) in [
            ("porch", EventKind::MotionStart),
            ("porch", EventKind::DoorbellPress),
            ("yard", EventKind::Alarm),
            ("porch", EventKind::MotionEnd),
        ] {
            recent.observe(&bus.publish(Some(camera), kind));
        }
        recent.observe(&bus.publish(None, EventKind::MotionStart));
        let camera = |name: &str| CameraInfo {
            name: name.into(),
            tags: vec![],
            last_motion: None,
            last_doorbell: None,
            last_alarm: None,
        };
        let mut ctx = Context {
            now: Timestamp::now(),
            mode: HubMode::Home,
            privacy: false,
            cameras: vec![camera("porch"), camera("yard"), camera("garage")],
        };
        recent.apply(&mut ctx);
        let [porch, yard, garage] = &ctx.cameras[..] else { panic!("three cameras") };
        assert!(porch.last_motion.is_some() && porch.last_doorbell.is_some() && porch.last_alarm.is_none());
        assert!(yard.last_alarm.is_some() && yard.last_motion.is_none());
        assert_eq!(garage, &camera("garage"));
    }
}

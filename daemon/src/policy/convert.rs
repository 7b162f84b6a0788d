//! Domain types ↔ WIT types. Times cross the boundary as whole seconds since the epoch.

use jiff::Timestamp;

use super::host::w;
use super::types::*;

fn secs(t: Timestamp) -> i64 {
    t.as_second()
}

/// Whole seconds, rounded down (`as_second` truncates toward zero).
pub fn floor_second(t: Timestamp) -> i64 {
    let s = t.as_second();
    if t.subsec_nanosecond() < 0 { s - 1 } else { s }
}

/// Whole seconds, rounded up.
pub fn ceil_second(t: Timestamp) -> i64 {
    let s = t.as_second();
    if t.subsec_nanosecond() > 0 { s + 1 } else { s }
}

/// A plugin's time that no timestamp can hold.
#[derive(Debug, thiserror::Error)]
#[error("time {seconds} is out of range")]
pub struct TimeOutOfRange {
    pub seconds: i64,
    source: jiff::Error,
}

fn time(seconds: i64) -> Result<Timestamp, TimeOutOfRange> {
    Timestamp::from_second(seconds).map_err(|source| TimeOutOfRange { seconds, source })
}

fn requester_kind(k: RequesterKind) -> w::RequesterKind {
    match k {
        RequesterKind::Police => w::RequesterKind::Police,
        RequesterKind::Monitoring => w::RequesterKind::Monitoring,
        RequesterKind::Insurer => w::RequesterKind::Insurer,
        RequesterKind::Neighbour => w::RequesterKind::Neighbour,
        RequesterKind::Resident => w::RequesterKind::Resident,
        RequesterKind::Other => w::RequesterKind::Other,
    }
}

fn requester_kind_back(k: w::RequesterKind) -> RequesterKind {
    match k {
        w::RequesterKind::Police => RequesterKind::Police,
        w::RequesterKind::Monitoring => RequesterKind::Monitoring,
        w::RequesterKind::Insurer => RequesterKind::Insurer,
        w::RequesterKind::Neighbour => RequesterKind::Neighbour,
        w::RequesterKind::Resident => RequesterKind::Resident,
        w::RequesterKind::Other => RequesterKind::Other,
    }
}

fn requester(r: &Requester) -> w::Requester {
    w::Requester {
        organisation: r.organisation.clone(),
        person: r.person.clone(),
        kind: requester_kind(r.kind),
    }
}

fn kind(k: &RequestKind) -> w::RequestKind {
    match k {
        RequestKind::Clip { cameras, from, to } => w::RequestKind::Clip(w::ClipRequest {
            cameras: cameras.clone(),
            range: w::TimeRange { start: floor_second(*from), end: ceil_second(*to) },
        }),
        RequestKind::Live { cameras, max_seconds } => {
            w::RequestKind::Live(w::LiveRequest { cameras: cameras.clone(), max_seconds: *max_seconds })
        }
        RequestKind::Snapshot { cameras } => {
            w::RequestKind::Snapshot(w::SnapshotRequest { cameras: cameras.clone() })
        }
    }
}

pub fn request(r: &Request) -> w::Request {
    w::Request {
        id: r.id.clone(),
        requester: requester(&r.requester),
        kind: kind(&r.kind),
        reason: r.reason.clone(),
        case_number: r.case_number.clone(),
        legal_basis: match &r.legal_basis {
            LegalBasis::Warrant { reference, court, issued, expires, scope } => {
                w::LegalBasis::Warrant(w::Warrant {
                    reference: reference.clone(),
                    court: court.clone(),
                    issued: secs(*issued),
                    expires: secs(*expires),
                    scope: w::WarrantScope {
                        cameras: scope.cameras.clone(),
                        range: w::TimeRange { start: secs(scope.from), end: secs(scope.to) },
                    },
                })
            }
            LegalBasis::Exigent { statement } => w::LegalBasis::Exigent(statement.clone()),
            LegalBasis::Consent => w::LegalBasis::Consent,
            LegalBasis::None => w::LegalBasis::None,
        },
        received: secs(r.received_at),
    }
}

pub fn context(c: &Context) -> w::Context {
    w::Context {
        now: secs(c.now),
        mode: match c.mode {
            HubMode::Home => w::HubMode::Home,
            HubMode::Away => w::HubMode::Away,
            HubMode::Night => w::HubMode::Night,
            HubMode::Vacation => w::HubMode::Vacation,
        },
        privacy: c.privacy,
        cameras: c
            .cameras
            .iter()
            .map(|cam| w::CameraInfo {
                name: cam.name.clone(),
                tags: cam.tags.clone(),
                last_motion: cam.last_motion.map(secs),
                last_doorbell: cam.last_doorbell.map(secs),
                last_alarm: cam.last_alarm.map(secs),
            })
            .collect(),
    }
}

pub fn event(e: &PolicyEvent) -> w::Event {
    w::Event {
        kind: match e.kind {
            EventKind::Motion => w::EventKind::Motion,
            EventKind::Doorbell => w::EventKind::Doorbell,
            EventKind::Tamper => w::EventKind::Tamper,
            EventKind::Alarm => w::EventKind::Alarm,
        },
        camera: e.camera.clone(),
        time: secs(e.time),
    }
}

/// A plugin's offer back into a domain value (times checked).
pub fn offer(o: w::Offer) -> Result<Offer, TimeOutOfRange> {
    let kind = match o.kind {
        w::RequestKind::Clip(c) => {
            RequestKind::Clip { cameras: c.cameras, from: time(c.range.start)?, to: time(c.range.end)? }
        }
        w::RequestKind::Live(l) => RequestKind::Live { cameras: l.cameras, max_seconds: l.max_seconds },
        w::RequestKind::Snapshot(s) => RequestKind::Snapshot { cameras: s.cameras },
    };
    Ok(Offer {
        recipient: Requester {
            organisation: o.recipient.organisation,
            person: o.recipient.person,
            kind: requester_kind_back(o.recipient.kind),
        },
        kind,
        reason: o.reason,
    })
}

/// A plugin's raw decision, before `check` decides whether it is acceptable.
pub fn decision_times(range: Option<w::TimeRange>) -> Result<Option<(Timestamp, Timestamp)>, TimeOutOfRange> {
    range.map(|r| Ok((time(r.start)?, time(r.end)?))).transpose()
}

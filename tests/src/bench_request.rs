//! The request and context the policy benchmarks decide (`benches/policy.rs`,
//! `benches/js_policy.rs`): a police clip request of two street cameras under a warrant that
//! covers one of them for half the time, so `warrant-required` narrows it.

use jiff::Timestamp;
use porchlight::policy::{
    CameraInfo, Context, HubMode, LegalBasis, Request, RequestKind, Requester, RequesterKind, WarrantScope,
};

/// The benchmarks' clock: every time below is relative to it.
pub const NOW: i64 = 1_800_000_000;

fn ts(s: i64) -> Timestamp {
    Timestamp::from_second(s).expect("timestamp")
}

/// The request.
pub fn request() -> Request {
    Request {
        id: "bench".into(),
        requester: Requester {
            organisation: "City Police".into(),
            person: "Det. Smith".into(),
            kind: RequesterKind::Police,
        },
        kind: RequestKind::Clip {
            cameras: vec!["front".into(), "drive".into()],
            from: ts(NOW - 3600),
            to: ts(NOW - 60),
        },
        reason: "burglary".into(),
        case_number: Some("2026-1".into()),
        legal_basis: LegalBasis::Warrant {
            reference: "W-1".into(),
            court: "District Court".into(),
            issued: ts(NOW - 86_400),
            expires: ts(NOW + 86_400),
            scope: WarrantScope { cameras: vec!["front".into()], from: ts(NOW - 1800), to: ts(NOW) },
        },
        received_at: ts(NOW),
    }
}

/// The context: at home, privacy off, both cameras tagged `street`, nothing happened lately.
pub fn context() -> Context {
    let cam = |n: &str| CameraInfo {
        name: n.into(),
        tags: vec!["street".into()],
        last_motion: None,
        last_doorbell: None,
        last_alarm: None,
    };
    Context { now: ts(NOW), mode: HubMode::Home, privacy: false, cameras: vec![cam("front"), cam("drive")] }
}

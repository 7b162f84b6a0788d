//! The JSON payloads Porchlight publishes besides discovery configs (`docs/ref/mqtt.md`).
//! Event payloads carry `event_type`, as Home Assistant's MQTT `event` entity expects.

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::requests::PendingView;

/// `<prefix>/<camera>/doorbell`.
pub fn doorbell(time: Timestamp) -> Value {
    json!({ "event_type": "press", "time": time })
}

/// `<prefix>/requests/received`.
pub fn received(request_id: &str, requester: &str, time: Timestamp) -> Value {
    json!({ "event_type": "received", "request_id": request_id, "requester": requester, "time": time })
}

/// `<prefix>/requests/decided`: `event_type` is `allow`, `deny` or `ask`.
pub fn decided(request_id: &str, decision: &str, reason: &str, time: Timestamp) -> Value {
    json!({ "event_type": decision, "request_id": request_id, "reason": reason, "time": time })
}

/// `<prefix>/requests`: the waiting requests, oldest first.
pub fn pending(list: &[PendingView]) -> Value {
    Value::Array(
        list.iter()
            .map(|p| {
                json!({
                    "id": p.id,
                    "source": p.source,
                    "requester": p.request.requester,
                    "kind": p.request.kind,
                    "reason": p.request.reason,
                    "case_number": p.request.case_number,
                    "legal_basis": p.request.legal_basis,
                    "prompt": p.prompt,
                    "asked_at": p.asked_at,
                    "expires": p.expires,
                })
            })
            .collect(),
    )
}

/// What `<prefix>/requests/selection` and Home Assistant's `select` show while nothing waits.
pub const NONE_WAITING: &str = "no request is waiting";

/// How a waiting request is named in the `select`: its id and who asks.
pub fn request_label(p: &PendingView) -> String {
    let who = &p.request.requester;
    let label = if who.person.is_empty() {
        format!("{}: {}", p.id, who.organisation)
    } else {
        format!("{}: {}, {}", p.id, who.organisation, who.person)
    };
    // Home Assistant keeps a state of at most 255 characters.
    label.chars().take(255).collect()
}

/// `<prefix>/audit/head`: the audit log's head and when the hub published it.
pub fn audit_head(head: &crate::audit::Anchor, time: Timestamp) -> Value {
    json!({ "entries": head.entries, "hash": head.hash, "time": time })
}

/// `<prefix>/stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Bytes of recordings in the index (`None`: the index is not available).
    pub storage_used_bytes: Option<u64>,
    /// Free bytes on the recordings filesystem (`None`: cannot be read).
    pub storage_free_bytes: Option<u64>,
    pub cameras_recording: usize,
    pub cameras_enabled: usize,
    pub pending_requests: usize,
    pub privacy: bool,
}

impl Stats {
    pub fn to_json(self) -> Value {
        json!({
            "storage_used_bytes": self.storage_used_bytes,
            "storage_free_bytes": self.storage_free_bytes,
            "cameras_recording": self.cameras_recording,
            "cameras_enabled": self.cameras_enabled,
            "pending_requests": self.pending_requests,
            "privacy": self.privacy,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{LegalBasis, Request, RequestKind, Requester, RequesterKind, WarrantScope};

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    /// Every state and event payload, as subscribers receive them.
    #[test]
    fn state_and_event_payloads() {
        let t = ts("2026-11-27T08:15:00Z");
        let request = Request {
            id: "rtcc-4411".into(),
            requester: Requester {
                organisation: "City Police RTCC".into(),
                person: "Det. Smith".into(),
                kind: RequesterKind::Police,
            },
            kind: RequestKind::Clip {
                cameras: vec!["porch".into()],
                from: ts("2026-11-27T02:00:00Z"),
                to: ts("2026-11-27T02:30:00Z"),
            },
            reason: "burglary on Elm St".into(),
            case_number: Some("2026-0042".into()),
            legal_basis: LegalBasis::Warrant {
                reference: "W-77".into(),
                court: "District Court".into(),
                issued: ts("2026-11-26T00:00:00Z"),
                expires: ts("2026-12-26T00:00:00Z"),
                scope: WarrantScope {
                    cameras: vec!["porch".into()],
                    from: ts("2026-11-27T01:00:00Z"),
                    to: ts("2026-11-27T03:00:00Z"),
                },
            },
            received_at: t,
        };
        let view = PendingView {
            id: request.id.clone(),
            source: "relay".into(),
            request,
            prompt: "City Police RTCC asks for 30 minutes of porch".into(),
            asked_at: t,
            expires: ts("2026-11-27T09:15:00Z"),
        };
        let stats = Stats {
            storage_used_bytes: Some(52_428_800_000),
            storage_free_bytes: Some(107_374_182_400),
            cameras_recording: 3,
            cameras_enabled: 4,
            pending_requests: 1,
            privacy: false,
        };
        let all = json!({
            "porchlight/porch/doorbell": doorbell(t),
            "porchlight/requests/received": received("rtcc-4411", "City Police RTCC (police)", t),
            "porchlight/requests/decided": decided("rtcc-4411", "deny", "no warrant covers this camera", t),
            "porchlight/requests/selection": request_label(&view),
            "porchlight/requests": pending(&[view]),
            "porchlight/stats": stats.to_json(),
        });
        insta::assert_snapshot!(serde_json::to_string_pretty(&all).expect("json"));
    }

    /// The audit head reads back as the anchor `porchlight audit verify --head-file` takes.
    #[test]
    fn audit_head_payload() {
        let head = crate::audit::Anchor { entries: 15, hash: "b2".repeat(32) };
        let v = audit_head(&head, ts("2026-11-27T08:15:00Z"));
        assert_eq!(
            v.to_string(),
            format!(r#"{{"entries":15,"hash":"{}","time":"2026-11-27T08:15:00Z"}}"#, head.hash)
        );
        assert_eq!(v.to_string().parse::<crate::audit::Anchor>().expect("anchor"), head);
    }
}

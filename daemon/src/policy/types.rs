//! The sharing request, the hub's context and the decision, as the daemon (API, relay, CLI,
//! audit log) sees them: serde types with RFC 3339 times. `host.rs` converts them to and from
//! the WIT types of `sdk/wit/policy.wit`.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequesterKind {
    Police,
    Monitoring,
    Insurer,
    Neighbour,
    Resident,
    Other,
}

impl RequesterKind {
    /// The name used in JSON (`police`, `monitoring`, …).
    pub fn name(self) -> &'static str {
        match self {
            Self::Police => "police",
            Self::Monitoring => "monitoring",
            Self::Insurer => "insurer",
            Self::Neighbour => "neighbour",
            Self::Resident => "resident",
            Self::Other => "other",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requester {
    pub organisation: String,
    #[serde(default)]
    pub person: String,
    pub kind: RequesterKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RequestKind {
    Clip { cameras: Vec<String>, from: Timestamp, to: Timestamp },
    Live { cameras: Vec<String>, max_seconds: u32 },
    Snapshot { cameras: Vec<String> },
}

impl RequestKind {
    pub fn cameras(&self) -> &[String] {
        match self {
            Self::Clip { cameras, .. } | Self::Live { cameras, .. } | Self::Snapshot { cameras } => cameras,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Clip { .. } => "clip",
            Self::Live { .. } => "live",
            Self::Snapshot { .. } => "snapshot",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarrantScope {
    #[serde(default)]
    pub cameras: Vec<String>,
    pub from: Timestamp,
    pub to: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum LegalBasis {
    Warrant { reference: String, court: String, issued: Timestamp, expires: Timestamp, scope: WarrantScope },
    Exigent { statement: String },
    Consent,
    None,
}

/// A request to share footage with someone outside the house.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    pub id: String,
    pub requester: Requester,
    pub kind: RequestKind,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub case_number: Option<String>,
    pub legal_basis: LegalBasis,
    pub received_at: Timestamp,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HubMode {
    #[default]
    Home,
    Away,
    Night,
    Vacation,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraInfo {
    pub name: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub last_motion: Option<Timestamp>,
    #[serde(default)]
    pub last_doorbell: Option<Timestamp>,
    #[serde(default)]
    pub last_alarm: Option<Timestamp>,
}

/// The hub's state when a decision is asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Context {
    pub now: Timestamp,
    #[serde(default)]
    pub mode: HubMode,
    #[serde(default)]
    pub privacy: bool,
    #[serde(default)]
    pub cameras: Vec<CameraInfo>,
}

/// What an `allow` shares: never more than the request asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    pub cameras: Vec<String>,
    /// Clips: the time shared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Timestamp>,
    /// Live: the longest stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_max_seconds: Option<u32>,
    pub strip_audio: bool,
    pub notify_resident: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    Deny { reason: String },
    Ask { prompt: String, timeout_seconds: u32 },
    Allow { grant: Grant },
}

impl Decision {
    pub fn deny(reason: impl Into<String>) -> Self {
        Self::Deny { reason: reason.into() }
    }

    /// `deny`, `ask` or `allow`.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Deny { .. } => "deny",
            Self::Ask { .. } => "ask",
            Self::Allow { .. } => "allow",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Motion,
    Doorbell,
    Tamper,
    Alarm,
}

/// A camera event offered to the policies' event hooks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyEvent {
    pub kind: EventKind,
    pub camera: String,
    pub time: Timestamp,
}

/// A share a policy proposes on an event; decided like any request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    pub recipient: Requester,
    pub kind: RequestKind,
    pub reason: String,
}

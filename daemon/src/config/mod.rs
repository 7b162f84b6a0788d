//! Configuration: the TOML file (layer one, [`raw`]) validated into [`Settings`] (layer two,
//! [`validate`]), with every problem reported at once as `PATH:LINE:COL: key.path: message`.
//! Only plain data and the checks that build it live here; config imports no subsystem (hot
//! reload is `reload.rs`, which reads it). Reference: `docs/ref/config.md`.

mod document;
pub mod raw;
pub mod units;
mod validate;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use document::{KeyPath, Located, Problem};
pub use raw::{LogFormat, RecordMode, RtspTransport};
pub use validate::{percent_decode, valid_name};

/// A camera's `pre_roll` when not given.
pub const DEFAULT_PRE_ROLL_SECS: u64 = 5;
/// A camera's `post_roll` when not given.
pub const DEFAULT_POST_ROLL_SECS: u64 = 10;

use crate::secret::Secret;

/// Where the daemon looks for its config when `--config` and `PORCHLIGHT_CONFIG` are not given.
pub const DEFAULT_PATH: &str = "/etc/porchlight/config.toml";

/// The validated, resolved configuration every subsystem reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The file these settings came from.
    pub file: PathBuf,
    pub hub: HubSettings,
    pub api: ApiSettings,
    pub storage: StorageSettings,
    pub cameras: Vec<CameraSettings>,
    pub discovery: DiscoverySettings,
    pub mqtt: MqttSettings,
    pub plugins: PluginSettings,
    pub relay: RelaySettings,
    pub stills: StillsSettings,
    pub restream: RestreamSettings,
}

/// `[stills]`: how still images are decoded from the cameras' streams.
#[derive(Debug, Clone, PartialEq)]
pub struct StillsSettings {
    /// The `ffmpeg` program: a bare name (looked up in `PATH`) or an absolute path.
    pub ffmpeg: PathBuf,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HubSettings {
    pub name: String,
    pub data_dir: PathBuf,
    pub log_level: String,
    pub log_format: LogFormat,
    pub shutdown_timeout: Duration,
    /// Privacy mode forced on by the config: nothing is shared and the runtime switch cannot
    /// turn it off.
    pub privacy: bool,
    /// The longest any live share may last, whatever a policy grants or the resident approves.
    pub max_live: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiSettings {
    pub enabled: bool,
    pub listen: SocketAddr,
    pub token: Option<Secret>,
    /// Open connections at most, from all clients together.
    pub max_connections: usize,
    /// Open connections at most from one IP address.
    pub max_connections_per_client: usize,
    /// Time a client has to send a request's headers, and again its body; an idle keep-alive
    /// connection is closed after it too.
    pub request_timeout: Duration,
    /// How long a browser stays signed in to the web app (from sign-in; sign-out, a restart or
    /// a new token end it sooner).
    pub session_lifetime: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StorageSettings {
    pub dir: PathBuf,
    pub max_age: Option<Duration>,
    pub max_bytes: Option<u64>,
    pub min_free_bytes: u64,
    pub segment_duration: Duration,
    /// Streams opened on demand (`record = "on_event"`) at most at once, all cameras together.
    pub max_on_demand_sessions: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CameraSettings {
    pub name: String,
    pub enabled: bool,
    /// The stream URL without credentials (they are in `username`/`password`).
    pub rtsp_url: Option<url::Url>,
    pub onvif_url: Option<url::Url>,
    /// How its `https://` ONVIF services (and snapshot URI) are trusted.
    pub onvif_tls: OnvifTrust,
    pub transport: RtspTransport,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub record: RecordMode,
    /// With `record = "events"`: video kept in memory before an event.
    pub pre_roll: Duration,
    /// With `record = "events"`: how long recording goes on after the last event.
    pub post_roll: Duration,
    /// Retention by age for this camera (`storage.max_age` unless set here).
    pub max_age: Option<Duration>,
    pub tags: Vec<String>,
    /// ONVIF event topics mapped to motion, doorbell or tamper (before the built-in rules).
    pub event_map: Vec<TopicMap>,
    /// Events taken from MQTT topics (cameras whose events are not ONVIF).
    pub mqtt_events: Vec<MqttEvent>,
    /// Not from the config file: found by `[discovery]` with `adopt = true`.
    pub adopted: bool,
}

/// One `[[camera.mqtt_event]]`: messages on `topic` whose payload is `on` (or `off`, for motion)
/// become this camera's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttEvent {
    pub topic: String,
    pub kind: SignalKind,
    pub on: String,
    pub off: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DiscoverySettings {
    pub enabled: bool,
    pub interval: Duration,
    /// Multicast probes (off: only the unicast `probe` targets).
    pub multicast: bool,
    pub interfaces: Vec<String>,
    pub probe: Vec<String>,
    /// Record found cameras without asking (see `onvif/adopt.rs`).
    pub adopt: bool,
    /// Credentials for found devices (adopted cameras use them).
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// How adopted cameras are recorded.
    pub record: RecordMode,
    /// Tags every adopted camera gets (default `["adopted"]`), so policies can tell them apart.
    pub tags: Vec<String>,
    /// Devices never adopted: endpoint addresses (`urn:uuid:…`) or hosts.
    pub ignore: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MqttSettings {
    pub enabled: bool,
    pub host: Option<String>,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub client_id: String,
    pub topic_prefix: String,
    pub discovery_prefix: String,
    /// Publish Home Assistant discovery configs.
    pub discovery: bool,
    /// TLS to the broker (`None`: plain TCP).
    pub tls: Option<TlsFiles>,
    pub keep_alive: Duration,
    /// Messages kept while the broker is away (oldest dropped first).
    pub queue_limit: usize,
    /// How often each camera's still image is published without events.
    pub snapshot_interval: Duration,
    /// `[mqtt.ring]`: Ring devices read from a ring-mqtt bridge on the same broker.
    pub ring: RingSettings,
}

/// `[mqtt.ring]`: what the hub does with the Ring cameras a ring-mqtt bridge announces
/// (`mqtt/ring.rs`, `docs/ring.md`).
#[derive(Debug, Clone, PartialEq)]
pub struct RingSettings {
    pub enabled: bool,
    /// Record announced cameras without the resident adding them to the config file.
    pub adopt: bool,
    /// ring-mqtt's `ring_topic` (the first level of its topics).
    pub topic: String,
    /// The bridge's RTSP gateway (`rtsp://host:port`, no path), instead of the address the
    /// bridge gives in each camera's `info` attributes.
    pub gateway: Option<url::Url>,
    /// User name and password for the gateway (ring-mqtt's `livestream_user`/`livestream_pass`).
    pub gateway_login: Option<(String, Secret)>,
    /// How adopted Ring cameras are recorded.
    pub record: RecordMode,
    /// How long an adopted Ring camera records after its latest event.
    pub post_roll: Duration,
    /// Tags every adopted Ring camera gets.
    pub tags: Vec<String>,
    /// A bridge that sends nothing for this long is taken to be down (its cameras offline).
    pub silence: Duration,
    /// Where `online` is published (not retained) at each connect so the bridge sends its
    /// devices again; `None`: never.
    pub wake_topic: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM CA certificates to trust instead of the system's.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain and key, for brokers that ask for one.
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PluginSettings {
    pub dir: PathBuf,
    /// The plugins that decide, in order (file `<dir>/<name>.wasm`).
    pub enabled: Vec<PolicySettings>,
    /// The limits of `[plugins]`, before a policy's own table overrides them: what a policy
    /// that is not enabled would run under (a replayed candidate, `docs/plugins.md`).
    pub limits: PluginLimits,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PolicySettings {
    pub name: String,
    pub file: PathBuf,
    /// Where its component comes from (`plugins.policy.<name>.source`); `None`: by name.
    pub source: Option<PolicySource>,
    /// Load only a file with this SHA-256 (lowercase hex).
    pub sha256: Option<String>,
    pub limits: PluginLimits,
    /// The resident's table for this plugin, as JSON (`{}` when absent).
    pub config: String,
}

/// Where an enabled policy's component comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicySource {
    /// Built into the daemon (`policy::bundled`).
    Bundled,
    /// The file `<plugins.dir>/<name>.wasm`.
    File,
}

impl PolicySource {
    /// The name the config and the API use for it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Bundled => "bundled",
            Self::File => "file",
        }
    }
}

/// How a camera's `https://` services are trusted. Camera certificates are mostly
/// self-signed (often for a name such as "localhost", sometimes expired), so the usual choice
/// is to pin the certificate the camera shows: the error for an untrusted one prints it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum OnvifTrust {
    /// The system's CA certificates, and the host name checked.
    #[default]
    System,
    /// The CA certificates in this PEM file, and the host name checked.
    CaFile(PathBuf),
    /// Exactly the certificate with this SHA-256 (of its DER form); name and dates are not
    /// checked, the handshake signature is.
    Sha256([u8; 32]),
}

/// What a camera's event signal means: the kinds an `event_map` or `mqtt_event` entry names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalKind {
    Motion,
    Doorbell,
    Tamper,
}

impl SignalKind {
    /// The name the config uses for it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Motion => "motion",
            Self::Doorbell => "doorbell",
            Self::Tamper => "tamper",
        }
    }
}

/// A resident's mapping: an ONVIF event topic (exact, or a prefix ending in `*`; without
/// namespace prefixes) to a kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMap {
    pub topic: String,
    pub kind: SignalKind,
}

/// The largest memory limit any plugin may be given (the pooling allocator reserves this much).
pub const MAX_PLUGIN_MEMORY: usize = 256 << 20;

/// Resource limits for one call of a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PluginLimits {
    /// Wall-clock time for one call (enforced by epoch interruption, 1 ms resolution).
    pub time: Duration,
    /// Linear memory, in bytes.
    pub memory: usize,
    /// Instructions (wasmtime fuel) for one call.
    pub fuel: u64,
    /// Bytes of log messages one call may write; the rest is dropped and counted.
    pub log_bytes: usize,
}

impl Default for PluginLimits {
    fn default() -> Self {
        Self { time: Duration::from_millis(10), memory: 16 << 20, fuel: 50_000_000, log_bytes: 16 << 10 }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RelaySettings {
    pub enabled: bool,
    pub url: Option<url::Url>,
    pub hub_id: Option<String>,
    pub token: Option<Secret>,
    /// A pinned CA and an optional client certificate for the center (https).
    pub tls: TlsFiles,
    /// How long one request poll may wait at the center for new requests.
    pub poll_wait: Duration,
}

/// `[restream]`: the local RTSP server (`restream/`).
#[derive(Debug, Clone, PartialEq)]
pub struct RestreamSettings {
    pub enabled: bool,
    pub listen: SocketAddr,
    /// User name and password every client must give (RTSP Digest); `None`: no login asked
    /// (allowed only on a loopback address).
    pub login: Option<(String, Secret)>,
    /// Connected clients at most, all cameras together.
    pub max_clients: usize,
    /// The cameras offered; `None`: every camera.
    pub cameras: Option<Vec<String>>,
    /// How long `DESCRIBE` waits for a camera's first keyframe before answering 503.
    pub keyframe_wait: Duration,
}

/// Environment variables as the config sees them (tests pass their own instead of the process's).
pub struct Env {
    lookup: Box<EnvLookup>,
    /// Whether the process runs as root (decides the default data directory).
    root: bool,
}

type EnvLookup = dyn Fn(&str) -> Option<String> + Send + Sync;

impl Env {
    /// The process environment.
    pub fn process() -> Self {
        use std::os::unix::fs::MetadataExt;
        // /proc/self belongs to the process's effective user.
        let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
        Self { lookup: Box::new(|k| std::env::var(k).ok()), root }
    }

    /// A fixed set of variables, for tests.
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let map: std::collections::HashMap<String, String> =
            pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        Self { lookup: Box::new(move |k| map.get(k).cloned()), root: false }
    }

    /// The same variables, as if running as root (or not).
    pub fn with_root(mut self, root: bool) -> Self {
        self.root = root;
        self
    }

    pub fn is_root(&self) -> bool {
        self.root
    }

    pub fn get(&self, key: &str) -> Option<String> {
        (self.lookup)(key).filter(|v| !v.is_empty())
    }
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Env")
    }
}

/// Why a config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}{}", path.display(), read_hint(source))]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}", render_problems(path, problems))]
    Invalid { path: PathBuf, problems: Vec<Located> },
}

impl ConfigError {
    /// Each problem on its own line (or the read error), for logs and events.
    pub fn problems(&self) -> Vec<String> {
        match self {
            Self::Read { .. } => vec![self.to_string()],
            Self::Invalid { problems, .. } => problems.iter().map(ToString::to_string).collect(),
        }
    }
}

/// What to do about a config file that is not there.
fn read_hint(e: &std::io::Error) -> &'static str {
    if e.kind() == std::io::ErrorKind::NotFound {
        "; give the config file with --config PATH (or the environment variable PORCHLIGHT_CONFIG); config.example.toml is a commented starting point"
    } else {
        ""
    }
}

fn render_problems(path: &Path, problems: &[Located]) -> String {
    let mut out = String::new();
    for p in problems {
        out.push_str(&p.to_string());
        out.push('\n');
    }
    let n = problems.len();
    out.push_str(&format!(
        "{n} problem{} in {}; every key is described in docs/ref/config.md",
        if n == 1 { "" } else { "s" },
        path.display()
    ));
    out
}

/// Reads and validates the config file at `path`.
pub fn load(path: &Path, env: &Env) -> Result<Settings, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
    parse(path, text, env)
}

/// Validates config `text` as if read from `path` (relative paths in it resolve against its directory).
pub fn parse(path: &Path, text: String, env: &Env) -> Result<Settings, ConfigError> {
    let shown = path.display().to_string();
    let doc = match document::Document::parse(text.clone()) {
        Ok(doc) => doc,
        Err(problems) => {
            let doc = document::Document { text };
            let problems = problems.iter().map(|p| doc.locate(&shown, p)).collect();
            return Err(ConfigError::Invalid { path: path.to_owned(), problems });
        }
    };
    let (settings, mut problems) = validate::validate(&doc, path, env);
    problems.sort_by_key(|p| p.span.clone().or_else(|| doc.span_of(&p.key)).map_or(0, |s| s.start));
    match settings {
        Some(s) if problems.is_empty() => Ok(s),
        _ => Err(ConfigError::Invalid {
            path: path.to_owned(),
            problems: problems.iter().map(|p| doc.locate(&shown, p)).collect(),
        }),
    }
}

impl Settings {
    /// The camera with this name.
    pub fn camera(&self, name: &str) -> Option<&CameraSettings> {
        self.cameras.iter().find(|c| c.name == name)
    }
}

//! Layer two: raw structs → [`Settings`], collecting every problem with its key path.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use toml::de::DeValue;

use super::document::{self, Document, KeyPath, Problem, collect, suggest};
use super::raw::{self, SECTIONS};
use super::*;

struct Ctx<'a> {
    problems: Vec<Problem>,
    env: &'a Env,
    /// Directory of the config file: relative paths resolve against it.
    base: PathBuf,
}

impl Ctx<'_> {
    fn problem(&mut self, key: KeyPath, message: impl Into<String>) {
        self.problems.push(Problem { key, message: message.into(), span: None });
    }

    fn path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() { p.to_owned() } else { self.base.join(p) }
    }

    /// Resolves one secret given inline, as a file, or as an environment variable.
    fn secret(
        &mut self,
        at: &KeyPath,
        field: &str,
        inline: Option<String>,
        file: Option<PathBuf>,
        env: Option<String>,
    ) -> Option<Secret> {
        let given = [inline.is_some(), file.is_some(), env.is_some()].iter().filter(|g| **g).count();
        if given > 1 {
            self.problem(
                at.key(field),
                format!("give only one of `{field}`, `{field}_file` and `{field}_env`"),
            );
            return None;
        }
        if let Some(v) = inline {
            if v.is_empty() {
                self.problem(at.key(field), "is empty");
                return None;
            }
            return Some(Secret::new(v));
        }
        if let Some(f) = file {
            // A relative file name is a systemd credential when the daemon runs with LoadCredential=.
            let full = match self.env.get("CREDENTIALS_DIRECTORY") {
                Some(dir) if f.is_relative() => Path::new(&dir).join(&f),
                _ => self.path(&f),
            };
            return match std::fs::read_to_string(&full) {
                Ok(s) => {
                    let s = s.trim_end_matches(['\n', '\r']).to_owned();
                    if s.is_empty() {
                        self.problem(
                            at.key(&format!("{field}_file")),
                            format!("{} is empty", full.display()),
                        );
                        None
                    } else {
                        Some(Secret::new(s))
                    }
                }
                Err(e) => {
                    self.problem(
                        at.key(&format!("{field}_file")),
                        format!("cannot read {}: {e}", full.display()),
                    );
                    None
                }
            };
        }
        if let Some(var) = env {
            return match self.env.get(&var) {
                Some(v) => Some(Secret::new(v)),
                None => {
                    self.problem(
                        at.key(&format!("{field}_env")),
                        format!("environment variable {var} is not set or empty"),
                    );
                    None
                }
            };
        }
        None
    }

    /// A listening address (`IP:port`); `default` when absent or invalid.
    fn listen(&mut self, at: KeyPath, text: Option<String>, default: SocketAddr) -> SocketAddr {
        let Some(s) = text else { return default };
        s.parse().unwrap_or_else(|_| {
            let port = default.port();
            self.problem(
                at,
                format!("{s:?} is not an IP address and port, e.g. \"127.0.0.1:{port}\" or \"[::1]:{port}\""),
            );
            default
        })
    }

    fn url(&mut self, at: KeyPath, text: &str, schemes: &[&str]) -> Option<url::Url> {
        match url::Url::parse(text) {
            Ok(u) if !schemes.contains(&u.scheme()) => {
                self.problem(
                    at,
                    format!(
                        "URL scheme `{}` is not supported here; use {}",
                        u.scheme(),
                        schemes.join(" or ")
                    ),
                );
                None
            }
            Ok(u) if u.host_str().is_none_or(str::is_empty) => {
                self.problem(at, format!("URL {:?} has no host", redact_url(&u)));
                None
            }
            Ok(u) => Some(u),
            Err(e) => {
                // Do not echo the text: it may hold a password.
                self.problem(at, format!("not a valid URL: {e}"));
                None
            }
        }
    }
}

/// A URL for messages: any password in it replaced.
pub fn redact_url(u: &url::Url) -> String {
    let mut u = u.clone();
    if u.password().is_some() {
        let _ = u.set_password(Some("redacted"));
    }
    u.to_string()
}

fn section<T: DeserializeOwned + Default>(
    root: &toml::de::DeTable<'_>,
    name: &str,
    problems: &mut Vec<Problem>,
) -> T {
    let path = KeyPath::root().key(name);
    match root.get(name) {
        None => T::default(),
        Some(v) if !v.get_ref().is_table() => {
            problems.push(Problem {
                key: path,
                message: format!("must be a table (`[{name}]`), found {}", v.get_ref().type_str()),
                span: Some(v.span()),
            });
            T::default()
        }
        Some(v) => collect(v.clone(), &path, problems).unwrap_or_default(),
    }
}

pub(super) fn validate(doc: &Document, file: &Path, env: &Env) -> (Option<Settings>, Vec<Problem>) {
    let root_spanned = doc.root();
    let root = root_spanned.get_ref();
    let base = file.parent().map(Path::to_owned).unwrap_or_default();
    let base = if base.as_os_str().is_empty() { PathBuf::from(".") } else { base };
    // Absolute, so paths mean the same whatever the working directory later is.
    let base = std::path::absolute(&base).unwrap_or(base);
    let mut cx = Ctx { problems: Vec::new(), env, base };

    for (key, value) in root {
        let k = key.get_ref();
        if !SECTIONS.contains(&k.as_ref()) {
            let mut message = if value.get_ref().is_table() {
                format!("unknown section `[{k}]`")
            } else {
                format!("unknown key `{k}`")
            };
            if let Some(s) = suggest(k, SECTIONS) {
                message.push_str(&format!(" (did you mean `{s}`?)"));
            } else {
                message.push_str(&format!("; sections are {}", SECTIONS.join(", ")));
            }
            cx.problems.push(Problem { key: KeyPath::root().key(k), message, span: Some(key.span()) });
        }
    }

    let hub: raw::Hub = section(root, "hub", &mut cx.problems);
    let api: raw::Api = section(root, "api", &mut cx.problems);
    let storage: raw::Storage = section(root, "storage", &mut cx.problems);
    let discovery: raw::Discovery = section(root, "discovery", &mut cx.problems);
    let mqtt: raw::Mqtt = section(root, "mqtt", &mut cx.problems);
    let plugins: raw::Plugins = section(root, "plugins", &mut cx.problems);
    let relay: raw::Relay = section(root, "relay", &mut cx.problems);
    let stills: raw::Stills = section(root, "stills", &mut cx.problems);
    let restream: raw::Restream = section(root, "restream", &mut cx.problems);

    let mut raw_cameras = Vec::new();
    if let Some(v) = root.get("camera") {
        match v.get_ref() {
            DeValue::Array(items) => {
                for (i, item) in items.as_ref().iter().enumerate() {
                    let at = KeyPath::root().key("camera").index(i);
                    if !item.get_ref().is_table() {
                        cx.problems.push(Problem {
                            key: at,
                            message: "each camera must be a table (`[[camera]]`)".into(),
                            span: Some(item.span()),
                        });
                        continue;
                    }
                    if let Some(c) = collect::<raw::Camera>(item.clone(), &at, &mut cx.problems) {
                        raw_cameras.push((at, c));
                    }
                }
            }
            other => cx.problems.push(Problem {
                key: KeyPath::root().key("camera"),
                message: format!(
                    "must be a list of `[[camera]]` tables, found {}; write `[[camera]]` (two brackets) above each camera",
                    other.type_str()
                ),
                span: Some(v.span()),
            }),
        }
    }

    let hub = validate_hub(&mut cx, hub);
    let api = validate_api(&mut cx, api);
    let storage = validate_storage(&mut cx, storage, &hub.data_dir);
    let cameras = validate_cameras(&mut cx, raw_cameras, doc);
    let discovery = validate_discovery(&mut cx, discovery);
    let mqtt = validate_mqtt(&mut cx, mqtt, &hub.name);
    let plugins = validate_plugins(&mut cx, plugins);
    let relay = validate_relay(&mut cx, relay);
    let stills = validate_stills(&mut cx, stills);
    let restream = validate_restream(&mut cx, restream);

    let settings = Settings {
        file: file.to_owned(),
        hub,
        api,
        storage,
        cameras,
        discovery,
        mqtt,
        plugins,
        relay,
        stills,
        restream,
    };
    (Some(settings), cx.problems)
}

fn default_data_dir(env: &Env) -> PathBuf {
    if let Some(dirs) = env.get("STATE_DIRECTORY") {
        // systemd may list several, separated by ':'; ours is the first.
        if let Some(first) = dirs.split(':').next().filter(|d| !d.is_empty()) {
            return PathBuf::from(first);
        }
    }
    if env.is_root() {
        return PathBuf::from("/var/lib/porchlight");
    }
    if let Some(x) = env.get("XDG_STATE_HOME") {
        return Path::new(&x).join("porchlight");
    }
    match env.get("HOME") {
        Some(h) => Path::new(&h).join(".local/state/porchlight"),
        None => PathBuf::from("/var/lib/porchlight"),
    }
}

fn validate_hub(cx: &mut Ctx<'_>, h: raw::Hub) -> HubSettings {
    let at = KeyPath::root().key("hub");
    let name = h.name.unwrap_or_else(|| "porchlight".to_owned());
    if !valid_name(&name) {
        cx.problem(at.key("name"), id_rule(&name, "hub name"));
    }
    let log_level = h.log_level.unwrap_or_else(|| "info".to_owned());
    if let Some(word) = unknown_level(&log_level) {
        cx.problem(
            at.key("log_level"),
            format!("{word:?} is not a log level; use error, warn, info, debug, trace or off (or `target=level` directives)"),
        );
    } else if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(&log_level) {
        cx.problem(
            at.key("log_level"),
            format!("invalid log filter {log_level:?}: {e}; use e.g. \"info\" or \"info,porchlight=debug\""),
        );
    }
    let data_dir = match h.data_dir {
        Some(d) => cx.path(&d),
        None => default_data_dir(cx.env),
    };
    let shutdown_timeout = h.shutdown_timeout.map_or(Duration::from_secs(10), |d| d.0);
    if shutdown_timeout.is_zero() || shutdown_timeout > Duration::from_secs(600) {
        cx.problem(at.key("shutdown_timeout"), "must be between 1ms and 10m");
    }
    let max_live = h.max_live.map_or(Duration::from_secs(3600), |d| d.0);
    if max_live < Duration::from_secs(10) || max_live > Duration::from_secs(86_400) {
        cx.problem(at.key("max_live"), "must be between 10s and 24h");
    }
    HubSettings {
        name,
        data_dir,
        log_level,
        log_format: h.log_format,
        shutdown_timeout,
        privacy: h.privacy.unwrap_or(false),
        max_live,
    }
}

/// A bare word in a log filter that is neither a level nor a module path: almost surely a typo
/// (the filter would read it as a target and silence everything else).
fn unknown_level(filter: &str) -> Option<&str> {
    const LEVELS: &[&str] = &["error", "warn", "info", "debug", "trace", "off"];
    filter.split(',').map(str::trim).filter(|d| !d.is_empty()).find(|d| {
        !d.contains('=')
            && !d.contains("::")
            && !d.contains('[')
            && !LEVELS.contains(&d.to_ascii_lowercase().as_str())
            && *d != env!("CARGO_PKG_NAME")
    })
}

fn validate_api(cx: &mut Ctx<'_>, a: raw::Api) -> ApiSettings {
    let at = KeyPath::root().key("api");
    let listen = cx.listen(at.key("listen"), a.listen, SocketAddr::from(([127, 0, 0, 1], 8477)));
    let enabled = a.enabled.unwrap_or(true);
    let token = if enabled { cx.secret(&at, "token", a.token, a.token_file, a.token_env) } else { None };
    if enabled && token.is_none() && !listen.ip().is_loopback() {
        cx.problem(
            at.key("listen"),
            format!(
                "refusing to serve the API on non-loopback address {listen} without a token; set `api.token_file` (or `token`/`token_env`), or listen on 127.0.0.1"
            ),
        );
    }
    let max_connections = a.max_connections.unwrap_or(128);
    if !(1..=4096).contains(&max_connections) {
        cx.problem(at.key("max_connections"), "must be between 1 and 4096");
    }
    let max_connections_per_client = a.max_connections_per_client.unwrap_or(32);
    if max_connections_per_client == 0 || max_connections_per_client > max_connections {
        cx.problem(
            at.key("max_connections_per_client"),
            format!("must be between 1 and api.max_connections ({max_connections})"),
        );
    }
    let request_timeout = a.request_timeout.map_or(Duration::from_secs(10), |d| d.0);
    if request_timeout < Duration::from_secs(1) || request_timeout > Duration::from_secs(300) {
        cx.problem(at.key("request_timeout"), "must be between 1s and 5m");
    }
    let session_lifetime = a.session_lifetime.map_or(Duration::from_secs(7 * 86_400), |d| d.0);
    if session_lifetime < Duration::from_secs(60) || session_lifetime > Duration::from_secs(90 * 86_400) {
        cx.problem(at.key("session_lifetime"), "must be between 1m and 90d");
    }
    ApiSettings {
        enabled,
        listen,
        token,
        max_connections: max_connections as usize,
        max_connections_per_client: max_connections_per_client as usize,
        request_timeout,
        session_lifetime,
    }
}

fn validate_storage(cx: &mut Ctx<'_>, s: raw::Storage, data_dir: &Path) -> StorageSettings {
    let at = KeyPath::root().key("storage");
    let segment_duration = s.segment_duration.map_or(Duration::from_secs(60), |d| d.0);
    if segment_duration < Duration::from_secs(1) || segment_duration > Duration::from_secs(3600) {
        cx.problem(at.key("segment_duration"), "must be between 1s and 1h");
    }
    if s.max_age.is_some_and(|d| d.0.is_zero()) {
        cx.problem(at.key("max_age"), "must be more than 0; leave it out to keep footage regardless of age");
    }
    let max_on_demand_sessions = s.max_on_demand_sessions.unwrap_or(2);
    if max_on_demand_sessions == 0 || max_on_demand_sessions > 64 {
        cx.problem(at.key("max_on_demand_sessions"), "must be between 1 and 64");
    }
    StorageSettings {
        dir: s.dir.map_or_else(|| data_dir.join("recordings"), |d| cx.path(&d)),
        max_age: s.max_age.map(|d| d.0),
        max_bytes: s.max_bytes.map(|b| b.0),
        min_free_bytes: s.min_free_bytes.map_or(1 << 30, |b| b.0),
        segment_duration,
        max_on_demand_sessions: max_on_demand_sessions as usize,
    }
}

/// The rule for names the resident gives in the config and the hub uses in file names, MQTT
/// topics, Home Assistant unique ids and URLs (cameras, tags, plugins, the hub id): 1-64
/// characters of a-z, 0-9, `_` and `-`, not starting with `-`. Lowercase only, so two names
/// never differ by case alone (file systems and Home Assistant ids may fold case).
///
/// Not the rule for request ids (`requests::valid_id`): those come from the center or are
/// made by the hub (`share-20261126T180000Z-…`), are never file or entity names, and allow
/// upper case, `.` and `:`, up to 128 characters.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && s.as_bytes()[0] != b'-'
}

fn id_rule(s: &str, what: &str) -> String {
    format!(
        "{what} {s:?} must be 1-64 characters of a-z, 0-9, `_` and `-`, not starting with `-` (it is used in file names and MQTT topics)"
    )
}

fn validate_cameras(
    cx: &mut Ctx<'_>,
    raw: Vec<(KeyPath, raw::Camera)>,
    doc: &Document,
) -> Vec<CameraSettings> {
    let mut seen: HashMap<String, KeyPath> = HashMap::new();
    let mut out = Vec::new();
    for (at, c) in raw {
        let Some(name) = c.name else {
            cx.problem(at.clone(), "missing required key `name`");
            continue;
        };
        if !valid_name(&name) {
            cx.problem(at.key("name"), id_rule(&name, "camera name"));
        }
        if let Some(first) = seen.get(&name) {
            let line =
                doc.span_of(&first.key("name")).map_or(0, |s| document::line_col(&doc.text, s.start).0);
            cx.problem(
                at.key("name"),
                format!("duplicate camera name {name:?} (first defined at line {line})"),
            );
        } else {
            seen.insert(name.clone(), at.clone());
        }
        let mut username = c.username;
        let enabled = c.enabled.unwrap_or(true);
        // A disabled camera's secret is not read, like a disabled section's.
        let mut password = if enabled {
            cx.secret(&at, "password", c.password, c.password_file, c.password_env)
        } else {
            None
        };
        let rtsp_url = c.rtsp_url.as_deref().and_then(|u| cx.url(at.key("rtsp_url"), u, &["rtsp", "rtsps"]));
        let mut rtsp_url = rtsp_url;
        take_credentials(cx, &at.key("rtsp_url"), rtsp_url.as_mut(), &mut username, &mut password);
        let mut onvif_url =
            c.onvif_url.as_deref().and_then(|u| cx.url(at.key("onvif_url"), u, &["http", "https"]));
        take_credentials(cx, &at.key("onvif_url"), onvif_url.as_mut(), &mut username, &mut password);
        let onvif_tls = match (c.onvif_tls_sha256, c.onvif_ca_file) {
            (Some(_), Some(_)) => {
                cx.problem(at.key("onvif_ca_file"), "give `onvif_tls_sha256` or `onvif_ca_file`, not both");
                OnvifTrust::System
            }
            (Some(pin), None) => match crate::digest::parse_fingerprint(&pin) {
                Some(p) => OnvifTrust::Sha256(p),
                None => {
                    cx.problem(
                        at.key("onvif_tls_sha256"),
                        "must be the certificate's SHA-256: 64 hexadecimal digits, `:` between bytes allowed",
                    );
                    OnvifTrust::System
                }
            },
            (None, Some(file)) => {
                let file = cx.path(&file);
                if enabled && !file.is_file() {
                    cx.problem(
                        at.key("onvif_ca_file"),
                        format!("cannot read {}: no such file", file.display()),
                    );
                }
                OnvifTrust::CaFile(file)
            }
            (None, None) => OnvifTrust::System,
        };
        if c.rtsp_url.is_none() && c.onvif_url.is_none() {
            cx.problem(at.clone(), format!("camera {name:?} needs `rtsp_url` or `onvif_url`"));
        }
        let pre_roll = c.pre_roll.map_or(Duration::from_secs(DEFAULT_PRE_ROLL_SECS), |d| d.0);
        if pre_roll > Duration::from_secs(60) {
            cx.problem(at.key("pre_roll"), "must be at most 60s (it is held in memory)");
        }
        let post_roll = c.post_roll.map_or(Duration::from_secs(DEFAULT_POST_ROLL_SECS), |d| d.0);
        if post_roll > Duration::from_secs(3600) {
            cx.problem(at.key("post_roll"), "must be at most 1h");
        }
        if c.max_age.is_some_and(|d| d.0.is_zero()) {
            cx.problem(at.key("max_age"), "must be more than 0; leave it out to use `storage.max_age`");
        }
        let mut event_map = Vec::new();
        for (i, m) in c.event_map.into_iter().enumerate() {
            let at = at.key("event_map").index(i);
            let topic = m.topic.unwrap_or_default();
            if topic.trim().is_empty() {
                cx.problem(at.key("topic"), "missing required key `topic` (an ONVIF topic such as \"RuleEngine/MyRuleDetector/Visitor\", or a prefix ending in `*`)");
            }
            let kind = event_kind(cx, &at, m.kind.as_deref());
            if let Some(kind) = kind {
                // Namespace prefixes are not part of the topic as Porchlight matches it.
                let topic = topic.trim().split('/').map(without_namespace).collect::<Vec<_>>().join("/");
                event_map.push(TopicMap { topic, kind });
            }
        }
        let mut mqtt_events = Vec::new();
        for (i, m) in c.mqtt_event.into_iter().enumerate() {
            let at = at.key("mqtt_event").index(i);
            let topic = m.topic.unwrap_or_default();
            if topic.is_empty() {
                cx.problem(at.key("topic"), "missing required key `topic` (an MQTT topic such as \"ring/<location>/camera/<id>/ding/state\")");
            } else if topic.contains(['+', '#']) {
                cx.problem(at.key("topic"), "must be an exact topic (no `+` or `#` wildcards)");
            } else if topic.contains('\0') || topic.len() > 1024 {
                cx.problem(at.key("topic"), "is not a usable MQTT topic (NUL or longer than 1024 bytes)");
            }
            let kind = event_kind(cx, &at, m.kind.as_deref());
            let on = m.on.unwrap_or_else(|| "ON".to_owned());
            let off = m.off.unwrap_or_else(|| "OFF".to_owned());
            if on == off {
                cx.problem(at.key("off"), format!("`on` and `off` are both {on:?}"));
            }
            if let Some(kind) = kind
                && !topic.is_empty()
            {
                mqtt_events.push(MqttEvent { topic, kind, on, off });
            }
        }
        for (i, t) in c.tags.iter().enumerate() {
            if !valid_name(t) {
                cx.problem(at.key("tags").index(i), id_rule(t, "tag"));
            }
        }
        out.push(CameraSettings {
            name,
            enabled,
            rtsp_url,
            onvif_url,
            onvif_tls,
            transport: c.transport,
            username,
            password,
            record: c.record,
            pre_roll,
            post_roll,
            max_age: c.max_age.map(|d| d.0),
            tags: c.tags,
            event_map,
            mqtt_events,
            adopted: false,
        });
    }
    out
}

/// The `kind` of an `event_map` or `mqtt_event` entry at `at`.
fn event_kind(cx: &mut Ctx<'_>, at: &KeyPath, kind: Option<&str>) -> Option<SignalKind> {
    match kind {
        Some("motion") => Some(SignalKind::Motion),
        Some("doorbell") => Some(SignalKind::Doorbell),
        Some("tamper") => Some(SignalKind::Tamper),
        Some(other) => {
            cx.problem(
                at.key("kind"),
                format!("unknown kind {other:?}; expected \"motion\", \"doorbell\" or \"tamper\""),
            );
            None
        }
        None => {
            cx.problem(
                at.key("kind"),
                "missing required key `kind` (\"motion\", \"doorbell\" or \"tamper\")",
            );
            None
        }
    }
}

/// Moves credentials pasted into a URL into `username`/`password`, so the URL can be logged
/// and shown by the API.
fn take_credentials(
    cx: &mut Ctx<'_>,
    at: &KeyPath,
    url: Option<&mut url::Url>,
    username: &mut Option<String>,
    password: &mut Option<Secret>,
) {
    let Some(u) = url else { return };
    if u.username().is_empty() && u.password().is_none() {
        return;
    }
    let user = percent_decode(u.username());
    let pass = u.password().map(percent_decode).map(Secret::new);
    if !user.is_empty() && username.as_ref().is_some_and(|n| *n != user) {
        cx.problem(at.clone(), "user name in the URL differs from `username`");
    }
    if pass.is_some() && password.is_some() && pass != *password {
        cx.problem(
            at.clone(),
            "a different password is given in the URL and as `password`/`password_file`/`password_env`; keep one",
        );
    }
    if !user.is_empty() {
        *username = Some(user);
    }
    if password.is_none() {
        *password = pass;
    }
    let _ = u.set_username("");
    let _ = u.set_password(None);
}

/// `%XX` escapes of a URL part decoded (invalid UTF-8 replaced).
pub fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok())
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) =
                (bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `plugins.policy.<name>.source`: `"bundled"` or `"file"`.
fn policy_source(cx: &mut Ctx<'_>, at: &KeyPath, source: Option<&str>) -> Option<PolicySource> {
    match source? {
        "bundled" => Some(PolicySource::Bundled),
        "file" => Some(PolicySource::File),
        other => {
            cx.problem(
                at.key("source"),
                format!("{other:?} is not a source: \"bundled\" (built into the daemon) or \"file\" (<plugins.dir>/<name>.wasm)"),
            );
            None
        }
    }
}

fn validate_plugins(cx: &mut Ctx<'_>, p: raw::Plugins) -> PluginSettings {
    let at = KeyPath::root().key("plugins");
    let dir = cx.path(&p.dir.unwrap_or_else(|| PathBuf::from("plugins")));
    let defaults = PluginLimits::default();
    let check_limits = |cx: &mut Ctx<'_>,
                        at: &KeyPath,
                        base: PluginLimits,
                        time: Option<raw::HumanDuration>,
                        memory: Option<raw::ByteSize>,
                        fuel: Option<u64>| {
        let mut l = base;
        if let Some(t) = time {
            if t.0 < Duration::from_millis(1) || t.0 > Duration::from_secs(5) {
                cx.problem(at.key("time_limit"), "must be between 1ms and 5s");
            }
            l.time = t.0;
        }
        if let Some(m) = memory {
            if m.0 < (1 << 20) || m.0 > MAX_PLUGIN_MEMORY as u64 {
                cx.problem(
                    at.key("memory_limit"),
                    format!("must be between 1 MiB and {} MiB", MAX_PLUGIN_MEMORY >> 20),
                );
            }
            l.memory = usize::try_from(m.0).unwrap_or(MAX_PLUGIN_MEMORY).min(MAX_PLUGIN_MEMORY);
        }
        if let Some(f) = fuel {
            if !(1_000..=10_000_000_000).contains(&f) {
                cx.problem(at.key("fuel_limit"), "must be between 1000 and 10000000000");
            }
            l.fuel = f;
        }
        l
    };
    let mut base = check_limits(cx, &at, defaults, p.time_limit, p.memory_limit, p.fuel_limit);
    if let Some(b) = p.log_limit {
        if b.0 > 1 << 20 {
            cx.problem(at.key("log_limit"), "must be at most 1 MiB");
        }
        base.log_bytes = usize::try_from(b.0).unwrap_or(usize::MAX).min(1 << 20);
    }
    let mut enabled = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (i, name) in p.enabled.iter().enumerate() {
        if !valid_name(name) {
            cx.problem(at.key("enabled").index(i), id_rule(name, "plugin name"));
            continue;
        }
        if !seen.insert(name.clone()) {
            cx.problem(at.key("enabled").index(i), format!("plugin {name:?} is listed twice"));
            continue;
        }
        let entry = p.policy.get(name);
        let eat = at.key("policy").key(name);
        let limits = match entry {
            Some(e) => check_limits(cx, &eat, base, e.time_limit, e.memory_limit, e.fuel_limit),
            None => base,
        };
        let sha256 = entry.and_then(|e| e.sha256.clone()).map(|s| s.to_ascii_lowercase());
        if let Some(s) = &sha256
            && !(s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            cx.problem(eat.key("sha256"), "must be 64 hexadecimal digits (`sha256sum FILE`)");
        }
        let config = entry.and_then(|e| e.config.clone()).unwrap_or_else(|| serde_json::json!({}));
        let source = entry.and_then(|e| policy_source(cx, &eat, e.source.as_deref()));
        enabled.push(PolicySettings {
            name: name.clone(),
            file: dir.join(format!("{name}.wasm")),
            source,
            sha256,
            limits,
            config: config.to_string(),
        });
    }
    for (name, e) in &p.policy {
        if seen.contains(name) {
            continue;
        }
        // Not enabled (perhaps on purpose): still check it, and catch a misspelt name.
        let eat = at.key("policy").key(name);
        check_limits(cx, &eat, base, e.time_limit, e.memory_limit, e.fuel_limit);
        policy_source(cx, &eat, e.source.as_deref());
        if let Some(s) = &e.sha256
            && !(s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            cx.problem(eat.key("sha256"), "must be 64 hexadecimal digits (`sha256sum FILE`)");
        }
        let enabled_names: Vec<&str> = p.enabled.iter().map(String::as_str).collect();
        if let Some(close) = suggest(name, &enabled_names) {
            cx.problem(eat, format!("plugin {name:?} is not enabled (did you mean `{close}`?)"));
        }
    }
    PluginSettings { dir, enabled, limits: base }
}

/// Checks a `discovery.probe` target's form (a host, an address or an IPv4 CIDR range, each
/// with an optional `:port`) without resolving names: `None` if it looks usable.
fn check_probe_target(spec: &str) -> Option<String> {
    let s = spec.trim();
    if s.is_empty() {
        return Some("empty probe target".into());
    }
    if let Some((net, rest)) = s.split_once('/') {
        let bits = rest.split_once(':').map_or(rest, |(b, _)| b);
        if net.parse::<std::net::Ipv4Addr>().is_err() {
            return Some(format!("{net:?} is not an IPv4 address (CIDR ranges are IPv4 only)"));
        }
        if !bits.parse::<u32>().is_ok_and(|b| (16..=32).contains(&b)) {
            return Some(format!("prefix length in {s:?} must be from /16 to /32"));
        }
        if let Some((_, p)) = rest.split_once(':')
            && p.parse::<u16>().is_err()
        {
            return Some(format!("bad port {p:?}"));
        }
        return None;
    }
    if s.contains(char::is_whitespace) {
        return Some(format!("{s:?} is not a host name or address"));
    }
    None
}

/// An ONVIF topic level without its namespace prefix (`tns1:VideoSource` → `VideoSource`):
/// Porchlight matches topics by local names.
fn without_namespace(level: &str) -> &str {
    level.rsplit_once(':').map_or(level, |(_, l)| l)
}

fn validate_discovery(cx: &mut Ctx<'_>, d: raw::Discovery) -> DiscoverySettings {
    let interval = d.interval.map_or(Duration::from_secs(300), |d| d.0);
    if interval < Duration::from_secs(10) {
        cx.problem(KeyPath::root().key("discovery").key("interval"), "must be at least 10s");
    }
    let at = KeyPath::root().key("discovery");
    for (i, p) in d.probe.iter().enumerate() {
        if let Some(problem) = check_probe_target(p) {
            cx.problem(at.key("probe").index(i), problem);
        }
    }
    for (i, name) in d.interfaces.iter().enumerate() {
        if name.trim().is_empty() {
            cx.problem(at.key("interfaces").index(i), "empty interface name");
        }
    }
    let enabled = d.enabled.unwrap_or(false);
    let adopt = d.adopt.unwrap_or(false);
    if adopt && !enabled {
        cx.problem(at.key("adopt"), "needs `discovery.enabled = true` (nothing is found otherwise)");
    }
    // Like a camera's: a secret of a section that is off is not read.
    let password =
        if enabled { cx.secret(&at, "password", d.password, d.password_file, d.password_env) } else { None };
    if password.is_some() && d.username.is_none() {
        cx.problem(at.key("username"), "is required when a password is given");
    }
    let tags = d.tags.unwrap_or_else(|| vec!["adopted".to_owned()]);
    for (i, t) in tags.iter().enumerate() {
        if !valid_name(t) {
            cx.problem(at.key("tags").index(i), id_rule(t, "tag"));
        }
    }
    for (i, device) in d.ignore.iter().enumerate() {
        if device.trim().is_empty() || device.contains(char::is_whitespace) {
            cx.problem(
                at.key("ignore").index(i),
                "must be a device's endpoint address (\"urn:uuid:…\", as `porchlight discover` prints it) or a host",
            );
        }
    }
    DiscoverySettings {
        enabled,
        interval,
        multicast: d.multicast.unwrap_or(true),
        interfaces: d.interfaces,
        probe: d.probe,
        adopt,
        username: d.username,
        password,
        record: d.record.unwrap_or_default(),
        tags,
        ignore: d.ignore,
    }
}

fn validate_mqtt(cx: &mut Ctx<'_>, m: raw::Mqtt, hub: &str) -> MqttSettings {
    let at = KeyPath::root().key("mqtt");
    let enabled = m.enabled.unwrap_or(false);
    if enabled && m.host.as_deref().is_none_or(str::is_empty) {
        cx.problem(at.key("host"), "is required when `mqtt.enabled = true`");
    }
    // A disabled section's secrets are not read: a missing secret file must not stop the hub.
    let password =
        if enabled { cx.secret(&at, "password", m.password, m.password_file, m.password_env) } else { None };
    let topic_prefix = m.topic_prefix.unwrap_or_else(|| "porchlight".to_owned());
    let discovery_prefix = m.discovery_prefix.unwrap_or_else(|| "homeassistant".to_owned());
    for (k, v) in [("topic_prefix", &topic_prefix), ("discovery_prefix", &discovery_prefix)] {
        if v.is_empty() || v.contains(['+', '#', '\0']) || v.starts_with('/') || v.ends_with('/') {
            cx.problem(
                at.key(k),
                format!("{v:?} is not a usable topic prefix (no wildcards, no leading or trailing `/`)"),
            );
        }
    }
    let tls_given = m.ca_file.is_some() || m.client_cert_file.is_some();
    if tls_given && m.tls == Some(false) {
        cx.problem(at.key("tls"), "is false, but TLS files are given; set `tls = true` or remove them");
    }
    let files = tls_files(cx, &at, enabled, m.ca_file, m.client_cert_file, m.client_key_file);
    let tls = m.tls.unwrap_or(tls_given).then_some(files);
    let keep_alive = m.keep_alive.map_or(Duration::from_secs(30), |d| d.0);
    if keep_alive < Duration::from_secs(5) || keep_alive > Duration::from_secs(3600) {
        cx.problem(at.key("keep_alive"), "must be between 5s and 1h");
    }
    let queue_limit = m.queue_limit.unwrap_or(1000);
    if queue_limit == 0 || queue_limit > 100_000 {
        cx.problem(at.key("queue_limit"), "must be between 1 and 100000 messages");
    }
    let snapshot_interval = m.snapshot_interval.map_or(Duration::from_secs(300), |d| d.0);
    if snapshot_interval < Duration::from_secs(5) || snapshot_interval > Duration::from_secs(86_400) {
        cx.problem(at.key("snapshot_interval"), "must be between 5s and 24h");
    }
    let ring = validate_ring(cx, m.ring.unwrap_or_default(), &at.key("ring"));
    let client_id = m.client_id.unwrap_or_else(|| format!("porchlight-{hub}"));
    if client_id.is_empty() || client_id.len() > 128 {
        cx.problem(at.key("client_id"), "must be 1 to 128 bytes");
    }
    MqttSettings {
        enabled,
        host: m.host,
        port: m.port.unwrap_or(if tls.is_some() { 8883 } else { 1883 }),
        username: m.username,
        password,
        client_id,
        topic_prefix,
        discovery_prefix,
        discovery: m.discovery.unwrap_or(true),
        tls,
        keep_alive,
        queue_limit,
        snapshot_interval,
        ring,
    }
}

/// `[mqtt.ring]` (`docs/ring.md`).
fn validate_ring(cx: &mut Ctx<'_>, r: raw::MqttRing, at: &KeyPath) -> RingSettings {
    let topic = r.topic.unwrap_or_else(|| "ring".to_owned());
    if topic.is_empty() || topic.contains(['+', '#', '\0', '/']) {
        cx.problem(
            at.key("topic"),
            format!("{topic:?} is not ring-mqtt's `ring_topic` (one topic level, no wildcards)"),
        );
    }
    let mut gateway = r.gateway.as_deref().and_then(|u| cx.url(at.key("gateway"), u, &["rtsp"]));
    let (mut user, mut pass) = (None, None);
    take_credentials(cx, &at.key("gateway"), gateway.as_mut(), &mut user, &mut pass);
    if let Some(g) = &mut gateway {
        if !matches!(g.path(), "" | "/") || g.query().is_some() {
            cx.problem(
                at.key("gateway"),
                "give only `rtsp://host:port`; the camera's path is added from its device id",
            );
        }
        g.set_path("");
    }
    let post_roll = r.post_roll.map_or(Duration::from_secs(30), |d| d.0);
    if post_roll < Duration::from_secs(1) || post_roll > Duration::from_secs(600) {
        cx.problem(at.key("post_roll"), "must be between 1s and 10m");
    }
    let silence = r.silence.map_or(Duration::from_secs(660), |d| d.0);
    if silence < Duration::from_secs(1) || silence > Duration::from_secs(86_400) {
        cx.problem(at.key("silence"), "must be between 1s and 24h");
    }
    let tags = r.tags.unwrap_or_else(|| vec!["ring".to_owned()]);
    for (i, t) in tags.iter().enumerate() {
        if !valid_name(t) {
            cx.problem(at.key("tags").index(i), id_rule(t, "tag"));
        }
    }
    let wake_topic = r.wake_topic.unwrap_or_else(|| "hassio/status".to_owned());
    if wake_topic.contains(['+', '#', '\0']) {
        cx.problem(at.key("wake_topic"), "must be an exact topic (no wildcards), or \"\" for none");
    }
    RingSettings {
        enabled: r.enabled.unwrap_or(false),
        adopt: r.adopt.unwrap_or(false),
        topic,
        gateway,
        gateway_login: user.map(|u| (u, pass.unwrap_or_else(|| Secret::new(String::new())))),
        record: r.record.unwrap_or(RecordMode::OnEvent),
        post_roll,
        tags,
        silence,
        wake_topic: (!wake_topic.is_empty()).then_some(wake_topic),
    }
}

/// `ca_file`, `client_cert_file` and `client_key_file` of a section (resolved; checked to exist
/// when the section is enabled; cert and key both or neither).
fn tls_files(
    cx: &mut Ctx<'_>,
    at: &KeyPath,
    enabled: bool,
    ca: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
) -> TlsFiles {
    if cert.is_some() != key.is_some() {
        let missing = if cert.is_some() { "client_key_file" } else { "client_cert_file" };
        cx.problem(
            at.key(missing),
            "a client certificate needs both `client_cert_file` and `client_key_file`",
        );
    }
    let mut file = |k: &str, f: Option<PathBuf>| {
        let f = f.map(|f| cx.path(&f));
        if enabled
            && let Some(p) = &f
            && !p.is_file()
        {
            cx.problem(at.key(k), format!("cannot read {}: no such file", p.display()));
        }
        f
    };
    TlsFiles {
        ca_file: file("ca_file", ca),
        client_cert_file: file("client_cert_file", cert),
        client_key_file: file("client_key_file", key),
    }
}

fn validate_stills(cx: &mut Ctx<'_>, s: raw::Stills) -> StillsSettings {
    let at = KeyPath::root().key("stills");
    let ffmpeg = s.ffmpeg.unwrap_or_else(|| PathBuf::from("ffmpeg"));
    let text = ffmpeg.to_string_lossy();
    if text.trim().is_empty() {
        cx.problem(at.key("ffmpeg"), "must name the ffmpeg program (a name found in PATH, or a path)");
    }
    // A bare name is looked up in PATH when a still is decoded; a path is taken relative to
    // the config file, like every other path.
    let ffmpeg = if ffmpeg.components().count() > 1 { cx.path(&ffmpeg) } else { ffmpeg };
    StillsSettings { ffmpeg }
}

fn validate_relay(cx: &mut Ctx<'_>, r: raw::Relay) -> RelaySettings {
    let at = KeyPath::root().key("relay");
    let enabled = r.enabled.unwrap_or(false);
    let url = r.url.as_deref().and_then(|u| cx.url(at.key("url"), u, &["https", "http"]));
    if let Some(u) = &url {
        let loopback = matches!(u.host(), Some(url::Host::Ipv4(a)) if a.is_loopback())
            || matches!(u.host(), Some(url::Host::Ipv6(a)) if a.is_loopback())
            || u.host_str() == Some("localhost");
        if u.scheme() == "http" && !loopback {
            cx.problem(
                at.key("url"),
                "the relay must use https (plain http is allowed only to a loopback address)",
            );
        }
    }
    if url.as_ref().is_some_and(|u| !u.username().is_empty() || u.password().is_some()) {
        cx.problem(at.key("url"), "do not put credentials in the relay URL; use `token_file`");
    }
    if let Some(id) = &r.hub_id
        && !valid_name(id)
    {
        cx.problem(at.key("hub_id"), id_rule(id, "hub id"));
    }
    let token = if enabled { cx.secret(&at, "token", r.token, r.token_file, r.token_env) } else { None };
    if enabled {
        if url.is_none() && r.url.is_none() {
            cx.problem(at.key("url"), "is required when `relay.enabled = true`");
        }
        if r.hub_id.is_none() {
            cx.problem(at.key("hub_id"), "is required when `relay.enabled = true`");
        }
        if token.is_none() {
            cx.problem(
                at.key("token"),
                "a token (`token`, `token_file` or `token_env`) is required when `relay.enabled = true`",
            );
        }
    }
    let tls = tls_files(cx, &at, enabled, r.ca_file, r.client_cert_file, r.client_key_file);
    let poll_wait = r.poll_wait.map_or(Duration::from_secs(25), |d| d.0);
    if poll_wait < Duration::from_secs(1) || poll_wait > Duration::from_secs(300) {
        cx.problem(at.key("poll_wait"), "must be between 1s and 5m");
    }
    RelaySettings { enabled, url, hub_id: r.hub_id, token, tls, poll_wait }
}

fn validate_restream(cx: &mut Ctx<'_>, r: raw::Restream) -> RestreamSettings {
    let at = KeyPath::root().key("restream");
    let listen = cx.listen(at.key("listen"), r.listen, SocketAddr::from(([127, 0, 0, 1], 8554)));
    let enabled = r.enabled.unwrap_or(false);
    let password =
        if enabled { cx.secret(&at, "password", r.password, r.password_file, r.password_env) } else { None };
    if let Some(u) = &r.username
        && (u.is_empty() || u.contains(['"', ':']) || u.chars().any(char::is_control))
    {
        cx.problem(at.key("username"), "must be non-empty, without `\"`, `:` or control characters");
    }
    let login = match (r.username, password) {
        (Some(u), Some(p)) => Some((u, p)),
        (None, Some(_)) => {
            cx.problem(at.key("username"), "is required when a password is given");
            None
        }
        (Some(_), None) if enabled => {
            cx.problem(
                at.key("password"),
                "a password (`password`, `password_file` or `password_env`) is required when `username` is given",
            );
            None
        }
        _ => None,
    };
    if enabled && login.is_none() && !listen.ip().is_loopback() {
        cx.problem(
            at.key("listen"),
            format!(
                "refusing to restream on non-loopback address {listen} without a login; set `restream.username` and `restream.password_file` (or `password`/`password_env`), or listen on 127.0.0.1"
            ),
        );
    }
    let max_clients = r.max_clients.unwrap_or(16);
    if !(1..=256).contains(&max_clients) {
        cx.problem(at.key("max_clients"), "must be between 1 and 256");
    }
    if let Some(names) = &r.cameras {
        for (i, name) in names.iter().enumerate() {
            if !valid_name(name) {
                cx.problem(at.key("cameras").index(i), id_rule(name, "camera name"));
            }
        }
    }
    let keyframe_wait = r.keyframe_wait.map_or(Duration::from_secs(10), |d| d.0);
    if keyframe_wait > Duration::from_secs(60) {
        cx.problem(at.key("keyframe_wait"), "must be at most 1m");
    }
    RestreamSettings {
        enabled,
        listen,
        login,
        max_clients: max_clients as usize,
        cameras: r.cameras,
        keyframe_wait,
    }
}

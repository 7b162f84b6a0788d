//! `porchlight discover`: probe, then ask each device what it is and which streams it has, and
//! print a table, JSON, or `[[camera]]` blocks ready to paste into the config.

use std::sync::Arc;

use serde::Serialize;
use url::Url;

use super::client::{self, Credentials, Device, Transport};
use super::discovery::Found;
use super::parse::Profile;

#[derive(Debug, Clone, Default, Serialize)]
pub struct TopicView {
    pub topic: String,
    pub kind: Option<&'static str>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ProfileView {
    pub token: String,
    pub name: String,
    pub encoding: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fps: Option<f32>,
}

/// What `discover` reports about one device.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Inspected {
    pub endpoint: String,
    /// The device service used.
    pub onvif_url: Option<String>,
    /// Addresses that answered the probe.
    pub addresses: Vec<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub firmware: Option<String>,
    pub name: Option<String>,
    pub doorbell: bool,
    pub profiles: Vec<ProfileView>,
    /// Main and sub stream URIs (credentials removed).
    pub main_stream: Option<String>,
    pub sub_stream: Option<String>,
    pub snapshot: Option<String>,
    pub events: bool,
    /// Event topics the device can send, and what Porchlight makes of each (`motion`,
    /// `doorbell`, `tamper`, or `null` for topics it ignores).
    pub event_topics: Vec<TopicView>,
    /// Why something could not be read (wrong password, ...).
    pub error: Option<String>,
}

/// Text a device controls, safe for one line of a terminal or a TOML comment: control
/// characters (newlines, escape sequences) become spaces.
pub fn clean(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// A URL without user name and password (cameras paste them into stream URIs).
pub fn strip_credentials(u: &str) -> String {
    match Url::parse(u) {
        Ok(mut url) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string()
        }
        Err(_) => u.to_owned(),
    }
}

fn view(p: &Profile) -> ProfileView {
    ProfileView {
        token: p.token.clone(),
        name: p.name.clone(),
        encoding: p.encoding.clone(),
        width: p.width,
        height: p.height,
        fps: p.fps,
    }
}

/// Asks one found device about itself. Never fails: problems go into `error`.
pub async fn inspect(found: &Found, creds: Option<Credentials>, transport: Arc<dyn Transport>) -> Inspected {
    let mut out = Inspected {
        endpoint: found.endpoint.clone(),
        onvif_url: found.preferred_xaddr().map(str::to_owned),
        addresses: found.from.iter().map(ToString::to_string).collect(),
        name: found.scope("name"),
        model: found.scope("hardware"),
        doorbell: found.looks_like_doorbell(),
        ..Inspected::default()
    };
    let Some(url) = out.onvif_url.as_deref().and_then(|u| Url::parse(u).ok()) else {
        out.error = Some("the device gave no usable address (XAddrs)".into());
        return out;
    };
    fill(&mut out, url, creds, transport).await;
    out
}

/// Inspects a device by its device-service URL (no probe).
pub async fn inspect_url(url: Url, creds: Option<Credentials>, transport: Arc<dyn Transport>) -> Inspected {
    let mut out = Inspected { onvif_url: Some(url.to_string()), ..Inspected::default() };
    fill(&mut out, url, creds, transport).await;
    out
}

/// What could not be read, each lookup on its own: one that fails does not keep the others
/// from being asked.
#[derive(Debug, Default)]
struct Problems(Vec<String>);

impl Problems {
    /// Keeps the failure of a lookup `Inspected` needs. `false` when the camera refused the
    /// login: every later call would be refused alike, so the lookups end there.
    fn failed(&mut self, e: &client::OnvifError) -> bool {
        self.0.push(e.to_string());
        !e.is_not_authorized()
    }

    /// The failure of an optional lookup: one the device does not support is no problem (it
    /// has no snapshot, say), only logged.
    fn optional(&mut self, what: &str, e: &client::OnvifError) -> bool {
        if Device::unsupported(e) {
            tracing::debug!(error = %e, "{what} not supported");
            return true;
        }
        self.failed(e)
    }
}

/// Fills `out` from the device, and its `error` with what could not be read.
async fn fill(out: &mut Inspected, url: Url, creds: Option<Credentials>, transport: Arc<dyn Transport>) {
    let mut problems = Problems::default();
    ask(out, url, creds, transport, &mut problems).await;
    if !problems.0.is_empty() {
        out.error = Some(problems.0.join("; "));
    }
}

async fn ask(
    out: &mut Inspected,
    url: Url,
    creds: Option<Credentials>,
    transport: Arc<dyn Transport>,
    problems: &mut Problems,
) {
    let device_url = url.clone();
    let device = match Device::connect(url, creds, transport).await {
        Ok(d) => d,
        Err(e) => {
            problems.failed(&e);
            return;
        }
    };
    out.events = device.services.events.is_some();
    match device.device_information().await {
        Ok(info) => {
            out.manufacturer = Some(info.manufacturer).filter(|s| !s.is_empty());
            out.model = Some(info.model).filter(|s| !s.is_empty()).or(out.model.take());
            out.firmware = Some(info.firmware_version).filter(|s| !s.is_empty());
        }
        Err(e) if !problems.failed(&e) => return,
        Err(_) => {}
    }
    let hay = format!("{:?} {:?} {:?}", out.manufacturer, out.model, out.name).to_ascii_lowercase();
    out.doorbell |= hay.contains("doorbell") || hay.contains("door bell");
    let profiles = match device.profiles().await {
        Ok(p) => p,
        Err(e) if !problems.failed(&e) => return,
        Err(_) => Vec::new(),
    };
    out.profiles = profiles.iter().map(view).collect();
    let (main, sub) = client::best_profiles(&profiles);
    // As the daemon will use them: a URI on the camera's own loopback gets its address.
    let usable = |u: String, what: &str| match Url::parse(&u) {
        Ok(parsed) => strip_credentials(super::events::reachable(parsed, &device_url, what).as_str()),
        Err(_) => strip_credentials(&u),
    };
    if let Some(main) = main {
        match device.stream_uri(&main.token).await {
            Ok(u) => out.main_stream = Some(usable(u, "stream")),
            Err(e) if !problems.failed(&e) => return,
            Err(_) => {}
        }
        match device.snapshot_uri(&main.token).await {
            Ok(u) => out.snapshot = Some(usable(u, "snapshot")),
            Err(e) if !problems.optional("GetSnapshotUri", &e) => return,
            Err(_) => {}
        }
    }
    if let Some(sub) = sub {
        match device.stream_uri(&sub.token).await {
            Ok(u) => out.sub_stream = Some(usable(u, "stream")),
            Err(e) if !problems.optional("The sub stream's GetStreamUri", &e) => return,
            Err(_) => {}
        }
    }
    if out.events {
        match device.event_topics().await {
            Ok(topics) => {
                out.event_topics = topics
                    .into_iter()
                    .map(|topic| {
                        let kind = super::topics::kind_of(&topic, &[]).map(crate::config::SignalKind::name);
                        TopicView { topic, kind }
                    })
                    .collect();
                out.doorbell |= out
                    .event_topics
                    .iter()
                    .any(|t| t.kind == Some("doorbell") && !t.topic.contains("DigitalInput"));
            }
            Err(e) => {
                problems.optional("GetEventProperties", &e);
            }
        }
    }
}

/// Asks every found device, a few at a time.
pub async fn inspect_all(
    found: &[Found],
    creds: Option<Credentials>,
    transport: Arc<dyn Transport>,
) -> Vec<Inspected> {
    let mut out = Vec::with_capacity(found.len());
    for chunk in found.chunks(8) {
        let batch = chunk.iter().map(|f| inspect(f, creds.clone(), Arc::clone(&transport)));
        out.extend(futures_util::future::join_all(batch).await);
    }
    out
}

/// A camera name that passes the config's rule, from what the device says.
pub fn camera_name(d: &Inspected, n: usize) -> String {
    let base = d.name.as_deref().or(d.model.as_deref()).unwrap_or("camera");
    let mut s: String =
        base.to_ascii_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    s = s.trim_matches('_').to_owned();
    if s.is_empty() {
        s = "camera".into();
    }
    s.truncate(56);
    format!("{s}_{n}")
}

/// The table `discover` prints.
pub fn table(devices: &[Inspected]) -> String {
    let mut t = format!(
        "{:<22} {:<14} {:<18} {:<14} {:<8} {:<30} {}\n",
        "ADDRESS", "VENDOR", "MODEL", "FIRMWARE", "DOORBELL", "PROFILES", "MAIN STREAM"
    );
    for d in devices {
        let addr = d.onvif_url.as_deref().and_then(|u| Url::parse(u).ok()).map_or_else(
            || d.addresses.join(","),
            |u| format!("{}:{}", u.host_str().unwrap_or("?"), u.port_or_known_default().unwrap_or(80)),
        );
        let profiles = d
            .profiles
            .iter()
            .map(|p| match (&p.encoding, p.width, p.height) {
                (Some(e), Some(w), Some(h)) => format!("{e} {w}x{h}"),
                (Some(e), _, _) => e.clone(),
                _ => p.token.clone(),
            })
            .collect::<Vec<_>>()
            .join(", ");
        t.push_str(&format!(
            "{:<22} {:<14} {:<18} {:<14} {:<8} {:<30} {}\n",
            clean(&addr),
            clean(d.manufacturer.as_deref().unwrap_or("-")),
            clean(d.model.as_deref().unwrap_or("-")),
            clean(d.firmware.as_deref().unwrap_or("-")),
            if d.doorbell { "yes" } else { "no" },
            clean(&profiles),
            clean(d.main_stream.as_deref().unwrap_or("-")),
        ));
        let mapped: Vec<String> =
            d.event_topics.iter().filter_map(|t| t.kind.map(|k| format!("{} ({k})", t.topic))).collect();
        if !mapped.is_empty() {
            t.push_str(&format!("    events: {}\n", clean(&mapped.join(", "))));
        }
        if let Some(e) = &d.error {
            t.push_str(&format!("    {}\n", clean(e)));
        }
    }
    t
}

/// `[[camera]]` blocks for the config.
/// `tls_sha256`: the certificate pin given for `https://` devices, if any.
pub fn toml_blocks(devices: &[Inspected], username: Option<&str>, tls_sha256: Option<&str>) -> String {
    let mut t = String::new();
    for (i, d) in devices.iter().enumerate() {
        let q = |s: &str| toml_string(s);
        t.push_str(&format!(
            "# {} {} ({})\n",
            clean(d.manufacturer.as_deref().unwrap_or("unknown vendor")),
            clean(d.model.as_deref().unwrap_or("unknown model")),
            clean(&d.endpoint)
        ));
        if let Some(e) = &d.error {
            t.push_str(&format!("# Could not read everything: {}\n", clean(e)));
        }
        t.push_str("[[camera]]\n");
        t.push_str(&format!("name = {}\n", q(&camera_name(d, i + 1))));
        if let Some(u) = &d.onvif_url {
            t.push_str(&format!("onvif_url = {}\n", q(u)));
            if u.starts_with("https://") {
                match tls_sha256 {
                    Some(pin) => t.push_str(&format!("onvif_tls_sha256 = {}\n", q(pin))),
                    None => t.push_str(
                        "# onvif_tls_sha256 = \"…\"  (a self-signed camera certificate: pin it; the error shows its SHA-256)\n",
                    ),
                }
            }
        }
        match &d.main_stream {
            Some(s) => t.push_str(&format!("rtsp_url = {}\n", q(s))),
            None => t.push_str("# rtsp_url = \"rtsp://…\"  (not found; log in with --user to read it)\n"),
        }
        if let Some(u) = username {
            t.push_str(&format!("username = {}\n", q(u)));
            t.push_str("# password_file = \"camera-secret\"\n");
        }
        if d.doorbell {
            t.push_str("tags = [\"doorbell\"]\n");
        }
        t.push('\n');
    }
    t
}

fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_stream_urls_never_carry_credentials() {
        assert_eq!(
            strip_credentials("rtsp://admin:secret@10.0.0.5:554/Streaming/101"),
            "rtsp://10.0.0.5:554/Streaming/101"
        );
    }

    #[test]
    fn toml_blocks_are_valid_config_with_safe_names() {
        let d = Inspected {
            endpoint: "urn:uuid:1".into(),
            onvif_url: Some("http://10.0.0.5/onvif/device_service".into()),
            model: Some("Video Doorbell \"Pro\"".into()),
            main_stream: Some("rtsp://10.0.0.5/main".into()),
            doorbell: true,
            ..Inspected::default()
        };
        let text = toml_blocks(&[d], Some("admin"), None);
        let v: toml::Value = toml::from_str(&text).expect("valid TOML");
        let cam = &v["camera"][0];
        assert_eq!(cam["name"].as_str(), Some("video_doorbell__pro_1"));
        assert_eq!(cam["rtsp_url"].as_str(), Some("rtsp://10.0.0.5/main"));
        assert_eq!(cam["tags"][0].as_str(), Some("doorbell"));
    }
}

//! `[discovery] adopt = true`: cameras found by discovery are recorded without the resident
//! adding them to the config file (which is often read-only: `/etc` under the systemd unit).
//!
//! Each adopted device is remembered in `data_dir/state/adopted.json` (endpoint address, the
//! name it was given, its device service address), so it keeps its name — and its recordings —
//! across restarts and address changes, and is recorded from the start after a restart, before
//! it answers a probe again. The running settings are the config file's cameras plus these
//! (see [`Adopted::apply`]); a device the file already names (by camera name or ONVIF host),
//! or that `discovery.ignore` lists, is not adopted. Turning `adopt` off stops recording the
//! adopted cameras; the list is kept, so turning it on again gives them the same names.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{CameraSettings, RtspTransport, Settings};

/// The most devices adopted (anything on the network can answer a probe or say Hello).
pub const MAX_ADOPTED: usize = 64;

/// One adopted device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdoptedDevice {
    /// The camera name it records under.
    pub name: String,
    /// Its WS-Discovery endpoint address, as announced (`urn:uuid:…`).
    pub endpoint: String,
    /// Its device service, as last found (empty for a Ring device).
    #[serde(default)]
    pub onvif_url: String,
    pub adopted_at: jiff::Timestamp,
    /// A Ring device announced by a ring-mqtt bridge (`[mqtt.ring] adopt = true`); its
    /// `endpoint` is `ring:<device id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ring: Option<RingDevice>,
}

/// What is kept of an adopted Ring device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RingDevice {
    /// Its live stream at the bridge's RTSP gateway (no credentials).
    pub rtsp_url: String,
    /// A doorbell (it reports presses), not only a camera.
    pub doorbell: bool,
}

/// The endpoint an adopted Ring device is kept under.
pub fn ring_endpoint(device_id: &str) -> String {
    format!("ring:{device_id}")
}

/// What [`Adopted::found`] did with a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Newly adopted under this name.
    Adopted(String),
    /// Adopted before; it answered from a new address, which is now used.
    Moved(String),
    /// Adopted before, same address: nothing changed.
    Known(String),
    /// The config file names it, `discovery.ignore` lists it, or `adopt` is off.
    NotAdopted,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot record the adopted camera in {}: {source}", file.display())]
pub struct AdoptError {
    file: PathBuf,
    source: std::io::Error,
}

/// The adopted devices. Cheap to clone; every clone sees the same list.
#[derive(Debug, Clone)]
pub struct Adopted {
    file: PathBuf,
    list: Arc<Mutex<Vec<AdoptedDevice>>>,
}

/// The form of an endpoint address that is compared (`urn:` and case dropped).
pub fn endpoint_key(endpoint: &str) -> String {
    endpoint.trim().trim_start_matches("urn:").trim_start_matches("URN:").to_ascii_lowercase()
}

fn host_of(url: &url::Url) -> Option<String> {
    url.host_str().map(|h| h.trim_matches(['[', ']']).to_ascii_lowercase())
}

/// A camera name made from the device's ONVIF `name` scope ("Porch Doorbell" →
/// `porch-doorbell`), or from its endpoint address when it has none.
pub fn name_for(scope_name: Option<&str>, endpoint: &str) -> String {
    let mut out = String::new();
    for c in scope_name.unwrap_or("").chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.truncate(40);
    let out = out.trim_end_matches('-').to_owned();
    if !out.is_empty() {
        return out;
    }
    // "urn:uuid:5f5a1a2e-…-00005e005302" → "camera-5e005302".
    let tail: String =
        endpoint_key(endpoint).chars().rev().filter(char::is_ascii_alphanumeric).take(8).collect();
    let tail: String = tail.chars().rev().collect();
    if tail.is_empty() { "camera".to_owned() } else { format!("camera-{tail}") }
}

impl Adopted {
    /// Loads `data_dir/state/adopted.json`. A damaged file is set aside (renamed `.damaged`)
    /// and logged, so the next adoption does not overwrite what the resident may want back.
    pub fn open(data_dir: &Path) -> Self {
        let file = data_dir.join("state/adopted.json");
        let list = match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice::<Vec<AdoptedDevice>>(&bytes).unwrap_or_else(|e| {
                let aside = file.with_extension("json.damaged");
                let _ = std::fs::rename(&file, &aside);
                tracing::error!(
                    file = %file.display(), moved_to = %aside.display(), error = %e,
                    "The list of adopted cameras is damaged; they are adopted again as they are found"
                );
                Vec::new()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                tracing::error!(file = %file.display(), error = %e, "Cannot read the list of adopted cameras");
                Vec::new()
            }
        };
        Self { file, list: Arc::new(Mutex::new(list)) }
    }

    pub fn list(&self) -> Vec<AdoptedDevice> {
        self.list.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// A device that answered discovery, at `onvif_url`: adopted (or its address updated) if
    /// `settings` let it be. The list is written to disk before this returns `Adopted` or
    /// `Moved`; on a write error nothing changes.
    pub fn found(
        &self,
        settings: &Settings,
        endpoint: &str,
        onvif_url: &url::Url,
        scope_name: Option<&str>,
    ) -> Result<Outcome, AdoptError> {
        let d = &settings.discovery;
        if !d.adopt || ignored(settings, endpoint, onvif_url) || configured(settings, onvif_url).is_some() {
            return Ok(Outcome::NotAdopted);
        }
        self.adopt(settings, endpoint, scope_name, onvif_url.as_str(), None)
    }

    /// A Ring device announced by a ring-mqtt bridge, streamed at `rtsp_url`: adopted (or its
    /// address updated) if `[mqtt.ring] adopt` is on and the config file has no camera with
    /// that stream.
    pub fn found_ring(
        &self,
        settings: &Settings,
        device_id: &str,
        name: Option<&str>,
        device: RingDevice,
    ) -> Result<Outcome, AdoptError> {
        let r = &settings.mqtt.ring;
        if !r.enabled || !r.adopt || ring_configured(settings, &device.rtsp_url) {
            return Ok(Outcome::NotAdopted);
        }
        self.adopt(settings, &ring_endpoint(device_id), name, "", Some(device))
    }

    fn adopt(
        &self,
        settings: &Settings,
        endpoint: &str,
        scope_name: Option<&str>,
        onvif_url: &str,
        ring: Option<RingDevice>,
    ) -> Result<Outcome, AdoptError> {
        let key = endpoint_key(endpoint);
        let mut list = self.list.lock().unwrap_or_else(PoisonError::into_inner);
        let mut next = list.clone();
        let outcome = if let Some(dev) = next.iter_mut().find(|a| endpoint_key(&a.endpoint) == key) {
            if dev.onvif_url == onvif_url && dev.ring == ring {
                return Ok(Outcome::Known(dev.name.clone()));
            }
            dev.onvif_url = onvif_url.to_owned();
            dev.ring = ring;
            Outcome::Moved(dev.name.clone())
        } else if next.len() >= MAX_ADOPTED {
            tracing::warn!(endpoint, max = MAX_ADOPTED, "Not adopting another camera: the limit is reached");
            return Ok(Outcome::NotAdopted);
        } else {
            let base = name_for(scope_name, endpoint);
            let taken =
                |n: &str| settings.camera(n).is_some_and(|c| !c.adopted) || next.iter().any(|a| a.name == n);
            let name = std::iter::once(base.clone())
                .chain((2..).map(|i| format!("{base}-{i}")))
                .find(|n| !taken(n))
                .unwrap_or(base);
            next.push(AdoptedDevice {
                name: name.clone(),
                endpoint: endpoint.trim().to_owned(),
                onvif_url: onvif_url.to_owned(),
                adopted_at: jiff::Timestamp::now(),
                ring,
            });
            Outcome::Adopted(name)
        };
        crate::files::write_atomically(&self.file, &next)
            .map_err(|source| AdoptError { file: self.file.clone(), source })?;
        *list = next;
        Ok(outcome)
    }

    /// `settings` with the adopted cameras it should record: those of an earlier `apply` are
    /// dropped first, so this can be applied again to running settings.
    pub fn apply(&self, mut settings: Settings) -> Settings {
        settings.cameras.retain(|c| !c.adopted);
        let list = self.list.lock().unwrap_or_else(PoisonError::into_inner);
        for dev in list.iter() {
            if let Some(ring) = &dev.ring {
                if let Some(camera) = ring_camera(&settings, dev, ring) {
                    settings.cameras.push(camera);
                }
                continue;
            }
            if !settings.discovery.adopt {
                continue;
            }
            let Ok(url) = url::Url::parse(&dev.onvif_url) else {
                tracing::warn!(camera = %dev.name, onvif_url = %dev.onvif_url, "Adopted camera has an unusable address; skipped");
                continue;
            };
            if settings.camera(&dev.name).is_some()
                || configured(&settings, &url).is_some()
                || ignored(&settings, &dev.endpoint, &url)
            {
                continue;
            }
            let d = &settings.discovery;
            let camera = CameraSettings {
                name: dev.name.clone(),
                enabled: true,
                rtsp_url: None,
                onvif_url: Some(url),
                onvif_tls: crate::config::OnvifTrust::System,
                transport: RtspTransport::default(),
                username: d.username.clone(),
                password: d.password.clone(),
                record: d.record,
                pre_roll: Duration::from_secs(crate::config::DEFAULT_PRE_ROLL_SECS),
                post_roll: Duration::from_secs(crate::config::DEFAULT_POST_ROLL_SECS),
                max_age: None,
                tags: d.tags.clone(),
                event_map: Vec::new(),
                mqtt_events: Vec::new(),
                adopted: true,
            };
            settings.cameras.push(camera);
        }
        settings
    }
}

/// An adopted Ring device as a camera of `settings`, if `[mqtt.ring]` adopts and nothing in
/// `settings` has its name or stream.
fn ring_camera(settings: &Settings, dev: &AdoptedDevice, ring: &RingDevice) -> Option<CameraSettings> {
    let r = &settings.mqtt.ring;
    if !r.enabled
        || !r.adopt
        || settings.camera(&dev.name).is_some()
        || ring_configured(settings, &ring.rtsp_url)
    {
        return None;
    }
    let Ok(mut url) = url::Url::parse(&ring.rtsp_url) else {
        tracing::warn!(camera = %dev.name, rtsp_url = %ring.rtsp_url, "Adopted Ring camera has an unusable address; skipped");
        return None;
    };
    // The resident's gateway address wins over the one the bridge announced.
    if let Some(g) = &r.gateway {
        let _ = url.set_host(g.host_str());
        let _ = url.set_port(g.port());
    }
    Some(CameraSettings {
        name: dev.name.clone(),
        enabled: true,
        rtsp_url: Some(url),
        onvif_url: None,
        onvif_tls: crate::config::OnvifTrust::System,
        transport: RtspTransport::Tcp,
        username: r.gateway_login.as_ref().map(|(u, _)| u.clone()),
        password: r.gateway_login.as_ref().map(|(_, p)| p.clone()),
        record: r.record,
        pre_roll: Duration::ZERO,
        post_roll: r.post_roll,
        max_age: None,
        tags: r.tags.clone(),
        event_map: Vec::new(),
        mqtt_events: Vec::new(),
        adopted: true,
    })
}

/// Whether the config file has a camera recording this Ring stream (same path at the gateway).
fn ring_configured(settings: &Settings, rtsp_url: &str) -> bool {
    let path = url::Url::parse(rtsp_url).ok().map(|u| u.path().to_owned());
    settings
        .cameras
        .iter()
        .filter(|c| !c.adopted)
        .any(|c| c.rtsp_url.as_ref().map(|u| u.path().to_owned()) == path && path.is_some())
}

/// The config file's camera at the same ONVIF host, if any.
pub fn configured<'a>(settings: &'a Settings, onvif_url: &url::Url) -> Option<&'a CameraSettings> {
    let host = host_of(onvif_url)?;
    settings.cameras.iter().filter(|c| !c.adopted).find(|c| {
        c.onvif_url.as_ref().and_then(host_of).as_deref() == Some(host.as_str())
            || c.rtsp_url.as_ref().and_then(host_of).as_deref() == Some(host.as_str())
    })
}

/// Whether `discovery.ignore` lists this device (by endpoint address or host).
fn ignored(settings: &Settings, endpoint: &str, onvif_url: &url::Url) -> bool {
    let key = endpoint_key(endpoint);
    let host = host_of(onvif_url);
    settings.discovery.ignore.iter().any(|i| {
        let i = i.trim();
        endpoint_key(i) == key
            || host.as_deref().is_some_and(|h| h.eq_ignore_ascii_case(i.trim_matches(['[', ']'])))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, Env};

    fn settings(text: &str) -> Settings {
        let env = Env::from_pairs([("HOME", "/tmp")]);
        config::parse(Path::new("/etc/porchlight/config.toml"), text.to_owned(), &env).expect("valid config")
    }

    const ADOPT: &str =
        "[discovery]\nenabled = true\nadopt = true\nusername = \"admin\"\npassword = \"pw\"\n";

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).expect("url")
    }

    #[test]
    fn names_come_from_the_name_scope_or_the_endpoint() {
        assert_eq!(name_for(Some("Porch Doorbell"), "urn:uuid:1"), "porch-doorbell");
        assert_eq!(name_for(Some("  Garage / Side (2) "), "urn:uuid:1"), "garage-side-2");
        assert_eq!(name_for(Some("Überwachung"), "x"), "berwachung");
        assert_eq!(name_for(None, "urn:uuid:5f5a1a2e-0000-4000-8000-00005e005302"), "camera-5e005302");
        assert_eq!(name_for(Some("---"), ""), "camera");
        for n in [name_for(Some(&"x".repeat(200)), ""), name_for(Some("A b"), "")] {
            assert!(config::valid_name(&n), "{n}");
        }
    }

    #[test]
    fn a_found_device_is_adopted_once_kept_on_disk_and_follows_its_address() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = settings(ADOPT);
        let a = Adopted::open(dir.path());
        let first = url("http://10.0.0.5/onvif/device_service");
        assert_eq!(
            a.found(&s, "urn:uuid:AB-1", &first, Some("Front Door")).expect("found"),
            Outcome::Adopted("front-door".into())
        );
        // The same device again (case and `urn:` do not matter): nothing changes.
        assert_eq!(
            a.found(&s, "uuid:ab-1", &first, Some("Front Door")).expect("found"),
            Outcome::Known("front-door".into())
        );
        // A second device with the same name gets a number.
        assert_eq!(
            a.found(&s, "urn:uuid:cd-2", &url("http://10.0.0.6/onvif"), Some("Front Door")).expect("found"),
            Outcome::Adopted("front-door-2".into())
        );
        // The first moves (DHCP): same name, new address.
        let moved = url("http://10.0.0.9/onvif/device_service");
        assert_eq!(
            a.found(&s, "urn:uuid:AB-1", &moved, None).expect("found"),
            Outcome::Moved("front-door".into())
        );

        // On disk, and the running settings record both with the discovery credentials.
        let again = Adopted::open(dir.path());
        let applied = again.apply(s.clone());
        let names: Vec<&str> = applied.cameras.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["front-door", "front-door-2"]);
        let c = &applied.cameras[0];
        assert!(c.adopted && c.enabled);
        assert_eq!(c.onvif_url.as_ref().map(url::Url::as_str), Some(moved.as_str()));
        assert_eq!(c.username.as_deref(), Some("admin"));
        assert_eq!(c.tags, ["adopted"]);
        // Applying again does not add them twice.
        assert_eq!(again.apply(applied).cameras.len(), 2);

        // With adopt off they are not recorded, but remembered.
        let off = settings("[discovery]\nenabled = true\n");
        assert!(again.apply(off.clone()).cameras.is_empty());
        assert_eq!(again.found(&off, "urn:uuid:ef-3", &first, None).expect("found"), Outcome::NotAdopted);
        assert_eq!(again.list().len(), 2);
    }

    #[test]
    fn the_config_file_and_the_ignore_list_win() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = settings(&format!(
            "{ADOPT}ignore = [\"urn:uuid:skip-me\", \"10.0.0.8\"]\n\n[[camera]]\nname = \"porch\"\nonvif_url = \"http://10.0.0.5:8080/onvif/device_service\"\n"
        ));
        let a = Adopted::open(dir.path());
        // The file names this host already.
        let out = a.found(&s, "urn:uuid:1", &url("http://10.0.0.5/onvif/device_service"), Some("Porch"));
        assert_eq!(out.expect("found"), Outcome::NotAdopted);
        // Listed by endpoint, or by host.
        assert_eq!(
            a.found(&s, "URN:UUID:SKIP-ME", &url("http://10.0.0.7/"), None).expect("found"),
            Outcome::NotAdopted
        );
        assert_eq!(
            a.found(&s, "urn:uuid:2", &url("http://10.0.0.8/"), None).expect("found"),
            Outcome::NotAdopted
        );
        // A name the file uses is not taken.
        assert_eq!(
            a.found(&s, "urn:uuid:3", &url("http://10.0.0.9/"), Some("Porch")).expect("found"),
            Outcome::Adopted("porch-2".into())
        );
        // A camera the resident adds to the file later (same host) replaces the adopted one.
        let later = settings(&format!(
            "{ADOPT}\n[[camera]]\nname = \"porch\"\nonvif_url = \"http://10.0.0.5/onvif\"\n[[camera]]\nname = \"side\"\nonvif_url = \"http://10.0.0.9/onvif\"\n"
        ));
        let names: Vec<String> = a.apply(later).cameras.into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["porch", "side"]);
    }

    /// A Ring device is adopted only with `[mqtt.ring] adopt`, keeps its name when its stream
    /// moves, records its gateway stream (the resident's `gateway` host and login winning), and
    /// gives way to a file camera with the same gateway path.
    #[test]
    fn ring_devices_are_adopted_with_their_gateway_stream() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ring = "[mqtt]\nenabled = true\nhost = \"h\"\n[mqtt.ring]\nenabled = true\nadopt = true\n";
        let s = settings(&format!("{ring}gateway = \"rtsp://u:pw@10.0.0.9:8555\"\n"));
        let a = Adopted::open(dir.path());
        let dev = |url: &str| RingDevice { rtsp_url: url.into(), doorbell: true };
        let off = settings("[mqtt]\nenabled = true\nhost = \"h\"\n[mqtt.ring]\nenabled = true\n");
        assert_eq!(
            a.found_ring(&off, "abc", Some("Front Door"), dev("rtsp://h:8554/abc_live")).expect("found"),
            Outcome::NotAdopted
        );
        assert_eq!(
            a.found_ring(&s, "abc", Some("Front Door"), dev("rtsp://h:8554/abc_live")).expect("found"),
            Outcome::Adopted("front-door".into())
        );
        assert_eq!(
            a.found_ring(&s, "abc", None, dev("rtsp://h2:8554/abc_live")).expect("found"),
            Outcome::Moved("front-door".into())
        );
        let applied = Adopted::open(dir.path()).apply(s.clone());
        let c = &applied.cameras[0];
        assert_eq!(c.rtsp_url.as_ref().map(url::Url::as_str), Some("rtsp://10.0.0.9:8555/abc_live"));
        assert_eq!(
            (c.record, c.pre_roll, c.tags.as_slice()),
            (config::RecordMode::OnEvent, Duration::ZERO, &["ring".to_owned()][..])
        );
        assert_eq!(c.username.as_deref(), Some("u"));
        assert!(c.adopted && c.onvif_url.is_none());
        // Not with adoption off; and a file camera on the same gateway path wins.
        assert!(a.apply(off).cameras.is_empty());
        let file = settings(&format!(
            "{ring}\n[[camera]]\nname = \"door\"\nrtsp_url = \"rtsp://nvr:8554/abc_live\"\n"
        ));
        let names: Vec<String> = a.apply(file).cameras.into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["door"]);
    }

    #[test]
    fn adoption_stops_at_the_limit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = settings(ADOPT);
        let a = Adopted::open(dir.path());
        for i in 0..MAX_ADOPTED + 5 {
            let out = a.found(
                &s,
                &format!("urn:uuid:{i}"),
                &url(&format!("http://10.0.{}.{}/", i / 250, i % 250 + 1)),
                None,
            );
            assert_eq!(matches!(out.expect("found"), Outcome::Adopted(_)), i < MAX_ADOPTED, "{i}");
        }
        assert_eq!(a.list().len(), MAX_ADOPTED);
    }

    #[test]
    fn a_damaged_list_is_set_aside_not_overwritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("state")).expect("mkdir");
        std::fs::write(dir.path().join("state/adopted.json"), "{not json").expect("write");
        let a = Adopted::open(dir.path());
        assert!(a.list().is_empty());
        let aside = std::fs::read_to_string(dir.path().join("state/adopted.json.damaged")).expect("kept");
        assert_eq!(aside, "{not json");
    }

    #[test]
    fn an_unwritable_list_adopts_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        // `state` is a file, so the list cannot be written.
        std::fs::write(dir.path().join("state"), "").expect("write");
        let a = Adopted::open(dir.path());
        let err = a
            .found(&settings(ADOPT), "urn:uuid:1", &url("http://10.0.0.5/"), Some("Porch"))
            .expect_err("cannot write");
        assert!(err.to_string().contains("adopted.json"), "{err}");
        assert!(a.list().is_empty());
    }
}

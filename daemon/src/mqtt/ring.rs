//! Reading a ring-mqtt bridge on the hub's broker (`[mqtt.ring]`, `docs/ring.md`).
//!
//! ring-mqtt publishes each Ring camera under `<ring_topic>/<location id>/camera/<device id>/`:
//! `status` (`online`/`offline`), `ding/state` and `motion/state` (`ON`/`OFF`, each followed by
//! its `…/attributes` JSON with `lastDing`/`lastMotion` in Unix seconds), `info/state` (JSON
//! with `stream_Source`, the device's live stream at the bridge's RTSP gateway, republished
//! every 5 minutes). Home Assistant discovery configs name the device (`device.name`,
//! `device.mdl`); a doorbell has a `ding` binary sensor. Nothing is retained: the bridge sends
//! everything again on its own (re)connect and after `online` on `homeassistant/status`,
//! `hass/status` or `hassio/status`.
//!
//! [`Bridge`] is a state machine fed messages with their arrival time; it answers with
//! [`Action`]s the `mqtt` task carries out (announce or adopt a device, publish an event,
//! mark a camera (un)reachable). A ding or motion `ON` counts once: a repeat `ON` (ring-mqtt
//! republishes states, and sends `ON` again for a new press while the last is active) is a new
//! event only when its attributes carry a newer time.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::bus::EventKind;
use crate::config::RingSettings;

/// The longest a Ring device id or location id may be (they are short numbers or UUIDs).
const MAX_ID: usize = 64;
/// A first `ON` seen for a device whose earlier state is unknown (the hub started during the
/// event) is an event only if its attributes date it within this long.
const FRESH: Duration = Duration::from_secs(30);

/// What the `mqtt` task does for the bridge.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// A camera the hub has not seen since it started, or whose stream or name changed.
    Found(Found),
    /// An event of the device's camera.
    Event { device: String, kind: EventKind },
    /// The device's camera is unreachable (`Some(why)`) or reachable again.
    Reach { device: String, down: Option<String> },
}

/// A Ring camera as the bridge announces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub device: String,
    pub name: Option<String>,
    pub model: Option<String>,
    pub doorbell: bool,
    /// The live stream at the gateway (credentials removed).
    pub rtsp_url: String,
    /// The gateway login the bridge's `stream_Source` carried, if any.
    pub login: Option<(String, String)>,
}

/// `ON`/`OFF` of a ding or motion sensor and the newest event time seen.
#[derive(Debug, Default, Clone)]
struct Sensor {
    on: Option<bool>,
    /// `lastDing`/`lastMotion` of the newest attributes (Unix seconds).
    last: Option<i64>,
    /// An `ON` that repeated one already on (or came first): decided by its attributes.
    undecided: bool,
}

#[derive(Debug, Default, Clone)]
struct Device {
    name: Option<String>,
    model: Option<String>,
    doorbell: bool,
    stream: Option<String>,
    announced: Option<Found>,
    ding: Sensor,
    motion: Sensor,
    /// `status` as last published.
    online: Option<bool>,
}

/// What the hub knows about the bridge's cameras.
#[derive(Debug)]
pub struct Bridge {
    topic: String,
    discovery_prefix: String,
    silence: Duration,
    devices: BTreeMap<String, Device>,
    last_heard: Option<Instant>,
    /// The bridge has been silent for longer than `silence` (its cameras marked unreachable).
    silent: bool,
}

/// The reason a camera is unreachable when its bridge has gone quiet.
pub fn silence_reason(silence: Duration) -> String {
    format!("the ring-mqtt bridge has sent nothing for {}s", silence.as_secs())
}

impl Bridge {
    pub fn new(settings: &RingSettings, discovery_prefix: &str) -> Self {
        Self {
            topic: settings.topic.clone(),
            discovery_prefix: discovery_prefix.to_owned(),
            silence: settings.silence,
            devices: BTreeMap::new(),
            last_heard: None,
            silent: false,
        }
    }

    /// The topic filters to subscribe to.
    pub fn filters(&self) -> Vec<String> {
        vec![
            format!("{}/+/camera/#", self.topic),
            format!("{}/sensor/+/+/config", self.discovery_prefix),
            format!("{}/binary_sensor/+/+/config", self.discovery_prefix),
        ]
    }

    /// Whether `topic` is one this reads (the `mqtt` task hands it here).
    pub fn wants(&self, topic: &str) -> bool {
        let under = |p: &str| topic.strip_prefix(p).is_some_and(|r| r.starts_with('/'));
        (under(&self.topic) && topic.split('/').nth(2) == Some("camera"))
            || (under(&self.discovery_prefix) && topic.ends_with("/config"))
    }

    /// Why the device's camera is unreachable now, as far as the bridge tells.
    pub fn down(&self, device: &str) -> Option<String> {
        if self.silent {
            return Some(silence_reason(self.silence));
        }
        let d = self.devices.get(device)?;
        (d.online == Some(false)).then(|| "ring-mqtt reports the device offline".to_owned())
    }

    /// One message from the broker, received at `now`.
    pub fn message(&mut self, topic: &str, payload: &[u8], now: Instant, wall_s: i64) -> Vec<Action> {
        let mut out = Vec::new();
        if let Some(rest) = topic.strip_prefix(&format!("{}/", self.discovery_prefix)) {
            self.discovery(rest, payload, &mut out);
            return out;
        }
        let Some(rest) = topic.strip_prefix(&format!("{}/", self.topic)) else { return out };
        // <location>/camera/<device>/<entity>[/<leaf>]
        let parts: Vec<&str> = rest.split('/').collect();
        let [location, "camera", device, entity, leaf @ ..] = parts.as_slice() else { return out };
        if !id_ok(location) || !id_ok(device) {
            return out;
        }
        self.heard(now, &mut out);
        let text = String::from_utf8_lossy(payload);
        let text = text.trim();
        let dev = self.devices.entry((*device).to_owned()).or_default();
        match (*entity, leaf) {
            ("status", []) => {
                let online = match text {
                    "online" => true,
                    "offline" => false,
                    _ => return out,
                };
                if dev.online != Some(online) {
                    dev.online = Some(online);
                    let down = (!online).then(|| "ring-mqtt reports the device offline".to_owned());
                    out.push(Action::Reach { device: (*device).to_owned(), down });
                }
            }
            ("ding", ["state"]) => {
                dev.doorbell = true;
                if let Some(k) = on_state(&mut dev.ding, text) {
                    out.push(Action::Event { device: (*device).to_owned(), kind: k.doorbell() });
                }
            }
            ("ding", ["attributes"]) if attributes(&mut dev.ding, payload, "lastDing", wall_s) => {
                out.push(Action::Event { device: (*device).to_owned(), kind: EventKind::DoorbellPress });
            }
            ("motion", ["state"]) => match text {
                "OFF" if dev.motion.on == Some(true) => {
                    dev.motion.on = Some(false);
                    dev.motion.undecided = false;
                    out.push(Action::Event { device: (*device).to_owned(), kind: EventKind::MotionEnd });
                }
                _ => {
                    if let Some(k) = on_state(&mut dev.motion, text) {
                        out.push(Action::Event { device: (*device).to_owned(), kind: k.motion() });
                    }
                }
            },
            ("motion", ["attributes"]) if attributes(&mut dev.motion, payload, "lastMotion", wall_s) => {
                out.push(Action::Event { device: (*device).to_owned(), kind: EventKind::MotionStart });
            }
            ("info", ["state"]) => {
                let stream = serde_json::from_slice::<serde_json::Value>(payload)
                    .ok()
                    .and_then(|v| v.get("stream_Source").and_then(|s| s.as_str()).map(str::to_owned));
                if let Some(s) = stream {
                    dev.stream = Some(s);
                }
            }
            _ => {}
        }
        let device = (*device).to_owned();
        self.announce(&device, &mut out);
        out
    }

    /// Called now and then (and at each message): a bridge silent for longer than `silence`
    /// makes every camera it announced unreachable, until it speaks again.
    pub fn tick(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if !self.silent && self.last_heard.is_some_and(|t| now.saturating_duration_since(t) > self.silence) {
            self.silent = true;
            let why = silence_reason(self.silence);
            for id in self.devices.keys() {
                out.push(Action::Reach { device: id.clone(), down: Some(why.clone()) });
            }
        }
        out
    }

    /// The bridge spoke at `now`: it is not silent.
    fn heard(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.last_heard = Some(now);
        if std::mem::take(&mut self.silent) {
            for (id, d) in &self.devices {
                let down =
                    (d.online == Some(false)).then(|| "ring-mqtt reports the device offline".to_owned());
                out.push(Action::Reach { device: id.clone(), down });
            }
        }
    }

    /// A Home Assistant discovery config (`<component>/<node>/<object>/config` under the
    /// prefix): ring-mqtt's `info` sensor names the device; a `ding` sensor makes it a doorbell.
    fn discovery(&mut self, rest: &str, payload: &[u8], out: &mut Vec<Action>) {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(payload) else { return };
        // The availability topic says whose it is: <ring_topic>/<location>/camera/<device>/status.
        let Some(avail) = v.get("availability_topic").and_then(|a| a.as_str()) else { return };
        let prefix = format!("{}/", self.topic);
        let Some(path) = avail.strip_prefix(&prefix) else { return };
        let parts: Vec<&str> = path.split('/').collect();
        let [location, "camera", device, "status"] = parts.as_slice() else { return };
        if !id_ok(location) || !id_ok(device) {
            return;
        }
        let object = rest.split('/').nth(2).unwrap_or_default();
        let dev = self.devices.entry((*device).to_owned()).or_default();
        if object == format!("{device}_ding") {
            dev.doorbell = true;
        } else if object == format!("{device}_info") {
            let d = v.get("device");
            let text = |k: &str| {
                d.and_then(|d| d.get(k)).and_then(|n| n.as_str()).map(|s| s.chars().take(128).collect())
            };
            dev.name = text("name").or(dev.name.take());
            dev.model = text("mdl").or(dev.model.take());
        } else {
            return;
        }
        let device = (*device).to_owned();
        self.announce(&device, out);
    }

    /// Announces a device once its stream is known (again when something changed). The
    /// name waits for the discovery config briefly: a device seen with a stream but no name
    /// is announced without one.
    fn announce(&mut self, device: &str, out: &mut Vec<Action>) {
        let Some(dev) = self.devices.get_mut(device) else { return };
        let Some(stream) = &dev.stream else { return };
        let Some((rtsp_url, login)) = stream_url(stream, device) else { return };
        let found = Found {
            device: device.to_owned(),
            name: dev.name.clone(),
            model: dev.model.clone(),
            doorbell: dev.doorbell,
            rtsp_url,
            login,
        };
        if dev.announced.as_ref() != Some(&found) {
            dev.announced = Some(found.clone());
            out.push(Action::Found(found));
        }
    }
}

/// What an `ON` was.
#[derive(Debug, Clone, Copy)]
struct NewOn;

impl NewOn {
    fn doorbell(self) -> EventKind {
        EventKind::DoorbellPress
    }
    fn motion(self) -> EventKind {
        EventKind::MotionStart
    }
}

/// A `…/state` payload: `Some` for an `ON` after `OFF` (an event at once); a repeated or
/// first `ON` waits for its attributes.
fn on_state(s: &mut Sensor, text: &str) -> Option<NewOn> {
    match text {
        "ON" => {
            let before = s.on.replace(true);
            if before == Some(false) {
                s.undecided = false;
                Some(NewOn)
            } else {
                s.undecided = true;
                None
            }
        }
        "OFF" => {
            s.on = Some(false);
            s.undecided = false;
            None
        }
        _ => None,
    }
}

/// A `…/attributes` payload: records the event time; `true` when it decides an undecided
/// `ON` to be a new event (a newer time than seen before, or, with nothing seen before, a
/// time within [`FRESH`] of `wall_s`).
fn attributes(s: &mut Sensor, payload: &[u8], key: &str, wall_s: i64) -> bool {
    let Some(t) = serde_json::from_slice::<serde_json::Value>(payload)
        .ok()
        .and_then(|v| v.get(key).and_then(serde_json::Value::as_i64))
    else {
        return false;
    };
    let before = s.last.replace(t);
    if !std::mem::take(&mut s.undecided) || s.on != Some(true) {
        return false;
    }
    match before {
        Some(b) => t > b,
        None => (wall_s - t).unsigned_abs() <= FRESH.as_secs(),
    }
}

/// A Ring id: short, plain characters (it becomes part of a URL path and a file name).
fn id_ok(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The bridge's `stream_Source` (`rtsp://[user:pass@]host:8554/<device>_live`) without its
/// credentials, which come back separately; `None` unless it is that device's stream.
fn stream_url(source: &str, device: &str) -> Option<(String, Option<(String, String)>)> {
    let mut u = url::Url::parse(source).ok()?;
    if u.scheme() != "rtsp" || u.host_str().is_none() || u.path() != format!("/{device}_live") {
        return None;
    }
    let login = (!u.username().is_empty()).then(|| {
        let dec = crate::config::percent_decode;
        (dec(u.username()), dec(u.password().unwrap_or_default()))
    });
    let _ = u.set_username("");
    let _ = u.set_password(None);
    Some((u.to_string(), login))
}

/// The gateway path of a device's event stream (the recording of its latest event, fetched
/// from Ring's cloud by the bridge when a client opens it).
pub fn event_stream(live: &url::Url) -> Option<url::Url> {
    let path = live.path().strip_suffix("_live")?.to_owned();
    let mut u = live.clone();
    u.set_path(&format!("{path}_event"));
    Some(u)
}

/// The device id of a gateway stream (`/<device>_live` or `/<device>_event`).
pub fn device_of(rtsp_url: &url::Url) -> Option<&str> {
    let p = rtsp_url.path().strip_prefix('/')?;
    let id = p.strip_suffix("_live").or_else(|| p.strip_suffix("_event"))?;
    id_ok(id).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bridge() -> Bridge {
        let settings = RingSettings {
            enabled: true,
            adopt: true,
            topic: "ring".into(),
            gateway: None,
            gateway_login: None,
            record: crate::config::RecordMode::OnEvent,
            post_roll: Duration::from_secs(30),
            tags: vec![],
            silence: Duration::from_secs(60),
            wake_topic: None,
        };
        Bridge::new(&settings, "homeassistant")
    }

    const T: &str = "ring/loc1/camera/abc123";

    fn feed(b: &mut Bridge, topic: &str, payload: &str, now: Instant) -> Vec<Action> {
        b.message(topic, payload.as_bytes(), now, 1_000_000)
    }

    fn events(actions: &[Action]) -> Vec<&EventKind> {
        actions
            .iter()
            .filter_map(|a| if let Action::Event { kind, .. } = a { Some(kind) } else { None })
            .collect()
    }

    #[test]
    fn a_camera_is_found_with_its_name_stream_and_doorbell_and_credentials_kept_apart() {
        let mut b = bridge();
        let now = Instant::now();
        let cfg = r#"{"name":"Info","unique_id":"abc123_info","availability_topic":"ring/loc1/camera/abc123/status","device":{"ids":["abc123"],"name":"Front Door","mf":"Ring","mdl":"Doorbell Pro"}}"#;
        assert!(b.message("homeassistant/sensor/loc1/abc123_info/config", cfg.as_bytes(), now, 0).is_empty());
        let ding = r#"{"availability_topic":"ring/loc1/camera/abc123/status"}"#;
        b.message("homeassistant/binary_sensor/loc1/abc123_ding/config", ding.as_bytes(), now, 0);
        let a = feed(
            &mut b,
            &format!("{T}/info/state"),
            r#"{"stream_Source":"rtsp://u:p%40ss@10.0.0.2:8554/abc123_live"}"#,
            now,
        );
        assert_eq!(
            a,
            [Action::Found(Found {
                device: "abc123".into(),
                name: Some("Front Door".into()),
                model: Some("Doorbell Pro".into()),
                doorbell: true,
                rtsp_url: "rtsp://10.0.0.2:8554/abc123_live".into(),
                login: Some(("u".into(), "p@ss".into())),
            })]
        );
        // The same again (the 5-minute republish): nothing new.
        assert!(
            feed(
                &mut b,
                &format!("{T}/info/state"),
                r#"{"stream_Source":"rtsp://u:p%40ss@10.0.0.2:8554/abc123_live"}"#,
                now
            )
            .is_empty()
        );
        // Not its own stream, or not RTSP: ignored.
        let mut b2 = bridge();
        assert!(
            feed(&mut b2, &format!("{T}/info/state"), r#"{"stream_Source":"rtsp://h/other_live"}"#, now)
                .is_empty()
        );
        assert!(
            feed(&mut b2, &format!("{T}/info/state"), r#"{"stream_Source":"http://h/abc123_live"}"#, now)
                .is_empty()
        );
    }

    #[test]
    fn a_ding_counts_once_and_repeats_only_with_a_newer_time() {
        let mut b = bridge();
        let now = Instant::now();
        let st = format!("{T}/ding/state");
        let at = format!("{T}/ding/attributes");
        // First state seen is OFF (republish at start), then a press.
        assert!(events(&feed(&mut b, &st, "OFF", now)).is_empty());
        assert_eq!(events(&feed(&mut b, &st, "ON", now)), [&EventKind::DoorbellPress]);
        assert!(events(&feed(&mut b, &at, r#"{"lastDing":999990}"#, now)).is_empty());
        // The bridge republishes the active state: no new press.
        assert!(events(&feed(&mut b, &st, "ON", now)).is_empty());
        assert!(events(&feed(&mut b, &at, r#"{"lastDing":999990}"#, now)).is_empty());
        // A second press while the first is active: ON again, then a newer time.
        assert!(events(&feed(&mut b, &st, "ON", now)).is_empty());
        assert_eq!(events(&feed(&mut b, &at, r#"{"lastDing":999999}"#, now)), [&EventKind::DoorbellPress]);
        // Expired: OFF is not an event for a doorbell.
        assert!(events(&feed(&mut b, &st, "OFF", now)).is_empty());
    }

    #[test]
    fn an_on_seen_first_is_an_event_only_if_it_is_fresh() {
        let now = Instant::now();
        let mut b = bridge();
        assert!(events(&feed(&mut b, &format!("{T}/motion/state"), "ON", now)).is_empty());
        // 100 s old (a republish during a long motion window): not an event.
        assert!(
            events(&feed(&mut b, &format!("{T}/motion/attributes"), r#"{"lastMotion":999900}"#, now))
                .is_empty()
        );
        assert_eq!(events(&feed(&mut b, &format!("{T}/motion/state"), "OFF", now)), [&EventKind::MotionEnd]);
        let mut b = bridge();
        feed(&mut b, &format!("{T}/motion/state"), "ON", now);
        assert_eq!(
            events(&feed(&mut b, &format!("{T}/motion/attributes"), r#"{"lastMotion":999995}"#, now)),
            [&EventKind::MotionStart]
        );
    }

    #[test]
    fn status_and_silence_make_cameras_unreachable() {
        let mut b = bridge();
        let t0 = Instant::now();
        let down = |a: &[Action]| -> Vec<Option<String>> {
            a.iter()
                .filter_map(|a| if let Action::Reach { down, .. } = a { Some(down.clone()) } else { None })
                .collect()
        };
        assert_eq!(down(&feed(&mut b, &format!("{T}/status"), "online", t0)), [None]);
        assert!(down(&feed(&mut b, &format!("{T}/status"), "online", t0)).is_empty(), "no change");
        assert_eq!(
            down(&feed(&mut b, &format!("{T}/status"), "offline", t0)),
            [Some("ring-mqtt reports the device offline".to_owned())]
        );
        feed(&mut b, &format!("{T}/status"), "online", t0);
        assert!(b.tick(t0 + Duration::from_secs(59)).is_empty());
        assert_eq!(
            down(&b.tick(t0 + Duration::from_secs(61))),
            [Some(silence_reason(Duration::from_secs(60)))]
        );
        assert!(b.tick(t0 + Duration::from_secs(62)).is_empty(), "said once");
        // Any message from the bridge: reachable again.
        assert_eq!(
            down(&feed(&mut b, &format!("{T}/info/state"), "{}", t0 + Duration::from_secs(70))),
            [None]
        );
    }

    #[test]
    fn other_topics_and_odd_ids_are_ignored() {
        let mut b = bridge();
        let now = Instant::now();
        assert!(b.wants("ring/loc/camera/x/ding/state"));
        assert!(!b.wants("ring/loc/alarm/x/status"));
        assert!(!b.wants("ringer/loc/camera/x/status"));
        assert!(b.wants("homeassistant/sensor/a/b/config"));
        assert!(feed(&mut b, "ring/loc/camera/../status", "offline", now).is_empty());
        assert!(feed(&mut b, "ring/loc/camera/a b/status", "offline", now).is_empty());
        let live: url::Url = "rtsp://h:8554/abc_live".parse().expect("url");
        assert_eq!(device_of(&live), Some("abc"));
        assert_eq!(event_stream(&live).map(|u| u.to_string()).as_deref(), Some("rtsp://h:8554/abc_event"));
    }
}

//! A camera's ONVIF events: a PullPoint subscription, long-polled, renewed before it expires,
//! re-created after errors (a camera reboot drops it), and removed at shutdown. Recognised
//! notifications become bus events: motion start/end, doorbell press, tamper.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use url::Url;

use super::client::{Credentials, Device, HttpTransport, OnvifError, Transport};
use super::parse::{Notification, Subscription};
use super::topics;
use crate::bus::{Bus, EventKind};
use crate::config::{SignalKind, TopicMap};

/// How long a subscription lives without renewal.
const TERMINATION: Duration = Duration::from_secs(60);
/// Renew when this much of it is left.
const RENEW_BEFORE: Duration = Duration::from_secs(20);
/// One long poll.
const PULL_WAIT: Duration = Duration::from_secs(10);
/// Messages asked for (and taken) per pull.
const PULL_LIMIT: u32 = 32;
/// A camera that answers a long poll at once with nothing (it ignores the timeout) is polled
/// at most this often; one that answers with messages, at most every `MIN_PULL_INTERVAL`.
const MIN_EMPTY_PULL_INTERVAL: Duration = Duration::from_millis(250);
const MIN_PULL_INTERVAL: Duration = Duration::from_millis(50);

#[derive(Debug, Clone)]
pub struct Source {
    pub camera: String,
    pub device_url: Url,
    pub creds: Option<Credentials>,
    pub map: Vec<TopicMap>,
    pub http: Arc<HttpTransport>,
}

/// Turns notifications into bus events, publishing only changes (a camera repeating "motion:
/// true" is one motion start). `Initialized` states (sent after subscribing, one per property)
/// are state, not events: they publish only a motion change against a state known from
/// before, never a doorbell press or tamper.
#[derive(Debug, Default)]
pub struct Translator {
    motion: Option<bool>,
    doorbell: Option<bool>,
    tamper: Option<bool>,
}

impl Translator {
    /// The bus events a pull's notifications mean, in order.
    pub fn translate(&mut self, notes: &[Notification], map: &[TopicMap]) -> Vec<EventKind> {
        let mut out = Vec::new();
        for n in notes {
            let Some(sig) = topics::classify(n, map) else { continue };
            let initial = n.operation.as_deref() == Some("Initialized");
            match sig.kind {
                SignalKind::Motion => {
                    // Unknown before: an Initialized state is taken quietly, a change announced.
                    let changed = match self.motion {
                        Some(prev) => prev != sig.active,
                        None => !initial && sig.active,
                    };
                    if changed {
                        out.push(if sig.active { EventKind::MotionStart } else { EventKind::MotionEnd });
                    }
                    self.motion = Some(sig.active);
                }
                SignalKind::Doorbell => {
                    if sig.active && !initial && self.doorbell != Some(true) {
                        out.push(EventKind::DoorbellPress);
                    }
                    self.doorbell = Some(sig.active);
                }
                SignalKind::Tamper => {
                    if sig.active && !initial && self.tamper != Some(true) {
                        out.push(EventKind::Tamper);
                    }
                    self.tamper = Some(sig.active);
                }
            }
        }
        out
    }

    /// The subscription is gone: what the camera reports next is its state afresh. Motion that
    /// was on ends here (unknown is not "on": an events-mode recorder must not run forever).
    pub fn lost(&mut self) -> Option<EventKind> {
        let was_on = self.motion == Some(true);
        *self = Self::default();
        was_on.then_some(EventKind::MotionEnd)
    }
}

/// Runs the camera's event subscription until `cancel` fires. Failures are logged and retried
/// with backoff; they never end the task.
pub async fn run(src: Source, bus: Bus, cancel: CancellationToken) {
    let transport: Arc<dyn Transport> = src.http.clone();
    let mut attempt = 0u32;
    let mut translator = Translator::default();
    let mut logged: Option<String> = None;
    while !cancel.is_cancelled() {
        let started = Instant::now();
        let result = session(&src, Arc::clone(&transport), &bus, &mut translator, &cancel).await;
        if let Some(end) = translator.lost() {
            bus.publish(Some(&src.camera), end);
        }
        if cancel.is_cancelled() {
            break;
        }
        let message = match result {
            Ok(()) => "subscription ended".to_owned(),
            Err(e) => e.to_string(),
        };
        // Once per distinct problem at WARN; repeats at DEBUG.
        if logged.as_deref() != Some(message.as_str()) {
            tracing::warn!(error = %message, "ONVIF events unavailable; retrying");
            logged = Some(message);
        } else {
            tracing::debug!(error = %message, "ONVIF events still unavailable");
        }
        if started.elapsed() > Duration::from_secs(60) {
            attempt = 0;
        }
        let delay = crate::backoff::delay(attempt);
        attempt = attempt.saturating_add(1);
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

async fn session(
    src: &Source,
    transport: Arc<dyn Transport>,
    bus: &Bus,
    translator: &mut Translator,
    cancel: &CancellationToken,
) -> Result<(), OnvifError> {
    let device = tokio::select! {
        () = cancel.cancelled() => return Ok(()),
        d = Device::connect(src.device_url.clone(), src.creds.clone(), transport) => d?,
    };
    let sub = device.create_pull_point(TERMINATION).await?;
    tracing::info!(address = %sub.address, "Subscribed to the camera's ONVIF events");
    if let Err(e) = device.set_synchronization_point(&sub).await {
        tracing::debug!(error = %e, "SetSynchronizationPoint not supported");
    }
    let result = pull_loop(&device, &sub, src, bus, translator, cancel).await;
    // Leave nothing behind on the camera (bounded: the camera may be gone).
    let _ = tokio::time::timeout(Duration::from_secs(2), device.unsubscribe(&sub)).await;
    result
}

async fn pull_loop(
    device: &Device,
    sub: &Subscription,
    src: &Source,
    bus: &Bus,
    translator: &mut Translator,
    cancel: &CancellationToken,
) -> Result<(), OnvifError> {
    let mut expires = Instant::now() + TERMINATION;
    let mut renew_supported = true;
    loop {
        if renew_supported && expires.saturating_duration_since(Instant::now()) < RENEW_BEFORE {
            match device.renew(sub, TERMINATION).await {
                Ok(()) => expires = Instant::now() + TERMINATION,
                Err(e) if Device::unsupported(&e) => {
                    // Some cameras keep a pull point alive as long as it is pulled.
                    tracing::debug!(error = %e, "Renew not supported; relying on pulls");
                    renew_supported = false;
                }
                Err(e) => return Err(e),
            }
        }
        let started = Instant::now();
        let mut notes = tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            r = device.pull_messages(sub, PULL_WAIT, PULL_LIMIT) => r?,
        };
        // A camera may send more than asked; what it sends is bounded by what was asked.
        notes.truncate(PULL_LIMIT as usize);
        if !renew_supported {
            expires = Instant::now() + TERMINATION;
        }
        for kind in translator.translate(&notes, &src.map) {
            tracing::debug!(event = kind.name(), "ONVIF event");
            bus.publish(Some(&src.camera), kind);
        }
        let floor = if notes.is_empty() { MIN_EMPTY_PULL_INTERVAL } else { MIN_PULL_INTERVAL };
        let spent = started.elapsed();
        if spent < floor {
            tokio::select! {
                () = cancel.cancelled() => return Ok(()),
                () = tokio::time::sleep(floor - spent) => {}
            }
        }
    }
}

/// The main stream's RTSP URL of an ONVIF camera (for cameras configured without `rtsp_url`).
pub async fn resolve_stream(
    device_url: &Url,
    creds: Option<Credentials>,
    http: Arc<HttpTransport>,
) -> Result<Url, OnvifError> {
    main_profile_uri(device_url, creds, http, UriKind::Stream).await
}

/// Which URI of a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriKind {
    Stream,
    Snapshot,
}

/// The stream or snapshot URI of the camera's main (largest H.264/H.265) profile, without
/// credentials (the login goes in the session, not the URL).
pub async fn main_profile_uri(
    device_url: &Url,
    creds: Option<Credentials>,
    http: Arc<HttpTransport>,
    kind: UriKind,
) -> Result<Url, OnvifError> {
    let transport: Arc<dyn Transport> = http;
    let device = Device::connect(device_url.clone(), creds, transport).await?;
    let profiles = device.profiles().await?;
    let (main, _) = super::client::best_profiles(&profiles);
    let main = main.ok_or_else(|| OnvifError::Unsupported {
        url: device_url.to_string(),
        message: "no H.264 or H.265 media profile".into(),
    })?;
    let (uri, what) = match kind {
        UriKind::Stream => (device.stream_uri(&main.token).await?, "stream"),
        UriKind::Snapshot => (device.snapshot_uri(&main.token).await?, "snapshot"),
    };
    let mut url = Url::parse(&uri).map_err(|e| OnvifError::Unsupported {
        url: device_url.to_string(),
        message: format!("bad {what} URI {uri:?}: {e}"),
    })?;
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Ok(reachable(url, device_url, what))
}

/// Whether a URL's host is this machine from the camera's side (a loopback or unspecified
/// address, `localhost`). `rtsp:` URLs carry their host as text, so it is parsed here.
fn is_local_host(u: &Url) -> bool {
    let host = u.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|a| a.is_loopback() || a.is_unspecified())
}

/// Some cameras name their stream on their own loopback or `0.0.0.0` (firmware that fills the
/// URI from the wrong interface): from the hub that is the hub itself. Such a URI gets the host
/// the camera was reached at, keeping its port and path.
pub(crate) fn reachable(mut uri: Url, device_url: &Url, what: &str) -> Url {
    if !is_local_host(&uri) || is_local_host(device_url) {
        return uri;
    }
    let Some(host) = device_url.host_str().map(str::to_owned) else { return uri };
    let given = uri.to_string();
    if uri.set_host(Some(&host)).is_ok() {
        tracing::info!(given = %given, using = %uri, "The camera names its {what} on its own loopback address; using the address it was reached at");
    }
    uri
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(topic: &str, op: &str, item: &str, value: &str) -> Notification {
        Notification {
            topic: topic.into(),
            operation: Some(op.into()),
            data: vec![(item.into(), value.into())],
            ..Notification::default()
        }
    }

    #[test]
    fn a_stream_on_the_cameras_own_loopback_gets_the_cameras_address() {
        let device = Url::parse("http://10.77.0.2:8080/onvif/device_service").expect("url");
        let fixed = |u: &str, d: &Url| reachable(Url::parse(u).expect("url"), d, "stream").to_string();
        assert_eq!(fixed("rtsp://127.0.0.1:554/mock/stream", &device), "rtsp://10.77.0.2:554/mock/stream");
        assert_eq!(fixed("rtsp://0.0.0.0/live?ch=1", &device), "rtsp://10.77.0.2/live?ch=1");
        assert_eq!(fixed("http://localhost/snap.jpg", &device), "http://10.77.0.2/snap.jpg");
        assert_eq!(fixed("rtsp://192.168.1.20:554/s0", &device), "rtsp://192.168.1.20:554/s0");
        // A camera reached on loopback (a mock, a local bridge) keeps what it says.
        let local = Url::parse("http://127.0.0.1:8080/onvif/device_service").expect("url");
        assert_eq!(fixed("rtsp://127.0.0.1:554/mock/stream", &local), "rtsp://127.0.0.1:554/mock/stream");
    }

    #[test]
    fn initialized_states_are_state_not_events() {
        let mut t = Translator::default();
        let first = [note("VideoSource/MotionAlarm", "Initialized", "State", "true")];
        assert!(t.translate(&first, &[]).is_empty());
        // Motion was already on: its end is the first event.
        let next = [note("VideoSource/MotionAlarm", "Changed", "State", "false")];
        assert_eq!(t.translate(&next, &[]), [EventKind::MotionEnd]);
        // An input that reads "on" when subscribing is not a doorbell press.
        let bell = [note("Device/IO/Port", "Initialized", "state", "1")];
        assert!(t.translate(&bell, &[]).is_empty());
    }

    #[test]
    fn a_lost_subscription_ends_motion_and_the_next_initialized_state_is_compared() {
        let mut t = Translator::default();
        assert_eq!(
            t.translate(&[note("VideoSource/MotionAlarm", "Changed", "State", "true")], &[]),
            [EventKind::MotionStart]
        );
        assert_eq!(t.lost(), Some(EventKind::MotionEnd));
        assert_eq!(t.lost(), None);
        // Motion started while the camera was away: announced from its Initialized state once
        // the state is known again... but unknown now, so taken quietly.
        assert!(
            t.translate(&[note("VideoSource/MotionAlarm", "Initialized", "State", "true")], &[]).is_empty()
        );
        assert_eq!(
            t.translate(&[note("VideoSource/MotionAlarm", "Initialized", "State", "false")], &[]),
            [EventKind::MotionEnd]
        );
    }

    #[test]
    fn repeated_states_publish_once_and_doorbell_presses_on_the_rising_edge() {
        let mut t = Translator::default();
        let on = note("VideoSource/MotionAlarm", "Changed", "State", "true");
        let bell_on = note("Device/Trigger/DigitalInput", "Changed", "LogicalState", "true");
        let bell_off = note("Device/Trigger/DigitalInput", "Changed", "LogicalState", "false");
        let got =
            t.translate(&[on.clone(), on.clone(), bell_on.clone(), bell_on.clone(), bell_off, bell_on], &[]);
        assert_eq!(got, [EventKind::MotionStart, EventKind::DoorbellPress, EventKind::DoorbellPress]);
    }
}

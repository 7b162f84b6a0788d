//! MQTT: the hub's events and state for home automation, Home Assistant discovery, and the
//! resident's controls (privacy mode, answers to sharing requests, recording on/off).
//! Topics: `docs/ref/mqtt.md`.
//!
//! One task owns the session. A second task polls rumqttc's event loop (which reconnects when
//! polled again after an error) and reports connects, drops and incoming messages. While the
//! broker is away, messages that are not retained wait in a bounded queue (the oldest are
//! dropped, counted and logged); retained state is kept as a map and sent whole after every
//! connect, so Home Assistant always ends up with the current state.

pub mod ha;
pub mod payload;
pub mod ring;
pub mod topics;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS, TlsConfiguration, Transport};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::audit::Audit;
use crate::bus::{Bus, EventKind};
use crate::cameras::RecordPause;
use crate::config::{MqttSettings, Settings};
use crate::health::{Health, State, Subsystem};
use crate::metrics::{Label, Metric, Metrics};
use crate::privacy::Privacy;
use crate::recording::index::Index;
use crate::recording::{CameraState, CameraStates};
use crate::requests::{Approval, Requests};
use topics::{Command, Topics};

/// Everything the MQTT task reads and controls.
#[derive(Debug, Clone)]
pub struct Deps {
    pub settings: watch::Receiver<Arc<Settings>>,
    pub bus: Bus,
    pub health: Health,
    pub metrics: Metrics,
    pub cameras: CameraStates,
    pub pause: RecordPause,
    pub privacy: Privacy,
    pub requests: Requests,
    pub index: Option<Index>,
    pub mode: crate::mode::Mode,
    /// The audit log, for its head (`P/audit/head`); `None` when it could not be opened.
    pub audit: Option<Audit>,
    /// Still images from the cameras' streams (cameras without ONVIF, or when it fails).
    pub stills: crate::stills::Stills,
    /// The adopted cameras and the running settings they are added to (Ring devices a
    /// ring-mqtt bridge announces, with `[mqtt.ring] adopt = true`).
    pub adopt: Option<(crate::onvif::adopt::Adopted, watch::Sender<Arc<Settings>>)>,
}

/// How often storage stats and camera states are looked at.
const STATS_EVERY: Duration = Duration::from_secs(30);
/// The least time between two still images of one camera (they are refreshed without events
/// every `mqtt.snapshot_interval`).
const SNAPSHOT_MIN_GAP: Duration = Duration::from_secs(5);
const STATES_EVERY: Duration = Duration::from_secs(2);
/// The longest a command payload may be.
const MAX_COMMAND: usize = 4096;
/// After Home Assistant says it is online, wait up to this long (at random, so many clients do
/// not answer at once) before republishing.
const HA_DELAY_MAX_MS: u64 = 2000;
/// The least time between two publications of the audit head (appends come in bursts).
const AUDIT_HEAD_MIN_GAP: Duration = Duration::from_secs(1);
/// While the broker cannot be reached, the same error is logged again at most this often.
const FAILURE_LOG_EVERY: Duration = Duration::from_secs(300);

/// Runs MQTT per the settings until `cancel`: restarts the session when `[mqtt]` changes.
pub async fn run(deps: Deps, cancel: CancellationToken) {
    let mut settings = deps.settings.clone();
    loop {
        let current = settings.borrow_and_update().clone();
        if !current.mqtt.enabled {
            deps.health.set(Subsystem::Mqtt, State::Disabled, "");
            tokio::select! {
                () = cancel.cancelled() => return,
                changed = settings.changed() => if changed.is_err() { return } else { continue },
            }
        }
        let session_cancel = cancel.child_token();
        let restart =
            crate::reload::section_changed(settings.clone(), current.mqtt.clone(), |s| s.mqtt.clone());
        let (snapshot_tx, snapshot_rx) = mpsc::channel(16);
        let session = Session::new(&deps, &current, snapshot_tx);
        tokio::select! {
            () = session.run(session_cancel.clone(), snapshot_rx) => {}
            changed = restart => if changed { tracing::info!("MQTT settings changed; reconnecting") },
        }
        session_cancel.cancel();
        if cancel.is_cancelled() {
            deps.health.set(Subsystem::Mqtt, State::Stopped, "");
            return;
        }
    }
}

/// What the poller tells the session.
enum Link {
    Up,
    Down(String),
    Message { topic: String, payload: Vec<u8> },
}

struct Session {
    deps: Deps,
    settings: Arc<Settings>,
    topics: Topics,
    client: Option<AsyncClient>,
    connected: bool,
    /// Current value of every retained topic we own.
    retained: BTreeMap<String, Vec<u8>>,
    /// Non-retained messages waiting for the broker.
    queue: VecDeque<(String, Vec<u8>)>,
    dropped_this_outage: u64,
    /// Discovery topics published (kept in `data_dir/state/mqtt-discovery.json` so entities of
    /// removed cameras can be removed even across restarts).
    announced: BTreeSet<String>,
    /// External topics that carry camera events: topic → (camera, event).
    external: BTreeMap<String, Vec<(String, crate::config::MqttEvent)>>,
    camera_states: BTreeMap<String, CameraState>,
    relays: BTreeSet<String>,
    /// Still images of ONVIF cameras: fetched in the background, published when they arrive.
    snapshots: BTreeMap<String, SnapshotState>,
    snapshot_tx: mpsc::Sender<Fetched>,
    /// Failed tries to reach the broker, and what of them was logged.
    failures: Failures,
    /// The waiting request the resident chose in Home Assistant's `select` (`None`: the oldest).
    selected: Option<String>,
    /// The labels of the waiting requests last put in the `select`'s options.
    request_labels: Vec<String>,
    /// The selection goes out once more at the next state tick: Home Assistant drops a state
    /// that is not among the options, and new options arrive with a discovery update.
    selection_resend: bool,
    /// A ring-mqtt bridge on the broker (`[mqtt.ring] enabled`).
    ring: Option<ring::Bridge>,
}

/// Failed tries to connect since the last connect, and the last failure logged (error, when):
/// the first failure is logged at warn, then again only when the error changes or after
/// [`FAILURE_LOG_EVERY`].
#[derive(Debug, Default)]
struct Failures {
    count: u32,
    logged: Option<(String, tokio::time::Instant)>,
}

impl Failures {
    /// Counts a failed try; `true` if it should be logged at warn.
    fn failed(&mut self, error: &str, now: tokio::time::Instant) -> bool {
        self.count = self.count.saturating_add(1);
        let log = match &self.logged {
            None => true,
            Some((e, at)) => e != error || now.duration_since(*at) >= FAILURE_LOG_EVERY,
        };
        if log {
            self.logged = Some((error.to_owned(), now));
        }
        log
    }

    /// A connect: how many tries had failed before it; the count starts again.
    fn connected(&mut self) -> u32 {
        self.logged = None;
        std::mem::take(&mut self.count)
    }
}

/// A still image taken for a camera, or why not.
#[derive(Debug)]
struct Fetched {
    camera: String,
    /// The ONVIF snapshot URI the image came from (kept for the next time).
    uri: Option<url::Url>,
    /// Why the camera's ONVIF snapshot failed (the still then comes from its stream).
    onvif: Option<SnapshotError>,
    image: Result<Vec<u8>, SnapshotError>,
}

/// Why a camera's still image could not be fetched.
#[derive(Debug, thiserror::Error)]
enum SnapshotError {
    /// ONVIF did not say where the image is.
    #[error(transparent)]
    Uri(#[from] crate::onvif::client::OnvifError),
    /// The image could not be fetched from its URI.
    #[error(transparent)]
    Fetch(crate::onvif::snapshot::SnapshotError),
    /// The camera's image is not a JPEG, which Home Assistant needs.
    #[error("the camera's snapshot is {kind}, not JPEG ({bytes} bytes)")]
    NotJpeg { kind: &'static str, bytes: usize },
    /// No still could be decoded from the camera's stream.
    #[error(transparent)]
    Still(#[from] crate::stills::StillError),
}

/// Why an MQTT command was refused (the text is logged and, for answers to requests, published
/// on `requests/last_result`).
#[derive(Debug, thiserror::Error)]
enum CommandError {
    #[error("payload of {0} bytes is longer than {MAX_COMMAND}")]
    TooLong(usize),
    #[error("payload is not UTF-8 text")]
    NotText,
    #[error("expected ON or OFF, got {0:?}")]
    NotOnOff(String),
    #[error("no enabled camera named {0:?}")]
    NoSuchCamera(String),
    #[error("expected home, away, night or vacation, got {0:?}")]
    NotMode(String),
    #[error("no waiting request {0:?}")]
    NotWaiting(String),
    #[error("{}", payload::NONE_WAITING)]
    NoneWaiting,
    #[error(transparent)]
    Answer(#[from] AnswerError),
    #[error(transparent)]
    Privacy(#[from] crate::privacy::PrivacyError),
    #[error(transparent)]
    Mode(#[from] crate::mode::ModeError),
    #[error(transparent)]
    Request(#[from] crate::requests::RequestError),
}

/// Why a message to `requests/<id>/set` is not an answer.
#[derive(Debug, thiserror::Error)]
enum AnswerError {
    #[error("expected approve, deny, revoke or a JSON answer, got {0:?}")]
    NotAnAnswer(String),
    #[error("invalid JSON answer: {0}")]
    Json(#[source] serde_json::Error),
    #[error("invalid approval: {0}")]
    Approval(#[source] serde_json::Error),
    #[error("unknown field {0:?} in a deny")]
    UnknownDenyField(String),
    #[error("JSON answer needs \"action\": \"approve\" or \"deny\"")]
    NoAction,
}

/// Why the MQTT session cannot be set up.
#[derive(Debug, thiserror::Error)]
enum SetupError {
    #[error(transparent)]
    Tls(crate::tls::TlsError),
}

#[derive(Debug, Default)]
struct SnapshotState {
    uri: Option<url::Url>,
    last: Option<tokio::time::Instant>,
    busy: bool,
    last_error: Option<String>,
    /// The last ONVIF failure said (each new one is logged once).
    last_onvif_error: Option<String>,
}

/// Whether `image` is a JPEG file (Home Assistant's MQTT `camera` serves every image as JPEG).
fn is_jpeg(image: &[u8]) -> bool {
    image.starts_with(&[0xFF, 0xD8, 0xFF])
}

/// What an image that is not JPEG looks like, for the log.
fn image_kind(image: &[u8]) -> &'static str {
    if image.starts_with(b"\x89PNG") {
        "PNG"
    } else if image.starts_with(b"BM") {
        "BMP"
    } else if image.starts_with(b"GIF8") {
        "GIF"
    } else if image.len() >= 12 && &image[..4] == b"RIFF" && &image[8..12] == b"WEBP" {
        "WebP"
    } else {
        "unknown"
    }
}

impl Session {
    fn new(deps: &Deps, settings: &Arc<Settings>, snapshot_tx: mpsc::Sender<Fetched>) -> Self {
        let announced = std::fs::read(discovery_file(settings))
            .ok()
            .and_then(|b| serde_json::from_slice::<BTreeSet<String>>(&b).ok())
            .unwrap_or_default();
        Self {
            deps: deps.clone(),
            settings: Arc::clone(settings),
            topics: Topics::new(&settings.mqtt.topic_prefix),
            client: None,
            connected: false,
            retained: BTreeMap::new(),
            queue: VecDeque::new(),
            dropped_this_outage: 0,
            announced,
            external: BTreeMap::new(),
            camera_states: BTreeMap::new(),
            relays: BTreeSet::new(),
            snapshots: BTreeMap::new(),
            snapshot_tx,
            failures: Failures::default(),
            selected: None,
            request_labels: Vec::new(),
            selection_resend: false,
            ring: settings
                .mqtt
                .ring
                .enabled
                .then(|| ring::Bridge::new(&settings.mqtt.ring, &settings.mqtt.discovery_prefix)),
        }
    }

    async fn run(mut self, cancel: CancellationToken, mut snapshots: mpsc::Receiver<Fetched>) {
        let mqtt = self.settings.mqtt.clone();
        let options = match options(&mqtt, &self.topics) {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(error = %e, "Cannot set up MQTT");
                self.deps.health.set(Subsystem::Mqtt, State::Failed, e.to_string());
                cancel.cancelled().await;
                return;
            }
        };
        let host = format!("{}:{}", mqtt.host.as_deref().unwrap_or_default(), mqtt.port);
        self.deps.health.set(Subsystem::Mqtt, State::Starting, format!("connecting to {host}"));
        let (client, mut eventloop) = AsyncClient::new(options, 256);
        // Small messages go out at once: with Nagle's algorithm a second message waits for the
        // broker's (delayed, ~40 ms) acknowledgement of the first, e.g. a doorbell press's
        // Home Assistant event behind the `events` copy sent just before it.
        let mut network = rumqttc::NetworkOptions::new();
        network.set_tcp_nodelay(true);
        eventloop.set_network_options(network);
        self.client = Some(client.clone());
        let (link_tx, mut link) = mpsc::channel::<Link>(256);
        let poll_cancel = cancel.child_token();
        let poller = tokio::spawn(poll(eventloop, link_tx, poll_cancel.clone()));

        let mut bus = self.deps.bus.subscribe("mqtt");
        let mut privacy = self.deps.privacy.subscribe();
        let mut mode = self.deps.mode.subscribe();
        let mut requests = self.deps.requests.subscribe();
        let mut pause = self.deps.pause.subscribe();
        let mut settings = self.deps.settings.clone();
        settings.borrow_and_update();
        let mut stats = tokio::time::interval(STATS_EVERY);
        let mut states = tokio::time::interval(STATES_EVERY);
        let mut snapshot_tick = tokio::time::interval(mqtt.snapshot_interval);
        let mut republish_at: Option<tokio::time::Instant> = None;
        // The audit log's head: published at once, then at most once per AUDIT_HEAD_MIN_GAP.
        let mut audit_head = self.deps.audit.as_ref().map(Audit::subscribe);
        let mut head_at = audit_head.as_ref().map(|_| tokio::time::Instant::now());
        let mut head_last: Option<tokio::time::Instant> = None;

        self.set_state();
        loop {
            let republish = async {
                match republish_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let head_due = async {
                match head_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let head_changed = async {
                match audit_head.as_mut() {
                    Some(rx) => rx.changed().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = cancel.cancelled() => break,
                Some(l) = link.recv() => match l {
                    Link::Up => self.on_connect(&host).await,
                    Link::Down(e) => self.on_disconnect(&host, &e),
                    Link::Message { topic, payload } => {
                        if topic == format!("{}/status", self.settings.mqtt.discovery_prefix) {
                            if payload == b"online" {
                                let delay = Duration::from_millis(fastrand::u64(0..=HA_DELAY_MAX_MS));
                                tracing::info!(delay_ms = delay.as_millis() as u64, "Home Assistant is online; republishing discovery and state");
                                republish_at = Some(tokio::time::Instant::now() + delay);
                            }
                        } else if self.ring.as_ref().is_some_and(|r| r.wants(&topic)) {
                            self.on_ring(&topic, &payload);
                        } else {
                            self.on_message(&topic, &payload);
                        }
                    }
                },
                () = republish => {
                    republish_at = None;
                    self.publish_all_retained();
                }
                changed = head_changed => {
                    if changed.is_err() {
                        audit_head = None;
                    } else if head_at.is_none() {
                        let now = tokio::time::Instant::now();
                        head_at = Some(head_last.map_or(now, |t| (t + AUDIT_HEAD_MIN_GAP).max(now)));
                    }
                }
                () = head_due => {
                    head_at = None;
                    if let Some(rx) = audit_head.as_mut() {
                        let head = rx.borrow_and_update().clone();
                        head_last = Some(tokio::time::Instant::now());
                        let body = payload::audit_head(&head, jiff::Timestamp::now());
                        self.publish_json(self.topics.audit_head(), &body, true);
                    }
                }
                event = bus.recv() => match event {
                    Some(e) => {
                        if let (Some(c), EventKind::MotionStart | EventKind::DoorbellPress) = (&e.camera, &e.kind) {
                            self.request_snapshot(c, &cancel);
                        }
                        self.on_event(&e);
                    }
                    None => break,
                },
                changed = privacy.changed() => {
                    if changed.is_err() { break }
                    self.set_privacy();
                }
                changed = mode.changed() => {
                    if changed.is_err() { break }
                    self.set_mode();
                }
                changed = requests.changed() => {
                    if changed.is_err() { break }
                    self.set_requests();
                }
                changed = pause.changed() => {
                    if changed.is_err() { break }
                    self.set_record_switches();
                }
                changed = settings.changed() => {
                    if changed.is_err() { break }
                    let next = settings.borrow_and_update().clone();
                    self.settings = next;
                    self.set_state();
                    if self.connected {
                        self.subscribe().await;
                    }
                }
                _ = stats.tick() => self.set_stats().await,
                _ = snapshot_tick.tick() => {
                    let cameras: Vec<String> = self.snapshot_cameras().collect();
                    for c in cameras {
                        self.request_snapshot(&c, &cancel);
                    }
                }
                Some(fetched) = snapshots.recv() => self.on_snapshot(fetched),
                _ = states.tick() => {
                    if let Some(r) = self.ring.as_mut() {
                        let actions = r.tick(tokio::time::Instant::now());
                        self.ring_actions(actions);
                    }
                    self.set_camera_states();
                    if std::mem::take(&mut self.selection_resend) {
                        let topic = self.topics.request_selection();
                        if let Some(p) = self.retained.get(&topic).cloned() {
                            self.send(&topic, p, true);
                        }
                    }
                }
            }
        }

        // Say goodbye: `offline` (the will only fires on an unclean end) and a clean disconnect.
        if self.connected {
            self.publish(self.topics.available(), b"offline".to_vec(), true);
            let _ = client.disconnect().await;
            // The poller stops when the broker has seen the disconnect (bounded by the run's
            // shutdown deadline, and by this timeout).
            let _ = tokio::time::timeout(Duration::from_secs(2), link_drain(&mut link)).await;
        }
        poll_cancel.cancel();
        let _ = poller.await;
        self.deps.health.set(Subsystem::Mqtt, State::Stopped, "");
    }

    /// Enabled cameras (each has a still image: ONVIF's, or one from its stream).
    fn snapshot_cameras(&self) -> impl Iterator<Item = String> + '_ {
        self.settings.cameras.iter().filter(|c| c.enabled).map(|c| c.name.clone())
    }

    /// Takes a still image of `camera` in the background (at most one at a time per camera,
    /// and not more often than every few seconds): the camera's ONVIF snapshot if it has an
    /// `onvif_url`, else (or when that fails) a still decoded from its stream.
    fn request_snapshot(&mut self, camera: &str, cancel: &CancellationToken) {
        let Some(cam) = self.settings.camera(camera).filter(|c| c.enabled) else { return };
        let state = self.snapshots.entry(camera.to_owned()).or_default();
        let now = tokio::time::Instant::now();
        if state.busy || state.last.is_some_and(|t| now.duration_since(t) < SNAPSHOT_MIN_GAP) {
            return;
        }
        state.busy = true;
        state.last = Some(now);
        let onvif = cam.onvif_url.clone().map(|device| {
            (device, crate::onvif::client::camera_credentials(cam), crate::onvif::client::camera_http(cam))
        });
        let (known, tx, name, cancel) =
            (state.uri.clone(), self.snapshot_tx.clone(), camera.to_owned(), cancel.clone());
        let stills = self.deps.stills.clone();
        tokio::spawn(async move {
            let work = async {
                let mut fetched =
                    Fetched { camera: name.clone(), uri: None, onvif: None, image: Ok(Vec::new()) };
                if let Some((device, creds, http)) = onvif {
                    let taken = async {
                        let uri = match known {
                            Some(u) => u,
                            None => {
                                crate::onvif::snapshot::snapshot_uri(&device, creds.clone(), http.clone())
                                    .await?
                            }
                        };
                        let image = crate::onvif::snapshot::fetch(&uri, creds.as_ref(), &http)
                            .await
                            .map_err(SnapshotError::Fetch)?;
                        if !is_jpeg(&image) {
                            return Err(SnapshotError::NotJpeg {
                                kind: image_kind(&image),
                                bytes: image.len(),
                            });
                        }
                        Ok((uri, image))
                    };
                    match taken.await {
                        Ok((uri, image)) => {
                            fetched.uri = Some(uri);
                            fetched.image = Ok(image);
                            return fetched;
                        }
                        Err(e) => fetched.onvif = Some(e),
                    }
                }
                fetched.image = match stills.still(&name, None, None).await {
                    Ok(still) => Ok(still.jpeg.to_vec()),
                    Err(e) => Err(SnapshotError::Still(e)),
                };
                fetched
            };
            let result = tokio::select! {
                () = cancel.cancelled() => return,
                r = work => r,
            };
            let _ = tx.send(result).await;
        });
    }

    fn on_snapshot(&mut self, fetched: Fetched) {
        let Fetched { camera, uri, onvif, image } = fetched;
        let camera = camera.as_str();
        let state = self.snapshots.entry(camera.to_owned()).or_default();
        state.busy = false;
        // Ask ONVIF for the address again next time it failed; say each new problem once.
        state.uri = uri;
        match onvif {
            Some(e) => {
                let e = e.to_string();
                if state.last_onvif_error.as_ref() != Some(&e) {
                    tracing::warn!(camera, error = %e, "Cannot fetch the camera's ONVIF snapshot; using a still from its stream");
                    state.last_onvif_error = Some(e);
                }
            }
            None => state.last_onvif_error = None,
        }
        match image {
            Ok(image) => {
                state.last_error = None;
                tracing::debug!(camera, bytes = image.len(), "Snapshot");
                self.publish(self.topics.snapshot(camera), image, true);
            }
            Err(SnapshotError::Still(crate::stills::StillError::NoPicture { why, .. })) => {
                // Nothing to show yet (the camera has sent no keyframe): the next motion,
                // doorbell press or tick may try again at once.
                state.last = None;
                tracing::debug!(camera, why, "No still image of the camera yet");
            }
            Err(e) => {
                let e = e.to_string();
                if state.last_error.as_ref() != Some(&e) {
                    tracing::warn!(camera, error = %e, "Cannot take the camera's snapshot");
                    state.last_error = Some(e);
                }
            }
        }
    }

    async fn on_connect(&mut self, host: &str) {
        if self.dropped_this_outage > 0 {
            tracing::warn!(
                dropped = self.dropped_this_outage,
                "MQTT queue overflowed while the broker was away; the oldest messages were dropped"
            );
        }
        let failed = self.failures.connected();
        if failed > 0 {
            let queued = self.queue.len();
            tracing::info!(broker = %host, failed_tries = failed, queued, "MQTT connected after failed tries");
        } else {
            tracing::info!(broker = %host, queued = self.queue.len(), "MQTT connected");
        }
        self.connected = true;
        self.dropped_this_outage = 0;
        self.deps.health.set(Subsystem::Mqtt, State::Running, format!("connected to {host}"));
        self.subscribe().await;
        // ring-mqtt retains nothing: ask it to send its devices again (`docs/ring.md`).
        if let (Some(_), Some(wake)) = (&self.ring, self.settings.mqtt.ring.wake_topic.clone()) {
            tracing::debug!(topic = %wake, "Asking the ring-mqtt bridge to announce its devices");
            self.send(&wake, b"online".to_vec(), false);
        }
        // Fresh stats with the rest of the state (not only after the next tick).
        self.set_stats().await;
        // Entities of cameras removed while the broker was away are removed now.
        self.set_discovery();
        self.publish_all_retained();
        while let Some((topic, payload)) = self.queue.pop_front() {
            if !self.send(&topic, payload.clone(), false) {
                self.queue.push_front((topic, payload));
                break;
            }
        }
    }

    fn on_disconnect(&mut self, host: &str, error: &str) {
        self.deps.health.set(Subsystem::Mqtt, State::Degraded, format!("broker {host} unreachable: {error}"));
        let log = self.failures.failed(error, tokio::time::Instant::now());
        let tries = self.failures.count;
        if self.connected {
            tracing::warn!(broker = %host, error = %error, "MQTT connection lost; retrying");
        } else if log {
            tracing::warn!(broker = %host, error = %error, failed_tries = tries, "MQTT connect failed; retrying");
        } else {
            tracing::debug!(broker = %host, error = %error, failed_tries = tries, "MQTT connect failed; retrying");
        }
        self.connected = false;
    }

    async fn subscribe(&mut self) {
        let Some(client) = &self.client else { return };
        let mut filters = vec![
            self.topics.privacy_set(),
            self.topics.mode_set(),
            self.topics.relay_stop(),
            self.topics.request_set_filter(),
            self.topics.record_set_filter(),
            format!("{}/status", self.settings.mqtt.discovery_prefix),
        ];
        self.external.clear();
        for c in self.settings.cameras.iter().filter(|c| c.enabled) {
            for e in &c.mqtt_events {
                self.external.entry(e.topic.clone()).or_default().push((c.name.clone(), e.clone()));
            }
        }
        filters.extend(self.external.keys().cloned());
        if let Some(r) = &self.ring {
            filters.extend(r.filters());
        }
        let subs = filters.into_iter().map(|t| rumqttc::SubscribeFilter::new(t, QoS::AtLeastOnce));
        if let Err(e) = client.subscribe_many(subs).await {
            tracing::warn!(error = %e, "Cannot subscribe to MQTT command topics");
        }
    }

    /// Sends one message now if the link is up; `false` if it has to wait.
    fn send(&self, topic: &str, payload: Vec<u8>, retain: bool) -> bool {
        if !self.connected {
            return false;
        }
        let Some(client) = &self.client else { return false };
        match client.try_publish(topic, QoS::AtLeastOnce, retain, payload) {
            Ok(()) => {
                self.deps.metrics.inc(Metric::MqttMessages, &[(Label::Result, "sent")]);
                true
            }
            Err(_) => false,
        }
    }

    /// Publishes `payload`. Retained topics are remembered (and re-sent on every connect);
    /// other messages wait in the bounded queue while the broker is away.
    fn publish(&mut self, topic: String, payload: Vec<u8>, retain: bool) {
        if retain {
            if self.retained.get(&topic) == Some(&payload) {
                return;
            }
            self.retained.insert(topic.clone(), payload.clone());
            // If it cannot go now, the whole retained map goes at the next connect.
            self.send(&topic, payload, true);
            return;
        }
        if self.queue.is_empty() && self.send(&topic, payload.clone(), false) {
            return;
        }
        self.queue.push_back((topic, payload));
        let limit = self.settings.mqtt.queue_limit;
        while self.queue.len() > limit {
            self.queue.pop_front();
            self.dropped_this_outage += 1;
            self.deps.metrics.inc(Metric::MqttMessages, &[(Label::Result, "dropped")]);
            if self.dropped_this_outage == 1 {
                tracing::warn!(
                    limit,
                    "MQTT queue is full while the broker is away; dropping the oldest messages"
                );
            }
        }
    }

    fn publish_json(&mut self, topic: String, value: &serde_json::Value, retain: bool) {
        self.publish(topic, value.to_string().into_bytes(), retain);
    }

    fn publish_all_retained(&mut self) {
        for (topic, payload) in &self.retained {
            if !self.send(topic, payload.clone(), true) {
                break;
            }
        }
    }

    /// Recomputes every retained topic from the hub's state (start, reload).
    fn set_state(&mut self) {
        self.publish(self.topics.available(), b"online".to_vec(), true);
        self.set_discovery();
        self.set_privacy();
        self.set_mode();
        self.set_requests();
        self.set_record_switches();
        let relay = if self.relays.is_empty() { "OFF" } else { "ON" };
        self.publish(self.topics.relay_active(), relay.into(), true);
        for c in self.settings.cameras.clone().iter().filter(|c| c.enabled) {
            let motion = self.topics.motion(&c.name);
            if !self.retained.contains_key(&motion) {
                self.publish(motion, b"OFF".to_vec(), true);
            }
        }
        self.camera_states.clear();
        self.set_camera_states();
    }

    fn set_discovery(&mut self) {
        let configs = if self.settings.mqtt.discovery {
            ha::configs(&self.settings, &self.topics, &self.request_labels)
        } else {
            Vec::new()
        };
        let now: BTreeSet<String> = configs.iter().map(|c| c.topic.clone()).collect();
        // Entities that are gone (a removed camera, discovery turned off): an empty retained
        // config removes them from Home Assistant.
        let before = self.announced.clone();
        let gone: Vec<String> = self.announced.difference(&now).cloned().collect();
        for topic in gone {
            self.retained.remove(&topic);
            // Not connected: it stays listed, and the next connect removes it.
            if self.send(&topic, Vec::new(), true) {
                tracing::info!(topic = %topic, "Removed a Home Assistant entity");
                self.announced.remove(&topic);
            }
        }
        for c in configs {
            self.announced.insert(c.topic.clone());
            self.publish_json(c.topic, &c.payload, true);
        }
        if self.announced != before
            && let Err(e) = crate::files::write_atomically(&discovery_file(&self.settings), &self.announced)
        {
            tracing::warn!(error = %e, "Cannot store the list of Home Assistant entities");
        }
    }

    fn set_mode(&mut self) {
        let mode = crate::mode::name(self.deps.mode.current());
        self.publish(self.topics.mode(), mode.into(), true);
    }

    fn set_privacy(&mut self) {
        let on = if self.deps.privacy.is_on() { "ON" } else { "OFF" };
        self.publish(self.topics.privacy(), on.into(), true);
    }

    fn set_requests(&mut self) {
        let pending = self.deps.requests.pending();
        let list = payload::pending(&pending);
        self.publish_json(self.topics.requests(), &list, true);
        let labels: Vec<String> = pending.iter().map(payload::request_label).collect();
        if labels != self.request_labels {
            // New options for the `select` first, then the selection.
            self.request_labels = labels;
            self.set_discovery();
            self.selection_resend = true;
        }
        let waiting = if pending.is_empty() { "OFF" } else { "ON" };
        self.publish(self.topics.requests_waiting(), waiting.into(), true);
        self.set_selection();
    }

    /// The waiting request the `selected` answers go to: the one chosen while it waits, else
    /// the oldest.
    fn selection(&self) -> Option<crate::requests::PendingView> {
        let pending = self.deps.requests.pending();
        let chosen = self.selected.as_ref().and_then(|id| pending.iter().find(|p| &p.id == id)).cloned();
        chosen.or_else(|| pending.into_iter().next())
    }

    fn set_selection(&mut self) {
        let label =
            self.selection().map_or_else(|| payload::NONE_WAITING.to_owned(), |p| payload::request_label(&p));
        self.publish(self.topics.request_selection(), label.into_bytes(), true);
    }

    fn set_record_switches(&mut self) {
        let paused = self.deps.pause.paused();
        for c in self.settings.cameras.clone().iter().filter(|c| c.enabled) {
            let on = c.record != crate::config::RecordMode::Off && !paused.contains(&c.name);
            self.publish(self.topics.record(&c.name), if on { "ON" } else { "OFF" }.into(), true);
        }
    }

    fn set_camera_states(&mut self) {
        let views = self.deps.cameras.view(&self.settings);
        for v in views.into_iter().filter(|v| v.enabled) {
            if self.camera_states.get(&v.name) == Some(&v.state) {
                continue;
            }
            self.camera_states.insert(v.name.clone(), v.state);
            self.publish(self.topics.status(&v.name), v.state.as_str().into(), true);
            // Whether the hub has the camera's stream: `None` (unknown in Home Assistant) while
            // it does not connect to the camera at all; "starting" changes nothing.
            let connected = match v.state {
                CameraState::Recording => Some("ON"),
                CameraState::Offline
                | CameraState::Error
                | CameraState::Connecting
                | CameraState::Resolving => Some("OFF"),
                CameraState::Off | CameraState::NotRecording => Some("None"),
                // Reachable, stream closed until an event.
                CameraState::Standby => Some("ON"),
                CameraState::Starting | CameraState::Disabled => None,
            };
            if let Some(value) = connected {
                self.publish(self.topics.connectivity(&v.name), value.into(), true);
            }
        }
    }

    async fn set_stats(&mut self) {
        let dir = self.settings.storage.dir.clone();
        let index = self.deps.index.clone();
        let usage = tokio::task::spawn_blocking(move || {
            let used = index.and_then(|i| i.usage().ok()).map(|u| u.iter().map(|(_, b, _)| b).sum::<u64>());
            (used, crate::recording::free_bytes_checked(&dir))
        })
        .await
        .unwrap_or((None, None));
        let recording = self.camera_states.values().filter(|s| **s == CameraState::Recording).count();
        let stats = payload::Stats {
            storage_used_bytes: usage.0,
            storage_free_bytes: usage.1,
            cameras_recording: recording,
            cameras_enabled: self.settings.cameras.iter().filter(|c| c.enabled).count(),
            pending_requests: self.deps.requests.pending().len(),
            privacy: self.deps.privacy.is_on(),
        }
        .to_json();
        self.publish_json(self.topics.stats(), &stats, true);
    }

    fn on_event(&mut self, e: &crate::bus::Event) {
        let camera = e.camera.as_deref();
        match (&e.kind, camera) {
            (EventKind::MotionStart, Some(c)) => self.publish(self.topics.motion(c), b"ON".to_vec(), true),
            (EventKind::MotionEnd, Some(c)) => self.publish(self.topics.motion(c), b"OFF".to_vec(), true),
            (EventKind::DoorbellPress, Some(c)) => {
                let body = payload::doorbell(e.time);
                self.publish_json(self.topics.doorbell(c), &body, false);
            }
            (EventKind::CameraOnline | EventKind::CameraOffline { .. }, Some(_)) => self.set_camera_states(),
            (EventKind::RequestReceived { request_id, requester }, _) => {
                let body = payload::received(request_id, requester, e.time);
                self.publish_json(self.topics.request_received(), &body, false);
            }
            (EventKind::DecisionMade { request_id, decision, reason }, _) => {
                let body = payload::decided(request_id, decision, reason, e.time);
                self.publish_json(self.topics.request_decided(), &body, false);
            }
            (EventKind::RelayStarted { request_id }, _) => {
                self.relays.insert(request_id.clone());
                self.publish(self.topics.relay_active(), b"ON".to_vec(), true);
            }
            (EventKind::RelayStopped { request_id, .. }, _) => {
                self.relays.remove(request_id);
                let v = if self.relays.is_empty() { "OFF" } else { "ON" };
                self.publish(self.topics.relay_active(), v.into(), true);
            }
            _ => {}
        }
        // Recording housekeeping is too chatty for an event feed.
        if !matches!(e.kind, EventKind::SegmentClosed { .. }) {
            self.publish_json(self.topics.events(), &e.to_json(), false);
        }
    }

    fn on_message(&mut self, topic: &str, payload: &[u8]) {
        if let Some(targets) = self.external.get(topic).cloned() {
            self.on_external(topic, payload, &targets);
            return;
        }
        let Some(command) = self.topics.command(topic) else { return };
        let answer = matches!(command, Command::Request(_) | Command::Select);
        let result = if payload.len() > MAX_COMMAND {
            Err(CommandError::TooLong(payload.len()))
        } else {
            match std::str::from_utf8(payload) {
                Ok(text) => self.command(command, text.trim()),
                Err(_) => Err(CommandError::NotText),
            }
        };
        // The resident sees what came of an answer (Home Assistant's "Last answer" sensor).
        if answer {
            let text = match &result {
                Ok(done) => done.clone(),
                Err(e) => e.to_string(),
            };
            let text: String = text.chars().take(255).collect();
            // Sent each time, even when the text repeats: it answers this press.
            let topic = self.topics.requests_last_result();
            self.retained.insert(topic.clone(), text.clone().into_bytes());
            self.send(&topic, text.into_bytes(), true);
        }
        match result {
            Ok(done) => {
                self.deps.metrics.inc(Metric::MqttCommands, &[(Label::Result, "ok")]);
                tracing::info!(topic, result = %done, "MQTT command");
            }
            Err(e) => {
                self.deps.metrics.inc(Metric::MqttCommands, &[(Label::Result, "refused")]);
                tracing::warn!(topic, error = %e, "MQTT command ignored");
            }
        }
    }

    fn command(&mut self, command: Command<'_>, text: &str) -> Result<String, CommandError> {
        match command {
            Command::Privacy => {
                let on = on_off(text).ok_or_else(|| CommandError::NotOnOff(clip(text)))?;
                let state = self.deps.requests.set_privacy(on, "mqtt")?;
                // The state topic follows through the privacy watch; a refused OFF re-sends ON
                // so the switch in Home Assistant flips back.
                Ok(format!("privacy mode {}", if state.on { "on" } else { "off" }))
            }
            Command::Record(camera) => {
                let on = on_off(text).ok_or_else(|| CommandError::NotOnOff(clip(text)))?;
                if self.settings.camera(camera).is_none_or(|c| !c.enabled) {
                    return Err(CommandError::NoSuchCamera(clip(camera)));
                }
                self.deps.pause.set(camera, !on, "mqtt");
                Ok(format!("recording {} for {camera}", if on { "on" } else { "off" }))
            }
            Command::Mode => {
                let mode = crate::mode::parse(text).ok_or_else(|| CommandError::NotMode(clip(text)))?;
                // The state topic follows through the mode watch (a refused change re-sends it).
                let state = self.deps.mode.set(mode, "mqtt");
                self.set_mode();
                let state = state?;
                Ok(format!("hub mode {}", crate::mode::name(state.mode)))
            }
            Command::StopSharing => {
                let n = self.deps.requests.revoke_all("mqtt");
                Ok(format!("stopped {n} share(s)"))
            }
            Command::Select => {
                let pending = self.deps.requests.pending();
                let found = pending
                    .iter()
                    .find(|p| payload::request_label(p) == text || p.id == text)
                    .ok_or_else(|| CommandError::NotWaiting(clip(text)))?;
                let id = found.id.clone();
                self.selected = Some(id.clone());
                self.set_selection();
                Ok(format!("request {id} selected"))
            }
            Command::Request(id) => {
                let answer = parse_answer(text)?;
                let id = match id {
                    "oldest" => self.deps.requests.oldest().ok_or(CommandError::NoneWaiting)?,
                    "selected" => self.selection().map(|p| p.id).ok_or(CommandError::NoneWaiting)?,
                    id => id.to_owned(),
                };
                let requests = &self.deps.requests;
                let decision = match answer {
                    Answer::Approve(approval) => requests.approve(&id, &approval, "mqtt"),
                    Answer::Deny(reason) => requests.deny(&id, &reason, "mqtt"),
                    Answer::Revoke => {
                        requests.revoke(&id, "mqtt")?;
                        return Ok(format!("request {id}: revoked"));
                    }
                }?;
                Ok(format!("request {id}: {}", decision.outcome()))
            }
        }
    }

    fn on_external(&mut self, topic: &str, payload: &[u8], targets: &[(String, crate::config::MqttEvent)]) {
        let text = String::from_utf8_lossy(payload);
        let text = text.trim();
        for (camera, e) in targets {
            use crate::config::SignalKind;
            let kind = match e.kind {
                SignalKind::Motion if text == e.on => EventKind::MotionStart,
                SignalKind::Motion if text == e.off => EventKind::MotionEnd,
                SignalKind::Doorbell if text == e.on => EventKind::DoorbellPress,
                SignalKind::Tamper if text == e.on => EventKind::Tamper,
                _ => {
                    tracing::debug!(topic, camera = %camera, payload = %clip(text), "MQTT camera event payload does not match `on`/`off`; ignored");
                    continue;
                }
            };
            self.deps.bus.publish(Some(camera), kind);
        }
    }
}

impl Session {
    /// A message of the ring-mqtt bridge.
    fn on_ring(&mut self, topic: &str, payload: &[u8]) {
        let Some(r) = self.ring.as_mut() else { return };
        let actions =
            r.message(topic, payload, tokio::time::Instant::now(), jiff::Timestamp::now().as_second());
        self.ring_actions(actions);
    }

    /// The camera of the running settings that records this Ring device's gateway stream.
    fn ring_camera(&self, device: &str) -> Option<String> {
        self.settings
            .cameras
            .iter()
            .filter(|c| c.enabled)
            .find(|c| c.rtsp_url.as_ref().and_then(ring::device_of) == Some(device))
            .map(|c| c.name.clone())
    }

    fn ring_actions(&mut self, actions: Vec<ring::Action>) {
        for a in actions {
            match a {
                ring::Action::Event { device, kind } => match self.ring_camera(&device) {
                    Some(camera) => {
                        tracing::debug!(camera = %camera, device = %device, event = kind.name(), "Ring event");
                        self.deps.bus.publish(Some(&camera), kind);
                    }
                    None => {
                        tracing::debug!(device = %device, event = kind.name(), "Event of a Ring device no camera records; ignored")
                    }
                },
                ring::Action::Reach { device, down } => {
                    if let Some(camera) = self.ring_camera(&device) {
                        self.deps.cameras.reachable().set(&camera, down.as_deref());
                    }
                }
                ring::Action::Found(found) => self.ring_found(found),
            }
        }
    }

    /// A Ring camera announced: adopted when the resident turned adoption on; announced on the
    /// bus (`device_discovered`) either way.
    fn ring_found(&mut self, found: ring::Found) {
        let device =
            crate::onvif::adopt::RingDevice { rtsp_url: found.rtsp_url.clone(), doorbell: found.doorbell };
        let mut adopted = None;
        if let Some((list, tx)) = &self.deps.adopt {
            match list.found_ring(&self.settings, &found.device, found.name.as_deref(), device) {
                Ok(
                    crate::onvif::adopt::Outcome::Adopted(name) | crate::onvif::adopt::Outcome::Moved(name),
                ) => {
                    tracing::info!(camera = %name, device = %found.device, rtsp_url = %found.rtsp_url, doorbell = found.doorbell, "Adopted a Ring camera announced by ring-mqtt; it is recorded from now on");
                    tx.send_modify(|s| *s = Arc::new(list.apply(Settings::clone(s))));
                    let down = self.ring.as_ref().and_then(|r| r.down(&found.device));
                    self.deps.cameras.reachable().set(&name, down.as_deref());
                    adopted = Some(name);
                }
                Ok(crate::onvif::adopt::Outcome::Known(name)) => adopted = Some(name),
                Ok(crate::onvif::adopt::Outcome::NotAdopted) => {}
                Err(e) => tracing::error!(error = %e, device = %found.device, "Cannot adopt a Ring camera"),
            }
        }
        if found.login.is_some() && self.settings.mqtt.ring.gateway_login.is_none() {
            tracing::warn!(device = %found.device, "The ring-mqtt gateway asks for a login; set `mqtt.ring.gateway` with its user name and password (`livestream_user`/`livestream_pass`)");
        }
        let configured = self.ring_camera(&found.device).is_some() && adopted.is_none();
        tracing::info!(device = %found.device, name = found.name.as_deref().unwrap_or(""), doorbell = found.doorbell, rtsp_url = %found.rtsp_url, configured, adopted = adopted.as_deref().unwrap_or(""), "Ring camera announced by ring-mqtt");
        self.deps.bus.publish(
            None,
            EventKind::DeviceDiscovered {
                endpoint: crate::onvif::adopt::ring_endpoint(&found.device),
                onvif_url: None,
                name: found.name,
                model: found.model,
                doorbell: found.doorbell,
                configured,
                adopted,
                rtsp_url: Some(found.rtsp_url),
            },
        );
    }
}

async fn link_drain(link: &mut mpsc::Receiver<Link>) {
    while link.recv().await.is_some() {}
}

fn clip(s: &str) -> String {
    s.chars().take(64).map(|c| if c.is_control() { ' ' } else { c }).collect()
}

fn on_off(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "on" | "true" | "1" => Some(true),
        "off" | "false" | "0" => Some(false),
        _ => None,
    }
}

/// `approve`, `deny`, or JSON `{"action": "approve", "cameras": [...], "from": ..., "to": ...,
/// "live_max_seconds": ..., "strip_audio": ...}` / `{"action": "deny", "reason": "..."}`.
/// What a message to `requests/<id>/set` asks for.
#[derive(Debug)]
enum Answer {
    Approve(Approval),
    Deny(String),
    /// Stop what is being shared for the request.
    Revoke,
}

fn parse_answer(text: &str) -> Result<Answer, AnswerError> {
    match text.to_ascii_lowercase().as_str() {
        "approve" | "allow" => return Ok(Answer::Approve(Approval::default())),
        "deny" => return Ok(Answer::Deny(String::new())),
        "revoke" | "stop" => return Ok(Answer::Revoke),
        _ => {}
    }
    if !text.starts_with('{') {
        return Err(AnswerError::NotAnAnswer(clip(text)));
    }
    let mut v: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text).map_err(AnswerError::Json)?;
    let action = v.remove("action").and_then(|a| a.as_str().map(str::to_owned));
    match action.as_deref() {
        Some("approve") => {
            let approval: Approval =
                serde_json::from_value(serde_json::Value::Object(v)).map_err(AnswerError::Approval)?;
            Ok(Answer::Approve(approval))
        }
        Some("deny") => {
            let reason = v.remove("reason").and_then(|r| r.as_str().map(str::to_owned)).unwrap_or_default();
            if let Some(k) = v.keys().next() {
                return Err(AnswerError::UnknownDenyField(k.clone()));
            }
            Ok(Answer::Deny(reason.chars().take(512).collect()))
        }
        _ => Err(AnswerError::NoAction),
    }
}

fn discovery_file(settings: &Settings) -> PathBuf {
    settings.hub.data_dir.join("state/mqtt-discovery.json")
}

/// Polls the event loop until `cancel`, reporting to the session. rumqttc reconnects when
/// polled again after an error; the pause between tries grows to 30 s.
async fn poll(mut eventloop: rumqttc::EventLoop, tx: mpsc::Sender<Link>, cancel: CancellationToken) {
    let mut failures = 0u32;
    loop {
        let next = tokio::select! {
            () = cancel.cancelled() => return,
            n = eventloop.poll() => n,
        };
        let link = match next {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                failures = 0;
                Link::Up
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                Link::Message { topic: p.topic.clone(), payload: p.payload.to_vec() }
            }
            Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => {
                // Our own clean disconnect: stop once it is on the wire.
                let _ = tokio::time::timeout(Duration::from_secs(1), eventloop.poll()).await;
                return;
            }
            Ok(_) => continue,
            Err(e) => {
                failures = failures.saturating_add(1);
                if tx.send(Link::Down(e.to_string())).await.is_err() {
                    return;
                }
                let pause = crate::backoff::delay(failures).min(Duration::from_secs(30));
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(pause) => {}
                }
                continue;
            }
        };
        if tx.send(link).await.is_err() {
            return;
        }
    }
}

fn options(m: &MqttSettings, topics: &Topics) -> Result<MqttOptions, SetupError> {
    let host = m.host.clone().unwrap_or_default();
    let mut o = MqttOptions::new(m.client_id.clone(), host, m.port);
    o.set_keep_alive(m.keep_alive);
    o.set_clean_session(true);
    // Incoming: commands and camera events are small.
    // Outgoing: still images up to 4 MiB.
    o.set_max_packet_size(
        256 * 1024,
        crate::onvif::snapshot::MAX_BYTES.max(crate::stills::MAX_JPEG_BYTES) + 64 * 1024,
    );
    o.set_last_will(LastWill::new(topics.available(), "offline", QoS::AtLeastOnce, true));
    if let Some(user) = &m.username {
        o.set_credentials(
            user.clone(),
            m.password.as_ref().map(|p| p.expose().to_owned()).unwrap_or_default(),
        );
    }
    if let Some(tls) = &m.tls {
        let config = crate::tls::client_config(tls).map_err(SetupError::Tls)?;
        o.set_transport(Transport::Tls(TlsConfiguration::Rustls(Arc::new(config))));
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_parse_or_say_why_not() {
        assert!(matches!(parse_answer("approve"), Ok(Answer::Approve(_))));
        assert!(matches!(parse_answer("DENY"), Ok(Answer::Deny(_))));
        assert!(matches!(parse_answer("revoke"), Ok(Answer::Revoke)));
        let Ok(Answer::Approve(a)) =
            parse_answer(r#"{"action":"approve","cameras":["porch"],"strip_audio":true}"#)
        else {
            panic!("json approve")
        };
        assert!(a.strip_audio && a.cameras == Some(vec!["porch".into()]));
        let Ok(Answer::Deny(reason)) = parse_answer(r#"{"action":"deny","reason":"no warrant"}"#) else {
            panic!("json deny")
        };
        assert_eq!(reason, "no warrant");
        for bad in [
            "",
            "yes",
            "{",
            r#"{"action":"share"}"#,
            r#"{"action":"approve","cameras":"porch"}"#,
            r#"{"action":"approve","everything":true}"#,
            r#"{"action":"deny","cameras":[]}"#,
        ] {
            assert!(parse_answer(bad).is_err(), "{bad:?} accepted");
        }
    }

    /// The first failure is logged, repeats of it are not until FAILURE_LOG_EVERY has passed;
    /// a new error is logged at once; a connect says how many tries failed and starts over.
    #[test]
    fn connect_failures_are_logged_once_per_error_and_every_few_minutes() {
        let t0 = tokio::time::Instant::now();
        let mut f = Failures::default();
        assert!(f.failed("connection refused", t0));
        for n in 1..50 {
            assert!(!f.failed("connection refused", t0 + Duration::from_secs(n)), "try {n}");
        }
        assert!(f.failed("connection refused", t0 + FAILURE_LOG_EVERY));
        assert!(f.failed("no route to host", t0 + FAILURE_LOG_EVERY + Duration::from_secs(1)));
        assert!(!f.failed("no route to host", t0 + FAILURE_LOG_EVERY + Duration::from_secs(2)));
        assert_eq!(f.connected(), 53);
        assert_eq!(f.connected(), 0);
        assert!(
            f.failed("no route to host", t0 + FAILURE_LOG_EVERY + Duration::from_secs(3)),
            "logged again after a connect"
        );
    }

    #[test]
    fn only_jpeg_is_a_camera_image() {
        assert!(is_jpeg(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F']));
        assert!(!is_jpeg(b"\x89PNG\r\n\x1a\n"));
        assert!(!is_jpeg(b"BM\x36\x00"));
        assert!(!is_jpeg(&[0xFF, 0xD8]));
        assert_eq!(image_kind(b"\x89PNG\r\n\x1a\n"), "PNG");
        assert_eq!(image_kind(b"BM\x36\x00"), "BMP");
        assert_eq!(image_kind(b"<html>"), "unknown");
    }

    #[test]
    fn switch_payloads() {
        assert_eq!(on_off("ON"), Some(true));
        assert_eq!(on_off("off"), Some(false));
        assert_eq!(on_off("maybe"), None);
    }
}

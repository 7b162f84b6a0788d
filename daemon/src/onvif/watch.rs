//! `[discovery]` in the daemon: probes every `interval` and announces each device the first
//! time it answers (`device_discovered` on the bus, and the log). Nothing is recorded until the
//! resident adds the camera to the config, unless `adopt = true` (then [`super::adopt`]).

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::adopt::{self, Adopted, Outcome};
use super::discovery::{self, Announcement, Found, Listener, ProbeOptions};
use crate::bus::{Bus, EventKind};
use crate::config::Settings;
use crate::health::{Health, State, Subsystem};

/// Devices announced since the start are remembered up to this many (they come from the
/// network, unauthenticated).
const MAX_ANNOUNCED: usize = 1024;

pub async fn run(
    mut settings: watch::Receiver<Arc<Settings>>,
    tx: watch::Sender<Arc<Settings>>,
    adopted: Adopted,
    bus: Bus,
    health: Health,
    cancel: CancellationToken,
) {
    let mut seen = Seen { adopted, tx, bus, announced: BTreeSet::new() };
    // The Hello/Bye listener, with the interfaces it joined the group on.
    let mut listener: Option<(Vec<Ipv4Addr>, Listener)> = None;
    'probing: loop {
        let mut current = settings.borrow_and_update().clone();
        let d = &current.discovery;
        if !d.enabled {
            listener = None;
            health.set(Subsystem::Discovery, State::Disabled, "");
            tokio::select! {
                () = cancel.cancelled() => break,
                changed = settings.changed() => if changed.is_err() { break } else { continue },
            }
        }
        let (interfaces, unknown) = discovery::interface_addresses(&d.interfaces);
        for name in unknown {
            tracing::warn!(interface = %name, "discovery.interfaces: no IPv4 interface by that name");
        }
        let mut unicast = Vec::new();
        for p in &d.probe {
            match discovery::targets(p).await {
                Ok(t) => unicast.extend(t),
                Err(e) => tracing::warn!(error = %e, "Cannot probe this target"),
            }
        }
        unicast.truncate(discovery::MAX_TARGETS);
        let opts = ProbeOptions {
            multicast: d.multicast && (d.interfaces.is_empty() || !interfaces.is_empty()),
            interfaces,
            unicast,
            ..ProbeOptions::default()
        };
        listen(&mut listener, &opts);
        let found = tokio::select! {
            () = cancel.cancelled() => break,
            f = discovery::probe(&opts) => f,
        };
        match found {
            Ok(found) => {
                health.set(
                    Subsystem::Discovery,
                    State::Running,
                    format!("{} ONVIF device(s) answered the last probe", found.len()),
                );
                for f in &found {
                    seen.found(f, &current, "probe");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "Discovery probe failed");
                health.set(Subsystem::Discovery, State::Degraded, e.to_string());
            }
        }
        let until = tokio::time::Instant::now() + d.interval;
        loop {
            tokio::select! {
                () = cancel.cancelled() => break 'probing,
                () = tokio::time::sleep_until(until) => break,
                changed = settings.changed() => {
                    if changed.is_err() {
                        break 'probing;
                    }
                    // A new `[discovery]` probes again at once; other changes (an adoption by
                    // this task, cameras edited in the file) are only taken in.
                    let new = settings.borrow_and_update().clone();
                    if new.discovery != current.discovery {
                        break;
                    }
                    current = new;
                }
                a = announced(&mut listener) => {
                    tokio::select! {
                        () = cancel.cancelled() => break 'probing,
                        () = seen.announcement(a, &current) => {}
                    }
                }
            }
        }
    }
    health.set(Subsystem::Discovery, State::Stopped, "");
}

/// (Re)joins the multicast group when the interfaces to listen on changed; leaves it when
/// multicast is off.
fn listen(listener: &mut Option<(Vec<Ipv4Addr>, Listener)>, opts: &ProbeOptions) {
    let on = match (opts.multicast, opts.interfaces.is_empty()) {
        (false, _) => Vec::new(),
        (true, true) => discovery::ipv4_interfaces(),
        (true, false) => opts.interfaces.clone(),
    };
    if on.is_empty() {
        *listener = None;
        return;
    }
    if listener.as_ref().is_some_and(|(joined, _)| *joined == on) {
        return;
    }
    *listener = match Listener::bind(&on, discovery::PORT) {
        Ok(l) => {
            tracing::info!(interfaces = ?on, "Listening for ONVIF devices announcing themselves (Hello/Bye)");
            Some((on, l))
        }
        Err(e) => {
            tracing::warn!(error = %e, "Cannot listen for Hello/Bye; devices are found by probing only");
            None
        }
    };
}

async fn announced(listener: &mut Option<(Vec<Ipv4Addr>, Listener)>) -> Announcement {
    match listener {
        Some((_, l)) => l.next().await,
        None => std::future::pending().await,
    }
}

/// What the task knows: the adopted cameras, the settings it adds them to, and which devices
/// it announced.
struct Seen {
    adopted: Adopted,
    tx: watch::Sender<Arc<Settings>>,
    bus: Bus,
    announced: BTreeSet<String>,
}

impl Seen {
    async fn announcement(&mut self, a: Announcement, current: &Settings) {
        match a {
            Announcement::Hello(f) if !f.xaddrs.is_empty() => self.found(&f, current, "hello"),
            // No address in the Hello: ask the device itself.
            Announcement::Hello(f) => {
                let opts = ProbeOptions {
                    multicast: false,
                    unicast: f.from.iter().map(|ip| SocketAddr::new(*ip, discovery::PORT)).collect(),
                    timeout: Duration::from_secs(2),
                    ..ProbeOptions::default()
                };
                match discovery::probe(&opts).await {
                    Ok(found) => {
                        for g in found
                            .iter()
                            .filter(|g| adopt::endpoint_key(&g.endpoint) == adopt::endpoint_key(&f.endpoint))
                        {
                            self.found(g, current, "hello");
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "Cannot probe a device that said Hello"),
                }
            }
            Announcement::Bye { endpoint, from } => {
                if !self.announced.remove(&adopt::endpoint_key(&endpoint)) {
                    return;
                }
                let key = adopt::endpoint_key(&endpoint);
                let camera = self
                    .adopted
                    .list()
                    .into_iter()
                    .find(|a| adopt::endpoint_key(&a.endpoint) == key)
                    .map(|a| a.name)
                    .or_else(|| {
                        let url = url::Url::parse(&format!("http://{from}/")).ok()?;
                        adopt::configured(current, &url).map(|c| c.name.clone())
                    });
                tracing::info!(endpoint = %endpoint, from = %from, camera = camera.as_deref().unwrap_or(""), "ONVIF device said goodbye (Bye)");
                self.bus.publish(camera.as_deref(), EventKind::DeviceLeft { endpoint });
            }
        }
    }

    /// One device that answered (`via` a probe or its Hello): adopted (or its new address
    /// taken) when the settings say so, and announced the first time since the daemon started.
    fn found(&mut self, f: &Found, current: &Settings, via: &'static str) {
        let (adopted, tx, bus) = (&self.adopted, &self.tx, &self.bus);
        let onvif_url = f.preferred_xaddr().map(str::to_owned);
        let parsed = onvif_url.as_deref().and_then(|u| url::Url::parse(u).ok());
        let outcome = match &parsed {
            Some(u) => {
                adopted.found(current, &f.endpoint, u, f.scope("name").as_deref()).unwrap_or_else(|e| {
                    tracing::error!(error = %e, endpoint = %f.endpoint, "Cannot adopt a found camera");
                    Outcome::NotAdopted
                })
            }
            None => Outcome::NotAdopted,
        };
        match &outcome {
            Outcome::Adopted(name) | Outcome::Moved(name) => {
                if let Outcome::Moved(_) = outcome {
                    tracing::info!(camera = %name, onvif_url = onvif_url.as_deref().unwrap_or(""), "Adopted camera answered from a new address");
                } else {
                    tracing::info!(
                        camera = %name,
                        endpoint = %f.endpoint,
                        onvif_url = onvif_url.as_deref().unwrap_or(""),
                        "Adopted a discovered camera; it is recorded from now on"
                    );
                }
                tx.send_modify(|s| *s = Arc::new(adopted.apply(Settings::clone(s))));
            }
            Outcome::Known(_) | Outcome::NotAdopted => {}
        }
        let key = adopt::endpoint_key(&f.endpoint);
        if self.announced.contains(&key) || self.announced.len() >= MAX_ANNOUNCED {
            return;
        }
        self.announced.insert(key);
        let configured = parsed.as_ref().is_some_and(|u| adopt::configured(current, u).is_some());
        let adopted_as = match outcome {
            Outcome::Adopted(n) | Outcome::Moved(n) | Outcome::Known(n) => Some(n),
            Outcome::NotAdopted => None,
        };
        let (name, model, doorbell) = (f.scope("name"), f.scope("hardware"), f.looks_like_doorbell());
        tracing::info!(
            endpoint = %f.endpoint,
            onvif_url = onvif_url.as_deref().unwrap_or(""),
            name = name.as_deref().unwrap_or(""),
            model = model.as_deref().unwrap_or(""),
            configured,
            adopted = adopted_as.as_deref().unwrap_or(""),
            via,
            "New ONVIF device found{}",
            if configured || adopted_as.is_some() {
                ""
            } else {
                "; `porchlight discover --toml` prints a [[camera]] block for it"
            }
        );
        bus.publish(
            None,
            EventKind::DeviceDiscovered {
                endpoint: f.endpoint.clone(),
                onvif_url,
                name,
                model,
                doorbell,
                configured,
                adopted: adopted_as,
                rtsp_url: None,
            },
        );
    }
}

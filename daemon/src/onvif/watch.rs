//! `[discovery]` in the daemon: probes every `interval` and announces each device the first
//! time it answers (`device_discovered` on the bus, and the log). Nothing is recorded until the
//! resident adds the camera to the config.

use std::collections::BTreeSet;
use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::discovery::{self, ProbeOptions};
use crate::bus::{Bus, EventKind};
use crate::config::Settings;
use crate::health::{Health, State};

fn host_of(u: &str) -> Option<String> {
    url::Url::parse(u).ok().and_then(|u| u.host_str().map(|h| h.to_ascii_lowercase()))
}

pub async fn run(
    mut settings: watch::Receiver<Arc<Settings>>,
    bus: Bus,
    health: Health,
    cancel: CancellationToken,
) {
    let mut announced: BTreeSet<String> = BTreeSet::new();
    let mut adopt_warned = false;
    loop {
        let current = settings.borrow_and_update().clone();
        let d = &current.discovery;
        if !d.enabled {
            health.set("discovery", State::Disabled, "");
            tokio::select! {
                () = cancel.cancelled() => break,
                changed = settings.changed() => if changed.is_err() { break } else { continue },
            }
        }
        if d.adopt && !adopt_warned {
            tracing::warn!(
                "discovery.adopt is not built yet: found cameras are announced; add them to the config to record them"
            );
            adopt_warned = true;
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
        let found = tokio::select! {
            () = cancel.cancelled() => break,
            f = discovery::probe(&opts) => f,
        };
        match found {
            Ok(found) => {
                health.set(
                    "discovery",
                    State::Running,
                    format!("{} ONVIF device(s) answered the last probe", found.len()),
                );
                for f in found {
                    let key = f.endpoint.trim().trim_start_matches("urn:").to_ascii_lowercase();
                    if !announced.insert(key) {
                        continue;
                    }
                    let onvif_url = f.preferred_xaddr().map(str::to_owned);
                    let hosts: BTreeSet<String> = f.xaddrs.iter().filter_map(|x| host_of(x)).collect();
                    let configured = current
                        .cameras
                        .iter()
                        .filter_map(|c| {
                            c.onvif_url.as_ref().and_then(|u| u.host_str().map(|h| h.to_ascii_lowercase()))
                        })
                        .any(|h| hosts.contains(&h));
                    let (name, model, doorbell) =
                        (f.scope("name"), f.scope("hardware"), f.looks_like_doorbell());
                    tracing::info!(
                        endpoint = %f.endpoint,
                        onvif_url = onvif_url.as_deref().unwrap_or(""),
                        name = name.as_deref().unwrap_or(""),
                        model = model.as_deref().unwrap_or(""),
                        configured,
                        "New ONVIF device found{}",
                        if configured { "" } else { "; `porchlight discover --toml` prints a [[camera]] block for it" }
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
                        },
                    );
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "Discovery probe failed");
                health.set("discovery", State::Degraded, e.to_string());
            }
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(d.interval) => {}
            changed = settings.changed() => if changed.is_err() { break },
        }
    }
    health.set("discovery", State::Stopped, "");
}

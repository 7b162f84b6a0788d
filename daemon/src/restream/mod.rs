//! The restream: a local RTSP server (`[restream]`, off by default) that serves each camera's
//! stream as the hub receives it, at `rtsp://<restream.listen>/<camera>`, so VLC, Home
//! Assistant's Generic Camera or another NVR can watch without a session of their own at the
//! camera. Every client of a camera reads the hub's one live feed (`recording::live`); nothing
//! is re-encoded. RTSP 1.0 over TCP with RTP interleaved on the connection (UDP is answered
//! `461`), RTSP Digest when a login is configured. Reference: `docs/ref/restream.md`.
//!
//! The task follows the settings: a change to `[restream]` stops the server (its clients are
//! disconnected) and starts it again with the new settings; the camera list is read at each
//! `DESCRIBE`.

mod auth;
mod request;
mod session;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::config::{RestreamSettings, Settings};
use crate::recording::live::LiveTaps;
use crate::throttle::Throttle;

/// How long connected clients get to go at shutdown or restart.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// What the restream task reads.
#[derive(Debug, Clone)]
pub struct Deps {
    pub settings: watch::Receiver<Arc<Settings>>,
    pub taps: LiveTaps,
}

/// What every connection of one server run shares.
#[derive(Debug)]
struct Shared {
    /// The `[restream]` settings this run was started with.
    settings: RestreamSettings,
    /// The current settings (for the camera list).
    cameras: watch::Receiver<Arc<Settings>>,
    taps: LiveTaps,
    /// The address the server listens on.
    local: SocketAddr,
}

/// The `restream` task: runs the server while `[restream]` is enabled, until `cancel`.
pub async fn run(deps: Deps, cancel: CancellationToken) {
    let mut rx = deps.settings.clone();
    loop {
        let current = rx.borrow_and_update().restream.clone();
        let listener = if current.enabled {
            match TcpListener::bind(current.listen).await {
                Ok(l) => Some(l),
                Err(e) => {
                    tracing::error!(addr = %current.listen, error = %e, "Cannot listen for the restream; fix `restream.listen` (or free the port) and reload");
                    None
                }
            }
        } else {
            None
        };
        let Some(listener) = listener else {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = changed(&mut rx, &current) => continue,
            }
        };
        let local = listener.local_addr().unwrap_or(current.listen);
        let login = if current.login.is_some() { "digest" } else { "none" };
        tracing::info!(addr = %local, login, max_clients = current.max_clients, "Restream listening");
        let shared = Arc::new(Shared {
            settings: current.clone(),
            cameras: deps.settings.clone(),
            taps: deps.taps.clone(),
            local,
        });
        let stop = cancel.child_token();
        let server = serve(listener, shared, stop.clone());
        tokio::pin!(server);
        tokio::select! {
            // Ends only once `stop` (a child of `cancel`) fires: shutdown.
            () = &mut server => return,
            () = changed(&mut rx, &current) => {
                tracing::info!("Restream settings changed; restarting the server");
                stop.cancel();
                server.await;
            }
        }
    }
}

/// Returns once `[restream]` differs from `current` (never if the settings channel closed).
async fn changed(rx: &mut watch::Receiver<Arc<Settings>>, current: &RestreamSettings) {
    loop {
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
        if rx.borrow_and_update().restream != *current {
            return;
        }
    }
}

/// Accepts clients (at most `max_clients` at once) until `stop`, then closes them all, waiting
/// at most [`CLOSE_TIMEOUT`].
async fn serve(listener: TcpListener, shared: Arc<Shared>, stop: CancellationToken) {
    let slots = Arc::new(Semaphore::new(shared.settings.max_clients));
    let tracker = TaskTracker::new();
    let mut full = Throttle::new(Duration::from_secs(60));
    let mut failed = Throttle::new(Duration::from_secs(60));
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => break,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors or the like: wait a little rather than spin.
                if let Some(n) = failed.note(std::time::Instant::now()) {
                    tracing::warn!(error = %e, count = n, "Restream cannot accept a connection");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            if let Some(n) = full.note(std::time::Instant::now()) {
                tracing::warn!(client = %peer, max_clients = shared.settings.max_clients, count = n, "Restream connection refused: too many clients (restream.max_clients)");
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        tracing::debug!(client = %peer, "Restream connection");
        let (shared, stop) = (Arc::clone(&shared), stop.clone());
        tracker.spawn(
            async move {
                session::serve(stream, peer, shared, stop).await;
                drop(slot);
            }
            .in_current_span(),
        );
    }
    drop(listener);
    tracker.close();
    let open = tracker.len();
    if tokio::time::timeout(CLOSE_TIMEOUT, tracker.wait()).await.is_err() {
        tracing::warn!(open = tracker.len(), "Restream clients still closing; left behind");
    }
    tracing::info!(clients = open, "Restream stopped");
}

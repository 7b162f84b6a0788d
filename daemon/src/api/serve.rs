//! The API's HTTP server: the accept loop and each connection, with the bounds that keep a
//! hostile or broken client from starving the hub (`docs/ref/api.md`, "Limits").
//!
//! - At most `api.max_connections` open connections, and `api.max_connections_per_client` from
//!   one IP address. A connection over either cap is closed as soon as it is accepted, so the
//!   hub's file descriptors stay free for recording, cameras, MQTT, the relay and the audit log.
//! - A request's headers must arrive within `api.request_timeout` (counted from the first byte
//!   the connection waits for, so an idle keep-alive connection is closed after it too), and
//!   its body within the same time again (`bounded_body` in `api.rs`).
//!
//! The limits are read from the settings channel at every accept, so a reload changes them for
//! new connections.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Settings;
use crate::metrics::{Label, Metric, Metrics};
use crate::throttle::Throttle;

/// Counts open connections, in all and per client address.
#[derive(Debug, Clone, Default)]
pub struct Gate {
    inner: Arc<Mutex<GateState>>,
}

#[derive(Debug, Default)]
struct GateState {
    open: usize,
    per_client: HashMap<IpAddr, usize>,
}

/// Why a connection was closed at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `api.max_connections` connections are open.
    Full,
    /// `api.max_connections_per_client` connections from this address are open.
    ClientFull,
}

impl Refusal {
    fn label(self) -> &'static str {
        match self {
            Refusal::Full => "max_connections",
            Refusal::ClientFull => "max_connections_per_client",
        }
    }
}

/// One admitted connection; dropping it gives the place back.
#[derive(Debug)]
pub struct Pass {
    gate: Gate,
    ip: IpAddr,
}

impl Gate {
    /// Admits a connection from `ip` if both caps allow it.
    pub fn enter(&self, ip: IpAddr, max: usize, max_per_client: usize) -> Result<Pass, Refusal> {
        let mut st = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if st.open >= max {
            return Err(Refusal::Full);
        }
        let mine = st.per_client.entry(ip).or_insert(0);
        if *mine >= max_per_client {
            return Err(Refusal::ClientFull);
        }
        *mine += 1;
        st.open += 1;
        Ok(Pass { gate: self.clone(), ip })
    }

    /// Open connections now.
    pub fn open(&self) -> usize {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).open
    }
}

impl Drop for Pass {
    fn drop(&mut self) {
        let mut st = self.gate.inner.lock().unwrap_or_else(PoisonError::into_inner);
        st.open = st.open.saturating_sub(1);
        if let Some(n) = st.per_client.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                st.per_client.remove(&self.ip);
            }
        }
    }
}

/// Refused connections are logged at most once per this, with how many were refused since.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `cancel` fires, then lets open requests finish (the phase's
/// shutdown deadline bounds the wait).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    settings: watch::Receiver<Arc<Settings>>,
    metrics: Metrics,
    cancel: CancellationToken,
) {
    let gate = Gate::default();
    let connections = TaskTracker::new();
    let mut refusals = Throttle::new(REFUSAL_LOG_EVERY);
    let mut accept_failure_logged = false;
    loop {
        let accepted = tokio::select! {
            () = cancel.cancelled() => break,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => {
                accept_failure_logged = false;
                a
            }
            Err(e) => {
                // EMFILE/ENFILE and the like: the connection stays in the kernel's queue; wait a
                // little so the loop does not spin, and say so once per spell.
                if !accept_failure_logged {
                    tracing::warn!(error = %e, "API cannot accept a connection");
                    accept_failure_logged = true;
                }
                tokio::select! {
                    () = cancel.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_millis(100)) => continue,
                }
            }
        };
        let (max, per_client, timeout) = {
            let s = settings.borrow();
            (s.api.max_connections, s.api.max_connections_per_client, s.api.request_timeout)
        };
        let pass = match gate.enter(peer.ip(), max, per_client) {
            Ok(p) => p,
            Err(why) => {
                metrics.inc(Metric::ApiConnectionsRefused, &[(Label::Limit, why.label())]);
                if let Some(refused) = refusals.note(Instant::now()) {
                    tracing::warn!(
                        client = %peer.ip(),
                        limit = why.label(),
                        refused,
                        "API connection closed at once: too many open connections (see api.max_connections)"
                    );
                }
                drop(stream);
                continue;
            }
        };
        metrics.set(Metric::ApiConnections, &[], gate.open() as f64);
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let (cancel, gate, metrics) = (cancel.clone(), gate.clone(), metrics.clone());
        connections.spawn(async move {
            connection(stream, peer, app, timeout, cancel).await;
            drop(pass);
            metrics.set(Metric::ApiConnections, &[], gate.open() as f64);
        });
    }
    // New connections are refused from here on, not left hanging in the kernel's queue.
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// How long an open connection may take to finish its request once the API stops; a client
/// that is slow to send or to read does not hold up the shutdown longer.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    app: Router,
    timeout: Duration,
    cancel: CancellationToken,
) {
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let mut app = app.clone();
        async move { tower_service::Service::call(&mut app, req).await }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(timeout)
        .max_buf_size(64 * 1024)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        () = cancel.cancelled() => {
            // Finish the request in flight (an event stream ends on the same token), then close;
            // after the grace period the connection is dropped as it is.
            conn.as_mut().graceful_shutdown();
            match tokio::time::timeout(SHUTDOWN_GRACE, conn.as_mut()).await {
                Ok(r) => r,
                Err(_) => {
                    tracing::debug!(client = %peer, "API connection closed at shutdown");
                    return;
                }
            }
        }
    };
    if let Err(e) = result {
        tracing::debug!(client = %peer, error = %e, "API connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn the_gate_caps_connections_in_all_and_per_client() {
        let gate = Gate::default();
        let a1 = gate.enter(ip(2), 3, 2).expect("first from .2");
        let _a2 = gate.enter(ip(2), 3, 2).expect("second from .2");
        assert!(matches!(gate.enter(ip(2), 3, 2), Err(Refusal::ClientFull)));
        let _b1 = gate.enter(ip(3), 3, 2).expect("first from .3");
        assert!(matches!(gate.enter(ip(4), 3, 2), Err(Refusal::Full)));
        drop(a1);
        assert_eq!(gate.open(), 2);
        gate.enter(ip(2), 3, 2).expect("a place came free");
    }
}

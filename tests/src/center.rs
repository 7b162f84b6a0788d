//! A test relay center (axum over TLS, the server certificate from a [`TestCa`]) that speaks
//! Porchlight's relay protocol (`docs/ref/relay-protocol.md`): it hands out the requests a test
//! queues to the hub's long poll and records every decision the hub posts.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::WAIT;
use crate::tls::TestCa;

#[derive(Debug, Default)]
struct Recorded {
    decisions: Vec<Value>,
    polls: usize,
    /// Uploads by path under the hub (`requests/<id>/clips/<camera>[/manifest]`).
    uploads: std::collections::BTreeMap<String, Vec<u8>>,
    /// Live stream starts the hub announced (`{"id", "camera", "body"}`), in order.
    live: Vec<Value>,
    /// Offers the hub made (the bodies of `POST …/offers`), in order.
    offers: Vec<Value>,
}

#[derive(Debug)]
struct Shared {
    hub_id: String,
    token: String,
    queue: Mutex<Vec<Value>>,
    queued: Notify,
    /// Where the hub is told to push each live stream, by `<id>/<camera>`.
    ingest: Mutex<std::collections::HashMap<String, String>>,
    recorded: Mutex<Recorded>,
    changed: Condvar,
}

/// A running test center on 127.0.0.1.
#[derive(Debug)]
pub struct Center {
    /// `https://127.0.0.1:<port>/rtcc`
    pub url: String,
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
}

/// TLS on accepted connections (a failed handshake is dropped and the next one accepted).
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else { continue };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

impl Center {
    /// Starts a center that knows one hub, `hub_id`, by its `token`.
    pub fn start(ca: &TestCa, hub_id: &str, token: &str) -> Self {
        Self::start_on(0, ca, hub_id, token)
    }

    /// Like [`Center::start`], on a given loopback port (0: any), e.g. one a hub already tries.
    pub fn start_on(port: u16, ca: &TestCa, hub_id: &str, token: &str) -> Self {
        let shared = Arc::new(Shared {
            hub_id: hub_id.to_owned(),
            token: token.to_owned(),
            queue: Mutex::default(),
            queued: Notify::new(),
            ingest: Mutex::default(),
            recorded: Mutex::default(),
            changed: Condvar::new(),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let config = ca.server_config();
        let state = Arc::clone(&shared);
        let port = runtime.block_on(async move {
            let tcp = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
            let port = tcp.local_addr().expect("addr").port();
            let listener = TlsListener { tcp, acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)) };
            let app = Router::new()
                .route("/rtcc/v1/hubs/{hub}/requests", get(requests))
                .route("/rtcc/v1/hubs/{hub}/requests/{id}/decision", post(decision))
                .route("/rtcc/v1/hubs/{hub}/requests/{id}/clips/{camera}", axum::routing::put(upload))
                .route(
                    "/rtcc/v1/hubs/{hub}/requests/{id}/clips/{camera}/manifest",
                    axum::routing::put(upload),
                )
                .route("/rtcc/v1/hubs/{hub}/requests/{id}/snapshots/{camera}", axum::routing::put(upload))
                .route(
                    "/rtcc/v1/hubs/{hub}/requests/{id}/snapshots/{camera}/manifest",
                    axum::routing::put(upload),
                )
                .route("/rtcc/v1/hubs/{hub}/requests/{id}/live/{camera}", post(live))
                .route("/rtcc/v1/hubs/{hub}/offers", post(offer))
                .with_state(state);
            tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
            port
        });
        Self { url: format!("https://127.0.0.1:{port}/rtcc"), shared, runtime: Some(runtime) }
    }

    /// Queues a request (any JSON: tests send malformed ones too) for the hub's next poll.
    pub fn push(&self, item: Value) {
        self.shared.queue.lock().unwrap_or_else(PoisonError::into_inner).push(item);
        self.shared.queued.notify_waiters();
    }

    /// Queues several items at once (they arrive in one poll answer).
    pub fn push_all(&self, items: Vec<Value>) {
        self.shared.queue.lock().unwrap_or_else(PoisonError::into_inner).extend(items);
        self.shared.queued.notify_waiters();
    }

    /// Every decision posted so far (`{"id", "body"}`), in order.
    pub fn decisions(&self) -> Vec<Value> {
        self.shared.recorded.lock().unwrap_or_else(PoisonError::into_inner).decisions.clone()
    }

    /// The first posted decision body for request `id` that satisfies `pred`, waiting for it.
    pub fn wait_decision(&self, id: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        let mut g = self.shared.recorded.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(d) = g.decisions.iter().find(|d| d["id"] == id && pred(&d["body"])) {
                return d["body"].clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no matching decision for {id}; got {:?}", g.decisions);
            g = self.shared.changed.wait_timeout(g, left).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    /// Waits until `n` decisions have been posted in all.
    pub fn wait_until_decisions(&self, n: usize) {
        let deadline = Instant::now() + WAIT;
        let mut g = self.shared.recorded.lock().unwrap_or_else(PoisonError::into_inner);
        while g.decisions.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "only {} decisions: {:?}", g.decisions.len(), g.decisions);
            g = self.shared.changed.wait_timeout(g, left).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    /// The body uploaded to `requests/<rest>` (e.g. `r-1/clips/front`), waiting for it.
    pub fn wait_upload(&self, rest: &str) -> Vec<u8> {
        let key = format!("requests/{rest}");
        let deadline = Instant::now() + WAIT;
        let mut g = self.shared.recorded.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(b) = g.uploads.get(&key) {
                return b.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no upload {key}; got {:?}", g.uploads.keys().collect::<Vec<_>>());
            g = self.shared.changed.wait_timeout(g, left).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    /// Paths of every upload so far.
    pub fn uploads(&self) -> Vec<String> {
        self.shared.recorded.lock().unwrap_or_else(PoisonError::into_inner).uploads.keys().cloned().collect()
    }

    /// Tells the hub to push the live stream of `camera` for request `id` (`*`: any request)
    /// to `url` (an RTSP receiver the test runs). Without it the center answers 404.
    pub fn set_ingest(&self, id: &str, camera: &str, url: &str) {
        self.shared
            .ingest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(format!("{id}/{camera}"), url.to_owned());
    }

    /// The first offer the hub made, waiting for it.
    pub fn wait_offer(&self) -> Value {
        let deadline = Instant::now() + WAIT;
        let mut g = self.shared.recorded.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(o) = g.offers.first() {
                return o.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no offer from the hub");
            g = self.shared.changed.wait_timeout(g, left).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    /// Every offer so far.
    pub fn offers(&self) -> Vec<Value> {
        self.shared.recorded.lock().unwrap_or_else(PoisonError::into_inner).offers.clone()
    }

    /// Every live start the hub announced (`{"id", "camera", "body"}`).
    pub fn live_starts(&self) -> Vec<Value> {
        self.shared.recorded.lock().unwrap_or_else(PoisonError::into_inner).live.clone()
    }

    /// Waits until the hub has polled `n` times in all.
    pub fn wait_polls(&self, n: usize) {
        let deadline = Instant::now() + WAIT;
        let mut g = self.shared.recorded.lock().unwrap_or_else(PoisonError::into_inner);
        while g.polls < n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "the hub did not poll {n} times");
            g = self.shared.changed.wait_timeout(g, left).unwrap_or_else(PoisonError::into_inner).0;
        }
    }
}

impl Drop for Center {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_millis(100));
        }
    }
}

/// `None` if the hub may call, else the refusal to send.
fn refusal(s: &Shared, hub: &str, headers: &HeaderMap) -> Option<Response> {
    let given = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    if given != format!("Bearer {}", s.token) {
        return Some((StatusCode::UNAUTHORIZED, axum::Json(json!({ "error": "bad token" }))).into_response());
    }
    if hub != s.hub_id {
        return Some((StatusCode::NOT_FOUND, axum::Json(json!({ "error": "unknown hub" }))).into_response());
    }
    None
}

/// The JSON body of a call from the hub, or the answer refusing it (bad token, unknown hub,
/// not JSON).
fn json_from_hub(s: &Shared, hub: &str, headers: &HeaderMap, body: &[u8]) -> Result<Value, Box<Response>> {
    if let Some(r) = refusal(s, hub, headers) {
        return Err(Box::new(r));
    }
    serde_json::from_slice(body).map_err(|_| Box::new((StatusCode::BAD_REQUEST, "not JSON").into_response()))
}

async fn requests(
    State(s): State<Arc<Shared>>,
    Path(hub): Path<String>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = refusal(&s, &hub, &headers) {
        return r;
    }
    {
        let mut g = s.recorded.lock().unwrap_or_else(PoisonError::into_inner);
        g.polls += 1;
        s.changed.notify_all();
    }
    let wait = q.get("wait").and_then(|w| w.parse::<u64>().ok()).unwrap_or(0).min(30);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    loop {
        let notified = s.queued.notified();
        let items: Vec<Value> = std::mem::take(&mut *s.queue.lock().unwrap_or_else(PoisonError::into_inner));
        if !items.is_empty() {
            return axum::Json(json!({ "requests": items })).into_response();
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return axum::Json(json!({ "requests": [] })).into_response();
        }
    }
}

async fn decision(
    State(s): State<Arc<Shared>>,
    Path((hub, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let body = match json_from_hub(&s, &hub, &headers, &body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let mut g = s.recorded.lock().unwrap_or_else(PoisonError::into_inner);
    g.decisions.push(json!({ "id": id, "body": body }));
    s.changed.notify_all();
    StatusCode::NO_CONTENT.into_response()
}

fn store(s: &Shared, key: String, body: axum::body::Bytes) {
    let mut g = s.recorded.lock().unwrap_or_else(PoisonError::into_inner);
    g.uploads.insert(key, body.to_vec());
    s.changed.notify_all();
}

/// `PUT …/clips/<camera>` and `PUT …/clips/<camera>/manifest`: stored by path.
async fn upload(
    State(s): State<Arc<Shared>>,
    Path((hub, id, camera)): Path<(String, String, String)>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(r) = refusal(&s, &hub, &headers) {
        return r;
    }
    let suffix = if uri.path().ends_with("/manifest") { "/manifest" } else { "" };
    let what = if uri.path().contains("/snapshots/") { "snapshots" } else { "clips" };
    store(&s, format!("requests/{id}/{what}/{camera}{suffix}"), body);
    StatusCode::NO_CONTENT.into_response()
}

async fn live(
    State(s): State<Arc<Shared>>,
    Path((hub, id, camera)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let body = match json_from_hub(&s, &hub, &headers, &body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let url = {
        let ingest = s.ingest.lock().unwrap_or_else(PoisonError::into_inner);
        ingest.get(&format!("{id}/{camera}")).or_else(|| ingest.get(&format!("*/{camera}"))).cloned()
    };
    let mut g = s.recorded.lock().unwrap_or_else(PoisonError::into_inner);
    g.live.push(json!({ "id": id, "camera": camera, "body": body }));
    s.changed.notify_all();
    match url {
        Some(u) => axum::Json(json!({ "ingest": u })).into_response(),
        None => (StatusCode::NOT_FOUND, axum::Json(json!({ "error": "no ingest for this stream" })))
            .into_response(),
    }
}

async fn offer(
    State(s): State<Arc<Shared>>,
    Path(hub): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let body = match json_from_hub(&s, &hub, &headers, &body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let mut g = s.recorded.lock().unwrap_or_else(PoisonError::into_inner);
    g.offers.push(body);
    s.changed.notify_all();
    StatusCode::ACCEPTED.into_response()
}

//! The real MQTT broker for tests: Debian's `mosquitto` on an ephemeral loopback port, in a
//! temp dir, stopped by PID; and an [`Observer`], an MQTT client that records every message it
//! sees (like `mosquitto_sub -v -t '#'`) and can publish commands.
//!
//! When mosquitto is not installed, [`Broker::start`] returns `None` so the test can skip,
//! unless [`peers_required`] is true: then it panics.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::{WAIT, peers_required};

const MOSQUITTO: &str = "/usr/sbin/mosquitto";

/// A mosquitto broker on 127.0.0.1.
#[derive(Debug)]
pub struct Broker {
    dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
    /// Keep retained messages and persistent sessions across [`Broker::restart`].
    persistent: bool,
    /// TLS only, with a client certificate signed by this CA required.
    tls: Option<(PathBuf, PathBuf, PathBuf)>,
}

impl Broker {
    /// Starts a broker, or `None` (skip) when mosquitto is not installed.
    pub fn start() -> Option<Self> {
        Self::start_with(false, None)
    }

    /// A broker that speaks only TLS with `ca`'s server certificate and requires a client
    /// certificate signed by `ca`.
    pub fn start_tls(ca: &crate::tls::TestCa) -> Option<Self> {
        Self::start_with(false, Some((ca.file("ca.pem"), ca.file("server.pem"), ca.file("server.key"))))
    }

    /// A broker that saves its state (retained messages, sessions of clients that asked for a
    /// persistent one) when it stops, and loads it when it starts again.
    pub fn start_persistent() -> Option<Self> {
        Self::start_with(true, None)
    }

    fn start_with(persistent: bool, tls: Option<(PathBuf, PathBuf, PathBuf)>) -> Option<Self> {
        if !std::path::Path::new(MOSQUITTO).exists() {
            assert!(!peers_required(), "mosquitto is required: apt-get install mosquitto mosquitto-clients");
            eprintln!("skipping: mosquitto is not installed (apt-get install mosquitto)");
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        // An ephemeral port, released just before mosquitto takes it.
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let mut b = Self { dir, port, child: None, persistent, tls };
        b.launch();
        Some(b)
    }

    fn config(&self) -> PathBuf {
        let path = self.dir.path().join("mosquitto.conf");
        let mut text = format!("listener {} 127.0.0.1\nallow_anonymous true\n", self.port);
        if self.persistent {
            text.push_str(&format!(
                "persistence true\npersistence_location {}/\n",
                self.dir.path().display()
            ));
        } else {
            text.push_str("persistence false\n");
        }
        if let Some((ca, cert, key)) = &self.tls {
            text.push_str(&format!(
                "cafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true\n",
                ca.display(),
                cert.display(),
                key.display()
            ));
        }
        text.push_str("log_dest stderr\nlog_type all\n");
        std::fs::write(&path, text).expect("write mosquitto.conf");
        path
    }

    fn launch(&mut self) {
        let mut child = Command::new(MOSQUITTO)
            .arg("-c")
            .arg(self.config())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mosquitto");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        // mosquitto says it is running once its listener is open.
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) if line.contains(" running") => break,
                Ok(line) => seen.push(line),
                Err(_) => panic!("mosquitto did not start on port {}: {}", self.port, seen.join("\n")),
            }
        }
        // Keep draining its log so it never blocks on a full pipe.
        std::thread::spawn(move || while rx.recv().is_ok() {});
        self.child = Some(child);
    }

    /// Stops the broker (SIGTERM, waiting for it to exit). mosquitto 2.0 forgets a SIGTERM that
    /// arrives just before its main loop starts, so the signal is sent again while it lives, and
    /// after 5 s it is killed.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                if !matches!(c.try_wait(), Ok(None)) {
                    break;
                }
                if Instant::now() >= deadline {
                    let _ = c.kill();
                    let _ = c.wait();
                    break;
                }
                let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
                // Polled: a child's exit has no waitable signal with a timeout in std.
                for _ in 0..10 {
                    if !matches!(c.try_wait(), Ok(None)) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// The `[mqtt]` section for a daemon using this broker.
    pub fn section(&self, extra: &str) -> String {
        format!("[mqtt]\nenabled = true\nhost = \"127.0.0.1\"\nport = {}\n{extra}\n", self.port)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// One message as the observer saw it.
#[derive(Debug, Clone)]
pub struct Message {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}

impl Message {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload)
            .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {}", self.topic, self.text()))
    }
}

#[derive(Debug, Default)]
struct Seen {
    messages: Vec<Message>,
    connects: usize,
}

/// An MQTT client subscribed to `#` that records everything, reconnecting (and resubscribing)
/// when the broker goes away.
pub struct Observer {
    client: rumqttc::Client,
    seen: Arc<(Mutex<Seen>, Condvar)>,
}

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observer").field("messages", &self.len()).finish_non_exhaustive()
    }
}

impl Observer {
    /// A clean session: retained messages arrive after each (re)subscribe.
    pub fn connect(broker: &Broker) -> Self {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self::connect_with(broker, &format!("observer-{}-{n}", std::process::id()), true)
    }

    /// A persistent session under `id` (QoS 1): messages published while the observer is away
    /// wait for it in the broker.
    pub fn connect_persistent(broker: &Broker, id: &str) -> Self {
        Self::connect_with(broker, id, false)
    }

    fn connect_with(broker: &Broker, id: &str, clean: bool) -> Self {
        let mut o = rumqttc::MqttOptions::new(id, "127.0.0.1", broker.port);
        o.set_clean_session(clean);
        o.set_keep_alive(Duration::from_secs(5));
        o.set_max_packet_size(4 << 20, 4 << 20);
        let (client, mut connection) = rumqttc::Client::new(o, 64);
        let seen: Arc<(Mutex<Seen>, Condvar)> = Arc::default();
        let sink = Arc::clone(&seen);
        let sub = client.clone();
        std::thread::spawn(move || {
            let mut failures = 0u32;
            for event in connection.iter() {
                match event {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(_))) => {
                        failures = 0;
                        let _ = sub.try_subscribe("#", rumqttc::QoS::AtLeastOnce);
                        let (m, cv) = &*sink;
                        m.lock().unwrap_or_else(PoisonError::into_inner).connects += 1;
                        cv.notify_all();
                    }
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                        let (m, cv) = &*sink;
                        m.lock().unwrap_or_else(PoisonError::into_inner).messages.push(Message {
                            topic: p.topic.clone(),
                            payload: p.payload.to_vec(),
                            retain: p.retain,
                        });
                        cv.notify_all();
                    }
                    Ok(_) => {}
                    Err(_) => {
                        // The broker is away (restarting): a short, growing pause before the
                        // iterator reconnects, so the loop does not spin. Bounded in count.
                        failures += 1;
                        if failures > 600 {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(50 * u64::from(failures.min(4))));
                    }
                }
            }
        });
        let obs = Self { client, seen };
        obs.wait_connects(1);
        obs
    }

    /// Waits until the observer has connected `n` times in all.
    pub fn wait_connects(&self, n: usize) {
        let (m, cv) = &*self.seen;
        let deadline = Instant::now() + WAIT;
        let mut g = m.lock().unwrap_or_else(PoisonError::into_inner);
        while g.connects < n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "observer did not connect {n} times");
            g = cv.wait_timeout(g, left).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    /// Messages seen so far.
    pub fn len(&self) -> usize {
        self.seen.0.lock().unwrap_or_else(PoisonError::into_inner).messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn messages(&self) -> Vec<Message> {
        self.seen.0.lock().unwrap_or_else(PoisonError::into_inner).messages.clone()
    }

    /// The first message after the first `skip` that matches `pred`, waiting for it.
    pub fn wait_after(&self, skip: usize, what: &str, pred: impl Fn(&Message) -> bool) -> Message {
        let (m, cv) = &*self.seen;
        let deadline = Instant::now() + WAIT;
        let mut g = m.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(found) = g.messages.iter().skip(skip).find(|m| pred(m)) {
                return found.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let topics: Vec<String> =
                    g.messages.iter().skip(skip).map(|m| format!("{} {}", m.topic, m.text())).collect();
                panic!("no MQTT message: {what}; seen after {skip}:\n{}", topics.join("\n"));
            }
            g = cv.wait_timeout(g, left).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    /// Waits until `cond` holds for the messages seen so far.
    pub fn wait_until(&self, what: &str, cond: impl Fn(&[Message]) -> bool) {
        let (m, cv) = &*self.seen;
        let deadline = Instant::now() + WAIT;
        let mut g = m.lock().unwrap_or_else(PoisonError::into_inner);
        while !cond(&g.messages) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let topics: Vec<String> =
                    g.messages.iter().map(|m| format!("{} {}", m.topic, m.text())).collect();
                panic!("not seen on MQTT: {what}; seen:\n{}", topics.join("\n"));
            }
            g = cv.wait_timeout(g, left).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    /// The first message (from the start) on `topic` whose text satisfies `pred`.
    pub fn wait(&self, topic: &str, pred: impl Fn(&str) -> bool) -> Message {
        self.wait_after(0, topic, |m| m.topic == topic && pred(&m.text()))
    }

    /// The latest message on `topic`, if any.
    pub fn last(&self, topic: &str) -> Option<Message> {
        self.messages().into_iter().rev().find(|m| m.topic == topic)
    }

    pub fn publish(&self, topic: &str, payload: &[u8], retain: bool) {
        self.client
            .publish(topic, rumqttc::QoS::AtLeastOnce, retain, payload.to_vec())
            .expect("observer publish");
    }
}

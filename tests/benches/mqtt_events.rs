//! MQTT event latency (`cargo bench -p porchlight-e2e --bench mqtt_events`): from a doorbell
//! press reported to the daemon (`POST /api/cameras/{name}/events`, which publishes it on the
//! bus) to `porchlight/<camera>/doorbell` arriving at another client of a real mosquitto broker
//! on loopback. Goal: p99 ≤ 20 ms. Results: docs/benchmarks.md.

#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use porchlight_e2e::mqtt::{Broker, Observer};
use porchlight_e2e::{Daemon, Setup};
use serde_json::json;

/// Presses measured for the percentiles (each waits for its message; bounded by the observer's
/// deadline).
const PRESSES: usize = 500;

fn bench(c: &mut Criterion) {
    let Some(broker) = Broker::start() else { return };
    let obs = Observer::connect(&broker);
    let setup = Setup::new(&format!(
        "[[camera]]\nname = \"door\"\nrtsp_url = \"rtsp://127.0.0.1:9/door\"\nrecord = \"off\"\n\n{}",
        broker.section("")
    ));
    let d = Daemon::start(&setup.config);
    obs.wait("porchlight/door/motion", |t| t == "OFF");
    let api = std::cell::Cell::new(Duration::ZERO);
    let press = || {
        let mark = obs.len();
        let t0 = Instant::now();
        let (code, _) = d.post("/api/cameras/door/events", &json!({ "event": "doorbell_press" }));
        api.set(api.get() + t0.elapsed());
        assert_eq!(code, 202);
        obs.wait_after(mark, "doorbell", |m| m.topic == "porchlight/door/doorbell");
        t0.elapsed()
    };
    let mut samples: Vec<Duration> = (0..PRESSES).map(|_| press()).collect();
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!(
        "doorbell event → bus → MQTT → subscriber, {PRESSES} presses: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (of which the API call: mean {:.2} ms)",
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        samples[samples.len() - 1].as_secs_f64() * 1e3,
        api.get().as_secs_f64() * 1e3 / PRESSES as f64,
    );
    let mut group = c.benchmark_group("mqtt");
    group.sample_size(20);
    group.bench_function("doorbell event to MQTT subscriber", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| press()).sum());
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

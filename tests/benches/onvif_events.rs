//! ONVIF event latency (`cargo bench -p porchlight-e2e --bench onvif_events`): from a doorbell
//! press on a camera (the `oxvif` mock camera's digital input, pulsed over HTTP) to the
//! `doorbell_press` event arriving at a client of the daemon's event stream (`GET /api/events`).
//! That covers the pull loop, parsing, topic mapping and the bus; MQTT adds its own hop later.
//! Goal: p99 ≤ 100 ms end to end. Results: docs/benchmarks.md.

#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use oxvif::mock::MockServer;
use porchlight_e2e::{Daemon, EventStream, Setup, http_post_json, message};

/// Presses measured for the percentiles (each waits for its event; bounded by the stream's
/// own deadline).
const PRESSES: usize = 200;

fn bench(c: &mut Criterion) {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let server = runtime
        .block_on(async { MockServer::builder().enforce_auth(true).start().await.expect("mock camera") });
    let addr: std::net::SocketAddr =
        server.base_url().trim_start_matches("http://").parse().expect("address");
    let setup = Setup::new(&format!(
        "[[camera]]\nname = \"door\"\nonvif_url = {:?}\nusername = \"admin\"\npassword = \"admin\"\nrecord = \"off\"\n",
        server.device_url()
    ));
    let d = Daemon::start(&setup.config);
    d.wait_log("the subscription", |l| message(l) == "Subscribed to the camera's ONVIF events");
    let mut events = EventStream::open(d.addr.expect("api"), None);
    let set = |state: &str| {
        let path = format!("/mock/digital-input/DigitalInput_1/set?state={state}");
        let (code, body) = http_post_json(addr, &path, None, "");
        assert_eq!(code, 200, "{body}");
    };
    let mut press = || {
        let t0 = Instant::now();
        set("active");
        events.next_matching(|e| e["type"] == "doorbell_press");
        let took = t0.elapsed();
        // Release the button, and wait until the camera has nothing of ours queued (its own
        // motion events resume only then), so each press is measured from an idle camera.
        set("inactive");
        events.next_matching(|e| e["type"] == "motion_start" || e["type"] == "motion_end");
        took
    };
    // Percentiles over single presses.
    let mut samples: Vec<Duration> = (0..PRESSES).map(|_| press()).collect();
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!(
        "ONVIF doorbell press → bus event → SSE client, {PRESSES} presses: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        samples[samples.len() - 1].as_secs_f64() * 1e3
    );
    let mut group = c.benchmark_group("onvif");
    group.sample_size(20);
    group.bench_function("doorbell press to event stream", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| press()).sum());
    });
    group.finish();
    drop(d);
    runtime.block_on(async {
        let _ = server.shutdown().await;
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

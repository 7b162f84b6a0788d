//! The API while a burst of decisions is in flight (`cargo bench -p porchlight-e2e --bench
//! api_burst`): 200 concurrent `POST /api/policy/evaluate` to a policy that spins until its 9 ms
//! time limit stops it, and meanwhile `GET /api/health` one after another from a second client.
//! Decisions run on the bounded decision pool (`daemon/src/policy/pool.rs`), so health is
//! answered as fast as on an idle hub. Goal: health p99 ≤ 50 ms during the burst. Results:
//! docs/benchmarks.md.

#![allow(clippy::print_stdout)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use porchlight_e2e::{Daemon, Setup, attack_dry_run, http_get, http_post_json, plugin_bytes};

const BURST: usize = 200;
const ROUNDS: usize = 5;

fn percentiles(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    format!(
        "{} health calls: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        samples.len(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        samples[samples.len() - 1].as_secs_f64() * 1e3
    )
}

fn bench(c: &mut Criterion) {
    let setup = Setup::new(
        "[api]\nlisten = \"127.0.0.1:0\"\nmax_connections = 512\nmax_connections_per_client = 512\n\n\
         [[camera]]\nname = \"porch\"\nrtsp_url = \"rtsp://127.0.0.1:9/porch\"\nrecord = \"off\"\n\n\
         [plugins]\ndir = \"plugins\"\nenabled = [\"spin\"]\ntime_limit = \"9ms\"\n\n\
         [plugins.policy.spin]\nconfig = { mode = \"loop\" }\n",
    );
    std::fs::create_dir_all(setup.path("plugins")).expect("plugins dir");
    std::fs::write(setup.path("plugins/spin.wasm"), plugin_bytes("hostile-plugin")).expect("plugin");
    let d = Daemon::start(&setup.config);
    let addr = d.addr.expect("api address");

    let idle: Vec<Duration> = (0..200)
        .map(|_| {
            let t0 = Instant::now();
            assert_eq!(http_get(addr, "/api/health", None).0, 200);
            t0.elapsed()
        })
        .collect();
    println!("idle hub: {}", percentiles(idle));

    for round in 0..ROUNDS {
        let barrier = Arc::new(Barrier::new(BURST + 1));
        let clients: Vec<_> = (0..BURST)
            .map(|i| {
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    let body = attack_dry_run(&format!("burst-{round}-{i}"));
                    barrier.wait();
                    http_post_json(addr, "/api/policy/evaluate", None, &body).0
                })
            })
            .collect();
        let done = Arc::new(AtomicBool::new(false));
        let prober = {
            let (done, barrier) = (Arc::clone(&done), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                let mut samples = Vec::new();
                // Bounded: at most 20 000 calls or 60 s, whichever comes first.
                let deadline = Instant::now() + Duration::from_secs(60);
                while !done.load(Ordering::Relaxed) && samples.len() < 20_000 && Instant::now() < deadline {
                    let t0 = Instant::now();
                    assert_eq!(http_get(addr, "/api/health", None).0, 200);
                    samples.push(t0.elapsed());
                }
                samples
            })
        };
        let t0 = Instant::now();
        let codes: Vec<u16> = clients.into_iter().map(|c| c.join().expect("client")).collect();
        let burst = t0.elapsed();
        done.store(true, Ordering::Relaxed);
        let samples = prober.join().expect("prober");
        let busy = codes.iter().filter(|&&c| c == 503).count();
        let decided = codes.iter().filter(|&&c| c == 200).count();
        println!(
            "round {round}: {BURST} dry runs in {:.2} s ({decided} decided, {busy} refused as busy); {}",
            burst.as_secs_f64(),
            percentiles(samples)
        );
    }

    let mut group = c.benchmark_group("api");
    group.sample_size(50);
    group.bench_function("GET /api/health (idle hub)", |b| {
        b.iter(|| assert_eq!(http_get(addr, "/api/health", None).0, 200));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

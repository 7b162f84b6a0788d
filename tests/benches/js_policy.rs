//! JavaScript policy benchmarks (`cargo bench -p porchlight-e2e --bench js_policy`): the
//! JavaScript port of warrant-required (built with sdk-js, componentize-js) against the Rust
//! original, through the hub's real host: one decision's p50/p99 (a fresh instance per
//! decision, as in production), and load time with the compiled component in the on-disk cache
//! (as after a restart). Goals (docs/benchmarks.md): p99 ≤ 5 ms, load ≤ 1 s with the cache warm.
//! The first run compiles the JavaScript component (minutes in a debug build); it is cached in
//! `target/js-plugins/wasmtime-cache`.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use porchlight::config::PolicySettings;
use porchlight::policy::*;
use porchlight_e2e::bench_request::{context, request};
use porchlight_e2e::js::{js_plugin, skip_without_js};
use porchlight_e2e::plugin_bytes;

fn settings(name: &str) -> PolicySettings {
    PolicySettings {
        name: name.into(),
        file: format!("/nonexistent/{name}.wasm").into(),
        source: Some(porchlight::config::PolicySource::File),
        sha256: None,
        // Measured, not enforced here: a slow decision must show in the numbers, not as a deny.
        limits: Limits { time: Duration::from_secs(5), ..Limits::default() },
        config: "{}".into(),
    }
}

fn sorted(mut times: Vec<Duration>) -> Vec<Duration> {
    times.sort();
    times
}

fn at(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * q) as usize]
}

/// `n` decisions after `warm_up` untimed ones; the sorted times.
fn decisions(engine: &PolicyEngine, plugin: &Plugin, warm_up: usize, n: usize) -> Vec<Duration> {
    let (req, ctx) = (request(), context());
    for _ in 0..warm_up {
        engine.run(plugin, &req, &ctx);
    }
    sorted(
        (0..n)
            .map(|_| {
                let t = Instant::now();
                let (outcome, _) = engine.run(plugin, &req, &ctx);
                let took = t.elapsed();
                assert!(outcome.failure.is_none(), "{outcome:?}");
                took
            })
            .collect(),
    )
}

#[allow(clippy::print_stderr)]
fn bench(c: &mut Criterion) {
    if skip_without_js() {
        return;
    }
    let js_file = js_plugin("warrant-required");
    let cache = js_file.parent().expect("js-plugins dir").join("wasmtime-cache");
    std::fs::create_dir_all(&cache).expect("cache dir");
    let js = std::fs::read(&js_file).expect("read JS plugin");
    let rust = plugin_bytes("warrant-required");

    // Warm the on-disk cache (compiles the first time), then time loads from it: each a new
    // engine, as after a restart.
    let t = Instant::now();
    PolicyEngine::new(Some(&cache)).expect("engine").load(&settings("warrant-js"), &js).expect("load JS");
    eprintln!("JavaScript: first load {:?} (a compile unless the cache was warm)", t.elapsed());
    for (label, bytes) in [("JavaScript", &js), ("Rust", &rust)] {
        let loads = sorted(
            (0..5)
                .map(|_| {
                    let engine = PolicyEngine::new(Some(&cache)).expect("engine");
                    let t = Instant::now();
                    engine.load(&settings("warrant"), bytes).expect("load");
                    t.elapsed()
                })
                .collect(),
        );
        eprintln!(
            "{label}: load with the compile cache warm: median {:?}, max {:?}",
            at(&loads, 0.5),
            at(&loads, 1.0)
        );
    }

    let engine = PolicyEngine::new(Some(&cache)).expect("engine");
    let js_plugin = engine.load(&settings("warrant-js"), &js).expect("load JS");
    let rust_plugin = engine.load(&settings("warrant-rust"), &rust).expect("load Rust");
    let (_, usage) = engine.run(&js_plugin, &request(), &context());
    eprintln!("JavaScript: one decision uses {} fuel", usage.fuel);
    let (_, usage) = engine.run(&rust_plugin, &request(), &context());
    eprintln!("Rust: one decision uses {} fuel", usage.fuel);
    for (label, plugin, n) in [("JavaScript", &js_plugin, 1000), ("Rust", &rust_plugin, 5000)] {
        let times = decisions(&engine, plugin, n / 10, n);
        eprintln!(
            "{label}: decision p50 {:?}  p99 {:?}  max {:?} ({n} decisions)",
            at(&times, 0.50),
            at(&times, 0.99),
            at(&times, 1.0)
        );
    }

    let mut group = c.benchmark_group("js_policy");
    group.sample_size(20);
    let (req, ctx) = (request(), context());
    group.bench_function("decide/javascript", |b| b.iter(|| engine.run(&js_plugin, &req, &ctx)));
    group.bench_function("decide/rust", |b| b.iter(|| engine.run(&rust_plugin, &req, &ctx)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

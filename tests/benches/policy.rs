//! Policy engine benchmarks (`cargo bench -p porchlight-e2e --bench policy`): decision latency
//! with one and five plugins (a fresh Store per plugin per decision, as in production), plugin
//! compile time, load time with the compiled component cached (in memory, and on disk as after a
//! restart), and the same policy as native Rust. Results and goals: docs/benchmarks.md.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use porchlight::config::{PluginSettings, PolicySettings};
use porchlight::policy::*;
use porchlight_e2e::bench_request::{NOW, context, request};
use porchlight_e2e::plugin_bytes;

fn settings(dir: &std::path::Path, name: &str, config: &str) -> PolicySettings {
    PolicySettings {
        name: name.into(),
        file: dir.join(format!("{name}.wasm")),
        source: Some(porchlight::config::PolicySource::File),
        sha256: None,
        limits: Limits::default(),
        config: config.into(),
    }
}

/// Criterion reports means; the goals are percentiles. 5000 timed runs after 500 warm-up runs.
#[allow(clippy::print_stderr)]
fn percentiles(name: &str, f: impl FnMut()) {
    let times = timed(500, 5000, f);
    eprintln!("{name}: p50 {:?}  p99 {:?}  max {:?}", at(&times, 0.50), at(&times, 0.99), at(&times, 1.0));
}

/// `n` timed runs of `f` after `warm_up` untimed ones, sorted.
fn timed(warm_up: usize, n: usize, mut f: impl FnMut()) -> Vec<std::time::Duration> {
    for _ in 0..warm_up {
        f();
    }
    let mut times: Vec<std::time::Duration> = (0..n)
        .map(|_| {
            let t = std::time::Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times
}

fn at(sorted: &[std::time::Duration], q: f64) -> std::time::Duration {
    sorted[((sorted.len() as f64 - 1.0) * q) as usize]
}

/// This machine runs the same code at two speeds, switching every few minutes or seconds
/// (docs/benchmarks.md), so one batch of percentiles says as much about the machine as about
/// the code. Ten rounds, each 5000 plugin decisions and then 5000 native ones: the native
/// p50 of each round shows which speed that round got.
#[allow(clippy::print_stderr)]
fn rounds(mut wasm: impl FnMut(), mut native: impl FnMut()) {
    let mut p50s = Vec::new();
    for round in 1..=10 {
        let w = timed(500, 5000, &mut wasm);
        let n = timed(500, 5000, &mut native);
        eprintln!(
            "round {round:2}: 1 plugin p50 {:?}  p99 {:?}   native p50 {:?}",
            at(&w, 0.50),
            at(&w, 0.99),
            at(&n, 0.50)
        );
        p50s.push((at(&w, 0.50), at(&w, 0.99)));
    }
    p50s.sort();
    eprintln!(
        "rounds: 1 plugin p50 {:?} (median round), {:?} .. {:?} (fastest .. slowest round)",
        p50s[p50s.len() / 2].0,
        p50s[0].0,
        p50s[p50s.len() - 1].0
    );
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let install = |name: &str, from: &str| {
        std::fs::write(dir.path().join(format!("{name}.wasm")), plugin_bytes(from)).expect("write");
    };
    install("warrant-required", "warrant-required");
    install("street-only", "street-only");
    install("quiet-hours", "quiet-hours");
    install("emergency-live", "emergency-live");
    install("deny-all", "deny-all");
    let req = request();
    let ctx = context();

    let native_req = porchlight_sdk::testing::with_warrant(
        porchlight_sdk::testing::clip(&["front", "drive"], NOW - 3600, NOW - 60),
        &["front"],
        NOW - 1800,
        NOW,
    );
    let native_ctx = porchlight_sdk::testing::context(NOW, &[("front", &["street"]), ("drive", &["street"])]);
    let native = || {
        black_box(porchlight_sdk::testing::decide::<porchlight_plugin_warrant_required::WarrantRequired>(
            "{}",
            &native_req,
            &native_ctx,
        ));
    };

    let one = PolicyEngine::new(None).expect("engine");
    one.reload(&PluginSettings {
        dir: dir.path().to_owned(),
        enabled: vec![settings(dir.path(), "warrant-required", "{}")],
        limits: Default::default(),
    });
    percentiles("decide/1 plugin", || {
        black_box(one.decide(&req, &ctx));
    });
    rounds(
        || {
            black_box(one.decide(&req, &ctx));
        },
        native,
    );
    c.bench_function("decide/1 plugin (warrant-required)", |b| {
        b.iter(|| black_box(one.decide(black_box(&req), black_box(&ctx))))
    });

    let five = PolicyEngine::new(None).expect("engine");
    five.reload(&PluginSettings {
        dir: dir.path().to_owned(),
        enabled: vec![
            settings(dir.path(), "street-only", "{}"),
            settings(dir.path(), "quiet-hours", r#"{"start":"02:00","end":"03:00"}"#),
            settings(dir.path(), "emergency-live", "{}"),
            settings(dir.path(), "warrant-required", "{}"),
            settings(dir.path(), "deny-all", "{}"),
        ],
        limits: Default::default(),
    });
    percentiles("decide/5 plugins", || {
        black_box(five.decide(&req, &ctx));
    });
    c.bench_function("decide/5 plugins", |b| {
        b.iter(|| black_box(five.decide(black_box(&req), black_box(&ctx))))
    });

    // The same machine can be half as fast from one minute to the next (docs/benchmarks.md):
    // the native decision in the same run shows which it was.
    percentiles("decide/native Rust (this run's reference)", native);
    c.bench_function("decide/native Rust (warrant-required)", |b| {
        b.iter(|| {
            black_box(porchlight_sdk::testing::decide::<porchlight_plugin_warrant_required::WarrantRequired>(
                "{}",
                black_box(&native_req),
                black_box(&native_ctx),
            ))
        })
    });

    let bytes = plugin_bytes("warrant-required");
    let mut slow = c.benchmark_group("load");
    slow.sample_size(10);
    slow.bench_function("compile (warrant-required)", |b| {
        b.iter(|| black_box(one.host().compile(black_box(&bytes)).expect("compile")))
    });
    slow.bench_function("load with compiled component cached", |b| {
        let s = settings(dir.path(), "warrant-required", "{}");
        b.iter(|| black_box(one.load(&s, black_box(&bytes)).expect("load")))
    });
    // After a restart: the daemon's engine finds the compiled code in wasmtime's on-disk cache
    // under data_dir (componentizing still runs; compiling does not).
    let cache = tempfile::tempdir().expect("tempdir");
    let on_disk = PolicyEngine::new(Some(cache.path())).expect("engine");
    on_disk.host().compile(&bytes).expect("compile once, filling the cache");
    slow.bench_function("compile with the on-disk cache filled (a restart)", |b| {
        b.iter(|| black_box(on_disk.host().compile(black_box(&bytes)).expect("compile")))
    });
    slow.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! The policy engine through the real wasmtime host, with real compiled plugins: the example
//! policies, composition, privacy mode, hot swap, and a hostile corpus (built here) that must
//! always end in `deny` or a clear load error — never in sharing.

use std::path::PathBuf;
use std::sync::OnceLock;

use jiff::Timestamp;
use porchlight::config::PolicySettings;
use porchlight::digest::sha256_hex;
use porchlight::policy::*;
use porchlight_e2e::plugin_bytes;

fn ts(s: i64) -> Timestamp {
    Timestamp::from_second(s).expect("timestamp")
}

const NOW: i64 = 1_800_000_000;

fn settings(name: &str, config: &str) -> PolicySettings {
    PolicySettings {
        name: name.to_owned(),
        file: PathBuf::from(format!("/nonexistent/{name}.wasm")),
        // The files just built from `plugins/`, never the policies bundled under these names.
        source: Some(porchlight::config::PolicySource::File),
        sha256: None,
        // A generous wall-clock limit: these tests run an unoptimised host on a busy 2-core CI
        // machine, where 10 ms can pass in scheduling alone. Runaway plugins are still stopped
        // by the fuel limit (and the time limit), which is what the tests check.
        limits: Limits { time: std::time::Duration::from_secs(2), ..Limits::default() },
        config: config.to_owned(),
    }
}

/// One engine per test process: creating one reserves the pooling allocator's address space.
fn engine() -> &'static PolicyEngine {
    static E: OnceLock<PolicyEngine> = OnceLock::new();
    E.get_or_init(|| PolicyEngine::new(None).expect("engine"))
}

fn load(name: &str, file: &str, config: &str) -> Plugin {
    engine().load(&settings(name, config), &plugin_bytes(file)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn police() -> Requester {
    Requester { organisation: "City Police".into(), person: "Det. Smith".into(), kind: RequesterKind::Police }
}

fn clip(cameras: &[&str], from: i64, to: i64, reason: &str) -> Request {
    Request {
        id: "r1".into(),
        requester: police(),
        kind: RequestKind::Clip {
            cameras: cameras.iter().map(|c| (*c).to_owned()).collect(),
            from: ts(from),
            to: ts(to),
        },
        reason: reason.into(),
        case_number: Some("2026-1234".into()),
        legal_basis: LegalBasis::None,
        received_at: ts(NOW),
    }
}

fn with_warrant(mut r: Request, cameras: &[&str], from: i64, to: i64) -> Request {
    r.legal_basis = LegalBasis::Warrant {
        reference: "W-77".into(),
        court: "District Court".into(),
        issued: ts(NOW - 86_400),
        expires: ts(NOW + 86_400),
        scope: WarrantScope {
            cameras: cameras.iter().map(|c| (*c).to_owned()).collect(),
            from: ts(from),
            to: ts(to),
        },
    };
    r
}

fn context() -> Context {
    let cam = |name: &str, tags: &[&str]| CameraInfo {
        name: name.into(),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        last_motion: None,
        last_doorbell: None,
        last_alarm: None,
    };
    Context {
        now: ts(NOW),
        mode: HubMode::Home,
        privacy: false,
        cameras: vec![
            cam("front", &["street", "doorbell"]),
            cam("drive", &["street"]),
            cam("kitchen", &["indoor"]),
        ],
    }
}

fn decide_one(p: &Plugin, r: &Request) -> PluginOutcome {
    engine().run(p, r, &context()).0
}

#[test]
fn warrant_required_narrows_to_the_warrant() {
    let p = load("warrant-required", "warrant-required", "{}");
    let req = clip(&["front", "kitchen"], NOW - 3600, NOW - 60, "burglary on the street");
    let out = decide_one(&p, &req);
    assert_eq!(out.decision.outcome(), "deny", "{out:?}");
    assert!(out.failure.is_none());

    let req = with_warrant(req, &["front"], NOW - 1800, NOW);
    match decide_one(&p, &req).decision {
        Decision::Allow { grant } => {
            assert_eq!(grant.cameras, ["front"]);
            assert_eq!(grant.from, Some(ts(NOW - 1800)));
            assert_eq!(grant.to, Some(ts(NOW - 60)));
            assert!(grant.strip_audio);
        }
        other => panic!("{other:?}"),
    }
}

/// Plugins see whole seconds; a request with fractions must still be grantable in full.
#[test]
fn fractional_second_requests_are_clamped_not_refused() {
    let p = load("hostile-allow-frac", "hostile-plugin", r#"{"mode":"allow"}"#);
    let mut req = clip(&["front"], NOW - 600, NOW, "attack");
    req.kind = RequestKind::Clip {
        cameras: vec!["front".into()],
        from: "2027-01-15T07:50:00.250Z".parse().expect("t"),
        to: "2027-01-15T08:00:00.750Z".parse().expect("t"),
    };
    match decide_one(&p, &req).decision {
        Decision::Allow { grant } => {
            assert_eq!(grant.from.map(|t| t.to_string()).as_deref(), Some("2027-01-15T07:50:00.25Z"));
            assert_eq!(grant.to.map(|t| t.to_string()).as_deref(), Some("2027-01-15T08:00:00.75Z"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn ask_resident_asks_and_deny_all_denies() {
    let p = load("ask-resident", "ask-resident", r#"{"timeout_seconds": 600}"#);
    match decide_one(&p, &clip(&["front"], NOW - 600, NOW, "hit and run")).decision {
        Decision::Ask { prompt, timeout_seconds } => {
            assert_eq!(timeout_seconds, 600);
            assert!(prompt.contains("City Police"), "{prompt}");
        }
        other => panic!("{other:?}"),
    }
    let d = load("deny-all", "deny-all", r#"{"message": "not here"}"#);
    assert_eq!(decide_one(&d, &clip(&["front"], NOW - 600, NOW, "x")).decision, Decision::deny("not here"));
}

#[test]
fn emergency_live_offers_live_on_alarm_while_away() {
    let p = load("emergency-live", "emergency-live", "{}");
    let engine = PolicyEngine::new(None).expect("engine");
    let _ = &p;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("emergency-live.wasm"), plugin_bytes("emergency-live")).expect("write");
    let mut s = settings("emergency-live", "{}");
    s.file = dir.path().join("emergency-live.wasm");
    let plugins = porchlight::config::PluginSettings {
        dir: dir.path().to_owned(),
        enabled: vec![s],
        limits: Default::default(),
    };
    assert!(matches!(engine.reload(&plugins)[0], LoadReport::Loaded { .. }));
    let mut ctx = context();
    ctx.mode = HubMode::Away;
    let event = PolicyEvent { kind: EventKind::Alarm, camera: "front".into(), time: ts(NOW) };
    let offers = engine.on_event(&event, &ctx);
    assert_eq!(offers.len(), 1, "{offers:?}");
    assert!(matches!(&offers[0].1.kind, RequestKind::Live { cameras, .. } if cameras == &["front"]));
    ctx.mode = HubMode::Home;
    assert!(engine.on_event(&event, &ctx).is_empty());
    ctx.privacy = true;
    ctx.mode = HubMode::Away;
    assert!(engine.on_event(&event, &ctx).is_empty(), "no offers in privacy mode");
}

/// Every kind of misbehaviour ends in deny with a reason that says what happened.
#[test]
fn hostile_plugins_fail_closed() {
    let cases: &[(&str, &str)] = &[
        // Whichever limit it hits first: wall time or instructions.
        ("loop", "plugin ran out of"),
        ("recurse", ""),
        ("oom", "memory"),
        ("panic", "panicked"),
        ("escalate-camera", "camera \"kitchen\" was not requested"),
        ("escalate-time", "outside the requested"),
        ("bad-ask", "ask timeout"),
        ("empty-grant", "allow with no cameras"),
    ];
    let attack = clip(&["front", "drive"], NOW - 600, NOW, "attack");
    for (mode, expect) in cases {
        let p = load(&format!("hostile-{mode}"), "hostile-plugin", &format!(r#"{{"mode":"{mode}"}}"#));
        let out = decide_one(&p, &attack);
        assert_eq!(out.decision.outcome(), "deny", "{mode}: {out:?}");
        let failure = out.failure.clone().unwrap_or_else(|| panic!("{mode}: no failure recorded: {out:?}"));
        assert!(failure.contains(expect), "{mode}: {failure}");
    }
    // Live escalation.
    let p = load("hostile-live", "hostile-plugin", r#"{"mode":"escalate-live"}"#);
    let mut live = clip(&["front"], NOW - 600, NOW, "attack");
    live.kind = RequestKind::Live { cameras: vec!["front".into()], max_seconds: 60 };
    let out = decide_one(&p, &live);
    assert!(out.failure.as_deref().is_some_and(|f| f.contains("live for 3660s, 60s requested")), "{out:?}");

    // A 4 MiB deny reason is cut, not passed on whole.
    let p = load("hostile-huge", "hostile-plugin", r#"{"mode":"huge-string"}"#);
    match decide_one(&p, &attack).decision {
        Decision::Deny { reason } => assert!(reason.len() < 4096, "{} bytes", reason.len()),
        other => panic!("{other:?}"),
    }
    // Under a tight limit, an answer whose call (with the host lifting 4 MiB out of the
    // plugin) took longer than the limit is never taken as the plugin's answer.
    // (Loading has its own limit, so the plugin loads with a 1 ms decision limit.)
    let mut tight = settings("hostile-huge-tight", r#"{"mode":"huge-string"}"#);
    tight.limits.time = std::time::Duration::from_millis(1);
    let p = engine().load(&tight, &plugin_bytes("hostile-plugin")).unwrap_or_else(|e| panic!("{e}"));
    for _ in 0..20 {
        let out = decide_one(&p, &attack);
        if out.time_us > 1000 {
            assert!(out.failure.as_deref().is_some_and(|f| f.contains("ran out of time")), "{out:?}");
        }
    }
    // A log flood is cut off; the decision itself still stands.
    let p = load("hostile-flood", "hostile-plugin", r#"{"mode":"log-flood"}"#);
    let (out, usage) = engine().run(&p, &attack, &context());
    assert!(usage.log_dropped > 0 || out.failure.is_some(), "{out:?} {usage:?}");

    // After all that, the same host still answers a well-behaved plugin.
    let ok = load("hostile-allow", "hostile-plugin", r#"{"mode":"allow"}"#);
    assert_eq!(decide_one(&ok, &attack).decision.outcome(), "allow");
}

/// Each decision gets a fresh instance: a plugin that keeps a counter in a static and leaks a
/// heap block sees the same first-call state every time, whatever came before.
#[test]
fn no_state_carries_over_between_decisions() {
    // In both of the host's lanes: the plugin as built (its memory starts at one page, reset
    // with a copy) and the same plugin starting at four pages (reset through the kernel).
    for (bytes, small) in [
        (plugin_bytes("hostile-plugin"), true),
        (with_initial_pages(&plugin_bytes("hostile-plugin"), 4), false),
    ] {
        let p = engine()
            .load(&settings("hostile-remember", r#"{"mode":"remember"}"#), &bytes)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.compiled().small_lane(), small);
        let reasons: Vec<String> = ["a", "b", "c"]
            .iter()
            .map(|id| {
                let mut req = clip(&["front"], NOW - 600, NOW, "attack");
                req.id = (*id).into();
                match decide_one(&p, &req).decision {
                    Decision::Deny { reason } => reason,
                    other => panic!("{other:?}"),
                }
            })
            .collect();
        for (reason, id) in reasons.iter().zip(["a", "b", "c"]) {
            assert!(reason.starts_with(&format!("call 1; kept \"request {id}\" at ")), "{reason}");
        }
        // The leaked block is at the same address each time: the heap starts over too.
        let at = |r: &str| r.rsplit(" at ").next().unwrap_or_default().to_owned();
        assert_eq!(at(&reasons[0]), at(&reasons[2]), "{reasons:?}");
    }
}

/// The same core module with its memory starting at `pages` 64 KiB pages instead of one: a
/// plugin built with a bigger stack, which the host runs in its other lane.
fn with_initial_pages(module: &[u8], pages: u8) -> Vec<u8> {
    let section = wasmparser::Parser::new(0)
        .parse_all(module)
        .find_map(|p| match p.expect("valid module") {
            wasmparser::Payload::MemorySection(r) => Some(r.range()),
            _ => None,
        })
        .expect("a memory section");
    let mut out = module.to_vec();
    // One memory, no flags (no maximum, 32-bit), initial size 1: three one-byte fields.
    assert_eq!(&out[section.start..section.start + 3], &[1, 0, 1], "memory section as built");
    assert!(pages < 0x80, "one LEB128 byte");
    out[section.start + 2] = pages;
    out
}

/// A plugin whose memory starts larger runs in the other lane and decides the same.
#[test]
fn a_plugin_with_a_larger_memory_decides_the_same() {
    let small = load("warrant-required", "warrant-required", "{}");
    let large = engine()
        .load(&settings("warrant-required", "{}"), &with_initial_pages(&plugin_bytes("warrant-required"), 17))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(small.compiled().small_lane());
    assert_eq!(small.compiled().initial_memory, Some(64 << 10));
    assert!(!large.compiled().small_lane());
    assert_eq!(large.compiled().initial_memory, Some(17 * (64 << 10)));
    let req = with_warrant(
        clip(&["front", "drive"], NOW - 3600, NOW - 60, "burglary"),
        &["front"],
        NOW - 1800,
        NOW,
    );
    for _ in 0..3 {
        assert_eq!(decide_one(&large, &req).decision, decide_one(&small, &req).decision);
    }
    assert!(matches!(decide_one(&large, &req).decision, Decision::Allow { .. }));
}

#[test]
fn plugins_that_misbehave_at_load_are_rejected() {
    let e = engine();
    let err = e.load(&settings("l", r#"{"mode":"loop","always":true}"#), &plugin_bytes("hostile-plugin"));
    assert!(
        err.as_ref().is_err_and(|e| e.0.contains("conformance call failed: plugin ran out of")),
        "{err:?}"
    );
    let err = e.load(&settings("c", r#"{"mode":"dance"}"#), &plugin_bytes("hostile-plugin"));
    assert!(err.as_ref().is_err_and(|e| e.0.contains("rejected its configuration: unknown mode")), "{err:?}");
    let err = e.load(&settings("c", r#"{"mode":"allow","extra":1}"#), &plugin_bytes("hostile-plugin"));
    assert!(err.as_ref().is_err_and(|e| e.0.contains("invalid configuration")), "{err:?}");
}

/// Builds a component whose world imports `world_import` (an interface of another package).
fn component_importing(package_wit: &str, world_import: &str) -> Vec<u8> {
    component_of(
        &[package_wit],
        &format!("package test:evil;\nworld policy {{\n  import {world_import};\n}}\n"),
        &r#"(module (import "IMPORT_MODULE" "connect" (func (param i32 i32))) (memory (export "memory") 1))"#
            .replace("IMPORT_MODULE", world_import),
    )
}

/// A component for the world `policy` of `wit` (which may use the packages in `deps`) around
/// the core module `wat`.
fn component_of(deps: &[&str], wit: &str, wat: &str) -> Vec<u8> {
    let mut resolve = wit_parser::Resolve::default();
    for (i, dep) in deps.iter().enumerate() {
        resolve.push_str(format!("dep{i}.wit"), dep).expect("dep wit");
    }
    let pkg = resolve.push_str("world.wit", wit).expect("wit");
    let world = resolve.select_world(&[pkg], Some("policy")).expect("world");
    let mut module = wat::parse_str(wat).expect("wat");
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .expect("embed");
    wit_component::ComponentEncoder::default()
        .module(&module)
        .and_then(|e| e.validate(true).encode())
        .expect("componentize")
}

#[test]
fn malformed_and_over_privileged_files_are_rejected_with_clear_reasons() {
    let e = engine();
    let s = settings("bad", "{}");
    let load = |bytes: &[u8]| e.load(&s, bytes).map(|_| ()).expect_err("must be rejected").0;

    assert!(load(b"#!/bin/sh\necho hi\n").contains("not a WebAssembly file"));
    let good = plugin_bytes("deny-all");
    let truncated = load(&good[..good.len() / 2]);
    assert!(truncated.starts_with("invalid WebAssembly"), "{truncated}");
    let bare = load(&wat::parse_str("(module)").expect("wat"));
    assert!(bare.contains("does not implement the contract porchlight:policy@0.1.0: no export"), "{bare}");
    // A core module that imports something outside any WIT world cannot even be componentized.
    let rogue = load(&wat::parse_str(r#"(module (import "env" "socket" (func)))"#).expect("wat"));
    assert!(rogue.contains("not a usable policy module"), "{rogue}");

    let wasi = component_importing(
        "package wasi:sockets@0.2.0;\ninterface tcp { connect: func(host: string); }\n",
        "wasi:sockets/tcp@0.2.0",
    );
    let msg = load(&wasi);
    assert!(msg.contains("imports the WASI interface `wasi:sockets/tcp@0.2.0`"), "{msg}");

    let net = component_importing(
        "package evil:net;\ninterface raw { connect: func(host: string); }\n",
        "evil:net/raw",
    );
    let msg = load(&net);
    assert!(msg.contains("imports `evil:net/raw`, which is not part of the contract"), "{msg}");

    // The right export names with the wrong types: refused when loaded, not at the first call.
    let wrong = component_of(
        &[],
        "package test:wrong;\nworld policy {\n  export check-config: func(config: string) -> result<_, string>;\n  \
         export decide: func(config: string) -> string;\n  export on-event: func(config: string) -> string;\n}\n",
        r#"(module
            (memory (export "memory") 1)
            (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) i32.const 1024)
            (func (export "check-config") (param i32 i32) (result i32) i32.const 0)
            (func (export "decide") (param i32 i32) (result i32) i32.const 0)
            (func (export "on-event") (param i32 i32) (result i32) i32.const 0))"#,
    );
    let msg = load(&wrong);
    assert!(msg.contains("does not implement the contract porchlight:policy@0.1.0"), "{msg}");

    let mut pinned = settings("pinned", "{}");
    pinned.sha256 = Some("0".repeat(64));
    let msg = e.load(&pinned, &good).map(|_| ()).expect_err("pin").0;
    assert!(msg.contains("but the config pins"), "{msg}");
    pinned.sha256 = Some(sha256_hex(&good));
    assert!(e.load(&pinned, &good).is_ok());
}

#[test]
fn composition_privacy_missing_and_hot_swap() {
    let engine = PolicyEngine::new(None).expect("engine");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = |name: &str| dir.path().join(format!("{name}.wasm"));
    std::fs::write(file("street-only"), plugin_bytes("street-only")).expect("write");
    std::fs::write(file("warrant-required"), plugin_bytes("warrant-required")).expect("write");
    let mut a = settings("street-only", "{}");
    a.file = file("street-only");
    let mut b = settings("warrant-required", r#"{"strip_audio": false}"#);
    b.file = file("warrant-required");
    let plugins = porchlight::config::PluginSettings {
        dir: dir.path().to_owned(),
        enabled: vec![a, b],
        limits: Default::default(),
    };

    // Nothing installed: deny.
    let req =
        with_warrant(clip(&["front", "kitchen"], NOW - 600, NOW, "x"), &["front", "kitchen"], NOW - 900, NOW);
    assert_eq!(engine.decide(&req, &context()).decision, Decision::deny("no sharing policy is installed"));

    let reports = engine.reload(&plugins);
    assert!(reports.iter().all(|r| matches!(r, LoadReport::Loaded { .. })), "{reports:?}");
    // street-only drops the kitchen, warrant-required allows both: the intersection is front.
    let v = engine.decide(&req, &context());
    match &v.decision {
        Decision::Allow { grant } => assert_eq!(grant.cameras, ["front"]),
        other => panic!("{other:?}"),
    }
    assert_eq!(v.plugins.len(), 2);
    assert!(v.plugins.iter().all(|p| p.sha256.is_some()));

    // Privacy mode: denied before any plugin runs.
    let mut private = context();
    private.privacy = true;
    let v = engine.decide(&req, &private);
    assert_eq!(v.decision.outcome(), "deny");
    assert!(v.plugins.is_empty());

    // Reversed range: denied by the host without asking the plugins.
    let v = engine.decide(&clip(&["front"], NOW, NOW - 600, "x"), &context());
    assert!(matches!(&v.decision, Decision::Deny { reason } if reason.contains("reversed")));

    // Unchanged reload keeps the compiled plugins.
    assert!(engine.reload(&plugins).iter().all(|r| matches!(r, LoadReport::Unchanged { .. })));

    // A broken replacement is rejected and the previous version keeps deciding.
    std::fs::write(file("street-only"), b"garbage").expect("write");
    let reports = engine.reload(&plugins);
    assert!(
        matches!(&reports[0], LoadReport::Rejected { kept: true, reason, .. } if reason.contains("not a WebAssembly file")),
        "{reports:?}"
    );
    assert_eq!(engine.decide(&req, &context()).decision.outcome(), "allow");

    // A missing plugin (never loaded) denies everything.
    let mut c = settings("quiet-hours", "{}");
    c.file = file("quiet-hours");
    let mut with_missing = plugins.clone();
    with_missing.enabled.push(c);
    engine.reload(&with_missing);
    let v = engine.decide(&req, &context());
    assert!(
        matches!(&v.decision, Decision::Deny { reason } if reason.contains("quiet-hours: plugin not loaded")),
        "{v:?}"
    );

    // A good replacement is swapped in.
    std::fs::write(file("street-only"), plugin_bytes("deny-all")).expect("write");
    let reports = engine.reload(&plugins);
    assert!(matches!(&reports[0], LoadReport::Loaded { .. }), "{reports:?}");
    assert_eq!(engine.decide(&req, &context()).decision.outcome(), "deny");
}

/// `porchlight plugin check` and `plugin test`, run as a plugin author runs them: on a file, with
/// no hub config.
#[test]
fn plugin_check_and_test_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("warrant-required.wasm");
    std::fs::write(&file, plugin_bytes("warrant-required")).expect("plugin");
    let run = |args: &[&str]| {
        std::process::Command::new(porchlight_e2e::binary()).args(args).output().expect("run porchlight")
    };
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let path = file.to_str().expect("utf-8 path");

    let out = run(&["plugin", "check", path]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains(&format!("{path}: accepted")), "{stdout}");
    assert!(stdout.contains(&format!("contract: {CONTRACT}")), "{stdout}");
    // The example plugins are built with the recommended 32 KiB stack (.cargo/config.toml), so
    // their memory starts at one page and is reset without a system call.
    assert!(
        stdout.contains("memory:   starts at 64 KiB: reset after each decision without a system call"),
        "{stdout}"
    );
    let big = dir.path().join("big.wasm");
    std::fs::write(&big, with_initial_pages(&plugin_bytes("warrant-required"), 17)).expect("plugin");
    let out = run(&["plugin", "check", big.to_str().expect("path")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout)
            .contains("memory:   starts at 1088 KiB: reset through the kernel after each decision"),
        "{}",
        text(&out.stdout)
    );

    // A configuration the plugin refuses, and a truncated file: rejected, exit 1.
    let bad_config = dir.path().join("bad.toml");
    std::fs::write(&bad_config, "max_live_seconds = 0\n").expect("config");
    let out = run(&["plugin", "check", path, "--plugin-config", bad_config.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("max_live_seconds must be at least 1"), "{}", text(&out.stderr));
    let truncated = dir.path().join("truncated.wasm");
    std::fs::write(&truncated, &plugin_bytes("warrant-required")[..5000]).expect("truncated");
    let out = run(&["plugin", "check", truncated.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("rejected: invalid WebAssembly"), "{}", text(&out.stderr));

    // `plugin test`: the decision as JSON, with the time and fuel used.
    let request = dir.path().join("request.json");
    std::fs::write(
        &request,
        r#"{"id": "r-1", "requester": {"organisation": "City Police", "kind": "police"},
            "kind": {"type": "clip", "cameras": ["front", "kitchen"],
                     "from": "2026-11-26T17:00:00Z", "to": "2026-11-26T17:30:00Z"},
            "legal_basis": {"type": "warrant", "reference": "W-77", "court": "District Court",
                            "issued": "2026-11-26T12:00:00Z", "expires": "2026-12-26T12:00:00Z",
                            "scope": {"cameras": ["front"], "from": "2026-11-26T16:00:00Z",
                                      "to": "2026-11-26T17:15:00Z"}},
            "received_at": "2026-11-26T18:00:00Z"}"#,
    )
    .expect("request");
    let context = dir.path().join("context.json");
    std::fs::write(
        &context,
        r#"{"now": "2026-11-26T18:00:00Z", "cameras": [{"name": "front"}, {"name": "kitchen"}]}"#,
    )
    .expect("context");
    let out = run(&[
        "plugin",
        "test",
        path,
        "--request",
        request.to_str().expect("path"),
        "--context",
        context.to_str().expect("path"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(v["plugin"], "warrant-required");
    assert_eq!(v["decision"]["decision"], "allow", "{v}");
    assert_eq!(v["decision"]["grant"]["cameras"], serde_json::json!(["front"]));
    assert_eq!(v["decision"]["grant"]["to"], "2026-11-26T17:15:00Z");
    assert!(v["fuel"].as_u64().is_some_and(|f| f > 0), "{v}");
    assert!(v["time_us"].as_u64().is_some(), "{v}");
    assert!(v["failure"].is_null(), "{v}");
    // The plugin's own log lines go to stderr.
    assert!(text(&out.stderr).contains("time narrowed to warrant"), "{}", text(&out.stderr));

    // A request file that is not a request: exit 2, naming the file.
    std::fs::write(&request, r#"{"id": "r-2"}"#).expect("request");
    let out = run(&["plugin", "test", path, "--request", request.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("request.json"), "{}", text(&out.stderr));
}

/// Resource bounds the host keeps whatever a plugin does: its config error is cut like a deny
/// reason, every log line costs from the budget however short, and loading has its own time
/// limit so a plugin slower to start than to decide is not refused.
#[test]
fn plugin_output_and_loading_are_bounded() {
    let e = engine();
    let err = e
        .load(&settings("c", r#"{"mode":"huge-config-error"}"#), &plugin_bytes("hostile-plugin"))
        .expect_err("a rejected config");
    assert!(err.0.starts_with("the plugin rejected its configuration: eee"), "{}", &err.0[..80]);
    assert!(err.0.len() < 2200, "a 1 MiB config error is kept as {} bytes", err.0.len());

    // 10 000 empty messages: the default 16 KiB budget pays for 64 lines, the rest are dropped.
    let p = load("hostile-log-empty", "hostile-plugin", r#"{"mode":"log-empty"}"#);
    let (out, usage) = engine().run(&p, &clip(&["front"], NOW - 600, NOW, "attack"), &context());
    assert_eq!(out.decision.outcome(), "allow", "{out:?}");
    let budget = Limits::default().log_bytes / host::LOG_LINE_COST;
    assert_eq!(usage.log_dropped, 10_000 - budget, "{usage:?}");

    // check-config spins for a few milliseconds: more than a 1 ms decision limit allows, well
    // within loading's own limit.
    let mut slow = settings("slow", r#"{"mode":"slow-check"}"#);
    slow.limits.time = std::time::Duration::from_millis(1);
    let p = e.load(&slow, &plugin_bytes("hostile-plugin")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(decide_one(&p, &clip(&["front"], NOW - 600, NOW, "fine")).decision.outcome(), "deny");
}

/// Plugin files are checked before they are read: only regular files, size first, never a
/// read that blocks (a FIFO) or has no end (a link to /dev/zero).
#[test]
fn only_regular_plugin_files_of_bounded_size_are_read() {
    use porchlight::config::PluginSettings;
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("fifo.wasm");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero.wasm")).expect("symlink");
    let big = std::fs::File::create(dir.path().join("big.wasm")).expect("create");
    big.set_len(200 << 20).expect("a sparse 200 MiB file");
    std::fs::create_dir(dir.path().join("dir.wasm")).expect("dir");
    std::fs::write(dir.path().join("good.wasm"), plugin_bytes("deny-all")).expect("plugin");

    let names = ["fifo", "zero", "big", "dir", "good"];
    let plugins = PluginSettings {
        dir: dir.path().to_owned(),
        enabled: names
            .iter()
            .map(|n| {
                let mut s = settings(n, "{}");
                s.file = dir.path().join(format!("{n}.wasm"));
                s
            })
            .collect(),
        limits: Default::default(),
    };
    // On its own thread: a reload that blocked on the FIFO would never answer.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let engine = PolicyEngine::new(None).expect("engine");
        let _ = tx.send(engine.reload(&plugins));
    });
    let reports = rx.recv_timeout(std::time::Duration::from_secs(60)).expect("the reload finished");
    let reason = |name: &str| {
        reports
            .iter()
            .find_map(|r| match r {
                LoadReport::Rejected { plugin, reason, .. } if plugin == name => Some(reason.clone()),
                _ => None,
            })
            .unwrap_or_default()
    };
    assert!(reason("fifo").ends_with("fifo.wasm is not a regular file (a FIFO)"), "{reports:?}");
    assert!(reason("zero").ends_with("zero.wasm is not a regular file (a character device)"), "{reports:?}");
    assert!(
        reason("big").ends_with("big.wasm is 209715200 bytes, larger than the limit of 16777216"),
        "{reports:?}"
    );
    assert!(reason("dir").ends_with("dir.wasm is not a regular file (a directory)"), "{reports:?}");
    assert!(
        reports.iter().any(|r| matches!(r, LoadReport::Loaded { plugin, .. } if plugin == "good")),
        "{reports:?}"
    );
}

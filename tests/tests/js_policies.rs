//! Policies written in JavaScript, built with `sdk-js` (componentize-js) at test time, run by
//! the hub's real wasmtime host with the WASI stand-ins of `policy/wasi.rs`: the ports of
//! warrant-required and ask-resident decide exactly like the Rust originals on a generated
//! corpus; a hostile JavaScript policy is denied or made harmless every way it tries; `plugin
//! check` and `plugin test` accept a JavaScript component; and the daemon loads one from its
//! plugin directory. Skipped without node and `npm ci` in `sdk-js/` (see `porchlight_e2e::js`).

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use jiff::Timestamp;
use porchlight::config::PolicySettings;
use porchlight::policy::*;
use porchlight_e2e::js::{js_plugin, skip_without_js, wasmtime_cache_dir};
use porchlight_e2e::{Daemon, Setup, binary, output_text, plugin_bytes};
use serde_json::{Value, json};

const NOW: i64 = 1_800_000_000;
const HOUR: i64 = 3600;

fn ts(s: i64) -> Timestamp {
    Timestamp::from_second(s).expect("timestamp")
}

/// The limits a JavaScript policy needs (docs/ref/plugins.md, "Limits per language"), with a
/// generous wall-clock limit: an unoptimised host on a busy 2-core machine. Runaway plugins are
/// still stopped by fuel and memory, which is what the tests check.
fn js_limits() -> Limits {
    Limits { time: Duration::from_secs(5), memory: 64 << 20, ..Limits::default() }
}

fn settings(name: &str, config: &str, limits: Limits) -> PolicySettings {
    PolicySettings {
        name: name.to_owned(),
        file: PathBuf::from(format!("/nonexistent/{name}.wasm")),
        source: Some(porchlight::config::PolicySource::File),
        sha256: None,
        limits,
        config: config.to_owned(),
    }
}

/// One engine per test process (creating one reserves the pooling allocator's address space),
/// with the compile cache the other tests and daemons share.
fn engine() -> &'static PolicyEngine {
    static E: OnceLock<PolicyEngine> = OnceLock::new();
    E.get_or_init(|| PolicyEngine::new(Some(&wasmtime_cache_dir())).expect("engine"))
}

fn js_bytes(name: &str) -> Vec<u8> {
    std::fs::read(js_plugin(name)).expect("read the built JavaScript plugin")
}

fn load_js(name: &str, config: &str) -> Plugin {
    engine()
        .load(&settings(name, config, js_limits()), &js_bytes(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn load_rust(name: &str, config: &str) -> Plugin {
    let limits = Limits { time: Duration::from_secs(2), ..Limits::default() };
    engine()
        .load(&settings(name, config, limits), &plugin_bytes(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|c| (*c).to_owned()).collect()
}

fn context(mode: HubMode) -> Context {
    let cam = |name: &str, tags: &[&str]| CameraInfo {
        name: name.into(),
        tags: names(tags),
        last_motion: Some(ts(NOW - 300)),
        last_doorbell: None,
        last_alarm: None,
    };
    Context {
        now: ts(NOW),
        mode,
        privacy: false,
        cameras: vec![cam("front", &["street"]), cam("back", &["garden"]), cam("drive", &["street"])],
    }
}

fn warrant(cameras: &[&str], from: i64, to: i64, issued: i64, expires: i64) -> LegalBasis {
    LegalBasis::Warrant {
        reference: "W-77 \"north\"".into(),
        court: "District Court".into(),
        issued: ts(issued),
        expires: ts(expires),
        scope: WarrantScope { cameras: names(cameras), from: ts(from), to: ts(to) },
    }
}

/// The corpus: every request kind (with ranges and durations at and around the edges), every
/// legal basis (warrants valid, expiring at `now`, one second after, not yet issued, malformed,
/// naming no or other cameras, covering the past, the present or nothing), every requester
/// kind and hub mode in turn, and several camera lists (unknown, repeated).
fn corpus() -> Vec<(Request, Context)> {
    let kinds = vec![
        RequestKind::Clip { cameras: names(&["front", "back"]), from: ts(NOW - HOUR), to: ts(NOW) },
        RequestKind::Clip { cameras: names(&["front"]), from: ts(NOW - 3 * HOUR), to: ts(NOW - HOUR) },
        RequestKind::Clip { cameras: names(&["garage", "front", "front"]), from: ts(NOW - 60), to: ts(NOW) },
        RequestKind::Clip { cameras: names(&["front"]), from: ts(NOW), to: ts(NOW) },
        RequestKind::Clip { cameras: names(&["front"]), from: ts(NOW), to: ts(NOW - HOUR) },
        RequestKind::Clip { cameras: names(&["garage"]), from: ts(NOW - HOUR), to: ts(NOW) },
        RequestKind::Live { cameras: names(&["front", "back"]), max_seconds: 60 },
        RequestKind::Live { cameras: names(&["front"]), max_seconds: 3600 },
        RequestKind::Live { cameras: names(&["drive"]), max_seconds: 0 },
        RequestKind::Live { cameras: names(&["front"]), max_seconds: u32::MAX },
        RequestKind::Snapshot { cameras: names(&["front", "back", "drive"]) },
        RequestKind::Snapshot { cameras: names(&[]) },
    ];
    let bases = vec![
        LegalBasis::None,
        LegalBasis::Consent,
        LegalBasis::Exigent { statement: "shots fired\nLegal basis: none".into() },
        warrant(&["front", "drive"], NOW - 2 * HOUR, NOW + HOUR, NOW - HOUR, NOW + 86_400),
        warrant(&["front"], NOW - 2 * HOUR, NOW + HOUR, NOW - HOUR, NOW),
        warrant(&["front"], NOW - 2 * HOUR, NOW + HOUR, NOW - HOUR, NOW + 1),
        warrant(&["front"], NOW - 2 * HOUR, NOW + HOUR, NOW + 1, NOW + 86_400),
        warrant(&["front"], NOW - 2 * HOUR, NOW + HOUR, NOW, NOW),
        warrant(&[], NOW - 2 * HOUR, NOW + HOUR, NOW - HOUR, NOW + 86_400),
        warrant(&["back", "garage"], NOW - 10 * HOUR, NOW - 5 * HOUR, NOW - HOUR, NOW + 86_400),
        warrant(&["front", "back"], NOW - HOUR + 1, NOW + 100, NOW - HOUR, NOW + 42),
        warrant(&["front"], NOW, NOW, NOW - HOUR, NOW + 86_400),
    ];
    let requesters = [
        RequesterKind::Police,
        RequesterKind::Monitoring,
        RequesterKind::Insurer,
        RequesterKind::Neighbour,
        RequesterKind::Resident,
        RequesterKind::Other,
    ];
    let modes = [HubMode::Home, HubMode::Away, HubMode::Night, HubMode::Vacation];
    let mut cases = Vec::new();
    for (k, kind) in kinds.iter().enumerate() {
        for (b, basis) in bases.iter().enumerate() {
            let i = k * bases.len() + b;
            let request = Request {
                id: format!("corpus-{i}"),
                requester: Requester {
                    organisation: "City Police RTCC".into(),
                    person: if i % 3 == 0 { String::new() } else { "Det. Smith".into() },
                    kind: requesters[i % requesters.len()],
                },
                kind: kind.clone(),
                reason: if i % 5 == 0 { "  ".into() } else { format!("case {i}: burglary \u{202e}reported") },
                case_number: (i % 2 == 0).then(|| format!("2026-{i}")),
                legal_basis: basis.clone(),
                received_at: ts(NOW),
            };
            cases.push((request, context(modes[i % modes.len()])));
        }
    }
    cases
}

/// What a decision is, as the API shows it.
fn shown(outcome: &PluginOutcome) -> Value {
    serde_json::to_value(&outcome.decision).expect("decision as JSON")
}

#[test]
fn js_and_rust_policies_decide_alike_on_a_generated_corpus() {
    if skip_without_js() {
        return;
    }
    let corpus = corpus();
    assert!(corpus.len() >= 100, "{} cases", corpus.len());
    let configs = [
        ("warrant-required", "{}"),
        ("warrant-required", r#"{"allow_live":true,"allow_snapshots":true,"strip_audio":false}"#),
        ("warrant-required", r#"{"allow_live":true,"max_live_seconds":30}"#),
        ("ask-resident", "{}"),
        ("ask-resident", r#"{"timeout_seconds":600}"#),
    ];
    let mut kinds_seen = std::collections::BTreeSet::new();
    for (name, config) in configs {
        let rust = load_rust(name, config);
        let js = load_js(name, config);
        for (request, context) in &corpus {
            let (r, _) = engine().run(&rust, request, context);
            let (j, _) = engine().run(&js, request, context);
            assert_eq!(r.failure, None, "{name} (Rust) failed on {}", request.id);
            assert_eq!(j.failure, None, "{name} (JavaScript) failed on {}: {:?}", request.id, j.decision);
            assert_eq!(shown(&j), shown(&r), "{name} {config} differs on {request:#?}");
            kinds_seen.insert(format!("{name}:{}", shown(&r)["decision"]));
        }
    }
    // The corpus reaches every kind of answer each policy gives.
    for kind in ["warrant-required:\"allow\"", "warrant-required:\"deny\"", "ask-resident:\"ask\""] {
        assert!(kinds_seen.contains(kind), "{kind} never decided: {kinds_seen:?}");
    }
}

#[test]
fn js_components_import_only_what_has_a_stand_in() {
    if skip_without_js() {
        return;
    }
    let compiled = engine().host().compile(&js_bytes("warrant-required")).expect("compile");
    let interfaces: Vec<&str> =
        compiled.standins.iter().map(|s| s.split('@').next().unwrap_or_default()).collect();
    for needed in ["wasi:clocks/wall-clock", "wasi:random/random", "wasi:cli/stdout"] {
        assert!(interfaces.contains(&needed), "{needed} not imported: {interfaces:?}");
    }
    for forbidden in ["wasi:http", "wasi:sockets"] {
        assert!(!interfaces.iter().any(|i| i.starts_with(forbidden)), "{interfaces:?}");
    }
    for i in &interfaces {
        assert!(wasi::INTERFACES.contains(i), "{i} has no stand-in");
    }
}

fn live_request(reason: &str) -> Request {
    Request {
        id: format!("hostile-{reason}"),
        requester: Requester {
            organisation: "Flood".into(),
            person: String::new(),
            kind: RequesterKind::Other,
        },
        kind: RequestKind::Live { cameras: names(&["front"]), max_seconds: 60 },
        reason: reason.into(),
        case_number: None,
        legal_basis: LegalBasis::None,
        received_at: ts(NOW),
    }
}

#[test]
fn hostile_js_policies_are_denied_or_made_harmless() {
    if skip_without_js() {
        return;
    }
    let hostile = load_js("hostile", "{}");
    let ctx = context(HubMode::Away);
    let run = |mode: &str| engine().run(&hostile, &live_request(mode), &ctx);
    let deny_reason = |o: &PluginOutcome| match &o.decision {
        Decision::Deny { reason } => reason.clone(),
        other => panic!("expected deny, got {other:?}"),
    };

    // Runaway code is stopped by the fuel or time limit.
    let (o, _) = run("loop");
    let failure = o.failure.clone().unwrap_or_default();
    assert!(failure.contains("ran out of fuel") || failure.contains("ran out of time"), "{o:?}");
    deny_reason(&o);
    // Memory: stopped at the limit.
    let (o, _) = run("grow");
    let failure = o.failure.clone().unwrap_or_default();
    assert!(
        failure.contains("more than 67108864 bytes of memory") || failure.contains("ran out of fuel"),
        "{o:?}"
    );
    deny_reason(&o);
    // A string past the engine's own largest length (its ropes need little memory on the way):
    // the engine throws, the uncaught error traps.
    let (o, _) = run("huge-string");
    assert!(o.failure.as_deref().is_some_and(|f| f.contains("trapped") || f.contains("memory")), "{o:?}");
    deny_reason(&o);
    // A 1 MiB reason is cut.
    let (o, _) = run("huge-reason");
    assert!(deny_reason(&o).len() <= 2048 + 3, "{}", deny_reason(&o).len());
    // No network: `fetch` does not exist in a policy, so it fails (or traps).
    let (o, _) = run("fetch");
    assert!(o.failure.is_some() || deny_reason(&o).starts_with("fetch failed"), "{o:?}");
    deny_reason(&o);
    // No Node or browser ways out either (`fetch` is defined, and fails as above).
    let (o, _) = run("snoop");
    assert!(["globals: none", "globals: fetch"].contains(&deny_reason(&o).as_str()), "{o:?}");
    // The clocks read the request's `now` and stand still; randomness is the request's own: the
    // same request gets the same answer, twice.
    let (a, _) = run("clock");
    let (b, _) = run("clock");
    assert_eq!(shown(&a), shown(&b));
    let reason = deny_reason(&a);
    assert!(reason.contains(&format!("Date.now={}000 ", NOW)), "{reason}");
    assert!(reason.contains("date=2027-01-15T08:00:00.000Z"), "{reason}");
    let (a, _) = run("random");
    let (b, _) = run("random");
    assert_eq!(shown(&a), shown(&b), "randomness must not change a decision");
    deny_reason(&a);
    // Another request may draw other numbers, but again the same each time.
    let mut other = live_request("random");
    other.id = "hostile-random-2".into();
    let (c, _) = engine().run(&hostile, &other, &ctx);
    let (d, _) = engine().run(&hostile, &other, &ctx);
    assert_eq!(shown(&c), shown(&d));
    // A timer of an hour neither waits an hour nor decides differently twice.
    let started = std::time::Instant::now();
    let (a, _) = run("timer");
    let (b, _) = run("timer");
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_eq!(shown(&a), shown(&b));
    deny_reason(&a);
    // Console output goes to the bounded log: the flood is cut, the answer stands.
    let (o, _) = run("console");
    assert_eq!(deny_reason(&o), "wrote to the console");
    assert!(o.log_dropped > 0, "{o:?}");
    // Exceptions trap; wider grants are refused.
    let (o, _) = run("throw");
    assert!(o.failure.as_deref().is_some_and(|f| f.contains("trapped")), "{o:?}");
    deny_reason(&o);
    let (o, _) = run("grant-more");
    assert!(o.failure.as_deref().is_some_and(|f| f.contains("\"kitchen\" was not requested")), "{o:?}");
    deny_reason(&o);
}

#[test]
fn plugin_check_and_test_accept_a_js_component() {
    if skip_without_js() {
        return;
    }
    let file = js_plugin("warrant-required");
    let dir = tempfile::tempdir().expect("tempdir");
    let limits = dir.path().join("plugin.toml");
    std::fs::write(&limits, "allow_live = true\n").expect("write plugin config");
    let cache = wasmtime_cache_dir();
    let check = std::process::Command::new(binary())
        .args(["plugin", "check"])
        .arg(&file)
        .arg("--cache-dir")
        .arg(&cache)
        .args(["--time-limit", "5s"])
        .arg("--plugin-config")
        .arg(&limits)
        .output()
        .expect("run plugin check");
    let text = output_text(&check);
    assert!(check.status.success(), "{text}");
    assert!(text.contains("wasi:clocks/wall-clock"), "check names the stand-ins it gives: {text}");

    let request = dir.path().join("r.json");
    std::fs::write(
        &request,
        json!({
            "id": "rtcc-2026-0412",
            "requester": { "organisation": "City Police RTCC", "person": "Det. Smith", "kind": "police" },
            "kind": { "type": "clip", "cameras": ["front", "kitchen"], "from": "2026-11-26T17:00:00Z", "to": "2026-11-26T17:30:00Z" },
            "legal_basis": {
                "type": "warrant", "reference": "W-77", "court": "District Court",
                "issued": "2026-11-26T12:00:00Z", "expires": "2026-12-26T12:00:00Z",
                "scope": { "cameras": ["front"], "from": "2026-11-26T16:00:00Z", "to": "2026-11-26T17:15:00Z" }
            },
            "received_at": "2026-11-26T18:00:00Z"
        })
        .to_string(),
    )
    .expect("write request");
    let context = dir.path().join("c.json");
    std::fs::write(
        &context,
        json!({"now": "2026-11-26T18:00:00Z", "cameras": [{"name": "front"}, {"name": "kitchen"}]})
            .to_string(),
    )
    .expect("write context");
    let test = std::process::Command::new(binary())
        .args(["plugin", "test"])
        .arg(&file)
        .arg("--cache-dir")
        .arg(&cache)
        .args(["--time-limit", "5s"])
        .arg("--request")
        .arg(&request)
        .arg("--context")
        .arg(&context)
        .output()
        .expect("run plugin test");
    assert!(test.status.success(), "{}", output_text(&test));
    let out: Value = serde_json::from_slice(&test.stdout).expect("plugin test prints JSON");
    assert_eq!(out["failure"], Value::Null, "{out}");
    assert_eq!(out["decision"]["decision"], "allow", "{out}");
    assert_eq!(out["decision"]["grant"]["cameras"], json!(["front"]), "{out}");
    assert_eq!(out["decision"]["grant"]["to"], "2026-11-26T17:15:00Z", "{out}");
    let stderr = String::from_utf8_lossy(&test.stderr);
    assert!(
        stderr.contains("time narrowed to warrant \\\"W-77\\\"") || stderr.contains("time narrowed"),
        "{stderr}"
    );
}

#[test]
fn daemon_loads_a_js_policy_from_its_plugin_dir_and_decides() {
    if skip_without_js() {
        return;
    }
    let s = Setup::new(
        "[plugins]\ndir = \"plugins\"\nenabled = [\"warrant-js\"]\ntime_limit = \"5s\"\n\n\
         [[camera]]\nname = \"front\"\nrtsp_url = \"rtsp://127.0.0.1:9/x\"\nrecord = \"off\"\n",
    );
    let plugins = s.path("plugins");
    std::fs::create_dir_all(&plugins).expect("plugin dir");
    // The daemon's compile cache is the tests' (`js_plugin`'s component is compiled into it
    // here if no other test did), so loading takes seconds rather than minutes.
    let warm = PolicyEngine::new(Some(&wasmtime_cache_dir())).expect("engine");
    warm.load(&settings("warm", "{}", js_limits()), &js_bytes("warrant-required")).expect("warm the cache");
    std::fs::create_dir_all(s.path("data/cache")).expect("cache parent");
    std::os::unix::fs::symlink(wasmtime_cache_dir(), s.path("data/cache/plugins")).expect("link the cache");
    // Started without the file (its slot denies), then the file is installed: the daemon finds
    // it in its plugin directory and loads it.
    let d = Daemon::start(&s.config);
    let skip = d.log_len();
    let partial = plugins.join(".warrant-js.tmp");
    std::fs::copy(js_plugin("warrant-required"), &partial).expect("install plugin");
    std::fs::rename(&partial, plugins.join("warrant-js.wasm")).expect("install plugin");
    let loaded = d.wait_log_within(skip, Duration::from_secs(300), "the JavaScript policy to load", |l| {
        porchlight_e2e::message(l) == "Plugin loaded" || porchlight_e2e::message(l) == "Plugin rejected"
    });
    assert_eq!(porchlight_e2e::message(&loaded), "Plugin loaded", "{loaded}");
    let listed = d.get_json("/api/plugins");
    assert!(listed.to_string().contains("warrant-js"), "{listed}");
    let request = |id: &str, basis: Value| {
        json!({ "request": {
            "id": id,
            "requester": { "organisation": "City Police", "kind": "police" },
            "kind": { "type": "clip", "cameras": ["front"], "from": "2026-11-26T17:00:00Z", "to": "2026-11-26T17:30:00Z" },
            "legal_basis": basis,
            "received_at": "2026-11-26T18:00:00Z",
        }})
    };
    let (code, body) = d.post("/api/policy/evaluate", &request("js-none", json!({"type": "none"})));
    assert_eq!(code, 200, "{body}");
    let verdict: Value = serde_json::from_str(&body).expect("verdict");
    assert_eq!(verdict["decision"], "deny", "{verdict}");
    assert!(verdict["reason"].as_str().unwrap_or_default().contains("a warrant is required"), "{verdict}");
    assert_eq!(verdict["plugins"][0]["plugin"], "warrant-js", "{verdict}");
    assert_eq!(verdict["plugins"][0]["failure"], Value::Null, "{verdict}");

    let warrant = json!({
        "type": "warrant", "reference": "W-1", "court": "District Court",
        "issued": "2026-01-01T00:00:00Z", "expires": "2099-01-01T00:00:00Z",
        "scope": { "cameras": ["front"], "from": "2026-11-26T16:00:00Z", "to": "2026-11-26T17:15:00Z" }
    });
    let (code, body) = d.post("/api/policy/evaluate", &request("js-warrant", warrant));
    assert_eq!(code, 200, "{body}");
    let verdict: Value = serde_json::from_str(&body).expect("verdict");
    assert_eq!(verdict["decision"], "allow", "{verdict}");
    assert_eq!(verdict["grant"]["to"], "2026-11-26T17:15:00Z", "{verdict}");
}

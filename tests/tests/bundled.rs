//! The policies bundled with the daemon, through the real binary: enabled by name with no plugin
//! file, they load (log line, `/api/plugins` with `source` and `sha256`) and decide real
//! requests with the resident's config table; a name that is both bundled and a file is refused
//! until `source` chooses, also when the file appears while the daemon runs; the `sha256` pin
//! holds for bundled policies; `check-config` and `plugin list` say which component runs. And the
//! check that keeps the committed components honest: every file in `daemon/bundled/` is what
//! its source in `plugins/` builds to.

#![allow(clippy::print_stderr)]

use porchlight::policy::bundled;
use porchlight_e2e::{BUNDLED, Daemon, EventStream, Setup, message, output_text, plugin_bytes, plugin_dir};
use serde_json::{Value, json};

/// The CI check: the six example policies rebuilt from `plugins/` (with the flags of
/// `plugin_dir`, the same at any path and on any machine) are byte for byte the components
/// committed in `daemon/bundled/` and embedded in the daemon.
#[test]
fn bundled_policies_match_their_sources() {
    let committed_dir = porchlight_e2e::repo_root().join("daemon/bundled");
    let sums = std::fs::read_to_string(committed_dir.join("SHA256SUMS")).expect("daemon/bundled/SHA256SUMS");
    let recorded_rustc = std::fs::read_to_string(committed_dir.join("RUSTC")).unwrap_or_default();
    let rustc = porchlight_e2e::rustc_version();
    let _ = plugin_dir();
    let mut names: Vec<&str> = bundled::bundled().iter().map(|b| b.name).collect();
    names.sort_unstable();
    let mut expected = BUNDLED.to_vec();
    expected.sort_unstable();
    assert_eq!(names, expected, "the daemon must bundle exactly the example policies of plugins/");
    let mut differ = Vec::new();
    for b in bundled::bundled() {
        let committed =
            std::fs::read(committed_dir.join(format!("{}.wasm", b.name))).expect("committed file");
        let committed_hash = porchlight::digest::sha256_hex(&committed);
        assert_eq!(
            committed_hash, b.sha256,
            "{}: the daemon embeds another file than daemon/bundled/ holds",
            b.name
        );
        assert!(
            sums.lines().any(|l| l == format!("{}  {}.wasm", b.sha256, b.name)),
            "{}: SHA256SUMS does not list {}",
            b.name,
            b.sha256
        );
        let built = porchlight::digest::sha256_hex(&plugin_bytes(b.name));
        if built != committed_hash {
            differ.push(format!(
                "{}: daemon/bundled/{}.wasm has SHA-256 {committed_hash}, but plugins/{} builds to {built}",
                b.name, b.name, b.name
            ));
        }
    }
    assert!(
        differ.is_empty(),
        "bundled policies differ from their sources:\n  {}\nRun tools/rebuild-bundled.sh and commit daemon/bundled/ \
         (they were built with {}; this is {rustc})",
        differ.join("\n  "),
        recorded_rustc.trim()
    );
}

const CAMERAS: &str = "[[camera]]\nname = \"front\"\nrtsp_url = \"rtsp://127.0.0.1:9/front\"\nrecord = \"off\"\n\n\
                       [[camera]]\nname = \"back\"\nrtsp_url = \"rtsp://127.0.0.1:9/back\"\nrecord = \"off\"\n\n";

/// A clip request for `front` and `back` over 17:00-17:30, with a warrant for `front` over
/// 16:00-18:00 (issued a day ago, valid for a year) or no legal basis at all.
fn clip(id: &str, warrant: bool) -> Value {
    let now = jiff::Timestamp::now();
    let legal_basis = if warrant {
        json!({ "type": "warrant", "reference": "W-77", "court": "District Court",
                "issued": (now - jiff::SignedDuration::from_hours(24)).to_string(),
                "expires": (now + jiff::SignedDuration::from_hours(24 * 365)).to_string(),
                "scope": { "cameras": ["front"], "from": "2026-11-26T16:00:00Z", "to": "2026-11-26T18:00:00Z" } })
    } else {
        json!({ "type": "none" })
    };
    json!({ "request": {
        "id": id,
        "requester": { "organisation": "City Police", "person": "Det. Smith", "kind": "police" },
        "kind": { "type": "clip", "cameras": ["front", "back"], "from": "2026-11-26T17:00:00Z", "to": "2026-11-26T17:30:00Z" },
        "reason": "burglary on Elm St",
        "legal_basis": legal_basis,
        "received_at": now.to_string(),
    }})
}

fn evaluate(d: &Daemon, body: &Value) -> Value {
    let (code, text) = d.post("/api/policy/evaluate", body);
    assert_eq!(code, 200, "{text}");
    serde_json::from_str(&text).expect("verdict JSON")
}

fn plugin<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["plugins"].as_array().expect("plugins").iter().find(|p| p["name"] == name).expect("listed")
}

/// The resident's case: `enabled = ["warrant-required"]` with its config table, no plugin
/// directory at all, and the hub decides as warrant-required does.
#[test]
fn a_bundled_policy_decides_real_requests_with_no_plugin_file() {
    let setup = Setup::new(&format!(
        "{CAMERAS}[plugins]\nenabled = [\"warrant-required\"]\ntime_limit = \"2s\"\n\n\
         [plugins.policy.warrant-required]\nconfig = {{ strip_audio = false }}\n"
    ));
    assert!(!setup.path("plugins").exists());
    let expected = bundled::find("warrant-required").expect("bundled");
    let d = Daemon::start(&setup.config);
    let line = d.wait_log("the load line", |l| message(l) == "Plugin loaded");
    assert_eq!(line["fields"]["plugin"], "warrant-required", "{line}");
    assert_eq!(line["fields"]["source"], "bundled", "{line}");
    assert_eq!(line["fields"]["sha256"], expected.sha256, "{line}");

    let list = d.get_json("/api/plugins");
    let p = plugin(&list, "warrant-required");
    assert_eq!(p["state"], "loaded", "{list}");
    assert_eq!(p["source"], "bundled", "{list}");
    assert_eq!(p["sha256"], expected.sha256, "{list}");
    assert!(p.get("file").is_none(), "a bundled policy has no file: {list}");
    assert_eq!(p["config"], json!({ "strip_audio": false }), "{list}");
    let offered: Vec<&str> =
        list["bundled"].as_array().expect("bundled list").iter().filter_map(|b| b["name"].as_str()).collect();
    assert_eq!(offered.len(), 6, "{list}");
    for b in bundled::bundled() {
        let entry =
            list["bundled"].as_array().and_then(|a| a.iter().find(|e| e["name"] == b.name)).expect("listed");
        assert_eq!(entry["sha256"], b.sha256);
        assert_eq!(entry["summary"], b.summary);
    }

    // No warrant: refused, saying why.
    let v = evaluate(&d, &clip("no-warrant", false));
    assert_eq!(v["decision"], "deny", "{v}");
    assert!(v["reason"].as_str().is_some_and(|r| r.contains("a warrant is required")), "{v}");
    assert_eq!(v["plugins"][0]["sha256"], expected.sha256, "{v}");
    // A warrant for `front`: allowed, narrowed to it, with audio (the resident's config).
    let v = evaluate(&d, &clip("warrant", true));
    assert_eq!(v["decision"], "allow", "{v}");
    assert_eq!(v["grant"]["cameras"], json!(["front"]), "{v}");
    assert_eq!(v["grant"]["strip_audio"], false, "{v}");
}

/// Hot reload: a file with the bundled policy's name appears → refused (denies everything), with
/// an error naming both and the key; `source = "file"` → the file runs; `source = "bundled"` →
/// the bundled one runs again.
#[test]
fn a_name_both_bundled_and_a_file_is_refused_until_source_chooses() {
    // The bundled deny-all with its message; the file (ask-resident) takes no `message`.
    let body = |table: &str| {
        format!(
            "{CAMERAS}[plugins]\ndir = \"plugins\"\nenabled = [\"deny-all\"]\ntime_limit = \"2s\"\n\n\
             [plugins.policy.deny-all]\n{table}"
        )
    };
    let message = "config = { message = \"bundled says no\" }\n";
    let setup = Setup::new(&body(message));
    std::fs::create_dir_all(setup.path("plugins")).expect("plugins dir");
    let d = Daemon::start(&setup.config);
    let mut events = EventStream::from_start(d.addr.expect("addr"), None);
    let e = events.next_matching(|e| e["type"] == "plugin_loaded");
    assert_eq!(e["sha256"], bundled::find("deny-all").expect("bundled").sha256, "{e}");
    let v = evaluate(&d, &clip("before", true));
    assert_eq!(v["reason"], "deny-all: bundled says no", "{v}");

    // The resident drops a file of the same name into the plugin directory (another policy).
    let file = setup.path("plugins/deny-all.wasm");
    let file_bytes = plugin_bytes("ask-resident");
    std::fs::write(&file, &file_bytes).expect("write plugin");
    let e = events.next_matching(|e| e["type"] == "plugin_rejected");
    let reason = e["reason"].as_str().expect("reason");
    assert!(reason.contains("bundled"), "{reason}");
    assert!(reason.contains(&file.display().to_string()), "{reason}");
    assert!(reason.contains("plugins.policy.deny-all.source"), "{reason}");
    let list = d.get_json("/api/plugins");
    assert_eq!(plugin(&list, "deny-all")["state"], "not_loaded", "{list}");
    let v = evaluate(&d, &clip("ambiguous", true));
    assert_eq!(v["decision"], "deny", "{v}");
    assert!(v["reason"].as_str().is_some_and(|r| r.contains("plugin not loaded")), "{v}");

    // `source = "file"`: the file runs (ask-resident asks).
    std::fs::write(&setup.config, Setup::with_defaults(setup.dir.path(), &body("source = \"file\"\n")))
        .expect("config");
    let e = events.next_matching(|e| e["type"] == "plugin_loaded");
    assert_eq!(e["sha256"], porchlight::digest::sha256_hex(&file_bytes), "{e}");
    let list = d.get_json("/api/plugins");
    let p = plugin(&list, "deny-all");
    assert_eq!(
        (p["source"].as_str(), p["file"].as_str()),
        (Some("file"), Some(&*file.display().to_string())),
        "{list}"
    );
    assert_eq!(evaluate(&d, &clip("file", true))["decision"], "ask");

    // `source = "bundled"`: the bundled one again, the file left alone.
    std::fs::write(
        &setup.config,
        Setup::with_defaults(setup.dir.path(), &body(&format!("source = \"bundled\"\n{message}"))),
    )
    .expect("config");
    let e = events.next_matching(|e| e["type"] == "plugin_loaded");
    assert_eq!(e["sha256"], bundled::find("deny-all").expect("bundled").sha256, "{e}");
    assert_eq!(plugin(&d.get_json("/api/plugins"), "deny-all")["source"], "bundled");
    assert_eq!(evaluate(&d, &clip("bundled-again", true))["reason"], "deny-all: bundled says no");
    assert!(file.exists());
}

/// `check-config` says which component runs for each enabled policy, refuses an ambiguous name
/// and a pin that does not match the bundled policy.
#[test]
fn check_config_says_which_policy_runs_and_checks_pins() {
    let wr = bundled::find("warrant-required").expect("bundled");
    let mine = plugin_bytes("street-only");
    let mine_hash = porchlight::digest::sha256_hex(&mine);
    let setup = Setup::new(&format!(
        "[plugins]\ndir = \"plugins\"\nenabled = [\"warrant-required\", \"mine\"]\n\n\
         [plugins.policy.warrant-required]\nsha256 = {:?}\n",
        wr.sha256.to_uppercase()
    ));
    std::fs::create_dir_all(setup.path("plugins")).expect("plugins dir");
    std::fs::write(setup.path("plugins/mine.wasm"), &mine).expect("plugin");
    let out = setup.cli(&["check-config"]);
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!(
            "policy warrant-required: runs the policy bundled with the daemon (sha256 {})",
            wr.sha256
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "policy mine: runs the file {} (sha256 {mine_hash})",
            setup.path("plugins/mine.wasm").display()
        )),
        "{text}"
    );

    // A pin that is not the bundled policy's hash: refused.
    let wrong = "0".repeat(64);
    let text =
        std::fs::read_to_string(&setup.config).expect("config").replace(&wr.sha256.to_uppercase(), &wrong);
    std::fs::write(&setup.config, text).expect("config");
    let out = setup.cli(&["check-config"]);
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains(&format!(
            "plugins.enabled: warrant-required would not load, so every request would be denied: bundled policy has SHA-256 {}, but the config pins {wrong}",
            wr.sha256
        )),
        "{text}"
    );

    // Both a bundled policy and a file: refused, naming both and the key to set.
    std::fs::write(setup.path("plugins/warrant-required.wasm"), &mine).expect("plugin");
    let text =
        std::fs::read_to_string(&setup.config).expect("config").replace(&format!("sha256 = {wrong:?}\n"), "");
    std::fs::write(&setup.config, text).expect("config");
    let out = setup.cli(&["check-config"]);
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("plugins.enabled: warrant-required would not load"), "{text}");
    assert!(text.contains("is both a policy bundled with the daemon and the file"), "{text}");
    assert!(text.contains("plugins.policy.warrant-required.source"), "{text}");
}

/// `porchlight plugin list`: bundled and installed policies with their hashes, and which one
/// runs for each enabled name; without a config file, the bundled ones.
#[test]
fn plugin_list_shows_bundled_installed_and_what_runs() {
    let mine = plugin_bytes("hostile-plugin");
    let mine_hash = porchlight::digest::sha256_hex(&mine);
    let ask = plugin_bytes("ask-resident");
    let setup = Setup::new(
        "[plugins]\ndir = \"plugins\"\nenabled = [\"warrant-required\", \"mine\", \"deny-all\", \"ask-resident\"]\n\n\
         [plugins.policy.ask-resident]\nsource = \"file\"\n",
    );
    std::fs::create_dir_all(setup.path("plugins")).expect("plugins dir");
    std::fs::write(setup.path("plugins/mine.wasm"), &mine).expect("plugin");
    std::fs::write(setup.path("plugins/deny-all.wasm"), &mine).expect("plugin");
    std::fs::write(setup.path("plugins/ask-resident.wasm"), &ask).expect("plugin");
    let out = setup.cli(&["plugin", "list"]);
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for b in bundled::bundled() {
        assert!(text.contains(&format!("  {:<18} sha256 {}", b.name, b.sha256)), "{}: {text}", b.name);
    }
    assert!(text.contains(&format!("Installed in {}:", setup.path("plugins").display())), "{text}");
    assert!(text.contains(&format!("  {:<18} sha256 {mine_hash}", "mine")), "{text}");
    let enabled = text.split("Enabled, in the order they decide").nth(1).expect("enabled section");
    let wr = bundled::find("warrant-required").expect("bundled").sha256;
    assert!(enabled.contains(&format!("  {:<18} bundled, sha256 {wr}", "warrant-required")), "{text}");
    assert!(
        enabled.contains(&format!(
            "  {:<18} file {}, sha256 {mine_hash}",
            "mine",
            setup.path("plugins/mine.wasm").display()
        )),
        "{text}"
    );
    assert!(
        enabled.contains(&format!(
            "  {:<18} file {}, sha256 {}",
            "ask-resident",
            setup.path("plugins/ask-resident.wasm").display(),
            porchlight::digest::sha256_hex(&ask)
        )),
        "{text}"
    );
    assert!(enabled.contains(&format!("  {:<18} REFUSED: \"deny-all\" is both", "deny-all")), "{text}");

    // No config file at the default path and none named: the bundled ones only.
    let out = std::process::Command::new(porchlight_e2e::binary())
        .args(["plugin", "list"])
        .env_remove("PORCHLIGHT_CONFIG")
        .output()
        .expect("run porchlight");
    let text = output_text(&out);
    if std::path::Path::new(porchlight::config::DEFAULT_PATH).exists() {
        eprintln!("{} exists here; the no-config case is not checked", porchlight::config::DEFAULT_PATH);
    } else {
        assert_eq!(out.status.code(), Some(0), "{text}");
        assert!(text.contains(&format!("  {:<18} sha256 {wr}", "warrant-required")), "{text}");
        assert!(text.contains("No config file"), "{text}");
    }
    // A config named but missing: a config error.
    let out = std::process::Command::new(porchlight_e2e::binary())
        .args(["plugin", "list", "--config", "/nonexistent/porchlight.toml"])
        .output()
        .expect("run porchlight");
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
}

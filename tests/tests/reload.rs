//! Hot reload through the real binary: valid edits apply, invalid ones are rejected with every
//! problem and the running config stays, rename-style saves are seen, SIGHUP reloads.

use porchlight_e2e::{Daemon, EventStream, Setup, message};
use serde_json::Value;

fn cameras(d: &Daemon) -> Vec<String> {
    let v = d.get_json("/api/cameras");
    v["cameras"]
        .as_array()
        .expect("list")
        .iter()
        .map(|c| c["name"].as_str().unwrap_or("").to_owned())
        .collect()
}

fn camera(name: &str) -> String {
    format!("[[camera]]\nname = \"{name}\"\nrtsp_url = \"rtsp://127.0.0.1:9/{name}\"\n\n")
}

fn is_reload(e: &Value) -> bool {
    e["type"] == "config_reloaded"
}

#[test]
fn valid_edit_applies_invalid_edit_is_rejected_and_rename_save_works() {
    let setup = Setup::new(&camera("porch"));
    let d = Daemon::start(&setup.config);
    let mut events = EventStream::open(d.addr.expect("addr"), None);
    assert_eq!(cameras(&d), ["porch"]);

    // 1. A valid edit in place: a camera is added.
    std::fs::write(
        &setup.config,
        Setup::with_defaults(setup.dir.path(), &(camera("porch") + &camera("yard"))),
    )
    .expect("write");
    let e = events.next_matching(is_reload);
    assert_eq!(e["outcome"], "applied", "{e}");
    assert!(e["changes"].as_array().is_some_and(|c| c.iter().any(|x| x == "camera yard added")), "{e}");
    assert_eq!(cameras(&d), ["porch", "yard"]);
    d.wait_log("yard started", |l| message(l) == "Starting camera" && l["fields"]["camera"] == "yard");

    // 2. An invalid edit: rejected with every problem; the running config stays.
    let broken =
        Setup::with_defaults(setup.dir.path(), &(camera("porch") + &camera("porch") + "[api]\nlisen = 1\n"));
    std::fs::write(&setup.config, broken).expect("write");
    let e = events.next_matching(is_reload);
    assert_eq!(e["outcome"], "rejected", "{e}");
    let problems: Vec<&str> =
        e["problems"].as_array().expect("problems").iter().filter_map(Value::as_str).collect();
    assert!(problems.iter().any(|p| p.contains("duplicate camera name \"porch\"")), "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("config.toml:") && p.contains("lisen")), "{problems:?}");
    assert_eq!(cameras(&d), ["porch", "yard"], "running config must stay after a rejected edit");
    let err =
        d.wait_log("rejection logged", |l| message(l) == "Config reload rejected; the running config stays");
    assert_eq!(err["level"], "ERROR");

    // 3. Editor-style save: write a temp file, rename it over the config.
    let tmp = setup.path(".config.toml.swp");
    std::fs::write(&tmp, Setup::with_defaults(setup.dir.path(), &camera("garden"))).expect("write tmp");
    std::fs::rename(&tmp, &setup.config).expect("rename");
    let e = events.next_matching(is_reload);
    assert_eq!(e["outcome"], "applied", "{e}");
    let changes = e["changes"].to_string();
    assert!(changes.contains("camera garden added"), "{changes}");
    assert!(changes.contains("camera porch removed"), "{changes}");
    assert!(changes.contains("camera yard removed"), "{changes}");
    assert_eq!(cameras(&d), ["garden"]);

    // A second rename-save still works: the watch survives the file being replaced.
    std::fs::write(&tmp, Setup::with_defaults(setup.dir.path(), &(camera("garden") + &camera("drive"))))
        .expect("write tmp");
    std::fs::rename(&tmp, &setup.config).expect("rename");
    let e = events.next_matching(is_reload);
    assert_eq!(e["outcome"], "applied", "{e}");
    assert_eq!(cameras(&d), ["garden", "drive"], "in config order");

    let m = d.get("/metrics").1;
    assert!(m.contains("porchlight_config_reloads_total{result=\"rejected\"} 1"), "{m}");
    assert!(m.contains("porchlight_config_reloads_total{result=\"applied\"} 3"), "{m}");
    assert!(m.contains("porchlight_events_total{kind=\"config_reloaded\"} 4"), "{m}");
}

#[test]
fn changed_camera_is_restarted_and_restart_only_keys_are_reported() {
    let setup = Setup::new(&camera("porch"));
    let d = Daemon::start(&setup.config);
    let mut events = EventStream::open(d.addr.expect("addr"), None);
    let changed = Setup::with_defaults(setup.dir.path(), &camera("porch").replace(":9/porch", ":10/porch"))
        .replace("[api]\nlisten = \"127.0.0.1:0\"", "[api]\nlisten = \"127.0.0.1:1\"");
    let before = d.log_len();
    std::fs::write(&setup.config, changed).expect("write");
    let e = events.next_matching(|e| e["type"] == "config_reloaded");
    assert_eq!(e["outcome"], "applied", "{e}");
    let changes = e["changes"].to_string();
    assert!(changes.contains("camera porch changed"), "{changes}");
    assert!(changes.contains("api.listen (needs restart)"), "{changes}");
    d.wait_log_after(before, "camera stopped", |l| {
        message(l) == "Stopping camera" && l["fields"]["reason"] == "config changed"
    });
    d.wait_log_after(before, "camera restarted", |l| message(l) == "Starting camera");
    let cams = d.get_json("/api/cameras");
    assert_eq!(cams["cameras"][0]["rtsp_url"], "rtsp://127.0.0.1:10/porch");
    // The API still answers on its original address.
    assert_eq!(d.get("/api/health").0, 200);
}

#[test]
fn sighup_reloads() {
    let setup = Setup::new(&camera("porch"));
    let d = Daemon::start(&setup.config);
    // The file has not changed, so only SIGHUP can trigger this reload.
    let before = d.log_len();
    d.signal("HUP");
    d.wait_log_after(before, "SIGHUP reload", |l| {
        message(l) == "Config file unchanged in effect" && l["fields"]["trigger"] == "SIGHUP"
    });
}

/// A policy whose new configuration is refused keeps deciding with the one before, and the
/// resident sees that: `/api/plugins` says rejected (with why) and health is degraded.
#[test]
fn a_refused_policy_config_shows_as_rejected_and_degrades_health() {
    let policy = |mode: &str| {
        format!(
            "{}[plugins]\ndir = \"plugins\"\nenabled = [\"picky\"]\ntime_limit = \"2s\"\n\n\
             [plugins.policy.picky]\nconfig = {{ mode = \"{mode}\" }}\n",
            camera("porch")
        )
    };
    let setup = Setup::new(&policy("allow"));
    std::fs::create_dir_all(setup.path("plugins")).expect("plugins dir");
    std::fs::write(setup.path("plugins/picky.wasm"), porchlight_e2e::plugin_bytes("hostile-plugin"))
        .expect("plugin");
    let d = Daemon::start(&setup.config);
    let plugins = d.get_json("/api/plugins");
    assert_eq!(plugins["plugins"][0]["state"], "loaded", "{plugins}");

    let mut events = EventStream::open(d.addr.expect("api"), None);
    let text = std::fs::read_to_string(&setup.config).expect("config");
    std::fs::write(&setup.config, text.replacen("mode = \"allow\"", "mode = \"dance\"", 1)).expect("write");
    events.next_matching(|e| e["type"] == "plugin_rejected");

    let plugins = d.get_json("/api/plugins");
    let p = &plugins["plugins"][0];
    assert_eq!(p["state"], "rejected", "{plugins}");
    assert_eq!(p["kept_previous"], true, "{plugins}");
    assert!(p["reason"].as_str().is_some_and(|r| r.contains("unknown mode \"dance\"")), "{plugins}");
    let health = d.get_json("/api/health");
    assert_eq!(health["subsystems"]["plugins"]["state"], "degraded", "{health}");
    assert!(
        health["subsystems"]["plugins"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("new version rejected (the one before keeps deciding): picky:")),
        "{health}"
    );
    assert_eq!(health["status"], "degraded", "{health}");
}

//! Config tests that need the whole pipeline (raw → validated settings).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

fn env() -> Env {
    Env::from_pairs([("HOME", "/home/resident")])
}

fn parse_ok(text: &str) -> Settings {
    match parse(Path::new("/etc/porchlight/config.toml"), text.to_owned(), &env()) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

fn problems(text: &str) -> Vec<String> {
    match parse(Path::new("/etc/porchlight/config.toml"), text.to_owned(), &env()) {
        Ok(_) => panic!("expected problems"),
        Err(e) => e.problems(),
    }
}

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config.example.toml")
}

#[test]
fn example_config_loads_with_documented_values() {
    let s = match load(&example_path(), &env()) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(s.hub.name, "porchlight");
    assert_eq!(s.api.listen.to_string(), "127.0.0.1:8477");
    assert!(s.api.token.is_none());
    assert_eq!(s.hub.shutdown_timeout, Duration::from_secs(10));
    assert_eq!(s.storage.segment_duration, Duration::from_secs(60));
    assert_eq!(s.storage.min_free_bytes, 1 << 30);
    assert_eq!(s.cameras.len(), 1);
    assert_eq!(s.cameras[0].name, "front_door");
    assert_eq!(s.cameras[0].tags, ["street", "doorbell"]);
    assert!(!s.discovery.enabled && !s.mqtt.enabled && !s.relay.enabled);
    assert!(s.plugins.dir.ends_with("plugins"));
}

/// The field names serde knows for a section, from its own "unknown field" message.
fn fields<T: serde::de::DeserializeOwned + fmt::Debug>() -> Vec<String> {
    let err = toml::from_str::<T>("zz_not_a_key = 1").expect_err("unknown key");
    let msg = err.message().to_owned();
    msg.split_once("expected")
        .map(|(_, e)| e)
        .unwrap_or("")
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// Every key of every section appears in `config.example.toml` and in `docs/ref/config.md`.
#[test]
fn every_key_is_documented() {
    let example = std::fs::read_to_string(example_path()).expect("example");
    let docs = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/ref/config.md"))
        .expect("docs/ref/config.md");
    let sections: Vec<(&str, Vec<String>)> = vec![
        ("hub", fields::<raw::Hub>()),
        ("api", fields::<raw::Api>()),
        ("storage", fields::<raw::Storage>()),
        ("camera", fields::<raw::Camera>()),
        ("discovery", fields::<raw::Discovery>()),
        ("mqtt", fields::<raw::Mqtt>()),
        ("mqtt.ring", fields::<raw::MqttRing>()),
        ("plugins", fields::<raw::Plugins>()),
        ("plugins", fields::<raw::PolicyEntry>()),
        ("relay", fields::<raw::Relay>()),
        ("stills", fields::<raw::Stills>()),
        ("restream", fields::<raw::Restream>()),
    ];
    for (section, keys) in sections {
        assert!(!keys.is_empty(), "{section}: no fields found");
        let header = if section == "camera" { "[[camera]]".to_owned() } else { format!("[{section}]") };
        let line = format!("\n{header}\n");
        let start = example.find(&line).unwrap_or_else(|| panic!("{header} missing from example"));
        let rest = &example[start + line.len() - 1..];
        let end = rest.find("\n[").unwrap_or(rest.len());
        let block = &rest[..end];
        for key in keys {
            let documented = block.lines().any(|l| {
                let l = l.trim_start_matches(['#', ' ']);
                l.starts_with(&format!("{key} ="))
            }) || block.contains(&format!("[{section}.{key}."));
            assert!(documented, "{section}.{key} is not in config.example.toml's {header} block");
            assert!(docs.contains(&format!("`{key}`")), "{section}.{key} is not in docs/ref/config.md");
        }
    }
}

#[test]
fn empty_file_is_all_defaults() {
    let s = parse_ok("");
    assert_eq!(s.hub.data_dir, Path::new("/home/resident/.local/state/porchlight"));
    assert_eq!(s.storage.dir, s.hub.data_dir.join("recordings"));
    assert_eq!(s.plugins.dir, Path::new("/etc/porchlight/plugins"));
    let as_root =
        parse(Path::new("/etc/p/config.toml"), String::new(), &env().with_root(true)).expect("valid");
    assert_eq!(as_root.hub.data_dir, Path::new("/var/lib/porchlight"));
    assert_eq!(s.mqtt.client_id, "porchlight-porchlight");
}

#[test]
fn state_directory_wins_for_data_dir() {
    let env = Env::from_pairs([("STATE_DIRECTORY", "/var/lib/porchlight:/var/lib/other")]);
    let s = parse(Path::new("/etc/p/config.toml"), String::new(), &env).expect("valid");
    assert_eq!(s.hub.data_dir, Path::new("/var/lib/porchlight"));
}

#[test]
fn credentials_move_out_of_camera_urls() {
    let s = parse_ok(
        "[[camera]]\nname = \"a\"\nrtsp_url = \"rtsp://admin:p%40ss@127.0.0.1:554/s\"\nonvif_url = \"http://admin:p%40ss@127.0.0.1/onvif/device_service\"\n",
    );
    let c = &s.cameras[0];
    assert_eq!(c.rtsp_url.as_ref().map(ToString::to_string).as_deref(), Some("rtsp://127.0.0.1:554/s"));
    assert_eq!(
        c.onvif_url.as_ref().map(ToString::to_string).as_deref(),
        Some("http://127.0.0.1/onvif/device_service")
    );
    assert_eq!(c.username.as_deref(), Some("admin"));
    assert_eq!(c.password.as_ref().map(Secret::expose), Some("p@ss"));
    let p = problems(
        "[[camera]]\nname = \"a\"\nrtsp_url = \"rtsp://admin:one@127.0.0.1/s\"\npassword = \"two\"\n",
    );
    assert!(p[0].contains("camera[0].rtsp_url: a different password"), "{p:?}");
}

#[test]
fn secret_sources() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("cam"), "from-file\n").expect("write");
    let cfg = dir.path().join("config.toml");
    let text = "[[camera]]\nname = \"a\"\nrtsp_url = \"rtsp://127.0.0.1/a\"\npassword_file = \"cam\"\n\
                [[camera]]\nname = \"b\"\nrtsp_url = \"rtsp://127.0.0.1/b\"\npassword_env = \"B_PASS\"\n";
    let env = Env::from_pairs([("B_PASS", "from-env"), ("HOME", "/tmp")]);
    let s = parse(&cfg, text.to_owned(), &env).expect("valid");
    assert_eq!(s.cameras[0].password.as_ref().map(Secret::expose), Some("from-file"));
    assert_eq!(s.cameras[1].password.as_ref().map(Secret::expose), Some("from-env"));

    // Relative names are systemd credentials when $CREDENTIALS_DIRECTORY is set.
    let creds = tempfile::tempdir().expect("tempdir");
    std::fs::write(creds.path().join("cam"), "from-credential").expect("write");
    let env = Env::from_pairs([
        ("B_PASS", "x"),
        ("CREDENTIALS_DIRECTORY", creds.path().to_str().expect("utf-8")),
        ("HOME", "/tmp"),
    ]);
    let s = parse(&cfg, text.to_owned(), &env).expect("valid");
    assert_eq!(s.cameras[0].password.as_ref().map(Secret::expose), Some("from-credential"));

    let p = problems(
        "[[camera]]\nname = \"a\"\nrtsp_url = \"rtsp://127.0.0.1/a\"\npassword = \"x\"\npassword_env = \"Y\"\n",
    );
    assert!(p[0].contains("give only one of `password`, `password_file` and `password_env`"), "{p:?}");
    let p = problems(
        "[[camera]]\nname = \"a\"\nrtsp_url = \"rtsp://127.0.0.1/a\"\npassword_env = \"UNSET_VAR\"\n",
    );
    assert!(p[0].contains("environment variable UNSET_VAR is not set"), "{p:?}");
}

#[test]
fn disabled_sections_do_not_read_their_secrets() {
    let s = parse_ok("[mqtt]\nenabled = false\npassword_file = \"/nonexistent\"\n");
    assert!(s.mqtt.password.is_none());
    let p = problems("[mqtt]\nenabled = true\nhost = \"127.0.0.1\"\npassword_file = \"/nonexistent\"\n");
    assert!(p[0].contains("mqtt.password_file: cannot read /nonexistent"), "{p:?}");
}

#[test]
fn log_level_typo_is_caught() {
    let p = problems("[hub]\nlog_level = \"loud\"\n");
    assert!(p[0].contains("hub.log_level: \"loud\" is not a log level"), "{p:?}");
    for ok in ["debug", "info,porchlight=debug", "porchlight::reload=trace", "WARN", "porchlight"] {
        parse_ok(&format!("[hub]\nlog_level = {ok:?}\n"));
    }
}

#[test]
fn missing_required_key_points_at_its_section() {
    let p = problems("[hub]\nname = \"x\"\n\n[mqtt]\nenabled = true\n");
    assert_eq!(p, ["/etc/porchlight/config.toml:4:2: mqtt.host: is required when `mqtt.enabled = true`"]);
}

#[test]
fn names_and_urls_are_checked() {
    let p = problems(
        "[hub]\nname = \"My Hub\"\n[[camera]]\nname = \"-x\"\nrtsp_url = \"rtsp://127.0.0.1/a\"\ntags = [\"ok\", \"Not OK\"]\n\
         [relay]\nurl = \"http://center.example/x\"\nhub_id = \"../etc\"\n",
    );
    let all = p.join("\n");
    assert!(all.contains("hub.name: hub name \"My Hub\" must be"), "{all}");
    assert!(all.contains("camera[0].name: camera name \"-x\" must be"), "{all}");
    assert!(all.contains("camera[0].tags[1]: tag \"Not OK\" must be"), "{all}");
    assert!(all.contains("relay.url: the relay must use https"), "{all}");
    assert!(all.contains("relay.hub_id: hub id \"../etc\" must be"), "{all}");
}

#[test]
fn sections_must_be_tables() {
    let p = problems("hub = 3\ncamera = \"x\"\n");
    assert!(p[0].contains("hub: must be a table (`[hub]`), found integer"), "{p:?}");
    assert!(p[1].contains("camera: must be a list of `[[camera]]` tables, found string"), "{p:?}");
}

#[test]
fn misspelt_or_bad_plugin_tables_are_reported_even_when_not_enabled() {
    let p = problems(
        "[plugins]\nenabled = [\"warrant-required\"]\n[plugins.policy.warrant-requird]\nsha256 = \"zz\"\n",
    );
    let all = p.join("\n");
    assert!(all.contains("plugins.policy.warrant-requird.sha256: must be 64 hexadecimal digits"), "{all}");
    assert!(
        all.contains("plugin \"warrant-requird\" is not enabled (did you mean `warrant-required`?)"),
        "{all}"
    );
    // A table for a plugin that is simply switched off is fine.
    parse_ok("[plugins]\nenabled = []\n[plugins.policy.quiet-hours]\nconfig = { start = \"22:00\" }\n");
}

#[test]
fn relative_paths_become_absolute() {
    let s =
        parse(Path::new("conf/config.toml"), "[hub]\ndata_dir = \"data\"\n".into(), &env()).expect("valid");
    assert!(s.hub.data_dir.is_absolute(), "{}", s.hub.data_dir.display());
    assert!(s.hub.data_dir.ends_with("conf/data"));
}

#[test]
fn plugins_section_resolves_order_limits_and_config() {
    let p = problems(
        "[plugins]\nenabled = [\"warrant-required\", \"street-only\", \"street-only\", \"Bad Name\"]\ntime_limit = \"20s\"\n\
         [plugins.policy.street-only]\nmemory_limit = \"1 GiB\"\nsha256 = \"AB\"\nconfig = { tag = \"street\" }\n",
    );
    let all = p.join("\n");
    assert!(all.contains("plugins.enabled[2]: plugin \"street-only\" is listed twice"), "{all}");
    assert!(all.contains("plugins.enabled[3]: plugin name \"Bad Name\" must be"), "{all}");
    assert!(all.contains("plugins.time_limit: must be between 1ms and 5s"), "{all}");
    assert!(
        all.contains("plugins.policy.street-only.memory_limit: must be between 1 MiB and 256 MiB"),
        "{all}"
    );
    assert!(all.contains("plugins.policy.street-only.sha256: must be 64 hexadecimal digits"), "{all}");

    let s = parse_ok(
        "[plugins]\ndir = \"/srv/policies\"\nenabled = [\"warrant-required\", \"street-only\"]\ntime_limit = \"20ms\"\n\
         [plugins.policy.street-only]\nmemory_limit = \"32 MiB\"\nconfig = { tag = \"street\", exclude_tags = [\"indoor\"] }\n",
    );
    let names: Vec<&str> = s.plugins.enabled.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["warrant-required", "street-only"]);
    assert_eq!(s.plugins.enabled[1].file, Path::new("/srv/policies/street-only.wasm"));
    assert_eq!(s.plugins.enabled[0].limits.time, Duration::from_millis(20));
    assert_eq!(s.plugins.enabled[1].limits.time, Duration::from_millis(20), "inherits the section's limit");
    assert_eq!(s.plugins.enabled[1].limits.memory, 32 << 20);
    assert_eq!(s.plugins.enabled[0].config, "{}");
    let cfg: serde_json::Value = serde_json::from_str(&s.plugins.enabled[1].config).expect("json");
    assert_eq!(cfg, serde_json::json!({ "tag": "street", "exclude_tags": ["indoor"] }));
}

#[test]
fn a_policy_source_is_bundled_or_file() {
    let s = parse_ok(
        "[plugins]\nenabled = [\"deny-all\", \"mine\", \"street-only\"]\n\
         [plugins.policy.deny-all]\nsource = \"bundled\"\n[plugins.policy.mine]\nsource = \"file\"\n",
    );
    let sources: Vec<Option<PolicySource>> = s.plugins.enabled.iter().map(|p| p.source).collect();
    assert_eq!(sources, [Some(PolicySource::Bundled), Some(PolicySource::File), None]);
    let p = problems(
        "[plugins]\nenabled = [\"deny-all\"]\n[plugins.policy.deny-all]\nsource = \"builtin\"\n\
         [plugins.policy.later]\nsource = \"disk\"\n",
    );
    let all = p.join("\n");
    assert!(
        all.contains("plugins.policy.deny-all.source: \"builtin\" is not a source: \"bundled\""),
        "{all}"
    );
    assert!(all.contains("plugins.policy.later.source: \"disk\" is not a source"), "{all}");
}

#[test]
fn https_camera_trust_and_discovery_adoption_keys_are_checked() {
    let cam = "[[camera]]\nname = \"gate\"\nonvif_url = \"https://10.0.0.5/onvif/device_service\"\n";
    let pin = "AB:".repeat(31) + "AB";
    let s = parse_ok(&format!("{cam}onvif_tls_sha256 = \"{pin}\"\n"));
    assert_eq!(s.cameras[0].onvif_tls, OnvifTrust::Sha256([0xab; 32]));
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("camera-ca.pem");
    std::fs::write(&ca, "").expect("write");
    let s = parse_ok(&format!("{cam}onvif_ca_file = {:?}\n", ca.display().to_string()));
    assert_eq!(s.cameras[0].onvif_tls, OnvifTrust::CaFile(ca));
    // Relative to the config file's directory, and checked.
    let p = problems(&format!("{cam}onvif_ca_file = \"camera-ca.pem\"\n"));
    assert!(p.iter().any(|p| p.contains("/etc/porchlight/camera-ca.pem: no such file")), "{p:?}");
    let p = problems(&format!("{cam}onvif_tls_sha256 = \"abc\"\n"));
    assert!(
        p.iter().any(|p| p.contains("camera[0].onvif_tls_sha256") && p.contains("64 hexadecimal")),
        "{p:?}"
    );
    let p = problems(&format!("{cam}onvif_tls_sha256 = \"{pin}\"\nonvif_ca_file = \"/x.pem\"\n"));
    assert!(p.iter().any(|p| p.contains("not both")), "{p:?}");

    let p = problems("[discovery]\nadopt = true\npassword = \"pw\"\ntags = [\"Bad Tag\"]\nignore = [\"\"]\n");
    for (key, what) in [
        ("discovery.adopt", "needs `discovery.enabled = true`"),
        ("discovery.tags[0]", "tag"),
        ("discovery.ignore[0]", "endpoint address"),
    ] {
        assert!(p.iter().any(|p| p.contains(key) && p.contains(what)), "{key}: {p:?}");
    }
    let p = problems("[discovery]\nenabled = true\npassword = \"pw\"\n");
    assert!(p.iter().any(|p| p.contains("discovery.username") && p.contains("required")), "{p:?}");
    let s = parse_ok("[discovery]\nenabled = true\nadopt = true\nrecord = \"events\"\n");
    assert_eq!(s.discovery.record, RecordMode::Events);
    assert_eq!(s.discovery.tags, ["adopted"]);
}

#[test]
fn stills_ffmpeg_is_a_name_in_path_or_a_path_from_the_config_file() {
    assert_eq!(parse_ok("").stills.ffmpeg, Path::new("ffmpeg"));
    assert_eq!(parse_ok("[stills]\nffmpeg = \"avconv\"\n").stills.ffmpeg, Path::new("avconv"));
    assert_eq!(
        parse_ok("[stills]\nffmpeg = \"bin/ffmpeg\"\n").stills.ffmpeg,
        Path::new("/etc/porchlight/bin/ffmpeg")
    );
    assert_eq!(
        parse_ok("[stills]\nffmpeg = \"/opt/ff/ffmpeg\"\n").stills.ffmpeg,
        Path::new("/opt/ff/ffmpeg")
    );
    let p = problems("[stills]\nffmpeg = \" \"\n");
    assert!(p.iter().any(|m| m.contains("stills.ffmpeg")), "{p:?}");
    let p = problems("[stills]\nfmpeg = \"ffmpeg\"\n");
    assert!(p.iter().any(|m| m.contains("fmpeg")), "{p:?}");
}

#[test]
fn mqtt_snapshot_interval_defaults_to_five_minutes_within_5s_and_24h() {
    assert_eq!(parse_ok("").mqtt.snapshot_interval, Duration::from_secs(300));
    assert_eq!(
        parse_ok("[mqtt]\nsnapshot_interval = \"30s\"\n").mqtt.snapshot_interval,
        Duration::from_secs(30)
    );
    for bad in ["4s", "25h"] {
        let p = problems(&format!("[mqtt]\nsnapshot_interval = \"{bad}\"\n"));
        assert!(
            p.iter().any(|m| m.contains("mqtt.snapshot_interval") && m.contains("between 5s and 24h")),
            "{p:?}"
        );
    }
}

#[test]
fn restream_is_off_by_default_on_loopback() {
    let s = parse_ok("");
    assert!(!s.restream.enabled);
    assert_eq!(s.restream.listen.to_string(), "127.0.0.1:8554");
    assert_eq!(s.restream.max_clients, 16);
    assert!(s.restream.login.is_none() && s.restream.cameras.is_none());
    let s = parse_ok(
        "[restream]\nenabled = true\nusername = \"viewer\"\npassword = \"pw\"\ncameras = [\"front\"]\n",
    );
    let (user, password) = s.restream.login.expect("login");
    assert_eq!((user.as_str(), password.expose()), ("viewer", "pw"));
    assert_eq!(s.restream.cameras, Some(vec!["front".to_owned()]));
}

#[test]
fn restream_beyond_loopback_needs_a_login() {
    let p = problems("[restream]\nenabled = true\nlisten = \"0.0.0.0:8554\"\n");
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].contains(":3:") && p[0].contains("restream.listen") && p[0].contains("username"), "{p:?}");
    // Off, it is not checked; with a login, it is fine.
    parse_ok("[restream]\nlisten = \"0.0.0.0:8554\"\n");
    let s = parse_ok(
        "[restream]\nenabled = true\nlisten = \"0.0.0.0:8554\"\nusername = \"v\"\npassword = \"pw\"\n",
    );
    assert!(s.restream.login.is_some());
    // A password from a variable that is not set is a problem of its own key, besides.
    let p = problems(
        "[restream]\nenabled = true\nlisten = \"0.0.0.0:8554\"\nusername = \"v\"\npassword_env = \"NOT_SET\"\n",
    );
    assert!(p.iter().any(|l| l.contains("restream.password_env") && l.contains("NOT_SET")), "{p:?}");
    let p = problems("[restream]\nenabled = true\npassword = \"pw\"\nmax_clients = 0\n");
    assert!(p.iter().any(|l| l.contains("restream.username: is required")), "{p:?}");
    assert!(p.iter().any(|l| l.contains(":4:") && l.contains("restream.max_clients")), "{p:?}");
}

//! Config validation through the real binary: every problem at once, with file, line and column.

use porchlight_e2e::{Daemon, Setup, WAIT};

const BAD: &str = r#"[hub]
name = "home"
data_dir = "/tmp/never-used"
log_levle = "debug"

[api]
listen = 8477

[[camera]]
name = "front"
rtsp_url = "rtsp://127.0.0.1/front"

[[camera]]
name = "front"
rtsp_url = "rtsp://127.0.0.1/back"
"#;

fn problems(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains(".toml:")).collect()
}

#[test]
fn typo_wrong_type_and_duplicate_camera_all_reported_with_lines() {
    let setup = Setup::raw(BAD);
    let file = setup.config.display().to_string();
    for cmd in ["run", "check-config"] {
        let mut d = Daemon::spawn(&[cmd, "--config", &file], &[]);
        let status = d.wait_exit(WAIT);
        assert_eq!(status.code(), Some(2), "{cmd}");
        let text = d.log_text();
        let stderr: Vec<String> =
            d.logs().iter().map(|l| l.as_str().map_or_else(|| l.to_string(), str::to_owned)).collect();
        let stderr = stderr.join("\n");
        let lines = problems(&stderr);
        assert_eq!(
            lines,
            [
                format!("{file}:4:1: hub.log_levle: unknown key `log_levle` (did you mean `log_level`?)")
                    .as_str(),
                format!("{file}:7:10: api.listen: invalid type: integer `8477`, expected a string").as_str(),
                format!(
                    "{file}:14:8: camera[1].name: duplicate camera name \"front\" (first defined at line 10)"
                )
                .as_str(),
            ],
            "{cmd}: {text}"
        );
        assert!(stderr.contains("3 problems in"), "{stderr}");
        assert!(stderr.contains("docs/ref/config.md"), "{stderr}");
    }
}

#[test]
fn syntax_error_names_line() {
    let setup = Setup::raw("[hub]\nname = \"x\"\n[api\nlisten = \"127.0.0.1:0\"\n");
    let file = setup.config.display().to_string();
    let mut d = Daemon::spawn(&["check-config", "--config", &file], &[]);
    assert_eq!(d.wait_exit(WAIT).code(), Some(2));
    let text = d.log_text();
    assert!(text.contains(&format!("{file}:3:")), "{text}");
    assert!(text.contains("TOML syntax"), "{text}");
}

#[test]
fn missing_config_file_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("nope.toml").display().to_string();
    let mut d = Daemon::spawn(&["run", "--config", &file], &[]);
    assert_eq!(d.wait_exit(WAIT).code(), Some(2));
    assert!(d.log_text().contains("cannot read config file"), "{}", d.log_text());
}

#[test]
fn config_path_from_environment() {
    let setup = Setup::new("");
    let file = setup.config.display().to_string();
    let mut d = Daemon::spawn(&["check-config"], &[("PORCHLIGHT_CONFIG", file.as_str())]);
    assert_eq!(d.wait_exit(WAIT).code(), Some(0), "{}", d.log_text());
    assert!(d.stdout().contains(&format!("{file}: OK")));
}

#[test]
fn unknown_subcommand_is_a_usage_error() {
    let mut d = Daemon::spawn(&["fly"], &[]);
    assert_eq!(d.wait_exit(WAIT).code(), Some(2));
}

#[test]
fn non_loopback_bind_without_token_is_refused() {
    let setup = Setup::new("[api]\nlisten = \"0.0.0.0:8477\"\n");
    let file = setup.config.display().to_string();
    let mut d = Daemon::spawn(&["run", "--config", &file], &[]);
    assert_eq!(d.wait_exit(WAIT).code(), Some(2));
    let text = d.log_text();
    assert!(
        text.contains("config.toml:8:10: api.listen: refusing to serve the API on non-loopback address 0.0.0.0:8477 without a token"),
        "{text}"
    );
    // With a token the same address validates.
    let with_token = Setup::new("[api]\nlisten = \"0.0.0.0:8477\"\ntoken = \"long-random-token\"\n");
    let mut d = Daemon::spawn(&["check-config", "--config", &with_token.config.display().to_string()], &[]);
    assert_eq!(d.wait_exit(WAIT).code(), Some(0), "{}", d.log_text());
}

#[test]
fn unreadable_password_file_and_bad_url_reported() {
    let setup = Setup::new(
        "[[camera]]\nname = \"yard\"\nrtsp_url = \"http://127.0.0.1/x\"\npassword_file = \"/nonexistent/secret\"\n\n[mqtt]\nenabled = true\n",
    );
    let file = setup.config.display().to_string();
    let mut d = Daemon::spawn(&["check-config", "--config", &file], &[]);
    assert_eq!(d.wait_exit(WAIT).code(), Some(2));
    let text = d.log_text();
    assert!(
        text.contains("camera[0].rtsp_url: URL scheme `http` is not supported here; use rtsp or rtsps"),
        "{text}"
    );
    assert!(text.contains("camera[0].password_file: cannot read /nonexistent/secret"), "{text}");
    assert!(text.contains("mqtt.host: is required when `mqtt.enabled = true`"), "{text}");
}

/// What only a start would have shown: a policy that refuses its configuration, a data
/// directory that cannot be made. check-config reports them and exits 2.
#[test]
fn check_config_loads_each_policy_and_checks_the_data_directory() {
    let setup = Setup::new(
        "[plugins]\ndir = \"plugins\"\nenabled = [\"picky\", \"absent\"]\n\n\
         [plugins.policy.picky]\nconfig = { mode = \"dance\" }\n",
    );
    std::fs::create_dir_all(setup.path("plugins")).expect("plugins dir");
    std::fs::write(setup.path("plugins/picky.wasm"), porchlight_e2e::plugin_bytes("hostile-plugin"))
        .expect("plugin");
    // The data directory's parent is a file: it cannot be created.
    std::fs::write(setup.path("blocker"), "a file").expect("file");
    let text = std::fs::read_to_string(&setup.config).expect("config");
    let data = setup.path("data").display().to_string();
    let blocked = setup.path("blocker/data").display().to_string();
    std::fs::write(&setup.config, text.replacen(&format!("{data:?}"), &format!("{blocked:?}"), 1))
        .expect("config");

    let out = setup.cli(&["check-config"]);
    let text = porchlight_e2e::output_text(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("hub.data_dir: ") && text.contains("blocker is not a directory"), "{text}");
    assert!(
        text.contains("plugins.enabled: picky would not load, so every request would be denied: the plugin rejected its configuration: unknown mode \"dance\""),
        "{text}"
    );
    assert!(text.contains("plugins.enabled: absent would not load"), "{text}");
    assert!(!setup.path("blocker/data").exists());
}

#[test]
fn a_missing_config_file_says_how_to_give_one() {
    let mut d = Daemon::spawn(&["check-config", "--config", "/nonexistent/porchlight.toml"], &[]);
    assert_eq!(d.wait_exit(WAIT).code(), Some(2));
    let text = d.log_text();
    assert!(
        text.contains(
            "give the config file with --config PATH (or the environment variable PORCHLIGHT_CONFIG)"
        ),
        "{text}"
    );
}

#[test]
fn a_single_bracket_camera_table_gets_a_hint_and_an_unknown_camera_is_named() {
    let setup = Setup::new("[camera]\nname = \"porch\"\nrtsp_url = \"rtsp://127.0.0.1:9/x\"\n");
    let out = setup.cli(&["check-config"]);
    let text = porchlight_e2e::output_text(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("write `[[camera]]` (two brackets) above each camera"), "{text}");

    let setup =
        Setup::new("[[camera]]\nname = \"porch\"\nrtsp_url = \"rtsp://127.0.0.1:9/x\"\nrecord = \"off\"\n");
    let clip = setup.path("clip.mp4").display().to_string();
    let out = setup.cli(&[
        "clip",
        "export",
        "--camera",
        "nosuchcam",
        "--from",
        "-1h",
        "--to",
        "now",
        "--output",
        &clip,
    ]);
    let text = porchlight_e2e::output_text(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("there is no camera \"nosuchcam\" (the config has: porch)"), "{text}");
}

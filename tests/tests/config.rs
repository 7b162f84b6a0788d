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

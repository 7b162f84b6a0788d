//! Secrets (camera, MQTT, relay passwords, the API token) never appear in logs, API output or
//! `check-config` output, whichever way they are given.

use porchlight_e2e::{Daemon, Setup, WAIT, http_get};

const CAM_INLINE: &str = "cam-inline-9f8e7d";
const CAM_URL: &str = "url-pass-1a2b3c";
const MQTT_FILE: &str = "mqtt-file-4d5e6f";
const RELAY_ENV: &str = "relay-env-7a8b9c";
const API_TOKEN: &str = "api-token-0c1d2e3f";

#[test]
fn secrets_never_appear_in_logs_or_api_output() {
    let setup = Setup::raw("");
    std::fs::write(setup.path("mqtt-pass"), format!("{MQTT_FILE}\n")).expect("secret file");
    let text = Setup::with_defaults(
        setup.dir.path(),
        &format!(
            r#"[api]
listen = "127.0.0.1:0"
token_env = "TEST_API_TOKEN"

[[camera]]
name = "front"
rtsp_url = "rtsp://127.0.0.1:9/front"
username = "admin"
password = "{CAM_INLINE}"

[[camera]]
name = "back"
rtsp_url = "rtsp://viewer:{CAM_URL}@127.0.0.1:9/back"

[mqtt]
enabled = true
host = "127.0.0.1"
password_file = "mqtt-pass"

[relay]
enabled = true
url = "https://127.0.0.1:9/center"
hub_id = "test"
token_env = "TEST_RELAY_TOKEN"
"#
        ),
    )
    // Trace everything: the effective settings are logged at debug level.
    .replace("log_level = \"info,porchlight=debug\"", "log_level = \"trace\"");
    std::fs::write(&setup.config, text).expect("config");
    let env = [("TEST_API_TOKEN", API_TOKEN), ("TEST_RELAY_TOKEN", RELAY_ENV)];
    let mut d = Daemon::start_with(&setup.config, &env);
    d.token = Some(API_TOKEN.to_owned());
    let addr = d.addr.expect("addr");

    // The token is required, and a wrong one is refused.
    assert_eq!(http_get(addr, "/api/health", None).0, 401);
    assert_eq!(http_get(addr, "/api/health", Some("api-token-0c1d2e3X")).0, 401);
    assert_eq!(http_get(addr, "/metrics", None).0, 401);

    let mut outputs = Vec::new();
    for path in ["/api/health", "/api/cameras", "/metrics"] {
        let (code, body) = d.get(path);
        assert_eq!(code, 200, "{path}: {body}");
        outputs.push(body);
    }
    let cams = d.get_json("/api/cameras");
    assert_eq!(cams["cameras"][1]["name"], "back", "{cams}");
    assert_eq!(cams["cameras"][1]["rtsp_url"], "rtsp://127.0.0.1:9/back", "credentials stripped from URL");

    // A reload logs changes too; make one that touches secrets.
    let before = d.log_len();
    d.signal("HUP");
    d.wait_log_after(before, "reload", |l| porchlight_e2e::message(l).starts_with("Config"));

    d.signal("TERM");
    assert_eq!(d.wait_exit(WAIT).code(), Some(0));
    let logs = d.log_text();
    assert!(logs.contains("Effective settings"), "the settings were logged (redacted): {logs}");
    assert!(logs.contains("[redacted]"), "{logs}");

    let mut check = Daemon::spawn(&["check-config", "--config", &setup.config.display().to_string()], &env);
    assert_eq!(check.wait_exit(WAIT).code(), Some(0));
    outputs.push(check.stdout());
    outputs.push(check.log_text());

    for secret in [CAM_INLINE, CAM_URL, MQTT_FILE, RELAY_ENV, API_TOKEN] {
        assert!(!logs.contains(secret), "secret {secret} in logs");
        for out in &outputs {
            assert!(!out.contains(secret), "secret {secret} in output: {out}");
        }
    }
}

#[test]
fn invalid_url_with_password_is_not_echoed() {
    let setup = Setup::new("[[camera]]\nname = \"x\"\nrtsp_url = \"rtsp://u:pw-secret-55@[bad\"\n");
    let mut d = Daemon::spawn(&["check-config", "--config", &setup.config.display().to_string()], &[]);
    assert_eq!(d.wait_exit(WAIT).code(), Some(2));
    let text = d.log_text();
    assert!(text.contains("camera[0].rtsp_url: not a valid URL"), "{text}");
    assert!(!text.contains("pw-secret-55"), "{text}");
}

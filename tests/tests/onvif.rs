//! `porchlight discover` against a third-party ONVIF device: the `oxvif` crate's mock camera
//! (HTTP device, media and events services with WS-Security) and its WS-Discovery responder,
//! both on ephemeral loopback ports. Multicast is not used here (only inside a namespace).

use std::path::Path;

use oxvif::DiscoveredDevice;
use oxvif::mock::{DiscoveryResponder, MockServer};
use porchlight_e2e::{Daemon, Setup, WAIT};
use serde_json::Value;

struct Camera {
    runtime: tokio::runtime::Runtime,
    server: Option<MockServer>,
    responder: Option<DiscoveryResponder>,
}

impl Camera {
    /// A mock camera that wants a password, answering unicast probes on loopback.
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let (server, responder) = runtime.block_on(async {
            let server = MockServer::builder().enforce_auth(true).start().await.expect("mock camera");
            let dev = DiscoveredDevice {
                endpoint: "urn:uuid:5f5a1a2e-0000-4000-8000-00005e005301".into(),
                types: vec!["dn:NetworkVideoTransmitter".into()],
                scopes: vec![
                    "onvif://www.onvif.org/name/Front%20Door".into(),
                    "onvif://www.onvif.org/hardware/MockCam-1080p".into(),
                ],
                xaddrs: vec![server.device_url().to_owned()],
            };
            let responder = DiscoveryResponder::spawn("127.0.0.1:0", false, dev).await.expect("responder");
            (server, responder)
        });
        Self { runtime, server: Some(server), responder: Some(responder) }
    }

    fn probe_addr(&self) -> String {
        self.responder.as_ref().expect("responder").local_addr().to_string()
    }

    /// The mock's device service address (host and port).
    fn device_addr(&self) -> std::net::SocketAddr {
        let url = self.device_url();
        let host_port = url.trim_start_matches("http://").split('/').next().unwrap_or_default().to_owned();
        host_port.parse().unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    fn device_url(&self) -> String {
        self.server.as_ref().expect("server").device_url().to_owned()
    }

    /// The next `times` calls whose SOAP action ends in `action` (`GetStreamUri`, or
    /// `ver10/media/wsdl/GetStreamUri` for Media1's only) are answered with an
    /// ActionNotSupported fault, as by a camera without that call (the mock's fault injection;
    /// its fault carries the ONVIF code as the top-level value).
    fn not_supported(&self, action: &str, times: usize) {
        let server = self.server.as_ref().expect("server");
        for _ in 0..times {
            server.inject_fault(action, "ter:ActionNotSupported", "Optional action not supported");
        }
    }
}

impl Drop for Camera {
    fn drop(&mut self) {
        let (server, responder) = (self.server.take(), self.responder.take());
        self.runtime.block_on(async {
            if let Some(r) = responder {
                r.shutdown().await;
            }
            if let Some(s) = server {
                let _ = s.shutdown().await;
            }
        });
    }
}

/// Runs `porchlight discover ARGS` (no config needed) and returns stdout.
fn discover(args: &[&str]) -> String {
    let mut all = vec!["discover"];
    all.extend_from_slice(args);
    let mut p = Daemon::spawn(&all, &[]);
    let status = p.wait_exit(WAIT);
    let out = p.stdout();
    assert!(status.success(), "porchlight {all:?} failed ({status}):\n{}\n{out}", p.log_text());
    out
}

fn password_file(dir: &Path, password: &str) -> String {
    let path = dir.join("camera-password");
    std::fs::write(&path, format!("{password}\n")).expect("write password");
    path.display().to_string()
}

/// `discover --json` probing `cam` by unicast only, logging in as admin with `password`.
fn discover_unicast(cam: &Camera, password: &str) -> (String, Value) {
    let dir = tempfile::tempdir().expect("tempdir");
    let pw = password_file(dir.path(), password);
    let probe = cam.probe_addr();
    let args = [
        "--no-multicast",
        "--probe",
        &probe,
        "--timeout",
        "1s",
        "--user",
        "admin",
        "--password-file",
        &pw,
        "--json",
    ];
    let out = discover(&args);
    let found = serde_json::from_str(&out).expect("JSON");
    (out, found)
}

#[test]
fn discover_finds_a_camera_by_unicast_probe_and_reads_its_model_profiles_and_streams() {
    let cam = Camera::start();
    let (out, found) = discover_unicast(&cam, "admin");
    let list = found.as_array().expect("array");
    assert_eq!(list.len(), 1, "{out}");
    let d = &list[0];
    assert_eq!(d["error"], Value::Null, "{d}");
    assert_eq!(d["onvif_url"].as_str(), Some(cam.device_url().as_str()));
    assert_eq!(d["manufacturer"], "oxvif-mock");
    assert_eq!(d["model"], "MockCam-1080p");
    assert_eq!(d["name"], "Front Door");
    assert!(d["profiles"].as_array().is_some_and(|p| !p.is_empty()), "{d}");
    let main = d["main_stream"].as_str().expect("a main stream");
    assert!(main.starts_with("rtsp://"), "{main}");
    assert!(!main.contains("admin"), "credentials never printed: {main}");
    assert_eq!(d["events"], true);
    assert_eq!(d["addresses"][0], "127.0.0.1");
    // The topics it can send, and what Porchlight makes of them.
    let topics = d["event_topics"].as_array().expect("event topics");
    assert!(
        topics.iter().any(|t| t["topic"] == "Device/Trigger/DigitalInput" && t["kind"] == "doorbell"),
        "{topics:?}"
    );
}

/// `discover --json --url` of `cam`, logged in as admin.
fn discover_url(cam: &Camera) -> Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let pw = password_file(dir.path(), "admin");
    let url = cam.device_url();
    let out = discover(&["--url", &url, "--user", "admin", "--password-file", &pw, "--json"]);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("JSON: {e}\n{out}"))
}

/// A camera whose media services both refuse GetStreamUri still has its snapshot address and
/// event topics read: one lookup failing does not end the others; the missing stream is
/// reported.
#[test]
fn discover_reads_the_snapshot_and_events_of_a_camera_without_get_stream_uri() {
    let cam = Camera::start();
    // Media1 and Media2, for the main and the sub profile.
    cam.not_supported("GetStreamUri", 4);
    let found = discover_url(&cam);
    let d = &found[0];
    assert_eq!(d["manufacturer"], "oxvif-mock", "{d}");
    assert!(d["main_stream"].is_null(), "{d}");
    assert!(d["snapshot"].as_str().is_some_and(|u| u.ends_with("/mock/snapshot.jpg")), "{d}");
    assert!(d["event_topics"].as_array().is_some_and(|t| !t.is_empty()), "{d}");
    let error = d["error"].as_str().unwrap_or_default();
    assert!(error.contains("GetStreamUri") && error.contains("does not support"), "{d}");
}

/// Media1's GetStreamUri not supported: the stream comes from Media2 (the mock names another
/// address there), for `discover` and for the daemon, at the first attempt.
#[test]
fn a_stream_uri_media1_does_not_support_is_asked_of_media2() {
    let cam = Camera::start();
    cam.not_supported("ver10/media/wsdl/GetStreamUri", 2);
    let found = discover_url(&cam);
    let d = &found[0];
    assert_eq!(d["error"], Value::Null, "{d}");
    assert_eq!(d["main_stream"], "rtsp://127.0.0.1:554/mock/h265", "{d}");
    assert!(d["snapshot"].as_str().is_some_and(|u| u.ends_with("/mock/snapshot.jpg")), "{d}");

    let server = cam.server.as_ref().expect("server");
    server.clear_faults();
    cam.not_supported("ver10/media/wsdl/GetStreamUri", 1);
    let setup = Setup::new(&format!(
        "[[camera]]\nname = \"door\"\nonvif_url = {:?}\nusername = \"admin\"\npassword = \"admin\"\n",
        cam.device_url()
    ));
    let d = Daemon::start(&setup.config);
    // The first answer, not one after a retry.
    let line = d.wait_log("the stream address", |l| {
        matches!(
            porchlight_e2e::message(l),
            "Stream found through ONVIF" | "Cannot get the stream address from ONVIF; retrying"
        )
    });
    assert_eq!(porchlight_e2e::message(&line), "Stream found through ONVIF", "{line}");
    assert_eq!(line["fields"]["rtsp_url"], "rtsp://127.0.0.1:554/mock/h265", "{line}");
}

#[test]
fn a_wrong_password_is_reported_as_not_authorized_and_the_probe_result_is_still_shown() {
    let cam = Camera::start();
    let (out, found) = discover_unicast(&cam, "not-the-password");
    let d = &found[0];
    let err = d["error"].as_str().expect("an error");
    assert!(err.contains("not authorized"), "{err}");
    assert_eq!(d["name"], "Front Door", "what the probe said is kept");
    assert!(!out.contains("not-the-password"));
}

#[test]
fn discover_prints_camera_blocks_the_config_accepts() {
    let cam = Camera::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let pw = password_file(dir.path(), "admin");
    let blocks = discover(&["--url", &cam.device_url(), "--user", "admin", "--password-file", &pw, "--toml"]);
    assert!(blocks.contains("[[camera]]"), "{blocks}");
    assert!(blocks.contains("username = \"admin\""), "{blocks}");
    let setup = Setup::new(&blocks);
    let mut p = Daemon::spawn(&["check-config", "--config", &setup.config.display().to_string()], &[]);
    let status = p.wait_exit(WAIT);
    assert!(status.success(), "the printed blocks are valid config:\n{blocks}\n{}", p.log_text());
}

#[test]
fn nothing_answering_is_a_clear_message_not_an_error() {
    // A port with nothing behind it on loopback.
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = sock.local_addr().expect("addr").to_string();
    drop(sock);
    let out = discover(&["--no-multicast", "--probe", &addr, "--timeout", "300ms"]);
    assert!(out.contains("No ONVIF devices answered"), "{out}");
    let mut p = Daemon::spawn(&["discover", "--no-multicast", "--probe", "10.0.0.0/8"], &[]);
    assert_eq!(p.wait_exit(WAIT).code(), Some(2), "a /8 is refused: {}", p.log_text());
}

fn mock_addr(cam: &Camera) -> std::net::SocketAddr {
    let base = cam.server.as_ref().expect("server").base_url().trim_start_matches("http://").to_owned();
    base.parse().expect("mock address")
}

#[test]
fn the_daemon_turns_a_cameras_onvif_events_into_motion_and_doorbell_events() {
    let cam = Camera::start();
    let setup = Setup::new(&format!(
        "[[camera]]\nname = \"door\"\nonvif_url = {:?}\nusername = \"admin\"\npassword = \"admin\"\nrecord = \"off\"\n",
        cam.device_url()
    ));
    let d = Daemon::start(&setup.config);
    let mut events = porchlight_e2e::EventStream::open(d.addr.expect("api"), None);
    d.wait_log("the subscription", |l| {
        porchlight_e2e::message(l) == "Subscribed to the camera's ONVIF events"
    });
    // The mock reports motion on and off by itself.
    events.next_matching(|e| e["type"] == "motion_start" && e["camera"] == "door");
    // A press of the doorbell button (the mock's digital input).
    let (code, body) =
        porchlight_e2e::http_post_json(mock_addr(&cam), "/mock/digital-input/DigitalInput_1/pulse", None, "");
    assert_eq!(code, 200, "{body}");
    let press = events.next_matching(|e| e["type"] == "doorbell_press");
    assert_eq!(press["camera"], "door");
}

#[test]
fn a_camera_with_only_an_onvif_url_gets_its_stream_address_from_onvif() {
    let cam = Camera::start();
    let setup = Setup::new(&format!(
        "[[camera]]\nname = \"door\"\nonvif_url = {:?}\nusername = \"admin\"\npassword = \"admin\"\n",
        cam.device_url()
    ));
    let d = Daemon::start(&setup.config);
    let found =
        d.wait_log("the stream address", |l| porchlight_e2e::message(l) == "Stream found through ONVIF");
    // The mock names a fixed address; recording it is the recorder's business (its tests).
    assert_eq!(found["fields"]["rtsp_url"], "rtsp://127.0.0.1:554/mock/stream", "{found}");
}

#[test]
fn wrong_onvif_credentials_in_the_daemon_are_a_clear_warning_and_recording_goes_on() {
    let cam = Camera::start();
    let setup = Setup::new(&format!(
        "[[camera]]\nname = \"door\"\nonvif_url = {:?}\nusername = \"admin\"\npassword = \"wrong\"\nrecord = \"off\"\n",
        cam.device_url()
    ));
    let d = Daemon::start(&setup.config);
    let w = d.wait_log("the warning", |l| porchlight_e2e::message(l) == "ONVIF events unavailable; retrying");
    assert!(w["fields"]["error"].as_str().unwrap_or("").contains("not authorized"), "{w}");
    assert_eq!(d.get_json("/api/health")["subsystems"]["api"]["state"], "running");
}

#[test]
fn discover_finds_a_camera_by_multicast_inside_a_network_namespace() {
    use porchlight_e2e::netns::{CAM_IP, NetPair};
    let Some(net) = NetPair::create() else { return };
    let mut child = start_mock_in(&net);

    let dir = tempfile::tempdir().expect("tempdir");
    let pw = password_file(dir.path(), "admin");
    let porchlight = porchlight_e2e::binary();
    let args = [
        "netns",
        "exec",
        &net.hub,
        porchlight.to_str().expect("path"),
        "discover",
        "--timeout",
        "2s",
        "--json",
        "--user",
        "admin",
        "--password-file",
        &pw,
    ];
    let out = porchlight_e2e::media::run_tool("ip", &args).expect("ip");
    // Only now stop the camera (its stdin closes), whatever the outcome.
    drop(child.stdin.take());
    let _ = child.wait();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let found: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let list = found.as_array().expect("array");
    assert_eq!(list.len(), 1, "{found}");
    let d = &list[0];
    assert_eq!(d["addresses"][0], CAM_IP, "{d}");
    assert_eq!(d["name"], "Porch Doorbell");
    assert_eq!(d["doorbell"], true, "the name says doorbell: {d}");
    assert_eq!(d["manufacturer"], "oxvif-mock", "{d}");
    assert!(d["onvif_url"].as_str().is_some_and(|u| u.starts_with("http://10.77.0.2:")), "{d}");
}

#[test]
fn the_daemon_announces_a_newly_discovered_camera_once_without_recording_it() {
    let cam = Camera::start();
    let setup = Setup::new(&format!(
        "[discovery]\nenabled = true\nmulticast = false\nprobe = [{:?}]\ninterval = \"10s\"\n",
        cam.probe_addr()
    ));
    let d = Daemon::start(&setup.config);
    let mut events = porchlight_e2e::EventStream::open(d.addr.expect("api"), None);
    let e = events.next_matching(|e| e["type"] == "device_discovered");
    assert_eq!(e["endpoint"], "urn:uuid:5f5a1a2e-0000-4000-8000-00005e005301", "{e}");
    assert_eq!(e["onvif_url"].as_str(), Some(cam.device_url().as_str()));
    assert_eq!(e["name"], "Front Door");
    assert_eq!(e["configured"], false);
    let line =
        d.wait_log("the log line", |l| porchlight_e2e::message(l).starts_with("New ONVIF device found"));
    assert!(porchlight_e2e::message(&line).contains("porchlight discover --toml"), "{line}");
    // Found, not adopted: no camera appears.
    assert_eq!(d.get_json("/api/cameras")["cameras"].as_array().map(Vec::len), Some(0));
    assert_eq!(d.get_json("/api/health")["subsystems"]["discovery"]["state"], "running");
}

/// The mock camera behind a TLS front with a test CA's server certificate, and a password file
/// for its login.
struct HttpsCamera {
    _cam: Camera,
    ca: porchlight_e2e::tls::TestCa,
    _front: porchlight_e2e::tls::TlsFront,
    url: String,
    _dir: tempfile::TempDir,
    password_file: String,
}

impl HttpsCamera {
    fn start() -> Self {
        let cam = Camera::start();
        let ca = porchlight_e2e::tls::TestCa::new("camera");
        let front = porchlight_e2e::tls::TlsFront::start(&ca, cam.device_addr());
        let url = format!("https://{}/onvif/device_service", front.addr);
        let dir = tempfile::tempdir().expect("tempdir");
        let password_file = password_file(dir.path(), "admin");
        Self { _cam: cam, ca, _front: front, url, _dir: dir, password_file }
    }
}

/// The mock camera behind TLS (a test CA's server certificate), asked with `discover --url
/// https://…`: the system's CAs do not know it, and the error gives the SHA-256 to pin; with
/// `--tls-sha256` it is read, with a wrong pin refused.
#[test]
fn discover_reads_an_https_camera_by_its_pinned_certificate() {
    let h = HttpsCamera::start();
    let (url, pw, sha) = (&h.url, &h.password_file, h.ca.server_sha256());
    let ask = |extra: &[&str]| -> Value {
        let mut args = vec!["--url", &url, "--user", "admin", "--password-file", &pw, "--json"];
        args.extend_from_slice(extra);
        serde_json::from_str(&discover(&args)).expect("JSON")
    };
    let untrusted = ask(&[]);
    let error = untrusted[0]["error"].as_str().unwrap_or_default();
    assert!(error.contains(&format!("pin it with `onvif_tls_sha256 = \"{sha}\"`")), "{untrusted}");
    assert!(untrusted[0]["manufacturer"].is_null(), "{untrusted}");

    let pinned = ask(&["--tls-sha256", &sha]);
    assert_eq!(pinned[0]["manufacturer"], "oxvif-mock", "{pinned}");
    assert!(pinned[0]["error"].is_null(), "{pinned}");

    let wrong = ask(&["--tls-sha256", &"ab".repeat(32)]);
    let error = wrong[0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("not the pinned one") && error.contains(&sha), "{wrong}");

    // The block to paste carries the pin.
    let blocks =
        discover(&["--url", url, "--user", "admin", "--password-file", pw, "--tls-sha256", &sha, "--toml"]);
    assert!(blocks.contains(&format!("onvif_tls_sha256 = \"{sha}\"")), "{blocks}");
}

/// The daemon reaches a camera's `https://` services trusted by a pin or by a CA file; one
/// trusted by neither is a warning that names the certificate to pin.
#[test]
fn the_daemon_reaches_an_https_camera_by_pin_or_ca_and_names_the_pin_otherwise() {
    let h = HttpsCamera::start();
    let (url, pw, sha) = (&h.url, &h.password_file, h.ca.server_sha256());
    let ca_file = h.ca.file("ca.pem").display().to_string();
    let camera = |name: &str, trust: &str| {
        format!(
            "[[camera]]\nname = \"{name}\"\nonvif_url = \"{url}\"\nusername = \"admin\"\npassword_file = {pw:?}\n{trust}\n"
        )
    };
    let setup = Setup::new(&format!(
        "{}{}{}",
        camera("pinned", &format!("onvif_tls_sha256 = \"{sha}\"")),
        camera("by-ca", &format!("onvif_ca_file = {ca_file:?}")),
        camera("untrusted", ""),
    ));
    let d = Daemon::start(&setup.config);
    for name in ["pinned", "by-ca"] {
        let found = d.wait_log("the stream address", |l| {
            porchlight_e2e::message(l) == "Stream found through ONVIF" && l["span"]["camera"] == name
        });
        assert!(found["fields"]["rtsp_url"].as_str().is_some_and(|u| u.ends_with("/mock/stream")), "{found}");
    }
    let warning = d.wait_log("the warning", |l| {
        porchlight_e2e::message(l) == "Cannot get the stream address from ONVIF; retrying"
            && l["span"]["camera"] == "untrusted"
    });
    let error = warning["fields"]["error"].as_str().unwrap_or_default();
    assert!(error.contains(&format!("onvif_tls_sha256 = \"{sha}\"")), "{warning}");
}

/// `adopt = true`: the camera found by a unicast probe is recorded under a name from its ONVIF
/// name scope, with the discovery credentials and the `adopted` tag; it is remembered in
/// `state/adopted.json`, so after a restart it is there before any probe; turning `adopt` off
/// (a config reload) stops it.
#[test]
fn the_daemon_adopts_a_found_camera_and_keeps_it_across_a_restart() {
    let cam = Camera::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let pw = password_file(dir.path(), "admin");
    let probe = cam.probe_addr();
    let discovery = |adopt: bool| {
        format!(
            "[discovery]\nenabled = true\nmulticast = false\nprobe = [{probe:?}]\ninterval = \"1h\"\nadopt = {adopt}\nusername = \"admin\"\npassword_file = {pw:?}\n"
        )
    };
    let setup = Setup::new(&discovery(true));
    let d = Daemon::start(&setup.config);
    let mut events = porchlight_e2e::EventStream::open(d.addr.expect("api"), None);
    let e = events.next_matching(|e| e["type"] == "device_discovered");
    assert_eq!(e["adopted"], "front-door", "{e}");
    let line = d.wait_log("the adoption", |l| {
        porchlight_e2e::message(l) == "Adopted a discovered camera; it is recorded from now on"
    });
    assert_eq!(line["fields"]["camera"], "front-door", "{line}");
    let cameras = d.get_json("/api/cameras");
    let c = &cameras["cameras"][0];
    assert_eq!(c["name"], "front-door", "{cameras}");
    assert_eq!(c["adopted"], true, "{c}");
    assert_eq!(c["tags"], serde_json::json!(["adopted"]), "{c}");
    assert_eq!(c["onvif_url"].as_str(), Some(cam.device_url().as_str()), "{c}");
    // Recording it means asking its ONVIF service for the stream, logged in with the
    // discovery credentials: the mock answers (it enforces the password).
    let found =
        d.wait_log("the stream address", |l| porchlight_e2e::message(l) == "Stream found through ONVIF");
    assert!(found["fields"]["rtsp_url"].as_str().is_some_and(|u| u.ends_with("/mock/stream")), "{found}");
    let kept =
        std::fs::read_to_string(setup.dir.path().join("data/state/adopted.json")).expect("adopted.json");
    assert!(kept.contains("urn:uuid:5f5a1a2e-0000-4000-8000-00005e005301"), "{kept}");
    drop(events);
    drop(d);

    // After a restart the camera is recorded from the start, before any probe answers.
    drop(cam);
    let d = Daemon::start(&setup.config);
    let cameras = d.get_json("/api/cameras");
    assert_eq!(cameras["cameras"][0]["name"], "front-door", "{cameras}");
    assert_eq!(cameras["cameras"][0]["adopted"], true, "{cameras}");

    // `adopt = false`: no longer recorded (the list is kept).
    let skip = d.log_len();
    let text = Setup::with_defaults(setup.dir.path(), &discovery(false));
    std::fs::write(&setup.config, text).expect("rewrite config");
    let reloaded = d.wait_log_after(skip, "the reload", |l| porchlight_e2e::message(l) == "Config reloaded");
    assert!(
        reloaded["fields"]["changes"]
            .as_str()
            .is_some_and(|c| c.contains("adopted camera front-door removed")),
        "{reloaded}"
    );
    assert_eq!(d.get_json("/api/cameras")["cameras"].as_array().map(Vec::len), Some(0));
    assert!(setup.dir.path().join("data/state/adopted.json").exists());
}

/// A camera that announces itself (Hello, multicast, from PyPI's WSDiscovery in the camera
/// namespace) is found without waiting for the next probe and adopted; its Bye is heard.
#[test]
fn a_camera_that_says_hello_is_adopted_and_its_bye_is_heard() {
    use porchlight_e2e::netns::{CAM_IP, NetPair};
    let Some(net) = NetPair::create() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let pw = password_file(dir.path(), "admin");
    let setup = Setup::new(&format!(
        "[discovery]\nenabled = true\nmulticast = true\ninterval = \"1h\"\nadopt = true\nusername = \"admin\"\npassword_file = {pw:?}\n"
    ));
    let d = Daemon::start_in(&net.hub, &setup.config);
    d.wait_log("the listener", |l| {
        porchlight_e2e::message(l) == "Listening for ONVIF devices announcing themselves (Hello/Bye)"
    });
    // The first probe found nothing: the publisher is not running yet.
    let mut cmd = NetPair::exec(&net.cam, Path::new("python3"));
    let xaddr = format!("http://{CAM_IP}:8080/onvif/device_service");
    cmd.arg(porchlight_e2e::repo_root().join("tests/peers/wsd_publisher.py")).args([
        "--uuid",
        "urn:uuid:7c1d2e3f-0000-4000-8000-0000000a11e0",
        "--name",
        "Side Gate",
        "--xaddr",
        &xaddr,
    ]);
    let Some((mut publisher, ready)) = start_peer(cmd, "the WS-Discovery publisher") else { return };
    assert_eq!(ready.trim(), "READY");
    let found = d.wait_log("the Hello", |l| porchlight_e2e::message(l) == "New ONVIF device found");
    assert_eq!(found["fields"]["via"], "hello", "{found}");
    assert_eq!(found["fields"]["onvif_url"], xaddr.as_str(), "{found}");
    assert_eq!(found["fields"]["adopted"], "side-gate", "{found}");
    // Bye when it stops.
    drop(publisher.stdin.take());
    let bye = d.wait_log("the Bye", |l| porchlight_e2e::message(l) == "ONVIF device said goodbye (Bye)");
    assert_eq!(bye["fields"]["endpoint"], "urn:uuid:7c1d2e3f-0000-4000-8000-0000000a11e0", "{bye}");
    assert_eq!(bye["fields"]["camera"], "side-gate", "{bye}");
    assert!(publisher.wait().expect("publisher exit").success());
    let kept =
        std::fs::read_to_string(setup.dir.path().join("data/state/adopted.json")).expect("adopted.json");
    assert!(kept.contains("\"side-gate\""), "{kept}");
}

/// End to end in namespaces with `adopt = true`: nothing about the camera is in the config;
/// discovery finds it, adopts it, and the daemon records it: segments that play.
#[test]
fn an_adopted_camera_is_recorded() {
    use porchlight_e2e::netns::CAM_IP;
    let Some(cam) = NamespaceCamera::start() else { return };
    let (net, pw) = (&cam.net, &cam.password_file);
    let setup = Setup::new(&format!(
        "[storage]\nsegment_duration = \"2s\"\nmin_free_bytes = \"0 B\"\n\n[discovery]\nenabled = true\nmulticast = false\nprobe = [\"{CAM_IP}\"]\nadopt = true\nusername = \"admin\"\npassword_file = {pw:?}\n"
    ));
    let d = Daemon::start_in(&net.hub, &setup.config);
    let adopted = d.wait_log("the adoption", |l| {
        porchlight_e2e::message(l) == "Adopted a discovered camera; it is recorded from now on"
    });
    assert_eq!(adopted["fields"]["camera"], "porch-doorbell", "{adopted}");
    let closed = d.wait_log("a recorded segment", |l| porchlight_e2e::message(l) == "Segment closed");
    let segment = closed["fields"]["path"].as_str().expect("segment path").to_owned();
    assert!(segment.contains("porch-doorbell"), "{segment}");
    porchlight_e2e::media::assert_decodes(Path::new(&segment));
    // The daemon stops before the camera (dropped in reverse order).
    drop(d);
}

/// End to end inside two network namespaces the test makes: a camera (the oxvif mock, and the
/// GStreamer RTSP server at the address the mock names) answers `porchlight discover` by
/// unicast; the `[[camera]]` block it prints (with the stream address from ONVIF: the mock
/// names its own loopback, so the address the camera was reached at is used) goes into the
/// config with the password added and without `rtsp_url`; the daemon asks ONVIF for the
/// stream itself and records the camera: segments that play.
#[test]
fn a_discovered_camera_is_recorded_from_the_stream_its_onvif_service_names() {
    use porchlight_e2e::netns::CAM_IP;
    let Some(cam) = NamespaceCamera::start() else { return };
    let (net, pw) = (&cam.net, &cam.password_file);
    let porchlight = porchlight_e2e::binary();
    let probe = format!("{CAM_IP}:3702");
    let args = [
        "netns",
        "exec",
        &net.hub,
        porchlight.to_str().expect("path"),
        "discover",
        "--timeout",
        "2s",
        "--no-multicast",
        "--probe",
        &probe,
        "--user",
        "admin",
        "--password-file",
        pw,
        "--toml",
    ];
    let out = porchlight_e2e::media::run_tool("ip", &args).expect("ip");
    let blocks = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && blocks.contains("[[camera]]"),
        "{blocks}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The block as printed, with the password the resident adds.
    assert!(blocks.contains("rtsp_url = \"rtsp://10.77.0.2:554/mock/stream\""), "{blocks}");
    // Without `rtsp_url` the daemon asks the camera itself (and fixes the loopback the same way).
    let blocks = blocks
        .replace("# password_file = \"camera-secret\"", &format!("password_file = {pw:?}"))
        .replace("rtsp_url = \"rtsp://10.77.0.2:554/mock/stream\"\n", "");
    let setup =
        Setup::new(&format!("[storage]\nsegment_duration = \"2s\"\nmin_free_bytes = \"0 B\"\n\n{blocks}"));
    let d = Daemon::start_in(&net.hub, &setup.config);
    let found =
        d.wait_log("the stream address", |l| porchlight_e2e::message(l) == "Stream found through ONVIF");
    assert_eq!(found["fields"]["rtsp_url"], "rtsp://10.77.0.2:554/mock/stream", "{found}");
    d.wait_log("the camera to stream", |l| porchlight_e2e::message(l) == "Streaming");
    let closed = d.wait_log("a recorded segment", |l| porchlight_e2e::message(l) == "Segment closed");
    let segment = closed["fields"]["path"].as_str().expect("segment path").to_owned();
    porchlight_e2e::media::assert_decodes(Path::new(&segment));
    // The daemon stops before the camera (dropped in reverse order).
    drop(d);
}

/// A camera in a network namespace pair: the oxvif mock and the GStreamer RTSP server at the
/// address the mock names, and a password file for its login. Stopped (stdin closed) on drop,
/// before the namespaces go.
struct NamespaceCamera {
    rtsp: std::process::Child,
    mock: std::process::Child,
    _dir: tempfile::TempDir,
    password_file: String,
    net: porchlight_e2e::netns::NetPair,
}

impl NamespaceCamera {
    /// `None`: namespaces cannot be made here (the test skips).
    fn start() -> Option<Self> {
        let net = porchlight_e2e::netns::NetPair::create()?;
        let rtsp = start_rtsp_in(&net);
        let mock = start_mock_in(&net);
        let dir = tempfile::tempdir().expect("tempdir");
        let password_file = password_file(dir.path(), "admin");
        Some(Self { rtsp, mock, _dir: dir, password_file, net })
    }
}

impl Drop for NamespaceCamera {
    fn drop(&mut self) {
        for child in [&mut self.rtsp, &mut self.mock] {
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }
}

/// Starts a peer that prints one `READY …` line on stdout (stdin piped: it quits when that
/// closes) and returns it with that line.
fn start_ready(mut cmd: std::process::Command, what: &str) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("start {what}: {e}"));
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let ready = rx.recv_timeout(WAIT).unwrap_or_else(|_| panic!("{what} says READY"));
    (child, ready)
}

/// Like [`start_ready`]; `None` (skip) when the peer exits with 77 (not installed here),
/// unless peers are required.
fn start_peer(mut cmd: std::process::Command, what: &str) -> Option<(std::process::Child, String)> {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("start {what}: {e}"));
    let mut line = String::new();
    let _ = BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line);
    if line.is_empty() {
        let status = child.wait().expect("exit status");
        if status.code() == Some(77) && !porchlight_e2e::peers_required() {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("skipping: {what} cannot run here (pip install WSDiscovery==2.1.2)");
            }
            return None;
        }
        panic!("{what} did not start: {status}");
    }
    Some((child, line))
}

/// The GStreamer RTSP server in the camera namespace of `net`, on port 554 and serving
/// `/mock/stream` (what the oxvif mock names as its stream).
fn start_rtsp_in(net: &porchlight_e2e::netns::NetPair) -> std::process::Child {
    use porchlight_e2e::netns::NetPair;
    let mut cmd = NetPair::exec(&net.cam, Path::new(porchlight_e2e::rtsp::PYTHON));
    cmd.arg(porchlight_e2e::rtsp::script()).args([
        "--exit-on-stdin-close",
        "--address",
        "0.0.0.0",
        "--port",
        "554",
        "--alias",
        "/mock/stream",
    ]);
    let (child, ready) = start_ready(cmd, "the RTSP server");
    assert!(ready.starts_with("READY rtsp://0.0.0.0:554"), "{ready}");
    child
}

/// The oxvif mock camera (and its WS-Discovery responder) in the camera namespace of `net`.
fn start_mock_in(net: &porchlight_e2e::netns::NetPair) -> std::process::Child {
    use porchlight_e2e::netns::{CAM_IP, NetPair};
    let mut mock = NetPair::exec(&net.cam, &porchlight_e2e::example_binary("onvif_mock_camera"));
    mock.args(["--bind", CAM_IP]);
    let (child, ready) = start_ready(mock, "the mock camera");
    assert!(ready.starts_with("READY http://10.77.0.2:"), "{ready}");
    child
}

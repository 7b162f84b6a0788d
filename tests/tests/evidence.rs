//! The hub's signing key and evidence checks from the command line: the daemon makes its key on
//! first start (and keeps it), `porchlight keys show` prints it, and `porchlight evidence
//! verify` accepts a manifest signed with it and refuses a changed file, a changed manifest and
//! another key.

use std::process::Output;

use porchlight::evidence::{Manifest, PluginDecision, hash_file, sign};
use porchlight::keys::HubKey;
use porchlight::policy::Grant;
use porchlight_e2e::{Daemon, Setup, binary, message};

fn run(args: &[&str]) -> Output {
    std::process::Command::new(binary()).args(args).output().expect("run porchlight")
}

fn out(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn keys_show_and_evidence_verify() {
    let s = Setup::new("");
    let config = s.config.display().to_string();
    // No key before the first start.
    let o = run(&["--config", &config, "keys", "show"]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(out(&o).contains("the daemon makes one when it first starts"), "{}", out(&o));

    let d = Daemon::start(&s.config);
    let line = d.wait_log("the key", |l| message(l) == "Hub signing key");
    let logged = line["fields"]["fingerprint"].as_str().expect("fingerprint").to_owned();
    drop(d);
    // The same key after a restart.
    let d = Daemon::start(&s.config);
    let again = d.wait_log("the key", |l| message(l) == "Hub signing key");
    assert_eq!(again["fields"]["fingerprint"], logged.as_str());
    drop(d);

    let o = run(&["--config", &config, "keys", "show"]);
    assert!(o.status.success(), "{}", out(&o));
    let shown = out(&o);
    assert!(shown.contains(&format!("fingerprint: {logged}")), "{shown}");
    let public =
        shown.lines().find_map(|l| l.strip_prefix("public key:")).expect("public key line").trim().to_owned();

    // A clip and its manifest, signed with the hub's key.
    let key = HubKey::load(&s.dir.path().join("data/keys")).expect("hub key");
    let clip = s.path("rtcc-2-front.mp4");
    std::fs::write(&clip, b"\0\0\0\x18ftypisom clip bytes").expect("clip");
    let (sha256, bytes) = hash_file(&clip).expect("hash");
    let t = |s: &str| s.parse::<jiff::Timestamp>().expect("time");
    let manifest = Manifest {
        version: 1,
        hub_id: "elm-st-12".into(),
        request_id: "rtcc-2".into(),
        camera: "front".into(),
        from: t("2026-11-26T17:00:00Z"),
        to: t("2026-11-26T17:15:00Z"),
        file_name: "rtcc-2-front.mp4".into(),
        bytes,
        sha256,
        grant: Grant {
            cameras: vec!["front".into()],
            from: Some(t("2026-11-26T17:00:00Z")),
            to: Some(t("2026-11-26T17:15:00Z")),
            live_max_seconds: None,
            strip_audio: false,
            notify_resident: true,
        },
        plugins: vec![PluginDecision {
            plugin: "warrant-required".into(),
            sha256: "ab".repeat(32),
            decision: "allow".into(),
        }],
        created_at: t("2026-11-26T18:00:00Z"),
    };
    let path = s.path("rtcc-2-front.manifest.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&sign(&manifest, &key)).expect("json"))
        .expect("manifest");
    let (m, c) = (path.display().to_string(), clip.display().to_string());

    let o = run(&["evidence", "verify", &m, &c, "--public-key", &public]);
    assert!(o.status.success(), "{}", out(&o));
    assert!(out(&o).starts_with("OK:") && out(&o).contains(&logged), "{}", out(&o));
    let o = run(&["evidence", "verify", &m, &c]);
    assert!(o.status.success() && out(&o).contains("compare the fingerprint"), "{}", out(&o));

    // Another key.
    let other = HubKey::load_or_create(&s.path("other-keys")).expect("other key");
    let o = run(&["evidence", "verify", &m, &c, "--public-key", &other.public_base64()]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(out(&o).contains("NOT VERIFIED: signed by key"), "{}", out(&o));
    // A changed manifest.
    let text = std::fs::read_to_string(&path).expect("read").replace("rtcc-2", "rtcc-3");
    let changed = s.path("changed.manifest.json");
    std::fs::write(&changed, text).expect("write");
    let o = run(&["evidence", "verify", &changed.display().to_string(), &c]);
    assert_eq!(o.status.code(), Some(1));
    assert!(out(&o).contains("signature does not match"), "{}", out(&o));
    // A changed file.
    std::fs::write(&clip, b"\0\0\0\x18ftypisom clip bytez").expect("clip");
    let o = run(&["evidence", "verify", &m, &c]);
    assert_eq!(o.status.code(), Some(1));
    assert!(out(&o).contains("the file does not match"), "{}", out(&o));
}

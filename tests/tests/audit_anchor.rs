//! The audit log against a head kept off the hub, through the CLI: `porchlight audit head`
//! gives the head, then each rewrite that someone with disk access can make so that the plain
//! `audit verify` still passes (the log and its head file rewritten together) is caught by
//! `audit verify --head` / `--head-file`, which names the problem and exits 1.

use std::path::Path;

use porchlight_e2e::{Daemon, Setup, WAIT, http_put_json, output_text};
use serde_json::{Value, json};

/// A stopped hub whose audit log has a few entries (each hub-mode change writes one).
fn hub_with_entries() -> Setup {
    let s = Setup::new("");
    let mut d = Daemon::start(&s.config);
    let addr = d.addr.expect("api");
    for mode in ["away", "home", "night", "vacation", "home", "away"] {
        let (code, body) = http_put_json(addr, "/api/mode", None, &json!({ "mode": mode }).to_string());
        assert_eq!(code, 200, "{body}");
    }
    d.signal("TERM");
    assert_eq!(d.wait_exit(WAIT).code(), Some(0));
    s
}

fn audit_dir(s: &Setup) -> std::path::PathBuf {
    s.path("data/audit")
}

/// `porchlight audit ARGS…`: (exit code, stdout and stderr).
fn audit(s: &Setup, args: &[&str]) -> (i32, String) {
    let mut all = vec!["audit"];
    all.extend_from_slice(args);
    let out = s.cli(&all);
    (out.status.code().unwrap_or(-1), output_text(&out))
}

fn entries(s: &Setup) -> Vec<Value> {
    porchlight::audit::entries(&audit_dir(s)).expect("audit log")
}

/// What someone with disk access does: writes `entries` as a freshly chained log, and a head
/// file to match, so that the plain `audit verify` passes.
fn rechain(dir: &Path, entries: &[Value]) {
    let mut prev = porchlight::audit::GENESIS.to_owned();
    let mut text = String::new();
    for (seq, e) in entries.iter().enumerate() {
        let mut e = e.clone();
        let obj = e.as_object_mut().expect("object");
        obj.remove("hash");
        obj.insert("seq".into(), seq.into());
        obj.insert("prev".into(), prev.clone().into());
        let body = e.to_string();
        let hash = porchlight::digest::sha256_hex(body.as_bytes());
        text.push_str(&format!("{},\"hash\":\"{hash}\"}}\n", &body[..body.len() - 1]));
        prev = hash;
    }
    std::fs::write(dir.join(porchlight::audit::LOG_FILE), text).expect("write log");
    let head = json!({ "seq": entries.len() - 1, "hash": prev });
    std::fs::write(dir.join(porchlight::audit::HEAD_FILE), head.to_string()).expect("write head");
}

/// Puts the untouched log back between rewrites.
fn restore(s: &Setup, log: &str, head: &str) {
    std::fs::write(audit_dir(s).join(porchlight::audit::LOG_FILE), log).expect("restore log");
    std::fs::write(audit_dir(s).join(porchlight::audit::HEAD_FILE), head).expect("restore head");
}

/// The plain verify passes (the rewrite is consistent), the anchored one fails naming `want`.
fn caught(s: &Setup, anchor: &str, want: &str) -> String {
    let (code, out) = audit(s, &["verify"]);
    assert_eq!(code, 0, "the rewrite should pass the plain verify: {out}");
    assert!(out.contains("intact"), "{out}");
    let (code, out) = audit(s, &["verify", "--head", anchor]);
    assert_eq!(code, 1, "the rewrite passed the anchored verify: {out}");
    assert!(out.contains(want), "expected {want:?} in: {out}");
    out
}

#[test]
fn rewrites_that_pass_the_chain_fail_against_a_head_kept_elsewhere() {
    let s = hub_with_entries();
    let (code, out) = audit(&s, &["head"]);
    assert_eq!(code, 0, "{out}");
    let anchor = out.trim().to_owned();
    let all = entries(&s);
    let n = all.len();
    assert!(n >= 6, "{all:?}");
    let last = all[n - 1]["hash"].as_str().expect("hash");
    assert_eq!(anchor, format!("{n}:{last}"));

    // Untouched: it contains the head, from the command line or from a file holding what MQTT
    // publishes.
    let (code, out) = audit(&s, &["verify", "--head", &anchor]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("contains the audit head {anchor}")), "{out}");
    let file = s.path("head.json");
    let published = json!({ "entries": n, "hash": last, "time": "2026-12-06T10:00:00Z" });
    std::fs::write(&file, published.to_string()).expect("head file");
    let (code, out) = audit(&s, &["verify", "--head-file", &file.display().to_string()]);
    assert_eq!(code, 0, "{out}");

    let log = std::fs::read_to_string(audit_dir(&s).join(porchlight::audit::LOG_FILE)).expect("log");
    let head = std::fs::read_to_string(audit_dir(&s).join(porchlight::audit::HEAD_FILE)).expect("head");

    // The last two entries deleted, the head file rewritten to match.
    rechain(&audit_dir(&s), &all[..n - 2]);
    let out = caught(&s, &anchor, &format!("the log has {} entries but the audit head {n}:", n - 2));
    assert!(out.contains("cut off the end"), "{out}");
    restore(&s, &log, &head);

    // The tail replaced: the last two deleted and three forged entries appended in their place.
    let mut forged = all[..n - 2].to_vec();
    for by in ["api", "api", "mqtt"] {
        forged.push(json!({ "kind": "mode", "mode": "home", "was": "away", "by": by, "time": "2026-12-06T09:00:00Z" }));
    }
    rechain(&audit_dir(&s), &forged);
    let out =
        caught(&s, &anchor, &format!("audit.jsonl:{n}: entry {} does not match the audit head {n}:", n - 1));
    assert!(out.contains("rewritten at or before this entry"), "{out}");
    restore(&s, &log, &head);

    // An entry in the middle changed and everything after it chained again.
    let mut edited = all.clone();
    edited[2]["mode"] = "vacation".into();
    assert_ne!(edited[2], all[2]);
    rechain(&audit_dir(&s), &edited);
    caught(&s, &anchor, &format!("audit.jsonl:{n}: entry {} does not match the audit head {n}:", n - 1));
    restore(&s, &log, &head);

    // Both files deleted.
    std::fs::remove_file(audit_dir(&s).join(porchlight::audit::LOG_FILE)).expect("rm log");
    std::fs::remove_file(audit_dir(&s).join(porchlight::audit::HEAD_FILE)).expect("rm head");
    let out = caught(&s, &anchor, &format!("the log is missing but the audit head {n}:"));
    assert!(out.contains(&format!("says it had {n} entries")), "{out}");
    let (code, out) = audit(&s, &["verify", "--head-file", &file.display().to_string()]);
    assert_eq!(code, 1, "{out}");

    // A head that is not one is a usage error.
    let (code, out) = audit(&s, &["verify", "--head", "12:nothex"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("--head: audit head \"12:nothex\": the hash is not 64 hex digits"), "{out}");
}

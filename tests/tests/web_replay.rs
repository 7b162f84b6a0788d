//! "Try a rule on past requests" on the web app's Sharing rules page, in a real headless
//! Chromium against the real daemon (policies `street-only` and `warrant-required`, three real
//! requests through `POST /api/requests`): the resident picks a rule file (the real compiled
//! `warrant-required` with `allow_snapshots = true`), and the page shows exactly the one
//! decision it would change, in plain words, alone and with the other rules; the audit log is
//! the same before and after. Screenshot: `target/screenshots/<test>/policies-replay.png`.

use porchlight_e2e::browser::Browser;
use porchlight_e2e::{Daemon, Setup, plugin_bytes};
use serde_json::{Value, json};

fn request(id: &str, kind: Value, legal_basis: Value) -> Value {
    json!({ "request": {
        "id": id,
        "requester": { "organisation": "City Police", "person": "Det. Smith", "kind": "police" },
        "kind": kind,
        "reason": "burglary next door",
        "legal_basis": legal_basis,
        "received_at": "2026-11-26T18:00:00Z",
    }})
}

#[test]
fn a_rule_tried_on_past_requests_shows_what_it_would_change() {
    let Some(b) = Browser::start("a_rule_tried_on_past_requests_shows_what_it_would_change") else { return };
    let s = Setup::new(
        "[[camera]]\nname = \"front\"\nrtsp_url = \"rtsp://127.0.0.1:9/front\"\nrecord = \"off\"\ntags = [\"street\"]\n\n\
         [plugins]\ndir = \"plugins\"\nenabled = [\"street-only\", \"warrant-required\"]\ntime_limit = \"2s\"\n",
    );
    // Both run as bundled with the daemon: no plugin files.
    let d = Daemon::start(&s.config);
    let warrant = json!({ "type": "warrant", "reference": "W-1", "court": "County Court",
        "issued": "2026-01-01T00:00:00Z", "expires": "2036-01-01T00:00:00Z",
        "scope": { "cameras": ["front"], "from": "2026-01-01T00:00:00Z", "to": "2036-01-01T00:00:00Z" } });
    let clip = json!({ "type": "clip", "cameras": ["front"], "from": "2026-11-26T17:00:00Z", "to": "2026-11-26T17:30:00Z" });
    for (body, expected) in [
        (request("clip-warrant", clip.clone(), warrant.clone()), "allow"),
        (request("clip-nothing", clip, json!({ "type": "none" })), "deny"),
        (request("snap-warrant", json!({ "type": "snapshot", "cameras": ["front"] }), warrant), "deny"),
    ] {
        let (code, answer) = d.post("/api/requests", &body);
        assert_eq!(code, 200, "{answer}");
        assert_eq!(serde_json::from_str::<Value>(&answer).expect("JSON")["decision"], expected, "{answer}");
    }
    let audit = || std::fs::read(s.path("data/audit/audit.jsonl")).expect("audit log");
    let before = audit();

    // The rule file, named as a resident's download might be.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("Warrant-Required.wasm");
    std::fs::write(&file, plugin_bytes("warrant-required")).expect("candidate");

    b.goto(&format!("http://{}/#/policies", d.addr.expect("API address")));
    b.wait_for("main[data-page=\"/policies\"]");
    b.wait_for("#replay-form");
    b.find("#replay-file").type_text(&file.display().to_string());
    let hint = b.wait_for("#replay-name");
    assert_eq!(hint.text(), "warrant-required", "the name it goes by");
    b.find("#replay-config").type_text("allow_snapshots = true");
    b.find("#replay").click();
    let result = b.wait_for("#replay-result");
    assert_eq!(
        (result.attr("data-replayed"), result.attr("data-alone"), result.attr("data-composed")),
        (Some("3".into()), Some("1".into()), Some("1".into()))
    );
    let rows = b.find_all("li.replay-change");
    assert_eq!(rows.len(), 1, "one change");
    let row = b.find("li.replay-change[data-request-id=\"snap-warrant\"]");
    assert_eq!(
        (row.attr("data-alone"), row.attr("data-composed")),
        (Some("deny_to_allow".into()), Some("deny_to_allow".into()))
    );
    let words = row.text();
    assert!(words.contains("City Police (Det. Smith), police"), "{words}");
    assert!(words.contains("Refused then, allowed now. Would be allowed: front, without audio"), "{words}");
    assert!(
        result.text().contains("it takes the place of your rule “warrant-required”"),
        "{}",
        result.text()
    );
    b.execute("document.getElementById('replay-result').scrollIntoView()", &[]);
    b.screenshot("policies-replay");
    b.assert_no_console_errors();

    // A rule that comes with Porchlight, chosen by name: no file, the same answer.
    b.find("#replay-source option[value=\"warrant-required\"]").click();
    assert!(b.try_find("#replay-file").is_none(), "no file asked for a bundled rule");
    assert_eq!(b.find("#replay-name").text(), "warrant-required");
    // The file's report is marked, so the wait below sees only the new one.
    b.execute("document.getElementById('replay-result').dataset.old = 'yes'", &[]);
    b.find("#replay").click();
    let result = b.wait_until("the bundled rule's report", porchlight_e2e::WAIT, |b| {
        let r = b.try_find("#replay-result:not([data-old])")?;
        r.text().contains("warrant-required on").then_some(r.attr("data-alone"))
    });
    assert_eq!(result.as_deref(), Some("1"), "one change, as with the file");
    b.find("li.replay-change[data-request-id=\"snap-warrant\"]");
    b.screenshot("policies-replay-bundled");
    b.assert_no_console_errors();
    assert_eq!(audit(), before, "the replay wrote to the audit log");
}

//! `GET /api/events` against the real daemon binary: a client that reconnects with
//! `Last-Event-ID`, or asks `?from=<seq>`, gets the held events it missed, each once, before the
//! new ones (`docs/ref/api.md`). The events are the hub mode's changes made through the API.

use porchlight_e2e::{Daemon, EventStream, Setup, http_get, http_put_json};
use serde_json::{Value, json};

fn set_mode(d: &Daemon, mode: &str) {
    let body = json!({ "mode": mode }).to_string();
    let (code, answer) = http_put_json(d.addr.expect("API address"), "/api/mode", None, &body);
    assert_eq!(code, 200, "PUT /api/mode {mode}: {answer}");
}

fn next_mode(events: &mut EventStream) -> (u64, String) {
    let e = events.next_matching(|e| e["type"] == "mode_changed");
    (e["seq"].as_u64().expect("seq"), e["mode"].as_str().expect("mode").to_owned())
}

#[test]
fn a_client_that_reconnects_gets_the_events_it_missed_then_new_ones() {
    let setup = Setup::new("");
    let d = Daemon::start(&setup.config);
    let addr = d.addr.expect("API address");

    let mut first = d.events();
    set_mode(&d, "away");
    let (away_seq, mode) = next_mode(&mut first);
    assert_eq!(mode, "away");
    drop(first);

    // While no client is connected, two more changes.
    set_mode(&d, "night");
    set_mode(&d, "vacation");

    // A browser's EventSource reconnects with the last id it saw.
    let mut again =
        EventStream::open_request(addr, None, "/api/events", &format!("Last-Event-ID: {away_seq}\r\n"));
    let missed = [next_mode(&mut again), next_mode(&mut again)];
    assert_eq!(missed.iter().map(|(_, m)| m.as_str()).collect::<Vec<_>>(), ["night", "vacation"]);
    assert!(missed[0].0 > away_seq && missed[1].0 > missed[0].0, "{missed:?} after {away_seq}");
    // Then the new ones, on the same connection.
    set_mode(&d, "home");
    assert_eq!(next_mode(&mut again).1, "home");

    // `?from=` starts with that very event.
    let mut from = EventStream::open_request(addr, None, &format!("/api/events?from={away_seq}"), "");
    assert_eq!(next_mode(&mut from), (away_seq, "away".to_owned()));

    // A bad id is refused with what was wrong, not taken as "from now".
    for (path, what) in
        [("/api/events?from=soon", "from"), ("/api/events?after=3", "unknown query parameter")]
    {
        let (code, body) = http_get(addr, path, None);
        assert_eq!(code, 400, "{path}: {body}");
        let v: Value = serde_json::from_str(&body).expect("JSON error");
        assert!(v["error"].as_str().is_some_and(|e| e.contains(what)), "{path}: {v}");
    }
}

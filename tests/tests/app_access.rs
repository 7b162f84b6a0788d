//! Who may use the web app and the API over HTTP, against the real daemon: sign-in with the
//! token, the session cookie and its CSRF token, sign-out, the brake on wrong tokens,
//! cross-site writes, the Host check of a hub without a token, and the `web` channel in the
//! audit log. (What the pages do is tested in a real browser in `web_*.rs`.)

use std::net::SocketAddr;

use porchlight_e2e::web::{self, Response};
use porchlight_e2e::{Daemon, Setup, plugin_bytes};
use serde_json::{Value, json};

const TOKEN: &str = "correct horse battery staple";

/// One request with exactly these extra headers (no token unless given here).
fn send(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Response {
    web::request(addr, method, path, headers, Some(body))
}

fn setup(api_extra: &str) -> Setup {
    let s = Setup::new("");
    std::fs::create_dir_all(s.path("plugins")).expect("plugins dir");
    std::fs::write(s.path("plugins/ask.wasm"), plugin_bytes("ask-resident")).expect("plugin");
    let text = format!(
        "[hub]\ndata_dir = {:?}\nlog_format = \"json\"\nshutdown_timeout = \"5s\"\n\n[api]\nlisten = \"127.0.0.1:0\"\n{api_extra}\n\n\
         [[camera]]\nname = \"porch\"\nrtsp_url = \"rtsp://127.0.0.1:9/porch\"\nrecord = \"off\"\n\n\
         [[camera]]\nname = \"garden\"\nrtsp_url = \"rtsp://127.0.0.1:9/garden\"\nrecord = \"off\"\n\n\
         [plugins]\ndir = \"plugins\"\nenabled = [\"ask\"]\ntime_limit = \"2s\"\n",
        s.path("data").display().to_string()
    );
    std::fs::write(&s.config, text).expect("config");
    s
}

fn request(id: &str) -> String {
    json!({ "request": {
        "id": id,
        "requester": { "organisation": "City Police RTCC", "person": "Det. Smith", "kind": "police" },
        "kind": { "type": "clip", "cameras": ["porch", "garden"], "from": "2026-11-26T17:00:00Z", "to": "2026-11-26T17:30:00Z" },
        "reason": "burglary reported on the street",
        "legal_basis": { "type": "none" },
        "received_at": "2026-11-26T18:00:00Z",
    }})
    .to_string()
}

/// A GET whose body is kept as bytes (the harness's client reads bodies as text).
fn raw_get(addr: SocketAddr, path: &str, headers: &str) -> (String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}\r\n").expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("end of the head") + 4;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    assert!(!head.to_ascii_lowercase().contains("chunked"), "{head}");
    (head, raw[split..].to_vec())
}

/// Unpacks gzip with the system's `gzip`, not with the code that packed it.
fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = std::process::Command::new("gzip")
        .arg("-dc")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run gzip");
    child.stdin.take().expect("stdin").write_all(bytes).expect("write to gzip");
    let out = child.wait_with_output().expect("gzip output");
    assert!(out.status.success(), "gzip -dc failed");
    out.stdout
}

/// The session cookie plus `extra` headers.
fn with<'a>(cookie: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut h = vec![("Cookie", cookie)];
    h.extend_from_slice(extra);
    h
}

fn cookie_of(a: &Response) -> String {
    let set = a.header("set-cookie").unwrap_or_else(|| panic!("no Set-Cookie in {:?}", a.headers));
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attr), "{attr} missing from {set}");
    }
    set.split(';').next().expect("name=value").to_owned()
}

#[test]
fn with_a_token_the_browser_signs_in_and_acts_as_the_web_app() {
    let s = setup(&format!("token = {TOKEN:?}"));
    let d = Daemon::start(&s.config);
    let addr = d.addr.expect("API address");
    let bearer = format!("Bearer {TOKEN}");
    let (code, body) = porchlight_e2e::http_post_json(addr, "/api/requests", Some(TOKEN), &request("rtcc-1"));
    assert_eq!(code, 202, "{body}");

    // Signed out: the page sends the browser to sign in, the API refuses, the sign-in page and
    // the app's files are public, and every answer carries the security headers.
    let page = send(addr, "GET", "/", &[], "");
    assert_eq!((page.status, page.header("location")), (303, Some("/login")));
    let csp = page.header("content-security-policy").expect("CSP");
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    for path in ["/api/requests", "/api/session", "/metrics", "/api/events"] {
        assert_eq!(send(addr, "GET", path, &[], "").status, 401, "{path}");
    }
    let login = send(addr, "GET", "/login", &[], "");
    assert_eq!(login.status, 200);
    assert!(login.body.contains("name=\"token\"") && !login.body.contains("<script"), "{}", login.body);
    let app = send(addr, "GET", "/app/index.html", &[], "");
    assert_eq!(app.status, 200, "{:?}", app.headers);
    let etag = app.header("etag").expect("ETag");
    // A browser that takes gzip gets the copy made at build time, which unpacks to the file.
    let plain = send(addr, "GET", "/app/app.js", &[], "");
    let (head, packed) = raw_get(addr, "/app/app.js", "Accept-Encoding: gzip, deflate, br\r\n");
    assert!(head.to_ascii_lowercase().contains("content-encoding: gzip"), "{head}");
    assert!(head.to_ascii_lowercase().contains("vary: accept-encoding"), "{head}");
    assert!(packed.len() * 2 < plain.body.len(), "{} of {} bytes", packed.len(), plain.body.len());
    assert_eq!(gunzip(&packed), plain.body.as_bytes());
    let (head, _) = raw_get(addr, "/app/app.js", "Accept-Encoding: gzip;q=0, identity\r\n");
    assert!(!head.to_ascii_lowercase().contains("content-encoding"), "refused gzip: {head}");
    assert_eq!(send(addr, "GET", "/app/index.html", &[("If-None-Match", etag)], "").status, 304);

    // Another site cannot sign a browser in.
    let form = format!("token={}", TOKEN.replace(' ', "+"));
    let forged = send(addr, "POST", "/login", &[("Origin", "http://evil.example")], &form);
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert!(forged.header("set-cookie").is_none());

    let signed =
        send(addr, "POST", "/login", &[("Content-Type", "application/x-www-form-urlencoded")], &form);
    assert_eq!((signed.status, signed.header("location")), (303, Some("/")), "{}", signed.body);
    let cookie = cookie_of(&signed);
    assert_eq!(send(addr, "GET", "/", &with(&cookie, &[]), "").status, 200);
    let session = send(addr, "GET", "/api/session", &with(&cookie, &[]), "").json();
    let csrf = session["csrf"].as_str().expect("csrf").to_owned();
    assert_eq!(session["token_required"], true);
    let pending = send(addr, "GET", "/api/requests", &with(&cookie, &[]), "").json();
    assert_eq!(pending["pending"][0]["id"], "rtcc-1", "{pending}");

    // Writes with the cookie need the CSRF token, and no other site may send them.
    let on = r#"{"on":true}"#;
    assert_eq!(send(addr, "PUT", "/api/privacy", &with(&cookie, &[]), on).status, 403);
    assert_eq!(
        send(addr, "PUT", "/api/privacy", &with(&cookie, &[("X-CSRF-Token", "nope")]), on).status,
        403
    );
    let cross = send(
        addr,
        "PUT",
        "/api/privacy",
        &with(&cookie, &[("X-CSRF-Token", &csrf), ("Origin", "http://evil.example")]),
        on,
    );
    assert_eq!(cross.status, 403, "{}", cross.body);
    assert!(cross.json()["error"].as_str().is_some_and(|e| e.contains("cross-site")), "{}", cross.body);
    let cross = send(
        addr,
        "PUT",
        "/api/privacy",
        &[("Authorization", &bearer), ("Sec-Fetch-Site", "cross-site")],
        on,
    );
    assert_eq!(cross.status, 403, "a token does not make a cross-site write acceptable: {}", cross.body);
    let privacy = porchlight_e2e::http_get(addr, "/api/privacy", Some(TOKEN)).1;
    assert_eq!(serde_json::from_str::<Value>(&privacy).expect("json")["on"], false, "{privacy}");

    // Approved narrowed from the app: audited as the web app's.
    let origin = format!("http://{addr}");
    let own =
        [("X-CSRF-Token", csrf.as_str()), ("Origin", origin.as_str()), ("Sec-Fetch-Site", "same-origin")];
    let approved =
        send(addr, "POST", "/api/requests/rtcc-1/approve", &with(&cookie, &own), r#"{"cameras":["porch"]}"#);
    assert_eq!(approved.status, 200, "{}", approved.body);
    assert_eq!(approved.json()["grant"]["cameras"], json!(["porch"]));
    let entries = porchlight::audit::entries(&s.path("data/audit")).expect("audit log");
    let decided = entries.iter().find(|e| e["kind"] == "resident_decision").expect("resident_decision entry");
    assert_eq!(decided["by"], "resident (web)", "{decided}");
    assert_eq!(decided["final"]["grant"]["cameras"], json!(["porch"]), "{decided}");
    let switched = send(addr, "PUT", "/api/privacy", &with(&cookie, &own), on);
    assert_eq!(switched.status, 200, "{}", switched.body);
    assert_eq!(switched.json()["changed_by"], "web", "{}", switched.body);
    // The same action with the token is the API's.
    let (code, body) = porchlight_e2e::http_put_json(addr, "/api/privacy", Some(TOKEN), r#"{"on":false}"#);
    assert_eq!(code, 200, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).expect("json")["changed_by"], "api", "{body}");

    // Signing out ends the session for good.
    let out = send(addr, "POST", "/logout", &with(&cookie, &own), "");
    assert_eq!(out.status, 200, "{}", out.body);
    assert_eq!(out.json()["signed_out"], true);
    assert!(out.header("set-cookie").is_some_and(|c| c.contains("Max-Age=0")), "{:?}", out.headers);
    assert_eq!(send(addr, "GET", "/api/requests", &with(&cookie, &[]), "").status, 401);
    assert_eq!(send(addr, "GET", "/", &with(&cookie, &[]), "").status, 303);

    // Wrong tokens: five are answered, then each attempt must wait, even with the right token.
    for i in 0..5 {
        let wrong = send(addr, "POST", "/login", &[], "token=guess");
        assert_eq!(wrong.status, 401, "attempt {i}: {}", wrong.body);
        assert!(wrong.header("set-cookie").is_none());
    }
    let braked = send(addr, "POST", "/login", &[], &form);
    assert_eq!(braked.status, 429, "{}", braked.body);
    let wait: u64 = braked.header("retry-after").and_then(|v| v.parse().ok()).expect("Retry-After seconds");
    assert!((1..=300).contains(&wait), "{wait}");
    assert!(braked.header("set-cookie").is_none(), "no session while braked");
    d.wait_log("the refusal in the log", |l| {
        porchlight_e2e::message(l) == "web app sign-in refused: too many wrong tokens"
    });
}

#[test]
fn without_a_token_a_local_browser_gets_a_session_and_other_hosts_are_refused() {
    let s = setup("");
    let d = Daemon::start(&s.config);
    let addr = d.addr.expect("API address");
    let page = send(addr, "GET", "/", &[], "");
    assert_eq!(page.status, 200, "{:?}", page.headers);
    assert!(page.body.contains("/app/app.js"), "{}", page.body);
    let cookie = cookie_of(&page);
    assert_eq!(send(addr, "GET", "/login", &[], "").header("location"), Some("/"));
    let session = send(addr, "GET", "/api/session", &[("Cookie", &cookie)], "").json();
    assert_eq!(session["token_required"], false);
    let csrf = session["csrf"].as_str().expect("csrf");
    let mode =
        send(addr, "PUT", "/api/mode", &[("Cookie", &cookie), ("X-CSRF-Token", csrf)], r#"{"mode":"away"}"#);
    assert_eq!(mode.status, 200, "{}", mode.body);
    assert_eq!(mode.json()["changed_by"], "web");
    // The CLI and scripts send no cookie: as before.
    let (code, body) = porchlight_e2e::http_put_json(addr, "/api/mode", None, r#"{"mode":"home"}"#);
    assert_eq!(code, 200, "{body}");
    // A page on another site that reaches 127.0.0.1 under its own name (DNS rebinding).
    for path in ["/", "/api/requests"] {
        let rebound = send(addr, "GET", path, &[("Host", "evil.example:8477")], "");
        assert_eq!(rebound.status, 403, "{path}: {}", rebound.body);
    }
    let forged = send(addr, "PUT", "/api/privacy", &[("Origin", "http://evil.example")], r#"{"on":true}"#);
    assert_eq!(forged.status, 403, "{}", forged.body);
}

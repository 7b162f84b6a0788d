//! Signing in to the web app of a hub with `api.token`, in a real headless Chromium against the
//! real daemon: without the session cookie every page leads to `/login` and the API answers
//! 401; the sign-in form gives an `HttpOnly`, `SameSite=Strict` cookie; a write carrying that
//! cookie is refused when it comes from another site or lacks the CSRF token; signing out ends
//! the session; wrong tokens are slowed down (429 with `Retry-After`).

use std::net::SocketAddr;

use porchlight_e2e::browser::Browser;
use porchlight_e2e::web::{self, Response};
use porchlight_e2e::{Daemon, Setup};
use serde_json::json;

const TOKEN: &str = "porch light at the door";

const PAGES: &[&str] = &["/", "/requests", "/report", "/policies", "/recordings", "/events"];

fn start(test: &str) -> Option<(Browser, Daemon, Setup)> {
    let browser = Browser::start(test)?;
    let setup = Setup::new(&format!("[api]\nlisten = \"127.0.0.1:0\"\ntoken = {TOKEN:?}\n"));
    let mut daemon = Daemon::start(&setup.config);
    daemon.token = Some(TOKEN.to_owned());
    Some((browser, daemon, setup))
}

/// `POST /login` with `token`, as the sign-in form sends it.
fn sign_in(addr: SocketAddr, token: &str) -> Response {
    let body = format!("token={}", token.replace(' ', "+"));
    web::request(
        addr,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(&body),
    )
}

#[test]
fn sign_in_guards_pages_and_writes() {
    let Some((b, d, _setup)) = start("sign_in_guards_pages_and_writes") else { return };
    let addr = d.addr.expect("API address");
    let base = format!("http://{addr}");

    // Without a session: the app's page redirects, the API refuses.
    let page = web::request(addr, "GET", "/", &[], None);
    assert_eq!((page.status, page.header("location")), (303, Some("/login")), "{page:?}");
    for path in ["/api/cameras", "/api/requests", "/api/session"] {
        let r = web::request(addr, "GET", path, &[], None);
        assert_eq!(r.status, 401, "GET {path} without a session: {r:?}");
    }
    for hash in PAGES {
        b.goto(&format!("{base}/#{hash}"));
        let at = b.url();
        assert!(at.starts_with(&format!("{base}/login")), "#{hash} without a session ended at {at}");
    }
    b.find("input[name=token]");
    b.screenshot("login");
    b.set_viewport(390, 844, true);
    b.screenshot("login-phone");
    b.clear_viewport();

    // Sign in with the form.
    b.find("input[name=token]").type_text(TOKEN);
    b.find("form [type=submit]").click();
    b.wait_for("main[data-page=\"/\"]");
    let cookies = b.cookies();
    let session = cookies
        .iter()
        .find(|c| c["name"] == "porchlight_session")
        .unwrap_or_else(|| panic!("no session cookie: {cookies:?}"));
    assert_eq!((session["httpOnly"].clone(), session["sameSite"].clone()), (json!(true), json!("Strict")));
    assert_eq!(b.execute("return document.cookie", &[]), json!(""), "the cookie is HttpOnly");
    b.wait_for("#sign-out");
    b.screenshot("signed-in");
    b.assert_no_console_errors();

    // The same cookie from outside the browser: reads work, writes need the CSRF token and the
    // hub's own origin.
    let cookie = format!("porchlight_session={}", session["value"].as_str().expect("cookie value"));
    let s = web::request(addr, "GET", "/api/session", &[("Cookie", &cookie)], None);
    assert_eq!(s.status, 200, "{s:?}");
    assert_eq!(s.json()["token_required"], true);
    let csrf = s.json()["csrf"].as_str().expect("csrf").to_owned();
    let on = json!({ "on": true }).to_string();
    let json_type = ("Content-Type", "application/json");
    let cross_site = web::request(
        addr,
        "PUT",
        "/api/privacy",
        &[json_type, ("Cookie", &cookie), ("X-CSRF-Token", &csrf), ("Origin", "http://evil.example")],
        Some(&on),
    );
    assert_eq!(cross_site.status, 403, "{cross_site:?}");
    let no_csrf = web::request(addr, "PUT", "/api/privacy", &[json_type, ("Cookie", &cookie)], Some(&on));
    assert_eq!(no_csrf.status, 403, "{no_csrf:?}");
    assert_eq!(d.get_json("/api/privacy")["on"], false, "a refused write changed nothing");
    let own = web::request(
        addr,
        "PUT",
        "/api/privacy",
        &[json_type, ("Cookie", &cookie), ("X-CSRF-Token", &csrf), ("Origin", &base)],
        Some(&on),
    );
    assert_eq!(own.status, 200, "the same write from the hub's own page: {own:?}");
    assert_eq!(d.get_json("/api/privacy")["on"], true);

    // Sign out from the page: back at /login, and the cookie no longer opens anything.
    b.find("#sign-out").click();
    b.wait_until("the sign-in page after signing out", porchlight_e2e::WAIT, |b| {
        b.url().starts_with(&format!("{base}/login")).then_some(())
    });
    let after = web::request(addr, "GET", "/api/session", &[("Cookie", &cookie)], None);
    assert_eq!(after.status, 401, "{after:?}");
    b.goto(&format!("{base}/#/requests"));
    assert!(b.url().starts_with(&format!("{base}/login")), "{}", b.url());
    b.assert_no_console_errors();

    // Five wrong tokens, then the brake: 429 with Retry-After, even for the right token.
    for n in 1..=5 {
        let r = sign_in(addr, "not the token");
        assert_eq!(r.status, 401, "wrong token #{n}: {r:?}");
        assert!(r.cookie("porchlight_session").is_none(), "{r:?}");
    }
    let braked = sign_in(addr, TOKEN);
    assert_eq!(braked.status, 429, "{braked:?}");
    let wait: u64 = braked.header("retry-after").and_then(|v| v.parse().ok()).expect("Retry-After seconds");
    assert!(wait >= 1, "{braked:?}");
    assert!(braked.cookie("porchlight_session").is_none(), "{braked:?}");
}

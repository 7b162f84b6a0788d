//! The access rules of [`admit`], case by case.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, Method};

use super::*;

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            axum::http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
            HeaderValue::from_str(v).expect("value"),
        );
    }
    h
}

const HOST: (&str, &str) = ("host", "127.0.0.1:8477");

#[test]
fn without_a_token_local_clients_are_open_and_other_hosts_are_refused() {
    let s = Sessions::default();
    let ok = admit(&s, None, &Method::GET, "/api/health", &headers(&[HOST]));
    assert!(matches!(ok, Ok(Caller::Open)));
    for host in ["localhost:8477", "[::1]:8477", "127.0.0.2", "LOCALHOST"] {
        assert!(admit(&s, None, &Method::GET, "/", &headers(&[("host", host)])).is_ok(), "{host}");
    }
    // A web site whose name resolves to 127.0.0.1 (DNS rebinding) reaches the hub with its own
    // name in Host.
    for host in ["evil.example:8477", "192.168.1.5:8477", "localhost.evil.example"] {
        let refused = admit(&s, None, &Method::GET, "/api/requests", &headers(&[("host", host)]));
        assert_eq!(refused.expect_err("refused"), Refusal::Host(host.to_owned()), "{host}");
    }
}

#[test]
fn with_a_token_only_the_token_or_a_session_passes_and_pages_go_to_sign_in() {
    let s = Sessions::default();
    let token = Secret::new("t0ken");
    let t = Some(&token);
    assert!(matches!(
        admit(&s, t, &Method::GET, "/api/health", &headers(&[HOST, ("authorization", "bearer t0ken")])),
        Ok(Caller::Bearer)
    ));
    assert_eq!(
        admit(&s, t, &Method::GET, "/api/health", &headers(&[HOST])).expect_err("refused"),
        Refusal::Unauthorized
    );
    assert_eq!(
        admit(&s, t, &Method::GET, "/api/health", &headers(&[HOST, ("authorization", "Bearer nope")]))
            .expect_err("refused"),
        Refusal::Unauthorized
    );
    assert_eq!(admit(&s, t, &Method::GET, "/", &headers(&[HOST])).expect_err("refused"), Refusal::SignIn);
    assert_eq!(
        admit(&s, t, &Method::GET, "/metrics", &headers(&[HOST])).expect_err("refused"),
        Refusal::Unauthorized
    );
    assert!(matches!(admit(&s, t, &Method::GET, "/login", &headers(&[HOST])), Ok(Caller::Anonymous)));
    assert!(matches!(admit(&s, t, &Method::GET, "/app/app.js", &headers(&[HOST])), Ok(Caller::Anonymous)));
    // Any Host is fine with a token: it is what protects the hub then.
    let (id, _) = s.start(t, Duration::from_secs(60)).expect("session");
    let cookie = format!("other=1; {}={id}", session::COOKIE);
    let got =
        admit(&s, t, &Method::GET, "/api/requests", &headers(&[("host", "hub.lan"), ("cookie", &cookie)]));
    assert!(matches!(got, Ok(Caller::Session { .. })));
    assert_eq!(got.expect("session").channel(), Channel::Web);
    let wrong = format!("{}={}", session::COOKIE, "f".repeat(64));
    assert_eq!(
        admit(&s, t, &Method::GET, "/api/requests", &headers(&[HOST, ("cookie", &wrong)]))
            .expect_err("refused"),
        Refusal::Unauthorized
    );
}

#[test]
fn a_session_write_needs_its_csrf_token() {
    let s = Sessions::default();
    let token = Secret::new("t0ken");
    let (id, session) = s.start(Some(&token), Duration::from_secs(60)).expect("session");
    let cookie = format!("{}={id}", session::COOKIE);
    let put = |extra: &[(&str, &str)]| {
        let mut pairs = vec![HOST, ("cookie", cookie.as_str())];
        pairs.extend_from_slice(extra);
        admit(&s, Some(&token), &Method::PUT, "/api/privacy", &headers(&pairs))
    };
    assert_eq!(put(&[]).expect_err("refused"), Refusal::Csrf);
    assert_eq!(put(&[(CSRF_HEADER, "0000")]).expect_err("refused"), Refusal::Csrf);
    assert_eq!(
        put(&[(CSRF_HEADER, &id)]).expect_err("refused"),
        Refusal::Csrf,
        "the session id is not the CSRF token"
    );
    let ok = put(&[(CSRF_HEADER, session.csrf.expose()), ("origin", "http://127.0.0.1:8477")]);
    assert_eq!(ok.expect("allowed").channel(), Channel::Web);
    // Reads need no CSRF token.
    assert!(
        admit(&s, Some(&token), &Method::GET, "/api/privacy", &headers(&[HOST, ("cookie", &cookie)])).is_ok()
    );
}

#[test]
fn writes_from_other_sites_are_refused_whoever_sends_them() {
    let s = Sessions::default();
    let token = Secret::new("t0ken");
    let bearer = ("authorization", "Bearer t0ken");
    for (t, auth) in [(None, ("x-none", "")), (Some(&token), bearer)] {
        let post = |extra: (&str, &str)| {
            admit(&s, t, &Method::POST, "/api/requests/r1/approve", &headers(&[HOST, auth, extra]))
        };
        assert_eq!(
            post(("origin", "http://evil.example")).expect_err("refused"),
            Refusal::CrossSite("Origin http://evil.example".into())
        );
        assert!(
            matches!(post(("origin", "http://127.0.0.1:9999")), Err(Refusal::CrossSite(_))),
            "another port"
        );
        assert!(matches!(post(("origin", "null")), Err(Refusal::CrossSite(_))));
        assert!(matches!(post(("sec-fetch-site", "cross-site")), Err(Refusal::CrossSite(_))));
        assert!(matches!(post(("sec-fetch-site", "same-site")), Err(Refusal::CrossSite(_))));
        assert!(post(("origin", "http://127.0.0.1:8477")).is_ok());
        assert!(post(("sec-fetch-site", "same-origin")).is_ok());
        assert!(post(("x-other", "1")).is_ok(), "a client that is no web page sends no Origin");
    }
    // The hub's own sign-in form: its page has `Referrer-Policy: no-referrer`, so the browser
    // posts it with `Origin: null`, and says where from in `Sec-Fetch-Site`.
    let form = |site: &str| {
        admit(
            &s,
            Some(&token),
            &Method::POST,
            "/login",
            &headers(&[HOST, ("origin", "null"), ("sec-fetch-site", site)]),
        )
    };
    assert!(form("same-origin").is_ok());
    assert!(matches!(form("cross-site"), Err(Refusal::CrossSite(_))));
    // Sign-in itself is a write: no other site may sign a browser in (login CSRF).
    assert!(matches!(
        admit(
            &s,
            Some(&token),
            &Method::POST,
            "/login",
            &headers(&[HOST, ("origin", "http://evil.example")])
        ),
        Err(Refusal::CrossSite(_))
    ));
}

#[test]
fn the_host_check_reads_ports_and_brackets() {
    assert!(loopback_host("127.0.0.1"));
    assert!(loopback_host("127.0.0.1:80"));
    assert!(loopback_host("[::1]:8477"));
    assert!(loopback_host("[::1]"));
    assert!(loopback_host("localhost"));
    assert!(!loopback_host("[::2]:8477"));
    assert!(!loopback_host("0.0.0.0:8477"));
    assert!(!loopback_host("localhost:8477.evil.example"));
}

#[test]
fn gzip_is_sent_only_to_clients_that_take_it() {
    let take = |v: &str| accepts_gzip(&headers(&[("accept-encoding", v)]));
    assert!(take("gzip, deflate, br, zstd"));
    assert!(take("br;q=1.0, GZIP;q=0.5"));
    assert!(take("*"));
    assert!(!take("gzip;q=0"));
    assert!(!take("gzip; q=0.0, identity"));
    assert!(!take("deflate, br"));
    assert!(!take("identity"));
    assert!(!accepts_gzip(&HeaderMap::new()));
}

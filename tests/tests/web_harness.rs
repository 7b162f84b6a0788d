//! The browser harness itself (`porchlight_e2e::browser`), against pages this test serves from
//! a small loopback HTTP server with the web app's Content-Security-Policy: finding, clicking,
//! typing, waiting, scripts, screenshots, and the console catching a CSP violation.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use porchlight_e2e::browser::Browser;
use serde_json::json;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'";

const PAGE: &str = "<!doctype html><title>harness</title>\
    <meta name=viewport content=\"width=device-width\">\
    <input id=name><button id=go>Go</button><p id=echo></p><ul id=out></ul>\
    <script type=module src=/app.js></script>";

/// Adds an item a little after the click (so the test has to wait for it) and echoes input.
const SCRIPT: &str = "document.getElementById('go').addEventListener('click', () => {\n\
    setTimeout(() => { const li = document.createElement('li'); li.id = 'done';\n\
    li.dataset.total = '3'; li.textContent = 'hello ' + document.getElementById('name').value;\n\
    document.getElementById('out').append(li); }, 150); });\n\
    console.log('app ready');\n";

/// Breaks the CSP: an inline script, which the browser refuses and reports on the console.
const BAD_PAGE: &str = "<!doctype html><title>bad</title><p>inline</p><script>document.title='ran'</script>";

/// Serves `/`, `/app.js`, `/bad` and an empty `/favicon.ico` with the CSP, one connection at a time, until the test ends.
fn serve() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).map_or(true, |n| n == 0) || h == "\r\n" {
                    break;
                }
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/");
            let (status, ctype, body) = match path {
                "/" => ("200 OK", "text/html", PAGE),
                "/app.js" => ("200 OK", "text/javascript", SCRIPT),
                "/bad" => ("200 OK", "text/html", BAD_PAGE),
                // Browsers ask for it; a 404 would be a console error.
                "/favicon.ico" => ("200 OK", "image/x-icon", ""),
                _ => ("404 Not Found", "text/plain", "not found"),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Security-Policy: {CSP}\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

#[test]
fn harness_drives_a_page_and_reads_its_console() {
    let Some(b) = Browser::start("harness_drives_a_page_and_reads_its_console") else { return };
    let addr = serve();

    b.goto(&format!("http://{addr}/"));
    assert_eq!(b.title(), "harness");
    b.find("#name").type_text("porch");
    b.find("#go").click();
    assert!(b.try_find("#done").is_none(), "the item comes only after a delay");
    let done = b.wait_for_within("#done", Duration::from_secs(5));
    assert_eq!(done.text(), "hello porch");
    assert_eq!(done.attr("data-total").as_deref(), Some("3"));
    assert_eq!(b.find_all("#out li").len(), 1);
    assert_eq!(b.execute("return document.querySelectorAll(arguments[0]).length", &[json!("li")]), json!(1));
    assert_eq!(b.execute("return arguments[0].id", &[done.to_arg()]), json!("done"));

    let shot = b.screenshot("page");
    let png = std::fs::read(&shot).expect("screenshot file");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG: {}", shot.display());
    b.set_viewport(390, 844, true);
    assert_eq!(b.execute("return window.innerWidth", &[]), json!(390));
    b.screenshot("phone");
    b.clear_viewport();

    let console = b.console();
    assert!(console.iter().any(|e| e.message.contains("app ready")), "{console:#?}");
    b.assert_no_console_errors();

    // A page breaking the CSP: its inline script does not run, and the console says why.
    b.goto(&format!("http://{addr}/bad"));
    assert_eq!(b.title(), "bad", "the inline script must not have run");
    let errors = b.console_errors();
    assert!(errors.iter().any(|e| e.message.contains("Content Security Policy")), "{errors:#?}");

    // A wait that never comes true fails the test, within its deadline.
    let waited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        b.wait_for_within("#never", Duration::from_millis(200));
    }));
    assert!(waited.is_err(), "waiting for a missing element must fail");
}

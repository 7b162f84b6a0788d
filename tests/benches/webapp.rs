//! The web app in a real headless Chromium (`bench/webapp.sh`, or `cargo bench -p
//! porchlight-e2e --bench webapp`): how soon the home page is usable after a navigation on
//! loopback, with the browser's cache emptied first and with a warm one (goal ≤ 300 ms), and
//! the hub's CPU with no page open against one home page open (goal ≤ 0.5 % of a core per
//! page), with one camera recording from the RTSP test server.
//! `WEBAPP_BENCH_SECONDS` sets each CPU phase (default 60), `WEBAPP_BENCH_LOADS` the number of
//! page loads of each kind (default 20). Results: docs/benchmarks.md.
//!
//! "Usable" is when the home page shows the camera's card with its state: a script added to
//! every new document (through the DevTools protocol, so the page's CSP does not apply) notes
//! `performance.now()` (milliseconds since the navigation started) when that card appears.

#![allow(clippy::print_stdout)]

use porchlight_e2e::browser::Browser;
use porchlight_e2e::rtsp::RtspServer;
use porchlight_e2e::{Daemon, Setup, WAIT};
use serde_json::{Value, json};

const USABLE: &str = "li.camera[data-state]";

const WATCH: &str = "new MutationObserver((_, obs) => {\n\
      if (document.querySelector('li.camera[data-state]')) {\n\
        window.__usable = performance.now(); obs.disconnect();\n\
      }\n\
    }).observe(document, { subtree: true, childList: true, attributes: true });";

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let Some(camera) = RtspServer::start() else { return };
    let Some(browser) = Browser::start("bench-webapp") else { return };
    let setup = Setup::new(&format!("[[camera]]\nname = \"porch\"\nrtsp_url = {:?}\n", camera.url("h264")));
    let daemon = Daemon::start(&setup.config);
    let url = format!("http://{}/#/", daemon.addr.expect("API address"));
    let loads = env_number("WEBAPP_BENCH_LOADS", 20).max(1);
    let seconds = env_number("WEBAPP_BENCH_SECONDS", 60).max(1);
    let hz = porchlight_e2e::cpu::ticks_per_second();

    browser.execute("return 1", &[]);
    let added = browser.cmd_cdp("Page.addScriptToEvaluateOnNewDocument", json!({ "source": WATCH }));
    assert!(added.get("identifier").is_some(), "{added}");

    // The camera is recording before anything is measured.
    browser.goto(&url);
    browser.wait_for("li.camera[data-state=\"recording\"]");

    // Cold: the browser's cache emptied before each load (a first visit); warm: a return visit.
    for cold in [true, false] {
        let pass = if cold { "cold cache" } else { "warm cache" };
        let mut usable = Vec::new();
        let mut loaded = Vec::new();
        let mut bytes = 0.0;
        for n in 0..loads {
            browser.goto("about:blank");
            if cold {
                browser.cmd_cdp("Network.clearBrowserCache", json!({}));
            }
            browser.goto(&url);
            let at = browser.wait_until("the page to be usable", WAIT, |b| {
                b.execute("return window.__usable === undefined ? null : window.__usable", &[]).as_f64()
            });
            browser.find(USABLE);
            let nav: Value = browser.execute(
                "const n = performance.getEntriesByType('navigation')[0];\n\
                 const r = performance.getEntriesByType('resource');\n\
                 return { load: n.loadEventEnd, bytes: n.transferSize + r.reduce((s, e) => s + e.transferSize, 0) }",
                &[],
            );
            println!(
                "{pass}, load {n:2}: usable {at:6.1} ms, load event {:6.1} ms, {} bytes transferred",
                nav["load"].as_f64().unwrap_or(f64::NAN),
                nav["bytes"]
            );
            usable.push(at);
            loaded.push(nav["load"].as_f64().unwrap_or(f64::NAN));
            bytes = nav["bytes"].as_f64().unwrap_or(f64::NAN);
        }
        let max = usable.iter().copied().fold(f64::MIN, f64::max);
        println!(
            "first page usable, {pass}: median {:.1} ms, max {max:.1} ms over {loads} loads \
             (load event median {:.1} ms); {bytes} bytes transferred by the last load",
            median(usable),
            median(loaded)
        );
    }

    browser.goto("about:blank");
    let idle = porchlight_e2e::cpu::percent(daemon.pid(), seconds, hz);
    println!("hub CPU, no page open: {idle:.3} % of a core over {seconds} s");
    browser.goto(&url);
    browser.wait_for(USABLE);
    let open = porchlight_e2e::cpu::percent(daemon.pid(), seconds, hz);
    println!("hub CPU, one home page open: {open:.3} % of a core over {seconds} s");
    println!("per open page: {:.3} % of a core", open - idle);
    browser.assert_no_console_errors();
}

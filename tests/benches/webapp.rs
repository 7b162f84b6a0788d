//! The web app in a real headless Chromium (`bench/webapp.sh`, or `cargo bench -p
//! porchlight-e2e --bench webapp`): how soon the home page is usable after a navigation on
//! loopback (goal ≤ 300 ms), and the hub's CPU with no page open against one home page open
//! (goal ≤ 0.5 % of a core per page), with one camera recording from the RTSP test server.
//! `WEBAPP_BENCH_SECONDS` sets each CPU phase (default 60), `WEBAPP_BENCH_LOADS` the number of
//! page loads (default 20). Results: docs/benchmarks.md.
//!
//! "Usable" is when the home page shows the camera's card with its state: a script added to
//! every new document (through the DevTools protocol, so the page's CSP does not apply) notes
//! `performance.now()` (milliseconds since the navigation started) when that card appears.

#![allow(clippy::print_stdout)]

use std::time::Duration;

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

/// User plus system CPU time of process `pid`, in clock ticks (`/proc/<pid>/stat` fields 14, 15).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/<pid>/stat");
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let after = stat.rsplit_once(')').expect("stat has a command name").1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields[11].parse().expect("utime");
    let stime: u64 = fields[12].parse().expect("stime");
    utime + stime
}

fn clock_ticks_per_second() -> u64 {
    let out = std::process::Command::new("getconf").arg("CLK_TCK").output().expect("run getconf");
    String::from_utf8_lossy(&out.stdout).trim().parse().expect("CLK_TCK")
}

/// The hub's CPU over `seconds`, in percent of one core.
fn cpu_percent(pid: u32, seconds: u64, hz: u64) -> f64 {
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(seconds));
    let used = cpu_ticks(pid) - before;
    used as f64 * 100.0 / (seconds * hz) as f64
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
    let hz = clock_ticks_per_second();

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
    let idle = cpu_percent(daemon.pid(), seconds, hz);
    println!("hub CPU, no page open: {idle:.3} % of a core over {seconds} s");
    browser.goto(&url);
    browser.wait_for(USABLE);
    let open = cpu_percent(daemon.pid(), seconds, hz);
    println!("hub CPU, one home page open: {open:.3} % of a core over {seconds} s");
    println!("per open page: {:.3} % of a core", open - idle);
    browser.assert_no_console_errors();
}

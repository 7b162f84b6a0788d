//! Live view (`bench/live.sh`, or `cargo bench -p porchlight-e2e --bench live`), against the
//! release daemon recording 4 cameras from the RTSP test server's `/clock` mount (one shared
//! encoder; each frame carries the host's clock in a block code, `tests/peers/rtsp_server.py`):
//!
//! - **first picture**: in a real headless Chromium, from the navigation to `#/live?camera=…`
//!   to the first frame shown (`requestVideoFrameCallback`), and from the moment the page asked
//!   for the stream (goal ≤ 1 s);
//! - **glass to glass**: for each frame the browser shows, the time it was shown (the
//!   callback's `expectedDisplayTime` on the page's clock) minus the capture time written in the
//!   frame by the test camera (goal p50 ≤ 500 ms); both clocks are the same machine's;
//! - **cost**: the hub's CPU with no viewer (that is recording 4 cameras) and with 4 viewers of
//!   each camera (16 streams read by plain HTTP readers that discard the bytes, so the browser's
//!   own CPU does not compete), per viewer (goal ≤ 0.3 % of a core).
//!
//! `LIVE_BENCH_SECONDS` sets each CPU phase (default 60), `LIVE_BENCH_LOADS` the number of page
//! loads (default 20), `LIVE_BENCH_FRAMES` the frames for glass to glass (default 300).

#![allow(clippy::print_stdout)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use porchlight_e2e::browser::Browser;
use porchlight_e2e::rtsp::RtspServer;
use porchlight_e2e::{Daemon, Setup, WAIT};
use serde_json::json;

const CAMERAS: usize = 4;
const VIEWERS: usize = 4;

/// Notes when the page asks for the live stream and when the first `<video>` of the page shows
/// its first frame (ms since the navigation started).
const WATCH: &str = "const fetch0 = window.fetch;\n\
    window.fetch = function (url, ...rest) {\n\
      if (String(url).includes('/api/live') && window.__asked === undefined) window.__asked = performance.now();\n\
      return fetch0.call(this, url, ...rest);\n\
    };\n\
    new MutationObserver((_, obs) => {\n\
      const v = document.querySelector('video[data-camera]');\n\
      if (!v) return;\n\
      obs.disconnect();\n\
      v.addEventListener('loadstart', () => v.requestVideoFrameCallback(() => {\n\
        window.__first = performance.now();\n\
      }), { once: true });\n\
    }).observe(document, { subtree: true, childList: true });";

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

/// A viewer that reads `path` and throws the bytes away until `stop`; counts them.
fn reader(
    addr: SocketAddr,
    path: String,
    stop: Arc<AtomicBool>,
    bytes: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).expect("connect to the hub");
        s.set_read_timeout(Some(WAIT)).expect("timeout");
        write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").expect("send");
        let mut buf = vec![0u8; 64 * 1024];
        while !stop.load(Ordering::Relaxed) {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    bytes.fetch_add(n as u64, Ordering::Relaxed);
                }
            }
        }
    })
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let Some(camera) =
        RtspServer::start_with(&["--shared", "--width", "640", "--height", "360", "--fps", "25"])
    else {
        return;
    };
    let Some(browser) = Browser::start("bench-live") else { return };
    let config: String = (0..CAMERAS)
        .map(|i| format!("[[camera]]\nname = \"cam{i}\"\nrtsp_url = {:?}\n\n", camera.url("clock")))
        .collect();
    let setup = Setup::new(&config);
    let daemon = Daemon::start(&setup.config);
    let addr = daemon.addr.expect("API address");
    let loads = env_number("LIVE_BENCH_LOADS", 20).max(1);
    let seconds = env_number("LIVE_BENCH_SECONDS", 60).max(1);
    let frames = env_number("LIVE_BENCH_FRAMES", 300).max(10);
    let hz = porchlight_e2e::cpu::ticks_per_second();
    for i in 0..CAMERAS {
        daemon.wait_log("every camera streaming", |l| {
            l["fields"]["message"] == "Streaming" && l["span"]["camera"] == format!("cam{i}")
        });
    }

    browser.execute("return 1", &[]);
    let added = browser.cmd_cdp("Page.addScriptToEvaluateOnNewDocument", json!({ "source": WATCH }));
    assert!(added.get("identifier").is_some(), "{added}");

    // First picture.
    let url = format!("http://{addr}/#/live?camera=cam0");
    let mut from_nav = Vec::new();
    let mut from_ask = Vec::new();
    for n in 0..loads {
        browser.goto("about:blank");
        browser.goto(&url);
        let (first, asked) = browser.wait_until("the first frame", WAIT, |b| {
            let v = b.execute(
                "return window.__first === undefined ? null : [window.__first, window.__asked]",
                &[],
            );
            Some((v.get(0)?.as_f64()?, v.get(1)?.as_f64()?))
        });
        println!(
            "load {n:2}: first frame {first:6.1} ms after navigation, {:6.1} ms after asking",
            first - asked
        );
        from_nav.push(first);
        from_ask.push(first - asked);
    }
    let max = from_ask.iter().copied().fold(f64::MIN, f64::max);
    println!(
        "first picture: median {:.1} ms after navigation, median {:.1} ms (max {max:.1} ms) after asking, over {loads} loads",
        percentile(&mut from_nav, 0.5),
        percentile(&mut from_ask, 0.5)
    );

    // Glass to glass, on the page still open.
    let script = format!(
        "const done = arguments[arguments.length - 1];\n\
         function porchlightClockCode() {{ {decode} }}\n\
         const v = document.querySelector('video[data-camera]');\n\
         const out = [];\n\
         const step = (now, meta) => {{\n\
           const shown = performance.timeOrigin + meta.expectedDisplayTime;\n\
           const captured = porchlightClockCode(v);\n\
           const received = Date.parse(v.dataset.origin) + meta.mediaTime * 1000;\n\
           const b = v.buffered;\n\
           const behind = b.length ? b.end(b.length - 1) - v.currentTime : 0;\n\
           if (captured !== null) out.push([shown - captured, received - captured, shown - received, behind * 1000]);\n\
           if (out.length >= {frames}) done(out); else v.requestVideoFrameCallback(step);\n\
         }};\n\
         v.requestVideoFrameCallback(step);",
        decode = porchlight_e2e::clockcode::JS
    );
    let lat = browser.execute_async(&script, &[]);
    let rows: Vec<Vec<f64>> = lat
        .as_array()
        .expect("latencies")
        .iter()
        .map(|r| {
            r.as_array().map(|r| r.iter().filter_map(serde_json::Value::as_f64).collect()).unwrap_or_default()
        })
        .filter(|r: &Vec<f64>| r.len() == 4)
        .collect();
    assert!(!rows.is_empty(), "no frame's clock code could be read");
    let column = |i: usize| rows.iter().map(|r| r[i]).collect::<Vec<f64>>();
    let n = rows.len();
    let (mut total, mut camera, mut hub_to_shown, mut behind) = (column(0), column(1), column(2), column(3));
    println!(
        "glass to glass: p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms over {n} frames",
        percentile(&mut total, 0.5),
        percentile(&mut total, 0.95),
        percentile(&mut total, 1.0)
    );
    println!(
        "  of which camera to hub (capture to the hub's receipt): p50 {:.0} ms; hub to shown: p50 {:.0} ms; buffered ahead of the playhead: p50 {:.0} ms",
        percentile(&mut camera, 0.5),
        percentile(&mut hub_to_shown, 0.5),
        percentile(&mut behind, 0.5)
    );
    browser.goto("about:blank");
    browser.assert_no_console_errors();

    // Cost.
    let idle = porchlight_e2e::cpu::percent(daemon.pid(), seconds, hz);
    println!(
        "hub CPU, {CAMERAS} cameras recording, no viewer: {idle:.2} % of a core ({:.2} % per camera)",
        idle / CAMERAS as f64
    );
    let stop = Arc::new(AtomicBool::new(false));
    let bytes = Arc::new(AtomicU64::new(0));
    let query: Vec<String> = (0..CAMERAS).map(|i| format!("camera=cam{i}")).collect();
    let path = format!("/api/live?{}", query.join("&"));
    let threads: Vec<_> =
        (0..VIEWERS).map(|_| reader(addr, path.clone(), Arc::clone(&stop), Arc::clone(&bytes))).collect();
    // Every viewer has its cameras before the measurement starts.
    std::thread::sleep(Duration::from_secs(3));
    let before = bytes.load(Ordering::Relaxed);
    let watched = porchlight_e2e::cpu::percent(daemon.pid(), seconds, hz);
    let sent = bytes.load(Ordering::Relaxed) - before;
    stop.store(true, Ordering::Relaxed);
    let viewers = (CAMERAS * VIEWERS) as f64;
    println!(
        "hub CPU, {VIEWERS} viewers of each of {CAMERAS} cameras: {watched:.2} % of a core; {:.3} % per viewer of a camera; {:.1} Mbit/s sent",
        (watched - idle) / viewers,
        sent as f64 * 8.0 / seconds as f64 / 1e6
    );
    drop(threads);
}

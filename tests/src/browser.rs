//! A real headless Chromium for the web app's tests, driven over WebDriver.
//!
//! [`Browser::start`] runs Debian's `chromedriver` on an ephemeral loopback port as a child
//! process and opens one WebDriver session: one Chromium with its own profile in a temp dir,
//! so tests can run in parallel. Dropping the [`Browser`] ends the session and kills
//! chromedriver (and, should the session not end, Chromium) by PID.
//!
//! The WebDriver client is a few JSON calls over [`crate::web`]'s plain HTTP. Helpers: go to a
//! URL, find by CSS, wait until a condition holds (polling the page with a deadline: a page
//! gives no other signal), click, type, read text and attributes, run a script, set the
//! viewport, save a screenshot to `target/screenshots/<test>/<step>.png`, and read the
//! browser's console (errors, CSP violations) so a test can assert that there were none.
//!
//! When Chromium or chromedriver is not installed, [`Browser::start`] returns `None` so that
//! the test can skip, unless [`peers_required`] is true: then it panics.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::{WAIT, peers_required, web};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The browser itself (Debian's `/usr/bin/chromium` is a shell wrapper around it).
const CHROMIUM: &[&str] = &["/usr/lib/chromium/chromium", "/usr/bin/chromium"];
/// The key under which WebDriver names an element.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How often [`Browser::wait_until`] looks again.
const POLL: Duration = Duration::from_millis(20);

/// One console message from the page (`console.*`, uncaught errors, CSP violations, failed
/// loads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleEntry {
    /// `SEVERE`, `WARNING`, `INFO`, `DEBUG`.
    pub level: String,
    /// `console-api`, `javascript`, `security`, `network`, …
    pub source: String,
    pub message: String,
}

impl ConsoleEntry {
    pub fn is_error(&self) -> bool {
        self.level == "SEVERE"
    }
}

/// A headless Chromium driven by its own chromedriver.
#[derive(Debug)]
pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    /// Chromium's PID, as chromedriver reports it.
    chromium_pid: Option<u32>,
    /// Where this test's screenshots go.
    shots: PathBuf,
    /// Console messages read so far (chromedriver hands each out once).
    console: Mutex<Vec<ConsoleEntry>>,
    /// The profile (user-data-dir); removed after the browser.
    _profile: tempfile::TempDir,
}

/// An element of the current page.
#[derive(Debug, Clone)]
pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
    /// The CSS selector it was found by (for messages).
    css: String,
}

impl Browser {
    /// A 1280×800 browser for test `test` (names its screenshot folder). `None`: Chromium is not
    /// installed and the test should skip.
    pub fn start(test: &str) -> Option<Self> {
        let Some(chromium) = CHROMIUM.iter().find(|p| Path::new(p).exists()) else {
            return unavailable("chromium is not installed");
        };
        if !Path::new(CHROMEDRIVER).exists() {
            return unavailable("chromedriver is not installed");
        }
        let (mut driver, port) = spawn_driver();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let profile = tempfile::tempdir().expect("tempdir for the browser profile");
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--window-size=1280,800".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
            // Nothing but the pages under test: no updates, sync, metrics or first-run pages.
            "--no-first-run".to_owned(),
            "--no-default-browser-check".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-default-apps".to_owned(),
            "--disable-extensions".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
        ];
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": { "browser": "ALL" },
            "goog:chromeOptions": { "binary": chromium, "args": args },
        }}});
        let reply = match call(addr, "POST", "/session", Some(&caps)) {
            Ok(v) => v,
            Err(e) => {
                let _ = driver.kill();
                let _ = driver.wait();
                panic!("starting a Chromium session: {e}");
            }
        };
        let session = reply["sessionId"].as_str().expect("sessionId in the new session's reply").to_owned();
        let chromium_pid =
            reply["capabilities"]["goog:processID"].as_u64().and_then(|p| u32::try_from(p).ok());
        let shots = screenshot_root().join(test);
        Some(Self {
            driver,
            addr,
            session,
            chromium_pid,
            shots,
            console: Mutex::new(Vec::new()),
            _profile: profile,
        })
    }

    /// A WebDriver command on this session (`path` relative to `/session/<id>`).
    fn cmd(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let full = format!("/session/{}{path}", self.session);
        call(self.addr, method, &full, body).unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
    }

    /// Opens `url` and waits for its `load` event.
    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(&json!({ "url": url })));
    }

    /// The current page's URL.
    pub fn url(&self) -> String {
        self.cmd("GET", "/url", None).as_str().unwrap_or_default().to_owned()
    }

    /// The current page's title.
    pub fn title(&self) -> String {
        self.cmd("GET", "/title", None).as_str().unwrap_or_default().to_owned()
    }

    /// Reloads the page.
    pub fn refresh(&self) {
        self.cmd("POST", "/refresh", Some(&json!({})));
    }

    /// Every element matching CSS selector `css` (none: empty).
    pub fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        let found = self.cmd("POST", "/elements", Some(&json!({ "using": "css selector", "value": css })));
        found.as_array().map(|a| a.iter().filter_map(|e| self.element(e, css)).collect()).unwrap_or_default()
    }

    /// The first element matching `css`, if there is one now.
    pub fn try_find(&self, css: &str) -> Option<Element<'_>> {
        self.find_all(css).into_iter().next()
    }

    /// The first element matching `css`; panics (with a screenshot) if there is none now.
    pub fn find(&self, css: &str) -> Element<'_> {
        self.try_find(css).unwrap_or_else(|| {
            let shot = self.screenshot("missing-element");
            panic!("no element matches {css:?} on {} (screenshot {})", self.url(), shot.display())
        })
    }

    /// Waits (up to [`WAIT`]) for an element matching `css`.
    pub fn wait_for(&self, css: &str) -> Element<'_> {
        self.wait_for_within(css, WAIT)
    }

    /// Waits up to `timeout` for an element matching `css`.
    pub fn wait_for_within(&self, css: &str, timeout: Duration) -> Element<'_> {
        let id = self
            .wait_until(&format!("an element matching {css:?}"), timeout, |b| b.try_find(css).map(|e| e.id));
        Element { browser: self, id, css: css.to_owned() }
    }

    /// Polls `check` until it returns `Some` (its value is returned) or `timeout` passes; then
    /// panics naming `what`, with a screenshot and the console so far.
    pub fn wait_until<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&Self) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = check(self) {
                return v;
            }
            if Instant::now() >= deadline {
                let shot = self.screenshot("timeout");
                panic!(
                    "waited {timeout:?} for {what} on {}; screenshot {}; console: {:#?}",
                    self.url(),
                    shot.display(),
                    self.console()
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) in the page and returns what
    /// it returns. An element in `args` is passed as `Element::to_arg`.
    pub fn execute(&self, script: &str, args: &[Value]) -> Value {
        self.cmd("POST", "/execute/sync", Some(&json!({ "script": script, "args": args })))
    }

    /// Runs `script` and waits for it to call its last argument (the callback) with a result.
    pub fn execute_async(&self, script: &str, args: &[Value]) -> Value {
        self.cmd("POST", "/execute/async", Some(&json!({ "script": script, "args": args })))
    }

    /// Sets the viewport to `width`×`height` CSS pixels; `mobile` also emulates a phone
    /// (device scale 3, mobile meta viewport, touch). The page reflows at once.
    pub fn set_viewport(&self, width: u32, height: u32, mobile: bool) {
        let scale = if mobile { 3 } else { 1 };
        self.cmd(
            "POST",
            "/goog/cdp/execute",
            Some(&json!({ "cmd": "Emulation.setDeviceMetricsOverride", "params": {
                "width": width, "height": height, "deviceScaleFactor": scale, "mobile": mobile,
            }})),
        );
        self.cmd(
            "POST",
            "/goog/cdp/execute",
            Some(&json!({ "cmd": "Emulation.setTouchEmulationEnabled", "params": { "enabled": mobile } })),
        );
    }

    /// Runs DevTools protocol command `cmd` with `params` in the page; returns its result.
    pub fn cmd_cdp(&self, cmd: &str, params: Value) -> Value {
        self.cmd("POST", "/goog/cdp/execute", Some(&json!({ "cmd": cmd, "params": params })))
    }

    /// Back to the window's own viewport.
    pub fn clear_viewport(&self) {
        self.cmd(
            "POST",
            "/goog/cdp/execute",
            Some(&json!({ "cmd": "Emulation.clearDeviceMetricsOverride", "params": {} })),
        );
    }

    /// Saves a PNG of the viewport as `target/screenshots/<test>/<step>.png`, prints and
    /// returns its path.
    pub fn screenshot(&self, step: &str) -> PathBuf {
        let b64 = self.cmd("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap_or_default())
            .expect("screenshot is base64");
        std::fs::create_dir_all(&self.shots)
            .unwrap_or_else(|e| panic!("creating {}: {e}", self.shots.display()));
        let path = self.shots.join(format!("{step}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        eprintln!("screenshot: {}", path.display());
        path
    }

    /// Every console message of the pages so far (since the browser started).
    pub fn console(&self) -> Vec<ConsoleEntry> {
        let fresh = self.cmd("POST", "/se/log", Some(&json!({ "type": "browser" })));
        let mut seen = self.console.lock().unwrap_or_else(PoisonError::into_inner);
        for e in fresh.as_array().into_iter().flatten() {
            seen.push(ConsoleEntry {
                level: e["level"].as_str().unwrap_or_default().to_owned(),
                source: e["source"].as_str().unwrap_or_default().to_owned(),
                message: e["message"].as_str().unwrap_or_default().to_owned(),
            });
        }
        seen.clone()
    }

    /// The console's errors so far (level `SEVERE`: uncaught exceptions, `console.error`,
    /// CSP violations, failed loads).
    pub fn console_errors(&self) -> Vec<ConsoleEntry> {
        self.console().into_iter().filter(ConsoleEntry::is_error).collect()
    }

    /// Panics, listing them, if the console has any error so far.
    pub fn assert_no_console_errors(&self) {
        let errors = self.console_errors();
        assert!(errors.is_empty(), "console errors on {}: {errors:#?}", self.url());
    }

    /// The cookies of the current page's site, as WebDriver lists them.
    pub fn cookies(&self) -> Vec<Value> {
        self.cmd("GET", "/cookie", None).as_array().cloned().unwrap_or_default()
    }

    /// Deletes every cookie of the current page's site.
    pub fn delete_cookies(&self) {
        self.cmd("DELETE", "/cookie", None);
    }

    fn element(&self, v: &Value, css: &str) -> Option<Element<'_>> {
        let id = v[ELEMENT_KEY].as_str()?.to_owned();
        Some(Element { browser: self, id, css: css.to_owned() })
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let ended = call(self.addr, "DELETE", &format!("/session/{}", self.session), None).is_ok();
        if !ended && let Some(pid) = self.chromium_pid {
            let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Element<'_> {
    /// The element as a script argument (`arguments[i]` in [`Browser::execute`]).
    pub fn to_arg(&self) -> Value {
        json!({ ELEMENT_KEY: self.id })
    }

    fn cmd(&self, method: &str, what: &str, body: Option<&Value>) -> Value {
        let path = format!("/element/{}{what}", self.id);
        let full = format!("/session/{}{path}", self.browser.session);
        call(self.browser.addr, method, &full, body)
            .unwrap_or_else(|e| panic!("WebDriver {method} {what} on {:?}: {e}", self.css))
    }

    /// Clicks it, scrolled to the middle of the viewport first, as a user would scroll what
    /// they want to click out from under a bar or message fixed at the edge of the page.
    pub fn click(&self) {
        self.browser.execute("arguments[0].scrollIntoView({ block: 'center' })", &[self.to_arg()]);
        self.cmd("POST", "/click", Some(&json!({})));
    }

    /// Types `text` into it.
    pub fn type_text(&self, text: &str) {
        self.cmd("POST", "/value", Some(&json!({ "text": text })));
    }

    /// Empties an input.
    pub fn clear(&self) {
        self.cmd("POST", "/clear", Some(&json!({})));
    }

    /// Its rendered text.
    pub fn text(&self) -> String {
        self.cmd("GET", "/text", None).as_str().unwrap_or_default().to_owned()
    }

    /// An attribute's value, if it has the attribute.
    pub fn attr(&self, name: &str) -> Option<String> {
        self.cmd("GET", &format!("/attribute/{name}"), None).as_str().map(str::to_owned)
    }

    /// A DOM property (`checked`, `value`, `disabled`, …).
    pub fn property(&self, name: &str) -> Value {
        self.cmd("GET", &format!("/property/{name}"), None)
    }

    /// Whether it is shown.
    pub fn is_displayed(&self) -> bool {
        self.cmd("GET", "/displayed", None).as_bool().unwrap_or(false)
    }

    /// Elements inside it that match `css`.
    pub fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        let found = self.cmd("POST", "/elements", Some(&json!({ "using": "css selector", "value": css })));
        found
            .as_array()
            .map(|a| a.iter().filter_map(|e| self.browser.element(e, css)).collect())
            .unwrap_or_default()
    }
}

/// The `target/screenshots` folder (beside the test binaries' profile folders).
pub fn screenshot_root() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe path");
    exe.ancestors().nth(3).expect("target dir").join("screenshots")
}

/// Starts chromedriver on an ephemeral port and returns it with the port it announced.
fn spawn_driver() -> (Child, u16) {
    let mut child = Command::new(CHROMEDRIVER)
        .arg("--port=0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {CHROMEDRIVER}: {e}"));
    let stdout = child.stdout.take().expect("chromedriver stdout piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Read every line (so chromedriver never blocks on a full pipe); report the port once.
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(port) = line
                .strip_prefix("ChromeDriver was started successfully on port ")
                .and_then(|p| p.trim_end_matches('.').parse::<u16>().ok())
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(port);
            }
        }
    });
    match rx.recv_timeout(WAIT) {
        Ok(port) => (child, port),
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromedriver did not say which port it listens on within {WAIT:?}: {e}");
        }
    }
}

/// One WebDriver call; the reply's `value`, or its error as text.
fn call(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
    let text = body.map(Value::to_string);
    let headers: &[(&str, &str)] = if text.is_some() { &[("Content-Type", "application/json")] } else { &[] };
    let resp = web::try_request(addr, method, path, headers, text.as_deref())
        .map_err(|e| format!("chromedriver at {addr}: {e}"))?;
    let v: Value = serde_json::from_str(&resp.body)
        .map_err(|e| format!("chromedriver answered {} with non-JSON ({e}): {}", resp.status, resp.body))?;
    if resp.status != 200 {
        return Err(format!(
            "{} {}: {}",
            resp.status,
            v["value"]["error"].as_str().unwrap_or("error"),
            v["value"]["message"].as_str().unwrap_or_default()
        ));
    }
    Ok(v["value"].clone())
}

/// The browser cannot run here: skip (`None`), or fail when peers are required.
fn unavailable(why: &str) -> Option<Browser> {
    assert!(
        !peers_required(),
        "PORCHLIGHT_REQUIRE_PEERS=1 but {why}: apt-get install -y --no-install-recommends chromium chromium-driver"
    );
    eprintln!("skipping: {why} (apt-get install chromium chromium-driver)");
    None
}

//! The web app's sharing rules page in a real headless Chromium, against the real daemon running
//! a policy bundled with it (`warrant-required`, no file) and one installed as a file: each rule
//! shows where it comes from and its SHA-256, the file's path only for the file, and the list of
//! rules that come with Porchlight marks the one that is on. Screenshots in
//! `target/screenshots/the_policies_page_shows_source_and_fingerprint/`.

use porchlight::policy::bundled;
use porchlight_e2e::browser::Browser;
use porchlight_e2e::{Daemon, Setup, plugin_bytes};

#[test]
fn the_policies_page_shows_source_and_fingerprint() {
    let Some(browser) = Browser::start("the_policies_page_shows_source_and_fingerprint") else { return };
    let setup = Setup::new(
        "[[camera]]\nname = \"front\"\nrtsp_url = \"rtsp://127.0.0.1:9/front\"\nrecord = \"off\"\n\n\
         [plugins]\ndir = \"plugins\"\nenabled = [\"warrant-required\", \"mine\"]\ntime_limit = \"2s\"\n",
    );
    std::fs::create_dir_all(setup.path("plugins")).expect("plugins dir");
    let mine = plugin_bytes("ask-resident");
    std::fs::write(setup.path("plugins/mine.wasm"), &mine).expect("plugin");
    let d = Daemon::start(&setup.config);
    browser.goto(&format!("http://{}/#/policies", d.addr.expect("API address")));
    browser.wait_for("main[data-page=\"/policies\"] #plugins");

    let wr = bundled::find("warrant-required").expect("bundled");
    let card = browser.wait_for("li[data-plugin=\"warrant-required\"][data-state=\"loaded\"]");
    let source = card.find_all(".plugin-source");
    assert_eq!(source.len(), 1);
    assert_eq!(source[0].attr("data-source").as_deref(), Some("bundled"));
    assert_eq!(source[0].text(), "Built into Porchlight");
    let text = card.text();
    assert!(text.contains(wr.sha256), "{text}");
    assert!(!text.contains("File"), "a bundled rule has no file: {text}");

    let card = browser.find("li[data-plugin=\"mine\"][data-state=\"loaded\"]");
    let source = card.find_all(".plugin-source");
    assert_eq!(source[0].attr("data-source").as_deref(), Some("file"));
    assert_eq!(source[0].text(), "A file you installed");
    let text = card.text();
    assert!(text.contains(&porchlight::digest::sha256_hex(&mine)), "{text}");
    assert!(text.contains(&setup.path("plugins/mine.wasm").display().to_string()), "{text}");
    browser.screenshot("rules");

    // The rules that come with Porchlight: all six, with what they do; the one on is marked.
    browser.find("#bundled summary").click();
    let items = browser.find_all("#bundled li[data-bundled]");
    assert_eq!(items.len(), bundled::bundled().len());
    for b in bundled::bundled() {
        let item = browser.find(&format!("#bundled li[data-bundled=\"{}\"]", b.name));
        let text = item.text();
        assert!(text.contains(b.summary) && text.contains(b.sha256), "{}: {text}", b.name);
        assert_eq!(
            item.find_all(".pill").len(),
            usize::from(b.name == "warrant-required"),
            "{}: {text}",
            b.name
        );
    }
    browser.screenshot("bundled");
    browser.assert_no_console_errors();
}

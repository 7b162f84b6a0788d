//! JavaScript policies built at test time: `plugins-js/<name>/policy.js` and the hostile test
//! policy `tests/hostile-js/policy.js`, each turned into a component by `sdk-js`'s
//! `porchlight-build` (componentize-js), once per test process and cached across runs in
//! `target/js-plugins/` by a hash of everything that goes into the build.
//!
//! Needs node, and `npm ci` run in `sdk-js/`. Without them the tests that use these plugins
//! skip, unless `PORCHLIGHT_REQUIRE_PEERS=1`, when they fail naming what is missing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, PoisonError};

use crate::{output_text, peers_required, repo_root};

/// The JavaScript policies the tests build, by name, and their source files.
pub const JS_PLUGINS: &[(&str, &str)] = &[
    ("warrant-required", "plugins-js/warrant-required/policy.js"),
    ("ask-resident", "plugins-js/ask-resident/policy.js"),
    ("hostile", "tests/hostile-js/policy.js"),
];

/// Why the JavaScript toolchain cannot be used here, if it cannot.
pub fn js_toolchain_missing() -> Option<String> {
    let node = Command::new("node").arg("--version").output();
    if !node.as_ref().is_ok_and(|o| o.status.success()) {
        return Some("node is not installed (apt-get install nodejs npm)".into());
    }
    let cjs = repo_root().join("sdk-js/node_modules/@bytecodealliance/componentize-js/package.json");
    if !cjs.exists() {
        return Some(format!("{} is missing (run `npm ci` in sdk-js/)", cjs.display()));
    }
    None
}

/// Whether to skip a test because the JavaScript toolchain is missing: prints why and returns
/// true, or fails the test when peers are required.
pub fn skip_without_js() -> bool {
    match js_toolchain_missing() {
        None => false,
        Some(why) => {
            assert!(!peers_required(), "the JavaScript toolchain is required: {why}");
            eprintln!("skipped: {why}");
            true
        }
    }
}

/// The built component of the JavaScript policy `name` (see [`JS_PLUGINS`]): its path.
pub fn js_plugin(name: &str) -> PathBuf {
    static BUILDING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = BUILDING.lock().unwrap_or_else(PoisonError::into_inner);
    let (_, source) =
        JS_PLUGINS.iter().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("no JavaScript plugin {name}"));
    let root = repo_root();
    let exe = std::env::current_exe().expect("test exe path");
    let dir = exe.ancestors().nth(3).expect("target dir").join("js-plugins");
    std::fs::create_dir_all(&dir).expect("create target/js-plugins");
    let out = dir.join(format!("{name}.wasm"));
    let key_file = dir.join(format!("{name}.key"));
    let key = build_key(&root, Path::new(source));
    if out.exists() && std::fs::read_to_string(&key_file).is_ok_and(|k| k == key) {
        return out;
    }
    let partial = dir.join(format!("{name}.wasm.partial"));
    let build = Command::new("node")
        .arg(root.join("sdk-js/bin/porchlight-build.js"))
        .arg(root.join(source))
        .arg("-o")
        .arg(&partial)
        .output()
        .expect("run node");
    assert!(build.status.success(), "porchlight-build {source} failed:\n{}", output_text(&build));
    std::fs::rename(&partial, &out).expect("move the built plugin into place");
    std::fs::write(&key_file, key).expect("write the build key");
    out
}

/// A wasmtime compile cache shared by the test processes and the daemons they start (a
/// JavaScript component takes minutes to compile in a debug build, then loads in about a
/// second from here).
pub fn wasmtime_cache_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe path");
    let dir = exe.ancestors().nth(3).expect("target dir").join("js-plugins/wasmtime-cache");
    std::fs::create_dir_all(&dir).expect("create the wasmtime cache dir");
    dir
}

/// A hash of every file the build of `source` reads: the policy's folder, the SDK's sources
/// and build script, its lockfile and the WIT contract.
fn build_key(root: &Path, source: &Path) -> String {
    let mut files = Vec::new();
    let folder = root.join(source.parent().unwrap_or(Path::new(".")));
    for dir in [folder, root.join("sdk-js/src"), root.join("sdk-js/bin"), root.join("sdk/wit")] {
        collect(&dir, &mut files);
    }
    files.push(root.join("sdk-js/package-lock.json"));
    files.sort();
    let mut all = Vec::new();
    for f in &files {
        all.extend_from_slice(f.strip_prefix(root).unwrap_or(f).to_string_lossy().as_bytes());
        all.push(0);
        all.extend(std::fs::read(f).unwrap_or_default());
        all.push(0);
    }
    porchlight::digest::sha256_hex(&all)
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.file_name().is_some_and(|n| n == "node_modules") {
            continue;
        }
        if p.is_dir() {
            collect(&p, files);
        } else {
            files.push(p);
        }
    }
}

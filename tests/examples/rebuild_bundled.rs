//! Refreshes the policies bundled with the daemon: builds the six example policies of `plugins/`
//! exactly as the tests do (`porchlight_e2e::plugin_dir`, the one place that sets the plugin
//! build's flags), copies each to `daemon/bundled/<name>.wasm`, and rewrites
//! `daemon/bundled/SHA256SUMS` and `daemon/bundled/RUSTC` (the compiler that built them). Run it
//! through `tools/rebuild-bundled.sh`; the test `bundled_policies_match_their_sources` checks the
//! result.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fmt::Write as _;

fn main() -> std::process::ExitCode {
    let out = porchlight_e2e::repo_root().join("daemon/bundled");
    let mut sums = String::new();
    for name in porchlight_e2e::BUNDLED {
        let bytes = porchlight_e2e::plugin_bytes(name);
        let file = out.join(format!("{name}.wasm"));
        if let Err(e) = std::fs::write(&file, &bytes) {
            eprintln!("cannot write {}: {e}", file.display());
            return std::process::ExitCode::FAILURE;
        }
        let hash = porchlight::digest::sha256_hex(&bytes);
        writeln!(sums, "{hash}  {name}.wasm").expect("writing to a String");
        println!("{hash}  {name}.wasm ({} bytes)", bytes.len());
    }
    let rustc = porchlight_e2e::rustc_version();
    for (file, text) in [("SHA256SUMS", sums), ("RUSTC", format!("{rustc}\n"))] {
        let path = out.join(file);
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("cannot write {}: {e}", path.display());
            return std::process::ExitCode::FAILURE;
        }
    }
    println!("daemon/bundled/ rebuilt with {rustc}; rebuild the daemon to embed them");
    std::process::ExitCode::SUCCESS
}

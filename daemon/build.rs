//! Embeds the web app: every file under `src/web/assets/` becomes an entry of a generated table
//! (`OUT_DIR/web_assets.rs`), served by the daemon under `/app/<path>`, with a gzip copy made
//! here (reproducibly: no time or name in its header) for browsers that take it. Nothing is
//! compiled or bundled; a file added to the folder is served without further listing.
//!
//! Also lists the policies bundled with the daemon (`OUT_DIR/bundled_policies.rs`): one entry
//! per line of `bundled/SHA256SUMS`, its name, hash and the file's bytes (`include_bytes!`). The
//! components are committed; nothing here builds a plugin.

#![allow(clippy::print_stdout)] // cargo reads its directives from a build script's standard output

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join("src/web/assets");
    println!("cargo::rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    collect(&root, &root, &mut files);
    files.sort();
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut out = String::from(
        "/// Every embedded asset: path below `assets/`, bytes, the same gzip-compressed, and a version\n/// tag (FNV-1a of the bytes).\n",
    );
    out.push_str("pub static ASSETS: &[Asset] = &[\n");
    for (i, (rel, path)) in files.iter().enumerate() {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let gz_path = out_dir.join(format!("web_asset_{i}.gz"));
        std::fs::write(&gz_path, gzip(&bytes))
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", gz_path.display()));
        let tag = fnv1a(&bytes);
        writeln!(
            out,
            "    Asset {{ path: {rel:?}, bytes: include_bytes!({:?}), gzip: include_bytes!({:?}), tag: \"{tag:016x}\" }},",
            path.display().to_string(),
            gz_path.display().to_string(),
        )
        .expect("writing to a String");
    }
    out.push_str("];\n");
    let dest = out_dir.join("web_assets.rs");
    std::fs::write(&dest, out).unwrap_or_else(|e| panic!("cannot write {}: {e}", dest.display()));
    bundled_policies(&out_dir);
}

/// `bundled/SHA256SUMS` (`sha256sum` format: 64 hex digits, two spaces, `<name>.wasm`) → a table
/// of `(name, sha256, bytes)`. The daemon's unit tests check each hash against its bytes.
fn bundled_policies(out_dir: &Path) {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join("bundled");
    let sums = dir.join("SHA256SUMS");
    println!("cargo::rerun-if-changed={}", sums.display());
    let text =
        std::fs::read_to_string(&sums).unwrap_or_else(|e| panic!("cannot read {}: {e}", sums.display()));
    let mut out = String::from("/// `(name, sha256, bytes)` of each line of `bundled/SHA256SUMS`.\n");
    out.push_str("static FILES: &[(&str, &str, &[u8])] = &[\n");
    for (n, line) in text.lines().enumerate() {
        let Some((hash, file)) = line.split_once("  ") else {
            panic!("{}:{}: not `<sha256>  <name>.wasm`", sums.display(), n + 1)
        };
        let Some(name) = file.strip_suffix(".wasm") else {
            panic!("{}:{}: {file:?} is not a .wasm file", sums.display(), n + 1)
        };
        assert!(
            hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
            "{}:{}: {hash:?} is not a SHA-256",
            sums.display(),
            n + 1
        );
        let path = dir.join(file);
        assert!(path.is_file(), "{}:{}: {} is missing", sums.display(), n + 1, path.display());
        println!("cargo::rerun-if-changed={}", path.display());
        writeln!(
            out,
            "    ({name:?}, {:?}, include_bytes!({:?})),",
            hash.to_ascii_lowercase(),
            path.display().to_string()
        )
        .expect("writing to a String");
    }
    out.push_str("];\n");
    let dest = out_dir.join("bundled_policies.rs");
    std::fs::write(&dest, out).unwrap_or_else(|e| panic!("cannot write {}: {e}", dest.display()));
}

/// Every file below `dir` (directories are watched too, so an added file triggers a rebuild).
fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            println!("cargo::rerun-if-changed={}", path.display());
            collect(root, &path, files);
        } else if path.is_file() {
            println!("cargo::rerun-if-changed={}", path.display());
            let rel = path.strip_prefix(root).expect("below the root").to_string_lossy().replace('\\', "/");
            files.push((rel, path));
        }
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut enc = flate2::GzBuilder::new().write(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).expect("compressing into memory");
    enc.finish().expect("compressing into memory")
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

//! Embeds the web app: every file under `src/web/assets/` becomes an entry of a generated table
//! (`OUT_DIR/web_assets.rs`), served by the daemon under `/app/<path>`, with a gzip copy made
//! here (reproducibly: no time or name in its header) for browsers that take it. Nothing is
//! compiled or bundled; a file added to the folder is served without further listing.

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

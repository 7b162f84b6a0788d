//! The app's files, embedded at build time by `daemon/build.rs` from `assets/`.

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// The file at `path` below `assets/` and its version tag.
pub fn get(path: &str) -> Option<(&'static [u8], &'static str)> {
    ASSETS.iter().find(|(p, _, _)| *p == path).map(|(_, bytes, tag)| (*bytes, *tag))
}

/// The `Content-Type` for a file name.
pub fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        Some("txt" | "md") | None => "text/plain; charset=utf-8",
        Some(_) => "application/octet-stream",
    }
}

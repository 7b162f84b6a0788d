//! The app's files, embedded at build time by `daemon/build.rs` from `assets/`.

/// One file of the app.
#[derive(Debug)]
pub struct Asset {
    pub path: &'static str,
    pub bytes: &'static [u8],
    /// `bytes` compressed with gzip at build time.
    pub gzip: &'static [u8],
    /// Changes whenever `bytes` do (the `ETag`).
    pub tag: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// The file at `path` below `assets/`.
pub fn get(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
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

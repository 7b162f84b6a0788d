//! The policies that ship inside the daemon: the six example policies of `plugins/`, committed as
//! built components in `daemon/bundled/` (with `SHA256SUMS`) and embedded with `include_bytes!`,
//! so a resident can enable one by name without a Rust toolchain. Also the name resolution of an
//! enabled policy: a file `<plugins.dir>/<name>.wasm`, a bundled policy, or, when both exist and
//! `plugins.policy.<name>.source` does not choose, neither (refused: the slot denies everything).
//! The test `bundled_policies_match_their_sources` (in `tests/`) rebuilds them from source and
//! fails when a committed file differs; `tools/rebuild-bundled.sh` refreshes them.

use std::borrow::Cow;
use std::path::PathBuf;

use crate::config::{PolicySettings, PolicySource};

/// A policy built into the daemon.
#[derive(Debug)]
pub struct Bundled {
    /// The name to enable it by (`plugins.enabled`), as its directory in `plugins/`.
    pub name: &'static str,
    /// The WebAssembly component.
    pub bytes: &'static [u8],
    /// SHA-256 of `bytes`, lowercase hex (as `sha256sum` prints it, and as `plugins.policy.<name>.sha256` pins it).
    pub sha256: &'static str,
    /// What it does, in a sentence for the resident.
    pub summary: &'static str,
}

// `FILES`: (name, sha256, bytes) of each line of `daemon/bundled/SHA256SUMS`, made by build.rs.
include!(concat!(env!("OUT_DIR"), "/bundled_policies.rs"));

const fn summary(name: &str) -> &'static str {
    match name.as_bytes() {
        b"deny-all" => "Refuses every request to share footage, with a message you choose.",
        b"warrant-required" => {
            "Shares recorded video only under a valid warrant, and only the cameras and times the \
             warrant covers, without sound; everything else is refused."
        }
        b"ask-resident" => "Asks you about every request; no answer in time means no.",
        b"street-only" => {
            "Never shares a camera you have not tagged as facing the street. Use it together with \
             another policy: alone it would share street cameras with anyone."
        }
        b"emergency-live" => {
            "Lets your monitoring company watch a camera live when its alarm goes off while you \
             are away; nothing else."
        }
        b"quiet-hours" => {
            "During your quiet hours, no live video and everything else is put to you as a \
             question. Use it together with another policy: alone it would share everything \
             outside quiet hours."
        }
        _ => "",
    }
}

const fn table<const N: usize>() -> [Bundled; N] {
    const EMPTY: Bundled = Bundled { name: "", bytes: &[], sha256: "", summary: "" };
    let mut out = [EMPTY; N];
    let mut i = 0;
    while i < N {
        let (name, sha256, bytes) = FILES[i];
        out[i] = Bundled { name, bytes, sha256, summary: summary(name) };
        i += 1;
    }
    out
}

static BUNDLED: [Bundled; FILES.len()] = table();

/// Every bundled policy, in the order of `SHA256SUMS`.
pub fn bundled() -> &'static [Bundled] {
    &BUNDLED
}

/// The bundled policy called `name`.
pub fn find(name: &str) -> Option<&'static Bundled> {
    BUNDLED.iter().find(|b| b.name == name)
}

/// The bundled policies' names, for messages (`deny-all, warrant-required, …`).
pub fn names() -> String {
    BUNDLED.iter().map(|b| b.name).collect::<Vec<_>>().join(", ")
}

/// The component an enabled policy runs, and where it came from.
#[derive(Debug)]
pub struct Resolved {
    pub source: PolicySource,
    pub bytes: Cow<'static, [u8]>,
}

/// Why no component could be chosen for an enabled policy. Any of these leaves its slot
/// denying every request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// Both exist and the config does not say which one: refused rather than guessed.
    #[error(
        "{name:?} is both a policy bundled with the daemon and the file {file}; set \
         `plugins.policy.{name}.source = \"bundled\"` or `\"file\"` to choose one (until then it \
         denies every request)"
    )]
    Ambiguous { name: String, file: PathBuf },
    #[error(
        "`plugins.policy.{name}.source = \"bundled\"`, but no policy bundled with the daemon is \
         called {name:?} (bundled: {bundled})"
    )]
    NotBundled { name: String, bundled: String },
    /// The file could not be read; `bundled` says whether a bundled policy has this name.
    #[error("{reason}{}", neither_note(.name, *.no_bundled))]
    File { name: String, reason: String, no_bundled: bool },
    /// A bundled policy has this name, and whether the file exists cannot be told.
    #[error("cannot tell whether {file} exists, which decides between it and the bundled {name:?}: {reason}")]
    Unknown { name: String, file: PathBuf, reason: String },
}

fn neither_note(name: &str, no_bundled: bool) -> String {
    if no_bundled {
        format!(" (and no policy bundled with the daemon is called {name:?})")
    } else {
        String::new()
    }
}

/// Chooses the component for an enabled policy: `source` when the config sets it; else the
/// file `<plugins.dir>/<name>.wasm` if it exists, the bundled policy of that name if not, and
/// neither if both exist.
pub fn resolve(settings: &PolicySettings) -> Result<Resolved, ResolveError> {
    let name = &settings.name;
    let from_file = |no_bundled: bool| {
        super::host::read_plugin_file(&settings.file)
            .map(|bytes| Resolved { source: PolicySource::File, bytes: Cow::Owned(bytes) })
            .map_err(|e| ResolveError::File { name: name.clone(), reason: e.0, no_bundled })
    };
    let from_bundled =
        |b: &'static Bundled| Resolved { source: PolicySource::Bundled, bytes: Cow::Borrowed(b.bytes) };
    match (settings.source, find(name)) {
        (Some(PolicySource::File), _) => from_file(false),
        (Some(PolicySource::Bundled), Some(b)) => Ok(from_bundled(b)),
        (Some(PolicySource::Bundled), None) => {
            Err(ResolveError::NotBundled { name: name.clone(), bundled: names() })
        }
        (None, None) => from_file(true),
        // Any entry at the path counts, even one that is not a regular file: the resident put
        // something there under this name.
        (None, Some(b)) => match std::fs::symlink_metadata(&settings.file) {
            Ok(_) => Err(ResolveError::Ambiguous { name: name.clone(), file: settings.file.clone() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(from_bundled(b)),
            Err(e) => Err(ResolveError::Unknown {
                name: name.clone(),
                file: settings.file.clone(),
                reason: e.to_string(),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PluginLimits;
    use crate::digest::sha256_hex;

    const SIX: [&str; 6] =
        ["deny-all", "warrant-required", "ask-resident", "street-only", "emergency-live", "quiet-hours"];

    fn settings(dir: &std::path::Path, name: &str, source: Option<PolicySource>) -> PolicySettings {
        PolicySettings {
            name: name.into(),
            file: dir.join(format!("{name}.wasm")),
            source,
            sha256: None,
            limits: PluginLimits::default(),
            config: "{}".into(),
        }
    }

    #[test]
    fn the_six_examples_are_bundled_with_their_hashes_and_summaries() {
        let mut names: Vec<&str> = bundled().iter().map(|b| b.name).collect();
        names.sort_unstable();
        let mut six = SIX.to_vec();
        six.sort_unstable();
        assert_eq!(names, six);
        for b in bundled() {
            assert_eq!(
                sha256_hex(b.bytes),
                b.sha256,
                "{}: SHA256SUMS does not match the embedded file",
                b.name
            );
            assert!(!b.summary.is_empty(), "{} has no summary", b.name);
            assert!(b.bytes.starts_with(b"\0asm"), "{} is not WebAssembly", b.name);
        }
        assert_eq!(find("warrant-required").map(|b| b.name), Some("warrant-required"));
        assert!(find("warrant").is_none());
    }

    #[test]
    fn a_bundled_name_without_a_file_resolves_to_the_bundled_policy() {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = resolve(&settings(dir.path(), "warrant-required", None)).expect("resolves");
        assert_eq!(r.source, PolicySource::Bundled);
        assert_eq!(sha256_hex(&r.bytes), find("warrant-required").expect("bundled").sha256);
    }

    #[test]
    fn a_file_whose_name_is_not_bundled_resolves_to_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("mine.wasm"), b"\0asm mine").expect("write");
        let r = resolve(&settings(dir.path(), "mine", None)).expect("resolves");
        assert_eq!(r.source, PolicySource::File);
        assert_eq!(&*r.bytes, b"\0asm mine");
    }

    #[test]
    fn a_name_that_is_both_is_refused_naming_both_and_the_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("deny-all.wasm"), b"\0asm mine").expect("write");
        let e = resolve(&settings(dir.path(), "deny-all", None)).expect_err("ambiguous");
        assert!(matches!(e, ResolveError::Ambiguous { .. }), "{e:?}");
        let text = e.to_string();
        assert!(text.contains("bundled"), "{text}");
        assert!(text.contains(&dir.path().join("deny-all.wasm").display().to_string()), "{text}");
        assert!(text.contains("plugins.policy.deny-all.source"), "{text}");
        // Not only regular files: anything under that name is the resident's.
        std::fs::remove_file(dir.path().join("deny-all.wasm")).expect("remove");
        std::fs::create_dir(dir.path().join("deny-all.wasm")).expect("mkdir");
        assert!(matches!(
            resolve(&settings(dir.path(), "deny-all", None)),
            Err(ResolveError::Ambiguous { .. })
        ));
    }

    #[test]
    fn an_explicit_source_picks_one_of_both() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("deny-all.wasm"), b"\0asm mine").expect("write");
        let b = resolve(&settings(dir.path(), "deny-all", Some(PolicySource::Bundled))).expect("bundled");
        assert_eq!(
            (b.source, sha256_hex(&b.bytes).as_str()),
            (PolicySource::Bundled, find("deny-all").expect("b").sha256)
        );
        let f = resolve(&settings(dir.path(), "deny-all", Some(PolicySource::File))).expect("file");
        assert_eq!((f.source, &*f.bytes), (PolicySource::File, &b"\0asm mine"[..]));
    }

    /// Through the engine: the `sha256` pin holds for a bundled policy; switched to a file that is
    /// refused, the bundled one does not keep running in its place; with both and no `source`,
    /// the name is refused.
    #[test]
    fn reload_pins_and_a_same_named_file() {
        use crate::config::{PluginLimits, PluginSettings};
        use crate::policy::{LoadReport, PolicyEngine, Slot};
        let engine = PolicyEngine::new(None).expect("engine");
        let dir = tempfile::tempdir().expect("tempdir");
        let deny_all = find("deny-all").expect("bundled");
        let set = |s: &PolicySettings| PluginSettings {
            dir: dir.path().to_owned(),
            enabled: vec![s.clone()],
            limits: PluginLimits::default(),
        };
        let mut s = settings(dir.path(), "deny-all", None);
        s.sha256 = Some("0".repeat(64));
        let r = engine.reload(&set(&s));
        assert!(
            matches!(&r[0], LoadReport::Rejected { kept: false, reason, .. }
                if *reason == format!("bundled policy has SHA-256 {}, but the config pins {}", deny_all.sha256, "0".repeat(64))),
            "{r:?}"
        );
        s.sha256 = Some(deny_all.sha256.to_owned());
        let r = engine.reload(&set(&s));
        assert_eq!(
            r,
            [LoadReport::Loaded {
                plugin: "deny-all".into(),
                sha256: deny_all.sha256.into(),
                source: PolicySource::Bundled
            }]
        );
        assert_eq!(engine.reload(&set(&s)), [LoadReport::Unchanged { plugin: "deny-all".into() }]);

        // `source = "file"` with a file that is refused: the bundled one does not stand in.
        std::fs::write(dir.path().join("deny-all.wasm"), b"\0asm mine").expect("write");
        s.source = Some(PolicySource::File);
        s.sha256 = None;
        let r = engine.reload(&set(&s));
        assert!(
            matches!(&r[0], LoadReport::Rejected { kept: false, reason, .. } if reason.contains("WebAssembly")),
            "{r:?}"
        );
        assert!(matches!(&engine.slots()[0], Slot::Missing { .. }));

        // No `source`, and both exist: refused.
        s.source = None;
        let r = engine.reload(&set(&s));
        assert!(
            matches!(&r[0], LoadReport::Rejected { kept: false, reason, .. } if reason.contains("is both")),
            "{r:?}"
        );
        assert!(matches!(&engine.slots()[0], Slot::Missing { .. }));
    }

    #[test]
    fn an_explicit_source_that_is_missing_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = resolve(&settings(dir.path(), "mine", Some(PolicySource::Bundled))).expect_err("not bundled");
        assert!(e.to_string().contains("warrant-required"), "lists the bundled ones: {e}");
        // `source = "file"` never falls back to the bundled one.
        let e = resolve(&settings(dir.path(), "deny-all", Some(PolicySource::File))).expect_err("no file");
        assert!(matches!(e, ResolveError::File { no_bundled: false, .. }), "{e:?}");
        let e = resolve(&settings(dir.path(), "mine", None)).expect_err("neither");
        assert!(e.to_string().contains("no policy bundled with the daemon is called \"mine\""), "{e}");
    }
}

//! Stand-ins for the WASI 0.2 interfaces that a plugin built by another language's toolchain
//! imports although a policy needs none of them (componentize-js links its JavaScript engine
//! against standard output, clocks, randomness and a file system it never opens). Each import
//! gets an explicit, harmless and deterministic answer, written here by hand on the component
//! `Linker`; nothing here reaches the system:
//!
//! - the wall clock reads the decision's `now` (the context's time; 1970 in `check-config`);
//! - the monotonic clock never moves, and every pollable is ready at once;
//! - randomness is a fixed function of the request and context, so the same request is
//!   decided the same way every time;
//! - standard output and error go, line by line, to the plugin's own bounded log; standard
//!   input is empty; there is no terminal;
//! - no files (no preopened directory, so no descriptor can ever exist), no environment, no
//!   arguments, no working directory, and `exit` traps, so the call counts as `deny`.
//!
//! Every other WASI interface (sockets, HTTP, ...) has no stand-in and is refused at load, as is
//! any other import outside the contract. The list, with the reason for each stand-in, is in
//! `docs/ref/plugins.md`.

use wasmtime::component::{ComponentType, Linker, LinkerInstance, Lower, Resource, ResourceType, WasmList};
use wasmtime::{StoreContextMut, format_err};

use super::host::w::LogLevel;
use super::host::{HostState, MAX_LOG_MESSAGE};

/// The WASI interfaces (package and interface, without the version) that have stand-ins, each
/// accepted in any 0.2.x version.
pub const INTERFACES: &[&str] = &[
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:filesystem/preopens",
    "wasi:filesystem/types",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
];

/// The version the stand-ins are defined at. Wasmtime's linker matches an import of any
/// semver-compatible version (`0.2.x`), and every function here exists since 0.2.0.
const VERSION: &str = "0.2.0";

/// Whether `import` (an import name such as `wasi:io/poll@0.2.12`) has a stand-in.
pub fn has_standin(import: &str) -> bool {
    let Some((name, version)) = import.split_once('@') else { return false };
    let compatible = version
        .strip_prefix("0.2.")
        .is_some_and(|patch| !patch.is_empty() && patch.bytes().all(|b| b.is_ascii_digit()));
    compatible && INTERFACES.contains(&name)
}

/// The most random bytes one call may ask for (a Web page may ask for 64 KiB at a time, too).
const MAX_RANDOM_BYTES: u64 = 64 << 10;

/// What the stand-ins know during one call: set before the call, read by the imports.
#[derive(Debug, Default)]
pub struct Standins {
    /// The wall clock's reading, in seconds since 1970.
    now: i64,
    /// The state of the deterministic random generator (splitmix64).
    rng: u64,
    /// Standard output and error, each up to the end of its current line.
    out: [Line; 2],
}

/// An unfinished line of standard output or error.
#[derive(Debug, Default)]
struct Line {
    bytes: Vec<u8>,
    /// The line grew past [`MAX_LOG_MESSAGE`]; the rest of it is dropped.
    cut: bool,
}

impl Standins {
    /// Sets the clock to `now` and seeds the random generator with `seed`.
    pub fn begin(&mut self, now: i64, seed: u64) {
        self.now = now;
        self.rng = seed;
    }

    fn next_u64(&mut self) -> u64 {
        // splitmix64: deterministic, not for secrets (a policy has none to keep).
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn random_bytes(&mut self, len: u64) -> wasmtime::Result<Vec<u8>> {
        if len > MAX_RANDOM_BYTES {
            return Err(format_err!("asked for {len} random bytes at once (at most {MAX_RANDOM_BYTES})"));
        }
        let mut bytes = Vec::with_capacity(len as usize);
        while (bytes.len() as u64) < len {
            let word = self.next_u64().to_le_bytes();
            let take = (len as usize - bytes.len()).min(8);
            bytes.extend_from_slice(&word[..take]);
        }
        Ok(bytes)
    }
}

/// A seed for the random generator that depends only on `value` (its debug form, hashed with
/// 64-bit FNV-1a): the same request and context give the same seed, on every hub and version
/// of wasmtime that formats them alike.
pub fn seed(value: &impl std::fmt::Debug) -> u64 {
    struct Fnv(u64);
    impl std::fmt::Write for Fnv {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            for b in s.bytes() {
                self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
            }
            Ok(())
        }
    }
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    let _ = std::fmt::write(&mut h, format_args!("{value:?}"));
    h.0
}

impl HostState {
    /// Takes `bytes` written to standard output (`stream` 0) or error (1): complete lines go
    /// to the plugin's log (output as `info`, error as `warn`), the rest waits for its line's
    /// end or the end of the call.
    fn write_output(&mut self, stream: usize, bytes: &[u8]) {
        let mut rest = bytes;
        while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
            self.buffer_output(stream, &rest[..pos]);
            self.emit_output(stream);
            rest = &rest[pos + 1..];
        }
        self.buffer_output(stream, rest);
    }

    fn buffer_output(&mut self, stream: usize, bytes: &[u8]) {
        let line = &mut self.standins.out[stream];
        let room = MAX_LOG_MESSAGE.saturating_sub(line.bytes.len());
        if bytes.len() > room {
            line.cut = true;
        }
        line.bytes.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn emit_output(&mut self, stream: usize) {
        let line = std::mem::take(&mut self.standins.out[stream]);
        let mut text = String::from_utf8_lossy(&line.bytes).into_owned();
        if line.cut {
            text.push('\u{2026}');
        }
        let level = if stream == 0 { LogLevel::Info } else { LogLevel::Warn };
        self.write_log(level, text);
    }

    /// Writes what is left of unfinished output lines to the log (at the end of a call).
    pub(super) fn flush_output(&mut self) {
        for stream in 0..2 {
            let line = &self.standins.out[stream];
            if !line.bytes.is_empty() || line.cut {
                self.emit_output(stream);
            }
        }
    }
}

// Resource types. A resource's `rep` says which one it is where that matters (the output
// streams); none carries any state.

/// `wasi:io/poll` `pollable`: always ready.
struct Pollable;
/// `wasi:io/error` `error`: never created.
struct IoError;
/// `wasi:io/streams` `input-stream`: standard input, always at its end.
struct InputStream;
/// `wasi:io/streams` `output-stream`: `rep` 0 is standard output, 1 standard error.
struct OutputStream;
/// `wasi:cli/terminal-*`: there is no terminal, so never created.
struct Terminal;
/// `wasi:filesystem/types` `descriptor` and `directory-entry-stream`: no directory is
/// preopened, so never created.
struct Descriptor;

/// `wasi:clocks/wall-clock` `datetime`.
#[derive(ComponentType, Lower, Clone, Copy)]
#[component(record)]
struct Datetime {
    seconds: u64,
    nanoseconds: u32,
}

/// `wasi:io/streams` `stream-error`. Only `closed` is ever returned.
#[derive(ComponentType, Lower)]
#[component(variant)]
enum StreamError {
    #[component(name = "last-operation-failed")]
    #[allow(dead_code)]
    LastOperationFailed(Resource<IoError>),
    #[component(name = "closed")]
    Closed,
}

type Store<'a> = StoreContextMut<'a, HostState>;
type Stream = Resource<OutputStream>;

fn wasi<'a>(
    linker: &'a mut Linker<HostState>,
    interface: &str,
) -> wasmtime::Result<LinkerInstance<'a, HostState>> {
    linker.instance(&format!("wasi:{interface}@{VERSION}"))
}

fn no_state(_: Store<'_>, _: u32) -> wasmtime::Result<()> {
    Ok(())
}

fn pollable() -> Resource<Pollable> {
    Resource::new_own(0)
}

/// Defines every stand-in in `linker`.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    io(linker)?;
    clocks(linker)?;
    cli(linker)?;
    filesystem(linker)?;
    random(linker)?;
    Ok(())
}

fn io(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    let mut poll = wasi(linker, "io/poll")?;
    poll.resource("pollable", ResourceType::host::<Pollable>(), no_state)?;
    poll.func_wrap("[method]pollable.ready", |_: Store<'_>, (_,): (Resource<Pollable>,)| Ok((true,)))?;
    poll.func_wrap("[method]pollable.block", |_: Store<'_>, (_,): (Resource<Pollable>,)| Ok(()))?;
    // Everything is ready at once: nothing here ever waits.
    poll.func_wrap("poll", |store: Store<'_>, (list,): (WasmList<Resource<Pollable>>,)| {
        let n = u32::try_from(list.len()).map_err(|_| format_err!("too many pollables"))?;
        let _ = store;
        Ok(((0..n).collect::<Vec<u32>>(),))
    })?;

    let mut error = wasi(linker, "io/error")?;
    error.resource("error", ResourceType::host::<IoError>(), no_state)?;
    error.func_wrap("[method]error.to-debug-string", |_: Store<'_>, (_,): (Resource<IoError>,)| {
        Ok((String::new(),))
    })?;

    let mut streams = wasi(linker, "io/streams")?;
    streams.resource("input-stream", ResourceType::host::<InputStream>(), no_state)?;
    streams.resource("output-stream", ResourceType::host::<OutputStream>(), no_state)?;
    // Standard input is empty.
    for name in ["[method]input-stream.read", "[method]input-stream.blocking-read"] {
        streams.func_wrap(name, |_: Store<'_>, (_, _): (Resource<InputStream>, u64)| {
            Ok((Err::<Vec<u8>, _>(StreamError::Closed),))
        })?;
    }
    for name in ["[method]input-stream.skip", "[method]input-stream.blocking-skip"] {
        streams.func_wrap(name, |_: Store<'_>, (_, _): (Resource<InputStream>, u64)| {
            Ok((Err::<u64, _>(StreamError::Closed),))
        })?;
    }
    streams.func_wrap("[method]input-stream.subscribe", |_: Store<'_>, (_,): (Resource<InputStream>,)| {
        Ok((pollable(),))
    })?;
    // Standard output and error: to the plugin's log, as fast as the plugin writes.
    streams.func_wrap("[method]output-stream.check-write", |_: Store<'_>, (_,): (Stream,)| {
        Ok((Ok::<u64, StreamError>(MAX_LOG_MESSAGE as u64),))
    })?;
    for name in ["[method]output-stream.write", "[method]output-stream.blocking-write-and-flush"] {
        streams.func_wrap(name, |mut store: Store<'_>, (stream, bytes): (Stream, WasmList<u8>)| {
            let which = usize::from(stream.rep() == 1);
            // Only what the log can still take is copied out of the plugin's memory: each line
            // costs its length and more from the budget, so later bytes would be dropped anyway.
            let useful = store.data().log_budget() + MAX_LOG_MESSAGE;
            let all = bytes.as_le_slice(&store);
            let data = all[..all.len().min(useful)].to_vec();
            let dropped = data.len() < all.len();
            let state = store.data_mut();
            state.write_output(which, &data);
            if dropped {
                state.count_dropped();
            }
            Ok((Ok::<(), StreamError>(()),))
        })?;
    }
    for name in ["[method]output-stream.flush", "[method]output-stream.blocking-flush"] {
        streams.func_wrap(name, |_: Store<'_>, (_,): (Stream,)| Ok((Ok::<(), StreamError>(()),)))?;
    }
    for name in
        ["[method]output-stream.write-zeroes", "[method]output-stream.blocking-write-zeroes-and-flush"]
    {
        streams.func_wrap(name, |_: Store<'_>, (_, _): (Stream, u64)| Ok((Ok::<(), StreamError>(()),)))?;
    }
    for name in ["[method]output-stream.splice", "[method]output-stream.blocking-splice"] {
        streams.func_wrap(name, |_: Store<'_>, (_, _, _): (Stream, Resource<InputStream>, u64)| {
            Ok((Err::<u64, _>(StreamError::Closed),))
        })?;
    }
    streams
        .func_wrap("[method]output-stream.subscribe", |_: Store<'_>, (_,): (Stream,)| Ok((pollable(),)))?;
    Ok(())
}

fn clocks(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    let mut wall = wasi(linker, "clocks/wall-clock")?;
    // The decision's own time: a policy that reads the clock sees the `now` it was given.
    wall.func_wrap("now", |store: Store<'_>, ()| {
        // Before 1970 (which no request has) reads as 1970.
        let seconds = u64::try_from(store.data().standins.now).unwrap_or(0);
        Ok((Datetime { seconds, nanoseconds: 0 },))
    })?;
    wall.func_wrap("resolution", |_: Store<'_>, ()| Ok((Datetime { seconds: 1, nanoseconds: 0 },)))?;

    let mut mono = wasi(linker, "clocks/monotonic-clock")?;
    // A clock that never moves: no policy can time anything (or itself).
    mono.func_wrap("now", |_: Store<'_>, ()| Ok((0u64,)))?;
    mono.func_wrap("resolution", |_: Store<'_>, ()| Ok((1u64,)))?;
    mono.func_wrap("subscribe-instant", |_: Store<'_>, (_,): (u64,)| Ok((pollable(),)))?;
    mono.func_wrap("subscribe-duration", |_: Store<'_>, (_,): (u64,)| Ok((pollable(),)))?;
    Ok(())
}

fn cli(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    let mut env = wasi(linker, "cli/environment")?;
    env.func_wrap("get-environment", |_: Store<'_>, ()| Ok((Vec::<(String, String)>::new(),)))?;
    env.func_wrap("get-arguments", |_: Store<'_>, ()| Ok((Vec::<String>::new(),)))?;
    env.func_wrap("initial-cwd", |_: Store<'_>, ()| Ok((None::<String>,)))?;

    let mut exit = wasi(linker, "cli/exit")?;
    exit.func_wrap("exit", |_: Store<'_>, (status,): (Result<(), ()>,)| -> wasmtime::Result<()> {
        let status = if status.is_ok() { "success" } else { "failure" };
        Err(format_err!("the plugin called exit ({status})"))
    })?;

    wasi(linker, "cli/stdin")?
        .func_wrap("get-stdin", |_: Store<'_>, ()| Ok((Resource::<InputStream>::new_own(0),)))?;
    wasi(linker, "cli/stdout")?.func_wrap("get-stdout", |_: Store<'_>, ()| Ok((Stream::new_own(0),)))?;
    wasi(linker, "cli/stderr")?.func_wrap("get-stderr", |_: Store<'_>, ()| Ok((Stream::new_own(1),)))?;

    wasi(linker, "cli/terminal-input")?.resource(
        "terminal-input",
        ResourceType::host::<Terminal>(),
        no_state,
    )?;
    wasi(linker, "cli/terminal-output")?.resource(
        "terminal-output",
        ResourceType::host::<Terminal>(),
        no_state,
    )?;
    // Not a terminal.
    for (interface, func) in [
        ("cli/terminal-stdin", "get-terminal-stdin"),
        ("cli/terminal-stdout", "get-terminal-stdout"),
        ("cli/terminal-stderr", "get-terminal-stderr"),
    ] {
        wasi(linker, interface)?.func_wrap(func, |_: Store<'_>, ()| Ok((None::<Resource<Terminal>>,)))?;
    }
    Ok(())
}

/// Every function of `wasi:filesystem/types` that takes a descriptor or a directory stream.
const FILESYSTEM_METHODS: &[&str] = &[
    "[method]descriptor.read-via-stream",
    "[method]descriptor.write-via-stream",
    "[method]descriptor.append-via-stream",
    "[method]descriptor.advise",
    "[method]descriptor.sync-data",
    "[method]descriptor.get-flags",
    "[method]descriptor.get-type",
    "[method]descriptor.set-size",
    "[method]descriptor.set-times",
    "[method]descriptor.read",
    "[method]descriptor.write",
    "[method]descriptor.read-directory",
    "[method]descriptor.sync",
    "[method]descriptor.create-directory-at",
    "[method]descriptor.stat",
    "[method]descriptor.stat-at",
    "[method]descriptor.set-times-at",
    "[method]descriptor.link-at",
    "[method]descriptor.open-at",
    "[method]descriptor.readlink-at",
    "[method]descriptor.remove-directory-at",
    "[method]descriptor.rename-at",
    "[method]descriptor.symlink-at",
    "[method]descriptor.unlink-file-at",
    "[method]descriptor.is-same-object",
    "[method]descriptor.metadata-hash",
    "[method]descriptor.metadata-hash-at",
    "[method]directory-entry-stream.read-directory-entry",
];

fn filesystem(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    let mut types = wasi(linker, "filesystem/types")?;
    types.resource("descriptor", ResourceType::host::<Descriptor>(), no_state)?;
    types.resource("directory-entry-stream", ResourceType::host::<Descriptor>(), no_state)?;
    // No descriptor can exist (none is preopened and nothing else makes one), so these cannot
    // be reached; if they were, they would trap.
    for &name in FILESYSTEM_METHODS {
        types
            .func_new(name, move |_, _, _, _| Err(format_err!("the plugin tried to use a file ({name})")))?;
    }
    types.func_wrap("filesystem-error-code", |_: Store<'_>, (_,): (Resource<IoError>,)| {
        Ok((None::<FsErrorCode>,))
    })?;

    wasi(linker, "filesystem/preopens")?.func_wrap("get-directories", |_: Store<'_>, ()| {
        Ok((Vec::<(Resource<Descriptor>, String)>::new(),))
    })?;
    Ok(())
}

/// `wasi:filesystem/types` `error-code` (never returned: there are no files to fail on).
#[derive(ComponentType, Lower, Clone, Copy)]
#[component(enum)]
#[repr(u8)]
#[allow(dead_code)]
enum FsErrorCode {
    #[component(name = "access")]
    Access,
    #[component(name = "would-block")]
    WouldBlock,
    #[component(name = "already")]
    Already,
    #[component(name = "bad-descriptor")]
    BadDescriptor,
    #[component(name = "busy")]
    Busy,
    #[component(name = "deadlock")]
    Deadlock,
    #[component(name = "quota")]
    Quota,
    #[component(name = "exist")]
    Exist,
    #[component(name = "file-too-large")]
    FileTooLarge,
    #[component(name = "illegal-byte-sequence")]
    IllegalByteSequence,
    #[component(name = "in-progress")]
    InProgress,
    #[component(name = "interrupted")]
    Interrupted,
    #[component(name = "invalid")]
    Invalid,
    #[component(name = "io")]
    Io,
    #[component(name = "is-directory")]
    IsDirectory,
    #[component(name = "loop")]
    Loop,
    #[component(name = "too-many-links")]
    TooManyLinks,
    #[component(name = "message-size")]
    MessageSize,
    #[component(name = "name-too-long")]
    NameTooLong,
    #[component(name = "no-device")]
    NoDevice,
    #[component(name = "no-entry")]
    NoEntry,
    #[component(name = "no-lock")]
    NoLock,
    #[component(name = "insufficient-memory")]
    InsufficientMemory,
    #[component(name = "insufficient-space")]
    InsufficientSpace,
    #[component(name = "not-directory")]
    NotDirectory,
    #[component(name = "not-empty")]
    NotEmpty,
    #[component(name = "not-recoverable")]
    NotRecoverable,
    #[component(name = "unsupported")]
    Unsupported,
    #[component(name = "no-tty")]
    NoTty,
    #[component(name = "no-such-device")]
    NoSuchDevice,
    #[component(name = "overflow")]
    Overflow,
    #[component(name = "not-permitted")]
    NotPermitted,
    #[component(name = "pipe")]
    Pipe,
    #[component(name = "read-only")]
    ReadOnly,
    #[component(name = "invalid-seek")]
    InvalidSeek,
    #[component(name = "text-file-busy")]
    TextFileBusy,
    #[component(name = "cross-device")]
    CrossDevice,
}

fn random(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    // Deterministic: seeded per decision from the request and context, so `Math.random()` or
    // `crypto.getRandomValues()` cannot make the same request come out differently twice.
    for interface in ["random/random", "random/insecure"] {
        let (bytes, word) = if interface == "random/random" {
            ("get-random-bytes", "get-random-u64")
        } else {
            ("get-insecure-random-bytes", "get-insecure-random-u64")
        };
        let mut i = wasi(linker, interface)?;
        i.func_wrap(bytes, |mut store: Store<'_>, (len,): (u64,)| {
            Ok((store.data_mut().standins.random_bytes(len)?,))
        })?;
        i.func_wrap(word, |mut store: Store<'_>, ()| Ok((store.data_mut().standins.next_u64(),)))?;
    }
    wasi(linker, "random/insecure-seed")?.func_wrap("insecure-seed", |mut store: Store<'_>, ()| {
        let s = &mut store.data_mut().standins;
        Ok(((s.next_u64(), s.next_u64()),))
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_interfaces_at_0_2_have_stand_ins() {
        assert!(has_standin("wasi:io/poll@0.2.12"));
        assert!(has_standin("wasi:random/random@0.2.0"));
        assert!(!has_standin("wasi:io/poll"));
        assert!(!has_standin("wasi:io/poll@0.3.0"));
        assert!(!has_standin("wasi:io/poll@0.2.0-rc"));
        assert!(!has_standin("wasi:sockets/tcp@0.2.0"));
        assert!(!has_standin("wasi:http/outgoing-handler@0.2.0"));
    }

    #[test]
    fn randomness_depends_only_on_the_seed() {
        let draw = |seed| {
            let mut s = Standins::default();
            s.begin(0, seed);
            (s.next_u64(), s.random_bytes(11).expect("bytes"))
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        assert_eq!(draw(7).1.len(), 11);
        let mut s = Standins::default();
        assert!(s.random_bytes(MAX_RANDOM_BYTES + 1).is_err());
        assert_eq!(seed(&("a", 1)), seed(&("a", 1)));
        assert_ne!(seed(&("a", 1)), seed(&("a", 2)));
    }
}

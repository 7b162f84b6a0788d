//! The wasmtime host: turns plugin files into checked, ready-to-instantiate components, and runs
//! one call of a plugin in a fresh `Store` under hard limits (wall time via epochs, instructions
//! via fuel, memory, instances, tables, stack, log bytes). Nothing here decides what is shared:
//! a call either returns the plugin's raw answer or an error that the caller turns into `deny`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use wasmtime::component::types::ComponentItem;
use wasmtime::component::{
    self, Component, ComponentExportIndex, ComponentNamedList, ComponentType, HasSelf, InstancePre, Lift,
    Linker, Lower,
};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};

/// The bindings of `sdk/wit/policy.wit`, the one contract shared with the SDK.
pub mod wit {
    wasmtime::component::bindgen!({ path: "../sdk/wit", world: "policy" });
}

pub use wit::porchlight::policy::types as w;

/// The contract this host speaks (the WIT package and version).
pub const CONTRACT: &str = "porchlight:policy@0.1.0";
const TYPES_IMPORT: &str = "porchlight:policy/types@0.1.0";

/// The largest plugin file accepted.
pub const MAX_PLUGIN_BYTES: usize = 16 << 20;
/// The largest memory limit any plugin may be given (the pooling allocator reserves this much).
pub use crate::config::MAX_PLUGIN_MEMORY as MAX_MEMORY;
/// One log message is cut to this many bytes.
pub(super) const MAX_LOG_MESSAGE: usize = 4096;
/// What one log line costs from a call's log budget on top of its text: a log line is written
/// with its time, level, plugin name and fields, so even an empty message is not free.
pub const LOG_LINE_COST: usize = 256;
/// Wall-clock time for each of the two calls made when a plugin loads (`check-config`, and
/// the conformance `decide`), whatever the plugin's own time limit: instantiating a plugin
/// with a large data segment on a busy machine can take longer than a decision may.
pub const LOAD_TIME_LIMIT: Duration = Duration::from_secs(2);

/// Reads a plugin file: only a regular file (after following links), at most
/// [`MAX_PLUGIN_BYTES`], checked before reading and read with that cap. Opening never blocks
/// (a FIFO named `x.wasm` is refused, not waited on).
pub fn read_plugin_file(path: &std::path::Path) -> Result<Vec<u8>, LoadError> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let shown = path.display();
    // Looked at before it is opened: opening a device can itself do something.
    let before = std::fs::metadata(path).map_err(|e| LoadError(format!("cannot read {shown}: {e}")))?;
    if !before.is_file() {
        return Err(LoadError(format!("{shown} is not a regular file ({})", file_kind(&before))));
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(|e| LoadError(format!("cannot read {shown}: {e}")))?;
    let meta = file.metadata().map_err(|e| LoadError(format!("cannot read {shown}: {e}")))?;
    // And again once open, in case it was swapped in between.
    if !meta.is_file() {
        return Err(LoadError(format!("{shown} is not a regular file ({})", file_kind(&meta))));
    }
    if meta.len() > MAX_PLUGIN_BYTES as u64 {
        return Err(LoadError(format!(
            "{shown} is {} bytes, larger than the limit of {MAX_PLUGIN_BYTES}",
            meta.len()
        )));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_PLUGIN_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| LoadError(format!("cannot read {shown}: {e}")))?;
    if bytes.len() > MAX_PLUGIN_BYTES {
        return Err(LoadError(format!("{shown} grew past the limit of {MAX_PLUGIN_BYTES} bytes while read")));
    }
    Ok(bytes)
}

fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a file"
    }
}

/// Resource limits for one call of a plugin (plain data, set by the config).
pub use crate::config::PluginLimits as Limits;

/// Why a plugin file was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LoadError(pub String);

/// Why a call did not return an answer. Every one of these means `deny`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("ran out of time (limit {0:?})")]
    Timeout(Duration),
    #[error("ran out of fuel (limit {0} instructions)")]
    OutOfFuel(u64),
    #[error("tried to use more than {limit} bytes of memory (wanted {wanted})")]
    OutOfMemory { limit: usize, wanted: usize },
    #[error("overflowed its stack")]
    StackOverflow,
    #[error("trapped: {0}")]
    Trap(String),
    #[error("failed: {0}")]
    Other(String),
}

/// What one call used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub time: Duration,
    pub fuel: u64,
    pub log_dropped: usize,
}

/// Per-call state: the store's data.
#[derive(Debug)]
pub struct HostState {
    plugin: String,
    memory_limit: usize,
    oom: Option<usize>,
    log_budget: usize,
    log_dropped: usize,
    /// What the WASI stand-ins know during this call (`policy/wasi.rs`).
    pub(super) standins: super::wasi::Standins,
}

impl wasmtime::ResourceLimiter for HostState {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_limit {
            self.oom = Some(desired);
            // An error (not `false`) traps the plugin at once instead of letting it see -1.
            return Err(wasmtime::format_err!("memory limit exceeded"));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 10_000)
    }

    fn instances(&self) -> usize {
        8
    }

    fn tables(&self) -> usize {
        8
    }

    fn memories(&self) -> usize {
        2
    }
}

impl wit::PolicyImports for HostState {
    fn log(&mut self, level: w::LogLevel, message: String) {
        self.write_log(level, message);
    }
}

impl HostState {
    /// What is left of this call's log budget, in bytes.
    pub(super) fn log_budget(&self) -> usize {
        self.log_budget
    }

    /// Counts a log message dropped for want of budget.
    pub(super) fn count_dropped(&mut self) {
        self.log_dropped += 1;
    }

    /// Writes one message of the plugin to the hub's log, cut to [`MAX_LOG_MESSAGE`] bytes,
    /// with control characters made spaces, if the call's log budget still allows it.
    pub(super) fn write_log(&mut self, level: w::LogLevel, message: String) {
        let mut message = message;
        super::check::cut(&mut message, MAX_LOG_MESSAGE);
        let cost = message.len() + LOG_LINE_COST;
        if cost > self.log_budget {
            self.log_dropped += 1;
            return;
        }
        self.log_budget -= cost;
        if message.contains(char::is_control) {
            message = message.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        }
        let plugin = self.plugin.as_str();
        match level {
            w::LogLevel::Debug => tracing::debug!(plugin, "{message}"),
            w::LogLevel::Info => tracing::info!(plugin, "{message}"),
            w::LogLevel::Warn => tracing::warn!(plugin, "{message}"),
            w::LogLevel::Error => tracing::error!(plugin, "{message}"),
        }
    }
}

impl w::Host for HostState {}

/// Advances the engines' epoch every millisecond while at least one call is running, and
/// sleeps otherwise (an idle hub should not wake up 1000 times a second).
struct Ticker {
    active: Mutex<usize>,
    wake: Condvar,
    stop: AtomicBool,
    /// The thread is waiting for work (so the next call must wake it).
    parked: AtomicBool,
}

/// Ticks without a call before the ticker goes to sleep: a burst of decisions does not pay for
/// waking it up each time.
const LINGER_TICKS: u32 = 200;

struct Running<'a>(&'a Ticker);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        *self.0.active.lock().unwrap_or_else(PoisonError::into_inner) -= 1;
    }
}

impl Ticker {
    fn start(engines: Vec<Engine>) -> Arc<Self> {
        let t = Arc::new(Self {
            active: Mutex::new(0),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            parked: AtomicBool::new(false),
        });
        let weak = Arc::downgrade(&t);
        let spawned = std::thread::Builder::new().name("policy-epoch".into()).spawn(move || {
            let mut idle: u32 = 0;
            loop {
                let Some(t) = weak.upgrade() else { return };
                if t.stop.load(Ordering::Relaxed) {
                    return;
                }
                {
                    let active = t.active.lock().unwrap_or_else(PoisonError::into_inner);
                    idle = if *active == 0 { idle.saturating_add(1) } else { 0 };
                    if idle > LINGER_TICKS {
                        t.parked.store(true, Ordering::SeqCst);
                        // Woken by `enter`, or every second to notice a stop.
                        let _ = t.wake.wait_timeout(active, Duration::from_secs(1));
                        t.parked.store(false, Ordering::SeqCst);
                        idle = 0;
                        continue;
                    }
                }
                drop(t);
                std::thread::sleep(Duration::from_millis(1));
                for engine in &engines {
                    engine.increment_epoch();
                }
            }
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "Cannot start the policy epoch thread; plugin time limits fall back to fuel");
        }
        t
    }

    fn enter(&self) -> Running<'_> {
        *self.active.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        if self.parked.load(Ordering::SeqCst) {
            self.wake.notify_one();
        }
        Running(self)
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.wake.notify_all();
    }
}

/// The wasmtime engines (one per kind of memory reset, see [`Lane`]) and their linkers.
#[derive(Clone)]
pub struct Host {
    /// For plugins whose memories start at one 64 KiB page at most.
    small: Lane,
    /// For every other plugin.
    large: Lane,
    ticker: Arc<Ticker>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("policy::Host")
    }
}

/// An engine, with its own pool of instance slots, and the contract linked into it.
///
/// The engines differ only in how a pooled memory slot is put back after a decision, which is
/// the largest single cost of a decision after the plugin's own code (`docs/benchmarks.md`):
/// - `small` copies the first 64 KiB back from the plugin's image (a `memcpy` of the static data
///   and a `memset` of the rest, about 1.3 µs, and no system call). A plugin built with the
///   recommended 32 KiB stack (`docs/plugins.md`) starts at one page and fits in it whole.
/// - `large` asks the kernel which pages the decision dirtied (the `PAGEMAP_SCAN` ioctl, Linux
///   6.7+) and copies back only those, up to 1 MiB. The ioctl costs about 2 µs here, but a
///   `memset` of a larger window would cost more, and returning the pages to the kernel instead
///   makes the next decision take a page fault on each page it touches.
#[derive(Clone)]
struct Lane {
    engine: Engine,
    linker: Arc<Linker<HostState>>,
}

/// The size of a wasm page, and of the memory a plugin may start with to use the `small` lane.
const SMALL_MEMORY: u64 = 64 << 10;

/// Where the contract's exports are in a compiled plugin (found once, at load).
#[derive(Debug, Clone)]
struct Exports {
    check_config: ComponentExportIndex,
    decide: ComponentExportIndex,
    on_event: ComponentExportIndex,
    /// The plugin imports WASI stand-ins: each call sets their clock and seed first.
    standins: bool,
}

/// A plugin that passed every load check: ready to instantiate, once per call.
#[derive(Clone)]
pub struct Compiled {
    pre: InstancePre<HostState>,
    exports: Exports,
    /// Bytes after componentizing (what was compiled).
    pub component_bytes: usize,
    /// Whether the file was a core module that the host componentized.
    pub componentized: bool,
    /// The largest initial size of the plugin's memories, in bytes (`None`: unreadable).
    pub initial_memory: Option<u64>,
    /// The WASI interfaces it imports, each given a stand-in (`policy/wasi.rs`), sorted.
    pub standins: Vec<String>,
}

impl Compiled {
    /// Whether it runs in the lane that resets its memory without a system call ([`Lane`]).
    pub fn small_lane(&self) -> bool {
        in_small_lane(self.initial_memory)
    }
}

/// Plugins whose memories all start at [`SMALL_MEMORY`] or less go to the `small` lane.
fn in_small_lane(initial_memory: Option<u64>) -> bool {
    initial_memory.is_some_and(|m| m <= SMALL_MEMORY)
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiled").field("component_bytes", &self.component_bytes).finish_non_exhaustive()
    }
}

impl Host {
    /// A host whose compiled plugins are cached on disk in `cache_dir` (wasmtime's own cache:
    /// entries are keyed by the plugin bytes, the wasmtime version and the engine settings, and
    /// are only ever written by this hub). `None`: compile on every start.
    pub fn new(cache_dir: Option<&std::path::Path>) -> Result<Self, LoadError> {
        let pagemap = PoolingAllocationConfig::is_pagemap_scan_available();
        // Without the ioctl the large lane's window is `memset` whole, so it stays small.
        let large_window = if pagemap { 1 << 20 } else { 128 << 10 };
        let small = Lane::new(SMALL_MEMORY as usize, false, cache_dir)?;
        let large = Lane::new(large_window, pagemap, cache_dir)?;
        let ticker = Ticker::start(vec![small.engine.clone(), large.engine.clone()]);
        Ok(Self { small, large, ticker })
    }

    /// Checks and compiles a plugin file: a component, or a core module built with wit-bindgen
    /// for `wasm32-unknown-unknown` (componentized here). Rejects anything that imports more
    /// than the contract.
    pub fn compile(&self, bytes: &[u8]) -> Result<Compiled, LoadError> {
        if bytes.len() > MAX_PLUGIN_BYTES {
            return Err(LoadError(format!(
                "{} bytes is larger than the limit of {MAX_PLUGIN_BYTES}",
                bytes.len()
            )));
        }
        if !bytes.starts_with(b"\0asm") {
            return Err(LoadError("not a WebAssembly file (no \\0asm header)".into()));
        }
        // Validate before anything else parses it: the componentizer assumes well-formed input
        // (a truncated module made it panic).
        if let Err(e) =
            wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all()).validate_all(bytes)
        {
            return Err(LoadError(format!("invalid WebAssembly: {}", one_line(&e.to_string()))));
        }
        let componentized = !wasmparser::Parser::is_component(bytes);
        let component_bytes = if componentized {
            let unusable = |e: String| {
                LoadError(format!(
                    "not a usable policy module (build it with porchlight-sdk for wasm32-unknown-unknown): {}",
                    one_line(&e)
                ))
            };
            // Defence in depth: a panic in the encoder must reject the file, not crash the hub.
            std::panic::catch_unwind(|| {
                wit_component::ComponentEncoder::default()
                    .module(bytes)
                    .and_then(|e| e.validate(true).encode())
            })
            .map_err(|_| unusable("the component encoder failed on it".into()))?
            .map_err(|e| unusable(format!("{e:#}")))?
        } else {
            bytes.to_vec()
        };
        let initial_memory = initial_memory(&component_bytes);
        let lane = if in_small_lane(initial_memory) { &self.small } else { &self.large };
        let component = Component::new(&lane.engine, &component_bytes)
            .map_err(|e| LoadError(format!("invalid component: {}", one_line(&format!("{e:#}")))))?;
        let mut standins = Vec::new();
        for (name, item) in component.component_type().imports(&lane.engine) {
            match (name, &item.ty) {
                ("log", ComponentItem::ComponentFunc(_)) => {}
                (TYPES_IMPORT, ComponentItem::ComponentInstance(_)) => {}
                (n, ComponentItem::ComponentInstance(_)) if super::wasi::has_standin(n) => {
                    standins.push(n.to_owned());
                }
                (n, _) if n.starts_with("wasi:") => {
                    return Err(LoadError(format!(
                        "imports the WASI interface `{n}`, which has no stand-in; policies get no system access (docs/ref/plugins.md lists the stand-ins)"
                    )));
                }
                (n, _) if n.starts_with("porchlight:policy/") => {
                    return Err(LoadError(format!(
                        "built for a different contract (`{n}`); this hub speaks {CONTRACT}"
                    )));
                }
                (n, _) => {
                    return Err(LoadError(format!(
                        "imports `{n}`, which is not part of the contract {CONTRACT}"
                    )));
                }
            }
        }
        let not_contract = |e: wasmtime::Error| {
            LoadError(format!("does not implement the contract {CONTRACT}: {}", one_line(&format!("{e:#}"))))
        };
        let pre = lane.linker.instantiate_pre(&component).map_err(not_contract)?;
        // Every export is there, with the contract's type.
        wit::PolicyIndices::new(&pre).map_err(not_contract)?;
        let export = |name: &str| {
            component
                .get_export_index(None, name)
                .ok_or_else(|| LoadError(format!("does not export `{name}`")))
        };
        let exports = Exports {
            check_config: export("check-config")?,
            decide: export("decide")?,
            on_event: export("on-event")?,
            standins: !standins.is_empty(),
        };
        standins.sort();
        Ok(Compiled {
            pre,
            exports,
            component_bytes: component_bytes.len(),
            componentized,
            initial_memory,
            standins,
        })
    }

    /// Runs `f` against a fresh instance of `plugin` in a fresh store, under `limits`.
    pub fn call<T>(
        &self,
        plugin: &str,
        compiled: &Compiled,
        limits: Limits,
        f: impl FnOnce(&mut Store<HostState>, &Instance<'_>) -> wasmtime::Result<T>,
    ) -> (Result<T, CallError>, Usage) {
        let started = Instant::now();
        let state = HostState {
            plugin: plugin.to_owned(),
            memory_limit: limits.memory,
            oom: None,
            log_budget: limits.log_bytes,
            log_dropped: 0,
            standins: Default::default(),
        };
        let mut store = Store::new(compiled.pre.engine(), state);
        store.limiter(|s| s as &mut dyn wasmtime::ResourceLimiter);
        let ticks = u64::try_from(limits.time.as_millis()).unwrap_or(u64::MAX).max(1);
        store.set_epoch_deadline(ticks);
        if let Err(e) = store.set_fuel(limits.fuel) {
            return (Err(CallError::Other(format!("cannot set fuel: {e}"))), Usage::default());
        }
        let result = {
            let _running = self.ticker.enter();
            compiled
                .pre
                .instantiate(&mut store)
                .and_then(|inner| f(&mut store, &Instance { inner, exports: &compiled.exports }))
        };
        // A last line of standard output or error without its newline still goes to the log.
        store.data_mut().flush_output();
        let fuel = limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0));
        let (log_dropped, oom) = (store.data().log_dropped, store.data().oom);
        let result = result.map_err(|e| match (e.downcast_ref::<Trap>(), oom) {
            (_, Some(wanted)) => CallError::OutOfMemory { limit: limits.memory, wanted },
            (Some(Trap::Interrupt), _) => CallError::Timeout(limits.time),
            (Some(Trap::OutOfFuel), _) => CallError::OutOfFuel(limits.fuel),
            (Some(Trap::StackOverflow), _) => CallError::StackOverflow,
            // A Rust guest keeps its big frames in linear memory: deep recursion runs off the
            // bottom of that shadow stack rather than the wasm stack.
            (Some(Trap::MemoryOutOfBounds), _) => {
                CallError::Trap("accessed memory out of bounds (a stack overflow, or a bug)".into())
            }
            (Some(Trap::UnreachableCodeReached), _) => CallError::Trap("panicked (unreachable code)".into()),
            (Some(t), _) => CallError::Trap(t.to_string()),
            (None, _) => CallError::Other(one_line(&format!("{e:#}"))),
        });
        // The host's own work on the answer (lifting a long string out of the plugin's memory,
        // resetting that memory) counts against the time limit too: an answer that arrives
        // late is not taken, however it got late.
        drop(store);
        let time = started.elapsed();
        let result = match result {
            Ok(_) if time > limits.time => Err(CallError::Timeout(limits.time)),
            r => r,
        };
        (result, Usage { time, fuel, log_dropped })
    }
}

impl Lane {
    /// An engine whose pooled memory slots keep their first `window` bytes resident (reset in
    /// place, not returned to the kernel), using `PAGEMAP_SCAN` to find the dirty ones if
    /// `pagemap`.
    fn new(window: usize, pagemap: bool, cache_dir: Option<&std::path::Path>) -> Result<Self, LoadError> {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(64)
            .total_core_instances(256)
            .total_memories(64)
            .total_tables(256)
            .max_memory_size(MAX_MEMORY)
            // A fresh instance per decision would otherwise take a page fault on every page it
            // touches.
            .linear_memory_keep_resident(window)
            // A policy's function table is a few hundred bytes: at most one host page kept
            // resident means it is reset with a `memset`, not a `PAGEMAP_SCAN` system call.
            .table_keep_resident(4 << 10)
            .pagemap_scan(if pagemap { wasmtime::Enabled::Yes } else { wasmtime::Enabled::No });
        let mut cfg = Config::new();
        cfg.epoch_interruption(true)
            .consume_fuel(true)
            .max_wasm_stack(512 << 10)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        if let Some(dir) = cache_dir {
            let mut cc = wasmtime::CacheConfig::new();
            cc.with_directory(dir);
            match wasmtime::Cache::new(cc) {
                Ok(cache) => {
                    cfg.cache(Some(cache));
                }
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "Plugin compile cache unavailable; compiling on every load")
                }
            }
        }
        let engine = Engine::new(&cfg).map_err(|e| LoadError(format!("cannot start wasmtime: {e:#}")))?;
        let mut linker = Linker::<HostState>::new(&engine);
        wit::Policy::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| LoadError(format!("cannot link the policy contract: {e:#}")))?;
        super::wasi::add_to_linker(&mut linker)
            .map_err(|e| LoadError(format!("cannot link the WASI stand-ins: {e:#}")))?;
        Ok(Self { engine, linker: Arc::new(linker) })
    }
}

/// The largest initial size, in bytes, of the memories the component's modules define (0 for
/// none). A plugin whose memories all start at [`SMALL_MEMORY`] or less goes to the `small`
/// lane. This only picks the lane: a plugin that grows its memory later still works, its
/// decisions just cost more.
fn initial_memory(component: &[u8]) -> Option<u64> {
    let mut largest = 0u64;
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        if let wasmparser::Payload::MemorySection(memories) = payload.ok()? {
            for memory in memories {
                let memory = memory.ok()?;
                let page = 1u64.checked_shl(memory.page_size_log2.unwrap_or(16))?;
                largest = largest.max(memory.initial.saturating_mul(page));
            }
        }
    }
    Some(largest)
}

/// One fresh instance of a plugin. Each call looks up (and type-checks, as wasmtime requires)
/// only the export it calls: loading all three on every instance, as the generated bindings
/// do, was about a tenth of the host's share of a decision.
#[derive(Debug)]
pub struct Instance<'a> {
    inner: component::Instance,
    exports: &'a Exports,
}

impl Instance<'_> {
    pub fn check_config(
        &self,
        store: &mut Store<HostState>,
        config: &str,
    ) -> wasmtime::Result<Result<(), String>> {
        self.call(store, &self.exports.check_config, (config,))
    }

    pub fn decide(
        &self,
        store: &mut Store<HostState>,
        config: &str,
        request: &w::Request,
        context: &w::Context,
    ) -> wasmtime::Result<w::Decision> {
        self.begin(store, context, request);
        self.call(store, &self.exports.decide, (config, request, context))
    }

    pub fn on_event(
        &self,
        store: &mut Store<HostState>,
        config: &str,
        event: &w::Event,
        context: &w::Context,
    ) -> wasmtime::Result<Option<w::Offer>> {
        self.begin(store, context, event);
        self.call(store, &self.exports.on_event, (config, event, context))
    }

    /// For a plugin with WASI stand-ins: its wall clock reads the context's `now`, and its
    /// randomness is seeded from the call's arguments, so the same call answers the same.
    /// (`check-config` has no context: its clock reads 1970 and its seed is fixed.)
    fn begin(&self, store: &mut Store<HostState>, context: &w::Context, input: &impl std::fmt::Debug) {
        if self.exports.standins {
            store.data_mut().standins.begin(context.now, super::wasi::seed(&(input, context)));
        }
    }

    /// Calls the export at `index` with `params`; its one result.
    fn call<P, R>(
        &self,
        store: &mut Store<HostState>,
        index: &ComponentExportIndex,
        params: P,
    ) -> wasmtime::Result<R>
    where
        P: ComponentNamedList + Lower,
        R: ComponentType + Lift + 'static,
    {
        let f = self.inner.get_typed_func::<P, (R,)>(&mut *store, index)?;
        Ok(f.call(store, params)?.0)
    }
}

/// Collapses a multi-line error into one line for logs and audit entries.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

//! `porchlight plugin check|test|list|replay`: a policy plugin checked and tried out without
//! the daemon; the policies a hub has (bundled with the daemon and installed in the plugin
//! directory) with which one runs for each enabled name; `replay` reads the hub's config and
//! audit log (read-only, also while the daemon runs).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use porchlight::config;
use porchlight::logging;

use crate::{EXIT_CONFIG, EXIT_RUNTIME};

#[derive(Debug, Subcommand)]
pub(crate) enum PluginCommand {
    /// Check that the hub would accept a plugin: contract, imports, size, compilation and a
    /// conformance call under production limits. Exit 0 if accepted, else 1.
    Check {
        file: PathBuf,
        /// The plugin's configuration as the resident would write it (a TOML file with the
        /// plugin's table at the top level).
        #[arg(long = "plugin-config")]
        plugin_config: Option<PathBuf>,
        /// Keep compiled plugins in this directory (as the daemon does in data_dir/cache/plugins),
        /// so checking or testing the same file again does not compile it again.
        #[arg(long = "cache-dir")]
        cache_dir: Option<PathBuf>,
        /// The wall-clock limit per call, as `[plugins.policy.NAME] time_limit` would set it
        /// (default 10ms; a JavaScript policy wants more, see docs/ref/plugins.md).
        #[arg(long = "time-limit", value_parser = parse_time_limit)]
        time_limit: Option<std::time::Duration>,
    },
    /// Decide one request with a plugin and print the decision as JSON, with time and fuel used.
    Test {
        file: PathBuf,
        /// The request (JSON, as in docs/ref/plugins.md).
        #[arg(long)]
        request: PathBuf,
        /// The context (JSON). Default: now, at home, the request's cameras untagged.
        #[arg(long)]
        context: Option<PathBuf>,
        /// The plugin's configuration (TOML).
        #[arg(long = "plugin-config")]
        plugin_config: Option<PathBuf>,
        /// Keep compiled plugins in this directory (see `check`).
        #[arg(long = "cache-dir")]
        cache_dir: Option<PathBuf>,
        /// The wall-clock limit per call (see `check`).
        #[arg(long = "time-limit", value_parser = parse_time_limit)]
        time_limit: Option<std::time::Duration>,
    },
    /// Decide the sharing requests of the hub's audit log again with a candidate policy, alone
    /// and composed with the enabled policies, and list the decisions it would change. Reads
    /// the hub config (`--config`) and its audit log; shares nothing, writes nothing.
    Replay {
        /// The candidate's file (or `--bundled NAME`).
        #[arg(required_unless_present = "bundled")]
        file: Option<PathBuf>,
        /// Try a policy bundled with the daemon instead of a file.
        #[arg(long, conflicts_with = "file")]
        bundled: Option<String>,
        /// The candidate's configuration (TOML, the plugin's table at the top level). Default:
        /// that of the enabled policy of the same name, else none.
        #[arg(long = "plugin-config")]
        plugin_config: Option<PathBuf>,
        /// How far back: `90d`, `12h`, `30m`, or an RFC 3339 time.
        #[arg(long, default_value = porchlight::policy::replay::DEFAULT_SINCE, allow_hyphen_values = true)]
        since: String,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The policies bundled with the daemon and those installed in the plugin directory, each
    /// with its SHA-256, and which one runs for each enabled name (read from `--config`; without
    /// a config file only the bundled ones are listed).
    List,
}

/// The plugin's configuration file (TOML) as JSON text; no file: `{}`.
fn read_plugin_config(path: Option<PathBuf>) -> Result<String, String> {
    let Some(path) = path else { return Ok("{}".into()) };
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let value: serde_json::Value =
        toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.message()))?;
    Ok(value.to_string())
}

/// `hub_config`: the `--config` file (only `replay` reads it).
pub(crate) fn plugin_command(command: PluginCommand, hub_config: &Path) -> ExitCode {
    use porchlight::policy::{self, Limits, PolicyEngine};
    // The plugin's own log lines go to stderr.
    let _log = logging::init(config::LogFormat::Human, "info");
    let fail = |msg: String| {
        eprintln!("{msg}");
        ExitCode::from(EXIT_RUNTIME)
    };
    let read_config = read_plugin_config;
    let (file, plugin_config, cache_dir, time_limit) = match &command {
        PluginCommand::Check { file, plugin_config, cache_dir, time_limit }
        | PluginCommand::Test { file, plugin_config, cache_dir, time_limit, .. } => {
            (file.clone(), plugin_config.clone(), cache_dir.clone(), *time_limit)
        }
        PluginCommand::Replay { file, bundled, plugin_config, since, json } => {
            let source = match (file, bundled) {
                (_, Some(name)) => policy::replay::Source::Bundled(name.clone()),
                (Some(file), None) => policy::replay::Source::File(file.clone()),
                (None, None) => return ExitCode::from(EXIT_CONFIG),
            };
            return replay_command(hub_config, source, plugin_config.clone(), since, *json);
        }
        // Needs the config: `list_command`.
        PluginCommand::List => return ExitCode::from(EXIT_CONFIG),
    };
    let limits = Limits { time: time_limit.unwrap_or(Limits::default().time), ..Limits::default() };
    let config = match read_config(plugin_config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("plugin config: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let bytes = match policy::host::read_plugin_file(&file) {
        Ok(b) => b,
        Err(e) => return fail(e.to_string()),
    };
    let name = file.file_stem().and_then(|s| s.to_str()).unwrap_or("plugin").to_owned();
    let settings = config::PolicySettings {
        name: name.clone(),
        file: file.clone(),
        source: Some(config::PolicySource::File),
        sha256: None,
        limits,
        config,
    };
    if let Some(dir) = &cache_dir
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        return fail(format!("cannot create the cache directory {}: {e}", dir.display()));
    }
    let engine = match PolicyEngine::new(cache_dir.as_deref()) {
        Ok(e) => e,
        Err(e) => return fail(format!("cannot start the policy engine: {e}")),
    };
    let started = std::time::Instant::now();
    let plugin = match engine.load(&settings, &bytes) {
        Ok(p) => p,
        Err(e) => return fail(format!("{}: rejected: {e}", file.display())),
    };
    match command {
        PluginCommand::Check { .. } => {
            println!("{}: accepted", file.display());
            println!("  contract: {}", policy::CONTRACT);
            println!("  sha256:   {}", plugin.sha256);
            println!("  size:     {} bytes", bytes.len());
            println!("  load:     {} ms (compile and conformance call)", started.elapsed().as_millis());
            let compiled = plugin.compiled();
            match (compiled.initial_memory, compiled.small_lane()) {
                (Some(m), true) => println!(
                    "  memory:   starts at {} KiB: reset after each decision without a system call",
                    m >> 10
                ),
                (Some(m), false) => println!(
                    "  memory:   starts at {} KiB: reset through the kernel after each decision \
                     (a 32 KiB stack makes it start at 64 KiB, which is faster; see docs/plugins.md)",
                    m >> 10
                ),
                (None, _) => println!("  memory:   unknown initial size: reset through the kernel"),
            }
            if !compiled.standins.is_empty() {
                println!(
                    "  wasi:     harmless stand-ins for {} (docs/ref/plugins.md)",
                    compiled.standins.join(", ")
                );
            }
            let l = limits;
            println!(
                "  limits:   {:?} time, {} MiB memory, {} fuel per call",
                l.time,
                l.memory >> 20,
                l.fuel
            );
            ExitCode::SUCCESS
        }
        PluginCommand::Replay { .. } | PluginCommand::List => ExitCode::from(EXIT_CONFIG),
        PluginCommand::Test { request, context, .. } => {
            let read = |p: &PathBuf| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
            let request: policy::Request = match read(&request)
                .and_then(|t| serde_json::from_str(&t).map_err(|e| format!("{}: {e}", request.display())))
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("request: {e}");
                    return ExitCode::from(EXIT_CONFIG);
                }
            };
            let context: policy::Context = match context {
                Some(p) => match read(&p)
                    .and_then(|t| serde_json::from_str(&t).map_err(|e| format!("{}: {e}", p.display())))
                {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("context: {e}");
                        return ExitCode::from(EXIT_CONFIG);
                    }
                },
                None => policy::Context {
                    now: jiff::Timestamp::now(),
                    mode: policy::HubMode::Home,
                    privacy: false,
                    cameras: request
                        .kind
                        .cameras()
                        .iter()
                        .map(|c| policy::CameraInfo {
                            name: c.clone(),
                            tags: vec![],
                            last_motion: None,
                            last_doorbell: None,
                            last_alarm: None,
                        })
                        .collect(),
                },
            };
            let (outcome, usage) = engine.run(&plugin, &request, &context);
            let out = serde_json::json!({
                "plugin": name,
                "sha256": plugin.sha256,
                "decision": outcome.decision,
                "failure": outcome.failure,
                "time_us": outcome.time_us,
                "fuel": usage.fuel,
                "log_dropped": usage.log_dropped,
            });
            println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
            ExitCode::SUCCESS
        }
    }
}

/// `plugin replay`: the hub's enabled policies loaded as the daemon would load them (its own
/// engine: the running daemon is not touched), then [`porchlight::policy::replay::replay`].
fn replay_command(
    hub_config: &Path,
    source: porchlight::policy::replay::Source,
    plugin_config: Option<PathBuf>,
    since: &str,
    json: bool,
) -> ExitCode {
    use porchlight::policy::PolicyEngine;
    use porchlight::policy::replay::{self, Candidate, Options, ReplayError};
    let settings = match config::load(hub_config, &config::Env::process()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let config = match plugin_config.map(|p| read_plugin_config(Some(p))).transpose() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("plugin config: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let now = jiff::Timestamp::now();
    let since = match replay::parse_since(since, now) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("--{e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let engine = match PolicyEngine::new(None) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("cannot start the policy engine: {e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    for report in engine.reload(&settings.plugins) {
        if let porchlight::policy::LoadReport::Rejected { plugin, reason, .. } = report {
            eprintln!("enabled policy {plugin} not loaded (it denies every request when composed): {reason}");
        }
    }
    let mut opts = Options::new(since, settings.hub.max_live);
    opts.until = now;
    let candidate = Candidate { source, config };
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let audit_dir = settings.hub.data_dir.join("audit");
    // The candidate's own log lines (and the engine's per-request warnings) would drown the
    // report: a replay writes no log.
    let result = tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), || {
        replay::replay(&engine, &engine.slots(), &settings.plugins, candidate, &audit_dir, &opts, &cancel)
    });
    match result {
        Ok(report) if json => {
            println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Ok(report) => {
            print!("{}", report.to_text());
            ExitCode::SUCCESS
        }
        Err(
            e @ (ReplayError::BadSince { .. } | ReplayError::BadName(_) | ReplayError::UnknownBundled(_)),
        ) => {
            eprintln!("{e}");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(e @ (ReplayError::Unreadable(_) | ReplayError::Rejected { .. } | ReplayError::Audit(_))) => {
            eprintln!("{e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

/// `--time-limit`: a duration as the config writes it (`50ms`, `1s`), within the config's bounds.
fn parse_time_limit(text: &str) -> Result<std::time::Duration, String> {
    let d = config::units::parse_duration(text).map_err(|e| e.to_string())?;
    if d < std::time::Duration::from_millis(1) || d > std::time::Duration::from_secs(5) {
        return Err("must be between 1ms and 5s".into());
    }
    Ok(d)
}

/// `porchlight plugin list`: the bundled policies, the files in `plugins.dir`, and for each
/// enabled name the component that runs (as the daemon would choose it, without compiling it:
/// `check-config` does that). `config_given`: `--config` or `PORCHLIGHT_CONFIG` named the file,
/// so it must exist; the default path may be absent (then only the bundled policies are listed).
pub(crate) fn list_command(config_path: &Path, config_given: bool) -> ExitCode {
    use porchlight::policy::bundled;
    let settings = if config_given || config_path.exists() {
        match config::load(config_path, &std::sync::Arc::new(config::Env::process())) {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(EXIT_CONFIG);
            }
        }
    } else {
        None
    };
    println!("Bundled with the daemon (enable by name, no file needed):");
    for b in bundled::bundled() {
        println!("  {:<18} sha256 {}", b.name, b.sha256);
        println!("  {:<18} {}", "", b.summary);
    }
    let Some(settings) = settings else {
        println!();
        println!(
            "No config file ({} does not exist): nothing installed or enabled to show.",
            config_path.display()
        );
        return ExitCode::SUCCESS;
    };
    let dir = &settings.plugins.dir;
    println!();
    match installed(dir) {
        Ok(files) if files.is_empty() => println!("Installed in {}: none", dir.display()),
        Ok(files) => {
            println!("Installed in {}:", dir.display());
            for (name, hash) in files {
                match hash {
                    Ok(h) => println!("  {name:<18} sha256 {h}"),
                    Err(e) => println!("  {name:<18} cannot be read: {e}"),
                }
            }
        }
        Err(e) => println!("Installed in {}: none ({e})", dir.display()),
    }
    println!();
    if settings.plugins.enabled.is_empty() {
        println!("Enabled: none, so every request to share footage is denied.");
        return ExitCode::SUCCESS;
    }
    println!("Enabled, in the order they decide (what runs for each):");
    for ps in &settings.plugins.enabled {
        let line = match bundled::resolve(ps) {
            Ok(r) => {
                let hash = porchlight::digest::sha256_hex(&r.bytes);
                let what = match r.source {
                    config::PolicySource::Bundled => "bundled".to_owned(),
                    config::PolicySource::File => format!("file {}", ps.file.display()),
                };
                match &ps.sha256 {
                    Some(pin) if *pin != hash => format!(
                        "REFUSED: {what} has sha256 {hash}, but plugins.policy.{}.sha256 pins {pin} (denies everything)",
                        ps.name
                    ),
                    Some(_) => format!("{what}, sha256 {hash} (pinned)"),
                    None => format!("{what}, sha256 {hash}"),
                }
            }
            Err(e) => format!("REFUSED: {e}"),
        };
        println!("  {:<18} {line}", ps.name);
    }
    ExitCode::SUCCESS
}

/// The `*.wasm` entries of the plugin directory by name (without `.wasm`), each with its SHA-256
/// or why it cannot be read.
fn installed(dir: &Path) -> std::io::Result<Vec<(String, Result<String, String>)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".wasm"))
        else {
            continue;
        };
        let hash = porchlight::policy::host::read_plugin_file(&path)
            .map(|bytes| porchlight::digest::sha256_hex(&bytes))
            .map_err(|e| e.to_string());
        out.push((name.to_owned(), hash));
    }
    out.sort();
    Ok(out)
}

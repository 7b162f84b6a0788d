//! `porchlight plugin check|test|list`: a policy plugin checked and tried out without the
//! daemon, and the policies a hub has (bundled with the daemon and installed in the plugin
//! directory) with which one runs for each enabled name.

use std::path::PathBuf;
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
    },
    /// The policies bundled with the daemon and those installed in the plugin directory, each
    /// with its SHA-256, and which one runs for each enabled name (read from `--config`; without
    /// a config file only the bundled ones are listed).
    List,
}

pub(crate) fn plugin_command(command: PluginCommand) -> ExitCode {
    use porchlight::policy::{self, Limits, PolicyEngine};
    // The plugin's own log lines go to stderr.
    let _log = logging::init(config::LogFormat::Human, "info");
    let fail = |msg: String| {
        eprintln!("{msg}");
        ExitCode::from(EXIT_RUNTIME)
    };
    let read_config = |path: Option<PathBuf>| -> Result<String, String> {
        let Some(path) = path else { return Ok("{}".into()) };
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let value: serde_json::Value =
            toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.message()))?;
        Ok(value.to_string())
    };
    let (file, plugin_config) = match &command {
        PluginCommand::Check { file, plugin_config } => (file.clone(), plugin_config.clone()),
        PluginCommand::Test { file, plugin_config, .. } => (file.clone(), plugin_config.clone()),
        // Needs the config: `list_command`.
        PluginCommand::List => return ExitCode::from(EXIT_CONFIG),
    };
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
        limits: Limits::default(),
        config,
    };
    let engine = match PolicyEngine::new(None) {
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
            let l = Limits::default();
            println!(
                "  limits:   {:?} time, {} MiB memory, {} fuel per call",
                l.time,
                l.memory >> 20,
                l.fuel
            );
            ExitCode::SUCCESS
        }
        PluginCommand::List => ExitCode::from(EXIT_CONFIG),
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

/// `porchlight plugin list`: the bundled policies, the files in `plugins.dir`, and for each
/// enabled name the component that runs (as the daemon would choose it, without compiling it:
/// `check-config` does that). `config_given`: `--config` or `PORCHLIGHT_CONFIG` named the file,
/// so it must exist; the default path may be absent (then only the bundled policies are listed).
pub(crate) fn list_command(config_path: &std::path::Path, config_given: bool) -> ExitCode {
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
fn installed(dir: &std::path::Path) -> std::io::Result<Vec<(String, Result<String, String>)>> {
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

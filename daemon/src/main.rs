//! The `porchlight` command: `run` the daemon, `check-config`, and the tools beside it
//! (`recordings`, `clip`, `audit`, `privacy`, `requests`, `plugin`, `discover`). Reference:
//! `docs/ref/cli.md`.
//! Exit codes: 0 clean, 1 runtime failure, 2 bad config or usage.
#![forbid(unsafe_code)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use porchlight::config::{self, Env};
use porchlight::{logging, run};
use tokio_util::sync::CancellationToken;

/// Porchlight: your cameras, recorded at home; nothing shared unless your policy says so.
#[derive(Debug, Parser)]
#[command(name = "porchlight", version, about)]
struct Cli {
    /// Config file.
    #[arg(long, short, global = true, env = "PORCHLIGHT_CONFIG", default_value = config::DEFAULT_PATH)]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon.
    Run,
    /// Validate the config file: exit 0 if it is usable, else print every problem and exit 2.
    CheckConfig,
    /// The audit log of sharing requests and decisions.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// What has been recorded.
    Recordings {
        #[command(subcommand)]
        command: RecordingsCommand,
    },
    /// Cut clips out of the recordings.
    Clip {
        #[command(subcommand)]
        command: ClipCommand,
    },
    /// Find ONVIF cameras and doorbells on the network (needs no hub config): WS-Discovery
    /// multicast on every IPv4 interface plus unicast probes, then each device's model,
    /// profiles and stream URIs.
    Discover(DiscoverArgs),
    /// Privacy mode of the running daemon: show it, or turn it `on` / `off`. While it is on,
    /// every sharing request is denied and live relays stop.
    Privacy {
        #[arg(value_parser = ["on", "off"])]
        set: Option<String>,
    },
    /// The hub mode of the running daemon, as the policies see it: show it, or switch it
    /// (recorded in the audit log).
    Mode {
        #[arg(value_parser = ["home", "away", "night", "vacation"])]
        set: Option<String>,
    },
    /// Sharing requests of the running daemon: list them, approve or deny one that waits,
    /// revoke what is being shared.
    Requests {
        #[command(subcommand)]
        command: RequestsCommand,
    },
    /// Share a clip yourself (through the running daemon): signed files on the hub, or with
    /// `--to-center` sent to the relay's center. Recorded in the audit log.
    Share {
        /// The camera.
        #[arg(long)]
        camera: String,
        /// Start: RFC 3339 (`2026-11-27T04:00:00Z`), `now`, or an offset back from now (`-15m`).
        #[arg(long, allow_hyphen_values = true)]
        from: String,
        /// End, in the same forms.
        #[arg(long, allow_hyphen_values = true)]
        to: String,
        /// Send it to the relay's center instead of keeping files on the hub.
        #[arg(long)]
        to_center: bool,
        /// Leave the audio out.
        #[arg(long)]
        strip_audio: bool,
        /// Why (recorded in the audit log).
        #[arg(long, default_value = "")]
        note: String,
    },
    /// The hub's signing key (it signs the evidence manifests of everything shared).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Check evidence the hub shared (needs no hub config).
    Evidence {
        #[command(subcommand)]
        command: EvidenceCommand,
    },
    /// Check and try out policy plugins (for plugin authors; needs no hub config).
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
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
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Print the public key (base64) and its fingerprint.
    Show,
}

#[derive(Debug, Subcommand)]
enum EvidenceCommand {
    /// Check a manifest's signature and that FILE is the file it describes. Exit 0 if it
    /// checks out, else 1.
    Verify {
        manifest: PathBuf,
        file: PathBuf,
        /// The hub's public key (base64, from `porchlight keys show`). Without it, the
        /// signature is checked against the key in the manifest and its fingerprint is printed
        /// to compare.
        #[arg(long)]
        public_key: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum RequestsCommand {
    /// Requests waiting for you, then recently decided ones.
    List {
        /// Print the JSON of `GET /api/requests`.
        #[arg(long)]
        json: bool,
    },
    /// Approve a waiting request, as asked or narrowed (never wider).
    Approve {
        id: String,
        /// Share only these cameras (repeatable). Default: the cameras asked for.
        #[arg(long = "camera")]
        cameras: Vec<String>,
        /// Clips: share from this time (RFC 3339). Default: as asked.
        #[arg(long, allow_hyphen_values = true)]
        from: Option<String>,
        /// Clips: share until this time (RFC 3339). Default: as asked.
        #[arg(long, allow_hyphen_values = true)]
        to: Option<String>,
        /// Live: the longest stream, in seconds. Default: as asked.
        #[arg(long)]
        live_max_seconds: Option<u32>,
        /// Leave the audio out.
        #[arg(long)]
        strip_audio: bool,
    },
    /// Deny a waiting request.
    Deny {
        id: String,
        /// Why (recorded in the audit log).
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Stop what is being shared for a request now: a live stream is cut, clips not yet sent
    /// stay home.
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
enum RecordingsCommand {
    /// List segments and gaps, oldest first.
    List {
        /// Only this camera.
        #[arg(long)]
        camera: Option<String>,
        /// From this time (RFC 3339, or relative such as -10m, -2h, -1d). Default: the beginning.
        #[arg(long, allow_hyphen_values = true)]
        from: Option<String>,
        /// Until this time. Default: now.
        #[arg(long, allow_hyphen_values = true)]
        to: Option<String>,
        /// Print JSON (one object with `segments` and `gaps`) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Keep a camera's recordings of an interval from retention (evidence), until unpinned.
    Pin {
        #[arg(long)]
        camera: String,
        #[arg(long, allow_hyphen_values = true)]
        from: String,
        #[arg(long, allow_hyphen_values = true)]
        to: String,
        /// Why (shown by `recordings pins`).
        #[arg(long, default_value = "pinned by the resident")]
        reason: String,
    },
    /// List pins.
    Pins,
    /// Remove a pin by its id (from `recordings pins`).
    Unpin { id: i64 },
}

#[derive(Debug, Subcommand)]
enum ClipCommand {
    /// Write one MP4 (moov first, no re-encoding) covering an interval of one camera. It starts
    /// at the keyframe at or before `--from`.
    Export {
        #[arg(long)]
        camera: String,
        /// RFC 3339, or relative such as -10m.
        #[arg(long, allow_hyphen_values = true)]
        from: String,
        #[arg(long, allow_hyphen_values = true)]
        to: String,
        /// Where to write the clip.
        #[arg(short, long)]
        output: PathBuf,
        /// Leave the audio out.
        #[arg(long)]
        no_audio: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check the hash chain: exit 0 if intact, else name the first bad line and exit 1.
    Verify {
        /// A head kept outside the hub that the log must contain: `ENTRIES:HASH` as `audit head`
        /// prints it, or the JSON published on MQTT or sent to the relay center. Repeatable.
        #[arg(long = "head", value_name = "ENTRIES:HASH")]
        heads: Vec<String>,
        /// A file holding such a head. Repeatable.
        #[arg(long = "head-file", value_name = "PATH")]
        head_files: Vec<PathBuf>,
    },
    /// Check the chain, then print its head as `ENTRIES:HASH`, to keep a copy off the hub.
    Head,
    /// Print the log readably.
    Show {
        /// Only entries at or after this time (RFC 3339, or relative such as -1h, -2d).
        #[arg(long, allow_hyphen_values = true)]
        since: Option<String>,
    },
}

const EXIT_RUNTIME: u8 = 1;
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cli = match cli.command {
        Command::Plugin { command } => return plugin_command(command),
        Command::Discover(args) => return discover_command(args),
        Command::Evidence { command } => return evidence_command(command),
        _ => cli,
    };
    let env = Arc::new(Env::process());
    let settings = match config::load(&cli.config, &env) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    match cli.command {
        Command::CheckConfig => {
            // What the file alone cannot show but a start would meet: the data directory and
            // each enabled policy with its configuration.
            let mut problems = Vec::new();
            if let Err(e) = writable_dir(&settings.hub.data_dir) {
                problems
                    .push(format!("hub.data_dir: {} cannot be used: {e}", settings.hub.data_dir.display()));
            }
            match porchlight::policy::PolicyEngine::new(None) {
                Ok(engine) => {
                    for r in engine.reload(&settings.plugins) {
                        if let porchlight::policy::LoadReport::Rejected { plugin, reason, .. } = r {
                            problems.push(format!(
                                "plugins.enabled: {plugin} would not load, so every request would be denied: {reason}"
                            ));
                        }
                    }
                }
                Err(e) => problems.push(format!("the policy engine cannot start here: {e}")),
            }
            if settings.api.enabled
                && settings.api.listen.port() != 0
                && let Err(e) = std::net::TcpListener::bind(settings.api.listen)
            {
                eprintln!(
                    "warning: api.listen: {} cannot be bound now ({e}); is the daemon already running?",
                    settings.api.listen
                );
            }
            if !problems.is_empty() {
                for p in &problems {
                    eprintln!("{}: {p}", cli.config.display());
                }
                return ExitCode::from(EXIT_CONFIG);
            }
            let enabled = settings.cameras.iter().filter(|c| c.enabled).count();
            println!(
                "{}: OK (cameras: {}, enabled: {enabled}; API: {})",
                cli.config.display(),
                settings.cameras.len(),
                if settings.api.enabled { settings.api.listen.to_string() } else { "off".into() },
            );
            ExitCode::SUCCESS
        }
        Command::Audit { command } => audit_command(&settings, command),
        Command::Recordings { command } => recordings_command(&settings, command),
        Command::Clip { command } => clip_command(&settings, command),
        Command::Privacy { set } => privacy_command(&settings, set.as_deref()),
        Command::Mode { set } => mode_command(&settings, set.as_deref()),
        Command::Requests { command } => requests_command(&settings, command),
        Command::Share { camera, from, to, to_center, strip_audio, note } => {
            share_command(&settings, &camera, &from, &to, to_center, strip_audio, &note)
        }
        Command::Keys { command: KeysCommand::Show } => keys_command(&settings),
        Command::Plugin { .. } | Command::Discover(_) | Command::Evidence { .. } => {
            ExitCode::from(EXIT_CONFIG)
        }
        Command::Run => {
            let log = logging::init(settings.hub.log_format, &settings.hub.log_level);
            let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "Cannot start the async runtime");
                    return ExitCode::from(EXIT_RUNTIME);
                }
            };
            let result = runtime.block_on(async {
                let shutdown = CancellationToken::new();
                if let Err(e) = watch_signals(shutdown.clone()) {
                    tracing::error!(error = %e, "Cannot install signal handlers");
                    return Err(());
                }
                run::run(cli.config.clone(), settings, env, log, shutdown).await.map_err(|e| {
                    tracing::error!(error = %run::error_chain(&e), "Porchlight stopped with an error");
                })
            });
            // Tasks that ignore cancellation must not hold the process open past the deadline.
            runtime.shutdown_timeout(std::time::Duration::from_millis(100));
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(()) => ExitCode::from(EXIT_RUNTIME),
            }
        }
    }
}

#[derive(Debug, clap::Args)]
struct DiscoverArgs {
    /// How long to wait for answers after the last probe.
    #[arg(long, default_value = "3s")]
    timeout: String,
    /// Also probe this host or CIDR range by unicast (e.g. 192.168.20.0/24, cam.lan,
    /// 10.0.0.7:3702). Repeatable.
    #[arg(long)]
    probe: Vec<String>,
    /// Do not multicast (only the --probe targets).
    #[arg(long)]
    no_multicast: bool,
    /// Multicast only on the interface with this IPv4 address. Repeatable.
    #[arg(long)]
    interface: Vec<std::net::Ipv4Addr>,
    /// Camera login used to read profiles and stream URIs.
    #[arg(long)]
    user: Option<String>,
    /// File holding the camera password (first line).
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// Ask this device service directly instead of probing (http://HOST/onvif/device_service).
    #[arg(long)]
    url: Vec<url::Url>,
    /// Trust the `https://` device whose certificate has this SHA-256 (64 hex digits), as
    /// `onvif_tls_sha256` does in the config; without it, the system's CAs.
    #[arg(long)]
    tls_sha256: Option<String>,
    /// Print JSON.
    #[arg(long, conflicts_with = "toml")]
    json: bool,
    /// Print `[[camera]]` blocks to paste into the config.
    #[arg(long)]
    toml: bool,
}

fn discover_command(a: DiscoverArgs) -> ExitCode {
    use porchlight::config::OnvifTrust;
    use porchlight::onvif::{client, discovery, inspect};
    use porchlight::secret::Secret;
    let timeout = match config::units::parse_duration(&a.timeout) {
        Ok(t) if t <= std::time::Duration::from_secs(60) => t,
        Ok(_) => {
            eprintln!("--timeout: at most 60s");
            return ExitCode::from(EXIT_CONFIG);
        }
        Err(e) => {
            eprintln!("--timeout: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let password = match &a.password_file {
        Some(p) => match std::fs::read_to_string(p) {
            Ok(s) => Some(s.lines().next().unwrap_or_default().to_owned()),
            Err(e) => {
                eprintln!("--password-file {}: {e}", p.display());
                return ExitCode::from(EXIT_CONFIG);
            }
        },
        None => None,
    };
    let creds = a.user.clone().map(|username| client::Credentials {
        username,
        password: Secret::new(password.unwrap_or_default()),
    });
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    let result = runtime.block_on(async {
        let mut unicast = Vec::new();
        for p in &a.probe {
            unicast.extend(discovery::targets(p).await.map_err(|e| (EXIT_CONFIG, e.to_string()))?);
        }
        if unicast.len() > discovery::MAX_TARGETS {
            return Err((EXIT_CONFIG, format!("--probe: more than {} addresses", discovery::MAX_TARGETS)));
        }
        let mut devices = Vec::new();
        let trust = match &a.tls_sha256 {
            Some(pin) => OnvifTrust::Sha256(porchlight::digest::parse_fingerprint(pin).ok_or((
                EXIT_CONFIG,
                "--tls-sha256: must be 64 hexadecimal digits (`:` between bytes allowed)".to_owned(),
            ))?),
            None => OnvifTrust::System,
        };
        let transport: Arc<dyn client::Transport> = Arc::new(client::HttpTransport::new(trust));
        for u in &a.url {
            // A login pasted into the URL is used as the login (unless --user is given), and
            // never printed.
            let mut url = u.clone();
            let from_url = (!url.username().is_empty()).then(|| client::Credentials {
                username: url.username().to_owned(),
                password: Secret::new(url.password().unwrap_or_default()),
            });
            let _ = url.set_username("");
            let _ = url.set_password(None);
            let login = creds.clone().or(from_url);
            devices.push(inspect::inspect_url(url, login, Arc::clone(&transport)).await);
        }
        if a.url.is_empty() || !a.probe.is_empty() {
            let opts = discovery::ProbeOptions {
                timeout,
                multicast: !a.no_multicast,
                interfaces: a.interface.clone(),
                unicast,
                ..discovery::ProbeOptions::default()
            };
            let found = discovery::probe(&opts).await.map_err(|e| (EXIT_RUNTIME, e.to_string()))?;
            devices.extend(inspect::inspect_all(&found, creds.clone(), Arc::clone(&transport)).await);
        }
        Ok(devices)
    });
    let devices = match result {
        Ok(d) => d,
        Err((code, e)) => {
            eprintln!("discover: {e}");
            return ExitCode::from(code);
        }
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&devices).unwrap_or_default());
    } else if a.toml {
        print!("{}", inspect::toml_blocks(&devices, a.user.as_deref(), a.tls_sha256.as_deref()));
    } else if devices.is_empty() {
        println!(
            "No ONVIF devices answered. Cameras on another subnet or VLAN: try --probe 192.168.20.0/24."
        );
    } else {
        print!("{}", inspect::table(&devices));
    }
    ExitCode::SUCCESS
}

fn plugin_command(command: PluginCommand) -> ExitCode {
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

/// Opens the daemon's recording index for the CLI (without repairing anything: a running
/// daemon owns that).
fn open_index(settings: &config::Settings) -> Result<porchlight::recording::index::Index, String> {
    let path = porchlight::recording::index_path(settings);
    if !path.exists() {
        return Err(format!("no recordings yet: {} does not exist", path.display()));
    }
    porchlight::recording::index::Index::open_existing(&path).map_err(|e| e.to_string())
}

fn time_arg(name: &str, value: Option<&str>, default: jiff::Timestamp) -> Result<i64, String> {
    match value {
        None => Ok(default.as_millisecond()),
        Some(v) => config::units::parse_time(v, jiff::Timestamp::now())
            .map(|t| t.as_millisecond())
            .map_err(|e| format!("--{name}: {e}")),
    }
}

fn recordings_command(settings: &config::Settings, command: RecordingsCommand) -> ExitCode {
    use porchlight::recording::fmt_ms;
    let (camera, from, to, json) = match command {
        RecordingsCommand::List { camera, from, to, json } => (camera, from, to, json),
        RecordingsCommand::Pin { camera, from, to, reason } => {
            return pin_command(settings, &camera, &from, &to, &reason);
        }
        RecordingsCommand::Pins => {
            return match open_index(settings).and_then(|i| i.pins().map_err(|e| e.to_string())) {
                Ok(pins) => {
                    for p in pins {
                        println!(
                            "{:>5} {:<12} {} {} {}",
                            p.id,
                            p.camera,
                            fmt_ms(p.start_ms),
                            fmt_ms(p.end_ms),
                            p.reason
                        );
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::from(EXIT_RUNTIME)
                }
            };
        }
        RecordingsCommand::Unpin { id } => {
            return match open_index(settings).and_then(|i| i.unpin(id).map_err(|e| e.to_string())) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => {
                    eprintln!("no pin with id {id}");
                    ExitCode::from(EXIT_RUNTIME)
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::from(EXIT_RUNTIME)
                }
            };
        }
    };
    let range = time_arg("from", from.as_deref(), jiff::Timestamp::UNIX_EPOCH)
        .and_then(|f| time_arg("to", to.as_deref(), jiff::Timestamp::now()).map(|t| (f, t)));
    let (from, to) = match range {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let listed = open_index(settings).and_then(|index| {
        let segments = index.segments(camera.as_deref(), from, to).map_err(|e| e.to_string())?;
        let gaps = index.gaps(camera.as_deref(), from, to).map_err(|e| e.to_string())?;
        Ok((segments, gaps))
    });
    let (segments, gaps) = match listed {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    if json {
        println!("{}", porchlight::recording::listing_json(&segments, &gaps));
        return ExitCode::SUCCESS;
    }
    println!(
        "{:<12} {:<24} {:<24} {:>10}  {:<20} {:<9} FILE",
        "CAMERA", "START", "END", "BYTES", "CODEC", "STATE"
    );
    for s in &segments {
        println!(
            "{:<12} {:<24} {:<24} {:>10}  {:<20} {:<9} {}",
            s.camera,
            fmt_ms(s.start_ms),
            fmt_ms(s.end_ms),
            s.bytes,
            format!("{} {}x{}", s.codec, s.width, s.height),
            s.state,
            s.path.display()
        );
    }
    for g in &gaps {
        println!("{:<12} {:<24} {:<24} gap: {}", g.camera, fmt_ms(g.start_ms), fmt_ms(g.end_ms), g.reason);
    }
    ExitCode::SUCCESS
}

fn pin_command(settings: &config::Settings, camera: &str, from: &str, to: &str, reason: &str) -> ExitCode {
    let now = jiff::Timestamp::now();
    let range = time_arg("from", Some(from), now).and_then(|f| time_arg("to", Some(to), now).map(|t| (f, t)));
    let (from_ms, to_ms) = match range {
        Ok((f, t)) if f < t => (f, t),
        Ok(_) => {
            eprintln!("--from must be before --to");
            return ExitCode::from(EXIT_CONFIG);
        }
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let index = match open_index(settings) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    // A typo must not pin nothing while seeming to work.
    if settings.camera(camera).is_none() && !index.knows_camera(camera).unwrap_or(false) {
        eprintln!("no camera named {camera:?} in the config or the recordings");
        return ExitCode::from(EXIT_CONFIG);
    }
    match index.pin(camera, from_ms, to_ms, reason, now.as_millisecond()).map_err(|e| e.to_string()) {
        Ok(id) => {
            println!(
                "pin {id}: {camera} {} to {}",
                porchlight::recording::fmt_ms(from_ms),
                porchlight::recording::fmt_ms(to_ms)
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

fn clip_command(settings: &config::Settings, command: ClipCommand) -> ExitCode {
    use porchlight::recording::{export, fmt_ms};
    let ClipCommand::Export { camera, from, to, output, no_audio } = command;
    let now = jiff::Timestamp::now();
    let range =
        time_arg("from", Some(&from), now).and_then(|f| time_arg("to", Some(&to), now).map(|t| (f, t)));
    let (from_ms, to_ms) = match range {
        Ok((f, t)) if f < t => (f, t),
        Ok((f, t)) => {
            eprintln!("--from ({}) must be before --to ({})", fmt_ms(f), fmt_ms(t));
            return ExitCode::from(EXIT_CONFIG);
        }
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let known = settings.camera(&camera).is_some();
    let req = export::ClipRequest { camera, from_ms, to_ms, audio: !no_audio, strict: false };
    match open_index(settings)
        .and_then(|index| export::export(&index, &req, &output).map_err(|e| e.to_string()))
    {
        Ok(info) => {
            println!(
                "{}: {} to {} ({} bytes, {} video and {} audio samples from {} segment(s))",
                output.display(),
                fmt_ms(info.start_ms),
                fmt_ms(info.end_ms),
                info.bytes,
                info.video_samples,
                info.audio_samples,
                info.segments.len()
            );
            ExitCode::SUCCESS
        }
        // A camera removed from the config can still have recordings; one that never existed
        // is most likely a typo.
        Err(e) if !known => {
            let names: Vec<&str> = settings.cameras.iter().map(|c| c.name.as_str()).collect();
            eprintln!(
                "clip export: there is no camera {:?} (the config has: {}), and {e}",
                req.camera,
                if names.is_empty() { "none".to_owned() } else { names.join(", ") }
            );
            ExitCode::from(EXIT_CONFIG)
        }
        Err(e) => {
            eprintln!("clip export: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

fn keys_command(settings: &config::Settings) -> ExitCode {
    match porchlight::keys::HubKey::load(&settings.hub.data_dir.join("keys")) {
        Ok(key) => {
            println!("public key:  {}", key.public_base64());
            println!("fingerprint: {}", key.fingerprint());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("keys show: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

fn evidence_command(command: EvidenceCommand) -> ExitCode {
    let EvidenceCommand::Verify { manifest, file, public_key } = command;
    let text = match std::fs::read(&manifest) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("evidence verify: cannot read {}: {e}", manifest.display());
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    match porchlight::evidence::verify(&text, &file, public_key.as_deref()) {
        Ok(v) => {
            let m = &v.manifest;
            println!(
                "OK: {} is what the manifest describes, signed by key {}",
                file.display(),
                v.fingerprint
            );
            println!(
                "  hub {}, request {}, camera {}, {} .. {}",
                m.hub_id, m.request_id, m.camera, m.from, m.to
            );
            println!("  {} bytes, SHA-256 {}", m.bytes, m.sha256);
            for p in &m.plugins {
                println!("  policy {} ({}): {}", p.plugin, p.sha256, p.decision);
            }
            if public_key.is_none() {
                println!(
                    "  (no --public-key given: compare the fingerprint with `porchlight keys show` on the hub)"
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("NOT VERIFIED: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

/// Prints an API error and returns the exit code for it.
fn api_failed(what: &str, status: u16, body: &serde_json::Value) -> ExitCode {
    let msg = body["error"].as_str().map_or_else(|| body.to_string(), str::to_owned);
    eprintln!("{what}: {msg} (HTTP {status})");
    ExitCode::from(EXIT_RUNTIME)
}

fn privacy_command(settings: &config::Settings, set: Option<&str>) -> ExitCode {
    use porchlight::api_client::call;
    let result = match set {
        None => call(settings, "GET", "/api/privacy", None),
        Some(v) => call(settings, "PUT", "/api/privacy", Some(&serde_json::json!({ "on": v == "on" }))),
    };
    match result {
        Ok((200, state)) => {
            let on = state["on"].as_bool().unwrap_or(true);
            let mut line = format!("privacy mode: {}", if on { "ON (nothing is shared)" } else { "off" });
            if state["forced"].as_bool() == Some(true) {
                line.push_str(" [forced by hub.privacy in the config]");
            }
            if let (Some(by), Some(at)) = (state["changed_by"].as_str(), state["changed_at"].as_str()) {
                line.push_str(&format!("; switched by {by} at {at}"));
            }
            println!("{line}");
            ExitCode::SUCCESS
        }
        Ok((status, body)) => api_failed("privacy", status, &body),
        Err(e) => {
            eprintln!("privacy: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

fn mode_command(settings: &config::Settings, set: Option<&str>) -> ExitCode {
    use porchlight::api_client::call;
    let result = match set {
        None => call(settings, "GET", "/api/mode", None),
        Some(m) => call(settings, "PUT", "/api/mode", Some(&serde_json::json!({ "mode": m }))),
    };
    match result {
        Ok((200, state)) => {
            let mut line = format!("hub mode: {}", state["mode"].as_str().unwrap_or("?"));
            if let (Some(by), Some(at)) = (state["changed_by"].as_str(), state["changed_at"].as_str()) {
                line.push_str(&format!("; switched by {by} at {at}"));
            }
            println!("{line}");
            ExitCode::SUCCESS
        }
        Ok((status, body)) => api_failed("mode", status, &body),
        Err(e) => {
            eprintln!("mode: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

fn requests_command(settings: &config::Settings, command: RequestsCommand) -> ExitCode {
    use porchlight::api_client::call;
    use serde_json::json;
    let (what, result) = match command {
        RequestsCommand::List { json } => {
            let r = call(settings, "GET", "/api/requests", None);
            if let Ok((200, body)) = &r {
                if json {
                    println!("{}", serde_json::to_string_pretty(body).unwrap_or_default());
                } else {
                    print_requests(body);
                }
                return ExitCode::SUCCESS;
            }
            ("requests list", r)
        }
        RequestsCommand::Approve { id, cameras, from, to, live_max_seconds, strip_audio } => {
            let mut body = json!({ "strip_audio": strip_audio });
            if !cameras.is_empty() {
                body["cameras"] = json!(cameras);
            }
            for (k, v) in [("from", from), ("to", to)] {
                if let Some(v) = v {
                    body[k] = json!(v);
                }
            }
            if let Some(s) = live_max_seconds {
                body["live_max_seconds"] = json!(s);
            }
            ("requests approve", call(settings, "POST", &format!("/api/requests/{id}/approve"), Some(&body)))
        }
        RequestsCommand::Deny { id, reason } => {
            let body = json!({ "reason": reason });
            ("requests deny", call(settings, "POST", &format!("/api/requests/{id}/deny"), Some(&body)))
        }
        RequestsCommand::Revoke { id } => {
            ("requests revoke", call(settings, "POST", &format!("/api/requests/{id}/revoke"), None))
        }
    };
    match result {
        Ok((200, decision)) => {
            println!("{}", serde_json::to_string_pretty(&decision).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Ok((status, body)) => api_failed(what, status, &body),
        Err(e) => {
            eprintln!("{what}: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

fn share_command(
    settings: &config::Settings,
    camera: &str,
    from: &str,
    to: &str,
    to_center: bool,
    strip_audio: bool,
    note: &str,
) -> ExitCode {
    // One `now` for both, so `--from -1d --to now` is exactly a day.
    let now = jiff::Timestamp::now();
    let (from, to) = match (config::units::parse_time(from, now), config::units::parse_time(to, now)) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("share: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let body = serde_json::json!({
        "camera": camera, "from": from, "to": to, "to_center": to_center, "strip_audio": strip_audio, "note": note,
    });
    // Cutting a long clip takes a while; the daemon answers when the files are made.
    let timeout = std::time::Duration::from_secs(600);
    match porchlight::api_client::call_within(settings, "POST", "/api/shares", Some(&body), timeout) {
        Ok((200, v)) => {
            println!(
                "Shared {camera} from {} to {} (request {})",
                v["from"].as_str().unwrap_or("?"),
                v["to"].as_str().unwrap_or("?"),
                v["request_id"].as_str().unwrap_or("?")
            );
            println!("  clip:     {}", v["file"].as_str().unwrap_or("?"));
            println!("  manifest: {}", v["manifest"].as_str().unwrap_or("?"));
            println!("  sha256:   {}", v["sha256"].as_str().unwrap_or("?"));
            ExitCode::SUCCESS
        }
        Ok((202, v)) => {
            println!(
                "Sending {camera} to the center (request {}); `porchlight requests list` shows it while it is sent, the audit log when it has left",
                v["request_id"].as_str().unwrap_or("?")
            );
            ExitCode::SUCCESS
        }
        Ok((status, body)) => api_failed("share", status, &body),
        Err(e) => {
            eprintln!("share: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

fn print_requests(body: &serde_json::Value) {
    for s in body["sharing"].as_array().map(Vec::as_slice).unwrap_or_default() {
        println!(
            "SHARING {}  ({} of {}, since {}{})",
            s["id"].as_str().unwrap_or("?"),
            s["kind"].as_str().unwrap_or("?"),
            s["cameras"]
                .as_array()
                .map(|c| c.iter().filter_map(|c| c.as_str()).collect::<Vec<_>>().join(", "))
                .unwrap_or_default(),
            s["started"].as_str().unwrap_or("?"),
            s["until"].as_str().map(|u| format!(", until {u}")).unwrap_or_default(),
        );
    }
    let pending = body["pending"].as_array().map(Vec::as_slice).unwrap_or_default();
    if pending.is_empty() {
        println!("No request is waiting for you.");
    }
    for p in pending {
        println!(
            "WAITING {}  (from {}, until {})",
            p["id"].as_str().unwrap_or("?"),
            p["source"].as_str().unwrap_or("?"),
            p["expires"].as_str().unwrap_or("?")
        );
        for line in p["prompt"].as_str().unwrap_or("").lines() {
            println!("    {line}");
        }
    }
    let recent = body["recent"].as_array().map(Vec::as_slice).unwrap_or_default();
    if !recent.is_empty() {
        println!();
        println!("Recently decided (newest first):");
    }
    for r in recent.iter().take(20) {
        let d = &r["decision"];
        let detail = d["reason"].as_str().map(str::to_owned).unwrap_or_else(|| {
            d["grant"]["cameras"]
                .as_array()
                .map(|c| {
                    format!("cameras {}", c.iter().filter_map(|c| c.as_str()).collect::<Vec<_>>().join(", "))
                })
                .unwrap_or_default()
        });
        println!(
            "{}  {:<5}  by {}  {}  {}",
            r["at"].as_str().unwrap_or("?"),
            d["decision"].as_str().unwrap_or("?"),
            r["decided_by"].as_str().unwrap_or("?"),
            r["id"].as_str().unwrap_or("?"),
            detail
        );
    }
}

fn audit_command(settings: &config::Settings, command: AuditCommand) -> ExitCode {
    use porchlight::audit::{self, Verdict};
    let dir = settings.hub.data_dir.join("audit");
    let log = dir.join(audit::LOG_FILE);
    let broken = |line: usize, message: &str| {
        if line == 0 {
            println!("{}: {message}", log.display());
        } else {
            println!("{}:{line}: {message}", log.display());
        }
        ExitCode::from(EXIT_RUNTIME)
    };
    match command {
        AuditCommand::Verify { heads, head_files } => {
            let mut anchors = Vec::new();
            for text in heads {
                match text.parse::<audit::Anchor>() {
                    Ok(a) => anchors.push(a),
                    Err(e) => {
                        eprintln!("--head: {e}");
                        return ExitCode::from(EXIT_CONFIG);
                    }
                }
            }
            for path in head_files {
                let parsed = std::fs::read_to_string(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|t| t.parse::<audit::Anchor>().map_err(|e| e.to_string()));
                match parsed {
                    Ok(a) => anchors.push(a),
                    Err(e) => {
                        eprintln!("--head-file {}: {e}", path.display());
                        return ExitCode::from(EXIT_CONFIG);
                    }
                }
            }
            match audit::verify(&dir, &anchors) {
                Ok(Verdict::Intact { entries, head }) => {
                    let head =
                        head.map_or_else(|| "empty".to_owned(), |h| format!("head {} {}", h.seq, h.hash));
                    let agrees: Vec<String> =
                        anchors.iter().map(|a| format!("; contains the audit head {a}")).collect();
                    println!("{}: intact ({entries} entries, {head}{})", log.display(), agrees.concat());
                    ExitCode::SUCCESS
                }
                Ok(Verdict::Broken { line, message }) => broken(line, &message),
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::from(EXIT_RUNTIME)
                }
            }
        }
        AuditCommand::Head => match audit::verify(&dir, &[]) {
            Ok(Verdict::Intact { head, .. }) => {
                println!("{}", audit::Anchor::of(head.as_ref()));
                ExitCode::SUCCESS
            }
            Ok(Verdict::Broken { line, message }) => broken(line, &message),
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(EXIT_RUNTIME)
            }
        },
        AuditCommand::Show { since } => {
            let since = match since.map(|s| config::units::parse_time(&s, jiff::Timestamp::now())).transpose()
            {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("--since: {e}");
                    return ExitCode::from(EXIT_CONFIG);
                }
            };
            let records = match audit::read(&dir) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(EXIT_RUNTIME);
                }
            };
            for r in records {
                if let (Some(since), Some(time)) = (since, r.time)
                    && time < since
                {
                    continue;
                }
                println!("{}", audit::render(&r));
            }
            ExitCode::SUCCESS
        }
    }
}

/// SIGTERM or SIGINT starts a graceful shutdown (cancels `shutdown`); one that arrives while a
/// shutdown is already under way, for whatever reason, exits the process at once.
fn watch_signals(shutdown: CancellationToken) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        loop {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            if shutdown.is_cancelled() {
                tracing::error!(signal = name, "Second signal; exiting now without a clean shutdown");
                std::process::exit(i32::from(EXIT_RUNTIME));
            }
            tracing::info!(signal = name, "Signal received; shutting down (send it again to exit at once)");
            shutdown.cancel();
        }
    });
    Ok(())
}

/// Whether the daemon could create `dir` and write in it, without creating anything: the
/// directory, or the nearest parent that exists, must be a directory this user may write to.
fn writable_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let existing = dir.ancestors().find(|p| p.exists()).unwrap_or(std::path::Path::new("/"));
    if !existing.is_dir() {
        return Err(std::io::Error::other(format!("{} is not a directory", existing.display())));
    }
    rustix::fs::access(existing, rustix::fs::Access::WRITE_OK | rustix::fs::Access::EXEC_OK).map_err(|e| {
        std::io::Error::other(format!("{} is not writable by this user: {e}", existing.display()))
    })
}

//! The `porchlight` command: `run` the daemon, `check-config`, and the tools beside it
//! (`recordings`, `clip`, `audit`, `privacy`, `requests`, `plugin`, `discover`). Reference:
//! `docs/ref/cli.md`. One module per command family; this file parses the command line, loads
//! the config and runs the daemon.
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

mod audit;
mod check;
mod control;
mod discover;
mod keys;
mod plugin;
mod recordings;

use audit::{AuditCommand, audit_command};
use control::{RequestsCommand, mode_command, privacy_command, requests_command, share_command};
use discover::{DiscoverArgs, discover_command};
use keys::{EvidenceCommand, KeysCommand, evidence_command, keys_command};
use plugin::{PluginCommand, plugin_command};
use recordings::{ClipCommand, RecordingsCommand, clip_command, recordings_command};

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
    /// Check and try out policy plugins (for plugin authors; `check` and `test` need no hub
    /// config), and replay a candidate over the hub's past requests (`replay`).
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
}

const EXIT_RUNTIME: u8 = 1;
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    // Whether `--config`/`PORCHLIGHT_CONFIG` named the file (`plugin list` works without one).
    let config_given = matches.value_source("config") != Some(clap::parser::ValueSource::DefaultValue);
    let cli = match cli.command {
        Command::Plugin { command: PluginCommand::List } => {
            return plugin::list_command(&cli.config, config_given);
        }
        Command::Plugin { command } => return plugin_command(command, &cli.config),
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
        Command::CheckConfig => check::check_config(&cli.config, &settings),
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

//! The `porchlight` command: `run` the daemon, or `check-config`.
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
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check the hash chain: exit 0 if intact, else name the first bad line and exit 1.
    Verify,
    /// Print the log readably.
    Show {
        /// Only entries at or after this time (RFC 3339, or relative such as -1h, -2d).
        #[arg(long)]
        since: Option<String>,
    },
}

const EXIT_RUNTIME: u8 = 1;
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
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

fn audit_command(settings: &config::Settings, command: AuditCommand) -> ExitCode {
    use porchlight::audit::{self, Verdict};
    let dir = settings.hub.data_dir.join("audit");
    match command {
        AuditCommand::Verify => match audit::verify(&dir) {
            Ok(Verdict::Intact { entries, head }) => {
                let head = head.map_or_else(|| "empty".to_owned(), |h| format!("head {} {}", h.seq, h.hash));
                println!("{}: intact ({entries} entries, {head})", dir.join(audit::LOG_FILE).display());
                ExitCode::SUCCESS
            }
            Ok(Verdict::Broken { line, message }) => {
                println!("{}:{line}: {message}", dir.join(audit::LOG_FILE).display());
                ExitCode::from(EXIT_RUNTIME)
            }
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
            let entries = match audit::entries(&dir) {
                Ok(e) => e,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(EXIT_RUNTIME);
                }
            };
            for e in entries {
                let time = e["time"].as_str().unwrap_or("");
                if let Some(since) = since
                    && time.parse::<jiff::Timestamp>().is_ok_and(|t| t < since)
                {
                    continue;
                }
                println!("{}", audit::render(&e));
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

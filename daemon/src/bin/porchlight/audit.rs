//! `porchlight audit verify|head|show`: the audit log read and checked.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use porchlight::config;

use crate::{EXIT_CONFIG, EXIT_RUNTIME};

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
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

pub(crate) fn audit_command(settings: &config::Settings, command: AuditCommand) -> ExitCode {
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

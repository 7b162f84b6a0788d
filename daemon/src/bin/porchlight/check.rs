//! `porchlight check-config`: the config file, and what a start would meet that the file alone
//! cannot show (the data directory, each enabled policy, the API's address).

use std::path::Path;
use std::process::ExitCode;

use porchlight::config::Settings;

use crate::EXIT_CONFIG;

pub(crate) fn check_config(config: &Path, settings: &Settings) -> ExitCode {
    // What the file alone cannot show but a start would meet: the data directory and
    // each enabled policy with its configuration.
    let mut problems = Vec::new();
    if let Err(e) = writable_dir(&settings.hub.data_dir) {
        problems.push(format!("hub.data_dir: {} cannot be used: {e}", settings.hub.data_dir.display()));
    }
    // Which component each enabled policy would run: bundled with the daemon, or a file.
    let mut running = Vec::new();
    match porchlight::policy::PolicyEngine::new(None) {
        Ok(engine) => {
            for r in engine.reload(&settings.plugins) {
                match r {
                    porchlight::policy::LoadReport::Rejected { plugin, reason, .. } => problems.push(format!(
                        "plugins.enabled: {plugin} would not load, so every request would be denied: {reason}"
                    )),
                    porchlight::policy::LoadReport::Loaded { plugin, sha256, source } => {
                        let what = match source {
                            porchlight::config::PolicySource::Bundled => "the policy bundled with the daemon".to_owned(),
                            porchlight::config::PolicySource::File => settings
                                .plugins
                                .enabled
                                .iter()
                                .find(|p| p.name == plugin)
                                .map(|p| format!("the file {}", p.file.display()))
                                .unwrap_or_else(|| "a file".into()),
                        };
                        running.push(format!("policy {plugin}: runs {what} (sha256 {sha256})"));
                    }
                    porchlight::policy::LoadReport::Unchanged { .. } => {}
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
            eprintln!("{}: {p}", config.display());
        }
        return ExitCode::from(EXIT_CONFIG);
    }
    let enabled = settings.cameras.iter().filter(|c| c.enabled).count();
    println!(
        "{}: OK (cameras: {}, enabled: {enabled}; API: {})",
        config.display(),
        settings.cameras.len(),
        if settings.api.enabled { settings.api.listen.to_string() } else { "off".into() },
    );
    for line in &running {
        println!("  {line}");
    }
    if settings.plugins.enabled.is_empty() {
        println!("  no policy enabled: every request to share footage is denied");
    }
    ExitCode::SUCCESS
}

/// Whether the daemon could create `dir` and write in it, without creating anything: the
/// directory, or the nearest parent that exists, must be a directory this user may write to.
pub(crate) fn writable_dir(dir: &Path) -> std::io::Result<()> {
    let existing = dir.ancestors().find(|p| p.exists()).unwrap_or(Path::new("/"));
    if !existing.is_dir() {
        return Err(std::io::Error::other(format!("{} is not a directory", existing.display())));
    }
    rustix::fs::access(existing, rustix::fs::Access::WRITE_OK | rustix::fs::Access::EXEC_OK).map_err(|e| {
        std::io::Error::other(format!("{} is not writable by this user: {e}", existing.display()))
    })
}

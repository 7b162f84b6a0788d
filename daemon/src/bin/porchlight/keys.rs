//! `porchlight keys show` and `porchlight evidence verify`: the hub's signing key and the check of what it signed.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use porchlight::config;

use crate::EXIT_RUNTIME;

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Print the public key (base64) and its fingerprint.
    Show,
}

#[derive(Debug, Subcommand)]
pub(crate) enum EvidenceCommand {
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

pub(crate) fn keys_command(settings: &config::Settings) -> ExitCode {
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

pub(crate) fn evidence_command(command: EvidenceCommand) -> ExitCode {
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

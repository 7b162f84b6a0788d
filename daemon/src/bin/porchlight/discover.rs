//! `porchlight discover`: ONVIF cameras found on the network and described, for the config.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use porchlight::config;

use crate::{EXIT_CONFIG, EXIT_RUNTIME};

#[derive(Debug, clap::Args)]
pub(crate) struct DiscoverArgs {
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

pub(crate) fn discover_command(a: DiscoverArgs) -> ExitCode {
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

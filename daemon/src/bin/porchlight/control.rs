//! The resident's controls through the running daemon's API: `privacy`, `mode`, `requests` and `share`.

use std::process::ExitCode;

use clap::Subcommand;
use porchlight::config;

use crate::{EXIT_CONFIG, EXIT_RUNTIME};

#[derive(Debug, Subcommand)]
pub(crate) enum RequestsCommand {
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

/// Prints an API error and returns the exit code for it.
pub(crate) fn api_failed(what: &str, status: u16, body: &serde_json::Value) -> ExitCode {
    let msg = body["error"].as_str().map_or_else(|| body.to_string(), str::to_owned);
    eprintln!("{what}: {msg} (HTTP {status})");
    ExitCode::from(EXIT_RUNTIME)
}

pub(crate) fn privacy_command(settings: &config::Settings, set: Option<&str>) -> ExitCode {
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

pub(crate) fn mode_command(settings: &config::Settings, set: Option<&str>) -> ExitCode {
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

pub(crate) fn requests_command(settings: &config::Settings, command: RequestsCommand) -> ExitCode {
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

pub(crate) fn share_command(
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

pub(crate) fn print_requests(body: &serde_json::Value) {
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

//! `porchlight recordings` and `porchlight clip`: the recording index read directly (never repaired).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use porchlight::config;

use porchlight::recording::index::{Index, IndexError};

use crate::{EXIT_CONFIG, EXIT_RUNTIME};

#[derive(Debug, Subcommand)]
pub(crate) enum RecordingsCommand {
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
        /// Why (shown by `recordings pins`; at most 512 characters). Default: "pinned by the resident".
        #[arg(long)]
        reason: Option<String>,
    },
    /// List pins.
    Pins,
    /// Remove a pin by its id (from `recordings pins`).
    Unpin { id: i64 },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ClipCommand {
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

/// Opens the daemon's recording index for the CLI (without repairing anything: a running
/// daemon owns that).
pub(crate) fn open_index(settings: &config::Settings) -> Result<Index, ReadError> {
    let path = porchlight::recording::index_path(settings);
    if !path.exists() {
        return Err(ReadError::NoRecordings(path));
    }
    Ok(Index::open_existing(&path)?)
}

/// Why the recordings cannot be read, or a clip cut from them.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    #[error("no recordings yet: {} does not exist", .0.display())]
    NoRecordings(PathBuf),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Export(#[from] porchlight::recording::export::ExportError),
}

/// A time argument that does not read as a time.
#[derive(Debug, thiserror::Error)]
#[error("--{name}: {reason}")]
pub(crate) struct TimeArgError {
    name: &'static str,
    reason: config::units::TimeError,
}

pub(crate) fn time_arg(
    name: &'static str,
    value: Option<&str>,
    default: jiff::Timestamp,
) -> Result<i64, TimeArgError> {
    match value {
        None => Ok(default.as_millisecond()),
        Some(v) => config::units::parse_time(v, jiff::Timestamp::now())
            .map(|t| t.as_millisecond())
            .map_err(|reason| TimeArgError { name, reason }),
    }
}

pub(crate) fn recordings_command(settings: &config::Settings, command: RecordingsCommand) -> ExitCode {
    use porchlight::recording::fmt_ms;
    let (camera, from, to, json) = match command {
        RecordingsCommand::List { camera, from, to, json } => (camera, from, to, json),
        RecordingsCommand::Pin { camera, from, to, reason } => {
            return pin_command(settings, &camera, &from, &to, reason.as_deref());
        }
        RecordingsCommand::Pins => {
            return match open_index(settings).and_then(|i| Ok(i.pins()?)) {
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
            return match open_index(settings).and_then(|i| Ok(i.unpin(id)?)) {
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
        let segments = index.segments(camera.as_deref(), from, to)?;
        let gaps = index.gaps(camera.as_deref(), from, to)?;
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

pub(crate) fn pin_command(
    settings: &config::Settings,
    camera: &str,
    from: &str,
    to: &str,
    reason: Option<&str>,
) -> ExitCode {
    use porchlight::recording::index::PinError;
    let now = jiff::Timestamp::now();
    let range = time_arg("from", Some(from), now).and_then(|f| time_arg("to", Some(to), now).map(|t| (f, t)));
    let (from_ms, to_ms) = match range {
        Ok(r) => r,
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
    let configured = settings.camera(camera).is_some();
    match index.pin_checked(configured, camera, from_ms, to_ms, reason, now.as_millisecond()) {
        Ok(pin) => {
            println!(
                "pin {}: {camera} {} to {}",
                pin.id,
                porchlight::recording::fmt_ms(pin.start_ms),
                porchlight::recording::fmt_ms(pin.end_ms)
            );
            ExitCode::SUCCESS
        }
        Err(e @ (PinError::Order { .. } | PinError::UnknownCamera(_) | PinError::ReasonTooLong(_))) => {
            eprintln!("{e}");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(e @ PinError::Index(_)) => {
            eprintln!("{e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

pub(crate) fn clip_command(settings: &config::Settings, command: ClipCommand) -> ExitCode {
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
    match open_index(settings).and_then(|index| Ok(export::export(&index, &req, &output)?)) {
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

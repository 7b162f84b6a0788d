//! Log set-up: `human` (colours on a terminal), `json` (one object per line), or `journald`
//! (plain lines with a `<N>` syslog priority prefix that journald turns into the entry's priority;
//! no timestamps, journald adds them). The filter comes from `PORCHLIGHT_LOG` if set, else from
//! `hub.log_level`, and follows config reloads.

use std::fmt;
use std::io::IsTerminal;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormattedFields};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Registry, reload};

use crate::config::LogFormat;

/// Environment variable that overrides `hub.log_level`.
pub const ENV_FILTER: &str = "PORCHLIGHT_LOG";

/// Changes the log filter after start-up (config reload).
#[derive(Debug, Clone)]
pub struct LogHandle {
    handle: Option<reload::Handle<EnvFilter, Registry>>,
    from_env: bool,
}

impl LogHandle {
    /// Applies a new `hub.log_level`, unless `PORCHLIGHT_LOG` pins the filter.
    pub fn set_level(&self, level: &str) {
        if self.from_env {
            return;
        }
        if let (Some(h), Ok(f)) = (&self.handle, EnvFilter::builder().parse(level)) {
            let _ = h.reload(f);
        }
    }
}

/// Which format `auto` means here: journald when stderr is connected to the journal.
pub fn resolve(format: LogFormat) -> LogFormat {
    match format {
        LogFormat::Auto if std::env::var_os("JOURNAL_STREAM").is_some() => LogFormat::Journald,
        LogFormat::Auto => LogFormat::Human,
        f => f,
    }
}

/// Installs the global subscriber. Call once, before anything logs.
pub fn init(format: LogFormat, level: &str) -> LogHandle {
    let env = std::env::var(ENV_FILTER).ok().filter(|s| !s.trim().is_empty());
    let from_env = env.is_some();
    let filter = env
        .as_deref()
        .and_then(|s| EnvFilter::builder().parse(s).ok())
        .or_else(|| EnvFilter::builder().parse(level).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    let fmt_layer = match resolve(format) {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Journald => tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .event_format(Journald)
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Human | LogFormat::Auto => tracing_subscriber::fmt::layer()
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .boxed(),
    };
    let ok = tracing_subscriber::registry().with(filter).with(fmt_layer).try_init().is_ok();
    LogHandle { handle: ok.then_some(handle), from_env }
}

/// `<3>porchlight::run: camera=front: Camera offline reason="timeout"`.
struct Journald;

impl<S, N> FormatEvent<S, N> for Journald
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut w: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let meta = event.metadata();
        let prio = match *meta.level() {
            Level::ERROR => 3,
            Level::WARN => 4,
            Level::INFO => 6,
            Level::DEBUG | Level::TRACE => 7,
        };
        write!(w, "<{prio}>{}: ", meta.target())?;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                write!(w, "{}", span.name())?;
                let ext = span.extensions();
                if let Some(fields) = ext.get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    write!(w, "{{{fields}}}")?;
                }
                w.write_str(": ")?;
            }
        }
        ctx.format_fields(w.by_ref(), event)?;
        writeln!(w)
    }
}

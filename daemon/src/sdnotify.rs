//! systemd's notify protocol (`READY=1`, `WATCHDOG=1`, `STOPPING=1`, `STATUS=…`) over the
//! datagram socket named in `NOTIFY_SOCKET`. Without that variable every call is a no-op.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
enum Addr {
    Path(PathBuf),
    Abstract(Vec<u8>),
}

/// A handle to the service manager's notify socket (if any).
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    addr: Option<Addr>,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET` (a path, or `@name` for an abstract socket).
    pub fn from_env() -> Self {
        let addr = std::env::var_os("NOTIFY_SOCKET").and_then(|s| {
            let s = s.into_string().ok()?;
            if let Some(name) = s.strip_prefix('@') {
                Some(Addr::Abstract(name.as_bytes().to_vec()))
            } else if s.starts_with('/') {
                Some(Addr::Path(PathBuf::from(s)))
            } else {
                None
            }
        });
        Self { addr }
    }

    pub fn enabled(&self) -> bool {
        self.addr.is_some()
    }

    /// Sends one notification; failures are logged, never fatal.
    pub fn notify(&self, state: &str) {
        let Some(addr) = &self.addr else { return };
        let result = UnixDatagram::unbound().and_then(|sock| match addr {
            Addr::Path(p) => sock.send_to(state.as_bytes(), p),
            Addr::Abstract(name) => {
                use std::os::linux::net::SocketAddrExt;
                let a = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                sock.send_to_addr(state.as_bytes(), &a)
            }
        });
        if let Err(e) = result {
            tracing::warn!(error = %e, state, "Could not notify systemd");
        }
    }

    /// How often to ping the watchdog: half of `WATCHDOG_USEC`, if it is meant for this process.
    pub fn watchdog_interval() -> Option<Duration> {
        let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
        if let Some(pid) = std::env::var("WATCHDOG_PID").ok().and_then(|p| p.parse::<u32>().ok())
            && pid != std::process::id()
        {
            return None;
        }
        (usec > 0).then(|| Duration::from_micros(usec / 2))
    }
}

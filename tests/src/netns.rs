//! Two network namespaces joined by a veth pair, made by the test itself (`ip netns add`), so
//! multicast can be tested without a packet reaching the machine's real interfaces. Needs root
//! (CI runs as root); otherwise the test skips, unless [`peers_required`].

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::peers_required;

/// A `hub` and a `cam` namespace, linked: hub 10.77.0.1/24, cam 10.77.0.2/24, multicast routed
/// over the link in both. Deleted on drop (the veth pair goes with them).
#[derive(Debug)]
pub struct NetPair {
    pub hub: String,
    pub cam: String,
}

pub const HUB_IP: &str = "10.77.0.1";
pub const CAM_IP: &str = "10.77.0.2";

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).stdin(Stdio::null()).output().map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

impl NetPair {
    /// `None`: namespaces cannot be made here (not root, no iproute2); skip the test.
    pub fn create() -> Option<Self> {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}{n}", std::process::id() % 100_000);
        let pair = Self { hub: format!("plhub{id}"), cam: format!("plcam{id}") };
        let (vh, vc) = (format!("plh{id}"), format!("plc{id}"));
        let setup = || -> Result<(), String> {
            ip(&["netns", "add", &pair.hub])?;
            ip(&["netns", "add", &pair.cam])?;
            ip(&["link", "add", &vh, "type", "veth", "peer", "name", &vc])?;
            ip(&["link", "set", &vh, "netns", &pair.hub])?;
            ip(&["link", "set", &vc, "netns", &pair.cam])?;
            for (ns, dev, addr) in [(&pair.hub, &vh, HUB_IP), (&pair.cam, &vc, CAM_IP)] {
                ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev])?;
                ip(&["-n", ns, "link", "set", "lo", "up"])?;
                ip(&["-n", ns, "link", "set", dev, "up"])?;
                ip(&["-n", ns, "route", "add", "224.0.0.0/4", "dev", dev])?;
            }
            Ok(())
        };
        match setup() {
            Ok(()) => Some(pair),
            Err(e) => {
                drop(pair);
                assert!(
                    !peers_required(),
                    "PORCHLIGHT_REQUIRE_PEERS=1 but network namespaces cannot be made (run as root): {e}"
                );
                #[allow(clippy::print_stderr)]
                {
                    eprintln!("skipping: cannot create network namespaces here ({e})");
                }
                None
            }
        }
    }

    /// A command run inside namespace `ns` (`ip netns exec`).
    pub fn exec(ns: &str, program: &std::path::Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns]).arg(program);
        c
    }
}

impl Drop for NetPair {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.hub]);
        let _ = ip(&["netns", "del", &self.cam]);
    }
}

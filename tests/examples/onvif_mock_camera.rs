//! A third-party ONVIF camera for the network-namespace discovery test: the `oxvif` crate's
//! mock device (HTTP, WS-Security enforced; user `admin`, password `admin`) plus its
//! WS-Discovery responder joined to the multicast group on one interface.
//!
//! Usage: `onvif_mock_camera --bind IPV4` (an address of this namespace's interface). Prints
//! `READY <device_url>` on stdout, then runs until stdin closes (so it dies with its test).
//! Multicast only ever inside a namespace the test created.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{Read, Write};
use std::net::Ipv4Addr;

use oxvif::DiscoveredDevice;
use oxvif::mock::{DiscoveryResponder, MockServer};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let ip: Ipv4Addr = match args.iter().position(|a| a == "--bind").and_then(|i| args.get(i + 1)) {
        Some(v) => v.parse().unwrap_or_else(|e| {
            eprintln!("--bind {v}: {e}");
            std::process::exit(2)
        }),
        None => {
            eprintln!("usage: onvif_mock_camera --bind IPV4");
            std::process::exit(2)
        }
    };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let (server, responder) = runtime.block_on(async {
        let server = MockServer::builder().bind_ip(ip).enforce_auth(true).start().await.expect("mock camera");
        let dev = DiscoveredDevice {
            endpoint: "urn:uuid:5f5a1a2e-0000-4000-8000-00005e005302".into(),
            types: vec!["dn:NetworkVideoTransmitter".into()],
            scopes: vec!["onvif://www.onvif.org/name/Porch%20Doorbell".into()],
            xaddrs: vec![server.device_url().to_owned()],
        };
        let responder =
            DiscoveryResponder::spawn_many("0.0.0.0:3702", Some(ip), vec![dev]).await.expect("responder");
        (server, responder)
    });
    println!("READY {}", server.device_url());
    let _ = std::io::stdout().flush();
    // Until the test closes our stdin (or exits).
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    runtime.block_on(async {
        responder.shutdown().await;
        let _ = server.shutdown().await;
    });
}

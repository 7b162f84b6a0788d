//! WS-Discovery (the 2005/04 version ONVIF uses): a Probe multicast to 239.255.255.250:3702
//! on each IPv4 interface, and unicast Probes to hosts and CIDR ranges (paced), so cameras on
//! another VLAN or subnet are found too. Answers are merged by endpoint (one camera answering
//! on several addresses is one camera). [`Listener`] hears the Hello a camera multicasts when
//! it joins the network and the Bye when it leaves.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

use super::parse::{self, ProbeMatch, SoapError};

pub const MULTICAST: Ipv4Addr = Ipv4Addr::new(239, 255, 255, 250);
pub const PORT: u16 = 3702;
/// The most unicast targets one probe run sends to (a /16).
pub const MAX_TARGETS: usize = 65_536;
const MAX_ANSWERS: usize = 4096;
/// Bounds on what answers can make us hold (they come from the network, unauthenticated).
const MAX_DEVICES: usize = 512;
const MAX_LIST: usize = 32;
const MAX_ITEM_CHARS: usize = 512;

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("probe target {target:?}: {message}")]
    Target { target: String, message: String },
    #[error("cannot open a UDP socket for discovery: {0}")]
    Socket(std::io::Error),
}

/// What to probe.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    pub timeout: Duration,
    /// Multicast on these interfaces (by address); empty with `multicast` = every up,
    /// non-loopback IPv4 interface.
    pub multicast: bool,
    pub interfaces: Vec<Ipv4Addr>,
    /// Unicast targets.
    pub unicast: Vec<SocketAddr>,
    /// Pause between unicast probes, so a /24 does not burst onto the network.
    pub pace: Duration,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(3),
            multicast: true,
            interfaces: Vec::new(),
            unicast: Vec::new(),
            pace: Duration::from_millis(2),
        }
    }
}

/// A device found by probing, answers merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub endpoint: String,
    pub types: Vec<String>,
    pub scopes: Vec<String>,
    pub xaddrs: Vec<String>,
    /// Where answers came from.
    pub from: Vec<IpAddr>,
}

impl Found {
    fn as_match(&self) -> ProbeMatch {
        ProbeMatch {
            endpoint: self.endpoint.clone(),
            types: self.types.clone(),
            scopes: self.scopes.clone(),
            xaddrs: self.xaddrs.clone(),
        }
    }

    pub fn scope(&self, key: &str) -> Option<String> {
        self.as_match().scope(key)
    }

    pub fn looks_like_doorbell(&self) -> bool {
        self.as_match().looks_like_doorbell()
    }

    /// The device-service URL to use: one on an address that answered us, else the first
    /// http one. (Cameras list several, some unreachable: a second NIC, IPv6 link-local, a
    /// NAT address.)
    pub fn preferred_xaddr(&self) -> Option<&str> {
        let host_of = |x: &str| url::Url::parse(x).ok().and_then(|u| u.host_str().map(str::to_owned));
        self.xaddrs
            .iter()
            .find(|x| {
                host_of(x)
                    .and_then(|h| h.trim_matches(['[', ']']).parse::<IpAddr>().ok())
                    .is_some_and(|ip| self.from.contains(&ip))
            })
            .or_else(|| self.xaddrs.iter().find(|x| x.starts_with("http://")))
            .or_else(|| self.xaddrs.first())
            .map(String::as_str)
    }
}

/// Interface addresses for names or addresses (`eth0`, `192.168.1.2`); unknown names are
/// reported by name.
pub fn interface_addresses(names: &[String]) -> (Vec<Ipv4Addr>, Vec<String>) {
    let all = if_addrs::get_if_addrs().unwrap_or_default();
    let mut found = Vec::new();
    let mut unknown = Vec::new();
    for n in names {
        if let Ok(ip) = n.parse::<Ipv4Addr>() {
            found.push(ip);
            continue;
        }
        let ips: Vec<Ipv4Addr> = all
            .iter()
            .filter(|i| i.name == *n)
            .filter_map(|i| match i.ip() {
                IpAddr::V4(v4) => Some(v4),
                IpAddr::V6(_) => None,
            })
            .collect();
        if ips.is_empty() {
            unknown.push(n.clone());
        }
        found.extend(ips);
    }
    (found, unknown)
}

/// Parses a probe target: `HOST`, `HOST:PORT`, `A.B.C.D/NN` or `A.B.C.D/NN:PORT` (port 3702 by
/// default). Names are resolved.
pub async fn targets(spec: &str) -> Result<Vec<SocketAddr>, DiscoveryError> {
    let err = |message: String| DiscoveryError::Target { target: spec.to_owned(), message };
    if let Some((net, rest)) = spec.split_once('/') {
        let (bits, port) = match rest.split_once(':') {
            Some((b, p)) => (b, p.parse::<u16>().map_err(|_| err(format!("bad port {p:?}")))?),
            None => (rest, PORT),
        };
        let base: Ipv4Addr = net.parse().map_err(|_| err(format!("{net:?} is not an IPv4 address")))?;
        let bits: u32 = bits.parse().map_err(|_| err(format!("bad prefix length {bits:?}")))?;
        if !(16..=32).contains(&bits) {
            return Err(err("prefix length must be from /16 to /32".into()));
        }
        let mask = if bits == 32 { u32::MAX } else { !(u32::MAX >> bits) };
        let first = u32::from(base) & mask;
        let last = first | !mask;
        // Skip the network and broadcast addresses of ranges that have them.
        let (lo, hi) = if bits >= 31 { (first, last) } else { (first + 1, last - 1) };
        return Ok((lo..=hi).map(|a| SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(a), port))).collect());
    }
    let with_port = if spec.parse::<IpAddr>().is_ok() || !spec.contains(':') {
        format!("{spec}:{PORT}")
    } else {
        spec.to_owned()
    };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(&with_port)
        .await
        .map_err(|e| err(format!("cannot resolve: {e}")))?
        .filter(SocketAddr::is_ipv4)
        .collect();
    if addrs.is_empty() {
        return Err(err("no IPv4 address".into()));
    }
    Ok(addrs.into_iter().take(1).collect())
}

/// A Probe message for devices of `types` (e.g. `dn:NetworkVideoTransmitter`).
pub fn probe_message(message_id: &str, types: &str) -> String {
    format!(
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" "#,
            r#"xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:dn="http://www.onvif.org/ver10/network/wsdl" "#,
            r#"xmlns:tds="http://www.onvif.org/ver10/device/wsdl">"#,
            r#"<s:Header><a:Action s:mustUnderstand="1">http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action>"#,
            r#"<a:MessageID>{}</a:MessageID><a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>"#,
            r#"<a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To></s:Header>"#,
            r#"<s:Body><d:Probe><d:Types>{}</d:Types></d:Probe></s:Body></s:Envelope>"#
        ),
        message_id, types
    )
}

/// A random `urn:uuid:` (version 4).
pub fn new_urn() -> String {
    let b: [u8; 16] = std::array::from_fn(|i| match i {
        6 => 0x40 | (fastrand::u8(..) & 0x0f),
        8 => 0x80 | (fastrand::u8(..) & 0x3f),
        _ => fastrand::u8(..),
    });
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("urn:uuid:{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// Every up, non-loopback IPv4 interface address.
pub fn ipv4_interfaces() -> Vec<Ipv4Addr> {
    if_addrs::get_if_addrs()
        .map(|list| {
            list.into_iter()
                .filter(|i| !i.is_loopback())
                .filter_map(|i| match i.ip() {
                    IpAddr::V4(v4) => Some(v4),
                    IpAddr::V6(_) => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

fn multicast_socket(iface: Ipv4Addr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_nonblocking(true)?;
    s.bind(&SocketAddr::new(IpAddr::V4(iface), 0).into())?;
    s.set_multicast_if_v4(&iface)?;
    // One hop: discovery stays on the local link.
    s.set_multicast_ttl_v4(1)?;
    UdpSocket::from_std(s.into())
}

/// Probes and collects answers until `timeout` after the last probe was sent.
pub async fn probe(opts: &ProbeOptions) -> Result<Vec<Found>, DiscoveryError> {
    let ids = [new_urn(), new_urn()];
    let messages =
        [probe_message(&ids[0], "dn:NetworkVideoTransmitter"), probe_message(&ids[1], "tds:Device")];
    let mut sockets: Vec<UdpSocket> = Vec::new();
    let unicast = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).await.map_err(DiscoveryError::Socket)?;
    if opts.multicast {
        let ifaces = if opts.interfaces.is_empty() { ipv4_interfaces() } else { opts.interfaces.clone() };
        for iface in ifaces {
            match multicast_socket(iface) {
                Ok(s) => {
                    for m in &messages {
                        if let Err(e) = s.send_to(m.as_bytes(), (MULTICAST, PORT)).await {
                            tracing::warn!(interface = %iface, error = %e, "Cannot send a multicast probe");
                        }
                    }
                    sockets.push(s);
                }
                Err(e) => tracing::warn!(interface = %iface, error = %e, "Cannot probe on this interface"),
            }
        }
    }
    let mut found: BTreeMap<String, Found> = BTreeMap::new();
    let mut answers = 0usize;
    let mut buf = vec![0u8; 65_536];
    // Unicast probes go out paced while answers are already being read.
    let mut pending = opts.unicast.iter().take(MAX_TARGETS);
    let mut next_send = Instant::now();
    let mut deadline = Instant::now() + opts.timeout;
    sockets.push(unicast);
    let unicast_i = sockets.len() - 1;
    loop {
        let now = Instant::now();
        if now >= next_send
            && let Some(target) = pending.next()
        {
            for m in &messages {
                if let Err(e) = sockets[unicast_i].send_to(m.as_bytes(), target).await {
                    tracing::debug!(target = %target, error = %e, "Cannot send a unicast probe");
                }
            }
            next_send = now + opts.pace;
            deadline = now + opts.timeout;
            continue;
        }
        if now >= deadline || answers >= MAX_ANSWERS {
            break;
        }
        let wake = if pending.len() > 0 { next_send.min(deadline) } else { deadline };
        let recv = async {
            loop {
                for s in &sockets {
                    if let Ok((n, from)) = s.try_recv_from(&mut buf) {
                        return (n, from);
                    }
                }
                let _ =
                    futures_util::future::select_all(sockets.iter().map(|s| Box::pin(s.readable()))).await;
            }
        };
        let Ok((n, from)) = tokio::time::timeout_at(wake.into(), recv).await else { continue };
        answers += 1;
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        // An answer to someone else's probe (or to none) is not ours to believe.
        if let Some(rel) = parse::relates_to(&text)
            && !ids.contains(&rel)
        {
            tracing::debug!(from = %from, "Ignoring a discovery answer to another probe");
            continue;
        }
        match parse::probe_matches(&text) {
            Ok(matches) => {
                for m in matches {
                    merge(&mut found, m, from.ip());
                }
            }
            Err(e) => tracing::debug!(from = %from, error = %e, "Ignoring a discovery answer"),
        }
    }
    Ok(found.into_values().collect())
}

/// A device announcing itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Announcement {
    /// Hello: a device joined (or restarted). With no `xaddrs`, probe `from` to learn them.
    Hello(Found),
    /// Bye: the device with this endpoint address is leaving.
    Bye { endpoint: String, from: IpAddr },
}

/// Why a datagram on the WS-Discovery port is not an announcement for the hub.
#[derive(Debug, thiserror::Error)]
pub enum NotAnnouncement {
    #[error("{0}")]
    Soap(#[from] SoapError),
    #[error("endpoint address too long")]
    EndpointTooLong,
    #[error("not an ONVIF device (types: {types})")]
    NotOnvif { types: String },
    #[error("empty Hello")]
    EmptyHello,
    #[error("<{element}> is neither Hello nor Bye")]
    Other { element: String },
}

/// A Hello or Bye from an ONVIF device in `text` (sent by `from`), or why it is not one.
/// A Hello from a device that is not a video device (a printer, a PC) is not for us.
pub fn announcement(text: &str, from: IpAddr) -> Result<Announcement, NotAnnouncement> {
    let body = parse::response(text)?;
    match body.name.as_str() {
        "Bye" => {
            let endpoint = parse::bye(text)?;
            if endpoint.len() > MAX_ITEM_CHARS {
                return Err(NotAnnouncement::EndpointTooLong);
            }
            Ok(Announcement::Bye { endpoint, from })
        }
        "Hello" => {
            let mut found = BTreeMap::new();
            for m in parse::probe_matches(text)? {
                // Printers and PCs say Hello too (as `wsdp:Device`); an ONVIF device names itself
                // a video transmitter or carries ONVIF scopes.
                let onvif = m.types.iter().any(|t| t == "NetworkVideoTransmitter")
                    || m.scopes.iter().any(|s| s.starts_with("onvif://www.onvif.org/"));
                if !onvif {
                    return Err(NotAnnouncement::NotOnvif { types: m.types.join(" ") });
                }
                merge(&mut found, m, from);
            }
            found.into_values().next().map(Announcement::Hello).ok_or(NotAnnouncement::EmptyHello)
        }
        other => Err(NotAnnouncement::Other { element: other.to_owned() }),
    }
}

/// Listens on the WS-Discovery port for Hello and Bye, joined to the multicast group on the
/// given interfaces. The port is shared (`SO_REUSEADDR`/`SO_REUSEPORT`) with any other
/// WS-Discovery service on the host.
#[derive(Debug)]
pub struct Listener {
    socket: UdpSocket,
    buf: Vec<u8>,
}

impl Listener {
    /// Joins the group on each of `interfaces` (at least one must work).
    pub fn bind(interfaces: &[Ipv4Addr], port: u16) -> Result<Self, DiscoveryError> {
        use socket2::{Domain, Protocol, Socket, Type};
        let s =
            Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(DiscoveryError::Socket)?;
        s.set_reuse_address(true).map_err(DiscoveryError::Socket)?;
        s.set_reuse_port(true).map_err(DiscoveryError::Socket)?;
        s.set_nonblocking(true).map_err(DiscoveryError::Socket)?;
        s.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into()).map_err(DiscoveryError::Socket)?;
        let mut joined = 0;
        let mut last = None;
        for iface in interfaces {
            match s.join_multicast_v4(&MULTICAST, iface) {
                Ok(()) => joined += 1,
                Err(e) => {
                    tracing::warn!(interface = %iface, error = %e, "Cannot listen for announcements on this interface");
                    last = Some(e);
                }
            }
        }
        if joined == 0 {
            return Err(DiscoveryError::Socket(
                last.unwrap_or_else(|| std::io::Error::other("no IPv4 interface to listen on")),
            ));
        }
        let socket = UdpSocket::from_std(s.into()).map_err(DiscoveryError::Socket)?;
        Ok(Self { socket, buf: vec![0u8; 65_536] })
    }

    /// The next Hello or Bye; anything else on the port (probes, other protocols) is skipped.
    pub async fn next(&mut self) -> Announcement {
        loop {
            let (n, from) = match self.socket.recv_from(&mut self.buf).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(error = %e, "Discovery listener receive error");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let text = String::from_utf8_lossy(&self.buf[..n]);
            match announcement(&text, from.ip()) {
                Ok(a) => return a,
                Err(why) => tracing::trace!(from = %from, why = %why, "Not an announcement for us"),
            }
        }
    }
}

fn merge(found: &mut BTreeMap<String, Found>, m: ProbeMatch, from: IpAddr) {
    // `urn:uuid:X` and a bare `uuid:X` are the same endpoint.
    let key = m.endpoint.trim().trim_start_matches("urn:").to_ascii_lowercase();
    if key.len() > MAX_ITEM_CHARS || (!found.contains_key(&key) && found.len() >= MAX_DEVICES) {
        return;
    }
    let entry = found.entry(key).or_insert_with(|| Found {
        endpoint: m.endpoint.clone(),
        types: Vec::new(),
        scopes: Vec::new(),
        xaddrs: Vec::new(),
        from: Vec::new(),
    });
    for (list, new) in
        [(&mut entry.types, m.types), (&mut entry.scopes, m.scopes), (&mut entry.xaddrs, m.xaddrs)]
    {
        for v in new {
            if list.len() >= MAX_LIST {
                break;
            }
            if v.len() <= MAX_ITEM_CHARS && !list.contains(&v) {
                list.push(v);
            }
        }
    }
    if !entry.from.contains(&from) {
        entry.from.push(from);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn targets_take_hosts_ports_and_cidr_ranges() {
        assert_eq!(
            targets("127.0.0.1").await.expect("ip"),
            ["127.0.0.1:3702".parse::<SocketAddr>().expect("addr")]
        );
        assert_eq!(
            targets("127.0.0.1:4000").await.expect("ip:port"),
            ["127.0.0.1:4000".parse::<SocketAddr>().expect("addr")]
        );
        let net = targets("192.168.20.0/24").await.expect("cidr");
        assert_eq!(net.len(), 254);
        assert_eq!(net[0], "192.168.20.1:3702".parse::<SocketAddr>().expect("addr"));
        assert_eq!(net[253], "192.168.20.254:3702".parse::<SocketAddr>().expect("addr"));
        assert_eq!(targets("10.1.2.3/32:9").await.expect("one").len(), 1);
        for bad in ["10.0.0.0/8", "10.0.0.0/x", "300.1.1.1/24", "10.0.0.0/24:port"] {
            assert!(targets(bad).await.is_err(), "{bad}");
        }
    }

    #[test]
    fn answers_for_one_endpoint_from_several_addresses_are_one_device() {
        let mut found = BTreeMap::new();
        let m = |xaddr: &str, ep: &str| ProbeMatch {
            endpoint: ep.into(),
            types: vec!["NetworkVideoTransmitter".into()],
            scopes: vec![],
            xaddrs: vec![xaddr.into()],
        };
        merge(
            &mut found,
            m("http://10.0.0.5/onvif/device_service", "urn:uuid:AB"),
            "10.0.0.5".parse().expect("ip"),
        );
        merge(
            &mut found,
            m("http://192.168.1.5/onvif/device_service", "uuid:ab"),
            "192.168.1.5".parse().expect("ip"),
        );
        assert_eq!(found.len(), 1);
        let f = found.values().next().expect("one");
        assert_eq!(f.xaddrs.len(), 2);
        // Reached from 192.168.1.5 only? Then that address is preferred.
        let mut g = f.clone();
        g.from = vec!["192.168.1.5".parse().expect("ip")];
        assert_eq!(g.preferred_xaddr(), Some("http://192.168.1.5/onvif/device_service"));
    }

    #[test]
    fn what_answers_make_us_hold_is_bounded() {
        let mut found = BTreeMap::new();
        let many: Vec<String> = (0..1000).map(|i| format!("onvif://www.onvif.org/x/{i}")).collect();
        for d in 0..2000 {
            let m = ProbeMatch {
                endpoint: format!("urn:uuid:{d}"),
                types: vec!["x".repeat(10_000)],
                scopes: many.clone(),
                xaddrs: vec!["http://10.0.0.1/".into()],
            };
            merge(&mut found, m, "10.0.0.1".parse().expect("ip"));
        }
        assert_eq!(found.len(), MAX_DEVICES);
        let f = found.values().next().expect("one");
        assert_eq!(f.scopes.len(), MAX_LIST);
        assert!(f.types.is_empty(), "an oversized entry is dropped");
    }

    const HELLO: &str = concat!(
        r#"<?xml version="1.0" encoding="UTF-8"?>"#,
        "<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://www.w3.org/2003/05/soap-envelope\" ",
        "xmlns:wsa=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" xmlns:wsdd=\"http://schemas.xmlsoap.org/ws/2005/04/discovery\" ",
        "xmlns:dn=\"http://www.onvif.org/ver10/network/wsdl\" xmlns:tds=\"http://www.onvif.org/ver10/device/wsdl\">\r\n",
        "<SOAP-ENV:Header><wsa:MessageID>urn:uuid:0a6dc791-2e31-4c8b-9d2a-18c1f0e0b001</wsa:MessageID>",
        "<wsa:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</wsa:To>",
        "<wsa:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Hello</wsa:Action>",
        "<wsdd:AppSequence InstanceId=\"3\" MessageNumber=\"1\"/></SOAP-ENV:Header>",
        "<SOAP-ENV:Body><wsdd:Hello><wsa:EndpointReference><wsa:Address>uuid:2419d68a-2dd2-21b2-a205-ec3c88a1b2c3</wsa:Address></wsa:EndpointReference>",
        "<wsdd:Types>dn:NetworkVideoTransmitter tds:Device</wsdd:Types>",
        "<wsdd:Scopes>onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/name/Side%20Gate onvif://www.onvif.org/hardware/DB1</wsdd:Scopes>",
        "<wsdd:XAddrs>http://192.168.1.64/onvif/device_service http://[fe80::1]/onvif/device_service</wsdd:XAddrs>",
        "<wsdd:MetadataVersion>10</wsdd:MetadataVersion></wsdd:Hello></SOAP-ENV:Body></SOAP-ENV:Envelope>"
    );

    #[test]
    fn hello_and_bye_from_a_camera_are_announcements() {
        let from: IpAddr = "192.168.1.64".parse().expect("ip");
        let Ok(Announcement::Hello(f)) = announcement(HELLO, from) else { panic!("a Hello") };
        assert_eq!(f.endpoint, "uuid:2419d68a-2dd2-21b2-a205-ec3c88a1b2c3");
        assert_eq!(f.scope("name").as_deref(), Some("Side Gate"));
        assert_eq!(f.preferred_xaddr(), Some("http://192.168.1.64/onvif/device_service"));
        assert_eq!(f.from, [from]);

        let bye = HELLO
            .replace("discovery/Hello", "discovery/Bye")
            .replace("<wsdd:Hello>", "<wsdd:Bye>")
            .replace("</wsdd:Hello>", "</wsdd:Bye>");
        assert_eq!(
            announcement(&bye, from).ok(),
            Some(Announcement::Bye { endpoint: "uuid:2419d68a-2dd2-21b2-a205-ec3c88a1b2c3".into(), from })
        );
    }

    #[test]
    fn other_traffic_on_the_port_is_not_an_announcement() {
        let from: IpAddr = "192.168.1.9".parse().expect("ip");
        // A printer's Hello: WS-Discovery, but not ONVIF.
        let printer = HELLO
            .replace("dn:NetworkVideoTransmitter tds:Device", "wsdp:Device print:PrintDeviceType")
            .replace(
                "onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/name/Side%20Gate onvif://www.onvif.org/hardware/DB1",
                "",
            );
        assert!(matches!(announcement(&printer, from), Err(NotAnnouncement::NotOnvif { .. })));
        assert!(
            announcement(&printer, from).expect_err("printer").to_string().contains("not an ONVIF device")
        );
        // Someone's Probe, junk, and a Hello without an endpoint.
        let probe = probe_message(&new_urn(), "dn:NetworkVideoTransmitter");
        assert!(announcement(&probe, from).expect_err("probe").to_string().contains("neither Hello nor Bye"));
        assert!(announcement("\u{0}\u{1}garbage", from).is_err());
        let no_endpoint =
            HELLO.replace("<wsa:Address>uuid:2419d68a-2dd2-21b2-a205-ec3c88a1b2c3</wsa:Address>", "");
        assert!(announcement(&no_endpoint, from).is_err());
    }

    #[test]
    fn probe_ids_are_random_v4_uuids() {
        let a = new_urn();
        assert_ne!(a, new_urn());
        assert_eq!(a.len(), "urn:uuid:".len() + 36);
        assert_eq!(&a[9 + 14..9 + 15], "4");
        assert!(probe_message(&a, "dn:NetworkVideoTransmitter").contains(&a));
    }
}

//! Parsers for the ONVIF and WS-Discovery responses Porchlight uses, written against real
//! devices' output (`testdata/onvif/`, tested file by file). Each returns a plain struct or a
//! [`SoapError`] that says what was wrong and where; a SOAP fault becomes [`Fault`] with its
//! ONVIF subcode, so "not authorized" and "action not supported" can be told apart.

use std::fmt;

use super::xml::{self, Element, XmlError, local};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SoapError {
    /// Not well-formed XML, or not XML at all (e.g. an HTML 401 page).
    Xml(XmlError),
    /// XML, but not a SOAP envelope with a body.
    NotSoap(String),
    /// The device answered with a SOAP fault.
    Fault(Fault),
    /// The response lacks something the operation must return.
    Missing { operation: &'static str, what: &'static str },
    /// A value that cannot be what it claims (a bad number, URL or date).
    Invalid { operation: &'static str, what: &'static str, value: String },
}

impl fmt::Display for SoapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Xml(e) => write!(f, "malformed response: {e}"),
            Self::NotSoap(m) => write!(f, "not a SOAP response: {m}"),
            Self::Fault(fault) => write!(f, "{fault}"),
            Self::Missing { operation, what } => write!(f, "{operation} response has no {what}"),
            Self::Invalid { operation, what, value } => {
                write!(f, "{operation} response has an invalid {what}: {value:?}")
            }
        }
    }
}

impl std::error::Error for SoapError {}

/// What kind of SOAP fault, from its ONVIF subcodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    NotAuthorized,
    ActionNotSupported,
    InvalidArgs,
    OperationProhibited,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The top-level code, local part (`Sender`, `Receiver`, `Client`, `Server`, ...).
    pub code: String,
    /// Subcodes, local parts, outermost first (`NotAuthorized`, `ActionNotSupported`, ...).
    pub subcodes: Vec<String>,
    pub reason: String,
}

impl Fault {
    pub fn kind(&self) -> FaultKind {
        // A fault may carry the ONVIF code as its top-level value rather than as a subcode of
        // `Sender`/`Receiver` (the oxvif mock's injected faults do): it counts the same.
        let has = |s: &str| {
            self.subcodes.iter().any(|c| c.eq_ignore_ascii_case(s)) || self.code.eq_ignore_ascii_case(s)
        };
        let reason = self.reason.to_ascii_lowercase();
        if has("NotAuthorized")
            || has("FailedAuthentication")
            || reason.contains("401")
            || reason.contains("not authorized")
        {
            FaultKind::NotAuthorized
        } else if has("ActionNotSupported")
            || has("NotImplemented")
            || has("NoSuchService")
            || reason.contains("not implemented")
        {
            FaultKind::ActionNotSupported
        } else if has("InvalidArgVal") || has("InvalidArgs") || has("InvalidArgument") {
            FaultKind::InvalidArgs
        } else if has("OperationProhibited") {
            FaultKind::OperationProhibited
        } else {
            FaultKind::Other
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind() {
            FaultKind::NotAuthorized => {
                "not authorized (wrong user name or password, or the camera's clock is far off)"
            }
            FaultKind::ActionNotSupported => "the camera does not support this action",
            FaultKind::InvalidArgs => "the camera rejected an argument",
            FaultKind::OperationProhibited => "the camera refused the operation",
            FaultKind::Other => "the camera reported an error",
        };
        write!(f, "{what}")?;
        let mut codes = vec![self.code.clone()];
        codes.extend(self.subcodes.iter().cloned());
        write!(f, " [{}]", codes.join("/"))?;
        if !self.reason.is_empty() {
            write!(f, ": {}", self.reason)?;
        }
        Ok(())
    }
}

/// Parses an envelope and returns its body's first element (the response), or the fault.
pub fn response(text: &str) -> Result<Element, SoapError> {
    let root = xml::parse(text).map_err(SoapError::Xml)?;
    if root.name != "Envelope" {
        return Err(SoapError::NotSoap(format!("root element is <{}>, not <Envelope>", root.name)));
    }
    let body = root.child("Body").ok_or_else(|| SoapError::NotSoap("envelope has no <Body>".into()))?;
    let first = body.children.first().ok_or_else(|| SoapError::NotSoap("empty <Body>".into()))?;
    if first.name == "Fault" {
        return Err(SoapError::Fault(fault(first)));
    }
    Ok(first.clone())
}

fn fault(e: &Element) -> Fault {
    // SOAP 1.2: Code/Value + Code/Subcode/Value..., Reason/Text. SOAP 1.1: faultcode, faultstring.
    let mut subcodes = Vec::new();
    let code = if let Some(code) = e.child("Code") {
        let mut sub = code.child("Subcode");
        while let Some(s) = sub {
            if let Some(v) = s.text_at(&["Value"]) {
                subcodes.push(local(v).to_owned());
            }
            sub = s.child("Subcode");
        }
        code.text_at(&["Value"]).map(|v| local(v).to_owned()).unwrap_or_default()
    } else {
        e.text_at(&["faultcode"]).map(|v| local(v).to_owned()).unwrap_or_default()
    };
    let reason =
        e.text_at(&["Reason", "Text"]).or_else(|| e.text_at(&["faultstring"])).unwrap_or_default().to_owned();
    Fault { code, subcodes, reason }
}

fn expect<'a>(e: &'a Element, operation: &'static str, name: &str) -> Result<&'a Element, SoapError> {
    if e.name == name {
        Ok(e)
    } else {
        Err(SoapError::NotSoap(format!(
            "expected <{name}> in the body of a {operation} response, found <{}>",
            e.name
        )))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceInformation {
    pub manufacturer: String,
    pub model: String,
    pub firmware_version: String,
    pub serial_number: String,
    pub hardware_id: String,
}

pub fn device_information(text: &str) -> Result<DeviceInformation, SoapError> {
    const OP: &str = "GetDeviceInformation";
    let r = response(text)?;
    let r = expect(&r, OP, "GetDeviceInformationResponse")?;
    let get = |n: &str| r.text_at(&[n]).unwrap_or_default().to_owned();
    let info = DeviceInformation {
        manufacturer: get("Manufacturer"),
        model: get("Model"),
        firmware_version: get("FirmwareVersion"),
        serial_number: get("SerialNumber"),
        hardware_id: get("HardwareId"),
    };
    if info.manufacturer.is_empty() && info.model.is_empty() {
        return Err(SoapError::Missing { operation: OP, what: "manufacturer or model" });
    }
    Ok(info)
}

/// The device's UTC clock, from GetSystemDateAndTime.
pub fn system_date_time(text: &str) -> Result<jiff::Timestamp, SoapError> {
    const OP: &str = "GetSystemDateAndTime";
    let r = response(text)?;
    let r = expect(&r, OP, "GetSystemDateAndTimeResponse")?;
    let utc = r.find("UTCDateTime").ok_or(SoapError::Missing { operation: OP, what: "UTCDateTime" })?;
    let num = |path: &[&str], what: &'static str| -> Result<i16, SoapError> {
        let v = utc.text_at(path).ok_or(SoapError::Missing { operation: OP, what })?;
        v.parse().map_err(|_| SoapError::Invalid { operation: OP, what, value: v.to_owned() })
    };
    let (y, mo, d) =
        (num(&["Date", "Year"], "year")?, num(&["Date", "Month"], "month")?, num(&["Date", "Day"], "day")?);
    let (h, mi, s) = (
        num(&["Time", "Hour"], "hour")?,
        num(&["Time", "Minute"], "minute")?,
        num(&["Time", "Second"], "second")?,
    );
    let invalid =
        || SoapError::Invalid { operation: OP, what: "date", value: format!("{y}-{mo}-{d} {h}:{mi}:{s}") };
    let dt = jiff::civil::DateTime::new(
        y,
        i8::try_from(mo).map_err(|_| invalid())?,
        i8::try_from(d).map_err(|_| invalid())?,
        i8::try_from(h).map_err(|_| invalid())?,
        i8::try_from(mi).map_err(|_| invalid())?,
        i8::try_from(s).map_err(|_| invalid())?,
        0,
    )
    .map_err(|_| invalid())?;
    jiff::tz::TimeZone::UTC.to_timestamp(dt).map_err(|_| invalid())
}

/// Service addresses from GetCapabilities (older devices) or GetServices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Services {
    pub device: Option<String>,
    pub media: Option<String>,
    pub media2: Option<String>,
    pub events: Option<String>,
}

pub fn capabilities(text: &str) -> Result<Services, SoapError> {
    const OP: &str = "GetCapabilities";
    let r = response(text)?;
    let r = expect(&r, OP, "GetCapabilitiesResponse")?;
    let caps = r.child("Capabilities").ok_or(SoapError::Missing { operation: OP, what: "Capabilities" })?;
    let x = |n: &str| caps.text_at(&[n, "XAddr"]).map(str::to_owned);
    // Media2 hides in Capabilities/Extension on some firmware; GetServices is the real source.
    let media2 = caps.find("Media2").and_then(|m| m.text_at(&["XAddr"])).map(str::to_owned);
    let s = Services { device: x("Device"), media: x("Media"), media2, events: x("Events") };
    if s.device.is_none() && s.media.is_none() && s.events.is_none() {
        return Err(SoapError::Missing { operation: OP, what: "service address (XAddr)" });
    }
    Ok(s)
}

pub fn services(text: &str) -> Result<Services, SoapError> {
    const OP: &str = "GetServices";
    let r = response(text)?;
    let r = expect(&r, OP, "GetServicesResponse")?;
    let mut s = Services::default();
    for svc in r.children_named("Service") {
        let (Some(ns), Some(addr)) = (svc.text_at(&["Namespace"]), svc.text_at(&["XAddr"])) else { continue };
        let addr = Some(addr.to_owned());
        match ns.trim_end_matches('/') {
            "http://www.onvif.org/ver10/device/wsdl" => s.device = addr,
            "http://www.onvif.org/ver10/media/wsdl" => s.media = addr,
            "http://www.onvif.org/ver20/media/wsdl" => s.media2 = addr,
            "http://www.onvif.org/ver10/events/wsdl" => s.events = addr,
            _ => {}
        }
    }
    if s == Services::default() {
        return Err(SoapError::Missing { operation: OP, what: "device, media or events service" });
    }
    Ok(s)
}

/// A media profile and its video encoder, when the device says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Profile {
    pub token: String,
    pub name: String,
    /// `H264`, `H265`, `JPEG`, ... as the device names it (upper-cased).
    pub encoding: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fps: Option<f32>,
    pub bitrate_kbps: Option<u32>,
}

/// GetProfiles of Media1 (`trt`) or Media2 (`tr2`).
pub fn profiles(text: &str) -> Result<Vec<Profile>, SoapError> {
    const OP: &str = "GetProfiles";
    let r = response(text)?;
    let r = expect(&r, OP, "GetProfilesResponse")?;
    let mut out = Vec::new();
    for p in r.children_named("Profiles") {
        let token = p.attr("token").unwrap_or_default().to_owned();
        if token.is_empty() {
            return Err(SoapError::Missing { operation: OP, what: "profile token" });
        }
        // Media1: VideoEncoderConfiguration; Media2: Configurations/VideoEncoder.
        let enc =
            p.child("VideoEncoderConfiguration").or_else(|| p.path(&["Configurations", "VideoEncoder"]));
        let num = |e: &Element, path: &[&str]| e.text_at(path).and_then(|v| v.parse::<f64>().ok());
        let mut prof = Profile {
            token,
            name: p.text_at(&["Name"]).unwrap_or_default().to_owned(),
            ..Profile::default()
        };
        if let Some(enc) = enc {
            prof.encoding = enc
                .text_at(&["Encoding"])
                .or_else(|| enc.attr("Encoding"))
                .map(|e| e.to_ascii_uppercase().replace(".", ""));
            prof.width = num(enc, &["Resolution", "Width"]).map(|v| v as u32);
            prof.height = num(enc, &["Resolution", "Height"]).map(|v| v as u32);
            prof.fps = num(enc, &["RateControl", "FrameRateLimit"]).map(|v| v as f32);
            prof.bitrate_kbps = num(enc, &["RateControl", "BitrateLimit"]).map(|v| v as u32);
        }
        out.push(prof);
    }
    if out.is_empty() {
        return Err(SoapError::Missing { operation: OP, what: "profile" });
    }
    Ok(out)
}

/// GetStreamUri / GetSnapshotUri of Media1 (`MediaUri/Uri`) or Media2 (`Uri`).
pub fn media_uri(text: &str, operation: &'static str) -> Result<String, SoapError> {
    let r = response(text)?;
    let r = expect(&r, operation, &format!("{operation}Response"))?;
    let uri = r
        .text_at(&["MediaUri", "Uri"])
        .or_else(|| r.text_at(&["Uri"]))
        .ok_or(SoapError::Missing { operation, what: "Uri" })?;
    url::Url::parse(uri).map_err(|_| SoapError::Invalid { operation, what: "URI", value: uri.to_owned() })?;
    Ok(uri.to_owned())
}

/// One device that answered a WS-Discovery probe.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeMatch {
    /// The endpoint reference (`urn:uuid:...`, sometimes a bare `uuid:...`), the device's identity.
    pub endpoint: String,
    pub types: Vec<String>,
    pub scopes: Vec<String>,
    /// Device service URLs, in the device's order.
    pub xaddrs: Vec<String>,
}

impl ProbeMatch {
    /// A scope's value, e.g. `name` from `onvif://www.onvif.org/name/Amcrest`, percent-decoded.
    pub fn scope(&self, key: &str) -> Option<String> {
        let prefix = format!("onvif://www.onvif.org/{key}/");
        self.scopes.iter().find_map(|s| s.strip_prefix(&prefix)).map(|v| {
            url::form_urlencoded::parse(format!("v={}", v.replace('+', "%2B")).as_bytes())
                .next()
                .map_or_else(|| v.to_owned(), |(_, d)| d.into_owned())
        })
    }

    /// Whether the scopes or types suggest a doorbell.
    pub fn looks_like_doorbell(&self) -> bool {
        let hay = format!("{} {}", self.scopes.join(" "), self.types.join(" ")).to_ascii_lowercase();
        hay.contains("doorbell") || hay.contains("door_bell") || hay.contains("door%20bell")
    }
}

/// The WS-Addressing `RelatesTo` of a message (which request it answers), if present.
pub fn relates_to(text: &str) -> Option<String> {
    let root = xml::parse(text).ok()?;
    root.child("Header")?.text_at(&["RelatesTo"]).map(str::to_owned)
}

/// ProbeMatches (or Hello) messages: every match, with endpoint and addresses.
pub fn probe_matches(text: &str) -> Result<Vec<ProbeMatch>, SoapError> {
    const OP: &str = "ProbeMatches";
    let r = response(text)?;
    let matches: Vec<&Element> = match r.name.as_str() {
        "ProbeMatches" => r.children_named("ProbeMatch").collect(),
        "Hello" => vec![&r],
        other => {
            return Err(SoapError::NotSoap(format!("expected <ProbeMatches> or <Hello>, found <{other}>")));
        }
    };
    let mut out = Vec::new();
    for m in matches {
        let endpoint = m
            .text_at(&["EndpointReference", "Address"])
            .ok_or(SoapError::Missing { operation: OP, what: "EndpointReference/Address" })?
            .to_owned();
        let split = |n: &str| {
            m.text_at(&[n]).map(|t| t.split_whitespace().map(str::to_owned).collect()).unwrap_or_default()
        };
        let types: Vec<String> = split("Types");
        out.push(ProbeMatch {
            endpoint,
            types: types.iter().map(|t| local(t).to_owned()).collect(),
            scopes: split("Scopes"),
            xaddrs: split("XAddrs"),
        });
    }
    Ok(out)
}

/// The endpoint of a Bye message.
pub fn bye(text: &str) -> Result<String, SoapError> {
    let r = response(text)?;
    let r = expect(&r, "Bye", "Bye")?;
    r.text_at(&["EndpointReference", "Address"])
        .map(str::to_owned)
        .ok_or(SoapError::Missing { operation: "Bye", what: "EndpointReference/Address" })
}

/// An xs:dateTime from a device, or `None` if it is not a valid one (devices send minute 61).
pub fn time(text: &str) -> Option<jiff::Timestamp> {
    text.trim().parse::<jiff::Timestamp>().ok()
}

/// The event topics a device says it can send (GetEventProperties' TopicSet), as paths without
/// namespace prefixes: `VideoSource/MotionAlarm`, `RuleEngine/CellMotionDetector/Motion`, ...
pub fn event_topics(text: &str) -> Result<Vec<String>, SoapError> {
    const OP: &str = "GetEventProperties";
    let r = response(text)?;
    let r = expect(&r, OP, "GetEventPropertiesResponse")?;
    let set = r.child("TopicSet").ok_or(SoapError::Missing { operation: OP, what: "TopicSet" })?;
    let mut out = Vec::new();
    fn walk(e: &Element, path: &mut Vec<String>, out: &mut Vec<String>) {
        for c in &e.children {
            if c.name == "MessageDescription" {
                continue;
            }
            path.push(c.name.clone());
            if c.attr("topic").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
                out.push(path.join("/"));
            }
            walk(c, path, out);
            path.pop();
        }
    }
    walk(set, &mut Vec::new(), &mut out);
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Where PullMessages, Renew and Unsubscribe go.
    pub address: String,
    pub current_time: Option<String>,
    pub termination_time: Option<String>,
}

pub fn create_pull_point(text: &str) -> Result<Subscription, SoapError> {
    const OP: &str = "CreatePullPointSubscription";
    let r = response(text)?;
    let r = expect(&r, OP, "CreatePullPointSubscriptionResponse")?;
    let address = r
        .text_at(&["SubscriptionReference", "Address"])
        .ok_or(SoapError::Missing { operation: OP, what: "SubscriptionReference/Address" })?;
    url::Url::parse(address).map_err(|_| SoapError::Invalid {
        operation: OP,
        what: "subscription address",
        value: address.to_owned(),
    })?;
    Ok(Subscription {
        address: address.to_owned(),
        current_time: r.text_at(&["CurrentTime"]).map(str::to_owned),
        termination_time: r.text_at(&["TerminationTime"]).map(str::to_owned),
    })
}

/// One ONVIF event notification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notification {
    /// The topic without namespace prefixes: `RuleEngine/CellMotionDetector/Motion`.
    pub topic: String,
    pub utc_time: Option<String>,
    /// `Initialized`, `Changed` or `Deleted` (property events), if given.
    pub operation: Option<String>,
    pub source: Vec<(String, String)>,
    pub data: Vec<(String, String)>,
}

impl Notification {
    pub fn data_value(&self, name: &str) -> Option<&str> {
        self.data.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Notifications from a PullMessages response, a metadata stream, or a bare
/// NotificationMessage: wherever `NotificationMessage` elements are.
pub fn notifications(text: &str) -> Result<Vec<Notification>, SoapError> {
    let root = xml::parse(text).map_err(SoapError::Xml)?;
    if root.name == "Envelope" {
        // A fault must not read as "no events".
        response(text)?;
    }
    let mut found = Vec::new();
    if root.name == "NotificationMessage" {
        found.push(&root);
    } else {
        root.find_all("NotificationMessage", &mut found);
    }
    found.into_iter().map(notification).collect()
}

/// A PullMessages response: the notifications (an empty list is a normal, quiet pull).
pub fn pull_messages(text: &str) -> Result<Vec<Notification>, SoapError> {
    let r = response(text)?;
    expect(&r, "PullMessages", "PullMessagesResponse")?;
    notifications(text)
}

fn notification(m: &Element) -> Result<Notification, SoapError> {
    const OP: &str = "PullMessages";
    let topic = m.text_at(&["Topic"]).ok_or(SoapError::Missing { operation: OP, what: "Topic" })?;
    let topic = topic.split('/').map(local).collect::<Vec<_>>().join("/");
    let msg = m.path(&["Message", "Message"]).or_else(|| m.child("Message"));
    let items = |e: Option<&Element>| -> Vec<(String, String)> {
        e.map(|e| {
            e.children_named("SimpleItem")
                .map(|i| {
                    (
                        i.attr("Name").unwrap_or_default().to_owned(),
                        i.attr("Value").unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
    };
    Ok(Notification {
        topic,
        utc_time: msg.and_then(|m| m.attr("UtcTime")).map(str::to_owned),
        operation: msg.and_then(|m| m.attr("PropertyOperation")).map(str::to_owned),
        source: items(msg.and_then(|m| m.child("Source"))),
        data: items(msg.and_then(|m| m.child("Data"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_onvif_code_at_the_top_level_of_a_fault_is_classified_like_a_subcode() {
        let flat = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:ter="http://www.onvif.org/ver10/error"><s:Body><s:Fault><s:Code><s:Value>ter:ActionNotSupported</s:Value></s:Code><s:Reason><s:Text xml:lang="en">no</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>"#;
        let Err(SoapError::Fault(f)) = response(flat) else { panic!("a fault") };
        assert_eq!(f.kind(), FaultKind::ActionNotSupported, "{f:?}");
        let plain = Fault { code: "Receiver".into(), subcodes: vec![], reason: "busy".into() };
        assert_eq!(plain.kind(), FaultKind::Other);
    }
}

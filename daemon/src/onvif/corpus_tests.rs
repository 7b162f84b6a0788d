//! Every file of the real-device corpus (`testdata/onvif/`, see its SOURCES.md) through the
//! parser of its operation: it parses, or fails with the clear error the file calls for.

use std::path::{Path, PathBuf};

use super::parse::{self, FaultKind, SoapError};
use super::topics;
use crate::config::SignalKind;

fn corpus() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/onvif");
    let mut files = Vec::new();
    for vendor in std::fs::read_dir(&root).expect("testdata/onvif").flatten() {
        if !vendor.path().is_dir() || vendor.file_name() == "LICENSES" {
            continue;
        }
        for f in std::fs::read_dir(vendor.path()).expect("vendor dir").flatten() {
            if f.path().extension().is_some_and(|e| e == "xml") {
                files.push(f.path());
            }
        }
    }
    files.sort();
    files
}

/// `<model>_<Operation>[_<variant>].xml` → (operation, variant).
fn operation(path: &Path) -> (String, String) {
    let stem = path.file_stem().and_then(|s| s.to_str()).expect("name");
    let mut parts = stem.splitn(3, '_');
    let _model = parts.next();
    (parts.next().unwrap_or_default().to_owned(), parts.next().unwrap_or_default().to_owned())
}

fn read(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).expect("read")).into_owned()
}

#[test]
fn every_corpus_file_parses_or_fails_clearly() {
    let files = corpus();
    assert!(files.len() >= 80, "corpus has {} files", files.len());
    let mut checked = 0;
    for path in &files {
        let (op, variant) = operation(path);
        let text = read(path);
        let name = path
            .strip_prefix(Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/onvif"))
            .unwrap_or(path);
        let name = name.display().to_string();
        match op.as_str() {
            "ProbeMatches" => {
                let m = parse::probe_matches(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(!m.is_empty(), "{name}");
                for p in &m {
                    assert!(!p.endpoint.is_empty() && !p.xaddrs.is_empty(), "{name}: {p:?}");
                    assert!(p.xaddrs.iter().all(|x| x.starts_with("http")), "{name}: {p:?}");
                }
            }
            "GetDeviceInformation" => {
                let d = parse::device_information(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(!d.manufacturer.is_empty() || !d.model.is_empty(), "{name}");
            }
            "GetCapabilities" => {
                let s = parse::capabilities(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(s.device.is_some(), "{name}: {s:?}");
                // The DRN-3282R is an NVR that lists no Media capability at all (SOURCES.md).
                assert_eq!(s.media.is_some(), !name.contains("drn-3282r"), "{name}: {s:?}");
            }
            "GetServices" => {
                let s = parse::services(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(s.device.is_some() && (s.media.is_some() || s.media2.is_some()), "{name}: {s:?}");
            }
            "GetProfiles" | "Media2-GetProfiles" => {
                let p = parse::profiles(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(p.iter().all(|p| !p.token.is_empty()), "{name}");
            }
            "GetStreamUri" | "Media2-GetStreamUri" => {
                let u = parse::media_uri(&text, "GetStreamUri").unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(u.starts_with("rtsp://"), "{name}: {u}");
            }
            "GetSnapshotUri" => {
                let u = parse::media_uri(&text, "GetSnapshotUri").unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(u.starts_with("http"), "{name}: {u}");
            }
            "CreatePullPointSubscription" => {
                let s = parse::create_pull_point(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(s.address.starts_with("http"), "{name}: {s:?}");
            }
            "PullMessages" | "MetadataEvent" => {
                let n = if variant.ends_with("FRAGMENT") || op == "MetadataEvent" {
                    parse::notifications(&text)
                } else {
                    parse::pull_messages(&text)
                };
                let n = n.unwrap_or_else(|e| panic!("{name}: {e}"));
                if variant.contains("invalid-TerminationTime") {
                    // An empty pull with a TerminationTime at minute 61: quiet, and the bad time
                    // is "unknown" (renewal then follows Porchlight's own schedule).
                    assert!(n.is_empty(), "{name}");
                    let r = parse::response(&text).expect("response");
                    let t = r.text_at(&["TerminationTime"]).expect("present");
                    assert_eq!(parse::time(t), None, "{name}");
                    checked += 1;
                    continue;
                }
                assert!(!n.is_empty(), "{name}: no notifications");
                let kinds: Vec<_> =
                    n.iter().filter_map(|n| topics::classify(n, &[])).map(|s| s.kind).collect();
                let expect = match variant.as_str() {
                    v if v.contains("Visitor") => Some(SignalKind::Doorbell),
                    v if v.contains("DigitalInput") => Some(SignalKind::Doorbell),
                    v if v.contains("tamper") => Some(SignalKind::Tamper),
                    v if v.contains("Relay") => None,
                    _ => Some(SignalKind::Motion),
                };
                match expect {
                    Some(k) => {
                        assert!(kinds.contains(&k), "{name}: expected {k:?}, got {kinds:?} from {n:#?}")
                    }
                    None => {
                        assert!(kinds.is_empty(), "{name}: a relay output is not a camera event: {kinds:?}")
                    }
                }
            }
            "GetEventProperties" => {
                let topics = parse::event_topics(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(topics.iter().any(|t| t == "VideoSource/MotionAlarm"), "{name}: {topics:?}");
            }
            "GetEventInstances" => {
                // Axis's own variant of GetEventProperties: not used; it must read as SOAP.
                parse::response(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            }
            "Fault" => {
                let Err(SoapError::Fault(f)) = parse::response(&text) else {
                    panic!("{name}: expected a SOAP fault");
                };
                let expect = if variant.contains("Unauthorized") {
                    FaultKind::NotAuthorized
                } else if variant.contains("ActionNotSupported") || variant.contains("NotImplemented") {
                    FaultKind::ActionNotSupported
                } else if variant.contains("InvalidArgVal") {
                    FaultKind::InvalidArgs
                } else if variant.contains("OperationProhibited") {
                    FaultKind::OperationProhibited
                } else {
                    FaultKind::Other
                };
                assert_eq!(f.kind(), expect, "{name}: {f:?}");
                assert!(!f.to_string().is_empty());
            }
            "GetSystemDateAndTime" if variant.contains("NOT-XML") => {
                let err = parse::system_date_time(&text).expect_err("an HTML page");
                assert!(err.to_string().contains("HTML"), "{name}: {err}");
            }
            other => panic!("{name}: no parser for operation {other:?}; add one to this test"),
        }
        checked += 1;
    }
    assert_eq!(checked, files.len());
}

fn file(rel: &str) -> String {
    read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/onvif").join(rel))
}

#[test]
fn values_come_out_as_the_devices_sent_them() {
    let p = parse::profiles(&file("hikvision-oem/enp1a14-ir-25x_GetProfiles.xml")).expect("profiles");
    assert_eq!(p[0].token, "Profile_1");
    assert_eq!(p[0].name, "mainStream");
    assert_eq!(p[0].encoding.as_deref(), Some("H265"));
    assert_eq!((p[0].width, p[0].height), (Some(2560), Some(1440)));
    assert_eq!(p[0].fps, Some(25.0));
    let uri = parse::media_uri(&file("hikvision-oem/enp1a14-ir-25x_Media2-GetStreamUri.xml"), "GetStreamUri")
        .expect("uri");
    assert_eq!(uri, "rtsp://192.168.1.182/Streaming/Channels/101?transportmode=unicast&profile=Profile_1");
    let m = parse::probe_matches(&file("amcrest/ip2m-841b_ProbeMatches.xml")).expect("probe");
    assert_eq!(m[0].endpoint, "uuid:278b1b37-153c-452d-b316-d2ed4e99e6a2");
    assert_eq!(m[0].scope("name").as_deref(), Some("Amcrest"));
    assert_eq!(m[0].scope("hardware").as_deref(), Some("IP2M-841B"));
    assert!(m[0].types.contains(&"NetworkVideoTransmitter".to_owned()));
    let s = parse::services(&file("hikvision-oem/enp1a14-ir-25x_GetServices.xml")).expect("services");
    assert_eq!(s.events.as_deref(), Some("http://192.168.1.182/onvif/Events"));
    let sub = parse::create_pull_point(&file("dvc/dcn-bf5365_CreatePullPointSubscription.xml")).expect("sub");
    assert_eq!(sub.address, "http://192.0.2.14:80/onvif/event/subsription_34");
    assert_eq!(
        sub.termination_time.as_deref().and_then(parse::time).map(|t| t.to_string()).as_deref(),
        Some("2026-10-03T02:28:19Z")
    );
    let n = parse::pull_messages(&file("dvc/dcn-bf5365_PullMessages_motion.xml")).expect("pull");
    assert_eq!(n[0].topic, "VideoSource/MotionAlarm");
    assert_eq!(n[0].operation.as_deref(), Some("Changed"));
    assert_eq!(n[0].data_value("State"), Some("true"));
    let err = parse::device_information(&file("dvc/dcn-bf5365_Fault_GetSystemDateAndTime-Unauthorized.xml"))
        .expect_err("fault");
    assert!(err.to_string().starts_with("not authorized"), "{err}");
}

/// Every parser on the input; none may panic, whatever the input.
fn parse_everything(text: &str) {
    let _ = parse::response(text);
    let _ = parse::device_information(text);
    let _ = parse::system_date_time(text);
    let _ = parse::capabilities(text);
    let _ = parse::services(text);
    let _ = parse::profiles(text);
    let _ = parse::media_uri(text, "GetStreamUri");
    let _ = parse::probe_matches(text);
    let _ = parse::bye(text);
    let _ = super::discovery::announcement(text, std::net::IpAddr::from([192, 0, 2, 1]));
    let _ = parse::create_pull_point(text);
    if let Ok(notes) = parse::notifications(text) {
        for n in &notes {
            let _ = topics::classify(n, &[]);
        }
    }
    let _ = parse::pull_messages(text);
    let _ = parse::event_topics(text);
}

/// A mutation fuzzer over the corpus (a bounded smoke run in the test suite; set
/// `PORCHLIGHT_FUZZ_ITERATIONS` for a longer one): byte flips, truncations, splices and
/// inserted markup, through every parser. Deterministic per seed, printed on failure.
#[test]
fn no_parser_panics_on_mutated_camera_responses() {
    let iterations: usize =
        std::env::var("PORCHLIGHT_FUZZ_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let files: Vec<Vec<u8>> = corpus().iter().map(|p| std::fs::read(p).expect("read")).collect();
    let snippets: [&[u8]; 8] = [b"<", b">", b"&", b"&#x0;", b"<![CDATA[", b"</a>", b"<a:b c='", b"\xff\xfe"];
    for seed in 0..iterations as u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        for (i, original) in files.iter().enumerate() {
            let mut data = original.clone();
            for _ in 0..rng.usize(1..8) {
                if data.is_empty() {
                    break;
                }
                let at = rng.usize(..data.len());
                match rng.u8(..5) {
                    0 => data[at] = rng.u8(..),
                    1 => data.truncate(at),
                    2 => {
                        let s = snippets[rng.usize(..snippets.len())];
                        data.splice(at..at, s.iter().copied());
                    }
                    3 => {
                        // Splice in a piece of another file.
                        let other = &files[rng.usize(..files.len())];
                        let from = rng.usize(..other.len().max(1));
                        let len = rng.usize(..64).min(other.len().saturating_sub(from));
                        data.splice(at..at, other[from..from + len].iter().copied());
                    }
                    _ => {
                        let end = (at + rng.usize(..32)).min(data.len());
                        data.drain(at..end);
                    }
                }
            }
            let text = String::from_utf8_lossy(&data);
            let outcome = std::panic::catch_unwind(|| parse_everything(&text));
            assert!(outcome.is_ok(), "a parser panicked: seed {seed}, file #{i} of the sorted corpus");
        }
    }
    // Hostile shapes, not mutations of real files.
    parse_everything(&"<a>".repeat(10_000));
    parse_everything(&format!("<s:Envelope><s:Body>{}</s:Body></s:Envelope>", "<x/>".repeat(200_000)));
    parse_everything("<s:Envelope><s:Body><ProbeMatches><ProbeMatch/></ProbeMatches></s:Body></s:Envelope>");
}

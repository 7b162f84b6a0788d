//! Which ONVIF event topics mean motion, a doorbell press or tamper, and whether the event
//! turns the condition on or off. Vendors differ (Reolink reports its doorbell as
//! `RuleEngine/MyRuleDetector/Visitor`, Axis uses its own VMD and ObjectAnalytics topics);
//! anything else can be mapped per camera in the config (`[[camera.event_map]]`).

use super::parse::Notification;
use crate::config::{SignalKind, TopicMap};

/// A recognised notification: what it is and whether it is now active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signal {
    pub kind: SignalKind,
    pub active: bool,
}

/// Whether a resident's mapping covers `topic` (case-insensitive; a `*` at the end of the
/// mapping's topic makes it a prefix).
fn map_matches(map: &TopicMap, topic: &str) -> bool {
    let (t, want) = (topic.to_ascii_lowercase(), map.topic.to_ascii_lowercase());
    match want.strip_suffix('*') {
        Some(prefix) => t.starts_with(prefix),
        None => t == want,
    }
}

/// Built-in rules, checked in order: (topic fragment, kind). Matching is case-insensitive on
/// the topic without namespace prefixes.
const RULES: &[(&str, SignalKind)] = &[
    // Doorbells first: Reolink's visitor "rule" sits under MyRuleDetector like its motion rules.
    ("myruledetector/visitor", SignalKind::Doorbell),
    ("doorbell", SignalKind::Doorbell),
    ("callbutton", SignalKind::Doorbell),
    ("trigger/digitalinput", SignalKind::Doorbell),
    ("io/port", SignalKind::Doorbell),
    // Tamper.
    ("globalscenechange", SignalKind::Tamper),
    ("tamperdetector", SignalKind::Tamper),
    ("/tamper", SignalKind::Tamper),
    // Motion and object detection.
    ("motionalarm", SignalKind::Motion),
    ("cellmotiondetector", SignalKind::Motion),
    ("motionregiondetector", SignalKind::Motion),
    ("motiondetect", SignalKind::Motion),
    ("myruledetector/", SignalKind::Motion),
    ("vmd", SignalKind::Motion),
    ("objectanalytics", SignalKind::Motion),
    ("fielddetector", SignalKind::Motion),
    ("linedetector", SignalKind::Motion),
    ("sensor/pir", SignalKind::Motion),
];

/// Data item names that carry the state, in order of preference.
const STATE_ITEMS: &[&str] =
    &["State", "IsMotion", "LogicalState", "IsTamper", "IsInside", "Active", "Triggered", "Value"];

/// Parses a state value: `true`/`false`, `1`/`0`, `active`/`inactive`, `on`/`off`.
pub fn state_value(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "active" | "on" | "yes" => Some(true),
        "false" | "0" | "inactive" | "off" | "no" => Some(false),
        _ => None,
    }
}

/// What kind of event a topic is, if Porchlight knows it (`map` first, then the rules).
pub fn kind_of(topic: &str, map: &[TopicMap]) -> Option<SignalKind> {
    map.iter().find(|m| map_matches(m, topic)).map(|m| m.kind).or_else(|| {
        let t = topic.to_ascii_lowercase();
        RULES.iter().find(|(frag, _)| t.contains(frag)).map(|(_, k)| *k)
    })
}

/// What a notification means, if anything. `map` (the camera's config) wins over the rules.
pub fn classify(n: &Notification, map: &[TopicMap]) -> Option<Signal> {
    let kind = kind_of(&n.topic, map)?;
    let value = STATE_ITEMS
        .iter()
        .find_map(|name| n.data_value(name))
        .or_else(|| if n.data.len() == 1 { Some(n.data[0].1.as_str()) } else { None })?;
    Some(Signal { kind, active: state_value(value)? })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(topic: &str, item: &str, value: &str) -> Notification {
        Notification {
            topic: topic.into(),
            data: vec![(item.into(), value.into())],
            ..Notification::default()
        }
    }

    #[test]
    fn the_common_topics_map_to_motion_doorbell_and_tamper() {
        let cases = [
            ("VideoSource/MotionAlarm", "State", "true", SignalKind::Motion, true),
            ("RuleEngine/CellMotionDetector/Motion", "IsMotion", "false", SignalKind::Motion, false),
            ("RuleEngine/MyRuleDetector/PeopleDetect", "State", "1", SignalKind::Motion, true),
            ("RuleEngine/MyRuleDetector/Visitor", "State", "true", SignalKind::Doorbell, true),
            ("Device/Trigger/DigitalInput", "LogicalState", "true", SignalKind::Doorbell, true),
            ("Device/IO/Port", "state", "0", SignalKind::Doorbell, false),
            ("VideoSource/GlobalSceneChange/ImagingService", "State", "true", SignalKind::Tamper, true),
            ("RuleEngine/TamperDetector/Tamper", "IsTamper", "true", SignalKind::Tamper, true),
            ("RuleEngine/VMD4/Camera1Profile1", "active", "1", SignalKind::Motion, true),
            ("Device/Sensor/PIR", "state", "1", SignalKind::Motion, true),
        ];
        for (topic, item, value, kind, active) in cases {
            assert_eq!(classify(&n(topic, item, value), &[]), Some(Signal { kind, active }), "{topic}");
        }
    }

    #[test]
    fn unknown_topics_and_values_are_ignored_unless_mapped() {
        assert_eq!(classify(&n("Monitoring/ProcessorUsage", "Value", "12"), &[]), None);
        assert_eq!(classify(&n("VideoSource/MotionAlarm", "State", "maybe"), &[]), None);
        let map = [TopicMap { topic: "Vendor/Bell*".into(), kind: SignalKind::Doorbell }];
        assert_eq!(
            classify(&n("Vendor/BellRing", "Pressed", "1"), &map),
            Some(Signal { kind: SignalKind::Doorbell, active: true })
        );
        // A mapping overrides the built-in rule for the same topic.
        let map = [TopicMap { topic: "VideoSource/MotionAlarm".into(), kind: SignalKind::Tamper }];
        assert_eq!(
            classify(&n("VideoSource/MotionAlarm", "State", "true"), &map).map(|s| s.kind),
            Some(SignalKind::Tamper)
        );
    }
}

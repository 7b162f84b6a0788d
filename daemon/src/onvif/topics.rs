//! Which ONVIF event topics mean motion, a doorbell press or tamper, and whether the event
//! turns the condition on or off. Vendors differ (Reolink reports its doorbell as
//! `RuleEngine/MyRuleDetector/Visitor`, Axis uses its own VMD and ObjectAnalytics topics);
//! anything else can be mapped per camera in the config (`[[camera.event_map]]`).

use super::parse::Notification;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Motion,
    Doorbell,
    Tamper,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Motion => "motion",
            Self::Doorbell => "doorbell",
            Self::Tamper => "tamper",
        }
    }
}

/// A recognised notification: what it is and whether it is now active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signal {
    pub kind: Kind,
    pub active: bool,
}

/// A resident's mapping: a topic (exact, or a prefix ending in `*`) to a kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMap {
    pub topic: String,
    pub kind: Kind,
}

impl TopicMap {
    fn matches(&self, topic: &str) -> bool {
        let (t, want) = (topic.to_ascii_lowercase(), self.topic.to_ascii_lowercase());
        match want.strip_suffix('*') {
            Some(prefix) => t.starts_with(prefix),
            None => t == want,
        }
    }
}

/// Built-in rules, checked in order: (topic fragment, kind). Matching is case-insensitive on
/// the topic without namespace prefixes.
const RULES: &[(&str, Kind)] = &[
    // Doorbells first: Reolink's visitor "rule" sits under MyRuleDetector like its motion rules.
    ("myruledetector/visitor", Kind::Doorbell),
    ("doorbell", Kind::Doorbell),
    ("callbutton", Kind::Doorbell),
    ("trigger/digitalinput", Kind::Doorbell),
    ("io/port", Kind::Doorbell),
    // Tamper.
    ("globalscenechange", Kind::Tamper),
    ("tamperdetector", Kind::Tamper),
    ("/tamper", Kind::Tamper),
    // Motion and object detection.
    ("motionalarm", Kind::Motion),
    ("cellmotiondetector", Kind::Motion),
    ("motionregiondetector", Kind::Motion),
    ("motiondetect", Kind::Motion),
    ("myruledetector/", Kind::Motion),
    ("vmd", Kind::Motion),
    ("objectanalytics", Kind::Motion),
    ("fielddetector", Kind::Motion),
    ("linedetector", Kind::Motion),
    ("sensor/pir", Kind::Motion),
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
pub fn kind_of(topic: &str, map: &[TopicMap]) -> Option<Kind> {
    map.iter().find(|m| m.matches(topic)).map(|m| m.kind).or_else(|| {
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
            ("VideoSource/MotionAlarm", "State", "true", Kind::Motion, true),
            ("RuleEngine/CellMotionDetector/Motion", "IsMotion", "false", Kind::Motion, false),
            ("RuleEngine/MyRuleDetector/PeopleDetect", "State", "1", Kind::Motion, true),
            ("RuleEngine/MyRuleDetector/Visitor", "State", "true", Kind::Doorbell, true),
            ("Device/Trigger/DigitalInput", "LogicalState", "true", Kind::Doorbell, true),
            ("Device/IO/Port", "state", "0", Kind::Doorbell, false),
            ("VideoSource/GlobalSceneChange/ImagingService", "State", "true", Kind::Tamper, true),
            ("RuleEngine/TamperDetector/Tamper", "IsTamper", "true", Kind::Tamper, true),
            ("RuleEngine/VMD4/Camera1Profile1", "active", "1", Kind::Motion, true),
            ("Device/Sensor/PIR", "state", "1", Kind::Motion, true),
        ];
        for (topic, item, value, kind, active) in cases {
            assert_eq!(classify(&n(topic, item, value), &[]), Some(Signal { kind, active }), "{topic}");
        }
    }

    #[test]
    fn unknown_topics_and_values_are_ignored_unless_mapped() {
        assert_eq!(classify(&n("Monitoring/ProcessorUsage", "Value", "12"), &[]), None);
        assert_eq!(classify(&n("VideoSource/MotionAlarm", "State", "maybe"), &[]), None);
        let map = [TopicMap { topic: "Vendor/Bell*".into(), kind: Kind::Doorbell }];
        assert_eq!(
            classify(&n("Vendor/BellRing", "Pressed", "1"), &map),
            Some(Signal { kind: Kind::Doorbell, active: true })
        );
        // A mapping overrides the built-in rule for the same topic.
        let map = [TopicMap { topic: "VideoSource/MotionAlarm".into(), kind: Kind::Tamper }];
        assert_eq!(
            classify(&n("VideoSource/MotionAlarm", "State", "true"), &map).map(|s| s.kind),
            Some(Kind::Tamper)
        );
    }
}

//! Porchlight's MQTT topic names, all under `mqtt.topic_prefix` (`docs/ref/mqtt.md`).

/// Topic names for one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    prefix: String,
}

impl Topics {
    pub fn new(prefix: &str) -> Self {
        Self { prefix: prefix.to_owned() }
    }

    fn at(&self, rest: &str) -> String {
        format!("{}/{rest}", self.prefix)
    }

    /// `online` / `offline` (retained; the broker sets `offline` if the hub vanishes).
    pub fn available(&self) -> String {
        self.at("available")
    }
    /// Every bus event as JSON (not retained).
    pub fn events(&self) -> String {
        self.at("events")
    }
    pub fn privacy(&self) -> String {
        self.at("privacy")
    }
    pub fn privacy_set(&self) -> String {
        self.at("privacy/set")
    }
    /// The hub mode (`home`, `away`, `night`, `vacation`; retained).
    pub fn mode(&self) -> String {
        self.at("mode")
    }
    pub fn mode_set(&self) -> String {
        self.at("mode/set")
    }
    /// The waiting requests as a JSON array (retained).
    pub fn requests(&self) -> String {
        self.at("requests")
    }
    /// `<prefix>/requests/+/set`: approve or deny one request (`oldest` for the oldest,
    /// `selected` for the one chosen with [`Topics::request_selection_set`]).
    pub fn request_set_filter(&self) -> String {
        self.at("requests/+/set")
    }
    pub fn request_set(&self, id: &str) -> String {
        self.at(&format!("requests/{id}/set"))
    }
    /// The waiting request the resident has chosen (or the oldest), as its label (retained;
    /// Home Assistant's `select`).
    pub fn request_selection(&self) -> String {
        self.at("requests/selection")
    }
    /// Choose a waiting request: its label or its id.
    pub fn request_selection_set(&self) -> String {
        self.at("requests/selection/set")
    }
    /// `ON` while any request waits for the resident, else `OFF` (retained).
    pub fn requests_waiting(&self) -> String {
        self.at("requests/waiting")
    }
    /// The outcome of the latest answer or choice sent over MQTT, as text (retained).
    pub fn requests_last_result(&self) -> String {
        self.at("requests/last_result")
    }
    /// An event each time a request arrives (HA `event` entity).
    pub fn request_received(&self) -> String {
        self.at("requests/received")
    }
    /// An event each time a request is decided (HA `event` entity).
    pub fn request_decided(&self) -> String {
        self.at("requests/decided")
    }
    pub fn relay_active(&self) -> String {
        self.at("relay/active")
    }
    /// Press (any payload): stop everything being shared.
    pub fn relay_stop(&self) -> String {
        self.at("relay/stop")
    }
    pub fn stats(&self) -> String {
        self.at("stats")
    }
    /// The audit log's head, `{"entries","hash","time"}` (retained): a copy off the hub.
    pub fn audit_head(&self) -> String {
        self.at("audit/head")
    }
    pub fn motion(&self, camera: &str) -> String {
        self.at(&format!("{camera}/motion"))
    }
    pub fn doorbell(&self, camera: &str) -> String {
        self.at(&format!("{camera}/doorbell"))
    }
    pub fn connectivity(&self, camera: &str) -> String {
        self.at(&format!("{camera}/connectivity"))
    }
    /// The camera task's state: `recording`, `offline`, `connecting`, ...
    pub fn status(&self, camera: &str) -> String {
        self.at(&format!("{camera}/status"))
    }
    /// The camera's latest still image (bytes as the camera sent them; retained).
    pub fn snapshot(&self, camera: &str) -> String {
        self.at(&format!("{camera}/snapshot"))
    }
    pub fn record(&self, camera: &str) -> String {
        self.at(&format!("{camera}/record"))
    }
    pub fn record_set(&self, camera: &str) -> String {
        self.at(&format!("{camera}/record/set"))
    }
    /// `<prefix>/+/record/set`.
    pub fn record_set_filter(&self) -> String {
        self.at("+/record/set")
    }

    /// What a command topic asks for, if it is one of ours.
    pub fn command<'a>(&self, topic: &'a str) -> Option<Command<'a>> {
        let rest = topic.strip_prefix(self.prefix.as_str())?.strip_prefix('/')?;
        if rest == "privacy/set" {
            return Some(Command::Privacy);
        }
        if rest == "relay/stop" {
            return Some(Command::StopSharing);
        }
        if rest == "mode/set" {
            return Some(Command::Mode);
        }
        let parts: Vec<&str> = rest.split('/').collect();
        match parts.as_slice() {
            ["requests", "selection", "set"] => Some(Command::Select),
            ["requests", id, "set"] if !id.is_empty() => Some(Command::Request(id)),
            [camera, "record", "set"] if !camera.is_empty() => Some(Command::Record(camera)),
            _ => None,
        }
    }
}

/// A command topic, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command<'a> {
    Privacy,
    /// Stop everything being shared now.
    StopSharing,
    /// Switch the hub mode.
    Mode,
    /// Answer a request (`oldest`, `selected` or its id).
    Request(&'a str),
    /// Choose the waiting request the `selected` answers go to.
    Select,
    Record(&'a str),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_topics_round_trip() {
        let t = Topics::new("home/porchlight");
        assert_eq!(t.command(&t.privacy_set()), Some(Command::Privacy));
        assert_eq!(t.command(&t.relay_stop()), Some(Command::StopSharing));
        assert_eq!(t.command(&t.mode_set()), Some(Command::Mode));
        assert_eq!(t.command(&t.request_set("r-1")), Some(Command::Request("r-1")));
        assert_eq!(t.command(&t.record_set("porch")), Some(Command::Record("porch")));
        assert_eq!(t.command(&t.request_selection_set()), Some(Command::Select));
        assert_eq!(t.command(&t.request_set("selected")), Some(Command::Request("selected")));
        for other in [
            "home/porchlight/privacy",
            "home/porchlightx/privacy/set",
            "home/porchlight//record/set",
            "x/privacy/set",
            "home/porchlight/requests//set",
        ] {
            assert_eq!(t.command(other), None, "{other}");
        }
    }
}

//! `Secret`: a string that never shows itself in `Debug`, `Display`, logs or API output.

use std::fmt;

/// A password or token. Its `Debug` and `Display` print `[redacted]`; read it only with
/// [`Secret::expose`] at the one place that hands it to a peer.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself. Call this only where it is sent to the peer that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares in time independent of where the first difference is (for bearer tokens).
    pub fn constant_time_eq(&self, other: &[u8]) -> bool {
        let mine = self.0.as_bytes();
        if mine.len() != other.len() {
            return false;
        }
        mine.iter().zip(other).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_redact() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(format!("{s}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(s)), "Some([redacted])");
    }

    #[test]
    fn constant_time_eq_matches_only_equal() {
        let s = Secret::new("token-123");
        assert!(s.constant_time_eq(b"token-123"));
        assert!(!s.constant_time_eq(b"token-124"));
        assert!(!s.constant_time_eq(b"token-12"));
        assert!(!s.constant_time_eq(b"token-1234"));
        assert!(!s.constant_time_eq(b""));
        assert!(!Secret::new("").constant_time_eq(b"x"));
        assert!(Secret::new("").constant_time_eq(b""));
    }
}

//! Hex and SHA-256 helpers shared by the audit log, evidence manifests, plugin pins and TLS
//! certificate pins. A leaf: it imports nothing of the crate.

use sha2::{Digest, Sha256};

/// Bytes as lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 (hex, as `sha256sum` prints it) of bytes in memory.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Reads a pinned fingerprint: 64 hex digits, with or without `:` between bytes (as
/// `openssl x509 -fingerprint -sha256` prints it), any case.
pub fn parse_fingerprint(text: &str) -> Option<[u8; 32]> {
    let hex: String = text.trim().trim_start_matches("sha256:").chars().filter(|c| *c != ':').collect();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_pins_are_read_as_sha256sum_or_openssl_print_them() {
        let plain = "5f".repeat(32);
        assert_eq!(parse_fingerprint(&plain), Some([0x5f; 32]));
        let openssl = "5F:".repeat(31) + "5F";
        assert_eq!(parse_fingerprint(&openssl), Some([0x5f; 32]));
        assert_eq!(parse_fingerprint(&format!("sha256:{plain}")), Some([0x5f; 32]));
        for bad in ["", "5f", &"5f".repeat(33), &"zz".repeat(32)] {
            assert_eq!(parse_fingerprint(bad), None, "{bad}");
        }
    }
}

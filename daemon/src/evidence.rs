//! Evidence manifests: for every file the hub shares, a statement of what it is and why it was
//! shared (request, camera, time range, the file's SHA-256 and size, the grant, every policy's
//! decision, the hub), signed with the hub's Ed25519 key (`keys.rs`).
//!
//! The signed text is kept exactly as signed: a manifest file is
//! `{"algorithm": "ed25519", "public_key": B64, "signature": B64, "payload": "<JSON text>"}`,
//! and the signature covers the bytes of `payload`, so no JSON re-encoding can break it.
//! `porchlight evidence verify MANIFEST FILE` checks the signature and the file.

use std::io::Read;
use std::path::Path;

use base64::Engine;
use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::keys::HubKey;
use crate::policy::Grant;

/// What one shared file is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub version: u32,
    pub hub_id: String,
    pub request_id: String,
    pub camera: String,
    pub from: jiff::Timestamp,
    pub to: jiff::Timestamp,
    pub file_name: String,
    pub bytes: u64,
    pub sha256: String,
    pub grant: Grant,
    pub plugins: Vec<PluginDecision>,
    pub created_at: jiff::Timestamp,
}

/// One policy's part in the decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginDecision {
    pub plugin: String,
    pub sha256: String,
    pub decision: String,
}

/// A manifest file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signed {
    pub algorithm: String,
    pub public_key: String,
    pub signature: String,
    pub payload: String,
}

/// Why a manifest does not check out.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot read {what}: {message}")]
    Read { what: String, message: String },
    #[error("not a Porchlight evidence manifest: {0}")]
    Format(String),
    #[error("the signature does not match the manifest (it was changed, or signed by another key)")]
    BadSignature,
    #[error("signed by key {found}, not by the expected {expected}")]
    WrongKey { found: String, expected: String },
    #[error("the file does not match the manifest: {0}")]
    FileMismatch(String),
}

/// Signs `manifest` with the hub's key.
pub fn sign(manifest: &Manifest, key: &HubKey) -> Signed {
    let payload = serde_json::to_string_pretty(manifest).unwrap_or_default();
    Signed {
        algorithm: "ed25519".into(),
        public_key: key.public_base64(),
        signature: key.sign(payload.as_bytes()),
        payload,
    }
}

/// SHA-256 (hex) and size of a file.
pub fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut f = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((crate::digest::hex(&hasher.finalize()), total))
}

/// What [`verify`] found.
#[derive(Debug)]
pub struct Verified {
    pub manifest: Manifest,
    /// The signing key's fingerprint.
    pub fingerprint: String,
}

/// Checks the signature of the manifest text `signed` and that `file` is the file it describes.
/// With `expected_key` (base64), the manifest must be signed by that key.
pub fn verify(signed: &[u8], file: &Path, expected_key: Option<&str>) -> Result<Verified, VerifyError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let signed: Signed = serde_json::from_slice(signed).map_err(|e| VerifyError::Format(e.to_string()))?;
    if signed.algorithm != "ed25519" {
        return Err(VerifyError::Format(format!("unknown algorithm {:?}", signed.algorithm)));
    }
    let public = b64
        .decode(signed.public_key.trim())
        .ok()
        .and_then(|k| <[u8; 32]>::try_from(k.as_slice()).ok())
        .ok_or_else(|| VerifyError::Format("public_key is not 32 bytes of base64".into()))?;
    let fingerprint = crate::keys::fingerprint(&public);
    if let Some(expected) = expected_key {
        let want = b64
            .decode(expected.trim())
            .map_err(|_| VerifyError::Format("--public-key is not base64".into()))?;
        if want != public {
            return Err(VerifyError::WrongKey {
                found: fingerprint,
                expected: crate::keys::fingerprint(&want),
            });
        }
    }
    let key = VerifyingKey::from_bytes(&public)
        .map_err(|_| VerifyError::Format("public_key is not an Ed25519 key".into()))?;
    let sig = b64
        .decode(signed.signature.trim())
        .ok()
        .and_then(|s| <[u8; 64]>::try_from(s.as_slice()).ok())
        .ok_or_else(|| VerifyError::Format("signature is not 64 bytes of base64".into()))?;
    key.verify_strict(signed.payload.as_bytes(), &Signature::from_bytes(&sig))
        .map_err(|_| VerifyError::BadSignature)?;
    let manifest: Manifest =
        serde_json::from_str(&signed.payload).map_err(|e| VerifyError::Format(format!("payload: {e}")))?;
    let (sha256, bytes) = hash_file(file)
        .map_err(|e| VerifyError::Read { what: file.display().to_string(), message: e.to_string() })?;
    if bytes != manifest.bytes {
        return Err(VerifyError::FileMismatch(format!(
            "{bytes} bytes, the manifest says {}",
            manifest.bytes
        )));
    }
    if sha256 != manifest.sha256 {
        return Err(VerifyError::FileMismatch(format!(
            "SHA-256 {sha256}, the manifest says {}",
            manifest.sha256
        )));
    }
    Ok(Verified { manifest, fingerprint })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(sha256: String, bytes: u64) -> Manifest {
        Manifest {
            version: 1,
            hub_id: "elm-st-12".into(),
            request_id: "rtcc-2".into(),
            camera: "front".into(),
            from: "2026-11-26T17:00:00Z".parse().expect("ts"),
            to: "2026-11-26T17:15:00Z".parse().expect("ts"),
            file_name: "rtcc-2-front.mp4".into(),
            bytes,
            sha256,
            grant: Grant {
                cameras: vec!["front".into()],
                from: Some("2026-11-26T17:00:00Z".parse().expect("ts")),
                to: Some("2026-11-26T17:15:00Z".parse().expect("ts")),
                live_max_seconds: None,
                strip_audio: true,
                notify_resident: true,
            },
            plugins: vec![PluginDecision {
                plugin: "warrant-required".into(),
                sha256: "ab".repeat(32),
                decision: "allow".into(),
            }],
            created_at: "2026-11-26T18:01:00Z".parse().expect("ts"),
        }
    }

    #[test]
    fn a_signed_manifest_checks_out_and_any_change_is_caught() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = HubKey::load_or_create(&dir.path().join("keys")).expect("key");
        let file = dir.path().join("clip.mp4");
        std::fs::write(&file, b"not really an mp4, but bytes are bytes").expect("write");
        let (sha, bytes) = hash_file(&file).expect("hash");
        let signed = serde_json::to_vec(&sign(&manifest(sha, bytes), &key)).expect("json");

        let ok = verify(&signed, &file, Some(&key.public_base64())).expect("verifies");
        assert_eq!(ok.manifest.request_id, "rtcc-2");
        assert_eq!(ok.fingerprint, key.fingerprint());

        // The file changed.
        std::fs::write(&file, b"not really an mp4, but bytes are bytez").expect("write");
        assert!(matches!(verify(&signed, &file, None), Err(VerifyError::FileMismatch(_))));
        std::fs::write(&file, b"not really an mp4, but bytes are bytes").expect("write");

        // The manifest changed (a wider time range).
        let text = String::from_utf8(signed.clone()).expect("utf8").replace("17:15:00Z", "18:15:00Z");
        assert!(matches!(verify(text.as_bytes(), &file, None), Err(VerifyError::BadSignature)));

        // Another hub's key, re-signed: the signature is fine, the key is not the one expected.
        let other = HubKey::load_or_create(&dir.path().join("other")).expect("other key");
        let (sha, bytes) = hash_file(&file).expect("hash");
        let forged = serde_json::to_vec(&sign(&manifest(sha, bytes), &other)).expect("json");
        assert!(matches!(
            verify(&forged, &file, Some(&key.public_base64())),
            Err(VerifyError::WrongKey { .. })
        ));
        assert!(matches!(verify(b"{}", &file, None), Err(VerifyError::Format(_))));
    }
}

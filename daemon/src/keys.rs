//! The hub's signing key (Ed25519): made on first start in `data_dir/keys/`, readable only by
//! the daemon's user, and used to sign the evidence manifests of what the hub shares
//! (`evidence.rs`). `porchlight keys show` prints the public key and its fingerprint, which the
//! resident gives to whoever must check the hub's evidence.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use ed25519_dalek::{Signer, SigningKey};
use sha2::{Digest, Sha256};

const KEY_FILE: &str = "hub-ed25519.key";
const HEADER: &str = "porchlight ed25519 secret key v1";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no hub key in {} yet; the daemon makes one when it first starts", dir.display())]
    Missing { dir: PathBuf },
    #[error("cannot read the hub key {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("the hub key {} is damaged: {message}", path.display())]
    Damaged { path: PathBuf, message: String },
    #[error("cannot create the hub key in {}: {message}", dir.display())]
    Create { dir: PathBuf, message: String },
}

/// The hub's key pair.
pub struct HubKey {
    signing: SigningKey,
}

impl std::fmt::Debug for HubKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubKey").field("fingerprint", &self.fingerprint()).finish_non_exhaustive()
    }
}

impl HubKey {
    /// The key in `dir`, made (with the OS's random source) if there is none.
    pub fn load_or_create(dir: &Path) -> Result<Self, KeyError> {
        match Self::load(dir) {
            Err(KeyError::Missing { .. }) => Self::create(dir),
            other => other,
        }
    }

    /// The key in `dir`.
    pub fn load(dir: &Path) -> Result<Self, KeyError> {
        let path = dir.join(KEY_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(KeyError::Missing { dir: dir.to_owned() });
            }
            Err(source) => return Err(KeyError::Read { path, source }),
        };
        let damaged = |message: &str| KeyError::Damaged { path: path.clone(), message: message.to_owned() };
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            return Err(damaged("unknown format"));
        }
        let hex = lines.next().ok_or_else(|| damaged("no key"))?.trim();
        let bytes = decode_hex(hex).ok_or_else(|| damaged("not 64 hexadecimal digits"))?;
        Ok(Self { signing: SigningKey::from_bytes(&bytes) })
    }

    fn create(dir: &Path) -> Result<Self, KeyError> {
        let err = |message: String| KeyError::Create { dir: dir.to_owned(), message };
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| err(format!("no random source: {e}")))?;
        let key = Self { signing: SigningKey::from_bytes(&seed) };
        std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
        set_mode(dir, 0o700).map_err(|e| err(e.to_string()))?;
        let path = dir.join(KEY_FILE);
        let tmp = dir.join(format!("{KEY_FILE}.tmp"));
        let _ = std::fs::remove_file(&tmp);
        {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(|e| err(e.to_string()))?;
            let hex: String = seed.iter().map(|b| format!("{b:02x}")).collect();
            f.write_all(format!("{HEADER}\n{hex}\n").as_bytes()).map_err(|e| err(e.to_string()))?;
            f.sync_all().map_err(|e| err(e.to_string()))?;
        }
        // Never replace a key that appeared meanwhile: evidence signed with it must stay checkable.
        std::fs::hard_link(&tmp, &path).map_err(|e| err(format!("{}: {e}", path.display())))?;
        let _ = std::fs::remove_file(&tmp);
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| err(e.to_string()))?;
        tracing::info!(fingerprint = %key.fingerprint(), "Made the hub's signing key");
        Ok(key)
    }

    /// The public key, base64 (32 bytes).
    pub fn public_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.signing.verifying_key().as_bytes())
    }

    /// A short fingerprint to compare by eye: `SHA256:` and the first 16 bytes of the public
    /// key's SHA-256, hex.
    pub fn fingerprint(&self) -> String {
        fingerprint(self.signing.verifying_key().as_bytes())
    }

    /// Signs `message`; the signature, base64.
    pub fn sign(&self, message: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.signing.sign(message).to_bytes())
    }
}

/// The fingerprint of a raw Ed25519 public key.
pub fn fingerprint(public: &[u8]) -> String {
    let digest = Sha256::digest(public);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("SHA256:{hex}")
}

fn decode_hex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
        let text = std::str::from_utf8(chunk).ok()?;
        out[i] = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_kept_private_and_reloaded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = dir.path().join("keys");
        assert!(matches!(HubKey::load(&keys), Err(KeyError::Missing { .. })));
        let a = HubKey::load_or_create(&keys).expect("create");
        let b = HubKey::load_or_create(&keys).expect("load");
        assert_eq!(a.public_base64(), b.public_base64());
        assert!(a.fingerprint().starts_with("SHA256:") && a.fingerprint().len() == 7 + 32);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(keys.join(KEY_FILE)).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(keys.join(KEY_FILE), "porchlight ed25519 secret key v1\nxyz\n").expect("damage");
        assert!(matches!(HubKey::load(&keys), Err(KeyError::Damaged { .. })));
        // A damaged key is never replaced by a new one.
        assert!(matches!(HubKey::load_or_create(&keys), Err(KeyError::Damaged { .. })));
    }
}

//! TLS client settings for connections the hub makes (MQTT broker, relay center): rustls with
//! the *ring* provider, the system's CAs or a pinned CA file, and an optional client
//! certificate.

use std::sync::Arc;

use crate::config::TlsFiles;

/// A rustls client config from the configured files. Errors name the file and the problem.
pub fn client_config(t: &TlsFiles) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let roots = root_store(t)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    match (&t.client_cert_file, &t.client_key_file) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("cannot read the client certificate {}: {e}", cert.display()))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("cannot read the client key {}: {e}", key.display()))?;
            builder.with_client_auth_cert(chain, key).map_err(|e| format!("client certificate: {e}"))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

/// The CAs to trust: those in `ca_file`, or the system's.
pub fn root_store(t: &TlsFiles) -> Result<rustls::RootCertStore, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match &t.ca_file {
        Some(f) => {
            let certs = CertificateDer::pem_file_iter(f)
                .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("cannot read CA certificates from {}: {e}", f.display()))?;
            if certs.is_empty() {
                return Err(format!("no CA certificate in {}", f.display()));
            }
            for c in certs {
                roots.add(c).map_err(|e| format!("bad CA certificate in {}: {e}", f.display()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for c in found.certs {
                let _ = roots.add(c);
            }
            if roots.is_empty() {
                return Err(
                    "no system CA certificates found; give a CA file (or, for a camera, pin its certificate)"
                        .into(),
                );
            }
        }
    }
    Ok(roots)
}

//! TLS client settings for connections the hub makes (MQTT broker, relay center): rustls with
//! the *ring* provider, the system's CAs or a pinned CA file, and an optional client
//! certificate.

use std::path::PathBuf;
use std::sync::Arc;

use crate::config::TlsFiles;

/// Why a TLS client config could not be made. Each names the file and the problem.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{source}")]
    Protocols { source: rustls::Error },
    #[error("cannot read the client certificate {}: {source}", file.display())]
    ClientCert { file: PathBuf, source: rustls::pki_types::pem::Error },
    #[error("cannot read the client key {}: {source}", file.display())]
    ClientKey { file: PathBuf, source: rustls::pki_types::pem::Error },
    #[error("client certificate: {source}")]
    ClientAuth { source: rustls::Error },
    #[error("cannot read CA certificates from {}: {source}", file.display())]
    ReadCa { file: PathBuf, source: rustls::pki_types::pem::Error },
    #[error("no CA certificate in {}", file.display())]
    NoCa { file: PathBuf },
    #[error("bad CA certificate in {}: {source}", file.display())]
    BadCa { file: PathBuf, source: rustls::Error },
    #[error("no system CA certificates found; give a CA file (or, for a camera, pin its certificate)")]
    NoSystemCa,
}

/// A rustls client config from the configured files.
pub fn client_config(t: &TlsFiles) -> Result<rustls::ClientConfig, TlsError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let roots = root_store(t)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|source| TlsError::Protocols { source })?
        .with_root_certificates(roots);
    match (&t.client_cert_file, &t.client_key_file) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                .map_err(|source| TlsError::ClientCert { file: cert.clone(), source })?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|source| TlsError::ClientKey { file: key.clone(), source })?;
            builder.with_client_auth_cert(chain, key).map_err(|source| TlsError::ClientAuth { source })
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

/// The CAs to trust: those in `ca_file`, or the system's.
pub fn root_store(t: &TlsFiles) -> Result<rustls::RootCertStore, TlsError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match &t.ca_file {
        Some(f) => {
            let certs = CertificateDer::pem_file_iter(f)
                .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                .map_err(|source| TlsError::ReadCa { file: f.clone(), source })?;
            if certs.is_empty() {
                return Err(TlsError::NoCa { file: f.clone() });
            }
            for c in certs {
                roots.add(c).map_err(|source| TlsError::BadCa { file: f.clone(), source })?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for c in found.certs {
                let _ = roots.add(c);
            }
            if roots.is_empty() {
                return Err(TlsError::NoSystemCa);
            }
        }
    }
    Ok(roots)
}

//! A throwaway certificate authority for TLS tests (made with rcgen): a CA, a server
//! certificate for `127.0.0.1` and `localhost`, and a client certificate, written as PEM files
//! into a temp dir.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};

/// PEM files of one test CA.
#[derive(Debug)]
pub struct TestCa {
    dir: tempfile::TempDir,
}

impl TestCa {
    /// A new CA named `name`, with a server and a client certificate signed by it.
    pub fn new(name: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.distinguished_name.push(DnType::CommonName, name);
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key")).expect("CA");
        let write =
            |file: &str, text: String| std::fs::write(dir.path().join(file), text).expect("write PEM");
        write("ca.pem", ca.pem());
        for (who, sans) in
            [("server", vec!["127.0.0.1".to_owned(), "localhost".to_owned()]), ("client", vec![])]
        {
            let mut params = CertificateParams::new(sans).expect("params");
            params.distinguished_name.push(DnType::CommonName, format!("{name} {who}"));
            let key = KeyPair::generate().expect("key");
            let cert = params.signed_by(&key, &ca).expect("sign");
            write(&format!("{who}.pem"), cert.pem());
            write(&format!("{who}.key"), key.serialize_pem());
        }
        Self { dir }
    }

    /// `ca.pem`, `server.pem`, `server.key`, `client.pem` or `client.key`.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A rustls server config with the server certificate.
    pub fn server_config(&self) -> rustls::ServerConfig {
        use rustls::pki_types::pem::PemObject;
        let key =
            rustls::pki_types::PrivateKeyDer::from_pem_file(self.file("server.key")).expect("server.key");
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("protocols")
            .with_no_client_auth()
            .with_single_cert(self.server_chain(), key)
            .expect("server config")
    }

    /// The server certificate's SHA-256 (of its DER form), as 64 hex digits.
    pub fn server_sha256(&self) -> String {
        porchlight::digest::sha256_hex(self.server_chain()[0].as_ref())
    }

    fn server_chain(&self) -> Vec<rustls::pki_types::CertificateDer<'static>> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        CertificateDer::pem_file_iter(self.file("server.pem"))
            .expect("server.pem")
            .collect::<Result<_, _>>()
            .expect("certificates")
    }
}

/// TLS in front of a plain TCP service on loopback, as a camera's own `https://` port (or
/// stunnel) puts it: each connection is decrypted with the CA's server certificate and its
/// bytes passed to `target` and back. Stops when dropped.
#[derive(Debug)]
pub struct TlsFront {
    pub addr: SocketAddr,
    _runtime: tokio::runtime::Runtime,
}

impl TlsFront {
    pub fn start(ca: &TestCa, target: SocketAddr) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(ca.server_config()));
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
        let addr = listener.local_addr().expect("addr");
        runtime.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A client that refuses the certificate ends here.
                    let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                    let Ok(mut plain) = tokio::net::TcpStream::connect(target).await else { return };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        Self { addr, _runtime: runtime }
    }
}

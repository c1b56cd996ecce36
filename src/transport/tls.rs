//! TLS client configuration: trust roots from `ssl_capath` or the system, and the `insecure_enable` mode.
//!
//! Loading roots reads files, so a config is built once (when the HTTP client is
//! created), never per connection.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{
    verify_tls12_signature, verify_tls13_signature, CryptoProvider, KeyProvider,
    WebPkiSupportedAlgorithms,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::sign::SigningKey;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Bundle files where distributions (OpenWrt, Debian, Fedora, Alpine) keep the system roots.
const SYSTEM_CA_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
    "/etc/ssl/ca-bundle.pem",
];

/// Directory of individual PEM roots used when no bundle exists.
const SYSTEM_CA_DIR: &str = "/etc/ssl/certs";

/// Why a TLS configuration could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsConfigError {
    /// `ssl_capath` names nothing readable.
    CaPath(String),
    /// `ssl_capath` was readable but held no usable certificate.
    NoCertificates(String),
    /// The ring provider refused the protocol versions (should not happen).
    Provider(String),
}

impl fmt::Display for TlsConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsConfigError::CaPath(detail) => write!(f, "cannot read CA path: {detail}"),
            TlsConfigError::NoCertificates(path) => write!(f, "no CA certificate in {path}"),
            TlsConfigError::Provider(detail) => write!(f, "TLS provider: {detail}"),
        }
    }
}

impl std::error::Error for TlsConfigError {}

/// Build the rustls client configuration.
///
/// `insecure` (UCI `insecure_enable=1`) means: do NOT verify the server
/// certificate or host name. The seed README words this option the other way
/// round; we follow icwmp's code, which turns verification off when it is 1.
/// With `insecure` false, roots come from `ca_path` (a PEM bundle file or a
/// directory of PEM files) or else from the system bundle, and the host name is
/// checked against the certificate.
pub fn client_config(
    ca_path: Option<&Path>,
    insecure: bool,
) -> Result<Arc<ClientConfig>, TlsConfigError> {
    let provider = Arc::new(provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|err| TlsConfigError::Provider(err.to_string()))?;
    let config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert {
                algorithms: provider.signature_verification_algorithms,
            }))
            .with_no_client_auth()
    } else {
        let roots = match ca_path {
            Some(path) => load_roots_from(path)?,
            None => system_roots(),
        };
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// ring's default suites, key exchange groups and signature checks, without its
/// private key loader: the client presents no certificate (`with_no_client_auth`),
/// and leaving the loader out keeps ring's RSA and ECDSA signing code out of the
/// binary.
fn provider() -> CryptoProvider {
    CryptoProvider {
        key_provider: &NoPrivateKeys,
        ..rustls::crypto::ring::default_provider()
    }
}

/// A key provider that loads no private key.
#[derive(Debug)]
struct NoPrivateKeys;

impl KeyProvider for NoPrivateKeys {
    fn load_private_key(
        &self,
        _key_der: PrivateKeyDer<'static>,
    ) -> Result<Arc<dyn SigningKey>, rustls::Error> {
        Err(rustls::Error::General(
            "client certificates are not supported".to_owned(),
        ))
    }
}

/// Roots from a PEM bundle file or a directory of PEM files.
fn load_roots_from(path: &Path) -> Result<RootCertStore, TlsConfigError> {
    let mut roots = RootCertStore::empty();
    let metadata = std::fs::metadata(path)
        .map_err(|err| TlsConfigError::CaPath(format!("{}: {err}", path.display())))?;
    if metadata.is_dir() {
        let entries = std::fs::read_dir(path)
            .map_err(|err| TlsConfigError::CaPath(format!("{}: {err}", path.display())))?;
        for entry in entries.flatten() {
            add_pem_file(&mut roots, &entry.path());
        }
    } else {
        add_pem_file(&mut roots, path);
    }
    if roots.is_empty() {
        return Err(TlsConfigError::NoCertificates(path.display().to_string()));
    }
    Ok(roots)
}

/// Add every parsable certificate of one PEM file; unreadable files and bad blocks are skipped.
fn add_pem_file(roots: &mut RootCertStore, path: &Path) {
    if !path.is_file() {
        return;
    }
    let Ok(certs) = CertificateDer::pem_file_iter(path) else {
        return;
    };
    let (added, ignored) = roots.add_parsable_certificates(certs.flatten());
    if ignored > 0 {
        log::debug!(
            "{}: {added} CA certificates, {ignored} ignored",
            path.display()
        );
    }
}

/// The system roots; an empty store (every certificate rejected) if none can be found.
fn system_roots() -> RootCertStore {
    for bundle in SYSTEM_CA_BUNDLES {
        if let Ok(roots) = load_roots_from(Path::new(bundle)) {
            return roots;
        }
    }
    load_roots_from(Path::new(SYSTEM_CA_DIR)).unwrap_or_else(|err| {
        log::warn!("no system CA certificates ({err}); every HTTPS server will be rejected");
        RootCertStore::empty()
    })
}

/// The verifier behind `insecure_enable=1`: accepts any certificate for any name.
///
/// Handshake signatures are still checked against the presented key, so the peer
/// must at least hold the private key of the certificate it sends; nothing ties
/// that certificate to the ACS, which is exactly what the option asks for.
#[derive(Debug)]
struct AcceptAnyServerCert {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_ca_path_is_an_error() {
        let err = client_config(Some(Path::new("/nonexistent/ca")), false).err();
        assert!(matches!(err, Some(TlsConfigError::CaPath(_))), "{err:?}");
    }

    #[test]
    fn ca_file_without_certificates_is_an_error() {
        let dir = std::env::temp_dir().join(format!("icwmp-tls-empty-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("empty.pem");
        std::fs::write(&file, b"not a certificate\n").unwrap();
        let err = client_config(Some(&file), false).err();
        assert!(
            matches!(err, Some(TlsConfigError::NoCertificates(_))),
            "{err:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn provider_keeps_the_default_suites_and_loads_no_private_key() {
        let ours = provider();
        let ring = rustls::crypto::ring::default_provider();
        let suites =
            |p: &CryptoProvider| -> Vec<_> { p.cipher_suites.iter().map(|s| s.suite()).collect() };
        let groups =
            |p: &CryptoProvider| -> Vec<_> { p.kx_groups.iter().map(|g| g.name()).collect() };
        assert_eq!(suites(&ours), suites(&ring));
        assert_eq!(groups(&ours), groups(&ring));
        let key = PrivateKeyDer::Pkcs8(vec![0x30, 0x00].into());
        assert!(ours.key_provider.load_private_key(key).is_err());
    }

    #[test]
    fn insecure_config_builds_without_roots() {
        assert!(client_config(Some(Path::new("/nonexistent")), true).is_ok());
    }
}

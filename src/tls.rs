//! HTTPS: the rustls server configuration from the PEM files `tls.cert` and `tls.key`. A
//! missing file, a file without a certificate or key, or a key that does not belong to the
//! certificate stops start-up with a message that says which.

use crate::config::TlsConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("tls.cert `{path}`: {message}")]
    Cert { path: String, message: String },
    #[error("tls.key `{path}`: {message}")]
    Key { path: String, message: String },
    #[error("tls.cert and tls.key do not belong together: {0}")]
    Mismatch(String),
}

fn readable(path: &Path) -> Result<(), String> {
    std::fs::metadata(path)
        .map(|_| ())
        .map_err(|e| format!("cannot be read: {e}"))
}

/// `None` when no certificate is configured (plain HTTP).
pub fn server_config(tls: &TlsConfig) -> Result<Option<rustls::ServerConfig>, TlsError> {
    let (Some(cert), Some(key)) = (&tls.cert, &tls.key) else {
        return Ok(None);
    };
    let cert_error = |message: String| TlsError::Cert {
        path: cert.display().to_string(),
        message,
    };
    let key_error = |message: String| TlsError::Key {
        path: key.display().to_string(),
        message,
    };
    readable(cert).map_err(cert_error)?;
    readable(key).map_err(key_error)?;
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| cert_error(format!("is not PEM: {e}")))?;
    if chain.is_empty() {
        return Err(cert_error("holds no certificate".into()));
    }
    let private = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| key_error(format!("holds no private key: {e}")))?;
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| TlsError::Mismatch(e.to_string()))?;
    Ok(Some(config))
}

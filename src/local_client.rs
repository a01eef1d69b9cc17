//! The HTTP client the subcommands (`healthcheck`, `backup`) use to reach the server on
//! this machine. Over HTTPS it trusts exactly one certificate: the configured `tls.cert`.
//! The server's certificate names the public host, not 127.0.0.1, so ordinary verification
//! would fail; turning verification off instead (as before) would hand the backup token to
//! whoever answers on that port. Pinning the very certificate needs no host name.

use crate::config::Config;
use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Accepts a server whose certificate is byte for byte the pinned one, and checks that the
/// server holds its key (the handshake signatures) like any verifier.
#[derive(Debug)]
struct Pinned {
    certificate: CertificateDer<'static>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.certificate.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
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

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A client for the local server; `Err` names the certificate file that cannot be used.
pub fn client(config: &Config, timeout: Duration) -> Result<reqwest::Client, String> {
    let builder = reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none());
    let Some(path) = &config.tls.cert else {
        return builder.build().map_err(|e| e.to_string());
    };
    let certificate = CertificateDer::pem_file_iter(path)
        .ok()
        .and_then(|mut certs| certs.next())
        .and_then(Result::ok)
        .ok_or_else(|| format!("tls.cert `{}` holds no certificate", path.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Pinned {
        certificate,
        algorithms: provider.signature_verification_algorithms,
    };
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    builder
        .tls_backend_preconfigured(tls)
        .build()
        .map_err(|e| e.to_string())
}

/// Where this machine reaches the server over loopback, from `listen`: a wildcard or
/// loopback listen address is reachable there; a specific other address is not.
pub(crate) fn loopback_addr(config: &Config) -> Option<SocketAddr> {
    let listen = config.listen_addr();
    let ip = match listen.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => Ipv4Addr::LOCALHOST.into(),
        IpAddr::V6(v6) if v6.is_unspecified() => Ipv6Addr::LOCALHOST.into(),
        ip if ip.is_loopback() => ip,
        _ => return None,
    };
    Some(SocketAddr::new(ip, listen.port()))
}

/// The base URL of the server over loopback (see [`loopback_addr`]).
pub fn loopback_base(config: &Config) -> Option<String> {
    let scheme = if config.tls.cert.is_some() {
        "https"
    } else {
        "http"
    };
    loopback_addr(config).map(|a| format!("{scheme}://{a}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_follows_the_listen_address() {
        let at = |listen: &str| {
            loopback_base(&Config {
                listen: listen.into(),
                ..Config::default()
            })
        };
        assert_eq!(at("0.0.0.0:8080").as_deref(), Some("http://127.0.0.1:8080"));
        assert_eq!(at("[::]:8080").as_deref(), Some("http://[::1]:8080"));
        assert_eq!(at("127.0.0.3:81").as_deref(), Some("http://127.0.0.3:81"));
        assert_eq!(at("192.0.2.10:8080"), None);
    }
}

//! HTTPS with rustls: a certificate and key serve HTTPS; a missing file or a key that is
//! not the certificate's stops start-up with a message that names the problem.

use crate::support::fake_hubspot::{FakeConfig, FakeHubSpot};
use crate::support::harness::{bare_config, init};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A self-signed certificate for 127.0.0.1 and its key, as rustls wants them.
pub fn self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "extendedKeyUsage=serverAuth"])
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success());
    (cert, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_and_key_serve_https_and_bad_pairs_stop_start_up() {
    init();
    let fake = FakeHubSpot::start(FakeConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path(), "a");
    let (_, other_key) = self_signed(dir.path(), "b");
    let mut config = bare_config(&fake, &dir.path().join("data"));
    config.tls.cert = Some(cert.clone());
    config.tls.key = Some(key.clone());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let running = handoff::app::start(config.clone(), listener).await.unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap()])
        .build()
        .unwrap();
    let answer = client
        .get(format!("https://127.0.0.1:{}/healthz", addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    // Plain HTTP on the TLS port is not served.
    assert!(
        reqwest::get(format!("http://127.0.0.1:{}/healthz", addr.port()))
            .await
            .map(|r| r.status() != 200)
            .unwrap_or(true)
    );
    running.stop().await;

    let start_error = |cert: PathBuf, key: PathBuf| {
        let mut config = config.clone();
        config.tls.cert = Some(cert);
        config.tls.key = Some(key);
        async move {
            handoff::app::start(config, TcpListener::bind("127.0.0.1:0").unwrap())
                .await
                .err()
                .expect("start-up refused")
                .to_string()
        }
    };
    let mismatch = start_error(cert.clone(), other_key).await;
    assert!(mismatch.contains("do not belong together"), "{mismatch}");
    let missing = start_error(dir.path().join("nope.pem"), key.clone()).await;
    assert!(
        missing.contains("tls.cert") && missing.contains("nope.pem"),
        "{missing}"
    );
    let not_a_key = start_error(cert.clone(), cert.clone()).await;
    assert!(not_a_key.contains("tls.key"), "{not_a_key}");
}

//! `/admin/backup` serves only loopback peers (whatever `X-Forwarded-For` says), and
//! `handoff backup` over HTTPS trusts exactly the configured certificate.

use crate::support::fake_hubspot::{FakeConfig, FakeHubSpot};
use crate::support::harness::{Handoff, bare_config, init};
use crate::tls::self_signed;
use std::net::{IpAddr, TcpListener, UdpSocket};
use std::process::Command;

/// An address of this machine that is not loopback, if it has one (a UDP "connect" sends
/// nothing; it only picks the outgoing interface).
fn non_loopback_address() -> Option<IpAddr> {
    let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    Some(socket.local_addr().ok()?.ip()).filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
}

fn token(handoff: &Handoff) -> String {
    std::fs::read_to_string(handoff.config.data_dir.join("admin.token")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_is_refused_to_a_peer_that_is_not_loopback() {
    let Some(lan) = non_loopback_address() else {
        println!("SKIPPED: no non-loopback address here (the guard has a unit test)");
        return;
    };
    let fake = FakeHubSpot::start(FakeConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handoff = Handoff::start_on(bare_config(&fake, dir.path()), listener).await;
    let token = token(&handoff);
    let http = reqwest::Client::new();
    for forwarded in [None, Some("127.0.0.1")] {
        let mut request = http
            .get(format!("http://{lan}:{port}/admin/backup"))
            .bearer_auth(&token);
        if let Some(f) = forwarded {
            request = request.header("x-forwarded-for", f);
        }
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status(), 403, "from {lan}, forwarded {forwarded:?}");
        let body: serde_json::Value = answer.json().await.unwrap();
        assert_eq!(body["error"]["code"], "backup-loopback-only", "{body}");
    }
    let local = http
        .get(format!("{}/admin/backup", handoff.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(local.status(), 200);
    assert!(
        local
            .bytes()
            .await
            .unwrap()
            .starts_with(b"HANDOFF-BACKUP 1\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backup_command_trusts_only_the_configured_certificate() {
    init();
    let fake = FakeHubSpot::start(FakeConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path(), "server");
    let (other_cert, other_key) = self_signed(dir.path(), "impostor");
    let data = dir.path().join("data");
    let mut config = bare_config(&fake, &data);
    config.tls.cert = Some(cert.clone());
    config.tls.key = Some(key.clone());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let running = handoff::app::start(config, listener).await.unwrap();
    let backup = |cert: &std::path::Path, key: &std::path::Path, into: &str| {
        Command::new(env!("CARGO_BIN_EXE_handoff"))
            .env_clear()
            .args(["backup", dir.path().join(into).to_str().unwrap()])
            .env("HANDOFF_DATA_DIR", &data)
            .env("HANDOFF_LISTEN", format!("127.0.0.1:{port}"))
            .env("HANDOFF_TLS__CERT", cert)
            .env("HANDOFF_TLS__KEY", key)
            .output()
            .unwrap()
    };
    let fine = backup(&cert, &key, "good");
    assert!(
        fine.status.success(),
        "{}",
        String::from_utf8_lossy(&fine.stderr)
    );
    // Configured with another certificate, the server it finds is not the one it trusts:
    // it must not send the token.
    let refused = backup(&other_cert, &other_key, "bad");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot be reached"), "{stderr}");
    assert!(
        !dir.path().join("bad").exists()
            || std::fs::read_dir(dir.path().join("bad"))
                .unwrap()
                .next()
                .is_none()
    );
    running.stop().await;
}

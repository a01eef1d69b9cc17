//! The binary's subcommands: `check` validates the configuration and the credentials at
//! HubSpot's token endpoint; `healthcheck` is an exit status for Docker and systemd.

use crate::support::binary::{Launch, free_port, wait_for};
use crate::support::fake_hubspot::{FakeConfig, FakeHubSpot};
use crate::support::harness::init;
use std::process::{Command, Output};
use std::time::Duration;

fn handoff(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_handoff"));
    command.env_clear().args(args);
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reaches_the_token_endpoint_and_names_what_is_wrong() {
    init();
    let fake = FakeHubSpot::start(FakeConfig::default()).await;
    let env = |secret: &str| {
        vec![
            ("HANDOFF_HUBSPOT__API_BASE", fake.url()),
            (
                "HANDOFF_HUBSPOT__CLIENT_ID",
                FakeHubSpot::CLIENT_ID.to_string(),
            ),
            ("HANDOFF_HUBSPOT__CLIENT_SECRET", secret.to_string()),
            ("HANDOFF_HUBSPOT__REFRESH_TOKEN", fake.refresh_token()),
        ]
    };
    let fine = handoff(&["check"], &env(FakeHubSpot::CLIENT_SECRET));
    let out = String::from_utf8_lossy(&fine.stdout);
    assert!(fine.status.success(), "{out}");
    assert!(
        out.contains(&format!("portal {}", FakeHubSpot::PORTAL_ID)),
        "{out}"
    );
    let refused = handoff(&["check"], &env("wrong"));
    let out = String::from_utf8_lossy(&refused.stdout);
    assert_eq!(refused.status.code(), Some(1), "{out}");
    assert!(out.contains("BAD_CLIENT_SECRET"), "{out}");
    let nothing = handoff(&["check"], &[]);
    assert!(nothing.status.success());
    assert!(String::from_utf8_lossy(&nothing.stdout).contains("nothing to check"));
    let invalid = handoff(&["check"], &[("HANDOFF_LISTEN", "nope".into())]);
    assert_eq!(invalid.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&invalid.stderr).contains("`listen`"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_is_an_exit_status() {
    init();
    let fake = FakeHubSpot::start(FakeConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let token = fake.refresh_token();
    let launch = Launch::new(&fake, dir.path(), &token);
    let port = launch.port;
    let listen = [("HANDOFF_LISTEN", format!("127.0.0.1:{port}"))];
    let bin = launch.spawn();
    wait_for(&bin.url, "/healthz", Duration::from_secs(30)).await;
    assert!(handoff(&["healthcheck"], &listen).status.success());
    drop(bin);
    let down = handoff(&["healthcheck"], &listen);
    assert_eq!(down.status.code(), Some(1));
    let elsewhere = handoff(
        &["healthcheck"],
        &[("HANDOFF_LISTEN", format!("127.0.0.1:{}", free_port()))],
    );
    assert!(!elsewhere.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_request_ids() {
    use std::io::{BufRead, BufReader};
    init();
    let fake = FakeHubSpot::start(FakeConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let token = fake.refresh_token();
    let mut bin = Launch {
        log: "info",
        stderr: std::process::Stdio::piped(),
        env: vec![("HANDOFF_LOG__FORMAT", "json".into())],
        ..Launch::new(&fake, dir.path(), &token)
    }
    .spawn();
    let http = reqwest::Client::new();
    wait_for(&bin.url, "/healthz", Duration::from_secs(30)).await;
    let given = http
        .get(format!("{}/healthz", bin.url))
        .header("x-request-id", "trace-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(given.headers()["x-request-id"], "trace-abc-123");
    let odd = http
        .get(format!("{}/healthz", bin.url))
        .header("x-request-id", "no spaces or \"quotes\" please")
        .send()
        .await
        .unwrap();
    let made = odd.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(made.len(), 26, "a fresh ULID: {made}");
    // The access log line is written once the answer is out.
    tokio::time::sleep(Duration::from_millis(300)).await;
    bin.child.kill().unwrap();
    let stderr = bin.child.stderr.take().unwrap();
    let lines: Vec<String> = BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .collect();
    assert!(!lines.is_empty());
    for line in &lines {
        let parsed: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            parsed.get("level").is_some() && parsed.get("timestamp").is_some(),
            "{line}"
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("trace-abc-123") && l.contains("/healthz")),
        "{lines:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_from_the_running_server_restores_into_a_new_data_dir() {
    use crate::support::harness::API_KEY;
    init();
    let fake = FakeHubSpot::start(FakeConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let token = fake.refresh_token();
    let (data, restored) = (dir.path().join("data"), dir.path().join("restored"));
    let launch = Launch::new(&fake, &data, &token);
    let listen = ("HANDOFF_LISTEN", format!("127.0.0.1:{}", launch.port));
    let bin = launch.spawn();
    let http = reqwest::Client::new();
    wait_for(&bin.url, "/readyz", Duration::from_secs(30)).await;
    let session: serde_json::Value = http
        .post(format!("{}/api/v1/sessions", bin.url))
        .bearer_auth(API_KEY)
        .json(&serde_json::json!({"user": {"email": "ada@example.com"}, "title": "Backed up"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = session["sessionId"].as_str().unwrap().to_string();
    let forged = http
        .get(format!("{}/admin/backup", bin.url))
        .bearer_auth("guess")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);

    let backups = dir.path().join("backups");
    let data_env = ("HANDOFF_DATA_DIR", data.display().to_string());
    let out = handoff(
        &["backup", backups.to_str().unwrap()],
        &[data_env.clone(), listen.clone()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = String::from_utf8_lossy(&out.stdout)
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    drop(bin);

    let restore = |target: &std::path::Path| {
        handoff(
            &["restore", &file],
            &[("HANDOFF_DATA_DIR", target.display().to_string())],
        )
    };
    let out = restore(&restored);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        restore(&restored).status.code(),
        Some(1),
        "never over a store"
    );

    let bin = Launch::new(&fake, &restored, &token).spawn();
    wait_for(&bin.url, "/readyz", Duration::from_secs(30)).await;
    let got = http
        .get(format!("{}/api/v1/sessions/{id}", bin.url))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200, "the session came back");
    assert_eq!(
        fake.channels().len(),
        1,
        "the restored store reuses its channel"
    );
}

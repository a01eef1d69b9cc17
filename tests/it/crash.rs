//! The compiled binary is SIGKILLed while it has acknowledged work queued; after a restart
//! on the same data dir every acknowledged message reaches HubSpot exactly once, in order.

use crate::support::binary::{Launch, free_port, wait_for};
use crate::support::fake_hubspot::{FakeConfig, FakeHubSpot};
use crate::support::harness::{API_KEY, eventually, init};
use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::time::Duration;

async fn wait_ready(url: &str) {
    wait_for(url, "/readyz", Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_and_duplicates_nothing_acknowledged() {
    init();
    let fake = FakeHubSpot::start(FakeConfig::default()).await;
    // Slow HubSpot: a backlog builds up behind the acknowledgements.
    fake.set_latency(Duration::from_millis(10));
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let token = fake.refresh_token();
    let mut bin = Launch::new(&fake, dir.path(), &token).spawn();
    wait_ready(&bin.url).await;

    let mut sessions = Vec::new();
    for i in 0..2 {
        let r: Value = http
            .post(format!("{}/api/v1/sessions", bin.url))
            .bearer_auth(API_KEY)
            .json(&json!({"user": {"email": format!("crash{i}@example.com")}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        // Every message sent, and whether handoff acknowledged it.
        sessions.push((
            r["sessionId"].as_str().unwrap().to_string(),
            Vec::<(String, bool)>::new(),
        ));
    }

    let mut next = 0;
    for cycle in 0..3 {
        // Messages go in a stream; the process is killed in the middle of it, with
        // acknowledged messages still queued and one request possibly cut off.
        let url = bin.url.clone();
        let client = http.clone();
        let sender = tokio::spawn(async move {
            'stream: for _ in 0..40 {
                for (session, sent_log) in sessions.iter_mut() {
                    let text = format!("{session} message {next}");
                    next += 1;
                    let sent = client
                        .post(format!("{url}/api/v1/sessions/{session}/messages"))
                        .bearer_auth(API_KEY)
                        .json(&json!({"type": "text", "payload": {"text": text}, "messageId": format!("m{next}")}))
                        .send()
                        .await;
                    let acked = matches!(&sent, Ok(r) if r.status() == 202);
                    sent_log.push((text, acked));
                    if !acked {
                        break 'stream;
                    }
                }
            }
            (sessions, next)
        });
        tokio::time::sleep(Duration::from_millis(200 + 150 * cycle)).await;
        bin.child.kill().expect("SIGKILL");
        bin.child.wait().unwrap();
        (sessions, next) = sender.await.unwrap();
        eprintln!(
            "cycle {cycle}: killed after {next} messages, {} publishes seen",
            fake.publish_attempts()
        );
        bin = Launch::new(&fake, dir.path(), &token).spawn();
        wait_ready(&bin.url).await;
    }

    for (session, sent_log) in &sessions {
        let acked = sent_log.iter().filter(|(_, a)| *a).count();
        let view: Value = http
            .get(format!("{}/api/v1/sessions/{session}", bin.url))
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let thread_id = view["hubspotThreadId"]
            .as_str()
            .expect("thread")
            .to_string();
        let texts = || -> Vec<String> {
            fake.threads()
                .into_iter()
                .find(|t| t.id == thread_id)
                .map(|t| {
                    t.messages
                        .iter()
                        .skip(1)
                        .map(|m| m["text"].as_str().unwrap().to_string())
                        .collect()
                })
                .unwrap_or_default()
        };
        eventually(Duration::from_secs(30), || async { texts().len() >= acked }).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let got = texts();
        // Every acknowledged message once, in order; a message whose request the kill cut
        // off may or may not have been accepted, but only in its own place.
        let mut seen = 0;
        for (text, was_acked) in sent_log {
            if got.get(seen) == Some(text) {
                seen += 1;
            } else {
                assert!(
                    !was_acked,
                    "session {session}: acknowledged `{text}` missing or out of order in {got:?}"
                );
            }
        }
        assert_eq!(
            seen,
            got.len(),
            "session {session}: unexpected or duplicated messages in {got:?}"
        );
        assert!(
            acked >= 20,
            "the test acknowledged too little to mean anything: {acked}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_cleanly_and_logs_hold_no_secrets_or_message_text() {
    init();
    let fake = FakeHubSpot::start(FakeConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let token = fake.refresh_token();
    let mut bin = Launch {
        log: "debug",
        stderr: Stdio::piped(),
        ..Launch::new(&fake, dir.path(), &token)
    }
    .spawn();
    wait_ready(&bin.url).await;
    let session: Value = http
        .post(format!("{}/api/v1/sessions", bin.url))
        .bearer_auth(API_KEY)
        .json(&json!({"user": {"email": "quiet@example.com"}, "title": "TOP-SECRET-TITLE"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = session["sessionId"].as_str().unwrap();
    let sent = http
        .post(format!("{}/api/v1/sessions/{id}/messages", bin.url))
        .bearer_auth(API_KEY)
        .json(&json!({"type": "text", "payload": {"text": "PRIVATE-MESSAGE-BODY"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 202);
    // A forced 401 makes handoff refresh its token once more while logging at debug.
    fake.expire_access_tokens();
    eventually(Duration::from_secs(20), || async {
        fake.threads().iter().any(|t| t.messages.len() >= 2)
    })
    .await;

    // A query can carry a secret (a file link's signature): the access log keeps the path.
    http.get(format!(
        "{}/files/f1/a.pdf?expires=1&signature=SIGNATURE-IN-QUERY",
        bin.url
    ))
    .send()
    .await
    .unwrap();

    let pid = bin.child.id().to_string();
    let started = std::time::Instant::now();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let output = std::mem::replace(&mut bin.child, Command::new("true").spawn().unwrap())
        .wait_with_output()
        .unwrap();
    assert!(
        output.status.success(),
        "clean exit on SIGTERM: {:?}",
        output.status
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stopped promptly"
    );
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(log.contains("handoff stopped"), "{log}");
    for secret in [
        FakeHubSpot::CLIENT_SECRET,
        FakeHubSpot::DEVELOPER_API_KEY,
        token.as_str(),
        API_KEY,
    ] {
        assert!(!log.contains(secret), "a secret reached the log");
    }
    assert!(
        !log.to_lowercase().contains("bearer "),
        "an authorization header reached the log"
    );
    assert!(
        log.contains("/files/f1/a.pdf"),
        "the access log has the path"
    );
    for text in [
        "TOP-SECRET-TITLE",
        "PRIVATE-MESSAGE-BODY",
        "SIGNATURE-IN-QUERY",
    ] {
        assert!(!log.contains(text), "a message body reached the log");
    }
}

#[test]
fn a_half_set_configuration_stops_start_up_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_handoff"))
        .env_clear()
        .env("HANDOFF_DATA_DIR", dir.path())
        .env("HANDOFF_LISTEN", "127.0.0.1:0")
        .env("HANDOFF_HUBSPOT__CLIENT_ID", "only-the-id")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("hubspot.client_secret"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_start_prints_a_one_time_setup_url() {
    use std::io::{BufRead, BufReader};
    crate::support::harness::init();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_handoff"))
        .env_clear()
        .env("HANDOFF_DATA_DIR", dir.path())
        .env("HANDOFF_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(at) = line.find("http://") {
                let url = line[at..].split_whitespace().next().unwrap().to_string();
                if url.contains("/setup?token=") {
                    let _ = tx.send(url);
                }
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the setup URL is printed");
    assert!(
        url.starts_with(&format!("http://127.0.0.1:{port}/setup?token=")),
        "{url}"
    );
    let page = reqwest::get(&url).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("name=\"password\""));
    let without = reqwest::get(format!("http://127.0.0.1:{port}/setup"))
        .await
        .unwrap();
    assert_eq!(without.status(), 403);
    let _ = child.kill();
    let _ = child.wait();
}

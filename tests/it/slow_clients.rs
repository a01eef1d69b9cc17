//! Slow and numerous clients: a body that dribbles in is cut off at `http.body_timeout`
//! (408, connection closed) on every kind of route, and `/healthz` keeps answering while
//! hundreds of idle keep-alive connections and a score of dribbling uploads are open.

use crate::support::fake_hubspot::{FakeConfig, FakeHubSpot};
use crate::support::harness::{API_KEY, Handoff, bare_config};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Routes whose bodies go through the three kinds of extractor: raw payload (webhooks),
/// JSON (bot API) and form (login).
const UPLOADS: &[(&str, &str)] = &[
    ("/webhooks/hubspot", "application/json"),
    ("/api/v1/users", "application/json"),
    ("/login", "application/x-www-form-urlencoded"),
];

async fn start(body_timeout: Duration) -> (FakeHubSpot, tempfile::TempDir, Handoff) {
    let fake = FakeHubSpot::start(FakeConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = bare_config(&fake, dir.path());
    config.bot.api_key = Some(handoff::secret::Secret::new(API_KEY));
    config.http.body_timeout = body_timeout;
    let handoff = Handoff::start_bare(config).await;
    (fake, dir, handoff)
}

fn addr(handoff: &Handoff) -> String {
    handoff.url.trim_start_matches("http://").to_string()
}

/// Sends the headers of a 1000-byte upload, then one byte a second until the server
/// answers or closes. Returns what it answered (if anything) and when the connection ended,
/// or `None` when it is still open after `give_up`.
async fn dribble(
    addr: String,
    path: &str,
    content_type: &str,
    give_up: Duration,
) -> Option<(String, Duration)> {
    let started = Instant::now();
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {API_KEY}\r\nContent-Type: {content_type}\r\nContent-Length: 1000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let writer = tokio::spawn(async move {
        loop {
            if write.write_all(b"{").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let mut answer = Vec::new();
    let outcome = tokio::time::timeout(give_up, async {
        let mut buf = [0u8; 4096];
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    writer.abort();
    outcome.ok().map(|()| {
        (
            String::from_utf8_lossy(&answer).into_owned(),
            started.elapsed(),
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dribbled_bodies_are_cut_off_at_the_deadline() {
    let (_fake, _dir, handoff) = start(Duration::from_secs(1)).await;
    let uploads = (0..20).map(|i| {
        let (path, content_type) = UPLOADS[i % UPLOADS.len()];
        dribble(addr(&handoff), path, content_type, Duration::from_secs(8))
    });
    let ended = futures_util::future::join_all(uploads).await;
    for (i, end) in ended.iter().enumerate() {
        let path = UPLOADS[i % UPLOADS.len()].0;
        let (answer, lifetime) = end
            .as_ref()
            .unwrap_or_else(|| panic!("{path}: still open after 8 s"));
        println!("{path}: closed after {lifetime:?}");
        assert!(*lifetime < Duration::from_secs(4), "{path}: {lifetime:?}");
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        assert!(answer.contains("\"body-timeout\""), "{path}: {answer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_beside_idle_and_dribbling_connections() {
    let (_fake, _dir, handoff) = start(Duration::from_secs(10)).await;
    let addr = addr(&handoff);
    let mut idle = Vec::new();
    for _ in 0..300 {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        stream
            .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut buf = [0u8; 1024];
        let n = stream.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        idle.push(stream);
    }
    let dribbling: Vec<_> = (0..20)
        .map(|i| {
            let (path, content_type) = UPLOADS[i % UPLOADS.len()];
            tokio::spawn(dribble(
                addr.clone(),
                path,
                content_type,
                Duration::from_secs(30),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = Instant::now();
    let answer = reqwest::Client::new()
        .get(format!("{}/healthz", handoff.url))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .expect("healthz answers");
    assert_eq!(answer.status(), 200);
    println!(
        "healthz beside 300 idle and 20 dribbling connections: {:?}",
        asked.elapsed()
    );
    for d in dribbling {
        d.abort();
    }
    drop(idle);
}

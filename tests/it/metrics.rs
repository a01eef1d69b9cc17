//! `/metrics` speaks the Prometheus text format and counts what happened, without ids.

use crate::support::fake_hubspot::FakeConfig;
use crate::support::harness::{connected, eventually};
use serde_json::json;
use std::time::Duration;

fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_deliveries_and_queues() {
    let (fake, _dir, h) = connected(FakeConfig::default()).await;
    let session = h.open_session("ada@example.com", json!([])).await;
    h.send_text(&session, "m1", "hello").await;
    eventually(Duration::from_secs(20), || async {
        fake.thread_by_integration_id(&handoff::relay::integration_thread_id(&session))
            .is_some_and(|t| t.messages.len() == 2)
    })
    .await;
    let missing = reqwest::get(format!("{}/no/such/path-xyz", h.url))
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let response = reqwest::get(format!("{}/metrics", h.url)).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = response.text().await.unwrap();
    // Every sample line is `name{labels} value`, and every family is announced.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, number) = line.rsplit_once(' ').unwrap();
        assert!(number.parse::<f64>().is_ok(), "{line}");
        let name = series.split('{').next().unwrap();
        let family = name
            .trim_end_matches("_bucket")
            .trim_end_matches("_sum")
            .trim_end_matches("_count");
        assert!(text.contains(&format!("# TYPE {family} ")), "{line}");
    }
    let delivered = value(
        &text,
        r#"handoff_deliveries_total{destination="hubspot",outcome="delivered"}"#,
    );
    assert!(delivered.unwrap_or(0.0) >= 2.0, "{text}");
    // Counters are per process, and other tests run in this one too: at least ours.
    let posted = value(
        &text,
        r#"handoff_http_requests_total{route="/api/v1/sessions/{id}/messages",status="202"}"#,
    );
    assert!(posted.unwrap_or(0.0) >= 1.0, "{text}");
    assert!(
        value(
            &text,
            r#"handoff_delivery_latency_seconds_count{destination="hubspot"}"#
        )
        .unwrap()
            >= 2.0
    );
    assert_eq!(
        value(&text, r#"handoff_outbox_depth{queue="hubspot"}"#),
        Some(0.0)
    );
    assert_eq!(value(&text, "handoff_ready"), Some(1.0));
    assert_eq!(value(&text, "handoff_dead_letters"), Some(0.0));
    assert!(value(&text, "handoff_hubspot_ratelimit_headroom").unwrap() > 0.0);
    assert!(!text.contains(&session), "no ids in labels");
    assert!(!text.contains("path-xyz"), "unmatched paths make no series");
    assert!(
        value(
            &text,
            r#"handoff_http_requests_total{route="unmatched",status="404"}"#
        )
        .unwrap_or(0.0)
            >= 1.0
    );
}

fn request_series(text: &str) -> usize {
    text.lines()
        .filter(|l| l.starts_with("handoff_http_requests_total{"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_encoded_paths_make_no_new_series() {
    use futures_util::StreamExt;
    let (_fake, _dir, h) = connected(FakeConfig::default()).await;
    let http = reqwest::Client::new();
    let scrape = || async {
        let text = reqwest::get(format!("{}/metrics", h.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        (request_series(&text), text.len())
    };
    let (before, _) = scrape().await;
    futures_util::stream::iter(0..5000)
        .map(|i| {
            let http = http.clone();
            // Percent-encoded ids: actix decodes the match value, so the raw path differs.
            let path = match i % 3 {
                0 => format!("/api/v1/sessions/%41{i:x}z"),
                1 => format!("/api/v1/sessions/%41{i:x}/messages"),
                _ => format!("/no-such-%41{i:x}"),
            };
            let url = format!("{}{path}", h.url);
            async move { http.get(url).send().await.unwrap().status().as_u16() }
        })
        .buffer_unordered(16)
        .for_each(|_| async {})
        .await;
    let (after, size) = scrape().await;
    // Other tests in this process add their own (bounded) series; 5000 paths add at most a
    // few: each route pattern and `unmatched`, by status.
    assert!(after - before <= 6, "{before} -> {after} series");
    assert!(size < 64 * 1024, "/metrics is {size} bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metrics_token_guards_the_endpoint() {
    use crate::support::fake_hubspot::FakeHubSpot;
    use crate::support::harness::{Handoff, config};
    let fake = FakeHubSpot::start(FakeConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&fake, dir.path());
    c.metrics.token = Some(handoff::secret::Secret::new("metrics-token-0123456789"));
    let h = Handoff::start(c).await;
    let http = reqwest::Client::new();
    let url = format!("{}/metrics", h.url);
    assert_eq!(http.get(&url).send().await.unwrap().status(), 401);
    let wrong = http.get(&url).bearer_auth("metrics-token-0123456780");
    assert_eq!(wrong.send().await.unwrap().status(), 401);
    let right = http.get(&url).bearer_auth("metrics-token-0123456789");
    let response = right.send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("handoff_ready"));
}

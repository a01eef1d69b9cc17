//! Delivery to HubSpot under concurrency and faults: order per session, exactly once,
//! outages, Retry-After, token expiry, revoked refresh tokens, rate limits.

use crate::support::fake_hubspot::{FakeConfig, FakeHubSpot};
use crate::support::harness::{Handoff, config, connected, eventually};
use serde_json::json;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

/// The user messages (after the first, transcript message) of a session's thread.
fn user_texts(fake: &FakeHubSpot, integration_thread_id: &str) -> Vec<String> {
    fake.thread_by_integration_id(integration_thread_id)
        .map(|t| {
            t.messages
                .iter()
                .skip(1)
                .map(|m| m["text"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// handoff's integration thread id for a session, read from the fake's threads.
fn integration_id(fake: &FakeHubSpot, thread_id: &str) -> String {
    fake.threads()
        .into_iter()
        .find(|t| t.id == thread_id)
        .map(|t| t.integration_thread_id)
        .unwrap()
}

async fn wait_for_thread(handoff: &Handoff, fake: &FakeHubSpot, session: &str) -> String {
    eventually(WAIT, || async {
        handoff.session(session).await["hubspotThreadId"].is_string()
    })
    .await;
    let thread = handoff.session(session).await["hubspotThreadId"]
        .as_str()
        .unwrap()
        .to_string();
    integration_id(fake, &thread)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sessions_each_get_their_messages_in_order_exactly_once() {
    let fake = FakeHubSpot::start(FakeConfig::default()).await;
    // Some publishes fail and are retried along the way.
    fake.set_latency(Duration::from_millis(2));
    let dir = tempfile::tempdir().unwrap();
    let handoff = Handoff::start(config(&fake, dir.path())).await;
    handoff.wait_ready().await;

    let mut sessions = Vec::new();
    for i in 0..5 {
        sessions.push(
            handoff
                .open_session(&format!("user{i}@example.com"), json!([]))
                .await,
        );
    }
    fake.fail_next(7, 503);
    let per_session = 20;
    let senders = sessions.iter().map(|s| {
        let handoff = &handoff;
        async move {
            for n in 0..per_session {
                handoff
                    .send_text(s, &format!("m{n}"), &format!("{s} #{n}"))
                    .await;
            }
        }
    });
    futures_util::future::join_all(senders).await;

    for s in &sessions {
        let itid = wait_for_thread(&handoff, &fake, s).await;
        eventually(WAIT, || async {
            user_texts(&fake, &itid).len() >= per_session
        })
        .await;
        let expected: Vec<String> = (0..per_session).map(|n| format!("{s} #{n}")).collect();
        assert_eq!(user_texts(&fake, &itid), expected, "session {s}");
    }
    assert_eq!(fake.threads().len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_delays_but_loses_nothing() {
    let (fake, _dir, handoff) = connected(FakeConfig::default()).await;
    let session = handoff.open_session("outage@example.com", json!([])).await;
    let itid = wait_for_thread(&handoff, &fake, &session).await;

    fake.set_outage(Some(503));
    for n in 0..10 {
        handoff
            .send_text(&session, &format!("m{n}"), &format!("during outage {n}"))
            .await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        user_texts(&fake, &itid).is_empty(),
        "nothing gets through an outage"
    );
    fake.set_outage(None);
    eventually(WAIT, || async { user_texts(&fake, &itid).len() >= 10 }).await;
    let expected: Vec<String> = (0..10).map(|n| format!("during outage {n}")).collect();
    assert_eq!(user_texts(&fake, &itid), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_on_429_pauses_every_hubspot_call() {
    let (fake, _dir, handoff) = connected(FakeConfig::default()).await;
    let session = handoff.open_session("limit@example.com", json!([])).await;
    let itid = wait_for_thread(&handoff, &fake, &session).await;

    fake.rate_limit_next(1, Some(2));
    let sent = Instant::now();
    handoff.send_text(&session, "m1", "after the pause").await;
    eventually(WAIT, || async { user_texts(&fake, &itid).len() == 1 }).await;
    let waited = sent.elapsed();
    assert!(
        waited >= Duration::from_secs(2),
        "Retry-After: 2 was not respected ({waited:?})"
    );
    let requests = fake.requests();
    let limited = requests
        .iter()
        .position(|r| r.status == 429)
        .expect("a 429 was answered");
    let next = &requests[limited + 1];
    assert!(
        next.at - requests[limited].at >= Duration::from_millis(1950),
        "next call too early"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_access_token_is_refreshed() {
    let (fake, _dir, handoff) = connected(FakeConfig::default()).await;
    let session = handoff.open_session("token@example.com", json!([])).await;
    let itid = wait_for_thread(&handoff, &fake, &session).await;
    let refreshes = fake.token_requests();
    fake.expire_access_tokens();
    handoff.send_text(&session, "m1", "still works").await;
    eventually(WAIT, || async {
        user_texts(&fake, &itid) == ["still works"]
    })
    .await;
    assert_eq!(
        fake.token_requests(),
        refreshes + 1,
        "one refresh after the 401"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_lived_tokens_are_refreshed_ahead_of_expiry() {
    let (fake, _dir, handoff) = connected(FakeConfig {
        token_lifetime_secs: 2,
        ..FakeConfig::default()
    })
    .await;
    let session = handoff.open_session("ahead@example.com", json!([])).await;
    let itid = wait_for_thread(&handoff, &fake, &session).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    handoff.send_text(&session, "m1", "fresh token").await;
    eventually(WAIT, || async {
        user_texts(&fake, &itid) == ["fresh token"]
    })
    .await;
    let unauthorized = fake.requests().iter().filter(|r| r.status == 401).count();
    assert_eq!(unauthorized, 0, "the token was refreshed before it expired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_refresh_token_is_persisted_and_used_after_restart() {
    let fake = FakeHubSpot::start(FakeConfig::default()).await;
    fake.set_rotate_refresh_tokens(true);
    let dir = tempfile::tempdir().unwrap();
    let handoff = Handoff::start(config(&fake, dir.path())).await;
    handoff.wait_ready().await;
    // The configured token is dead now; only the rotated one in the store works.
    let handoff = handoff.restart().await;
    handoff.wait_ready().await;
    let session = handoff.open_session("rotate@example.com", json!([])).await;
    wait_for_thread(&handoff, &fake, &session).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_refresh_token_makes_handoff_unready_and_keeps_the_work() {
    let (fake, _dir, handoff) = connected(FakeConfig::default()).await;
    let session = handoff.open_session("revoked@example.com", json!([])).await;
    let itid = wait_for_thread(&handoff, &fake, &session).await;

    fake.revoke_refresh_tokens();
    fake.expire_access_tokens();
    for n in 0..3 {
        handoff
            .send_text(&session, &format!("m{n}"), &format!("kept {n}"))
            .await;
    }
    eventually(WAIT, || async {
        let (status, body) = handoff.get("/readyz").await;
        status == 503
            && body["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r == "hubspot-reauthorization-required")
    })
    .await;
    // Accepted messages wait; nothing is dropped or dead-lettered.
    assert!(user_texts(&fake, &itid).is_empty());
    assert_eq!(
        handoff
            .running
            .as_ref()
            .unwrap()
            .state
            .store
            .dead_letter_count(),
        0
    );
    let (status, _) = handoff
        .post(
            "/api/v1/sessions",
            json!({"user": {"email": "later@example.com"}}),
        )
        .await;
    assert_eq!(status, 202, "the bot API keeps accepting work");

    // The operator connects HubSpot again (a new refresh token): the backlog drains.
    let mut cfg = handoff.config.clone();
    cfg.hubspot.refresh_token = Some(handoff::secret::Secret::new(fake.mint_refresh_token()));
    let mut handoff = handoff;
    handoff.stop().await;
    let handoff = Handoff::start(cfg).await;
    handoff.wait_ready().await;
    eventually(WAIT, || async { user_texts(&fake, &itid).len() == 3 }).await;
    assert_eq!(user_texts(&fake, &itid), ["kept 0", "kept 1", "kept 2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_drains_at_the_rate_limit_without_429s() {
    let limit = 25;
    let fake = FakeHubSpot::start(FakeConfig {
        rate_limit_per_10s: Some(limit),
        ..FakeConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&fake, dir.path());
    cfg.hubspot.rate_limit_per_10s = limit;
    let handoff = Handoff::start(cfg).await;
    handoff.wait_ready().await;
    let session = handoff.open_session("backlog@example.com", json!([])).await;
    let itid = wait_for_thread(&handoff, &fake, &session).await;
    let total = 30;
    for n in 0..total {
        handoff
            .send_text(&session, &format!("m{n}"), &format!("b{n}"))
            .await;
    }
    eventually(Duration::from_secs(60), || async {
        user_texts(&fake, &itid).len() == total
    })
    .await;
    assert_eq!(
        fake.rate_limited_count(),
        0,
        "handoff stayed under the limit"
    );
    // No rolling 10 s window holds more than the limit.
    let times: Vec<Instant> = fake
        .requests()
        .iter()
        .filter(|r| r.authenticated)
        .map(|r| r.at)
        .collect();
    for (i, t) in times.iter().enumerate() {
        let in_window = times[i..]
            .iter()
            .filter(|u| u.duration_since(*t) < Duration::from_secs(10))
            .count();
        assert!(
            in_window <= limit as usize,
            "{in_window} calls in one window"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_refusal_fails_the_session_and_dead_letters_it() {
    let (fake, _dir, handoff) = connected(FakeConfig::default()).await;
    fake.set_reject_publishes(Some("Invalid delivery identifier".into()));
    let session = handoff.open_session("refused@example.com", json!([])).await;
    eventually(WAIT, || async {
        handoff.session(&session).await["status"] == "failed"
    })
    .await;
    let view = handoff.session(&session).await;
    assert!(
        view["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Invalid delivery identifier"),
        "{view}"
    );
    let store = &handoff.running.as_ref().unwrap().state.store;
    assert_eq!(store.dead_letter_count(), 1);
    let (status, _) = handoff
        .post(
            &format!("/api/v1/sessions/{session}/messages"),
            json!({"type": "text", "payload": {"text": "x"}}),
        )
        .await;
    assert_eq!(status, 409);
    // Other sessions go on.
    fake.set_reject_publishes(None);
    let ok = handoff.open_session("fine@example.com", json!([])).await;
    wait_for_thread(&handoff, &fake, &ok).await;
}

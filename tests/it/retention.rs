//! `store.retention`: closed and failed sessions past it go, with their indexes and their
//! user when no other session names them; everything still going stays.

use crate::sessions::thread_of;
use crate::support::fake_hubspot::FakeConfig;
use crate::support::harness::{connected, eventually};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_past_their_retention_are_removed_with_their_indexes_and_user() {
    let (fake, _dir, h) = connected(FakeConfig::default()).await;
    let open = |email: &'static str, ext: &'static str| {
        let h = &h;
        async move {
            let (status, body) = h
                .post(
                    "/api/v1/sessions",
                    json!({"user": {"email": email}, "externalId": ext}),
                )
                .await;
            assert_eq!(status, 202, "{body}");
            body["sessionId"].as_str().unwrap().to_string()
        }
    };
    let old = open("gone@example.com", "ext-old").await;
    h.send_text(&old, "m1", "hello").await;
    let kept = open("kept@example.com", "ext-kept").await;
    let thread = thread_of(&fake, &h, &old, 2).await;
    let (status, _) = h
        .post(&format!("/api/v1/sessions/{old}/stop"), json!({}))
        .await;
    assert_eq!(status, 202);
    eventually(Duration::from_secs(20), || async {
        fake.threads()
            .iter()
            .any(|t| t.id == thread.id && t.status == "CLOSED")
    })
    .await;
    // Every queue, not only HubSpot's: a session with queued work (the echo of the close on
    // its way in, the bot's `session.closed` on its way out) is kept by design.
    eventually(Duration::from_secs(20), || async {
        let state = &h.running.as_ref().unwrap().state;
        state.hubspot_outbox.depth() == 0
            && state.inbound_outbox.depth() == 0
            && state.bot_outbox.depth() == 0
    })
    .await;

    let store = &h.running.as_ref().unwrap().state.store;
    let later = chrono::Utc::now() + chrono::TimeDelta::days(1);
    assert_eq!(
        store.prune_sessions(later).unwrap(),
        1,
        "only the closed one"
    );

    assert_eq!(h.get(&format!("/api/v1/sessions/{old}")).await.0, 404);
    assert_eq!(h.get(&format!("/api/v1/sessions/{kept}")).await.0, 200);
    // Its user is gone (a new one is made), the other session's user is not.
    assert_eq!(
        h.post("/api/v1/users", json!({"email": "gone@example.com"}))
            .await
            .0,
        201
    );
    assert_eq!(
        h.post("/api/v1/users", json!({"email": "kept@example.com"}))
            .await
            .0,
        200
    );
    // Its messageId and HubSpot thread no longer lead anywhere.
    let (status, _) = h
        .post(
            &format!("/api/v1/sessions/{old}/messages"),
            json!({"type": "text", "payload": {"text": "x"}, "messageId": "m1"}),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(store.session_of_hubspot_thread(&thread.id).unwrap(), None);
    // Its externalId is free again; the open session's still returns it.
    assert_ne!(open("gone@example.com", "ext-old").await, old);
    assert_eq!(open("kept@example.com", "ext-kept").await, kept);
}

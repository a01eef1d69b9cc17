//! Escalations reach HubSpot: the first message with the transcript, user messages in order,
//! a stop that tells the agent and closes the thread.

use crate::support::fake_hubspot::{FakeConfig, FakeHubSpot, Thread};
use crate::support::harness::{Handoff, config, connected, eventually};
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

pub(crate) async fn thread_of(
    fake: &FakeHubSpot,
    handoff: &Handoff,
    session: &str,
    messages: usize,
) -> Thread {
    eventually(WAIT, || async {
        let s = handoff.session(session).await;
        s["hubspotThreadId"].is_string()
            && thread_by_id(fake, &s).is_some_and(|t| t.messages.len() >= messages)
    })
    .await;
    thread_by_id(fake, &handoff.session(session).await).unwrap()
}

fn thread_by_id(fake: &FakeHubSpot, session: &Value) -> Option<Thread> {
    let id = session["hubspotThreadId"].as_str()?;
    fake.threads().into_iter().find(|t| t.id == id)
}

pub(crate) fn texts(thread: &Thread) -> Vec<String> {
    thread
        .messages
        .iter()
        .map(|m| m["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalation_by_email_shows_the_transcript_and_associates_the_contact() {
    let fake = FakeHubSpot::start(FakeConfig::default()).await;
    let contact = fake.add_contact(Some("jane@example.com"), None, "Jane");
    let dir = tempfile::tempdir().unwrap();
    let handoff = Handoff::start(config(&fake, dir.path())).await;
    handoff.wait_ready().await;

    let (status, body) = handoff
        .post(
            "/api/v1/sessions",
            json!({
                "user": {"name": "Jane Doe", "email": "Jane@Example.com"},
                "title": "Refund request",
                "description": "Order #42 arrived broken",
                "messageHistory": [
                    {"source": {"type": "user"}, "type": "text", "payload": {"text": "My order is broken"}},
                    {"source": {"type": "bot"}, "type": "text", "payload": {"text": "Sorry! Let me get a human."}},
                    {"source": {"type": "user"}, "type": "image", "payload": {"imageUrl": "https://cdn.example.com/a.png"}}
                ]
            }),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "pending");
    let session = body["sessionId"].as_str().unwrap().to_string();

    let thread = thread_of(&fake, &handoff, &session, 1).await;
    let first = &thread.messages[0];
    let text = first["text"].as_str().unwrap();
    let order = [
        "Refund request",
        "Order #42 arrived broken",
        "User: My order is broken",
        "Bot: Sorry! Let me get a human.",
        "https://cdn.example.com/a.png",
    ];
    let mut at = 0;
    for part in order {
        let found = text[at..]
            .find(part)
            .unwrap_or_else(|| panic!("`{part}` after {at} in {text}"));
        at += found + part.len();
    }
    assert_eq!(
        first["senders"][0]["deliveryIdentifier"]["type"],
        "HS_EMAIL_ADDRESS"
    );
    assert_eq!(
        first["senders"][0]["deliveryIdentifier"]["value"],
        "Jane@Example.com"
    );
    assert_eq!(first["senders"][0]["name"], "Jane Doe");
    assert_eq!(
        thread.associated_contact_id.as_deref(),
        Some(contact.as_str())
    );
    assert_eq!(handoff.session(&session).await["status"], "open");

    handoff.send_text(&session, "m1", "Are you there?").await;
    handoff.send_text(&session, "m2", "Hello?").await;
    let thread = thread_of(&fake, &handoff, &session, 3).await;
    assert_eq!(texts(&thread)[1..], ["Are you there?", "Hello?"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalation_by_phone_and_without_a_matching_contact() {
    let fake = FakeHubSpot::start(FakeConfig::default()).await;
    let contact = fake.add_contact(None, Some("+14155552671"), "Phone Person");
    let dir = tempfile::tempdir().unwrap();
    let handoff = Handoff::start(config(&fake, dir.path())).await;
    handoff.wait_ready().await;

    let (status, body) = handoff
        .post(
            "/api/v1/sessions",
            json!({"user": {"name": "Pat", "phone": "+1 415 555 2671"}}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let with_phone = body["sessionId"].as_str().unwrap().to_string();
    let thread = thread_of(&fake, &handoff, &with_phone, 1).await;
    let sender = &thread.messages[0]["senders"][0];
    assert_eq!(sender["deliveryIdentifier"]["type"], "HS_PHONE_NUMBER");
    assert_eq!(sender["deliveryIdentifier"]["value"], "+14155552671");
    assert_eq!(
        thread.associated_contact_id.as_deref(),
        Some(contact.as_str())
    );

    // No contact matches: the session still opens, unassociated with a CRM contact.
    let stranger = handoff
        .open_session("stranger@example.org", json!([]))
        .await;
    let thread = thread_of(&fake, &handoff, &stranger, 1).await;
    assert_ne!(
        thread.associated_contact_id.as_deref(),
        Some(contact.as_str())
    );
    assert_eq!(handoff.session(&stranger).await["status"], "open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_tells_the_agent_closes_the_thread_and_refuses_later_messages() {
    let (fake, _dir, handoff) = connected(FakeConfig::default()).await;
    let session = handoff.open_session("stop@example.com", json!([])).await;
    handoff.send_text(&session, "a", "one last thing").await;

    let (status, _) = handoff
        .post(
            &format!("/api/v1/sessions/{session}/stop"),
            json!({"reason": "resolved by FAQ"}),
        )
        .await;
    assert_eq!(status, 202);
    let view = handoff.session(&session).await;
    assert_eq!(view["status"], "closed");
    assert_eq!(view["closedBy"], "bot");
    assert!(view["closedAt"].is_string());

    let (status, body) = handoff
        .post(
            &format!("/api/v1/sessions/{session}/messages"),
            json!({"type": "text", "payload": {"text": "late"}}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "session-closed");
    // Stopping again is accepted and does nothing.
    assert_eq!(
        handoff
            .post(&format!("/api/v1/sessions/{session}/stop"), json!({}))
            .await
            .0,
        202
    );
    // A retried message id that was accepted before the stop stays a no-op.
    handoff.send_text(&session, "a", "one last thing").await;

    eventually(WAIT, || async {
        thread_by_id(&fake, &handoff.session(&session).await).is_some_and(|t| t.status == "CLOSED")
    })
    .await;
    let thread = thread_by_id(&fake, &handoff.session(&session).await).unwrap();
    let texts = texts(&thread);
    assert_eq!(texts.len(), 3, "{texts:?}");
    assert_eq!(texts[1], "one last thing");
    assert!(
        texts[2].contains("The user ended the session") && texts[2].contains("resolved by FAQ"),
        "{texts:?}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        thread_by_id(&fake, &handoff.session(&session).await)
            .unwrap()
            .messages
            .len(),
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_id_and_idempotency_key_return_the_same_session() {
    let fake = FakeHubSpot::start(FakeConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let handoff = Handoff::start(config(&fake, dir.path())).await;
    let body = json!({"user": {"email": "same@example.com"}, "externalId": "conv-1"});
    let (_, a) = handoff.post("/api/v1/sessions", body.clone()).await;
    let (status, b) = handoff.post("/api/v1/sessions", body).await;
    assert_eq!(status, 202);
    assert_eq!(a["sessionId"], b["sessionId"]);

    let send = |key: &'static str| {
        handoff
            .http
            .post(format!("{}/api/v1/sessions", handoff.url))
            .bearer_auth(crate::support::harness::API_KEY)
            .header("Idempotency-Key", key)
            .json(&json!({"user": {"email": "idem@example.com"}}))
            .send()
    };
    let c: Value = send("k-1").await.unwrap().json().await.unwrap();
    let d: Value = send("k-1").await.unwrap().json().await.unwrap();
    let e: Value = send("k-2").await.unwrap().json().await.unwrap();
    assert_eq!(c["sessionId"], d["sessionId"]);
    assert_ne!(c["sessionId"], e["sessionId"]);

    // Users: same identity, same id; the other fields follow the latest call.
    let (s1, u1) = handoff
        .post(
            "/api/v1/users",
            json!({"email": "u@example.com", "name": "A"}),
        )
        .await;
    let (s2, u2) = handoff
        .post(
            "/api/v1/users",
            json!({"email": "U@example.com", "name": "B", "phone": "+442071838750"}),
        )
        .await;
    assert_eq!((s1, s2), (201, 200));
    assert_eq!(u1["userId"], u2["userId"]);
    assert_eq!(u2["name"], "B");
    assert_eq!(u2["phone"], "+442071838750");
    let (status, _) = handoff
        .post("/api/v1/sessions", json!({"userId": u1["userId"]}))
        .await;
    assert_eq!(status, 202);
}

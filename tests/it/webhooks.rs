//! HubSpot → bot: verified webhooks become signed, ordered, de-duplicated events.

use crate::support::fake_bot::FakeBot;
use crate::support::fake_hubspot::{FakeConfig, FakeHubSpot};
use crate::support::harness::{Handoff, config, eventually};
use handoff::hubspot::signature;
use handoff::secret::Secret;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);
const AGENT: &str = "A-2620022";

struct World {
    fake: FakeHubSpot,
    bot: FakeBot,
    handoff: Handoff,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let fake = FakeHubSpot::start(FakeConfig::default()).await;
    fake.set_webhook_retries(5, Duration::from_millis(50));
    let bot = FakeBot::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&fake, dir.path());
    cfg.bot.webhook_url = Some(bot.url());
    cfg.bot.webhook_secret = Some(Secret::new(bot.secret()));
    let handoff = Handoff::start(cfg).await;
    handoff.wait_ready().await;
    World {
        fake,
        bot,
        handoff,
        _dir: dir,
    }
}

impl World {
    /// Opens a session and waits until HubSpot has its thread; returns (session, thread).
    async fn session(&self, email: &str) -> (String, String) {
        let session = self.handoff.open_session(email, json!([])).await;
        eventually(WAIT, || async {
            self.handoff.session(&session).await["hubspotThreadId"].is_string()
        })
        .await;
        let thread = self.handoff.session(&session).await["hubspotThreadId"]
            .as_str()
            .unwrap()
            .to_string();
        (session, thread)
    }

    fn events_for(&self, session: &str) -> Vec<Value> {
        self.bot
            .events()
            .into_iter()
            .filter(|e| e["sessionId"] == session)
            .collect()
    }

    fn kinds(&self, session: &str) -> Vec<String> {
        self.events_for(session)
            .iter()
            .map(|e| e["type"].as_str().unwrap().to_string())
            .collect()
    }

    async fn wait_kinds(&self, session: &str, n: usize) -> Vec<String> {
        eventually(WAIT, || async { self.events_for(session).len() >= n }).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.kinds(session)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_agent_flow_reaches_the_bot_in_order_with_names() {
    let w = world().await;
    let (session, thread) = w.session("flow@example.com").await;
    let file = w.fake.add_file(
        "receipt.pdf",
        "application/pdf",
        b"%PDF-1.4 receipt bytes".to_vec(),
    );

    assert!(w.fake.assign(&thread, AGENT).await.delivered);
    let (first_id, r) = w
        .fake
        .agent_reply(&thread, AGENT, "Hi, I'm Sam.", &[])
        .await;
    assert!(r.delivered);
    let (_, r) = w
        .fake
        .agent_reply(&thread, AGENT, "Here is your receipt", &[file.as_str()])
        .await;
    assert!(r.delivered);
    assert!(w.fake.close(&thread).await.delivered);

    let kinds = w.wait_kinds(&session, 5).await;
    assert_eq!(
        kinds,
        [
            "session.opened",
            "session.assigned",
            "session.message",
            "session.message",
            "session.closed"
        ]
    );
    let events = w.events_for(&session);
    for e in &events {
        assert!(e["id"].as_str().unwrap().starts_with("evt_"));
        assert!(e["createdAt"].is_string());
    }
    assert_eq!(events[0]["data"]["hubspotThreadId"], thread.as_str());
    assert_eq!(events[1]["data"]["agent"]["id"], AGENT);
    assert_eq!(events[1]["data"]["agent"]["name"], "Sam Agent");
    assert_eq!(events[2]["data"]["text"], "Hi, I'm Sam.");
    assert_eq!(events[2]["data"]["agent"]["name"], "Sam Agent");
    assert!(
        events[2]["data"]["richText"]
            .as_str()
            .unwrap()
            .contains("Hi, I'm Sam.")
    );
    assert_eq!(events[2]["data"]["attachments"], json!([]));
    let attachment = &events[3]["data"]["attachments"][0];
    assert_eq!(attachment["name"], "receipt.pdf");
    let (status, bytes) = w.bot.download(attachment["url"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(bytes, b"%PDF-1.4 receipt bytes");
    assert_eq!(events[4]["data"]["by"], "agent");

    let view = w.handoff.session(&session).await;
    assert_eq!(view["status"], "closed");
    assert_eq!(view["closedBy"], "agent");
    assert_eq!(view["agent"]["name"], "Sam Agent");
    // HubSpot learns that the agent's messages reached the bot.
    eventually(WAIT, || async {
        w.fake
            .message_statuses()
            .get(&first_id)
            .is_some_and(|(s, _)| s == "SENT")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_assignment_formats_name_the_agent() {
    let w = world().await;
    let (session, thread) = w.session("assign@example.com").await;
    w.fake.assign(&thread, "A-7").await;
    w.fake.assign(&thread, "2620022").await;
    w.fake.assign(&thread, "").await;
    let kinds = w.wait_kinds(&session, 3).await;
    assert_eq!(
        kinds,
        ["session.opened", "session.assigned", "session.assigned"]
    );
    let events = w.events_for(&session);
    assert_eq!(events[1]["data"]["agent"]["id"], "A-7");
    assert_eq!(events[1]["data"]["agent"]["name"], "Alex Helper");
    assert_eq!(events[2]["data"]["agent"]["id"], "A-2620022");
    // Unassigned: no event, the session is back to open.
    eventually(WAIT, || async {
        w.handoff.session(&session).await["status"] == "open"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_and_retries_produce_one_event_each() {
    let w = world().await;
    let (session, thread) = w.session("dupes@example.com").await;
    w.fake.set_duplicate_webhooks(true);
    w.fake.assign(&thread, AGENT).await;
    let (message_id, _) = w.fake.agent_reply(&thread, AGENT, "only once", &[]).await;
    // HubSpot retrying the very same message (re-signed, fresh timestamp).
    let retry = json!({"type": "OUTGOING_CHANNEL_MESSAGE_CREATED", "portalId": "12345678",
        "channelId": w.fake.channels()[0]["id"], "eventId": "retry",
        "channelIntegrationThreadIds": [w.fake.threads().iter().find(|t| t.id == thread).unwrap().integration_thread_id],
        "message": {"id": message_id, "conversationsThreadId": thread, "text": "only once",
            "senders": [{"actorId": AGENT, "name": "Sam Agent"}], "direction": "OUTGOING"}});
    assert!(w.fake.send_channel_event(retry).await.delivered);
    w.fake.close(&thread).await;
    let kinds = w.wait_kinds(&session, 4).await;
    assert_eq!(
        kinds,
        [
            "session.opened",
            "session.assigned",
            "session.message",
            "session.closed"
        ]
    );
    let ids: Vec<_> = w
        .bot
        .deliveries()
        .iter()
        .filter(|d| d.status < 300)
        .map(|d| d.webhook_id.clone())
        .collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(ids.len(), unique.len(), "no event delivered twice: {ids:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_forged_stale_oversized_and_malformed_calls_are_refused() {
    let w = world().await;
    let (session, thread) = w.session("refuse@example.com").await;
    let url = format!("{}/webhooks/hubspot", w.handoff.url);
    let now = chrono::Utc::now().timestamp_millis();
    let event = json!([{"subscriptionType": "conversation.propertyChange", "objectId": thread.parse::<u64>().unwrap(),
        "propertyName": "status", "propertyValue": "CLOSED", "occurredAt": now}])
    .to_string();
    let v3 = |body: &str, ts: i64, secret: &str| {
        signature::v3(secret, "POST", &url, body.as_bytes(), &ts.to_string())
    };
    let secret = FakeHubSpot::CLIENT_SECRET;
    let big = format!("[{}]", "1,".repeat(600_000) + "1");
    type Case<'a> = (&'a str, String, Vec<(&'a str, String)>, u16);
    let cases: Vec<Case> = vec![
        ("unsigned", event.clone(), vec![], 401),
        (
            "forged v3",
            event.clone(),
            vec![
                ("x-hubspot-signature-v3", v3(&event, now, "not-the-secret")),
                ("x-hubspot-request-timestamp", now.to_string()),
            ],
            401,
        ),
        (
            "forged v1",
            event.clone(),
            vec![(
                "x-hubspot-signature",
                signature::v1("not-the-secret", event.as_bytes()),
            )],
            401,
        ),
        (
            "stale",
            event.clone(),
            vec![
                ("x-hubspot-signature-v3", v3(&event, now - 301_000, secret)),
                ("x-hubspot-request-timestamp", (now - 301_000).to_string()),
            ],
            401,
        ),
        (
            "future",
            event.clone(),
            vec![
                ("x-hubspot-signature-v3", v3(&event, now + 301_000, secret)),
                ("x-hubspot-request-timestamp", (now + 301_000).to_string()),
            ],
            401,
        ),
        (
            "object without v3",
            r#"{"type":"CHANNEL_ACCOUNT_PURGED"}"#.into(),
            vec![(
                "x-hubspot-signature",
                signature::v1(secret, br#"{"type":"CHANNEL_ACCOUNT_PURGED"}"#),
            )],
            401,
        ),
        (
            "oversized",
            big.clone(),
            vec![("x-hubspot-signature", signature::v1(secret, big.as_bytes()))],
            413,
        ),
        (
            "malformed",
            "[{not json".into(),
            vec![("x-hubspot-signature", signature::v1(secret, b"[{not json"))],
            400,
        ),
    ];
    for (name, body, headers, expected) in cases {
        let mut req = w
            .handoff
            .http
            .post(&url)
            .header("content-type", "application/json")
            .body(body);
        for (h, v) in headers {
            req = req.header(h, v);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let json: Value = resp.json().await.unwrap_or(Value::Null);
        assert_eq!(status, expected, "{name}: {json}");
        assert!(json["error"]["code"].is_string(), "{name}: {json}");
    }
    // A correctly signed one goes through, so the refusals above were about the signature.
    let resp = w
        .handoff
        .http
        .post(&url)
        .header(
            "x-hubspot-signature",
            signature::v1(secret, event.as_bytes()),
        )
        .body(event.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let kinds = w.wait_kinds(&session, 2).await;
    assert_eq!(kinds, ["session.opened", "session.closed"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_for_threads_that_are_not_ours_and_unknown_types_are_acknowledged() {
    let w = world().await;
    let r = w
        .fake
        .send_app_events(vec![
            json!({"subscriptionType": "conversation.propertyChange", "objectId": 999999,
        "propertyName": "status", "propertyValue": "CLOSED", "occurredAt": 1}),
        ])
        .await;
    assert_eq!(r.attempts, vec![Some(200)]);
    let r = w
        .fake
        .send_channel_event(json!({"type": "SOMETHING_NEW", "portalId": "1"}))
        .await;
    assert_eq!(r.attempts, vec![Some(200)]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(w.bot.events().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_that_is_down_gets_everything_later_in_order_once() {
    let w = world().await;
    let (session, thread) = w.session("down@example.com").await;
    w.wait_kinds(&session, 1).await;
    w.bot.set_down(Some(503));
    for n in 0..5 {
        w.fake
            .agent_reply(&thread, AGENT, &format!("reply {n}"), &[])
            .await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        w.events_for(&session).len(),
        1,
        "nothing accepted while down"
    );
    assert!(
        w.bot.deliveries().iter().any(|d| d.status == 503),
        "handoff kept trying"
    );
    w.bot.set_down(None);
    eventually(WAIT, || async { w.events_for(&session).len() >= 6 }).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let texts: Vec<_> = w.events_for(&session)[1..]
        .iter()
        .map(|e| e["data"]["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        texts,
        (0..5).map(|n| format!("reply {n}")).collect::<Vec<_>>()
    );
    // Every attempt was signed; webhook-id stayed the same across retries.
    assert!(w.bot.deliveries().iter().all(|d| d.verified));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_in_the_middle_of_delivery_loses_nothing() {
    let w = world().await;
    let World {
        fake,
        bot,
        handoff,
        _dir,
    } = w;
    let session = handoff.open_session("restart@example.com", json!([])).await;
    eventually(WAIT, || async {
        handoff.session(&session).await["hubspotThreadId"].is_string()
    })
    .await;
    let thread = handoff.session(&session).await["hubspotThreadId"]
        .as_str()
        .unwrap()
        .to_string();
    bot.set_down(Some(500));
    for n in 0..4 {
        fake.agent_reply(&thread, AGENT, &format!("kept {n}"), &[])
            .await;
    }
    let handoff = handoff.restart().await;
    bot.set_down(None);
    let for_session = || {
        bot.events()
            .into_iter()
            .filter(|e| e["sessionId"] == session.as_str())
            .collect::<Vec<_>>()
    };
    eventually(WAIT, || async { for_session().len() >= 5 }).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let texts: Vec<_> = for_session()[1..]
        .iter()
        .map(|e| e["data"]["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(texts, ["kept 0", "kept 1", "kept 2", "kept 3"]);
    drop(handoff);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_stopping_gets_exactly_one_closed_event_and_no_echo() {
    let w = world().await;
    let (session, thread) = w.session("stopper@example.com").await;
    w.handoff
        .post(
            &format!("/api/v1/sessions/{session}/stop"),
            json!({"reason": "done"}),
        )
        .await;
    // handoff closes the thread; the fake echoes HubSpot's status=CLOSED webhook.
    eventually(WAIT, || async {
        w.fake
            .threads()
            .iter()
            .any(|t| t.id == thread && t.status == "CLOSED")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let events = w.events_for(&session);
    let closed: Vec<_> = events
        .iter()
        .filter(|e| e["type"] == "session.closed")
        .collect();
    assert_eq!(closed.len(), 1, "{events:?}");
    assert_eq!(closed[0]["data"]["by"], "bot");
    assert_eq!(closed[0]["data"]["reason"], "done");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_session_tells_the_bot_it_failed() {
    let w = world().await;
    w.fake
        .set_reject_publishes(Some("Delivery identifier rejected".into()));
    let session = w
        .handoff
        .open_session("rejected@example.com", json!([]))
        .await;
    let kinds = w.wait_kinds(&session, 1).await;
    assert_eq!(kinds, ["session.failed"]);
    let e = &w.events_for(&session)[0];
    assert!(
        e["data"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Delivery identifier rejected")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_long_poll_feed_works_without_a_webhook_and_its_cursor_moves() {
    let fake = FakeHubSpot::start(FakeConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let handoff = Handoff::start(config(&fake, dir.path())).await;
    handoff.wait_ready().await;
    let session = handoff.open_session("poll@example.com", json!([])).await;
    eventually(WAIT, || async {
        handoff.session(&session).await["hubspotThreadId"].is_string()
    })
    .await;
    let thread = handoff.session(&session).await["hubspotThreadId"]
        .as_str()
        .unwrap()
        .to_string();

    let (status, page) = handoff.get("/api/v1/events").await;
    assert_eq!(status, 200);
    assert_eq!(page["events"].as_array().unwrap().len(), 1);
    assert_eq!(page["events"][0]["type"], "session.opened");
    let cursor = page["next"].as_str().unwrap().to_string();

    // Nothing new: answers at once, with the same cursor.
    let (_, empty) = handoff.get(&format!("/api/v1/events?after={cursor}")).await;
    assert_eq!(empty["events"], json!([]));
    assert_eq!(empty["next"], cursor.as_str());

    // A long-poll that is woken by an agent reply.
    let poll_path = format!("/api/v1/events?after={cursor}&wait=10");
    let poll = handoff.get(&poll_path);
    let reply = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        fake.agent_reply(&thread, AGENT, "are you still there?", &[])
            .await
    };
    let started = std::time::Instant::now();
    let ((status, page), (message_id, _)) = tokio::join!(poll, reply);
    assert_eq!(status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "woken by the event, not the timeout"
    );
    assert_eq!(page["events"][0]["type"], "session.message");
    assert_eq!(page["events"][0]["data"]["text"], "are you still there?");
    assert_ne!(page["next"], cursor.as_str());
    // With no webhook, an event in the feed counts as delivered.
    eventually(WAIT, || async {
        fake.message_statuses()
            .get(&message_id)
            .is_some_and(|(s, _)| s == "SENT")
    })
    .await;

    let (status, _) = handoff.get("/api/v1/events?after=not-a-cursor").await;
    assert_eq!(status, 400);
    let (_, limited) = handoff.get("/api/v1/events?limit=1").await;
    assert_eq!(limited["events"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purged_channel_account_is_reported_by_readyz() {
    let w = world().await;
    let account = w.fake.channel_accounts()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Someone else's account changes nothing.
    let other = json!({"type": "CHANNEL_ACCOUNT_PURGED", "portalId": "12345678", "channelId": w.fake.channels()[0]["id"],
        "channelAccountId": "999", "eventTimestamp": "2026-11-22T00:00:00Z"});
    assert!(w.fake.send_channel_event(other).await.delivered);
    assert_eq!(w.handoff.get("/readyz").await.0, 200);
    let ours = json!({"type": "CHANNEL_ACCOUNT_PURGED", "portalId": "12345678", "channelId": w.fake.channels()[0]["id"],
        "channelAccountId": account, "eventTimestamp": "2026-11-22T00:00:01Z"});
    assert!(w.fake.send_channel_event(ours).await.delivered);
    let (status, body) = w.handoff.get("/readyz").await;
    assert_eq!(status, 503);
    assert!(
        body["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "channel-account-purged"),
        "{body}"
    );
    // The worker asks the same readiness: nothing more is attempted, nothing is lost.
    let session = w
        .handoff
        .open_session("purged@example.com", json!([]))
        .await;
    let attempts = w.fake.publish_attempts();
    w.handoff.send_text(&session, "m1", "waits").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        w.fake.publish_attempts(),
        attempts,
        "nothing attempted while purged"
    );
    let metrics = reqwest::get(format!("{}/metrics", w.handoff.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("\nhandoff_ready 0\n"), "{metrics}");
    assert_eq!(w.handoff.session(&session).await["status"], "pending");
    // The account connected again: the queued work goes out.
    let back = json!({"type": "CHANNEL_ACCOUNT_CREATED", "portalId": "12345678", "channelId": w.fake.channels()[0]["id"],
        "channelAccountId": account, "eventTimestamp": "2026-11-22T00:00:02Z"});
    assert!(w.fake.send_channel_event(back).await.delivered);
    eventually(WAIT, || async {
        w.fake
            .thread_by_integration_id(&handoff::relay::integration_thread_id(&session))
            .is_some_and(|t| t.messages.len() == 2)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_not_followed_and_a_refused_message_is_reported_failed() {
    let w = world().await;
    let (session, thread) = w.session("redirect@example.com").await;
    w.wait_kinds(&session, 1).await;
    w.bot.set_redirect(true);
    let (message_id, _) = w
        .fake
        .agent_reply(&thread, AGENT, "you will not see this", &[])
        .await;
    eventually(WAIT, || async {
        w.fake
            .message_statuses()
            .get(&message_id)
            .is_some_and(|(s, _)| s == "FAILED")
    })
    .await;
    let (_, reason) = &w.fake.message_statuses()[&message_id];
    assert!(
        reason.as_deref().unwrap_or_default().contains("redirect"),
        "{reason:?}"
    );
    assert!(
        w.bot.deliveries().iter().all(|d| d.path == "/hook"),
        "the redirect was not followed"
    );
    assert_eq!(w.events_for(&session).len(), 1);
    assert_eq!(
        w.handoff
            .running
            .as_ref()
            .unwrap()
            .state
            .store
            .dead_letter_count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bots_retry_after_is_honoured() {
    let w = world().await;
    let (session, thread) = w.session("patience@example.com").await;
    w.wait_kinds(&session, 1).await;
    w.bot.set_retry_after(Some(2));
    w.bot.fail_next(1, 503);
    w.fake
        .agent_reply(&thread, AGENT, "after a pause", &[])
        .await;
    w.wait_kinds(&session, 2).await;
    let tries: Vec<_> = w
        .bot
        .deliveries()
        .into_iter()
        .filter(|d| d.webhook_id != w.events_for(&session)[0]["id"])
        .collect();
    assert_eq!(
        tries.len(),
        2,
        "{:?}",
        tries.iter().map(|d| d.status).collect::<Vec<_>>()
    );
    assert_eq!(
        tries[0].webhook_id, tries[1].webhook_id,
        "webhook-id is stable across retries"
    );
    assert!(tries[1].timestamp >= tries[0].timestamp);
    let gap = tries[1].at - tries[0].at;
    assert!(
        gap >= Duration::from_millis(1950),
        "Retry-After: 2 was not honoured ({gap:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_failure_on_the_webhook_is_a_5xx_so_hubspot_retries() {
    let w = world().await;
    let (session, thread) = w.session("storefail@example.com").await;
    let store = w.handoff.running.as_ref().unwrap().state.store.clone();
    // Every attempt while the store fails is refused, and nothing is acknowledged.
    w.fake.set_webhook_retries(2, Duration::from_millis(20));
    store.fail_lookups(true);
    let (_, refused) = w.fake.agent_reply(&thread, AGENT, "lost?", &[]).await;
    let assigned = w.fake.assign(&thread, AGENT).await;
    let (status, ready) = w.handoff.get("/readyz").await;
    store.fail_lookups(false);
    assert_eq!(refused.attempts, vec![Some(503), Some(503)]);
    assert!(!refused.delivered && !assigned.delivered);
    assert_eq!(assigned.attempts, vec![Some(503), Some(503)]);
    assert_eq!(status, 503);
    assert!(
        ready["reasons"].to_string().contains("store-unavailable"),
        "{ready}"
    );
    // HubSpot's next delivery of the same events gets through.
    let (_, again) = w.fake.agent_reply(&thread, AGENT, "not lost", &[]).await;
    assert!(again.delivered);
    let kinds = w.wait_kinds(&session, 2).await;
    assert_eq!(kinds, ["session.opened", "session.message"]);
    assert_eq!(w.events_for(&session)[1]["data"]["text"], "not lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v1_only_body_is_accepted_only_while_its_events_are_fresh() {
    let w = world().await;
    let (session, thread) = w.session("replay@example.com").await;
    let url = format!("{}/webhooks/hubspot", w.handoff.url);
    let now = chrono::Utc::now().timestamp_millis();
    let post = |occurred_at: Option<i64>| {
        let mut event = json!({"subscriptionType": "conversation.propertyChange",
            "objectId": thread.parse::<u64>().unwrap(), "propertyName": "status",
            "propertyValue": "CLOSED"});
        if let Some(at) = occurred_at {
            event["occurredAt"] = json!(at);
        }
        let body = json!([event]).to_string();
        w.handoff
            .http
            .post(&url)
            .header(
                "x-hubspot-signature",
                signature::v1(FakeHubSpot::CLIENT_SECRET, body.as_bytes()),
            )
            .body(body)
            .send()
    };
    // A week-old capture, one without a time, and one from the future are replays.
    for at in [
        Some(now - 7 * 24 * 3600 * 1000 - 1),
        None,
        Some(now + 6 * 60 * 1000),
    ] {
        let resp = post(at).await.unwrap();
        assert_eq!(resp.status(), 401, "{at:?}");
        let body: Value = resp.json().await.unwrap();
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("5 minutes"),
            "{body}"
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        w.kinds(&session),
        ["session.opened"],
        "nothing was accepted"
    );
    assert_eq!(post(Some(now - 60_000)).await.unwrap().status(), 200);
    assert_eq!(
        w.wait_kinds(&session, 2).await,
        ["session.opened", "session.closed"]
    );
}

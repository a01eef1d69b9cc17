//! End to end with Botpress: the bundled `handoff` integration (run through the SDK's own
//! `integration.handler`) against a fake Botpress Runtime API and webhook gateway, the real
//! handoff binary, and the fake HubSpot. It prints the relay latency from an agent's reply
//! at HubSpot to the message at the Runtime API, and the Runtime API calls per message.

use crate::sessions::texts;
use crate::support::binary::{Launch, wait_for};
use crate::support::botpress::{Runtime, call_count, records};
use crate::support::fake_hubspot::{FakeConfig, FakeHubSpot, Thread};
use crate::support::harness::{API_KEY, eventually, init};
use crate::support::media_server::MediaServer;
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const WAIT: Duration = Duration::from_secs(30);
const AGENT: &str = "A-2620022";

struct Parts {
    fake: FakeHubSpot,
    runtime: Runtime,
    handoff: String,
    http: reqwest::Client,
}

impl Parts {
    async fn session(&self, id: &str) -> Value {
        self.api_get(&format!("/api/v1/sessions/{id}")).await
    }

    /// A GET of handoff's bot API, with the bot's key.
    async fn api_get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.handoff))
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The handoff session a downstream conversation stands for (its `sessionId` tag).
    async fn session_of(&self, conversation: &str) -> String {
        let state = self.runtime.state().await;
        records(&state, "conversations")
            .iter()
            .find(|c| c["id"] == conversation)
            .and_then(|c| c["tags"]["sessionId"].as_str())
            .unwrap_or_else(|| panic!("conversation {conversation} has a sessionId tag"))
            .to_string()
    }

    /// The HubSpot thread of a conversation once it holds `messages` messages.
    async fn thread(&self, conversation: &str, messages: usize) -> Thread {
        let session = self.session_of(conversation).await;
        eventually(WAIT, || async {
            self.find_thread(&session, messages).await.is_some()
        })
        .await;
        self.find_thread(&session, messages).await.unwrap()
    }

    async fn find_thread(&self, session: &str, messages: usize) -> Option<Thread> {
        let s = self.session(session).await;
        let id = s["hubspotThreadId"].as_str()?;
        self.fake
            .threads()
            .into_iter()
            .find(|t| t.id == id && t.messages.len() >= messages)
    }

    /// Runtime events of `kind` for a conversation.
    async fn events(&self, kind: &str, conversation: &str) -> Vec<Value> {
        let state = self.runtime.state().await;
        records(&state, "events")
            .iter()
            .filter(|e| e["type"] == kind && e["payload"]["conversationId"] == conversation)
            .cloned()
            .collect()
    }

    /// Messages the integration created on a conversation (the agent's), oldest first.
    async fn agent_messages(&self, conversation: &str) -> Vec<Value> {
        let state = self.runtime.state().await;
        records(&state, "messages")
            .iter()
            .filter(|m| m["conversationId"] == conversation && m["userId"] != "user_bot")
            .cloned()
            .collect()
    }

    async fn start_hitl(&self, user: &str, history: Value) -> String {
        let output = self
            .runtime
            .action(
                "startHitl",
                json!({"userId": user, "title": "Order help", "description": "Escalated by the bot", "messageHistory": history}),
            )
            .await;
        output["conversationId"].as_str().unwrap().to_string()
    }

    async fn create_user(&self, name: &str, email: &str) -> String {
        let output = self
            .runtime
            .action("createUser", json!({"name": name, "email": email}))
            .await;
        output["userId"].as_str().unwrap().to_string()
    }
}

fn epoch_ms(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs_f64() * 1000.0
}

fn created_ms(message: &Value) -> f64 {
    let at = chrono::DateTime::parse_from_rfc3339(message["createdAt"].as_str().unwrap()).unwrap();
    at.timestamp_millis() as f64
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_botpress_bot_hands_off_through_the_integration() {
    init();
    let Some(runtime) = Runtime::start() else {
        return;
    };
    let fake = FakeHubSpot::start(FakeConfig {
        rate_limit_per_10s: None,
        ..FakeConfig::default()
    })
    .await;
    let media = MediaServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let token = fake.refresh_token();
    let mut launch = Launch::new(&fake, dir.path(), &token);
    // The outage below makes every retry a warning.
    launch.log = "error";
    let binary = launch.spawn();
    wait_for(&binary.url, "/readyz", WAIT).await;
    let parts = Parts {
        fake,
        runtime,
        handoff: binary.url.clone(),
        http: reqwest::Client::new(),
    };
    let runtime = &parts.runtime;

    // register: a wrong key or URL is refused with a clear message, then it registers.
    for (url, key, says) in [
        (
            parts.handoff.as_str(),
            "wrong-key-0123456789",
            "refused the API key",
        ),
        ("http://127.0.0.1:1", API_KEY, "cannot reach handoff"),
    ] {
        runtime.configure(url, key).await;
        let (status, body) = runtime.operation("register", json!({})).await;
        assert_eq!(status, 400, "{body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(says), "{message}");
    }
    runtime.configure(&parts.handoff, API_KEY).await;
    let (status, body) = runtime.operation("register", json!({})).await;
    assert_eq!(status, 200, "{body}");
    let registered = parts.api_get("/api/v1/webhook").await;
    assert_eq!(registered["url"], runtime.webhook_url());

    // createUser with a real email and with the plugin's made-up one.
    let jane = parts.create_user("Jane Doe", "jane@example.com").await;
    let visitor = parts
        .create_user("Webchat Visitor", "user_1@no-reply.bot-e2e.botpress.com")
        .await;
    assert_ne!(jane, visitor);

    // startHitl with a 4-item history; a retry opens no second session.
    let image = format!("{}/photo.png", media.url);
    let history = json!([
        {"source": {"type": "user", "userId": jane}, "type": "text", "payload": {"text": "My parcel never came"}},
        {"source": {"type": "user", "userId": jane}, "type": "image", "payload": {"imageUrl": image}},
        {"source": {"type": "bot"}, "type": "bloc", "payload": {"items": [
            {"type": "text", "payload": {"text": "Let me check"}},
            {"type": "markdown", "payload": {"markdown": "**Order 42** is late"}}
        ]}},
        {"source": {"type": "bot"}, "type": "markdown", "payload": {"markdown": "_A human will help_"}}
    ]);
    let conversation = parts.start_hitl(&jane, history.clone()).await;
    assert_eq!(parts.start_hitl(&jane, history).await, conversation);
    let thread = parts.thread(&conversation, 1).await;
    let transcript = &texts(&thread)[0];
    let mut at = 0;
    for part in [
        "Order help",
        "User: My parcel never came",
        "photo.png",
        "Bot: Let me check",
        "Bot: **Order 42** is late",
        "Bot: _A human will help_",
    ] {
        at += transcript[at..]
            .find(part)
            .unwrap_or_else(|| panic!("`{part}` in order in {transcript}"));
    }
    let sessions: Vec<_> = parts.fake.threads().into_iter().map(|t| t.id).collect();
    assert_eq!(sessions.len(), 1, "one session, one thread");

    // The user writes a text, an image and a bloc; they reach HubSpot in order.
    let end_user = json!(jane);
    assert_eq!(
        runtime
            .message(
                &conversation,
                "text",
                json!({"text": "Hello?", "userId": end_user})
            )
            .await,
        200
    );
    assert_eq!(
        runtime
            .message(
                &conversation,
                "image",
                json!({"imageUrl": image, "userId": end_user})
            )
            .await,
        200
    );
    assert_eq!(
        runtime
            .message(
                &conversation,
                "bloc",
                json!({"userId": end_user, "items": [
                    {"type": "text", "payload": {"text": "First part"}},
                    {"type": "markdown", "payload": {"markdown": "Second part"}}
                ]}),
            )
            .await,
        200
    );
    let thread = parts.thread(&conversation, 5).await;
    let t = texts(&thread);
    assert_eq!(t[1], "Hello?");
    assert_eq!(
        thread.messages[2]["attachments"][0]["type"], "FILE",
        "{:?}",
        thread.messages[2]
    );
    assert_eq!(&t[3..5], ["First part", "Second part"]);

    // The agent is assigned: hitlAssigned with a user named like the agent, with the avatar.
    parts.fake.assign(&thread.id, AGENT).await;
    eventually(WAIT, || async {
        !parts.events("hitlAssigned", &conversation).await.is_empty()
    })
    .await;
    let assigned = parts.events("hitlAssigned", &conversation).await;
    let agent_user = assigned[0]["payload"]["userId"]
        .as_str()
        .unwrap()
        .to_string();
    let state = runtime.state().await;
    let user = records(&state, "users")
        .iter()
        .find(|u| u["id"] == agent_user.as_str())
        .unwrap();
    assert_eq!(user["name"], "Sam Agent");
    assert_eq!(user["pictureUrl"], "https://example.com/avatars/sam.png");

    // An agent text and a PDF: two messages from the agent user; the file link downloads.
    let pdf: Vec<u8> = (0..5000).map(|_| rand::random::<u8>()).collect();
    let file = parts
        .fake
        .add_file("guide.pdf", "application/pdf", pdf.clone());
    parts
        .fake
        .agent_reply(&thread.id, AGENT, "Looking into it", &[])
        .await;
    parts
        .fake
        .agent_reply(&thread.id, AGENT, "", &[&file])
        .await;
    eventually(WAIT, || async {
        parts.agent_messages(&conversation).await.len() >= 2
    })
    .await;
    let replies = parts.agent_messages(&conversation).await;
    assert_eq!(replies.len(), 2, "{replies:?}");
    assert!(replies.iter().all(|m| m["userId"] == agent_user.as_str()));
    assert_eq!(
        (
            replies[0]["type"].as_str(),
            replies[0]["payload"]["text"].as_str()
        ),
        (Some("text"), Some("Looking into it"))
    );
    assert_eq!(replies[1]["type"], "file");
    let link = replies[1]["payload"]["fileUrl"].as_str().unwrap();
    let downloaded = reqwest::get(link).await.unwrap();
    assert_eq!(downloaded.status(), 200);
    assert_eq!(downloaded.bytes().await.unwrap().to_vec(), pdf);

    // The agent closes (HubSpot delivers the webhook twice): hitlStopped exactly once.
    parts.fake.set_duplicate_webhooks(true);
    parts.fake.close(&thread.id).await;
    parts.fake.set_duplicate_webhooks(false);
    eventually(WAIT, || async {
        !parts.events("hitlStopped", &conversation).await.is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(parts.events("hitlStopped", &conversation).await.len(), 1);
    assert_eq!(parts.events("hitlAssigned", &conversation).await.len(), 1);

    // A second session, stopped by the bot: the plugin's note reaches the agent, the thread
    // is CLOSED, and no hitlStopped echoes back.
    let second = parts
        .start_hitl(
            &visitor,
            json!([{"source": {"type": "user"}, "type": "text", "payload": {"text": "Hi"}}]),
        )
        .await;
    let thread2 = parts.thread(&second, 1).await;
    let sender = &thread2.messages[0]["senders"][0];
    assert_eq!(
        sender["deliveryIdentifier"]["type"],
        "CHANNEL_SPECIFIC_OPAQUE_ID"
    );
    assert_eq!(sender["name"], "Webchat Visitor");
    assert_eq!(thread2.associated_contact_id, None);
    let note = "( The user has ended the session. )";
    assert_eq!(
        runtime
            .message(&second, "text", json!({"text": note}))
            .await,
        200
    );
    runtime
        .action("stopHitl", json!({"conversationId": second}))
        .await;
    // The same note after the stop (the two race in Botpress) still counts as done.
    assert_eq!(
        runtime
            .message(&second, "text", json!({"text": note}))
            .await,
        200
    );
    eventually(WAIT, || async {
        parts
            .fake
            .threads()
            .iter()
            .any(|t| t.id == thread2.id && t.status == "CLOSED")
    })
    .await;
    assert!(
        texts(&parts.thread(&second, 2).await)
            .iter()
            .any(|t| t == note)
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        parts.events("hitlStopped", &second).await.is_empty(),
        "no echo"
    );

    // A third session; the Runtime API answers 500 for 10 s while the agent replies.
    let third = parts
        .start_hitl(
            &jane,
            json!([{"source": {"type": "user"}, "type": "text", "payload": {"text": "Again"}}]),
        )
        .await;
    let thread3 = parts.thread(&third, 1).await;
    parts.fake.assign(&thread3.id, AGENT).await;
    eventually(WAIT, || async {
        !parts.events("hitlAssigned", &third).await.is_empty()
    })
    .await;
    runtime.fail(500, 10_000).await;
    let outage: Vec<String> = (1..=8).map(|i| format!("during the outage {i}")).collect();
    for text in &outage {
        parts.fake.agent_reply(&thread3.id, AGENT, text, &[]).await;
        tokio::time::sleep(Duration::from_millis(1000)).await;
    }
    eventually(Duration::from_secs(60), || async {
        parts.agent_messages(&third).await.len() >= outage.len()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let arrived: Vec<_> = parts
        .agent_messages(&third)
        .await
        .iter()
        .map(|m| m["payload"]["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(arrived, outage, "nothing lost, nothing twice, in order");
    let gateway = runtime.state().await["gateway"].clone();
    let refused = gateway
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["status"] == 503)
        .count();
    assert!(refused > 0, "the outage made the integration answer 503");

    // 100 replies, one every 50 ms: the latency from HubSpot to the Runtime API.
    let calls_before = call_count(&runtime.state().await);
    let mut sent = Vec::new();
    for i in 0..100 {
        let text = format!("reply {i}");
        let at = SystemTime::now();
        parts.fake.agent_reply(&thread3.id, AGENT, &text, &[]).await;
        sent.push((text, epoch_ms(at)));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eventually(WAIT, || async {
        parts.agent_messages(&third).await.len() >= outage.len() + sent.len()
    })
    .await;
    let state = runtime.state().await;
    let messages = parts.agent_messages(&third).await;
    let mut latencies: Vec<f64> = sent
        .iter()
        .map(|(text, at)| {
            let m = messages
                .iter()
                .find(|m| m["payload"]["text"] == text.as_str())
                .unwrap();
            created_ms(m) - at
        })
        .collect();
    let order: Vec<_> = messages[outage.len()..]
        .iter()
        .map(|m| m["payload"]["text"].as_str().unwrap().to_string())
        .collect();
    let expected: Vec<_> = sent.iter().map(|(t, _)| t.clone()).collect();
    assert_eq!(order, expected);
    latencies.sort_by(f64::total_cmp);
    let calls = call_count(&state) - calls_before;
    println!(
        "botpress e2e: agent reply at HubSpot -> message at the Runtime API over {} replies: p50 {:.1} ms, p99 {:.1} ms; Runtime API calls per agent message {:.2}",
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        calls as f64 / sent.len() as f64
    );

    // Forged and unsigned deliveries are refused, with no Botpress call beyond the secret.
    let event = json!({"id": "evt_forged", "type": "session.closed", "sessionId": "x", "externalId": third, "createdAt": "2026-12-01T00:00:00Z", "data": {"by": "agent"}});
    let now = chrono::Utc::now().timestamp().to_string();
    let before = runtime.state().await;
    for signature in [Some("v1,Zm9yZ2VkIHNpZ25hdHVyZQ=="), None] {
        let mut req = parts
            .http
            .post(runtime.webhook_url())
            .header("webhook-id", "evt_forged")
            .header("webhook-timestamp", &now)
            .body(event.to_string());
        if let Some(sig) = signature {
            req = req.header("webhook-signature", sig);
        }
        assert_eq!(req.send().await.unwrap().status(), 401);
    }
    let after = runtime.state().await;
    assert_eq!(
        call_count(&after) - call_count(&before),
        2,
        "only the secret was read"
    );
    assert_eq!(parts.events("hitlStopped", &third).await.len(), 0);
}

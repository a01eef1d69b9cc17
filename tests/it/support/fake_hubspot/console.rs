//! The "agent console": test hooks that act like a HubSpot user in the inbox
//! (reply, assign, close) and make the fake call the app's webhooks, plus the
//! knobs of webhook delivery, seeded files and recorded message statuses.
//!
//! Hooks panic on ids the fake does not know (a test bug, not a scenario).

use std::collections::HashMap;
use std::time::Duration;

use actix_web::web::Bytes;
use serde_json::{Value, json};

use super::FakeHubSpot;
use super::files::FileRec;
use super::messages::escape_html;
use super::sender::{
    self, SentWebhook, WebhookKind, WebhookResult, app_url, channel_url, property_change,
};
use super::state::{MessageRec, State, message_id};
use super::util::now_iso;

/// Builds the agent's OUTGOING message, stores it on the thread and returns
/// `(message id, webhookUrl, OUTGOING_CHANNEL_MESSAGE_CREATED event)`.
fn reply_event(
    st: &mut State,
    thread_id: &str,
    actor_id: &str,
    text: &str,
    rich_text: Option<&str>,
    files: &[&str],
) -> (String, Option<String>, Value) {
    let t = st
        .thread(thread_id)
        .unwrap_or_else(|| panic!("agent_reply: no thread {thread_id}"));
    let (channel_id, account_id) = (t.channel_id.clone(), t.channel_account_id.clone());
    let itid = t.integration_thread_id.clone();
    // The end user, as handoff published them (§3.2 recipients).
    let first_sender = t
        .published
        .first()
        .and_then(|m| m["senders"].get(0))
        .cloned()
        .unwrap_or_default();
    let mut recipient = json!({ "actorId": format!("V-{}", t.associated_contact_id()) });
    if let Some(name) = first_sender.get("name").filter(|n| n.is_string()) {
        recipient["name"] = name.clone();
    }
    if let Some(d) = first_sender.get("deliveryIdentifier") {
        recipient["deliveryIdentifier"] = d.clone();
    }
    let mut sender = json!({ "actorId": actor_id });
    if let Some(name) = st
        .actors
        .iter()
        .find(|a| a["id"] == actor_id)
        .map(|a| a["name"].clone())
    {
        sender["name"] = name;
    }
    if let Some(d) = st
        .account(&channel_id, &account_id)
        .and_then(|a| a.json.get("deliveryIdentifier"))
    {
        sender["deliveryIdentifier"] = d.clone();
    }
    let attachments: Vec<Value> = files
        .iter()
        .map(|id| {
            let f = st
                .file(id)
                .unwrap_or_else(|| panic!("agent_reply: no file {id} (use add_file)"));
            // No `url`: HubSpot does not reliably give one (§8.2).
            json!({ "type": "FILE", "fileId": f.id, "fileUsageType": f.usage_type(), "name": f.name })
        })
        .collect();
    let id = message_id();
    let now = now_iso();
    let message = json!({
        "id": id,
        "type": "MESSAGE",
        "channelId": channel_id,
        "channelAccountId": account_id,
        "conversationsThreadId": thread_id,
        "createdAt": now,
        "createdBy": actor_id,
        "senders": [sender],
        "recipients": [recipient],
        "text": text,
        "richText": rich_text.map(str::to_string).unwrap_or_else(|| format!("<p>{}</p>", escape_html(text))),
        "direction": "OUTGOING",
        "truncationStatus": "NOT_TRUNCATED",
        "status": { "statusType": "SENT" },
        "attachments": attachments,
    });

    // The message as the Conversations / Custom Channels APIs show it.
    let mut stored = message.clone();
    stored["updatedAt"] = json!(now);
    stored["client"] = json!({ "clientType": "HUBSPOT" });
    stored["archived"] = json!(false);
    st.messages.insert(
        id.clone(),
        MessageRec {
            channel_id: channel_id.clone(),
            thread_id: thread_id.to_string(),
            json: stored,
        },
    );
    let t = st.thread_mut(thread_id).unwrap();
    t.message_ids.push(id.clone());
    t.latest_message_at = Some(now.clone());
    t.latest_sent_at = Some(now.clone());

    let mut event = json!({
        "type": "OUTGOING_CHANNEL_MESSAGE_CREATED",
        "portalId": FakeHubSpot::PORTAL_ID.to_string(),
        "channelId": channel_id,
        "eventTimestamp": now,
        "eventId": sender::uuid_like(),
        "message": message,
    });
    if st.webhook.thread_ids_inside_message {
        event["message"]["channelIntegrationThreadIds"] = json!([itid]);
    } else {
        event["channelIntegrationThreadIds"] = json!([itid]);
    }
    (id, channel_url(st, Some(&channel_id)), event)
}

impl FakeHubSpot {
    // --- agent console -----------------------------------------------------

    /// An agent replies in the thread: an OUTGOING message is added to it and
    /// `OUTGOING_CHANNEL_MESSAGE_CREATED` is sent to the channel's
    /// `webhookUrl`. `files` are ids from [`FakeHubSpot::add_file`].
    pub async fn agent_reply(
        &self,
        thread_id: &str,
        actor_id: &str,
        text: &str,
        files: &[&str],
    ) -> (String, WebhookResult) {
        self.agent_reply_rich(thread_id, actor_id, text, None, files)
            .await
    }

    /// Like [`FakeHubSpot::agent_reply`], with the message's `richText` as given (e.g. with
    /// inline `<img>` tags).
    pub async fn agent_reply_rich(
        &self,
        thread_id: &str,
        actor_id: &str,
        text: &str,
        rich_text: Option<&str>,
        files: &[&str],
    ) -> (String, WebhookResult) {
        let (id, url, event) = reply_event(
            &mut self.state(),
            thread_id,
            actor_id,
            text,
            rich_text,
            files,
        );
        let result = sender::deliver(&self.shared, WebhookKind::Channel, url, event).await;
        (id, result)
    }

    /// Assigns the thread (`"A-2620022"`, `"2620022"`, or `""` = unassign)
    /// and sends `conversation.propertyChange assignedTo` with that value.
    pub async fn assign(&self, thread_id: &str, property_value: &str) -> WebhookResult {
        let (url, event) = {
            let mut st = self.state();
            let t = st
                .thread_mut(thread_id)
                .unwrap_or_else(|| panic!("assign: no thread {thread_id}"));
            t.assigned_to = match property_value {
                "" => None,
                v if v.starts_with("A-") => Some(v.to_string()),
                v => Some(format!("A-{v}")),
            };
            let event = property_change(&mut st, thread_id, "assignedTo", property_value, "AGENT");
            (app_url(&st), event)
        };
        sender::deliver(&self.shared, WebhookKind::App, url, json!([event])).await
    }

    /// An agent closes the thread: CLOSED, and `propertyChange status=CLOSED`.
    pub async fn close(&self, thread_id: &str) -> WebhookResult {
        let (url, event) = {
            let mut st = self.state();
            let t = st
                .thread_mut(thread_id)
                .unwrap_or_else(|| panic!("close: no thread {thread_id}"));
            if t.status != "CLOSED" {
                t.status = "CLOSED".into();
                t.closed_at = Some(now_iso());
            }
            let event = property_change(&mut st, thread_id, "status", "CLOSED", "AGENT");
            (app_url(&st), event)
        };
        sender::deliver(&self.shared, WebhookKind::App, url, json!([event])).await
    }

    /// Sends any JSON (normally an object) as a custom-channel event, signed
    /// v3, to the `webhookUrl` of the channel named by its `channelId`, else
    /// of the most recently created channel that has one.
    pub async fn send_channel_event(&self, event: Value) -> WebhookResult {
        let url = {
            let st = self.state();
            channel_url(&st, event.get("channelId").and_then(Value::as_str))
        };
        sender::deliver(&self.shared, WebhookKind::Channel, url, event).await
    }

    /// Sends `events` as one app-webhook array, signed v1 + v3, to the
    /// settings' `targetUrl`. Retries add the attempt number to every
    /// `attemptNumber` present; the first attempt is sent as given.
    pub async fn send_app_events(&self, events: Vec<Value>) -> WebhookResult {
        let url = app_url(&self.state());
        sender::deliver(&self.shared, WebhookKind::App, url, Value::Array(events)).await
    }

    // --- webhook delivery knobs --------------------------------------------

    /// Every webhook is delivered twice (the same payload, one after the other).
    pub fn set_duplicate_webhooks(&self, on: bool) {
        self.state().webhook.duplicate = on;
    }

    /// Attempts per webhook (at least 1; default 5) and the pause between them (default 50 ms).
    pub fn set_webhook_retries(&self, attempts: u32, spacing: Duration) {
        let mut st = self.state();
        st.webhook.attempts = attempts.max(1);
        st.webhook.spacing = spacing;
    }

    /// How long one attempt may take before it counts as failed (default 5 s).
    pub fn set_webhook_timeout(&self, timeout: Duration) {
        self.state().webhook.timeout = timeout;
    }

    /// Where `OUTGOING_CHANNEL_MESSAGE_CREATED` carries
    /// `channelIntegrationThreadIds`: top level (default) or inside `message`.
    pub fn set_thread_ids_inside_message(&self, on: bool) {
        self.state().webhook.thread_ids_inside_message = on;
    }

    /// Default on: a client PATCHing a thread to CLOSED through the API gets
    /// an app webhook `propertyChange status=CLOSED` for it, sent in the
    /// background shortly after the PATCH answer.
    pub fn set_close_echo(&self, on: bool) {
        self.state().webhook.close_echo = on;
    }

    /// Every webhook sent so far (echoes included), in the order they finished.
    pub fn sent_webhooks(&self) -> Vec<SentWebhook> {
        self.state().sent_webhooks.clone()
    }

    // --- files and message statuses ----------------------------------------

    /// Adds a file to the Files API (what an agent attached); returns its id.
    pub fn add_file(&self, name: &str, mime: &str, bytes: Vec<u8>) -> String {
        let mut st = self.state();
        let id = st.ids.file();
        st.files.push(FileRec {
            id: id.clone(),
            name: name.to_string(),
            mime: mime.to_string(),
            bytes: Bytes::from(bytes),
            created_at: now_iso(),
            folder: None,
        });
        id
    }

    /// Files uploaded through the Files API: `(id, name, mime, folder, bytes)`.
    pub fn uploads(&self) -> Vec<(String, String, String, String, Vec<u8>)> {
        self.state()
            .files
            .iter()
            .filter_map(|f| {
                let folder = f.folder.clone()?;
                Some((
                    f.id.clone(),
                    f.name.clone(),
                    f.mime.clone(),
                    folder,
                    f.bytes.to_vec(),
                ))
            })
            .collect()
    }

    /// Message id → (statusType, errorMessage) of the last
    /// `PATCH …/custom-channels/{channelId}/messages/{messageId}`.
    pub fn message_statuses(&self) -> HashMap<String, (String, Option<String>)> {
        self.state().message_statuses.clone()
    }
}

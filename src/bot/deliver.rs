//! Delivers events to the bot's webhook, signed the Standard Webhooks way. Only a 2xx
//! counts; redirects are not followed; `Retry-After` is honoured.
//!
//! The bot sets its webhook URL over the network (`PUT /api/v1/webhook`), so every POST
//! goes through the checked resolver ([`crate::net::Outbound`]) under
//! [`Policy::AllowPrivate`](crate::net::Policy): a bot on the LAN or on this host is fine,
//! cloud metadata, link-local, multicast and reserved addresses are refused.

use super::signing;
use crate::events::EventLog;
use crate::net::{FetchError, Outbound, TestHosts};
use crate::outbox::OutboxItem;
use crate::outbox::worker::{Deliver, Outcome};
use crate::relay::BotJob;
use crate::relay::repo::EventRepo;
use crate::settings::{BotWebhook, Settings};
use std::sync::Arc;
use std::time::Duration;

/// The client for the bot's webhook: the checked resolver, a 10 s limit per request.
pub(crate) fn bot_client(test_hosts: &TestHosts) -> Outbound {
    Outbound::new(
        crate::config::BOT_WEBHOOK_POLICY,
        Duration::from_secs(10),
        test_hosts,
    )
}

pub(crate) struct BotDeliverer {
    pub(crate) http: Arc<Outbound>,
    pub(crate) settings: Arc<Settings>,
    pub(crate) store: Arc<dyn EventRepo>,
    pub(crate) events: Arc<EventLog>,
}

/// Statuses after which the same request may succeed later.
fn retryable(status: u16) -> bool {
    matches!(status, 408 | 409 | 423 | 425 | 429) || status >= 500
}

/// A POST of `body` to the bot's webhook with the Standard Webhooks headers: the id stays
/// the same across attempts, the timestamp and signature are fresh each time.
async fn signed_post(
    http: &Outbound,
    webhook: &BotWebhook,
    id: &str,
    body: Vec<u8>,
) -> Result<reqwest::Response, FetchError> {
    let timestamp = chrono::Utc::now().timestamp();
    let signature = signing::sign(&webhook.key, id, timestamp, &body);
    http.send(|http| {
        http.post(&webhook.url)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
    })
    .await
}

impl BotDeliverer {
    fn report_sent(&self, session_id: &str, message: &crate::store::HubSpotMessageRef) {
        if let Err(e) = self
            .events
            .report_message_status(session_id, message, "SENT", None)
        {
            tracing::error!(error = %e, "cannot queue the message status for HubSpot");
        }
    }
}

impl Deliver<BotJob> for BotDeliverer {
    async fn deliver(&self, item: &OutboxItem<BotJob>) -> Outcome {
        let BotJob::DeliverEvent { seq } = item.job;
        let stored = match self.store.event(seq) {
            Ok(Some(e)) => e,
            Ok(None) => return Outcome::Permanent("the event is no longer in the log".into()),
            Err(e) => {
                return Outcome::Retry {
                    error: format!("store: {e}"),
                    retry_after: None,
                };
            }
        };
        let Some(webhook) = self.settings.bot_webhook() else {
            // The webhook was removed after the event was queued: the feed is its delivery.
            if let Some(message) = &stored.hubspot_message {
                self.report_sent(&item.lane, message);
            }
            return Outcome::Delivered;
        };
        let body = serde_json::to_vec(&stored.event).expect("events serialize");
        let response = match signed_post(&self.http, &webhook, &stored.event.id, body).await {
            Ok(r) => r,
            Err(FetchError::Transport { timed_out }) => {
                let kind = if timed_out {
                    "timed out"
                } else {
                    "connection failed"
                };
                return Outcome::Retry {
                    error: format!("the bot's webhook {kind}"),
                    retry_after: None,
                };
            }
            // Where it points does not change between attempts: retrying cannot help.
            Err(FetchError::Blocked(blocked)) => {
                return Outcome::Permanent(format!(
                    "the bot's webhook address is refused: {blocked}"
                ));
            }
            Err(FetchError::Refused(why)) => {
                return Outcome::Permanent(format!("the bot's webhook address is refused: {why}"));
            }
        };
        let status = response.status().as_u16();
        if response.status().is_success() {
            if let Some(message) = &stored.hubspot_message {
                self.report_sent(&item.lane, message);
            }
            return Outcome::Delivered;
        }
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| Duration::from_secs(s.min(3600)));
        if (300..400).contains(&status) {
            return Outcome::Permanent(format!(
                "the bot's webhook answered a redirect ({status}); redirects are not followed"
            ));
        }
        let error = format!("the bot's webhook answered {status}");
        if retryable(status) {
            Outcome::Retry { error, retry_after }
        } else {
            Outcome::Permanent(error)
        }
    }

    async fn dead_lettered(&self, item: &OutboxItem<BotJob>, reason: &str) {
        let BotJob::DeliverEvent { seq } = item.job;
        let stored = match self.store.event(seq) {
            Ok(stored) => stored,
            Err(e) => {
                tracing::error!(error = %e, seq, "cannot read the dead-lettered event to report it FAILED");
                return;
            }
        };
        if let Some(stored) = stored
            && let Some(message) = &stored.hubspot_message
            && let Err(e) = self.events.report_message_status(
                &item.lane,
                message,
                "FAILED",
                Some(reason.to_string()),
            )
        {
            tracing::error!(error = %e, "cannot queue the message status for HubSpot");
        }
    }
}

/// Sends one signed `handoff.test` event to the bot's webhook now (the wizard's
/// **Send test event**), outside the outbox. Returns the bot's status, or what went wrong.
pub(crate) async fn send_test_event(http: &Outbound, webhook: &BotWebhook) -> Result<u16, String> {
    let id = format!(
        "evt_test_{}",
        ulid::Ulid::generate().to_string().to_lowercase()
    );
    let now = chrono::Utc::now();
    let body = serde_json::to_vec(&serde_json::json!({
        "id": id,
        "type": "handoff.test",
        "sessionId": null,
        "createdAt": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": {"message": "A test event from handoff's setup wizard"},
    }))
    .expect("JSON serializes");
    let response = signed_post(http, webhook, &id, body)
        .await
        .map_err(|e| match e {
            FetchError::Transport { timed_out: true } => "The bot's webhook timed out.".into(),
            FetchError::Transport { timed_out: false } => {
                "The bot's webhook could not be reached.".into()
            }
            FetchError::Blocked(blocked) => {
                format!("The bot's webhook address is refused: {blocked}.")
            }
            FetchError::Refused(why) => format!("The bot's webhook address is refused: {why}."),
        })?;
    Ok(response.status().as_u16())
}

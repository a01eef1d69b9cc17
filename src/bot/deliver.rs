//! Delivers events to the bot's webhook, signed the Standard Webhooks way. Only a 2xx
//! counts; redirects are not followed; `Retry-After` is honoured.

use super::signing;
use crate::events::EventLog;
use crate::outbox::OutboxItem;
use crate::outbox::worker::{Deliver, Outcome};
use crate::relay::BotJob;
use crate::settings::{BotWebhook, Settings};
use crate::store::Store;
use std::sync::Arc;
use std::time::Duration;

pub(crate) struct BotDeliverer {
    pub(crate) http: reqwest::Client,
    pub(crate) settings: Arc<Settings>,
    pub(crate) store: Store,
    pub(crate) events: Arc<EventLog>,
}

/// Statuses after which the same request may succeed later.
fn retryable(status: u16) -> bool {
    matches!(status, 408 | 409 | 423 | 425 | 429) || status >= 500
}

/// A POST of `body` to the bot's webhook with the Standard Webhooks headers: the id stays
/// the same across attempts, the timestamp and signature are fresh each time.
fn signed_post(
    http: &reqwest::Client,
    webhook: &BotWebhook,
    id: &str,
    body: Vec<u8>,
) -> reqwest::RequestBuilder {
    let timestamp = chrono::Utc::now().timestamp();
    let signature = signing::sign(&webhook.key, id, timestamp, &body);
    http.post(&webhook.url)
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
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
        let sent = signed_post(&self.http, &webhook, &stored.event.id, body)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                let kind = if e.is_timeout() {
                    "timed out"
                } else {
                    "connection failed"
                };
                return Outcome::Retry {
                    error: format!("the bot's webhook {kind}"),
                    retry_after: None,
                };
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
pub(crate) async fn send_test_event(webhook: &BotWebhook) -> Result<u16, String> {
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
    let http = crate::http_client::http_client(Duration::from_secs(10));
    let response = signed_post(&http, webhook, &id, body)
        .send()
        .await
        .map_err(|e| {
            let kind = if e.is_timeout() {
                "timed out"
            } else {
                "could not be reached"
            };
            format!(
                "The bot's webhook {kind}: {}",
                std::error::Error::source(&e)
                    .map(|s| s.to_string())
                    .unwrap_or_default()
            )
        })?;
    Ok(response.status().as_u16())
}

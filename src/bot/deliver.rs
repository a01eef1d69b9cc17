//! Delivers events to the bot's webhook, signed the Standard Webhooks way. Only a 2xx
//! counts; redirects are not followed; `Retry-After` is honoured.

use super::events::EventLog;
use super::signing;
use crate::outbox::worker::{Deliver, Outcome};
use crate::outbox::{Job, OutboxItem};
use crate::store::Store;
use std::sync::Arc;
use std::time::Duration;

pub struct BotDeliverer {
    pub http: reqwest::Client,
    pub url: String,
    pub key: Vec<u8>,
    pub store: Store,
    pub events: Arc<EventLog>,
}

/// Statuses after which the same request may succeed later.
fn retryable(status: u16) -> bool {
    matches!(status, 408 | 409 | 423 | 425 | 429) || status >= 500
}

impl Deliver for BotDeliverer {
    async fn deliver(&self, item: &OutboxItem) -> Outcome {
        let Job::DeliverEvent { seq } = item.job else {
            return Outcome::Permanent(format!(
                "`{}` does not belong in the bot queue",
                item.job.name()
            ));
        };
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
        let body = serde_json::to_vec(&stored.event).expect("events serialize");
        // A fresh timestamp and signature per attempt; the id stays the same.
        let timestamp = chrono::Utc::now().timestamp();
        let signature = signing::sign(&self.key, &stored.event.id, timestamp, &body);
        let sent = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("webhook-id", &stored.event.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
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
            if let Some(message) = &stored.hubspot_message
                && let Err(e) = self
                    .events
                    .report_message_status(&item.lane, message, "SENT", None)
            {
                tracing::error!(error = %e, "cannot queue the message status for HubSpot");
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

    async fn dead_lettered(&self, item: &OutboxItem, reason: &str) {
        let Job::DeliverEvent { seq } = item.job else {
            return;
        };
        if let Ok(Some(stored)) = self.store.event(seq)
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

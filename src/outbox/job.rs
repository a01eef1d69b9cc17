//! What the outbox carries. Stored as JSON in sled, so renaming a variant or a field is a
//! schema change (see `store::SCHEMA_VERSION`).

use crate::bot::messages::{Content, HistoryLine};
use serde::{Deserialize, Serialize};

/// One unit of outbound work for a session. Each job is a single idempotent step, so
/// retrying it after a crash cannot duplicate anything on the far side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// Publish the session's first message (title, description, transcript).
    StartSession {
        message_id: String,
        history: Vec<HistoryLine>,
    },
    /// Publish one message from the end user.
    Publish {
        message_id: String,
        content: Content,
    },
    /// Publish a line of text from the end user's identity, e.g. "The user ended the session".
    Note { message_id: String, text: String },
    /// Close the HubSpot thread.
    CloseThread,
    /// Report an agent message's delivery to the bot back to HubSpot (`SENT` / `FAILED`).
    MessageStatus {
        channel_id: String,
        message_id: String,
        status: String,
        error: Option<String>,
    },
    /// A verified HubSpot webhook event as it was parsed at the webhook, to turn into bot
    /// events. Written since schema 3.
    #[serde(rename = "hubspot_event")]
    HubSpotEvent {
        key: String,
        event: crate::hubspot::inbound::Parsed,
    },
    /// A verified HubSpot webhook event as raw JSON (`{"source", "event"}`), parsed again
    /// when processed. Written up to schema 2; still read, so items queued by an older
    /// handoff are processed as before.
    Inbound {
        key: String,
        event: serde_json::Value,
    },
    /// Deliver the event with this sequence number to the bot's webhook.
    DeliverEvent { seq: u64 },
}

impl Job {
    pub fn name(&self) -> &'static str {
        match self {
            Job::StartSession { .. } => "start_session",
            Job::Publish { .. } => "publish",
            Job::Note { .. } => "note",
            Job::CloseThread => "close_thread",
            Job::MessageStatus { .. } => "message_status",
            Job::HubSpotEvent { .. } | Job::Inbound { .. } => "inbound",
            Job::DeliverEvent { .. } => "deliver_event",
        }
    }
}

/// A queued job and its delivery history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxItem {
    /// Items in one lane (a session) are delivered one at a time, in order.
    pub lane: String,
    pub job: Job,
    /// Unix milliseconds.
    pub enqueued_at: i64,
    pub attempts: u32,
    /// Unix milliseconds before which the item must not be tried again.
    pub not_before: i64,
    pub last_error: Option<String>,
    /// Unix milliseconds of the first failed attempt; the give-up window counts from here,
    /// so time spent paused (reauthorization, not configured) does not use it up.
    #[serde(default)]
    pub first_failure_at: Option<i64>,
}

impl OutboxItem {
    pub fn new(lane: impl Into<String>, job: Job, now: i64) -> Self {
        OutboxItem {
            lane: lane.into(),
            job,
            enqueued_at: now,
            attempts: 0,
            not_before: now,
            last_error: None,
            first_failure_at: None,
        }
    }
}

/// Work that failed for good, kept for the operator to inspect, replay or discard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub id: u64,
    pub queue: String,
    pub item: OutboxItem,
    pub reason: String,
    pub failed_at: i64,
}

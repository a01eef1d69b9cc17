//! The job payloads: one enum per destination queue. Stored as JSON in the outbox, so
//! renaming a variant or a field is a schema change (see `store::SCHEMA_VERSION`); each
//! enum keeps the `kind` tags the one `Job` enum of schema 3 wrote.

use super::content::{Content, HistoryLine};
use super::event::EventKey;
use serde::{Deserialize, Serialize};

/// Work for HubSpot. Each job is a single idempotent step, so retrying it after a crash
/// cannot duplicate anything on the far side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HubSpotJob {
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
    /// Find a Help Desk session's ticket and fill it from the session. Queued in a lane of
    /// its own (`hubspot::tickets::ticket_lane`), so messages never wait behind it.
    /// Written since schema 4.
    FillTicket { session_id: String },
}

impl HubSpotJob {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            HubSpotJob::StartSession { .. } => "start_session",
            HubSpotJob::Publish { .. } => "publish",
            HubSpotJob::Note { .. } => "note",
            HubSpotJob::CloseThread => "close_thread",
            HubSpotJob::MessageStatus { .. } => "message_status",
            HubSpotJob::FillTicket { .. } => "fill_ticket",
        }
    }
}

/// A verified HubSpot webhook event, to turn into bot events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InboundJob {
    /// As it was parsed at the webhook. Written since schema 3.
    #[serde(rename = "hubspot_event")]
    HubSpotEvent { key: EventKey, event: HubSpotEvent },
    /// As raw JSON (`{"source", "event"}`), parsed again when processed. Written up to
    /// schema 2; still read, so items queued by an older handoff are processed as before.
    Inbound {
        key: EventKey,
        event: serde_json::Value,
    },
}

impl InboundJob {
    pub(crate) fn name(&self) -> &'static str {
        "inbound"
    }
}

/// Work for the bot's webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BotJob {
    /// Deliver the event with this sequence number.
    DeliverEvent { seq: u64 },
}

impl BotJob {
    pub(crate) fn name(&self) -> &'static str {
        "deliver_event"
    }
}

// `FileRef`, `AgentMessage` and `HubSpotEvent` are stored in the inbound outbox (see
// `InboundJob::HubSpotEvent`): renaming a variant or a field is a schema change.

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileRef {
    pub(crate) file_id: Option<String>,
    pub(crate) url: Option<String>,
    pub(crate) name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentMessage {
    pub(crate) message_id: String,
    pub(crate) channel_id: String,
    pub(crate) thread_id: Option<String>,
    pub(crate) integration_thread_ids: Vec<String>,
    pub(crate) actor_id: Option<String>,
    pub(crate) agent_name: Option<String>,
    pub(crate) text: String,
    pub(crate) rich_text: Option<String>,
    pub(crate) files: Vec<FileRef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HubSpotEvent {
    AgentMessage(AgentMessage),
    /// `None` when the thread was unassigned.
    Assigned {
        thread_id: String,
        actor: Option<String>,
    },
    Status {
        thread_id: String,
        status: String,
    },
    Account {
        kind: String,
        account_id: String,
    },
    Ignored(String),
}

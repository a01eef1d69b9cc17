//! The core: what a handoff is, independent of who is on either side. The session and its
//! lifecycle (one transition function), message content, the bot's events and their keys,
//! the job payloads of each queue, and the store seam. `bot` and `hubspot` are adapters
//! around it: they depend on this module (and on `outbox` and `store`), never on each
//! other.

pub(crate) mod availability;
pub(crate) mod content;
pub(crate) mod event;
pub(crate) mod jobs;
pub(crate) mod records;
pub(crate) mod repo;
pub(crate) mod session;

pub(crate) use content::{Content, HistoryLine, Speaker};
pub(crate) use event::{Event, EventKey, EventKind, HubSpotMessageRef, StoredEvent};
pub use jobs::{AgentMessage, BotJob, FileRef, HubSpotEvent, HubSpotJob, InboundJob};
pub(crate) use repo::StoreError;
pub use session::integration_thread_id;
pub(crate) use session::{
    Agent, ClosedBy, Happened, Priority, Session, SessionStatus, Transition, User, apply,
    session_of_integration_thread,
};

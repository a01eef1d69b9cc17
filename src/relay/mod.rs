//! The core: what a handoff is, independent of who is on either side. The session and its
//! lifecycle (one transition function), message content, the bot's events and their keys,
//! the job payloads of each queue, and the store seam. `bot` and `hubspot` are adapters
//! around it: they depend on this module (and on `outbox` and `store`), never on each
//! other.

pub mod availability;
pub mod content;
pub mod event;
pub mod jobs;
pub mod records;
pub mod repo;
pub mod session;

pub use content::{Content, HistoryLine, Speaker};
pub use event::{Event, EventKey, EventKind, HubSpotMessageRef, StoredEvent};
pub use jobs::{AgentMessage, BotJob, FileRef, HubSpotEvent, HubSpotJob, InboundJob};
pub use repo::StoreError;
pub use session::{
    Agent, ClosedBy, Happened, Priority, Session, SessionFailure, SessionStatus, Transition, User,
    apply, integration_thread_id, session_of_integration_thread,
};

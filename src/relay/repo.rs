//! The store seam: what the core and the adapters need from storage, as narrow traits, and
//! the one error they share. `store` implements them on sled; `memory_store` (tests only)
//! in plain maps, all but `BotApiRepo`, whose handlers the integration tests drive over
//! HTTP. The outbox's part is `crate::outbox::OutboxRepo`.
//!
//! Every trait is object-safe: consumers hold `Arc<dyn …Repo>` and never name the engine.
//! A write is durable only after [`Durable::flush`], which every acknowledgement awaits.

use super::records::{
    ChannelAccountRecord, ChannelRecord, OAuthState, UploadedFile, WizardSettings,
};
use super::{
    Content, EventKey, Happened, HistoryLine, HubSpotEvent, Priority, Session, SessionStatus,
    StoredEvent, Transition, User,
};
use chrono::{DateTime, Utc};
use std::future::Future;
use std::pin::Pin;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The storage engine failed (I/O, a full disk, a closed database).
    #[error("storage: {0}")]
    Engine(String),
    #[error("a stored record could not be read ({0}); the store may be damaged")]
    Corrupt(String),
    #[error("flush failed: {0}")]
    Flush(String),
    #[error("{0}")]
    Schema(String),
    #[error("cannot prepare the data directory {path}: {error}")]
    DataDir { path: String, error: std::io::Error },
    /// Only from `Store::fail_lookups`, which tests use to see a store failure answered.
    #[error("injected lookup failure")]
    Injected,
}

pub(crate) type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A flush under way.
pub(crate) type Flushing<'a> = Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;

/// What every repo shares: making what was written durable.
pub trait Durable: Send + Sync + 'static {
    /// Completes once everything written before the call is on disk (a group commit: one
    /// flush serves every caller waiting for it).
    fn flush(&self) -> Flushing<'_>;
}

/// Sessions and users as the workers see them: read, changed only through a
/// [`Transition`], and the per-message upload records of the HubSpot publisher.
pub(crate) trait SessionRepo: Durable {
    fn session(&self, id: &str) -> Result<Option<Session>>;

    fn user(&self, id: &str) -> Result<Option<User>>;

    /// Applies `transition` (see [`super::apply`]) to the stored session atomically: no
    /// other write to that session comes between the read and the write. Returns the
    /// session as it is now and the event it gives the bot; `None` when the session does
    /// not exist. A HubSpot thread id the session gains is indexed in the same write.
    fn apply_transition(
        &self,
        id: &str,
        transition: &Transition,
    ) -> Result<Option<(Session, Option<Happened>)>>;

    /// The file uploaded for media item `index` of a message, when an earlier attempt did.
    fn uploaded_file(
        &self,
        session: &str,
        message: &str,
        index: usize,
    ) -> Result<Option<UploadedFile>>;

    /// Remembers an upload; durable after the next flush.
    fn record_upload(
        &self,
        session: &str,
        message: &str,
        index: usize,
        file: &UploadedFile,
    ) -> Result<()>;

    /// The message was published (or given up): forgets its uploads.
    fn forget_uploads(&self, session: &str, message: &str) -> Result<()>;
}

/// Builds the event to append for the sequence number the repo gave it.
pub(crate) type BuildEvent<'a> = Box<dyn FnOnce(u64) -> StoredEvent + 'a>;

/// What the caller does with a freshly appended event before its key is marked (queueing
/// its deliveries).
pub(crate) type AfterAppend<'a> = Box<dyn FnOnce(&StoredEvent) -> Result<()> + 'a>;

/// A user's fields after validation.
#[derive(Debug, Clone, Default)]
pub(crate) struct UserInput {
    pub(crate) name: Option<String>,
    pub(crate) email: Option<String>,
    pub(crate) phone: Option<String>,
    pub(crate) picture_url: Option<String>,
    pub(crate) external_id: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct NewSession {
    pub(crate) user_id: String,
    pub(crate) title: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) external_id: Option<String>,
    pub(crate) idempotency_key: Option<String>,
    pub(crate) history: Vec<HistoryLine>,
    pub(crate) inbox_id: Option<String>,
    pub(crate) priority: Option<Priority>,
}

#[derive(Debug)]
pub(crate) enum SessionOutcome {
    Created(Session),
    /// The same `externalId` / `Idempotency-Key` names a session that is still going.
    Existing(Session),
}

#[derive(Debug, PartialEq)]
pub(crate) enum MessageOutcome {
    Queued(String),
    /// The bot already sent this `messageId`.
    Duplicate(String),
    NotFound,
    Final(SessionStatus),
}

#[derive(Debug)]
pub(crate) enum StopOutcome {
    /// Stopped now; the event is the bot's `session.closed`.
    Stopped(Session, Happened),
    AlreadyFinal(Session),
    NotFound,
}

/// What the bot API records: users, sessions, messages and stops. Each is one atomic step
/// with the HubSpot jobs it queues (a crash leaves all of it or none), and is
/// acknowledged to the bot only after [`Durable::flush`].
pub(crate) trait BotApiRepo: SessionRepo {
    /// Creates the user, or updates the one with the same `externalId` or email; whether
    /// it was created.
    fn upsert_user(&self, input: &UserInput, now: DateTime<Utc>) -> Result<(User, bool)>;

    /// Creates the session with its first HubSpot job, unless the same `externalId` or
    /// `Idempotency-Key` names one still going.
    fn create_session(&self, new: &NewSession, now: DateTime<Utc>) -> Result<SessionOutcome>;

    /// Queues a message for HubSpot, once per bot `messageId`.
    fn add_message(
        &self,
        session_id: &str,
        bot_message_id: Option<&str>,
        content: &Content,
        now: DateTime<Utc>,
    ) -> Result<MessageOutcome>;

    /// Closes the session (`closedBy: bot`) and queues the note and the thread close.
    fn stop_session(
        &self,
        session_id: &str,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<StopOutcome>;
}

/// The bot's event log: one ordered stream, each event appended once by its key.
pub(crate) trait EventRepo: Send + Sync + 'static {
    /// Appends the event `build` makes for a fresh, increasing sequence number, unless an
    /// event with `key` was marked; then runs `then` and marks `key`. Appends are
    /// serialized by the repo (sequence numbers and `then`'s work happen in one order),
    /// and the key is marked only after `then` succeeded: a crash or an error in between
    /// lets a retry append the event again under the same id (the bot de-duplicates by
    /// `webhook-id`); the other order could lose it. `None` when the key was marked.
    fn append(
        &self,
        key: &EventKey,
        build: BuildEvent<'_>,
        then: AfterAppend<'_>,
    ) -> Result<Option<StoredEvent>>;

    /// Up to `limit` events after `after`, oldest first.
    fn events_after(&self, after: u64, limit: usize) -> Result<Vec<StoredEvent>>;

    /// One event by its sequence number (`None` once retention pruned it).
    fn event(&self, seq: u64) -> Result<Option<StoredEvent>>;
}

/// What the HubSpot webhook's ingress needs: which session a HubSpot thread belongs to, and
/// queueing verified events for the inbound worker, each once.
pub(crate) trait IngressRepo: Durable {
    /// The session whose HubSpot thread this is (app webhooks name only the thread).
    fn session_of_hubspot_thread(&self, thread_id: &str) -> Result<Option<String>>;

    fn has_session(&self, id: &str) -> Result<bool>;

    /// Queues `events` of one session in order, each unless an event with its key was
    /// accepted before (also earlier in `events`), and marks each key; returns how many
    /// were new. The items are written before their marks, so a crash between the two can
    /// only repeat an event, which the event log drops by its key.
    fn accept_inbound_events(
        &self,
        session_id: &str,
        events: Vec<(EventKey, HubSpotEvent)>,
        now_ms: i64,
    ) -> Result<usize>;

    /// HubSpot deleted (or recreated) a channel account.
    fn set_account_purged(&self, account_id: &str, purged: bool) -> Result<()>;
}

/// Settings and the HubSpot connection: what the wizard saved, the OAuth state, the
/// provisioned channel and accounts.
pub trait SettingsRepo: Durable {
    fn wizard_settings(&self) -> Result<WizardSettings>;

    fn set_wizard_settings(&self, settings: &WizardSettings) -> Result<()>;

    fn oauth_state(&self) -> Result<Option<OAuthState>>;

    fn set_oauth_state(&self, state: &OAuthState) -> Result<()>;

    fn channel(&self) -> Result<Option<ChannelRecord>>;

    fn set_channel(&self, channel: &ChannelRecord) -> Result<()>;

    fn forget_channel(&self) -> Result<()>;

    fn channel_account(&self, inbox_id: &str) -> Result<Option<ChannelAccountRecord>>;

    fn set_channel_account(&self, account: &ChannelAccountRecord) -> Result<()>;

    /// Whether HubSpot said the channel account was deleted.
    fn account_purged(&self, account_id: &str) -> Result<bool>;

    /// A cheap read that fails when the store cannot be read (`/healthz`, readiness).
    fn check(&self) -> Result<()>;
}

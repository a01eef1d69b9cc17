//! The sled store behind the seam's traits (`crate::relay::repo`). Mostly delegation; the
//! event log's append order is kept here, by the store's own lock.

use super::{
    ChannelAccountRecord, ChannelRecord, MessageOutcome, NewSession, OAuthState, Result, Session,
    SessionOutcome, StopOutcome, Store, StoredEvent, UploadedFile, User, UserInput, WizardSettings,
};
use crate::relay::repo::{
    AfterAppend, BotApiRepo, BuildEvent, Durable, EventRepo, Flushing, IngressRepo, SessionRepo,
    SettingsRepo,
};
use crate::relay::{Content, EventKey, Happened, HubSpotEvent, Transition};
use chrono::{DateTime, Utc};

impl Durable for Store {
    fn flush(&self) -> Flushing<'_> {
        Box::pin(Store::flush(self))
    }
}

impl SessionRepo for Store {
    fn session(&self, id: &str) -> Result<Option<Session>> {
        Store::session(self, id)
    }

    fn user(&self, id: &str) -> Result<Option<User>> {
        Store::user(self, id)
    }

    fn apply_transition(
        &self,
        id: &str,
        transition: &Transition,
    ) -> Result<Option<(Session, Option<Happened>)>> {
        Store::apply_transition(self, id, transition)
    }

    fn uploaded_file(
        &self,
        session: &str,
        message: &str,
        index: usize,
    ) -> Result<Option<UploadedFile>> {
        Store::uploaded_file(self, session, message, index)
    }

    fn record_upload(
        &self,
        session: &str,
        message: &str,
        index: usize,
        file: &UploadedFile,
    ) -> Result<()> {
        Store::record_upload(self, session, message, index, file)
    }

    fn forget_uploads(&self, session: &str, message: &str) -> Result<()> {
        Store::forget_uploads(self, session, message)
    }
}

impl IngressRepo for Store {
    fn session_of_hubspot_thread(&self, thread_id: &str) -> Result<Option<String>> {
        Store::session_of_hubspot_thread(self, thread_id)
    }

    fn has_session(&self, id: &str) -> Result<bool> {
        Store::has_session(self, id)
    }

    fn accept_inbound_events(
        &self,
        session_id: &str,
        events: Vec<(EventKey, HubSpotEvent)>,
        now_ms: i64,
    ) -> Result<usize> {
        Store::accept_inbound_events(self, session_id, events, now_ms)
    }

    fn set_account_purged(&self, account_id: &str, purged: bool) -> Result<()> {
        Store::set_account_purged(self, account_id, purged)
    }
}

impl EventRepo for Store {
    fn append(
        &self,
        key: &EventKey,
        build: BuildEvent<'_>,
        then: AfterAppend<'_>,
    ) -> Result<Option<StoredEvent>> {
        // One append at a time: sequence numbers, the deliveries `then` queues and the key
        // marks happen in one order.
        let _order = self.append_lock.lock();
        let Some(stored) = self.append_event(key.as_str(), build)? else {
            return Ok(None);
        };
        then(&stored)?;
        self.mark_event_key(key.as_str(), stored.seq)?;
        Ok(Some(stored))
    }

    fn events_after(&self, after: u64, limit: usize) -> Result<Vec<StoredEvent>> {
        Store::events_after(self, after, limit)
    }

    fn event(&self, seq: u64) -> Result<Option<StoredEvent>> {
        Store::event(self, seq)
    }
}

impl SettingsRepo for Store {
    fn wizard_settings(&self) -> Result<WizardSettings> {
        Store::wizard_settings(self)
    }

    fn set_wizard_settings(&self, settings: &WizardSettings) -> Result<()> {
        Store::set_wizard_settings(self, settings)
    }

    fn oauth_state(&self) -> Result<Option<OAuthState>> {
        Store::oauth_state(self)
    }

    fn set_oauth_state(&self, state: &OAuthState) -> Result<()> {
        Store::set_oauth_state(self, state)
    }

    fn channel(&self) -> Result<Option<ChannelRecord>> {
        Store::channel(self)
    }

    fn set_channel(&self, channel: &ChannelRecord) -> Result<()> {
        Store::set_channel(self, channel)
    }

    fn forget_channel(&self) -> Result<()> {
        Store::forget_channel(self)
    }

    fn channel_account(&self, inbox_id: &str) -> Result<Option<ChannelAccountRecord>> {
        Store::channel_account(self, inbox_id)
    }

    fn set_channel_account(&self, account: &ChannelAccountRecord) -> Result<()> {
        Store::set_channel_account(self, account)
    }

    fn account_purged(&self, account_id: &str) -> Result<bool> {
        Store::account_purged(self, account_id)
    }

    fn check(&self) -> Result<()> {
        Store::check(self)
    }
}

impl BotApiRepo for Store {
    fn upsert_user(&self, input: &UserInput, now: DateTime<Utc>) -> Result<(User, bool)> {
        Store::upsert_user(self, input, now)
    }

    fn create_session(&self, new: &NewSession, now: DateTime<Utc>) -> Result<SessionOutcome> {
        Store::create_session(self, new, now)
    }

    fn add_message(
        &self,
        session_id: &str,
        bot_message_id: Option<&str>,
        content: &Content,
        now: DateTime<Utc>,
    ) -> Result<MessageOutcome> {
        Store::add_message(self, session_id, bot_message_id, content, now)
    }

    fn stop_session(
        &self,
        session_id: &str,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<StopOutcome> {
        Store::stop_session(self, session_id, reason, now)
    }
}

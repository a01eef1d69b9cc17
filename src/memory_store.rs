//! The store seam in memory: every trait of `relay::repo` and `outbox::OutboxRepo` over
//! plain maps behind one mutex, for unit tests of the code above the seam. It keeps what
//! the callers rely on from the sled store: items of a lane in push order, ids (outbox keys,
//! event sequence numbers, dead letters) from one increasing counter, an event appended
//! once per key and the key marked only after the caller's step, appends serialized by
//! their own lock, and `apply_transition` as one step under the lock. Writes are "durable"
//! at once. [`Relay`] wires the core over it, as `app` does over sled.

use crate::config::Config;
use crate::events::EventLog;
use crate::hubspot::HubSpot;
use crate::outbox::{DeadLetter, ItemKey, Job, Outbox, OutboxItem, OutboxRepo, Queue, lane_prefix};
use crate::relay::records::{
    ChannelAccountRecord, ChannelRecord, OAuthState, UploadedFile, WizardSettings,
};
use crate::relay::repo::{
    AfterAppend, BuildEvent, Durable, EventRepo, Flushing, IngressRepo, Result, SessionRepo,
    SettingsRepo,
};
use crate::relay::{
    BotJob, EventKey, Happened, HubSpotEvent, HubSpotJob, InboundJob, Session, SessionStatus,
    StoreError, StoredEvent, Transition, User,
};
use crate::settings::Settings;
use chrono::Utc;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

#[derive(Default)]
pub(crate) struct MemoryStore {
    state: Mutex<State>,
    /// Serializes event appends, as the sled store's append lock does. Separate from
    /// `state`: the step run under it queues outbox items, which takes `state`.
    append_lock: Mutex<()>,
    /// When set, outbox pushes fail (a full disk, say).
    pub(crate) fail_pushes: AtomicBool,
    /// How often the thread index was asked (the webhook asks once per thread and body).
    pub(crate) thread_lookups: AtomicUsize,
}

#[derive(Default)]
struct State {
    next_id: u64,
    sessions: HashMap<String, Session>,
    users: HashMap<String, User>,
    /// HubSpot thread id → session id, written with the session.
    threads: HashMap<String, String>,
    uploads: BTreeMap<(String, String, usize), UploadedFile>,
    events: BTreeMap<u64, StoredEvent>,
    event_keys: HashMap<String, u64>,
    /// Keys of the HubSpot events accepted by the webhook.
    inbound_seen: HashSet<String>,
    /// Per queue: item key → the item as JSON (the job type is the queue's).
    outbox: HashMap<Queue, BTreeMap<Vec<u8>, serde_json::Value>>,
    dead_letters: Vec<DeadLetter>,
    wizard: WizardSettings,
    oauth: Option<OAuthState>,
    channel: Option<ChannelRecord>,
    accounts: HashMap<String, ChannelAccountRecord>,
    purged: HashSet<String>,
}

impl State {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

impl MemoryStore {
    pub(crate) fn put_session(&self, session: Session) {
        let mut state = self.state.lock();
        if let Some(thread) = &session.hubspot_thread_id {
            state.threads.insert(thread.clone(), session.id.clone());
        }
        state.sessions.insert(session.id.clone(), session);
    }

    /// HubSpot told us it deleted this channel account.
    pub(crate) fn purge_account(&self, account_id: &str) {
        self.state.lock().purged.insert(account_id.to_string());
    }

    pub(crate) fn put_user(&self, user: User) {
        self.state.lock().users.insert(user.id.clone(), user);
    }

    /// Every event in the log, oldest first.
    pub(crate) fn events(&self) -> Vec<StoredEvent> {
        self.state.lock().events.values().cloned().collect()
    }

    /// The items queued for `J`, in key order (lane by lane, each in push order).
    pub(crate) fn items<J: Job>(&self) -> Vec<OutboxItem<J>> {
        let state = self.state.lock();
        state
            .outbox
            .get(&J::QUEUE)
            .into_iter()
            .flat_map(|items| items.values())
            .map(|v| serde_json::from_value(v.clone()).expect("an item of this queue"))
            .collect()
    }

    pub(crate) fn dead_letters(&self) -> Vec<DeadLetter> {
        self.state.lock().dead_letters.clone()
    }
}

impl Durable for MemoryStore {
    fn flush(&self) -> Flushing<'_> {
        Box::pin(std::future::ready(Ok(())))
    }
}

impl SessionRepo for MemoryStore {
    fn session(&self, id: &str) -> Result<Option<Session>> {
        Ok(self.state.lock().sessions.get(id).cloned())
    }

    fn user(&self, id: &str) -> Result<Option<User>> {
        Ok(self.state.lock().users.get(id).cloned())
    }

    fn apply_transition(
        &self,
        id: &str,
        transition: &Transition,
    ) -> Result<Option<(Session, Option<Happened>)>> {
        let mut state = self.state.lock();
        let Some(session) = state.sessions.get(id) else {
            return Ok(None);
        };
        let (next, happened) = crate::relay::apply(session, transition);
        if let Some(thread) = &next.hubspot_thread_id
            && session.hubspot_thread_id.as_ref() != Some(thread)
        {
            state.threads.insert(thread.clone(), id.to_string());
        }
        state.sessions.insert(id.to_string(), next.clone());
        Ok(Some((next, happened)))
    }

    fn uploaded_file(
        &self,
        session: &str,
        message: &str,
        index: usize,
    ) -> Result<Option<UploadedFile>> {
        let key = (session.to_string(), message.to_string(), index);
        Ok(self.state.lock().uploads.get(&key).cloned())
    }

    fn record_upload(
        &self,
        session: &str,
        message: &str,
        index: usize,
        file: &UploadedFile,
    ) -> Result<()> {
        let key = (session.to_string(), message.to_string(), index);
        self.state.lock().uploads.insert(key, file.clone());
        Ok(())
    }

    fn forget_uploads(&self, session: &str, message: &str) -> Result<()> {
        self.state
            .lock()
            .uploads
            .retain(|(s, m, _), _| (s.as_str(), m.as_str()) != (session, message));
        Ok(())
    }
}

impl EventRepo for MemoryStore {
    fn append(
        &self,
        key: &EventKey,
        build: BuildEvent<'_>,
        then: AfterAppend<'_>,
    ) -> Result<Option<StoredEvent>> {
        let _order = self.append_lock.lock();
        let stored = {
            let mut state = self.state.lock();
            if state.event_keys.contains_key(key.as_str()) {
                return Ok(None);
            }
            let seq = state.id();
            let stored = build(seq);
            state.events.insert(seq, stored.clone());
            stored
        };
        then(&stored)?;
        self.state
            .lock()
            .event_keys
            .insert(key.as_str().to_string(), stored.seq);
        Ok(Some(stored))
    }

    fn events_after(&self, after: u64, limit: usize) -> Result<Vec<StoredEvent>> {
        let Some(from) = after.checked_add(1) else {
            return Ok(vec![]);
        };
        let state = self.state.lock();
        Ok(state
            .events
            .range(from..)
            .take(limit)
            .map(|(_, e)| e.clone())
            .collect())
    }

    fn event(&self, seq: u64) -> Result<Option<StoredEvent>> {
        Ok(self.state.lock().events.get(&seq).cloned())
    }
}

fn encode<J: Job>(item: &OutboxItem<J>) -> serde_json::Value {
    serde_json::to_value(item).expect("items serialize")
}

fn decode<J: Job>(value: &serde_json::Value) -> Result<OutboxItem<J>> {
    serde_json::from_value(value.clone()).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl<J: Job> OutboxRepo<J> for MemoryStore {
    fn push(&self, item: &OutboxItem<J>) -> Result<ItemKey> {
        if self.fail_pushes.load(Ordering::Relaxed) {
            return Err(StoreError::Engine("injected push failure".into()));
        }
        let mut state = self.state.lock();
        let key = ItemKey::new(&item.lane, state.id());
        state
            .outbox
            .entry(J::QUEUE)
            .or_default()
            .insert(key.as_bytes().to_vec(), encode(item));
        Ok(key)
    }

    fn head(&self, lane: &str) -> Result<Option<(ItemKey, OutboxItem<J>)>> {
        let state = self.state.lock();
        let Some(items) = state.outbox.get(&J::QUEUE) else {
            return Ok(None);
        };
        let prefix = lane_prefix(lane);
        match items.range(prefix.clone()..).next() {
            Some((k, v)) if k.starts_with(&prefix) => {
                Ok(Some((ItemKey::from_bytes(k)?, decode(v)?)))
            }
            _ => Ok(None),
        }
    }

    fn heads(&self) -> Result<Vec<(ItemKey, OutboxItem<J>)>> {
        let state = self.state.lock();
        let mut heads: Vec<(ItemKey, OutboxItem<J>)> = Vec::new();
        for (k, v) in state.outbox.get(&J::QUEUE).into_iter().flatten() {
            let key = ItemKey::from_bytes(k)?;
            if heads
                .last()
                .is_some_and(|(last, _)| last.lane() == key.lane())
            {
                continue;
            }
            heads.push((key, decode(v)?));
        }
        Ok(heads)
    }

    fn update(&self, key: &ItemKey, item: &OutboxItem<J>) -> Result<()> {
        let mut state = self.state.lock();
        state
            .outbox
            .entry(J::QUEUE)
            .or_default()
            .insert(key.as_bytes().to_vec(), encode(item));
        Ok(())
    }

    fn remove(&self, key: &ItemKey) -> Result<()> {
        let mut state = self.state.lock();
        if let Some(items) = state.outbox.get_mut(&J::QUEUE) {
            items.remove(key.as_bytes());
        }
        Ok(())
    }

    fn dead_letter(
        &self,
        key: &ItemKey,
        item: &OutboxItem<J>,
        reason: &str,
        now: i64,
    ) -> Result<DeadLetter> {
        let mut state = self.state.lock();
        let letter = DeadLetter::of(state.id(), item, reason, now);
        if let Some(items) = state.outbox.get_mut(&J::QUEUE) {
            items.remove(key.as_bytes());
        }
        state.dead_letters.push(letter.clone());
        Ok(letter)
    }

    fn depth(&self) -> usize {
        self.state
            .lock()
            .outbox
            .get(&J::QUEUE)
            .map_or(0, |i| i.len())
    }
}

impl IngressRepo for MemoryStore {
    fn session_of_hubspot_thread(&self, thread_id: &str) -> Result<Option<String>> {
        self.thread_lookups.fetch_add(1, Ordering::Relaxed);
        Ok(self.state.lock().threads.get(thread_id).cloned())
    }

    fn has_session(&self, id: &str) -> Result<bool> {
        Ok(self.state.lock().sessions.contains_key(id))
    }

    fn accept_inbound_events(
        &self,
        session_id: &str,
        events: Vec<(EventKey, HubSpotEvent)>,
        now_ms: i64,
    ) -> Result<usize> {
        let mut accepted = 0;
        for (key, event) in events {
            // Marked and checked in one step; nothing here can crash between mark and item.
            if !self
                .state
                .lock()
                .inbound_seen
                .insert(key.as_str().to_string())
            {
                continue;
            }
            let job = InboundJob::HubSpotEvent { key, event };
            self.push(&OutboxItem::new(session_id, job, now_ms))?;
            accepted += 1;
        }
        Ok(accepted)
    }

    fn set_account_purged(&self, account_id: &str, purged: bool) -> Result<()> {
        let mut state = self.state.lock();
        if purged {
            state.purged.insert(account_id.to_string());
        } else {
            state.purged.remove(account_id);
        }
        Ok(())
    }
}

impl SettingsRepo for MemoryStore {
    fn wizard_settings(&self) -> Result<WizardSettings> {
        Ok(self.state.lock().wizard.clone())
    }

    fn set_wizard_settings(&self, settings: &WizardSettings) -> Result<()> {
        self.state.lock().wizard = settings.clone();
        Ok(())
    }

    fn oauth_state(&self) -> Result<Option<OAuthState>> {
        Ok(self.state.lock().oauth.clone())
    }

    fn set_oauth_state(&self, state: &OAuthState) -> Result<()> {
        self.state.lock().oauth = Some(state.clone());
        Ok(())
    }

    fn channel(&self) -> Result<Option<ChannelRecord>> {
        Ok(self.state.lock().channel.clone())
    }

    fn set_channel(&self, channel: &ChannelRecord) -> Result<()> {
        self.state.lock().channel = Some(channel.clone());
        Ok(())
    }

    fn forget_channel(&self) -> Result<()> {
        self.state.lock().channel = None;
        Ok(())
    }

    fn channel_account(&self, inbox_id: &str) -> Result<Option<ChannelAccountRecord>> {
        Ok(self.state.lock().accounts.get(inbox_id).cloned())
    }

    fn set_channel_account(&self, account: &ChannelAccountRecord) -> Result<()> {
        let mut state = self.state.lock();
        state
            .accounts
            .insert(account.inbox_id.clone(), account.clone());
        Ok(())
    }

    fn account_purged(&self, account_id: &str) -> Result<bool> {
        Ok(self.state.lock().purged.contains(account_id))
    }

    fn check(&self) -> Result<()> {
        Ok(())
    }
}

/// The relay's core parts over a memory store, as `app` wires them over sled: settings,
/// the HubSpot client, the HubSpot and bot queues and the event log. For the tests of the
/// HubSpot adapter and the event log.
pub(crate) struct Relay {
    pub(crate) store: Arc<MemoryStore>,
    pub(crate) settings: Arc<Settings>,
    pub(crate) hubspot: Arc<HubSpot>,
    pub(crate) events: Arc<EventLog>,
    pub(crate) hubspot_outbox: Arc<Outbox<HubSpotJob>>,
}

impl Relay {
    /// `config.hubspot.api_base` is where HubSpot is called (nothing answers by default);
    /// what `store` holds (an OAuth state, saved settings) is read as at start-up.
    pub(crate) fn new(config: Config, store: MemoryStore) -> Relay {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let store = Arc::new(store);
        let config = Arc::new(config);
        let settings = Arc::new(Settings::load(config.clone(), store.clone()).unwrap());
        let hubspot = Arc::new(
            HubSpot::new(
                crate::http_client::http_client(Duration::from_secs(5)),
                &config.hubspot.api_base,
                config.hubspot.rate_limit_per_10s,
                store.clone(),
                settings.clone(),
            )
            .unwrap(),
        );
        let hubspot_outbox: Arc<Outbox<HubSpotJob>> =
            Arc::new(Outbox::recover(store.clone()).unwrap());
        let bot_outbox: Arc<Outbox<BotJob>> = Arc::new(Outbox::recover(store.clone()).unwrap());
        let events = Arc::new(EventLog::new(
            store.clone(),
            settings.clone(),
            bot_outbox,
            hubspot_outbox.clone(),
        ));
        Relay {
            store,
            settings,
            hubspot,
            events,
            hubspot_outbox,
        }
    }

    /// Stores a session with `status` and its user (who has an email); returns it.
    pub(crate) fn session(&self, status: SessionStatus) -> Session {
        let now = Utc::now();
        let id = ulid::Ulid::generate();
        let user = User {
            id: format!("usr_{id}"),
            name: Some("Jane Doe".into()),
            email: Some("jane@example.com".into()),
            phone: None,
            picture_url: None,
            external_id: None,
            created_at: now,
            updated_at: now,
        };
        let session = Session {
            status,
            title: Some("Help".into()),
            external_id: Some("bot-conversation-1".into()),
            ..Session::pending(format!("ses_{id}"), user.id.clone(), now)
        };
        self.store.put_user(user);
        self.store.put_session(session.clone());
        session
    }

    /// The events of the log, as `(type, id)`.
    pub(crate) fn event_kinds(&self) -> Vec<(String, String)> {
        self.store
            .events()
            .into_iter()
            .map(|e| (e.event.kind, e.event.id))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fake keeps the sled outbox's order, as `store::outbox`'s test checks it there.
    #[test]
    fn lanes_keep_their_order_and_dead_letters_leave_them() {
        let store = MemoryStore::default();
        let push = |lane: &str| {
            OutboxRepo::<HubSpotJob>::push(
                &store,
                &OutboxItem::new(lane, HubSpotJob::CloseThread, 0),
            )
            .unwrap()
        };
        let a1 = push("ses_a");
        let b1 = push("ses_b");
        let a2 = push("ses_a");
        assert!(a1.seq() < b1.seq() && b1.seq() < a2.seq());
        let heads: Vec<_> = OutboxRepo::<HubSpotJob>::heads(&store)
            .unwrap()
            .into_iter()
            .map(|h| h.0)
            .collect();
        assert_eq!(heads, vec![a1.clone(), b1.clone()]);
        OutboxRepo::<HubSpotJob>::remove(&store, &a1).unwrap();
        let (head, item) = OutboxRepo::<HubSpotJob>::head(&store, "ses_a")
            .unwrap()
            .unwrap();
        assert_eq!(head, a2);
        let letter = store.dead_letter(&a2, &item, "gone", 5).unwrap();
        assert!(letter.id > a2.seq(), "ids come from one counter");
        assert!(
            OutboxRepo::<HubSpotJob>::head(&store, "ses_a")
                .unwrap()
                .is_none()
        );
        assert_eq!(store.dead_letters(), [letter]);
        assert_eq!(OutboxRepo::<HubSpotJob>::depth(&store), 1);
        assert_eq!(OutboxRepo::<BotJob>::depth(&store), 0, "queues are apart");
    }
}

//! The one module that touches sled. A fixed set of named trees behind typed methods;
//! values are JSON, keys are ordered bytes, and `IVec` never leaves this module.
//!
//! A write is durable only after [`Store::flush`]; every acknowledgement to the bot or to
//! HubSpot waits for it.

pub mod backup;
mod events;
mod flusher;
mod inbound;
mod outbox;
mod retention;
mod seam;
mod sessions;
mod uploads;

use crate::outbox::ItemKey;
pub(crate) use crate::outbox::Queue;
pub(crate) use crate::relay::records::*;
pub(crate) use crate::relay::repo::{
    MessageOutcome, NewSession, SessionOutcome, StopOutcome, UserInput,
};
pub(crate) use crate::relay::{
    ClosedBy, HubSpotMessageRef, Session, SessionStatus, StoreError, StoredEvent, User,
};

use parking_lot::{Mutex, MutexGuard};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bumped whenever a stored record changes shape; `open` migrates step by step (see
/// `migrate`).
pub(crate) const SCHEMA_VERSION: u64 = 4;

pub(crate) use crate::relay::repo::Result;

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Engine(e.to_string())
    }
}

#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    meta: sled::Tree,
    settings: sled::Tree,
    users: sled::Tree,
    user_keys: sled::Tree,
    sessions: sled::Tree,
    session_keys: sled::Tree,
    message_ids: sled::Tree,
    outbox_hubspot: sled::Tree,
    outbox_inbound: sled::Tree,
    outbox_bot: sled::Tree,
    /// `hs:{hubspotThreadId}` → session id: app webhooks name only HubSpot's thread. The
    /// thread id itself lives in the session; this index is written with it (see
    /// `apply_transition`). handoff's own thread ids are derived from session ids and need
    /// no index.
    thread_index: sled::Tree,
    /// Keys of HubSpot webhook events already accepted (de-duplication).
    inbound_seen: sled::Tree,
    /// The event log: seq (u64 BE) → stored event.
    events: sled::Tree,
    /// Event de-duplication key → seq.
    event_keys: sled::Tree,
    dead_letters: sled::Tree,
    /// Files uploaded for messages still queued (see `uploads`).
    uploads: sled::Tree,
    flusher: flusher::Flusher,
    /// Orders the writes of one session (message vs. stop) without a sled transaction.
    session_locks: Arc<[Mutex<()>; SESSION_LOCKS]>,
    /// Items per queue, by `Queue::index`.
    queued: Arc<[AtomicUsize; Queue::ALL.len()]>,
    /// Shared by writes, exclusive for a backup (see `backup`).
    gate: Arc<parking_lot::RwLock<()>>,
    /// Serializes appends to the event log (see `seam`, `EventRepo::append`).
    append_lock: Arc<Mutex<()>>,
    /// Set by tests through [`Store::fail_lookups`]: session look-ups then fail.
    lookups_fail: Arc<std::sync::atomic::AtomicBool>,
}

const SESSION_LOCKS: usize = 64;

const KEY_OAUTH: &str = "oauth";
const KEY_CHANNEL: &str = "hubspot.channel";
const KEY_WIZARD: &str = "wizard";
const KEY_ADMIN_PASSWORD: &str = "admin.password";
/// Channel account records, by inbox: `hubspot.account.{inbox_id}`.
const KEY_ACCOUNT: &str = "hubspot.account.";

/// A stored big-endian u64 (an id key, a meta value); `what` names it when it is not one.
fn be_u64(bytes: &[u8], what: &str) -> Result<u64> {
    let bytes: [u8; 8] = bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("{what} is not a u64")))?;
    Ok(u64::from_be_bytes(bytes))
}

impl Store {
    /// Opens (or creates) the store in `dir`, created with mode 0700.
    pub fn open(dir: &Path, cache_capacity_mb: u64) -> Result<Store> {
        create_private_dir(dir)?;
        let db = sled::Config::new()
            .path(dir.join("store"))
            .cache_capacity(cache_capacity_mb * 1024 * 1024)
            .open()?;
        let tree = |name: &str| db.open_tree(name);
        let store = Store {
            meta: tree("meta")?,
            settings: tree("settings")?,
            users: tree("users")?,
            user_keys: tree("user_keys")?,
            sessions: tree("sessions")?,
            session_keys: tree("session_keys")?,
            message_ids: tree("message_ids")?,
            outbox_hubspot: tree("outbox_hubspot")?,
            outbox_inbound: tree("outbox_inbound")?,
            outbox_bot: tree("outbox_bot")?,
            thread_index: tree("thread_index")?,
            inbound_seen: tree("inbound_seen")?,
            events: tree("events")?,
            event_keys: tree("event_keys")?,
            dead_letters: tree("dead_letters")?,
            uploads: tree("uploads")?,
            flusher: flusher::Flusher::start(db.clone()),
            session_locks: Arc::new(std::array::from_fn(|_| Mutex::new(()))),
            queued: Arc::new(std::array::from_fn(|_| AtomicUsize::new(0))),
            gate: Arc::new(parking_lot::RwLock::new(())),
            append_lock: Arc::default(),
            lookups_fail: Arc::default(),
            db,
        };
        store.check_schema()?;
        // Counted once here, after any migration (sled has no count), noting the highest
        // id held on the way.
        let mut held = 0;
        for queue in Queue::ALL {
            let mut items = 0;
            for key in store.outbox_tree(queue).iter().keys() {
                held = held.max(ItemKey::from_bytes(&key?)?.seq());
                items += 1;
            }
            store.queued[queue.index()].store(items, Ordering::Relaxed);
        }
        store.ids_past(held)?;
        Ok(store)
    }

    /// Outbox keys, event numbers and dead-letter ids come from sled's id generator, which
    /// a restore starts again (sled's export leaves it out). Moves it past every id the
    /// store holds and past where it was when the backup was taken (a bot's event cursor
    /// may be past every event retention kept), so no restored item is overwritten and no
    /// cursor is passed by. On any other start it is already past, and this costs one id.
    fn ids_past(&self, outbox_held: u64) -> Result<()> {
        let last_id = |tree: &sled::Tree| -> Result<u64> {
            match tree.last()? {
                Some((k, _)) => be_u64(&k, "an id key"),
                None => Ok(0),
            }
        };
        let backed_up = match self.meta.get(backup::NEXT_ID)? {
            Some(v) => be_u64(&v, "the id floor")?,
            None => 0,
        };
        let floor = outbox_held
            .max(last_id(&self.events)?)
            .max(last_id(&self.dead_letters)?)
            .max(backed_up);
        while self.db.generate_id()? <= floor {}
        Ok(())
    }

    /// Makes session and thread look-ups fail (or work again): a store failure that tests
    /// can cause, to check it is answered with a 5xx and never taken for "not found".
    #[doc(hidden)]
    pub fn fail_lookups(&self, on: bool) {
        self.lookups_fail.store(on, Ordering::Relaxed);
    }

    fn injected(&self) -> Result<()> {
        if self.lookups_fail.load(Ordering::Relaxed) {
            return Err(StoreError::Injected);
        }
        Ok(())
    }

    fn check_schema(&self) -> Result<()> {
        match self.meta.get("schema_version")? {
            None => {
                self.meta
                    .insert("schema_version", &SCHEMA_VERSION.to_be_bytes())?;
                self.db.flush()?;
                Ok(())
            }
            Some(v) => {
                let found = be_u64(&v, "schema_version")?;
                if found > SCHEMA_VERSION {
                    return Err(StoreError::Schema(format!(
                        "the store has schema version {found}, newer than this handoff ({SCHEMA_VERSION}); \
                         run a newer handoff or restore a backup"
                    )));
                }
                for step in found..SCHEMA_VERSION {
                    self.migrate(step)?;
                    // Each step is recorded (and flushed) as it completes, so a crash
                    // mid-way resumes at the step it was in; every step is idempotent.
                    self.meta
                        .insert("schema_version", &(step + 1).to_be_bytes())?;
                    self.db.flush()?;
                    tracing::info!(from = step, to = step + 1, "store migrated");
                }
                Ok(())
            }
        }
    }

    /// The migration from schema `from` to `from + 1`.
    fn migrate(&self, from: u64) -> Result<()> {
        match from {
            // 1 → 2: events gained the de-duplication key they were stored under, so that
            // pruning removes the key with the event. Older events get it back from the
            // key index (key → seq).
            1 => {
                for entry in self.event_keys.iter() {
                    let (key, seq) = entry?;
                    let seq: [u8; 8] = seq
                        .as_ref()
                        .try_into()
                        .map_err(|_| StoreError::Corrupt("event key index".into()))?;
                    let Some(raw) = self.events.get(seq)? else {
                        continue;
                    };
                    let mut event: StoredEvent = decode(&raw)?;
                    if event.key.is_empty() {
                        event.key = String::from_utf8_lossy(&key).into_owned().into();
                        self.events.insert(seq, encode(&event))?;
                    }
                }
                Ok(())
            }
            // 2 → 3: HubSpot webhook events are queued as parsed at the webhook
            // (`Job::HubSpotEvent`) instead of as raw JSON (`Job::Inbound`). Nothing is
            // rewritten: items of the old form stay readable and are parsed when processed.
            // The version says that an older handoff cannot read this store's queue.
            2 => Ok(()),
            // 3 → 4: sessions remember their inbox (several can be connected). The one
            // account an older store has becomes the default: each session gets the inbox
            // of the account it published through, or of the one account there is. The
            // HubSpot queue may now hold `fill_ticket` jobs, which an older handoff cannot
            // read.
            3 => self.give_sessions_their_inbox(),
            other => Err(StoreError::Schema(format!(
                "no migration from schema version {other}"
            ))),
        }
    }

    fn give_sessions_their_inbox(&self) -> Result<()> {
        let mut accounts = Vec::new();
        for entry in self.settings.scan_prefix(KEY_ACCOUNT) {
            let record: ChannelAccountRecord = decode(&entry?.1)?;
            accounts.push(record);
        }
        let only = match accounts.as_slice() {
            [one] => Some(one.inbox_id.clone()),
            _ => None,
        };
        for entry in self.sessions.iter() {
            let (key, value) = entry?;
            let mut session: Session = decode(&value)?;
            if session.inbox_id.is_some() {
                continue;
            }
            let of_account = session.channel_account_id.as_ref().and_then(|id| {
                accounts
                    .iter()
                    .find(|a| &a.id == id)
                    .map(|a| a.inbox_id.clone())
            });
            session.inbox_id = of_account.or_else(|| only.clone());
            if session.inbox_id.is_some() {
                self.sessions.insert(key, encode(&session))?;
            }
        }
        Ok(())
    }

    pub(crate) fn session_lock(&self, session_id: &str) -> MutexGuard<'_, ()> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        session_id.hash(&mut hasher);
        self.session_locks[(hasher.finish() as usize) % SESSION_LOCKS].lock()
    }

    /// Waits until everything written before the call is on disk (group commit).
    pub(crate) async fn flush(&self) -> Result<()> {
        self.flusher.flush().await.map_err(StoreError::Flush)
    }

    /// Flushes from a blocking context (shutdown).
    pub(crate) fn flush_blocking(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }

    /// A cheap liveness probe for `/healthz`.
    pub(crate) fn check(&self) -> Result<()> {
        self.meta.get("schema_version")?;
        Ok(())
    }

    // ---- settings ----

    pub fn oauth_state(&self) -> Result<Option<OAuthState>> {
        get_json(&self.settings, KEY_OAUTH)
    }

    pub(crate) fn set_oauth_state(&self, state: &OAuthState) -> Result<()> {
        let _gate = self.write_gate();
        put_json(&self.settings, KEY_OAUTH, state)
    }

    pub(crate) fn wizard_settings(&self) -> Result<WizardSettings> {
        Ok(get_json(&self.settings, KEY_WIZARD)?.unwrap_or_default())
    }

    pub(crate) fn set_wizard_settings(&self, settings: &WizardSettings) -> Result<()> {
        let _gate = self.write_gate();
        put_json(&self.settings, KEY_WIZARD, settings)
    }

    /// The admin password's Argon2 hash (PHC string), once the first-run step set it.
    pub(crate) fn admin_password_hash(&self) -> Result<Option<String>> {
        get_json(&self.settings, KEY_ADMIN_PASSWORD)
    }

    pub(crate) fn set_admin_password_hash(&self, hash: &str) -> Result<()> {
        let _gate = self.write_gate();
        put_json(&self.settings, KEY_ADMIN_PASSWORD, &hash)
    }

    /// A random 32-byte key kept in the store (made on first use, flushed at once), for
    /// signing links handoff hands out.
    pub(crate) fn signing_key(&self, name: &str) -> Result<Vec<u8>> {
        let _gate = self.write_gate();
        let key = format!("key.{name}");
        if let Some(existing) = self.settings.get(&key)? {
            return Ok(existing.to_vec());
        }
        let fresh: [u8; 32] = rand::random();
        self.settings.insert(key, &fresh)?;
        self.db.flush()?;
        Ok(fresh.to_vec())
    }

    pub(crate) fn channel(&self) -> Result<Option<ChannelRecord>> {
        get_json(&self.settings, KEY_CHANNEL)
    }

    pub(crate) fn set_channel(&self, channel: &ChannelRecord) -> Result<()> {
        let _gate = self.write_gate();
        put_json(&self.settings, KEY_CHANNEL, channel)
    }

    /// HubSpot told us the channel account for `account_id` was deleted.
    pub(crate) fn set_account_purged(&self, account_id: &str, purged: bool) -> Result<()> {
        let _gate = self.write_gate();
        let key = format!("hubspot.account_purged.{account_id}");
        if purged {
            put_json(&self.settings, key, &true)
        } else {
            self.settings.remove(key)?;
            Ok(())
        }
    }

    pub(crate) fn account_purged(&self, account_id: &str) -> Result<bool> {
        self.injected()?;
        Ok(get_json::<bool>(
            &self.settings,
            format!("hubspot.account_purged.{account_id}"),
        )?
        .unwrap_or(false))
    }

    pub(crate) fn forget_channel(&self) -> Result<()> {
        let _gate = self.write_gate();
        self.settings.remove(KEY_CHANNEL)?;
        Ok(())
    }

    pub(crate) fn channel_account(&self, inbox_id: &str) -> Result<Option<ChannelAccountRecord>> {
        get_json(&self.settings, format!("{KEY_ACCOUNT}{inbox_id}"))
    }

    pub(crate) fn set_channel_account(&self, account: &ChannelAccountRecord) -> Result<()> {
        let _gate = self.write_gate();
        put_json(
            &self.settings,
            format!("{KEY_ACCOUNT}{}", account.inbox_id),
            account,
        )
    }
}

/// The thread index's key of a HubSpot thread.
fn thread_key(thread_id: &str) -> String {
    format!("hs:{thread_id}")
}

fn create_private_dir(dir: &Path) -> Result<()> {
    let fail = |error| StoreError::DataDir {
        path: dir.display().to_string(),
        error,
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(fail)?;
    }
    Ok(())
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("store records always serialize")
}

fn get_json<T: DeserializeOwned>(tree: &sled::Tree, key: impl AsRef<[u8]>) -> Result<Option<T>> {
    tree.get(key)?.map(|v| decode(&v)).transpose()
}

fn put_json<T: Serialize>(tree: &sled::Tree, key: impl AsRef<[u8]>, value: &T) -> Result<()> {
    tree.insert(key.as_ref(), encode(value))?;
    Ok(())
}

/// Opens what a handle just dropped held. sled's background flusher lets go of the file
/// lock a moment after the drop (CI once failed with "could not acquire lock" here), so a
/// lock error is retried for up to three seconds.
#[cfg(test)]
pub(crate) fn when_unlocked<T, E: std::fmt::Display>(
    open: impl Fn() -> std::result::Result<T, E>,
) -> std::result::Result<T, E> {
    for _ in 0..300 {
        match open() {
            Err(e) if e.to_string().contains("could not acquire lock") => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            opened => return opened,
        }
    }
    open()
}

#[cfg(test)]
impl Store {
    /// `Store::open` of a store whose last handle was just dropped.
    pub(crate) fn reopen(dir: &Path) -> Result<Store> {
        when_unlocked(|| Store::open(dir, 8))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_dir_is_private_and_schema_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        let store = Store::open(&path, 8).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        store.check().unwrap();
        drop(store);
        // A store from a newer handoff is refused, not misread.
        let db = when_unlocked(|| sled::open(path.join("store"))).unwrap();
        db.open_tree("meta")
            .unwrap()
            .insert("schema_version", &(SCHEMA_VERSION + 1).to_be_bytes())
            .unwrap();
        db.flush().unwrap();
        drop(db);
        let err = Store::reopen(&path).err().expect("newer schema refused");
        assert!(err.to_string().contains("newer"), "{err}");
    }

    #[test]
    fn a_store_written_by_schema_1_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        std::fs::create_dir_all(&path).unwrap();
        // What handoff with schema 1 wrote: an event without its key, the key index.
        let db = sled::open(path.join("store")).unwrap();
        db.open_tree("meta")
            .unwrap()
            .insert("schema_version", &1u64.to_be_bytes())
            .unwrap();
        let old = serde_json::json!({
            "seq": 7,
            "event": {"id": "evt_1", "type": "session.opened", "sessionId": "ses_1",
                      "createdAt": "2020-01-01T00:00:00.000Z", "data": {}},
            "hubspot_message": null
        });
        db.open_tree("events")
            .unwrap()
            .insert(7u64.to_be_bytes(), serde_json::to_vec(&old).unwrap())
            .unwrap();
        db.open_tree("event_keys")
            .unwrap()
            .insert("opened:ses_1", &7u64.to_be_bytes())
            .unwrap();
        db.flush().unwrap();
        drop(db);

        let store = Store::reopen(&path).unwrap();
        let version = store.meta.get("schema_version").unwrap().unwrap();
        assert_eq!(version.as_ref(), SCHEMA_VERSION.to_be_bytes());
        assert_eq!(
            store.event(7).unwrap().unwrap().key.as_str(),
            "opened:ses_1"
        );
        // What the migration is for: pruning now takes the key with the event.
        assert_eq!(store.prune_events(chrono::Utc::now()).unwrap(), 1);
        assert!(!store.event_keys.contains_key("opened:ses_1").unwrap());
        drop(store);
        // Opening again changes nothing.
        let again = Store::reopen(&path).unwrap();
        assert!(again.event(7).unwrap().is_none());
    }

    #[test]
    fn a_store_written_by_schema_2_keeps_its_queued_webhook_events() {
        use crate::hubspot::inbound::{parse_app_event, parse_channel_event, queued_event};
        use crate::relay::{HubSpotEvent, InboundJob};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        std::fs::create_dir_all(&path).unwrap();
        // What handoff with schema 2 queued for a webhook: the raw event and its source.
        let channel = serde_json::json!({"type": "OUTGOING_CHANNEL_MESSAGE_CREATED",
            "channelIntegrationThreadIds": ["handoff-x"],
            "message": {"id": "m1", "channelId": 7, "text": "hi",
                        "senders": [{"actorId": "A-1", "name": "Sam"}]}});
        let app = serde_json::json!({"subscriptionType": "conversation.propertyChange",
            "objectId": 42, "propertyName": "status", "propertyValue": "CLOSED", "occurredAt": 1});
        let old_item = |key: &str, source: &str, event: &serde_json::Value| {
            serde_json::json!({"lane": "ses_1",
                "job": {"kind": "inbound", "key": key, "event": {"source": source, "event": event}},
                "enqueued_at": 5, "attempts": 0, "not_before": 5, "last_error": null,
                "first_failure_at": null})
        };
        let db = sled::open(path.join("store")).unwrap();
        db.open_tree("meta")
            .unwrap()
            .insert("schema_version", &2u64.to_be_bytes())
            .unwrap();
        let tree = db.open_tree("outbox_inbound").unwrap();
        for (seq, item) in [
            old_item("msg:m1", "channel", &channel),
            old_item("app:x", "app", &app),
        ]
        .iter()
        .enumerate()
        {
            let key = crate::outbox::ItemKey::new("ses_1", seq as u64);
            tree.insert(key.as_bytes(), serde_json::to_vec(item).unwrap())
                .unwrap();
        }
        db.flush().unwrap();
        drop((tree, db));

        let store = Store::reopen(&path).unwrap();
        let version = store.meta.get("schema_version").unwrap().unwrap();
        assert_eq!(version.as_ref(), SCHEMA_VERSION.to_be_bytes());
        assert_eq!(store.outbox_len(Queue::Inbound), 2);
        let items: Vec<_> = store
            .outbox_inbound
            .iter()
            .map(|e| decode::<crate::outbox::OutboxItem<InboundJob>>(&e.unwrap().1).unwrap())
            .collect();
        // Each old item reads, and yields what parsing it at the webhook would have.
        let (key, parsed) = queued_event(&items[0].job);
        assert_eq!(key.as_str(), "msg:m1");
        assert_eq!(parsed, parse_channel_event(&channel));
        assert!(matches!(parsed, HubSpotEvent::AgentMessage(ref m) if m.message_id == "m1"));
        let (key, parsed) = queued_event(&items[1].job);
        assert_eq!(key.as_str(), "app:x");
        assert_eq!(parsed, parse_app_event(&app));
        // A new item of the same event is the parsed form, and yields the same.
        let job = InboundJob::HubSpotEvent {
            key: crate::relay::EventKey::agent_message("m1"),
            event: parse_channel_event(&channel),
        };
        let again: InboundJob = decode(&encode(&job)).unwrap();
        assert_eq!(queued_event(&again).1, queued_event(&items[0].job).1);
    }

    #[test]
    fn a_store_written_by_schema_3_gives_its_sessions_the_one_inbox() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        std::fs::create_dir_all(&path).unwrap();
        // What handoff with schema 3 kept: one channel account, a session published through
        // it and one not yet published, neither with an inbox.
        let session = |id: &str, account: Option<&str>| {
            serde_json::json!({"id": id, "user_id": "usr_1", "status": "open", "title": null,
                "description": null, "external_id": null, "idempotency_key": null,
                "hubspot_thread_id": null, "channel_account_id": account, "agent": null,
                "created_at": "2026-12-01T00:00:00Z", "closed_at": null, "closed_by": null,
                "failure": null})
        };
        let db = sled::open(path.join("store")).unwrap();
        db.open_tree("meta")
            .unwrap()
            .insert("schema_version", &3u64.to_be_bytes())
            .unwrap();
        let account =
            serde_json::json!({"id": "acc_1", "channel_id": "ch_1", "inbox_id": "481939"});
        db.open_tree("settings")
            .unwrap()
            .insert(
                "hubspot.account.481939",
                serde_json::to_vec(&account).unwrap(),
            )
            .unwrap();
        let sessions = db.open_tree("sessions").unwrap();
        for (id, account) in [("ses_a", Some("acc_1")), ("ses_b", None)] {
            sessions
                .insert(id, serde_json::to_vec(&session(id, account)).unwrap())
                .unwrap();
        }
        db.flush().unwrap();
        drop((sessions, db));

        let store = Store::reopen(&path).unwrap();
        let version = store.meta.get("schema_version").unwrap().unwrap();
        assert_eq!(version.as_ref(), SCHEMA_VERSION.to_be_bytes());
        for id in ["ses_a", "ses_b"] {
            let s = store.session(id).unwrap().unwrap();
            assert_eq!(s.inbox_id.as_deref(), Some("481939"), "{id}");
        }
        assert_eq!(
            store.channel_account("481939").unwrap().unwrap().id,
            "acc_1",
            "the account is kept, as the default inbox's"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_flushes_all_complete() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 8).unwrap();
        let mut tasks = Vec::new();
        for i in 0..64 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .set_channel(&ChannelRecord {
                        id: i.to_string(),
                        webhook_url: "u".into(),
                        created_at: chrono::Utc::now(),
                    })
                    .unwrap();
                store.flush().await.unwrap();
            }));
        }
        for t in tasks {
            tokio::time::timeout(std::time::Duration::from_secs(10), t)
                .await
                .expect("flush finished")
                .unwrap();
        }
    }
}

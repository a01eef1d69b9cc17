//! All mutable state of one fake portal, behind one mutex.
//!
//! Objects are kept in the JSON shape HubSpot returns (`serde_json::Map`), so
//! PATCH is a merge and GET is a clone. Threads keep typed fields because
//! the agent-console hooks (`console.rs`: reply, assign, close) reach them: a
//! channel's `webhookUrl`, the thread's channel/account and its
//! `integration_thread_id` are everything an `OUTGOING_CHANNEL_MESSAGE_CREATED`
//! event needs.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::faults::{Faults, RateWindow};
use super::files::FileRec;
use super::sender::{SentWebhook, WebhookCfg};
use super::{FakeConfig, RequestRecord, Thread};

pub(super) struct Shared {
    pub state: parking_lot::Mutex<State>,
    pub base_url: String,
    /// The runtime that started the fake: background webhooks (the close
    /// echo) are sent from it, like the ones the test hooks send.
    pub runtime: tokio::runtime::Handle,
    /// The webhook sender's client, built on first use.
    pub http: OnceLock<reqwest::Client>,
    /// Key of the fake's signed file URLs.
    pub file_key: [u8; 32],
}

/// Counters per ID kind, in disjoint ranges so a client mixing up a thread
/// ID with a channel-account ID hits a 404 instead of a lucky match.
#[derive(Debug)]
pub(super) struct Ids {
    channel: u64,
    account: u64,
    thread: u64,
    contact: u64,
    visitor: u64,
    subscription: u64,
    file: u64,
    event: u64,
}

impl Default for Ids {
    fn default() -> Self {
        Ids {
            channel: 2_930_388,
            account: 3_307_400_689,
            thread: 6_065_362_089,
            contact: 37_765_128_953,
            visitor: 1_401_001,
            subscription: 2_371_671,
            file: 122_692_044_085,
            event: 3_269_195_544,
        }
    }
}

fn bump(counter: &mut u64) -> String {
    *counter += 1;
    counter.to_string()
}

impl Ids {
    pub fn channel(&mut self) -> String {
        bump(&mut self.channel)
    }
    pub fn account(&mut self) -> String {
        bump(&mut self.account)
    }
    pub fn thread(&mut self) -> String {
        bump(&mut self.thread)
    }
    pub fn contact(&mut self) -> String {
        bump(&mut self.contact)
    }
    pub fn visitor(&mut self) -> String {
        bump(&mut self.visitor)
    }
    pub fn subscription(&mut self) -> u64 {
        self.subscription += 1;
        self.subscription
    }
    pub fn file(&mut self) -> String {
        bump(&mut self.file)
    }
    /// App-webhook `eventId`s (numbers).
    pub fn event(&mut self) -> u64 {
        self.event += 1;
        self.event
    }
}

/// 32 lowercase hex characters, like HubSpot message IDs.
pub(super) fn message_id() -> String {
    let b: [u8; 16] = rand::random();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub(super) struct ChannelRec {
    pub id: String,
    /// The public `PublicChannelIntegrationChannel` object.
    pub json: Map<String, Value>,
    pub archived: bool,
    /// Eventual consistency: list calls still to skip this channel.
    pub hidden_lists_left: u32,
}

pub(super) struct AccountRec {
    pub id: String,
    pub channel_id: String,
    /// The public `PublicChannelAccount` object (includes `archived`).
    pub json: Map<String, Value>,
}

impl AccountRec {
    pub fn archived(&self) -> bool {
        self.json.get("archived").and_then(Value::as_bool) == Some(true)
    }
}

pub(super) struct ThreadRec {
    pub id: String,
    pub channel_id: String,
    pub channel_account_id: String,
    pub inbox_id: String,
    pub integration_thread_id: String,
    pub status: String,
    pub created_at: String,
    pub closed_at: Option<String>,
    /// A CRM contact, when the publish named one.
    pub contact_id: Option<String>,
    /// What `associatedContactId` shows while no contact is known.
    pub visitor_id: String,
    pub assigned_to: Option<String>,
    pub archived: bool,
    pub latest_message_at: Option<String>,
    pub latest_received_at: Option<String>,
    pub latest_sent_at: Option<String>,
    pub message_ids: Vec<String>,
    /// Accepted publish bodies merged with the public message (ids etc.).
    pub published: Vec<Value>,
}

impl ThreadRec {
    pub fn associated_contact_id(&self) -> &str {
        self.contact_id.as_deref().unwrap_or(&self.visitor_id)
    }

    pub fn snapshot(&self) -> Thread {
        Thread {
            id: self.id.clone(),
            integration_thread_id: self.integration_thread_id.clone(),
            channel_id: self.channel_id.clone(),
            channel_account_id: self.channel_account_id.clone(),
            inbox_id: self.inbox_id.clone(),
            status: self.status.clone(),
            associated_contact_id: self.contact_id.clone(),
            visitor_id: self.visitor_id.clone(),
            assigned_to: self.assigned_to.clone(),
            messages: self.published.clone(),
        }
    }
}

pub(super) struct MessageRec {
    pub channel_id: String,
    pub thread_id: String,
    /// The public `PublicConversationsMessage` object.
    pub json: Value,
}

pub(super) struct ContactRec {
    pub id: String,
    pub properties: Map<String, Value>,
    pub created_at: String,
    /// For the optional search-visibility delay.
    pub created: Instant,
}

#[derive(Default)]
pub(super) struct OAuthState {
    /// Authorization code → redirect_uri it was issued for (single use).
    pub codes: HashMap<String, String>,
    pub access: HashMap<String, AccessRec>,
    pub refresh: HashMap<String, RefreshRec>,
    pub token_requests: usize,
    pub rotate_refresh_tokens: bool,
}

pub(super) struct AccessRec {
    pub hub_id: u64,
    pub expires_at: DateTime<Utc>,
}

pub(super) struct RefreshRec {
    pub hub_id: u64,
    pub revoked: bool,
}

pub(super) struct State {
    pub cfg: FakeConfig,
    pub ids: Ids,
    pub oauth: OAuthState,
    pub faults: Faults,
    /// Per-portal 10 s windows and (separately) the search 1 s windows.
    pub windows: HashMap<u64, RateWindow>,
    pub search_windows: HashMap<u64, RateWindow>,
    pub channels: Vec<ChannelRec>,
    pub accounts: Vec<AccountRec>,
    pub threads: Vec<ThreadRec>,
    /// (channelAccountId, integrationThreadId) → thread id of the live thread.
    pub thread_keys: HashMap<(String, String), String>,
    pub messages: HashMap<String, MessageRec>,
    /// (channelAccountId, integrationIdempotencyId) → message id.
    pub idempotency: HashMap<(String, String), String>,
    pub contacts: Vec<ContactRec>,
    pub inboxes: Vec<Value>,
    pub actors: Vec<Value>,
    pub webhook_settings: Option<Value>,
    pub subscriptions: Vec<Value>,
    pub requests: Vec<RequestRecord>,
    pub publish_attempts: usize,
    pub rate_limited: usize,
    /// How the fake sends webhooks (retries, duplicates, echo, shapes).
    pub webhook: WebhookCfg,
    /// Every webhook the fake sent (or had nowhere to send), in completion order.
    pub sent_webhooks: Vec<SentWebhook>,
    pub files: Vec<FileRec>,
    /// Message id → (statusType, errorMessage) of the last status PATCH.
    pub message_statuses: HashMap<String, (String, Option<String>)>,
}

impl State {
    pub fn new(cfg: FakeConfig) -> Self {
        State {
            cfg,
            ids: Ids::default(),
            oauth: OAuthState::default(),
            faults: Faults::default(),
            windows: HashMap::new(),
            search_windows: HashMap::new(),
            channels: Vec::new(),
            accounts: Vec::new(),
            threads: Vec::new(),
            thread_keys: HashMap::new(),
            messages: HashMap::new(),
            idempotency: HashMap::new(),
            contacts: Vec::new(),
            inboxes: super::conversations::seed_inboxes(),
            actors: super::conversations::seed_actors(),
            webhook_settings: None,
            subscriptions: Vec::new(),
            requests: Vec::new(),
            publish_attempts: 0,
            rate_limited: 0,
            webhook: WebhookCfg::default(),
            sent_webhooks: Vec::new(),
            files: Vec::new(),
            message_statuses: HashMap::new(),
        }
    }

    pub fn channel(&self, id: &str) -> Option<&ChannelRec> {
        self.channels.iter().find(|c| c.id == id && !c.archived)
    }

    pub fn channel_mut(&mut self, id: &str) -> Option<&mut ChannelRec> {
        self.channels.iter_mut().find(|c| c.id == id && !c.archived)
    }

    pub fn account(&self, channel_id: &str, id: &str) -> Option<&AccountRec> {
        self.accounts
            .iter()
            .find(|a| a.id == id && a.channel_id == channel_id)
    }

    pub fn thread(&self, id: &str) -> Option<&ThreadRec> {
        self.threads.iter().find(|t| t.id == id)
    }

    pub fn thread_mut(&mut self, id: &str) -> Option<&mut ThreadRec> {
        self.threads.iter_mut().find(|t| t.id == id)
    }

    pub fn contact(&self, id: &str) -> Option<&ContactRec> {
        self.contacts.iter().find(|c| c.id == id)
    }

    pub fn file(&self, id: &str) -> Option<&FileRec> {
        self.files.iter().find(|f| f.id == id)
    }

    pub fn inbox(&self, id: &str) -> Option<&Value> {
        self.inboxes.iter().find(|i| i["id"] == id)
    }
}

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
use super::{FakeConfig, RequestRecord, Thread, TicketTiming};

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
    inbox: u64,
    ticket: u64,
    user: u64,
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
            inbox: 273_071_900,
            ticket: 57_774_743,
            user: 207_838_823,
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
    pub fn inbox(&mut self) -> String {
        bump(&mut self.inbox)
    }
    pub fn ticket(&mut self) -> String {
        bump(&mut self.ticket)
    }
    /// Users API object ids (not HubSpot user ids, §13.12).
    pub fn user(&mut self) -> String {
        bump(&mut self.user)
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
    /// For the Help Desk ticket delay.
    pub created: Instant,
    /// The Help Desk ticket, once the fake created it (§13.9).
    pub ticket_id: Option<String>,
    /// Served `GET …/threads/{id}?association=ticket` calls.
    pub ticket_polls: u32,
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
            ticket_id: self.ticket_id.clone(),
            ticket_polls: self.ticket_polls,
        }
    }
}

pub(super) struct MessageRec {
    pub channel_id: String,
    pub thread_id: String,
    /// The public `PublicConversationsMessage` object.
    pub json: Value,
}

pub(super) struct TicketRec {
    pub id: String,
    /// The conversation thread the Help Desk opened it for.
    pub thread_id: Option<String>,
    pub properties: Map<String, Value>,
    pub created_at: String,
    /// Associated contacts, in the order they were associated.
    pub contact_ids: Vec<String>,
}

pub(super) struct UserRec {
    /// Users API object id (`hs_object_id`), local to the account.
    pub id: String,
    pub properties: Map<String, Value>,
    pub created_at: String,
}

impl UserRec {
    pub fn internal_id(&self) -> Option<&str> {
        self.properties
            .get("hs_internal_user_id")
            .and_then(Value::as_str)
    }
}

pub(super) struct ContactRec {
    pub id: String,
    pub properties: Map<String, Value>,
    pub created_at: String,
    /// For the optional search-visibility delay.
    pub created: Instant,
}

pub(super) struct OAuthState {
    /// Authorization code → redirect_uri it was issued for (single use).
    pub codes: HashMap<String, String>,
    pub access: HashMap<String, AccessRec>,
    pub refresh: HashMap<String, RefreshRec>,
    pub token_requests: usize,
    pub rotate_refresh_tokens: bool,
    /// What the portal granted the app: tokens minted from now on carry it.
    pub granted: Vec<String>,
}

impl Default for OAuthState {
    fn default() -> Self {
        OAuthState {
            codes: HashMap::new(),
            access: HashMap::new(),
            refresh: HashMap::new(),
            token_requests: 0,
            rotate_refresh_tokens: false,
            granted: super::oauth::SCOPES.iter().map(|s| s.to_string()).collect(),
        }
    }
}

pub(super) struct AccessRec {
    pub hub_id: u64,
    pub expires_at: DateTime<Utc>,
    /// A call needing a scope not in here answers 403 MISSING_SCOPES (§9.1).
    pub scopes: Vec<String>,
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
    /// Contact properties a create may name besides the built-in ones.
    pub extra_contact_properties: Vec<String>,
    pub tickets: Vec<TicketRec>,
    /// Thread id or integration thread id → its own ticket timing.
    pub ticket_timing_overrides: HashMap<String, TicketTiming>,
    /// Options of `hs_ticket_priority` (§13.9: editable per portal).
    pub ticket_priorities: Vec<String>,
    /// Pipeline id → its stage ids, in order.
    pub ticket_pipelines: Vec<(String, Vec<String>)>,
    pub users: Vec<UserRec>,
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
        let mut st = State {
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
            extra_contact_properties: Vec::new(),
            tickets: Vec::new(),
            ticket_timing_overrides: HashMap::new(),
            ticket_priorities: ["LOW", "MEDIUM", "HIGH"].map(String::from).to_vec(),
            ticket_pipelines: vec![("0".into(), ["1", "2", "3", "4"].map(String::from).to_vec())],
            users: Vec::new(),
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
        };
        super::users::seed_users(&mut st);
        st
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

    pub fn ticket(&self, id: &str) -> Option<&TicketRec> {
        self.tickets.iter().find(|t| t.id == id)
    }

    pub fn ticket_mut(&mut self, id: &str) -> Option<&mut TicketRec> {
        self.tickets.iter_mut().find(|t| t.id == id)
    }

    pub fn file(&self, id: &str) -> Option<&FileRec> {
        self.files.iter().find(|f| f.id == id)
    }

    pub fn inbox(&self, id: &str) -> Option<&Value> {
        self.inboxes.iter().find(|i| i["id"] == id)
    }
}

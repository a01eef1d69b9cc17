//! A fake HubSpot: a real, stateful actix-web server implementing the parts of
//! HubSpot that handoff talks to (see `shared/hubspot-api.md`): OAuth, Custom
//! Channels, Conversations, CRM contacts, Help Desk tickets and their
//! associations, the Users API (agent availability) and the Webhooks settings
//! API, with HubSpot's error envelope, rate-limit window, per-token scopes
//! (403 MISSING_SCOPES) and hooks to fail on command.
//!
//! Several inboxes (INBOX and HELP_DESK, `add_inbox`) take channel accounts;
//! a thread in a HELP_DESK inbox gets a ticket after a configurable number of
//! polls or delay (`TicketTiming`, `tickets.rs`); test controls for these are
//! in `helpdesk.rs`.
//!
//! This directory is copied verbatim into other crates (tests, benches via
//! `#[path]`), so it uses no `crate::` paths: siblings only through `super::`.
//!
//! It also calls the app like HubSpot does (`sender.rs`, hooks in
//! `console.rs`): agent replies as signed `OUTGOING_CHANNEL_MESSAGE_CREATED`
//! events to the channel's `webhookUrl`, assignments and closes as signed
//! app-webhook arrays to the settings' `targetUrl`, with retries, duplicates
//! and the echo of the app's own closes; and it serves the Files API with
//! signed download URLs (`files.rs`).

// Included as a private module of test/bench binaries, where every public
// hook a given binary doesn't call would otherwise be reported as dead code.
#![allow(dead_code)]

mod channels;
mod console;
mod contacts;
mod conversations;
mod errors;
mod faults;
mod files;
mod guard;
mod helpdesk;
mod identifiers;
mod messages;
mod oauth;
mod sender;
mod server;
mod state;
mod tickets;
mod users;
mod util;
mod webhooks;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use serde_json::{Map, Value, json};

use self::faults::Injected;
use self::state::{Shared, State};

// Unused in binaries that include this directory privately and never send.
#[allow(unused_imports)]
pub use self::sender::{SentWebhook, WebhookKind, WebhookResult};
#[allow(unused_imports)]
pub use self::users::UserAvailability;

/// What a publish with an already-seen `integrationIdempotencyId` answers
/// (HubSpot's behaviour is undocumented, §2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DuplicateMode {
    /// 200 with the originally created message.
    #[default]
    ReturnOriginal,
    /// 409 CONFLICT naming the original message id.
    Conflict409,
}

/// What publishing to the `integrationThreadId` of a CLOSED thread does
/// (undocumented, §2.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClosedThreadMode {
    /// The same thread becomes OPEN again.
    #[default]
    Reopen,
    /// A new thread is started under the same integration thread id.
    NewThread,
}

/// When the fake creates the ticket of a thread in a HELP_DESK inbox
/// (§13.9: "automatically", found by a client ~5 s after the publish).
/// Threads in INBOX inboxes never get one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketTiming {
    /// The first `n` served `GET …/threads/{id}?association=ticket` calls
    /// answer without it; it exists once they were answered (0 = at once).
    AfterPolls(u32),
    /// This long after the thread was created.
    AfterDelay(Duration),
    Never,
}

impl Default for TicketTiming {
    /// "A few seconds".
    fn default() -> Self {
        TicketTiming::AfterDelay(Duration::from_secs(3))
    }
}

#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// `expires_in` of minted access tokens.
    pub token_lifetime_secs: u64,
    /// Rolling 10 s window per portal over Bearer calls; None = unlimited.
    pub rate_limit_per_10s: Option<u32>,
    pub duplicate_publish: DuplicateMode,
    /// A new channel is missing from the next N list calls (§10.2).
    pub hide_new_channels_for_lists: u32,
    /// CRM search's own per-second limit (§7); None = unlimited.
    pub search_rate_limit_per_sec: Option<u32>,
    pub closed_thread_publish: ClosedThreadMode,
    /// Reject senders/recipients whose identifier type the channel did not
    /// declare in `deliveryIdentifierTypes` (unknown whether HubSpot does).
    pub enforce_channel_identifier_types: bool,
    /// New contacts become searchable only after this long (§7).
    pub contact_search_delay: Duration,
    /// When Help Desk tickets appear (per thread: `set_ticket_timing_for`).
    pub ticket_timing: TicketTiming,
    /// A new ticket is associated with the thread's contact by HubSpot itself
    /// (undocumented; off, so the app has to associate it).
    pub ticket_auto_associates_contact: bool,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            token_lifetime_secs: 1800,
            rate_limit_per_10s: Some(110),
            duplicate_publish: DuplicateMode::ReturnOriginal,
            hide_new_channels_for_lists: 0,
            search_rate_limit_per_sec: Some(5),
            closed_thread_publish: ClosedThreadMode::Reopen,
            enforce_channel_identifier_types: false,
            contact_search_delay: Duration::ZERO,
            ticket_timing: TicketTiming::default(),
            ticket_auto_associates_contact: false,
        }
    }
}

/// Snapshot of a conversation thread.
#[derive(Debug, Clone)]
pub struct Thread {
    pub id: String,
    pub integration_thread_id: String,
    pub channel_id: String,
    pub channel_account_id: String,
    pub inbox_id: String,
    /// "OPEN" or "CLOSED".
    pub status: String,
    /// The CRM contact, if one was named; the API then shows it as
    /// `associatedContactId`, otherwise it shows `visitor_id`.
    pub associated_contact_id: Option<String>,
    pub visitor_id: String,
    pub assigned_to: Option<String>,
    /// Accepted publish bodies merged with the public message (ids etc.), in order.
    pub messages: Vec<Value>,
    /// The Help Desk ticket, once created.
    pub ticket_id: Option<String>,
    /// Served `GET …/threads/{id}?association=ticket` calls so far.
    pub ticket_polls: u32,
}

/// Snapshot of a ticket.
#[derive(Debug, Clone)]
pub struct Ticket {
    pub id: String,
    /// The thread whose Help Desk inbox opened it.
    pub thread_id: Option<String>,
    /// Every property set (`subject`, `content`, `hs_pipeline`,
    /// `hs_pipeline_stage`, `hs_ticket_priority`, …), as the API stores them.
    pub properties: Map<String, Value>,
    /// Associated contacts, in the order they were associated.
    pub contact_ids: Vec<String>,
}

impl Ticket {
    /// One property as a string, if set.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties.get(name).and_then(Value::as_str)
    }
}

#[derive(Debug, Clone)]
pub struct RequestRecord {
    pub method: String,
    /// Path as sent (before trailing-slash normalisation), without query.
    pub path: String,
    /// The raw query string ("" when none).
    pub query: String,
    pub status: u16,
    /// Arrival time.
    pub at: Instant,
    pub authenticated: bool,
}

pub struct FakeHubSpot {
    url: String,
    shared: Arc<Shared>,
    handle: ServerHandle,
    refresh_token: String,
}

impl FakeHubSpot {
    pub const CLIENT_ID: &'static str = "5f0e8b9c-1d2e-4f3a-8b4c-5d6e7f8a9b0c";
    pub const CLIENT_SECRET: &'static str = "0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d";
    pub const APP_ID: &'static str = "3000001";
    pub const DEVELOPER_API_KEY: &'static str = "dev-7c1e2f3a-9b8d-4c6e-a5f4-3b2a1c0d9e8f";
    pub const PORTAL_ID: u64 = 12_345_678;
    pub const INBOX_ID: &'static str = "481939";
    pub const HELP_DESK_ID: &'static str = "273071781";

    /// Binds 127.0.0.1 on a free port and serves until dropped.
    pub async fn start(cfg: FakeConfig) -> FakeHubSpot {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake HubSpot");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared {
            state: parking_lot::Mutex::new(State::new(cfg)),
            base_url: url.clone(),
            runtime: tokio::runtime::Handle::current(),
            http: std::sync::OnceLock::new(),
            file_key: rand::random(),
        });
        let handle = server::spawn(shared.clone(), listener).expect("start fake HubSpot");
        let refresh_token = shared.state.lock().oauth.mint_refresh(Self::PORTAL_ID);
        FakeHubSpot {
            url,
            shared,
            handle,
            refresh_token,
        }
    }

    /// Base URL for both `api_base` and the OAuth `app_base`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(self) {
        self.handle.stop(false).await;
    }

    fn state(&self) -> parking_lot::MutexGuard<'_, State> {
        self.shared.state.lock()
    }

    // --- credentials -------------------------------------------------------

    /// The refresh token minted at start.
    pub fn refresh_token(&self) -> String {
        self.refresh_token.clone()
    }

    pub fn mint_refresh_token(&self) -> String {
        self.state().oauth.mint_refresh(Self::PORTAL_ID)
    }

    /// A valid access token without going through the token endpoint.
    pub fn mint_access_token(&self) -> String {
        let mut st = self.state();
        let lifetime = st.cfg.token_lifetime_secs;
        st.oauth.mint_access(Self::PORTAL_ID, lifetime)
    }

    // --- seeding -----------------------------------------------------------

    /// Adds a CRM contact; returns its id.
    pub fn add_contact(&self, email: Option<&str>, phone: Option<&str>, firstname: &str) -> String {
        let mut props = Map::new();
        props.insert("firstname".into(), json!(firstname));
        if let Some(e) = email {
            props.insert("email".into(), json!(e));
        }
        if let Some(p) = phone {
            props.insert("phone".into(), json!(p));
        }
        contacts::insert_contact(&mut self.state(), props).0
    }

    // --- inspection (snapshots) --------------------------------------------

    /// Non-archived channels as HubSpot returns them (ignores list hiding).
    pub fn channels(&self) -> Vec<Value> {
        let st = self.state();
        st.channels
            .iter()
            .filter(|c| !c.archived)
            .map(|c| Value::Object(c.json.clone()))
            .collect()
    }

    /// All channel accounts, archived ones included (see their `archived`).
    pub fn channel_accounts(&self) -> Vec<Value> {
        let st = self.state();
        st.accounts
            .iter()
            .map(|a| Value::Object(a.json.clone()))
            .collect()
    }

    pub fn threads(&self) -> Vec<Thread> {
        self.state().threads.iter().map(|t| t.snapshot()).collect()
    }

    /// The most recent thread with that integration thread id.
    pub fn thread_by_integration_id(&self, id: &str) -> Option<Thread> {
        let st = self.state();
        st.threads
            .iter()
            .rev()
            .find(|t| t.integration_thread_id == id)
            .map(|t| t.snapshot())
    }

    /// A message as the API returns it now (status updates included).
    pub fn message(&self, id: &str) -> Option<Value> {
        self.state().messages.get(id).map(|m| m.json.clone())
    }

    pub fn contacts(&self) -> Vec<Value> {
        let st = self.state();
        st.contacts
            .iter()
            .map(|c| json!({ "id": c.id, "properties": c.properties }))
            .collect()
    }

    /// Every publish that reached the handler (after auth/faults), duplicates included.
    pub fn publish_attempts(&self) -> usize {
        self.state().publish_attempts
    }

    /// All requests so far, ordered by arrival.
    pub fn requests(&self) -> Vec<RequestRecord> {
        let mut r = self.state().requests.clone();
        r.sort_by_key(|r| r.at);
        r
    }

    /// How many requests were logged so far (cheap; for benchmarks).
    pub fn request_count(&self) -> usize {
        self.state().requests.len()
    }

    /// The requests logged after the first `n`, in the order they were logged.
    pub fn requests_since(&self, n: usize) -> Vec<RequestRecord> {
        self.state()
            .requests
            .get(n..)
            .map(<[_]>::to_vec)
            .unwrap_or_default()
    }

    pub fn rate_limited_count(&self) -> usize {
        self.state().rate_limited
    }

    pub fn webhook_settings(&self) -> Option<Value> {
        self.state().webhook_settings.clone()
    }

    pub fn subscriptions(&self) -> Vec<Value> {
        self.state().subscriptions.clone()
    }

    pub fn token_requests(&self) -> usize {
        self.state().oauth.token_requests
    }

    // --- fault injection ---------------------------------------------------

    /// The next `n` authenticated API calls answer `status` (queued in order
    /// with `rate_limit_next`; the token endpoint is never affected).
    pub fn fail_next(&self, n: usize, status: u16) {
        let inj = Injected {
            status,
            retry_after: None,
        };
        self.state()
            .faults
            .queue
            .extend(std::iter::repeat_n(inj, n));
    }

    /// Every authenticated API call answers `status` until `set_outage(None)`.
    pub fn set_outage(&self, status: Option<u16>) {
        self.state().faults.outage = status;
    }

    /// The next `n` authenticated API calls answer 429 (§9.2 body).
    pub fn rate_limit_next(&self, n: usize, retry_after_secs: Option<u64>) {
        let inj = Injected {
            status: 429,
            retry_after: retry_after_secs,
        };
        self.state()
            .faults
            .queue
            .extend(std::iter::repeat_n(inj, n));
    }

    /// Every access token minted so far is expired from now on.
    pub fn expire_access_tokens(&self) {
        let now = chrono::Utc::now();
        for t in self.state().oauth.access.values_mut() {
            t.expires_at = t.expires_at.min(now);
        }
    }

    /// Every refresh token minted so far is revoked.
    pub fn revoke_refresh_tokens(&self) {
        for t in self.state().oauth.refresh.values_mut() {
            t.revoked = true;
        }
    }

    /// Added to every answer.
    pub fn set_latency(&self, d: Duration) {
        self.state().faults.latency = d;
    }

    /// The next `n` authenticated calls take effect, but their answers break off (a reset).
    pub fn reset_next(&self, n: u32) {
        self.state().faults.resets += n;
    }

    /// Every Files API upload takes this much longer.
    pub fn set_upload_delay(&self, d: Duration) {
        self.state().faults.upload_delay = d;
    }

    /// Publishes answer 400 VALIDATION_ERROR with `reason` until None.
    pub fn set_reject_publishes(&self, reason: Option<String>) {
        self.state().faults.reject_publishes = reason;
    }

    /// The refresh grant returns a new refresh token and revokes the old one.
    pub fn set_rotate_refresh_tokens(&self, on: bool) {
        self.state().oauth.rotate_refresh_tokens = on;
    }
}

impl Drop for FakeHubSpot {
    fn drop(&mut self) {
        // `stop` sends its command immediately; awaiting is optional.
        drop(self.handle.stop(false));
    }
}

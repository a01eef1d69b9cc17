//! Test controls and inspection for routing and the Help Desk: inboxes,
//! ticket timing and tickets, contacts, users with availability, token
//! scopes, and call counts per endpoint.
//!
//! Controls panic on ids the fake does not know (a test bug, not a scenario).

use serde_json::{Value, json};

use super::state::{State, TicketRec, UserRec};
use super::users::{UserAvailability, insert_user};
use super::util::now_iso;
use super::{FakeHubSpot, RequestRecord, Ticket, TicketTiming, tickets};

fn snapshot(t: &TicketRec) -> Ticket {
    Ticket {
        id: t.id.clone(),
        thread_id: t.thread_id.clone(),
        properties: t.properties.clone(),
        contact_ids: t.contact_ids.clone(),
    }
}

/// Whether `path` is an instance of `endpoint`, where a `{…}` segment of
/// `endpoint` stands for any one segment; a trailing slash is ignored.
fn path_matches(endpoint: &str, path: &str) -> bool {
    let (e, p) = (endpoint.trim_end_matches('/'), path.trim_end_matches('/'));
    let (es, ps): (Vec<&str>, Vec<&str>) = (e.split('/').collect(), p.split('/').collect());
    es.len() == ps.len()
        && es
            .iter()
            .zip(&ps)
            .all(|(e, p)| e == p || (e.starts_with('{') && e.ends_with('}')))
}

fn user_mut(st: &mut State, internal_user_id: u64) -> &mut UserRec {
    let key = internal_user_id.to_string();
    st.users
        .iter_mut()
        .find(|u| u.internal_id() == Some(key.as_str()))
        .unwrap_or_else(|| panic!("no user with hs_internal_user_id {key}"))
}

impl FakeHubSpot {
    // --- inboxes -----------------------------------------------------------

    /// Adds an inbox of `inbox_type` (`"INBOX"` or `"HELP_DESK"`); returns its id.
    /// Channel accounts can then be created on it (`inboxId`).
    pub fn add_inbox(&self, name: &str, inbox_type: &str) -> String {
        assert!(
            inbox_type == "INBOX" || inbox_type == "HELP_DESK",
            "inbox type must be INBOX or HELP_DESK, not {inbox_type}"
        );
        let mut st = self.state();
        let id = st.ids.inbox();
        let now = now_iso();
        st.inboxes.push(
            json!({ "id": id, "name": name, "createdAt": now, "updatedAt": now,
                                "type": inbox_type, "archived": false }),
        );
        id
    }

    /// Every inbox as the API returns it.
    pub fn inboxes(&self) -> Vec<Value> {
        self.state().inboxes.clone()
    }

    // --- tickets -----------------------------------------------------------

    /// When tickets appear for Help Desk threads without their own timing.
    pub fn set_ticket_timing(&self, timing: TicketTiming) {
        self.state().cfg.ticket_timing = timing;
    }

    /// The timing of one thread, named by its thread id or its integration
    /// thread id (so it can be set before the app publishes the first message).
    pub fn set_ticket_timing_for(&self, thread: &str, timing: TicketTiming) {
        self.state()
            .ticket_timing_overrides
            .insert(thread.to_string(), timing);
    }

    /// Every ticket so far (due ones are created first).
    pub fn tickets(&self) -> Vec<Ticket> {
        let mut st = self.state();
        tickets::settle(&mut st);
        st.tickets.iter().map(snapshot).collect()
    }

    pub fn ticket(&self, id: &str) -> Option<Ticket> {
        let mut st = self.state();
        tickets::settle(&mut st);
        st.ticket(id).map(snapshot)
    }

    /// The ticket of a thread, if it has one yet.
    pub fn ticket_for_thread(&self, thread_id: &str) -> Option<Ticket> {
        let mut st = self.state();
        tickets::settle(&mut st);
        st.tickets
            .iter()
            .find(|t| t.thread_id.as_deref() == Some(thread_id))
            .map(snapshot)
    }

    /// Served `GET …/threads/{id}?association=ticket` calls for a thread.
    pub fn ticket_polls(&self, thread_id: &str) -> u32 {
        self.state()
            .thread(thread_id)
            .unwrap_or_else(|| panic!("ticket_polls: no thread {thread_id}"))
            .ticket_polls
    }

    /// The options of `hs_ticket_priority` (default LOW, MEDIUM, HIGH).
    pub fn set_ticket_priorities(&self, values: &[&str]) {
        self.state().ticket_priorities = values.iter().map(|v| v.to_string()).collect();
    }

    /// Adds (or replaces) a ticket pipeline and its stage ids. The default
    /// pipeline is `"0"` with stages `"1"`..`"4"`; new tickets use the first.
    pub fn add_ticket_pipeline(&self, pipeline_id: &str, stage_ids: &[&str]) {
        let mut st = self.state();
        let stages: Vec<String> = stage_ids.iter().map(|s| s.to_string()).collect();
        st.ticket_pipelines.retain(|(p, _)| p != pipeline_id);
        st.ticket_pipelines.push((pipeline_id.to_string(), stages));
    }

    // --- contacts ----------------------------------------------------------

    /// One contact with every property set.
    pub fn contact(&self, id: &str) -> Option<Value> {
        let st = self.state();
        st.contact(id)
            .map(|c| json!({ "id": c.id, "properties": c.properties }))
    }

    pub fn contact_by_email(&self, email: &str) -> Option<Value> {
        let st = self.state();
        st.contacts
            .iter()
            .find(|c| {
                c.properties
                    .get("email")
                    .and_then(Value::as_str)
                    .is_some_and(|e| e.eq_ignore_ascii_case(email))
            })
            .map(|c| json!({ "id": c.id, "properties": c.properties }))
    }

    /// Lets contact creates name a custom property.
    pub fn add_contact_property(&self, name: &str) {
        self.state().extra_contact_properties.push(name.to_string());
    }

    // --- users -------------------------------------------------------------

    /// Adds a user (Users API) and the matching agent actor `A-<internal id>`;
    /// returns the Users API id (not the HubSpot user id, §13.12).
    pub fn add_user(
        &self,
        internal_user_id: u64,
        email: &str,
        name: &str,
        availability: UserAvailability,
    ) -> String {
        let mut st = self.state();
        let actor = format!("A-{internal_user_id}");
        if !st.actors.iter().any(|a| a["id"] == actor) {
            st.actors
                .push(json!({ "id": actor, "type": "AGENT", "name": name, "email": email }));
        }
        insert_user(&mut st, internal_user_id, email, name, &availability)
    }

    /// Changes a user's availability (status, time zone, working hours, out of office).
    pub fn set_user_availability(&self, internal_user_id: u64, availability: UserAvailability) {
        let mut st = self.state();
        let u = user_mut(&mut st, internal_user_id);
        availability.apply(&mut u.properties);
        u.properties
            .insert("hs_lastmodifieddate".into(), json!(now_iso()));
    }

    /// Every user with every property set, as `{id, properties}`.
    pub fn users(&self) -> Vec<Value> {
        self.state()
            .users
            .iter()
            .map(|u| json!({ "id": u.id, "properties": u.properties }))
            .collect()
    }

    // --- scopes ------------------------------------------------------------

    /// The scopes tokens carry by default.
    pub fn default_scopes() -> Vec<String> {
        super::oauth::SCOPES.iter().map(|s| s.to_string()).collect()
    }

    /// Every token, minted so far or later, carries exactly `scopes`; calls
    /// needing another answer 403 MISSING_SCOPES.
    pub fn set_scopes(&self, scopes: &[&str]) {
        let scopes = scopes.iter().map(|s| s.to_string()).collect();
        self.state().oauth.set_granted(scopes);
    }

    /// The default scopes without `removed` (e.g. `&["tickets"]`).
    pub fn set_scopes_without(&self, removed: &[&str]) {
        let kept: Vec<String> = Self::default_scopes()
            .into_iter()
            .filter(|s| !removed.contains(&s.as_str()))
            .collect();
        self.state().oauth.set_granted(kept);
    }

    /// The scopes granted now.
    pub fn scopes(&self) -> Vec<String> {
        self.state().oauth.granted.clone()
    }

    /// A valid access token carrying only `scopes` (later `set_scopes` calls change it too).
    pub fn mint_access_token_with_scopes(&self, scopes: &[&str]) -> String {
        let mut st = self.state();
        let lifetime = st.cfg.token_lifetime_secs;
        let scopes = scopes.iter().map(|s| s.to_string()).collect();
        st.oauth.mint_access_with(Self::PORTAL_ID, lifetime, scopes)
    }

    // --- call counts -------------------------------------------------------

    /// The requests to `method` `endpoint`, in arrival order; `endpoint` is a
    /// path whose `{…}` segments match anything, e.g.
    /// `"/conversations/v3/conversations/threads/{threadId}"`. Every request
    /// counts, failed, rate-limited or unauthenticated ones included.
    pub fn calls(&self, method: &str, endpoint: &str) -> Vec<RequestRecord> {
        self.requests()
            .into_iter()
            .filter(|r| r.method.eq_ignore_ascii_case(method) && path_matches(endpoint, &r.path))
            .collect()
    }

    pub fn call_count(&self, method: &str, endpoint: &str) -> usize {
        self.calls(method, endpoint).len()
    }
}

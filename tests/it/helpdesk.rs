//! Help Desk sessions (issue 14): the ticket HubSpot makes for the thread is found in a lane
//! of its own, associated with the session's contact and filled; `session.opened` waits for
//! it. CRM contacts are created for users HubSpot does not know. And what a Help Desk
//! session costs in HubSpot calls.

use crate::support::fake_hubspot::{FakeConfig, FakeHubSpot, RequestRecord, TicketTiming};
use crate::support::harness::{Handoff, connected_with, eventually};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);
const PUBLISH: &str = "/conversations/v3/custom-channels/{channelId}/messages";
const THREAD: &str = "/conversations/v3/conversations/threads/{threadId}";
const CONTACTS: &str = "/crm/v3/objects/contacts";
const SEARCH: &str = "/crm/v3/objects/contacts/search";

fn help_desk_fake(timing: TicketTiming) -> FakeConfig {
    FakeConfig {
        ticket_timing: timing,
        ..FakeConfig::default()
    }
}

/// A handoff connected to the default INBOX and the HELP_DESK.
async fn with_help_desk(
    fake: FakeConfig,
    adjust: impl FnOnce(&mut handoff::config::Config),
) -> (FakeHubSpot, tempfile::TempDir, Handoff) {
    connected_with(fake, |c| {
        c.hubspot.inbox_ids = vec![FakeHubSpot::HELP_DESK_ID.into()];
        adjust(c);
    })
    .await
}

async fn start(h: &Handoff, body: Value) -> String {
    let (status, answer) = h.post("/api/v1/sessions", body).await;
    assert_eq!(status, 202, "{answer}");
    answer["sessionId"].as_str().unwrap().to_string()
}

/// A session for a user with this name and email, on the default inbox.
async fn start_for(h: &Handoff, name: &str, email: &str) -> String {
    start(h, json!({"user": {"name": name, "email": email}})).await
}

/// A Help Desk session for a new user with this email.
async fn start_on_help_desk(h: &Handoff, email: &str, priority: Option<&str>) -> String {
    let mut body = json!({
        "user": {"name": "Jane van Doe", "email": email},
        "title": "Refund for order 42",
        "description": "The parcel arrived broken.",
        "inboxId": FakeHubSpot::HELP_DESK_ID,
    });
    if let Some(p) = priority {
        body["priority"] = json!(p);
    }
    start(h, body).await
}

/// The feed's events of one session.
async fn events_of(h: &Handoff, session: &str) -> Vec<Value> {
    let (status, body) = h.get("/api/v1/events?limit=1000").await;
    assert_eq!(status, 200, "{body}");
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["sessionId"] == session)
        .cloned()
        .collect()
}

/// The session's `session.opened`, once the bot has it.
pub(crate) async fn opened(h: &Handoff, session: &str) -> Value {
    let find = || async {
        events_of(h, session)
            .await
            .into_iter()
            .find(|e| e["type"] == "session.opened")
    };
    eventually(WAIT, || async { find().await.is_some() }).await;
    find().await.unwrap()
}

async fn thread_id(h: &Handoff, session: &str) -> String {
    eventually(WAIT, || async {
        h.session(session).await["hubspotThreadId"].is_string()
    })
    .await;
    h.session(session).await["hubspotThreadId"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn published(fake: &FakeHubSpot, h: &Handoff, session: &str, n: usize) -> Vec<Value> {
    let thread = thread_id(h, session).await;
    let messages = || {
        fake.threads()
            .into_iter()
            .find(|t| t.id == thread)
            .map(|t| t.messages)
            .unwrap_or_default()
    };
    eventually(WAIT, || async { messages().len() >= n }).await;
    messages()
}

async fn readyz(h: &Handoff) -> Value {
    let (status, body) = h.get("/readyz").await;
    assert_eq!(status, 200, "warnings never make handoff unready: {body}");
    assert_eq!(body["ready"], true, "{body}");
    body
}

fn warning_codes(readyz: &Value) -> Vec<String> {
    readyz["warnings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|w| w["code"].as_str().unwrap().to_string())
        .collect()
}

fn ticket_polls_logged(fake: &FakeHubSpot) -> Vec<RequestRecord> {
    fake.calls("GET", THREAD)
        .into_iter()
        .filter(|r| r.query.to_ascii_lowercase().contains("association=ticket"))
        .collect()
}

// --- tickets -------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ticket_is_found_associated_and_filled_before_the_bot_hears_session_opened() {
    // The ticket exists from the third look on.
    let (fake, _dir, h) = with_help_desk(help_desk_fake(TicketTiming::AfterPolls(2)), |c| {
        c.hubspot.ticket.category = Some("BILLING_ISSUE".into());
        c.hubspot.ticket.pipeline = Some("0".into());
        c.hubspot.ticket.pipeline_stage = Some("2".into());
    })
    .await;
    let session = start_on_help_desk(&h, "jane@example.com", Some("high")).await;

    let event = opened(&h, &session).await;
    let ticket_id = event["data"]["ticketId"]
        .as_str()
        .unwrap_or_else(|| panic!("session.opened names the ticket: {event}"))
        .to_string();
    let thread = thread_id(&h, &session).await;
    assert_eq!(event["data"]["hubspotThreadId"], thread.as_str());
    let view = h.session(&session).await;
    assert_eq!(view["ticketId"], ticket_id.as_str());
    assert_eq!(view["inboxId"], FakeHubSpot::HELP_DESK_ID);
    assert_eq!(view["priority"], "high");

    let ticket = fake.ticket(&ticket_id).expect("the ticket exists");
    assert_eq!(ticket.thread_id.as_deref(), Some(thread.as_str()));
    assert_eq!(ticket.property("subject"), Some("Refund for order 42"));
    assert_eq!(
        ticket.property("content"),
        Some("The parcel arrived broken.")
    );
    assert_eq!(ticket.property("hs_ticket_priority"), Some("HIGH"));
    assert_eq!(ticket.property("hs_ticket_category"), Some("BILLING_ISSUE"));
    assert_eq!(ticket.property("hs_pipeline"), Some("0"));
    assert_eq!(ticket.property("hs_pipeline_stage"), Some("2"));
    // The contact created for Jane is on the thread and on the ticket.
    let contact = fake.contact_by_email("jane@example.com").expect("created");
    let contact = contact["id"].as_str().unwrap();
    let on_thread = fake.threads().into_iter().find(|t| t.id == thread).unwrap();
    assert_eq!(on_thread.associated_contact_id.as_deref(), Some(contact));
    assert_eq!(ticket.contact_ids, [contact]);
    assert_eq!(
        fake.call_count(
            "PUT",
            "/crm/v4/objects/contact/{c}/associations/default/ticket/{t}"
        ),
        1
    );
    // Looked for three times: twice not there yet, then found; never again after.
    assert_eq!(fake.ticket_polls(&thread), 3);
    assert_eq!(ticket_polls_logged(&fake).len(), 3);
    assert!(
        !warning_codes(&readyz(&h).await)
            .iter()
            .any(|c| c.starts_with("ticket"))
    );

    // One session.opened, and the conversation goes on as usual.
    h.send_text(&session, "m1", "any news?").await;
    published(&fake, &h, &session, 2).await;
    let kinds: Vec<Value> = events_of(&h, &session)
        .await
        .iter()
        .map(|e| e["type"].clone())
        .collect();
    assert_eq!(kinds, [json!("session.opened")]);
    assert_eq!(fake.ticket_polls(&thread), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_priority_becomes_hubspots_value_and_an_unknown_one_is_refused() {
    let (fake, _dir, h) = with_help_desk(help_desk_fake(TicketTiming::AfterPolls(0)), |_| {}).await;
    fake.set_ticket_priorities(&["LOW", "MEDIUM", "HIGH", "URGENT"]);
    let mut sessions = Vec::new();
    for (i, p) in ["low", "medium", "high", "urgent"].iter().enumerate() {
        let session = start_on_help_desk(&h, &format!("p{i}@example.com"), Some(p)).await;
        sessions.push((session, p.to_ascii_uppercase()));
    }
    for (session, want) in &sessions {
        let event = opened(&h, session).await;
        let ticket = event["data"]["ticketId"].as_str().expect("a ticket");
        let ticket = fake.ticket(ticket).unwrap();
        assert_eq!(ticket.property("hs_ticket_priority"), Some(want.as_str()));
    }
    // No priority: HubSpot's own default stays.
    let session = start_on_help_desk(&h, "none@example.com", None).await;
    let event = opened(&h, &session).await;
    let ticket = fake
        .ticket(event["data"]["ticketId"].as_str().unwrap())
        .unwrap();
    assert_eq!(ticket.property("hs_ticket_priority"), None);
    assert_eq!(ticket.property("subject"), Some("Refund for order 42"));

    for bad in [json!("critical"), json!("HIGHEST"), json!(3)] {
        let (status, body) = h
            .post(
                "/api/v1/sessions",
                json!({"user": {"email": "bad@example.com"}, "priority": bad}),
            )
            .await;
        assert!(status == 422 || status == 400, "{bad}: {status} {body}");
        if bad.is_string() {
            assert_eq!(status, 422, "{body}");
            assert_eq!(body["error"]["code"], "invalid-priority", "{body}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_are_published_while_the_ticket_is_still_being_looked_for() {
    // The ticket appears at the fifth look; the looks are spread over a couple of seconds.
    let (fake, _dir, h) = with_help_desk(help_desk_fake(TicketTiming::AfterPolls(4)), |c| {
        c.retry.initial = Duration::from_millis(250);
        c.retry.max = Duration::from_secs(1);
    })
    .await;
    let session = start_on_help_desk(&h, "eager@example.com", Some("low")).await;
    thread_id(&h, &session).await;
    h.send_text(&session, "m1", "first while you look").await;
    h.send_text(&session, "m2", "second while you look").await;
    let messages = published(&fake, &h, &session, 3).await;
    assert_eq!(messages[1]["text"], "first while you look");
    assert_eq!(messages[2]["text"], "second while you look");

    let event = opened(&h, &session).await;
    assert!(event["data"]["ticketId"].is_string(), "{event}");
    // In HubSpot's log both messages came before the ticket was filled: they did not wait.
    let log = fake.requests();
    let position = |f: &dyn Fn(&RequestRecord) -> bool| log.iter().position(f);
    let patch =
        position(&|r| r.method == "PATCH" && r.path.starts_with("/crm/v3/objects/tickets/"))
            .expect("the ticket was filled");
    let publishes: Vec<usize> = log
        .iter()
        .enumerate()
        .filter(|(_, r)| r.method == "POST" && r.path.ends_with("/messages"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(publishes.len(), 3, "{log:#?}");
    assert!(publishes.iter().all(|p| *p < patch), "{log:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_tickets_scope_the_session_opens_and_readyz_warns() {
    let fake_config = help_desk_fake(TicketTiming::AfterPolls(0));
    let fake = FakeHubSpot::start(fake_config).await;
    fake.set_scopes_without(&["tickets"]);
    let dir = tempfile::tempdir().unwrap();
    let mut c = crate::support::harness::config(&fake, dir.path());
    c.hubspot.inbox_ids = vec![FakeHubSpot::HELP_DESK_ID.into()];
    let h = Handoff::start(c).await;
    h.wait_ready().await;

    let session = start_on_help_desk(&h, "scope@example.com", Some("medium")).await;
    let event = opened(&h, &session).await;
    assert_eq!(
        event["data"]["hubspotThreadId"],
        thread_id(&h, &session).await
    );
    h.send_text(&session, "m1", "still works").await;
    let messages = published(&fake, &h, &session, 2).await;
    assert_eq!(messages[1]["text"], "still works");

    let ready = readyz(&h).await;
    assert!(
        warning_codes(&ready).contains(&"tickets-scope-missing".to_string()),
        "{ready}"
    );
    // The ticket kept what HubSpot gave it (the PATCH was refused).
    let ticket = fake.tickets().pop().expect("HubSpot made the ticket");
    assert_eq!(ticket.property("hs_ticket_priority"), None);
    assert_ne!(ticket.property("subject"), Some("Refund for order 42"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_that_never_appears_is_looked_for_six_times_then_the_session_opens_without() {
    let (fake, _dir, h) = with_help_desk(help_desk_fake(TicketTiming::Never), |_| {}).await;
    let session = start_on_help_desk(&h, "never@example.com", None).await;
    let event = opened(&h, &session).await;
    assert!(event["data"].get("ticketId").is_none(), "{event}");
    assert!(event["data"]["hubspotThreadId"].is_string(), "{event}");
    let thread = thread_id(&h, &session).await;
    assert_eq!(fake.ticket_polls(&thread), 6);
    assert!(h.session(&session).await.get("ticketId").is_none());
    let ready = readyz(&h).await;
    assert!(
        warning_codes(&ready).contains(&"ticket-not-found".to_string()),
        "{ready}"
    );
    assert_eq!(fake.call_count("PATCH", "/crm/v3/objects/tickets/{t}"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_on_a_plain_inbox_never_looks_for_a_ticket() {
    let (fake, _dir, h) = with_help_desk(help_desk_fake(TicketTiming::AfterPolls(0)), |_| {}).await;
    let session = start(
        &h,
        json!({"user": {"email": "plain@example.com"}, "priority": "urgent"}),
    )
    .await;
    let event = opened(&h, &session).await;
    assert!(event["data"].get("ticketId").is_none(), "{event}");
    assert_eq!(h.session(&session).await["inboxId"], FakeHubSpot::INBOX_ID);
    h.send_text(&session, "m1", "hello").await;
    published(&fake, &h, &session, 2).await;
    assert!(ticket_polls_logged(&fake).is_empty());
    assert!(fake.tickets().is_empty());
}

// --- contacts ------------------------------------------------------------------------

fn first_publish(messages: &[Value]) -> &Value {
    messages.first().expect("a first message")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_users_get_a_contact_created_and_associated() {
    let (fake, _dir, h) = with_help_desk(FakeConfig::default(), |_| {}).await;
    let by_email = start_for(&h, "Jane van Doe", "new.jane@example.com").await;
    let by_phone = start(
        &h,
        json!({"user": {"name": "Pat", "phone": "+14155550199"}}),
    )
    .await;

    let messages = published(&fake, &h, &by_email, 1).await;
    let contact = fake
        .contact_by_email("new.jane@example.com")
        .expect("created");
    assert_eq!(contact["properties"]["firstname"], "Jane van");
    assert_eq!(contact["properties"]["lastname"], "Doe");
    let id = contact["id"].as_str().unwrap();
    assert_eq!(
        first_publish(&messages)["associateWithContactId"].to_string(),
        id,
        "{messages:?}"
    );

    let messages = published(&fake, &h, &by_phone, 1).await;
    let with_phone: Vec<Value> = fake
        .contacts()
        .into_iter()
        .filter(|c| c["properties"]["phone"] == "+14155550199")
        .collect();
    assert_eq!(with_phone.len(), 1, "{:?}", fake.contacts());
    let contact = &with_phone[0];
    assert_eq!(contact["properties"]["firstname"], "Pat");
    assert!(contact["properties"].get("lastname").is_none(), "{contact}");
    assert_eq!(
        first_publish(&messages)["associateWithContactId"].to_string(),
        contact["id"].as_str().unwrap()
    );
    for session in [&by_email, &by_phone] {
        let thread = thread_id(&h, session).await;
        let t = fake.threads().into_iter().find(|t| t.id == thread).unwrap();
        assert!(t.associated_contact_id.is_some(), "{t:?}");
    }
    assert_eq!(fake.contacts().len(), 2);

    // The same user again finds the contact: nothing new is created.
    let again = start_for(&h, "Jane van Doe", "new.jane@example.com").await;
    published(&fake, &h, &again, 1).await;
    assert_eq!(fake.contacts().len(), 2);
    assert_eq!(fake.call_count("POST", CONTACTS), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_the_search_missed_answers_409_and_the_existing_one_is_used() {
    // Search is eventually consistent: a contact made moments ago is not found yet, and
    // HubSpot refuses a second one with its email.
    let fake_config = FakeConfig {
        contact_search_delay: Duration::from_secs(600),
        ..FakeConfig::default()
    };
    let (fake, _dir, h) = with_help_desk(fake_config, |_| {}).await;
    let existing = fake.add_contact(Some("dup@example.com"), None, "Dup");
    let session = start_for(&h, "Dup Licate", "DUP@example.com").await;
    let messages = published(&fake, &h, &session, 1).await;
    assert_eq!(
        first_publish(&messages)["associateWithContactId"].to_string(),
        existing
    );
    let thread = thread_id(&h, &session).await;
    let t = fake.threads().into_iter().find(|t| t.id == thread).unwrap();
    assert_eq!(t.associated_contact_id.as_deref(), Some(existing.as_str()));
    let creates = fake.calls("POST", CONTACTS);
    assert_eq!(creates.len(), 1, "{creates:?}");
    assert_eq!(creates[0].status, 409);
    assert_eq!(fake.contacts().len(), 1, "{:?}", fake.contacts());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_users_get_no_contact() {
    let (fake, _dir, h) = with_help_desk(FakeConfig::default(), |_| {}).await;
    let session = start(
        &h,
        json!({"user": {"externalId": "visitor-7"}, "inboxId": FakeHubSpot::HELP_DESK_ID}),
    )
    .await;
    let messages = published(&fake, &h, &session, 1).await;
    assert!(
        first_publish(&messages)
            .get("associateWithContactId")
            .is_none(),
        "{messages:?}"
    );
    assert!(opened(&h, &session).await["data"]["hubspotThreadId"].is_string());
    assert!(fake.contacts().is_empty());
    assert_eq!(fake.call_count("POST", CONTACTS), 0);
    assert_eq!(fake.call_count("POST", SEARCH), 0);
    // A Help Desk ticket of an anonymous user has no contact to associate.
    assert_eq!(
        fake.call_count(
            "PUT",
            "/crm/v4/objects/contact/{c}/associations/default/ticket/{t}"
        ),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_create_contacts_off_none_is_created_but_known_ones_are_still_used() {
    let (fake, _dir, h) =
        with_help_desk(FakeConfig::default(), |c| c.hubspot.create_contacts = false).await;
    let known = fake.add_contact(Some("known@example.com"), None, "Known");
    let unknown = start_for(&h, "New Person", "unknown@example.com").await;
    let found = start_for(&h, "Known Person", "known@example.com").await;
    let messages = published(&fake, &h, &unknown, 1).await;
    assert!(
        first_publish(&messages)
            .get("associateWithContactId")
            .is_none()
    );
    let messages = published(&fake, &h, &found, 1).await;
    assert_eq!(
        first_publish(&messages)["associateWithContactId"].to_string(),
        known
    );
    assert_eq!(fake.call_count("POST", CONTACTS), 0);
    assert_eq!(fake.contacts().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_contacts_write_scope_the_session_opens_without_a_contact() {
    let fake = FakeHubSpot::start(FakeConfig::default()).await;
    fake.set_scopes_without(&["crm.objects.contacts.write"]);
    let dir = tempfile::tempdir().unwrap();
    let h = Handoff::start(crate::support::harness::config(&fake, dir.path())).await;
    h.wait_ready().await;
    let session = start_for(&h, "No Scope", "noscope@example.com").await;
    assert!(opened(&h, &session).await["data"]["hubspotThreadId"].is_string());
    let messages = published(&fake, &h, &session, 1).await;
    assert!(
        first_publish(&messages)
            .get("associateWithContactId")
            .is_none()
    );
    assert!(fake.contacts().is_empty());
    assert_eq!(h.session(&session).await["status"], "open");
    h.send_text(&session, "m1", "hi").await;
    published(&fake, &h, &session, 2).await;
}

// --- cost ----------------------------------------------------------------------------

/// `METHOD /path` with id-like segments as `{id}`, and the query's parameter names.
fn endpoint(r: &RequestRecord) -> String {
    let path: Vec<String> = r
        .path
        .split('/')
        .map(|s| {
            let version = s.starts_with('v') && s[1..].chars().all(|c| c.is_ascii_digit());
            if !s.is_empty() && !version && s.chars().any(|c| c.is_ascii_digit()) {
                "{id}".to_string()
            } else {
                s.to_string()
            }
        })
        .collect();
    let mut e = format!("{} {}", r.method, path.join("/"));
    if !r.query.is_empty() {
        let keys: Vec<&str> = r
            .query
            .split('&')
            .map(|kv| kv.split('=').next().unwrap_or(""))
            .collect();
        let shown: Vec<String> = r
            .query
            .split('&')
            .filter(|kv| kv.starts_with("association="))
            .map(str::to_string)
            .collect();
        e.push_str(&format!(
            "?{}",
            if shown.is_empty() {
                keys.join("&")
            } else {
                shown.join("&")
            }
        ));
    }
    e
}

fn counts(log: &[RequestRecord]) -> BTreeMap<String, usize> {
    let mut by = BTreeMap::new();
    for r in log {
        *by.entry(endpoint(r)).or_insert(0) += 1;
    }
    by
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_help_desk_session_costs_one_call_per_relayed_text_message() {
    // The ticket is there from the second look, as when HubSpot takes a moment.
    let (fake, _dir, h) = with_help_desk(help_desk_fake(TicketTiming::AfterPolls(1)), |c| {
        c.hubspot.ticket.category = Some("GENERAL_INQUIRY".into());
    })
    .await;
    let before = fake.request_count();

    let session = start_on_help_desk(&h, "cost@example.com", Some("medium")).await;
    let event = opened(&h, &session).await;
    assert!(event["data"]["ticketId"].is_string(), "{event}");
    let after_start = fake.request_count();

    h.send_text(&session, "m1", "first question").await;
    published(&fake, &h, &session, 2).await;
    let after_first = fake.request_count();
    h.send_text(&session, "m2", "second question").await;
    published(&fake, &h, &session, 3).await;
    let after_second = fake.request_count();

    let (status, _) = h
        .post(&format!("/api/v1/sessions/{session}/stop"), json!({}))
        .await;
    assert_eq!(status, 202);
    let thread = thread_id(&h, &session).await;
    eventually(WAIT, || async {
        fake.threads()
            .iter()
            .any(|t| t.id == thread && t.status == "CLOSED")
    })
    .await;
    let after_stop = fake.request_count();

    let phases = [
        (
            "start (contact, first publish, ticket)",
            before,
            after_start,
        ),
        ("text message 1", after_start, after_first),
        ("text message 2", after_first, after_second),
        ("stop (note + close)", after_second, after_stop),
        ("whole session", before, after_stop),
    ];
    let log = fake.requests_since(before);
    println!("HubSpot calls of one Help Desk session (start + 2 text messages + stop):");
    for (name, from, to) in phases {
        let part = &log[from - before..to - before];
        println!("  {name}: {} call(s)", part.len());
        for (e, n) in counts(part) {
            println!("    {n:>2}  {e}");
        }
    }

    for (name, from, to) in &phases[1..3] {
        let part = &log[from - before..to - before];
        let endpoints: Vec<String> = part.iter().map(endpoint).collect();
        assert_eq!(
            endpoints,
            ["POST /conversations/v3/custom-channels/{id}/messages"],
            "{name} costs exactly one publish"
        );
        assert!((200..300).contains(&part[0].status), "{:?}", part[0]);
    }
    assert!(
        log.iter().all(|r| r.status < 300 || r.path == CONTACTS),
        "{log:#?}"
    );
    assert_eq!(
        fake.call_count("POST", PUBLISH),
        4,
        "start, 2 messages, the stop's note"
    );
    assert_eq!(fake.ticket_polls(&thread), 2);
}

// --- found wanting (see the comments: these fail on purpose until `src/` is fixed) ----

/// A Help Desk whose looks for the ticket are spread over a few seconds and never find it.
async fn slow_search() -> (FakeHubSpot, tempfile::TempDir, Handoff) {
    with_help_desk(help_desk_fake(TicketTiming::Never), |c| {
        c.retry.initial = Duration::from_millis(250);
        c.retry.max = Duration::from_secs(1);
    })
    .await
}

async fn kinds_of(h: &Handoff, session: &str) -> Vec<String> {
    events_of(h, session)
        .await
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

// Found as a bug (src/relay/session.rs `apply`, `Transition::Published` with `awaits_ticket` and
// `Transition::Assigned`; src/hubspot/inbound.rs appends agent events at once; fixed): while a
// Help Desk session's ticket is looked for, `session.opened` is held back, but what the
// agent does meanwhile is not: the bot gets `session.assigned` and the agent's
// `session.message` before `session.opened`. Expected: `session.opened` first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_hears_session_opened_before_what_the_agent_did_during_the_ticket_search() {
    let (fake, _dir, h) = slow_search().await;
    let session = start_on_help_desk(&h, "quick.agent@example.com", None).await;
    let thread = thread_id(&h, &session).await;
    assert!(fake.assign(&thread, "A-2620022").await.delivered);
    let (_, reply) = fake
        .agent_reply(&thread, "A-2620022", "Hi, Sam here.", &[])
        .await;
    assert!(reply.delivered);
    opened(&h, &session).await;
    eventually(WAIT, || async { kinds_of(&h, &session).await.len() >= 3 }).await;
    assert_eq!(
        kinds_of(&h, &session).await,
        ["session.opened", "session.assigned", "session.message"]
    );
}

// Found as a bug (src/relay/session.rs `apply`, `Transition::TicketResolved`; src/hubspot/publisher.rs
// `ticket_step`; fixed): a Help Desk session the bot stops while its ticket is looked for gets
// `session.closed` and then, when the search ends, `session.opened` — the last event the
// bot hears of a closed session says it opened. `TicketResolved` gives `opened` whatever
// the session's status, and the search goes on after the stop. Expected: `session.closed`
// is the last event (and `session.opened`, if any, comes before it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_stopped_during_the_ticket_search_ends_with_session_closed() {
    let (fake, _dir, h) = slow_search().await;
    let session = start_on_help_desk(&h, "stops.early@example.com", None).await;
    let thread = thread_id(&h, &session).await;
    let (status, _) = h
        .post(&format!("/api/v1/sessions/{session}/stop"), json!({}))
        .await;
    assert_eq!(status, 202);
    // The search ends (six looks at most) and the thread is closed.
    eventually(WAIT, || async {
        fake.threads()
            .iter()
            .any(|t| t.id == thread && t.status == "CLOSED")
            && fake.ticket_polls(&thread) >= 6
    })
    .await;
    eventually(WAIT, || async {
        kinds_of(&h, &session)
            .await
            .contains(&"session.closed".to_string())
    })
    .await;
    let kinds = kinds_of(&h, &session).await;
    assert_eq!(
        kinds.last().map(String::as_str),
        Some("session.closed"),
        "{kinds:?}"
    );
}

// Found as a bug (src/hubspot/tickets.rs `fill_ticket` / `ticket_properties`; fixed): the priority is sent
// as `URGENT` whether or not the portal's `hs_ticket_priority` has that option (the fact
// sheet §13.9: the list is per portal, read it from
// `GET /crm/v3/properties/tickets/hs_ticket_priority`). HubSpot refuses the whole PATCH
// (400 INVALID_OPTION), so the ticket loses its subject and description as well, for one
// value the portal lacks. Expected: the ticket still gets its subject and content.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_priority_the_portal_lacks_does_not_cost_the_ticket_its_subject() {
    // The fake's default options: LOW, MEDIUM, HIGH.
    let (fake, _dir, h) = with_help_desk(help_desk_fake(TicketTiming::AfterPolls(0)), |_| {}).await;
    let session = start_on_help_desk(&h, "urgent@example.com", Some("urgent")).await;
    let event = opened(&h, &session).await;
    let ticket = fake
        .ticket(event["data"]["ticketId"].as_str().expect("a ticket"))
        .unwrap();
    // What works: the session opened with its ticket, and the refusal is a warning.
    let ready = readyz(&h).await;
    assert!(
        warning_codes(&ready).contains(&"ticket-update-refused".to_string()),
        "{ready}"
    );
    assert_eq!(
        ticket.property("subject"),
        Some("Refund for order 42"),
        "{:?}",
        ticket.properties
    );
    assert_eq!(
        ticket.property("content"),
        Some("The parcel arrived broken.")
    );
}

// Found as a bug (src/hubspot/contacts.rs `contact_properties`; fixed): a user with only a phone number and
// no name is created as `{"phone": …}`, which HubSpot refuses (400: at least one of email,
// firstname, lastname is required, fact sheet §7), so the session goes on without a
// contact. Expected: a contact with the phone (and some firstname, e.g. the number).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_with_only_a_phone_number_gets_a_contact() {
    let (fake, _dir, h) = with_help_desk(FakeConfig::default(), |_| {}).await;
    let session = start(&h, json!({"user": {"phone": "+14155550142"}})).await;
    let messages = published(&fake, &h, &session, 1).await;
    let creates = fake.calls("POST", CONTACTS);
    assert_eq!(creates.len(), 1, "{creates:?}");
    assert!(
        (200..300).contains(&creates[0].status),
        "HubSpot refused the contact: {creates:?}"
    );
    let contact = fake
        .contacts()
        .into_iter()
        .find(|c| c["properties"]["phone"] == "+14155550142")
        .expect("a contact with the phone");
    assert_eq!(
        first_publish(&messages)["associateWithContactId"].to_string(),
        contact["id"].as_str().unwrap()
    );
}

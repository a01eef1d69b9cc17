//! The fake HubSpot itself, driven with reqwest (no handoff): several
//! inboxes, Help Desk tickets that appear after N polls, ticket PATCH and
//! validation, contact ↔ ticket associations, contact create with 409, the
//! Users API with availability, and 403 MISSING_SCOPES.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::fake_hubspot::{FakeConfig, FakeHubSpot, TicketTiming, UserAvailability};

const THREAD: &str = "/conversations/v3/conversations/threads/{threadId}";

/// A plain client (reqwest is built without a default crypto provider).
fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    fn new(fake: &FakeHubSpot) -> Client {
        Client::with_token(fake, fake.mint_access_token())
    }

    fn with_token(fake: &FakeHubSpot, token: String) -> Client {
        Client {
            http: http(),
            base: fake.url(),
            token,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(Method::GET, path, None).await
    }

    /// A channel (developer key) with one authorized account on `inbox`.
    async fn channel_on(&self, inbox: &str) -> (String, String) {
        let res = self
            .http
            .post(format!(
                "{}/conversations/v3/custom-channels?hapikey={}&appId={}",
                self.base,
                FakeHubSpot::DEVELOPER_API_KEY,
                FakeHubSpot::APP_ID
            ))
            .json(&json!({ "name": "Bot", "capabilities": { "deliveryIdentifierTypes": ["HS_EMAIL_ADDRESS"] } }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let channel = res.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let account = self.account_on(&channel, inbox).await;
        (channel, account)
    }

    async fn account_on(&self, channel: &str, inbox: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                &format!("/conversations/v3/custom-channels/{channel}/channel-accounts"),
                Some(json!({ "inboxId": inbox, "name": "Bot account", "authorized": true })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_string()
    }

    /// Publishes one incoming message; returns the thread id.
    async fn publish(
        &self,
        (channel, account): &(String, String),
        thread: &str,
        contact: Option<&str>,
    ) -> String {
        let mut egg = json!({
            "channelAccountId": account, "integrationThreadId": thread,
            "messageDirection": "INCOMING", "text": "My order never arrived",
            "senders": [{ "name": "Jane", "deliveryIdentifier": { "type": "HS_EMAIL_ADDRESS", "value": "jane@example.com" } }],
        });
        if let Some(c) = contact {
            egg["associateWithContactId"] = json!(c);
        }
        let (status, body) = self
            .call(
                Method::POST,
                &format!("/conversations/v3/custom-channels/{channel}/messages"),
                Some(egg),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["conversationsThreadId"].as_str().unwrap().to_string()
    }

    async fn poll(&self, thread: &str, spelling: &str) -> Option<String> {
        let (status, body) = self
            .get(&format!(
                "/conversations/v3/conversations/threads/{thread}?association={spelling}"
            ))
            .await;
        assert_eq!(status, 200, "{body}");
        body["threadAssociations"]["associatedTicketId"]
            .as_str()
            .map(String::from)
    }
}

/// The `scopes` of a refresh grant's answer.
async fn refreshed_scopes(fake: &FakeHubSpot) -> Value {
    let refresh = fake.refresh_token();
    let res = http()
        .post(format!("{}/oauth/v1/token", fake.url()))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", FakeHubSpot::CLIENT_ID),
            ("client_secret", FakeHubSpot::CLIENT_SECRET),
            ("refresh_token", refresh.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    res["scopes"].clone()
}

async fn fake_with(timing: TicketTiming) -> FakeHubSpot {
    FakeHubSpot::start(FakeConfig {
        ticket_timing: timing,
        ..FakeConfig::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_inboxes_each_with_its_own_channel_accounts() {
    let fake = FakeHubSpot::start(FakeConfig::default()).await;
    let c = Client::new(&fake);
    let desk = fake.add_inbox("Tier 2 help desk", "HELP_DESK");
    let sales = fake.add_inbox("Sales inbox", "INBOX");

    let (status, body) = c.get("/conversations/v3/conversations/inboxes").await;
    assert_eq!(status, 200);
    assert_eq!(body["total"], 4, "{body}");
    let types: Vec<(&str, &str)> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["id"].as_str().unwrap(), i["type"].as_str().unwrap()))
        .collect();
    assert!(types.contains(&(desk.as_str(), "HELP_DESK")), "{types:?}");
    assert!(types.contains(&(sales.as_str(), "INBOX")), "{types:?}");
    let (status, inbox) = c
        .get(&format!(
            "/conversations/conversations/2026-09/inboxes/{desk}"
        ))
        .await;
    assert_eq!(
        (status, inbox["name"].as_str()),
        (200, Some("Tier 2 help desk"))
    );

    let (channel, _) = c.channel_on(FakeHubSpot::INBOX_ID).await;
    let on_desk = c.account_on(&channel, &desk).await;
    let on_sales = c.account_on(&channel, &sales).await;
    let (_, listed) = c
        .get(&format!(
            "/conversations/v3/conversations/channel-accounts?inboxId={desk}"
        ))
        .await;
    let ids: Vec<&str> = listed["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![on_desk.as_str()]);
    assert_ne!(on_desk, on_sales);
    let (status, _) = c
        .call(
            Method::POST,
            &format!("/conversations/v3/custom-channels/{channel}/channel-accounts"),
            Some(json!({ "inboxId": "999", "name": "x", "authorized": true })),
        )
        .await;
    assert_eq!(status, 400, "unknown inbox");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_help_desk_ticket_appears_only_after_three_polls() {
    let fake = fake_with(TicketTiming::AfterPolls(3)).await;
    let c = Client::new(&fake);
    let desk = c.channel_on(FakeHubSpot::HELP_DESK_ID).await;
    let inbox = c.channel_on(FakeHubSpot::INBOX_ID).await;
    let thread = c.publish(&desk, "conv-1", None).await;
    let plain = c.publish(&inbox, "conv-2", None).await;

    for spelling in ["ticket", "TICKET", "Ticket"] {
        assert_eq!(c.poll(&thread, spelling).await, None);
    }
    assert_eq!(fake.ticket_polls(&thread), 3);
    let ticket = fake
        .ticket_for_thread(&thread)
        .expect("created after 3 polls");
    assert_eq!(c.poll(&thread, "ticket").await, Some(ticket.id.clone()));
    assert_eq!(c.poll(&thread, "TICKET").await, Some(ticket.id.clone()));
    assert_eq!(ticket.thread_id.as_deref(), Some(thread.as_str()));
    assert_eq!(ticket.property("subject"), Some("My order never arrived"));
    assert_eq!(ticket.property("hs_pipeline"), Some("0"));
    assert_eq!(ticket.property("hs_pipeline_stage"), Some("1"));
    assert!(
        ticket.contact_ids.is_empty(),
        "the app associates the contact"
    );

    // Without the association parameter: no threadAssociations, not a poll.
    let (_, body) = c
        .get(&format!("/conversations/v3/conversations/threads/{thread}"))
        .await;
    assert!(body.get("threadAssociations").is_none(), "{body}");
    assert_eq!(fake.ticket_polls(&thread), 5);
    assert_eq!(fake.call_count("GET", THREAD), 6);
    assert_eq!(
        fake.thread_by_integration_id("conv-1").unwrap().ticket_id,
        Some(ticket.id.clone())
    );

    // A later message stays on the same ticket; list filters by ticket.
    c.publish(&desk, "conv-1", None).await;
    let (_, list) = c
        .get(&format!(
            "/conversations/v3/conversations/threads?associatedTicketId={}&association=TICKET",
            ticket.id
        ))
        .await;
    assert_eq!(list["results"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(
        list["results"][0]["threadAssociations"]["associatedTicketId"],
        json!(ticket.id)
    );
    assert_eq!(fake.tickets().len(), 1);

    // An INBOX thread never gets one.
    for _ in 0..5 {
        assert_eq!(c.poll(&plain, "ticket").await, None);
    }
    assert!(fake.ticket_for_thread(&plain).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_that_never_appear_and_per_thread_delays() {
    let fake = fake_with(TicketTiming::Never).await;
    let c = Client::new(&fake);
    let desk = c.channel_on(FakeHubSpot::HELP_DESK_ID).await;
    fake.set_ticket_timing_for(
        "conv-late",
        TicketTiming::AfterDelay(Duration::from_millis(300)),
    );

    let never = c.publish(&desk, "conv-never", None).await;
    let late = c.publish(&desk, "conv-late", None).await;
    for _ in 0..5 {
        assert_eq!(c.poll(&never, "ticket").await, None);
    }
    assert_eq!(c.poll(&late, "ticket").await, None);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(c.poll(&late, "ticket").await.is_some());
    assert_eq!(c.poll(&never, "ticket").await, None);
    assert_eq!(fake.tickets().len(), 1);

    // Immediately, from the global setting, for a thread opened afterwards.
    fake.set_ticket_timing(TicketTiming::AfterPolls(0));
    let now = c.publish(&desk, "conv-now", None).await;
    assert!(c.poll(&now, "ticket").await.is_some());
    assert!(
        fake.ticket_for_thread(&never).is_some(),
        "the global timing applies to it too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticket_patch_updates_and_validates_properties() {
    let fake = fake_with(TicketTiming::AfterPolls(0)).await;
    let c = Client::new(&fake);
    let desk = c.channel_on(FakeHubSpot::HELP_DESK_ID).await;
    let thread = c.publish(&desk, "conv-1", None).await;
    let id = c.poll(&thread, "ticket").await.unwrap();

    let (status, body) = c
        .call(
            Method::PATCH,
            &format!("/crm/v3/objects/tickets/{id}"),
            Some(json!({ "properties": {
                "subject": "Refund for order 42", "content": "Transcript…",
                "hs_ticket_priority": "HIGH", "hs_ticket_category": "BILLING_ISSUE",
                "hs_pipeline": "0", "hs_pipeline_stage": "2" } })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], json!(id));
    assert_eq!(body["properties"]["hs_ticket_priority"], "HIGH");
    let t = fake.ticket(&id).unwrap();
    assert_eq!(t.property("subject"), Some("Refund for order 42"));
    assert_eq!(t.property("hs_pipeline_stage"), Some("2"));
    assert_eq!(t.property("hs_ticket_category"), Some("BILLING_ISSUE"));

    // The dated path, and GET with chosen properties.
    let (status, _) = c
        .call(
            Method::PATCH,
            &format!("/crm/objects/2026-03/tickets/{id}"),
            Some(json!({ "properties": { "hs_ticket_priority": "LOW" } })),
        )
        .await;
    assert_eq!(status, 200);
    let (_, got) = c
        .get(&format!(
            "/crm/v3/objects/tickets/{id}?properties=hs_ticket_priority,hs_ticket_category,hubspot_owner_id"
        ))
        .await;
    assert_eq!(
        got["properties"],
        json!({ "hs_ticket_priority": "LOW", "hs_ticket_category": "BILLING_ISSUE", "hubspot_owner_id": null })
    );

    // Unknown property: 400 VALIDATION_ERROR / PROPERTY_DOESNT_EXIST; nothing applied.
    let (status, err) = c
        .call(
            Method::PATCH,
            &format!("/crm/v3/objects/tickets/{id}"),
            Some(json!({ "properties": { "subject": "changed", "hs_mood": "sad" } })),
        )
        .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["category"], "VALIDATION_ERROR");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("PROPERTY_DOESNT_EXIST"),
        "{err}"
    );
    assert_eq!(err["errors"][0]["code"], "PROPERTY_DOESNT_EXIST");
    assert_eq!(
        err["errors"][0]["context"]["propertyName"],
        json!(["hs_mood"])
    );
    assert!(err["correlationId"].is_string());
    assert_eq!(
        fake.ticket(&id).unwrap().property("subject"),
        Some("Refund for order 42")
    );

    // Values outside the option lists, stages outside the pipeline, read-only ones.
    for (props, code) in [
        (json!({ "hs_ticket_priority": "URGENT" }), "INVALID_OPTION"),
        (
            json!({ "hs_ticket_category": "SMALL_TALK" }),
            "INVALID_OPTION",
        ),
        (json!({ "hs_pipeline_stage": "77" }), "INVALID_OPTION"),
        (json!({ "hs_pipeline": "5" }), "INVALID_OPTION"),
        (json!({ "hs_object_id": "1" }), "READ_ONLY_VALUE"),
    ] {
        let (status, err) = c
            .call(
                Method::PATCH,
                &format!("/crm/v3/objects/tickets/{id}"),
                Some(json!({ "properties": props })),
            )
            .await;
        assert_eq!(
            (status, err["errors"][0]["code"].as_str()),
            (400, Some(code)),
            "{props}: {err}"
        );
    }
    let (status, _) = c
        .call(
            Method::PATCH,
            &format!("/crm/v3/objects/tickets/{id}"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 400, "properties is required");
    let (status, err) = c
        .call(
            Method::PATCH,
            "/crm/v3/objects/tickets/1",
            Some(json!({ "properties": { "subject": "x" } })),
        )
        .await;
    assert_eq!(
        (status, err["category"].as_str()),
        (404, Some("OBJECT_NOT_FOUND"))
    );

    // The option list is read from the portal, and it can be edited.
    let (status, prop) = c.get("/crm/v3/properties/tickets/hs_ticket_priority").await;
    assert_eq!(status, 200);
    let values = |p: &Value| -> Vec<String> {
        p["options"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["value"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(values(&prop), ["LOW", "MEDIUM", "HIGH"]);
    assert_eq!(prop["type"], "enumeration");
    assert_eq!(prop["options"][0]["label"], "Low");
    fake.set_ticket_priorities(&["LOW", "MEDIUM", "HIGH", "URGENT"]);
    let (_, prop) = c
        .get("/crm/properties/2026-03/tickets/hs_ticket_priority")
        .await;
    assert_eq!(values(&prop), ["LOW", "MEDIUM", "HIGH", "URGENT"]);
    let (status, _) = c
        .call(
            Method::PATCH,
            &format!("/crm/v3/objects/tickets/{id}"),
            Some(json!({ "properties": { "hs_ticket_priority": "URGENT" } })),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = c.get("/crm/v3/properties/tickets/hs_mood").await;
    assert_eq!(status, 404);

    // A pipeline the test adds.
    fake.add_ticket_pipeline("98765", &["11", "12"]);
    let (status, body) = c
        .call(
            Method::PATCH,
            &format!("/crm/v3/objects/tickets/{id}"),
            Some(json!({ "properties": { "hs_pipeline": "98765", "hs_pipeline_stage": "12" } })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(fake.call_count("PATCH", "/crm/v3/objects/tickets/{id}"), 11);
    assert_eq!(
        fake.call_count("PATCH", "/crm/objects/2026-03/tickets/{id}"),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_are_associated_with_tickets_three_ways() {
    let fake = fake_with(TicketTiming::AfterPolls(0)).await;
    let c = Client::new(&fake);
    let desk = c.channel_on(FakeHubSpot::HELP_DESK_ID).await;
    let jane = fake.add_contact(Some("jane@example.com"), None, "Jane");
    let joe = fake.add_contact(Some("joe@example.com"), None, "Joe");
    let max = fake.add_contact(Some("max@example.com"), None, "Max");
    let thread = c.publish(&desk, "conv-1", Some(&jane)).await;
    let ticket = c.poll(&thread, "ticket").await.unwrap();

    // v3 from the contact (what a bridge did in production, §13.9), twice: idempotent.
    let v3_contact =
        format!("/crm/v3/objects/contacts/{jane}/associations/tickets/{ticket}/contact_to_ticket");
    for _ in 0..2 {
        let (status, body) = c.call(Method::PUT, &v3_contact, None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["id"], json!(jane));
        assert_eq!(
            body["associations"]["tickets"]["results"],
            json!([{ "id": ticket, "type": "contact_to_ticket" }])
        );
    }
    // v4 default.
    let (status, body) = c
        .call(
            Method::PUT,
            &format!("/crm/v4/objects/contact/{joe}/associations/default/ticket/{ticket}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "COMPLETE");
    assert_eq!(
        body["results"][0]["associationSpec"]["associationTypeId"],
        15
    );
    // v3 from the ticket, type 16.
    let (status, body) = c
        .call(
            Method::PUT,
            &format!("/crm/v3/objects/tickets/{ticket}/associations/contacts/{max}/16"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["associations"]["contacts"]["results"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    assert_eq!(
        fake.ticket(&ticket).unwrap().contact_ids,
        vec![jane.clone(), joe.clone(), max.clone()]
    );
    let (_, got) = c
        .get(&format!(
            "/crm/v3/objects/tickets/{ticket}?associations=contacts"
        ))
        .await;
    assert_eq!(
        got["associations"]["contacts"]["results"][0],
        json!({ "id": jane, "type": "ticket_to_contact" })
    );

    // v4 with an explicit type, from the ticket side.
    let (status, body) = c
        .call(
            Method::PUT,
            &format!("/crm/v4/objects/tickets/{ticket}/associations/contacts/{jane}"),
            Some(json!([{ "associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 16 }])),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["fromObjectTypeId"], "0-5");

    // Wrong association types and unknown records.
    for (path, status) in [
        (
            format!(
                "/crm/v3/objects/contacts/{jane}/associations/tickets/{ticket}/ticket_to_contact"
            ),
            400,
        ),
        (
            format!("/crm/v3/objects/tickets/{ticket}/associations/contacts/{jane}/15"),
            400,
        ),
        (
            format!(
                "/crm/v3/objects/contacts/{jane}/associations/deals/{ticket}/contact_to_ticket"
            ),
            400,
        ),
        (
            format!("/crm/v3/objects/contacts/1/associations/tickets/{ticket}/contact_to_ticket"),
            404,
        ),
        (
            format!("/crm/v4/objects/contact/{jane}/associations/default/ticket/1"),
            404,
        ),
    ] {
        assert_eq!(c.call(Method::PUT, &path, None).await.0, status, "{path}");
    }
    assert_eq!(
        fake.call_count(
            "PUT",
            "/crm/v3/objects/contacts/{contactId}/associations/tickets/{ticketId}/contact_to_ticket"
        ),
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contact_create_answers_201_then_409_with_the_existing_id() {
    let fake = FakeHubSpot::start(FakeConfig::default()).await;
    let c = Client::new(&fake);
    let (status, created) = c
        .call(
            Method::POST,
            "/crm/v3/objects/contacts",
            Some(json!({ "properties": { "email": "jane@example.com", "firstname": "Jane", "phone": "+14155550100" }, "associations": [] })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(
        fake.contact(&id).unwrap()["properties"]["firstname"],
        "Jane"
    );
    assert_eq!(
        fake.contact_by_email("JANE@example.com").unwrap()["id"],
        json!(id)
    );

    let (status, err) = c
        .call(
            Method::POST,
            "/crm/v3/objects/contacts",
            Some(json!({ "properties": { "email": "Jane@Example.com", "firstname": "J" } })),
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(err["status"], "error");
    assert_eq!(err["category"], "CONFLICT");
    assert_eq!(
        err["message"],
        format!("Contact already exists. Existing ID: {id}")
    );
    assert!(err["correlationId"].is_string());
    assert_eq!(fake.contacts().len(), 1);

    // Only firstname + phone works (§13.14); a made-up property does not.
    let (status, _) = c
        .call(
            Method::POST,
            "/crm/v3/objects/contacts",
            Some(json!({ "properties": { "firstname": "Sam", "phone": "+14155550101" } })),
        )
        .await;
    assert_eq!(status, 201);
    let (status, err) = c
        .call(
            Method::POST,
            "/crm/v3/objects/contacts",
            Some(json!({ "properties": { "firstname": "Sam", "bot_session": "s1" } })),
        )
        .await;
    assert_eq!(
        (status, err["errors"][0]["code"].as_str()),
        (400, Some("PROPERTY_DOESNT_EXIST")),
        "{err}"
    );
    fake.add_contact_property("bot_session");
    let (status, _) = c
        .call(
            Method::POST,
            "/crm/v3/objects/contacts",
            Some(json!({ "properties": { "firstname": "Sam", "bot_session": "s1" } })),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(fake.call_count("POST", "/crm/v3/objects/contacts"), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_listed_with_their_availability() {
    let fake = FakeHubSpot::start(FakeConfig::default()).await;
    let c = Client::new(&fake);
    let hours = json!([{ "days": "MONDAY_TO_FRIDAY", "startMinute": 480, "endMinute": 960 }]);
    let kim = fake.add_user(
        4_100_001,
        "kim@example.com",
        "Kim Lee",
        UserAvailability::away().working_hours("Europe/Berlin", hours.clone()),
    );
    fake.add_user(
        4_100_002,
        "ola@example.com",
        "Ola N",
        UserAvailability::available(),
    );

    let props = "hs_availability_status,hs_working_hours,hs_standard_time_zone,hs_internal_user_id,hs_email";
    let (status, page) = c
        .get(&format!("/crm/v3/objects/users?properties={props}&limit=3"))
        .await;
    assert_eq!(status, 200, "{page}");
    let results = page["results"].as_array().unwrap();
    assert_eq!(results.len(), 3, "two seeded agents + Kim");
    let after = page["paging"]["next"]["after"].as_str().unwrap();
    let kim_json = results.iter().find(|u| u["id"] == json!(kim)).unwrap();
    assert_eq!(kim_json["properties"]["hs_availability_status"], "away");
    assert_eq!(
        kim_json["properties"]["hs_standard_time_zone"],
        "Europe/Berlin"
    );
    assert_eq!(kim_json["properties"]["hs_internal_user_id"], "4100001");
    let stored: Value =
        serde_json::from_str(kim_json["properties"]["hs_working_hours"].as_str().unwrap()).unwrap();
    assert_eq!(stored, hours, "stringified JSON");
    let (_, rest) = c
        .get(&format!(
            "/crm/objects/2026-03/users?properties={props}&limit=3&after={after}"
        ))
        .await;
    let rest = rest["results"].as_array().unwrap().clone();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0]["properties"]["hs_availability_status"], "available");
    assert_eq!(rest[0]["properties"]["hs_working_hours"], Value::Null);

    fake.set_user_availability(4_100_001, UserAvailability::available());
    let (status, one) = c
        .get("/crm/v3/objects/users/4100001?idProperty=hs_internal_user_id&properties=hs_availability_status,hs_working_hours")
        .await;
    assert_eq!(status, 200);
    assert_eq!(one["id"], json!(kim));
    assert_eq!(
        one["properties"],
        json!({ "hs_availability_status": "available", "hs_working_hours": null })
    );
    let (_, by_id) = c.get(&format!("/crm/v3/objects/users/{kim}")).await;
    assert!(by_id["properties"]["hs_object_id"].is_string(), "{by_id}");
    assert_eq!(c.get("/crm/v3/objects/users/1").await.0, 404);
    // The user is an agent actor too.
    let (status, actor) = c
        .get("/conversations/v3/conversations/actors/A-4100001")
        .await;
    assert_eq!((status, actor["type"].as_str()), (200, Some("AGENT")));
    assert_eq!(fake.users().len(), 4);
    assert_eq!(fake.call_count("GET", "/crm/v3/objects/users"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_without_a_scope_gets_403_missing_scopes() {
    let fake = fake_with(TicketTiming::AfterPolls(0)).await;
    let c = Client::new(&fake);
    let desk = c.channel_on(FakeHubSpot::HELP_DESK_ID).await;
    let jane = fake.add_contact(Some("jane@example.com"), None, "Jane");
    let thread = c.publish(&desk, "conv-1", Some(&jane)).await;
    let ticket = c.poll(&thread, "ticket").await.unwrap();

    fake.set_scopes_without(&["tickets"]);
    assert!(!fake.scopes().contains(&"tickets".to_string()));
    let patch = format!("/crm/v3/objects/tickets/{ticket}");
    let (status, err) = c
        .call(
            Method::PATCH,
            &patch,
            Some(json!({ "properties": { "subject": "x" } })),
        )
        .await;
    assert_eq!(status, 403, "{err}");
    assert_eq!(err["category"], "MISSING_SCOPES");
    assert_eq!(
        err["message"],
        "This app hasn't been granted all required scopes to make this call."
    );
    assert_eq!(
        err["errors"][0]["context"]["requiredGranularScopes"],
        json!(["tickets"])
    );
    assert_eq!(
        c.get("/crm/v3/properties/tickets/hs_ticket_priority")
            .await
            .0,
        403
    );
    // The contact-side association worked without `tickets` in production (§13.9).
    let (status, _) = c
        .call(
            Method::PUT,
            &format!(
                "/crm/v3/objects/contacts/{jane}/associations/tickets/{ticket}/contact_to_ticket"
            ),
            None,
        )
        .await;
    assert_eq!(status, 200);
    // The thread itself is still readable.
    assert_eq!(c.poll(&thread, "ticket").await, Some(ticket.clone()));

    fake.set_scopes_without(&["crm.objects.users.read", "crm.objects.contacts.write"]);
    assert_eq!(
        c.call(
            Method::PATCH,
            &patch,
            Some(json!({ "properties": { "subject": "x" } }))
        )
        .await
        .0,
        200
    );
    let (status, err) = c.get("/crm/v3/objects/users").await;
    assert_eq!(
        (
            status,
            err["errors"][0]["context"]["requiredGranularScopes"].clone()
        ),
        (403, json!(["crm.objects.users.read"]))
    );
    let (status, _) = c
        .call(
            Method::POST,
            "/crm/v3/objects/contacts",
            Some(json!({ "properties": { "email": "new@example.com" } })),
        )
        .await;
    assert_eq!(status, 403);
    assert!(fake.contact_by_email("new@example.com").is_none());

    // A token of its own, and the scopes the token endpoint reports.
    fake.set_scopes(
        &FakeHubSpot::default_scopes()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    let narrow = Client::with_token(
        &fake,
        fake.mint_access_token_with_scopes(&["oauth", "conversations.read"]),
    );
    assert_eq!(narrow.poll(&thread, "ticket").await, Some(ticket.clone()));
    assert_eq!(narrow.get(&patch).await.0, 403);
    assert_eq!(c.get(&patch).await.0, 200);
    let scopes = refreshed_scopes(&fake).await;
    assert!(
        scopes
            .as_array()
            .unwrap()
            .contains(&json!("crm.objects.users.read"))
    );
    fake.set_scopes(&["oauth"]);
    assert_eq!(refreshed_scopes(&fake).await, json!(["oauth"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_endpoints_are_authenticated_rate_limited_and_fault_injectable() {
    let fake = FakeHubSpot::start(FakeConfig {
        ticket_timing: TicketTiming::AfterPolls(0),
        rate_limit_per_10s: Some(40),
        ..FakeConfig::default()
    })
    .await;
    let c = Client::new(&fake);
    let desk = c.channel_on(FakeHubSpot::HELP_DESK_ID).await;
    let thread = c.publish(&desk, "conv-1", None).await;
    let ticket = c.poll(&thread, "ticket").await.unwrap();
    let paths = [
        format!("/crm/v3/objects/tickets/{ticket}"),
        "/crm/v3/objects/users".to_string(),
        "/crm/v3/properties/tickets/hs_ticket_priority".to_string(),
    ];

    let anonymous = Client::with_token(&fake, "not-a-token".into());
    for p in &paths {
        let (status, err) = anonymous.get(p).await;
        assert_eq!(
            (status, err["category"].as_str()),
            (401, Some("INVALID_AUTHENTICATION")),
            "{p}"
        );
    }
    fake.fail_next(1, 503);
    fake.rate_limit_next(1, Some(2));
    assert_eq!(c.get(&paths[0]).await.0, 503);
    assert_eq!(c.get(&paths[1]).await.0, 429);
    let res = http()
        .get(format!("{}{}", fake.url(), paths[2]))
        .bearer_auth(&c.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-hubspot-ratelimit-max"], "40");

    // The rolling window counts the new endpoints like the others.
    let mut limited = 0;
    for _ in 0..40 {
        if c.get(&paths[1]).await.0 == 429 {
            limited += 1;
        }
    }
    assert!(limited > 0, "the 40-call window filled up");
    assert!(fake.rate_limited_count() > limited);
    assert_eq!(fake.call_count("GET", "/crm/v3/objects/users"), 42);
    let statuses: Vec<u16> = fake
        .calls("GET", "/crm/v3/objects/tickets/{ticketId}")
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [401, 503]);
    let poll = fake.calls("GET", THREAD);
    assert_eq!(poll.len(), 1);
    assert_eq!(poll[0].query, "association=ticket");
}

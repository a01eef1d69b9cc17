//! `GET /api/v1/availability` (issue 14): whether an agent is there now, from HubSpot's
//! Users API (status, working hours in the user's time zone, out of office), cached.

use crate::support::fake_hubspot::{FakeConfig, FakeHubSpot, UserAvailability};
use crate::support::harness::{API_KEY, Handoff, config, connected_with};
use chrono::Timelike;
use serde_json::{Value, json};

const USERS: &str = "/crm/v3/objects/users";
/// The fake's seeded users (`users.rs`): Sam has New York working hours, Alex none.
const SAM: u64 = 2_620_022;
const ALEX: u64 = 7;

async fn connected() -> (FakeHubSpot, tempfile::TempDir, Handoff) {
    connected_with(FakeConfig::default(), |c| {
        c.hubspot.inbox_ids = vec![FakeHubSpot::HELP_DESK_ID.into()];
    })
    .await
}

async fn ask(h: &Handoff, query: &str) -> (u16, Value) {
    h.get(&format!("/api/v1/availability{query}")).await
}

/// Today's working hours in UTC that hold now (`inside`) or not.
fn hours_around_now(inside: bool) -> Value {
    let now = chrono::Utc::now();
    let m = (now.hour() * 60 + now.minute()) as i64;
    let (start, end) = if inside {
        ((m - 60).max(0), (m + 60).min(1440))
    } else if m < 720 {
        (m + 120, m + 180)
    } else {
        (m - 180, m - 120)
    };
    json!([{"days": "EVERY_DAY", "startMinute": start, "endMinute": end}])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn available_agents_are_counted_and_the_answer_is_cached() {
    let (fake, _dir, h) = connected().await;
    // Independent of the hour the test runs at.
    fake.set_user_availability(SAM, UserAvailability::available());
    fake.set_user_availability(ALEX, UserAvailability::available());

    let (status, body) = ask(&h, &format!("?inboxId={}", FakeHubSpot::INBOX_ID)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["available"], true, "{body}");
    assert_eq!(body["agentsAvailable"], 2, "{body}");
    assert!(body.get("reason").is_none(), "{body}");
    assert_eq!(fake.call_count("GET", USERS), 1);

    // Within 30 s the answer comes from the cache: no second call, for any inbox.
    fake.set_user_availability(SAM, UserAvailability::away());
    for query in [
        format!("?inboxId={}", FakeHubSpot::INBOX_ID),
        format!("?inboxId={}", FakeHubSpot::HELP_DESK_ID),
        String::new(),
    ] {
        let (status, again) = ask(&h, &query).await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(again, body, "{query}");
    }
    assert_eq!(fake.call_count("GET", USERS), 1);

    // Asked together, they share one call (a fresh handoff, so nothing is cached).
    let h = h.restart().await;
    h.wait_ready().await;
    let answers = futures_util::future::join_all((0..5).map(|_| ask(&h, ""))).await;
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(body["agentsAvailable"], 1, "Sam is away now: {body}");
    }
    assert_eq!(fake.call_count("GET", USERS), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_working_hours_and_out_of_office_decide() {
    let (fake, _dir, h) = connected().await;
    let now_ms = chrono::Utc::now().timestamp_millis();
    // Sam is away; Alex available but out of office; three more users: outside their
    // hours, inside them, and available with no hours at all but out of office in the past.
    fake.set_user_availability(SAM, UserAvailability::away());
    fake.set_user_availability(
        ALEX,
        UserAvailability::available().out_of_office(json!([
            {"startTimestamp": now_ms - 3_600_000, "endTimestamp": now_ms + 3_600_000}
        ])),
    );
    fake.add_user(
        101,
        "night@example.com",
        "Night Owl",
        UserAvailability::available().working_hours("UTC", hours_around_now(false)),
    );
    let (status, body) = ask(&h, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["available"], false, "{body}");
    assert_eq!(body["agentsAvailable"], 0, "{body}");
    assert!(
        body["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{body}"
    );

    // A fresh handoff (no cache): one user within working hours, one back from leave.
    fake.add_user(
        102,
        "day@example.com",
        "Day Shift",
        UserAvailability::available().working_hours("Etc/UTC", hours_around_now(true)),
    );
    fake.add_user(
        103,
        "back@example.com",
        "Back Again",
        UserAvailability::available().out_of_office(json!([
            {"startTimestamp": now_ms - 7_200_000, "endTimestamp": now_ms - 3_600_000}
        ])),
    );
    let h = h.restart().await;
    h.wait_ready().await;
    let (status, body) = ask(&h, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["available"], true, "{body}");
    assert_eq!(body["agentsAvailable"], 2, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_users_scope_availability_is_unknown_and_unknown_inboxes_are_refused() {
    let fake = FakeHubSpot::start(FakeConfig::default()).await;
    fake.set_scopes_without(&["crm.objects.users.read"]);
    let dir = tempfile::tempdir().unwrap();
    let h = Handoff::start(config(&fake, dir.path())).await;
    h.wait_ready().await;

    let (status, body) = ask(&h, &format!("?inboxId={}", FakeHubSpot::INBOX_ID)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["available"], Value::Null, "{body}");
    assert!(
        body["reason"]
            .as_str()
            .is_some_and(|r| r.contains("crm.objects.users.read")),
        "{body}"
    );

    // Not connected (the Help Desk is not configured here), or not an inbox at all.
    for inbox in [FakeHubSpot::HELP_DESK_ID, "999", "abc"] {
        let (status, body) = ask(&h, &format!("?inboxId={inbox}")).await;
        assert_eq!(status, 422, "{inbox}: {body}");
        assert_eq!(body["error"]["code"], "unknown-inbox", "{body}");
    }

    // The bot's API key is required.
    let resp = reqwest::get(format!("{}/api/v1/availability", h.url))
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = reqwest::Client::new()
        .get(format!("{}/api/v1/availability", h.url))
        .bearer_auth(format!("{API_KEY}-wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_ask_is_not_cached() {
    let (fake, _dir, h) = connected().await;
    fake.set_user_availability(SAM, UserAvailability::available());
    fake.set_outage(Some(503));
    let (status, body) = ask(&h, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["available"], Value::Null, "{body}");
    assert!(body["reason"].is_string(), "{body}");
    fake.set_outage(None);
    let (status, body) = ask(&h, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["available"], true, "{body}");
    assert_eq!(body["agentsAvailable"], 2, "{body}");
}

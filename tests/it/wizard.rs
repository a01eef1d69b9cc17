//! The setup wizard over plain HTTP (the browser test drives the same pages in Chromium):
//! every step against the fake HubSpot, OAuth errors shown plainly, a reconnect after a
//! revoked token, dead letters replayed and discarded, and everything surviving a restart.

use crate::support::fake_bot::FakeBot;
use crate::support::fake_hubspot::{FakeConfig, FakeHubSpot};
use crate::support::harness::{Handoff, bare_config, eventually};
use crate::support::web::{Browser, PASSWORD};
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

/// Follows handoff's redirect to HubSpot's consent page (the fake consents at once) and
/// back to `/oauth/callback`; returns the callback's page.
async fn consent(b: &mut Browser, start: crate::support::web::Page) -> crate::support::web::Page {
    assert_eq!(start.status, 303, "{}", start.body);
    let authorize = start.location().unwrap();
    let back = b.get(&authorize).await;
    assert_eq!(back.status, 302, "{}", back.body);
    b.get(&back.location().unwrap()).await
}

/// Runs every wizard step; returns the bot API key it generated.
async fn run_wizard(
    b: &mut Browser,
    handoff: &Handoff,
    fake: &FakeHubSpot,
    bot: &FakeBot,
) -> String {
    b.claim(&handoff.setup_token().unwrap()).await;
    // The public URL is pre-filled with the address the browser used.
    let step = b.get("/wizard/public-url").await;
    assert_eq!(
        step.field("public_url").as_deref(),
        Some(handoff.url.as_str())
    );
    let next = b
        .submit(
            "/wizard/public-url",
            "/wizard/public-url",
            &[("public_url", &handoff.url)],
        )
        .await;
    assert_eq!(next.location().as_deref(), Some("/wizard/hubspot-app"));

    let app = b.get("/wizard/hubspot-app").await;
    assert!(
        app.body
            .contains(&format!("{}/oauth/callback", handoff.url)),
        "redirect URL shown"
    );
    assert!(
        app.body
            .contains(&format!("{}/webhooks/hubspot", handoff.url)),
        "webhook URL shown"
    );
    assert!(
        app.body.contains("conversations.custom_channels.write"),
        "scopes named"
    );
    let next = b
        .save_app(FakeHubSpot::CLIENT_SECRET, FakeHubSpot::DEVELOPER_API_KEY)
        .await;
    assert_eq!(next.location().as_deref(), Some("/wizard/connect"));

    let start = b.submit("/wizard/connect", "/oauth/start", &[]).await;
    let authorize = start.location().unwrap();
    assert!(
        authorize.starts_with(&format!("{}/oauth/authorize?", fake.url())),
        "{authorize}"
    );
    assert!(authorize.contains(&format!("client_id={}", FakeHubSpot::CLIENT_ID)));
    assert!(
        authorize.contains("scope=oauth%20conversations.custom_channels.read%20"),
        "{authorize}"
    );
    assert!(authorize.contains("&state="));
    let done = consent(b, start).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains(&format!(
        "Connected to HubSpot portal {}",
        FakeHubSpot::PORTAL_ID
    )));
    assert!(
        done.body.contains("url=/wizard/inbox"),
        "goes on to the inbox step"
    );

    let inbox = b.get("/wizard/inbox").await;
    assert!(
        inbox.body.contains("Main website chatflow inbox")
            && inbox.body.contains("T1 support helpdesk")
    );
    assert!(inbox.body.contains("Help Desk") && inbox.body.contains(">Inbox<"));
    let next = b
        .submit(
            "/wizard/inbox",
            "/wizard/inbox",
            &[("inbox_id", FakeHubSpot::HELP_DESK_ID)],
        )
        .await;
    assert_eq!(next.location().as_deref(), Some("/wizard/provision"));
    let ready = b
        .get_until("/wizard/provision", WAIT, |p| {
            p.body.contains("provision-ready")
        })
        .await;
    assert!(
        ready
            .body
            .contains(&format!("on inbox {}", FakeHubSpot::HELP_DESK_ID))
    );

    let saved = b
        .submit("/wizard/bot", "/wizard/bot", &[("webhook_url", &bot.url())])
        .await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    let key = saved.input_by_id("new-api-key").unwrap();
    let secret = saved.input_by_id("new-webhook-secret").unwrap();
    assert!(key.starts_with("hk_") && secret.starts_with("whsec_"));
    bot.set_secret(&secret);
    let tested = b.submit("/wizard/bot", "/wizard/bot/test", &[]).await;
    assert!(
        tested.body.contains("The bot answered 204"),
        "{}",
        tested.body
    );
    let test_event = bot.events().pop().expect("the bot got the test event");
    assert_eq!(test_event["type"], "handoff.test");
    assert!(
        b.get("/wizard/done")
            .await
            .body
            .contains("handoff is set up")
    );
    key
}

/// A fresh handoff set up through the wizard and ready; the browser is logged in.
async fn set_up() -> (
    FakeHubSpot,
    FakeBot,
    tempfile::TempDir,
    Handoff,
    Browser,
    String,
) {
    let fake = FakeHubSpot::start(FakeConfig::default()).await;
    let bot = FakeBot::start().await;
    let dir = tempfile::tempdir().unwrap();
    let handoff = Handoff::start_bare(bare_config(&fake, dir.path())).await;
    let mut b = Browser::new(&handoff.url);
    let key = run_wizard(&mut b, &handoff, &fake, &bot).await;
    handoff.wait_ready().await;
    (fake, bot, dir, handoff, b, key)
}

async fn api(handoff: &Handoff, key: &str, path: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", handoff.url))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wizard_sets_handoff_up_and_it_survives_a_restart() {
    let (fake, bot, _dir, handoff, mut b, key) = set_up().await;

    // The bot, configured with what the wizard showed, works end to end.
    let (status, body) = api(
        &handoff,
        &key,
        "/api/v1/sessions",
        json!({"user": {"name": "Ada", "email": "ada@example.com"}, "title": "Help"}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    eventually(WAIT, || async {
        bot.events().iter().any(|e| e["type"] == "session.opened")
    })
    .await;
    let thread = &fake.threads()[0];
    assert_eq!(thread.inbox_id, FakeHubSpot::HELP_DESK_ID);
    let dashboard = b.get("/admin").await;
    assert!(
        dashboard.body.contains("id=\"ready\""),
        "{}",
        dashboard.body
    );
    assert!(dashboard.body.contains(body["sessionId"].as_str().unwrap()));
    assert!(dashboard.body.contains("T1 support helpdesk"));
    assert!(dashboard.body.contains(&FakeHubSpot::PORTAL_ID.to_string()));

    // Everything survives a restart, and running the steps again creates nothing new.
    let handoff = handoff.restart_in_place().await;
    handoff.wait_ready().await;
    let mut b = Browser::new(&handoff.url);
    assert_eq!(b.login(PASSWORD).await.status, 303);
    b.submit(
        "/wizard/inbox",
        "/wizard/inbox",
        &[("inbox_id", FakeHubSpot::HELP_DESK_ID)],
    )
    .await;
    let start = b.submit("/wizard/connect", "/oauth/start", &[]).await;
    assert_eq!(consent(&mut b, start).await.status, 200);
    handoff.wait_ready().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.channels().len(), 1, "one channel");
    assert_eq!(fake.channel_accounts().len(), 1, "one channel account");
    assert_eq!(fake.subscriptions().len(), 2, "two subscriptions");
    let (status, _) = api(
        &handoff,
        &key,
        "/api/v1/users",
        json!({"email": "bo@example.com"}),
    )
    .await;
    assert_eq!(status, 201, "the key still works");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_errors_are_shown_plainly_and_change_nothing() {
    let fake = FakeHubSpot::start(FakeConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let handoff = Handoff::start_bare(bare_config(&fake, dir.path())).await;
    let state = handoff.running.as_ref().unwrap().state.clone();
    let mut b = Browser::new(&handoff.url);
    b.claim(&handoff.setup_token().unwrap()).await;
    b.save_app("not-the-secret", FakeHubSpot::DEVELOPER_API_KEY)
        .await;
    let start = b.submit("/wizard/connect", "/oauth/start", &[]).await;
    let wrong_secret = consent(&mut b, start).await;
    assert_eq!(wrong_secret.status, 502);
    assert!(
        wrong_secret.body.contains("BAD_CLIENT_SECRET"),
        "{}",
        wrong_secret.body
    );
    assert!(wrong_secret.body.contains("Check the client secret"));
    assert!(state.hubspot.tokens.problem().is_some(), "not connected");

    // Consent denied on HubSpot's page.
    let start = b.submit("/wizard/connect", "/oauth/start", &[]).await;
    let authorize = start.location().unwrap();
    let oauth_state = authorize.split("state=").nth(1).unwrap().to_string();
    let denied = b
        .get(&format!(
            "/oauth/callback?error=access_denied&error_description=User%20denied%20access&state={oauth_state}"
        ))
        .await;
    assert_eq!(denied.status, 400);
    assert!(
        denied.body.contains("Access was denied") && denied.body.contains("User denied access")
    );
    // A state is good once, and a made-up one never.
    for s in [oauth_state.as_str(), "made-up"] {
        let page = b.get(&format!("/oauth/callback?code=abc&state={s}")).await;
        assert_eq!(page.status, 400, "{s}");
        assert!(page.body.contains("not one handoff asked for"));
    }
    let no_state = b.get("/oauth/callback?code=abc").await;
    assert_eq!(no_state.status, 400);
    assert!(
        state.hubspot.tokens.problem().is_some(),
        "still not connected"
    );
    assert_eq!(
        state.store.oauth_state().unwrap(),
        None,
        "no token was stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_after_a_revoked_token_and_dead_letters_replay_or_discard() {
    let (fake, _bot, _dir, handoff, mut b, key) = set_up().await;
    let (_, session) = api(
        &handoff,
        &key,
        "/api/v1/sessions",
        json!({"user": {"email": "ada@example.com"}}),
    )
    .await;
    let session = session["sessionId"].as_str().unwrap().to_string();
    eventually(WAIT, || async { fake.threads().len() == 1 }).await;
    let messages = |n: usize| {
        let fake = &fake;
        move || async move { fake.threads()[0].messages.len() == n }
    };
    let send = |id: &'static str| {
        let (handoff, key, session) = (&handoff, key.clone(), session.clone());
        async move {
            let path = format!("/api/v1/sessions/{session}/messages");
            let body = json!({"type": "text", "payload": {"text": id}, "messageId": id});
            assert_eq!(api(handoff, &key, &path, body).await.0, 202);
        }
    };

    // HubSpot refuses two messages for good: both become dead letters.
    fake.set_reject_publishes(Some("refused for the test".into()));
    send("m1").await;
    send("m2").await;
    eventually(WAIT, || async { b_dead_letters(&handoff) == 2 }).await;
    fake.set_reject_publishes(None);
    let page = b.get("/admin").await;
    assert!(page.body.contains("refused for the test"), "{}", page.body);
    let ids = dead_letter_ids(&page.body);
    assert_eq!(ids.len(), 2);
    let csrf = page.csrf();
    // Newest first: discard m2, replay m1.
    let discard = b
        .post(
            &format!("/admin/dead-letters/{}/discard", ids[0]),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(discard.location().as_deref(), Some("/admin"));
    let replay = b
        .post(
            &format!("/admin/dead-letters/{}/replay", ids[1]),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(replay.location().as_deref(), Some("/admin"));
    eventually(WAIT, messages(2)).await;
    assert_eq!(b_dead_letters(&handoff), 0);
    let texts: Vec<_> = fake.threads()[0]
        .messages
        .iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(texts[1], "m1", "{texts:?}");
    let gone = b
        .post(
            &format!("/admin/dead-letters/{}/replay", ids[1]),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(gone.status, 404, "a replayed letter is gone");

    // The refresh token is revoked: work waits, the dashboard offers a reconnect.
    fake.revoke_refresh_tokens();
    fake.expire_access_tokens();
    send("m3").await;
    let page = b
        .get_until("/admin", WAIT, |p| p.body.contains("id=\"reconnect\""))
        .await;
    assert!(page.body.contains("hubspot-reauthorization-required"));
    let start = b
        .post(
            "/oauth/start",
            &[("csrf", &page.csrf()), ("from", "dashboard")],
        )
        .await;
    let back = consent(&mut b, start).await;
    assert_eq!(back.status, 200, "{}", back.body);
    assert!(back.body.contains("url=/admin"), "returns to the dashboard");
    eventually(WAIT, messages(3)).await;
    handoff.wait_ready().await;
    assert!(!b.get("/admin").await.body.contains("id=\"reconnect\""));
}

fn b_dead_letters(handoff: &Handoff) -> usize {
    handoff
        .running
        .as_ref()
        .unwrap()
        .state
        .store
        .dead_letter_count()
}

/// The ids in the dashboard's replay buttons, newest first.
fn dead_letter_ids(body: &str) -> Vec<u64> {
    body.split("/admin/dead-letters/")
        .skip(1)
        .filter_map(|rest| rest.split_once("/replay").map(|(id, _)| id))
        .filter_map(|id| id.parse().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_the_bot_registered_is_shown_as_such() {
    let (_fake, bot, _dir, handoff, mut b, key) = set_up().await;
    let page = b.get("/wizard/bot").await;
    assert!(page.body.contains("id=\"botpress\""), "{}", page.body);
    assert!(
        page.body
            .contains(&format!("<code id=\"handoff-url\">{}</code>", handoff.url))
    );
    assert!(!page.body.contains("registered-by-bot"));

    let response = reqwest::Client::new()
        .put(format!("{}/api/v1/webhook", handoff.url))
        .bearer_auth(&key)
        .json(&json!({"url": "https://webhook.botpress.cloud/wh_1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let page = b.get("/wizard/bot").await;
    assert!(
        page.body.contains("Registered by the bot at 20"),
        "{}",
        page.body
    );
    assert!(page.body.contains("https://webhook.botpress.cloud/wh_1"));
    let dashboard = b.get("/admin").await;
    assert!(
        dashboard.body.contains("registered by the bot at 20"),
        "{}",
        dashboard.body
    );
    assert!(
        dashboard
            .body
            .contains(&format!("<code>{}</code>", handoff.url))
    );

    // The admin types a URL: it is no longer the bot's.
    let saved = b
        .submit("/wizard/bot", "/wizard/bot", &[("webhook_url", &bot.url())])
        .await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert!(!saved.body.contains("registered-by-bot"));
    assert!(!b.get("/admin").await.body.contains("registered by the bot"));
}

//! The bot registers its own webhook (`/api/v1/webhook`), anonymous users keyed by the bot's
//! `externalId`, and event envelopes that carry the session's `externalId`.

use crate::sessions::thread_of;
use crate::support::fake_bot::FakeBot;
use crate::support::fake_hubspot::{FakeConfig, FakeHubSpot};
use crate::support::harness::{Handoff, config, connected, connected_with, eventually};
use handoff::secret::Secret;
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_registers_its_webhook_and_gets_a_fresh_secret() {
    let (fake, dir, handoff) = connected(FakeConfig::default()).await;
    let bot = FakeBot::start().await;

    let (status, body) = handoff.get("/api/v1/webhook").await;
    assert_eq!((status, &body), (200, &json!({"url": null})));
    let unauthorized = reqwest::Client::new()
        .put(format!("{}/api/v1/webhook", handoff.url))
        .bearer_auth("not-the-key-0123456789")
        .json(&json!({"url": bot.url()}))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), 401);
    for bad in [json!({"url": "ftp://x/y"}), json!({"url": "not a url"})] {
        let (status, body) = handoff
            .request(Method::PUT, "/api/v1/webhook", Some(&bad))
            .await;
        assert_eq!(status, 422, "{body}");
    }
    let (status, _) = handoff
        .request(Method::PUT, "/api/v1/webhook", Some(&json!({"uri": "x"})))
        .await;
    assert_eq!(status, 400);
    assert_eq!(handoff.get("/api/v1/webhook").await.1, json!({"url": null}));

    let (status, body) = handoff
        .request(
            Method::PUT,
            "/api/v1/webhook",
            Some(&json!({"url": bot.url()})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["url"], bot.url());
    let first_secret = body["secret"].as_str().unwrap().to_string();
    assert!(first_secret.starts_with("whsec_"));
    bot.set_secret(&first_secret);
    assert_eq!(handoff.get("/api/v1/webhook").await.1["url"], bot.url());

    // Events are signed with the registered secret and name the bot's externalId.
    let (status, body) = handoff
        .post(
            "/api/v1/sessions",
            json!({"user": {"email": "ext@example.com"}, "externalId": "conv_42"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let session = body["sessionId"].as_str().unwrap().to_string();
    eventually(WAIT, || async { !bot.events().is_empty() }).await;
    let opened = &bot.events()[0];
    assert_eq!(opened["type"], "session.opened");
    assert_eq!(opened["sessionId"], session.as_str());
    assert_eq!(opened["externalId"], "conv_42");
    let (_, feed) = handoff.get("/api/v1/events").await;
    assert_eq!(feed["events"][0]["externalId"], "conv_42");

    // Registering again rotates the secret: later events are signed with the new one.
    let (_, again) = handoff
        .request(
            Method::PUT,
            "/api/v1/webhook",
            Some(&json!({"url": bot.url()})),
        )
        .await;
    let second_secret = again["secret"].as_str().unwrap().to_string();
    assert_ne!(second_secret, first_secret);
    bot.set_secret(&second_secret);
    let thread = thread_of(&fake, &handoff, &session, 1).await;
    fake.close(&thread.id).await;
    eventually(WAIT, || async {
        bot.events().iter().any(|e| e["type"] == "session.closed")
    })
    .await;

    // It survives a restart; DELETE removes it and events stay in the feed only.
    let handoff = handoff.restart().await;
    handoff.wait_ready().await;
    assert_eq!(handoff.get("/api/v1/webhook").await.1["url"], bot.url());
    let (status, _) = handoff
        .request(Method::DELETE, "/api/v1/webhook", None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(handoff.get("/api/v1/webhook").await.1, json!({"url": null}));
    drop(dir);
}

/// The bot chooses where handoff POSTs: a metadata, link-local or multicast address is
/// refused when the URL says so, and on delivery when only the name's answer does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_at_a_refused_address_is_never_called() {
    let (_fake, _dir, handoff) = connected_with(FakeConfig::default(), |c| {
        c.test_hosts = handoff::net::TestHosts::new([(
            "metadata.test".to_string(),
            std::net::Ipv4Addr::new(169, 254, 169, 254).into(),
        )]);
    })
    .await;
    // The address policy refuses these; the URL pattern (dotted IPv4 or a name) already
    // refuses the other spellings of the same addresses.
    for (url, by_policy) in [
        ("http://169.254.169.254/latest/meta-data/", true),
        ("http://100.100.100.200/latest/meta-data/", true),
        ("https://169.254.1.1:8443/hook", true),
        ("http://224.0.0.1/hook", true),
        ("http://2852039166/latest/meta-data/", false),
        ("http://[fd00:ec2::254]/hook", false),
        ("http://[fe80::1]/hook", false),
    ] {
        let (status, body) = handoff
            .request(Method::PUT, "/api/v1/webhook", Some(&json!({"url": url})))
            .await;
        assert_eq!(status, 422, "{url}: {body}");
        assert_eq!(body["error"]["code"], "invalid-url", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert_eq!(
            message.contains("never calls"),
            by_policy,
            "{url}: {message}"
        );
    }
    assert_eq!(handoff.get("/api/v1/webhook").await.1, json!({"url": null}));

    // A name is only known to be refused once it is resolved: the delivery stops there
    // for good (a dead letter), rather than being retried against the metadata endpoint.
    let (status, body) = handoff
        .request(
            Method::PUT,
            "/api/v1/webhook",
            Some(&json!({"url": "http://metadata.test/hook"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    handoff.open_session("meta@example.com", json!([])).await;
    let store = &handoff.running.as_ref().unwrap().state.store;
    eventually(WAIT, || async { store.dead_letter_count() == 1 }).await;
    // The event stays in the feed.
    let (_, feed) = handoff.get("/api/v1/events").await;
    assert_eq!(feed["events"][0]["type"], "session.opened");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_webhook_is_locked_against_the_bot() {
    let fake = FakeHubSpot::start(FakeConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&fake, dir.path());
    c.bot.webhook_url = Some("https://bot.example.com/events".into());
    c.bot.webhook_secret = Some(Secret::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"));
    let handoff = Handoff::start(c).await;
    for (method, body) in [
        (
            Method::PUT,
            Some(json!({"url": "https://other.example.com/x"})),
        ),
        (Method::DELETE, None),
    ] {
        let (status, answer) = handoff
            .request(method, "/api/v1/webhook", body.as_ref())
            .await;
        assert_eq!(status, 409, "{answer}");
        assert_eq!(answer["error"]["code"], "webhook-locked");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains("bot.webhook_url"), "{message}");
    }
    assert_eq!(
        handoff.get("/api/v1/webhook").await.1["url"],
        "https://bot.example.com/events"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_users_are_published_by_opaque_id_and_never_matched_with_a_contact() {
    let fake = FakeHubSpot::start(FakeConfig::default()).await;
    // A contact that carries a made-up address must never be matched by it.
    let fake_address = "user_9@no-reply.bot-1.botpress.com";
    fake.add_contact(Some(fake_address), None, "Placeholder");
    let dir = tempfile::tempdir().unwrap();
    let handoff = Handoff::start(config(&fake, dir.path())).await;
    handoff.wait_ready().await;

    let (status, body) = handoff
        .post(
            "/api/v1/users",
            json!({"name": "Webchat Visitor", "externalId": "bp_user_9"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["externalId"], "bp_user_9");
    assert!(body.get("email").is_none());
    let user_id = body["userId"].as_str().unwrap().to_string();
    let (status, again) = handoff
        .post(
            "/api/v1/users",
            json!({"name": "Webchat Visitor", "externalId": "bp_user_9", "email": fake_address}),
        )
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["userId"], user_id.as_str());
    assert!(again.get("email").is_none(), "a made-up email is no email");

    // Only a made-up email: no email, keyed by that address.
    let (status, placeholder) = handoff
        .post("/api/v1/users", json!({"email": "Anonymous@NoEmail.com"}))
        .await;
    assert_eq!(status, 201, "{placeholder}");
    assert!(placeholder.get("email").is_none());
    let (status, none) = handoff
        .post("/api/v1/users", json!({"name": "Nobody"}))
        .await;
    assert_eq!(status, 422, "{none}");
    assert_eq!(none["error"]["code"], "identity-required");

    let searches_before = contact_searches(&fake);
    let (status, body) = handoff
        .post(
            "/api/v1/sessions",
            json!({"userId": user_id, "title": "Help"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let session = body["sessionId"].as_str().unwrap().to_string();
    let thread = thread_of(&fake, &handoff, &session, 1).await;
    let sender = &thread.messages[0]["senders"][0];
    assert_eq!(sender["name"], "Webchat Visitor");
    assert_eq!(
        sender["deliveryIdentifier"]["type"],
        "CHANNEL_SPECIFIC_OPAQUE_ID"
    );
    assert_eq!(sender["deliveryIdentifier"]["value"], user_id.as_str());
    assert_eq!(thread.associated_contact_id, None);
    assert_eq!(
        contact_searches(&fake),
        searches_before,
        "no contact search"
    );
}

fn contact_searches(fake: &FakeHubSpot) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r.path.contains("/crm/v3/objects/contacts/search"))
        .count()
}

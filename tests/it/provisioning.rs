//! Headless provisioning: channel, channel account and app webhooks, idempotent across
//! restarts and HubSpot's eventual consistency.

use crate::support::fake_hubspot::{FakeConfig, FakeHubSpot};
use crate::support::harness::{Handoff, config, connected};
use serde_json::Value;

fn ours(fake: &FakeHubSpot, webhook: &str) -> Vec<Value> {
    fake.channels()
        .into_iter()
        .filter(|c| c["webhookUrl"].as_str() == Some(webhook))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisions_once_and_reuses_everything_after_restart() {
    let (fake, _dir, handoff) = connected(FakeConfig::default()).await;

    let webhook = format!("{}/webhooks/hubspot", handoff.url);
    let channels = fake.channels();
    assert_eq!(channels.len(), 1);
    let channel = &channels[0];
    assert_eq!(channel["webhookUrl"], webhook.as_str());
    let caps = &channel["capabilities"];
    assert_eq!(caps["allowOutgoingMessages"], true);
    assert_eq!(caps["threadingModel"], "INTEGRATION_THREAD_ID");
    for t in [
        "HS_EMAIL_ADDRESS",
        "HS_PHONE_NUMBER",
        "CHANNEL_SPECIFIC_OPAQUE_ID",
    ] {
        assert!(
            caps["deliveryIdentifierTypes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v == t),
            "{t}"
        );
    }
    assert!(
        caps["outgoingAttachmentTypes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v == "FILE")
    );
    let accounts = fake.channel_accounts();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0]["inboxId"], FakeHubSpot::INBOX_ID);
    assert_eq!(
        fake.webhook_settings().unwrap()["targetUrl"],
        webhook.as_str()
    );
    let subs = fake.subscriptions();
    for prop in ["assignedTo", "status"] {
        assert!(
            subs.iter()
                .any(|s| s["eventType"] == "conversation.propertyChange"
                    && s["propertyName"] == prop
                    && s["active"] == true),
            "subscription for {prop}: {subs:?}"
        );
    }

    // A restart on the same data dir (the public URL changes with the port) reuses the
    // channel, updates its webhook URL and reuses the account.
    let channel_id = channel["id"].clone();
    let handoff = handoff.restart().await;
    handoff.wait_ready().await;
    let channels = fake.channels();
    assert_eq!(channels.len(), 1, "never two channels: {channels:?}");
    assert_eq!(channels[0]["id"], channel_id);
    assert_eq!(
        channels[0]["webhookUrl"],
        format!("{}/webhooks/hubspot", handoff.url).as_str()
    );
    assert_eq!(fake.channel_accounts().len(), 1);
    assert_eq!(fake.subscriptions().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_channel_not_listed_yet_is_not_created_twice() {
    let fake = FakeHubSpot::start(FakeConfig {
        hide_new_channels_for_lists: 20,
        ..FakeConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&fake, dir.path());
    let handoff = Handoff::start(cfg).await;
    handoff.wait_ready().await;
    // Restart while HubSpot still hides the channel from its list.
    let handoff = handoff.restart().await;
    handoff.wait_ready().await;
    let handoff = handoff.restart().await;
    handoff.wait_ready().await;
    assert_eq!(fake.channels().len(), 1, "{:?}", fake.channels());
    assert_eq!(fake.channel_accounts().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_store_adopts_the_channel_with_our_webhook_url() {
    let fake = FakeHubSpot::start(FakeConfig::default()).await;
    let first_dir = tempfile::tempdir().unwrap();
    let mut first = Handoff::start(config(&fake, first_dir.path())).await;
    first.wait_ready().await;
    let url = first.config.public_url.clone().unwrap();
    first.stop().await;

    // Same public URL, empty data dir (e.g. a reinstall): adopt, don't duplicate.
    let second_dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&fake, second_dir.path());
    cfg.public_url = Some(url.clone());
    let listener = std::net::TcpListener::bind(url.trim_start_matches("http://")).unwrap();
    let running = handoff::app::start(cfg, listener).await.unwrap();
    let webhook = format!("{url}/webhooks/hubspot");
    crate::support::harness::eventually(std::time::Duration::from_secs(20), || async {
        running.state.provision.ready().is_some()
    })
    .await;
    assert_eq!(ours(&fake, &webhook).len(), 1);
    assert_eq!(fake.channels().len(), 1);
    assert_eq!(fake.channel_accounts().len(), 1);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_configuration_is_reported_by_readyz() {
    let fake = FakeHubSpot::start(FakeConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&fake, dir.path());
    cfg.hubspot.refresh_token = None;
    cfg.hubspot.inbox_id = None;
    let handoff = Handoff::start(cfg).await;
    let (status, body) = handoff.get("/readyz").await;
    assert_eq!(status, 503);
    let reasons = body["reasons"].as_array().unwrap();
    assert!(
        reasons.iter().any(|r| r == "hubspot-not-configured"),
        "{body}"
    );
    assert!(
        reasons.iter().any(|r| r == "channel-not-provisioned"),
        "{body}"
    );
    assert_eq!(handoff.get("/healthz").await.0, 200);
    assert!(fake.channels().is_empty());
}

//! `/oauth/callback` is bound to the browser that started Connect HubSpot: a leaked `state`
//! used from another browser is refused before any token exchange.

use crate::support::fake_hubspot::{FakeConfig, FakeHubSpot};
use crate::support::harness::{Handoff, bare_config};
use crate::support::web::{Browser, PASSWORD};

/// Starts Connect HubSpot in `b`; returns HubSpot's consent URL (holding the `state`) and
/// the nonce cookie handoff set, if any.
async fn start_flow(b: &mut Browser) -> (String, Option<String>) {
    let start = b.submit("/wizard/connect", "/oauth/start", &[]).await;
    assert_eq!(start.status, 303, "{}", start.body);
    (start.location().unwrap(), start.set_cookie("handoff_oauth"))
}

/// The callback URL HubSpot's (fake) consent page sends a browser back to.
async fn consent(b: &mut Browser, authorize: &str) -> String {
    let back = b.get(authorize).await;
    assert_eq!(back.status, 302, "{}", back.body);
    back.location().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_from_another_browser_is_refused_without_a_token_exchange() {
    let fake = FakeHubSpot::start(FakeConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let handoff = Handoff::start_bare(bare_config(&fake, dir.path())).await;
    let state = handoff.running.as_ref().unwrap().state.clone();
    let mut admin = Browser::new(&handoff.url);
    admin.claim(&handoff.setup_token().unwrap()).await;
    admin
        .save_app(FakeHubSpot::CLIENT_SECRET, FakeHubSpot::DEVELOPER_API_KEY)
        .await;
    let (leaked, nonce) = start_flow(&mut admin).await;
    let exchanges = fake.token_requests();

    // Someone with the leaked consent URL consents with their own portal...
    let mut stranger = Browser::new(&handoff.url);
    let callback = consent(&mut stranger, &leaked).await;
    let refused = stranger.get(&callback).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("another browser"), "{}", refused.body);
    // ...or a second admin browser with a flow (and nonce) of its own tries it.
    let mut second = Browser::new(&handoff.url);
    assert_eq!(second.login(PASSWORD).await.status, 303);
    start_flow(&mut second).await;
    let refused = second.get(&callback).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(fake.token_requests(), exchanges, "no code was exchanged");
    assert!(state.hubspot.tokens.problem().is_some(), "not connected");

    // The browser that started the flow still completes it.
    let callback = consent(&mut admin, &leaked).await;
    let done = admin.get(&callback).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(fake.token_requests() > exchanges);
    assert!(state.hubspot.tokens.problem().is_none(), "connected");
    let nonce = nonce.expect("Connect HubSpot sets a nonce cookie");
    assert!(
        nonce.contains("HttpOnly") && nonce.contains("SameSite=Lax"),
        "{nonce}"
    );
    assert!(
        done.set_cookie("handoff_oauth")
            .is_some_and(|c| c.contains("Max-Age=0")),
        "the nonce is cleared"
    );
}

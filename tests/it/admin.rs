//! The admin pages' protection: the setup token, logins, CSRF, the rate limit, cookies,
//! secrets never shown back, and values locked by the configuration.

use crate::support::fake_hubspot::{FakeConfig, FakeHubSpot};
use crate::support::harness::{Handoff, bare_config};
use crate::support::web::{Browser, PASSWORD};

async fn bare() -> (FakeHubSpot, tempfile::TempDir, Handoff) {
    let fake = FakeHubSpot::start(FakeConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let handoff = Handoff::start_bare(bare_config(&fake, dir.path())).await;
    (fake, dir, handoff)
}

/// Every page behind the login, and a form it takes.
const ADMIN_PAGES: &[&str] = &[
    "/admin",
    "/wizard",
    "/wizard/public-url",
    "/wizard/hubspot-app",
    "/wizard/connect",
    "/wizard/inbox",
    "/wizard/provision",
    "/wizard/bot",
    "/wizard/done",
];
const ADMIN_FORMS: &[&str] = &[
    "/wizard/public-url",
    "/wizard/hubspot-app",
    "/wizard/inbox",
    "/wizard/bot",
    "/wizard/bot/test",
    "/oauth/start",
    "/admin/dead-letters/1/replay",
    "/admin/dead-letters/1/discard",
    "/logout",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_needs_the_printed_token_and_spends_it() {
    let (_fake, _dir, handoff) = bare().await;
    let token = handoff
        .setup_token()
        .expect("a first run has a setup token");
    let mut b = Browser::new(&handoff.url);

    assert_eq!(b.get("/").await.location().as_deref(), Some("/setup"));
    for path in ["/setup", "/setup?token=wrong"] {
        let page = b.get(path).await;
        assert_eq!(page.status, 403, "{path}");
        assert!(
            !page.body.contains("name=\"password\""),
            "{path} offers no form"
        );
    }
    // A forged POST with a wrong token changes nothing.
    let csrf = b.get(&format!("/setup?token={token}")).await.csrf();
    let refused = b
        .post(
            "/setup",
            &[
                ("token", "wrong"),
                ("csrf", &csrf),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("setup-token-refused"));
    // The right token but no CSRF cookie (another browser) is refused too.
    let mut stranger = Browser::new(&handoff.url);
    let refused = stranger
        .post(
            "/setup",
            &[
                ("token", &token),
                ("csrf", &csrf),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("csrf-refused"));
    assert!(handoff.setup_token().is_some(), "nothing was set");

    // Too short, then mismatched: shown on the page, nothing set.
    for (password, confirm, message) in [
        ("short", "short", "at least 10 characters"),
        (PASSWORD, "another long password", "differ"),
    ] {
        let page = b
            .post(
                "/setup",
                &[
                    ("token", &token),
                    ("csrf", &csrf),
                    ("password", password),
                    ("confirm", confirm),
                ],
            )
            .await;
        assert_eq!(page.status, 422);
        assert!(page.body.contains(message), "{}", page.body);
    }

    let done = b.claim(&token).await;
    assert_eq!(done.location().as_deref(), Some("/wizard/public-url"));
    let cookie = done.set_cookie("handoff_session").unwrap();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");
    assert_eq!(b.get("/admin").await.status, 200);
    // The token is spent.
    assert!(handoff.setup_token().is_none());
    let again = b.get(&format!("/setup?token={token}")).await;
    assert_eq!(again.location().as_deref(), Some("/login"));
    assert_eq!(
        Browser::new(&handoff.url)
            .get("/")
            .await
            .location()
            .as_deref(),
        Some("/admin")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_pages_and_forms_need_a_login() {
    let (_fake, _dir, handoff) = bare().await;
    let mut admin = Browser::new(&handoff.url);
    admin.claim(&handoff.setup_token().unwrap()).await;
    let csrf = admin.get("/admin").await.csrf();

    let mut anonymous = Browser::new(&handoff.url);
    for path in ADMIN_PAGES {
        let page = anonymous.get(path).await;
        assert_eq!(page.status, 303, "{path}");
        assert_eq!(page.location().as_deref(), Some("/login"), "{path}");
        assert_eq!(
            admin.get(path).await.status / 100,
            if *path == "/wizard" { 3 } else { 2 },
            "{path}"
        );
    }
    // A stolen CSRF token without the session is worth nothing.
    for path in ADMIN_FORMS {
        let page = anonymous
            .post(
                path,
                &[("csrf", &csrf), ("public_url", "https://evil.example.com")],
            )
            .await;
        assert_eq!(page.status, 303, "{path}");
        assert_eq!(page.location().as_deref(), Some("/login"), "{path}");
    }
    // A made-up session cookie is not a session.
    anonymous
        .cookies
        .insert("handoff_session".into(), "made-up".into());
    assert_eq!(
        anonymous.get("/admin").await.location().as_deref(),
        Some("/login")
    );

    // Logging out ends the session on the server, not just in the browser.
    let session = admin.cookies.get("handoff_session").cloned().unwrap();
    let out = admin.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.location().as_deref(), Some("/login"));
    assert!(
        out.set_cookie("handoff_session")
            .unwrap()
            .contains("Max-Age=0")
    );
    let mut replay = Browser::new(&handoff.url);
    replay.cookies.insert("handoff_session".into(), session);
    assert_eq!(
        replay.get("/admin").await.location().as_deref(),
        Some("/login")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_without_the_right_csrf_token_change_nothing() {
    let (_fake, _dir, handoff) = bare().await;
    let mut b = Browser::new(&handoff.url);
    b.claim(&handoff.setup_token().unwrap()).await;
    let state = handoff.running.as_ref().unwrap().state.clone();

    for csrf in ["", "wrong-token"] {
        let page = b
            .post(
                "/wizard/public-url",
                &[("csrf", csrf), ("public_url", "https://evil.example.com")],
            )
            .await;
        assert_eq!(page.status, 403, "csrf `{csrf}`");
        assert!(page.body.contains("csrf-refused"));
    }
    // A form without the field at all is a bad request.
    let page = b
        .post(
            "/wizard/public-url",
            &[("public_url", "https://evil.example.com")],
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(
        state.settings.saved().public_url.is_none(),
        "nothing was saved"
    );

    let saved = b
        .submit(
            "/wizard/public-url",
            "/wizard/public-url",
            &[("public_url", "https://handoff.example.com/")],
        )
        .await;
    assert_eq!(saved.location().as_deref(), Some("/wizard/hubspot-app"));
    assert_eq!(state.settings.public_base(), "https://handoff.example.com");

    // The login form has its own token (a cookie set with the form).
    let csrf = b.get("/admin").await.csrf();
    b.post("/logout", &[("csrf", &csrf)]).await;
    let mut fresh = Browser::new(&handoff.url);
    let refused = fresh
        .post("/login", &[("csrf", "guess"), ("password", PASSWORD)])
        .await;
    assert_eq!(refused.status, 403);
    assert!(!fresh.cookies.contains_key("handoff_session"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_rate_limited() {
    let (_fake, _dir, handoff) = bare().await;
    Browser::new(&handoff.url)
        .claim(&handoff.setup_token().unwrap())
        .await;
    let mut b = Browser::new(&handoff.url);
    for _ in 0..5 {
        let page = b.login("not the password").await;
        assert_eq!(page.status, 401);
        assert!(page.body.contains("Wrong password"));
        assert!(page.set_cookie("handoff_session").is_none());
    }
    // Even the right password waits now.
    let page = b.login(PASSWORD).await;
    assert_eq!(page.status, 429, "{}", page.body);
    assert!(page.body.contains("Too many failed attempts"));
    let wait: u64 = page.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=300).contains(&wait), "{wait}");
    assert!(page.set_cookie("handoff_session").is_none());
    assert_eq!(b.get("/admin").await.status, 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_are_secure_behind_https_and_a_login_opens_a_session() {
    let fake = FakeHubSpot::start(FakeConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = bare_config(&fake, dir.path());
    config.public_url = Some("https://handoff.example.com".into());
    let handoff = Handoff::start_bare(config).await;
    let mut b = Browser::new(&handoff.url);
    let done = b.claim(&handoff.setup_token().unwrap()).await;
    assert!(
        done.set_cookie("handoff_session")
            .unwrap()
            .contains("Secure")
    );
    let mut again = Browser::new(&handoff.url);
    let form = again.get("/login").await;
    assert!(form.set_cookie("handoff_form").unwrap().contains("Secure"));
    let page = again.login(PASSWORD).await;
    assert_eq!(page.status, 303);
    assert_eq!(page.location().as_deref(), Some("/admin"));
    let cookie = page.set_cookie("handoff_session").unwrap();
    assert!(
        cookie.contains("Secure")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
    );
    // The public URL comes from the configuration: locked, with its source.
    let step = again.get("/wizard/public-url").await;
    assert!(
        step.body.contains("Locked: set in the configuration"),
        "{}",
        step.body
    );
    let tried = again
        .submit(
            "/wizard/public-url",
            "/wizard/public-url",
            &[("public_url", "https://other.example.com")],
        )
        .await;
    assert_eq!(tried.status, 303);
    let state = handoff.running.as_ref().unwrap().state.clone();
    assert_eq!(state.settings.public_base(), "https://handoff.example.com");
    assert!(state.settings.saved().public_url.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wizard_refuses_a_webhook_at_the_metadata_address() {
    let (_fake, _dir, handoff) = bare().await;
    let mut b = Browser::new(&handoff.url);
    b.claim(&handoff.setup_token().unwrap()).await;
    let refused = b
        .submit(
            "/wizard/bot",
            "/wizard/bot",
            &[("webhook_url", "http://169.254.169.254/latest/meta-data/")],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body.contains("a cloud metadata address"),
        "{}",
        refused.body
    );
    // Nothing was saved: the page shows an empty field again.
    assert!(!b.get("/wizard/bot").await.body.contains("169.254.169.254"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_never_shown_back() {
    let (_fake, _dir, handoff) = bare().await;
    let mut b = Browser::new(&handoff.url);
    b.claim(&handoff.setup_token().unwrap()).await;
    let saved = b
        .save_app(FakeHubSpot::CLIENT_SECRET, FakeHubSpot::DEVELOPER_API_KEY)
        .await;
    assert_eq!(saved.location().as_deref(), Some("/wizard/connect"));
    let bot = b
        .submit(
            "/wizard/bot",
            "/wizard/bot",
            &[("webhook_url", "http://127.0.0.1:9/hook")],
        )
        .await;
    let key = bot
        .input_by_id("new-api-key")
        .expect("the new key is shown once");
    let secret = bot
        .input_by_id("new-webhook-secret")
        .expect("the new secret is shown once");
    for path in [
        "/wizard/hubspot-app",
        "/wizard/bot",
        "/admin",
        "/wizard/done",
    ] {
        let page = b.get(path).await;
        for value in [
            FakeHubSpot::CLIENT_SECRET,
            FakeHubSpot::DEVELOPER_API_KEY,
            key.as_str(),
            secret.as_str(),
        ] {
            assert!(!page.body.contains(value), "{path} shows a secret");
        }
        if path != "/wizard/done" {
            assert!(page.body.contains("***"), "{path} marks saved secrets");
        }
    }
    // Saving the app again without retyping the secrets keeps them.
    let again = b.save_app("", "").await;
    assert_eq!(again.status, 303);
    let state = handoff.running.as_ref().unwrap().state.clone();
    assert_eq!(
        state
            .settings
            .app_credentials()
            .unwrap()
            .client_secret
            .expose(),
        FakeHubSpot::CLIENT_SECRET
    );
    // The generated key works for the bot API; only its digest is stored.
    assert_eq!(state.settings.check_bot_key(&key), Some(true));
    assert!(state.settings.saved().bot_api_key_sha256.as_deref() != Some(key.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_from_the_configuration_are_locked_and_win() {
    let fake = FakeHubSpot::start(FakeConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = bare_config(&fake, dir.path());
    config.bot.api_key = Some(handoff::secret::Secret::new(
        "configured-bot-key-0123456789",
    ));
    config.hubspot.inbox_id = Some(FakeHubSpot::HELP_DESK_ID.into());
    let handoff = Handoff::start_bare(config).await;
    let mut b = Browser::new(&handoff.url);
    b.claim(&handoff.setup_token().unwrap()).await;

    let bot = b
        .submit(
            "/wizard/bot",
            "/wizard/bot",
            &[("webhook_url", ""), ("new_key", "1")],
        )
        .await;
    assert_eq!(bot.status, 200);
    assert!(
        bot.input_by_id("new-api-key").is_none(),
        "no key is generated over a configured one"
    );
    assert!(bot.body.contains("set in the configuration"));
    let state = handoff.running.as_ref().unwrap().state.clone();
    assert_eq!(
        state
            .settings
            .check_bot_key("configured-bot-key-0123456789"),
        Some(true)
    );
    assert!(state.settings.saved().bot_api_key_sha256.is_none());

    let inbox = b.get("/wizard/inbox").await;
    assert!(
        inbox.body.contains("The inbox is set in the configuration"),
        "{}",
        inbox.body
    );
    b.submit(
        "/wizard/inbox",
        "/wizard/inbox",
        &[("inbox_id", FakeHubSpot::INBOX_ID)],
    )
    .await;
    assert_eq!(
        state.settings.inbox_id().as_deref(),
        Some(FakeHubSpot::HELP_DESK_ID)
    );

    let dashboard = b.get("/admin").await;
    assert!(
        dashboard.body.contains("locked: configuration"),
        "{}",
        dashboard.body
    );
}

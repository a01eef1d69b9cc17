//! The whole wizard in real headless Chromium (Debian's `chromium` and `chromium-driver`)
//! against the fake HubSpot, whose consent page redirects back with a code as if the admin
//! consented. A screenshot of each step goes to `target/screenshots/wizard/`.
//!
//! Without a browser the test says so and passes only outside CI; with `CI` set, a missing
//! browser fails it.

use crate::support::fake_bot::FakeBot;
use crate::support::fake_hubspot::{FakeConfig, FakeHubSpot};
use crate::support::harness::{Handoff, bare_config};
use crate::support::web::PASSWORD;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use thirtyfour::prelude::*;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const WAIT: Duration = Duration::from_secs(30);

/// chromedriver on a free port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_chromedriver() -> Option<Driver> {
    crate::support::harness::init();
    if !Path::new(CHROMEDRIVER).exists() || !Path::new(CHROMIUM).exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but {CHROMIUM} / {CHROMEDRIVER} are missing: install chromium and chromium-driver"
        );
        eprintln!(
            "SKIPPED: no {CHROMIUM} / {CHROMEDRIVER}; apt-get install chromium chromium-driver"
        );
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + WAIT;
    while reqwest::get(format!("{}/status", driver.url))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "chromedriver did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Some(driver)
}

async fn chromium(driver: &Driver, profile: &Path) -> WebDriver {
    let mut caps = DesiredCapabilities::chrome();
    caps.set_binary(CHROMIUM).unwrap();
    for arg in [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1000",
    ] {
        caps.add_arg(arg).unwrap();
    }
    caps.add_arg(&format!("--user-data-dir={}", profile.display()))
        .unwrap();
    WebDriver::new(&driver.url, caps)
        .await
        .expect("a Chromium session")
}

struct Steps {
    browser: WebDriver,
    dir: PathBuf,
    n: usize,
}

impl Steps {
    async fn shot(&mut self, name: &str) {
        self.n += 1;
        let path = self.dir.join(format!("{:02}-{name}.png", self.n));
        self.browser.screenshot(&path).await.unwrap();
    }

    async fn fill(&self, id: &str, text: &str) {
        let input = self.browser.find(By::Id(id)).await.unwrap();
        input.clear().await.unwrap();
        input.send_keys(text).await.unwrap();
    }

    async fn click(&self, id: &str) {
        self.browser
            .find(By::Id(id))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    async fn value(&self, id: &str) -> String {
        let element = self.browser.find(By::Id(id)).await.unwrap();
        element.value().await.unwrap().unwrap_or_default()
    }

    async fn text(&self, id: &str) -> String {
        self.browser
            .find(By::Id(id))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Waits until the page has an element with `id` (pages refresh themselves, or the
    /// test reloads them).
    async fn wait_for(&self, id: &str, reload: bool) {
        let deadline = Instant::now() + WAIT;
        while self.browser.find(By::Id(id)).await.is_err() {
            assert!(
                Instant::now() < deadline,
                "#{id} did not appear on {}",
                self.browser.current_url().await.unwrap()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
            if reload {
                self.browser.refresh().await.unwrap();
            }
        }
    }

    /// Waits until the browser is on `path` (a click returns before its navigation ends).
    async fn wait_path(&self, path: &str) {
        let deadline = Instant::now() + WAIT;
        while self.path().await != path {
            assert!(
                Instant::now() < deadline,
                "not on {path} but {}",
                self.path().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The document is in place once it has its heading.
        self.wait_for_css("main h1").await;
    }

    async fn wait_for_css(&self, css: &str) {
        let deadline = Instant::now() + WAIT;
        while self.browser.find(By::Css(css)).await.is_err() {
            assert!(Instant::now() < deadline, "{css} did not appear");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn path(&self) -> String {
        self.browser.current_url().await.unwrap().path().to_string()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_sets_handoff_up_in_chromium() {
    let Some(driver) = start_chromedriver().await else {
        return;
    };
    let fake = FakeHubSpot::start(FakeConfig::default()).await;
    let bot = FakeBot::start().await;
    let data = tempfile::tempdir().unwrap();
    let handoff = Handoff::start_bare(bare_config(&fake, data.path())).await;
    let profile = tempfile::tempdir().unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots/wizard");
    std::fs::create_dir_all(&dir).unwrap();
    let mut s = Steps {
        browser: chromium(&driver, profile.path()).await,
        dir,
        n: 0,
    };

    // 1. The printed one-time link; the admin password.
    let token = handoff.setup_token().unwrap();
    s.browser
        .goto(format!("{}/setup?token={token}", handoff.url))
        .await
        .unwrap();
    s.fill("password", PASSWORD).await;
    s.fill("confirm", PASSWORD).await;
    s.shot("set-password").await;
    s.click("set-password").await;

    // 2. The public URL, pre-filled with the address the browser used.
    s.wait_path("/wizard/public-url").await;
    assert_eq!(s.value("public_url").await, handoff.url);
    s.shot("public-url").await;
    s.click("next").await;

    // 3. The HubSpot app's credentials, with the URLs and scopes to paste into HubSpot.
    s.wait_path("/wizard/hubspot-app").await;
    assert_eq!(
        s.text("redirect-url").await,
        format!("{}/oauth/callback", handoff.url)
    );
    s.fill("client_id", FakeHubSpot::CLIENT_ID).await;
    s.fill("client_secret", FakeHubSpot::CLIENT_SECRET).await;
    s.fill("app_id", FakeHubSpot::APP_ID).await;
    s.fill("developer_api_key", FakeHubSpot::DEVELOPER_API_KEY)
        .await;
    s.shot("hubspot-app").await;
    s.click("next").await;

    // 4. Connect HubSpot: off to the (fake) consent page and back through the callback.
    s.wait_path("/wizard/connect").await;
    s.shot("connect").await;
    s.click("connect").await;
    s.wait_path("/wizard/inbox").await;

    // 5. The inbox picker lists the portal's inboxes with their types.
    let listed = s
        .browser
        .find(By::Css(".choices"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(listed.contains("Main website chatflow inbox") && listed.contains("Inbox"));
    assert!(listed.contains("T1 support helpdesk") && listed.contains("Help Desk"));
    s.browser
        .find(By::Css(format!(
            "input[value='{}']",
            FakeHubSpot::HELP_DESK_ID
        )))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    s.shot("inbox").await;
    s.click("next").await;

    // 6. Provisioning shows its progress and refreshes itself until ready.
    s.wait_path("/wizard/provision").await;
    s.wait_for("provision-ready", false).await;
    s.shot("provisioned").await;
    assert_eq!(fake.channels().len(), 1);
    s.click("next").await;

    // 7. The bot: a key and a secret shown once, and a test event to the bot.
    s.wait_path("/wizard/bot").await;
    s.fill("webhook_url", &bot.url()).await;
    s.click("save-bot").await;
    s.wait_for("new-api-key", false).await;
    let key = s.value("new-api-key").await;
    let secret = s.value("new-webhook-secret").await;
    assert!(key.starts_with("hk_") && secret.starts_with("whsec_"));
    s.shot("bot-key-shown-once").await;
    bot.set_secret(&secret);
    s.click("send-test").await;
    s.wait_for("test-result", false).await;
    assert!(s.text("test-result").await.contains("The bot answered 204"));
    assert_eq!(bot.events().last().unwrap()["type"], "handoff.test");
    assert!(
        s.browser.find(By::Id("new-api-key")).await.is_err(),
        "the key is not shown again"
    );
    s.shot("bot-test-event").await;
    s.click("next").await;

    // 8. Done, then the dashboard, ready, showing a session the bot opened.
    s.wait_for("setup-done", false).await;
    s.shot("done").await;
    s.click("to-dashboard").await;
    s.wait_path("/admin").await;
    s.wait_for("ready", true).await;
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/sessions", handoff.url))
        .bearer_auth(&key)
        .json(&json!({"user": {"name": "Ada", "email": "ada@example.com"}, "title": "Help"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let session: serde_json::Value = response.json().await.unwrap();
    let id = session["sessionId"].as_str().unwrap().to_string();
    let deadline = Instant::now() + WAIT;
    loop {
        s.browser.refresh().await.unwrap();
        let sessions = s.text("sessions").await;
        if sessions.contains(&id) && sessions.contains("open") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the session did not show: {sessions}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let hubspot = s.text("hubspot").await;
    assert!(
        hubspot.contains(&FakeHubSpot::PORTAL_ID.to_string()),
        "{hubspot}"
    );
    assert!(s.text("channel").await.contains("T1 support helpdesk"));
    let page = s.browser.source().await.unwrap();
    for secret_value in [
        FakeHubSpot::CLIENT_SECRET,
        FakeHubSpot::DEVELOPER_API_KEY,
        &key,
        &secret,
    ] {
        assert!(!page.contains(secret_value), "the dashboard shows a secret");
    }
    s.shot("dashboard").await;

    // 9. Logging out leads to the login page; the dashboard needs the password again.
    s.browser
        .find(By::Css("form[action='/logout'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    s.wait_path("/login").await;
    s.browser
        .goto(format!("{}/admin", handoff.url))
        .await
        .unwrap();
    s.wait_path("/login").await;
    s.shot("logged-out").await;
    s.browser.quit().await.unwrap();
}

//! Starts the real handoff server on 127.0.0.1:0 against the fake HubSpot, and talks HTTP
//! to it.

use super::fake_hubspot::{FakeConfig, FakeHubSpot};
use handoff::app::Running;
use handoff::config::Config;
use handoff::secret::Secret;
use serde_json::Value;
use std::future::Future;
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

pub const API_KEY: &str = "test-bot-api-key-0123456789";

pub fn init() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

/// A configuration for tests: headless provisioning against `fake`, a fast retry schedule.
pub fn config(fake: &FakeHubSpot, data_dir: &Path) -> Config {
    let mut c = Config {
        listen: "127.0.0.1:0".into(),
        data_dir: data_dir.to_path_buf(),
        ..Config::default()
    };
    c.hubspot.api_base = fake.url();
    c.hubspot.app_base = fake.url();
    c.hubspot.client_id = Some(FakeHubSpot::CLIENT_ID.into());
    c.hubspot.client_secret = Some(Secret::new(FakeHubSpot::CLIENT_SECRET));
    c.hubspot.app_id = Some(FakeHubSpot::APP_ID.into());
    c.hubspot.developer_api_key = Some(Secret::new(FakeHubSpot::DEVELOPER_API_KEY));
    c.hubspot.refresh_token = Some(Secret::new(fake.refresh_token()));
    c.hubspot.inbox_id = Some(FakeHubSpot::INBOX_ID.into());
    c.hubspot.rate_limit_per_10s = 1000;
    c.hubspot.timeout = Duration::from_secs(5);
    c.bot.api_key = Some(Secret::new(API_KEY));
    c.retry.initial = Duration::from_millis(20);
    c.retry.max = Duration::from_millis(300);
    c.retry.give_up_after = Duration::from_secs(120);
    c
}

/// A configuration with nothing the wizard can set: HubSpot at `fake`, a fast retry
/// schedule, no credentials, no bot key, no public URL.
pub fn bare_config(fake: &FakeHubSpot, data_dir: &Path) -> Config {
    let mut c = config(fake, data_dir);
    c.hubspot.client_id = None;
    c.hubspot.client_secret = None;
    c.hubspot.app_id = None;
    c.hubspot.developer_api_key = None;
    c.hubspot.refresh_token = None;
    c.hubspot.inbox_id = None;
    c.bot.api_key = None;
    c
}

/// A fake HubSpot and a handoff connected to it and ready (the temp dir holds the store).
pub async fn connected(fake_config: FakeConfig) -> (FakeHubSpot, tempfile::TempDir, Handoff) {
    connected_with(fake_config, |_| {}).await
}

/// [`connected`], with the test's changes to the configuration.
pub async fn connected_with(
    fake_config: FakeConfig,
    adjust: impl FnOnce(&mut Config),
) -> (FakeHubSpot, tempfile::TempDir, Handoff) {
    let fake = FakeHubSpot::start(fake_config).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&fake, dir.path());
    adjust(&mut config);
    let handoff = Handoff::start(config).await;
    handoff.wait_ready().await;
    (fake, dir, handoff)
}

/// Made-up public host names that lead to the test servers on loopback (outside fetches
/// refuse loopback itself).
pub fn test_hosts(names: &[&str]) -> handoff::net::TestHosts {
    handoff::net::TestHosts::new(
        names
            .iter()
            .map(|n| (n.to_string(), std::net::Ipv4Addr::LOCALHOST.into())),
    )
}

pub struct Handoff {
    pub running: Option<Running>,
    pub url: String,
    pub config: Config,
    pub http: reqwest::Client,
}

impl Handoff {
    /// Starts handoff with `config`, binding a fresh port and pointing `public_url` at it.
    pub async fn start(mut config: Config) -> Handoff {
        init();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        config.public_url = Some(format!("http://{addr}"));
        let running = start_when_unlocked(&config, listener).await;
        Handoff {
            running: Some(running),
            url: format!("http://{addr}"),
            config,
            http: reqwest::Client::new(),
        }
    }

    /// Starts handoff on `listener` as it is (e.g. bound to every interface); `url` is
    /// its loopback address.
    pub async fn start_on(config: Config, listener: TcpListener) -> Handoff {
        init();
        let port = listener.local_addr().unwrap().port();
        let running = start_when_unlocked(&config, listener).await;
        Handoff {
            running: Some(running),
            url: format!("http://127.0.0.1:{port}"),
            config,
            http: reqwest::Client::new(),
        }
    }

    /// Starts handoff as an operator would on a new box: `public_url` stays unset, and
    /// `listen` is the bound address (so the default public URL is right).
    pub async fn start_bare(mut config: Config) -> Handoff {
        init();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        config.listen = addr.to_string();
        let running = start_when_unlocked(&config, listener).await;
        Handoff {
            running: Some(running),
            url: format!("http://{addr}"),
            config,
            http: reqwest::Client::new(),
        }
    }

    /// Graceful stop, then a start on the same data dir and the same address (what the
    /// wizard saved, such as the public URL, stays true).
    pub async fn restart_in_place(mut self) -> Handoff {
        self.stop().await;
        let addr: std::net::SocketAddr = self.url.trim_start_matches("http://").parse().unwrap();
        let running = start_when_unlocked(&self.config, TcpListener::bind(addr).unwrap()).await;
        Handoff {
            running: Some(running),
            url: self.url.clone(),
            config: self.config.clone(),
            http: reqwest::Client::new(),
        }
    }

    /// The one-time setup token handoff printed (while no admin password is set).
    pub fn setup_token(&self) -> Option<String> {
        self.running.as_ref().unwrap().state.admin.setup_token()
    }

    /// Graceful stop, then a fresh start on the same data dir (and a new port).
    pub async fn restart(mut self) -> Handoff {
        self.stop().await;
        Handoff::start(self.config.clone()).await
    }

    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
    }

    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(API_KEY);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.expect("request reaches handoff");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.request(reqwest::Method::POST, path, Some(&body)).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.request(reqwest::Method::GET, path, None).await
    }

    pub async fn wait_ready(&self) {
        eventually(Duration::from_secs(20), || async {
            self.get("/readyz").await.0 == 200
        })
        .await;
    }

    /// Opens a session for a user with this email and returns its id.
    pub async fn open_session(&self, email: &str, history: Value) -> String {
        let (status, body) = self
            .post(
                "/api/v1/sessions",
                serde_json::json!({"user": {"name": "Test User", "email": email}, "title": "Help", "messageHistory": history}),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        body["sessionId"].as_str().unwrap().to_string()
    }

    pub async fn send_text(&self, session: &str, message_id: &str, text: &str) {
        let (status, body) = self
            .post(
                &format!("/api/v1/sessions/{session}/messages"),
                serde_json::json!({"type": "text", "payload": {"text": text}, "messageId": message_id}),
            )
            .await;
        assert_eq!(status, 202, "{body}");
    }

    pub async fn session(&self, id: &str) -> Value {
        let (status, body) = self.get(&format!("/api/v1/sessions/{id}")).await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

/// An in-process restart can reach the store before the previous server's worker threads
/// have dropped their handles (sled allows one opener); wait for them briefly.
async fn start_when_unlocked(config: &Config, listener: TcpListener) -> Running {
    let addr = listener.local_addr().unwrap();
    let mut listener = Some(listener);
    for _ in 0..100 {
        let l = listener
            .take()
            .unwrap_or_else(|| TcpListener::bind(addr).unwrap());
        match handoff::app::start(config.clone(), l).await {
            Ok(running) => return running,
            Err(e) if e.to_string().contains("could not acquire lock") => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => panic!("handoff starts: {e}"),
        }
    }
    panic!("the store stayed locked")
}

impl Drop for Handoff {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            // Not stopped by the test: stop the HTTP server so the port is released.
            let handle = r.handle();
            tokio::spawn(async move { handle.stop(false).await });
        }
    }
}

/// Polls `check` until it holds, failing the test after `timeout`.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

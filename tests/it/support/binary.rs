//! Runs the compiled handoff binary against the fake HubSpot (headless configuration), for
//! the tests that kill it.

use super::fake_hubspot::FakeHubSpot;
use super::harness::API_KEY;
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub struct Binary {
    pub child: Child,
    pub url: String,
}

/// A failing test must not leave a handoff process running.
impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// How to start it: headless against `fake`, on `port` (a fresh one unless set).
pub struct Launch<'a> {
    pub fake: &'a FakeHubSpot,
    pub data_dir: &'a Path,
    pub refresh_token: &'a str,
    pub port: u16,
    pub log: &'a str,
    pub stderr: Stdio,
    pub env: Vec<(&'static str, String)>,
}

impl<'a> Launch<'a> {
    pub fn new(fake: &'a FakeHubSpot, data_dir: &'a Path, refresh_token: &'a str) -> Self {
        Launch {
            fake,
            data_dir,
            refresh_token,
            port: free_port(),
            log: "warn",
            stderr: Stdio::inherit(),
            env: Vec::new(),
        }
    }

    pub fn spawn(self) -> Binary {
        let url = format!("http://127.0.0.1:{}", self.port);
        let fake = self.fake;
        let mut command = Command::new(env!("CARGO_BIN_EXE_handoff"));
        command
            .env_clear()
            .env("HANDOFF_LISTEN", format!("127.0.0.1:{}", self.port))
            .env("HANDOFF_PUBLIC_URL", &url)
            .env("HANDOFF_DATA_DIR", self.data_dir)
            .env("HANDOFF_HUBSPOT__API_BASE", fake.url())
            .env("HANDOFF_HUBSPOT__APP_BASE", fake.url())
            .env("HANDOFF_HUBSPOT__CLIENT_ID", FakeHubSpot::CLIENT_ID)
            .env("HANDOFF_HUBSPOT__CLIENT_SECRET", FakeHubSpot::CLIENT_SECRET)
            .env("HANDOFF_HUBSPOT__APP_ID", FakeHubSpot::APP_ID)
            .env(
                "HANDOFF_HUBSPOT__DEVELOPER_API_KEY",
                FakeHubSpot::DEVELOPER_API_KEY,
            )
            .env("HANDOFF_HUBSPOT__REFRESH_TOKEN", self.refresh_token)
            .env("HANDOFF_HUBSPOT__INBOX_ID", FakeHubSpot::INBOX_ID)
            .env("HANDOFF_HUBSPOT__RATE_LIMIT_PER_10S", "1000")
            .env("HANDOFF_BOT__API_KEY", API_KEY)
            .env("HANDOFF_RETRY__INITIAL", "20ms")
            .env("HANDOFF_RETRY__MAX", "200ms")
            .env("RUST_LOG", self.log);
        for (key, value) in &self.env {
            command.env(key, value);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(self.stderr)
            .spawn()
            .expect("the handoff binary starts");
        Binary { child, url }
    }
}

/// Polls `{url}{path}` until it answers 200 (30 s at most; a chaos restart may take longer,
/// so its caller passes more).
pub async fn wait_for(url: &str, path: &str, timeout: std::time::Duration) {
    let http = reqwest::Client::new();
    super::harness::eventually(timeout, || async {
        matches!(http.get(format!("{url}{path}")).send().await, Ok(r) if r.status() == 200)
    })
    .await;
}

//! The Botpress side of the end-to-end test: the bundled `handoff` integration
//! (`packaging/botpress/`) run by `test/e2e/fake-runtime.mjs`, which is at once a fake
//! Botpress Runtime API, a fake webhook gateway and a control API for the test.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub struct Runtime {
    child: Child,
    pub url: String,
    http: reqwest::Client,
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn package_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/botpress")
}

fn run(dir: &Path, program: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("{program} {args:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

impl Runtime {
    /// Builds the bundle from the current sources (installing the locked dependencies when
    /// they are missing) and starts the harness. `None` when Node.js is missing outside CI;
    /// with `CI` set, a missing Node or a failed install fails the test instead.
    pub fn start() -> Option<Runtime> {
        let dir = package_dir();
        let ci = std::env::var_os("CI").is_some();
        if Command::new("node").arg("--version").output().is_err() {
            assert!(
                !ci,
                "CI is set but Node.js is missing: install nodejs and npm"
            );
            println!("SKIPPED: no Node.js; install it to run the Botpress end-to-end test");
            return None;
        }
        if !dir.join("node_modules").exists() {
            run(&dir, "npm", &["ci", "--no-audit", "--no-fund"]).expect("npm ci");
        }
        run(&dir, "npm", &["run", "--silent", "bundle"]).expect("the integration bundles");
        let log =
            std::fs::File::create(Path::new(env!("CARGO_TARGET_TMPDIR")).join("botpress-e2e.log"))
                .unwrap();
        let mut child = Command::new("node")
            .arg(dir.join("test/e2e/fake-runtime.mjs"))
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("node starts the harness");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let ready: Value = serde_json::from_str(&line)
            .unwrap_or_else(|_| panic!("the harness's ready line, got `{line}`"));
        Some(Runtime {
            child,
            url: format!("http://127.0.0.1:{}", ready["port"]),
            http: reqwest::Client::new(),
        })
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let resp = self
            .http
            .post(format!("{}{path}", self.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// The integration's configuration (`handoffUrl`, `apiKey`), sent on every invocation.
    pub async fn configure(&self, handoff_url: &str, api_key: &str) {
        self.post(
            "/_control/configuration",
            json!({"handoffUrl": handoff_url, "apiKey": api_key}),
        )
        .await;
    }

    /// Runs an operation (`register`, …); answers `(status, body)`.
    pub async fn operation(&self, operation: &str, body: Value) -> (u16, Value) {
        let r = self
            .post(
                "/_control/operation",
                json!({"operation": operation, "body": body}),
            )
            .await;
        (r["status"].as_u64().unwrap() as u16, r["body"].clone())
    }

    /// Runs an action and returns its output, failing the test on an error.
    pub async fn action(&self, kind: &str, input: Value) -> Value {
        let (status, body) = self
            .operation("action_triggered", json!({"type": kind, "input": input}))
            .await;
        assert_eq!(status, 200, "{kind}: {body}");
        body["output"].clone()
    }

    /// A message the HITL plugin creates on the downstream conversation (as the bot);
    /// answers the status of the integration's channel handler.
    pub async fn message(&self, conversation_id: &str, kind: &str, payload: Value) -> u16 {
        let r = self
            .post(
                "/_control/message",
                json!({"conversationId": conversation_id, "type": kind, "payload": payload}),
            )
            .await;
        r["status"].as_u64().unwrap() as u16
    }

    /// Every Runtime API call answers `status` for `ms` milliseconds.
    pub async fn fail(&self, status: u16, ms: u64) {
        self.post("/_control/fail", json!({"status": status, "ms": ms}))
            .await;
    }

    pub async fn state(&self) -> Value {
        self.http
            .get(format!("{}/_control/state", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Where handoff's events reach the integration (`webhook_received`).
    pub fn webhook_url(&self) -> String {
        format!("{}/webhook/wh_e2e", self.url)
    }
}

/// The state's records of one kind (`users`, `messages`, `events`, …).
pub fn records<'a>(state: &'a Value, kind: &str) -> &'a Vec<Value> {
    state[kind].as_array().unwrap()
}

/// The total of the state's call counters.
pub fn call_count(state: &Value) -> u64 {
    state["calls"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(Value::as_u64)
        .sum()
}

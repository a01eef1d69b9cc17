//! HubSpot calling the app (§3, §4, §5): custom-channel events (one JSON
//! object, signed v3) to the channel's `webhookUrl`, and app webhooks (a JSON
//! array, signed v1 and v3) to the `targetUrl` of the app's webhook settings.
//!
//! Every attempt is signed afresh with a new timestamp; a non-2xx answer, a
//! connection error or a timeout is retried (app events with `attemptNumber`
//! incremented). Redirects are not followed.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::FakeHubSpot;
use super::state::{Shared, State};

/// Outcome of sending one webhook: every attempt's HTTP status (None =
/// connection error/timeout). With duplicate delivery on, the attempts of both
/// copies are listed one after the other, and `delivered` means both copies
/// got a 2xx. No attempts and `delivered: false` = nowhere to send it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookResult {
    pub attempts: Vec<Option<u16>>,
    pub delivered: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookKind {
    /// A custom-channel event (object, v3) to the channel's `webhookUrl`.
    Channel,
    /// App webhooks (array, v1 + v3) to the settings' `targetUrl`.
    App,
}

/// One webhook the fake sent (or had no URL for), logged when it finished.
#[derive(Debug, Clone)]
pub struct SentWebhook {
    pub kind: WebhookKind,
    /// None when no `webhookUrl` / `targetUrl` was configured.
    pub url: Option<String>,
    /// The payload of the first attempt.
    pub payload: Value,
    pub result: WebhookResult,
}

#[derive(Debug, Clone)]
pub(super) struct WebhookCfg {
    pub attempts: u32,
    pub spacing: Duration,
    pub timeout: Duration,
    pub duplicate: bool,
    pub thread_ids_inside_message: bool,
    pub close_echo: bool,
    /// Delay of the close echo after the PATCH that caused it.
    pub echo_delay: Duration,
}

impl Default for WebhookCfg {
    fn default() -> Self {
        WebhookCfg {
            attempts: 5,
            spacing: Duration::from_millis(50),
            timeout: Duration::from_secs(5),
            duplicate: false,
            thread_ids_inside_message: false,
            close_echo: true,
            echo_delay: Duration::from_millis(20),
        }
    }
}

/// Seen on real app-webhook deliveries (§4.4).
const USER_AGENT: &str = "HubSpot Connect 2.0 (http://dev.hubspot.com/) \
    (namespace: webhooks-nio-http-client) - WebhooksExecutorDaemon-executor";

pub(super) fn now_millis() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

/// v1: lowercase hex SHA-256 of `clientSecret + body` (§5.1).
pub(super) fn sign_v1(secret: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(secret.as_bytes());
    h.update(body);
    hex(&h.finalize())
}

/// v3: base64 HMAC-SHA256 of `method + uri + body + timestamp` (§5.1); the
/// URI with the documented percent-encodings decoded.
pub(super) fn sign_v3(secret: &str, method: &str, uri: &str, body: &[u8], ts: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(method.as_bytes());
    mac.update(v3_uri(uri).as_bytes());
    mac.update(body);
    mac.update(ts.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The v3 URI rule (§5.1): these (uppercase) escapes are decoded before hashing.
pub(super) fn v3_uri(uri: &str) -> String {
    const DECODED: &[(&str, &str)] = &[
        ("%3A", ":"),
        ("%2F", "/"),
        ("%3F", "?"),
        ("%40", "@"),
        ("%21", "!"),
        ("%24", "$"),
        ("%27", "'"),
        ("%28", "("),
        ("%29", ")"),
        ("%2A", "*"),
        ("%2C", ","),
        ("%3B", ";"),
    ];
    let mut out = String::with_capacity(uri.len());
    let mut rest = uri;
    'outer: while !rest.is_empty() {
        if rest.starts_with('%') {
            for (enc, dec) in DECODED {
                if rest.starts_with(enc) {
                    out.push_str(dec);
                    rest = &rest[enc.len()..];
                    continue 'outer;
                }
            }
        }
        let c = rest.chars().next().unwrap();
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A uuid-shaped random id (custom-channel `eventId`s look like uuids).
pub(super) fn uuid_like() -> String {
    let h = hex(&rand::random::<[u8; 16]>());
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn client(sh: &Shared) -> &reqwest::Client {
    sh.http.get_or_init(|| {
        // reqwest is built without a default crypto provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // No proxies from the environment; no pooled connections, so a
            // restarted receiver never meets a stale keep-alive connection.
            .no_proxy()
            .pool_max_idle_per_host(0)
            .build()
            .expect("webhook client")
    })
}

/// The channel's `webhookUrl`: the one named by `channelId`, else the most
/// recent channel that has one.
pub(super) fn channel_url(st: &State, channel_id: Option<&str>) -> Option<String> {
    let url_of = |c: &super::state::ChannelRec| {
        c.json
            .get("webhookUrl")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    match channel_id {
        Some(id) => st.channel(id).and_then(url_of),
        None => st
            .channels
            .iter()
            .rev()
            .filter(|c| !c.archived)
            .find_map(url_of),
    }
}

pub(super) fn app_url(st: &State) -> Option<String> {
    st.webhook_settings
        .as_ref()
        .and_then(|s| s["targetUrl"].as_str())
        .map(str::to_string)
}

/// A `conversation.propertyChange` app event for a thread (§4.1, §4.2).
pub(super) fn property_change(
    st: &mut State,
    thread_id: &str,
    property: &str,
    value: &str,
    source: &str,
) -> Value {
    let subscription = st
        .subscriptions
        .iter()
        .find(|s| s["eventType"] == "conversation.propertyChange" && s["propertyName"] == property)
        .and_then(|s| s["id"].as_str()?.parse::<u64>().ok())
        .unwrap_or(2_371_671);
    let object_id = thread_id
        .parse::<u64>()
        .map_or_else(|_| json!(thread_id), |n| json!(n));
    json!({
        "eventId": st.ids.event(),
        "subscriptionId": subscription,
        "portalId": FakeHubSpot::PORTAL_ID,
        "appId": FakeHubSpot::APP_ID.parse::<u64>().unwrap(),
        "occurredAt": now_millis() as u64,
        "subscriptionType": "conversation.propertyChange",
        "attemptNumber": 0,
        "objectId": object_id,
        "propertyName": property,
        "propertyValue": value,
        "changeSource": source,
    })
}

/// The body of attempt `n` (0-based): app events get `attemptNumber` + n.
fn body_for(kind: WebhookKind, payload: &Value, n: u32) -> Vec<u8> {
    let mut p = payload.clone();
    if let (WebhookKind::App, Value::Array(events), true) = (kind, &mut p, n > 0) {
        for e in events.iter_mut() {
            if let Some(a) = e.get("attemptNumber").and_then(Value::as_u64) {
                e["attemptNumber"] = json!(a + u64::from(n));
            }
        }
    }
    serde_json::to_vec(&p).expect("JSON serializes")
}

async fn attempt(
    sh: &Shared,
    kind: WebhookKind,
    url: &str,
    body: Vec<u8>,
    timeout: Duration,
) -> Option<u16> {
    let ts = now_millis().to_string();
    let secret = FakeHubSpot::CLIENT_SECRET;
    let mut rb = client(sh)
        .post(url)
        .timeout(timeout)
        .header("content-type", "application/json")
        .header("user-agent", USER_AGENT)
        .header("x-hubspot-timeout-millis", timeout.as_millis().to_string())
        .header("x-hubspot-request-timestamp", &ts)
        .header(
            "x-hubspot-signature-v3",
            sign_v3(secret, "POST", url, &body, &ts),
        );
    if kind == WebhookKind::App {
        rb = rb
            .header("x-hubspot-signature", sign_v1(secret, &body))
            .header("x-hubspot-signature-version", "v1");
    }
    match rb.body(body).send().await {
        Ok(r) => Some(r.status().as_u16()),
        Err(_) => None,
    }
}

/// Sends one webhook with retries (twice with duplicate delivery on) and logs it.
pub(super) async fn deliver(
    sh: &Shared,
    kind: WebhookKind,
    url: Option<String>,
    payload: Value,
) -> WebhookResult {
    let cfg = sh.state.lock().webhook.clone();
    let mut result = WebhookResult::default();
    if let Some(url) = &url {
        let copies = if cfg.duplicate { 2 } else { 1 };
        let mut all = true;
        for _ in 0..copies {
            let mut ok = false;
            for n in 0..cfg.attempts.max(1) {
                if n > 0 {
                    tokio::time::sleep(cfg.spacing).await;
                }
                let status = attempt(sh, kind, url, body_for(kind, &payload, n), cfg.timeout).await;
                result.attempts.push(status);
                if status.is_some_and(|s| (200..300).contains(&s)) {
                    ok = true;
                    break;
                }
            }
            all &= ok;
        }
        result.delivered = all;
    }
    sh.state.lock().sent_webhooks.push(SentWebhook {
        kind,
        url,
        payload,
        result: result.clone(),
    });
    result
}

/// HubSpot's echo of a client closing a thread through the API (§10.6):
/// `propertyChange status=CLOSED`, sent in the background shortly after the
/// PATCH was answered.
pub(super) fn spawn_close_echo(sh: Arc<Shared>, thread_id: String) {
    let runtime = sh.runtime.clone();
    runtime.spawn(async move {
        let delay = sh.state.lock().webhook.echo_delay;
        tokio::time::sleep(delay).await;
        let (url, event) = {
            let mut st = sh.state.lock();
            let event = property_change(&mut st, &thread_id, "status", "CLOSED", "API");
            (app_url(&st), event)
        };
        deliver(&sh, WebhookKind::App, url, json!([event])).await;
    });
}

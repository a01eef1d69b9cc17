//! A fake bot: a real HTTP server receiving handoff's events the way a
//! careful bot would (Standard Webhooks: `webhook-id`, `webhook-timestamp`,
//! `webhook-signature`; see `shared/DESIGN.md`, "Events to the bot").
//!
//! `POST /hook` verifies the signature and the timestamp (±5 minutes) and
//! answers 204; a bad or missing signature or a stale timestamp answers 401.
//! Failures can be injected (`fail_next`, `set_down`, `set_retry_after`,
//! `set_redirect`). Every attempt is recorded (`deliveries`); the bodies the
//! bot accepted are `events`, duplicates included.
//!
//! Self-contained (no `crate::` paths) so it can be copied into a test crate.

// Included as a private module of test binaries, where hooks a binary doesn't
// call would otherwise be reported as dead code.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Instant;

use actix_web::dev::ServerHandle;
use actix_web::web::{self, Bytes, Data};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// Timestamps further than this from now are refused (Standard Webhooks).
const TOLERANCE_SECS: i64 = 5 * 60;
/// Bodies up to this size are read (handoff's events are far smaller).
const MAX_BODY: usize = 8 << 20;

/// One delivery attempt as the bot saw it.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// `webhook-id` header ("" when missing).
    pub webhook_id: String,
    /// `webhook-timestamp` header (0 when missing or not a number).
    pub timestamp: i64,
    /// What the bot answered.
    pub status: u16,
    /// Signature valid and timestamp within 5 minutes.
    pub verified: bool,
    /// Arrival time.
    pub at: Instant,
    /// `/hook`, or `/moved` for a client that followed a redirect.
    pub path: String,
}

#[derive(Default)]
struct BotState {
    deliveries: Vec<Delivery>,
    events: Vec<Value>,
    fail_queue: VecDeque<u16>,
    down: Option<u16>,
    retry_after: Option<u64>,
    redirect: bool,
}

struct Inner {
    /// The signing key; the wizard test hands the bot the secret handoff generated.
    key: parking_lot::Mutex<Vec<u8>>,
    base_url: String,
    state: parking_lot::Mutex<BotState>,
}

pub struct FakeBot {
    inner: Arc<Inner>,
    secret: parking_lot::Mutex<String>,
    handle: ServerHandle,
}

/// The `webhook-signature` entry for one delivery: `v1,<base64 HMAC-SHA256
/// of "{id}.{timestamp}.{body}">`, keyed with the base64-decoded part of the
/// `whsec_` secret. Panics on a secret that is not `whsec_<base64>`.
pub fn sign(secret: &str, webhook_id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = decode_secret(secret).expect("a whsec_<base64> secret");
    format!(
        "v1,{}",
        STANDARD.encode(mac(&key, webhook_id, timestamp, body))
    )
}

fn decode_secret(secret: &str) -> Option<Vec<u8>> {
    STANDARD.decode(secret.strip_prefix("whsec_")?).ok()
}

fn mac(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    m.update(id.as_bytes());
    m.update(b".");
    m.update(timestamp.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m.finalize().into_bytes().to_vec()
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Checks the three Standard Webhooks headers against the body.
fn verify(key: &[u8], req: &HttpRequest, body: &[u8]) -> (String, i64, bool) {
    let id = header(req, "webhook-id").unwrap_or_default().to_string();
    let ts_raw = header(req, "webhook-timestamp").and_then(|t| t.trim().parse::<i64>().ok());
    let ts = ts_raw.unwrap_or(0);
    let fresh =
        ts_raw.is_some_and(|t| (chrono::Utc::now().timestamp() - t).abs() <= TOLERANCE_SECS);
    let expected = mac(key, &id, ts, body);
    let signed = header(req, "webhook-signature")
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|b| STANDARD.decode(b).ok())
        .any(|sig| subtle::ConstantTimeEq::ct_eq(sig.as_slice(), expected.as_slice()).into());
    let verified = !id.is_empty() && fresh && signed;
    (id, ts, verified)
}

async fn receive(req: HttpRequest, body: Bytes, inner: Data<Inner>) -> HttpResponse {
    let (webhook_id, timestamp, verified) = verify(&inner.key.lock().clone(), &req, &body);
    let mut st = inner.state.lock();
    let redirect_target = format!("{}/moved", inner.base_url);
    let on_redirect_path = req.path() == "/hook" && st.redirect;
    let injected = if on_redirect_path {
        None
    } else {
        st.down.or_else(|| st.fail_queue.pop_front())
    };
    let parsed = serde_json::from_slice::<Value>(&body).ok();
    let (status, mut res) = if on_redirect_path {
        let mut r = HttpResponse::TemporaryRedirect();
        r.insert_header(("location", redirect_target));
        (307, r)
    } else if let Some(s) = injected {
        let code = actix_web::http::StatusCode::from_u16(s)
            .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
        let mut r = HttpResponse::build(code);
        if let Some(secs) = st.retry_after {
            r.insert_header(("retry-after", secs.to_string()));
        }
        (code.as_u16(), r)
    } else if !verified {
        (401, HttpResponse::Unauthorized())
    } else if parsed.is_none() {
        (400, HttpResponse::BadRequest())
    } else {
        (204, HttpResponse::NoContent())
    };
    if status == 204 {
        st.events.push(parsed.unwrap());
    }
    st.deliveries.push(Delivery {
        webhook_id,
        timestamp,
        status,
        verified,
        at: Instant::now(),
        path: req.path().to_string(),
    });
    res.finish()
}

impl FakeBot {
    /// Binds 127.0.0.1 on a free port with a random `whsec_` secret.
    pub async fn start() -> FakeBot {
        let key: [u8; 24] = rand::random();
        let secret = format!("whsec_{}", STANDARD.encode(key));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake bot");
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let inner = Arc::new(Inner {
            key: parking_lot::Mutex::new(key.to_vec()),
            base_url,
            state: parking_lot::Mutex::new(BotState::default()),
        });
        let data = Data::from(inner.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(MAX_BODY))
                .route("/hook", web::post().to(receive))
                .route("/moved", web::post().to(receive))
        })
        .workers(2)
        .disable_signals()
        .listen(listener)
        .expect("listen fake bot")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        FakeBot {
            inner,
            secret: parking_lot::Mutex::new(secret),
            handle,
        }
    }

    /// `http://127.0.0.1:PORT/hook`.
    pub fn url(&self) -> String {
        format!("{}/hook", self.inner.base_url)
    }

    /// `whsec_…`.
    pub fn secret(&self) -> String {
        self.secret.lock().clone()
    }

    /// Verifies from now on with `secret` (`whsec_…`), as a bot configured with it would.
    pub fn set_secret(&self, secret: &str) {
        *self.inner.key.lock() = decode_secret(secret).expect("a whsec_<base64> secret");
        *self.secret.lock() = secret.to_string();
    }

    /// Bodies of the deliveries that verified and were answered 2xx, in
    /// arrival order (duplicates included).
    pub fn events(&self) -> Vec<Value> {
        self.inner.state.lock().events.clone()
    }

    /// Every attempt, in arrival order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.inner.state.lock().deliveries.clone()
    }

    /// The next `n` requests answer `status` (whatever their signature).
    pub fn fail_next(&self, n: usize, status: u16) {
        self.inner
            .state
            .lock()
            .fail_queue
            .extend(std::iter::repeat_n(status, n));
    }

    /// Every request answers `status` until `set_down(None)`.
    pub fn set_down(&self, status: Option<u16>) {
        self.inner.state.lock().down = status;
    }

    /// Adds `Retry-After: secs` to injected failure answers.
    pub fn set_retry_after(&self, secs: Option<u64>) {
        self.inner.state.lock().retry_after = secs;
    }

    /// `/hook` answers 307 to `/moved` (which accepts like `/hook` would, so a
    /// client that follows redirects shows up in `deliveries` with that path).
    pub fn set_redirect(&self, on: bool) {
        self.inner.state.lock().redirect = on;
    }

    /// GET without credentials (as a bot fetches attachment URLs):
    /// `(status, body)`; status 0 when the request failed outright.
    pub async fn download(&self, url: &str) -> (u16, Vec<u8>) {
        let (status, _, body) = self.download_with_type(url).await;
        (status, body)
    }

    /// Like [`FakeBot::download`], with the `Content-Type`.
    pub async fn download_with_type(&self, url: &str) -> (u16, Option<String>, Vec<u8>) {
        let _ = rustls::crypto::ring::default_provider().install_default();
        // Follows redirects, like an ordinary HTTP client.
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("download client");
        match client.get(url).send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                let ty = r
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let body = r.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
                (status, ty, body)
            }
            Err(_) => (0, None, Vec::new()),
        }
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

impl Drop for FakeBot {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

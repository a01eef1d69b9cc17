//! Admin authentication for the wizard and the dashboard, the vaultwarden way: an Argon2
//! password hash in the store, a one-time setup token until that password exists,
//! rate-limited logins, a server-side session behind an `HttpOnly; SameSite=Strict`
//! cookie, and a CSRF token checked on every form.
//!
//! The [`Admin`] extractor is on every admin handler, so an admin page cannot be reached
//! without a session.

use crate::app::AppState;
use crate::error::ApiError;
use crate::secret::constant_time_eq;
use crate::store::{Store, StoreError};
use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use parking_lot::{Mutex, RwLock};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::future::{Ready, ready};
use std::net::IpAddr;
use std::time::{Duration, Instant};

pub const SESSION_COOKIE: &str = "handoff_session";
/// Forms shown before login (setup, login) carry this cookie's value as their CSRF token.
pub const FORM_COOKIE: &str = "handoff_form";

const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
pub const MIN_PASSWORD_LEN: usize = 10;

/// Failed logins allowed per client address, and from all addresses together, per window.
const FAILURES_PER_ADDRESS: usize = 5;
const FAILURES_OVERALL: usize = 30;
const FAILURE_WINDOW: Duration = Duration::from_secs(300);

/// A random token of 32 bytes, URL-safe base64.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

struct AdminSession {
    csrf: String,
    expires: Instant,
}

#[derive(Default)]
struct Failures {
    by_address: HashMap<IpAddr, VecDeque<Instant>>,
    overall: VecDeque<Instant>,
}

impl Failures {
    fn prune(&mut self, now: Instant) {
        let old = |q: &mut VecDeque<Instant>| {
            while q
                .front()
                .is_some_and(|t| now.duration_since(*t) > FAILURE_WINDOW)
            {
                q.pop_front();
            }
        };
        old(&mut self.overall);
        self.by_address.retain(|_, q| {
            old(q);
            !q.is_empty()
        });
    }

    /// How long `address` must wait before it may try again, if it must.
    fn wait(&mut self, address: IpAddr, now: Instant) -> Option<Duration> {
        self.prune(now);
        let full = |q: &VecDeque<Instant>, limit: usize| {
            (q.len() >= limit).then(|| FAILURE_WINDOW - now.duration_since(q[q.len() - limit]))
        };
        let mine = self
            .by_address
            .get(&address)
            .and_then(|q| full(q, FAILURES_PER_ADDRESS));
        mine.or_else(|| full(&self.overall, FAILURES_OVERALL))
    }

    fn record(&mut self, address: IpAddr, now: Instant) {
        self.by_address.entry(address).or_default().push_back(now);
        self.overall.push_back(now);
    }
}

pub struct AdminAuth {
    password_hash: RwLock<Option<String>>,
    /// Exists until the admin password is set; printed at start-up, never stored.
    setup_token: Mutex<Option<String>>,
    /// Keyed by the SHA-256 of the cookie value, so a memory dump holds no usable cookie.
    sessions: Mutex<HashMap<[u8; 32], AdminSession>>,
    failures: Mutex<Failures>,
    /// OAuth `state` values handed to HubSpot's consent page: when each was made and where
    /// the flow returns to. Proof that an admin started the flow, since the callback may
    /// arrive without the session cookie (`SameSite=Strict` after a cross-site redirect).
    oauth_states: Mutex<HashMap<String, (Instant, &'static str)>>,
}

/// How long the admin has to consent on HubSpot's page.
const OAUTH_STATE_LIFETIME: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("the password must be at least {MIN_PASSWORD_LEN} characters")]
    TooShort,
    #[error("the two passwords differ")]
    Mismatch,
}

impl AdminAuth {
    pub fn load(store: &Store) -> Result<AdminAuth, StoreError> {
        let hash = store.admin_password_hash()?;
        let setup_token = hash.is_none().then(random_token);
        Ok(AdminAuth {
            password_hash: RwLock::new(hash),
            setup_token: Mutex::new(setup_token),
            sessions: Mutex::new(HashMap::new()),
            failures: Mutex::new(Failures::default()),
            oauth_states: Mutex::new(HashMap::new()),
        })
    }

    /// The one-time setup token, while the admin password is not set.
    pub fn setup_token(&self) -> Option<String> {
        self.setup_token.lock().clone()
    }

    pub fn has_password(&self) -> bool {
        self.password_hash.read().is_some()
    }

    pub fn setup_token_matches(&self, presented: &str) -> bool {
        self.setup_token
            .lock()
            .as_deref()
            .is_some_and(|t| constant_time_eq(t, presented))
    }

    /// Sets the first admin password (consuming the setup token) and opens a session.
    pub async fn set_password(
        &self,
        store: &Store,
        password: &str,
        confirm: &str,
    ) -> Result<Result<String, PasswordError>, StoreError> {
        if password.chars().count() < MIN_PASSWORD_LEN {
            return Ok(Err(PasswordError::TooShort));
        }
        if password != confirm {
            return Ok(Err(PasswordError::Mismatch));
        }
        let hash = hash_password(password.to_string()).await;
        store.set_admin_password_hash(&hash)?;
        store.flush().await?;
        *self.password_hash.write() = Some(hash);
        *self.setup_token.lock() = None;
        tracing::info!("admin password set; the setup token is spent");
        Ok(Ok(self.open_session()))
    }

    /// Checks a login. `Err` carries how long the address must wait first.
    pub async fn login(&self, address: IpAddr, password: &str) -> Result<Option<String>, Duration> {
        if let Some(wait) = self.failures.lock().wait(address, Instant::now()) {
            return Err(wait);
        }
        let Some(hash) = self.password_hash.read().clone() else {
            return Ok(None);
        };
        if verify_password(hash, password.to_string()).await {
            Ok(Some(self.open_session()))
        } else {
            self.failures.lock().record(address, Instant::now());
            tracing::warn!(%address, "failed admin login");
            Ok(None)
        }
    }

    fn open_session(&self) -> String {
        let token = random_token();
        let now = Instant::now();
        let mut sessions = self.sessions.lock();
        sessions.retain(|_, s| s.expires > now);
        sessions.insert(
            digest(&token),
            AdminSession {
                csrf: random_token(),
                expires: now + SESSION_LIFETIME,
            },
        );
        token
    }

    /// A fresh OAuth `state` for a flow that returns to `return_to`.
    pub fn begin_oauth(&self, return_to: &'static str) -> String {
        let state = random_token();
        let now = Instant::now();
        let mut states = self.oauth_states.lock();
        states.retain(|_, (made, _)| now.duration_since(*made) < OAUTH_STATE_LIFETIME);
        states.insert(state.clone(), (now, return_to));
        state
    }

    /// Spends an OAuth `state`; `None` when it is unknown, used or expired.
    pub fn finish_oauth(&self, state: &str) -> Option<&'static str> {
        let (made, return_to) = self.oauth_states.lock().remove(state)?;
        (made.elapsed() < OAUTH_STATE_LIFETIME).then_some(return_to)
    }

    pub fn logout(&self, token: &str) {
        self.sessions.lock().remove(&digest(token));
    }

    /// The session's CSRF token, when `token` is a live session.
    fn session_csrf(&self, token: &str) -> Option<String> {
        let sessions = self.sessions.lock();
        let session = sessions.get(&digest(token))?;
        (session.expires > Instant::now()).then(|| session.csrf.clone())
    }
}

/// Argon2id with the crate's defaults (19 MiB, 2 passes), on a blocking thread: it is meant
/// to be slow.
async fn hash_password(password: String) -> String {
    web::block(move || {
        let salt_bytes: [u8; 16] = rand::random();
        let salt = SaltString::encode_b64(&salt_bytes).expect("16 bytes make a valid salt");
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .expect("Argon2 with default parameters cannot fail")
            .to_string()
    })
    .await
    .expect("the hashing thread does not panic")
}

async fn verify_password(hash: String, password: String) -> bool {
    web::block(move || {
        PasswordHash::new(&hash).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
}

/// The cookie that carries an admin session.
pub fn session_cookie(token: &str, secure: bool) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, token.to_string())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .max_age(time::Duration::seconds(SESSION_LIFETIME.as_secs() as i64))
        .finish()
}

/// The pre-login form cookie (double-submit CSRF token for the setup and login forms).
pub fn form_cookie(token: &str, secure: bool) -> Cookie<'static> {
    Cookie::build(FORM_COOKIE, token.to_string())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .finish()
}

pub fn expired(name: &'static str) -> Cookie<'static> {
    let mut cookie = Cookie::build(name, "").path("/").finish();
    cookie.make_removal();
    cookie
}

/// A form's CSRF token must equal the expected one.
pub fn check_csrf(expected: &str, presented: &str) -> Result<(), ApiError> {
    if !expected.is_empty() && constant_time_eq(expected, presented) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "csrf-refused",
            "the form's CSRF token is missing or wrong; reload the page and try again",
        ))
    }
}

/// Proof of a logged-in admin. `csrf` goes into every form the page renders.
pub struct Admin {
    pub csrf: String,
    pub session: String,
}

impl Admin {
    pub fn check_csrf(&self, presented: &str) -> Result<(), ApiError> {
        check_csrf(&self.csrf, presented)
    }
}

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req
            .app_data::<web::Data<AppState>>()
            .expect("app state is registered");
        let admin = req.cookie(SESSION_COOKIE).and_then(|c| {
            let session = c.value().to_string();
            let csrf = state.admin.session_csrf(&session)?;
            Some(Admin { csrf, session })
        });
        ready(admin.ok_or_else(ApiError::login_required))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_limited_per_address_and_overall() {
        let mut f = Failures::default();
        let now = Instant::now();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..FAILURES_PER_ADDRESS {
            assert!(f.wait(a, now).is_none());
            f.record(a, now);
        }
        let wait = f.wait(a, now).expect("blocked after the limit");
        assert!(wait <= FAILURE_WINDOW && wait > Duration::from_secs(290));
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(f.wait(b, now).is_none(), "another address is not blocked");
        assert!(
            f.wait(a, now + FAILURE_WINDOW + Duration::from_secs(1))
                .is_none(),
            "the window passes"
        );
        let mut f = Failures::default();
        for i in 0..FAILURES_OVERALL {
            f.record(IpAddr::from([10, 1, 0, i as u8]), now);
        }
        assert!(f.wait(IpAddr::from([10, 2, 0, 1]), now).is_some());
    }

    #[tokio::test]
    async fn password_hashes_verify_and_reject() {
        let hash = hash_password("correct horse battery".into()).await;
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(hash.clone(), "correct horse battery".into()).await);
        assert!(!verify_password(hash, "correct horse battery!".into()).await);
    }
}

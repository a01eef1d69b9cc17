//! Admin authentication for the wizard and the dashboard, the vaultwarden way: an Argon2
//! password hash in the store, a one-time setup token until that password exists,
//! rate-limited logins (`login_limit`) with at most two Argon2 runs at once, a server-side session behind an `HttpOnly; SameSite=Strict`
//! cookie, and a CSRF token checked on every form.
//!
//! The [`Admin`] extractor is on every admin handler, so an admin page cannot be reached
//! without a session.

use super::AdminState;
use super::login_limit::Attempts;
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
use std::collections::HashMap;
use std::future::{Ready, ready};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub(crate) const SESSION_COOKIE: &str = "handoff_session";
/// Forms shown before login (setup, login) carry this cookie's value as their CSRF token.
pub(crate) const FORM_COOKIE: &str = "handoff_form";

const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
pub(crate) const MIN_PASSWORD_LEN: usize = 10;

/// A random token of 32 bytes, URL-safe base64.
pub(crate) fn random_token() -> String {
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

/// Argon2 verifications at once: each takes 19 MiB and a core for a while, so parallel
/// logins must not multiply that.
const ARGON2_AT_ONCE: usize = 2;
/// How long a login waits for an Argon2 slot before it is told to come back.
const ARGON2_WAIT: Duration = Duration::from_secs(2);

/// Why a login was not even checked; both answer 429 with `Retry-After`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LoginRefused {
    /// Too many attempts from this address (or from all, see `login_limit`).
    Limited(Duration),
    /// Every Argon2 slot stayed busy.
    Busy(Duration),
}

pub struct AdminAuth {
    password_hash: RwLock<Option<String>>,
    /// Exists until the admin password is set; printed at start-up, never stored.
    setup_token: Mutex<Option<String>>,
    /// Keyed by the SHA-256 of the cookie value, so a memory dump holds no usable cookie.
    sessions: Mutex<HashMap<[u8; 32], AdminSession>>,
    attempts: Mutex<Attempts>,
    /// Bounds the Argon2 work in flight; a permit lives as long as its blocking thread.
    argon2: Arc<Semaphore>,
    /// Password verifications run so far (the login limit's tests count them).
    verifications: AtomicU64,
    /// OAuth `state` values handed to HubSpot's consent page. Proof that an admin started
    /// the flow, since the callback may arrive without the session cookie
    /// (`SameSite=Strict` after a cross-site redirect).
    oauth_states: Mutex<HashMap<String, OAuthFlow>>,
}

struct OAuthFlow {
    made: Instant,
    /// Where the flow returns to.
    return_to: &'static str,
    /// SHA-256 of the nonce in the starting browser's `handoff_oauth` cookie: a `state`
    /// that leaked (a log, a screenshot, a shared link) is useless in any other browser.
    nonce: [u8; 32],
}

/// Why `/oauth/callback` refused a `state`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum OAuthRefused {
    /// Unknown, used or expired.
    Unknown,
    /// Known, but this browser did not start the flow.
    OtherBrowser,
}

/// The cookie that binds an OAuth flow to the browser that started it.
pub(crate) const OAUTH_COOKIE: &str = "handoff_oauth";

/// How long the admin has to consent on HubSpot's page.
const OAUTH_STATE_LIFETIME: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, thiserror::Error)]
pub(crate) enum PasswordError {
    #[error("the password must be at least {MIN_PASSWORD_LEN} characters")]
    TooShort,
    #[error("the two passwords differ")]
    Mismatch,
}

impl AdminAuth {
    pub(crate) fn load(store: &Store) -> Result<AdminAuth, StoreError> {
        let hash = store.admin_password_hash()?;
        let setup_token = hash.is_none().then(random_token);
        Ok(AdminAuth {
            password_hash: RwLock::new(hash),
            setup_token: Mutex::new(setup_token),
            sessions: Mutex::new(HashMap::new()),
            attempts: Mutex::new(Attempts::default()),
            argon2: Arc::new(Semaphore::new(ARGON2_AT_ONCE)),
            verifications: AtomicU64::new(0),
            oauth_states: Mutex::new(HashMap::new()),
        })
    }

    /// The one-time setup token, while the admin password is not set.
    pub fn setup_token(&self) -> Option<String> {
        self.setup_token.lock().clone()
    }

    pub(crate) fn has_password(&self) -> bool {
        self.password_hash.read().is_some()
    }

    pub(crate) fn setup_token_matches(&self, presented: &str) -> bool {
        self.setup_token
            .lock()
            .as_deref()
            .is_some_and(|t| constant_time_eq(t, presented))
    }

    /// Sets the first admin password (consuming the setup token) and opens a session.
    pub(crate) async fn set_password(
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
        let permit = self
            .argon2
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let hash = hash_password(password.to_string(), permit).await;
        store.set_admin_password_hash(&hash)?;
        store.flush().await?;
        *self.password_hash.write() = Some(hash);
        *self.setup_token.lock() = None;
        tracing::info!("admin password set; the setup token is spent");
        Ok(Ok(self.open_session()))
    }

    /// Checks a login from `address`: `Ok(Some(session))` for the right password,
    /// `Ok(None)` for a wrong one. The attempt counts before Argon2 runs, so parallel
    /// requests cannot all slip under the limit.
    pub(crate) async fn login(
        &self,
        address: IpAddr,
        password: &str,
    ) -> Result<Option<String>, LoginRefused> {
        let Some(hash) = self.password_hash.read().clone() else {
            return Ok(None);
        };
        let reservation = self
            .attempts
            .lock()
            .reserve(address, Instant::now())
            .map_err(LoginRefused::Limited)?;
        let permit =
            match tokio::time::timeout(ARGON2_WAIT, self.argon2.clone().acquire_owned()).await {
                Ok(Ok(permit)) => permit,
                _ => {
                    // Never checked, so it proves nothing either way.
                    self.attempts.lock().forgive(reservation);
                    return Err(LoginRefused::Busy(Duration::from_secs(1)));
                }
            };
        self.verifications.fetch_add(1, Ordering::Relaxed);
        if verify_password(hash, password.to_string(), permit).await {
            self.attempts.lock().forgive(reservation);
            Ok(Some(self.open_session()))
        } else {
            tracing::warn!(%address, "failed admin login");
            Ok(None)
        }
    }

    /// How many passwords Argon2 has verified since start.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
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

    /// A fresh OAuth flow that returns to `return_to`: its `state` (for HubSpot) and its
    /// nonce (for the starting browser's [`oauth_cookie`]).
    pub(crate) fn begin_oauth(&self, return_to: &'static str) -> (String, String) {
        let (state, nonce) = (random_token(), random_token());
        let now = Instant::now();
        let mut states = self.oauth_states.lock();
        states.retain(|_, flow| now.duration_since(flow.made) < OAUTH_STATE_LIFETIME);
        states.insert(
            state.clone(),
            OAuthFlow {
                made: now,
                return_to,
                nonce: digest(&nonce),
            },
        );
        (state, nonce)
    }

    /// Spends an OAuth `state` presented with the browser's nonce. A state shown by the
    /// wrong browser stays usable by the right one.
    pub(crate) fn finish_oauth(
        &self,
        state: &str,
        nonce: Option<&str>,
    ) -> Result<&'static str, OAuthRefused> {
        use subtle::ConstantTimeEq;
        let mut states = self.oauth_states.lock();
        let flow = states.get(state).ok_or(OAuthRefused::Unknown)?;
        if flow.made.elapsed() >= OAUTH_STATE_LIFETIME {
            states.remove(state);
            return Err(OAuthRefused::Unknown);
        }
        let presented = digest(nonce.unwrap_or_default());
        if nonce.is_none() || !bool::from(presented[..].ct_eq(&flow.nonce[..])) {
            return Err(OAuthRefused::OtherBrowser);
        }
        Ok(states.remove(state).expect("present above").return_to)
    }

    pub(crate) fn logout(&self, token: &str) {
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
/// to be slow. The permit moves into the thread, so a request whose client went away
/// still holds its slot until Argon2 is done.
async fn hash_password(password: String, permit: OwnedSemaphorePermit) -> String {
    web::block(move || {
        let _permit = permit;
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

async fn verify_password(hash: String, password: String, permit: OwnedSemaphorePermit) -> bool {
    web::block(move || {
        let _permit = permit;
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
pub(crate) fn session_cookie(token: &str, secure: bool) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, token.to_string())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .max_age(time::Duration::seconds(SESSION_LIFETIME.as_secs() as i64))
        .finish()
}

/// The pre-login form cookie (double-submit CSRF token for the setup and login forms).
pub(crate) fn form_cookie(token: &str, secure: bool) -> Cookie<'static> {
    Cookie::build(FORM_COOKIE, token.to_string())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .finish()
}

/// The OAuth nonce cookie: `SameSite=Lax`, because HubSpot's redirect back is a cross-site
/// top-level GET (a `Strict` cookie would stay behind); only sent to the callback.
pub(crate) fn oauth_cookie(nonce: &str, secure: bool) -> Cookie<'static> {
    Cookie::build(OAUTH_COOKIE, nonce.to_string())
        .path("/oauth/callback")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .max_age(time::Duration::seconds(
            OAUTH_STATE_LIFETIME.as_secs() as i64
        ))
        .finish()
}

pub(crate) fn expired(name: &'static str) -> Cookie<'static> {
    let mut cookie = Cookie::build(name, "").path("/").finish();
    cookie.make_removal();
    cookie
}

/// A form's CSRF token must equal the expected one.
pub(crate) fn check_csrf(expected: &str, presented: &str) -> Result<(), ApiError> {
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
pub(crate) struct Admin {
    pub(crate) csrf: String,
    pub(crate) session: String,
}

impl Admin {
    pub(crate) fn check_csrf(&self, presented: &str) -> Result<(), ApiError> {
        check_csrf(&self.csrf, presented)
    }
}

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req
            .app_data::<web::Data<AdminState>>()
            .expect("the admin state is registered");
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

    #[tokio::test]
    async fn password_hashes_verify_and_reject() {
        let slots = Arc::new(Semaphore::new(1));
        let permit = || {
            slots
                .clone()
                .try_acquire_owned()
                .expect("the slot is free again")
        };
        let hash = hash_password("correct horse battery".into(), permit()).await;
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(hash.clone(), "correct horse battery".into(), permit()).await);
        assert!(!verify_password(hash, "correct horse battery!".into(), permit()).await);
    }
}

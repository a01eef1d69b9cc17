//! OAuth tokens: the refresh token lives in the store; the access token is cached in
//! memory with its expiry and refreshed ahead of it (and once after a 401). A rotated
//! refresh token is persisted before it is used. `invalid_grant` switches handoff into
//! "reauthorization required" until a new refresh token arrives; queued work waits.

use super::error::HubSpotError;
use crate::relay::records::OAuthState;
use crate::relay::repo::SettingsRepo;
use crate::secret::Secret;
use crate::settings::Settings;
use parking_lot::{Mutex, RwLock};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// The scopes handoff asks for on HubSpot's consent page; the app in HubSpot must have
/// exactly these ticked (HubSpot refuses a consent request that lists fewer or more).
pub(crate) const REQUIRED_SCOPES: &[&str] = &[
    "oauth",
    "conversations.custom_channels.read",
    "conversations.custom_channels.write",
    "conversations.read",
    "conversations.write",
    "crm.objects.contacts.read",
    "files",
];

/// Scopes handoff asks for as optional (`optional_scope`): each enables a feature, and
/// without it that feature is off and says why; nothing else stops. Tick them in the app
/// as optional scopes.
pub(crate) const OPTIONAL_SCOPES: &[(&str, &str)] = &[
    (
        "tickets",
        "Help Desk tickets filled from the session (subject, content, priority, contact); without it the ticket stays as HubSpot made it, with a dashboard warning",
    ),
    (
        "crm.objects.users.read",
        "agent availability (GET /api/v1/availability); without it the answer is available: null with the reason",
    ),
    (
        "crm.objects.contacts.write",
        "a CRM contact created for a user HubSpot does not know; without it such sessions have no contact",
    ),
];

pub(crate) use crate::settings::AppCredentials;

/// Why HubSpot calls cannot be made, for `/readyz` and the dashboard.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthProblem {
    NotConfigured,
    ReauthorizationRequired(String),
    /// HubSpot refused the client id or secret.
    CredentialsRefused(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Stored {
    NoToken,
    Usable,
    ReauthorizationRequired,
}

impl Stored {
    fn of(state: Option<&OAuthState>) -> Stored {
        match state {
            None => Stored::NoToken,
            Some(s) if s.reauthorization_required => Stored::ReauthorizationRequired,
            Some(_) => Stored::Usable,
        }
    }
}

struct AccessToken {
    token: Secret,
    refresh_at: Instant,
    expires_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
    refresh_token: Option<String>,
    hub_id: Option<u64>,
    #[serde(default)]
    scopes: Vec<String>,
}

#[derive(Deserialize, Default)]
struct TokenError {
    error: Option<String>,
    status: Option<String>,
    message: Option<String>,
    error_description: Option<String>,
}

impl TokenError {
    fn parse(body: &[u8]) -> TokenError {
        serde_json::from_slice(body).unwrap_or_default()
    }

    /// HubSpot's reason: the legacy `status` (`BAD_CLIENT_SECRET`, …), else the RFC 6749
    /// `error`.
    fn code(&self) -> String {
        self.status
            .clone()
            .or_else(|| self.error.clone())
            .unwrap_or_default()
    }

    fn message(&self, status: reqwest::StatusCode) -> String {
        self.error_description
            .clone()
            .or_else(|| self.message.clone())
            .unwrap_or_else(|| format!("HTTP {status}"))
    }
}

/// One call to the token endpoint; the answer's status and body.
async fn post_token(
    http: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
) -> Result<(reqwest::StatusCode, bytes::Bytes), reqwest::Error> {
    let response = http.post(url).form(form).send().await?;
    let status = response.status();
    Ok((status, response.bytes().await.unwrap_or_default()))
}

pub struct TokenManager {
    http: reqwest::Client,
    token_url: String,
    store: Arc<dyn SettingsRepo>,
    /// Owns the app credentials: read when needed, never copied.
    settings: Arc<Settings>,
    cache: tokio::sync::Mutex<Option<AccessToken>>,
    /// The client id HubSpot refused, and what it said. Saving other credentials makes it
    /// stale without anyone having to clear it.
    refused: Mutex<Option<(String, String)>>,
    /// What the stored OAuth state allows, kept in memory because `problem` is asked
    /// before every delivery.
    stored: RwLock<Stored>,
    /// Woken when a new refresh token or new credentials arrive.
    pub(crate) changed: Notify,
}

/// `handoff check`: asks the token endpoint for an access token with these credentials,
/// without a store (the server may be running and holding it). Returns the portal id.
pub async fn check_refresh_token(
    http: &reqwest::Client,
    api_base: &str,
    client_id: &str,
    client_secret: &Secret,
    refresh_token: &Secret,
) -> Result<Option<u64>, String> {
    let url = format!("{}/oauth/v1/token", api_base.trim_end_matches('/'));
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", client_id),
        ("client_secret", client_secret.expose()),
        ("refresh_token", refresh_token.expose()),
    ];
    let (status, body) = post_token(http, &url, &form).await.map_err(|e| {
        format!(
            "the token endpoint cannot be reached: {}",
            super::client::transport_error(&e)
        )
    })?;
    if status.is_success() {
        let parsed: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| format!("the token answer cannot be read: {e}"))?;
        return Ok(parsed.hub_id);
    }
    let err = TokenError::parse(&body);
    Err(format!(
        "HubSpot refused the credentials ({}): {}",
        err.code(),
        err.message(status)
    ))
}

/// A fingerprint of a refresh token, so the store can tell whether the configured token
/// changed without keeping a second copy of it.
pub(crate) fn fingerprint(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

impl TokenManager {
    /// Fails when the store cannot say what it holds: guessing "nothing" would fall back to
    /// the configured refresh token after HubSpot rotated it.
    pub(crate) fn new(
        http: reqwest::Client,
        api_base: &str,
        store: Arc<dyn SettingsRepo>,
        settings: Arc<Settings>,
    ) -> Result<Self, crate::store::StoreError> {
        let stored = Stored::of(store.oauth_state()?.as_ref());
        Ok(TokenManager {
            http,
            token_url: format!("{}/oauth/v1/token", api_base.trim_end_matches('/')),
            store,
            settings,
            cache: tokio::sync::Mutex::new(None),
            refused: Mutex::new(None),
            stored: RwLock::new(stored),
            changed: Notify::new(),
        })
    }

    /// Stores the OAuth state and keeps the in-memory view in step.
    fn save(&self, state: &OAuthState) -> Result<(), crate::store::StoreError> {
        self.store.set_oauth_state(state)?;
        *self.stored.write() = Stored::of(Some(state));
        Ok(())
    }

    pub(crate) fn credentials(&self) -> Option<AppCredentials> {
        self.settings.app_credentials()
    }

    /// Adopts the refresh token from the configuration, unless the store already holds the
    /// state that grew from this same token (possibly rotated since).
    pub(crate) fn adopt_configured_token(
        &self,
        token: &Secret,
    ) -> Result<(), crate::store::StoreError> {
        let fp = fingerprint(token.expose());
        let current = self.store.oauth_state()?;
        if current
            .as_ref()
            .and_then(|s| s.config_fingerprint.as_deref())
            == Some(fp.as_str())
        {
            return Ok(());
        }
        self.save(&OAuthState {
            refresh_token: token.expose().to_string(),
            hub_id: current.and_then(|s| s.hub_id),
            scopes: vec![],
            reauthorization_required: false,
            config_fingerprint: Some(fp),
        })
    }

    /// Stores a new refresh token (from the wizard's OAuth flow or a reconnect) and resumes
    /// work that waited for it.
    pub async fn connect(
        &self,
        refresh_token: &str,
        hub_id: Option<u64>,
        scopes: Vec<String>,
    ) -> Result<(), crate::store::StoreError> {
        let fingerprint = self.store.oauth_state()?.and_then(|s| s.config_fingerprint);
        self.save(&OAuthState {
            refresh_token: refresh_token.to_string(),
            hub_id,
            scopes,
            reauthorization_required: false,
            config_fingerprint: fingerprint,
        })?;
        self.store.flush().await?;
        *self.cache.lock().await = None;
        self.changed.notify_waiters();
        Ok(())
    }

    pub fn problem(&self) -> Option<AuthProblem> {
        let Some(credentials) = self.credentials() else {
            return Some(AuthProblem::NotConfigured);
        };
        match *self.stored.read() {
            Stored::NoToken => return Some(AuthProblem::NotConfigured),
            Stored::ReauthorizationRequired => {
                return Some(AuthProblem::ReauthorizationRequired(
                    "HubSpot refused the refresh token; connect HubSpot again".into(),
                ));
            }
            Stored::Usable => {}
        }
        match &*self.refused.lock() {
            Some((client_id, message)) if *client_id == credentials.client_id => {
                Some(AuthProblem::CredentialsRefused(message.clone()))
            }
            _ => None,
        }
    }

    /// When the cached access token expires (for the dashboard); `None` before the first
    /// refresh or while one is running.
    pub(crate) fn access_expires_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.cache.try_lock().ok()?.as_ref().map(|t| t.expires_at)
    }

    /// The portal's granted scopes, as the last token answer listed them.
    pub(crate) fn scopes(&self) -> Vec<String> {
        self.store
            .oauth_state()
            .ok()
            .flatten()
            .map(|s| s.scopes)
            .unwrap_or_default()
    }

    /// Trades an authorization code from HubSpot's consent page for tokens, stores the
    /// refresh token (flushed) and resumes work that waited for it. The error is a sentence
    /// for the operator: HubSpot's own message plus what it usually means.
    /// Returns the portal id.
    pub(crate) async fn exchange_code(
        &self,
        code: &str,
        redirect_uri: &str,
    ) -> Result<Option<u64>, String> {
        let credentials = self
            .credentials()
            .ok_or("the HubSpot app credentials are not set (step 2)")?;
        let form = [
            ("grant_type", "authorization_code"),
            ("client_id", credentials.client_id.as_str()),
            ("client_secret", credentials.client_secret.expose()),
            ("redirect_uri", redirect_uri),
            ("code", code),
        ];
        let sent = Instant::now();
        let (status, body) = self.post_token(&form).await.map_err(|e| {
            format!(
                "HubSpot's token endpoint cannot be reached: {}",
                super::client::transport_error(&e)
            )
        })?;
        if !status.is_success() {
            let err = TokenError::parse(&body);
            let (code, message) = (err.code(), err.message(status));
            tracing::warn!(
                status = status.as_u16(),
                code,
                message,
                "HubSpot refused the authorization code"
            );
            let hint = match code.as_str() {
                "BAD_CLIENT_SECRET" => " Check the client secret in step 2.",
                "BAD_CLIENT_ID" | "invalid_client" => " Check the client id and secret in step 2.",
                "BAD_REDIRECT_URI" => {
                    " The redirect URL in the HubSpot app must be exactly the one shown in step 2."
                }
                "BAD_AUTH_CODE" | "invalid_grant" => {
                    " The code expired or was used already; connect again."
                }
                _ => "",
            };
            return Err(format!(
                "HubSpot refused the connection ({code}): {message}.{hint}"
            ));
        }
        let parsed: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| format!("HubSpot's token answer cannot be read: {e}"))?;
        let refresh = parsed
            .refresh_token
            .clone()
            .ok_or("HubSpot's token answer has no refresh token")?;
        self.connect(&refresh, parsed.hub_id, parsed.scopes.clone())
            .await
            .map_err(|e| format!("the refresh token cannot be stored: {e}"))?;
        *self.cache.lock().await = Some(Self::access_token_of(&parsed, sent));
        *self.refused.lock() = None;
        tracing::info!(
            hub_id = parsed.hub_id,
            "HubSpot connected through the wizard"
        );
        Ok(parsed.hub_id)
    }

    async fn post_token(
        &self,
        form: &[(&str, &str)],
    ) -> Result<(reqwest::StatusCode, bytes::Bytes), reqwest::Error> {
        post_token(&self.http, &self.token_url, form).await
    }

    fn access_token_of(parsed: &TokenResponse, sent: Instant) -> AccessToken {
        let lifetime = Duration::from_secs(parsed.expires_in);
        // Refresh ahead: a tenth of the lifetime (at least a minute), never more than half.
        let margin = (lifetime / 10)
            .max(Duration::from_secs(60))
            .min(lifetime / 2);
        AccessToken {
            token: Secret::new(parsed.access_token.clone()),
            refresh_at: sent + lifetime - margin,
            expires_at: chrono::Utc::now()
                + chrono::TimeDelta::seconds(parsed.expires_in.min(i64::MAX as u64) as i64),
        }
    }

    pub(crate) fn portal_id(&self) -> Option<u64> {
        self.store
            .oauth_state()
            .ok()
            .flatten()
            .and_then(|s| s.hub_id)
    }

    /// A valid access token, refreshing it when it is close to expiry. Concurrent callers
    /// share one refresh.
    pub(crate) async fn access_token(&self) -> Result<Secret, HubSpotError> {
        let mut cache = self.cache.lock().await;
        if let Some(t) = cache.as_ref()
            && Instant::now() < t.refresh_at
        {
            return Ok(t.token.clone());
        }
        let fresh = self.refresh().await?;
        let token = fresh.token.clone();
        *cache = Some(fresh);
        Ok(token)
    }

    /// Forgets `used` after HubSpot answered 401 to it, so the next call refreshes.
    pub(crate) async fn invalidate(&self, used: &Secret) {
        let mut cache = self.cache.lock().await;
        if cache.as_ref().is_some_and(|t| &t.token == used) {
            *cache = None;
        }
    }

    async fn refresh(&self) -> Result<AccessToken, HubSpotError> {
        let credentials = self.credentials().ok_or(HubSpotError::NotConnected)?;
        let state = self
            .store
            .oauth_state()
            .map_err(|e| HubSpotError::Unexpected(e.to_string()))?
            .ok_or(HubSpotError::NotConnected)?;
        if state.reauthorization_required {
            return Err(HubSpotError::ReauthorizationRequired(
                "refresh token was refused".into(),
            ));
        }
        let form = [
            ("grant_type", "refresh_token"),
            ("client_id", credentials.client_id.as_str()),
            ("client_secret", credentials.client_secret.expose()),
            ("refresh_token", state.refresh_token.as_str()),
        ];
        let sent = Instant::now();
        let (status, body) = self
            .post_token(&form)
            .await
            .map_err(|e| super::client::transport_error(&e))?;
        if status.is_success() {
            let parsed: TokenResponse = serde_json::from_slice(&body)
                .map_err(|e| HubSpotError::Unexpected(format!("token response: {e}")))?;
            *self.refused.lock() = None;
            self.persist_refreshed(state, &parsed).await?;
            tracing::info!(
                expires_in = parsed.expires_in,
                "HubSpot access token refreshed"
            );
            return Ok(Self::access_token_of(&parsed, sent));
        }
        let err = TokenError::parse(&body);
        let message = err.message(status);
        let code = err.error.as_deref().unwrap_or("");
        let legacy = err.status.as_deref().unwrap_or("");
        tracing::warn!(
            status = status.as_u16(),
            error = code,
            hubspot_status = legacy,
            message,
            "HubSpot token refresh failed"
        );
        if code == "invalid_grant" || matches!(legacy, "BAD_REFRESH_TOKEN" | "BAD_HUB") {
            self.mark_reauthorization_required(state).await;
            return Err(HubSpotError::ReauthorizationRequired(message));
        }
        if code == "invalid_client" || legacy.starts_with("BAD_CLIENT") {
            *self.refused.lock() = Some((credentials.client_id.clone(), message.clone()));
            return Err(HubSpotError::Permanent {
                status: status.as_u16(),
                category: Some(legacy.to_string()),
                message,
            });
        }
        Err(super::client::classify_status(
            status.as_u16(),
            None,
            message,
        ))
    }

    async fn persist_refreshed(
        &self,
        mut state: OAuthState,
        parsed: &TokenResponse,
    ) -> Result<(), HubSpotError> {
        let mut changed = false;
        if let Some(rotated) = &parsed.refresh_token
            && *rotated != state.refresh_token
        {
            state.refresh_token = rotated.clone();
            changed = true;
        }
        if parsed.hub_id.is_some() && parsed.hub_id != state.hub_id {
            state.hub_id = parsed.hub_id;
            changed = true;
        }
        if !parsed.scopes.is_empty() && parsed.scopes != state.scopes {
            state.scopes = parsed.scopes.clone();
            changed = true;
        }
        if changed {
            // The old refresh token may already be dead: the new one must survive a crash.
            let stored = self.save(&state);
            let flushed = match stored {
                Ok(()) => self.store.flush().await,
                Err(e) => Err(e),
            };
            flushed.map_err(|e| {
                HubSpotError::Unexpected(format!("cannot store the refresh token: {e}"))
            })?;
        }
        Ok(())
    }

    async fn mark_reauthorization_required(&self, mut state: OAuthState) {
        state.reauthorization_required = true;
        if let Err(e) = self.save(&state) {
            tracing::error!(error = %e, "cannot record that reauthorization is required");
            return;
        }
        let _ = self.store.flush().await;
        tracing::error!(
            "HubSpot refused the refresh token: reauthorization required; queued work is kept"
        );
    }
}

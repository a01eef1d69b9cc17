//! OAuth 2.0 (fact sheet §1): consent redirect, token endpoint, introspection.
//!
//! None of these routes go through the API guard: they are not counted as
//! authenticated calls, never rate limited and never hit by injected faults.

use actix_web::web::{Bytes, Data};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use chrono::{Duration as ChronoDuration, Utc};
use rand::Rng;
use serde_json::{Value, json};

use super::FakeHubSpot;
use super::errors::{ApiError, correlation_id};
use super::state::{AccessRec, OAuthState, RefreshRec, Shared};
use super::util::{form_pairs, iso, json_response, path_param, query};

/// Scopes granted by default (what a custom-channel bridge with Help Desk
/// tickets and agent availability asks for); `FakeHubSpot::set_scopes`
/// changes them per test.
pub(super) const SCOPES: &[&str] = &[
    "oauth",
    "conversations.custom_channels.read",
    "conversations.custom_channels.write",
    "conversations.read",
    "conversations.write",
    "crm.objects.contacts.read",
    "crm.objects.contacts.write",
    "crm.objects.users.read",
    "files",
    "tickets",
];

const USER_ID: u64 = 293_199;
const USER_EMAIL: &str = "admin@example.com";
const HUB_DOMAIN: &str = "fake-portal.example.com";

fn random_alnum(n: usize) -> String {
    rand::rng()
        .sample_iter(&rand::distr::Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

fn hex(n: usize) -> String {
    (0..n)
        .map(|_| format!("{:x}", rand::rng().random_range(0..16u8)))
        .collect()
}

impl OAuthState {
    /// Opaque, variable-looking access token (HubSpot's start with `C`).
    /// Carries the portal's currently granted scopes.
    pub fn mint_access(&mut self, hub_id: u64, lifetime_secs: u64) -> String {
        let scopes = self.granted.clone();
        self.mint_access_with(hub_id, lifetime_secs, scopes)
    }

    pub fn mint_access_with(
        &mut self,
        hub_id: u64,
        lifetime_secs: u64,
        scopes: Vec<String>,
    ) -> String {
        let token = format!("CJ{}", random_alnum(150));
        let expires_at = Utc::now() + ChronoDuration::seconds(lifetime_secs as i64);
        self.access.insert(
            token.clone(),
            AccessRec {
                hub_id,
                expires_at,
                scopes,
            },
        );
        token
    }

    /// The scopes of a known access token.
    pub fn token_scopes(&self, token: &str) -> Option<&[String]> {
        self.access.get(token).map(|r| r.scopes.as_slice())
    }

    /// Grants exactly `scopes` to every token, minted or still to mint.
    pub fn set_granted(&mut self, scopes: Vec<String>) {
        for t in self.access.values_mut() {
            t.scopes = scopes.clone();
        }
        self.granted = scopes;
    }

    /// `na1-xxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, the shape HubSpot documents.
    pub fn mint_refresh(&mut self, hub_id: u64) -> String {
        let token = format!(
            "na1-{}-{}-{}-{}-{}",
            hex(4),
            hex(4),
            hex(4),
            hex(4),
            hex(12)
        );
        self.refresh.insert(
            token.clone(),
            RefreshRec {
                hub_id,
                revoked: false,
            },
        );
        token
    }

    /// The portal a Bearer token belongs to, or the 401 HubSpot would answer.
    pub fn authenticate(&self, token: &str) -> Result<u64, ApiError> {
        let rec = self
            .access
            .get(token)
            .ok_or_else(ApiError::invalid_authentication)?;
        let now = Utc::now();
        if now >= rec.expires_at {
            let ago = (now - rec.expires_at).num_seconds();
            return Err(ApiError::new(
                401,
                "EXPIRED_AUTHENTICATION",
                format!("The OAuth token used to make this call expired {ago} second(s) ago."),
            )
            .with("context", json!({ "expire time": [iso(rec.expires_at)] })));
        }
        Ok(rec.hub_id)
    }
}

/// Token-endpoint error: RFC 6749 `error`/`error_description` plus the legacy
/// `status`/`message` pair (§1.2). `correlationId`/`category` are extras.
fn token_error(error: &str, status: &str, message: &str) -> ApiError {
    ApiError::new(400, "VALIDATION_ERROR", message)
        .with("status", json!(status))
        .with("error", json!(error))
        .with("error_description", json!(message))
}

fn html(status: u16, text: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .content_type("text/html; charset=utf-8")
        .body(format!("<html><body><h1>{text}</h1></body></html>"))
}

/// `GET /oauth/authorize` (and `/oauth/{portalId}/authorize`): consent is
/// given at once, so this checks the app and redirects with a fresh code.
pub(super) async fn authorize(req: HttpRequest, sh: Data<Shared>) -> HttpResponse {
    let q = query(&req);
    if q.get("client_id").map(String::as_str) != Some(FakeHubSpot::CLIENT_ID) {
        return html(400, "Authorization failed: unknown client_id");
    }
    let Some(mut target) = q.get("redirect_uri").and_then(|r| url::Url::parse(r).ok()) else {
        return html(400, "Authorization failed: missing or invalid redirect_uri");
    };
    let code = correlation_id();
    sh.state
        .lock()
        .oauth
        .codes
        .insert(code.clone(), target.to_string());
    {
        let mut pairs = target.query_pairs_mut();
        pairs.append_pair("code", &code);
        if let Some(state) = q.get("state") {
            pairs.append_pair("state", state);
        }
    }
    HttpResponse::Found()
        .insert_header(("Location", target.to_string()))
        .finish()
}

/// `POST /oauth/{v1,v3,2026-03,2026-09}/token`.
pub(super) async fn token(req: HttpRequest, body: Bytes, sh: Data<Shared>) -> HttpResponse {
    // v1 also takes its parameters from the query string (§1.2); the body wins.
    let mut params = if req.path().starts_with("/oauth/v1/") {
        query(&req)
    } else {
        Default::default()
    };
    params.extend(form_pairs(&body));
    let mut st = sh.state.lock();
    st.oauth.token_requests += 1;
    let lifetime = st.cfg.token_lifetime_secs;
    let get = |k: &str| params.get(k).map(String::as_str).unwrap_or_default();

    let grant = get("grant_type");
    if grant != "authorization_code" && grant != "refresh_token" {
        return token_error(
            "unsupported_grant_type",
            "BAD_GRANT_TYPE",
            "missing or unsupported grant_type",
        )
        .error_response();
    }
    if get("client_id") != FakeHubSpot::CLIENT_ID {
        return token_error(
            "invalid_client",
            "BAD_CLIENT_ID",
            "missing or unknown client id",
        )
        .error_response();
    }
    if get("client_secret") != FakeHubSpot::CLIENT_SECRET {
        return token_error(
            "invalid_client",
            "BAD_CLIENT_SECRET",
            "missing or invalid client secret",
        )
        .error_response();
    }
    let hub_id = FakeHubSpot::PORTAL_ID;
    let refresh_token = if grant == "authorization_code" {
        match st.oauth.codes.get(get("code")) {
            None => {
                return token_error(
                    "invalid_grant",
                    "BAD_AUTH_CODE",
                    "missing or unknown auth code",
                )
                .error_response();
            }
            Some(uri) if uri != get("redirect_uri") => {
                return token_error(
                    "invalid_grant",
                    "BAD_REDIRECT_URI",
                    "redirect_uri does not match the one used to authorize",
                )
                .error_response();
            }
            Some(_) => {}
        }
        st.oauth.codes.remove(get("code"));
        st.oauth.mint_refresh(hub_id)
    } else {
        let presented = get("refresh_token").to_string();
        match st.oauth.refresh.get(&presented) {
            Some(r) if !r.revoked => {}
            _ => {
                return token_error(
                    "invalid_grant",
                    "BAD_REFRESH_TOKEN",
                    "refresh token is invalid, expired or revoked",
                )
                .error_response();
            }
        }
        if st.oauth.rotate_refresh_tokens {
            if let Some(old) = st.oauth.refresh.get_mut(&presented) {
                old.revoked = true;
            }
            st.oauth.mint_refresh(hub_id)
        } else {
            presented
        }
    };
    let access_token = st.oauth.mint_access(hub_id, lifetime);
    let scopes = st.oauth.granted.clone();
    json_response(
        200,
        &json!({
            "token_type": "bearer",
            "refresh_token": refresh_token,
            "access_token": access_token,
            "hub_id": hub_id,
            "user_id": USER_ID,
            "scopes": scopes,
            "expires_in": lifetime,
            "token_use": "access_token",
        }),
    )
}

fn access_info(st: &OAuthState, token: &str) -> Option<Value> {
    let rec = st.access.get(token)?;
    let remaining = (rec.expires_at - Utc::now()).num_seconds();
    Some(json!({
        "token": token,
        "user": USER_EMAIL,
        "hub_domain": HUB_DOMAIN,
        "scopes": rec.scopes,
        "signed_access_token": {
            "expiresAt": rec.expires_at.timestamp_millis(),
            "hubId": rec.hub_id,
            "userId": USER_ID,
            "appId": FakeHubSpot::APP_ID.parse::<u64>().unwrap_or_default(),
            "hublet": "na1",
            "isUserLevel": false,
        },
        "hub_id": rec.hub_id,
        "app_id": FakeHubSpot::APP_ID.parse::<u64>().unwrap_or_default(),
        "expires_in": remaining.max(0),
        "user_id": USER_ID,
        "token_type": "access",
        "active": remaining > 0,
    }))
}

fn refresh_info(st: &OAuthState, token: &str) -> Option<Value> {
    let rec = st.refresh.get(token).filter(|r| !r.revoked)?;
    Some(json!({
        "token": token,
        "user": USER_EMAIL,
        "hub_domain": HUB_DOMAIN,
        "scopes": st.granted,
        "hub_id": rec.hub_id,
        "client_id": FakeHubSpot::CLIENT_ID,
        "app_id": FakeHubSpot::APP_ID.parse::<u64>().unwrap_or_default(),
        "user_id": USER_ID,
        "token_type": "refresh",
        "active": true,
    }))
}

/// `GET /oauth/v1/access-tokens/{token}` (legacy introspection).
pub(super) async fn access_token_info(req: HttpRequest, sh: Data<Shared>) -> HttpResponse {
    let token = path_param(&req, "token");
    let st = sh.state.lock();
    match access_info(&st.oauth, &token) {
        Some(info) if info["active"] == true => json_response(200, &info),
        Some(_) => st
            .oauth
            .authenticate(&token)
            .err()
            .unwrap_or_else(ApiError::invalid_authentication)
            .error_response(),
        None => ApiError::not_found("access token not found").error_response(),
    }
}

/// `GET /oauth/v1/refresh-tokens/{token}`.
pub(super) async fn refresh_token_info(req: HttpRequest, sh: Data<Shared>) -> HttpResponse {
    let token = path_param(&req, "token");
    match refresh_info(&sh.state.lock().oauth, &token) {
        Some(info) => json_response(200, &info),
        None => ApiError::not_found("refresh token not found").error_response(),
    }
}

/// `DELETE /oauth/v1/refresh-tokens/{token}`: revokes only that refresh token.
pub(super) async fn delete_refresh_token(req: HttpRequest, sh: Data<Shared>) -> HttpResponse {
    let token = path_param(&req, "token");
    match sh.state.lock().oauth.refresh.get_mut(&token) {
        Some(r) if !r.revoked => {
            r.revoked = true;
            HttpResponse::NoContent().finish()
        }
        _ => ApiError::not_found("refresh token not found").error_response(),
    }
}

/// `POST /oauth/v3/token/introspect`: RFC 7662 style; unknown → `active:false`.
pub(super) async fn introspect(body: Bytes, sh: Data<Shared>) -> HttpResponse {
    let p = form_pairs(&body);
    if p.get("client_id").map(String::as_str) != Some(FakeHubSpot::CLIENT_ID)
        || p.get("client_secret").map(String::as_str) != Some(FakeHubSpot::CLIENT_SECRET)
    {
        return token_error(
            "invalid_client",
            "BAD_CLIENT_ID",
            "invalid client credentials",
        )
        .error_response();
    }
    // The v3 prose names the field after the token kind; SPEC says `token`.
    let token = ["token", "access_token", "refresh_token"]
        .iter()
        .find_map(|k| p.get(*k))
        .cloned()
        .unwrap_or_default();
    let st = sh.state.lock();
    let info = access_info(&st.oauth, &token)
        .map(|mut v| {
            v["token_use"] = json!("access_token");
            v["token_type"] = json!("Bearer");
            v
        })
        .or_else(|| {
            refresh_info(&st.oauth, &token).map(|mut v| {
                v["token_use"] = json!("refresh_token");
                v["token_type"] = json!("Bearer");
                v
            })
        })
        .unwrap_or_else(|| json!({ "active": false }));
    json_response(200, &info)
}

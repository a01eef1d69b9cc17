//! The gate every API call passes before its handler: authentication, then
//! injected faults, then rate limits (§9.2). The order matters: faults only
//! hit *authenticated* calls (as the test hooks promise), and injected
//! failures do not consume the rolling window.

use std::time::{Duration, Instant};

use actix_web::{HttpMessage, HttpRequest};

use super::FakeHubSpot;
use super::errors::ApiError;
use super::state::Shared;
use super::util::query;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Auth {
    /// Portal OAuth token (channel accounts, messages, conversations, CRM).
    Bearer,
    /// Bearer, but CRM search: outside the 10 s window, own per-second limit.
    Search,
    /// Channel CRUD: `hapikey` + `appId`, or Bearer + `appId` (§2.1).
    ChannelAdmin,
    /// Webhooks API: developer `hapikey` only.
    DeveloperKey,
}

/// Request extension: the call passed authentication (for `RequestRecord`).
#[derive(Clone, Copy)]
pub(super) struct Authenticated;

/// Request extension: rate-limit headers to put on the response.
#[derive(Clone, Copy)]
pub(super) struct RateInfo {
    pub max: u32,
    pub remaining: u32,
}

const TEN_SECONDS: Duration = Duration::from_secs(10);
const ONE_SECOND: Duration = Duration::from_secs(1);

fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

fn developer_key(hapikey: Option<&String>) -> Result<(), ApiError> {
    match hapikey {
        Some(k) if k == FakeHubSpot::DEVELOPER_API_KEY => Ok(()),
        Some(_) => Err(ApiError::new(
            401,
            "INVALID_AUTHENTICATION",
            "The API key provided is invalid. View or manage your API key here: \
             https://app.hubspot.com/l/api-key/",
        )),
        None => Err(ApiError::invalid_authentication()),
    }
}

/// Scope sets of the endpoints: a token needs any one scope of the set.
pub(super) mod scopes {
    pub const CONVERSATIONS_READ: &[&str] = &["conversations.read"];
    pub const CONVERSATIONS_WRITE: &[&str] = &["conversations.write"];
    /// Reads of channel accounts and messages: `.read`, or `.write` (which
    /// the 2025-09/2026-09 specs also list for reads) [uncertain].
    pub const CHANNELS_READ: &[&str] = &[
        "conversations.custom_channels.read",
        "conversations.custom_channels.write",
    ];
    pub const CHANNELS_WRITE: &[&str] = &["conversations.custom_channels.write"];
    pub const CONTACTS_READ: &[&str] = &["crm.objects.contacts.read", "crm.objects.contacts.write"];
    pub const CONTACTS_WRITE: &[&str] = &["crm.objects.contacts.write"];
    pub const TICKETS: &[&str] = &["tickets"];
    /// Property definitions: `tickets`, or the schema scope.
    pub const TICKET_SCHEMA: &[&str] = &["tickets", "crm.schemas.tickets.read"];
    /// v4 contact↔ticket associations: either side's write scope [uncertain;
    /// the v3 contact-side PUT worked with no `tickets` scope, §13.9].
    pub const ASSOCIATIONS: &[&str] = &["crm.objects.contacts.write", "tickets"];
    pub const USERS_READ: &[&str] = &["crm.objects.users.read"];
    pub const FILES: &[&str] = &["files"];
}

/// [`check`], then the token must carry one of `any_of` (Bearer calls only;
/// `hapikey` calls carry no scopes), else 403 MISSING_SCOPES.
pub(super) fn check_scoped(
    sh: &Shared,
    req: &HttpRequest,
    auth: Auth,
    any_of: &[&str],
) -> Result<(), ApiError> {
    check(sh, req, auth)?;
    let Some(token) = bearer_token(req) else {
        return Ok(());
    };
    let st = sh.state.lock();
    let granted = st.oauth.token_scopes(&token).unwrap_or_default();
    if any_of.is_empty() || any_of.iter().any(|s| granted.iter().any(|g| g == s)) {
        Ok(())
    } else {
        Err(ApiError::missing_scopes(any_of))
    }
}

/// Runs the gate; `Ok` means the handler may serve the call.
pub(super) fn check(sh: &Shared, req: &HttpRequest, auth: Auth) -> Result<(), ApiError> {
    let q = query(req);
    let bearer = bearer_token(req);
    let mut st = sh.state.lock();

    // A Bearer token, when sent, is what identifies the portal; Botpress sends
    // Bearer plus an optional hapikey for channel CRUD (§2.1).
    let hub = match (auth, &bearer) {
        (Auth::DeveloperKey, _) | (Auth::ChannelAdmin, None) => {
            developer_key(q.get("hapikey"))?;
            None
        }
        (_, Some(t)) => Some(st.oauth.authenticate(t)?),
        (_, None) => return Err(ApiError::invalid_authentication()),
    };
    req.extensions_mut().insert(Authenticated);

    let now = Instant::now();
    let ten_s_limit = st.cfg.rate_limit_per_10s.filter(|_| auth != Auth::Search);
    if let (Some(hub), Some(max)) = (hub, ten_s_limit) {
        let remaining = st
            .windows
            .entry(hub)
            .or_default()
            .remaining(now, TEN_SECONDS, max);
        req.extensions_mut().insert(RateInfo { max, remaining });
    }

    if let Some(err) = st.faults.take() {
        return Err(err);
    }

    if let (Some(hub), Some(max)) = (hub, ten_s_limit) {
        let window = st.windows.entry(hub).or_default();
        match window.try_hit(now, TEN_SECONDS, max) {
            Ok(remaining) => {
                req.extensions_mut().insert(RateInfo { max, remaining });
            }
            Err(()) => return Err(ApiError::rate_limited("TEN_SECONDLY_ROLLING", None)),
        }
    }
    if let (Auth::Search, Some(hub), Some(max)) = (auth, hub, st.cfg.search_rate_limit_per_sec) {
        let window = st.search_windows.entry(hub).or_default();
        if window.try_hit(now, ONE_SECOND, max).is_err() {
            return Err(ApiError::rate_limited("SECONDLY", None));
        }
    }

    if auth == Auth::ChannelAdmin {
        match q.get("appId") {
            None => return Err(ApiError::validation("appId is required")),
            Some(a) if a != FakeHubSpot::APP_ID => {
                return Err(ApiError::new(
                    403,
                    "MISSING_SCOPES",
                    format!("The credentials do not give access to app {a}"),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

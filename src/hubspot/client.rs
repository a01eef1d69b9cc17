//! One shared HTTP client for HubSpot: authentication, proactive rate limiting, and error
//! classification. Every non-2xx is logged with HubSpot's correlation id, category and
//! message, never with a token or key.

use super::error::HubSpotError;
use super::oauth::TokenManager;
use super::ratelimit::RateLimiter;
use crate::settings::Settings;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

enum Body<'a> {
    Empty,
    Json(&'a Value),
    File(&'a Upload),
}

/// One file for the Files API, with the form's other fields.
pub(crate) struct Upload {
    pub(crate) bytes: bytes::Bytes,
    pub(crate) name: String,
    pub(crate) mime: String,
    pub(crate) fields: Vec<(&'static str, String)>,
}

impl Upload {
    fn form(&self) -> reqwest::multipart::Form {
        let part = reqwest::multipart::Part::stream(self.bytes.clone())
            .file_name(self.name.clone())
            .mime_str(&self.mime)
            .unwrap_or_else(|_| {
                reqwest::multipart::Part::stream(self.bytes.clone()).file_name(self.name.clone())
            });
        self.fields
            .iter()
            .fold(reqwest::multipart::Form::new(), |form, (k, v)| {
                form.text(*k, v.clone())
            })
            .part("file", part)
    }
}

pub(crate) use crate::settings::DeveloperCredentials;

/// Whose part of the rate limit a call uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Budget {
    /// handoff's own work: waits for a slot.
    Shared,
    /// Done for an outside caller (a file link): the small share, or `RateLimited` at once.
    OutsideShare,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Auth {
    /// The portal's OAuth access token.
    Bearer,
    /// The developer API key (`hapikey`) and `appId`, for app-level settings.
    Developer,
}

pub struct HubSpot {
    http: reqwest::Client,
    api_base: String,
    pub limiter: RateLimiter,
    /// CRM search has its own limit of 5 requests per second.
    search_limiter: RateLimiter,
    pub tokens: TokenManager,
    /// Owns the developer credentials (see [`HubSpot::developer`]).
    settings: Arc<Settings>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    message: Option<String>,
    category: Option<String>,
    sub_category: Option<String>,
    correlation_id: Option<String>,
    policy_name: Option<String>,
}

/// A reqwest error without its URL, which can carry `hapikey`.
pub(crate) fn transport_error(e: &reqwest::Error) -> HubSpotError {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    HubSpotError::Transient {
        status: None,
        message: format!(
            "{kind}: {}",
            std::error::Error::source(e)
                .map(|s| s.to_string())
                .unwrap_or_default()
        ),
        retry_after: None,
    }
}

/// HubSpot's documented retryable statuses, and every other 4xx as permanent.
pub(crate) fn classify_status(
    status: u16,
    retry_after: Option<Duration>,
    message: String,
) -> HubSpotError {
    match status {
        423 => HubSpotError::Transient {
            status: Some(status),
            message,
            // "wait at least 2 seconds"
            retry_after: Some(
                retry_after
                    .unwrap_or(Duration::from_secs(2))
                    .max(Duration::from_secs(2)),
            ),
        },
        429 | 477 | 500..=599 => HubSpotError::Transient {
            status: Some(status),
            message,
            retry_after,
        },
        _ => HubSpotError::Permanent {
            status,
            category: None,
            message,
        },
    }
}

fn header<T: std::str::FromStr>(headers: &HeaderMap, name: &str) -> Option<T> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    // HubSpot sends seconds; an HTTP date is possible in principle but not seen.
    header::<f64>(headers, "retry-after")
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(86_400.0)))
}

impl HubSpot {
    pub(crate) fn new(
        http: reqwest::Client,
        api_base: &str,
        rate_limit_per_10s: u32,
        store: Arc<dyn crate::relay::repo::SettingsRepo>,
        settings: Arc<Settings>,
    ) -> Result<Self, crate::store::StoreError> {
        let api_base = api_base.trim_end_matches('/').to_string();
        Ok(HubSpot {
            tokens: TokenManager::new(http.clone(), &api_base, store, settings.clone())?,
            limiter: RateLimiter::new(rate_limit_per_10s, super::ratelimit::WINDOW),
            search_limiter: RateLimiter::new(4, Duration::from_secs(1)),
            http,
            api_base,
            settings,
        })
    }

    /// The developer credentials, as configured or saved by the wizard now.
    pub(crate) fn developer(&self) -> Option<DeveloperCredentials> {
        self.settings.developer()
    }

    // The connection, as the wizard, the dashboard and provisioning ask about it; the token
    // manager behind it is an implementation detail.

    /// Why HubSpot cannot be called now, if it cannot.
    pub(crate) fn problem(&self) -> Option<super::oauth::AuthProblem> {
        self.tokens.problem()
    }

    /// Whether provisioning has what it needs: a usable token and the developer key.
    pub(crate) fn can_provision(&self) -> bool {
        self.problem().is_none() && self.developer().is_some()
    }

    pub(crate) fn portal_id(&self) -> Option<u64> {
        self.tokens.portal_id()
    }

    pub(crate) fn scopes(&self) -> Vec<String> {
        self.tokens.scopes()
    }

    pub(crate) fn access_expires_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.tokens.access_expires_at()
    }

    /// Completes the wizard's OAuth flow; the portal id, or what to tell the admin.
    pub(crate) async fn exchange_code(
        &self,
        code: &str,
        redirect_uri: &str,
    ) -> Result<Option<u64>, String> {
        self.tokens.exchange_code(code, redirect_uri).await
    }

    /// Resolves when a new refresh token arrives (or HubSpot refuses the old one).
    pub(crate) async fn connection_changed(&self) {
        self.tokens.changed.notified().await
    }

    /// Calls left in the rolling window, by handoff's count.
    pub(crate) fn ratelimit_headroom(&self) -> usize {
        self.limiter.headroom()
    }

    /// Calls the HubSpot API and decodes a JSON answer (`null` for an empty one).
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        auth: Auth,
    ) -> Result<T, HubSpotError> {
        self.call_with(method, path, query, body, auth, Budget::Shared)
            .await
    }

    /// [`HubSpot::call`] under a chosen part of the rate limit.
    pub(crate) async fn call_with<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        auth: Auth,
        budget: Budget,
    ) -> Result<T, HubSpotError> {
        let body = match body {
            Some(json) => Body::Json(json),
            None => Body::Empty,
        };
        let bytes = self
            .call_raw(method, path, query, body, auth, budget)
            .await?;
        let value: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
        serde_json::from_slice(value).map_err(|e| HubSpotError::Unexpected(format!("{path}: {e}")))
    }

    /// Uploads one file as `multipart/form-data` (the Files API) and decodes the answer.
    pub(crate) async fn call_upload<T: DeserializeOwned>(
        &self,
        path: &str,
        upload: &Upload,
    ) -> Result<T, HubSpotError> {
        let bytes = self
            .call_raw(
                Method::POST,
                path,
                &[],
                Body::File(upload),
                Auth::Bearer,
                Budget::Shared,
            )
            .await?;
        serde_json::from_slice(&bytes).map_err(|e| HubSpotError::Unexpected(format!("{path}: {e}")))
    }

    async fn call_raw(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Body<'_>,
        auth: Auth,
        budget: Budget,
    ) -> Result<bytes::Bytes, HubSpotError> {
        let mut refreshed_after_401 = false;
        loop {
            // The token first: without one (not connected) there is no request to build.
            let bearer = match auth {
                Auth::Bearer => Some(self.tokens.access_token().await?),
                _ => None,
            };
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path}", self.api_base))
                .query(query);
            if let Some(token) = &bearer {
                request = request.bearer_auth(token.expose());
            }
            if auth == Auth::Developer {
                let dev = self.developer().ok_or(HubSpotError::NotConnected)?;
                request = request.query(&[("appId", dev.app_id.as_str())]);
                if auth == Auth::Developer {
                    request = request.query(&[("hapikey", dev.api_key.expose())]);
                }
            }
            match &body {
                Body::Empty => {}
                Body::Json(json) => request = request.json(json),
                // Built afresh per attempt: a multipart form can be sent only once.
                Body::File(upload) => request = request.multipart(upload.form()),
            }
            let is_search = path.starts_with("/crm/") && path.ends_with("/search");
            let _search_permit = if is_search {
                Some(self.search_limiter.acquire().await)
            } else {
                None
            };
            let permit = match budget {
                Budget::Shared => self.limiter.acquire().await,
                Budget::OutsideShare => self
                    .limiter
                    .try_acquire_share()
                    .map_err(|retry_after| HubSpotError::RateLimited { retry_after })?,
            };
            let response = request.send().await.map_err(|e| transport_error(&e));
            let response = match response {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(%method, path, error = %e, "HubSpot call failed");
                    return Err(e);
                }
            };
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.bytes().await.map_err(|e| transport_error(&e))?;
            drop(permit);
            self.limiter.observe(
                header(&headers, "x-hubspot-ratelimit-max"),
                header(&headers, "x-hubspot-ratelimit-remaining"),
            );
            if status.is_success() {
                return Ok(body);
            }
            let error: ErrorBody = serde_json::from_slice(&body).unwrap_or_default();
            let correlation_id = error
                .correlation_id
                .clone()
                .or_else(|| header(&headers, "x-hubspot-correlation-id"));
            tracing::warn!(
                %method,
                path,
                status = status.as_u16(),
                correlation_id = correlation_id.as_deref().unwrap_or("-"),
                category = error.category.as_deref().unwrap_or("-"),
                sub_category = error.sub_category.as_deref().unwrap_or("-"),
                message = error.message.as_deref().unwrap_or("-"),
                "HubSpot answered an error"
            );
            if status == StatusCode::UNAUTHORIZED
                && let Some(used) = &bearer
                && !refreshed_after_401
            {
                // Usually an expired token: refresh once and try again.
                refreshed_after_401 = true;
                self.tokens.invalidate(used).await;
                continue;
            }
            let message = error
                .message
                .clone()
                .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
            if status == StatusCode::TOO_MANY_REQUESTS {
                return Err(self.rate_limited(&headers, error.policy_name.as_deref()));
            }
            return Err(
                match classify_status(status.as_u16(), retry_after(&headers), message) {
                    HubSpotError::Permanent {
                        status, message, ..
                    } => HubSpotError::Permanent {
                        status,
                        category: error.category,
                        message,
                    },
                    other => other,
                },
            );
        }
    }

    /// A 429 pauses every HubSpot call: for `Retry-After` when given, else the interval
    /// header, else ten seconds (one full window).
    fn rate_limited(&self, headers: &HeaderMap, policy: Option<&str>) -> HubSpotError {
        let wait = retry_after(headers)
            .or_else(|| {
                header::<u64>(headers, "x-hubspot-ratelimit-interval-milliseconds")
                    .map(Duration::from_millis)
            })
            .unwrap_or(super::ratelimit::WINDOW);
        if policy == Some("DAILY") {
            tracing::error!("HubSpot's daily API limit is reached");
        }
        self.limiter.pause_until(Instant::now() + wait);
        HubSpotError::RateLimited { retry_after: wait }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified_as_documented() {
        for s in [423, 429, 477, 500, 502, 503, 504, 521, 524] {
            assert!(
                !classify_status(s, None, String::new()).is_permanent(),
                "{s}"
            );
        }
        for s in [400, 403, 404, 409, 414] {
            assert!(
                classify_status(s, None, String::new()).is_permanent(),
                "{s}"
            );
        }
        let HubSpotError::Transient { retry_after, .. } = classify_status(423, None, String::new())
        else {
            panic!()
        };
        assert_eq!(retry_after, Some(Duration::from_secs(2)));
    }
}

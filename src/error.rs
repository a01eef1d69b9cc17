//! The one error type handlers return, and the one place it becomes an HTTP answer:
//! `{"error": {"code": "kebab-case", "message": "..."}}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;
use std::fmt;

#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    /// Sent as `Location` (a browser that is not logged in goes to the login page).
    pub(crate) location: Option<&'static str>,
    /// Sent as `Retry-After` (whole seconds, rounded up).
    pub(crate) retry_after: Option<std::time::Duration>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            location: None,
            retry_after: None,
        }
    }

    /// An admin page without a valid session: the browser is sent to the login page.
    pub(crate) fn login_required() -> Self {
        ApiError {
            location: Some("/login"),
            ..Self::new(StatusCode::SEE_OTHER, "login-required", "log in first")
        }
    }

    pub(crate) fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    pub(crate) fn too_many_requests(message: impl Into<String>) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "too-many-requests", message)
    }

    /// 429 with `Retry-After`.
    pub(crate) fn retry_after(wait: std::time::Duration, message: impl Into<String>) -> Self {
        ApiError {
            retry_after: Some(wait),
            ..Self::too_many_requests(message)
        }
    }

    /// HubSpot (or the bot) could not be asked right now.
    pub(crate) fn upstream(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, code, message)
    }

    /// The body is not JSON or has wrong types.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", message)
    }

    /// Well-formed, but a value is not acceptable.
    pub(crate) fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub(crate) fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("{what} not found"),
        )
    }

    pub(crate) fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub(crate) fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            format!("the body is larger than {limit} bytes"),
        )
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(location) = self.location {
            response.insert_header(("location", location));
        }
        if let Some(wait) = self.retry_after {
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            response.insert_header(("retry-after", seconds.max(1).to_string()));
        }
        response.json(json!({"error": {"code": self.code, "message": self.message}}))
    }
}

/// A store failure is the server's fault, not the caller's: answer 503 so the bot retries,
/// and keep the detail in the log.
impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        tracing::error!(error = %e, "store failure");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store-unavailable",
            "the store could not complete the request; retry later",
        )
    }
}

/// Routes actix's body, query and path extractor failures into [`ApiError`].
pub(crate) mod extractors {
    use super::ApiError;
    use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
    use actix_web::{HttpRequest, web};

    pub(crate) const BODY_LIMIT: usize = 1024 * 1024;

    pub(crate) fn json_config() -> web::JsonConfig {
        web::JsonConfig::default()
            .limit(BODY_LIMIT)
            // Bots are not always careful with Content-Type; the body must still be JSON.
            .content_type_required(false)
            .error_handler(|err, _req: &HttpRequest| {
                match err {
                    JsonPayloadError::Overflow { .. }
                    | JsonPayloadError::OverflowKnownLength { .. } => {
                        ApiError::too_large(BODY_LIMIT)
                    }
                    JsonPayloadError::Deserialize(e) => {
                        ApiError::bad_request(format!("invalid JSON body: {e}"))
                    }
                    other => ApiError::bad_request(format!("invalid body: {other}")),
                }
                .into()
            })
    }

    pub(crate) fn query_config() -> web::QueryConfig {
        web::QueryConfig::default().error_handler(|err: QueryPayloadError, _req: &HttpRequest| {
            ApiError::bad_request(format!("invalid query string: {err}")).into()
        })
    }

    pub(crate) fn path_config() -> web::PathConfig {
        web::PathConfig::default().error_handler(|err: PathError, _req: &HttpRequest| {
            ApiError::bad_request(format!("invalid path: {err}")).into()
        })
    }

    pub(crate) fn form_config() -> web::FormConfig {
        web::FormConfig::default()
            .limit(64 * 1024)
            .error_handler(|err, _req: &HttpRequest| {
                ApiError::bad_request(format!("invalid form: {err}")).into()
            })
    }

    pub(crate) fn payload_config() -> web::PayloadConfig {
        web::PayloadConfig::default().limit(BODY_LIMIT)
    }
}

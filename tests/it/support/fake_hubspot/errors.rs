//! HubSpot's error envelope (fact sheet §9.1).
//!
//! Every error the fake answers carries `status`, `message`, `category` and a
//! uuid-like `correlationId`, and repeats the id in `x-hubspot-correlation-id`,
//! so a client's error logging can be tested against realistic bodies.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{Map, Value, json};

use super::util::json_response;

#[derive(Debug, Clone)]
pub(super) struct ApiError {
    pub status: u16,
    pub body: Map<String, Value>,
    /// Seconds; only set when a test injected a Retry-After.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: u16, category: &str, message: impl Into<String>) -> Self {
        let mut body = Map::new();
        body.insert("status".into(), json!("error"));
        body.insert("message".into(), json!(message.into()));
        body.insert("correlationId".into(), json!(correlation_id()));
        body.insert("category".into(), json!(category));
        ApiError {
            status,
            body,
            retry_after: None,
        }
    }

    /// Adds (or replaces) one top-level field of the body.
    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.body.insert(key.into(), value);
        self
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(400, "VALIDATION_ERROR", message)
    }

    /// 400 for CRM property values HubSpot refuses: `problems` are
    /// `(property, code, message)` with codes like `PROPERTY_DOESNT_EXIST`,
    /// `READ_ONLY_VALUE`, `INVALID_OPTION`. Both shapes seen in the wild are
    /// produced: the v1-style list inside `message`, and v3 `errors[]`.
    pub fn invalid_properties(problems: &[PropertyProblem]) -> Self {
        let listed: Vec<Value> = problems
            .iter()
            .map(|(name, code, message)| {
                json!({ "isValid": false, "message": message, "error": code, "name": name,
                        "localizedErrorMessage": message, "portalId": super::FakeHubSpot::PORTAL_ID })
            })
            .collect();
        let errors: Vec<Value> = problems
            .iter()
            .map(|(name, code, message)| {
                json!({ "message": message, "code": code, "context": { "propertyName": [name] } })
            })
            .collect();
        Self::validation(format!(
            "Property values were not valid: {}",
            Value::Array(listed)
        ))
        .with("errors", Value::Array(errors))
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "OBJECT_NOT_FOUND", message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(409, "CONFLICT", message)
    }

    /// 403 per §9.1: the token lacks every scope in `required` (any one would do).
    pub fn missing_scopes(required: &[&str]) -> Self {
        Self::new(
            403,
            "MISSING_SCOPES",
            "This app hasn't been granted all required scopes to make this call.",
        )
        .with(
            "errors",
            json!([{ "message": "One or more of the following scopes are required.",
                     "context": { "requiredGranularScopes": required } }]),
        )
    }

    pub fn invalid_authentication() -> Self {
        Self::new(
            401,
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found. This API supports OAuth 2.0 authentication and \
             you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
        )
    }

    /// 429 body per §9.2; `policy` is `TEN_SECONDLY_ROLLING` for the 10 s window.
    pub fn rate_limited(policy: &str, retry_after: Option<u64>) -> Self {
        let message = match policy {
            "TEN_SECONDLY_ROLLING" => "You have reached your ten_secondly_rolling limit.",
            "SECONDLY" => "You have reached your secondly limit.",
            _ => "You have reached your rate limit.",
        };
        let mut e = Self::new(429, "RATE_LIMITS", message)
            .with("errorType", json!("RATE_LIMIT"))
            .with("policyName", json!(policy))
            .with("requestId", json!(correlation_id()));
        e.retry_after = retry_after;
        e
    }

    /// A generic error for an injected status code (`fail_next`, `set_outage`).
    pub fn injected(status: u16) -> Self {
        let (category, message) = match status {
            400 => ("VALIDATION_ERROR", "Injected validation failure."),
            401 => return Self::invalid_authentication(),
            403 => (
                "MISSING_SCOPES",
                "This app hasn't been granted all required scopes to make this call.",
            ),
            404 => ("OBJECT_NOT_FOUND", "resource not found"),
            409 => ("CONFLICT", "Injected conflict."),
            423 => ("LOCKED", "The resource is locked; retry after 2 seconds."),
            429 => return Self::rate_limited("TEN_SECONDLY_ROLLING", None),
            477 => ("MIGRATION_IN_PROGRESS", "Portal migration in progress."),
            _ => ("INTERNAL_ERROR", "Injected server failure."),
        };
        Self::new(status, category, message)
    }

    pub fn correlation_id(&self) -> String {
        self.body
            .get("correlationId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, Value::Object(self.body.clone()))
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = json_response(self.status, &Value::Object(self.body.clone()));
        let headers = res.headers_mut();
        if let Ok(v) = self.correlation_id().parse() {
            headers.insert("x-hubspot-correlation-id".parse().unwrap(), v);
        }
        if let Some(secs) = self.retry_after {
            headers.insert(
                actix_web::http::header::RETRY_AFTER,
                secs.to_string().parse().unwrap(),
            );
        }
        res
    }
}

/// One refused CRM property: `(property, code, message)`.
pub(super) type PropertyProblem = (String, &'static str, String);

/// Why property `name` cannot be written, if it cannot: it is read-only
/// (`READ_ONLY_VALUE`) or not `writable` (`PROPERTY_DOESNT_EXIST`).
pub(super) fn property_problem(
    name: &str,
    read_only: &[&str],
    writable: bool,
) -> Option<PropertyProblem> {
    if read_only.contains(&name) {
        Some((
            name.to_string(),
            "READ_ONLY_VALUE",
            format!("Property \"{name}\" is a read only property; its value cannot be set."),
        ))
    } else if writable {
        None
    } else {
        Some((
            name.to_string(),
            "PROPERTY_DOESNT_EXIST",
            format!("Property \"{name}\" does not exist"),
        ))
    }
}

/// Random v4-shaped uuid (rand only; no uuid crate in the dependency set).
pub(super) fn correlation_id() -> String {
    let b: [u8; 16] = rand::random();
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

//! Small helpers shared by the route modules: JSON bodies, query strings,
//! timestamps and HubSpot-style paging.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::errors::ApiError;

/// HubSpot answers `application/json;charset=utf-8` (§9.1).
pub(super) fn json_response(status: u16, body: &Value) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::OK))
        .content_type("application/json;charset=utf-8")
        .body(body.to_string())
}

/// Parses a JSON body by hand so malformed input gets a HubSpot error
/// envelope instead of actix's plain-text 400 (and so no content-type is required).
pub(super) fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::validation(
            "Invalid input JSON: request body is empty",
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::validation(format!(
            "Invalid input JSON on line {}, column {}: {e}",
            e.line(),
            e.column()
        ))
    })
}

/// Like [`parse_json`] but the top level must be an object.
pub(super) fn parse_object(body: &[u8]) -> Result<serde_json::Map<String, Value>, ApiError> {
    match parse_json(body)? {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::validation(
            "Invalid input JSON: expected a JSON object",
        )),
    }
}

/// Query parameters; the first occurrence of a key wins.
pub(super) fn query(req: &HttpRequest) -> HashMap<String, String> {
    form_pairs(req.query_string().as_bytes())
}

/// `application/x-www-form-urlencoded` pairs; the first occurrence wins.
pub(super) fn form_pairs(raw: &[u8]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(raw) {
        out.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    out
}

/// Every value of a repeated query parameter (`?x=a&x=b`).
pub(super) fn query_all(req: &HttpRequest, key: &str) -> Vec<String> {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
        .collect()
}

pub(super) fn path_param(req: &HttpRequest, name: &str) -> String {
    req.match_info().get(name).unwrap_or_default().to_string()
}

/// ISO-8601 with milliseconds and `Z`, as HubSpot renders timestamps.
pub(super) fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

pub(super) fn now_iso() -> String {
    iso(Utc::now())
}

/// IDs arrive as strings per the SPEC, but Jackson-style coercion means a JSON
/// number is accepted by HubSpot too (§10.9), so take both.
pub(super) fn id_string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Applies `limit`/`after` (an offset, which HubSpot treats as opaque) and
/// builds the `paging.next` object when more results remain.
pub(super) fn paginate(
    items: Vec<Value>,
    q: &HashMap<String, String>,
    default_limit: usize,
    link_base: &str,
) -> (Vec<Value>, Option<Value>) {
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
        .unwrap_or(default_limit);
    let start = q
        .get("after")
        .and_then(|a| a.parse::<usize>().ok())
        .unwrap_or(0);
    let end = (start + limit).min(items.len());
    let more = end < items.len();
    let slice = items[start.min(items.len())..end].to_vec();
    let paging = more.then(|| {
        json!({ "next": { "after": end.to_string(), "link": format!("{link_base}?after={end}&limit={limit}") } })
    });
    (slice, paging)
}

/// `{results, total, paging?}`; collection shape of the channel APIs.
pub(super) fn collection(
    items: Vec<Value>,
    q: &HashMap<String, String>,
    link_base: &str,
    with_total: bool,
) -> Value {
    let total = items.len();
    let (results, paging) = paginate(items, q, 100, link_base);
    let mut body = json!({ "results": results });
    if with_total {
        body["total"] = json!(total);
    }
    if let Some(p) = paging {
        body["paging"] = p;
    }
    body
}

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

/// Every comma-separated value of a repeatable query parameter
/// (`?properties=a,b&properties=c` → a, b, c).
pub(super) fn query_list(req: &HttpRequest, key: &str) -> Vec<String> {
    query_all(req, key)
        .iter()
        .flat_map(|p| {
            p.split(',')
                .map(str::trim)
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .filter(|s| !s.is_empty())
        .collect()
}

/// The `properties` a CRM read asks for, or `defaults` when none.
pub(super) fn requested_properties(req: &HttpRequest, defaults: &[&str]) -> Vec<String> {
    let named = query_list(req, "properties");
    if named.is_empty() {
        defaults.iter().map(|s| s.to_string()).collect()
    } else {
        named
    }
}

/// The `properties` object of a CRM create/update body.
pub(super) fn properties_body(body: &[u8]) -> Result<serde_json::Map<String, Value>, ApiError> {
    parse_object(body)?
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| ApiError::validation("properties is required"))
}

/// A CRM property value as the text HubSpot stores (numbers and booleans too).
pub(super) fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `{id, properties, createdAt, updatedAt, archived}` of a CRM object, with
/// the listed properties only (unset ones as null) or, without `only`, all.
pub(super) fn crm_object(
    id: &str,
    all: &serde_json::Map<String, Value>,
    only: Option<&[String]>,
    created_at: &str,
    updated_at: &Value,
) -> Value {
    let properties: serde_json::Map<String, Value> = match only {
        Some(names) => names
            .iter()
            .map(|n| (n.clone(), all.get(n).cloned().unwrap_or(Value::Null)))
            .collect(),
        None => all.clone(),
    };
    json!({
        "id": id,
        "properties": properties,
        "createdAt": created_at,
        "updatedAt": updated_at,
        "archived": false,
    })
}

/// The key of a CRM record GET (path parameter `param`) and the property it
/// is matched against (`?idProperty=`, default `hs_object_id`).
pub(super) fn record_key(req: &HttpRequest, param: &str) -> (String, String) {
    let id_prop = query(req)
        .remove("idProperty")
        .unwrap_or_else(|| "hs_object_id".into());
    (path_param(req, param), id_prop)
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

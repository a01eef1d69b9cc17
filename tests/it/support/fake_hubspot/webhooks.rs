//! Webhooks API (§4.3): app settings and subscriptions, developer `hapikey`.
//!
//! Only stores state. Delivering app webhooks (arrays, v1+v3 signatures) is a
//! later addition that will read `State::webhook_settings`/`subscriptions`.

use actix_web::web::{Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Value, json};

use super::FakeHubSpot;
use super::errors::ApiError;
use super::guard::{Auth, check};
use super::state::{Shared, State};
use super::util::{json_response, now_iso, parse_object, path_param};

const EVENT_TYPES: &[&str] = &[
    "conversation.creation",
    "conversation.deletion",
    "conversation.privacyDeletion",
    "conversation.propertyChange",
    "conversation.newMessage",
    "contact.creation",
    "contact.deletion",
    "contact.propertyChange",
    "contact.merge",
    "contact.associationChange",
    "contact.restore",
    "contact.privacyDeletion",
];
const MAX_SUBSCRIPTIONS: usize = 1000;

/// Auth, then the `{appId}` of the path must be the fake app.
fn guard(sh: &Shared, req: &HttpRequest) -> Result<(), ApiError> {
    check(sh, req, Auth::DeveloperKey)?;
    let app = path_param(req, "appId");
    if app != FakeHubSpot::APP_ID {
        return Err(ApiError::not_found(format!("App {app} not found")));
    }
    Ok(())
}

pub(super) async fn get_settings(
    req: HttpRequest,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    guard(&sh, &req)?;
    let settings = sh.state.lock().webhook_settings.clone();
    let s = settings.ok_or_else(|| ApiError::not_found("No webhook settings for this app"))?;
    Ok(json_response(200, &s))
}

/// `{targetUrl, throttling:{maxConcurrentRequests>5, period?}}`.
pub(super) async fn put_settings(
    req: HttpRequest,
    body: Bytes,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    guard(&sh, &req)?;
    let b = parse_object(&body)?;
    let target = b
        .get("targetUrl")
        .and_then(Value::as_str)
        .filter(|u| url::Url::parse(u).is_ok())
        .ok_or_else(|| ApiError::validation("targetUrl is required and must be a valid URL"))?;
    let max = b
        .get("throttling")
        .and_then(|t| t["maxConcurrentRequests"].as_u64())
        .ok_or_else(|| ApiError::validation("throttling.maxConcurrentRequests is required"))?;
    if max <= 5 {
        return Err(ApiError::validation(
            "maxConcurrentRequests must be a number greater than five",
        ));
    }
    let period = b["throttling"]["period"].as_str().unwrap_or("SECONDLY");
    if period != "SECONDLY" && period != "ROLLING_MINUTE" {
        return Err(ApiError::validation(
            "throttling.period must be SECONDLY or ROLLING_MINUTE",
        ));
    }
    let mut st = sh.state.lock();
    let now = now_iso();
    let created = st
        .webhook_settings
        .as_ref()
        .map_or_else(|| json!(now), |s| s["createdAt"].clone());
    let settings = json!({
        "targetUrl": target,
        "throttling": { "maxConcurrentRequests": max, "period": period },
        "createdAt": created,
        "updatedAt": now,
    });
    st.webhook_settings = Some(settings.clone());
    Ok(json_response(200, &settings))
}

pub(super) async fn delete_settings(
    req: HttpRequest,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    guard(&sh, &req)?;
    sh.state.lock().webhook_settings = None;
    Ok(HttpResponse::NoContent().finish())
}

pub(super) async fn list_subscriptions(
    req: HttpRequest,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    guard(&sh, &req)?;
    let subs = sh.state.lock().subscriptions.clone();
    Ok(json_response(200, &json!({ "results": subs })))
}

/// `{eventType, propertyName?, active?}` → 201; propertyChange needs a property.
pub(super) async fn create_subscription(
    req: HttpRequest,
    body: Bytes,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    guard(&sh, &req)?;
    let b = parse_object(&body)?;
    let event = b
        .get("eventType")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !EVENT_TYPES.contains(&event) {
        return Err(ApiError::validation(format!("Unknown eventType `{event}`")));
    }
    let property = b.get("propertyName").and_then(Value::as_str);
    if event.ends_with(".propertyChange") && property.is_none_or(str::is_empty) {
        return Err(ApiError::validation(
            "propertyName is required for propertyChange subscriptions",
        ));
    }
    let active = b.get("active").and_then(Value::as_bool).unwrap_or(false);
    let mut st = sh.state.lock();
    if st.subscriptions.len() >= MAX_SUBSCRIPTIONS {
        return Err(ApiError::validation(
            "An app can have at most 1000 subscriptions",
        ));
    }
    let now = now_iso();
    let mut sub = json!({
        "id": st.ids.subscription().to_string(),
        "eventType": event,
        "active": active,
        "createdAt": now,
        "updatedAt": now,
    });
    if let Some(p) = property {
        sub["propertyName"] = json!(p);
    }
    st.subscriptions.push(sub.clone());
    Ok(json_response(201, &sub))
}

fn sub_index(st: &State, req: &HttpRequest) -> Result<usize, ApiError> {
    let id = path_param(req, "subscriptionId");
    st.subscriptions
        .iter()
        .position(|s| s["id"] == id.as_str())
        .ok_or_else(|| ApiError::not_found(format!("Subscription {id} not found")))
}

/// `{active}` — the only mutable field.
pub(super) async fn patch_subscription(
    req: HttpRequest,
    body: Bytes,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    guard(&sh, &req)?;
    let b = parse_object(&body)?;
    let active = b
        .get("active")
        .and_then(Value::as_bool)
        .ok_or_else(|| ApiError::validation("active is required and must be a boolean"))?;
    let mut st = sh.state.lock();
    let i = sub_index(&st, &req)?;
    let sub = &mut st.subscriptions[i];
    sub["active"] = json!(active);
    sub["updatedAt"] = json!(now_iso());
    Ok(json_response(200, sub))
}

pub(super) async fn delete_subscription(
    req: HttpRequest,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    guard(&sh, &req)?;
    let mut st = sh.state.lock();
    let i = sub_index(&st, &req)?;
    st.subscriptions.remove(i);
    Ok(HttpResponse::NoContent().finish())
}

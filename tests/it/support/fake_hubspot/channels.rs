//! Custom channels and channel accounts (§2.1–2.5).

use actix_web::web::{Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Map, Value, json};

use super::errors::ApiError;
use super::guard::{Auth, check, check_scoped, scopes};
use super::identifiers::{self, IDENTIFIER_TYPES};
use super::state::{AccountRec, ChannelRec, Shared};
use super::util::{
    collection, id_string, json_response, now_iso, parse_object, path_param, query, query_all,
};

const RICH_TEXT: &[&str] = &[
    "BLOCKQUOTE",
    "BOLD",
    "FONT_SIZE",
    "FONT_STYLE",
    "HYPERLINK",
    "ITALIC",
    "LISTS",
    "TEXT_ALIGNMENT",
    "TEXT_HIGHLIGHT_COLOR",
    "TEXT_COLOR",
    "UNDERLINE",
];
const ATTACHMENT_TYPES: &[&str] = &["FILE", "QUICK_REPLIES"];
const THREADING_MODELS: &[&str] = &["INTEGRATION_THREAD_ID", "DELIVERY_IDENTIFIER"];

fn strings_in(v: &Value, allowed: Option<&[&str]>) -> bool {
    v.as_array().is_some_and(|items| {
        items.iter().all(|i| {
            i.as_str()
                .is_some_and(|s| allowed.is_none_or(|a| a.contains(&s)))
        })
    })
}

/// Whether one capability value is acceptable; unknown keys are tolerated.
fn capability_ok(key: &str, v: &Value) -> bool {
    match key {
        "deliveryIdentifierTypes" => strings_in(v, Some(IDENTIFIER_TYPES)),
        "richText" => strings_in(v, Some(RICH_TEXT)),
        "outgoingAttachmentTypes" => strings_in(v, Some(ATTACHMENT_TYPES)),
        "allowedFileAttachmentMimeTypes" => {
            strings_in(v, None)
                && v.as_array()
                    .unwrap()
                    .iter()
                    .all(|m| m.as_str().unwrap().contains('/'))
        }
        "threadingModel" => v.as_str().is_some_and(|s| THREADING_MODELS.contains(&s)),
        k if k.starts_with("allow") => v.is_boolean(),
        k if k.starts_with("max") => v.as_u64().is_some(),
        _ => true,
    }
}

/// 400 with `CustomChannelsError.INVALID_CHANNEL_CAPABILITY_VALUES` (§2.2).
fn validate_capabilities(caps: &Value) -> Result<(), ApiError> {
    let Some(map) = caps.as_object() else {
        return Err(ApiError::validation("capabilities must be an object"));
    };
    let bad: Vec<String> = map
        .iter()
        .filter(|(k, v)| !capability_ok(k, v))
        .map(|(k, v)| format!("\"{k}\": \"{v}\""))
        .collect();
    if bad.is_empty() {
        return Ok(());
    }
    let listed = bad
        .iter()
        .map(|b| format!("`{b}`"))
        .collect::<Vec<_>>()
        .join(", ");
    Err(ApiError::validation(format!(
        "One or more Channel Capabilities specified had invalid values: {listed}"
    ))
    .with("context", json!({ "capabilityKeysAndValues": bad }))
    .with(
        "subCategory",
        json!("CustomChannelsError.INVALID_CHANNEL_CAPABILITY_VALUES"),
    ))
}

/// The guide's defaults, so GET shows a complete capabilities object.
fn default_capabilities() -> Map<String, Value> {
    let v = json!({
        "deliveryIdentifierTypes": [],
        "richText": [],
        "threadingModel": "INTEGRATION_THREAD_ID",
        "allowConversationStart": false,
        "allowMultipleRecipients": false,
        "allowInlineImages": false,
        "allowOutgoingMessages": false,
        "outgoingAttachmentTypes": [],
        "allowedFileAttachmentMimeTypes": ["image/png", "image/jpeg", "image/gif", "text/plain", "application/pdf"],
        "maxFileAttachmentCount": 0,
        "maxFileAttachmentSizeBytes": 0,
        "maxTotalFileAttachmentSizeBytes": 0,
    });
    v.as_object().unwrap().clone()
}

const OPTIONAL_STRINGS: &[&str] = &[
    "webhookUrl",
    "channelAccountConnectionRedirectUrl",
    "channelDescription",
    "channelLogoUrl",
];

/// Applies the optional string fields of a create/patch body (null clears).
fn apply_optional_strings(
    target: &mut Map<String, Value>,
    body: &Map<String, Value>,
) -> Result<(), ApiError> {
    for key in OPTIONAL_STRINGS {
        match body.get(*key) {
            None => {}
            Some(Value::Null) => {
                target.remove(*key);
            }
            Some(Value::String(s)) => {
                if key.ends_with("Url") && url::Url::parse(s).is_err() {
                    return Err(ApiError::validation(format!(
                        "{key} `{s}` is not a valid URL"
                    )));
                }
                target.insert(key.to_string(), json!(s));
            }
            Some(_) => return Err(ApiError::validation(format!("{key} must be a string"))),
        }
    }
    Ok(())
}

fn required_name(body: &Map<String, Value>, key: &str) -> Result<String, ApiError> {
    body.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .map(str::to_string)
        .ok_or_else(|| {
            ApiError::validation(format!("{key} is required and must be a non-blank string"))
        })
}

fn channel_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Channel {id} not found"))
}

pub(super) async fn create_channel(
    req: HttpRequest,
    body: Bytes,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    check(&sh, &req, Auth::ChannelAdmin)?;
    let b = parse_object(&body)?;
    let name = required_name(&b, "name")?;
    let caps = b
        .get("capabilities")
        .ok_or_else(|| ApiError::validation("capabilities is required"))?;
    validate_capabilities(caps)?;
    let mut capabilities = default_capabilities();
    capabilities.extend(caps.as_object().unwrap().clone());

    let mut st = sh.state.lock();
    let id = st.ids.channel();
    let mut json = Map::new();
    json.insert("id".into(), json!(id));
    json.insert("name".into(), json!(name));
    json.insert("capabilities".into(), Value::Object(capabilities));
    json.insert("createdAt".into(), json!(now_iso()));
    apply_optional_strings(&mut json, &b)?;
    let hidden = st.cfg.hide_new_channels_for_lists;
    st.channels.push(ChannelRec {
        id,
        json: json.clone(),
        archived: false,
        hidden_lists_left: hidden,
    });
    Ok(json_response(201, &Value::Object(json)))
}

pub(super) async fn list_channels(
    req: HttpRequest,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    check(&sh, &req, Auth::ChannelAdmin)?;
    let mut st = sh.state.lock();
    let mut items = Vec::new();
    for c in st.channels.iter_mut().filter(|c| !c.archived) {
        // Eventual consistency (§10.2): a new channel skips the next N lists.
        if c.hidden_lists_left > 0 {
            c.hidden_lists_left -= 1;
            continue;
        }
        items.push(Value::Object(c.json.clone()));
    }
    let link = format!("{}{}", sh.base_url, req.path());
    Ok(json_response(
        200,
        &collection(items, &query(&req), &link, true),
    ))
}

pub(super) async fn get_channel(
    req: HttpRequest,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    check(&sh, &req, Auth::ChannelAdmin)?;
    let id = path_param(&req, "channelId");
    let st = sh.state.lock();
    let c = st.channel(&id).ok_or_else(|| channel_not_found(&id))?;
    Ok(json_response(200, &Value::Object(c.json.clone())))
}

/// Partial update (§2.2): given capability keys are merged into the existing ones.
pub(super) async fn patch_channel(
    req: HttpRequest,
    body: Bytes,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    check(&sh, &req, Auth::ChannelAdmin)?;
    let id = path_param(&req, "channelId");
    let b = parse_object(&body)?;
    if let Some(caps) = b.get("capabilities") {
        validate_capabilities(caps)?;
    }
    let name = b
        .contains_key("name")
        .then(|| required_name(&b, "name"))
        .transpose()?;
    let mut st = sh.state.lock();
    let c = st.channel_mut(&id).ok_or_else(|| channel_not_found(&id))?;
    let mut json = c.json.clone();
    if let Some(name) = name {
        json.insert("name".into(), json!(name));
    }
    if let (Some(Value::Object(caps)), Some(Value::Object(existing))) =
        (b.get("capabilities"), json.get_mut("capabilities"))
    {
        existing.extend(caps.clone());
    }
    apply_optional_strings(&mut json, &b)?;
    c.json = json.clone();
    Ok(json_response(200, &Value::Object(json)))
}

pub(super) async fn delete_channel(
    req: HttpRequest,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    check(&sh, &req, Auth::ChannelAdmin)?;
    let id = path_param(&req, "channelId");
    let mut st = sh.state.lock();
    let c = st.channel_mut(&id).ok_or_else(|| channel_not_found(&id))?;
    c.archived = true;
    Ok(HttpResponse::NoContent().finish())
}

fn require_channel(sh: &Shared, id: &str) -> Result<(), ApiError> {
    match sh.state.lock().channel(id) {
        Some(_) => Ok(()),
        None => Err(channel_not_found(id)),
    }
}

pub(super) async fn create_account(
    req: HttpRequest,
    body: Bytes,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    check_scoped(&sh, &req, Auth::Bearer, scopes::CHANNELS_WRITE)?;
    let channel_id = path_param(&req, "channelId");
    require_channel(&sh, &channel_id)?;
    let b = parse_object(&body)?;
    let inbox_id =
        id_string(b.get("inboxId")).ok_or_else(|| ApiError::validation("inboxId is required"))?;
    let name = required_name(&b, "name")?;
    let authorized = b
        .get("authorized")
        .and_then(Value::as_bool)
        .ok_or_else(|| ApiError::validation("authorized is required and must be a boolean"))?;
    if b.get("deliveryIdentifier").is_some_and(|d| !d.is_null()) {
        identifiers::validate(b.get("deliveryIdentifier"), "deliveryIdentifier")?;
    }
    let mut st = sh.state.lock();
    if st.inbox(&inbox_id).is_none() {
        return Err(ApiError::validation(format!(
            "Inbox {inbox_id} does not exist"
        )));
    }
    let id = st.ids.account();
    let mut json = Map::new();
    for (k, v) in [
        ("id", json!(id)),
        ("channelId", json!(channel_id)),
        ("name", json!(name)),
        ("inboxId", json!(inbox_id)),
        ("active", json!(authorized)),
        ("authorized", json!(authorized)),
        ("archived", json!(false)),
        ("archivedAt", Value::Null),
        ("createdAt", json!(now_iso())),
    ] {
        json.insert(k.into(), v);
    }
    if let Some(d) = b.get("deliveryIdentifier").filter(|d| !d.is_null()) {
        json.insert("deliveryIdentifier".into(), d.clone());
    }
    st.accounts.push(AccountRec {
        id,
        channel_id,
        json: json.clone(),
    });
    Ok(json_response(201, &Value::Object(json)))
}

pub(super) async fn list_accounts(
    req: HttpRequest,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    check_scoped(&sh, &req, Auth::Bearer, scopes::CHANNELS_READ)?;
    let channel_id = path_param(&req, "channelId");
    require_channel(&sh, &channel_id)?;
    let q = query(&req);
    let want_archived = q.get("archived").map(String::as_str) == Some("true");
    let types = query_all(&req, "deliveryIdentifierType");
    let values = query_all(&req, "deliveryIdentifierValue");
    let st = sh.state.lock();
    let items: Vec<Value> = st
        .accounts
        .iter()
        .filter(|a| a.channel_id == channel_id && a.archived() == want_archived)
        .filter(|a| {
            let d = a.json.get("deliveryIdentifier");
            let ty = d.and_then(|d| d["type"].as_str()).unwrap_or_default();
            let val = d.and_then(|d| d["value"].as_str()).unwrap_or_default();
            (types.is_empty() || types.iter().any(|t| t == ty))
                && (values.is_empty() || values.iter().any(|v| v == val))
        })
        .map(|a| Value::Object(a.json.clone()))
        .collect();
    let link = format!("{}{}", sh.base_url, req.path());
    Ok(json_response(200, &collection(items, &q, &link, true)))
}

fn account_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Channel account {id} not found"))
}

pub(super) async fn get_account(
    req: HttpRequest,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    check_scoped(&sh, &req, Auth::Bearer, scopes::CHANNELS_READ)?;
    let (channel_id, id) = (path_param(&req, "channelId"), path_param(&req, "accountId"));
    let want_archived = query(&req).get("archived").map(String::as_str) == Some("true");
    let st = sh.state.lock();
    st.channel(&channel_id)
        .ok_or_else(|| channel_not_found(&channel_id))?;
    let a = st
        .account(&channel_id, &id)
        .filter(|a| !a.archived() || want_archived)
        .ok_or_else(|| account_not_found(&id))?;
    Ok(json_response(200, &Value::Object(a.json.clone())))
}

/// `{name?, authorized?}`; `authorized: false` disables the account.
pub(super) async fn patch_account(
    req: HttpRequest,
    body: Bytes,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    check_scoped(&sh, &req, Auth::Bearer, scopes::CHANNELS_WRITE)?;
    let (channel_id, id) = (path_param(&req, "channelId"), path_param(&req, "accountId"));
    let b = parse_object(&body)?;
    let name = b
        .contains_key("name")
        .then(|| required_name(&b, "name"))
        .transpose()?;
    let authorized = match b.get("authorized") {
        None => None,
        Some(v) => Some(
            v.as_bool()
                .ok_or_else(|| ApiError::validation("authorized must be a boolean"))?,
        ),
    };
    let mut st = sh.state.lock();
    st.channel(&channel_id)
        .ok_or_else(|| channel_not_found(&channel_id))?;
    let a = st
        .accounts
        .iter_mut()
        .find(|a| a.id == id && a.channel_id == channel_id && !a.archived())
        .ok_or_else(|| account_not_found(&id))?;
    if let Some(n) = name {
        a.json.insert("name".into(), json!(n));
    }
    if let Some(auth) = authorized {
        a.json.insert("authorized".into(), json!(auth));
        a.json.insert("active".into(), json!(auth));
    }
    Ok(json_response(200, &Value::Object(a.json.clone())))
}

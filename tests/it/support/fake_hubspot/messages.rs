//! Publishing messages into a custom channel, and reading/updating them (§2.6, §2.8).

use actix_web::web::{Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::errors::ApiError;
use super::guard::{Auth, check_scoped, scopes};
use super::identifiers;
use super::state::{MessageRec, Shared, State, ThreadRec, message_id};
use super::util::{id_string, iso, json_response, now_iso, parse_object, path_param};
use super::{ClosedThreadMode, DuplicateMode, FakeHubSpot};

/// The parts of a publish body the fake acts on, validated.
struct Egg {
    account_id: String,
    direction: String,
    text: String,
    rich_text: Option<String>,
    senders: Vec<Value>,
    recipients: Vec<Value>,
    attachments: Vec<Value>,
    created_at: String,
    thread_key: Option<String>,
    idempotency_key: Option<String>,
    in_reply_to: Option<String>,
    contact_id: Option<String>,
    /// First sender's `(type, value)`: the thread key when none is given.
    first_identity: (String, String),
}

fn opt_str(b: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match b.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::validation(format!("{key} must be a string"))),
    }
}

/// Participants (`senders`/`recipients`): validated identifiers, optional name,
/// and (if the channel says so) a type the channel declared.
fn participants(
    list: &[Value],
    field: &str,
    allowed: Option<&[Value]>,
) -> Result<Vec<(String, String)>, ApiError> {
    let mut out = Vec::new();
    for (i, p) in list.iter().enumerate() {
        let path = format!("{field}[{i}].deliveryIdentifier");
        let (ty, value) = identifiers::validate(p.get("deliveryIdentifier"), &path)?;
        if let Some(allowed) = allowed.filter(|a| !a.iter().any(|t| t == ty.as_str())) {
            return Err(ApiError::validation(format!(
                "{path}.type {ty} is not one of the channel's deliveryIdentifierTypes {}",
                Value::Array(allowed.to_vec())
            )));
        }
        if p.get("name")
            .is_some_and(|n| !n.is_string() && !n.is_null())
        {
            return Err(ApiError::validation(format!(
                "{field}[{i}].name must be a string"
            )));
        }
        out.push((ty, value));
    }
    Ok(out)
}

fn parse_timestamp(v: Option<&Value>) -> Result<Option<String>, ApiError> {
    let parsed = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|d| d.with_timezone(&Utc)),
        Some(Value::Number(n)) => n.as_i64().and_then(DateTime::<Utc>::from_timestamp_millis),
        _ => None,
    };
    parsed
        .map(|d| Some(iso(d)))
        .ok_or_else(|| ApiError::validation("timestamp must be an ISO-8601 date-time"))
}

fn check_attachments(v: Option<&Value>) -> Result<Vec<Value>, ApiError> {
    let list = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err(ApiError::validation("attachments must be an array")),
    };
    for (i, a) in list.iter().enumerate() {
        match a.get("type").and_then(Value::as_str) {
            Some("FILE") if id_string(a.get("fileId")).is_none() => {
                return Err(ApiError::validation(format!(
                    "attachments[{i}].fileId is required for FILE"
                )));
            }
            Some(_) => {}
            None => {
                return Err(ApiError::validation(format!(
                    "attachments[{i}].type is required"
                )));
            }
        }
    }
    Ok(list)
}

/// Validates a publish body against the channel; lenient on `recipients`,
/// `timestamp` and `attachments` being absent and on unknown fields (§10.10).
fn validate_egg(st: &State, channel_id: &str, b: &Map<String, Value>) -> Result<Egg, ApiError> {
    let channel = st
        .channel(channel_id)
        .ok_or_else(|| ApiError::not_found(format!("Channel {channel_id} not found")))?;
    let account_id = id_string(b.get("channelAccountId"))
        .ok_or_else(|| ApiError::validation("channelAccountId is required"))?;
    let account = st
        .account(channel_id, &account_id)
        .filter(|a| !a.archived())
        .ok_or_else(|| {
            ApiError::validation(format!(
                "Channel account {account_id} does not exist on channel {channel_id}"
            ))
        })?;
    if account.json.get("authorized") != Some(&json!(true)) {
        return Err(ApiError::validation(format!(
            "Channel account {account_id} is not authorized"
        )));
    }
    let direction = match b.get("messageDirection").and_then(Value::as_str) {
        Some(d @ ("INCOMING" | "OUTGOING")) => d.to_string(),
        _ => {
            return Err(ApiError::validation(
                "messageDirection must be INCOMING or OUTGOING",
            ));
        }
    };
    let text = b
        .get("text")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::validation("text is required"))?
        .to_string();
    let declared = channel.json["capabilities"]["deliveryIdentifierTypes"].as_array();
    let allowed = declared
        .filter(|_| st.cfg.enforce_channel_identifier_types)
        .map(Vec::as_slice);
    let senders = match b.get("senders") {
        Some(Value::Array(s)) if !s.is_empty() => s.clone(),
        _ => {
            return Err(ApiError::validation(
                "senders is required and must be a non-empty array",
            ));
        }
    };
    let identities = participants(&senders, "senders", allowed)?;
    let recipients = match b.get("recipients") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(r)) => r.clone(),
        Some(_) => return Err(ApiError::validation("recipients must be an array")),
    };
    participants(&recipients, "recipients", allowed)?;
    let contact_id = match id_string(b.get("associateWithContactId")) {
        Some(id) => Some(id),
        None => id_string(
            b.get("preResolvedContacts")
                .and_then(|p| p["contacts"].get(0))
                .and_then(|c| c.get("contactVid")),
        ),
    };
    if let Some(id) = contact_id.as_ref().filter(|id| st.contact(id).is_none()) {
        return Err(ApiError::validation(format!("Contact {id} does not exist")));
    }
    Ok(Egg {
        account_id,
        direction,
        text,
        rich_text: opt_str(b, "richText")?,
        senders,
        recipients,
        attachments: check_attachments(b.get("attachments"))?,
        created_at: parse_timestamp(b.get("timestamp"))?.unwrap_or_else(now_iso),
        thread_key: opt_str(b, "integrationThreadId")?,
        idempotency_key: opt_str(b, "integrationIdempotencyId")?,
        in_reply_to: opt_str(b, "inReplyToId")?,
        contact_id,
        first_identity: identities[0].clone(),
    })
}

/// Finds the live thread for (account, integrationThreadId), re-opening a
/// CLOSED one or starting fresh per `ClosedThreadMode`; creates one if none.
fn thread_for(st: &mut State, channel_id: &str, egg: &Egg) -> String {
    let (ty, value) = &egg.first_identity;
    // Without an integrationThreadId, thread by sender (delivery-identifier threading).
    let itid = egg
        .thread_key
        .clone()
        .unwrap_or_else(|| format!("{ty}:{value}"));
    let key = (egg.account_id.clone(), itid.clone());
    let mode = st.cfg.closed_thread_publish;
    let existing = st.thread_keys.get(&key).cloned().filter(|id| {
        st.thread(id).is_some_and(|t| {
            let superseded = t.status == "CLOSED" && mode == ClosedThreadMode::NewThread;
            !t.archived && !superseded
        })
    });
    if let Some(id) = existing {
        let t = st.thread_mut(&id).unwrap();
        if t.status == "CLOSED" {
            t.status = "OPEN".into();
            t.closed_at = None;
        }
        if t.contact_id.is_none() {
            t.contact_id = egg.contact_id.clone();
        }
        return id;
    }
    let inbox_id = st.account(channel_id, &egg.account_id).unwrap().json["inboxId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let id = st.ids.thread();
    let visitor_id = st.ids.visitor();
    st.threads.push(ThreadRec {
        id: id.clone(),
        channel_id: channel_id.to_string(),
        channel_account_id: egg.account_id.clone(),
        inbox_id,
        integration_thread_id: itid,
        status: "OPEN".into(),
        created_at: now_iso(),
        closed_at: None,
        contact_id: egg.contact_id.clone(),
        visitor_id,
        assigned_to: None,
        archived: false,
        latest_message_at: None,
        latest_received_at: None,
        latest_sent_at: None,
        message_ids: Vec::new(),
        published: Vec::new(),
        created: std::time::Instant::now(),
        ticket_id: None,
        ticket_polls: 0,
    });
    st.thread_keys.insert(key, id.clone());
    id
}

pub(super) fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The `PublicConversationsMessage` HubSpot answers (§2.6).
fn public_message(id: &str, channel_id: &str, thread: &ThreadRec, egg: &Egg) -> Value {
    let app_id: u64 = FakeHubSpot::APP_ID.parse().unwrap();
    let visitor = format!("V-{}", thread.associated_contact_id());
    let integration = format!("I-{app_id}");
    let incoming = egg.direction == "INCOMING";
    let (sender_actor, recipient_actor) = if incoming {
        (&visitor, &integration)
    } else {
        (&integration, &visitor)
    };
    let with_actor = |list: &[Value], actor: &str| -> Vec<Value> {
        list.iter()
            .map(|p| {
                let mut p = p.clone();
                p["actorId"] = json!(actor);
                p
            })
            .collect()
    };
    json!({
        "id": id,
        "type": "MESSAGE",
        "conversationsThreadId": thread.id,
        "channelId": channel_id,
        "channelAccountId": egg.account_id,
        "createdAt": egg.created_at,
        "updatedAt": egg.created_at,
        "createdBy": sender_actor,
        "client": { "clientType": "INTEGRATION", "integrationAppId": app_id },
        "senders": with_actor(&egg.senders, sender_actor),
        "recipients": with_actor(&egg.recipients, recipient_actor),
        "text": egg.text,
        "richText": egg.rich_text.clone().unwrap_or_else(|| format!("<div>{}</div>", escape_html(&egg.text))),
        "attachments": egg.attachments,
        "direction": egg.direction,
        "inReplyToId": egg.in_reply_to,
        "subject": null,
        "truncationStatus": "NOT_TRUNCATED",
        "status": { "statusType": if incoming { "RECEIVED" } else { "SENT" } },
        "archived": false,
    })
}

/// `POST …/{channelId}/messages` → 201 (or the duplicate answer).
pub(super) async fn publish(
    req: HttpRequest,
    body: Bytes,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    check_scoped(&sh, &req, Auth::Bearer, scopes::CHANNELS_WRITE)?;
    let channel_id = path_param(&req, "channelId");
    let mut st = sh.state.lock();
    st.publish_attempts += 1;
    if let Some(reason) = st.faults.reject_publishes.clone() {
        return Err(ApiError::validation(reason));
    }
    let b = parse_object(&body)?;
    let egg = validate_egg(&st, &channel_id, &b)?;

    // Idempotency is per channel account (§2.6); what HubSpot answers is unknown.
    let idem_key = egg
        .idempotency_key
        .clone()
        .map(|k| (egg.account_id.clone(), k));
    if let Some(original) = idem_key.as_ref().and_then(|k| st.idempotency.get(k)) {
        let original = &st.messages[original].json;
        return match st.cfg.duplicate_publish {
            DuplicateMode::ReturnOriginal => Ok(json_response(200, original)),
            DuplicateMode::Conflict409 => Err(ApiError::conflict(format!(
                "A message with integrationIdempotencyId {} already exists: {}",
                egg.idempotency_key.as_deref().unwrap_or_default(),
                original["id"].as_str().unwrap_or_default()
            ))
            .with("context", json!({ "messageId": [original["id"]] }))),
        };
    }

    let thread_id = thread_for(&mut st, &channel_id, &egg);
    let id = message_id();
    let msg = public_message(&id, &channel_id, st.thread(&thread_id).unwrap(), &egg);
    let mut merged = b.clone();
    merged.extend(msg.as_object().unwrap().clone());
    let t = st.thread_mut(&thread_id).unwrap();
    t.latest_message_at = Some(egg.created_at.clone());
    if egg.direction == "INCOMING" {
        t.latest_received_at = Some(egg.created_at.clone());
    } else {
        t.latest_sent_at = Some(egg.created_at.clone());
    }
    t.message_ids.push(id.clone());
    t.published.push(Value::Object(merged));
    if let Some(k) = idem_key {
        st.idempotency.insert(k, id.clone());
    }
    st.messages.insert(
        id,
        MessageRec {
            channel_id,
            thread_id,
            json: msg.clone(),
        },
    );
    Ok(json_response(201, &msg))
}

fn find_message<'a>(
    st: &'a mut State,
    channel_id: &str,
    id: &str,
) -> Result<&'a mut MessageRec, ApiError> {
    st.messages
        .get_mut(id)
        .filter(|m| m.channel_id == channel_id)
        .ok_or_else(|| ApiError::not_found(format!("Message {id} not found")))
}

pub(super) async fn get_message(
    req: HttpRequest,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    check_scoped(&sh, &req, Auth::Bearer, scopes::CHANNELS_READ)?;
    let mut st = sh.state.lock();
    let m = find_message(
        &mut st,
        &path_param(&req, "channelId"),
        &path_param(&req, "messageId"),
    )?;
    Ok(json_response(200, &m.json))
}

/// `{statusType: SENT|FAILED|READ, errorMessage?}` (§2.8).
pub(super) async fn patch_message(
    req: HttpRequest,
    body: Bytes,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    check_scoped(&sh, &req, Auth::Bearer, scopes::CHANNELS_WRITE)?;
    let b = parse_object(&body)?;
    let status = match b.get("statusType").and_then(Value::as_str) {
        Some(s @ ("SENT" | "FAILED" | "READ")) => s.to_string(),
        _ => {
            return Err(ApiError::validation(
                "statusType must be one of SENT, FAILED, READ",
            ));
        }
    };
    let error_message = opt_str(&b, "errorMessage")?;
    let message_id = path_param(&req, "messageId");
    let mut st = sh.state.lock();
    let m = find_message(&mut st, &path_param(&req, "channelId"), &message_id)?;
    let mut new_status = json!({ "statusType": status });
    if let Some(msg) = &error_message {
        new_status["failureDetails"] = json!({ "errorMessage": msg, "errorMessageTokens": {} });
    }
    m.json["status"] = new_status;
    m.json["updatedAt"] = json!(now_iso());
    let answer = json_response(200, &m.json);
    st.message_statuses
        .insert(message_id, (status, error_message));
    Ok(answer)
}

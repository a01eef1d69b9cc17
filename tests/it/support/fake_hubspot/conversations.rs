//! Conversations API v3 (§6): inboxes, threads, thread messages, actors,
//! and the portal-wide channel / channel-account views.

use actix_web::web::{Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Value, json};

use super::FakeHubSpot;
use super::errors::ApiError;
use super::guard::{Auth, check_scoped, scopes};
use super::sender;
use super::state::{Shared, State, ThreadRec};
use super::tickets;
use super::util::{collection, json_response, now_iso, parse_object, path_param, query};

/// The two inboxes of the doc example (§6.1): one INBOX, one HELP_DESK.
pub(super) fn seed_inboxes() -> Vec<Value> {
    vec![
        json!({ "id": FakeHubSpot::INBOX_ID, "name": "Main website chatflow inbox",
                "createdAt": "2019-07-06T21:18:14.342Z", "updatedAt": "2022-08-19T20:03:44.993Z",
                "type": "INBOX", "archived": false }),
        json!({ "id": FakeHubSpot::HELP_DESK_ID, "name": "T1 support helpdesk",
                "createdAt": "2023-05-31T21:53:12.704Z", "updatedAt": "2023-05-31T21:53:12.704Z",
                "type": "HELP_DESK", "archived": false }),
    ]
}

/// Seeded agents that assignment / reply events will refer to.
pub(super) fn seed_actors() -> Vec<Value> {
    vec![
        json!({ "id": "A-2620022", "type": "AGENT", "name": "Sam Agent", "email": "sam@example.com",
                "avatar": "https://example.com/avatars/sam.png" }),
        json!({ "id": "A-7", "type": "AGENT", "name": "Alex Helper", "email": "alex@example.com" }),
    ]
}

pub(super) fn thread_json(t: &ThreadRec) -> Value {
    let mut v = json!({
        "id": t.id,
        "createdAt": t.created_at,
        "status": t.status,
        "originalChannelId": t.channel_id,
        "originalChannelAccountId": t.channel_account_id,
        "inboxId": t.inbox_id,
        "associatedContactId": t.associated_contact_id(),
        "spam": false,
        "archived": t.archived,
    });
    let optional = [
        ("closedAt", &t.closed_at),
        ("assignedTo", &t.assigned_to),
        ("latestMessageTimestamp", &t.latest_message_at),
        ("latestMessageReceivedTimestamp", &t.latest_received_at),
        ("latestMessageSentTimestamp", &t.latest_sent_at),
    ];
    for (k, val) in optional {
        if let Some(val) = val {
            v[k] = json!(val);
        }
    }
    v
}

fn link(sh: &Shared, req: &HttpRequest) -> String {
    format!("{}{}", sh.base_url, req.path())
}

pub(super) async fn list_inboxes(
    req: HttpRequest,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    check_scoped(&sh, &req, Auth::Bearer, scopes::CONVERSATIONS_READ)?;
    let items = sh.state.lock().inboxes.clone();
    Ok(json_response(
        200,
        &collection(items, &query(&req), &link(&sh, &req), true),
    ))
}

pub(super) async fn get_inbox(
    req: HttpRequest,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    check_scoped(&sh, &req, Auth::Bearer, scopes::CONVERSATIONS_READ)?;
    let id = path_param(&req, "inboxId");
    let st = sh.state.lock();
    let inbox = st
        .inbox(&id)
        .ok_or_else(|| ApiError::not_found(format!("Inbox {id} not found")))?;
    Ok(json_response(200, inbox))
}

/// Filters per §6.2; `associatedContactId` needs `threadStatus` as in HubSpot.
pub(super) async fn list_threads(
    req: HttpRequest,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    check_scoped(&sh, &req, Auth::Bearer, scopes::CONVERSATIONS_READ)?;
    let q = query(&req);
    let get = |k: &str| q.get(k).map(String::as_str);
    if get("associatedContactId").is_some() && get("threadStatus").is_none() {
        return Err(ApiError::validation(
            "threadStatus is required when filtering by associatedContactId",
        ));
    }
    let archived = get("archived") == Some("true");
    let wants_ticket = tickets::wants_ticket(&req);
    let mut st = sh.state.lock();
    tickets::settle(&mut st);
    let items: Vec<Value> = st
        .threads
        .iter()
        .filter(|t| t.archived == archived)
        .filter(|t| get("inboxId").is_none_or(|i| t.inbox_id == i))
        .filter(|t| get("threadStatus").is_none_or(|s| t.status == s))
        .filter(|t| get("associatedContactId").is_none_or(|c| t.associated_contact_id() == c))
        .filter(|t| get("associatedTicketId").is_none_or(|c| t.ticket_id.as_deref() == Some(c)))
        .map(|t| thread_json_with(t, wants_ticket))
        .collect();
    Ok(json_response(
        200,
        &collection(items, &q, &link(&sh, &req), false),
    ))
}

fn find_thread<'a>(st: &'a State, req: &HttpRequest) -> Result<&'a ThreadRec, ApiError> {
    let id = path_param(req, "threadId");
    let with_archived = query(req).get("archived").map(String::as_str) == Some("true");
    st.thread(&id)
        .filter(|t| !t.archived || with_archived)
        .ok_or_else(|| ApiError::not_found(format!("Thread {id} not found")))
}

pub(super) async fn get_thread(
    req: HttpRequest,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    check_scoped(&sh, &req, Auth::Bearer, scopes::CONVERSATIONS_READ)?;
    let wants_ticket = tickets::wants_ticket(&req);
    let mut st = sh.state.lock();
    let id = find_thread(&st, &req)?.id.clone();
    tickets::settle(&mut st);
    let t = st.thread_mut(&id).unwrap();
    let v = thread_json_with(t, wants_ticket);
    // A poll for the ticket: `TicketTiming::AfterPolls` counts these.
    if wants_ticket {
        t.ticket_polls += 1;
    }
    Ok(json_response(200, &v))
}

/// The thread, plus `threadAssociations` when asked for and a ticket exists (§6.2).
fn thread_json_with(t: &ThreadRec, ticket: bool) -> Value {
    let mut v = thread_json(t);
    if let Some(id) = t.ticket_id.as_ref().filter(|_| ticket) {
        v["threadAssociations"] = json!({ "associatedTicketId": id });
    }
    v
}

/// `{status: OPEN|CLOSED}`, or `{archived: false}` with `?archived=true` to restore.
pub(super) async fn patch_thread(
    req: HttpRequest,
    body: Bytes,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    check_scoped(&sh, &req, Auth::Bearer, scopes::CONVERSATIONS_WRITE)?;
    let b = parse_object(&body)?;
    let status = match b.get("status") {
        None => None,
        Some(Value::String(s)) if s == "OPEN" || s == "CLOSED" => Some(s.clone()),
        Some(_) => return Err(ApiError::validation("status must be OPEN or CLOSED")),
    };
    let restore = b.get("archived") == Some(&json!(false));
    if status.is_none() && !restore {
        return Err(ApiError::validation(
            "You can only update the thread's status or restore a thread",
        ));
    }
    let mut st = sh.state.lock();
    let echo = st.webhook.close_echo;
    let id = find_thread(&st, &req)?.id.clone();
    let t = st.thread_mut(&id).unwrap();
    if restore {
        t.archived = false;
    }
    let mut closed = false;
    if let Some(s) = status {
        if t.archived {
            return Err(ApiError::validation(
                "A thread's status cannot be changed while it is archived",
            ));
        }
        if s != t.status {
            t.closed_at = (s == "CLOSED").then(now_iso);
            closed = s == "CLOSED";
            t.status = s;
        }
    }
    let answer = json_response(200, &thread_json(t));
    drop(st);
    // HubSpot reports the app's own close back to it (§10.6).
    if closed && echo {
        sender::spawn_close_echo(sh.into_inner(), id);
    }
    Ok(answer)
}

pub(super) async fn delete_thread(
    req: HttpRequest,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    check_scoped(&sh, &req, Auth::Bearer, scopes::CONVERSATIONS_WRITE)?;
    let mut st = sh.state.lock();
    let id = find_thread(&st, &req)?.id.clone();
    st.thread_mut(&id).unwrap().archived = true;
    Ok(HttpResponse::NoContent().finish())
}

pub(super) async fn thread_messages(
    req: HttpRequest,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    check_scoped(&sh, &req, Auth::Bearer, scopes::CONVERSATIONS_READ)?;
    let st = sh.state.lock();
    let t = find_thread(&st, &req)?;
    let items = t
        .message_ids
        .iter()
        .map(|m| st.messages[m].json.clone())
        .collect();
    Ok(json_response(
        200,
        &collection(items, &query(&req), &link(&sh, &req), false),
    ))
}

pub(super) async fn thread_message(
    req: HttpRequest,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    check_scoped(&sh, &req, Auth::Bearer, scopes::CONVERSATIONS_READ)?;
    let st = sh.state.lock();
    let t = find_thread(&st, &req)?;
    let mid = path_param(&req, "messageId");
    let m = st
        .messages
        .get(&mid)
        .filter(|m| m.thread_id == t.id)
        .ok_or_else(|| ApiError::not_found(format!("Message {mid} not found")))?;
    Ok(json_response(200, &m.json))
}

/// Resolves an actor id: seeded agents, visitors/contacts, the app, the system.
fn actor(st: &State, id: &str) -> Option<Value> {
    if let Some(a) = st.actors.iter().find(|a| a["id"] == id) {
        return Some(a.clone());
    }
    if id == format!("I-{}", FakeHubSpot::APP_ID) {
        return Some(json!({ "id": id, "type": "INTEGRATOR", "name": "Fake handoff app" }));
    }
    if id == "S-hubspot" {
        return Some(json!({ "id": id, "type": "SYSTEM" }));
    }
    let visitor = id.strip_prefix("V-")?;
    if let Some(c) = st.contact(visitor) {
        let p = &c.properties;
        let name = [&p["firstname"], &p["lastname"]]
            .iter()
            .filter_map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        return Some(json!({ "id": id, "type": "VISITOR", "name": name, "email": p["email"] }));
    }
    // A visitor that is not a contact: describe it from what was published.
    let t = st.threads.iter().find(|t| t.visitor_id == visitor)?;
    let sender = t
        .published
        .first()
        .and_then(|m| m["senders"].get(0))
        .cloned()
        .unwrap_or_default();
    let email = (sender["deliveryIdentifier"]["type"] == "HS_EMAIL_ADDRESS")
        .then(|| sender["deliveryIdentifier"]["value"].clone());
    Some(json!({ "id": id, "type": "VISITOR", "name": sender["name"], "email": email }))
}

pub(super) async fn get_actor(
    req: HttpRequest,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    check_scoped(&sh, &req, Auth::Bearer, scopes::CONVERSATIONS_READ)?;
    let id = path_param(&req, "actorId");
    let found = actor(&sh.state.lock(), &id);
    let a = found.ok_or_else(|| ApiError::not_found(format!("Actor {id} not found")))?;
    Ok(json_response(200, &a))
}

/// `{inputs:[ids]}` → 200, or 207 with `errors[]` when some are unknown.
pub(super) async fn batch_actors(
    req: HttpRequest,
    body: Bytes,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    check_scoped(&sh, &req, Auth::Bearer, scopes::CONVERSATIONS_READ)?;
    let b = parse_object(&body)?;
    let inputs = b
        .get("inputs")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::validation("inputs is required"))?;
    let started = now_iso();
    let st = sh.state.lock();
    let (mut results, mut errors) = (Vec::new(), Vec::new());
    for input in inputs {
        // Accept bare strings and `{id}` objects.
        let id = input
            .as_str()
            .or_else(|| input["id"].as_str())
            .unwrap_or_default();
        match actor(&st, id) {
            Some(a) => results.push(a),
            None => errors.push(json!({ "status": "error", "category": "OBJECT_NOT_FOUND",
                "message": format!("Actor {id} not found"), "context": { "ids": [id] } })),
        }
    }
    let mut out = json!({ "status": "COMPLETE", "results": results, "startedAt": started, "completedAt": now_iso() });
    let status = if errors.is_empty() { 200 } else { 207 };
    if !errors.is_empty() {
        out["numErrors"] = json!(errors.len());
        out["errors"] = json!(errors);
    }
    Ok(json_response(status, &out))
}

/// `GET /conversations/v3/conversations/channels` (§6.5): built-ins plus custom channels.
pub(super) async fn list_generic_channels(
    req: HttpRequest,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    check_scoped(&sh, &req, Auth::Bearer, scopes::CONVERSATIONS_READ)?;
    let st = sh.state.lock();
    let mut items = vec![
        json!({ "id": "1000", "name": "Live chat" }),
        json!({ "id": "1002", "name": "Email" }),
    ];
    items.extend(
        st.channels
            .iter()
            .filter(|c| !c.archived)
            .map(|c| json!({ "id": c.id, "name": c.json["name"] })),
    );
    Ok(json_response(
        200,
        &collection(items, &query(&req), &link(&sh, &req), true),
    ))
}

/// Portal-wide read view of channel accounts (§2.5, CONV-spec).
pub(super) async fn list_portal_accounts(
    req: HttpRequest,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    check_scoped(&sh, &req, Auth::Bearer, scopes::CONVERSATIONS_READ)?;
    let q = query(&req);
    let get = |k: &str| q.get(k).map(String::as_str);
    let st = sh.state.lock();
    let items = st
        .accounts
        .iter()
        .filter(|a| !a.archived())
        .filter(|a| get("channelId").is_none_or(|c| a.channel_id == c))
        .filter(|a| get("inboxId").is_none_or(|i| a.json["inboxId"] == i))
        .map(|a| Value::Object(a.json.clone()))
        .collect();
    Ok(json_response(
        200,
        &collection(items, &q, &link(&sh, &req), true),
    ))
}

pub(super) async fn get_portal_account(
    req: HttpRequest,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    check_scoped(&sh, &req, Auth::Bearer, scopes::CONVERSATIONS_READ)?;
    let id = path_param(&req, "accountId");
    let st = sh.state.lock();
    let a = st
        .accounts
        .iter()
        .find(|a| a.id == id)
        .ok_or_else(|| ApiError::not_found(format!("Channel account {id} not found")))?;
    Ok(json_response(200, &Value::Object(a.json.clone())))
}

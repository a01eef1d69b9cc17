//! `/api/v1`: the bot's API. Handlers verify, persist (one transaction), flush, answer;
//! nothing here calls HubSpot.

use super::validate::{self, UserBody};
use crate::error::ApiError;
use crate::events::EventLog;
use crate::outbox::Outbox;
use crate::relay::HubSpotJob;
use crate::relay::availability::AgentAvailability;
use crate::relay::repo::BotApiRepo;
use crate::relay::{Content, HistoryLine, Speaker};
use crate::settings::Settings;
use crate::store::{
    ClosedBy, MessageOutcome, NewSession, Session, SessionOutcome, SessionStatus, StopOutcome, User,
};
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use chrono::{SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use std::future::{Ready, ready};
use std::sync::Arc;

/// The API's routes, from one table: it registers them and lists them as [`ROUTES`], which
/// a test compares with the OpenAPI document, so neither can drift from the other.
macro_rules! api_routes {
    ($(($method:ident, $path:literal, $handler:path)),* $(,)?) => {
        /// Every `(METHOD, path)` of `/api/v1`, with `{id}` path parameters.
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
            cfg.service(
                web::scope("/api/v1")
                    $(.route($path, web::method(actix_web::http::Method::$method).to($handler)))*
                    // Registered after every method's route: a known path with another
                    // method is a 405 that says which methods it has.
                    $(.route($path, web::to(method_not_allowed)))*,
            );
        }
    };
}

api_routes![
    // The busiest route first: the router tries routes in order, and each dynamic path
    // costs a regex match.
    (POST, "/sessions/{id}/messages", send_message),
    (POST, "/users", create_user),
    (POST, "/sessions", create_session),
    (GET, "/sessions/{id}", get_session),
    (POST, "/sessions/{id}/stop", stop_session),
    (GET, "/events", list_events),
    (GET, "/availability", availability),
    (PUT, "/webhook", super::webhook::register),
    (GET, "/webhook", super::webhook::show),
    (DELETE, "/webhook", super::webhook::remove),
    (GET, "/openapi.json", openapi),
];

/// `405` with `Allow`: the path exists, the method does not.
async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    let pattern = req.match_pattern().unwrap_or_default();
    let path = pattern.strip_prefix("/api/v1").unwrap_or(&pattern);
    let allow: Vec<&str> = ROUTES
        .iter()
        .filter(|(_, p)| *p == path)
        .map(|(m, _)| *m)
        .collect();
    let allow = allow.join(", ");
    let mut response = actix_web::ResponseError::error_response(&ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        format!("{} is not allowed here; use {allow}", req.method()),
    ));
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&allow) {
        response
            .headers_mut()
            .insert(actix_web::http::header::ALLOW, value);
    }
    response
}

/// The OpenAPI 3.1 description of this API (needs no key).
async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(include_str!("openapi.json"))
}

/// A JSON body that must be an object, as the document says: serde would also read a
/// struct from an array (`["Jane", "jane@example.com"]`), which no schema describes. It asks
/// the deserializer for a map, so the body is still parsed once, straight into `T`.
pub(crate) struct JsonObject<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for JsonObject<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Object<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Object<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(Object(std::marker::PhantomData))
            .map(JsonObject)
    }
}

/// What the bot API's handlers use: sessions are stored, user messages queued for HubSpot,
/// events read from the log. Nothing here calls HubSpot.
pub(crate) struct BotApi {
    pub(crate) store: Arc<dyn BotApiRepo>,
    pub(crate) settings: Arc<Settings>,
    pub(crate) hubspot_outbox: Arc<Outbox<HubSpotJob>>,
    pub(crate) events: Arc<EventLog>,
    /// Whether agents are there; answered by the HubSpot adapter.
    pub(crate) availability: Arc<dyn AgentAvailability>,
}

/// Proof that the request carried the bot's API key.
pub(crate) struct BotAuth;

impl FromRequest for BotAuth {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req
            .app_data::<web::Data<BotApi>>()
            .expect("the bot API state is registered");
        let Some(given) = crate::secret::bearer_token(req) else {
            return ready(Err(ApiError::unauthorized(
                "missing `Authorization: Bearer <api key>`",
            )));
        };
        ready(match state.settings.check_bot_key(given) {
            None => Err(ApiError::unauthorized(
                "no bot API key is configured yet; finish the setup wizard or set bot.api_key",
            )),
            Some(true) => Ok(BotAuth),
            Some(false) => Err(ApiError::unauthorized("wrong API key")),
        })
    }
}

fn rfc3339(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn user_json(user: &User) -> Value {
    let mut v = json!({"userId": user.id, "name": user.name});
    if let Some(e) = &user.email {
        v["email"] = json!(e);
    }
    if let Some(p) = &user.phone {
        v["phone"] = json!(p);
    }
    if let Some(x) = &user.external_id {
        v["externalId"] = json!(x);
    }
    v
}

pub(crate) fn session_json(s: &Session) -> Value {
    let mut v = json!({
        "sessionId": s.id,
        "status": s.status,
        "userId": s.user_id,
        "createdAt": rfc3339(s.created_at),
    });
    let optional = [
        (
            "hubspotThreadId",
            s.hubspot_thread_id.as_ref().map(|t| json!(t)),
        ),
        ("agent", s.agent.as_ref().map(|a| json!(a))),
        ("closedAt", s.closed_at.map(|t| json!(rfc3339(t)))),
        ("closedBy", s.closed_by.map(|b| json!(b))),
        ("externalId", s.external_id.as_ref().map(|e| json!(e))),
        ("inboxId", s.inbox_id.as_ref().map(|i| json!(i))),
        ("priority", s.priority.map(|p| json!(p))),
        ("ticketId", s.ticket_id.as_ref().map(|t| json!(t))),
        (
            "error",
            s.failure
                .as_ref()
                .map(|f| json!({"code": f.code, "message": f.message})),
        ),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            v[key] = value;
        }
    }
    v
}

async fn create_user(
    _: BotAuth,
    state: web::Data<BotApi>,
    body: web::Json<JsonObject<UserBody>>,
) -> Result<HttpResponse, ApiError> {
    let input = validate::user(body.into_inner().0)?;
    let (user, created) = state.store.upsert_user(&input, Utc::now())?;
    state.store.flush().await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(user_json(&user)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionBody {
    user_id: Option<String>,
    user: Option<UserBody>,
    title: Option<String>,
    description: Option<String>,
    #[serde(default)]
    message_history: Vec<HistoryItem>,
    external_id: Option<String>,
    inbox_id: Option<Value>,
    priority: Option<Value>,
}

#[derive(Deserialize)]
struct HistoryItem {
    source: HistorySource,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    payload: Value,
    /// When it was said: RFC 3339 or Unix seconds / milliseconds.
    #[serde(default, alias = "createdAt")]
    timestamp: Option<Value>,
}

#[derive(Deserialize)]
struct HistorySource {
    #[serde(rename = "type")]
    kind: String,
}

const MAX_HISTORY: usize = 500;

fn history(items: Vec<HistoryItem>) -> Result<Vec<HistoryLine>, ApiError> {
    if items.len() > MAX_HISTORY {
        return Err(ApiError::invalid(
            "history-too-long",
            format!("messageHistory holds at most {MAX_HISTORY} items"),
        ));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let speaker = match item.source.kind.as_str() {
                "user" => Speaker::User,
                "bot" => Speaker::Bot,
                other => {
                    return Err(ApiError::invalid(
                        "invalid-history",
                        format!(
                            "messageHistory[{i}].source.type `{other}` must be `user` or `bot`"
                        ),
                    ));
                }
            };
            let content = Content::parse(&item.kind, item.payload).map_err(|e| ApiError {
                message: format!("messageHistory[{i}]: {}", e.message),
                ..e
            })?;
            let at = match &item.timestamp {
                None | Some(Value::Null) => None,
                Some(t) => Some(crate::relay::content::parse_timestamp(t).ok_or_else(|| {
                    ApiError::invalid(
                        "invalid-timestamp",
                        format!("messageHistory[{i}].timestamp must be RFC 3339 or Unix time"),
                    )
                })?),
            };
            Ok(HistoryLine {
                speaker,
                content,
                at,
            })
        })
        .collect()
}

enum UserRef {
    Id(String),
    New(crate::store::UserInput),
}

/// A session request, checked as far as it can be without the store.
struct CheckedSession {
    /// Everything but the user id, which needs the store.
    session: NewSession,
    user: UserRef,
    inbox: Option<String>,
}

fn check_session(
    body: SessionBody,
    idempotency_key: Option<String>,
) -> Result<CheckedSession, ApiError> {
    let inbox = match body.inbox_id {
        None => None,
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => return Err(ApiError::bad_request("inboxId must be a string")),
    };
    let priority = match body.priority {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) => Some(crate::relay::Priority::parse(&p).ok_or_else(|| {
            ApiError::invalid(
                "invalid-priority",
                format!("priority `{p}` is not one of low, medium, high, urgent"),
            )
        })?),
        Some(_) => return Err(ApiError::bad_request("priority must be a string")),
    };
    let session = NewSession {
        user_id: String::new(),
        idempotency_key: validate::client_id("Idempotency-Key", idempotency_key)?,
        external_id: validate::client_id("externalId", body.external_id)?,
        title: validate::optional_text("title", body.title, 500)?,
        description: validate::optional_text("description", body.description, 10_000)?,
        history: history(body.message_history)?,
        inbox_id: inbox.clone(),
        priority,
    };
    // A `user` is checked even when `userId` wins, so nothing invalid is ever accepted.
    let user = body.user.map(validate::user).transpose()?;
    let user = match (body.user_id, user) {
        (Some(id), _) => UserRef::Id(id),
        (None, Some(user)) => UserRef::New(user),
        (None, None) => {
            return Err(ApiError::invalid(
                "user-required",
                "give `userId` or `user`",
            ));
        }
    };
    Ok(CheckedSession {
        session,
        user,
        inbox,
    })
}

/// Parses a bot API body the way its handler does, up to where the store is needed: the
/// entry point of the `bot_request` fuzz target and its corpus replay test. `Err` is the
/// 4xx the handler would answer.
#[doc(hidden)]
pub(crate) fn parse_request(route: &str, body: &[u8]) -> Result<(), ApiError> {
    fn object<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
        serde_json::from_slice::<JsonObject<T>>(body)
            .map(|o| o.0)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
    }
    match route {
        "users" => validate::user(object(body)?).map(|_| ()),
        "sessions" => check_session(object(body)?, None).map(|_| ()),
        _ => check_message(object(body)?).map(|_| ()),
    }
}

fn check_message(body: MessageBody) -> Result<(Option<String>, Content), ApiError> {
    let message_id = validate::client_id("messageId", body.message_id)?;
    Ok((message_id, Content::parse(&body.kind, body.payload)?))
}

async fn create_session(
    _: BotAuth,
    req: HttpRequest,
    state: web::Data<BotApi>,
    body: web::Json<JsonObject<SessionBody>>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner().0;
    let idempotency_key = req
        .headers()
        .get("idempotency-key")
        .map(|v| v.to_str().map(str::to_string))
        .transpose()
        .map_err(|_| ApiError::bad_request("Idempotency-Key must be text"))?;
    let checked = check_session(body, idempotency_key)?;
    // The session remembers its inbox; one that names none gets the default now, so a
    // later change of the default does not move it.
    let connected = state.settings.inbox_ids();
    let inbox = match checked.inbox {
        Some(inbox) => {
            validate::connected_inbox(&inbox, &connected)?;
            Some(inbox)
        }
        None => connected.first().cloned(),
    };
    let user_id = match checked.user {
        UserRef::Id(id) => {
            if state.store.user(&id)?.is_none() {
                return Err(ApiError::invalid("unknown-user", format!("no user `{id}`")));
            }
            id
        }
        UserRef::New(input) => state.store.upsert_user(&input, Utc::now())?.0.id,
    };
    let new = NewSession {
        user_id,
        inbox_id: inbox,
        ..checked.session
    };
    let now = Utc::now();
    let session = match state.store.create_session(&new, now)? {
        SessionOutcome::Created(s) => {
            state
                .hubspot_outbox
                .lane_changed(&s.id, now.timestamp_millis());
            tracing::info!(session = s.id, "session opened");
            s
        }
        SessionOutcome::Existing(s) => s,
    };
    state.store.flush().await?;
    Ok(HttpResponse::Accepted().json(json!({"sessionId": session.id, "status": session.status})))
}

async fn get_session(
    _: BotAuth,
    state: web::Data<BotApi>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let session = state
        .store
        .session(&id)?
        .ok_or_else(|| ApiError::not_found("session"))?;
    Ok(HttpResponse::Ok().json(session_json(&session)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageBody {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    payload: Value,
    message_id: Option<String>,
}

async fn send_message(
    _: BotAuth,
    state: web::Data<BotApi>,
    id: web::Path<String>,
    body: web::Json<JsonObject<MessageBody>>,
) -> Result<HttpResponse, ApiError> {
    let (message_id, content) = check_message(body.into_inner().0)?;
    let now = Utc::now();
    let outcome = state
        .store
        .add_message(&id, message_id.as_deref(), &content, now)?;
    let message_id = match outcome {
        MessageOutcome::Queued(m) => {
            state
                .hubspot_outbox
                .lane_changed(&id, now.timestamp_millis());
            m
        }
        MessageOutcome::Duplicate(m) => m,
        MessageOutcome::NotFound => return Err(ApiError::not_found("session")),
        MessageOutcome::Final(status) => {
            return Err(ApiError::conflict(
                "session-closed",
                match status {
                    SessionStatus::Failed => "the session failed; start a new one",
                    _ => "the session is closed; start a new one",
                },
            ));
        }
    };
    state.store.flush().await?;
    Ok(HttpResponse::Accepted().json(json!({"messageId": message_id})))
}

#[derive(Deserialize, Default)]
struct StopBody {
    reason: Option<String>,
}

async fn stop_session(
    _: BotAuth,
    state: web::Data<BotApi>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    // The body is optional here: `POST …/stop` with nothing is a plain stop.
    let body: StopBody = if body.iter().all(u8::is_ascii_whitespace) {
        StopBody::default()
    } else {
        serde_json::from_slice::<JsonObject<StopBody>>(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?
            .0
    };
    let reason = validate::optional_text("reason", body.reason, 1000)?;
    let now = Utc::now();
    let (session, closed) = match state.store.stop_session(&id, reason.as_deref(), now)? {
        StopOutcome::Stopped(s, closed) => {
            state
                .hubspot_outbox
                .lane_changed(&id, now.timestamp_millis());
            tracing::info!(session = s.id, "session stopped by the bot");
            (s, Some(closed))
        }
        // A stop retried after a failure below: the event is asked for again (appending is
        // idempotent by key), so it exists exactly once.
        StopOutcome::AlreadyFinal(s) if s.closed_by == Some(ClosedBy::Bot) => {
            let closed = crate::relay::session::bot_closed(&s);
            (s, Some(closed))
        }
        StopOutcome::AlreadyFinal(s) => (s, None),
        StopOutcome::NotFound => return Err(ApiError::not_found("session")),
    };
    if let Some(closed) = closed {
        // The one `session.closed` the bot gets (HubSpot's echo of the close is ignored).
        state.events.append(&session, closed, None)?;
    }
    state.store.flush().await?;
    Ok(HttpResponse::Accepted().json(json!({"sessionId": session.id, "status": session.status})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AvailabilityQuery {
    inbox_id: Option<String>,
}

/// `GET /api/v1/availability?inboxId=`: whether an agent is there to answer now, so the bot
/// can choose between escalating and collecting an email. Never an error for what HubSpot
/// cannot tell: then `available` is `null` with the reason.
async fn availability(
    _: BotAuth,
    state: web::Data<BotApi>,
    query: web::Query<AvailabilityQuery>,
) -> Result<HttpResponse, ApiError> {
    if let Some(inbox) = query.inbox_id.as_deref() {
        validate::connected_inbox(inbox, &state.settings.inbox_ids())?;
    }
    Ok(HttpResponse::Ok().json(state.availability.check().await))
}

#[derive(Deserialize)]
struct EventsQuery {
    after: Option<String>,
    limit: Option<usize>,
    wait: Option<u64>,
}

const MAX_EVENTS: usize = 1000;
const MAX_WAIT_SECS: u64 = 60;

/// `GET /api/v1/events?after=&limit=&wait=`: the event stream for all sessions, by cursor,
/// long-polling up to `wait` seconds when nothing is new.
async fn list_events(
    _: BotAuth,
    state: web::Data<BotApi>,
    query: web::Query<EventsQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    // A cursor is what `next` gave out: decimal, at most 19 digits (so it fits a u64).
    let after = match q.after.as_deref().filter(|a| !a.is_empty()) {
        None => 0,
        Some(cursor) if cursor.len() <= 19 && cursor.bytes().all(|b| b.is_ascii_digit()) => {
            cursor.parse::<u64>().expect("19 digits fit")
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                "`after` is not a cursor this server gave out (the `next` of an answer)",
            ));
        }
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_EVENTS).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "`limit` must be 1 to {MAX_EVENTS}"
        )));
    }
    let wait = q.wait.unwrap_or(0);
    if wait > MAX_WAIT_SECS {
        return Err(ApiError::bad_request(format!(
            "`wait` must be 0 to {MAX_WAIT_SECS} seconds"
        )));
    }
    let wait = std::time::Duration::from_secs(wait);
    let events = state.events.read(after, limit, wait).await?;
    let next = events.last().map(|e| e.seq).unwrap_or(after);
    let list: Vec<_> = events.into_iter().map(|e| e.event).collect();
    Ok(HttpResponse::Ok().json(json!({"events": list, "next": next.to_string()})))
}

//! `POST /webhooks/hubspot`: verify first (raw body, size limit, signature, timestamp),
//! then store each event of ours once, flush, and answer. Turning events into bot events
//! happens in the inbound worker, not here, so HubSpot gets its answer in milliseconds.

use super::inbound::{dedupe_key, parse_app_event, parse_channel_event};
use super::provision::ProvisionState;
use super::signature::{self, Refused};
use crate::error::ApiError;
use crate::error::extractors::BODY_LIMIT;
use crate::outbox::Outbox;
use crate::relay::InboundJob;
use crate::relay::repo::IngressRepo;
use crate::relay::session_of_integration_thread;
use crate::relay::{EventKey, HubSpotEvent};
use crate::settings::Settings;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// What the webhook uses: verify with the settings' app secret, store, queue for the
/// inbound worker, and see whether an account event is about our account.
pub(crate) struct Ingress {
    pub(crate) settings: Arc<Settings>,
    pub(crate) store: Arc<dyn IngressRepo>,
    pub(crate) inbound_outbox: Arc<Outbox<InboundJob>>,
    pub(crate) provision: Arc<ProvisionState>,
}

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/webhooks/hubspot", web::post().to(receive));
}

/// Reads the body up to the limit, refusing more with 413 before buffering it all.
async fn read_body(mut payload: web::Payload) -> Result<web::BytesMut, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::bad_request(format!("cannot read the body: {e}")))?;
        if body.len() + chunk.len() > BODY_LIMIT {
            return Err(ApiError::too_large(BODY_LIMIT));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

fn refused(reason: Refused) -> ApiError {
    ApiError::unauthorized(format!("HubSpot signature refused: {reason}"))
}

/// Which signature a request carried.
#[derive(Debug, PartialEq)]
enum Signed {
    V3,
    /// v1 signs only the body, so it says nothing about when it was sent.
    V1,
}

/// Custom-channel events (objects) need v3; app webhooks (arrays) are checked with v3 when
/// it is present, else v1.
fn verify(
    req: &HttpRequest,
    state: &Ingress,
    body: &[u8],
    is_array: bool,
) -> Result<Signed, ApiError> {
    let secret = state
        .settings
        .app_credentials()
        .ok_or_else(|| {
            ApiError::unauthorized("HubSpot app credentials are not configured; cannot verify")
        })?
        .client_secret;
    // The URL HubSpot called, as the public URL says, not as a proxy may have rewritten it.
    let mut url = format!("{}{}", state.settings.public_base(), req.path());
    if !req.query_string().is_empty() {
        url.push('?');
        url.push_str(req.query_string());
    }
    if let Some(v3) = header(req, "x-hubspot-signature-v3") {
        let ts = header(req, "x-hubspot-request-timestamp");
        return signature::verify_v3(
            secret.expose(),
            "POST",
            &url,
            body,
            ts,
            v3,
            Utc::now().timestamp_millis(),
        )
        .map(|()| Signed::V3)
        .map_err(refused);
    }
    match header(req, "x-hubspot-signature") {
        Some(v1)
            if is_array
                && header(req, "x-hubspot-signature-version")
                    .is_none_or(|v| v.eq_ignore_ascii_case("v1")) =>
        {
            if crate::secret::constant_time_eq(&signature::v1(secret.expose(), body), v1.trim()) {
                Ok(Signed::V1)
            } else {
                Err(refused(Refused::Mismatch))
            }
        }
        _ => Err(refused(Refused::Missing)),
    }
}

/// A v1-only body is accepted only when every event happened within the 5 minutes v3
/// allows: otherwise a captured body could be replayed once its replay marker is gone.
fn check_v1_fresh(
    events: &[(&'static str, Value, HubSpotEvent)],
    now_ms: i64,
) -> Result<(), ApiError> {
    let fresh = |event: &Value| {
        event
            .get("occurredAt")
            .and_then(Value::as_i64)
            .is_some_and(|at| now_ms.abs_diff(at) <= signature::MAX_SKEW_MS.unsigned_abs())
    };
    if events.iter().all(|(_, raw, _)| fresh(raw)) {
        Ok(())
    } else {
        Err(refused(Refused::Stale))
    }
}

/// A verified body's events: an array is app webhooks, an object one custom-channel event.
/// Also the entry point of the `webhook_body` fuzz target.
pub(crate) fn parse_body(
    body: &[u8],
) -> Result<Vec<(&'static str, Value, HubSpotEvent)>, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?;
    Ok(match value {
        Value::Array(items) => items
            .into_iter()
            .map(|v| {
                let parsed = parse_app_event(&v);
                ("app", v, parsed)
            })
            .collect(),
        Value::Object(_) => {
            let parsed = parse_channel_event(&value);
            vec![("channel", value, parsed)]
        }
        _ => return Err(ApiError::bad_request("expected a JSON object or array")),
    })
}

async fn receive(
    req: HttpRequest,
    state: web::Data<Ingress>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(payload).await?;
    let is_array = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    let signed = verify(&req, &state, &body, is_array)?;
    let events = parse_body(&body)?;
    let now = Utc::now();
    if signed == Signed::V1 {
        check_v1_fresh(&events, now.timestamp_millis())?;
    }
    let accepted = state.accept(events, now.timestamp_millis())?;
    // Group commit: concurrent webhooks (and bot requests) share one fsync, and no lock is
    // held while waiting for it.
    state.store.flush().await?;
    Ok(HttpResponse::Ok().json(json!({"accepted": accepted})))
}

impl Ingress {
    /// Queues a verified body's events for their sessions and returns how many were new. One
    /// pass over the events: each thread is looked up once, and the events are grouped by
    /// session (in their order), so each session is checked and locked once.
    fn accept(
        &self,
        events: Vec<(&'static str, Value, HubSpotEvent)>,
        now_ms: i64,
    ) -> Result<usize, ApiError> {
        let mut threads: HashMap<String, Option<String>> = HashMap::new();
        let mut batches: Vec<(String, Vec<(EventKey, HubSpotEvent)>)> = Vec::new();
        let mut batch_of: HashMap<String, usize> = HashMap::new();
        for (_, raw, parsed) in events {
            let session = match &parsed {
                HubSpotEvent::Ignored(why) => {
                    tracing::debug!(why, "HubSpot event ignored");
                    continue;
                }
                HubSpotEvent::Account { kind, account_id } => {
                    self.account_event(kind, account_id)?;
                    continue;
                }
                HubSpotEvent::AgentMessage(m) => match m
                    .integration_thread_ids
                    .iter()
                    .find_map(|t| session_of_integration_thread(t))
                {
                    Some(s) => Some(s),
                    None => match &m.thread_id {
                        Some(t) => self.session_of_thread(&mut threads, t)?,
                        None => None,
                    },
                },
                HubSpotEvent::Assigned { thread_id, .. }
                | HubSpotEvent::Status { thread_id, .. } => {
                    self.session_of_thread(&mut threads, thread_id)?
                }
            };
            // Threads that are not handoff's are acknowledged and ignored; a store that
            // cannot say answers 503, so HubSpot retries rather than the event being dropped.
            let Some(session) = session else { continue };
            let key = dedupe_key(&raw, &parsed);
            let at = *batch_of.entry(session).or_insert_with_key(|session| {
                batches.push((session.clone(), Vec::new()));
                batches.len() - 1
            });
            batches[at].1.push((key, parsed));
        }
        let mut accepted = 0;
        for (session, batch) in batches {
            if !self.store.has_session(&session)? {
                continue;
            }
            let new = self.store.accept_inbound_events(&session, batch, now_ms)?;
            if new > 0 {
                accepted += new;
                self.inbound_outbox.lane_changed(&session, now_ms);
            }
        }
        Ok(accepted)
    }

    /// The session of a HubSpot thread, looked up once per body.
    fn session_of_thread(
        &self,
        threads: &mut HashMap<String, Option<String>>,
        thread_id: &str,
    ) -> Result<Option<String>, ApiError> {
        if let Some(known) = threads.get(thread_id) {
            return Ok(known.clone());
        }
        let session = self.store.session_of_hubspot_thread(thread_id)?;
        threads.insert(thread_id.to_string(), session.clone());
        Ok(session)
    }

    /// Channel-account events for our account: a purge makes handoff unready until the account
    /// is connected again (handoff does not recreate what an admin deleted); an update makes
    /// provisioning check the account again.
    fn account_event(&self, kind: &str, account_id: &str) -> Result<(), ApiError> {
        let ours = self
            .provision
            .ready()
            .is_some_and(|p| p.is_ours(account_id));
        if !ours {
            return Ok(());
        }
        tracing::warn!(
            kind,
            account = account_id,
            "HubSpot changed our channel account"
        );
        match kind {
            "CHANNEL_ACCOUNT_PURGED" => self.store.set_account_purged(account_id, true)?,
            "CHANNEL_ACCOUNT_CREATED" => self.store.set_account_purged(account_id, false)?,
            // Archived or disabled? Provisioning looks again and says so in /readyz.
            _ => self.provision.recheck.notify_one(),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory_store::{MemoryStore, Relay};
    use crate::relay::{SessionStatus, integration_thread_id};
    use std::sync::atomic::Ordering;

    fn ingress() -> (Relay, Ingress) {
        let relay = Relay::new(crate::config::Config::default(), MemoryStore::default());
        let ingress = Ingress {
            settings: relay.settings.clone(),
            store: relay.store.clone(),
            inbound_outbox: Arc::new(Outbox::recover(relay.store.clone()).unwrap()),
            provision: Arc::default(),
        };
        (relay, ingress)
    }

    fn app_event(thread: &str, property: &str, value: &str, at: i64) -> Value {
        json!({"subscriptionType": "conversation.propertyChange", "objectId": thread,
            "propertyName": property, "propertyValue": value, "occurredAt": at})
    }

    /// What the inbound queue holds, lane by lane: (session, event).
    fn queued(relay: &Relay) -> Vec<(String, HubSpotEvent)> {
        relay
            .store
            .items::<InboundJob>()
            .into_iter()
            .map(|i| match i.job {
                InboundJob::HubSpotEvent { event, .. } => (i.lane, event),
                other => panic!("queued as parsed, not {other:?}"),
            })
            .collect()
    }

    #[test]
    fn an_array_body_is_grouped_by_session_each_thread_looked_up_once_each_event_queued_once() {
        let (relay, ingress) = ingress();
        let mut a = relay.session(SessionStatus::Open);
        a.hubspot_thread_id = Some("111".into());
        relay.store.put_session(a.clone());
        let mut b = relay.session(SessionStatus::Open);
        b.hubspot_thread_id = Some("222".into());
        relay.store.put_session(b.clone());
        let body = json!([
            app_event("111", "assignedTo", "A-1", 1),
            app_event("222", "assignedTo", "A-2", 2),
            app_event("999", "status", "CLOSED", 3),
            app_event("111", "assignedTo", "A-1", 1),
            app_event("111", "status", "CLOSED", 4),
        ]);
        let events = parse_body(body.to_string().as_bytes()).unwrap();
        assert_eq!(
            ingress.accept(events, 10).unwrap(),
            3,
            "the repeat is dropped"
        );
        assert_eq!(
            relay.store.thread_lookups.load(Ordering::Relaxed),
            3,
            "threads 111, 222 and 999, once each"
        );
        let assigned = |thread: &str, actor: &str| HubSpotEvent::Assigned {
            thread_id: thread.into(),
            actor: Some(actor.into()),
        };
        let mut expected = vec![
            (a.id.clone(), assigned("111", "A-1")),
            (
                a.id.clone(),
                HubSpotEvent::Status {
                    thread_id: "111".into(),
                    status: "CLOSED".into(),
                },
            ),
            (b.id.clone(), assigned("222", "A-2")),
        ];
        // Lanes come in key order; within each, the body's order.
        expected.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(queued(&relay), expected);

        let again = parse_body(body.to_string().as_bytes()).unwrap();
        assert_eq!(
            ingress.accept(again, 20).unwrap(),
            0,
            "a replay adds nothing"
        );
        assert_eq!(queued(&relay).len(), 3);
    }

    #[test]
    fn agent_messages_find_their_session_by_integration_thread_and_unknown_ones_are_dropped() {
        let (relay, ingress) = ingress();
        let s = relay.session(SessionStatus::Assigned);
        let message = |thread: &str, id: &str| {
            json!({"type": "OUTGOING_CHANNEL_MESSAGE_CREATED", "channelIntegrationThreadIds": [thread],
                "message": {"id": id, "text": "hi", "senders": [{"actorId": "A-1"}]}})
        };
        let ours = parse_body(
            message(&integration_thread_id(&s.id), "m1")
                .to_string()
                .as_bytes(),
        );
        assert_eq!(ingress.accept(ours.unwrap(), 10).unwrap(), 1);
        let gone = parse_body(
            message(
                &integration_thread_id("ses_01J000000000000000000000ZZ"),
                "m2",
            )
            .to_string()
            .as_bytes(),
        );
        assert_eq!(
            ingress.accept(gone.unwrap(), 10).unwrap(),
            0,
            "no such session"
        );
        assert_eq!(
            relay.store.thread_lookups.load(Ordering::Relaxed),
            0,
            "the integration thread id names the session"
        );
        let queued = queued(&relay);
        assert_eq!(queued.len(), 1);
        assert_eq!(queued[0].0, s.id);
        assert!(matches!(&queued[0].1, HubSpotEvent::AgentMessage(m) if m.message_id == "m1"));
    }
}

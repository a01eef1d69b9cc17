//! HubSpot's webhook events, parsed leniently (ids as strings or numbers, `status` as a
//! string or `{statusType}`, thread ids at the top or inside `message`, `assignedTo` as
//! `A-123` or `123`), and turned into events for the bot.

use super::client::HubSpot;
use crate::events::EventLog;
use crate::hubspot::files::{FileLinks, rewrite_inline_images};
use crate::outbox::OutboxItem;
use crate::outbox::worker::{Deliver, Outcome};
use crate::relay::repo::SessionRepo;
use crate::relay::{
    Agent, AgentMessage, EventKey, EventKind, Happened, HubSpotEvent, HubSpotMessageRef,
    InboundJob, StoreError, Transition,
};
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A string or a number, as text.
pub(crate) fn id_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn text_of(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_string)
}

/// `A-123` or `123` → `A-123`; empty → unassigned.
pub(crate) fn normalize_actor(value: &str) -> Option<String> {
    let v = value.trim();
    if v.is_empty() {
        None
    } else if v.bytes().all(|b| b.is_ascii_digit()) {
        Some(format!("A-{v}"))
    } else {
        Some(v.to_string())
    }
}

/// A custom-channel event (a single JSON object).
pub(crate) fn parse_channel_event(v: &Value) -> HubSpotEvent {
    let kind = text_of(v.get("type")).unwrap_or_default();
    match kind.as_str() {
        "OUTGOING_CHANNEL_MESSAGE_CREATED" => {
            let Some(message) = v.get("message").filter(|m| m.is_object()) else {
                return HubSpotEvent::Ignored("an outgoing message event without a message".into());
            };
            let Some(message_id) = id_of(message.get("id")) else {
                return HubSpotEvent::Ignored("an outgoing message without an id".into());
            };
            let thread_ids = v
                .get("channelIntegrationThreadIds")
                .or_else(|| message.get("channelIntegrationThreadIds"));
            let integration_thread_ids = match thread_ids {
                Some(Value::Array(ids)) => ids.iter().filter_map(|i| id_of(Some(i))).collect(),
                Some(other) => id_of(Some(other)).into_iter().collect(),
                None => vec![],
            };
            let sender = message.get("senders").and_then(|s| s.get(0));
            let actor_id = id_of(sender.and_then(|s| s.get("actorId")))
                .or_else(|| id_of(message.get("createdBy")));
            let files = message
                .get("attachments")
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .filter(|a| {
                            a.get("type").and_then(Value::as_str).unwrap_or("FILE") == "FILE"
                        })
                        .map(|a| crate::relay::FileRef {
                            file_id: id_of(a.get("fileId")),
                            url: text_of(a.get("url")),
                            name: text_of(a.get("name")),
                        })
                        .collect()
                })
                .unwrap_or_default();
            HubSpotEvent::AgentMessage(AgentMessage {
                message_id,
                channel_id: id_of(message.get("channelId"))
                    .or_else(|| id_of(v.get("channelId")))
                    .unwrap_or_default(),
                thread_id: id_of(message.get("conversationsThreadId")),
                integration_thread_ids,
                actor_id,
                agent_name: text_of(sender.and_then(|s| s.get("name"))),
                text: text_of(message.get("text")).unwrap_or_default(),
                rich_text: text_of(message.get("richText")),
                files,
            })
        }
        "CHANNEL_ACCOUNT_CREATED" | "CHANNEL_ACCOUNT_UPDATED" | "CHANNEL_ACCOUNT_PURGED" => {
            match id_of(v.get("channelAccountId")) {
                Some(account_id) => HubSpotEvent::Account { kind, account_id },
                None => HubSpotEvent::Ignored(format!("{kind} without a channelAccountId")),
            }
        }
        other => HubSpotEvent::Ignored(format!("unknown custom-channel event `{other}`")),
    }
}

/// One event of an app-webhook array.
pub(crate) fn parse_app_event(v: &Value) -> HubSpotEvent {
    let kind = text_of(v.get("subscriptionType"))
        .or_else(|| text_of(v.get("eventType")))
        .unwrap_or_default();
    let Some(thread_id) = id_of(v.get("objectId")) else {
        return HubSpotEvent::Ignored(format!("`{kind}` without an objectId"));
    };
    if kind != "conversation.propertyChange" {
        return HubSpotEvent::Ignored(format!("`{kind}` is not handled"));
    }
    let value = match v.get("propertyValue") {
        Some(Value::Object(o)) => id_of(o.get("statusType")).unwrap_or_default(),
        other => id_of(other).unwrap_or_default(),
    };
    match text_of(v.get("propertyName")).as_deref() {
        Some("assignedTo") => HubSpotEvent::Assigned {
            thread_id,
            actor: normalize_actor(&value),
        },
        Some("status") => HubSpotEvent::Status {
            thread_id,
            status: value.to_uppercase(),
        },
        other => HubSpotEvent::Ignored(format!(
            "property `{}` is not handled",
            other.unwrap_or("-")
        )),
    }
}

/// The identity of an event across HubSpot's retries and duplicates.
pub(crate) fn dedupe_key(raw: &Value, parsed: &HubSpotEvent) -> EventKey {
    match parsed {
        HubSpotEvent::AgentMessage(m) => EventKey::agent_message(&m.message_id),
        _ => {
            // App events: `eventId` is not guaranteed unique, so use the documented composite.
            let f = |k: &str| id_of(raw.get(k)).unwrap_or_default();
            let value = id_of(raw.get("propertyValue")).unwrap_or_else(|| {
                raw.get("propertyValue")
                    .map(|v| v.to_string())
                    .unwrap_or_default()
            });
            EventKey::property_change(&[
                &f("subscriptionType"),
                &f("objectId"),
                &f("propertyName"),
                &value,
                &f("messageId"),
                &f("occurredAt"),
                &f("type"),
            ])
        }
    }
}

/// A queued inbound job's key and event: as parsed at the webhook, or, for items written
/// before schema 3, parsed now from the raw event they kept.
pub(crate) fn queued_event(job: &InboundJob) -> (&EventKey, HubSpotEvent) {
    match job {
        InboundJob::HubSpotEvent { key, event } => (key, event.clone()),
        InboundJob::Inbound { key, event } => {
            let raw = event.get("event").unwrap_or(&Value::Null);
            let parsed = match event.get("source").and_then(Value::as_str) {
                Some("channel") => parse_channel_event(raw),
                _ => parse_app_event(raw),
            };
            (key, parsed)
        }
    }
}

/// Turns stored HubSpot events into bot events, in order per session.
pub(crate) struct InboundProcessor {
    pub(crate) hubspot: Arc<HubSpot>,
    pub(crate) store: Arc<dyn SessionRepo>,
    pub(crate) events: Arc<EventLog>,
    links: Arc<FileLinks>,
    actors: Mutex<HashMap<String, (Agent, Instant)>>,
}

const ACTOR_TTL: Duration = Duration::from_secs(3600);

fn retry(e: StoreError) -> Outcome {
    Outcome::Retry {
        error: format!("store: {e}"),
        retry_after: None,
    }
}

impl Deliver<InboundJob> for InboundProcessor {
    async fn deliver(&self, item: &OutboxItem<InboundJob>) -> Outcome {
        let (key, parsed) = queued_event(&item.job);
        match self.process(&item.lane, key, parsed).await {
            Ok(()) => Outcome::Delivered,
            Err(e) => retry(e),
        }
    }
}

impl InboundProcessor {
    pub(crate) fn new(
        hubspot: Arc<HubSpot>,
        store: Arc<dyn SessionRepo>,
        events: Arc<EventLog>,
        links: Arc<FileLinks>,
    ) -> Self {
        InboundProcessor {
            hubspot,
            store,
            events,
            links,
            actors: Mutex::new(HashMap::new()),
        }
    }

    async fn process(
        &self,
        session_id: &str,
        key: &EventKey,
        parsed: HubSpotEvent,
    ) -> Result<(), StoreError> {
        let transition = match parsed {
            HubSpotEvent::AgentMessage(m) => {
                let Some(session) = self.store.session(session_id)? else {
                    return Ok(());
                };
                let happened = self.agent_message(&m, key.clone()).await;
                let reference = HubSpotMessageRef {
                    channel_id: m.channel_id.clone(),
                    message_id: m.message_id.clone(),
                };
                self.announce(&session)?;
                self.events.append(&session, happened, Some(reference))?;
                return Ok(());
            }
            HubSpotEvent::Assigned { actor, .. } => Transition::Assigned {
                agent: match &actor {
                    Some(id) => Some(self.agent(Some(id), None).await),
                    None => None,
                },
                key: key.clone(),
            },
            HubSpotEvent::Status { status, .. } if status == "CLOSED" || status == "ARCHIVED" => {
                Transition::ClosedByAgent {
                    at: chrono::Utc::now(),
                }
            }
            HubSpotEvent::Status { .. }
            | HubSpotEvent::Account { .. }
            | HubSpotEvent::Ignored(_) => {
                return Ok(());
            }
        };
        if let Some((session, Some(happened))) =
            self.store.apply_transition(session_id, &transition)?
        {
            self.announce(&session)?;
            self.events.append(&session, happened, None)?;
        }
        Ok(())
    }

    /// The bot hears that the session opened before it hears what an agent did, also while
    /// the session's Help Desk ticket is still looked for.
    fn announce(&self, session: &crate::relay::Session) -> Result<(), StoreError> {
        if let Some(opened) = crate::relay::session::opened_first(session) {
            self.events.append(session, opened, None)?;
        }
        Ok(())
    }

    /// An agent's message as the bot gets it: the agent, the text, the attachments as
    /// links the bot can fetch, the rich text with its inline images rewritten.
    async fn agent_message(&self, m: &AgentMessage, key: EventKey) -> Happened {
        let agent = self
            .agent(m.actor_id.as_deref(), m.agent_name.clone())
            .await;
        let attachments = self.attachments(&m.files).await;
        let mut data = json!({"agent": agent, "text": m.text, "attachments": attachments});
        if let Some(rich) = &m.rich_text {
            data["richText"] = json!(rewrite_inline_images(rich, &self.links));
        }
        Happened {
            kind: EventKind::Message,
            data,
            key,
        }
    }

    /// The agent behind an actor id: name, email and avatar from the actors API (cached),
    /// falling back to what the webhook said when HubSpot cannot be asked.
    async fn agent(&self, actor_id: Option<&str>, fallback_name: Option<String>) -> Agent {
        let Some(id) = actor_id else {
            return Agent {
                id: String::new(),
                name: fallback_name,
                email: None,
                avatar_url: None,
            };
        };
        if let Some((agent, at)) = self.actors.lock().get(id)
            && at.elapsed() < ACTOR_TTL
        {
            return agent.clone();
        }
        match self.hubspot.get_actor(id).await {
            Ok(actor) => {
                let agent = Agent {
                    id: id.to_string(),
                    name: actor.name.or(fallback_name),
                    email: actor.email,
                    avatar_url: actor.avatar,
                };
                self.actors
                    .lock()
                    .insert(id.to_string(), (agent.clone(), Instant::now()));
                agent
            }
            Err(e) => {
                tracing::warn!(actor = id, error = %e, "cannot look the agent up; using the webhook's name");
                Agent {
                    id: id.to_string(),
                    name: fallback_name,
                    email: None,
                    avatar_url: None,
                }
            }
        }
    }

    /// Attachments the bot can fetch without HubSpot credentials: a file HubSpot names by id
    /// gets a signed link served by handoff (see `bot::files`), with its name, type and size
    /// from the Files API; a bare URL is passed on as it is.
    async fn attachments(&self, files: &[crate::relay::FileRef]) -> Vec<Value> {
        let mut out = Vec::new();
        for f in files {
            let mut entry = json!({"name": f.name});
            match (&f.url, &f.file_id) {
                (_, Some(id)) => match self.hubspot.signed_file_url(id).await {
                    Ok(signed) => {
                        let name = f
                            .name
                            .clone()
                            .or_else(|| signed.file_name())
                            .unwrap_or_else(|| format!("file-{id}"));
                        entry["url"] = json!(self.links.file(id, &name));
                        entry["name"] = json!(name);
                        entry["size"] = json!(signed.size);
                        entry["mimeType"] = json!(signed.mime_type());
                    }
                    Err(e) => {
                        tracing::warn!(file = id, error = %e, "cannot get a URL for an agent's file");
                        entry["error"] = json!("the file could not be fetched from HubSpot");
                    }
                },
                (Some(url), None) if url.starts_with("http") => entry["url"] = json!(url),
                _ => entry["error"] = json!("HubSpot gave neither a URL nor a file id"),
            }
            out.push(entry);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_messages_parse_with_thread_ids_in_either_place_and_string_or_number_ids() {
        let top = json!({"type": "OUTGOING_CHANNEL_MESSAGE_CREATED", "channelIntegrationThreadIds": ["handoff-x"],
            "message": {"id": "abc", "channelId": 2930388, "conversationsThreadId": 6065362089u64,
                "senders": [{"actorId": "A-2620022", "name": "Sam"}], "text": "hi", "richText": "<p>hi</p>",
                "status": "SENT", "attachments": [{"type": "FILE", "fileId": 123, "name": "a.png"}]}});
        let HubSpotEvent::AgentMessage(m) = parse_channel_event(&top) else {
            panic!()
        };
        assert_eq!(m.integration_thread_ids, ["handoff-x"]);
        assert_eq!(m.thread_id.as_deref(), Some("6065362089"));
        assert_eq!(m.channel_id, "2930388");
        assert_eq!(m.actor_id.as_deref(), Some("A-2620022"));
        assert_eq!(m.files[0].file_id.as_deref(), Some("123"));
        let nested = json!({"type": "OUTGOING_CHANNEL_MESSAGE_CREATED",
            "message": {"id": "abd", "channelIntegrationThreadIds": ["handoff-y"], "createdBy": "A-7", "status": {"statusType": "SENT"}}});
        let HubSpotEvent::AgentMessage(m) = parse_channel_event(&nested) else {
            panic!()
        };
        assert_eq!(m.integration_thread_ids, ["handoff-y"]);
        assert_eq!(m.actor_id.as_deref(), Some("A-7"));
        assert_eq!(m.text, "");
    }

    #[test]
    fn app_events_parse_both_assignment_formats_and_statuses() {
        let ev = |prop: &str, value: Value| json!({"subscriptionType": "conversation.propertyChange", "objectId": 42, "propertyName": prop, "propertyValue": value, "occurredAt": 1});
        assert_eq!(
            parse_app_event(&ev("assignedTo", json!("A-5"))),
            HubSpotEvent::Assigned {
                thread_id: "42".into(),
                actor: Some("A-5".into())
            }
        );
        assert_eq!(
            parse_app_event(&ev("assignedTo", json!("5"))),
            HubSpotEvent::Assigned {
                thread_id: "42".into(),
                actor: Some("A-5".into())
            }
        );
        assert_eq!(
            parse_app_event(&ev("assignedTo", json!(5))),
            HubSpotEvent::Assigned {
                thread_id: "42".into(),
                actor: Some("A-5".into())
            }
        );
        assert_eq!(
            parse_app_event(&ev("assignedTo", json!(""))),
            HubSpotEvent::Assigned {
                thread_id: "42".into(),
                actor: None
            }
        );
        assert_eq!(
            parse_app_event(&ev("status", json!("CLOSED"))),
            HubSpotEvent::Status {
                thread_id: "42".into(),
                status: "CLOSED".into()
            }
        );
        assert_eq!(
            parse_app_event(&ev("status", json!({"statusType": "closed"}))),
            HubSpotEvent::Status {
                thread_id: "42".into(),
                status: "CLOSED".into()
            }
        );
        let mut other = ev("status", json!("OPEN"));
        other["eventType"] = other["subscriptionType"].take();
        assert!(matches!(
            parse_app_event(&other),
            HubSpotEvent::Status { .. }
        ));
        assert!(matches!(
            parse_app_event(&json!({"subscriptionType": "conversation.creation", "objectId": 1})),
            HubSpotEvent::Ignored(_)
        ));
        assert!(matches!(
            parse_channel_event(&json!({"type": "SOMETHING_NEW"})),
            HubSpotEvent::Ignored(_)
        ));
        assert!(matches!(
            parse_channel_event(&json!([1])),
            HubSpotEvent::Ignored(_)
        ));
    }

    use crate::memory_store::{MemoryStore, Relay};
    use crate::relay::{ClosedBy, HubSpotJob, SessionStatus};

    /// A processor over a memory store; HubSpot is not connected, so agents are looked up
    /// in vain and named as the webhook named them.
    fn processor() -> (Relay, InboundProcessor) {
        let relay = Relay::new(crate::config::Config::default(), MemoryStore::default());
        let links = Arc::new(FileLinks::new(vec![7; 32], relay.settings.clone()));
        let processor = InboundProcessor::new(
            relay.hubspot.clone(),
            relay.store.clone(),
            relay.events.clone(),
            links,
        );
        (relay, processor)
    }

    async fn deliver(p: &InboundProcessor, session: &str, key: &str, event: HubSpotEvent) {
        let job = InboundJob::HubSpotEvent {
            key: EventKey::from(key.to_string()),
            event,
        };
        let outcome = p.deliver(&OutboxItem::new(session, job, 0)).await;
        assert_eq!(outcome, Outcome::Delivered);
    }

    fn agent_message(session: &str, id: &str) -> HubSpotEvent {
        HubSpotEvent::AgentMessage(AgentMessage {
            message_id: id.into(),
            channel_id: "ch1".into(),
            thread_id: Some("9001".into()),
            integration_thread_ids: vec![crate::relay::integration_thread_id(session)],
            actor_id: Some("A-5".into()),
            agent_name: Some("Sam".into()),
            text: "How can I help?".into(),
            rich_text: None,
            files: vec![],
        })
    }

    #[tokio::test]
    async fn an_agent_message_is_one_event_and_its_redelivery_none() {
        let (relay, p) = processor();
        let session = relay.session(SessionStatus::Assigned);
        let key = EventKey::agent_message("m1");
        for _ in 0..2 {
            deliver(
                &p,
                &session.id,
                key.as_str(),
                agent_message(&session.id, "m1"),
            )
            .await;
        }
        let events = relay.store.events();
        assert_eq!(events.len(), 1, "one event for one message");
        let event = &events[0].event;
        assert_eq!(event.kind, "session.message");
        assert_eq!(event.id, key.event_id());
        assert_eq!(event.session_id, session.id);
        assert_eq!(event.external_id.as_deref(), Some("bot-conversation-1"));
        assert_eq!(event.data["text"], "How can I help?");
        assert_eq!(event.data["agent"]["id"], "A-5");
        assert_eq!(event.data["agent"]["name"], "Sam");
        // No bot webhook: the message counts as delivered to the bot, and HubSpot is told
        // so once.
        let statuses: Vec<_> = relay.store.items::<HubSpotJob>();
        assert_eq!(
            statuses.iter().map(|i| &i.job).collect::<Vec<_>>(),
            [&HubSpotJob::MessageStatus {
                channel_id: "ch1".into(),
                message_id: "m1".into(),
                status: "SENT".into(),
                error: None,
            }]
        );
        assert!(relay.store.items::<crate::relay::BotJob>().is_empty());
    }

    #[tokio::test]
    async fn an_assignment_sets_the_agent_and_tells_the_bot_once() {
        let (relay, p) = processor();
        let session = relay.session(SessionStatus::Open);
        let assigned = HubSpotEvent::Assigned {
            thread_id: "9001".into(),
            actor: Some("A-5".into()),
        };
        for _ in 0..2 {
            deliver(&p, &session.id, "app:assign-1", assigned.clone()).await;
        }
        let now = relay.store.session(&session.id).unwrap().unwrap();
        assert_eq!(now.status, SessionStatus::Assigned);
        assert_eq!(now.agent.as_ref().map(|a| a.id.as_str()), Some("A-5"));
        let events = relay.store.events();
        assert_eq!(
            relay.event_kinds(),
            [(
                "session.assigned".to_string(),
                EventKey::from("app:assign-1".to_string()).event_id()
            )]
        );
        assert_eq!(events[0].event.data["agent"]["id"], "A-5");

        // Unassigned: open again, and the bot is not told.
        let unassigned = HubSpotEvent::Assigned {
            thread_id: "9001".into(),
            actor: None,
        };
        deliver(&p, &session.id, "app:assign-2", unassigned).await;
        let now = relay.store.session(&session.id).unwrap().unwrap();
        assert_eq!(now.status, SessionStatus::Open);
        assert!(now.agent.is_none());
        assert_eq!(relay.store.events().len(), 1);
    }

    #[tokio::test]
    async fn a_close_is_one_closed_event_and_the_echo_of_a_bot_stop_none() {
        let (relay, p) = processor();
        let status = |s: &str| HubSpotEvent::Status {
            thread_id: "9001".into(),
            status: s.into(),
        };
        let session = relay.session(SessionStatus::Assigned);
        deliver(&p, &session.id, "app:close-1", status("CLOSED")).await;
        // A second close (another event, so another key) changes nothing.
        deliver(&p, &session.id, "app:close-2", status("ARCHIVED")).await;
        let now = relay.store.session(&session.id).unwrap().unwrap();
        assert_eq!(now.status, SessionStatus::Closed);
        assert_eq!(now.closed_by, Some(ClosedBy::Agent));
        let events = relay.store.events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event.kind, "session.closed");
        assert_eq!(events[0].event.data["by"], "agent");
        assert_eq!(events[0].key, EventKey::closed(&session.id));

        // The bot stopped this one (its `session.closed` came from the bot API); HubSpot's
        // echo of the close gives the bot nothing.
        let stopped = relay.session(SessionStatus::Open);
        let stop = Transition::StoppedByBot {
            reason: None,
            at: chrono::Utc::now(),
        };
        let (stopped, _) = relay
            .store
            .apply_transition(&stopped.id, &stop)
            .unwrap()
            .unwrap();
        deliver(&p, &stopped.id, "app:close-3", status("CLOSED")).await;
        assert_eq!(relay.store.session(&stopped.id).unwrap().unwrap(), stopped);
        assert_eq!(relay.store.events().len(), 1, "no event for the echo");

        // Other statuses, and events of sessions that are gone, change nothing.
        let open = relay.session(SessionStatus::Open);
        deliver(&p, &open.id, "app:open", status("OPEN")).await;
        deliver(&p, "ses_gone", "app:gone", status("CLOSED")).await;
        deliver(&p, "ses_gone", "msg:m9", agent_message("ses_gone", "m9")).await;
        assert_eq!(relay.store.session(&open.id).unwrap().unwrap(), open);
        assert_eq!(relay.store.events().len(), 1);
    }

    #[tokio::test]
    async fn a_store_failure_is_retried_and_the_retry_tells_the_bot() {
        let (relay, p) = processor();
        let session = relay.session(SessionStatus::Assigned);
        let key = EventKey::agent_message("m1");
        let job = InboundJob::HubSpotEvent {
            key: key.clone(),
            event: agent_message(&session.id, "m1"),
        };
        let item = OutboxItem::new(&session.id, job, 0);
        relay
            .store
            .fail_pushes
            .store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(matches!(p.deliver(&item).await, Outcome::Retry { .. }));
        relay
            .store
            .fail_pushes
            .store(false, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(p.deliver(&item).await, Outcome::Delivered);
        assert_eq!(p.deliver(&item).await, Outcome::Delivered);
        // The retry appended the event again under the same id and queued what the failed
        // attempt could not; the delivery after it did nothing.
        let ids: Vec<_> = relay.event_kinds().into_iter().map(|(_, id)| id).collect();
        assert_eq!(ids, [key.event_id(), key.event_id()]);
        assert_eq!(relay.store.items::<HubSpotJob>().len(), 1);
    }

    #[test]
    fn retries_share_a_key_and_different_changes_do_not() {
        let a = json!({"subscriptionType": "conversation.propertyChange", "objectId": 42, "propertyName": "assignedTo", "propertyValue": "A-5", "occurredAt": 10, "attemptNumber": 0, "eventId": 1});
        let mut retried = a.clone();
        retried["attemptNumber"] = json!(3);
        retried["eventId"] = json!(99);
        let mut other = a.clone();
        other["occurredAt"] = json!(11);
        let key = |v: &Value| dedupe_key(v, &parse_app_event(v));
        assert_eq!(key(&a), key(&retried));
        assert_ne!(key(&a), key(&other));
    }
}

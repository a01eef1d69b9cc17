//! The bot's event log: every event is appended once (by a de-duplication key), queued for
//! the bot's webhook when one is configured, and readable by long-poll.

use crate::outbox::worker::now_ms;
use crate::outbox::{Outbox, OutboxItem};
use crate::relay::repo::EventRepo;
use crate::relay::{
    BotJob, Event, Happened, HubSpotJob, HubSpotMessageRef, Session, StoreError, StoredEvent,
};
use crate::settings::Settings;
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub(crate) struct EventLog {
    repo: Arc<dyn EventRepo>,
    bot_outbox: Arc<Outbox<BotJob>>,
    /// Whether the bot has a webhook is asked per event: the wizard can set one at any time.
    settings: Arc<Settings>,
    hubspot_outbox: Arc<Outbox<HubSpotJob>>,
    latest: watch::Sender<u64>,
}

impl EventLog {
    pub(crate) fn new(
        repo: Arc<dyn EventRepo>,
        settings: Arc<Settings>,
        bot_outbox: Arc<Outbox<BotJob>>,
        hubspot_outbox: Arc<Outbox<HubSpotJob>>,
    ) -> Self {
        EventLog {
            repo,
            bot_outbox,
            settings,
            hubspot_outbox,
            latest: watch::Sender::new(0),
        }
    }

    /// Appends what happened to `session` unless an event with its key exists; returns the
    /// event when appended. The caller has the session already, so its `externalId` costs
    /// no read.
    pub(crate) fn append(
        &self,
        session: &Session,
        happened: Happened,
        hubspot_message: Option<HubSpotMessageRef>,
    ) -> Result<Option<Event>, StoreError> {
        let session_id = session.id.as_str();
        let external_id = session.external_id.clone();
        let Happened { kind, data, key } = happened;
        let kind = kind.as_str();
        let build_key = key.clone();
        let status_of = hubspot_message.clone();
        let stored = self.repo.append(
            &key,
            Box::new(move |seq| StoredEvent {
                seq,
                event: Event {
                    id: build_key.event_id(),
                    kind: kind.to_string(),
                    session_id: session_id.to_string(),
                    external_id,
                    created_at: Utc::now(),
                    data,
                },
                hubspot_message,
                key: build_key,
            }),
            // Under the repo's append lock, before the key is marked.
            Box::new(
                |stored| match (self.settings.has_bot_webhook(), status_of) {
                    (true, _) => self
                        .bot_outbox
                        .enqueue(&OutboxItem::new(
                            session_id,
                            BotJob::DeliverEvent { seq: stored.seq },
                            now_ms(),
                        ))
                        .map(|_| ()),
                    // No webhook: the event is delivered once it is readable by long-poll.
                    (false, Some(m)) => self.report_message_status(session_id, &m, "SENT", None),
                    (false, None) => Ok(()),
                },
            ),
        )?;
        let Some(stored) = stored else {
            return Ok(None);
        };
        // Appends can finish out of order; the watch only moves forward.
        self.latest.send_if_modified(|latest| {
            let newer = stored.seq > *latest;
            if newer {
                *latest = stored.seq;
            }
            newer
        });
        tracing::info!(
            session = session_id,
            event = stored.event.id,
            kind,
            "event for the bot"
        );
        Ok(Some(stored.event))
    }

    /// Queues HubSpot's delivery status of an agent message.
    pub(crate) fn report_message_status(
        &self,
        session_id: &str,
        message: &HubSpotMessageRef,
        status: &str,
        error: Option<String>,
    ) -> Result<(), StoreError> {
        let job = HubSpotJob::MessageStatus {
            channel_id: message.channel_id.clone(),
            message_id: message.message_id.clone(),
            status: status.to_string(),
            error,
        };
        self.hubspot_outbox
            .enqueue(&OutboxItem::new(session_id, job, now_ms()))
            .map(|_| ())
    }

    /// Events after `after`, waiting up to `wait` for one to arrive when there are none.
    pub(crate) async fn read(
        &self,
        after: u64,
        limit: usize,
        wait: Duration,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let mut changes = self.latest.subscribe();
        let events = self.repo.events_after(after, limit)?;
        if !events.is_empty() || wait.is_zero() {
            return Ok(events);
        }
        let _ = tokio::time::timeout(wait, changes.wait_for(|latest| *latest > after)).await;
        self.repo.events_after(after, limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory_store::{MemoryStore, Relay};
    use crate::relay::records::WizardSettings;
    use crate::relay::repo::SettingsRepo;
    use crate::relay::{EventKey, EventKind, SessionStatus};
    use std::sync::atomic::Ordering;

    fn with_webhook() -> Relay {
        let store = MemoryStore::default();
        store
            .set_wizard_settings(&WizardSettings {
                bot_webhook_url: Some("https://bot.example.com/hook".into()),
                bot_webhook_secret: Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()),
                ..Default::default()
            })
            .unwrap();
        Relay::new(crate::config::Config::default(), store)
    }

    fn message(id: &str) -> (Happened, HubSpotMessageRef) {
        let happened = Happened {
            kind: EventKind::Message,
            data: serde_json::json!({"text": "hi"}),
            key: EventKey::agent_message(id),
        };
        let reference = HubSpotMessageRef {
            channel_id: "ch1".into(),
            message_id: id.into(),
        };
        (happened, reference)
    }

    #[tokio::test]
    async fn an_event_is_appended_once_per_key_and_queued_for_the_webhook_once() {
        let relay = with_webhook();
        let session = relay.session(SessionStatus::Assigned);
        let (happened, reference) = message("m1");
        let first = relay
            .events
            .append(&session, happened.clone(), Some(reference.clone()))
            .unwrap()
            .expect("appended");
        assert_eq!(first.id, happened.key.event_id());
        assert_eq!(first.external_id.as_deref(), Some("bot-conversation-1"));
        let again = relay.events.append(&session, happened, Some(reference));
        assert!(again.unwrap().is_none(), "the same key appends once");
        let stored = relay.store.events();
        assert_eq!(stored.len(), 1);
        let jobs: Vec<_> = relay
            .store
            .items::<BotJob>()
            .into_iter()
            .map(|i| (i.lane, i.job))
            .collect();
        assert_eq!(
            jobs,
            [(
                session.id.clone(),
                BotJob::DeliverEvent { seq: stored[0].seq }
            )]
        );
        // With a webhook the bot's answer decides the message's status, not the append.
        assert!(relay.store.items::<HubSpotJob>().is_empty());
    }

    #[tokio::test]
    async fn without_a_webhook_an_agent_message_is_reported_sent() {
        let relay = Relay::new(crate::config::Config::default(), MemoryStore::default());
        let session = relay.session(SessionStatus::Assigned);
        let (happened, reference) = message("m1");
        relay
            .events
            .append(&session, happened, Some(reference))
            .unwrap()
            .unwrap();
        assert!(relay.store.items::<BotJob>().is_empty());
        let jobs: Vec<_> = relay
            .store
            .items::<HubSpotJob>()
            .into_iter()
            .map(|i| i.job)
            .collect();
        assert_eq!(
            jobs,
            [HubSpotJob::MessageStatus {
                channel_id: "ch1".into(),
                message_id: "m1".into(),
                status: "SENT".into(),
                error: None,
            }]
        );
    }

    #[tokio::test]
    async fn a_key_is_marked_only_once_the_delivery_is_queued() {
        let relay = with_webhook();
        let session = relay.session(SessionStatus::Assigned);
        let (happened, _) = message("m1");
        relay.store.fail_pushes.store(true, Ordering::Relaxed);
        assert!(
            relay
                .events
                .append(&session, happened.clone(), None)
                .is_err()
        );
        relay.store.fail_pushes.store(false, Ordering::Relaxed);
        let retried = relay.events.append(&session, happened.clone(), None);
        assert!(retried.unwrap().is_some(), "the failed append left no mark");
        assert!(
            relay
                .events
                .append(&session, happened, None)
                .unwrap()
                .is_none()
        );
        let stored = relay.store.events();
        assert_eq!(stored.len(), 2, "the retry appended it again");
        assert_eq!(stored[0].event.id, stored[1].event.id, "under the same id");
        let jobs: Vec<_> = relay.store.items::<BotJob>();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].job, BotJob::DeliverEvent { seq: stored[1].seq });
    }

    #[tokio::test]
    async fn a_long_poll_wakes_when_an_event_arrives() {
        let relay = Relay::new(crate::config::Config::default(), MemoryStore::default());
        let session = relay.session(SessionStatus::Open);
        let events = relay.events.clone();
        let started = std::time::Instant::now();
        let poll = tokio::spawn(async move { events.read(0, 10, Duration::from_secs(20)).await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (happened, _) = message("m1");
        relay.events.append(&session, happened, None).unwrap();
        let read = tokio::time::timeout(Duration::from_secs(5), poll)
            .await
            .expect("woken by the append, not by the timeout")
            .unwrap()
            .unwrap();
        assert_eq!(read.len(), 1);
        assert!(started.elapsed() < Duration::from_secs(5));
        // A cursor past the newest event reads nothing and does not wait without `wait`.
        let seq = read[0].seq;
        assert!(
            relay
                .events
                .read(seq, 10, Duration::ZERO)
                .await
                .unwrap()
                .is_empty()
        );
    }
}

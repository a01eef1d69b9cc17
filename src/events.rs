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

pub struct EventLog {
    repo: Arc<dyn EventRepo>,
    bot_outbox: Arc<Outbox<BotJob>>,
    /// Whether the bot has a webhook is asked per event: the wizard can set one at any time.
    settings: Arc<Settings>,
    hubspot_outbox: Arc<Outbox<HubSpotJob>>,
    latest: watch::Sender<u64>,
}

impl EventLog {
    pub fn new(
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
    pub fn append(
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
    pub fn report_message_status(
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
    pub async fn read(
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

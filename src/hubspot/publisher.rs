//! Delivers HubSpot outbox jobs: publishes INCOMING messages through the custom channel
//! and closes threads. Each job is one idempotent step: a publish carries an
//! `integrationIdempotencyId` derived from our message id, so a retry cannot duplicate it.

use super::client::HubSpot;
use super::compose::{self, Composed, LineMedia};
use super::error::HubSpotError;
use super::provision::{InboxAccount, ProvisionState, Provisioned};
use super::tickets::{TICKET_POLLS, TicketStep, fill_ticket, ticket_lane};
use crate::config::TicketConfig;
use crate::events::EventLog;
use crate::media::{FetchError, Kind};
use crate::outbox::Outbox;
use crate::outbox::OutboxItem;
use crate::outbox::worker::{Deliver, Outcome};
use crate::relay::records::UploadedFile;
use crate::relay::repo::{SessionRepo, SettingsRepo};
use crate::relay::{
    Content, HistoryLine, HubSpotJob, Session, SessionStatus, StoreError, Transition, User,
    integration_thread_id,
};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// Downloads that fail for a passing reason are tried this often before the agent gets the
/// link instead.
const MEDIA_ATTEMPTS: u32 = 3;

/// The channel's declared `maxFileAttachmentCount`.
const MAX_ATTACHMENTS: usize = super::provision::MAX_FILE_COUNT;

pub(crate) struct Publisher {
    pub(crate) hubspot: Arc<HubSpot>,
    /// Downloads the media of bot messages before they are uploaded to HubSpot.
    pub(crate) media: crate::media::Fetcher,
    /// Sessions, users and the upload records.
    pub(crate) store: Arc<dyn SessionRepo>,
    /// The channel account records and purge marks, for a session's account.
    pub(crate) accounts: Arc<dyn SettingsRepo>,
    pub(crate) provision: Arc<ProvisionState>,
    /// Asked before claiming work, the same answer `/readyz` gives.
    pub(crate) readiness: Arc<super::readiness::Readiness>,
    pub(crate) events: Arc<EventLog>,
    /// Where the Help Desk ticket step is queued (in a lane of its own).
    pub(crate) outbox: Arc<Outbox<HubSpotJob>>,
    /// Create a CRM contact for a user HubSpot does not know (`hubspot.create_contacts`).
    pub(crate) create_contacts: bool,
    /// What tickets get besides the session's own fields.
    pub(crate) tickets: TicketConfig,
    /// How long all the downloads and uploads of one attempt may take together. An
    /// attempt is cut at its lease; this leaves room in it for an upload under way and
    /// the publish, so work done is recorded rather than lost with the attempt.
    pub(crate) media_budget: Duration,
}

/// The media of one attempt: the deadline they share, and whether this attempt uploaded
/// anything (then running out of time is progress, not a failure).
struct MediaRun<'a> {
    session: &'a Session,
    message_id: &'a str,
    attempts: u32,
    deadline: tokio::time::Instant,
    uploaded: bool,
}

/// A step failed: how the outbox should treat it.
struct Stop(Outcome);

impl From<HubSpotError> for Stop {
    fn from(e: HubSpotError) -> Self {
        Stop(e.outcome())
    }
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Stop(Outcome::Retry {
            error: format!("store: {e}"),
            retry_after: None,
        })
    }
}

fn permanent(reason: impl Into<String>) -> Stop {
    Stop(Outcome::Permanent(reason.into()))
}

impl Deliver<HubSpotJob> for Publisher {
    fn available(&self) -> bool {
        self.readiness.is_ready()
    }

    async fn deliver(&self, item: &OutboxItem<HubSpotJob>) -> Outcome {
        match self.try_deliver(item).await {
            Ok(()) => Outcome::Delivered,
            Err(Stop(outcome)) => outcome,
        }
    }

    async fn dead_lettered(&self, item: &OutboxItem<HubSpotJob>, reason: &str) {
        if let HubSpotJob::StartSession { message_id, .. }
        | HubSpotJob::Publish { message_id, .. } = &item.job
        {
            self.forget_uploads(&item.lane, message_id);
        }
        if let HubSpotJob::StartSession { .. } = item.job {
            // HubSpot refused the session itself: it can never open.
            let session = &item.lane;
            let failed = Transition::Failed {
                code: "hubspot-rejected".into(),
                message: reason.to_string(),
                at: chrono::Utc::now(),
            };
            let told = self
                .store
                .apply_transition(session, &failed)
                .and_then(|applied| match applied {
                    Some((failed, Some(happened))) => self.events.append(&failed, happened, None),
                    _ => Ok(None),
                });
            if let Err(e) = told {
                tracing::error!(session, error = %e, "cannot mark the session failed");
            }
        }
    }
}

impl Publisher {
    async fn try_deliver(&self, item: &OutboxItem<HubSpotJob>) -> Result<(), Stop> {
        let target = self.provision.ready().ok_or_else(|| {
            Stop(Outcome::Deferred {
                reason: "HubSpot is not provisioned".into(),
                after: Duration::from_secs(1),
            })
        })?;
        match &item.job {
            HubSpotJob::MessageStatus {
                channel_id,
                message_id,
                status,
                error,
            } => {
                return Ok(self
                    .hubspot
                    .set_message_status(channel_id, message_id, status, error.as_deref())
                    .await?);
            }
            HubSpotJob::FillTicket { session_id } => {
                return self.ticket_step(session_id, item.attempts).await;
            }
            _ => {}
        }
        let session = self
            .store
            .session(&item.lane)?
            .ok_or_else(|| permanent("the session no longer exists"))?;
        if session.status == SessionStatus::Failed {
            let why = session
                .failure
                .as_ref()
                .map(|f| f.message.as_str())
                .unwrap_or("unknown");
            return Err(permanent(format!("the session failed earlier: {why}")));
        }
        let user = self
            .store
            .user(&session.user_id)?
            .ok_or_else(|| permanent("the session's user no longer exists"))?;
        let account = self.account_for(&target, &session)?;
        if account.account_id != target.account_id
            && self.accounts.account_purged(&account.account_id)?
        {
            // The default's account being purged makes handoff unready (nothing is
            // claimed); another inbox's only holds that inbox's sessions, until it is back.
            return Err(Stop(Outcome::Deferred {
                reason: format!(
                    "HubSpot deleted the channel account on inbox {}",
                    account.inbox_id
                ),
                after: Duration::from_secs(5),
            }));
        }
        match &item.job {
            HubSpotJob::StartSession {
                message_id,
                history,
            } => {
                let mut run = self.media_run(&session, message_id, item.attempts);
                let contact =
                    super::contacts::ensure_contact(&self.hubspot, &user, self.create_contacts)
                        .await?;
                let (media, attachments) = self.attach_history(&mut run, history).await?;
                let composed = compose::first_message(&session, &user, history, &media);
                let mut body = self.message_body(&account, &session, &user, message_id, &composed);
                body["attachments"] = Value::Array(attachments);
                if let Some(id) = contact.as_deref().and_then(|c| c.parse::<i64>().ok()) {
                    body["associateWithContactId"] = json!(id);
                }
                let published = self.hubspot.publish(&target.channel_id, &body).await?;
                let thread = published.conversations_thread_id;
                let opened = Transition::Published {
                    thread_id: thread.clone(),
                    account_id: account.account_id.clone(),
                    contact_id: contact.clone(),
                    awaits_ticket: account.help_desk,
                };
                let applied = self.store.apply_transition(&session.id, &opened)?;
                if account.help_desk {
                    // Its own lane: the session's messages never wait for the ticket.
                    let job = HubSpotJob::FillTicket {
                        session_id: session.id.clone(),
                    };
                    let now = chrono::Utc::now().timestamp_millis();
                    self.outbox
                        .enqueue(&OutboxItem::new(ticket_lane(&session.id), job, now))?;
                }
                tracing::info!(session = session.id, thread = ?thread, contact = ?contact, "session published to HubSpot");
                if let Some((_, Some(happened))) = applied {
                    self.events.append(&session, happened, None)?;
                }
                self.forget_uploads(&session.id, message_id);
            }
            HubSpotJob::Publish {
                message_id,
                content,
            } => {
                let mut run = self.media_run(&session, message_id, item.attempts);
                let (composed, attachments) = self.prepare(&mut run, content).await?;
                let mut body = self.message_body(&account, &session, &user, message_id, &composed);
                body["attachments"] = Value::Array(attachments);
                self.hubspot.publish(&target.channel_id, &body).await?;
                self.forget_uploads(&session.id, message_id);
            }
            HubSpotJob::Note { message_id, text } => {
                let composed = Composed {
                    rich_text: format!("<p><em>{}</em></p>", compose::escape_html(text)),
                    text: text.clone(),
                };
                let body = self.message_body(&account, &session, &user, message_id, &composed);
                self.hubspot.publish(&target.channel_id, &body).await?;
            }
            HubSpotJob::CloseThread => {
                let thread = session
                    .hubspot_thread_id
                    .as_deref()
                    .ok_or_else(|| permanent("the session never got a HubSpot thread"))?;
                self.hubspot.set_thread_status(thread, "CLOSED").await?;
                tracing::info!(session = session.id, thread, "HubSpot thread closed");
            }
            // Done above, before the session is read.
            HubSpotJob::MessageStatus { .. } | HubSpotJob::FillTicket { .. } => {}
        }
        Ok(())
    }

    /// The text and attachments of one user message. Media is downloaded and uploaded to
    /// HubSpot's Files API here, in the worker; what cannot be attached becomes a text with
    /// the link and the reason, so nothing is dropped silently.
    async fn prepare(
        &self,
        run: &mut MediaRun<'_>,
        content: &Content,
    ) -> Result<(Composed, Vec<Value>), Stop> {
        let Some((kind, url, title)) = content.media() else {
            let Content::Location {
                latitude,
                longitude,
                address,
                title,
            } = content
            else {
                return Ok((Composed::plain(content.summary()), vec![]));
            };
            let mut attachment =
                json!({"type": "LOCATION", "latitude": latitude, "longitude": longitude});
            if let Some(a) = address {
                attachment["address"] = json!(a);
            }
            if let Some(t) = title {
                attachment["name"] = json!(t);
            }
            return Ok((Composed::plain(content.summary()), vec![attachment]));
        };
        match self.attach(run, 0, kind, url, title).await? {
            Ok((name, attachment)) => Ok((Composed::plain(name), vec![attachment])),
            Err(reason) => {
                tracing::info!(session = run.session.id, reason, "media sent as a link");
                Ok((
                    Composed::plain(format!(
                        "{}\n(handoff could not attach it: {reason})",
                        content.summary()
                    )),
                    vec![],
                ))
            }
        }
    }

    /// Uploads the transcript's media (as many as the channel allows on one message); the
    /// rest, and what cannot be attached, stays a link in the transcript.
    async fn attach_history(
        &self,
        run: &mut MediaRun<'_>,
        history: &[HistoryLine],
    ) -> Result<(Vec<LineMedia>, Vec<Value>), Stop> {
        let mut media = Vec::with_capacity(history.len());
        let mut attachments = Vec::new();
        for (index, line) in history.iter().enumerate() {
            let Some((kind, url, title)) = line.content.media() else {
                media.push(LineMedia::None);
                continue;
            };
            if attachments.len() >= MAX_ATTACHMENTS {
                media.push(LineMedia::Link(format!(
                    "a message holds at most {MAX_ATTACHMENTS} attachments"
                )));
                continue;
            }
            match self.attach(run, index, kind, url, title).await? {
                Ok((name, attachment)) => {
                    attachments.push(attachment);
                    media.push(LineMedia::Attached(name));
                }
                Err(reason) => media.push(LineMedia::Link(reason)),
            }
        }
        Ok((media, attachments))
    }

    /// The message is published (or given up): its upload records are not needed. Failing
    /// to remove them only leaves a few stale records, so it does not fail the item.
    fn forget_uploads(&self, session: &str, message_id: &str) {
        if let Err(e) = self.store.forget_uploads(session, message_id) {
            tracing::warn!(session, error = %e, "cannot forget a message's uploads");
        }
    }

    fn media_run<'a>(
        &self,
        session: &'a Session,
        message_id: &'a str,
        attempts: u32,
    ) -> MediaRun<'a> {
        MediaRun {
            session,
            message_id,
            attempts,
            deadline: tokio::time::Instant::now() + self.media_budget,
            uploaded: false,
        }
    }

    /// Downloads `url` and uploads it to HubSpot's Files API, unless an earlier attempt
    /// did; `Ok(Err(reason))` when it cannot be attached, `Err` when the item should be
    /// tried again.
    async fn attach(
        &self,
        run: &mut MediaRun<'_>,
        index: usize,
        kind: Kind,
        url: &str,
        title: Option<&str>,
    ) -> Result<Result<(String, Value), String>, Stop> {
        let attachment = |file_id: &str, name: &str| json!({"type": "FILE", "fileId": file_id, "name": name, "fileUsageType": kind.usage()});
        let session = run.session;
        if let Some(done) = self
            .store
            .uploaded_file(&session.id, run.message_id, index)?
        {
            return Ok(Ok((
                done.name.clone(),
                attachment(&done.file_id, &done.name),
            )));
        }
        let fetched = match tokio::time::timeout_at(run.deadline, self.media.fetch(url, kind)).await
        {
            Ok(result) => result,
            // Out of time after uploading something: go on in a new attempt, which starts
            // where this one stopped. Not a failure, so it does not use up the tries.
            Err(_) if run.uploaded => {
                return Err(Stop(Outcome::Deferred {
                    reason: "media partly uploaded; continuing".into(),
                    after: Duration::ZERO,
                }));
            }
            Err(_) => Err(FetchError::Transient(
                "the download did not finish in the time one attempt allows".into(),
            )),
        };
        let fetched = match fetched {
            Ok(f) => f,
            // A blip is retried a few times before the agent gets the link instead.
            Err(FetchError::Transient(e)) if run.attempts < MEDIA_ATTEMPTS => {
                return Err(Stop(Outcome::Retry {
                    error: format!("media download: {e}"),
                    retry_after: None,
                }));
            }
            Err(FetchError::Transient(e) | FetchError::Refused(e)) => return Ok(Err(e)),
        };
        let name = title.map(str::to_string).unwrap_or(fetched.name.clone());
        let folder = format!("/handoff/{}", session.id);
        // Started before the deadline, an upload is let finish: cutting it could leave a
        // file in HubSpot that no record knows about, uploaded again by the next attempt.
        let file_id = match self
            .hubspot
            .upload_file(fetched.bytes, &fetched.name, &fetched.mime, &folder)
            .await
        {
            Ok(id) => id,
            Err(e) if e.is_permanent() => {
                return Ok(Err(format!("HubSpot refused the upload: {e}")));
            }
            Err(e) => return Err(e.into()),
        };
        self.store.record_upload(
            &session.id,
            run.message_id,
            index,
            &UploadedFile {
                file_id: file_id.clone(),
                name: name.clone(),
            },
        )?;
        self.store.flush().await?;
        run.uploaded = true;
        Ok(Ok((name.clone(), attachment(&file_id, &name))))
    }

    /// The account a session publishes through: the one its thread is on once it has one;
    /// else its inbox's (the default's for sessions from before inboxes could be chosen).
    /// An inbox removed from the configuration still has its account in the store, so its
    /// queued work is still delivered; without one, it is refused with the reason.
    fn account_for(&self, target: &Provisioned, session: &Session) -> Result<InboxAccount, Stop> {
        let inbox = session.inbox_id.as_deref().unwrap_or(&target.inbox_id);
        let on_inbox = target.account_on(inbox).cloned();
        if let Some(published) = &session.channel_account_id {
            return Ok(InboxAccount {
                inbox_id: inbox.to_string(),
                account_id: published.clone(),
                help_desk: on_inbox.is_some_and(|a| a.help_desk),
            });
        }
        if let Some(account) = on_inbox {
            return Ok(account);
        }
        match self.accounts.channel_account(inbox)? {
            Some(record) if record.channel_id == target.channel_id => Ok(InboxAccount {
                inbox_id: record.inbox_id,
                account_id: record.id,
                help_desk: record.help_desk,
            }),
            _ => Err(permanent(format!(
                "inbox {inbox} is not connected (not in hubspot.inbox_ids) and has no channel account"
            ))),
        }
    }

    /// One look for a Help Desk session's ticket (see `tickets`). While HubSpot has not made
    /// it, the step is retried on the retry schedule, `TICKET_POLLS` times at most; then,
    /// or when it cannot work, the bot gets `session.opened` without a ticket and the
    /// dashboard a warning.
    async fn ticket_step(&self, session_id: &str, attempts: u32) -> Result<(), Stop> {
        let Some(session) = self.store.session(session_id)? else {
            return Ok(());
        };
        let warnings = &self.readiness.warnings;
        let ticket_id = match fill_ticket(&self.hubspot, &session, &self.tickets).await? {
            TicketStep::Found {
                ticket_id,
                warnings: refused,
            } => {
                if refused.is_empty() {
                    warnings.clear("tickets-scope-missing");
                    warnings.clear("ticket-update-refused");
                }
                for (code, message) in refused {
                    warnings.set(code, message);
                }
                warnings.clear("ticket-not-found");
                tracing::info!(
                    session = session_id,
                    ticket = ticket_id,
                    "Help Desk ticket filled"
                );
                Some(ticket_id)
            }
            TicketStep::NotYet if attempts + 1 < TICKET_POLLS => {
                return Err(Stop(Outcome::Retry {
                    error: "HubSpot has not made the ticket yet".into(),
                    retry_after: None,
                }));
            }
            TicketStep::NotYet => {
                warnings.set(
                    "ticket-not-found",
                    format!(
                        "no ticket appeared for session {session_id} after {TICKET_POLLS} looks; it opened without one"
                    ),
                );
                None
            }
            TicketStep::GiveUp(code, message) => {
                warnings.set(code, message);
                None
            }
        };
        let resolved = Transition::TicketResolved { ticket_id };
        if let Some((session, Some(happened))) =
            self.store.apply_transition(session_id, &resolved)?
        {
            self.events.append(&session, happened, None)?;
        }
        Ok(())
    }

    fn message_body(
        &self,
        account: &InboxAccount,
        session: &Session,
        user: &User,
        message_id: &str,
        composed: &Composed,
    ) -> Value {
        let (kind, value) = match (&user.email, &user.phone) {
            (Some(email), _) => ("HS_EMAIL_ADDRESS", email.as_str()),
            (None, Some(phone)) => ("HS_PHONE_NUMBER", phone.as_str()),
            (None, None) => ("CHANNEL_SPECIFIC_OPAQUE_ID", user.id.as_str()),
        };
        json!({
            "type": "MESSAGE",
            "messageDirection": "INCOMING",
            "channelAccountId": account.account_id,
            "integrationThreadId": integration_thread_id(&session.id),
            "integrationIdempotencyId": format!("{}:{message_id}", session.id),
            "text": composed.text,
            "richText": composed.rich_text,
            "senders": [{
                "name": compose::display_name(user),
                "deliveryIdentifier": {"type": kind, "value": value}
            }],
            "recipients": [],
            "attachments": []
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hubspot::provision::ProvisionStatus;
    use crate::memory_store::{MemoryStore, Relay};
    use crate::relay::StoredEvent;
    use crate::relay::records::{OAuthState, UploadedFile};
    use crate::relay::repo::{IngressRepo, SettingsRepo};
    use crate::relay::session::SessionFailure;
    use actix_web::{HttpRequest, HttpResponse, web};
    use parking_lot::Mutex;

    /// What the HubSpot stand-in was asked: method, path and JSON body.
    type Calls = Arc<Mutex<Vec<(String, String, Value)>>>;

    /// A HubSpot that answers the calls a publisher makes: the token endpoint, the contact
    /// search (contact 77), a publish (thread 9001) and a thread update. It records every
    /// call; anything else is a 404.
    async fn hubspot() -> (String, Calls) {
        let calls: Calls = Arc::default();
        let seen = calls.clone();
        let answer = move |req: HttpRequest, body: web::Bytes| {
            let seen = seen.clone();
            async move {
                let path = req.path().to_string();
                let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
                seen.lock()
                    .push((req.method().to_string(), path.clone(), json));
                let method = req.method().as_str();
                let answer = match (method, path.as_str()) {
                    ("POST", "/oauth/v1/token") => {
                        json!({"access_token": "at", "expires_in": 1800, "refresh_token": "rt"})
                    }
                    ("POST", "/crm/v3/objects/contacts/search") => {
                        json!({"results": [{"id": "77"}]})
                    }
                    ("POST", p) if p.starts_with("/conversations/v3/custom-channels/") => {
                        json!({"id": "hs-msg-1", "conversationsThreadId": 9001})
                    }
                    ("PATCH", p) if p.starts_with("/conversations/v3/conversations/threads/") => {
                        json!({})
                    }
                    _ => return HttpResponse::NotFound().json(json!({"message": "no"})),
                };
                HttpResponse::Ok().json(answer)
            }
        };
        let server = actix_web::HttpServer::new(move || {
            actix_web::App::new().default_service(web::to(answer.clone()))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .unwrap();
        let addr = server.addrs()[0];
        tokio::spawn(server.run());
        (format!("http://{addr}"), calls)
    }

    /// A publisher over a memory store. With `api_base`, HubSpot is connected there (app
    /// credentials and a refresh token); without, nothing answers.
    fn publisher(api_base: Option<&str>) -> (Relay, Publisher) {
        let mut config = crate::config::Config::default();
        let store = MemoryStore::default();
        if let Some(base) = api_base {
            config.hubspot.api_base = base.to_string();
            config.hubspot.client_id = Some("client".into());
            config.hubspot.client_secret = Some(crate::secret::Secret::new("secret"));
            store
                .set_oauth_state(&OAuthState {
                    refresh_token: "rt".into(),
                    hub_id: Some(1),
                    scopes: vec![],
                    reauthorization_required: false,
                    config_fingerprint: None,
                })
                .unwrap();
        } else {
            config.hubspot.api_base = "http://127.0.0.1:9".into();
        }
        let relay = Relay::new(config.clone(), store);
        let provision = Arc::new(ProvisionState::default());
        let publisher = Publisher {
            hubspot: relay.hubspot.clone(),
            media: crate::media::Fetcher::new(&config, super::super::provision::MAX_FILE_BYTES),
            store: relay.store.clone(),
            accounts: relay.store.clone(),
            readiness: Arc::new(super::super::readiness::Readiness {
                hubspot: relay.hubspot.clone(),
                provision: provision.clone(),
                store: relay.store.clone(),
                settings: relay.settings.clone(),
                warnings: Arc::default(),
            }),
            provision,
            events: relay.events.clone(),
            outbox: relay.hubspot_outbox.clone(),
            create_contacts: true,
            tickets: Default::default(),
            media_budget: Duration::from_secs(10),
        };
        (relay, publisher)
    }

    fn provisioned(p: &Publisher) {
        p.provision.set(ProvisionStatus::Ready(Provisioned {
            channel_id: "ch1".into(),
            account_id: "acc1".into(),
            inbox_id: "in1".into(),
            accounts: vec![super::super::provision::InboxAccount {
                inbox_id: "in1".into(),
                account_id: "acc1".into(),
                help_desk: false,
            }],
        }));
    }

    fn start() -> HubSpotJob {
        HubSpotJob::StartSession {
            message_id: "start".into(),
            history: vec![],
        }
    }

    fn failed_events(events: &[StoredEvent]) -> usize {
        events
            .iter()
            .filter(|e| e.event.kind == "session.failed")
            .count()
    }

    #[tokio::test]
    async fn nothing_is_published_before_provisioning() {
        let (relay, p) = publisher(None);
        let session = relay.session(SessionStatus::Pending);
        let outcome = p.deliver(&OutboxItem::new(&session.id, start(), 0)).await;
        assert!(matches!(outcome, Outcome::Deferred { .. }), "{outcome:?}");
        assert!(!p.available(), "not ready, so the worker claims nothing");
    }

    #[tokio::test]
    async fn a_purged_account_of_another_inbox_holds_only_its_sessions() {
        let (relay, p) = publisher(None);
        p.provision.set(ProvisionStatus::Ready(Provisioned {
            channel_id: "ch1".into(),
            account_id: "acc1".into(),
            inbox_id: "in1".into(),
            accounts: ["in1", "in2"]
                .iter()
                .enumerate()
                .map(|(n, inbox)| super::super::provision::InboxAccount {
                    inbox_id: inbox.to_string(),
                    account_id: format!("acc{}", n + 1),
                    help_desk: false,
                })
                .collect(),
        }));
        relay.store.purge_account("acc2");
        let mut session = relay.session(SessionStatus::Open);
        session.inbox_id = Some("in2".into());
        relay.store.put_session(session.clone());
        let publish = HubSpotJob::Publish {
            message_id: "m1".into(),
            content: Content::Text { text: "hi".into() },
        };
        let outcome = p.deliver(&OutboxItem::new(&session.id, publish, 0)).await;
        let Outcome::Deferred { reason, .. } = outcome else {
            panic!("{outcome:?}")
        };
        assert!(reason.contains("inbox in2"), "{reason}");
    }

    #[tokio::test]
    async fn work_for_a_failed_or_missing_session_is_permanent() {
        let (relay, p) = publisher(None);
        provisioned(&p);
        let mut session = relay.session(SessionStatus::Failed);
        session.failure = Some(SessionFailure {
            code: "hubspot-rejected".into(),
            message: "no such inbox".into(),
        });
        relay.store.put_session(session.clone());
        let publish = HubSpotJob::Publish {
            message_id: "m1".into(),
            content: Content::Text { text: "hi".into() },
        };
        let outcome = p.deliver(&OutboxItem::new(&session.id, publish, 0)).await;
        let Outcome::Permanent(why) = outcome else {
            panic!("{outcome:?}")
        };
        assert!(why.contains("no such inbox"), "{why}");
        let outcome = p.deliver(&OutboxItem::new("ses_gone", start(), 0)).await;
        assert!(matches!(outcome, Outcome::Permanent(_)), "{outcome:?}");
    }

    #[tokio::test]
    async fn a_dead_lettered_start_fails_the_session_once_and_forgets_its_uploads() {
        let (relay, p) = publisher(None);
        let session = relay.session(SessionStatus::Pending);
        let file = UploadedFile {
            file_id: "f1".into(),
            name: "a.png".into(),
        };
        relay
            .store
            .record_upload(&session.id, "start", 0, &file)
            .unwrap();
        let item = OutboxItem::new(&session.id, start(), 0);
        p.dead_lettered(&item, "HubSpot said 400: bad inbox").await;
        p.dead_lettered(&item, "HubSpot said 400: bad inbox").await;
        let now = relay.store.session(&session.id).unwrap().unwrap();
        assert_eq!(now.status, SessionStatus::Failed);
        let failure = now.failure.unwrap();
        assert_eq!(failure.code, "hubspot-rejected");
        assert_eq!(failure.message, "HubSpot said 400: bad inbox");
        let events = relay.store.events();
        assert_eq!(failed_events(&events), 1);
        assert_eq!(events.len(), 1);
        assert_eq!(
            events[0].event.data["error"]["message"],
            "HubSpot said 400: bad inbox"
        );
        assert_eq!(
            relay.store.uploaded_file(&session.id, "start", 0).unwrap(),
            None
        );

        // A message given up on forgets its uploads but does not fail the session.
        let open = relay.session(SessionStatus::Open);
        relay.store.record_upload(&open.id, "m1", 0, &file).unwrap();
        let publish = HubSpotJob::Publish {
            message_id: "m1".into(),
            content: Content::Text { text: "hi".into() },
        };
        p.dead_lettered(&OutboxItem::new(&open.id, publish, 0), "refused")
            .await;
        assert_eq!(relay.store.session(&open.id).unwrap().unwrap(), open);
        assert_eq!(relay.store.uploaded_file(&open.id, "m1", 0).unwrap(), None);
        assert_eq!(failed_events(&relay.store.events()), 1);
    }

    #[tokio::test]
    async fn a_start_publishes_and_opens_the_session_then_messages_and_the_close_follow() {
        let (base, calls) = hubspot().await;
        let (relay, p) = publisher(Some(&base));
        provisioned(&p);
        let session = relay.session(SessionStatus::Pending);
        let outcome = p.deliver(&OutboxItem::new(&session.id, start(), 0)).await;
        assert_eq!(outcome, Outcome::Delivered);

        let now = relay.store.session(&session.id).unwrap().unwrap();
        assert_eq!(now.status, SessionStatus::Open);
        assert_eq!(now.hubspot_thread_id.as_deref(), Some("9001"));
        assert_eq!(now.channel_account_id.as_deref(), Some("acc1"));
        assert_eq!(
            relay
                .store
                .session_of_hubspot_thread("9001")
                .unwrap()
                .as_deref(),
            Some(session.id.as_str()),
            "the thread is indexed with the session"
        );
        let events = relay.store.events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event.kind, "session.opened");
        assert_eq!(events[0].event.data["hubspotThreadId"], "9001");

        let published = |calls: &Calls| -> Vec<Value> {
            calls
                .lock()
                .iter()
                .filter(|(m, path, _)| {
                    m == "POST" && path == "/conversations/v3/custom-channels/ch1/messages"
                })
                .map(|(_, _, body)| body.clone())
                .collect()
        };
        let bodies = published(&calls);
        assert_eq!(bodies.len(), 1);
        let body = &bodies[0];
        assert_eq!(body["messageDirection"], "INCOMING");
        assert_eq!(body["channelAccountId"], "acc1");
        assert_eq!(
            body["integrationThreadId"],
            integration_thread_id(&session.id)
        );
        assert_eq!(
            body["integrationIdempotencyId"],
            format!("{}:start", session.id)
        );
        assert_eq!(body["associateWithContactId"], 77);
        let sender = &body["senders"][0];
        assert_eq!(sender["deliveryIdentifier"]["type"], "HS_EMAIL_ADDRESS");
        assert_eq!(sender["deliveryIdentifier"]["value"], "jane@example.com");
        assert!(body["text"].as_str().unwrap().contains("Help"), "{body}");

        // A user message goes to the same thread under its own idempotency id.
        let publish = HubSpotJob::Publish {
            message_id: "m1".into(),
            content: Content::Text {
                text: "my order is late".into(),
            },
        };
        let outcome = p.deliver(&OutboxItem::new(&session.id, publish, 0)).await;
        assert_eq!(outcome, Outcome::Delivered);
        let bodies = published(&calls);
        assert_eq!(bodies.len(), 2);
        assert_eq!(bodies[1]["text"], "my order is late");
        assert_eq!(
            bodies[1]["integrationIdempotencyId"],
            format!("{}:m1", session.id)
        );
        assert_eq!(
            relay.store.events().len(),
            1,
            "a message gives the bot nothing"
        );

        // Closing closes the session's HubSpot thread.
        let outcome = p
            .deliver(&OutboxItem::new(&session.id, HubSpotJob::CloseThread, 0))
            .await;
        assert_eq!(outcome, Outcome::Delivered);
        let closes: Vec<_> = calls
            .lock()
            .iter()
            .filter(|(m, _, _)| m == "PATCH")
            .map(|(_, path, body)| (path.clone(), body.clone()))
            .collect();
        assert_eq!(
            closes,
            [(
                "/conversations/v3/conversations/threads/9001".to_string(),
                json!({"status": "CLOSED"})
            )]
        );
    }
}

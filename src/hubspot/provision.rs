//! Makes HubSpot ready with no clicks in its developer UI: the custom channel, a channel
//! account on each configured inbox, and the app's webhook target and subscriptions. Every
//! step checks before it creates, so running it again (or after a restart) changes
//! nothing, and there is never a second channel or a second account on an inbox.

use super::api::{Channel, ChannelAccount};
use super::client::HubSpot;
use super::error::HubSpotError;
use crate::relay::records::{ChannelAccountRecord, ChannelRecord};
use crate::relay::repo::SettingsRepo;
use chrono::Utc;
use parking_lot::RwLock;
use serde_json::{Value, json};
use std::time::Duration;

/// A channel account handoff publishes through, and the inbox it is on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct InboxAccount {
    pub(crate) inbox_id: String,
    pub(crate) account_id: String,
    /// A Help Desk (every conversation becomes a ticket) rather than a plain inbox.
    pub(crate) help_desk: bool,
}

/// What handoff publishes through: the channel and an account per inbox, the default's
/// (`account_id`, `inbox_id`) first.
#[derive(Debug, Clone, PartialEq)]
pub struct Provisioned {
    pub(crate) channel_id: String,
    pub(crate) account_id: String,
    pub(crate) inbox_id: String,
    pub(crate) accounts: Vec<InboxAccount>,
}

impl Provisioned {
    /// The account on `inbox`, if handoff connected one.
    pub(crate) fn account_on(&self, inbox: &str) -> Option<&InboxAccount> {
        self.accounts.iter().find(|a| a.inbox_id == inbox)
    }

    pub(crate) fn is_ours(&self, account_id: &str) -> bool {
        self.accounts.iter().any(|a| a.account_id == account_id)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ProvisionStatus {
    /// Waiting for credentials, a refresh token or an inbox.
    Waiting,
    Running(&'static str),
    Failed {
        step: &'static str,
        message: String,
    },
    Ready(Provisioned),
}

/// Shared view of provisioning, read by `/readyz` and the HubSpot deliverer.
pub struct ProvisionState {
    status: RwLock<ProvisionStatus>,
    /// Asks the provisioning loop to check everything again (e.g. HubSpot said our channel
    /// account changed).
    pub(crate) recheck: tokio::sync::Notify,
}

impl Default for ProvisionState {
    fn default() -> Self {
        ProvisionState {
            status: RwLock::new(ProvisionStatus::Waiting),
            recheck: tokio::sync::Notify::new(),
        }
    }
}

impl ProvisionState {
    pub(crate) fn status(&self) -> ProvisionStatus {
        self.status.read().clone()
    }

    pub(crate) fn set(&self, status: ProvisionStatus) {
        *self.status.write() = status;
    }

    pub fn ready(&self) -> Option<Provisioned> {
        match &*self.status.read() {
            ProvisionStatus::Ready(p) => Some(p.clone()),
            _ => None,
        }
    }
}

/// How long a channel we just created may be missing from HubSpot's list before we
/// believe it is gone (HubSpot's list is eventually consistent).
const NEW_CHANNEL_GRACE: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// The MIME types, sizes and counts handoff declares for attachments.
pub(crate) const MAX_FILE_BYTES: u64 = 20 * 1024 * 1024;
pub(crate) const MAX_FILE_COUNT: usize = 5;
pub(crate) const ALLOWED_MIME_TYPES: &[&str] =
    &["image/*", "audio/*", "video/*", "application/*", "text/*"];

pub(crate) fn channel_body(webhook_url: &str) -> Value {
    json!({
        "name": "handoff",
        "webhookUrl": webhook_url,
        "channelDescription": "Conversations handed over from a chatbot by handoff.",
        "capabilities": {
            "deliveryIdentifierTypes": ["HS_EMAIL_ADDRESS", "HS_PHONE_NUMBER", "CHANNEL_SPECIFIC_OPAQUE_ID"],
            "threadingModel": "INTEGRATION_THREAD_ID",
            "richText": ["HYPERLINK", "BOLD", "ITALIC", "LISTS", "BLOCKQUOTE"],
            "allowInlineImages": false,
            "allowOutgoingMessages": true,
            "allowConversationStart": false,
            "allowMultipleRecipients": false,
            "outgoingAttachmentTypes": ["FILE"],
            "allowedFileAttachmentMimeTypes": ALLOWED_MIME_TYPES,
            "maxFileAttachmentCount": MAX_FILE_COUNT,
            "maxFileAttachmentSizeBytes": MAX_FILE_BYTES,
            "maxTotalFileAttachmentSizeBytes": MAX_FILE_BYTES * 5
        }
    })
}

#[derive(Debug, thiserror::Error)]
#[error("{step}: {error}")]
pub(crate) struct ProvisionError {
    pub(crate) step: &'static str,
    pub(crate) error: String,
}

fn at(step: &'static str) -> impl Fn(HubSpotError) -> ProvisionError {
    move |e| ProvisionError {
        step,
        error: e.to_string(),
    }
}

fn store_step(step: &'static str) -> impl Fn(crate::store::StoreError) -> ProvisionError {
    move |e| ProvisionError {
        step,
        error: e.to_string(),
    }
}

pub(crate) struct Provisioner<'a> {
    pub(crate) hubspot: &'a HubSpot,
    pub(crate) store: &'a dyn SettingsRepo,
    pub(crate) state: &'a ProvisionState,
    pub(crate) webhook_url: &'a str,
    /// The inboxes to connect, the default first.
    pub(crate) inbox_ids: &'a [String],
    /// Pauses between list calls while a new channel is not listed yet.
    pub(crate) listing_backoff: Duration,
}

impl Provisioner<'_> {
    pub(crate) async fn run(&self) -> Result<Provisioned, ProvisionError> {
        self.state.set(ProvisionStatus::Running("hubspot-token"));
        self.hubspot
            .tokens
            .access_token()
            .await
            .map_err(at("hubspot-token"))?;
        self.state.set(ProvisionStatus::Running("custom-channel"));
        let channel = self.ensure_channel().await?;
        self.state.set(ProvisionStatus::Running("channel-account"));
        let help_desks = self.help_desks().await?;
        let listed = self
            .hubspot
            .list_channel_accounts(&channel.id)
            .await
            .map_err(at("channel-account"))?;
        let mut accounts = Vec::with_capacity(self.inbox_ids.len());
        for inbox in self.inbox_ids {
            let help_desk = help_desks.contains(inbox);
            let account = self
                .ensure_account(&channel.id, inbox, help_desk, &listed)
                .await?;
            accounts.push(InboxAccount {
                inbox_id: inbox.clone(),
                account_id: account.id,
                help_desk,
            });
        }
        let Some(default) = accounts.first().cloned() else {
            return Err(ProvisionError {
                step: "channel-account",
                error: "no inbox is configured".into(),
            });
        };
        self.state.set(ProvisionStatus::Running("app-webhooks"));
        self.ensure_app_webhooks().await?;
        self.store.flush().await.map_err(store_step("store"))?;
        let done = Provisioned {
            channel_id: channel.id,
            account_id: default.account_id,
            inbox_id: default.inbox_id,
            accounts,
        };
        tracing::info!(
            channel = done.channel_id,
            account = done.account_id,
            inbox = done.inbox_id,
            inboxes = done.accounts.len(),
            "HubSpot provisioned"
        );
        self.state.set(ProvisionStatus::Ready(done.clone()));
        Ok(done)
    }

    async fn ensure_channel(&self) -> Result<Channel, ProvisionError> {
        let step = "custom-channel";
        let listed = self.hubspot.list_channels().await.map_err(at(step))?;
        let mut chosen = None;
        if let Some(record) = self.store.channel().map_err(store_step(step))? {
            if let Some(c) = listed.iter().find(|c| c.id == record.id) {
                chosen = Some(c.clone());
            } else if let Some(c) = self
                .hubspot
                .get_channel(&record.id)
                .await
                .map_err(at(step))?
            {
                chosen = Some(c);
            } else if Utc::now() - record.created_at < NEW_CHANNEL_GRACE {
                // Created moments ago and not visible yet: creating another would duplicate it.
                chosen = Some(Channel {
                    id: record.id.clone(),
                    webhook_url: Some(record.webhook_url.clone()),
                });
            } else {
                tracing::warn!(
                    channel = record.id,
                    "the stored channel is gone from HubSpot"
                );
                self.store.forget_channel().map_err(store_step(step))?;
            }
        }
        if chosen.is_none()
            && let Some(c) = listed
                .iter()
                .find(|c| c.webhook_url.as_deref() == Some(self.webhook_url))
        {
            tracing::info!(
                channel = c.id,
                "adopting the existing channel with our webhook URL"
            );
            chosen = Some(c.clone());
        }
        let channel = match chosen {
            Some(c) => c,
            None => {
                let created = self
                    .hubspot
                    .create_channel(&channel_body(self.webhook_url))
                    .await
                    .map_err(at(step))?;
                // Remember it before anything else can fail, so a retry never creates a second.
                self.remember_channel(&created.id, Utc::now()).await?;
                tracing::info!(channel = created.id, "custom channel created");
                self.wait_until_listed(&created.id).await;
                created
            }
        };
        if channel.webhook_url.as_deref() != Some(self.webhook_url) {
            self.hubspot
                .update_channel_webhook(&channel.id, self.webhook_url)
                .await
                .map_err(at(step))?;
        }
        let created_at = self
            .store
            .channel()
            .map_err(store_step(step))?
            .filter(|r| r.id == channel.id)
            .map(|r| r.created_at)
            .unwrap_or_else(Utc::now);
        self.remember_channel(&channel.id, created_at).await?;
        Ok(channel)
    }

    async fn remember_channel(
        &self,
        id: &str,
        created_at: chrono::DateTime<Utc>,
    ) -> Result<(), ProvisionError> {
        let record = ChannelRecord {
            id: id.to_string(),
            webhook_url: self.webhook_url.to_string(),
            created_at,
        };
        self.store
            .set_channel(&record)
            .map_err(store_step("custom-channel"))?;
        self.store
            .flush()
            .await
            .map_err(store_step("custom-channel"))
    }

    /// HubSpot may not list a new channel at once; wait a little, then go on regardless.
    async fn wait_until_listed(&self, id: &str) {
        let mut pause = self.listing_backoff;
        for _ in 0..6 {
            match self.hubspot.list_channels().await {
                Ok(list) if list.iter().any(|c| c.id == id) => return,
                _ => tokio::time::sleep(pause).await,
            }
            pause *= 2;
        }
        tracing::warn!(channel = id, "the new channel is not listed yet; going on");
    }

    /// The configured inboxes that are Help Desks (their conversations become tickets).
    async fn help_desks(&self) -> Result<Vec<String>, ProvisionError> {
        let inboxes = self
            .hubspot
            .list_inboxes()
            .await
            .map_err(at("channel-account"))?;
        Ok(inboxes
            .into_iter()
            .filter(|i| i.kind.eq_ignore_ascii_case("HELP_DESK"))
            .map(|i| i.id)
            .collect())
    }

    async fn ensure_account(
        &self,
        channel_id: &str,
        inbox_id: &str,
        help_desk: bool,
        listed: &[ChannelAccount],
    ) -> Result<ChannelAccount, ProvisionError> {
        let step = "channel-account";
        let usable = |a: &&ChannelAccount| !a.archived && a.inbox_id == inbox_id;
        let stored = self
            .store
            .channel_account(inbox_id)
            .map_err(store_step(step))?
            .filter(|r| r.channel_id == channel_id);
        let account = match stored
            .and_then(|r| listed.iter().filter(usable).find(|a| a.id == r.id))
            .or_else(|| listed.iter().find(usable))
        {
            Some(a) if !a.authorized => {
                return Err(ProvisionError {
                    step,
                    error: format!(
                        "channel account {} is disabled in HubSpot (authorized: false); enable it",
                        a.id
                    ),
                });
            }
            Some(a) => a.clone(),
            None => {
                let body = json!({
                    "inboxId": inbox_id,
                    "name": "handoff",
                    "authorized": true,
                    "deliveryIdentifier": {"type": "CHANNEL_SPECIFIC_OPAQUE_ID", "value": format!("handoff-{inbox_id}")}
                });
                let created = self
                    .hubspot
                    .create_channel_account(channel_id, &body)
                    .await
                    .map_err(at(step))?;
                tracing::info!(
                    account = created.id,
                    inbox = inbox_id,
                    "channel account created"
                );
                created
            }
        };
        self.store
            .set_channel_account(&ChannelAccountRecord {
                id: account.id.clone(),
                channel_id: channel_id.to_string(),
                inbox_id: inbox_id.to_string(),
                help_desk,
            })
            .map_err(store_step(step))?;
        Ok(account)
    }

    async fn ensure_app_webhooks(&self) -> Result<(), ProvisionError> {
        let step = "app-webhooks";
        self.hubspot
            .put_webhook_target(self.webhook_url)
            .await
            .map_err(at(step))?;
        let existing = self.hubspot.list_subscriptions().await.map_err(at(step))?;
        for property in ["assignedTo", "status"] {
            let found = existing.iter().find(|s| {
                s.event_type == "conversation.propertyChange"
                    && s.property_name.as_deref() == Some(property)
            });
            match found {
                Some(s) if s.active => {}
                Some(s) => self
                    .hubspot
                    .activate_subscription(&s.id)
                    .await
                    .map_err(at(step))?,
                None => self
                    .hubspot
                    .create_subscription("conversation.propertyChange", Some(property))
                    .await
                    .map_err(at(step))?,
            }
        }
        Ok(())
    }
}

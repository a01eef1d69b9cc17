//! Records kept in the store besides sessions, events and queues: settings, the HubSpot
//! connection, uploads. Serialized as JSON; add fields with `#[serde(default)]` so older
//! records still read.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// OAuth state for the connected portal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OAuthState {
    pub(crate) refresh_token: String,
    pub(crate) hub_id: Option<u64>,
    pub(crate) scopes: Vec<String>,
    /// Set when HubSpot answered `invalid_grant`: nothing works until a new token arrives.
    pub(crate) reauthorization_required: bool,
    /// A fingerprint of the configured refresh token this state started from, so a token
    /// changed in the config file replaces a rotated one, and an unchanged one does not.
    pub(crate) config_fingerprint: Option<String>,
}

/// The custom channel handoff created or adopted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelRecord {
    pub(crate) id: String,
    pub(crate) webhook_url: String,
    pub(crate) created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelAccountRecord {
    pub(crate) id: String,
    pub(crate) channel_id: String,
    pub(crate) inbox_id: String,
    /// The inbox is a Help Desk, as provisioning last saw it (records from before this was
    /// kept say no), so a session queued for it still gets its ticket after the inbox left
    /// the configuration.
    #[serde(default)]
    pub(crate) help_desk: bool,
}

/// What the setup wizard saved. Values set in the configuration win over these (see
/// `settings`). Secrets are plain here (the store's directory is 0700), except the bot's
/// API key: it is shown once and afterwards only compared, so only its SHA-256 is kept.
/// No `Debug`, so it cannot end up in a log line.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WizardSettings {
    pub public_url: Option<String>,
    pub(crate) client_id: Option<String>,
    pub(crate) client_secret: Option<String>,
    pub(crate) app_id: Option<String>,
    pub(crate) developer_api_key: Option<String>,
    pub(crate) inbox_id: Option<String>,
    pub(crate) inbox_name: Option<String>,
    /// Every inbox connected besides the default (`inbox_id`), as the wizard saved them.
    pub(crate) inbox_ids: Vec<String>,
    pub bot_api_key_sha256: Option<String>,
    pub(crate) bot_webhook_url: Option<String>,
    pub(crate) bot_webhook_secret: Option<String>,
    /// Set when the bot registered the webhook itself (`PUT /api/v1/webhook`), so the
    /// wizard can say so.
    pub(crate) bot_webhook_registered_at: Option<DateTime<Utc>>,
}

/// One media item of a message (its index in the message or the transcript), uploaded to
/// HubSpot's Files API, so that a retried attempt attaches it again instead of uploading it
/// again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct UploadedFile {
    pub(crate) file_id: String,
    /// The attachment's name (the title, else the file's name).
    pub(crate) name: String,
}

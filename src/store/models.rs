//! Records kept in the store. Serialized as JSON; add fields with `#[serde(default)]` so
//! older records still read.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    /// E.164.
    pub phone: Option<String>,
    pub picture_url: Option<String>,
    /// The bot's own id for an anonymous user (no email, no phone).
    #[serde(default)]
    pub external_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl User {
    /// Users are keyed by email when given, else by phone, else by the bot's `externalId`.
    pub fn identity_key(
        email: Option<&str>,
        phone: Option<&str>,
        external_id: Option<&str>,
    ) -> Option<String> {
        email
            .map(|e| format!("email:{}", e.to_lowercase()))
            .or_else(|| phone.map(|p| format!("phone:{p}")))
            .or_else(|| external_id.map(|x| format!("ext:{x}")))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionStatus {
    /// Accepted; the first message is not yet in HubSpot.
    Pending,
    Open,
    Assigned,
    Closed,
    Failed,
}

impl SessionStatus {
    /// No more user messages are accepted.
    pub fn is_final(self) -> bool {
        matches!(self, SessionStatus::Closed | SessionStatus::Failed)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClosedBy {
    Agent,
    Bot,
    System,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Agent {
    pub id: String,
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionFailure {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// `ses_<ULID>`; the session's `integrationThreadId` is derived from it
    /// (`store::integration_thread_id`), so it needs no index.
    pub id: String,
    pub user_id: String,
    pub status: SessionStatus,
    pub title: Option<String>,
    pub description: Option<String>,
    pub external_id: Option<String>,
    pub idempotency_key: Option<String>,
    pub hubspot_thread_id: Option<String>,
    /// The channel account the session publishes through (set when it is first published).
    pub channel_account_id: Option<String>,
    pub agent: Option<Agent>,
    pub created_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_by: Option<ClosedBy>,
    /// The reason the bot gave when it stopped the session.
    #[serde(default)]
    pub closed_reason: Option<String>,
    pub failure: Option<SessionFailure>,
}

/// OAuth state for the connected portal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OAuthState {
    pub refresh_token: String,
    pub hub_id: Option<u64>,
    pub scopes: Vec<String>,
    /// Set when HubSpot answered `invalid_grant`: nothing works until a new token arrives.
    pub reauthorization_required: bool,
    /// A fingerprint of the configured refresh token this state started from, so a token
    /// changed in the config file replaces a rotated one, and an unchanged one does not.
    pub config_fingerprint: Option<String>,
}

/// The custom channel handoff created or adopted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelRecord {
    pub id: String,
    pub webhook_url: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelAccountRecord {
    pub id: String,
    pub channel_id: String,
    pub inbox_id: String,
}

/// An event for the bot, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(rename = "sessionId")]
    pub session_id: String,
    /// The `externalId` the bot opened the session with, so it finds its own conversation
    /// without a look-up.
    #[serde(
        rename = "externalId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub external_id: Option<String>,
    #[serde(rename = "createdAt", with = "rfc3339_millis")]
    pub created_at: DateTime<Utc>,
    pub data: serde_json::Value,
}

/// The HubSpot message an event came from, to report its delivery status back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HubSpotMessageRef {
    pub channel_id: String,
    pub message_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub seq: u64,
    pub event: Event,
    pub hubspot_message: Option<HubSpotMessageRef>,
    /// The de-duplication key, so pruning can drop the key with the event.
    #[serde(default)]
    pub key: String,
}

mod rfc3339_millis {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

/// What the setup wizard saved. Values set in the configuration win over these (see
/// `settings`). Secrets are plain here (the store's directory is 0700), except the bot's
/// API key: it is shown once and afterwards only compared, so only its SHA-256 is kept.
/// No `Debug`, so it cannot end up in a log line.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WizardSettings {
    pub public_url: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub app_id: Option<String>,
    pub developer_api_key: Option<String>,
    pub inbox_id: Option<String>,
    pub inbox_name: Option<String>,
    pub bot_api_key_sha256: Option<String>,
    pub bot_webhook_url: Option<String>,
    pub bot_webhook_secret: Option<String>,
    /// Set when the bot registered the webhook itself (`PUT /api/v1/webhook`), so the
    /// wizard can say so.
    pub bot_webhook_registered_at: Option<DateTime<Utc>>,
}

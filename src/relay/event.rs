//! Events for the bot: what they look like, and the keys that make each one happen once.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An event for the bot, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Event {
    pub(crate) id: String,
    #[serde(rename = "type")]
    pub(crate) kind: String,
    #[serde(rename = "sessionId")]
    pub(crate) session_id: String,
    /// The `externalId` the bot opened the session with, so it finds its own conversation
    /// without a look-up.
    #[serde(
        rename = "externalId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) external_id: Option<String>,
    #[serde(rename = "createdAt", with = "rfc3339_millis")]
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) data: serde_json::Value,
}

/// The HubSpot message an event came from, to report its delivery status back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct HubSpotMessageRef {
    pub(crate) channel_id: String,
    pub(crate) message_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct StoredEvent {
    pub(crate) seq: u64,
    pub(crate) event: Event,
    pub(crate) hubspot_message: Option<HubSpotMessageRef>,
    /// The de-duplication key, so pruning can drop the key with the event.
    #[serde(default)]
    pub(crate) key: EventKey,
}

mod rfc3339_millis {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

/// What happened, as the bot reads it in `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventKind {
    Opened,
    Assigned,
    Message,
    Closed,
    Failed,
}

impl EventKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EventKind::Opened => "session.opened",
            EventKind::Assigned => "session.assigned",
            EventKind::Message => "session.message",
            EventKind::Closed => "session.closed",
            EventKind::Failed => "session.failed",
        }
    }
}

/// The identity of an event: the log appends one event per key, so whatever produces the
/// same key twice (HubSpot's retries, a retried stop, the echo of our own close) produces
/// one event. Stored as its text, so the format of the keys is a schema matter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventKey(String);

impl EventKey {
    pub(crate) fn opened(session_id: &str) -> EventKey {
        EventKey(format!("opened:{session_id}"))
    }

    /// One `session.closed` per session, whoever closed it.
    pub(crate) fn closed(session_id: &str) -> EventKey {
        EventKey(format!("closed:{session_id}"))
    }

    pub(crate) fn failed(session_id: &str) -> EventKey {
        EventKey(format!("failed:{session_id}"))
    }

    /// An agent's message, by HubSpot's message id.
    pub(crate) fn agent_message(message_id: &str) -> EventKey {
        EventKey(format!("msg:{message_id}"))
    }

    /// A HubSpot property change, by the fields that identify it across HubSpot's retries
    /// (its `eventId` is not unique, so it is not one of them).
    pub(crate) fn property_change(parts: &[&str]) -> EventKey {
        EventKey(format!("app:{}", parts.join(":")))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// Events written by schema 1 have none (see the 1 → 2 migration).
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The stable id of the event with this key: the same HubSpot event processed twice
    /// gets the same id, which is also the `webhook-id` the bot de-duplicates by.
    pub(crate) fn event_id(&self) -> String {
        use sha2::{Digest, Sha256};
        use std::fmt::Write;
        let digest = Sha256::digest(self.0.as_bytes());
        let mut id = String::with_capacity(30);
        id.push_str("evt_");
        for b in &digest[..13] {
            let _ = write!(id, "{b:02x}");
        }
        id
    }
}

/// Keys read back from the store (and written by handoff before they were typed).
impl From<String> for EventKey {
    fn from(key: String) -> EventKey {
        EventKey(key)
    }
}

impl std::fmt::Display for EventKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_stable_and_prefixed() {
        let id = |k: &str| EventKey::agent_message(k).event_id();
        assert_eq!(id("abc"), id("abc"));
        assert_ne!(id("abc"), id("abd"));
        assert!(id("x").starts_with("evt_"));
        assert_eq!(id("x").len(), 30);
        // The ids of keys written before they were typed stay the same.
        assert_eq!(
            EventKey::agent_message("abc").event_id(),
            EventKey::from("msg:abc".to_string()).event_id()
        );
    }
}

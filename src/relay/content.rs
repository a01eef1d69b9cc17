//! What the end user and the bot said: one message's content and the transcript lines of
//! a session's start. Stored in the outbox as-is, so renaming a variant or a field is a
//! schema change.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One message's content. Stored in the outbox as-is, so renaming a variant or field is a
/// schema change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Content {
    Text {
        text: String,
    },
    Image {
        url: String,
    },
    File {
        url: String,
        title: Option<String>,
    },
    Audio {
        url: String,
    },
    Video {
        url: String,
    },
    Location {
        latitude: f64,
        longitude: f64,
        address: Option<String>,
        title: Option<String>,
    },
}

impl Content {
    /// A one-line plain-text rendering, used in transcripts and as the text of non-text
    /// messages.
    pub(crate) fn summary(&self) -> String {
        match self {
            Content::Text { text } => text.clone(),
            Content::Image { url } => format!("[image] {url}"),
            Content::File { url, title } => match title {
                Some(t) => format!("[file: {t}] {url}"),
                None => format!("[file] {url}"),
            },
            Content::Audio { url } => format!("[audio] {url}"),
            Content::Video { url } => format!("[video] {url}"),
            Content::Location {
                latitude,
                longitude,
                address,
                title,
            } => {
                let name = [title.as_deref(), address.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(", ");
                let sep = if name.is_empty() { "" } else { " " };
                format!("[location] {name}{sep}({latitude}, {longitude})")
            }
        }
    }
}

impl Content {
    /// The media a message points at, if it does.
    pub(crate) fn media(&self) -> Option<(crate::media::Kind, &str, Option<&str>)> {
        use crate::media::Kind;
        match self {
            Content::Image { url } => Some((Kind::Image, url, None)),
            Content::Audio { url } => Some((Kind::Audio, url, None)),
            Content::Video { url } => Some((Kind::Video, url, None)),
            Content::File { url, title } => Some((Kind::File, url, title.as_deref())),
            Content::Text { .. } | Content::Location { .. } => None,
        }
    }
}

/// Who said a line of the transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Speaker {
    User,
    Bot,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryLine {
    pub(crate) speaker: Speaker,
    pub(crate) content: Content,
    /// When it was said, if the bot told us.
    #[serde(default)]
    pub(crate) at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A transcript timestamp: RFC 3339, or Unix time in seconds or milliseconds.
/// 9999-12-31T23:59:59.999Z in Unix milliseconds.
pub(crate) const MAX_TIMESTAMP_MS: i64 = 253_402_300_799_999;

pub(crate) fn parse_timestamp(value: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    match value {
        Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc)),
        Value::Number(n) => {
            let n = n.as_i64()?;
            // From 1970 to the end of year 9999 in milliseconds, as the OpenAPI document says.
            if !(0..=MAX_TIMESTAMP_MS).contains(&n) {
                return None;
            }
            // Seconds until the year 5138; anything larger is milliseconds.
            if n < 100_000_000_000 {
                chrono::DateTime::from_timestamp(n, 0)
            } else {
                chrono::DateTime::from_timestamp_millis(n)
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn summaries_are_readable() {
        let loc = Content::Location {
            latitude: 48.2,
            longitude: 16.37,
            address: Some("Ring 1".into()),
            title: Some("Office".into()),
        };
        assert_eq!(loc.summary(), "[location] Office, Ring 1 (48.2, 16.37)");
    }

    #[test]
    fn extreme_timestamps_do_not_panic() {
        assert!(parse_timestamp(&json!(i64::MIN)).is_none());
        assert!(parse_timestamp(&json!(i64::MAX)).is_none());
        assert_eq!(
            parse_timestamp(&json!(1_764_583_400)).unwrap().timestamp(),
            1_764_583_400
        );
    }
}

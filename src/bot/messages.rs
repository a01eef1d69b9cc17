//! The Botpress HITL message types the bot sends, parsed from `{type, payload}`.

use crate::error::ApiError;
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TextPayload {
    text: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MediaPayload {
    #[serde(
        alias = "imageUrl",
        alias = "fileUrl",
        alias = "audioUrl",
        alias = "videoUrl"
    )]
    url: String,
    title: Option<String>,
}

#[derive(Deserialize)]
struct LocationPayload {
    latitude: f64,
    longitude: f64,
    address: Option<String>,
    title: Option<String>,
}

/// The longest text accepted in one message; HubSpot's own limit is not published, and the
/// 1 MiB body limit already bounds it, so this only catches the absurd.
const MAX_TEXT_CHARS: usize = 65_536;

impl Content {
    /// Parses `{type, payload}`. A payload of the wrong shape is a 400; an unknown type or an
    /// unacceptable value is a 422.
    pub fn parse(kind: &str, payload: Value) -> Result<Content, ApiError> {
        fn shape<T: serde::de::DeserializeOwned>(
            kind: &str,
            payload: Value,
        ) -> Result<T, ApiError> {
            serde_json::from_value(payload)
                .map_err(|e| ApiError::bad_request(format!("payload of a `{kind}` message: {e}")))
        }
        let media_url =
            |kind: &str, payload: Value, field: &str| -> Result<MediaPayload, ApiError> {
                // Named as the bot sent it (`payload.imageUrl`), not as stored (`url`).
                let key = field.trim_start_matches("payload.");
                if !payload.get(key).is_some_and(Value::is_string) {
                    return Err(ApiError::bad_request(format!(
                        "{field} is required in a `{kind}` message (a string)"
                    )));
                }
                let p: MediaPayload = shape(kind, payload)?;
                super::validate::media_url(field, &p.url)?;
                check_len("payload.title", p.title.as_deref(), 500)?;
                Ok(p)
            };
        let content = match kind {
            "text" => {
                let p: TextPayload = shape(kind, payload)?;
                if p.text.trim().is_empty() {
                    return Err(ApiError::invalid(
                        "invalid-text",
                        "payload.text must not be empty",
                    ));
                }
                if p.text.chars().count() > MAX_TEXT_CHARS {
                    return Err(ApiError::invalid(
                        "invalid-text",
                        format!("payload.text is longer than {MAX_TEXT_CHARS} characters"),
                    ));
                }
                Content::Text { text: p.text }
            }
            "image" => Content::Image {
                url: media_url(kind, payload, "payload.imageUrl")?.url,
            },
            "file" => {
                let p = media_url(kind, payload, "payload.fileUrl")?;
                Content::File {
                    url: p.url,
                    title: p.title,
                }
            }
            "audio" => Content::Audio {
                url: media_url(kind, payload, "payload.audioUrl")?.url,
            },
            "video" => Content::Video {
                url: media_url(kind, payload, "payload.videoUrl")?.url,
            },
            "location" => {
                let p: LocationPayload = shape(kind, payload)?;
                check_len("payload.title", p.title.as_deref(), 500)?;
                check_len("payload.address", p.address.as_deref(), 1000)?;
                if !(-90.0..=90.0).contains(&p.latitude) || !(-180.0..=180.0).contains(&p.longitude)
                {
                    return Err(ApiError::invalid(
                        "invalid-location",
                        "latitude must be within ±90 and longitude within ±180",
                    ));
                }
                Content::Location {
                    latitude: p.latitude,
                    longitude: p.longitude,
                    address: p.address,
                    title: p.title,
                }
            }
            other => {
                return Err(ApiError::invalid(
                    "unknown-message-type",
                    format!(
                        "unknown message type `{other}`; expected text, image, file, audio, video or location"
                    ),
                ));
            }
        };
        Ok(content)
    }

    /// A one-line plain-text rendering, used in transcripts and as the text of non-text
    /// messages.
    pub fn summary(&self) -> String {
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

/// The lengths the OpenAPI document states.
fn check_len(field: &str, value: Option<&str>, max: usize) -> Result<(), ApiError> {
    match value {
        Some(v) if v.chars().count() > max => Err(ApiError::invalid(
            "too-long",
            format!("{field} is longer than {max} characters"),
        )),
        _ => Ok(()),
    }
}

/// Who said a line of the transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Speaker {
    User,
    Bot,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryLine {
    pub speaker: Speaker,
    pub content: Content,
    /// When it was said, if the bot told us.
    #[serde(default)]
    pub at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Content {
    /// The media a message points at, if it does.
    pub fn media(&self) -> Option<(crate::media::Kind, &str, Option<&str>)> {
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

/// A transcript timestamp: RFC 3339, or Unix time in seconds or milliseconds.
/// 9999-12-31T23:59:59.999Z in Unix milliseconds.
pub const MAX_TIMESTAMP_MS: i64 = 253_402_300_799_999;

pub fn parse_timestamp(value: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
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
    fn parses_every_type() {
        assert_eq!(
            Content::parse("text", json!({"text": "hi"})).unwrap(),
            Content::Text { text: "hi".into() }
        );
        assert!(matches!(
            Content::parse("image", json!({"imageUrl": "https://x.test/a.png"})).unwrap(),
            Content::Image { .. }
        ));
        assert!(matches!(
            Content::parse(
                "file",
                json!({"fileUrl": "http://x.test/a.pdf", "title": "A"})
            )
            .unwrap(),
            Content::File { title: Some(_), .. }
        ));
        assert!(matches!(
            Content::parse("location", json!({"latitude": 1.5, "longitude": -2})).unwrap(),
            Content::Location { .. }
        ));
    }

    #[test]
    fn refuses_bad_values_with_the_right_status() {
        let status = |k: &str, p: Value| Content::parse(k, p).unwrap_err().status.as_u16();
        assert_eq!(status("sticker", json!({})), 422);
        assert_eq!(status("text", json!({"text": 5})), 400);
        assert_eq!(status("text", json!({})), 400);
        assert_eq!(status("text", json!({"text": "  "})), 422);
        assert_eq!(
            status("image", json!({"imageUrl": "file:///etc/passwd"})),
            422
        );
        assert_eq!(
            status("location", json!({"latitude": 91, "longitude": 0})),
            422
        );
    }

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

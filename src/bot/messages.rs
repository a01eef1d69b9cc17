//! The Botpress HITL message types the bot sends, parsed from `{type, payload}`.

use crate::error::ApiError;
use crate::relay::Content;
use serde::Deserialize;
use serde_json::Value;

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
    pub(crate) fn parse(kind: &str, payload: Value) -> Result<Content, ApiError> {
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
}

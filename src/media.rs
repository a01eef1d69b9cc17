//! Downloads the media a bot message points at (images, files, audio, video), in the
//! background worker: http(s) only, a size cap, a timeout, and a content type that fits the
//! message. What cannot be fetched is described, so the agent can be told why. The
//! address checks are [`crate::net`]'s, under `media.block_private_networks`.

/// What kind of media the message said it carries; the content type must agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Image,
    Audio,
    Video,
    File,
}

impl Kind {
    /// HubSpot's `fileUsageType` for the attachment.
    pub(crate) fn usage(self) -> &'static str {
        match self {
            Kind::Image => "IMAGE",
            Kind::Audio => "AUDIO",
            Kind::Video | Kind::File => "OTHER",
        }
    }

    fn accepts(self, mime: &str) -> bool {
        let family = mime.split('/').next().unwrap_or_default();
        match self {
            Kind::Image => family == "image",
            Kind::Audio => family == "audio",
            Kind::Video => family == "video",
            // Anything the channel declares (see `provision::ALLOWED_MIME_TYPES`).
            Kind::File => matches!(family, "image" | "audio" | "video" | "application" | "text"),
        }
    }
}

pub(crate) struct Fetched {
    pub(crate) bytes: bytes::Bytes,
    pub(crate) mime: String,
    pub(crate) name: String,
}

/// Why a download did not give a usable file.
#[derive(Debug, PartialEq)]
pub(crate) enum FetchError {
    /// Worth another try (timeout, connection failure, 5xx, 429).
    Transient(String),
    /// Will never work (not http, 404, too large, wrong type, a blocked address).
    Refused(String),
}

pub(crate) struct Fetcher {
    http: crate::net::Outbound,
    pub(crate) max_bytes: u64,
}

impl Fetcher {
    pub(crate) fn new(config: &crate::config::Config, max_bytes: u64) -> Fetcher {
        Fetcher {
            http: crate::net::Outbound::new(
                config.media.address_policy(),
                config.media.timeout,
                &config.test_hosts,
            ),
            max_bytes,
        }
    }

    pub(crate) async fn fetch(&self, url: &str, kind: Kind) -> Result<Fetched, FetchError> {
        let parsed =
            url::Url::parse(url).map_err(|e| FetchError::Refused(format!("not a URL: {e}")))?;
        let mut response = self.http.get(&parsed).await.map_err(|e| match e {
            crate::net::FetchError::Blocked(b) if b.always => {
                FetchError::Refused(format!("{b}, which handoff never fetches from"))
            }
            crate::net::FetchError::Blocked(b) => FetchError::Refused(format!(
                "{b}, and media.block_private_networks refuses private addresses"
            )),
            crate::net::FetchError::Refused(why) => FetchError::Refused(why),
            crate::net::FetchError::Transport { timed_out } => {
                let what = if timed_out {
                    "timed out"
                } else {
                    "could not be reached"
                };
                FetchError::Transient(format!("the link {what}"))
            }
        })?;
        let status = response.status().as_u16();
        if !response.status().is_success() {
            let message = format!("the link answered HTTP {status}");
            return Err(if status == 429 || status >= 500 {
                FetchError::Transient(message)
            } else {
                FetchError::Refused(message)
            });
        }
        let too_large = || {
            FetchError::Refused(format!(
                "the file is larger than {} MB",
                self.max_bytes / (1024 * 1024)
            ))
        };
        if response
            .content_length()
            .is_some_and(|n| n > self.max_bytes)
        {
            return Err(too_large());
        }
        let mime = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(mime_essence)
            .filter(|m| !m.is_empty() && m != "application/octet-stream")
            .unwrap_or_else(|| guess_mime(parsed.path()).to_string());
        if !kind.accepts(&mime) {
            return Err(FetchError::Refused(format!(
                "its type `{mime}` is not allowed for this message"
            )));
        }
        // Read in chunks so a server that lies about (or omits) its length cannot make us
        // hold more than the cap.
        let mut body = bytes::BytesMut::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|_| FetchError::Transient("the download broke off".into()))?
        {
            if (body.len() + chunk.len()) as u64 > self.max_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            bytes: body.freeze(),
            name: file_name(&parsed, &mime),
            mime,
        })
    }
}

/// The last path segment, or a name made from the type.
fn file_name(url: &url::Url, mime: &str) -> String {
    let last = url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .chars()
                .filter(|c| !c.is_control() && !matches!(c, '/' | '\\'))
                .collect::<String>()
        });
    match last {
        Some(name) if !name.is_empty() => name,
        _ => format!("file.{}", mime.split('/').nth(1).unwrap_or("bin")),
    }
}

/// The type of a file by its extension, for the common kinds users and agents send.
/// A `Content-Type` without its parameters, lower-cased: `Image/PNG; q=1` → `image/png`.
pub(crate) fn mime_essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

pub(crate) fn mime_for_extension(ext: &str) -> Option<&'static str> {
    Some(match ext.to_ascii_lowercase().as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "csv" => "text/csv",
        "zip" => "application/zip",
        "mp3" => "audio/mpeg",
        "ogg" => "audio/ogg",
        "wav" => "audio/wav",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        _ => return None,
    })
}

/// The type of a file by its path's extension, for servers that do not say.
fn guess_mime(path: &str) -> &'static str {
    path.rsplit_once('.')
        .and_then(|(_, ext)| mime_for_extension(ext))
        .unwrap_or("application/octet-stream")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_accept_their_families() {
        assert!(Kind::Image.accepts("image/png"));
        assert!(!Kind::Image.accepts("text/html"));
        assert!(Kind::File.accepts("application/pdf"));
        assert!(!Kind::File.accepts("font/woff2"));
        assert!(Kind::Audio.accepts("audio/ogg") && !Kind::Audio.accepts("video/mp4"));
    }

    #[test]
    fn names_come_from_the_path() {
        let url = url::Url::parse("https://x.example/media/my%20photo.png?sig=1").unwrap();
        assert_eq!(file_name(&url, "image/png"), "my photo.png");
        let url = url::Url::parse("https://x.example/").unwrap();
        assert_eq!(file_name(&url, "image/png"), "file.png");
    }
}

//! Downloads the media a bot message points at (images, files, audio, video), in the
//! background worker: http(s) only, a size cap, a timeout, and a content type that fits the
//! message. What cannot be fetched is described, so the agent can be told why.

use std::net::IpAddr;
use std::time::Duration;

/// What kind of media the message said it carries; the content type must agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Image,
    Audio,
    Video,
    File,
}

impl Kind {
    /// HubSpot's `fileUsageType` for the attachment.
    pub fn usage(self) -> &'static str {
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

pub struct Fetched {
    pub bytes: bytes::Bytes,
    pub mime: String,
    pub name: String,
}

/// Why a download did not give a usable file.
#[derive(Debug, PartialEq)]
pub enum FetchError {
    /// Worth another try (timeout, connection failure, 5xx, 429).
    Transient(String),
    /// Will never work (not http, 404, too large, wrong type, a blocked address).
    Refused(String),
}

pub struct Fetcher {
    http: reqwest::Client,
    pub max_bytes: u64,
    block_private: bool,
}

impl Fetcher {
    pub fn new(timeout: Duration, max_bytes: u64, block_private: bool) -> Fetcher {
        Fetcher {
            http: crate::hubspot::http_client(timeout),
            max_bytes,
            block_private,
        }
    }

    pub async fn fetch(&self, url: &str, kind: Kind) -> Result<Fetched, FetchError> {
        let parsed =
            url::Url::parse(url).map_err(|e| FetchError::Refused(format!("not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(FetchError::Refused(
                "only http and https links are fetched".into(),
            ));
        }
        if self.block_private {
            self.check_address(&parsed).await?;
        }
        let mut response = self.http.get(url).send().await.map_err(|e| {
            let what = if e.is_timeout() {
                "timed out"
            } else {
                "could not be reached"
            };
            FetchError::Transient(format!("the link {what}"))
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
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_lowercase()
            })
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

    /// With `media.block_private_networks`, loopback and private addresses are refused.
    async fn check_address(&self, url: &url::Url) -> Result<(), FetchError> {
        let host = url.host_str().unwrap_or_default();
        let port = url.port_or_known_default().unwrap_or(80);
        let addresses = tokio::net::lookup_host((host.trim_matches(['[', ']']), port))
            .await
            .map_err(|_| FetchError::Transient(format!("`{host}` cannot be resolved")))?;
        for address in addresses {
            if is_private(address.ip()) {
                return Err(FetchError::Refused(format!(
                    "`{host}` is a private address, and media.block_private_networks is on"
                )));
            }
        }
        Ok(())
    }
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_private(IpAddr::V4(v4)))
        }
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
pub fn mime_for_extension(ext: &str) -> Option<&'static str> {
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
    fn private_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.5",
            "172.16.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "2001:4860::8888", "100.128.0.1"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn names_come_from_the_path() {
        let url = url::Url::parse("https://x.example/media/my%20photo.png?sig=1").unwrap();
        assert_eq!(file_name(&url, "image/png"), "my photo.png");
        let url = url::Url::parse("https://x.example/").unwrap();
        assert_eq!(file_name(&url, "image/png"), "file.png");
    }
}

//! Links the bot can download agents' files from without HubSpot credentials:
//! `GET /files/{fileId}/{name}?expires=…&signature=…` (an HMAC by a key only handoff
//! knows). A request checks the link, asks HubSpot for a fresh signed URL and streams the
//! bytes through, so the link works for as long as handoff keeps the event (7 days), however
//! short HubSpot's own signed URLs are. Inline images in an agent's rich text get the same
//! kind of link (`/files/inline?src=…`), streamed from their source.
//!
//! These answers come from handoff's origin, which is also the admin's: nothing served
//! here may run there (raster images inline, everything else a download, `nosniff` and a
//! sandboxing CSP on every answer). The sources are outside input, so they are fetched
//! through [`crate::net`]'s checked resolver; HubSpot's signed URLs are remembered
//! ([`super::signed_urls`]) and asked for within a small share of the rate limit.

use super::signed_urls::SignedUrls;
use crate::error::ApiError;
use crate::hubspot::HubSpotError;
use crate::hubspot::api::SIGNED_URL_LIFETIME;
use crate::hubspot::client::Budget;
use crate::net::{FetchError, Outbound, Policy};
use crate::secret::constant_time_eq;
use crate::settings::Settings;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, middleware, web};
use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;

/// How long a link given to the bot works: as long as the event that carries it is kept.
const LINK_LIFETIME: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// One fetch through a link may take this long, body included.
const FETCH_TIMEOUT: Duration = Duration::from_secs(60);

/// The most an inline image may weigh, and an agent's file (HubSpot's own upload limit is
/// far above what a chat attachment needs; the cap keeps one link from tying up handoff).
const INLINE_MAX_BYTES: u64 = 20 * 1024 * 1024;
const FILE_MAX_BYTES: u64 = 100 * 1024 * 1024;

/// The only types served inline: raster images cannot carry script. Anything else (SVG,
/// HTML, …) would run on handoff's origin, the admin's, so it is sent as a download.
const INLINE_TYPES: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp"];

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/files")
            // On every answer, errors included: the browser must never sniff a type or run
            // what comes through here, whatever the source sent.
            .wrap(
                middleware::DefaultHeaders::new()
                    .add(("x-content-type-options", "nosniff"))
                    .add(("content-security-policy", "default-src 'none'; sandbox")),
            )
            .route("/inline", web::get().to(inline))
            .route("/{file_id}/{name}", web::get().to(file)),
    );
}

/// What `/files/*` uses: the links it signed, and HubSpot to resolve a file id.
pub(crate) struct FileProxy {
    pub(crate) links: Arc<FileLinks>,
    pub(crate) hubspot: Arc<super::HubSpot>,
}

pub struct FileLinks {
    key: Vec<u8>,
    settings: Arc<Settings>,
    /// Fetches inline images. Their sources are whatever HubSpot content holds, never the
    /// bot's LAN, so only public addresses are allowed, whatever the media switch says.
    inline_http: Outbound,
    /// Fetches HubSpot's signed file URLs (no credentials are sent), under the media policy.
    file_http: Outbound,
    signed_urls: SignedUrls,
}

impl FileLinks {
    pub fn new(key: Vec<u8>, settings: Arc<Settings>) -> FileLinks {
        let config = settings.config();
        FileLinks {
            key,
            inline_http: Outbound::new(Policy::PublicOnly, FETCH_TIMEOUT, &config.test_hosts),
            file_http: Outbound::new(
                config.media.address_policy(),
                FETCH_TIMEOUT,
                &config.test_hosts,
            ),
            settings,
            signed_urls: SignedUrls::default(),
        }
    }

    fn sign(&self, what: &str, expires: i64) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(what.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn expiry() -> i64 {
        (chrono::Utc::now() + LINK_LIFETIME).timestamp()
    }

    /// The link to a HubSpot file.
    pub fn file(&self, file_id: &str, name: &str) -> String {
        let expires = Self::expiry();
        let name: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
        format!(
            "{}/files/{file_id}/{name}?expires={expires}&signature={}",
            self.settings.public_base(),
            self.sign(&format!("file:{file_id}"), expires)
        )
    }

    /// The link to an inline image's source.
    pub fn inline(&self, src: &str) -> String {
        let expires = Self::expiry();
        let encoded: String = url::form_urlencoded::byte_serialize(src.as_bytes()).collect();
        format!(
            "{}/files/inline?src={encoded}&expires={expires}&signature={}",
            self.settings.public_base(),
            self.sign(&format!("inline:{src}"), expires)
        )
    }

    fn check(&self, what: &str, expires: i64, signature: &str) -> Result<(), ApiError> {
        if !constant_time_eq(&self.sign(what, expires), signature) {
            return Err(ApiError::forbidden(
                "bad-signature",
                "this link is not valid",
            ));
        }
        if chrono::Utc::now().timestamp() > expires {
            return Err(ApiError::forbidden("link-expired", "this link has expired"));
        }
        Ok(())
    }

    /// Streams `url` to the client: its length, its type when `as_file` names a download
    /// or the type is a raster image, else a download of unknown type.
    async fn stream(
        &self,
        http: &Outbound,
        url: &str,
        as_file: Option<&str>,
        max_bytes: u64,
    ) -> Result<HttpResponse, ApiError> {
        let unavailable = |why: String| ApiError::upstream("file-unavailable", why);
        let url = url::Url::parse(url)
            .map_err(|_| unavailable("the file's source is not a valid URL".into()))?;
        let upstream = http.get(&url).await.map_err(|e| match e {
            FetchError::Blocked(b) => ApiError::forbidden(
                "address-refused",
                format!("{b}; handoff does not fetch from there"),
            ),
            FetchError::Refused(why) => ApiError::forbidden("address-refused", why),
            FetchError::Transport { .. } => {
                unavailable("the file's source cannot be reached; try again".into())
            }
        })?;
        if !upstream.status().is_success() {
            let status = upstream.status().as_u16();
            return Err(if status == 404 || status == 410 {
                ApiError::not_found("file")
            } else {
                unavailable(format!("the file's source answered {status}"))
            });
        }
        if upstream.content_length().is_some_and(|n| n > max_bytes) {
            return Err(ApiError::upstream(
                "file-too-large",
                format!("the file is larger than {} MB", max_bytes / (1024 * 1024)),
            ));
        }
        let mime = upstream
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let essence = crate::media::mime_essence(&mime);
        let mut response = HttpResponse::build(StatusCode::OK);
        if let Some(length) = upstream.headers().get(reqwest::header::CONTENT_LENGTH) {
            response.insert_header(("content-length", length.as_bytes()));
        }
        match as_file {
            Some(name) => {
                if !mime.is_empty() {
                    response.insert_header(("content-type", mime.as_str()));
                }
                response.insert_header(("content-disposition", attachment(name)));
            }
            None if INLINE_TYPES.contains(&essence.as_str()) => {
                response.insert_header(("content-type", essence.as_str()));
                response.insert_header(("content-disposition", "inline"));
            }
            None => {
                response.insert_header(("content-type", "application/octet-stream"));
                response.insert_header(("content-disposition", "attachment"));
            }
        }
        response.insert_header(("cache-control", "private, max-age=300"));
        // The length header can lie or be missing: count what is passed on.
        let mut sent = 0u64;
        let body = upstream.bytes_stream().map(move |chunk| {
            let chunk = chunk.map_err(actix_web::error::ErrorBadGateway)?;
            sent += chunk.len() as u64;
            if sent > max_bytes {
                return Err(actix_web::error::ErrorBadGateway("the file is too large"));
            }
            Ok(chunk)
        });
        Ok(response.streaming(body))
    }
}

/// `attachment; filename="…"` with the characters a quoted header value cannot hold replaced.
fn attachment(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("attachment; filename=\"{safe}\"")
}

#[derive(Deserialize)]
struct Signed {
    expires: i64,
    signature: String,
}

#[derive(Deserialize)]
struct InlineQuery {
    src: String,
    expires: i64,
    signature: String,
}

async fn file(
    state: web::Data<FileProxy>,
    path: web::Path<(String, String)>,
    query: web::Query<Signed>,
) -> Result<HttpResponse, ApiError> {
    let (file_id, name) = path.into_inner();
    let links = &state.links;
    links.check(&format!("file:{file_id}"), query.expires, &query.signature)?;
    let url = match links.signed_urls.get(&file_id) {
        Some(url) => url,
        None => {
            // Downloads use their own small share of HubSpot's rate limit, never the
            // budget message delivery waits for.
            let signed = state
                .hubspot
                .signed_file_url_with(&file_id, Budget::OutsideShare)
                .await
                .map_err(|e| match e {
                    HubSpotError::RateLimited { retry_after } => ApiError::retry_after(
                        retry_after,
                        "too many file downloads right now; try again later",
                    ),
                    e if e.is_permanent() => ApiError::not_found("file"),
                    e => ApiError::upstream(
                        "hubspot-unavailable",
                        format!("HubSpot cannot be asked right now: {e}"),
                    ),
                })?;
            let valid_for = signed
                .expires_at
                .and_then(|at| (at - chrono::Utc::now()).to_std().ok())
                .unwrap_or(SIGNED_URL_LIFETIME)
                .min(SIGNED_URL_LIFETIME);
            links.signed_urls.put(&file_id, &signed.url, valid_for);
            signed.url
        }
    };
    let streamed = links
        .stream(&links.file_http, &url, Some(&name), FILE_MAX_BYTES)
        .await;
    if streamed.is_err() {
        links.signed_urls.forget(&file_id);
    }
    streamed
}

async fn inline(
    state: web::Data<FileProxy>,
    query: web::Query<InlineQuery>,
) -> Result<HttpResponse, ApiError> {
    let links = &state.links;
    links.check(
        &format!("inline:{}", query.src),
        query.expires,
        &query.signature,
    )?;
    links
        .stream(&links.inline_http, &query.src, None, INLINE_MAX_BYTES)
        .await
}

/// Rewrites every `<img src="…">` in an agent's rich text to a link the bot can fetch.
pub fn rewrite_inline_images(rich_text: &str, links: &FileLinks) -> String {
    let mut out = String::with_capacity(rich_text.len());
    let mut copied = 0;
    for at in ImgSrcs::new(rich_text) {
        out.push_str(&rich_text[copied..at.start]);
        let src = &rich_text[at.clone()];
        let decoded = src.replace("&amp;", "&");
        if decoded.starts_with("http://") || decoded.starts_with("https://") {
            out.push_str(&crate::hubspot::compose::escape_html(
                &links.inline(&decoded),
            ));
        } else {
            out.push_str(src);
        }
        copied = at.end;
    }
    out.push_str(&rich_text[copied..]);
    out
}

/// How many bytes rewriting `rich_text` examines (for tests and the benchmark).
pub fn inline_scan_cost(rich_text: &str) -> usize {
    let mut srcs = ImgSrcs::new(rich_text);
    for _ in &mut srcs {}
    srcs.examined
}

/// The byte ranges of the quoted `src` values of `<img …>` tags, in one pass over the text:
/// each tag is looked at a bounded number of times and the search goes on after it, so the
/// work is linear in the text, however many images it holds. (Lowercasing the rest of the
/// text for every image made it quadratic.)
struct ImgSrcs<'a> {
    html: &'a str,
    at: usize,
    /// Bytes looked at so far.
    examined: usize,
}

impl<'a> ImgSrcs<'a> {
    fn new(html: &'a str) -> Self {
        ImgSrcs {
            html,
            at: 0,
            examined: 0,
        }
    }

    /// The first ASCII-case-insensitive `needle` in `from..to`.
    fn find(&mut self, needle: &[u8], from: usize, to: usize) -> Option<usize> {
        let hay = &self.html.as_bytes()[from..to];
        let found = hay
            .windows(needle.len())
            .position(|w| w.eq_ignore_ascii_case(needle));
        self.examined += found.map_or(hay.len(), |i| i + needle.len());
        found.map(|i| i + from)
    }
}

impl Iterator for ImgSrcs<'_> {
    type Item = std::ops::Range<usize>;

    fn next(&mut self) -> Option<Self::Item> {
        let len = self.html.len();
        while let Some(tag) = self.find(b"<img", self.at, len) {
            let end = self.find(b">", tag, len).unwrap_or(len);
            self.at = end;
            if let Some(attr) = self.find(b"src=", tag, end).map(|i| i + 4) {
                let quote = self.html.as_bytes().get(attr).copied();
                if let Some(q @ (b'"' | b'\'')) = quote
                    && let Some(close) = self.find(&[q], attr + 1, end)
                {
                    return Some(attr + 1..close);
                }
            }
        }
        self.at = len;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links() -> (tempfile::TempDir, FileLinks) {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path(), 8).unwrap();
        let config = crate::config::Config {
            public_url: Some("https://h.example.com".into()),
            ..Default::default()
        };
        let settings = Arc::new(Settings::load(Arc::new(config), Arc::new(store)).unwrap());
        (dir, FileLinks::new(vec![7; 32], settings))
    }

    #[test]
    fn links_verify_only_unchanged_and_unexpired() {
        let (_dir, links) = links();
        let expires = chrono::Utc::now().timestamp() + 60;
        let sig = links.sign("file:1", expires);
        assert!(links.check("file:1", expires, &sig).is_ok());
        assert!(
            links.check("file:2", expires, &sig).is_err(),
            "another file"
        );
        assert!(
            links.check("file:1", expires + 1, &sig).is_err(),
            "another expiry"
        );
        let past = chrono::Utc::now().timestamp() - 1;
        let old = links.sign("file:1", past);
        assert_eq!(
            links.check("file:1", past, &old).unwrap_err().code,
            "link-expired"
        );
        assert!(
            links
                .file("1", "a b.png")
                .starts_with("https://h.example.com/files/1/a+b.png?expires=")
        );
    }

    #[test]
    fn inline_images_are_rewritten_and_the_rest_kept() {
        let (_dir, links) = links();
        let html = r#"<p>Look</p><img alt="x" src="https://cdn.example/a.png?x=1&amp;y=2"><IMG SRC='data:image/png;base64,AA'> end"#;
        let out = rewrite_inline_images(html, &links);
        assert!(out.starts_with(r#"<p>Look</p><img alt="x" src="https://h.example.com/files/inline?src=https%3A%2F%2Fcdn.example%2Fa.png%3Fx%3D1%26y%3D2&amp;expires="#), "{out}");
        assert!(
            out.ends_with(r#"<IMG SRC='data:image/png;base64,AA'> end"#),
            "{out}"
        );
    }

    fn many_images(n: usize) -> String {
        (0..n)
            .map(|i| {
                format!("<p>line {i:05}</p><img alt=\"x\" src=\"https://cdn.example/{i:05}.png\">")
            })
            .collect()
    }

    #[test]
    fn rewriting_is_linear_in_the_number_of_images() {
        let one = inline_scan_cost(&many_images(1000));
        let two = inline_scan_cost(&many_images(2000));
        let four = inline_scan_cost(&many_images(4000));
        eprintln!("bytes examined: 1000 images {one}, 2000 {two}, 4000 {four}");
        assert!(two <= 2 * one + 64, "1000 images: {one} bytes, 2000: {two}");
        assert!(
            four <= 2 * two + 64,
            "2000 images: {two} bytes, 4000: {four}"
        );
    }
}

//! Files API (§8): file metadata and signed URLs for files the test seeded
//! with `add_file` (what an agent attached to a reply).
//!
//! Files are PRIVATE: their `url` answers 404, only a signed URL serves the
//! bytes. Signed URLs point at the fake itself (`/_signed/{fileId}`), need no
//! credentials and answer 403 once expired or when tampered with.

use actix_web::web::{Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::FakeHubSpot;
use super::errors::ApiError;
use super::guard::{Auth, check_scoped, scopes};
use super::sender::hex;
use super::state::Shared;
use super::util::{iso, json_response, path_param, query};

pub(super) struct FileRec {
    pub id: String,
    /// The full file name, extension included (`photo.png`).
    pub name: String,
    pub mime: String,
    pub bytes: Bytes,
    pub created_at: String,
    /// `folderPath` of an upload (None for files the test seeded).
    pub folder: Option<String>,
}

impl FileRec {
    /// `(name without extension, extension)`, the way the Files API splits them.
    fn stem_ext(&self) -> (&str, &str) {
        match self.name.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() => (stem, ext),
            _ => (&self.name, ""),
        }
    }

    /// The Files API `type` (§8.1).
    fn kind(&self) -> &'static str {
        let m = self.mime.as_str();
        if m.starts_with("image/") {
            "IMG"
        } else if m.starts_with("video/") {
            "MOVIE"
        } else if m.starts_with("audio/") {
            "AUDIO"
        } else if m.starts_with("text/")
            || m == "application/pdf"
            || m.contains("document")
            || m.contains("msword")
            || m.contains("spreadsheet")
            || m.contains("presentation")
        {
            "DOCUMENT"
        } else {
            "OTHER"
        }
    }

    /// `fileUsageType` of a message attachment.
    pub fn usage_type(&self) -> &'static str {
        if self.mime.starts_with("image/") {
            "IMAGE"
        } else {
            "OTHER"
        }
    }
}

fn file_json(f: &FileRec, base_url: &str) -> Value {
    let (stem, ext) = f.stem_ext();
    let hosted = format!(
        "{base_url}/hubfs/{}/conversations/{}/{}",
        FakeHubSpot::PORTAL_ID,
        f.id,
        url::form_urlencoded::byte_serialize(f.name.as_bytes()).collect::<String>()
    );
    json!({
        "id": f.id,
        "createdAt": f.created_at,
        "updatedAt": f.created_at,
        "archived": false,
        "parentFolderId": "122692510820",
        "name": stem,
        "path": format!("/conversations/{}", f.name),
        "size": f.bytes.len(),
        "type": f.kind(),
        "extension": ext,
        "encoding": ext,
        "defaultHostingUrl": hosted,
        "url": hosted,
        "isUsableInContent": false,
        "access": "PRIVATE",
    })
}

fn signature(sh: &Shared, id: &str, expires: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&sh.file_key).expect("any key length");
    mac.update(format!("{id}.{expires}").as_bytes());
    hex(&mac.finalize().into_bytes())
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("File {id} not found"))
}

/// `GET /files/v3/files/{fileId}`.
pub(super) async fn get_file(req: HttpRequest, sh: Data<Shared>) -> Result<HttpResponse, ApiError> {
    check_scoped(&sh, &req, Auth::Bearer, scopes::FILES)?;
    let id = path_param(&req, "fileId");
    let st = sh.state.lock();
    let f = st.file(&id).ok_or_else(|| not_found(&id))?;
    Ok(json_response(200, &file_json(f, &sh.base_url)))
}

/// `GET /files/v3/files/{fileId}/signed-url?expirationSeconds=` →
/// `{url, expiresAt, name, extension, type, size}`.
pub(super) async fn signed_url(
    req: HttpRequest,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    check_scoped(&sh, &req, Auth::Bearer, scopes::FILES)?;
    let id = path_param(&req, "fileId");
    let seconds = match query(&req).get("expirationSeconds") {
        None => 3600,
        Some(s) => s.parse::<i64>().ok().filter(|s| *s >= 1).ok_or_else(|| {
            ApiError::validation("expirationSeconds must be a positive whole number")
        })?,
    };
    let st = sh.state.lock();
    let f = st.file(&id).ok_or_else(|| not_found(&id))?;
    let expires_at = chrono::Utc::now() + chrono::Duration::seconds(seconds);
    let expires = expires_at.timestamp();
    let url = format!(
        "{}/_signed/{id}?expires={expires}&signature={}",
        sh.base_url,
        signature(&sh, &id, expires)
    );
    let (stem, ext) = f.stem_ext();
    Ok(json_response(
        200,
        &json!({
            "url": url,
            "expiresAt": iso(expires_at),
            "name": stem,
            "extension": ext,
            "type": f.kind(),
            "size": f.bytes.len(),
        }),
    ))
}

/// `GET /_signed/{fileId}?expires=&signature=`: the bytes, no credentials.
pub(super) async fn download(req: HttpRequest, sh: Data<Shared>) -> HttpResponse {
    let id = path_param(&req, "fileId");
    let q = query(&req);
    let expires = q.get("expires").and_then(|e| e.parse::<i64>().ok());
    let given = q.get("signature").map(String::as_str).unwrap_or_default();
    let valid = expires.is_some_and(|e| {
        let expected = signature(&sh, &id, e);
        subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), given.as_bytes()).into()
            && chrono::Utc::now().timestamp() <= e
    });
    if !valid {
        return HttpResponse::Forbidden()
            .content_type("text/plain")
            .body("Request has expired or the signature does not match");
    }
    let st = sh.state.lock();
    match st.file(&id) {
        Some(f) => HttpResponse::Ok()
            .content_type(f.mime.as_str())
            .body(f.bytes.clone()),
        None => HttpResponse::NotFound()
            .content_type("text/plain")
            .body("Not Found"),
    }
}

/// `POST /files/v3/files` (§8.1): multipart `file`, `options` (a JSON string with `access`),
/// exactly one of `folderId` / `folderPath`, and an optional `fileName`.
pub(super) async fn upload(
    req: HttpRequest,
    sh: Data<Shared>,
    mut form: actix_multipart::Multipart,
) -> Result<HttpResponse, ApiError> {
    use futures_util::StreamExt;
    check_scoped(&sh, &req, Auth::Bearer, scopes::FILES)?;
    let delay = sh.state.lock().faults.upload_delay;
    tokio::time::sleep(delay).await;
    let mut file: Option<(Option<String>, String, Vec<u8>)> = None;
    let mut fields = std::collections::HashMap::new();
    while let Some(part) = form.next().await {
        let mut part =
            part.map_err(|e| ApiError::validation(format!("bad multipart body: {e}")))?;
        let name = part.name().unwrap_or_default().to_string();
        let file_name = part
            .content_disposition()
            .and_then(|cd| cd.get_filename().map(str::to_string));
        let mime = part
            .content_type()
            .map(|m| m.to_string())
            .unwrap_or_else(|| "application/octet-stream".into());
        let mut bytes = Vec::new();
        while let Some(chunk) = part.next().await {
            bytes.extend_from_slice(&chunk.map_err(|e| ApiError::validation(e.to_string()))?);
        }
        if name == "file" {
            file = Some((file_name, mime, bytes));
        } else {
            fields.insert(name, String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    let (part_name, mime, bytes) =
        file.ok_or_else(|| ApiError::validation("the `file` part is required"))?;
    let options: Value = fields
        .get("options")
        .and_then(|o| serde_json::from_str(o).ok())
        .ok_or_else(|| ApiError::validation("`options` must be a JSON string"))?;
    let access = options["access"].as_str().unwrap_or_default();
    if !matches!(
        access,
        "PUBLIC_INDEXABLE" | "PUBLIC_NOT_INDEXABLE" | "PRIVATE"
    ) {
        return Err(ApiError::validation("options.access is required"));
    }
    let folder = match (fields.get("folderId"), fields.get("folderPath")) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(ApiError::validation(
                "exactly one of folderId and folderPath is required",
            ));
        }
        (Some(id), None) => format!("/folder-{id}"),
        (None, Some(path)) => path.clone(),
    };
    let name = fields
        .get("fileName")
        .cloned()
        .or(part_name)
        .unwrap_or_else(|| "file".into());
    let mut st = sh.state.lock();
    let id = st.ids.file();
    let rec = FileRec {
        id,
        name,
        mime,
        bytes: Bytes::from(bytes),
        created_at: super::util::now_iso(),
        folder: Some(folder),
    };
    let body = file_json(&rec, &sh.base_url);
    st.files.push(rec);
    Ok(json_response(201, &body))
}

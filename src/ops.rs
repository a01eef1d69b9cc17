//! Operational endpoints: `/healthz` (process and store) and `/readyz` (HubSpot connected
//! and the channel provisioned, or why not).

use crate::app::AppState;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use serde_json::json;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/admin/backup", web::get().to(backup));
}

/// A backup is for the machine's own operator (`handoff backup`), never for the network:
/// only a loopback peer may ask. The TCP peer decides; `X-Forwarded-For` is not believed,
/// because a proxy on this machine would make every remote client look local.
pub fn loopback_only(peer: Option<std::net::SocketAddr>) -> Result<(), ApiError> {
    match peer {
        Some(peer) if peer.ip().to_canonical().is_loopback() => Ok(()),
        _ => Err(ApiError::forbidden(
            "backup-loopback-only",
            "backups are only served to this machine (loopback); run `handoff backup` here",
        )),
    }
}

/// A consistent copy of the store, for `handoff backup` (bearer: `{data_dir}/admin.token`).
/// Streamed from a spool file in 64 KiB chunks, with its length, so a broken-off transfer
/// is noticed.
async fn backup(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
) -> Result<HttpResponse, ApiError> {
    loopback_only(req.peer_addr())?;
    let presented = crate::bot::api::bearer_token(&req).unwrap_or_default();
    if !crate::secret::constant_time_eq(state.backup_token.expose(), presented) {
        return Err(ApiError::unauthorized(
            "a backup needs the token in the data directory's admin.token",
        ));
    }
    let store = state.store.clone();
    let dir = state.config.data_dir.clone();
    let spooled = web::block(move || store.spool(&dir)).await.map_err(|_| {
        ApiError::new(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            "backup-failed",
            "the backup thread failed",
        )
    })??;
    tracing::info!(
        bytes = spooled.bytes,
        pause_ms = spooled.pause.as_millis() as u64,
        "backup taken"
    );
    let file = tokio::fs::File::from_std(spooled.file);
    let chunks = futures_util::stream::unfold(Some(file), |file| async move {
        use tokio::io::AsyncReadExt;
        let mut file = file?;
        let mut chunk = vec![0u8; 64 * 1024];
        match file.read(&mut chunk).await {
            Ok(0) => None,
            Ok(n) => {
                chunk.truncate(n);
                Some((Ok(web::Bytes::from(chunk)), Some(file)))
            }
            Err(e) => {
                tracing::error!(error = %e, "the backup spool cannot be read");
                Some((Err(e), None))
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .no_chunking(spooled.bytes)
        .streaming(chunks))
}

async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    match state.store.check() {
        Ok(()) => HttpResponse::Ok().json(json!({"ok": true})),
        Err(e) => {
            tracing::error!(error = %e, "health check: store unavailable");
            HttpResponse::ServiceUnavailable()
                .json(json!({"ok": false, "reason": "store-unavailable"}))
        }
    }
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let reasons = state.readiness.reasons();
    if reasons.is_empty() {
        return HttpResponse::Ok().json(json!({"ready": true}));
    }
    let codes: Vec<&str> = reasons.iter().map(|(c, _)| *c).collect();
    let details: Vec<_> = reasons
        .iter()
        .map(|(c, m)| json!({"code": c, "message": m}))
        .collect();
    HttpResponse::ServiceUnavailable()
        .json(json!({"ready": false, "reasons": codes, "details": details}))
}

pub async fn not_found(req: actix_web::HttpRequest) -> Result<HttpResponse, ApiError> {
    actix_web::HttpMessage::extensions_mut(&req).insert(crate::metrics::Unmatched);
    Err(ApiError::not_found("route"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backups_are_for_loopback_peers_only() {
        for peer in [
            "127.0.0.1:5000",
            "127.0.0.2:5000",
            "[::1]:5000",
            "[::ffff:127.0.0.1]:5000",
        ] {
            assert!(loopback_only(Some(peer.parse().unwrap())).is_ok(), "{peer}");
        }
        for peer in ["192.0.2.2:5000", "10.0.0.1:5000", "[2001:db8::1]:5000"] {
            let refused = loopback_only(Some(peer.parse().unwrap())).unwrap_err();
            assert_eq!(refused.status.as_u16(), 403, "{peer}");
        }
        assert!(loopback_only(None).is_err(), "an unknown peer is not local");
    }
}

//! Operational endpoints: `/healthz` (process and store) and `/readyz` (HubSpot connected
//! and the channel provisioned, or why not).

use crate::error::ApiError;
use crate::hubspot::HubSpot;
use crate::hubspot::readiness::Readiness;
use crate::outbox::QueueView;
use crate::secret::Secret;
use crate::store::Store;
use actix_web::{HttpResponse, web};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;

/// What the operational endpoints read.
pub(crate) struct Ops {
    pub(crate) store: Store,
    pub(crate) readiness: Arc<Readiness>,
    /// For the rate-limit headroom in `/metrics`.
    pub(crate) hubspot: Arc<HubSpot>,
    pub(crate) queues: Vec<Arc<dyn QueueView>>,
    pub(crate) metrics_token: Option<Secret>,
    /// For `handoff backup`: written to `{data_dir}/admin.token` (0600) at every start, so
    /// only who can read the data directory can ask for a backup.
    pub(crate) backup_token: Secret,
    pub(crate) data_dir: PathBuf,
}

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/admin/backup", web::get().to(backup))
        .route("/metrics", web::get().to(metrics));
}

/// A backup is for the machine's own operator (`handoff backup`), never for the network:
/// only a loopback peer may ask. The TCP peer decides; `X-Forwarded-For` is not believed,
/// because a proxy on this machine would make every remote client look local.
pub(crate) fn loopback_only(peer: Option<std::net::SocketAddr>) -> Result<(), ApiError> {
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
    state: web::Data<Ops>,
    req: actix_web::HttpRequest,
) -> Result<HttpResponse, ApiError> {
    loopback_only(req.peer_addr())?;
    let presented = crate::secret::bearer_token(&req).unwrap_or_default();
    if !crate::secret::constant_time_eq(state.backup_token.expose(), presented) {
        return Err(ApiError::unauthorized(
            "a backup needs the token in the data directory's admin.token",
        ));
    }
    let store = state.store.clone();
    let dir = state.data_dir.clone();
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

async fn healthz(state: web::Data<Ops>) -> HttpResponse {
    match state.store.check() {
        Ok(()) => HttpResponse::Ok().json(json!({"ok": true})),
        Err(e) => {
            tracing::error!(error = %e, "health check: store unavailable");
            HttpResponse::ServiceUnavailable()
                .json(json!({"ok": false, "reason": "store-unavailable"}))
        }
    }
}

async fn readyz(state: web::Data<Ops>) -> HttpResponse {
    let reasons = state.readiness.reasons();
    let detail = |(c, m): &(&str, String)| json!({"code": c, "message": m});
    // Warnings never make handoff unready; they are listed either way.
    let warnings: Vec<_> = state.readiness.warnings().iter().map(detail).collect();
    if reasons.is_empty() {
        let mut body = json!({"ready": true});
        if !warnings.is_empty() {
            body["warnings"] = json!(warnings);
        }
        return HttpResponse::Ok().json(body);
    }
    let codes: Vec<&str> = reasons.iter().map(|(c, _)| *c).collect();
    let details: Vec<_> = reasons.iter().map(detail).collect();
    HttpResponse::ServiceUnavailable()
        .json(json!({"ready": false, "reasons": codes, "details": details, "warnings": warnings}))
}

/// `GET /metrics`; with `metrics.token` set, only for `Authorization: Bearer <token>`.
async fn metrics(
    req: actix_web::HttpRequest,
    state: web::Data<Ops>,
) -> Result<HttpResponse, ApiError> {
    if let Some(token) = &state.metrics_token {
        let given = crate::secret::bearer_token(&req).unwrap_or_default();
        if !crate::secret::constant_time_eq(token.expose(), given) {
            return Err(ApiError::unauthorized(
                "metrics.token is set: send `Authorization: Bearer <token>`",
            ));
        }
    }
    let queues = state
        .queues
        .iter()
        .map(|o| crate::metrics::QueueGauge {
            name: o.queue().name(),
            depth: o.depth(),
            in_flight: o.in_flight(),
        })
        .collect();
    let gauges = crate::metrics::Gauges {
        queues,
        dead_letters: state.store.dead_letter_count(),
        ratelimit_headroom: state.hubspot.ratelimit_headroom(),
        ready: state.readiness.is_ready(),
    };
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(crate::metrics::render(&gauges)))
}

pub(crate) async fn not_found(req: actix_web::HttpRequest) -> Result<HttpResponse, ApiError> {
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

//! Operational endpoints: `/healthz` (process and store) and `/readyz` (HubSpot connected
//! and the channel provisioned, or why not).

use crate::app::AppState;
use crate::error::ApiError;
use crate::hubspot::oauth::AuthProblem;
use crate::hubspot::provision::ProvisionStatus;
use actix_web::{HttpResponse, web};
use serde_json::json;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/admin/backup", web::get().to(backup));
}

/// A consistent copy of the store, for `handoff backup` (bearer: `{data_dir}/admin.token`).
async fn backup(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let presented = crate::bot::api::bearer_token(&req).unwrap_or_default();
    if !crate::secret::constant_time_eq(state.backup_token.expose(), presented) {
        return Err(ApiError::unauthorized(
            "a backup needs the token in the data directory's admin.token",
        ));
    }
    let store = state.store.clone();
    let snapshot = web::block(move || store.snapshot()).await.map_err(|_| {
        ApiError::new(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            "backup-failed",
            "the backup thread failed",
        )
    })??;
    tracing::info!(bytes = snapshot.len(), "backup taken");
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .body(snapshot))
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

/// Why handoff cannot do its job right now; empty when it can.
pub fn not_ready_reasons(state: &AppState) -> Vec<(&'static str, String)> {
    let mut reasons = Vec::new();
    if state.store.check().is_err() {
        reasons.push(("store-unavailable", "the store cannot be read".to_string()));
    }
    match state.hubspot.tokens.problem() {
        Some(AuthProblem::NotConfigured) => reasons.push((
            "hubspot-not-configured",
            "HubSpot app credentials or the refresh token are missing".into(),
        )),
        Some(AuthProblem::ReauthorizationRequired(m)) => {
            reasons.push(("hubspot-reauthorization-required", m))
        }
        Some(AuthProblem::CredentialsRefused(m)) => {
            reasons.push(("hubspot-credentials-refused", m))
        }
        None => {}
    }
    match state.provision.status() {
        ProvisionStatus::Ready(p) => match state.store.account_purged(&p.account_id) {
            Ok(false) => {}
            Ok(true) => reasons.push((
                "channel-account-purged",
                format!(
                    "HubSpot deleted channel account {}; connect the inbox again",
                    p.account_id
                ),
            )),
            Err(e) => reasons.push(("store-unavailable", format!("the store failed: {e}"))),
        },
        ProvisionStatus::Waiting if state.settings.inbox_id().is_none() => {
            reasons.push(("channel-not-provisioned", "no inbox is chosen yet".into()))
        }
        ProvisionStatus::Waiting => reasons.push((
            "channel-not-provisioned",
            "waiting for HubSpot credentials".into(),
        )),
        ProvisionStatus::Running(step) => {
            reasons.push(("channel-not-provisioned", format!("provisioning: {step}")))
        }
        ProvisionStatus::Failed { step, message } => reasons.push((
            "channel-not-provisioned",
            format!("provisioning failed at {step}: {message}"),
        )),
    }
    reasons
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let reasons = not_ready_reasons(&state);
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

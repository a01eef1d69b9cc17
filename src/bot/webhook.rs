//! `/api/v1/webhook`: the bot says where its events go. The Botpress integration calls this
//! from `register`, because only Botpress knows the installation's webhook URL. Every
//! registration gets a fresh signing secret, answered once and kept in the store.

use super::api::BotApi;
use super::api::BotAuth;
use super::signing;
use crate::error::ApiError;
use crate::settings::Settings;
use actix_web::{HttpResponse, web};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
pub(crate) struct WebhookBody {
    url: String,
}

/// A value set in handoff's configuration wins over the bot's: refuse, naming the key.
fn ensure_unlocked(settings: &Settings) -> Result<(), ApiError> {
    for key in ["bot.webhook_url", "bot.webhook_secret"] {
        if let Some(source) = settings.locked(key) {
            return Err(ApiError::conflict(
                "webhook-locked",
                format!("`{key}` is set in handoff's {source}; change it there"),
            ));
        }
    }
    Ok(())
}

/// `PUT /api/v1/webhook {url}` → `{url, secret}`.
pub(crate) async fn register(
    _: BotAuth,
    state: web::Data<BotApi>,
    body: web::Json<super::api::JsonObject<WebhookBody>>,
) -> Result<HttpResponse, ApiError> {
    ensure_unlocked(&state.settings)?;
    let url = body.into_inner().0.url;
    // An http(s) URL as the document states it (so no credentials, no fragment).
    super::validate::http_url("url", &url)?;
    if let Some(why) = crate::config::refused_bot_webhook(&url) {
        return Err(ApiError::invalid("invalid-url", format!("url: {why}")));
    }
    let secret = signing::new_secret();
    state
        .settings
        .update(|w| {
            w.bot_webhook_url = Some(url.clone());
            w.bot_webhook_secret = Some(secret.clone());
            w.bot_webhook_registered_at = Some(Utc::now());
        })
        .await?;
    tracing::info!("the bot registered its webhook");
    Ok(HttpResponse::Ok().json(json!({"url": url, "secret": secret})))
}

/// `GET /api/v1/webhook` → `{url}` (`null` when events are only in the feed).
pub(crate) async fn show(_: BotAuth, state: web::Data<BotApi>) -> HttpResponse {
    let url = state.settings.bot_webhook().map(|w| w.url);
    HttpResponse::Ok().json(json!({"url": url}))
}

/// `DELETE /api/v1/webhook` → 204: events are then only in the feed.
pub(crate) async fn remove(_: BotAuth, state: web::Data<BotApi>) -> Result<HttpResponse, ApiError> {
    ensure_unlocked(&state.settings)?;
    state
        .settings
        .update(|w| {
            w.bot_webhook_url = None;
            w.bot_webhook_secret = None;
            w.bot_webhook_registered_at = None;
        })
        .await?;
    tracing::info!("the bot removed its webhook");
    Ok(HttpResponse::NoContent().finish())
}

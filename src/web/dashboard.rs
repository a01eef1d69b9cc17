//! The status dashboard: readiness, the HubSpot connection, the channel, queue depths, dead
//! letters (replay, discard), recent sessions, and which settings the configuration locks.

use super::AdminState;
use super::auth::Admin;
use super::{CsrfForm, Layout, page, see_other};
use crate::config::WIZARD_KEYS;
use crate::error::ApiError;
use crate::hubspot::oauth::AuthProblem;
use crate::outbox::DeadLetter;
use crate::outbox::worker::now_ms;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{DateTime, SecondsFormat, Utc};

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin", web::get().to(dashboard))
        .route(
            "/admin/dead-letters/{id}/replay",
            web::post().to(replay_dead_letter),
        )
        .route(
            "/admin/dead-letters/{id}/discard",
            web::post().to(discard_dead_letter),
        );
}

const SECRET_KEYS: &[&str] = &[
    "hubspot.client_secret",
    "hubspot.developer_api_key",
    "hubspot.refresh_token",
    "bot.api_key",
    "bot.webhook_secret",
];

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    layout: Layout,
    reasons: Vec<(&'static str, String)>,
    warnings: Vec<(&'static str, String)>,
    reconnect: bool,
    portal: Option<u64>,
    scopes: Vec<String>,
    token_expires: Option<String>,
    channel: Option<crate::hubspot::provision::Provisioned>,
    inbox_name: Option<String>,
    queues: Vec<(&'static str, usize)>,
    events: usize,
    dead_letters: Vec<DeadLetterRow>,
    dead_letter_count: usize,
    sessions: Vec<SessionRow>,
    settings: Vec<SettingRow>,
    setup_complete: bool,
    bot_webhook: Option<String>,
    /// When the bot registered its webhook itself.
    registered_at: Option<String>,
    /// What the Botpress integration's `handoffUrl` is.
    handoff_url: String,
}

struct DeadLetterRow {
    id: u64,
    queue: String,
    session: String,
    job: String,
    reason: String,
    failed_at: String,
}

struct SessionRow {
    id: String,
    status: String,
    agent: String,
    created_at: String,
}

struct SettingRow {
    key: &'static str,
    value: String,
    source: String,
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn time_ms(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(time)
        .unwrap_or_default()
}

fn settings_rows(state: &AdminState) -> Vec<SettingRow> {
    let s = &state.settings;
    let saved = s.saved();
    let registered = super::wizard::registered_by_bot(state);
    WIZARD_KEYS
        .iter()
        .map(|&key| {
            let wizard_value = match key {
                "public_url" => saved.public_url.clone(),
                "hubspot.client_id" => saved.client_id.clone(),
                "hubspot.client_secret" => saved.client_secret.clone(),
                "hubspot.app_id" => saved.app_id.clone(),
                "hubspot.developer_api_key" => saved.developer_api_key.clone(),
                "hubspot.refresh_token" => state.hubspot.portal_id().map(|_| String::from("set")),
                "hubspot.inbox_id" => saved.inbox_id.clone(),
                "hubspot.inbox_ids" => {
                    Some(saved.inbox_ids.join(", ")).filter(|ids| !ids.is_empty())
                }
                "bot.api_key" => saved.bot_api_key_sha256.clone(),
                "bot.webhook_url" => saved.bot_webhook_url.clone(),
                "bot.webhook_secret" => saved.bot_webhook_secret.clone(),
                _ => None,
            };
            let locked = s.locked(key);
            let shown = match key {
                "public_url" => Some(s.public_base()),
                "hubspot.client_id" => s.app_credentials().map(|c| c.client_id),
                "hubspot.app_id" => s.developer().map(|d| d.app_id),
                "hubspot.inbox_id" => s.inbox_id(),
                "bot.webhook_url" => s.bot_webhook().map(|w| w.url),
                _ => None,
            };
            let is_set = locked.is_some() || wizard_value.is_some();
            let value = if SECRET_KEYS.contains(&key) {
                if is_set { "***".into() } else { "—".into() }
            } else {
                shown
                    .filter(|_| is_set || key == "public_url")
                    .unwrap_or_else(|| "—".into())
            };
            let by_bot = registered
                .as_ref()
                .filter(|_| key.starts_with("bot.webhook_"));
            let source = match (locked, wizard_value.is_some()) {
                (Some(source), _) => format!("locked: {source}"),
                (None, true) if by_bot.is_some() => {
                    format!("registered by the bot at {}", by_bot.unwrap())
                }
                (None, true) => "wizard".into(),
                (None, false) if key == "public_url" => "default (listen address)".into(),
                (None, false) => "not set".into(),
            };
            SettingRow { key, value, source }
        })
        .collect()
}

async fn dashboard(admin: Admin, state: web::Data<AdminState>) -> Result<HttpResponse, ApiError> {
    let hubspot = &state.hubspot;
    let dead_letters = state
        .store
        .dead_letters(50)?
        .into_iter()
        .map(|d| DeadLetterRow {
            job: d.job_name().to_string(),
            id: d.id,
            queue: d.queue,
            session: d.item.lane,
            reason: d.reason,
            failed_at: time_ms(d.failed_at),
        })
        .collect();
    let sessions = state
        .store
        .recent_sessions(20)?
        .into_iter()
        .map(|s| SessionRow {
            status: serde_json::to_value(s.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            agent: s.agent.map(|a| a.name.unwrap_or(a.id)).unwrap_or_default(),
            created_at: time(s.created_at),
            id: s.id,
        })
        .collect();
    let queues = ["to HubSpot", "from HubSpot", "to the bot"]
        .into_iter()
        .zip(&state.queues)
        .map(|(label, outbox)| (label, outbox.depth()))
        .collect();
    page(&DashboardPage {
        layout: Layout::plain("Dashboard", Some(&admin.csrf)).logged_in(),
        reasons: state.readiness.reasons(),
        warnings: state.readiness.warnings(),
        reconnect: matches!(
            hubspot.problem(),
            Some(AuthProblem::ReauthorizationRequired(_))
        ) && state.settings.locked("hubspot.refresh_token").is_none(),
        portal: hubspot.portal_id(),
        scopes: hubspot.scopes(),
        token_expires: hubspot.access_expires_at().map(time),
        channel: state.provision.ready(),
        inbox_name: state.settings.saved().inbox_name,
        queues,
        events: state.store.event_count(),
        dead_letter_count: state.store.dead_letter_count(),
        dead_letters,
        sessions,
        settings: settings_rows(&state),
        setup_complete: super::Step::Done.is_done(&state),
        bot_webhook: state.settings.bot_webhook().map(|w| w.url),
        registered_at: super::wizard::registered_by_bot(&state),
        handoff_url: state.settings.public_base(),
    })
}

fn take_dead_letter(
    admin: &Admin,
    state: &AdminState,
    id: u64,
    form: &CsrfForm,
) -> Result<DeadLetter, ApiError> {
    admin.check_csrf(&form.csrf)?;
    state
        .store
        .take_dead_letter(id)?
        .ok_or_else(|| ApiError::not_found("dead letter"))
}

/// Queues a dead letter's work again, as a fresh item at the end of its session's lane.
async fn replay_dead_letter(
    admin: Admin,
    state: web::Data<AdminState>,
    id: web::Path<u64>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ApiError> {
    // Taking it first means two clicks cannot queue it twice.
    let letter = take_dead_letter(&admin, &state, *id, &form)?;
    let Some(outbox) = state.outbox(&letter.queue) else {
        state.store.restore_dead_letter(&letter)?;
        return Err(ApiError::invalid(
            "unknown-queue",
            format!("queue `{}` does not exist", letter.queue),
        ));
    };
    if let Err(e) = outbox.requeue(&letter, now_ms()) {
        state.store.restore_dead_letter(&letter)?;
        return Err(e.into());
    }
    state.store.flush().await?;
    tracing::info!(id = letter.id, queue = letter.queue, "dead letter replayed");
    Ok(see_other("/admin"))
}

async fn discard_dead_letter(
    admin: Admin,
    state: web::Data<AdminState>,
    id: web::Path<u64>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ApiError> {
    let letter = take_dead_letter(&admin, &state, *id, &form)?;
    state.store.flush().await?;
    tracing::info!(
        id = letter.id,
        queue = letter.queue,
        "dead letter discarded"
    );
    Ok(see_other("/admin"))
}

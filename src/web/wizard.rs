//! The setup wizard's steps: public URL → HubSpot app → (connect, in `connect.rs`) →
//! inbox → provisioning → bot → done. Each step can be run again; none creates anything in
//! HubSpot itself (the provisioner does, and it checks before it creates).

use super::AdminState;
use super::auth::{Admin, random_token};
use super::{CsrfForm, Field, Layout, Step, page, page_with, see_other};
use crate::error::ApiError;
use crate::hubspot::oauth::{OPTIONAL_SCOPES, REQUIRED_SCOPES};
use crate::hubspot::provision::ProvisionStatus;
use crate::settings::api_key_digest;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/wizard", web::get().to(first_open_step))
        .route(Step::PublicUrl.path(), web::get().to(public_url_page))
        .route(Step::PublicUrl.path(), web::post().to(save_public_url))
        .route(Step::HubSpotApp.path(), web::get().to(app_page))
        .route(Step::HubSpotApp.path(), web::post().to(save_app))
        .route(Step::Inbox.path(), web::get().to(inbox_page))
        .route(Step::Inbox.path(), web::post().to(save_inbox))
        .route(Step::Provision.path(), web::get().to(provision_page))
        .route(Step::Bot.path(), web::get().to(bot_page))
        .route(Step::Bot.path(), web::post().to(save_bot))
        .route("/wizard/bot/test", web::post().to(test_bot))
        .route(Step::Done.path(), web::get().to(done_page));
}

async fn first_open_step(_: Admin, state: web::Data<AdminState>) -> HttpResponse {
    let step = Step::ALL
        .into_iter()
        .find(|s| !s.is_done(&state))
        .unwrap_or(Step::Done);
    see_other(step.path())
}

/// An http(s) URL with a host and nothing after the path; `None` when it is not one.
fn base_url(input: &str) -> Option<String> {
    let url = url::Url::parse(input.trim()).ok()?;
    let fine = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some()
        && url.query().is_none()
        && url.fragment().is_none();
    fine.then(|| url.as_str().trim_end_matches('/').to_string())
}

// ---- public URL ----

#[derive(Template)]
#[template(path = "public_url.html")]
struct PublicUrlPage {
    layout: Layout,
    url: Field,
    error: Option<String>,
}

#[derive(Deserialize)]
struct PublicUrlForm {
    csrf: String,
    #[serde(default)]
    public_url: String,
}

async fn public_url_page(
    admin: Admin,
    state: web::Data<AdminState>,
    req: actix_web::HttpRequest,
) -> Result<HttpResponse, ApiError> {
    // Pre-filled with what is known, else with the address this browser used.
    let value = if Step::PublicUrl.is_done(&state) {
        state.settings.public_base()
    } else {
        let info = req.connection_info();
        format!("{}://{}", info.scheme(), info.host())
    };
    page(&PublicUrlPage {
        layout: Layout::step(&state, Step::PublicUrl, &admin.csrf),
        url: Field::of(&state, "public_url", Some(value)),
        error: None,
    })
}

async fn save_public_url(
    admin: Admin,
    state: web::Data<AdminState>,
    form: web::Form<PublicUrlForm>,
) -> Result<HttpResponse, ApiError> {
    admin.check_csrf(&form.csrf)?;
    if state.settings.locked("public_url").is_none() {
        let Some(url) = base_url(&form.public_url) else {
            return page_with(
                StatusCode::UNPROCESSABLE_ENTITY,
                &PublicUrlPage {
                    layout: Layout::step(&state, Step::PublicUrl, &admin.csrf),
                    url: Field::of(&state, "public_url", Some(form.public_url.clone())),
                    error: Some(
                        "Enter an http:// or https:// address with a host and no query, \
                         like https://handoff.example.com"
                            .into(),
                    ),
                },
            );
        };
        state.settings.update(|s| s.public_url = Some(url)).await?;
        // The channel's webhook URL follows the public URL.
        state.provision.recheck.notify_one();
    }
    Ok(see_other(Step::HubSpotApp.path()))
}

// ---- HubSpot app credentials ----

#[derive(Template)]
#[template(path = "hubspot_app.html")]
struct AppPage {
    layout: Layout,
    client_id: Field,
    client_secret: Field,
    app_id: Field,
    developer_api_key: Field,
    redirect_url: String,
    webhook_url: String,
    scopes: &'static [&'static str],
    optional_scopes: &'static [(&'static str, &'static str)],
    error: Option<String>,
}

#[derive(Deserialize)]
struct AppForm {
    csrf: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: String,
    #[serde(default)]
    app_id: String,
    #[serde(default)]
    developer_api_key: String,
}

fn app_page_for(
    state: &AdminState,
    csrf: &str,
    form: Option<&AppForm>,
    error: Option<String>,
) -> AppPage {
    let saved = state.settings.saved();
    let typed = |f: fn(&AppForm) -> &String, saved: Option<String>| {
        form.map(|form| f(form).clone()).or(saved)
    };
    AppPage {
        layout: Layout::step(state, Step::HubSpotApp, csrf),
        client_id: Field::of(
            state,
            "hubspot.client_id",
            state
                .settings
                .app_credentials()
                .map(|c| c.client_id)
                .or(typed(|f| &f.client_id, saved.client_id)),
        ),
        client_secret: Field::secret(
            state,
            "hubspot.client_secret",
            state.settings.app_credentials().is_some(),
        ),
        app_id: Field::of(
            state,
            "hubspot.app_id",
            state
                .settings
                .developer()
                .map(|d| d.app_id)
                .or(typed(|f| &f.app_id, saved.app_id)),
        ),
        developer_api_key: Field::secret(
            state,
            "hubspot.developer_api_key",
            state.settings.developer().is_some(),
        ),
        redirect_url: state.settings.redirect_url(),
        webhook_url: state.settings.webhook_url(),
        scopes: REQUIRED_SCOPES,
        optional_scopes: OPTIONAL_SCOPES,
        error,
    }
}

async fn app_page(admin: Admin, state: web::Data<AdminState>) -> Result<HttpResponse, ApiError> {
    page(&app_page_for(&state, &admin.csrf, None, None))
}

/// A new value when one was typed, else the saved one; `Err` names a missing field.
fn keep_or_replace(typed: &str, saved: Option<String>, label: &str) -> Result<String, String> {
    let typed = typed.trim();
    if !typed.is_empty() && typed != "***" {
        return Ok(typed.to_string());
    }
    saved.ok_or_else(|| format!("{label} is required."))
}

async fn save_app(
    admin: Admin,
    state: web::Data<AdminState>,
    form: web::Form<AppForm>,
) -> Result<HttpResponse, ApiError> {
    admin.check_csrf(&form.csrf)?;
    let s = &state.settings;
    let saved = s.saved();
    let oauth_locked = s.locked("hubspot.client_id").is_some();
    let developer_locked = s.locked("hubspot.app_id").is_some();
    let checked = (|| -> Result<_, String> {
        let oauth = if oauth_locked {
            None
        } else {
            Some((
                keep_or_replace(&form.client_id, None, "The client id")?,
                keep_or_replace(
                    &form.client_secret,
                    saved.client_secret.clone(),
                    "The client secret",
                )?,
            ))
        };
        let developer = if developer_locked {
            None
        } else {
            let app_id = keep_or_replace(&form.app_id, None, "The app id")?;
            if !app_id.bytes().all(|b| b.is_ascii_digit()) {
                return Err("The app id is a number (the one in the app's URL in HubSpot).".into());
            }
            Some((
                app_id,
                keep_or_replace(
                    &form.developer_api_key,
                    saved.developer_api_key.clone(),
                    "The developer API key",
                )?,
            ))
        };
        Ok((oauth, developer))
    })();
    let (oauth, developer) = match checked {
        Ok(values) => values,
        Err(message) => {
            return page_with(
                StatusCode::UNPROCESSABLE_ENTITY,
                &app_page_for(&state, &admin.csrf, Some(&form), Some(message)),
            );
        }
    };
    s.update(|w| {
        if let Some((id, secret)) = oauth {
            w.client_id = Some(id);
            w.client_secret = Some(secret);
        }
        if let Some((app_id, key)) = developer {
            w.app_id = Some(app_id);
            w.developer_api_key = Some(key);
        }
    })
    .await?;
    Ok(see_other(Step::Connect.path()))
}

// ---- inbox ----

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage {
    layout: Layout,
    inboxes: Vec<InboxChoice>,
    locked: Option<String>,
    current: Option<String>,
    error: Option<String>,
}

struct InboxChoice {
    id: String,
    name: String,
    kind: &'static str,
    /// The default inbox.
    chosen: bool,
    /// Connected besides the default.
    also: bool,
}

/// The inbox form: `inbox_id` (the default, one) and `inbox_ids` (any number of others), as
/// the pairs the browser sent, since a field may repeat.
struct InboxForm {
    csrf: String,
    default: String,
    others: Vec<String>,
}

impl InboxForm {
    fn of(pairs: Vec<(String, String)>) -> InboxForm {
        let mut form = InboxForm {
            csrf: String::new(),
            default: String::new(),
            others: Vec::new(),
        };
        for (key, value) in pairs {
            match key.as_str() {
                "csrf" => form.csrf = value,
                "inbox_id" => form.default = value,
                "inbox_ids" if !form.others.contains(&value) => form.others.push(value),
                _ => {}
            }
        }
        form
    }
}

async fn inbox_choices(state: &AdminState) -> Result<Vec<InboxChoice>, String> {
    if let Some(problem) = state.hubspot.problem() {
        return Err(format!(
            "HubSpot is not connected ({problem:?}); finish Connect HubSpot first."
        ));
    }
    let current = state.settings.inbox_id();
    let connected = state.settings.inbox_ids();
    let listed = state
        .hubspot
        .list_inboxes()
        .await
        .map_err(|e| format!("HubSpot did not list the inboxes: {e}"))?;
    Ok(listed
        .into_iter()
        .filter(|i| !i.archived)
        .map(|i| InboxChoice {
            chosen: current.as_deref() == Some(i.id.as_str()),
            also: current.as_deref() != Some(i.id.as_str()) && connected.contains(&i.id),
            kind: if i.kind == "HELP_DESK" {
                "Help Desk"
            } else {
                "Inbox"
            },
            id: i.id,
            name: i.name,
        })
        .collect())
}

async fn inbox_page(admin: Admin, state: web::Data<AdminState>) -> Result<HttpResponse, ApiError> {
    let (inboxes, error) = match inbox_choices(&state).await {
        Ok(list) => (list, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    page(&InboxPage {
        layout: Layout::step(&state, Step::Inbox, &admin.csrf),
        inboxes,
        locked: state.settings.locked("hubspot.inbox_id"),
        current: state.settings.inbox_id(),
        error,
    })
}

async fn save_inbox(
    admin: Admin,
    state: web::Data<AdminState>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let form = InboxForm::of(form.into_inner());
    admin.check_csrf(&form.csrf)?;
    if state.settings.locked("hubspot.inbox_id").is_some() {
        return Ok(see_other(Step::Provision.path()));
    }
    let listed = inbox_choices(&state).await;
    let find = |id: &str| {
        listed
            .as_ref()
            .ok()
            .and_then(|list| list.iter().find(|i| i.id == id))
    };
    let chosen = find(&form.default);
    let others_listed = form.others.iter().all(|id| find(id).is_some());
    let (Some(chosen), true) = (chosen, others_listed) else {
        let error = match &listed {
            Err(e) => e.clone(),
            Ok(_) => "Choose a default among the listed inboxes; connect only listed ones.".into(),
        };
        return page_with(
            StatusCode::UNPROCESSABLE_ENTITY,
            &InboxPage {
                layout: Layout::step(&state, Step::Inbox, &admin.csrf),
                inboxes: listed.unwrap_or_default(),
                locked: None,
                current: state.settings.inbox_id(),
                error: Some(error),
            },
        );
    };
    let (id, name) = (chosen.id.clone(), chosen.name.clone());
    let others: Vec<String> = form.others.into_iter().filter(|o| *o != id).collect();
    state
        .settings
        .update(|s| {
            s.inbox_id = Some(id);
            s.inbox_name = Some(name);
            s.inbox_ids = others;
        })
        .await?;
    state.provision.recheck.notify_one();
    Ok(see_other(Step::Provision.path()))
}

// ---- provisioning ----

#[derive(Template)]
#[template(path = "provision.html")]
struct ProvisionPage {
    layout: Layout,
    stages: Vec<(&'static str, &'static str)>,
    ready: Option<crate::hubspot::provision::Provisioned>,
    failed: Option<String>,
    waiting: bool,
}

/// The provisioner's steps, as it names them, and what they do.
const STAGES: [(&str, &str); 4] = [
    ("hubspot-token", "Get an access token"),
    ("custom-channel", "Create or reuse the custom channel"),
    ("channel-account", "Connect the channel to the inbox"),
    ("app-webhooks", "Point the app's webhooks at handoff"),
];

async fn provision_page(
    admin: Admin,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, ApiError> {
    let status = state.provision.status();
    let reached = match &status {
        ProvisionStatus::Running(step) | ProvisionStatus::Failed { step, .. } => {
            STAGES.iter().position(|(s, _)| s == step).unwrap_or(0)
        }
        ProvisionStatus::Ready(_) => STAGES.len(),
        ProvisionStatus::Waiting => 0,
    };
    let failed = match &status {
        ProvisionStatus::Failed { step, message } => Some(format!("{step}: {message}")),
        _ => None,
    };
    let stages = STAGES
        .iter()
        .enumerate()
        .map(|(i, (_, label))| {
            let mark = if i < reached {
                "done"
            } else if i == reached && failed.is_some() {
                "failed"
            } else if i == reached && matches!(status, ProvisionStatus::Running(_)) {
                "running"
            } else {
                "todo"
            };
            (*label, mark)
        })
        .collect();
    page(&ProvisionPage {
        layout: Layout::step(&state, Step::Provision, &admin.csrf),
        stages,
        waiting: matches!(status, ProvisionStatus::Waiting),
        ready: state.provision.ready(),
        failed,
    })
}

// ---- bot ----

#[derive(Template)]
#[template(path = "bot.html")]
struct BotPage {
    layout: Layout,
    api_url: String,
    api_key: Field,
    webhook_url: Field,
    webhook_secret: Field,
    /// When the bot registered the webhook itself (`PUT /api/v1/webhook`).
    registered_at: Option<String>,
    /// What the Botpress integration's `handoffUrl` is.
    handoff_url: String,
    /// Shown once, right after they were generated.
    new_key: Option<String>,
    new_secret: Option<String>,
    test_result: Option<(bool, String)>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct BotForm {
    csrf: String,
    #[serde(default)]
    webhook_url: String,
    #[serde(default)]
    new_key: Option<String>,
    #[serde(default)]
    new_secret: Option<String>,
}

fn bot_page_for(state: &AdminState, csrf: &str) -> BotPage {
    let s = &state.settings;
    let saved = s.saved();
    BotPage {
        layout: Layout::step(state, Step::Bot, csrf),
        api_url: format!("{}/api/v1", s.public_base()),
        api_key: Field::secret(state, "bot.api_key", s.has_bot_key()),
        webhook_url: Field::of(
            state,
            "bot.webhook_url",
            s.config().bot.webhook_url.clone().or(saved.bot_webhook_url),
        ),
        webhook_secret: Field::secret(
            state,
            "bot.webhook_secret",
            s.config().bot.webhook_secret.is_some() || saved.bot_webhook_secret.is_some(),
        ),
        registered_at: registered_by_bot(state),
        handoff_url: s.public_base(),
        new_key: None,
        new_secret: None,
        test_result: None,
        error: None,
    }
}

/// "registered by the bot at …", when the webhook in use is the one the bot registered.
pub(crate) fn registered_by_bot(state: &AdminState) -> Option<String> {
    let s = &state.settings;
    if s.locked("bot.webhook_url").is_some() {
        return None;
    }
    let at = s.saved().bot_webhook_registered_at?;
    Some(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

async fn bot_page(admin: Admin, state: web::Data<AdminState>) -> Result<HttpResponse, ApiError> {
    page(&bot_page_for(&state, &admin.csrf))
}

async fn save_bot(
    admin: Admin,
    state: web::Data<AdminState>,
    form: web::Form<BotForm>,
) -> Result<HttpResponse, ApiError> {
    admin.check_csrf(&form.csrf)?;
    let s = &state.settings;
    let saved = s.saved();
    let url_locked = s.locked("bot.webhook_url").is_some();
    let typed_url = form.webhook_url.trim();
    let webhook_url = match (url_locked, typed_url.is_empty()) {
        (true, _) => saved.bot_webhook_url.clone(),
        (false, true) => None,
        (false, false) => {
            let refused = match base_url(typed_url) {
                None => Some("The webhook URL must be an http:// or https:// address.".into()),
                Some(_) => crate::config::refused_bot_webhook(typed_url)
                    .map(|why| format!("The webhook URL is refused: {why}.")),
            };
            if let Some(error) = refused {
                let mut page = bot_page_for(&state, &admin.csrf);
                page.webhook_url.value = typed_url.to_string();
                page.error = Some(error);
                return page_with(StatusCode::UNPROCESSABLE_ENTITY, &page);
            }
            Some(typed_url.to_string())
        }
    };
    let new_key = (s.locked("bot.api_key").is_none()
        && (form.new_key.is_some() || saved.bot_api_key_sha256.is_none()))
    .then(|| format!("hk_{}", random_token()));
    let wants_secret = webhook_url.is_some() || url_locked;
    let new_secret = (s.locked("bot.webhook_secret").is_none()
        && wants_secret
        && (form.new_secret.is_some() || saved.bot_webhook_secret.is_none()))
    .then(crate::bot::signing::new_secret);
    s.update(|w| {
        if w.bot_webhook_url != webhook_url {
            // Typed by the admin: no longer the one the bot registered.
            w.bot_webhook_registered_at = None;
        }
        w.bot_webhook_url = webhook_url;
        if let Some(key) = &new_key {
            w.bot_api_key_sha256 = Some(api_key_digest(key));
        }
        if let Some(secret) = &new_secret {
            w.bot_webhook_secret = Some(secret.clone());
        }
    })
    .await?;
    let mut page = bot_page_for(&state, &admin.csrf);
    page.new_key = new_key;
    page.new_secret = new_secret;
    page_with(StatusCode::OK, &page)
}

async fn test_bot(
    admin: Admin,
    state: web::Data<AdminState>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ApiError> {
    admin.check_csrf(&form.csrf)?;
    let mut page = bot_page_for(&state, &admin.csrf);
    page.test_result = Some(match state.settings.bot_webhook() {
        None => (
            false,
            "No webhook URL is set, so there is nothing to test.".into(),
        ),
        Some(webhook) => {
            match crate::bot::deliver::send_test_event(&state.bot_http, &webhook).await {
                Ok(status) if (200..300).contains(&status) => (
                    true,
                    format!("The bot answered {status}: it received the test event."),
                ),
                Ok(status) => (
                    false,
                    format!("The bot answered {status}; events are only delivered on a 2xx."),
                ),
                Err(e) => (false, e),
            }
        }
    });
    page_with(StatusCode::OK, &page)
}

// ---- done ----

#[derive(Template)]
#[template(path = "done.html")]
struct DonePage {
    layout: Layout,
    api_url: String,
    missing: Vec<&'static str>,
}

async fn done_page(admin: Admin, state: web::Data<AdminState>) -> Result<HttpResponse, ApiError> {
    let missing = Step::ALL[..6]
        .iter()
        .filter(|s| !s.is_done(&state))
        .map(|s| s.label())
        .collect();
    page(&DonePage {
        layout: Layout::step(&state, Step::Done, &admin.csrf),
        api_url: format!("{}/api/v1", state.settings.public_base()),
        missing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_plain_http_addresses() {
        assert_eq!(
            base_url(" https://h.example.com/ ").as_deref(),
            Some("https://h.example.com")
        );
        assert_eq!(
            base_url("http://10.0.0.5:8080/handoff").as_deref(),
            Some("http://10.0.0.5:8080/handoff")
        );
        for bad in [
            "",
            "h.example.com",
            "ftp://h",
            "https://h/?a=1",
            "https://h/#x",
        ] {
            assert!(base_url(bad).is_none(), "{bad}");
        }
    }
}

//! The operator's browser UI: the setup wizard and the status dashboard. Server-rendered
//! askama pages (`templates/`), one stylesheet and a few lines of optional JavaScript
//! (`static/`), both compiled into the binary. Every page works without JavaScript.

pub(crate) mod account;
pub(crate) mod auth;
pub(crate) mod connect;
pub(crate) mod dashboard;
pub(crate) mod login_limit;
pub(crate) mod wizard;

use crate::config::Config;
use crate::error::ApiError;
use crate::hubspot::HubSpot;
use crate::hubspot::provision::ProvisionState;
use crate::hubspot::readiness::Readiness;
use crate::outbox::QueueView;
use crate::settings::Settings;
use crate::store::Store;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType};
use actix_web::{HttpResponse, web};
use askama::Template;
use std::sync::Arc;

/// What the wizard and the dashboard use: they show and change everything, so this is the
/// widest of the surfaces' states.
pub(crate) struct AdminState {
    pub(crate) config: Arc<Config>,
    /// The bot's webhook client, for the wizard's test event.
    pub(crate) bot_http: Arc<crate::net::Outbound>,
    pub(crate) store: Store,
    pub(crate) settings: Arc<Settings>,
    pub(crate) hubspot: Arc<HubSpot>,
    pub(crate) provision: Arc<ProvisionState>,
    pub(crate) readiness: Arc<Readiness>,
    pub(crate) queues: Vec<Arc<dyn QueueView>>,
    pub(crate) admin: Arc<auth::AdminAuth>,
}

impl AdminState {
    /// The outbox of a queue, by its stored name (dead letters remember it).
    pub(crate) fn outbox(&self, queue: &str) -> Option<&dyn QueueView> {
        self.queues
            .iter()
            .map(|q| &**q)
            .find(|q| q.queue().name() == queue)
    }
}

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home))
        .route("/static/style.css", web::get().to(style))
        .route("/static/app.js", web::get().to(script))
        .configure(account::routes)
        .configure(wizard::routes)
        .configure(connect::routes)
        .configure(dashboard::routes);
}

/// Renders a page with `status`.
pub(crate) fn page_with(
    status: StatusCode,
    page: &impl Template,
) -> Result<HttpResponse, ApiError> {
    let html = page.render().map_err(|e| {
        tracing::error!(error = %e, "a page failed to render");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "render-failed",
            "the page could not be rendered",
        )
    })?;
    Ok(HttpResponse::build(status)
        .content_type(ContentType::html())
        // Admin pages show configuration; nothing should keep a copy.
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("x-frame-options", "DENY"))
        .insert_header(("referrer-policy", "no-referrer"))
        .insert_header((
            "content-security-policy",
            "default-src 'self'; frame-ancestors 'none'; form-action 'self' https: http:",
        ))
        .body(html))
}

pub(crate) fn page(page: &impl Template) -> Result<HttpResponse, ApiError> {
    page_with(StatusCode::OK, page)
}

/// A `303 See Other` to `location` (after a form is handled).
pub(crate) fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

async fn home(state: web::Data<AdminState>) -> HttpResponse {
    see_other(if state.admin.has_password() {
        "/admin"
    } else {
        "/setup"
    })
}

async fn style() -> HttpResponse {
    asset(
        "text/css; charset=utf-8",
        include_str!("../../static/style.css"),
    )
}

async fn script() -> HttpResponse {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../static/app.js"),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(body)
}

/// The wizard's steps, in order, for the step list on every page.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    PublicUrl,
    HubSpotApp,
    Connect,
    Inbox,
    Provision,
    Bot,
    Done,
}

impl Step {
    pub(crate) const ALL: [Step; 7] = [
        Step::PublicUrl,
        Step::HubSpotApp,
        Step::Connect,
        Step::Inbox,
        Step::Provision,
        Step::Bot,
        Step::Done,
    ];

    pub(crate) fn path(self) -> &'static str {
        match self {
            Step::PublicUrl => "/wizard/public-url",
            Step::HubSpotApp => "/wizard/hubspot-app",
            Step::Connect => "/wizard/connect",
            Step::Inbox => "/wizard/inbox",
            Step::Provision => "/wizard/provision",
            Step::Bot => "/wizard/bot",
            Step::Done => "/wizard/done",
        }
    }

    pub(crate) fn label(self) -> &'static str {
        match self {
            Step::PublicUrl => "Public URL",
            Step::HubSpotApp => "HubSpot app",
            Step::Connect => "Connect HubSpot",
            Step::Inbox => "Inbox",
            Step::Provision => "Provisioning",
            Step::Bot => "Bot",
            Step::Done => "Done",
        }
    }

    /// Whether the step's work is in place (configured or saved).
    pub(crate) fn is_done(self, state: &AdminState) -> bool {
        let s = &state.settings;
        match self {
            Step::PublicUrl => s.locked("public_url").is_some() || s.saved().public_url.is_some(),
            Step::HubSpotApp => s.app_credentials().is_some() && s.developer().is_some(),
            Step::Connect => state.hubspot.problem().is_none(),
            Step::Inbox => s.inbox_id().is_some(),
            Step::Provision => state.provision.ready().is_some(),
            Step::Bot => s.has_bot_key(),
            Step::Done => Step::ALL[..6].iter().all(|step| step.is_done(state)),
        }
    }
}

/// One entry of the step list.
pub(crate) struct StepLink {
    pub(crate) label: &'static str,
    pub(crate) path: &'static str,
    pub(crate) done: bool,
    pub(crate) current: bool,
}

/// What every page's frame needs: its title, the step list (wizard pages), the CSRF token
/// its forms carry, and whether to offer logging out.
pub(crate) struct Layout {
    pub(crate) title: String,
    pub(crate) steps: Vec<StepLink>,
    pub(crate) csrf: String,
    pub(crate) logged_in: bool,
}

impl Layout {
    /// A page outside the wizard.
    pub(crate) fn plain(title: &str, csrf: Option<&str>) -> Layout {
        Layout {
            title: title.to_string(),
            steps: Vec::new(),
            csrf: csrf.unwrap_or_default().to_string(),
            logged_in: false,
        }
    }

    pub(crate) fn logged_in(mut self) -> Layout {
        self.logged_in = true;
        self
    }

    /// A wizard page.
    pub(crate) fn step(state: &AdminState, current: Step, csrf: &str) -> Layout {
        Layout {
            title: current.label().to_string(),
            steps: Step::ALL
                .iter()
                .map(|&s| StepLink {
                    label: s.label(),
                    path: s.path(),
                    done: s.is_done(state),
                    current: s == current,
                })
                .collect(),
            csrf: csrf.to_string(),
            logged_in: true,
        }
    }
}

/// A form whose only field is its CSRF token (a button).
#[derive(serde::Deserialize)]
pub(crate) struct CsrfForm {
    pub(crate) csrf: String,
}

/// How a value shows on a page: secrets never show, locked ones say where they come from.
pub(crate) struct Field {
    pub(crate) value: String,
    pub(crate) locked: Option<String>,
}

impl Field {
    pub(crate) fn of(state: &AdminState, key: &str, value: Option<String>) -> Field {
        Field {
            value: value.unwrap_or_default(),
            locked: state.settings.locked(key),
        }
    }

    /// A secret: `***` when set, empty when not.
    pub(crate) fn secret(state: &AdminState, key: &str, is_set: bool) -> Field {
        Field {
            value: if is_set { "***".into() } else { String::new() },
            locked: state.settings.locked(key),
        }
    }
}

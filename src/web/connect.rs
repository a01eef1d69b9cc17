//! "Connect HubSpot": the wizard step, the redirect to HubSpot's consent page with a
//! `state`, and `/oauth/callback`, which checks the state and trades the code for tokens.
//! Reconnecting after a revoked refresh token is the same flow, started from the dashboard.

use super::AdminState;
use super::auth::{self, Admin, OAuthRefused};
use super::{Layout, Step, page, page_with, see_other};
use crate::error::ApiError;
use crate::hubspot::oauth::{AuthProblem, OPTIONAL_SCOPES, REQUIRED_SCOPES};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(Step::Connect.path(), web::get().to(connect_page))
        .route("/oauth/start", web::post().to(start))
        .route("/oauth/callback", web::get().to(callback));
}

#[derive(Template)]
#[template(path = "connect.html")]
struct ConnectPage {
    layout: Layout,
    status: String,
    problem: Option<String>,
    can_connect: bool,
    locked: Option<String>,
    portal: Option<u64>,
}

#[derive(Template)]
#[template(path = "callback.html")]
struct CallbackPage {
    layout: Layout,
    error: Option<String>,
    next: &'static str,
    portal: Option<u64>,
}

#[derive(Deserialize)]
struct StartForm {
    csrf: String,
    /// `dashboard` to come back to the dashboard (a reconnect); else the wizard goes on.
    #[serde(default)]
    from: String,
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn connect_page(
    admin: Admin,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, ApiError> {
    let problem = state.hubspot.problem();
    let status = match &problem {
        None => "Connected".to_string(),
        Some(AuthProblem::NotConfigured) => "Not connected yet".to_string(),
        Some(AuthProblem::ReauthorizationRequired(_)) => {
            "HubSpot refused the refresh token: connect again".to_string()
        }
        Some(AuthProblem::CredentialsRefused(_)) => {
            "HubSpot refused the app credentials".to_string()
        }
    };
    let problem = match problem {
        Some(AuthProblem::ReauthorizationRequired(m) | AuthProblem::CredentialsRefused(m)) => {
            Some(m)
        }
        _ => None,
    };
    page(&ConnectPage {
        layout: Layout::step(&state, Step::Connect, &admin.csrf),
        status,
        problem,
        can_connect: state.settings.app_credentials().is_some(),
        locked: state.settings.locked("hubspot.refresh_token"),
        portal: state.hubspot.portal_id(),
    })
}

/// HubSpot's consent page for our app, asking for what handoff needs.
fn authorize_url(state: &AdminState, oauth_state: &str) -> Result<String, ApiError> {
    let credentials = state.settings.app_credentials().ok_or_else(|| {
        ApiError::invalid(
            "hubspot-app-missing",
            "set the HubSpot app credentials first (step 2)",
        )
    })?;
    let base = state.config.hubspot.app_base.trim_end_matches('/');
    let mut url = url::Url::parse(&format!("{base}/oauth/authorize"))
        .map_err(|e| ApiError::invalid("bad-app-base", e.to_string()))?;
    url.query_pairs_mut()
        .append_pair("client_id", &credentials.client_id)
        .append_pair("redirect_uri", &state.settings.redirect_url())
        .append_pair("scope", &REQUIRED_SCOPES.join(" "))
        .append_pair(
            "optional_scope",
            &OPTIONAL_SCOPES
                .iter()
                .map(|(scope, _)| *scope)
                .collect::<Vec<_>>()
                .join(" "),
        )
        .append_pair("state", oauth_state);
    // HubSpot documents the scope list as space-separated, encoded `%20`; every other `+`
    // the encoder wrote is already `%2B`.
    Ok(url.as_str().replace('+', "%20"))
}

async fn start(
    admin: Admin,
    state: web::Data<AdminState>,
    form: web::Form<StartForm>,
) -> Result<HttpResponse, ApiError> {
    admin.check_csrf(&form.csrf)?;
    if let Some(source) = state.settings.locked("hubspot.refresh_token") {
        return Err(ApiError::conflict(
            "locked",
            format!(
                "hubspot.refresh_token is set in the configuration ({source}); change it there"
            ),
        ));
    }
    let next = if form.from == "dashboard" {
        "/admin"
    } else {
        Step::Inbox.path()
    };
    let (oauth_state, nonce) = state.admin.begin_oauth(next);
    let mut response = see_other(&authorize_url(&state, &oauth_state)?);
    response
        .add_cookie(&auth::oauth_cookie(&nonce, state.settings.is_https()))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(response)
}

/// Needs no session cookie (see `AdminAuth::begin_oauth`): the `state`, together with the
/// nonce cookie of the browser that started the flow, is the proof.
async fn callback(
    state: web::Data<AdminState>,
    req: HttpRequest,
    query: web::Query<CallbackQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut response = callback_page(&state, &req, query.into_inner()).await?;
    if req.cookie(auth::OAUTH_COOKIE).is_some() {
        // Spent or not, the nonce has done its job for this answer.
        let mut gone = auth::expired(auth::OAUTH_COOKIE);
        gone.set_path("/oauth/callback");
        response
            .add_removal_cookie(&gone)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    Ok(response)
}

async fn callback_page(
    state: &AdminState,
    req: &HttpRequest,
    query: CallbackQuery,
) -> Result<HttpResponse, ApiError> {
    let render = |status, error: Option<String>, next, portal| {
        page_with(
            status,
            &CallbackPage {
                layout: Layout::plain("Connect HubSpot", None),
                error,
                next,
                portal,
            },
        )
    };
    let nonce = req.cookie(auth::OAUTH_COOKIE);
    let finished = match query.state.as_deref() {
        Some(s) => state
            .admin
            .finish_oauth(s, nonce.as_ref().map(|c| c.value())),
        None => Err(OAuthRefused::Unknown),
    };
    let next = match finished {
        Ok(next) => next,
        Err(OAuthRefused::Unknown) => {
            return render(
                StatusCode::BAD_REQUEST,
                Some(
                    "This sign-in answer is not one handoff asked for (it expired or was used \
                     already). Start again with Connect HubSpot."
                        .into(),
                ),
                Step::Connect.path(),
                None,
            );
        }
        Err(OAuthRefused::OtherBrowser) => {
            tracing::warn!("an OAuth callback came from a browser that did not start the flow");
            return render(
                StatusCode::FORBIDDEN,
                Some(
                    "This sign-in answer belongs to a Connect HubSpot started in another \
                     browser, so handoff did not use it and nothing changed. Start Connect \
                     HubSpot again in this browser, logged in as the admin."
                        .into(),
                ),
                Step::Connect.path(),
                None,
            );
        }
    };
    if let Some(error) = query.error {
        let description = query.error_description.unwrap_or_default();
        tracing::warn!(
            error,
            description,
            "HubSpot's consent page answered an error"
        );
        let sentence = if error == "access_denied" {
            format!(
                "Access was denied on HubSpot's page ({description}). Nothing changed; connect again and choose Connect app."
            )
        } else {
            format!("HubSpot answered `{error}`: {description}")
        };
        return render(
            StatusCode::BAD_REQUEST,
            Some(sentence),
            Step::Connect.path(),
            None,
        );
    }
    let Some(code) = query.code.filter(|c| !c.is_empty()) else {
        return render(
            StatusCode::BAD_REQUEST,
            Some("HubSpot's answer has no authorization code.".into()),
            Step::Connect.path(),
            None,
        );
    };
    match state
        .hubspot
        .exchange_code(&code, &state.settings.redirect_url())
        .await
    {
        Ok(portal) => render(StatusCode::OK, None, next, portal),
        Err(message) => render(
            StatusCode::BAD_GATEWAY,
            Some(message),
            Step::Connect.path(),
            None,
        ),
    }
}

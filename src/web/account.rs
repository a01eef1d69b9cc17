//! First run (`/setup` with the printed token sets the admin password), login and logout.

use super::AdminState;
use super::auth::{self, FORM_COOKIE, LoginRefused, MIN_PASSWORD_LEN, SESSION_COOKIE};
use super::{CsrfForm, Layout, page_with, see_other};
use crate::error::ApiError;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/setup", web::get().to(setup_form))
        .route("/setup", web::post().to(setup))
        .route("/login", web::get().to(login_form))
        .route("/login", web::post().to(login))
        .route("/logout", web::post().to(logout));
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    layout: Layout,
    /// `None`: no (or a wrong) token was given, so only the explanation shows.
    token: Option<String>,
    min_len: usize,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    error: Option<String>,
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

#[derive(Deserialize)]
struct SetupForm {
    token: String,
    csrf: String,
    password: String,
    confirm: String,
}

#[derive(Deserialize)]
struct LoginForm {
    csrf: String,
    password: String,
}

/// The pre-login CSRF token: the form cookie's value, or a new one.
fn form_token(req: &HttpRequest) -> (String, bool) {
    match req.cookie(FORM_COOKIE) {
        Some(c) if c.value().len() >= 32 => (c.value().to_string(), false),
        _ => (auth::random_token(), true),
    }
}

/// Renders a pre-login page, setting the form cookie when it is new.
fn pre_login_page<T: Template>(
    state: &AdminState,
    req: &HttpRequest,
    status: StatusCode,
    title: &str,
    page: impl FnOnce(Layout) -> T,
) -> Result<HttpResponse, ApiError> {
    let (token, fresh) = form_token(req);
    let mut response = page_with(status, &page(Layout::plain(title, Some(&token))))?;
    if fresh {
        response
            .add_cookie(&auth::form_cookie(&token, state.settings.is_https()))
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    Ok(response)
}

fn presented_form_token(req: &HttpRequest) -> String {
    req.cookie(FORM_COOKIE)
        .map(|c| c.value().to_string())
        .unwrap_or_default()
}

async fn setup_form(
    state: web::Data<AdminState>,
    req: HttpRequest,
    query: web::Query<TokenQuery>,
) -> Result<HttpResponse, ApiError> {
    if state.admin.has_password() {
        return Ok(see_other("/login"));
    }
    let token = query
        .into_inner()
        .token
        .filter(|t| state.admin.setup_token_matches(t));
    let status = if token.is_some() {
        StatusCode::OK
    } else {
        StatusCode::FORBIDDEN
    };
    setup_page(&state, &req, status, token, None)
}

fn setup_page(
    state: &AdminState,
    req: &HttpRequest,
    status: StatusCode,
    token: Option<String>,
    error: Option<String>,
) -> Result<HttpResponse, ApiError> {
    pre_login_page(state, req, status, "Welcome to handoff", |layout| {
        SetupPage {
            layout,
            token,
            min_len: MIN_PASSWORD_LEN,
            error,
        }
    })
}

async fn setup(
    state: web::Data<AdminState>,
    req: HttpRequest,
    form: web::Form<SetupForm>,
) -> Result<HttpResponse, ApiError> {
    if state.admin.has_password() {
        return Ok(see_other("/login"));
    }
    let form = form.into_inner();
    if !state.admin.setup_token_matches(&form.token) {
        return Err(ApiError::forbidden(
            "setup-token-refused",
            "the setup token is missing or wrong; use the URL handoff printed at start-up",
        ));
    }
    auth::check_csrf(&presented_form_token(&req), &form.csrf)?;
    match state
        .admin
        .set_password(&state.store, &form.password, &form.confirm)
        .await?
    {
        Ok(session) => {
            let mut response = see_other(super::Step::PublicUrl.path());
            set_session(&state, &mut response, &session)?;
            Ok(response)
        }
        Err(e) => setup_page(
            &state,
            &req,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(form.token),
            Some(e.to_string()),
        ),
    }
}

fn set_session(
    state: &AdminState,
    response: &mut HttpResponse,
    session: &str,
) -> Result<(), ApiError> {
    let secure = state.settings.is_https();
    response
        .add_cookie(&auth::session_cookie(session, secure))
        .and_then(|()| response.add_removal_cookie(&auth::expired(FORM_COOKIE)))
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

fn login_page(
    state: &AdminState,
    req: &HttpRequest,
    status: StatusCode,
    error: Option<String>,
) -> Result<HttpResponse, ApiError> {
    pre_login_page(state, req, status, "Log in", |layout| LoginPage {
        layout,
        error,
    })
}

async fn login_form(
    state: web::Data<AdminState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    if !state.admin.has_password() {
        return Ok(see_other("/setup"));
    }
    login_page(&state, &req, StatusCode::OK, None)
}

async fn login(
    state: web::Data<AdminState>,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, ApiError> {
    if !state.admin.has_password() {
        return Ok(see_other("/setup"));
    }
    auth::check_csrf(&presented_form_token(&req), &form.csrf)?;
    let address = crate::client_addr::of_request(&req, &state.config.http.trusted_proxies);
    let (wait, message) = match state.admin.login(address, &form.password).await {
        Ok(Some(session)) => {
            let mut response = see_other("/admin");
            set_session(&state, &mut response, &session)?;
            return Ok(response);
        }
        Ok(None) => {
            return login_page(
                &state,
                &req,
                StatusCode::UNAUTHORIZED,
                Some("Wrong password.".into()),
            );
        }
        Err(LoginRefused::Limited(wait)) => (
            wait,
            format!(
                "Too many failed attempts. Try again in {} seconds.",
                wait.as_secs().max(1)
            ),
        ),
        Err(LoginRefused::Busy(wait)) => (
            wait,
            "Too many logins are being checked at once. Try again in a moment.".to_string(),
        ),
    };
    let mut response = login_page(&state, &req, StatusCode::TOO_MANY_REQUESTS, Some(message))?;
    response.headers_mut().insert(
        actix_web::http::header::RETRY_AFTER,
        wait.as_secs().max(1).into(),
    );
    Ok(response)
}

async fn logout(
    admin: auth::Admin,
    state: web::Data<AdminState>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ApiError> {
    admin.check_csrf(&form.csrf)?;
    state.admin.logout(&admin.session);
    let mut response = see_other("/login");
    response
        .add_removal_cookie(&auth::expired(SESSION_COOKIE))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(response)
}

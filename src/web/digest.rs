//! Opting out of the weekly digest: the link in every digest opens a confirmation page (a GET
//! changes nothing, since mail scanners prefetch links), whose button POSTs the opt-out. Staff
//! turn the digest back on (or off) with `POST /staff/digest`; the form is at the foot of
//! `/staff/review`.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::app::AppState;
use crate::jobs::staff_digest::{self as digest, UNSUBSCRIBE_PATH};
use crate::store::digests;

use super::error::AppError;
use super::form::FormInput;
use super::roles::Staff;
use super::session::Visitor;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(UNSUBSCRIBE_PATH, get(confirm).post(unsubscribe))
        .route("/staff/digest", post(toggle))
}

#[derive(Template, WebTemplate)]
#[template(path = "digest_unsubscribe.html")]
struct UnsubscribePage {
    csrf: String,
    /// `confirm`, `done` or `invalid`.
    state: &'static str,
    token: String,
}

#[derive(Debug, Deserialize, Default)]
struct TokenParams {
    #[serde(default)]
    token: String,
}

fn page(visitor: &Visitor, state: &'static str, token: String) -> UnsubscribePage {
    UnsubscribePage {
        csrf: visitor.csrf.clone(),
        state,
        token,
    }
}

async fn confirm(
    State(state): State<AppState>,
    axum::Extension(visitor): axum::Extension<Visitor>,
    Query(params): Query<TokenParams>,
) -> Response {
    match digest::verify_unsubscribe_token(&state.vault, &params.token) {
        // Only a genuine token is put back into the page.
        Some(_) => page(&visitor, "confirm", params.token).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            page(&visitor, "invalid", String::new()),
        )
            .into_response(),
    }
}

#[derive(Debug, Deserialize, Default)]
struct UnsubscribeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
}

async fn unsubscribe(
    State(state): State<AppState>,
    axum::Extension(visitor): axum::Extension<Visitor>,
    FormInput(form): FormInput<UnsubscribeForm>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&form.csrf)?;
    let Some(account_id) = digest::verify_unsubscribe_token(&state.vault, &form.token) else {
        return Ok((
            StatusCode::NOT_FOUND,
            page(&visitor, "invalid", String::new()),
        )
            .into_response());
    };
    // The link speaks for its account: it is the actor. Already off is the same success.
    let actor = format!("account:{account_id}");
    digests::set_subscribed(&state.db, account_id, false, &actor).await?;
    Ok(page(&visitor, "done", String::new()).into_response())
}

#[derive(Debug, Deserialize, Default)]
struct ToggleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    digest: String,
}

async fn toggle(
    staff: Staff,
    State(state): State<AppState>,
    FormInput(form): FormInput<ToggleForm>,
) -> Result<Response, AppError> {
    staff.visitor.check_csrf(&form.csrf)?;
    let on = match form.digest.as_str() {
        "on" => true,
        "off" => false,
        _ => return Err(AppError::BadForm(StatusCode::UNPROCESSABLE_ENTITY)),
    };
    digests::set_subscribed(&state.db, staff.account.id, on, &staff.actor()).await?;
    let word = if on { "on" } else { "off" };
    Ok(Redirect::to(&format!("/staff/review?digest={word}#digest-setting")).into_response())
}

//! `/account/password`: any logged-in account changes its password here, and an account made by
//! an admin with a temporary password is sent here first (see [`super::roles`]).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::app::AppState;
use crate::security::password::{check_official_rules, check_rules};
use crate::store::accounts::{self, Account, Role};

use super::error::AppError;
use super::form::FormInput;
use super::session::Visitor;

#[derive(Template, WebTemplate)]
#[template(path = "change_password.html")]
pub struct ChangePasswordPage {
    csrf: String,
    /// The password is temporary: say why the page came up.
    first_login: bool,
    /// Staff, leaders and admins have the stricter rules.
    official: bool,
    current_error: Option<&'static str>,
    new_error: Option<String>,
    confirm_error: Option<&'static str>,
}

fn is_official(account: &Account) -> bool {
    !account.is(Role::Owner)
}

fn page(visitor: &Visitor, account: &Account) -> ChangePasswordPage {
    ChangePasswordPage {
        csrf: visitor.csrf.clone(),
        first_login: account.must_change_password,
        official: is_official(account),
        current_error: None,
        new_error: None,
        confirm_error: None,
    }
}

pub async fn form(Extension(visitor): Extension<Visitor>) -> Result<Response, AppError> {
    let account = visitor.require_account()?;
    Ok(page(&visitor, account).into_response())
}

#[derive(Debug, Deserialize, Default)]
pub struct ChangeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

pub async fn submit(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    FormInput(form): FormInput<ChangeForm>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&form.csrf)?;
    let account = visitor.require_account()?;
    let Some(session) = visitor.session_token.as_deref() else {
        return Err(AppError::LoginRequired);
    };
    let mut shown = page(&visitor, account);
    let rules = if shown.official {
        check_official_rules(&form.password, Some(&account.email))
    } else {
        check_rules(&form.password, Some(&account.email))
    };
    if let Err(rule) = rules {
        shown.new_error = Some(rule.to_string());
    } else if form.password == form.current {
        shown.new_error = Some("新密码不能与当前密码相同".to_owned());
    }
    if form.confirm != form.password {
        shown.confirm_error = Some("两次输入的新密码不一致");
    }
    // The current password is checked last and always, so a wrong one is reported even when the
    // new one is also refused (and the time taken does not tell which check failed).
    let current_ok = state
        .hasher
        .verify(&form.current, Some(&account.password_hash))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    if !current_ok {
        shown.current_error = Some("当前密码不正确");
    }
    if shown.current_error.is_some() || shown.new_error.is_some() || shown.confirm_error.is_some() {
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, shown).into_response());
    }
    let hash = state
        .hasher
        .hash(&form.password)
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    accounts::change_password(&state.db, account.id, &hash, session).await?;
    Ok(Redirect::to(super::roles::home_for(account)).into_response())
}

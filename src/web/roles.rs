//! Who may open which page. Each audience has an extractor: [`Admin`] for `/admin`, [`Staff`] for
//! `/staff`, [`Leader`] for `/leaders`. Anonymous visitors are sent to log in (and back); an account that still has a
//! temporary password is sent to change it; any other account gets the ordinary 404, so pages of
//! another audience cannot be discovered by trying.
//!
//! Staff are bound to one department. Every staff query takes the department from [`Staff`], never
//! from the request, so another department's entity is simply not found.

use std::fmt::Write as _;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use crate::app::AppState;
use crate::store::accounts::{self, Account, Role, SessionKind};

use super::api::{api_error, store_failure};
use super::error::AppError;
use super::session::Visitor;

/// Where the password change lives; the one page an account with a temporary password may open.
pub const CHANGE_PASSWORD: &str = "/account/password";

/// Where an account lands after logging in.
pub fn home_for(account: &Account) -> &'static str {
    match account.role() {
        Some(Role::Admin) => super::admin::HOME,
        Some(Role::Staff) => "/staff",
        Some(Role::Leader) => "/leaders",
        Some(Role::Owner) | None => "/me",
    }
}

/// The page to open after logging in: the password change first when the password is temporary.
pub fn after_login(account: &Account) -> &'static str {
    if account.must_change_password {
        CHANGE_PASSWORD
    } else {
        home_for(account)
    }
}

/// Why a page is not shown, and what to answer instead.
enum Refusal {
    /// Anonymous: log in first, then come back.
    LogIn(String),
    ChangePassword,
    NotFound,
    Internal,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::LogIn(to) => Redirect::to(&to).into_response(),
            Refusal::ChangePassword => Redirect::to(CHANGE_PASSWORD).into_response(),
            Refusal::NotFound => AppError::NotFound.into_response(),
            Refusal::Internal => {
                AppError::Internal("no visitor on a signed-in page".into()).into_response()
            }
        }
    }
}

/// The visitor's account when it may open a page for `allowed`.
fn page_account(parts: &Parts, allowed: &[Role]) -> Result<(Visitor, Account), Refusal> {
    let Some(visitor) = parts.extensions.get::<Visitor>().cloned() else {
        return Err(Refusal::Internal);
    };
    let account = match &visitor.account {
        None => return Err(Refusal::LogIn(login_then(parts))),
        Some(account) => account.clone(),
    };
    if !account.role().is_some_and(|r| allowed.contains(&r)) {
        return Err(Refusal::NotFound);
    }
    if account.must_change_password {
        return Err(Refusal::ChangePassword);
    }
    Ok((visitor, account))
}

/// `/login?next=…` back to this page. A POST cannot be replayed after logging in, so it returns
/// to the start page of the audience instead (the login picks it).
fn login_then(parts: &Parts) -> String {
    if parts.method != Method::GET {
        return "/login".to_owned();
    }
    let mut out = String::from("/login?next=");
    for b in parts.uri.path().bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A request from a logged-in admin.
pub struct Admin {
    pub visitor: Visitor,
    pub account: Account,
}

impl Admin {
    /// `account:N`, as the audit log names the actor.
    pub fn actor(&self) -> String {
        format!("account:{}", self.account.id)
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        let (visitor, account) =
            page_account(parts, &[Role::Admin]).map_err(IntoResponse::into_response)?;
        Ok(Admin { visitor, account })
    }
}

/// A request from a county leader, or an admin (who sees what leaders see): read-only pages over
/// the whole jurisdiction.
pub struct Leader {
    pub visitor: Visitor,
    pub account: Account,
}

impl FromRequestParts<AppState> for Leader {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        let (visitor, account) = page_account(parts, &[Role::Leader, Role::Admin])
            .map_err(IntoResponse::into_response)?;
        Ok(Leader { visitor, account })
    }
}

/// A request from a logged-in member of a department's staff.
pub struct Staff {
    pub visitor: Visitor,
    pub account: Account,
    /// The only department whose entities, registrations and campaigns this request may see.
    pub department_id: i64,
}

impl Staff {
    pub fn actor(&self) -> String {
        format!("account:{}", self.account.id)
    }
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        let (visitor, account) =
            page_account(parts, &[Role::Staff]).map_err(IntoResponse::into_response)?;
        let Some(department_id) = account.department_id else {
            // A staff account without a department is refused when it is made; treat one that
            // slipped through like any account without access.
            return Err(AppError::NotFound.into_response());
        };
        Ok(Staff {
            visitor,
            account,
            department_id,
        })
    }
}

/// The account behind `Authorization: Bearer …`, or the 401 to send.
pub async fn bearer_account(state: &AppState, headers: &HeaderMap) -> Result<Account, Response> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        // The scheme name is case-insensitive (RFC 9110 §11.1).
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| t.len() <= 128 && t.bytes().all(|b| b.is_ascii_alphanumeric()));
    let unauthorized = || api_error(StatusCode::UNAUTHORIZED, "unauthorized", "请先登录");
    let Some(token) = token else {
        return Err(unauthorized());
    };
    match accounts::session_account(&state.db, token, SessionKind::Bearer).await {
        Ok(Some(account)) => Ok(account),
        Ok(None) => Err(unauthorized()),
        Err(e) => Err(store_failure(&e)),
    }
}

/// A staff member calling the JSON API with a bearer token. Without a token: 401; with a
/// temporary password: 403 `password_change_required`; any other role: 404.
pub struct StaffApi {
    pub account: Account,
    pub department_id: i64,
}

impl StaffApi {
    pub fn actor(&self) -> String {
        format!("account:{}", self.account.id)
    }
}

impl FromRequestParts<AppState> for StaffApi {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let account = bearer_account(state, &parts.headers).await?;
        let not_found = || api_error(StatusCode::NOT_FOUND, "not_found", "没有找到");
        let department_id = match (account.role(), account.department_id) {
            (Some(Role::Staff), Some(d)) => d,
            _ => return Err(not_found()),
        };
        if account.must_change_password {
            return Err(api_error(
                StatusCode::FORBIDDEN,
                "password_change_required",
                "首次登录须先在网页上修改密码",
            ));
        }
        Ok(StaffApi {
            account,
            department_id,
        })
    }
}

//! Who is asking: the CSRF cookie every visitor gets, and the logged-in account if any.
//!
//! CSRF: each visitor gets a random token in an HttpOnly, SameSite=Lax cookie; every form
//! carries the same token in a hidden field, and a POST is refused unless both match. Sessions:
//! a random 128-bit id in another cookie, rotated at login, 30 min idle / 12 h absolute.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::store::accounts::{self, Account, SessionKind};

use super::error::AppError;

/// Per-request identity, put in the request extensions by [`visitor`].
#[derive(Debug, Clone)]
pub struct Visitor {
    pub csrf: String,
    pub account: Option<Account>,
    pub session_token: Option<String>,
}

impl Visitor {
    /// Refuses a form whose hidden token does not match the visitor's cookie.
    pub fn check_csrf(&self, submitted: &str) -> Result<(), AppError> {
        if !submitted.is_empty() && constant_time_eq(submitted.as_bytes(), self.csrf.as_bytes()) {
            Ok(())
        } else {
            Err(AppError::Csrf)
        }
    }

    pub fn require_account(&self) -> Result<&Account, AppError> {
        self.account.as_ref().ok_or(AppError::LoginRequired)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn session_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-xyd_session"
    } else {
        "xyd_session"
    }
}

pub fn csrf_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-xyd_csrf"
    } else {
        "xyd_csrf"
    }
}

/// `name=value; Path=/; HttpOnly; SameSite=Lax[; Secure][; Max-Age=…]`.
pub fn cookie(name: &str, value: &str, secure: bool, max_age: Option<i64>) -> Option<HeaderValue> {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if secure {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    HeaderValue::from_str(&c).ok()
}

/// The value of cookie `name` in the request headers.
pub fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| v.len() <= 128 && v.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Middleware: attaches a [`Visitor`] and issues the CSRF cookie on first contact.
pub async fn visitor(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let secure = state.settings.secure_cookies;
    let existing_csrf = read_cookie(req.headers(), csrf_cookie_name(secure));
    let csrf = existing_csrf
        .clone()
        .unwrap_or_else(|| accounts::new_token().0);
    let session_token = read_cookie(req.headers(), session_cookie_name(secure));
    let account = match &session_token {
        Some(token) => accounts::session_account(&state.db, token, SessionKind::Cookie)
            .await
            .unwrap_or_else(|err| {
                tracing::warn!(error = %super::error::error_chain(&err), "session lookup failed");
                None
            }),
        None => None,
    };
    req.extensions_mut().insert(Visitor {
        csrf: csrf.clone(),
        account,
        session_token,
    });
    let mut response = next.run(req).await;
    if existing_csrf.is_none()
        && let Some(value) = cookie(csrf_cookie_name(secure), &csrf, secure, None)
    {
        response.headers_mut().append(SET_COOKIE, value);
    }
    response
}

/// Starts a browser session for `account_id` and redirects to `target` with its cookie set.
pub async fn start_session(
    state: &AppState,
    account_id: i64,
    target: &str,
) -> Result<Response, AppError> {
    let token = accounts::create_session(&state.db, account_id, SessionKind::Cookie).await?;
    let mut resp = axum::response::Redirect::to(target).into_response();
    let secure = state.settings.secure_cookies;
    if let Some(c) = cookie(session_cookie_name(secure), &token, secure, None) {
        resp.headers_mut().append(SET_COOKIE, c);
    }
    Ok(resp)
}

/// The client's address: the socket peer, or behind a trusted proxy the address the proxy
/// appended to `X-Forwarded-For`. Used for throttling and signature evidence, never logged.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
        if !state.settings.trust_forwarded_for {
            return Ok(ClientIp(peer));
        }
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse::<IpAddr>().ok())
            .next_back();
        Ok(ClientIp(forwarded.unwrap_or(peer)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_only_well_formed_cookie_values() {
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_static("a=1; xyd_csrf=abc123; b=x"),
        );
        assert_eq!(read_cookie(&h, "xyd_csrf").as_deref(), Some("abc123"));
        h.insert(COOKIE, HeaderValue::from_static("xyd_csrf=ab%3Bc"));
        assert_eq!(read_cookie(&h, "xyd_csrf"), None);
    }

    #[test]
    fn secure_cookies_use_the_host_prefix() {
        let c = cookie(session_cookie_name(true), "v", true, Some(0)).unwrap();
        let c = c.to_str().unwrap();
        assert!(c.starts_with("__Host-xyd_session=v; Path=/; HttpOnly; SameSite=Lax; Secure"));
        assert!(c.ends_with("Max-Age=0"));
    }

    #[test]
    fn csrf_tokens_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}

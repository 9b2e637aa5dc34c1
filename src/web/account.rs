//! Logged-in owners: log in and out, the status page `/me`, and the agreement page.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use time::Duration;

use crate::app::AppState;
use crate::application::registration::Mismatch;
use crate::domain::calendar::format_minute;
use crate::domain::email::EmailAddress;
use crate::store::accounts::{self, Account, Role};
use crate::store::agreements::{self, AgreementVersion};
use crate::store::registrations::{
    self, LinkPurpose, LinkUse, RegistrationView, SignatureEvidence, SignatureRow, TokenOutcome,
    Verification,
};

use super::error::AppError;
use super::form::FormInput;
use super::register::{send_confirmation, user_agent};
use super::session::ClientIp;
use super::session::{Visitor, cookie, session_cookie_name, start_session};

/// Failed logins allowed per account, and per client address, in [`THROTTLE_WINDOW`].
pub const MAX_FAILURES_PER_ACCOUNT: i64 = 5;
pub const MAX_FAILURES_PER_ADDRESS: i64 = 20;
pub const THROTTLE_WINDOW: Duration = Duration::minutes(15);

/// Throttle keys are hashed with a per-process salt: the table never holds an email or an IP.
fn throttle_key(state: &AppState, kind: &str, value: &str) -> String {
    let mut h = Sha256::new();
    h.update(state.throttle_salt.as_bytes());
    h.update(kind.as_bytes());
    h.update([0]);
    h.update(value.as_bytes());
    hex::encode(h.finalize())
}

/// Why a login is refused, in words the owner can act on.
pub enum LoginRefusal {
    BadCredentials,
    Throttled,
}

/// Checks credentials with throttling; shared by the form and `POST /api/v1/sessions`.
pub async fn authenticate(
    state: &AppState,
    email: &str,
    password: &str,
    ip: std::net::IpAddr,
) -> Result<Result<Account, LoginRefusal>, AppError> {
    let email = EmailAddress::parse(email)
        .map(|e| e.as_str().to_owned())
        .unwrap_or_default();
    let account_key = throttle_key(state, "account", &email);
    let address_key = throttle_key(state, "address", &ip.to_string());
    if accounts::login_failures_since(&state.db, &account_key, THROTTLE_WINDOW).await?
        >= MAX_FAILURES_PER_ACCOUNT
        || accounts::login_failures_since(&state.db, &address_key, THROTTLE_WINDOW).await?
            >= MAX_FAILURES_PER_ADDRESS
    {
        return Ok(Err(LoginRefusal::Throttled));
    }
    let account = if email.is_empty() {
        None
    } else {
        accounts::by_email(&state.db, &email).await?
    };
    let ok = state
        .hasher
        .verify(password, account.as_ref().map(|a| a.password_hash.as_str()))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    match account {
        Some(account) if ok => {
            accounts::clear_login_failures(&state.db, &account_key).await?;
            Ok(Ok(account))
        }
        _ => {
            accounts::record_login_failure(&state.db, &[account_key, address_key]).await?;
            Ok(Err(LoginRefusal::BadCredentials))
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
pub struct LoginPage {
    csrf: String,
    email: String,
    error: Option<&'static str>,
    /// Where to go after logging in (already checked by [`local_path`]); empty: the default.
    next: String,
}

/// A path on this site to return to after login: starts with one `/` and holds only plain path
/// characters, so it can neither leave the site (`//host`, `/\host`) nor smuggle anything in.
fn local_path(next: &str) -> Option<&str> {
    let ok = next.len() <= 200
        && next.starts_with('/')
        && !next.starts_with("//")
        && next
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-_.~".contains(&b));
    ok.then_some(next)
}

#[derive(Debug, Deserialize, Default)]
pub struct LoginParams {
    #[serde(default)]
    next: String,
}

pub async fn login_form(
    Extension(visitor): Extension<Visitor>,
    Query(params): Query<LoginParams>,
) -> Response {
    if let Some(account) = &visitor.account {
        return Redirect::to(super::roles::after_login(account)).into_response();
    }
    LoginPage {
        csrf: visitor.csrf,
        email: String::new(),
        error: None,
        next: local_path(&params.next).unwrap_or_default().to_owned(),
    }
    .into_response()
}

#[derive(Debug, Deserialize, Default)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

pub async fn login(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    ClientIp(ip): ClientIp,
    FormInput(form): FormInput<LoginForm>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&form.csrf)?;
    let refused = |status: StatusCode, error: &'static str| {
        Ok((
            status,
            LoginPage {
                csrf: visitor.csrf.clone(),
                email: form.email.chars().take(254).collect(),
                error: Some(error),
                next: local_path(&form.next).unwrap_or_default().to_owned(),
            },
        )
            .into_response())
    };
    let account = match authenticate(&state, &form.email, &form.password, ip).await? {
        Ok(account) => account,
        Err(LoginRefusal::BadCredentials) => {
            return refused(StatusCode::UNAUTHORIZED, "邮箱或密码不正确。");
        }
        Err(LoginRefusal::Throttled) => {
            return refused(
                StatusCode::TOO_MANY_REQUESTS,
                "登录失败次数过多，为保护账户安全已暂停登录，请15分钟后再试，或通过“忘记密码”重设。",
            );
        }
    };
    // Rotate: the pre-login session id (if any) dies, a fresh one is issued.
    if let Some(old) = &visitor.session_token {
        accounts::end_session(&state.db, old).await?;
    }
    // An owner must sign a newer agreement before anything else; otherwise back to the page
    // that asked for the login, or the account's home.
    let target = if account.is(Role::Owner) && needs_signature(&state, account.id).await? {
        "/me/agreement"
    } else if account.must_change_password {
        super::roles::CHANGE_PASSWORD
    } else if let Some(next) = local_path(&form.next) {
        next
    } else {
        super::roles::home_for(&account)
    };
    start_session(&state, account.id, target).await
}

#[derive(Debug, Deserialize, Default)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    FormInput(form): FormInput<CsrfOnly>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&form.csrf)?;
    if let Some(token) = &visitor.session_token {
        accounts::end_session(&state.db, token).await?;
    }
    let mut resp = Redirect::to("/").into_response();
    let secure = state.settings.secure_cookies;
    if let Some(c) = cookie(session_cookie_name(secure), "", secure, Some(0)) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(resp)
}

/// One step of the path, as shown on `/me` and in the API.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Step {
    /// `submitted`, `email_confirmed`, `verified`, `agreement_signed`, `provincial_sync`.
    pub key: &'static str,
    /// `done`, `pending`, `in_review`, `rejected`, `action_needed`.
    pub state: &'static str,
    pub label: &'static str,
    /// What happened or what to do, in Chinese.
    pub detail: String,
}

/// The state of every step of one registration.
pub fn steps(
    reg: &RegistrationView,
    signatures: &[SignatureRow],
    current: Option<&AgreementVersion>,
) -> Vec<Step> {
    let mut out = vec![Step {
        key: "submitted",
        state: "done",
        label: "提交登记",
        detail: format!("{} 提交", format_minute(reg.created_at)),
    }];
    out.push(match reg.email_confirmed_at {
        Some(at) => Step {
            key: "email_confirmed",
            state: "done",
            label: "确认邮箱",
            detail: format!("{} 已确认", format_minute(at)),
        },
        None => Step {
            key: "email_confirmed",
            state: "action_needed",
            label: "确认邮箱",
            detail: "请打开我们发到您邮箱的确认邮件，点击其中的链接（24小时内有效）。没收到可以重新发送。".to_owned(),
        },
    });
    let verification = Verification::parse(&reg.verification);
    let mismatch: Vec<&'static str> = reg
        .mismatch
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .filter_map(Mismatch::parse)
        .map(Mismatch::message)
        .collect();
    out.push(match verification {
        Some(Verification::Matched) => Step {
            key: "verified",
            state: "done",
            label: "实名核验",
            detail: "已与市场主体登记名录核对一致".to_owned(),
        },
        Some(Verification::Approved) => Step {
            key: "verified",
            state: "done",
            label: "实名核验",
            detail: "人工审核已通过".to_owned(),
        },
        Some(Verification::Rejected) => Step {
            key: "verified",
            state: "rejected",
            label: "实名核验",
            detail: format!(
                "人工审核未通过：{}",
                reg.decision_reason
                    .as_deref()
                    .unwrap_or("请联系所在乡镇（街道）了解原因")
            ),
        },
        _ => Step {
            key: "verified",
            state: "in_review",
            label: "实名核验",
            detail: format!(
                "已申请人工审核，由所在乡镇（街道）或主管部门处理。原因：{}",
                mismatch.join(" ")
            ),
        },
    });
    let latest = signatures.first();
    out.push(match (latest, current) {
        (Some(sig), Some(cur)) if sig.version == cur.version => Step {
            key: "agreement_signed",
            state: "done",
            label: "签署《用户服务协议》",
            detail: format!("{} 签署版本 {}", format_minute(sig.signed_at), sig.version),
        },
        (Some(_), Some(cur)) => Step {
            key: "agreement_signed",
            state: "action_needed",
            label: "签署《用户服务协议》",
            detail: format!("协议已更新为版本 {}，请阅读并签署后继续办理。", cur.version),
        },
        (None, Some(cur)) => Step {
            key: "agreement_signed",
            state: "action_needed",
            label: "签署《用户服务协议》",
            detail: format!(
                "请阅读并签署《用户服务协议》（版本 {}）后继续办理。",
                cur.version
            ),
        },
        (Some(sig), None) => Step {
            key: "agreement_signed",
            state: "done",
            label: "签署《用户服务协议》",
            detail: format!("{} 签署版本 {}", format_minute(sig.signed_at), sig.version),
        },
        (None, None) => Step {
            key: "agreement_signed",
            state: "pending",
            label: "签署《用户服务协议》",
            detail: String::new(),
        },
    });
    out.push(match reg.sync_state.as_str() {
        "accepted" => Step {
            key: "provincial_sync",
            state: "done",
            label: "报送省级平台",
            detail: "省级“信易贷”平台已受理，您的市场主体已完成实名入驻。".to_owned(),
        },
        "rejected" => Step {
            key: "provincial_sync",
            state: "rejected",
            label: "报送省级平台",
            detail: format!(
                "省级平台未受理：{}。请按原因核对信息，或联系所在乡镇（街道）。",
                reg.sync_reason.as_deref().unwrap_or("未说明原因")
            ),
        },
        _ => Step {
            key: "provincial_sync",
            state: "pending",
            label: "报送省级平台",
            detail: "等待报送省级“信易贷”平台，受理结果会显示在这里。".to_owned(),
        },
    });
    out
}

/// True when any of the account's registrations has not signed the current agreement.
async fn needs_signature(state: &AppState, account_id: i64) -> Result<bool, AppError> {
    let Some(current) = agreements::current(&state.db).await? else {
        return Ok(false);
    };
    for reg in registrations::for_account(&state.db, account_id).await? {
        let sigs = registrations::signatures(&state.db, reg.id).await?;
        if sigs.first().is_none_or(|s| s.version != current.version) {
            return Ok(true);
        }
    }
    Ok(false)
}

pub struct RegistrationCard {
    pub reg: RegistrationView,
    pub steps: Vec<Step>,
}

#[derive(Template, WebTemplate)]
#[template(path = "me.html")]
pub struct MePage {
    csrf: String,
    email: String,
    email_confirmed: bool,
    cards: Vec<RegistrationCard>,
    notice: Option<&'static str>,
}

#[derive(Debug, Deserialize)]
pub struct MeParams {
    #[serde(default)]
    notice: Option<String>,
}

pub async fn me(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Query(params): Query<MeParams>,
) -> Result<MePage, AppError> {
    let account = visitor.require_account()?;
    let current = agreements::current(&state.db).await?;
    let mut cards = Vec::new();
    for reg in registrations::for_account(&state.db, account.id).await? {
        let sigs = registrations::signatures(&state.db, reg.id).await?;
        let steps = steps(&reg, &sigs, current.as_ref());
        cards.push(RegistrationCard { reg, steps });
    }
    Ok(MePage {
        csrf: visitor.csrf.clone(),
        email: account.email.clone(),
        email_confirmed: account.email_confirmed_at.is_some(),
        cards,
        // Only known notices: the query string is not echoed into the page.
        notice: match params.notice.as_deref() {
            Some("contact") => Some("联系电话已更新，将自动同步到省级平台。"),
            Some("resubmitted") => Some("已重新提交，平台将自动重新报送省级平台。"),
            _ => None,
        },
    })
}

/// Resends the confirmation email, at most once a minute per account.
pub async fn resend_confirmation(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    FormInput(form): FormInput<CsrfOnly>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&form.csrf)?;
    let account = visitor.require_account()?;
    let mut page = me(
        State(state.clone()),
        Extension(visitor.clone()),
        Query(MeParams { notice: None }),
    )
    .await?;
    if account.email_confirmed_at.is_some() {
        page.notice = Some("您的邮箱已经确认过了。");
        return Ok(page.into_response());
    }
    match registrations::new_link_token(
        &state.db,
        account.id,
        LinkPurpose::ConfirmEmail,
        Duration::minutes(1),
    )
    .await?
    {
        Some(token) => {
            let name = page
                .cards
                .first()
                .map(|c| c.reg.entity_name.clone())
                .unwrap_or_default();
            send_confirmation(&state, &account.email, &name, &token).await;
            page.notice = Some("确认邮件已重新发送，请查收（也请看看垃圾邮件箱）。");
            Ok(page.into_response())
        }
        None => {
            page.notice = Some("刚刚已经发送过，请1分钟后再试。");
            Ok((StatusCode::TOO_MANY_REQUESTS, page).into_response())
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "me_agreement.html")]
pub struct AgreementPage {
    csrf: String,
    /// The version last signed, with its text and the signature.
    signed: Option<(AgreementVersion, SignatureRow)>,
    /// The current version when it still needs signing.
    to_sign: Option<AgreementVersion>,
    signer_name: String,
    error: Option<&'static str>,
}

async fn agreement_page(
    state: &AppState,
    visitor: &Visitor,
    error: Option<&'static str>,
) -> Result<AgreementPage, AppError> {
    let account = visitor.require_account()?;
    let regs = registrations::for_account(&state.db, account.id).await?;
    let Some(reg) = regs.first() else {
        return Err(AppError::NotFound);
    };
    let sigs = registrations::signatures(&state.db, reg.id).await?;
    let signed = match sigs.into_iter().next() {
        Some(sig) => agreements::get(&state.db, &sig.version)
            .await?
            .map(|v| (v, sig)),
        None => None,
    };
    let current = agreements::current(&state.db).await?;
    let to_sign = current.filter(|c| signed.as_ref().is_none_or(|(v, _)| v.version != c.version));
    Ok(AgreementPage {
        csrf: visitor.csrf.clone(),
        signed,
        to_sign,
        signer_name: reg.legal_rep_name.clone(),
        error,
    })
}

pub async fn agreement(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
) -> Result<AgreementPage, AppError> {
    agreement_page(&state, &visitor, None).await
}

#[derive(Debug, Deserialize, Default)]
pub struct SignForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    digest: String,
    #[serde(default)]
    agree: Option<String>,
}

pub async fn sign_agreement(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    FormInput(form): FormInput<SignForm>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&form.csrf)?;
    let account = visitor.require_account()?;
    let page = agreement_page(&state, &visitor, None).await?;
    let Some(current) = &page.to_sign else {
        return Ok(Redirect::to("/me").into_response());
    };
    if form.agree.is_none() {
        let page =
            agreement_page(&state, &visitor, Some("请勾选“我已阅读并同意”后再签署。")).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    if form.version != current.version || form.digest != current.digest {
        let page = agreement_page(
            &state,
            &visitor,
            Some("协议刚刚又更新了，请阅读下面的最新版本后再签署。"),
        )
        .await?;
        return Ok((StatusCode::CONFLICT, page).into_response());
    }
    let regs = registrations::for_account(&state.db, account.id).await?;
    for reg in &regs {
        registrations::sign(
            &state.db,
            reg.id,
            account.id,
            &SignatureEvidence {
                version: current.version.clone(),
                digest: current.digest.clone(),
                signer_name: reg.legal_rep_name.clone(),
                ip: ip.to_string(),
                user_agent: user_agent(&headers),
            },
        )
        .await?;
    }
    Ok(Redirect::to("/me").into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "forgot_password.html")]
pub struct ForgotPage {
    csrf: String,
    sent: bool,
}

pub async fn forgot_form(Extension(visitor): Extension<Visitor>) -> ForgotPage {
    ForgotPage {
        csrf: visitor.csrf,
        sent: false,
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct ForgotForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

/// Always answers the same, so the page does not reveal which emails have accounts.
pub async fn forgot(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    FormInput(form): FormInput<ForgotForm>,
) -> Result<ForgotPage, AppError> {
    visitor.check_csrf(&form.csrf)?;
    if let Ok(email) = EmailAddress::parse(&form.email)
        && let Some(account) = accounts::by_email(&state.db, email.as_str()).await?
        && let Some(token) = registrations::new_link_token(
            &state.db,
            account.id,
            LinkPurpose::ResetPassword,
            Duration::minutes(1),
        )
        .await?
    {
        let link = format!("{}/reset-password?token={token}", state.settings.public_url);
        let expires = (crate::clock::beijing_now() + registrations::RESET_LINK_TTL)
            .format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]"
            ))
            .unwrap_or_default();
        super::register::deliver(
            &state,
            crate::mail::messages::password_reset(&account.email, &link, &expires),
            "password_reset",
        )
        .await;
    }
    Ok(ForgotPage {
        csrf: visitor.csrf,
        sent: true,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "reset_password.html")]
pub struct ResetPage {
    csrf: String,
    token: String,
    error: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
pub struct ResetParams {
    #[serde(default)]
    token: String,
}

fn clean_token(token: &str) -> String {
    token
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(64)
        .collect()
}

fn dead_link() -> super::register::MessagePage {
    super::register::MessagePage {
        title: "链接无效或已过期",
        message: "重设密码的链接1小时内有效且只能使用一次。请重新申请。",
        link: ("/forgot-password", "重新申请重设密码"),
    }
}

pub async fn reset_form(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    axum::extract::Query(params): axum::extract::Query<ResetParams>,
) -> Result<Response, AppError> {
    let token = clean_token(&params.token);
    if token.is_empty() || !registrations::reset_link_is_live(&state.db, &token).await? {
        return Ok((StatusCode::NOT_FOUND, dead_link()).into_response());
    }
    Ok(ResetPage {
        csrf: visitor.csrf,
        token,
        error: None,
    }
    .into_response())
}

#[derive(Debug, Deserialize, Default)]
pub struct ResetForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
}

pub async fn reset(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    FormInput(form): FormInput<ResetForm>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&form.csrf)?;
    let token = clean_token(&form.token);
    if let Err(rule) = crate::security::password::check_rules(&form.password, None) {
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            ResetPage {
                csrf: visitor.csrf,
                token,
                error: Some(rule.to_string()),
            },
        )
            .into_response());
    }
    let hash = state
        .hasher
        .hash(&form.password)
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(
        match registrations::use_link(
            &state.db,
            &token,
            LinkUse::ResetPassword {
                password_hash: &hash,
            },
        )
        .await?
        {
            TokenOutcome::Used => super::register::MessagePage {
                title: "密码已重设",
                message: "新密码已生效，其他设备上的登录已全部退出。请用新密码登录。",
                link: ("/login", "登录"),
            }
            .into_response(),
            TokenOutcome::Expired | TokenOutcome::Unknown => {
                (StatusCode::NOT_FOUND, dead_link()).into_response()
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_plain_paths_on_this_site_are_returned_to() {
        for ok in ["/admin/sync", "/me", "/me/registrations/12/contact"] {
            assert_eq!(local_path(ok), Some(ok));
        }
        for bad in [
            "",
            "admin",
            "//evil.example/x",
            "/\\evil.example",
            "https://evil.example/",
            "/me?x=<script>",
            "/me\r\nSet-Cookie: x",
            "/%2F%2Fevil.example",
        ] {
            assert_eq!(local_path(bad), None, "{bad:?}");
        }
        assert_eq!(local_path(&format!("/{}", "a".repeat(300))), None);
    }
}

//! The owner's registration pages: find the entity, say who you are, consent and sign.
//! Every page works without JavaScript; `?ref=CODE` (a leaflet or LED-screen code) rides along.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::app::AppState;
use crate::application::registration::{
    self, FieldErrors, Mismatch, RegistrationInput, SubmitError,
};
use crate::domain::entity_kind::EntityKind;
use crate::domain::person_name;
use crate::domain::uscc::Uscc;
use crate::mail::messages;
use crate::store::agreements::{self, AgreementVersion};
use crate::store::entities::{self, SearchTerm};
use crate::store::registrations::{self, SignatureEvidence, TokenOutcome};

use super::error::AppError;
use super::form::FormInput;
use super::session::ClientIp;
use super::session::{Visitor, start_session};

/// A referral code as it may appear in a URL: short, letters, digits and dashes.
pub fn clean_ref(code: Option<&str>) -> String {
    code.and_then(registration::referral_code)
        .unwrap_or_default()
        .to_owned()
}

#[derive(Debug, Deserialize, Default)]
pub struct FindParams {
    #[serde(default)]
    q: String,
    #[serde(default, rename = "ref")]
    referral: Option<String>,
}

pub struct Candidate {
    pub name: String,
    pub uscc: String,
    pub kind: &'static str,
    pub legal_rep_masked: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "register_find.html")]
pub struct FindPage {
    q: String,
    referral: String,
    searched: bool,
    candidates: Vec<Candidate>,
}

/// Step 1: find the entity in the roster.
pub async fn find(
    State(state): State<AppState>,
    Query(params): Query<FindParams>,
) -> Result<FindPage, AppError> {
    let q: String = params.q.trim().chars().take(100).collect();
    let referral = clean_ref(params.referral.as_deref());
    let mut page = FindPage {
        q: q.clone(),
        referral,
        searched: false,
        candidates: Vec::new(),
    };
    if let Some(term) = SearchTerm::parse(&q) {
        page.searched = true;
        page.candidates = entities::search(&state.db, &state.settings.jurisdiction, &term, 10)
            .await?
            .into_iter()
            .map(|row| Candidate {
                kind: EntityKind::parse_code(&row.kind).map_or("其他", EntityKind::label_zh),
                legal_rep_masked: person_name::mask(&row.legal_rep),
                name: row.name,
                uscc: row.uscc,
            })
            .collect();
    }
    Ok(page)
}

/// The registration form's fields, all optional so any body parses and errors show inline.
#[derive(Debug, Deserialize, Default, Clone)]
pub struct RegisterForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub uscc: String,
    #[serde(default)]
    pub entity_name: String,
    #[serde(default)]
    pub legal_rep_name: String,
    #[serde(default)]
    pub legal_rep_id_number: String,
    #[serde(default)]
    pub mobile: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub agree_agreement: Option<String>,
    #[serde(default)]
    pub agree_personal_info: Option<String>,
    #[serde(default)]
    pub agreement_version: String,
    #[serde(default)]
    pub agreement_digest: String,
    #[serde(default, rename = "ref")]
    pub referral: Option<String>,
    #[serde(default)]
    pub request_review: Option<String>,
    #[serde(default)]
    pub review_note: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "register_form.html")]
pub struct FormPage {
    csrf: String,
    form: RegisterForm,
    referral: String,
    /// The roster's name for the entity, when found (shown, and prefilled).
    in_roster: bool,
    agreement: AgreementVersion,
    errors: FieldErrors,
    /// L2 problems: the owner may ask for manual review.
    mismatches: Vec<&'static str>,
    already_registered: bool,
}

impl FormPage {
    fn error(&self, field: &str) -> Option<&str> {
        self.errors.message(field)
    }

    fn mismatch_text(&self, code: &str) -> &'static str {
        Mismatch::parse(code).map_or("", Mismatch::message)
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct FormParams {
    #[serde(default)]
    uscc: String,
    #[serde(default, rename = "ref")]
    referral: Option<String>,
}

async fn current_agreement(state: &AppState) -> Result<AgreementVersion, AppError> {
    agreements::current(&state.db)
        .await?
        .ok_or(AppError::NotFound)
}

/// Step 2 (GET): the form, prefilled from the roster when the USCC is known.
pub async fn form(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Query(params): Query<FormParams>,
) -> Result<FormPage, AppError> {
    let mut form = RegisterForm::default();
    let mut in_roster = false;
    if let Ok(uscc) = Uscc::parse(&params.uscc) {
        form.uscc = uscc.as_str().to_owned();
        if let Some(row) = entities::by_uscc(&state.db, uscc.as_str()).await? {
            form.entity_name = row.name;
            in_roster = true;
        }
    }
    Ok(FormPage {
        csrf: visitor.csrf,
        referral: clean_ref(params.referral.as_deref()),
        form,
        in_roster,
        agreement: current_agreement(&state).await?,
        errors: FieldErrors::default(),
        mismatches: Vec::new(),
        already_registered: false,
    })
}

/// Step 2 (POST): check, record, confirm by email, log in, show the status page.
pub async fn submit(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    FormInput(form): FormInput<RegisterForm>,
) -> Result<Response, AppError> {
    visitor.check_csrf(&form.csrf)?;
    let agreement = current_agreement(&state).await?;
    let referral = clean_ref(form.referral.as_deref());
    let input = RegistrationInput {
        uscc: form.uscc.clone(),
        entity_name: form.entity_name.clone(),
        legal_rep_name: form.legal_rep_name.clone(),
        legal_rep_id_number: form.legal_rep_id_number.clone(),
        mobile: form.mobile.clone(),
        email: form.email.clone(),
        password: form.password.clone(),
        agree_personal_info: form.agree_personal_info.is_some(),
        referral_code: (!referral.is_empty()).then(|| referral.clone()),
        request_review: form.request_review.is_some(),
        review_note: Some(form.review_note.clone()),
    };
    let mut errors = match registration::check_l1(&input, crate::clock::today()) {
        Ok(_) => FieldErrors::default(),
        Err(errors) => errors,
    };
    // The agreement box is the signature: it must be ticked, for the version that was shown.
    if form.agree_agreement.is_none() {
        errors.add(
            "agree_agreement",
            "agreement_required",
            "请阅读并勾选同意《用户服务协议》",
        );
    } else if form.agreement_version != agreement.version
        || form.agreement_digest != agreement.digest
    {
        errors.add(
            "agree_agreement",
            "agreement_stale",
            "《用户服务协议》已更新为新版本，请阅读下方的新版本后重新勾选",
        );
    }
    let page = |errors: FieldErrors, mismatches: Vec<&'static str>, already: bool| FormPage {
        csrf: visitor.csrf.clone(),
        referral: referral.clone(),
        in_roster: false,
        agreement: agreement.clone(),
        errors,
        mismatches,
        already_registered: already,
        form: RegisterForm {
            password: String::new(),
            legal_rep_id_number: form.legal_rep_id_number.clone(),
            ..form.clone()
        },
    };
    if !errors.is_empty() {
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            page(errors, Vec::new(), false),
        )
            .into_response());
    }
    let signature = SignatureEvidence {
        version: agreement.version.clone(),
        digest: agreement.digest.clone(),
        signer_name: form.legal_rep_name.trim().to_owned(),
        ip: ip.to_string(),
        user_agent: user_agent(&headers),
    };
    let services = state.services();
    match registration::submit(&services, &input, Some(signature), crate::clock::today()).await {
        Ok(created) => {
            send_confirmation(
                &state,
                &input.email,
                &form.entity_name,
                &created.confirm_token,
            )
            .await;
            start_session(&state, created.account_id, "/me").await
        }
        Err(SubmitError::Invalid(errors)) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            page(errors, Vec::new(), false),
        )
            .into_response()),
        Err(SubmitError::Mismatch(found)) => {
            let mut errors = FieldErrors::default();
            for m in &found {
                errors.add(m.field(), m.code(), m.message());
            }
            let codes = found.iter().map(|m| m.code()).collect();
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page(errors, codes, false)).into_response())
        }
        Err(SubmitError::AlreadyRegistered) => {
            notify_existing_owner(&state, &form.uscc).await;
            Ok((
                StatusCode::CONFLICT,
                page(FieldErrors::default(), Vec::new(), true),
            )
                .into_response())
        }
        Err(SubmitError::Password(e)) => Err(AppError::Internal(e.to_string())),
        Err(SubmitError::Store(e)) => Err(e.into()),
    }
}

pub fn user_agent(headers: &HeaderMap) -> String {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect()
}

/// Sends the confirmation link; a failure is logged and the owner can resend from `/me`.
pub async fn send_confirmation(state: &AppState, to: &str, entity_name: &str, token: &str) {
    let link = format!("{}/confirm-email?token={token}", state.settings.public_url);
    let expires = (crate::clock::beijing_now() + registrations::CONFIRM_LINK_TTL)
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute]"
        ))
        .unwrap_or_default();
    deliver(
        state,
        messages::confirm_email(to, entity_name, &link, &expires),
        "confirm_email",
    )
    .await;
}

/// Sends a built message; failures are logged by kind (never the address) and not fatal.
pub async fn deliver(
    state: &AppState,
    mail: Result<crate::mail::Outgoing, crate::mail::MailError>,
    kind: &'static str,
) {
    let result = match mail {
        Ok(mail) => state.mailer.send(mail).await,
        Err(err) => Err(err),
    };
    if let Err(err) = result {
        tracing::warn!(error = %err, kind, "email not sent");
    }
}

/// Tells the registered owner (by email, not on the page) that someone tried again.
async fn notify_existing_owner(state: &AppState, uscc: &str) {
    let Ok(uscc) = Uscc::parse(uscc) else { return };
    let Ok(Some(email)) = registrations::email_for_uscc(&state.db, uscc.as_str()).await else {
        return;
    };
    let name = entities::by_uscc(&state.db, uscc.as_str())
        .await
        .ok()
        .flatten()
        .map(|r| r.name)
        .unwrap_or_default();
    let base = &state.settings.public_url;
    let mail = messages::already_registered(
        &email,
        &name,
        &format!("{base}/login"),
        &format!("{base}/forgot-password"),
    );
    deliver(state, mail, "already_registered").await;
}

#[derive(Debug, Deserialize)]
pub struct ConfirmParams {
    #[serde(default)]
    token: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub title: &'static str,
    pub message: &'static str,
    pub link: (&'static str, &'static str),
}

/// The link from the confirmation email.
pub async fn confirm_email(
    State(state): State<AppState>,
    Query(params): Query<ConfirmParams>,
) -> Result<(StatusCode, MessagePage), AppError> {
    let token: String = params
        .token
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(64)
        .collect();
    let outcome = if token.is_empty() {
        TokenOutcome::Unknown
    } else {
        registrations::use_link(&state.db, &token, registrations::LinkUse::ConfirmEmail).await?
    };
    Ok(match outcome {
        TokenOutcome::Used => (
            StatusCode::OK,
            MessagePage {
                title: "邮箱已确认",
                message: "谢谢！您的电子邮箱已确认。登录后可以查看办理进度。",
                link: ("/me", "查看办理进度"),
            },
        ),
        TokenOutcome::Expired => (
            StatusCode::GONE,
            MessagePage {
                title: "链接已过期",
                message: "确认链接的有效期为24小时，已经过期。请登录后在“我的办理进度”页面重新发送。",
                link: ("/login", "登录"),
            },
        ),
        TokenOutcome::Unknown => (
            StatusCode::NOT_FOUND,
            MessagePage {
                title: "链接无效",
                message: "这个确认链接无效，可能已被使用或复制不完整。请登录后重新发送。",
                link: ("/login", "登录"),
            },
        ),
    })
}

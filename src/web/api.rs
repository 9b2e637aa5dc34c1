//! JSON API under `/api/v1` for a mobile front end and for tests. Errors: 422
//! `{"errors": {"field": ["code", …]}}`, 409 for conflicts, 401 without a valid bearer token,
//! 404 for anything the caller may not see.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::app::AppState;
use crate::application::registration::{
    self, AmendError, Correction, RegistrationInput, SubmitError,
};
use crate::domain::entity_kind::EntityKind;
use crate::domain::person_name;
use crate::store::accounts::{self, Account, SessionKind};
use crate::store::agreements;
use crate::store::entities::{self, SearchTerm};
use crate::store::registrations::{self, RegistrationView, SignatureEvidence};

use super::account::{LoginRefusal, Step, authenticate, steps};
use super::error::error_chain;
use super::register::user_agent;
use super::session::ClientIp;

#[derive(OpenApi)]
#[openapi(
    info(title = "信易贷市场主体实名入驻 API", version = "1"),
    paths(
        create_registration,
        create_session,
        get_registration,
        current_agreement,
        create_signature,
        change_contact,
        resubmit,
        search_entities
    ),
    components(schemas(
        RegistrationRequest,
        Created,
        SessionRequest,
        SessionToken,
        RegistrationState,
        Step,
        Agreement,
        SignatureRequest,
        ContactRequest,
        ResubmitRequest,
        EntityMatch,
        ApiErrors,
        Problem
    ))
)]
pub struct ApiDoc;

pub async fn openapi() -> Response {
    let mut doc = ApiDoc::openapi();
    doc.merge(super::staff_api::StaffApiDoc::openapi());
    doc.merge(super::review::ReviewApiDoc::openapi());
    doc.merge(super::credit_metric::CreditMetricApiDoc::openapi());
    match doc.to_pretty_json() {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(err) => api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            &err.to_string(),
        ),
    }
}

/// `422 {"errors": {"field": ["code", …]}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiErrors {
    pub errors: BTreeMap<String, Vec<String>>,
}

/// Any other error: a stable code and a Chinese message.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    pub error: String,
    pub message: String,
}

pub(super) fn api_error(status: StatusCode, code: &str, message: &str) -> Response {
    if status.is_server_error() {
        tracing::error!(error = %message, "api failure");
    }
    let message = if status.is_server_error() {
        "系统繁忙，请稍后重试"
    } else {
        message
    };
    (
        status,
        Json(Problem {
            error: code.to_owned(),
            message: message.to_owned(),
        }),
    )
        .into_response()
}

fn field_errors(errors: BTreeMap<&'static str, Vec<&'static str>>) -> Response {
    let errors = errors
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
        .collect();
    (StatusCode::UNPROCESSABLE_ENTITY, Json(ApiErrors { errors })).into_response()
}

pub(super) fn store_failure(err: &dyn std::error::Error) -> Response {
    api_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        &error_chain(err),
    )
}

/// Malformed JSON or a wrong type is the caller's mistake: 422, never 500.
pub(super) fn invalid_json() -> Response {
    let mut errors = BTreeMap::new();
    errors.insert("body", vec!["invalid_json"]);
    field_errors(errors)
}

/// Why a JSON body was refused.
pub(super) enum BadBody {
    Invalid,
    TooLarge,
}

impl IntoResponse for BadBody {
    fn into_response(self) -> Response {
        match self {
            BadBody::Invalid => invalid_json(),
            BadBody::TooLarge => api_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "请求内容超过 64 KiB",
            ),
        }
    }
}

/// The request body as `T`, only from a JSON object (serde would also fill a struct from an
/// array, which no client means).
pub(super) fn json_object<T: serde::de::DeserializeOwned>(
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<T, BadBody> {
    match body {
        Ok(Json(value)) if value.is_object() => {
            serde_json::from_value(value).map_err(|_| BadBody::Invalid)
        }
        Ok(_) => Err(BadBody::Invalid),
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            Err(BadBody::TooLarge)
        }
        Err(_) => Err(BadBody::Invalid),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegistrationRequest {
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
    pub agree_personal_info: bool,
    #[serde(default)]
    pub referral_code: Option<String>,
    /// After a roster mismatch, ask for manual review instead of failing.
    #[serde(default)]
    pub request_review: bool,
    #[serde(default)]
    pub review_note: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Created {
    pub id: i64,
    pub status: String,
}

/// Register an entity under real name.
#[utoipa::path(post, path = "/api/v1/registrations", request_body = RegistrationRequest,
    responses(
        (status = 201, body = Created),
        (status = 409, body = Problem, description = "this USCC is already registered"),
        (status = 422, body = ApiErrors, description = "bad fields, or a roster mismatch without request_review")
    ))]
pub async fn create_registration(
    State(state): State<AppState>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Response {
    let req: RegistrationRequest = match json_object(body) {
        Ok(r) => r,
        Err(bad) => return bad.into_response(),
    };
    let input = RegistrationInput {
        uscc: req.uscc,
        entity_name: req.entity_name,
        legal_rep_name: req.legal_rep_name,
        legal_rep_id_number: req.legal_rep_id_number,
        mobile: req.mobile,
        email: req.email.clone(),
        password: req.password,
        agree_personal_info: req.agree_personal_info,
        referral_code: req.referral_code,
        request_review: req.request_review,
        review_note: req.review_note,
    };
    let services = state.services();
    match registration::submit(&services, &input, None, crate::clock::today()).await {
        Ok(created) => {
            let entity_name = input.entity_name.clone();
            super::register::send_confirmation(
                &state,
                &req.email,
                &entity_name,
                &created.confirm_token,
            )
            .await;
            // What was stored, not what was asked: a matching entity needs no review.
            let status = match created.verification {
                registrations::Verification::ReviewRequested => "review_requested",
                _ => "submitted",
            };
            (
                StatusCode::CREATED,
                Json(Created {
                    id: created.registration_id,
                    status: status.to_owned(),
                }),
            )
                .into_response()
        }
        Err(SubmitError::Invalid(errors)) => field_errors(errors.codes()),
        Err(SubmitError::Mismatch(found)) => {
            let mut errors: BTreeMap<&'static str, Vec<&'static str>> = BTreeMap::new();
            for m in found {
                errors.entry(m.field()).or_default().push(m.code());
            }
            field_errors(errors)
        }
        Err(SubmitError::AlreadyRegistered) => api_error(
            StatusCode::CONFLICT,
            "already_registered",
            "该统一社会信用代码已经登记过；如为本人登记，请登录或通过邮箱重设密码",
        ),
        Err(SubmitError::Password(e)) => api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            &e.to_string(),
        ),
        Err(SubmitError::Store(e)) => store_failure(&e),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SessionRequest {
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionToken {
    /// Send as `Authorization: Bearer <token>`; expires after 30 min idle or 12 h.
    pub token: String,
}

/// Log in; returns a bearer token.
#[utoipa::path(post, path = "/api/v1/sessions", request_body = SessionRequest,
    responses((status = 200, body = SessionToken), (status = 401, body = Problem), (status = 429, body = Problem)))]
pub async fn create_session(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Response {
    let req: SessionRequest = match json_object(body) {
        Ok(r) => r,
        Err(bad) => return bad.into_response(),
    };
    match authenticate(&state, &req.email, &req.password, ip).await {
        Ok(Ok(account)) => {
            match accounts::create_session(&state.db, account.id, SessionKind::Bearer).await {
                Ok(token) => Json(SessionToken { token }).into_response(),
                Err(e) => store_failure(&e),
            }
        }
        Ok(Err(LoginRefusal::BadCredentials)) => api_error(
            StatusCode::UNAUTHORIZED,
            "bad_credentials",
            "邮箱或密码不正确",
        ),
        Ok(Err(LoginRefusal::Throttled)) => api_error(
            StatusCode::TOO_MANY_REQUESTS,
            "throttled",
            "登录失败次数过多，请15分钟后再试",
        ),
        Err(e) => api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            &e.to_string(),
        ),
    }
}

/// The account behind `Authorization: Bearer …`, or the 401 to send.
async fn bearer(state: &AppState, headers: &HeaderMap) -> Result<Account, Response> {
    super::roles::bearer_account(state, headers).await
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegistrationState {
    pub id: i64,
    pub uscc: String,
    pub entity_name: String,
    pub legal_rep_name: String,
    /// Always masked, e.g. `2203**********123X`.
    pub legal_rep_id_number: String,
    pub verification: String,
    pub referral_code: Option<String>,
    /// At the province: `pending`, `accepted` or `rejected`.
    pub sync_state: String,
    /// The province's reason when it rejected the registration.
    pub sync_reason: Option<String>,
    pub steps: Vec<Step>,
}

/// The bearer's account and its registration `id`; anyone else's (or a malformed id) is 404.
async fn own_registration(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
) -> Result<(Account, RegistrationView), Response> {
    let account = bearer(state, headers)
        .await
        .map_err(IntoResponse::into_response)?;
    let not_found = || api_error(StatusCode::NOT_FOUND, "not_found", "没有找到这条登记");
    // A non-numeric id is simply not found (axum's own rejection would be plain text).
    let id = id.parse::<i64>().map_err(|_| not_found())?;
    match registrations::by_id(&state.db, id).await {
        Ok(Some(reg)) if reg.account_id == account.id => Ok((account, reg)),
        Ok(_) => Err(not_found()),
        Err(e) => Err(store_failure(&e)),
    }
}

/// [`own_registration`] with the request's JSON body.
async fn owner_request<T: serde::de::DeserializeOwned>(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<(Account, RegistrationView, T), Response> {
    let (account, reg) = own_registration(state, headers, id).await?;
    let req = json_object(body).map_err(IntoResponse::into_response)?;
    Ok((account, reg, req))
}

/// The state of every step of the caller's own registration.
#[utoipa::path(get, path = "/api/v1/registrations/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = RegistrationState), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_registration(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let (_, reg) = match own_registration(&state, &headers, &id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let sigs = match registrations::signatures(&state.db, reg.id).await {
        Ok(s) => s,
        Err(e) => return store_failure(&e),
    };
    let current = match agreements::current(&state.db).await {
        Ok(c) => c,
        Err(e) => return store_failure(&e),
    };
    let steps = steps(&reg, &sigs, current.as_ref());
    Json(RegistrationState {
        id: reg.id,
        uscc: reg.uscc,
        entity_name: reg.entity_name,
        legal_rep_name: reg.legal_rep_name,
        legal_rep_id_number: reg.legal_rep_id_masked,
        verification: reg.verification,
        referral_code: reg.referral_code,
        sync_state: reg.sync_state,
        sync_reason: reg.sync_reason,
        steps,
    })
    .into_response()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Agreement {
    pub version: String,
    /// Lowercase hex SHA-256 of `text` (UTF-8).
    pub digest: String,
    pub text: String,
}

/// The agreement an owner signs now.
#[utoipa::path(get, path = "/api/v1/agreements/current", responses((status = 200, body = Agreement)))]
pub async fn current_agreement(State(state): State<AppState>) -> Response {
    match agreements::current(&state.db).await {
        Ok(Some(a)) => Json(Agreement {
            version: a.version,
            digest: a.digest,
            text: a.body,
        })
        .into_response(),
        Ok(None) => api_error(StatusCode::NOT_FOUND, "not_found", "尚未发布协议"),
        Err(e) => store_failure(&e),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SignatureRequest {
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub digest: String,
    #[serde(default)]
    pub signer_name: String,
}

/// Sign the current agreement for a registration.
#[utoipa::path(post, path = "/api/v1/registrations/{id}/signatures", params(("id" = i64, Path)),
    request_body = SignatureRequest,
    responses((status = 201), (status = 409, body = Problem, description = "stale version or wrong digest"),
        (status = 422, body = ApiErrors), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn create_signature(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Response {
    let (account, reg, req): (_, _, SignatureRequest) =
        match owner_request(&state, &headers, &id, body).await {
            Ok(found) => found,
            Err(response) => return response,
        };
    let id = reg.id;
    let signer_name = crate::domain::entity_name::normalize_person_name(&req.signer_name);
    if signer_name.is_empty() || signer_name.chars().count() > 50 {
        let mut errors = BTreeMap::new();
        errors.insert("signer_name", vec!["signer_name_required"]);
        return field_errors(errors);
    }
    let current = match agreements::current(&state.db).await {
        Ok(Some(c)) => c,
        Ok(None) => return api_error(StatusCode::NOT_FOUND, "not_found", "尚未发布协议"),
        Err(e) => return store_failure(&e),
    };
    if req.version != current.version || req.digest != current.digest {
        return api_error(
            StatusCode::CONFLICT,
            "agreement_stale",
            "协议版本或摘要与当前版本不一致，请重新获取当前协议",
        );
    }
    let evidence = SignatureEvidence {
        version: current.version,
        digest: current.digest,
        signer_name,
        ip: ip.to_string(),
        user_agent: user_agent(&headers),
    };
    match registrations::sign(&state.db, id, account.id, &evidence).await {
        Ok(()) => StatusCode::CREATED.into_response(),
        Err(e) => store_failure(&e),
    }
}

/// An amendment's outcome as an API answer; `refused` answers [`AmendError::NotAllowed`].
fn amended(
    result: Result<(), AmendError>,
    done: StatusCode,
    refused: fn() -> Response,
) -> Response {
    match result {
        Ok(()) => done.into_response(),
        Err(AmendError::Invalid(errors)) => field_errors(errors.codes()),
        Err(AmendError::NotAllowed) => refused(),
        Err(AmendError::Store(e)) => store_failure(&e),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ContactRequest {
    #[serde(default)]
    pub mobile: String,
}

/// Change the contact mobile number; it follows the registration to the province as its own
/// event, after the registration itself.
#[utoipa::path(put, path = "/api/v1/registrations/{id}/contact", params(("id" = i64, Path)),
    request_body = ContactRequest,
    responses((status = 204), (status = 422, body = ApiErrors), (status = 401, body = Problem),
        (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn change_contact(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Response {
    let (account, reg, req): (_, _, ContactRequest) =
        match owner_request(&state, &headers, &id, body).await {
            Ok(found) => found,
            Err(response) => return response,
        };
    let result = registration::change_mobile(&state.db, reg.id, account.id, &req.mobile).await;
    amended(result, StatusCode::NO_CONTENT, || {
        api_error(StatusCode::NOT_FOUND, "not_found", "没有找到这条登记")
    })
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ResubmitRequest {
    #[serde(default)]
    pub legal_rep_name: String,
    #[serde(default)]
    pub legal_rep_id_number: String,
    #[serde(default)]
    pub mobile: String,
}

/// Correct a registration the province refused and send it again.
#[utoipa::path(post, path = "/api/v1/registrations/{id}/resubmissions", params(("id" = i64, Path)),
    request_body = ResubmitRequest,
    responses((status = 202, description = "queued for the province again"),
        (status = 409, body = Problem, description = "not refused by the province"),
        (status = 422, body = ApiErrors), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn resubmit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Response {
    let (account, reg, req): (_, _, ResubmitRequest) =
        match owner_request(&state, &headers, &id, body).await {
            Ok(found) => found,
            Err(response) => return response,
        };
    let correction = Correction {
        legal_rep_name: req.legal_rep_name,
        legal_rep_id_number: req.legal_rep_id_number,
        mobile: req.mobile,
    };
    let services = state.services();
    let today = crate::clock::today();
    let result = registration::resubmit(&services, reg.id, account.id, &correction, today).await;
    amended(result, StatusCode::ACCEPTED, || {
        api_error(
            StatusCode::CONFLICT,
            "not_rejected",
            "只有被省级平台退回的登记才能修改后重新提交",
        )
    })
}

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntityMatch {
    pub uscc: String,
    pub name: String,
    /// `enterprise`, `individual_business`, `farmer_cooperative`, …
    pub kind: String,
    pub kind_label: String,
    /// Only the first character: `张*`.
    pub legal_rep: String,
}

/// Find entities in the roster by USCC or part of the name (at most 20).
#[utoipa::path(get, path = "/api/v1/entities", params(("q" = String, Query)),
    responses((status = 200, body = [EntityMatch])))]
pub async fn search_entities(
    State(state): State<AppState>,
    Query(params): Query<SearchQuery>,
) -> Response {
    let q: String = params.q.chars().take(100).collect();
    let Some(term) = SearchTerm::parse(&q) else {
        return Json(Vec::<EntityMatch>::new()).into_response();
    };
    match entities::search(&state.db, &state.settings.jurisdiction, &term, 20).await {
        Ok(rows) => Json(
            rows.into_iter()
                .map(|r| EntityMatch {
                    kind_label: EntityKind::parse_code(&r.kind)
                        .map_or("其他", EntityKind::label_zh)
                        .to_owned(),
                    legal_rep: person_name::mask(&r.legal_rep),
                    uscc: r.uscc,
                    name: r.name,
                    kind: r.kind,
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => store_failure(&e),
    }
}

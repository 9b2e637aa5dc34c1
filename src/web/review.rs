//! The manual review queue: staff review their department's registrations at `/staff/review`,
//! admins every registration (the unassigned ones too) at `/admin/review`; the same for staff as
//! JSON under `/api/v1/staff/review`. Opening one shows unmasked personal data, so every opening
//! is audited. A decision is recorded once; the owner is told by email (after the commit) and on
//! `/me`.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::AppState;
use crate::application::registration::Mismatch;
use crate::mail::messages;
use crate::store::review::{self, Decided, Decision, QueueItem, ReviewDetail, Scope};
use crate::store::{StoreError, digests};

use super::api::{ApiErrors, Problem, api_error, json_object, store_failure};
use super::error::AppError;
use super::form::FormInput;
use super::roles::{Admin, Staff, StaffApi};
use super::session::Visitor;
use crate::domain::calendar::format_minute;

/// Longest reason, in characters.
pub const REASON_MAX: usize = 200;
/// The unmasked personal data a review shows, named in the audit row.
const VIEWED_FIELDS: [&str; 2] = ["legal_rep_name", "mobile"];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/staff/review", get(staff_queue))
        .route("/staff/review/{id}", get(staff_detail))
        .route("/staff/review/{id}/decision", post(staff_decide))
        .route("/admin/review", get(admin_queue))
        .route("/admin/review/{id}", get(admin_detail))
        .route("/admin/review/{id}/decision", post(admin_decide))
        .route("/api/v1/staff/review", get(api_queue))
        .route("/api/v1/staff/review/{id}", get(api_detail))
        .route("/api/v1/staff/review/{id}/decision", post(api_decide))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(api_queue, api_detail, api_decide),
    components(schemas(
        ReviewQueue,
        ReviewQueueItem,
        ReviewRecord,
        MismatchReason,
        RosterRecord,
        DecisionRequest,
        DecisionResult
    ))
)]
pub struct ReviewApiDoc;

/// Who is reviewing, from either audience's extractor.
struct Reviewer {
    visitor: Visitor,
    account_id: i64,
    scope: Scope,
    admin: bool,
}

impl Reviewer {
    fn base(&self) -> &'static str {
        if self.admin {
            "/admin/review"
        } else {
            "/staff/review"
        }
    }

    fn actor(&self) -> String {
        format!("account:{}", self.account_id)
    }
}

impl From<Staff> for Reviewer {
    fn from(s: Staff) -> Reviewer {
        Reviewer {
            account_id: s.account.id,
            scope: Scope::Department(s.department_id),
            visitor: s.visitor,
            admin: false,
        }
    }
}

impl From<Admin> for Reviewer {
    fn from(a: Admin) -> Reviewer {
        Reviewer {
            account_id: a.account.id,
            scope: Scope::All,
            visitor: a.visitor,
            admin: true,
        }
    }
}

/// A mismatch code with what it means, for reviewers.
struct MismatchView {
    code: &'static str,
    message: &'static str,
}

fn mismatches(codes: Option<&str>) -> Vec<MismatchView> {
    codes
        .unwrap_or_default()
        .split(',')
        .filter_map(Mismatch::parse)
        .map(|m| MismatchView {
            code: m.code(),
            message: m.message(),
        })
        .collect()
}

fn verification_label(state: &str) -> &'static str {
    match state {
        "review_requested" => "待审核",
        "approved" => "已通过",
        "rejected" => "已驳回",
        "matched" => "名录核验一致（无需审核）",
        _ => "其他",
    }
}

fn roster_status_label(status: &str) -> &'static str {
    match status {
        "active" => "存续",
        "suspended" => "停业",
        "revoked" => "吊销",
        "cancelled" => "注销",
        "moved_out" => "已迁出",
        _ => "其他",
    }
}

// ---------------------------------------------------------------------------------------------
// Pages

struct QueueRow {
    id: i64,
    uscc: String,
    entity_name: String,
    mismatch: Vec<MismatchView>,
    in_roster: bool,
    department: String,
    submitted: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "review_queue.html")]
struct QueuePage {
    csrf: String,
    admin: bool,
    base: &'static str,
    notice: Option<String>,
    rows: Vec<QueueRow>,
    /// Staff only: whether the weekly digest is on (the form at the foot of the page).
    digest_on: bool,
}

#[derive(Debug, Deserialize, Default)]
struct QueueParams {
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    digest: Option<String>,
}

async fn staff_queue(
    staff: Staff,
    State(state): State<AppState>,
    Query(params): Query<QueueParams>,
) -> Result<QueuePage, AppError> {
    queue_page(&state, staff.into(), params).await
}

async fn admin_queue(
    admin: Admin,
    State(state): State<AppState>,
    Query(params): Query<QueueParams>,
) -> Result<QueuePage, AppError> {
    queue_page(&state, admin.into(), params).await
}

async fn queue_page(
    state: &AppState,
    who: Reviewer,
    params: QueueParams,
) -> Result<QueuePage, AppError> {
    let rows = review::queue(&state.db, who.scope)
        .await?
        .into_iter()
        .map(queue_row)
        .collect();
    // Only known confirmations, the id as a number: the query string is never echoed.
    let id = params
        .id
        .as_deref()
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|id| *id > 0);
    let notice = match (params.done.as_deref(), id, params.digest.as_deref()) {
        (Some("approved"), Some(id), _) => Some(format!(
            "已通过第 {id} 号登记的人工审核，已通过邮件告知申请人。"
        )),
        (Some("rejected"), Some(id), _) => Some(format!(
            "已驳回第 {id} 号登记，驳回原因已通过邮件告知申请人。"
        )),
        (_, _, Some("on")) => Some("已开启每周提醒邮件。".to_owned()),
        (_, _, Some("off")) => Some("已关闭每周提醒邮件。".to_owned()),
        _ => None,
    };
    let digest_on = !who.admin && !digests::opted_out(&state.db, who.account_id).await?;
    Ok(QueuePage {
        csrf: who.visitor.csrf.clone(),
        admin: who.admin,
        base: who.base(),
        notice,
        rows,
        digest_on,
    })
}

fn queue_row(item: QueueItem) -> QueueRow {
    QueueRow {
        id: item.id,
        uscc: item.uscc,
        entity_name: item.entity_name,
        mismatch: mismatches(item.mismatch.as_deref()),
        in_roster: item.in_roster,
        department: item.department.unwrap_or_else(|| "未分配".to_owned()),
        submitted: format_minute(item.created_at),
    }
}

struct RosterView {
    uscc: String,
    name: String,
    legal_rep: String,
    status: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "review_detail.html")]
struct DetailPage {
    csrf: String,
    admin: bool,
    base: &'static str,
    notice: Option<String>,
    reg: ReviewDetail,
    state_label: &'static str,
    mismatch: Vec<MismatchView>,
    roster: Option<RosterView>,
    submitted: String,
    reviewed: String,
    department: String,
    /// The decision form's error, and what was chosen and typed.
    error: Option<&'static str>,
    decision: String,
    reason: String,
}

impl DetailPage {
    fn name_differs(&self) -> bool {
        self.roster
            .as_ref()
            .is_some_and(|r| r.name != self.reg.entity_name)
    }

    fn legal_rep_differs(&self) -> bool {
        self.roster
            .as_ref()
            .is_some_and(|r| r.legal_rep != self.reg.legal_rep_name)
    }
}

/// A form refused or answered: the page's extra state.
#[derive(Default)]
struct FormState {
    notice: Option<String>,
    error: Option<&'static str>,
    decision: String,
    reason: String,
}

async fn staff_detail(
    staff: Staff,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<DetailPage, AppError> {
    detail_page(&state, &staff.into(), &id, FormState::default()).await
}

async fn admin_detail(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<DetailPage, AppError> {
    detail_page(&state, &admin.into(), &id, FormState::default()).await
}

fn parse_id(s: &str) -> Option<i64> {
    s.trim().parse().ok().filter(|id| *id > 0)
}

/// A registration in the reviewer's scope, with the opening of its personal data audited.
async fn viewed(
    state: &AppState,
    scope: Scope,
    actor: &str,
    id: &str,
) -> Result<Option<ReviewDetail>, StoreError> {
    let Some(id) = parse_id(id) else {
        return Ok(None);
    };
    let Some(reg) = review::detail(&state.db, scope, id).await? else {
        return Ok(None);
    };
    review::record_view(&state.db, actor, reg.id, &VIEWED_FIELDS).await?;
    Ok(Some(reg))
}

async fn detail_page(
    state: &AppState,
    who: &Reviewer,
    id: &str,
    form: FormState,
) -> Result<DetailPage, AppError> {
    let reg = viewed(state, who.scope, &who.actor(), id)
        .await?
        .ok_or(AppError::NotFound)?;
    let roster = match (&reg.roster_uscc, &reg.roster_name, &reg.roster_legal_rep) {
        (Some(uscc), Some(name), Some(legal_rep)) => Some(RosterView {
            uscc: uscc.clone(),
            name: name.clone(),
            legal_rep: legal_rep.clone(),
            status: roster_status_label(reg.roster_status.as_deref().unwrap_or_default()),
        }),
        _ => None,
    };
    Ok(DetailPage {
        csrf: who.visitor.csrf.clone(),
        admin: who.admin,
        base: who.base(),
        notice: form.notice,
        state_label: verification_label(&reg.verification),
        mismatch: mismatches(reg.mismatch.as_deref()),
        roster,
        submitted: format_minute(reg.created_at),
        reviewed: reg.reviewed_at.map(format_minute).unwrap_or_default(),
        department: reg
            .department
            .clone()
            .unwrap_or_else(|| "未分配（由管理员审核）".to_owned()),
        reg,
        error: form.error,
        decision: form.decision,
        reason: form.reason,
    })
}

#[derive(Debug, Deserialize, Default)]
struct DecisionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    reason: String,
}

async fn staff_decide(
    staff: Staff,
    State(state): State<AppState>,
    Path(id): Path<String>,
    FormInput(form): FormInput<DecisionForm>,
) -> Result<Response, AppError> {
    decide_page(&state, staff.into(), &id, form).await
}

async fn admin_decide(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    FormInput(form): FormInput<DecisionForm>,
) -> Result<Response, AppError> {
    decide_page(&state, admin.into(), &id, form).await
}

/// Why a decision's input is refused: the API's code and the page's sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    DecisionRequired,
    ReasonRequired,
    ReasonTooLong,
}

impl Refusal {
    fn field(self) -> &'static str {
        match self {
            Refusal::DecisionRequired => "decision",
            Refusal::ReasonRequired | Refusal::ReasonTooLong => "reason",
        }
    }

    fn code(self) -> &'static str {
        match self {
            Refusal::DecisionRequired => "decision_required",
            Refusal::ReasonRequired => "reason_required",
            Refusal::ReasonTooLong => "reason_too_long",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Refusal::DecisionRequired => "请选择“通过”或“驳回”。",
            Refusal::ReasonRequired => "驳回时必须填写原因（200字以内），原因会告知申请人。",
            Refusal::ReasonTooLong => "原因不能超过200字，请精简后再提交。",
        }
    }
}

/// The decision and its cleaned reason (`None` when empty), or why not.
fn check_decision(decision: &str, reason: &str) -> Result<(Decision, Option<String>), Refusal> {
    let decision = Decision::parse(decision).ok_or(Refusal::DecisionRequired)?;
    // Line breaks and other control characters would only garble the owner's email and /me.
    let reason: String = reason
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match (decision, reason.chars().count()) {
        (_, n) if n > REASON_MAX => Err(Refusal::ReasonTooLong),
        (Decision::Reject, 0) => Err(Refusal::ReasonRequired),
        (_, 0) => Ok((decision, None)),
        _ => Ok((decision, Some(reason))),
    }
}

async fn decide_page(
    state: &AppState,
    who: Reviewer,
    id: &str,
    form: DecisionForm,
) -> Result<Response, AppError> {
    who.visitor.check_csrf(&form.csrf)?;
    let Some(reg_id) = parse_id(id) else {
        return Err(AppError::NotFound);
    };
    let (decision, reason) = match check_decision(&form.decision, &form.reason) {
        Ok(checked) => checked,
        Err(refusal) => {
            let kept = FormState {
                notice: None,
                error: Some(refusal.message()),
                decision: form.decision,
                reason: form.reason,
            };
            let page = detail_page(state, &who, id, kept).await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    let outcome = review::decide(
        &state.db,
        who.scope,
        reg_id,
        who.account_id,
        decision,
        reason.as_deref(),
    )
    .await?;
    match outcome {
        Decided::Done {
            owner_email,
            entity_name,
            ..
        } => {
            tell_owner(state, owner_email, entity_name, decision, reason);
            let done = decision.state();
            Ok(Redirect::to(&format!("{}?done={done}&id={reg_id}", who.base())).into_response())
        }
        Decided::AlreadyDecided(current) => {
            let notice = FormState {
                notice: Some(already_decided(&current)),
                ..FormState::default()
            };
            let page = detail_page(state, &who, id, notice).await?;
            Ok((StatusCode::CONFLICT, page).into_response())
        }
        Decided::NotFound => Err(AppError::NotFound),
    }
}

fn already_decided(current: &str) -> String {
    format!(
        "这条登记已经审核过（当前状态：{}），不能重复审核；没有做任何修改。",
        verification_label(current)
    )
}

/// Emails the owner after the decision is committed. A failure is logged by the mailer (kind
/// and message id only) and does not undo the decision: `/me` shows it either way.
fn tell_owner(
    state: &AppState,
    to: String,
    entity_name: String,
    decision: Decision,
    reason: Option<String>,
) {
    let link = format!("{}/me", state.settings.public_url);
    let mail = messages::review_decided(
        &to,
        &entity_name,
        decision == Decision::Approve,
        reason.as_deref(),
        &link,
    );
    let mailer = state.mailer.clone();
    tokio::spawn(async move {
        match mail {
            Ok(mail) => {
                let _ = mailer.send(mail).await;
            }
            Err(err) => tracing::error!(error = %err, "review decision mail not built"),
        }
    });
}

// ---------------------------------------------------------------------------------------------
// API

/// A registration waiting for review.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewQueueItem {
    pub id: i64,
    pub uscc: String,
    pub entity_name: String,
    /// Codes of the failed roster checks: `not_in_roster`, `entity_name_mismatch`,
    /// `legal_rep_mismatch`, `entity_closed`.
    pub mismatch: Vec<String>,
    pub in_roster: bool,
    /// RFC 3339.
    pub submitted_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewQueue {
    pub items: Vec<ReviewQueueItem>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MismatchReason {
    pub code: String,
    pub message: String,
}

/// The roster's record of the entity, when the USCC is in the roster.
#[derive(Debug, Serialize, ToSchema)]
pub struct RosterRecord {
    pub uscc: String,
    pub entity_name: String,
    pub legal_rep_name: String,
    pub status: String,
}

/// One registration as the reviewer sees it (opening it is audited).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewRecord {
    pub id: i64,
    pub uscc: String,
    pub entity_name: String,
    pub legal_rep_name: String,
    /// Always masked.
    pub legal_rep_id_number: String,
    pub mobile: String,
    pub referral_code: Option<String>,
    /// `review_requested`, `approved` or `rejected`.
    pub verification: String,
    pub mismatch: Vec<MismatchReason>,
    pub review_note: Option<String>,
    pub decision_reason: Option<String>,
    pub reviewed_at: Option<String>,
    pub submitted_at: String,
    pub signed: bool,
    pub roster: Option<RosterRecord>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct DecisionRequest {
    /// `approve` or `reject`.
    #[serde(default)]
    pub decision: String,
    /// Required to reject (1–200 characters), optional to approve.
    #[serde(default)]
    pub reason: Option<String>,
}

/// The registration's state after the decision.
#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionResult {
    pub id: i64,
    pub verification: String,
    pub decision_reason: Option<String>,
    pub reviewed_at: String,
    /// Approved and already signed: queued for the provincial platform.
    pub queued_for_province: bool,
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn not_found() -> Response {
    api_error(StatusCode::NOT_FOUND, "not_found", "没有找到这条登记")
}

/// The department's registrations waiting for manual review, oldest first.
#[utoipa::path(get, path = "/api/v1/staff/review",
    responses((status = 200, body = ReviewQueue), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn api_queue(staff: StaffApi, State(state): State<AppState>) -> Response {
    match review::queue(&state.db, Scope::Department(staff.department_id)).await {
        Ok(items) => Json(ReviewQueue {
            items: items
                .into_iter()
                .map(|i| ReviewQueueItem {
                    mismatch: mismatches(i.mismatch.as_deref())
                        .iter()
                        .map(|m| m.code.to_owned())
                        .collect(),
                    id: i.id,
                    uscc: i.uscc,
                    entity_name: i.entity_name,
                    in_roster: i.in_roster,
                    submitted_at: rfc3339(i.created_at),
                })
                .collect(),
        })
        .into_response(),
        Err(e) => store_failure(&e),
    }
}

/// One registration of the department, with the roster's record (audited as a view of
/// personal data). Another department's is 404.
#[utoipa::path(get, path = "/api/v1/staff/review/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = ReviewRecord), (status = 401, body = Problem),
        (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn api_detail(
    staff: StaffApi,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Response {
    let scope = Scope::Department(staff.department_id);
    match viewed(&state, scope, &staff.actor(), &id).await {
        Ok(Some(reg)) => Json(record(reg)).into_response(),
        Ok(None) => not_found(),
        Err(e) => store_failure(&e),
    }
}

fn record(reg: ReviewDetail) -> ReviewRecord {
    let roster = match (reg.roster_uscc, reg.roster_name, reg.roster_legal_rep) {
        (Some(uscc), Some(entity_name), Some(legal_rep_name)) => Some(RosterRecord {
            uscc,
            entity_name,
            legal_rep_name,
            status: reg.roster_status.unwrap_or_default(),
        }),
        _ => None,
    };
    ReviewRecord {
        mismatch: mismatches(reg.mismatch.as_deref())
            .into_iter()
            .map(|m| MismatchReason {
                code: m.code.to_owned(),
                message: m.message.to_owned(),
            })
            .collect(),
        id: reg.id,
        uscc: reg.uscc,
        entity_name: reg.entity_name,
        legal_rep_name: reg.legal_rep_name,
        legal_rep_id_number: reg.legal_rep_id_masked,
        mobile: reg.mobile,
        referral_code: reg.referral_code,
        verification: reg.verification,
        review_note: reg.review_note,
        decision_reason: reg.decision_reason,
        reviewed_at: reg.reviewed_at.map(rfc3339),
        submitted_at: rfc3339(reg.created_at),
        signed: reg.signed,
        roster,
    }
}

/// Approve or reject a registration waiting for review. 409 when it was already decided.
#[utoipa::path(post, path = "/api/v1/staff/review/{id}/decision", params(("id" = i64, Path)),
    request_body = DecisionRequest,
    responses((status = 200, body = DecisionResult), (status = 401, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = ApiErrors)),
    security(("bearer" = [])))]
async fn api_decide(
    staff: StaffApi,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Response {
    let Some(reg_id) = parse_id(&id) else {
        return not_found();
    };
    let scope = Scope::Department(staff.department_id);
    // Out of scope is a 404 whatever the body says: a 422 would tell that the id exists.
    match review::detail(&state.db, scope, reg_id).await {
        Ok(Some(_)) => {}
        Ok(None) => return not_found(),
        Err(e) => return store_failure(&e),
    }
    let req: DecisionRequest = match json_object(body) {
        Ok(req) => req,
        Err(bad) => return bad.into_response(),
    };
    let (decision, reason) =
        match check_decision(&req.decision, req.reason.as_deref().unwrap_or_default()) {
            Ok(checked) => checked,
            Err(refusal) => {
                let errors = [(refusal.field().to_owned(), vec![refusal.code().to_owned()])];
                return (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Json(ApiErrors {
                        errors: errors.into_iter().collect(),
                    }),
                )
                    .into_response();
            }
        };
    let outcome = review::decide(
        &state.db,
        scope,
        reg_id,
        staff.account.id,
        decision,
        reason.as_deref(),
    )
    .await;
    match outcome {
        Ok(Decided::Done {
            owner_email,
            entity_name,
            reviewed_at,
            queued,
        }) => {
            tell_owner(&state, owner_email, entity_name, decision, reason.clone());
            Json(DecisionResult {
                id: reg_id,
                verification: decision.state().to_owned(),
                decision_reason: reason,
                reviewed_at: rfc3339(reviewed_at),
                queued_for_province: queued,
            })
            .into_response()
        }
        Ok(Decided::AlreadyDecided(current)) => api_error(
            StatusCode::CONFLICT,
            "already_decided",
            &already_decided(&current),
        ),
        Ok(Decided::NotFound) => not_found(),
        Err(e) => store_failure(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejecting_needs_a_reason_of_at_most_200_characters() {
        assert_eq!(
            check_decision("reject", "  \n "),
            Err(Refusal::ReasonRequired)
        );
        assert_eq!(
            check_decision("reject", &"字".repeat(201)),
            Err(Refusal::ReasonTooLong)
        );
        assert_eq!(
            check_decision("reject", &"字".repeat(200))
                .map(|(d, r)| (d, r.map(|r| r.chars().count()))),
            Ok((Decision::Reject, Some(200)))
        );
        assert_eq!(check_decision("approve", ""), Ok((Decision::Approve, None)));
        assert_eq!(check_decision("maybe", "x"), Err(Refusal::DecisionRequired));
        assert_eq!(
            check_decision("reject", "名称\n不符"),
            Ok((Decision::Reject, Some("名称 不符".to_owned())))
        );
    }
}

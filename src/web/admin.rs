//! The admin's pages: provincial sync at `/admin/sync` (breaker, queue, dead letters and the
//! decisions on them, reconciliation). Only accounts with role `admin` get in; anyone else who is
//! logged in gets the ordinary 404, so the pages cannot be discovered by trying.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::app::AppState;
use crate::store::sync_admin::{self, DeadLetterAction};

use super::error::AppError;
use super::form::FormInput;
use super::roles::Admin;
use crate::domain::calendar::format_minute;

/// Where an admin lands after logging in.
pub const HOME: &str = "/admin";

/// Dead letters listed at most (the counts above the list cover the rest).
const DEAD_LIMIT: i64 = 200;
const RUNS_LIMIT: i64 = 10;
const DISCREPANCY_LIMIT: i64 = 200;
/// Longest discard reason, in characters.
pub const REASON_MAX: usize = 200;

pub struct CountRow {
    pub kind: &'static str,
    pub state: &'static str,
    pub n: i64,
}

pub struct DeadView {
    pub id: i64,
    pub kind: &'static str,
    pub registration_id: i64,
    pub uscc: String,
    pub entity_name: String,
    pub attempts: i64,
    pub last_error: String,
    pub updated_at: String,
    /// The discard form's error and the reason as typed, when that form was just refused.
    pub error: Option<&'static str>,
    pub reason: String,
}

pub struct RunView {
    pub id: i64,
    pub started_at: String,
    pub finished_at: String,
    pub checked: i64,
    pub repaired: i64,
    pub flagged: i64,
    pub error: String,
}

pub struct DiscrepancyView {
    pub id: i64,
    pub run_id: i64,
    pub uscc: String,
    pub entity_name: String,
    pub ours: String,
    pub theirs: String,
    pub action: &'static str,
    pub created_at: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_sync.html")]
pub struct SyncPage {
    csrf: String,
    notice: Option<String>,
    breaker_key: &'static str,
    breaker: &'static str,
    breaker_opened: u64,
    breaker_closed: u64,
    calls: u64,
    outcomes: Vec<(&'static str, u64)>,
    counts: Vec<CountRow>,
    oldest_pending: Option<String>,
    dead_total: i64,
    dead: Vec<DeadView>,
    runs: Vec<RunView>,
    discrepancies: Vec<DiscrepancyView>,
}

/// A discard form refused for its reason: which row, why, and what was typed.
struct DiscardRefusal {
    id: i64,
    error: &'static str,
    reason: String,
}

async fn sync_page_for(
    state: &AppState,
    admin: &Admin,
    mut notice: Option<String>,
    refusal: Option<DiscardRefusal>,
) -> Result<SyncPage, AppError> {
    let db = &state.db;
    let metrics = state.sync_metrics.snapshot();
    let counts = sync_admin::outbox_counts(db).await?;
    let dead_total = counts
        .iter()
        .filter(|c| c.state == "dead")
        .map(|c| c.n)
        .sum();
    let now = OffsetDateTime::now_utc();
    let oldest_pending = sync_admin::oldest_pending(db)
        .await?
        .map(|at| format!("{}（{} 入队）", age_label(now - at), format_minute(at)));
    let mut refusal = refusal;
    let dead: Vec<DeadView> = sync_admin::dead_letters(db, DEAD_LIMIT)
        .await?
        .into_iter()
        .map(|row| {
            let mine = refusal.take_if(|r| r.id == row.id);
            DeadView {
                id: row.id,
                kind: kind_label(&row.kind),
                registration_id: row.registration_id,
                uscc: row.uscc,
                entity_name: row.entity_name,
                attempts: row.attempts,
                last_error: row
                    .last_error
                    .map(|e| e.chars().take(300).collect())
                    .unwrap_or_default(),
                updated_at: format_minute(row.updated_at),
                error: mine.as_ref().map(|r| r.error),
                reason: mine.map(|r| r.reason).unwrap_or_default(),
            }
        })
        .collect();
    // The refused form's row is gone from the list (someone else acted on it meanwhile).
    if let Some(r) = refusal {
        notice = Some(format!("第 {} 条已不在死信列表中，无需再处理。", r.id));
    }
    let runs = sync_admin::recent_reconciliations(db, RUNS_LIMIT)
        .await?
        .into_iter()
        .map(|run| RunView {
            id: run.id,
            started_at: format_minute(run.started_at),
            finished_at: run
                .finished_at
                .map_or_else(|| "进行中".to_owned(), format_minute),
            checked: run.checked,
            repaired: run.repaired,
            flagged: run.flagged,
            error: run.error.unwrap_or_default(),
        })
        .collect();
    let discrepancies = sync_admin::open_discrepancies(db, DISCREPANCY_LIMIT)
        .await?
        .into_iter()
        .map(|d| DiscrepancyView {
            id: d.id,
            run_id: d.run_id,
            uscc: d.uscc,
            entity_name: d.entity_name,
            ours: d.ours.chars().take(80).collect(),
            theirs: d.theirs.chars().take(80).collect(),
            action: action_label(&d.action),
            created_at: format_minute(d.created_at),
        })
        .collect();
    Ok(SyncPage {
        csrf: admin.visitor.csrf.clone(),
        notice,
        breaker_key: metrics.breaker.as_str(),
        breaker: metrics.breaker.label(),
        breaker_opened: metrics.breaker_opened,
        breaker_closed: metrics.breaker_closed,
        calls: metrics.calls,
        outcomes: metrics
            .outcomes
            .iter()
            .map(|(result, n)| (outcome_label(result.as_str()), *n))
            .collect(),
        counts: counts_table(&counts),
        oldest_pending,
        dead_total,
        dead,
        runs,
        discrepancies,
    })
}

/// Every kind × state in a fixed order, zeros included, so the table always reads the same way;
/// a kind or state this code does not know yet is appended rather than hidden.
fn counts_table(counts: &[sync_admin::OutboxCount]) -> Vec<CountRow> {
    let n = |kind: &str, state: &str| {
        counts
            .iter()
            .find(|c| c.kind == kind && c.state == state)
            .map_or(0, |c| c.n)
    };
    let known = |c: &&sync_admin::OutboxCount| {
        KINDS.contains(&c.kind.as_str()) && STATES.contains(&c.state.as_str())
    };
    KINDS
        .iter()
        .flat_map(|kind| STATES.iter().map(move |state| (*kind, *state)))
        .map(|(kind, state)| (kind, state, n(kind, state)))
        .chain(
            counts
                .iter()
                .filter(|c| !known(c))
                .map(|c| (c.kind.as_str(), c.state.as_str(), c.n)),
        )
        .map(|(kind, state, n)| CountRow {
            kind: kind_label(kind),
            state: state_label(state),
            n,
        })
        .collect()
}

/// Outbox kinds and states, as the 0003 migration's CHECK constraints allow them.
pub const KINDS: [&str; 2] = [
    crate::store::outbox::KIND_REGISTER,
    crate::store::outbox::KIND_UPDATE_CONTACT,
];
pub const STATES: [&str; 4] = ["pending", "dead", "done", "discarded"];

fn kind_label(kind: &str) -> &'static str {
    match kind {
        "register" => "入驻登记",
        "update_contact" => "联系方式变更",
        _ => "其他",
    }
}

fn state_label(state: &str) -> &'static str {
    match state {
        "pending" => "待发送",
        "done" => "已完成",
        "dead" => "死信（已停止重试）",
        "discarded" => "已丢弃",
        _ => "其他",
    }
}

fn outcome_label(result: &str) -> &'static str {
    match result {
        "accepted" => "省级平台已受理",
        "rejected" => "省级平台拒绝",
        "retry" => "稍后重试",
        "dead" => "转为死信",
        _ => "其他",
    }
}

fn action_label(action: &str) -> &'static str {
    match action {
        "requeued" => "已重新排队",
        "marked_accepted" => "已按省级平台改为已受理",
        "marked_rejected" => "已按省级平台改为未受理",
        "flagged" => "待人工核对",
        _ => "其他",
    }
}

/// "3 小时 12 分钟" and the like.
fn age_label(age: time::Duration) -> String {
    let minutes = age.whole_minutes().max(0);
    match minutes {
        0 => "不到 1 分钟".to_owned(),
        1..60 => format!("{minutes} 分钟"),
        60..1440 => format!("{} 小时 {} 分钟", minutes / 60, minutes % 60),
        _ => format!("{} 天 {} 小时", minutes / 1440, minutes % 1440 / 60),
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct DoneParams {
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    id: Option<String>,
}

pub async fn sync_page(
    admin: Admin,
    State(state): State<AppState>,
    Query(params): Query<DoneParams>,
) -> Result<SyncPage, AppError> {
    // Only known confirmations, with the id as a number: the query string is never echoed.
    let id = params.id.as_deref().and_then(parse_id);
    let notice = match (params.done.as_deref(), id) {
        (Some("retried"), Some(id)) => Some(format!(
            "已将第 {id} 条重新排队（尝试次数清零），后台会尽快重新报送。"
        )),
        (Some("discarded"), Some(id)) => {
            Some(format!("已丢弃第 {id} 条，丢弃原因已记入审计日志。"))
        }
        (Some("resolved"), Some(id)) => {
            Some(format!("已将第 {id} 条差异标记为已处理，记入审计日志。"))
        }
        _ => None,
    };
    sync_page_for(&state, &admin, notice, None).await
}

fn parse_id(s: &str) -> Option<i64> {
    s.trim().parse().ok().filter(|id| *id > 0)
}

#[derive(Debug, Deserialize, Default)]
pub struct RetryForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: String,
}

pub async fn retry(
    admin: Admin,
    State(state): State<AppState>,
    FormInput(form): FormInput<RetryForm>,
) -> Result<Response, AppError> {
    admin.visitor.check_csrf(&form.csrf)?;
    let Some(id) = parse_id(&form.id) else {
        return not_dead(&state, &admin, 0, DeadLetterAction::Missing).await;
    };
    match sync_admin::retry_dead(&state.db, id, admin.account.id).await? {
        DeadLetterAction::Done => Ok(done(id, "retried")),
        other => not_dead(&state, &admin, id, other).await,
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct DiscardForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    reason: String,
}

pub async fn discard(
    admin: Admin,
    State(state): State<AppState>,
    FormInput(form): FormInput<DiscardForm>,
) -> Result<Response, AppError> {
    admin.visitor.check_csrf(&form.csrf)?;
    let Some(id) = parse_id(&form.id) else {
        return not_dead(&state, &admin, 0, DeadLetterAction::Missing).await;
    };
    // Line breaks and other control characters would only garble the audit log's reading.
    let reason: String = form
        .reason
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let refused = match reason.chars().count() {
        0 => Some("请填写丢弃原因，它会记入审计日志。"),
        n if n > REASON_MAX => Some("丢弃原因不能超过200字，请精简后再提交。"),
        _ => None,
    };
    if let Some(error) = refused {
        let refusal = DiscardRefusal {
            id,
            error,
            reason: form.reason,
        };
        let page = sync_page_for(&state, &admin, None, Some(refusal)).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    match sync_admin::discard_dead(&state.db, id, admin.account.id, &reason).await? {
        DeadLetterAction::Done => Ok(done(id, "discarded")),
        other => not_dead(&state, &admin, id, other).await,
    }
}

/// Marks a discrepancy the reconciliation flagged as dealt with (after someone checked both
/// sides); it leaves the list, and the audit log says who and when.
pub async fn resolve(
    admin: Admin,
    State(state): State<AppState>,
    FormInput(form): FormInput<RetryForm>,
) -> Result<Response, AppError> {
    admin.visitor.check_csrf(&form.csrf)?;
    let resolved = match parse_id(&form.id) {
        Some(id) => sync_admin::resolve_discrepancy(&state.db, id, admin.account.id).await?,
        None => false,
    };
    if let (true, Some(id)) = (resolved, parse_id(&form.id)) {
        return Ok(done(id, "resolved"));
    }
    let notice = "找不到这条未解决的差异（可能已被他人处理）；没有做任何修改。".to_owned();
    let page = sync_page_for(&state, &admin, Some(notice), None).await?;
    Ok((StatusCode::CONFLICT, page).into_response())
}

/// Post/redirect/get: the confirmation is shown by the page the browser then loads.
fn done(id: i64, what: &str) -> Response {
    Redirect::to(&format!("/admin/sync?done={what}&id={id}")).into_response()
}

/// The row was not dead (anymore): the refreshed page, with a word on why nothing changed.
async fn not_dead(
    state: &AppState,
    admin: &Admin,
    id: i64,
    action: DeadLetterAction,
) -> Result<Response, AppError> {
    let notice = match action {
        DeadLetterAction::NotDead(current) => format!(
            "第 {id} 条当前为“{}”，只有死信可以重试或丢弃；没有做任何修改。",
            state_label(&current)
        ),
        DeadLetterAction::Missing | DeadLetterAction::Done => {
            "找不到这条记录；没有做任何修改。请看下面最新的列表。".to_owned()
        }
    };
    let page = sync_page_for(state, admin, Some(notice), None).await?;
    Ok((StatusCode::CONFLICT, page).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_naturally() {
        assert_eq!(age_label(time::Duration::seconds(30)), "不到 1 分钟");
        assert_eq!(age_label(time::Duration::minutes(59)), "59 分钟");
        assert_eq!(age_label(time::Duration::minutes(61)), "1 小时 1 分钟");
        assert_eq!(age_label(time::Duration::hours(50)), "2 天 2 小时");
        assert_eq!(age_label(time::Duration::seconds(-5)), "不到 1 分钟");
    }

    #[test]
    fn counts_table_lists_every_kind_and_state() {
        let table = counts_table(&[sync_admin::OutboxCount {
            kind: "register".into(),
            state: "dead".into(),
            n: 3,
        }]);
        assert_eq!(table.len(), KINDS.len() * STATES.len());
        assert_eq!(table.iter().map(|r| r.n).sum::<i64>(), 3);
        assert_eq!(
            (table[0].state, table[1].state),
            ("待发送", "死信（已停止重试）")
        );
        assert_eq!(table[1].n, 3);
    }
}

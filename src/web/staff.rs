//! The staff workspace: `/staff` (my progress), `/staff/entities` (my entities, filtered, sorted,
//! paged, exported as CSV or XLSX), `/staff/entities/{id}` (an entity, its registration, its
//! outreach, and recording a new one) and `/staff/follow-ups`. Every query is scoped to the staff
//! member's department ([`Staff::department_id`]): another department's entity is a 404.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use time::{Date, OffsetDateTime};

use crate::app::AppState;
use crate::domain::calendar;
use crate::domain::entity_kind::EntityKind;
use crate::domain::entity_status::EntityStatus;
use crate::domain::person_name;
use crate::store::entities::SearchTerm;
use crate::store::outreach::{self, Channel, ContactOutcome, FieldError, OutreachInput};
use crate::store::progress::{self, Progress, Projection, Stage};
use crate::store::workspace::{self, EntityDetail, EntityFilter, EntityRow, LastContact, SortKey};

use super::error::AppError;
use super::form::FormInput;
use super::roles::Staff;
use crate::domain::calendar::format_minute;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/staff", get(home))
        .route("/staff/entities", get(entities))
        .route("/staff/entities/{id}", get(entity))
        .route("/staff/entities/{id}/outreach", post(record_outreach))
        .route("/staff/entities/{id}/reveal", post(reveal))
        .route("/staff/follow-ups", get(follow_ups))
}

/// Entities per page of the list.
pub const PER_PAGE: i64 = 50;
/// Rows in one export at most.
pub const EXPORT_MAX: i64 = 100_000;

// ---------------------------------------------------------------------------------------------
// Shared with the JSON API

/// The department's county (progress counts within it).
pub(super) async fn county_of(state: &AppState, department_id: i64) -> Result<String, AppError> {
    Ok(workspace::department(&state.db, department_id)
        .await?
        .map_or_else(|| state.settings.jurisdiction.clone(), |d| d.county_code))
}

/// The department's progress today (Beijing) and its follow-ups due.
pub(super) async fn progress_today(
    state: &AppState,
    department_id: i64,
) -> Result<(Progress, i64), AppError> {
    let county = county_of(state, department_id).await?;
    let today = crate::clock::today();
    let progress = progress::department_progress(&state.db, &county, department_id, today).await?;
    let due = outreach::follow_ups_due_count(&state.db, department_id, today).await?;
    Ok((progress, due))
}

/// Whether the projection misses the target's deadline.
pub(super) fn misses_deadline(p: &Progress) -> bool {
    match (p.projection, &p.goal) {
        (Projection::On(day), Some(goal)) => day > goal.deadline,
        (Projection::Stalled, _) => true,
        _ => false,
    }
}

/// The projection in words; a date after the deadline says so.
pub(super) fn projection_label(p: &Progress) -> String {
    let late = misses_deadline(p);
    match p.projection {
        Projection::NoTarget => "未设置目标".to_owned(),
        Projection::Reached => "已达成".to_owned(),
        Projection::On(day) if late => format!(
            "按目前进度无法按期完成（预计 {} 达成）",
            month_day(day, p.today)
        ),
        Projection::On(day) => format!("按目前进度预计 {} 达成", month_day(day, p.today)),
        Projection::Stalled => "按目前进度无法按期完成".to_owned(),
    }
}

/// "4月5日", with the year in front when it is not this year's.
pub(super) fn month_day(day: Date, today: Date) -> String {
    let md = format!("{}月{}日", u8::from(day.month()), day.day());
    if day.year() == today.year() {
        md
    } else {
        format!("{}年{md}", day.year())
    }
}

/// The list's query string, checked: values that make no sense are dropped (and named).
#[derive(Debug, Clone, Default)]
pub(super) struct ListQuery {
    pub filter: EntityFilter,
    pub page: i64,
    pub per_page: Option<i64>,
    pub format: Option<String>,
    /// The valid filter and sort parameters, as they go back into links (no page, no format).
    pub params: Vec<(&'static str, String)>,
    /// The parameters that were ignored: (name, Chinese label).
    pub ignored: Vec<(&'static str, &'static str)>,
}

impl ListQuery {
    /// `pairs` from the query string (the last value of a repeated key wins); `townships`: the
    /// department's, the only ones the filter accepts.
    pub(super) fn parse(pairs: &[(String, String)], townships: &[String]) -> ListQuery {
        let mut q = ListQuery {
            page: 1,
            ..ListQuery::default()
        };
        let mut last: BTreeMap<&str, &str> = BTreeMap::new();
        for (k, v) in pairs {
            last.insert(k.as_str(), v.trim());
        }
        let ignore = |q: &mut ListQuery, name, label| q.ignored.push((name, label));
        for (key, value) in last {
            if value.is_empty() {
                continue;
            }
            match key {
                "stage" => match Stage::parse(value) {
                    Some(s) => {
                        q.filter.stage = Some(s);
                        q.params.push(("stage", value.to_owned()));
                    }
                    None => ignore(&mut q, "stage", "阶段"),
                },
                "township" => {
                    if townships.iter().any(|t| t == value) {
                        q.filter.township = Some(value.to_owned());
                        q.params.push(("township", value.to_owned()));
                    } else {
                        ignore(&mut q, "township", "乡镇");
                    }
                }
                "kind" => match EntityKind::parse_code(value) {
                    Some(k) => {
                        q.filter.kind = Some(k);
                        q.params.push(("kind", value.to_owned()));
                    }
                    None => ignore(&mut q, "kind", "类型"),
                },
                "contact" => match LastContact::parse(value) {
                    Some(c) => {
                        q.filter.last_contact = Some(c);
                        q.params.push(("contact", value.to_owned()));
                    }
                    None => ignore(&mut q, "contact", "最近联系"),
                },
                "q" => {
                    q.filter.search = SearchTerm::parse(value);
                    let kept: String = value.chars().take(50).collect();
                    q.params.push(("q", kept));
                }
                "sort" => match SortKey::parse(value) {
                    Some(k) => {
                        q.filter.sort = k;
                        q.params.push(("sort", value.to_owned()));
                    }
                    None => ignore(&mut q, "sort", "排序"),
                },
                "dir" => match value {
                    "asc" | "desc" => {
                        q.filter.descending = value == "desc";
                        q.params.push(("dir", value.to_owned()));
                    }
                    _ => ignore(&mut q, "dir", "排序方向"),
                },
                "page" => match value.parse::<i64>() {
                    Ok(n) if n >= 1 => q.page = n,
                    _ => ignore(&mut q, "page", "页码"),
                },
                "per_page" => match value.parse::<i64>() {
                    Ok(n) if (1..=200).contains(&n) => q.per_page = Some(n),
                    _ => ignore(&mut q, "per_page", "每页条数"),
                },
                "format" => q.format = Some(value.to_owned()),
                _ => {}
            }
        }
        q
    }

    /// The list with these filters, on `page`, optionally with one more parameter.
    fn link(&self, page: Option<i64>, extra: Option<(&str, &str)>) -> String {
        let mut out = String::from("/staff/entities");
        let mut sep = '?';
        let pairs = self
            .params
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .chain(extra);
        let page = page.map(|p| p.to_string());
        for (k, v) in pairs.chain(page.as_deref().map(|p| ("page", p))) {
            out.push(sep);
            sep = '&';
            out.push_str(k);
            out.push('=');
            percent_encode(&mut out, v);
        }
        out
    }
}

fn percent_encode(out: &mut String, value: &str) {
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// `entity:7` in the path: anything but a positive number is simply not found.
pub(super) fn parse_id(raw: &str) -> Option<i64> {
    raw.parse::<i64>().ok().filter(|id| *id > 0)
}

pub(super) fn township_name(state: &AppState, code: Option<&str>) -> String {
    code.map(|c| {
        state
            .divisions
            .get(c)
            .map_or_else(|| c.to_owned(), |d| d.name.clone())
    })
    .unwrap_or_default()
}

pub(super) fn kind_label(code: &str) -> &'static str {
    EntityKind::parse_code(code).map_or("其他", EntityKind::label_zh)
}

pub(super) fn stage_label(code: &str) -> &'static str {
    Stage::parse(code).map_or("未知", Stage::label)
}

pub(super) fn verification_label(code: &str) -> &'static str {
    match code {
        "matched" => "名录比对一致",
        "review_requested" => "等待人工审核",
        "approved" => "人工审核通过",
        "rejected" => "未通过审核",
        _ => "其他",
    }
}

pub(super) fn sync_label(code: &str) -> &'static str {
    match code {
        "pending" => "等待报送省级平台",
        "accepted" => "省级平台已受理",
        "rejected" => "省级平台未受理",
        _ => "其他",
    }
}

/// A Beijing calendar day, as pages show it.
fn day(at: OffsetDateTime) -> String {
    outreach::format_day(calendar::day_of(at))
}

// ---------------------------------------------------------------------------------------------
// GET /staff

pub struct StageCell {
    pub key: &'static str,
    pub label: &'static str,
    pub n: i64,
}

#[derive(Template, WebTemplate)]
#[template(path = "staff_home.html")]
pub struct HomePage {
    csrf: String,
    department: String,
    assigned: i64,
    onboarded: i64,
    stages: Vec<StageCell>,
    /// The target in entities, and how a share was set ("全部的 50%"; empty for a count).
    goal: Option<(i64, String)>,
    deadline: String,
    days_left: i64,
    pace: String,
    projection: String,
    percent: i64,
    follow_ups_due: i64,
    today: String,
}

async fn home(staff: Staff, State(state): State<AppState>) -> Result<HomePage, AppError> {
    let (p, due) = progress_today(&state, staff.department_id).await?;
    let department = workspace::department(&state.db, staff.department_id)
        .await?
        .map(|d| d.name)
        .unwrap_or_default();
    let goal = p.goal.as_ref().map(|g| {
        let how = match g.amount {
            crate::domain::assignment_rule::TargetAmount::Count(_) => String::new(),
            crate::domain::assignment_rule::TargetAmount::Share(s) => {
                format!("全部的 {}%", (s * 1000.0).round() / 10.0)
            }
        };
        (g.entities, how)
    });
    Ok(HomePage {
        csrf: staff.visitor.csrf.clone(),
        department,
        assigned: p.assigned(),
        onboarded: p.onboarded(),
        stages: p
            .stages
            .iter()
            .map(|(s, n)| StageCell {
                key: s.as_str(),
                label: s.label(),
                n,
            })
            .collect(),
        deadline: p
            .goal
            .as_ref()
            .map(|g| outreach::format_day(g.deadline))
            .unwrap_or_default(),
        days_left: p.goal.as_ref().map_or(0, |g| g.days_left),
        goal,
        pace: format!("{:.1}", p.pace_per_day),
        projection: projection_label(&p),
        percent: p.percent().clamp(0, 100),
        follow_ups_due: due,
        today: outreach::format_day(p.today),
    })
}

// ---------------------------------------------------------------------------------------------
// GET /staff/entities

pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

pub struct ListRow {
    pub id: i64,
    pub uscc: String,
    pub name: String,
    pub kind: &'static str,
    pub township: String,
    pub stage_key: String,
    pub stage: &'static str,
    pub last_contact: String,
    pub follow_up: String,
}

pub struct PageLink {
    pub n: i64,
    pub href: String,
    pub current: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "staff_entities.html")]
pub struct EntitiesPage {
    csrf: String,
    notices: Vec<String>,
    stages: Vec<Choice>,
    townships: Vec<Choice>,
    kinds: Vec<Choice>,
    contacts: Vec<Choice>,
    sorts: Vec<Choice>,
    descending: bool,
    q: String,
    total: i64,
    rows: Vec<ListRow>,
    page: i64,
    pages: i64,
    page_links: Vec<PageLink>,
    prev: Option<String>,
    next: Option<String>,
    csv: String,
    xlsx: String,
}

fn choices<T: Copy + PartialEq>(
    all: impl IntoIterator<Item = T>,
    current: Option<T>,
    value: impl Fn(T) -> String,
    label: impl Fn(T) -> String,
) -> Vec<Choice> {
    all.into_iter()
        .map(|t| Choice {
            value: value(t),
            label: label(t),
            selected: current == Some(t),
        })
        .collect()
}

fn list_row(state: &AppState, row: EntityRow) -> ListRow {
    ListRow {
        id: row.id,
        kind: kind_label(&row.kind),
        township: township_name(state, row.township_code.as_deref()),
        stage: stage_label(&row.stage),
        stage_key: row.stage,
        last_contact: row
            .last_contact_at
            .map_or_else(|| "从未联系".to_owned(), day),
        follow_up: row.follow_up_on.unwrap_or_default(),
        uscc: row.uscc,
        name: row.name,
    }
}

async fn entities(
    staff: Staff,
    State(state): State<AppState>,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, AppError> {
    // An unreadable query string is treated like an empty one (the notice says so).
    let (pairs, unreadable) = match query {
        Ok(Query(pairs)) => (pairs, false),
        Err(_) => (Vec::new(), true),
    };
    let townships = workspace::townships(&state.db, staff.department_id).await?;
    let lq = ListQuery::parse(&pairs, &townships);
    let db = &state.db;
    match lq.format.as_deref() {
        Some("csv") | Some("xlsx") => return export(&state, &staff, &lq).await,
        _ => {}
    }
    let total = workspace::count_entities(db, staff.department_id, &lq.filter).await?;
    let pages = ((total + PER_PAGE - 1) / PER_PAGE).max(1);
    let mut notices: Vec<String> = lq
        .ignored
        .iter()
        .map(|(_, label)| format!("筛选条件“{label}”的值无效，已忽略。"))
        .collect();
    if unreadable {
        notices.push("网址中的筛选条件无法识别，已全部忽略。".to_owned());
    }
    if lq.format.is_some() {
        notices.push("导出格式无效（只能是 CSV 或 XLSX），已显示列表。".to_owned());
    }
    let page = if lq.page > pages {
        notices.push(format!("没有第 {} 页，已显示最后一页。", lq.page));
        pages
    } else {
        lq.page
    };
    let rows = workspace::list_entities(
        db,
        staff.department_id,
        &lq.filter,
        PER_PAGE,
        (page - 1) * PER_PAGE,
    )
    .await?
    .into_iter()
    .map(|r| list_row(&state, r))
    .collect();
    // Pages around the current one, plus the first and the last.
    let page_links = (1..=pages)
        .filter(|n| *n == 1 || *n == pages || (n - page).abs() <= 3)
        .map(|n| PageLink {
            n,
            href: lq.link(Some(n), None),
            current: n == page,
        })
        .collect();
    let f = &lq.filter;
    let page_html = EntitiesPage {
        csrf: staff.visitor.csrf.clone(),
        notices,
        stages: choices(
            Stage::ALL,
            f.stage,
            |s| s.as_str().into(),
            |s| s.label().into(),
        ),
        townships: townships
            .iter()
            .map(|code| Choice {
                value: code.clone(),
                label: township_name(&state, Some(code)),
                selected: f.township.as_deref() == Some(code.as_str()),
            })
            .collect(),
        kinds: choices(
            EntityKind::ALL,
            f.kind,
            |k| k.as_str().into(),
            |k| k.label_zh().into(),
        ),
        contacts: choices(
            LastContact::ALL,
            f.last_contact,
            |c| c.as_str().into(),
            |c| c.label().into(),
        ),
        sorts: choices(
            SortKey::ALL,
            Some(f.sort),
            |k| k.as_str().into(),
            |k| k.label().into(),
        ),
        descending: f.descending,
        q: lq
            .params
            .iter()
            .find(|(k, _)| *k == "q")
            .map(|(_, v)| v.clone())
            .unwrap_or_default(),
        total,
        rows,
        page,
        pages,
        page_links,
        prev: (page > 1).then(|| lq.link(Some(page - 1), None)),
        next: (page < pages).then(|| lq.link(Some(page + 1), None)),
        csv: lq.link(None, Some(("format", "csv"))),
        xlsx: lq.link(None, Some(("format", "xlsx"))),
    };
    Ok(page_html.into_response())
}

const EXPORT_HEADER: [&str; 7] = [
    "统一社会信用代码",
    "名称",
    "类型",
    "乡镇",
    "阶段",
    "最近联系",
    "下次跟进",
];

/// A spreadsheet cell that starts like a formula is prefixed with `'`, so Excel shows it as text
/// instead of running it (CSV injection).
pub(super) fn defuse(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

/// Every matching row (up to [`EXPORT_MAX`]) as CSV (UTF-8 with BOM) or XLSX.
async fn export(state: &AppState, staff: &Staff, lq: &ListQuery) -> Result<Response, AppError> {
    let rows =
        workspace::list_entities(&state.db, staff.department_id, &lq.filter, EXPORT_MAX, 0).await?;
    let cells: Vec<[String; 7]> = rows
        .into_iter()
        .map(|r| {
            let r = list_row(state, r);
            [
                r.uscc,
                r.name,
                r.kind.to_owned(),
                r.township,
                r.stage.to_owned(),
                r.last_contact,
                r.follow_up,
            ]
        })
        .collect();
    let stamp = outreach::format_day(crate::clock::today()).replace('-', "");
    let (body, content_type, ext) = if lq.format.as_deref() == Some("xlsx") {
        (
            xlsx(&cells)?,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
        )
    } else {
        (csv(&cells)?, "text/csv; charset=utf-8", "csv")
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"entities-{stamp}.{ext}\""),
            ),
        ],
        body,
    )
        .into_response())
}

fn csv(cells: &[[String; 7]]) -> Result<Vec<u8>, AppError> {
    let mut out = Vec::with_capacity(cells.len() * 120 + 64);
    out.extend_from_slice("\u{feff}".as_bytes());
    let mut writer = csv::Writer::from_writer(out);
    let fail = |e: csv::Error| AppError::Internal(format!("writing CSV: {e}"));
    writer.write_record(EXPORT_HEADER).map_err(fail)?;
    for row in cells {
        writer
            .write_record(row.iter().map(|c| defuse(c)))
            .map_err(fail)?;
    }
    writer
        .into_inner()
        .map_err(|e| AppError::Internal(format!("writing CSV: {}", e.error())))
}

fn xlsx(cells: &[[String; 7]]) -> Result<Vec<u8>, AppError> {
    use rust_xlsxwriter::{Format, Workbook};
    let fail = |e: rust_xlsxwriter::XlsxError| AppError::Internal(format!("writing XLSX: {e}"));
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("市场主体").map_err(fail)?;
    let bold = Format::new().set_bold();
    for (col, title) in (0u16..).zip(EXPORT_HEADER) {
        sheet
            .write_string_with_format(0, col, title, &bold)
            .map_err(fail)?;
    }
    for (row, values) in (1u32..).zip(cells) {
        for (col, value) in (0u16..).zip(values) {
            // Written as text cells: Excel never evaluates them, but a copy into CSV would.
            sheet.write_string(row, col, defuse(value)).map_err(fail)?;
        }
    }
    sheet.set_column_width(0, 22).map_err(fail)?;
    sheet.set_column_width(1, 36).map_err(fail)?;
    book.save_to_buffer().map_err(fail)
}

// ---------------------------------------------------------------------------------------------
// GET /staff/entities/{id}

pub struct HistoryRow {
    pub day: String,
    pub who: String,
    pub channel: &'static str,
    pub outcome: &'static str,
    pub note: String,
    pub follow_up: String,
}

/// What the outreach form shows: the values as typed and each field's error.
#[derive(Default)]
pub struct OutreachFormView {
    pub channel: String,
    pub outcome: String,
    pub note: String,
    pub contacted_on: String,
    pub follow_up_on: String,
    pub errors: BTreeMap<&'static str, &'static str>,
}

impl OutreachFormView {
    pub fn error(&self, field: &str) -> Option<&'static str> {
        self.errors.get(field).copied()
    }
}

pub struct Option2 {
    pub value: &'static str,
    pub label: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "staff_entity.html")]
pub struct EntityPage {
    csrf: String,
    notice: Option<&'static str>,
    id: i64,
    uscc: String,
    name: String,
    kind: &'static str,
    township: String,
    status: &'static str,
    legal_rep_masked: String,
    stage_key: String,
    stage: &'static str,
    registered: bool,
    verification: &'static str,
    signed: bool,
    sync: &'static str,
    sync_reason: String,
    registered_at: String,
    accepted_at: String,
    last_contact: String,
    contact: Option<workspace::Contact>,
    history: Vec<HistoryRow>,
    form: OutreachFormView,
    channels: Vec<Option2>,
    outcomes: Vec<Option2>,
    today: String,
    note_max: usize,
}

pub(super) fn history_rows(rows: Vec<outreach::OutreachRow>) -> Vec<HistoryRow> {
    rows.into_iter()
        .map(|o| HistoryRow {
            day: day(o.contacted_at),
            who: outreach::colleague(o.display_name.as_deref()),
            channel: outreach::channel_label(&o.channel),
            outcome: outreach::outcome_label(&o.outcome),
            note: o.note,
            follow_up: o.follow_up_on.unwrap_or_default(),
        })
        .collect()
}

/// The staff member's entity `raw_id`, or 404.
async fn own_entity(
    state: &AppState,
    staff: &Staff,
    raw_id: &str,
) -> Result<EntityDetail, AppError> {
    let id = parse_id(raw_id).ok_or(AppError::NotFound)?;
    workspace::entity(&state.db, staff.department_id, id)
        .await?
        .ok_or(AppError::NotFound)
}

async fn entity_page(
    state: &AppState,
    staff: &Staff,
    e: EntityDetail,
    notice: Option<&'static str>,
    contact: Option<workspace::Contact>,
    form: OutreachFormView,
) -> Result<EntityPage, AppError> {
    let history = history_rows(outreach::history(&state.db, e.id).await?);
    let today = outreach::format_day(crate::clock::today());
    Ok(EntityPage {
        csrf: staff.visitor.csrf.clone(),
        notice,
        id: e.id,
        kind: kind_label(&e.kind),
        township: township_name(state, e.township_code.as_deref()),
        status: EntityStatus::parse_code(&e.status).map_or("其他", EntityStatus::label_zh),
        legal_rep_masked: person_name::mask(&e.legal_rep),
        stage: stage_label(&e.stage),
        registered: e.registration_id.is_some(),
        verification: e.verification.as_deref().map_or("", verification_label),
        signed: e.signatures > 0,
        sync: e.sync_state.as_deref().map_or("", sync_label),
        sync_reason: e.sync_reason.clone().unwrap_or_default(),
        registered_at: e.registered_at.map(format_minute).unwrap_or_default(),
        accepted_at: e.accepted_at.map(format_minute).unwrap_or_default(),
        last_contact: e.last_contact_at.map_or_else(|| "从未联系".to_owned(), day),
        stage_key: e.stage,
        uscc: e.uscc,
        name: e.name,
        contact,
        history,
        form,
        channels: Channel::ALL
            .iter()
            .map(|c| Option2 {
                value: c.as_str(),
                label: c.label(),
            })
            .collect(),
        outcomes: ContactOutcome::ALL
            .iter()
            .map(|o| Option2 {
                value: o.as_str(),
                label: o.label(),
            })
            .collect(),
        today,
        note_max: outreach::NOTE_MAX,
    })
}

#[derive(Debug, Deserialize, Default)]
pub struct DoneParams {
    #[serde(default)]
    done: Option<String>,
}

async fn entity(
    staff: Staff,
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    params: Result<Query<DoneParams>, axum::extract::rejection::QueryRejection>,
) -> Result<EntityPage, AppError> {
    let e = own_entity(&state, &staff, &raw_id).await?;
    // Only a known confirmation is shown; anything else in the query string is ignored.
    let done = params.ok().and_then(|Query(p)| p.done);
    let notice = match done.as_deref() {
        Some("recorded") => Some("已记录本次联系。"),
        _ => None,
    };
    entity_page(&state, &staff, e, notice, None, OutreachFormView::default()).await
}

#[derive(Debug, Deserialize, Default)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// Shows the registration's mobile and the legal representative's full name; audited.
async fn reveal(
    staff: Staff,
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    FormInput(form): FormInput<CsrfForm>,
) -> Result<EntityPage, AppError> {
    let e = own_entity(&state, &staff, &raw_id).await?;
    staff.visitor.check_csrf(&form.csrf)?;
    let contact =
        workspace::reveal_contact(&state.db, staff.department_id, e.id, &staff.actor()).await?;
    let notice = contact
        .is_none()
        .then_some("该市场主体尚未登记，没有可显示的联系方式。");
    entity_page(
        &state,
        &staff,
        e,
        notice,
        contact,
        OutreachFormView::default(),
    )
    .await
}

#[derive(Debug, Deserialize, Default)]
pub struct OutreachForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    channel: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    contacted_on: String,
    #[serde(default)]
    follow_up_on: String,
}

async fn record_outreach(
    staff: Staff,
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    FormInput(form): FormInput<OutreachForm>,
) -> Result<Response, AppError> {
    let e = own_entity(&state, &staff, &raw_id).await?;
    staff.visitor.check_csrf(&form.csrf)?;
    let input = OutreachInput {
        channel: form.channel,
        outcome: form.outcome,
        note: form.note,
        contacted_on: form.contacted_on,
        follow_up_on: form.follow_up_on,
    };
    match input.check(crate::clock::today()) {
        Ok(new) => {
            let id = e.id;
            match outreach::record(&state.db, id, staff.department_id, staff.account.id, &new)
                .await?
            {
                Some(_) => Ok(
                    Redirect::to(&format!("/staff/entities/{id}?done=recorded#history"))
                        .into_response(),
                ),
                // Reassigned to another department between the page and the write.
                None => Err(AppError::NotFound),
            }
        }
        Err(errors) => {
            let form = OutreachFormView {
                errors: errors
                    .iter()
                    .map(|FieldError { field, message, .. }| (*field, *message))
                    .collect(),
                channel: input.channel,
                outcome: input.outcome,
                note: input.note,
                contacted_on: input.contacted_on,
                follow_up_on: input.follow_up_on,
            };
            let page = entity_page(&state, &staff, e, None, None, form).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// GET /staff/follow-ups

pub struct FollowUpRow {
    pub entity_id: i64,
    pub uscc: String,
    pub name: String,
    pub due: String,
    pub overdue_days: i64,
    pub channel: &'static str,
    pub outcome: &'static str,
    pub note: String,
    pub contacted: String,
    pub who: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "staff_follow_ups.html")]
pub struct FollowUpsPage {
    csrf: String,
    today: String,
    rows: Vec<FollowUpRow>,
}

pub(super) fn follow_up_rows(rows: Vec<outreach::FollowUp>, today: Date) -> Vec<FollowUpRow> {
    rows.into_iter()
        .map(|f| FollowUpRow {
            overdue_days: f.overdue_days(today),
            entity_id: f.entity_id,
            uscc: f.uscc,
            name: f.name,
            due: f.follow_up_on,
            channel: outreach::channel_label(&f.channel),
            outcome: outreach::outcome_label(&f.outcome),
            note: f.note,
            contacted: day(f.contacted_at),
            who: outreach::colleague(f.display_name.as_deref()),
        })
        .collect()
}

async fn follow_ups(
    staff: Staff,
    State(state): State<AppState>,
) -> Result<FollowUpsPage, AppError> {
    let today = crate::clock::today();
    let rows = outreach::follow_ups_due(&state.db, staff.department_id, today).await?;
    Ok(FollowUpsPage {
        csrf: staff.visitor.csrf.clone(),
        today: outreach::format_day(today),
        rows: follow_up_rows(rows, today),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn bad_filters_are_ignored_and_named() {
        let q = ListQuery::parse(
            &pairs(&[
                ("stage", "bogus"),
                ("township", "999"),
                ("kind", "enterprise"),
                ("page", "-1"),
                ("q", "粮食"),
            ]),
            &["220322100".to_owned()],
        );
        assert_eq!(q.filter.stage, None);
        assert_eq!(q.filter.township, None);
        assert_eq!(q.filter.kind, Some(EntityKind::Enterprise));
        assert_eq!(q.page, 1);
        let ignored: Vec<_> = q.ignored.iter().map(|(k, _)| *k).collect();
        assert_eq!(ignored, ["page", "stage", "township"]);
        assert_eq!(
            q.link(Some(2), None),
            "/staff/entities?kind=enterprise&q=%E7%B2%AE%E9%A3%9F&page=2"
        );
    }

    #[test]
    fn formula_cells_are_defused() {
        assert_eq!(defuse("=1+1"), "'=1+1");
        assert_eq!(defuse("-2"), "'-2");
        assert_eq!(defuse("@x"), "'@x");
        assert_eq!(defuse("梨树"), "梨树");
    }
}

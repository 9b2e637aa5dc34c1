//! `/leaders/trends`: the onboarding rate of each department of one kind over time, and the
//! jurisdiction's cumulative onboarded curve against its target line, drawn as SVG from the
//! daily snapshots (the last 90) plus today's live counts. The page also takes today's snapshot
//! on demand (`POST /leaders/snapshot`) and turns a leader's weekly digest on or off
//! (`POST /leaders/digest`).

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use time::Date;

use crate::app::AppState;
use crate::domain::assignment_rule::TargetAmount;
use crate::domain::calendar;
use crate::jobs::snapshots;
use crate::report::charts::{self, Chart, LineChart, Series, YAxis};
use crate::report::tally::{Tally, by_department, counties_of, total};
use crate::store::accounts::Role;
use crate::store::departments::{self, Department, DepartmentKind};
use crate::store::league::{self, CountRow, Trigger};
use crate::store::{digests, progress};

use super::error::AppError;
use super::form::FormInput;
use super::roles::Leader;

/// Snapshots drawn at most (plus today).
pub const CHART_DAYS: usize = 90;
/// Snapshot days listed on the page.
const RECENT_DAYS: usize = 30;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/leaders/trends", get(page))
        .route("/leaders/trends/export.xlsx", get(export))
        .route("/leaders/snapshot", post(snapshot))
        .route("/leaders/digest", post(toggle_digest))
}

/// One day of the charts: the read model as it was, and each department's target in entities.
#[derive(Debug, Clone)]
pub struct DayData {
    pub day: Date,
    pub rows: Vec<CountRow>,
    /// Departments with a target that day.
    pub targets: BTreeMap<i64, i64>,
}

/// A target in entities: a share of the department's entities rounded up, as the staff see it.
fn entities_of(amount: TargetAmount, assigned: i64) -> i64 {
    match amount {
        TargetAmount::Count(n) => n,
        TargetAmount::Share(s) => (s * assigned as f64).ceil() as i64,
    }
}

/// The rate chart: one line per department of `kind` (in `departments`' order), a point per day.
pub fn rate_chart(kind: DepartmentKind, departments: &[Department], days: &[DayData]) -> LineChart {
    let tallies: Vec<BTreeMap<i64, Tally>> = days.iter().map(|d| by_department(&d.rows)).collect();
    let series = departments
        .iter()
        .filter(|d| d.kind == kind.as_str())
        .map(|d| Series {
            key: d.id.to_string(),
            name: d.name.clone(),
            points: days
                .iter()
                .zip(&tallies)
                .map(|(day, t)| (day.day, t.get(&d.id).copied().unwrap_or_default().rate()))
                .collect(),
        })
        .collect();
    LineChart {
        id: "rate-chart".to_owned(),
        title: format!("各{}入驻率变化", kind_label(kind)),
        desc: format!(
            "每条线是一个{}：已入驻省平台的市场主体占其负责市场主体的百分比，按日快照绘制，最后一点为今天的实时数据。",
            kind_label(kind)
        ),
        y: YAxis::Percent,
        series,
        target: None,
    }
}

/// The cumulative chart: onboarded entities of the whole jurisdiction per day, against the sum
/// of the departments' targets of that day's month.
pub fn total_chart(name: &str, days: &[DayData]) -> LineChart {
    let onboarded = days
        .iter()
        .map(|d| (d.day, total(&d.rows).onboarded as f64))
        .collect();
    let target: Vec<(Date, f64)> = days
        .iter()
        .filter(|d| !d.targets.is_empty())
        .map(|d| (d.day, d.targets.values().sum::<i64>() as f64))
        .collect();
    LineChart {
        id: "total-chart".to_owned(),
        title: format!("{name}累计入驻与目标"),
        desc: format!(
            "实线：{name}已入驻省平台的市场主体累计数；虚线：各部门当月目标之和（{}）。",
            if target.is_empty() {
                "尚未设定目标"
            } else {
                "按当天记录的目标"
            }
        ),
        y: YAxis::Count(0.0),
        series: vec![Series {
            key: "onboarded".to_owned(),
            name: "累计入驻".to_owned(),
            points: onboarded,
        }],
        target: (!target.is_empty()).then(|| Series {
            key: "target".to_owned(),
            name: "目标（各部门当月目标之和）".to_owned(),
            points: target,
        }),
    }
}

fn kind_label(kind: DepartmentKind) -> &'static str {
    match kind {
        DepartmentKind::Bureau => "县直部门",
        DepartmentKind::Township => "乡镇",
        DepartmentKind::Financial => "金融机构",
    }
}

/// The days drawn: the latest [`CHART_DAYS`] snapshots before today, oldest first, then today
/// from the live read model and today's targets.
async fn chart_days(
    state: &AppState,
    counties: &[String],
    departments: &[Department],
    snapshot_days: &[Date],
    today: Date,
) -> Result<Vec<DayData>, AppError> {
    let mut days = Vec::new();
    let mut past: Vec<Date> = snapshot_days
        .iter()
        .copied()
        .filter(|d| *d < today)
        .take(CHART_DAYS)
        .collect();
    past.reverse();
    for day in past {
        let Some(rows) = league::snapshot_counts(&state.db, day, counties).await? else {
            continue;
        };
        let assigned = by_department(&rows);
        let targets = league::snapshot_departments(&state.db, day)
            .await?
            .into_iter()
            .filter(|d| counties.contains(&d.county_code))
            .filter_map(|d| {
                let amount = TargetAmount::new(d.target_count, d.target_share).ok()?;
                let n = assigned.get(&d.department_id).map_or(0, |t| t.assigned);
                Some((d.department_id, entities_of(amount, n)))
            })
            .collect();
        days.push(DayData { day, rows, targets });
    }
    let rows = league::counts(&state.db, counties).await?;
    let assigned = by_department(&rows);
    let period = calendar::period_of(today);
    let mut targets = BTreeMap::new();
    for d in departments {
        if let Some((amount, _)) = progress::target_of(&state.db, d.id, &period).await? {
            let n = assigned.get(&d.id).map_or(0, |t| t.assigned);
            targets.insert(d.id, entities_of(amount, n));
        }
    }
    days.push(DayData {
        day: today,
        rows,
        targets,
    });
    Ok(days)
}

#[derive(Template, WebTemplate)]
#[template(path = "leaders_trends.html")]
struct TrendsPage {
    csrf: String,
    today: String,
    kind: &'static str,
    kinds: Vec<(&'static str, &'static str)>,
    kind_name: &'static str,
    rate_chart: Option<Chart>,
    total_chart: Option<Chart>,
    jurisdiction: String,
    recent: Vec<String>,
    /// The day a snapshot was just taken (after the button).
    taken: String,
    /// `Some(on)` for a leader account (admins get no digest).
    digest_on: Option<bool>,
    digest_changed: String,
}

#[derive(Debug, Deserialize, Default)]
struct TrendsParams {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    taken: String,
    #[serde(default)]
    digest: String,
}

async fn page(
    leader: Leader,
    State(state): State<AppState>,
    Query(params): Query<TrendsParams>,
) -> Result<Response, AppError> {
    let kind = DepartmentKind::parse(&params.kind).unwrap_or(DepartmentKind::Bureau);
    let jurisdiction = &state.settings.jurisdiction;
    let counties = counties_of(&state.divisions, jurisdiction);
    let mut all_departments = Vec::new();
    for county in &counties {
        all_departments.extend(departments::list(&state.db, county).await?);
    }
    let today = crate::clock::today();
    let snapshot_days = league::snapshot_days(&state.db).await?;
    let days = chart_days(&state, &counties, &all_departments, &snapshot_days, today).await?;
    let name = state
        .divisions
        .get(jurisdiction)
        .map_or_else(|| jurisdiction.clone(), |d| d.name.clone());
    let digest_on = if leader.account.is(Role::Leader) {
        Some(!digests::opted_out(&state.db, leader.account.id).await?)
    } else {
        None
    };
    // Only a real day goes back into the page.
    let taken = Date::parse(
        &params.taken,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map(|d| d.to_string())
    .unwrap_or_default();
    let page = TrendsPage {
        csrf: leader.visitor.csrf.clone(),
        today: today.to_string(),
        kind: kind.as_str(),
        kinds: DepartmentKind::ALL
            .into_iter()
            .map(|k| (k.as_str(), kind_label(k)))
            .collect(),
        kind_name: kind_label(kind),
        rate_chart: charts::line_chart(&rate_chart(kind, &all_departments, &days)),
        total_chart: charts::line_chart(&total_chart(&name, &days)),
        jurisdiction: name,
        recent: snapshot_days
            .iter()
            .take(RECENT_DAYS)
            .map(Date::to_string)
            .collect(),
        taken,
        digest_on,
        digest_changed: match params.digest.as_str() {
            "on" => "已开启每周排行邮件。".to_owned(),
            "off" => "已关闭每周排行邮件。".to_owned(),
            _ => String::new(),
        },
    };
    Ok(page.into_response())
}

/// The numbers behind every chart as a workbook: one sheet per kind's rate chart and one for the
/// cumulative curve against the target, a line per day and a column per series.
async fn export(_leader: Leader, State(state): State<AppState>) -> Result<Response, AppError> {
    let jurisdiction = &state.settings.jurisdiction;
    let counties = counties_of(&state.divisions, jurisdiction);
    let mut all_departments = Vec::new();
    for county in &counties {
        all_departments.extend(departments::list(&state.db, county).await?);
    }
    let today = crate::clock::today();
    let snapshot_days = league::snapshot_days(&state.db).await?;
    let days = chart_days(&state, &counties, &all_departments, &snapshot_days, today).await?;
    let name = state
        .divisions
        .get(jurisdiction)
        .map_or_else(|| jurisdiction.clone(), |d| d.name.clone());
    let mut sheets: Vec<(&str, LineChart)> = DepartmentKind::ALL
        .into_iter()
        .map(|k| (kind_label(k), rate_chart(k, &all_departments, &days)))
        .collect();
    sheets.push(("累计入驻", total_chart(&name, &days)));
    let bytes = chart_workbook(&sheets).map_err(|e| AppError::Internal(e.to_string()))?;
    let filename = format!("trends-{}.xlsx", today.to_string().replace('-', ""));
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_owned(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// A sheet per chart: 日期, then each series (and the target line) by name, one line per day.
fn chart_workbook(sheets: &[(&str, LineChart)]) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let bold = rust_xlsxwriter::Format::new().set_bold();
    for (title, chart) in sheets {
        let sheet = book.add_worksheet();
        sheet.set_name(*title)?;
        sheet.write_string_with_format(0, 0, "日期", &bold)?;
        let columns: Vec<&Series> = chart.series.iter().chain(chart.target.iter()).collect();
        let mut dates: Vec<Date> = columns
            .iter()
            .flat_map(|s| s.points.iter().map(|(d, _)| *d))
            .collect();
        dates.sort();
        dates.dedup();
        for (col, series) in (1u16..).zip(&columns) {
            sheet.write_string_with_format(0, col, super::staff::defuse(&series.name), &bold)?;
        }
        for (row, day) in (1u32..).zip(&dates) {
            sheet.write_string(row, 0, day.to_string())?;
            for (col, series) in (1u16..).zip(&columns) {
                if let Some((_, v)) = series.points.iter().find(|(d, _)| d == day) {
                    sheet.write_number(row, col, (v * 100.0).round() / 100.0)?;
                }
            }
        }
        sheet.set_column_width(0, 12)?;
    }
    book.save_to_buffer()
}

#[derive(Debug, Deserialize, Default)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// Takes today's snapshot now (replacing an earlier one of today).
async fn snapshot(
    leader: Leader,
    State(state): State<AppState>,
    FormInput(form): FormInput<CsrfForm>,
) -> Result<Response, AppError> {
    leader.visitor.check_csrf(&form.csrf)?;
    let today = crate::clock::today();
    let actor = format!("account:{}", leader.account.id);
    snapshots::take_snapshot(&state.db, today, Trigger::Manual, &actor).await?;
    Ok(Redirect::to(&format!("/leaders/trends?taken={today}#snapshot")).into_response())
}

#[derive(Debug, Deserialize, Default)]
struct ToggleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    digest: String,
}

/// A leader turns their weekly digest on or off (admins get none: 404).
async fn toggle_digest(
    leader: Leader,
    State(state): State<AppState>,
    FormInput(form): FormInput<ToggleForm>,
) -> Result<Response, AppError> {
    leader.visitor.check_csrf(&form.csrf)?;
    if !leader.account.is(Role::Leader) {
        return Err(AppError::NotFound);
    }
    let on = match form.digest.as_str() {
        "on" => true,
        "off" => false,
        _ => return Err(AppError::BadForm(StatusCode::UNPROCESSABLE_ENTITY)),
    };
    let actor = format!("account:{}", leader.account.id);
    digests::set_subscribed(&state.db, leader.account.id, on, &actor).await?;
    let word = if on { "on" } else { "off" };
    Ok(Redirect::to(&format!("/leaders/trends?digest={word}#digest-setting")).into_response())
}

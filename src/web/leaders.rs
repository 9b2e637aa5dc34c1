//! The leaders' league tables: `/leaders` (any day's tables, printable), their XLSX export
//! `/leaders/export.xlsx`, and `/screen`, the same league on a 1920×1080 LED display that reloads
//! itself. A screen runs unattended and cannot log in, so it may show a key instead
//! (`XYD_SCREEN_KEY`).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Extension, Router};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use time::Date;

use crate::app::AppState;
use crate::report::league::{self, League, LeagueRow, LeagueTable};
use crate::store::accounts::Role;
use crate::store::league as read_model;
use crate::store::outreach;
use crate::store::progress::{Projection, Stage};

use super::error::AppError;
use super::roles::{CHANGE_PASSWORD, Leader};
use super::session::Visitor;
use super::staff::{defuse, month_day};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/leaders", get(page))
        .route("/leaders/export.xlsx", get(export))
        .route("/screen", get(screen))
}

/// Stage names short enough for a table's header (the full words are in `title`).
fn stage_short(stage: Stage) -> &'static str {
    match stage {
        Stage::NotStarted => "未开始",
        Stage::Started => "登记中",
        Stage::Verified => "已核验",
        Stage::Signed => "已签约",
        Stage::Synced => "已入驻",
        Stage::Rejected => "被驳回",
    }
}

/// `?date=…&print=1`, read leniently: a query string we cannot read counts as empty.
#[derive(Debug, Default)]
struct DayQuery {
    /// As typed, to show it again.
    raw: String,
    print: bool,
    key: Option<String>,
}

impl DayQuery {
    fn from(query: Result<Query<Vec<(String, String)>>, impl std::any::Any>) -> DayQuery {
        let mut q = DayQuery::default();
        for (k, v) in query.map(|Query(p)| p).unwrap_or_default() {
            match k.as_str() {
                "date" => q.raw = v.trim().chars().take(20).collect(),
                "print" => q.print = v == "1",
                "key" => q.key = Some(v),
                _ => {}
            }
        }
        q
    }
}

/// The day asked for: today when none is given; an error for a malformed or future date.
fn parse_day(raw: &str, today: Date) -> Result<Date, &'static str> {
    if raw.is_empty() {
        return Ok(today);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    match Date::parse(raw, &format) {
        Err(_) => Err("日期格式应为 年-月-日，例如 2026-11-30"),
        Ok(day) if day > today => Err("不能选择今天以后的日期"),
        Ok(day) => Ok(day),
    }
}

/// Up to five snapshot days nearest to `day`, oldest first.
fn nearest_days(mut days: Vec<Date>, day: Date) -> Vec<Date> {
    days.sort_by_key(|d| ((*d - day).whole_days().abs(), *d));
    days.truncate(5);
    days.sort();
    days
}

pub struct RowView {
    pub key: String,
    pub rank: usize,
    pub name: String,
    pub assigned: i64,
    pub stages: Vec<i64>,
    pub onboarded: i64,
    /// "45.0%".
    pub rate: String,
    /// 0–100 for the bar.
    pub bar: i64,
    /// "12/30", or empty without a target.
    pub target: String,
    /// "▲ 3.2", "▼ 1.0", "持平", or "—" without last week's snapshot.
    pub change: String,
    /// `up`, `down` or empty (for colour).
    pub trend: &'static str,
    pub projection: String,
}

fn percent(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

fn change_text(pp: Option<f64>) -> (String, &'static str) {
    match pp {
        None => ("—".to_owned(), ""),
        Some(pp) if pp >= 0.05 => (format!("▲ {pp:.1}"), "up"),
        Some(pp) if pp <= -0.05 => (format!("▼ {:.1}", -pp), "down"),
        Some(_) => ("持平".to_owned(), ""),
    }
}

fn projection_text(p: Projection, day: Date) -> String {
    match p {
        Projection::NoTarget => "—".to_owned(),
        Projection::Reached => "已达成".to_owned(),
        Projection::On(d) => month_day(d, day),
        Projection::Stalled => "无法预计".to_owned(),
    }
}

fn row_view(r: &LeagueRow, day: Date) -> RowView {
    let (change, trend) = change_text(r.change_pp);
    RowView {
        key: r.key.clone(),
        rank: r.rank,
        name: r.name.clone(),
        assigned: r.assigned,
        stages: r.stages.iter().map(|(_, n)| n).collect(),
        onboarded: r.onboarded,
        rate: percent(r.rate),
        bar: (r.rate * 100.0).round().clamp(0.0, 100.0) as i64,
        target: r
            .target
            .map(|t| format!("{}/{t}", r.onboarded))
            .unwrap_or_default(),
        change,
        trend,
        projection: projection_text(r.projection, day),
    }
}

pub struct TableView {
    pub slug: &'static str,
    pub title: &'static str,
    pub rows: Vec<RowView>,
}

fn table_views(league: &League) -> Vec<TableView> {
    league
        .tables
        .iter()
        .map(|t: &LeagueTable| TableView {
            slug: t.kind.slug(),
            title: t.kind.title(),
            rows: t.rows.iter().map(|r| row_view(r, league.day)).collect(),
        })
        .collect()
}

pub struct DayLink {
    pub href: String,
    pub label: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "leaders_home.html")]
pub struct LeadersPage {
    csrf: String,
    print: bool,
    /// The date field as typed.
    date: String,
    date_error: Option<&'static str>,
    today: String,
    /// The day shown, "2026-11-30".
    day: String,
    live: bool,
    /// The day asked for had no snapshot: the nearest days that have one.
    missing: Option<Vec<DayLink>>,
    total: Option<RowView>,
    tables: Vec<TableView>,
    stage_labels: Vec<(&'static str, &'static str)>,
    print_href: String,
    export_href: String,
}

fn day_param(day: Date, today: Date) -> String {
    if day == today {
        String::new()
    } else {
        format!("date={}", outreach::format_day(day))
    }
}

async fn page(
    leader: Leader,
    State(state): State<AppState>,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, AppError> {
    let q = DayQuery::from(query);
    let today = crate::clock::today();
    let (day, date_error) = match parse_day(&q.raw, today) {
        Ok(day) => (day, None),
        Err(message) => (today, Some(message)),
    };
    let league = league::league(
        &state.db,
        &state.divisions,
        &state.settings.jurisdiction,
        day,
        today,
    )
    .await?;
    let missing = match &league {
        Some(_) => None,
        None => Some(
            nearest_days(read_model::snapshot_days(&state.db).await?, day)
                .into_iter()
                .map(|d| DayLink {
                    href: format!("/leaders?{}", day_param(d, today)),
                    label: outreach::format_day(d),
                })
                .collect(),
        ),
    };
    let param = day_param(day, today);
    let join = |base: &str, extra: &str| match (param.is_empty(), extra.is_empty()) {
        (true, true) => base.to_owned(),
        (true, false) => format!("{base}?{extra}"),
        (false, true) => format!("{base}?{param}"),
        (false, false) => format!("{base}?{param}&{extra}"),
    };
    let page = LeadersPage {
        csrf: leader.visitor.csrf.clone(),
        print: q.print,
        date: if q.raw.is_empty() {
            outreach::format_day(day)
        } else {
            q.raw.clone()
        },
        date_error,
        today: outreach::format_day(today),
        day: outreach::format_day(day),
        live: league.as_ref().is_some_and(|l| l.live),
        missing,
        total: league.as_ref().map(|l| row_view(&l.total, day)),
        tables: league.as_ref().map(table_views).unwrap_or_default(),
        stage_labels: Stage::ALL
            .iter()
            .map(|s| (stage_short(*s), s.label()))
            .collect(),
        print_href: join("/leaders", "print=1"),
        export_href: join("/leaders/export.xlsx", ""),
    };
    let status = if date_error.is_some() {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    } else {
        axum::http::StatusCode::OK
    };
    Ok((status, page).into_response())
}

// ---------------------------------------------------------------------------------------------
// GET /leaders/export.xlsx

/// The columns of every table's sheet, as on the page.
fn sheet_header() -> Vec<&'static str> {
    let mut header = vec!["排名", "名称", "负责市场主体"];
    header.extend(Stage::ALL.iter().map(|s| s.label()));
    header.extend(["入驻率(%)", "本月目标", "较上周(百分点)", "预计达成日期"]);
    header
}

fn workbook(league: &League) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{Format, Workbook, Worksheet};
    let bold = Format::new().set_bold();
    let title_row = |sheet: &mut Worksheet, titles: &[&str]| {
        for (col, title) in (0u16..).zip(titles) {
            sheet.write_string_with_format(0, col, *title, &bold)?;
        }
        Ok::<(), rust_xlsxwriter::XlsxError>(())
    };
    let mut book = Workbook::new();
    let header = sheet_header();
    for table in &league.tables {
        let sheet = book.add_worksheet();
        sheet.set_name(table.kind.title())?;
        title_row(sheet, &header)?;
        for (row, r) in (1u32..).zip(&table.rows) {
            sheet.write_number(row, 0, r.rank as f64)?;
            sheet.write_string(row, 1, defuse(&r.name))?;
            sheet.write_number(row, 2, r.assigned as f64)?;
            let mut col = 3u16;
            for (_, n) in r.stages.iter() {
                sheet.write_number(row, col, n as f64)?;
                col += 1;
            }
            sheet.write_number(row, col, (r.rate * 1000.0).round() / 10.0)?;
            if let Some(t) = r.target {
                sheet.write_number(row, col + 1, t as f64)?;
            }
            if let Some(pp) = r.change_pp {
                sheet.write_number(row, col + 2, (pp * 10.0).round() / 10.0)?;
            }
            sheet.write_string(row, col + 3, projection_cell(r.projection))?;
        }
        sheet.set_column_width(1, 24)?;
    }
    // The raw stage counts behind the charts: one line per department, township or county.
    let sheet = book.add_worksheet();
    sheet.set_name("数据")?;
    let mut titles = vec!["日期", "表", "编号", "名称"];
    titles.extend(Stage::ALL.iter().map(|s| s.as_str()));
    title_row(sheet, &titles)?;
    let day = outreach::format_day(league.day);
    let mut row = 1u32;
    for table in &league.tables {
        for r in &table.rows {
            sheet.write_string(row, 0, &day)?;
            sheet.write_string(row, 1, table.kind.slug())?;
            sheet.write_string(row, 2, &r.key)?;
            sheet.write_string(row, 3, defuse(&r.name))?;
            for (col, (_, n)) in (4u16..).zip(r.stages.iter()) {
                sheet.write_number(row, col, n as f64)?;
            }
            row += 1;
        }
    }
    book.save_to_buffer()
}

/// The projected day as a spreadsheet shows it (ISO dates sort and filter well).
fn projection_cell(p: Projection) -> String {
    match p {
        Projection::On(d) => outreach::format_day(d),
        Projection::NoTarget => String::new(),
        Projection::Reached => "已达成".to_owned(),
        Projection::Stalled => "无法预计".to_owned(),
    }
}

async fn export(
    _leader: Leader,
    State(state): State<AppState>,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, AppError> {
    let q = DayQuery::from(query);
    let today = crate::clock::today();
    // A link from the page always carries a valid day; anything else finds nothing.
    let day = parse_day(&q.raw, today).map_err(|_| AppError::NotFound)?;
    let league = league::league(
        &state.db,
        &state.divisions,
        &state.settings.jurisdiction,
        day,
        today,
    )
    .await?
    .ok_or(AppError::NotFound)?;
    let body = workbook(&league)
        .map_err(|e| AppError::Internal(format!("writing the league XLSX: {e}")))?;
    let stamp = outreach::format_day(day).replace('-', "");
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_owned(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"league-{stamp}.xlsx\""),
            ),
        ],
        body,
    )
        .into_response())
}

// ---------------------------------------------------------------------------------------------
// GET /screen

/// Who is looking at the screen page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Viewer {
    Anonymous,
    /// A leader or admin who may see it.
    Leader,
    /// A leader or admin who must first change a temporary password.
    MustChangePassword,
    /// Any other account.
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScreenAccess {
    Show,
    LogIn,
    ChangePassword,
    NotFound,
}

/// A valid key or a leader's session shows the screen. A wrong key is a 404 (a screen asking
/// for a login would sit on the login form forever); no key falls back to the page rules.
fn screen_access(viewer: Viewer, key: Option<&str>, expected: Option<&str>) -> ScreenAccess {
    let key_ok = match (key, expected) {
        (Some(key), Some(expected)) => key_matches(key, expected),
        _ => false,
    };
    match (key_ok, viewer, key.is_some()) {
        (true, _, _) | (_, Viewer::Leader, _) => ScreenAccess::Show,
        (false, _, true) => ScreenAccess::NotFound,
        (false, Viewer::Anonymous, false) => ScreenAccess::LogIn,
        (false, Viewer::MustChangePassword, false) => ScreenAccess::ChangePassword,
        (false, Viewer::Other, false) => ScreenAccess::NotFound,
    }
}

/// Both sides go through the same HMAC and the tags are compared in constant time, so neither
/// the key's length nor a matching prefix shows in the response time.
fn key_matches(presented: &str, expected: &str) -> bool {
    let mac = |value: &str| {
        <Hmac<Sha256> as KeyInit>::new_from_slice(b"xinyidai screen key")
            .map(|m| m.chain_update(value.as_bytes()))
    };
    match (mac(expected), mac(presented)) {
        (Ok(expected), Ok(presented)) => presented
            .verify_slice(&expected.finalize().into_bytes())
            .is_ok(),
        _ => false,
    }
}

fn viewer_of(visitor: &Visitor) -> Viewer {
    match &visitor.account {
        None => Viewer::Anonymous,
        Some(a) if matches!(a.role(), Some(Role::Leader | Role::Admin)) => {
            if a.must_change_password {
                Viewer::MustChangePassword
            } else {
                Viewer::Leader
            }
        }
        Some(_) => Viewer::Other,
    }
}

/// Rows per table on the screen: what fits 1080 pixels in the type size of screen.html.
pub const SCREEN_ROWS: usize = 10;

#[derive(Template, WebTemplate)]
#[template(path = "screen.html")]
pub struct ScreenPage {
    title: String,
    day: String,
    total: RowView,
    tables: Vec<TableView>,
}

async fn screen(
    Extension(visitor): Extension<Visitor>,
    State(state): State<AppState>,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, AppError> {
    let q = DayQuery::from(query);
    let expected = state.settings.screen_key.as_ref().map(|k| k.expose());
    match screen_access(viewer_of(&visitor), q.key.as_deref(), expected) {
        ScreenAccess::Show => {}
        ScreenAccess::LogIn => return Ok(Redirect::to("/login?next=/screen").into_response()),
        ScreenAccess::ChangePassword => return Ok(Redirect::to(CHANGE_PASSWORD).into_response()),
        ScreenAccess::NotFound => return Err(AppError::NotFound),
    }
    let today = crate::clock::today();
    let jurisdiction = &state.settings.jurisdiction;
    let league = league::league(&state.db, &state.divisions, jurisdiction, today, today)
        .await?
        .ok_or_else(|| AppError::Internal("no live league".into()))?;
    let mut tables = table_views(&league);
    for t in &mut tables {
        t.rows.truncate(SCREEN_ROWS);
    }
    Ok(ScreenPage {
        title: format!("{}信易贷入驻排行", league.total.name),
        day: outreach::format_day(today),
        total: row_view(&league.total, today),
        tables,
    }
    .into_response())
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    const KEY: &str = "0123456789abcdef-screen";

    #[test]
    fn screen_access_by_key_or_session() {
        use ScreenAccess::*;
        use Viewer::*;
        let k = Some(KEY);
        assert_eq!(screen_access(Anonymous, Some(KEY), k), Show);
        assert_eq!(screen_access(Other, Some(KEY), k), Show);
        assert_eq!(
            screen_access(Anonymous, Some("wrong-key-wrong-key"), k),
            NotFound
        );
        assert_eq!(screen_access(Anonymous, Some(KEY), None), NotFound);
        assert_eq!(screen_access(Anonymous, Some(""), k), NotFound);
        assert_eq!(screen_access(Anonymous, None, k), LogIn);
        assert_eq!(screen_access(Other, None, k), NotFound);
        assert_eq!(screen_access(Leader, None, k), Show);
        assert_eq!(screen_access(Leader, Some("wrong"), k), Show);
        assert_eq!(screen_access(MustChangePassword, None, k), ChangePassword);
        assert!(!key_matches(&KEY[..KEY.len() - 1], KEY));
    }

    #[test]
    fn days_are_checked() {
        let today = date!(2026 - 11 - 30);
        assert_eq!(parse_day("", today), Ok(today));
        assert_eq!(parse_day("2026-11-02", today), Ok(date!(2026 - 11 - 02)));
        assert!(parse_day("2026-12-01", today).is_err());
        assert!(parse_day("2026-13-01", today).is_err());
        assert!(parse_day("昨天", today).is_err());
    }

    #[test]
    fn nearest_snapshot_days() {
        let day = date!(2026 - 11 - 10);
        let days: Vec<Date> = (1..=28)
            .step_by(3)
            .map(|d| Date::from_calendar_date(2026, time::Month::November, d).unwrap())
            .collect();
        assert_eq!(
            nearest_days(days, day),
            [
                date!(2026 - 11 - 04),
                date!(2026 - 11 - 07),
                date!(2026 - 11 - 10),
                date!(2026 - 11 - 13),
                date!(2026 - 11 - 16),
            ]
        );
    }

    #[test]
    fn change_arrows() {
        assert_eq!(change_text(Some(3.24)).0, "▲ 3.2");
        assert_eq!(change_text(Some(-1.0)).0, "▼ 1.0");
        assert_eq!(change_text(Some(0.01)).0, "持平");
        assert_eq!(change_text(None).0, "—");
    }
}

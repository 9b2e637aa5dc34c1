//! The credit-monitoring figure (docs/metrics.md): `GET /api/v1/metrics/credit-monitoring`
//! (JSON) and `…/credit-monitoring.csv` for one month, and the leaders' page `/leaders/metric`.
//!
//! The API answers leaders and admins: by bearer token, or by the browser session so the page's
//! CSV link works. Both are read-only GETs, so a session cookie needs no CSRF token here.

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::domain::entity_kind::EntityKind;
use crate::report::credit_metric::{
    self as metric, Entry, MonthFigures, Period, Scope, WindowMonth, e4_text,
};
use crate::store::accounts::{Account, Role};
use crate::store::outreach;

use super::api::{ApiErrors, Problem, api_error, store_failure};
use super::error::AppError;
use super::roles::{Leader, bearer_account};
use super::session::Visitor;

pub const API_PATH: &str = "/api/v1/metrics/credit-monitoring";
pub const CSV_PATH: &str = "/api/v1/metrics/credit-monitoring.csv";

pub fn routes() -> Router<AppState> {
    Router::new()
        // Literal paths: tests/it/api.rs reads them to check the OpenAPI document.
        .route("/api/v1/metrics/credit-monitoring", get(figure_json))
        .route("/api/v1/metrics/credit-monitoring.csv", get(figure_csv))
        .route("/leaders/metric", get(page))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(figure_json, figure_csv),
    components(schemas(
        CreditMetric,
        MetricArea,
        MetricEntry,
        MetricKind,
        MetricSettingsJson,
        KindWeight,
        ExcludedStatus,
        WindowPoint
    ))
)]
pub struct CreditMetricApiDoc;

// ---------------------------------------------------------------------------------------------
// Who may read it

/// A leader or admin, by bearer token or by browser session. Without either: 401; a temporary
/// password: 403; any other role: 404 (as for every API path a role may not see).
pub struct MetricReader;

impl FromRequestParts<AppState> for MetricReader {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let account: Account = if parts.headers.contains_key(header::AUTHORIZATION) {
            bearer_account(state, &parts.headers).await?
        } else {
            match parts
                .extensions
                .get::<Visitor>()
                .and_then(|v| v.account.clone())
            {
                Some(account) => account,
                None => {
                    return Err(api_error(
                        StatusCode::UNAUTHORIZED,
                        "unauthorized",
                        "请先登录",
                    ));
                }
            }
        };
        if !matches!(account.role(), Some(Role::Leader | Role::Admin)) {
            return Err(api_error(StatusCode::NOT_FOUND, "not_found", "没有找到"));
        }
        if account.must_change_password {
            return Err(api_error(
                StatusCode::FORBIDDEN,
                "password_change_required",
                "首次登录须先在网页上修改密码",
            ));
        }
        Ok(MetricReader)
    }
}

// ---------------------------------------------------------------------------------------------
// The query

/// `period` (default: this month) and `window` (`true` adds the monitoring window's series).
struct Request {
    period: Period,
    window: bool,
}

/// The query checked; the field names of the bad values otherwise.
fn parse_query(
    q: &BTreeMap<String, String>,
    today: time::Date,
) -> Result<Request, BTreeMap<String, Vec<String>>> {
    let mut errors = BTreeMap::new();
    let period = match q.get("period").map(|p| p.trim()).filter(|p| !p.is_empty()) {
        None => Some(Period::of(today)),
        Some(p) => Period::parse(p),
    };
    if period.is_none() {
        errors.insert("period".to_owned(), vec!["invalid".to_owned()]);
    }
    let window = match q.get("window").map(String::as_str) {
        None | Some("" | "false" | "0") => Some(false),
        Some("true" | "1") => Some(true),
        Some(_) => None,
    };
    if window.is_none() {
        errors.insert("window".to_owned(), vec!["invalid".to_owned()]);
    }
    match (period, window) {
        (Some(period), Some(window)) => Ok(Request { period, window }),
        _ => Err(errors),
    }
}

fn unprocessable(errors: BTreeMap<String, Vec<String>>) -> Response {
    (StatusCode::UNPROCESSABLE_ENTITY, Json(ApiErrors { errors })).into_response()
}

/// Why a month has no figure, in words.
fn missing_message(period: Period, today: time::Date) -> String {
    if period > Period::of(today) {
        format!("{period} 尚未到来，没有数据")
    } else {
        format!(
            "{period} 没有数据：缺少该月最后一天（{}）的排行榜快照",
            outreach::format_day(period.last_day())
        )
    }
}

struct Loaded {
    scope: Scope,
    month: Option<MonthFigures>,
    window: Option<Vec<WindowMonth>>,
}

async fn load(state: &AppState, req: &Request, today: time::Date) -> Result<Loaded, AppError> {
    let scope = Scope::of(&state.divisions, &state.settings.jurisdiction);
    let settings = &state.settings.metric;
    let month = metric::load(
        &state.db,
        &state.divisions,
        &scope,
        settings,
        req.period,
        today,
    )
    .await?;
    let window = if req.window {
        Some(metric::window(&state.db, &state.divisions, &scope, settings, today).await?)
    } else {
        None
    };
    Ok(Loaded {
        scope,
        month,
        window,
    })
}

/// The request answered: `Ok` with the month's figures, or the error response.
async fn answer(
    state: &AppState,
    q: &BTreeMap<String, String>,
) -> Result<(Request, Loaded, MonthFigures), Response> {
    let today = crate::clock::today();
    let req = parse_query(q, today).map_err(unprocessable)?;
    let mut loaded = load(state, &req, today).await.map_err(|e| match e {
        AppError::Store(e) => store_failure(&e),
        other => api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            &other.to_string(),
        ),
    })?;
    let Some(month) = loaded.month.take() else {
        return Err(api_error(
            StatusCode::NOT_FOUND,
            "no_data",
            &missing_message(req.period, today),
        ));
    };
    Ok((req, loaded, month))
}

// ---------------------------------------------------------------------------------------------
// JSON

#[derive(Debug, Serialize, ToSchema)]
pub struct MetricArea {
    pub code: String,
    pub name: String,
    /// `county` or `city`.
    pub level: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MetricKind {
    /// `enterprise`, `individual_business`, …
    pub kind: String,
    pub label: String,
    pub weight: f64,
    /// Entities counted in the denominator (statuses not excluded).
    pub counted: i64,
    /// Of those, accepted by the province (stage `synced`).
    pub onboarded: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MetricEntry {
    pub code: String,
    pub name: String,
    pub level: String,
    /// The deployment's own jurisdiction.
    pub own: bool,
    /// Σ weight·onboarded / Σ weight·counted, rounded half up to 4 decimals; null when the
    /// denominator is 0.
    pub value: Option<f64>,
    /// The value as a percentage with 2 decimals (`66.67%`).
    pub percent: Option<String>,
    /// Σ weight·onboarded.
    pub numerator: f64,
    /// Σ weight·counted.
    pub denominator: f64,
    /// Entities counted, unweighted.
    pub counted: i64,
    /// Entities onboarded, unweighted.
    pub onboarded: i64,
    /// Entities left out for their roster status.
    pub excluded: i64,
    /// 1 = highest value; equal values share a rank. Null for a city (it is not ranked among
    /// its counties) and for a county without a denominator.
    pub rank: Option<usize>,
    pub kinds: Vec<MetricKind>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KindWeight {
    pub kind: String,
    pub label: String,
    pub weight: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExcludedStatus {
    /// `cancelled`, `moved_out`, …
    pub status: String,
    pub label: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MetricSettingsJson {
    /// Every entity kind's weight.
    pub weights: Vec<KindWeight>,
    pub excluded_statuses: Vec<ExcludedStatus>,
    /// Months in the monitoring window, the current one included.
    pub window_months: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WindowPoint {
    /// `YYYY-MM`.
    pub period: String,
    /// `live`, `snapshot` or `missing` (no snapshot of the month's last day).
    pub source: String,
    /// The day the figures are from (`YYYY-MM-DD`); null when missing.
    pub as_of: Option<String>,
    pub value: Option<f64>,
    pub percent: Option<String>,
    pub numerator: Option<f64>,
    pub denominator: Option<f64>,
    pub rank: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreditMetric {
    /// `YYYY-MM`.
    pub period: String,
    /// `live` (the current month: today's counts) or `snapshot` (the month's last day).
    pub source: String,
    /// `YYYY-MM-DD`.
    pub as_of: String,
    pub jurisdiction: MetricArea,
    /// How many entries have a rank.
    pub ranked: usize,
    pub entries: Vec<MetricEntry>,
    pub settings: MetricSettingsJson,
    /// The deployment's own jurisdiction over the monitoring window, oldest first (only with
    /// `window=true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<Vec<WindowPoint>>,
}

fn entry_json(e: &Entry) -> MetricEntry {
    let f = &e.figure;
    MetricEntry {
        code: e.code.clone(),
        name: e.name.clone(),
        level: e.level.as_str().to_owned(),
        own: e.own,
        value: f.value(),
        percent: f.rate_e4().map(|_| f.percent()),
        numerator: f.numerator(),
        denominator: f.denominator(),
        counted: f.counted(),
        onboarded: f.onboarded(),
        excluded: f.excluded,
        rank: e.rank,
        kinds: f
            .kinds
            .iter()
            .map(|k| MetricKind {
                kind: k.kind.clone(),
                label: k.label.clone(),
                weight: k.weight_e4 as f64 / 10_000.0,
                counted: k.counted,
                onboarded: k.onboarded,
            })
            .collect(),
    }
}

fn settings_json(s: &crate::config::MetricSettings) -> MetricSettingsJson {
    MetricSettingsJson {
        weights: EntityKind::ALL
            .into_iter()
            .map(|k| KindWeight {
                kind: k.as_str().to_owned(),
                label: k.label_zh().to_owned(),
                weight: s.weight_of(k) as f64 / 10_000.0,
            })
            .collect(),
        excluded_statuses: s
            .excluded
            .iter()
            .map(|st| ExcludedStatus {
                status: st.as_str().to_owned(),
                label: st.label_zh().to_owned(),
            })
            .collect(),
        window_months: s.window_months,
    }
}

fn window_json(w: &WindowMonth) -> WindowPoint {
    let f = w.own.as_ref().map(|e| &e.figure);
    WindowPoint {
        period: w.period.to_string(),
        source: w.source.map_or("missing", |s| s.as_str()).to_owned(),
        as_of: w.source.map(|s| outreach::format_day(s.day())),
        value: f.and_then(metric::Figure::value),
        percent: f.and_then(|f| f.rate_e4().map(|_| f.percent())),
        numerator: f.map(metric::Figure::numerator),
        denominator: f.map(metric::Figure::denominator),
        rank: w.own.as_ref().and_then(|e| e.rank),
    }
}

fn own_area(state: &AppState, scope: &Scope) -> MetricArea {
    MetricArea {
        code: scope.own.clone(),
        name: state
            .divisions
            .get(&scope.own)
            .map_or_else(|| scope.own.clone(), |d| d.name.clone()),
        level: scope.own_level.as_str().to_owned(),
    }
}

/// The credit-monitoring figure of one month for the jurisdiction and the areas it is ranked
/// among (a county: the counties of its city in the data; a city: its counties).
#[utoipa::path(get, path = "/api/v1/metrics/credit-monitoring",
    params(
        ("period" = Option<String>, Query, description = "YYYY-MM; default this month (Beijing)"),
        ("window" = Option<bool>, Query, description = "true adds the monitoring window's series")
    ),
    responses(
        (status = 200, body = CreditMetric),
        (status = 401, body = Problem, description = "no bearer token or session"),
        (status = 404, body = Problem, description = "not a leader or admin; or no data for the month (no snapshot of its last day, or a future month)"),
        (status = 422, body = ApiErrors, description = "period is not YYYY-MM")
    ),
    security(("bearer" = [])))]
pub async fn figure_json(
    _reader: MetricReader,
    State(state): State<AppState>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let (_, loaded, month) = match answer(&state, &q).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    Json(CreditMetric {
        period: month.period.to_string(),
        source: month.source.as_str().to_owned(),
        as_of: outreach::format_day(month.source.day()),
        jurisdiction: own_area(&state, &loaded.scope),
        ranked: month.entries.iter().filter(|e| e.rank.is_some()).count(),
        entries: month.entries.iter().map(entry_json).collect(),
        settings: settings_json(&state.settings.metric),
        window: loaded.window.map(|w| w.iter().map(window_json).collect()),
    })
    .into_response()
}

// ---------------------------------------------------------------------------------------------
// CSV

/// The same month as UTF-8 CSV with a BOM (Excel opens it in Chinese): one line per entry, the
/// weight, counted and onboarded entities of every kind present, and the settings used.
#[utoipa::path(get, path = "/api/v1/metrics/credit-monitoring.csv",
    params(
        ("period" = Option<String>, Query, description = "YYYY-MM; default this month (Beijing)")
    ),
    responses(
        (status = 200, content_type = "text/csv", body = String),
        (status = 401, body = Problem),
        (status = 404, body = Problem),
        (status = 422, body = ApiErrors)
    ),
    security(("bearer" = [])))]
pub async fn figure_csv(
    _reader: MetricReader,
    State(state): State<AppState>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let (_, _, month) = match answer(&state, &q).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    match csv_body(&month, &state.settings.metric) {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!(
                        "attachment; filename=\"credit-monitoring-{}.csv\"",
                        month.period
                    ),
                ),
            ],
            body,
        )
            .into_response(),
        Err(e) => api_error(StatusCode::INTERNAL_SERVER_ERROR, "internal", &e),
    }
}

fn csv_body(
    month: &MonthFigures,
    settings: &crate::config::MetricSettings,
) -> Result<Vec<u8>, String> {
    // Every kind that appears in any line, in kind order.
    let mut kinds: Vec<(String, String)> = Vec::new();
    for e in &month.entries {
        for k in &e.figure.kinds {
            if !kinds.iter().any(|(code, _)| *code == k.kind) {
                kinds.push((k.kind.clone(), k.label.clone()));
            }
        }
    }
    let order = |code: &str| {
        EntityKind::parse_code(code)
            .and_then(|k| EntityKind::ALL.iter().position(|x| *x == k))
            .unwrap_or(usize::MAX)
    };
    kinds.sort_by(|a, b| (order(&a.0), &a.0).cmp(&(order(&b.0), &b.0)));
    let mut head: Vec<String> = [
        "期间",
        "数据来源",
        "数据日期",
        "区划代码",
        "名称",
        "本辖区",
        "指标值",
        "百分比",
        "分子（加权已入驻）",
        "分母（加权计入）",
        "计入主体数",
        "已入驻主体数",
        "排除主体数",
        "排名",
        "参与排名数",
    ]
    .map(str::to_owned)
    .to_vec();
    for (_, label) in &kinds {
        head.push(format!("{label}权重"));
        head.push(format!("{label}计入"));
        head.push(format!("{label}已入驻"));
    }
    head.push("排除状态".to_owned());
    let excluded = settings
        .excluded
        .iter()
        .map(|s| s.label_zh())
        .collect::<Vec<_>>()
        .join("、");
    let ranked = month.entries.iter().filter(|e| e.rank.is_some()).count();
    let source = match month.source {
        metric::Source::Live(_) => "实时",
        metric::Source::Snapshot(_) => "月末快照",
    };
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice("\u{feff}".as_bytes());
    let mut writer = csv::Writer::from_writer(out);
    let fail = |e: csv::Error| format!("writing CSV: {e}");
    writer.write_record(&head).map_err(fail)?;
    for e in &month.entries {
        let f = &e.figure;
        let mut line = vec![
            month.period.to_string(),
            source.to_owned(),
            outreach::format_day(month.source.day()),
            e.code.clone(),
            super::staff::defuse(&e.name),
            if e.own { "是" } else { "否" }.to_owned(),
            f.rate_e4()
                .map(|r| format!("{}.{:04}", r / 10_000, r % 10_000))
                .unwrap_or_default(),
            f.rate_e4().map(|_| f.percent()).unwrap_or_default(),
            e4_text(f.numerator_e4),
            e4_text(f.denominator_e4),
            f.counted().to_string(),
            f.onboarded().to_string(),
            f.excluded.to_string(),
            e.rank.map(|r| r.to_string()).unwrap_or_default(),
            ranked.to_string(),
        ];
        for (code, _) in &kinds {
            let k = f.kinds.iter().find(|k| k.kind == *code);
            let weight =
                EntityKind::parse_code(code).map_or(10_000, |kind| settings.weight_of(kind));
            line.push(e4_text(weight));
            line.push(k.map_or(0, |k| k.counted).to_string());
            line.push(k.map_or(0, |k| k.onboarded).to_string());
        }
        line.push(excluded.clone());
        writer.write_record(&line).map_err(fail)?;
    }
    writer
        .into_inner()
        .map_err(|e| format!("writing CSV: {}", e.error()))
}

// ---------------------------------------------------------------------------------------------
// The page

pub struct EntryRow {
    pub code: String,
    pub name: String,
    pub own: bool,
    pub percent: String,
    pub numerator: String,
    pub denominator: String,
    pub counted: i64,
    pub onboarded: i64,
    pub excluded: i64,
    pub rank: String,
}

pub struct KindRow {
    pub label: String,
    pub weight: String,
    pub counted: i64,
    pub onboarded: i64,
}

pub struct WindowRow {
    pub period: String,
    pub link: String,
    pub source: &'static str,
    pub percent: String,
    pub numerator: String,
    pub denominator: String,
    pub rank: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "leaders_metric.html")]
pub struct MetricPage {
    csrf: String,
    jurisdiction: String,
    /// What the form shows (kept as typed when invalid).
    period_input: String,
    period_error: Option<&'static str>,
    /// Why there is no figure for the month (no snapshot, future month).
    missing: Option<String>,
    period: String,
    as_of: String,
    live: bool,
    /// The own jurisdiction's line.
    own: Option<EntryRow>,
    ranked: usize,
    entries: Vec<EntryRow>,
    kinds: Vec<KindRow>,
    window: Vec<WindowRow>,
    weights: String,
    excluded: String,
    window_months: u32,
    json_link: String,
    csv_link: String,
}

fn entry_row(e: &Entry) -> EntryRow {
    let f = &e.figure;
    EntryRow {
        code: e.code.clone(),
        name: e.name.clone(),
        own: e.own,
        percent: f.percent(),
        numerator: e4_text(f.numerator_e4),
        denominator: e4_text(f.denominator_e4),
        counted: f.counted(),
        onboarded: f.onboarded(),
        excluded: f.excluded,
        rank: e.rank.map_or_else(|| "—".to_owned(), |r| r.to_string()),
    }
}

async fn page(
    leader: Leader,
    State(state): State<AppState>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Result<Response, AppError> {
    let today = crate::clock::today();
    let typed = q.get("period").cloned().unwrap_or_default();
    // The page always shows the window; only the period can be wrong.
    let (req, period_error) = match parse_query(
        &q.iter()
            .filter(|(k, _)| k.as_str() == "period")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        today,
    ) {
        Ok(req) => (
            Request {
                window: true,
                ..req
            },
            None,
        ),
        Err(_) => (
            Request {
                period: Period::of(today),
                window: true,
            },
            Some("请按“年-月”填写，例如 2026-03"),
        ),
    };
    let loaded = load(&state, &req, today).await?;
    let settings = &state.settings.metric;
    let month = loaded.month.as_ref();
    let own = month.and_then(|m| m.entries.iter().find(|e| e.own));
    let period = req.period.to_string();
    let status = if period_error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else if month.is_none() {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::OK
    };
    let page = MetricPage {
        csrf: leader.visitor.csrf.clone(),
        jurisdiction: own_area(&state, &loaded.scope).name,
        period_input: if period_error.is_some() {
            typed
        } else {
            period.clone()
        },
        period_error,
        missing: month.is_none().then(|| missing_message(req.period, today)),
        as_of: month.map_or_else(String::new, |m| outreach::format_day(m.source.day())),
        live: month.is_some_and(|m| matches!(m.source, metric::Source::Live(_))),
        own: own.map(entry_row),
        ranked: month.map_or(0, |m| m.entries.iter().filter(|e| e.rank.is_some()).count()),
        entries: month.map_or_else(Vec::new, |m| m.entries.iter().map(entry_row).collect()),
        kinds: own.map_or_else(Vec::new, |e| {
            e.figure
                .kinds
                .iter()
                .map(|k| KindRow {
                    label: k.label.clone(),
                    weight: e4_text(k.weight_e4),
                    counted: k.counted,
                    onboarded: k.onboarded,
                })
                .collect()
        }),
        window: loaded
            .window
            .unwrap_or_default()
            .iter()
            .rev()
            .map(|w| {
                let f = w.own.as_ref().map(|e| &e.figure);
                WindowRow {
                    period: w.period.to_string(),
                    link: format!("/leaders/metric?period={}", w.period),
                    source: match w.source {
                        Some(metric::Source::Live(_)) => "实时",
                        Some(metric::Source::Snapshot(_)) => "月末快照",
                        None => "缺失（无月末快照）",
                    },
                    percent: f.map_or_else(|| "—".to_owned(), metric::Figure::percent),
                    numerator: f.map_or_else(String::new, |f| e4_text(f.numerator_e4)),
                    denominator: f.map_or_else(String::new, |f| e4_text(f.denominator_e4)),
                    rank: w
                        .own
                        .as_ref()
                        .and_then(|e| e.rank)
                        .map_or_else(|| "—".to_owned(), |r| r.to_string()),
                }
            })
            .collect(),
        weights: weights_text(settings),
        excluded: if settings.excluded.is_empty() {
            "无".to_owned()
        } else {
            settings
                .excluded
                .iter()
                .map(|s| s.label_zh())
                .collect::<Vec<_>>()
                .join("、")
        },
        window_months: settings.window_months,
        json_link: format!("{API_PATH}?period={period}&window=true"),
        csv_link: format!("{CSV_PATH}?period={period}"),
        period,
    };
    Ok((status, page).into_response())
}

/// "个体工商户 0.5；其余类型 1".
fn weights_text(settings: &crate::config::MetricSettings) -> String {
    let mut parts: Vec<String> = settings
        .weights
        .iter()
        .filter(|(_, w)| *w != 10_000)
        .map(|(k, w)| format!("{} {}", k.label_zh(), e4_text(*w)))
        .collect();
    parts.push(if parts.is_empty() {
        "各类型均为 1".to_owned()
    } else {
        "其余类型 1".to_owned()
    });
    parts.join("；")
}

//! Campaigns: a department's leaflet runs and LED screens. Staff create a campaign, get its QR
//! code (SVG, PNG), a printable A4 leaflet and the address of a full-screen LED page, and follow
//! visits and registrations day by day. The LED page is public (a screen in a square cannot log
//! in) and shows counts only, never personal data.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use time::Duration;

use crate::app::AppState;
use crate::store::campaigns::{self, CampaignTotals, DayCount};
use crate::store::progress;
use crate::web::qr::Qr;

use super::error::AppError;
use super::form::FormInput;
use super::roles::Staff;
use crate::domain::calendar::format_minute;

/// Longest campaign name and slogan, in characters (the slogan must fit one line on an LED).
pub const NAME_MAX: usize = 40;
pub const SLOGAN_MAX: usize = 40;
pub const SLOGAN_DEFAULT: &str = "扫码登记 · 入驻信易贷 · 融资更便捷";
/// Days shown on a campaign's page, today included.
pub const DAYS_SHOWN: i64 = 30;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/staff/campaigns", get(list).post(create))
        .route("/staff/campaigns/{id}", get(detail))
        .route("/staff/campaigns/{id}/qr.svg", get(qr_svg))
        .route("/staff/campaigns/{id}/qr.png", get(qr_png))
        .route("/staff/campaigns/{id}/leaflet", get(leaflet))
        .route("/staff/campaigns/{id}/end", post(end))
        .route("/led/{code}", get(led))
}

/// What the QR code opens: the start page, with the code riding along into registration.
fn link(state: &AppState, code: &str) -> String {
    format!("{}/?ref={code}", state.settings.public_url)
}

fn qr_of(state: &AppState, code: &str) -> Result<Qr, AppError> {
    Qr::encode(&link(state, code)).map_err(|e| AppError::Internal(e.to_string()))
}

/// The staff member's own campaign `id`; anything else (another department's, not a number) is
/// the ordinary 404.
async fn own_campaign(
    state: &AppState,
    staff: &Staff,
    id: &str,
) -> Result<CampaignTotals, AppError> {
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    campaigns::get(&state.db, staff.department_id, id)
        .await?
        .ok_or(AppError::NotFound)
}

pub struct CampaignRow {
    pub id: i64,
    pub name: String,
    pub code: String,
    pub created_at: String,
    pub ended: bool,
    pub visits: i64,
    pub registrations: i64,
    pub onboarded: i64,
}

impl From<&CampaignTotals> for CampaignRow {
    fn from(t: &CampaignTotals) -> CampaignRow {
        CampaignRow {
            id: t.campaign.id,
            name: t.campaign.name.clone(),
            code: t.campaign.code.clone(),
            created_at: format_minute(t.campaign.created_at),
            ended: t.campaign.is_ended(),
            visits: t.visits,
            registrations: t.registrations,
            onboarded: t.onboarded,
        }
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct CampaignForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    slogan: String,
}

/// The create form's inline errors.
#[derive(Debug, Default)]
pub struct FormErrors {
    name: Option<&'static str>,
    slogan: Option<&'static str>,
}

impl FormErrors {
    fn any(&self) -> bool {
        self.name.is_some() || self.slogan.is_some()
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "campaign_list.html")]
pub struct ListPage {
    csrf: String,
    campaigns: Vec<CampaignRow>,
    name: String,
    slogan: String,
    errors: FormErrors,
}

async fn list_page(
    state: &AppState,
    staff: &Staff,
    form: CampaignForm,
    errors: FormErrors,
) -> Result<ListPage, AppError> {
    let campaigns = campaigns::list(&state.db, staff.department_id).await?;
    Ok(ListPage {
        csrf: staff.visitor.csrf.clone(),
        campaigns: campaigns.iter().map(CampaignRow::from).collect(),
        name: form.name,
        slogan: form.slogan,
        errors,
    })
}

pub async fn list(staff: Staff, State(state): State<AppState>) -> Result<ListPage, AppError> {
    let form = CampaignForm {
        slogan: SLOGAN_DEFAULT.to_owned(),
        ..CampaignForm::default()
    };
    list_page(&state, &staff, form, FormErrors::default()).await
}

/// Trimmed, with line breaks and other control characters made spaces (a name is one line).
fn one_line(s: &str) -> String {
    s.trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn check(form: &CampaignForm) -> (String, String, FormErrors) {
    let name = one_line(&form.name);
    let slogan = one_line(&form.slogan);
    let errors = FormErrors {
        name: match name.chars().count() {
            0 => Some("请填写活动名称，例如“十二月榆树台镇集市宣传单”。"),
            n if n > NAME_MAX => Some("活动名称不能超过40个字，请精简后再提交。"),
            _ => None,
        },
        slogan: match slogan.chars().count() {
            0 => Some("请填写宣传语，它会印在宣传单上并显示在LED屏上。"),
            n if n > SLOGAN_MAX => Some("宣传语不能超过40个字，LED屏上要一行显示得下。"),
            _ => None,
        },
    };
    (name, slogan, errors)
}

pub async fn create(
    staff: Staff,
    State(state): State<AppState>,
    FormInput(form): FormInput<CampaignForm>,
) -> Result<Response, AppError> {
    staff.visitor.check_csrf(&form.csrf)?;
    let (name, slogan, errors) = check(&form);
    if errors.any() {
        let page = list_page(&state, &staff, form, errors).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    let id = campaigns::create(
        &state.db,
        staff.department_id,
        &name,
        &slogan,
        staff.account.id,
    )
    .await?;
    Ok(Redirect::to(&format!("/staff/campaigns/{id}?done=created")).into_response())
}

pub struct DayView {
    /// `YYYY-MM-DD`, for machines; `day` is what people read.
    pub date: String,
    pub day: String,
    pub visits: i64,
    pub registrations: i64,
    pub onboarded: i64,
    /// Bar heights in percent of the busiest day (visits and registrations share one scale).
    pub visits_pct: i64,
    pub registrations_pct: i64,
}

fn day_views(days: &[DayCount]) -> Vec<DayView> {
    let top = days
        .iter()
        .map(|d| d.visits.max(d.registrations))
        .max()
        .unwrap_or(0)
        .max(1);
    let md = time::macros::format_description!("[month]-[day]");
    days.iter()
        .map(|d| DayView {
            date: d.day.to_string(),
            day: d.day.format(md).unwrap_or_default(),
            visits: d.visits,
            registrations: d.registrations,
            onboarded: d.onboarded,
            visits_pct: d.visits * 100 / top,
            registrations_pct: d.registrations * 100 / top,
        })
        .collect()
}

#[derive(Template, WebTemplate)]
#[template(path = "campaign_detail.html")]
pub struct DetailPage {
    csrf: String,
    notice: Option<&'static str>,
    c: CampaignRow,
    slogan: String,
    department_name: String,
    ended_at: Option<String>,
    link: String,
    led_url: String,
    /// Oldest first, for the chart.
    days: Vec<DayView>,
    window_visits: i64,
    window_registrations: i64,
}

#[derive(Debug, Deserialize, Default)]
pub struct DoneParams {
    #[serde(default)]
    done: Option<String>,
}

pub async fn detail(
    staff: Staff,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<DoneParams>,
) -> Result<DetailPage, AppError> {
    let totals = own_campaign(&state, &staff, &id).await?;
    let today = crate::clock::today();
    let from = today - Duration::days(DAYS_SHOWN - 1);
    let days = campaigns::daily(&state.db, &totals.campaign, from, today).await?;
    let c = &totals.campaign;
    Ok(DetailPage {
        csrf: staff.visitor.csrf.clone(),
        // Only known confirmations: the query string is never echoed.
        notice: match params.done.as_deref() {
            Some("created") => {
                Some("活动已创建。可以下载二维码、打印宣传单，或把LED页面地址交给屏幕管理员。")
            }
            Some("ended") => Some(
                "活动已结束。LED屏将显示活动已结束；已印发的二维码仍可登记，并继续计入本活动。",
            ),
            _ => None,
        },
        slogan: c.slogan.clone(),
        department_name: c.department_name.clone(),
        ended_at: c.ended_at.map(format_minute),
        link: link(&state, &c.code),
        led_url: format!("{}/led/{}", state.settings.public_url, c.code),
        window_visits: days.iter().map(|d| d.visits).sum(),
        window_registrations: days.iter().map(|d| d.registrations).sum(),
        days: day_views(&days),
        c: CampaignRow::from(&totals),
    })
}

/// An image answer shown in the browser, saved under an ASCII name.
fn image(content_type: &'static str, filename: String, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response()
}

pub async fn qr_svg(
    staff: Staff,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let totals = own_campaign(&state, &staff, &id).await?;
    let code = &totals.campaign.code;
    let svg = qr_of(&state, code)?.svg();
    Ok(image(
        "image/svg+xml",
        format!("xinyidai-{code}.svg"),
        svg.into_bytes(),
    ))
}

pub async fn qr_png(
    staff: Staff,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let totals = own_campaign(&state, &staff, &id).await?;
    let code = &totals.campaign.code;
    let png = qr_of(&state, code)?
        .png()
        .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(image("image/png", format!("xinyidai-{code}.png"), png))
}

#[derive(Template, WebTemplate)]
#[template(path = "campaign_leaflet.html")]
pub struct LeafletPage {
    csrf: String,
    id: i64,
    code: String,
    slogan: String,
    department_name: String,
    qr_svg: String,
    link: String,
}

pub async fn leaflet(
    staff: Staff,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<LeafletPage, AppError> {
    let totals = own_campaign(&state, &staff, &id).await?;
    let c = totals.campaign;
    Ok(LeafletPage {
        csrf: staff.visitor.csrf.clone(),
        id: c.id,
        qr_svg: qr_of(&state, &c.code)?.svg(),
        link: link(&state, &c.code),
        code: c.code,
        slogan: c.slogan,
        department_name: c.department_name,
    })
}

#[derive(Debug, Deserialize, Default)]
pub struct EndForm {
    #[serde(default)]
    csrf: String,
}

pub async fn end(
    staff: Staff,
    State(state): State<AppState>,
    Path(id): Path<String>,
    FormInput(form): FormInput<EndForm>,
) -> Result<Response, AppError> {
    staff.visitor.check_csrf(&form.csrf)?;
    let totals = own_campaign(&state, &staff, &id).await?;
    let id = totals.campaign.id;
    // Already ended (a second click, another colleague): nothing to do, same page.
    campaigns::end(&state.db, staff.department_id, id, staff.account.id).await?;
    Ok(Redirect::to(&format!("/staff/campaigns/{id}?done=ended")).into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "led.html")]
pub struct LedPage {
    slogan: String,
    department_name: String,
    ended: bool,
    qr_svg: String,
    registrations: i64,
    county_onboarded: i64,
}

/// The LED screen's page: public, counts only, refreshed by the page itself every minute.
pub async fn led(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<LedPage, AppError> {
    let totals = campaigns::by_code(&state.db, &code)
        .await?
        .ok_or(AppError::NotFound)?;
    let c = &totals.campaign;
    let county = progress::stage_counts(&state.db, &c.county_code, None).await?;
    Ok(LedPage {
        slogan: c.slogan.clone(),
        department_name: c.department_name.clone(),
        ended: c.is_ended(),
        // An ended campaign stops advertising: no code to scan on the screen.
        qr_svg: if c.is_ended() {
            String::new()
        } else {
            qr_of(&state, &c.code)?.svg()
        },
        registrations: totals.registrations,
        county_onboarded: county.onboarded(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(name: &str, slogan: &str) -> CampaignForm {
        CampaignForm {
            csrf: String::new(),
            name: name.to_owned(),
            slogan: slogan.to_owned(),
        }
    }

    #[test]
    fn names_and_slogans_are_one_line_of_at_most_forty() {
        let (name, slogan, errors) = check(&form("  集市\n宣传 ", SLOGAN_DEFAULT));
        assert_eq!(name, "集市 宣传");
        assert_eq!(slogan, SLOGAN_DEFAULT);
        assert!(!errors.any());
        let (_, _, errors) = check(&form(" ", &"码".repeat(41)));
        assert!(errors.name.is_some() && errors.slogan.is_some());
        let (_, _, errors) = check(&form(&"名".repeat(40), &"码".repeat(40)));
        assert!(!errors.any());
    }

    #[test]
    fn bars_share_one_scale() {
        let day = time::macros::date!(2026 - 11 - 30);
        let days = [
            DayCount {
                day,
                visits: 8,
                registrations: 2,
                onboarded: 1,
            },
            DayCount {
                day,
                visits: 0,
                registrations: 0,
                onboarded: 0,
            },
        ];
        let views = day_views(&days);
        assert_eq!((views[0].visits_pct, views[0].registrations_pct), (100, 25));
        assert_eq!(views[1].visits_pct, 0);
        assert_eq!(views[0].day, "11-30");
    }
}

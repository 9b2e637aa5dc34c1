//! Public pages for business owners: the landing page and the roster search.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use serde::Deserialize;

use crate::app::AppState;
use crate::domain::entity_kind::EntityKind;
use crate::domain::entity_status::EntityStatus;
use crate::domain::person_name;
use crate::store::campaigns;
use crate::store::entities::{self, EntitySummary, SearchTerm};

use super::error::AppError;

/// Results shown per search; one more is fetched to know whether to say "refine".
const SEARCH_LIMIT: u32 = 20;

#[derive(Template, WebTemplate)]
#[template(path = "home.html")]
pub struct HomePage {
    jurisdiction_name: String,
    entity_count: i64,
    /// The leaflet or LED-screen code the visitor arrived with, passed on to registration.
    referral: String,
}

#[derive(Debug, Deserialize)]
pub struct HomeParams {
    #[serde(default, rename = "ref")]
    referral: Option<String>,
}

pub async fn home(
    State(state): State<AppState>,
    Query(params): Query<HomeParams>,
) -> Result<HomePage, AppError> {
    let referral = super::register::clean_ref(params.referral.as_deref());
    // A campaign's QR code opens this page: count the visit (unknown codes count nothing). A
    // failed count must not keep the visitor from registering.
    if !referral.is_empty()
        && let Err(e) = campaigns::count_visit(&state.db, &referral, crate::clock::today()).await
    {
        tracing::warn!(error = %e, "could not count a campaign visit");
    }
    Ok(HomePage {
        jurisdiction_name: jurisdiction_name(&state),
        entity_count: entities::count(&state.db).await?,
        referral,
    })
}

#[derive(Debug, Deserialize)]
pub struct SearchParams {
    #[serde(default)]
    q: String,
}

/// One search hit, with personal data already masked.
pub struct EntityHit {
    pub name: String,
    pub uscc: String,
    pub kind: &'static str,
    pub place: String,
    pub legal_rep_masked: String,
    pub status: &'static str,
    pub active: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "entities.html")]
pub struct EntitiesPage {
    jurisdiction_name: String,
    q: String,
    searched: bool,
    hint: Option<&'static str>,
    hits: Vec<EntityHit>,
    more: bool,
}

pub async fn entities(
    State(state): State<AppState>,
    Query(params): Query<SearchParams>,
) -> Result<EntitiesPage, AppError> {
    let q: String = params.q.trim().chars().take(100).collect();
    let mut page = EntitiesPage {
        jurisdiction_name: jurisdiction_name(&state),
        q: q.clone(),
        searched: false,
        hint: None,
        hits: Vec::new(),
        more: false,
    };
    let Some(term) = SearchTerm::parse(&q) else {
        return Ok(page);
    };
    page.searched = true;
    if let SearchTerm::UsccPrefix(prefix) = &term
        && prefix.len() == 18
    {
        // 18 characters that do not parse: tell the owner rather than show "nothing found".
        page.hint = Some("这不是有效的统一社会信用代码，请核对后重新输入（可在营业执照上找到）。");
    }
    let mut rows = entities::search(
        &state.db,
        &state.settings.jurisdiction,
        &term,
        SEARCH_LIMIT + 1,
    )
    .await?;
    page.more = rows.len() > SEARCH_LIMIT as usize;
    rows.truncate(SEARCH_LIMIT as usize);
    page.hits = rows.into_iter().map(|row| hit(&state, row)).collect();
    Ok(page)
}

fn hit(state: &AppState, row: EntitySummary) -> EntityHit {
    let place_code = row.township_code.as_deref().unwrap_or(&row.county_code);
    let status = EntityStatus::parse_code(&row.status);
    EntityHit {
        place: state.divisions.display_path(place_code),
        kind: EntityKind::parse_code(&row.kind).map_or("其他", EntityKind::label_zh),
        legal_rep_masked: person_name::mask(&row.legal_rep),
        status: status.map_or("未知", EntityStatus::label_zh),
        active: status == Some(EntityStatus::Active),
        name: row.name,
        uscc: row.uscc,
    }
}

fn jurisdiction_name(state: &AppState) -> String {
    state
        .divisions
        .get(&state.settings.jurisdiction)
        .map_or_else(String::new, |d| d.name.clone())
}

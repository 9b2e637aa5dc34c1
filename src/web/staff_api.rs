//! The staff workspace as JSON under `/api/v1/staff/…`, for a mobile front end: progress, the
//! department's entities (the same filters as `/staff/entities`), one entity with its outreach,
//! recording an outreach, and the follow-ups due. Bearer tokens only ([`StaffApi`]); another
//! department's entity is a 404 like an unknown one.

use std::collections::BTreeMap;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::app::AppState;
use crate::domain::person_name;
use crate::store::outreach::{self, OutreachInput};
use crate::store::progress::{Projection, Stage};
use crate::store::workspace::{self, EntityRow};

use super::api::{ApiErrors, Problem, api_error, json_object, store_failure};
use super::error::AppError;
use super::roles::StaffApi;
use super::staff::{self, ListQuery};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/staff/progress", get(progress))
        .route("/api/v1/staff/entities", get(entities))
        .route("/api/v1/staff/entities/{id}", get(entity))
        .route(
            "/api/v1/staff/entities/{id}/outreach",
            post(create_outreach),
        )
        .route("/api/v1/staff/follow-ups", get(follow_ups))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(progress, entities, entity, create_outreach, follow_ups),
    components(schemas(
        StaffProgress,
        StageCount,
        StaffGoal,
        StaffProjection,
        EntityList,
        EntityItem,
        EntityDetailJson,
        RegistrationSummary,
        OutreachItem,
        OutreachRequest,
        OutreachCreated,
        FollowUpList,
        FollowUpItem
    ))
)]
pub struct StaffApiDoc;

fn failure(err: AppError) -> Response {
    match err {
        AppError::NotFound => not_found(),
        AppError::Store(e) => store_failure(&e),
        other => api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            &other.to_string(),
        ),
    }
}

fn not_found() -> Response {
    api_error(StatusCode::NOT_FOUND, "not_found", "没有找到")
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StageCount {
    /// `not_started`, `started`, `verified`, `signed`, `synced` or `rejected`.
    pub stage: &'static str,
    pub label: &'static str,
    pub count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StaffGoal {
    /// The target in entities (a share is rounded up).
    pub entities: i64,
    /// Set as a number of entities…
    pub count: Option<i64>,
    /// …or as a share (0–1] of the department's entities.
    pub share: Option<f64>,
    /// `YYYY-MM-DD`.
    pub deadline: String,
    /// Negative once the deadline has passed.
    pub days_left: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StaffProjection {
    /// `no_target`, `reached`, `on` (reached on `date` at the current pace) or `stalled`.
    pub state: &'static str,
    pub date: Option<String>,
    /// The projected day (or a stalled pace) is after the deadline.
    pub misses_deadline: bool,
    pub label: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StaffProgress {
    /// `YYYY-MM-DD`, Beijing.
    pub today: String,
    /// `YYYY-MM`.
    pub period: String,
    pub assigned: i64,
    /// Verified, signed and accepted by the province.
    pub onboarded: i64,
    pub stages: Vec<StageCount>,
    pub goal: Option<StaffGoal>,
    /// Entities accepted per day over the last 14 days.
    pub pace_per_day: f64,
    pub projection: StaffProjection,
    /// 0–100: onboarded as a share of the goal (or of all assigned entities without one).
    pub percent: i64,
    pub follow_ups_due: i64,
}

/// The department's progress towards this month's target.
#[utoipa::path(get, path = "/api/v1/staff/progress",
    responses((status = 200, body = StaffProgress), (status = 401, body = Problem),
        (status = 404, body = Problem, description = "not a staff account")),
    security(("bearer" = [])))]
pub async fn progress(staff: StaffApi, State(state): State<AppState>) -> Response {
    let (p, due) = match staff::progress_today(&state, staff.department_id).await {
        Ok(found) => found,
        Err(e) => return failure(e),
    };
    let projection = StaffProjection {
        state: match p.projection {
            Projection::NoTarget => "no_target",
            Projection::Reached => "reached",
            Projection::On(_) => "on",
            Projection::Stalled => "stalled",
        },
        date: match p.projection {
            Projection::On(d) => Some(outreach::format_day(d)),
            _ => None,
        },
        label: staff::projection_label(&p),
        misses_deadline: staff::misses_deadline(&p),
    };
    let goal = p.goal.as_ref().map(|g| {
        let (count, share) = match g.amount {
            crate::domain::assignment_rule::TargetAmount::Count(n) => (Some(n), None),
            crate::domain::assignment_rule::TargetAmount::Share(s) => (None, Some(s)),
        };
        StaffGoal {
            entities: g.entities,
            count,
            share,
            deadline: outreach::format_day(g.deadline),
            days_left: g.days_left,
        }
    });
    Json(StaffProgress {
        today: outreach::format_day(p.today),
        period: p.period.clone(),
        assigned: p.assigned(),
        onboarded: p.onboarded(),
        stages: p
            .stages
            .iter()
            .map(|(s, count)| StageCount {
                stage: s.as_str(),
                label: s.label(),
                count,
            })
            .collect(),
        goal,
        pace_per_day: p.pace_per_day,
        projection,
        percent: p.percent(),
        follow_ups_due: due,
    })
    .into_response()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntityItem {
    pub id: i64,
    pub uscc: String,
    pub name: String,
    /// Entity-kind code (`enterprise`, `individual_business`, …).
    pub kind: String,
    pub township_code: Option<String>,
    pub township: String,
    pub stage: String,
    /// RFC 3339, or null when never contacted.
    #[schema(value_type = Option<String>)]
    pub last_contact_at: Option<String>,
    /// `YYYY-MM-DD` from the latest outreach.
    pub follow_up_on: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntityList {
    pub items: Vec<EntityItem>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
    /// Query parameters whose values were not understood and were ignored.
    pub ignored: Vec<String>,
}

/// The filters of `GET /api/v1/staff/entities` (all optional; bad values are ignored and
/// listed in `ignored`).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct EntityListParams {
    /// `not_started`, `started`, `verified`, `signed`, `synced` or `rejected`.
    stage: Option<String>,
    /// A township code of the department's entities.
    township: Option<String>,
    /// An entity-kind code.
    kind: Option<String>,
    /// `never`, `stale` (over 14 days ago) or `recent` (within 7 days).
    contact: Option<String>,
    /// Part of the name, or the start of the USCC.
    q: Option<String>,
    /// `name`, `uscc`, `stage` or `last_contact`.
    sort: Option<String>,
    /// `asc` or `desc`.
    dir: Option<String>,
    page: Option<i64>,
    /// 1–200, default 50.
    per_page: Option<i64>,
}

fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn entity_item(state: &AppState, r: EntityRow) -> EntityItem {
    EntityItem {
        township: staff::township_name(state, r.township_code.as_deref()),
        last_contact_at: r.last_contact_at.map(rfc3339),
        id: r.id,
        uscc: r.uscc,
        name: r.name,
        kind: r.kind,
        township_code: r.township_code,
        stage: r.stage,
        follow_up_on: r.follow_up_on,
    }
}

/// The department's entities, filtered, sorted and paged.
#[utoipa::path(get, path = "/api/v1/staff/entities", params(EntityListParams),
    responses((status = 200, body = EntityList), (status = 401, body = Problem),
        (status = 404, body = Problem, description = "not a staff account")),
    security(("bearer" = [])))]
pub async fn entities(
    staff: StaffApi,
    State(state): State<AppState>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let pairs = query.map(|Query(p)| p).unwrap_or_default();
    let townships = match workspace::townships(&state.db, staff.department_id).await {
        Ok(t) => t,
        Err(e) => return store_failure(&e),
    };
    let lq = ListQuery::parse(&pairs, &townships);
    let per_page = lq.per_page.unwrap_or(staff::PER_PAGE);
    let db = &state.db;
    let total = match workspace::count_entities(db, staff.department_id, &lq.filter).await {
        Ok(n) => n,
        Err(e) => return store_failure(&e),
    };
    let offset = (lq.page - 1).saturating_mul(per_page);
    let rows = match workspace::list_entities(db, staff.department_id, &lq.filter, per_page, offset)
        .await
    {
        Ok(rows) => rows,
        Err(e) => return store_failure(&e),
    };
    Json(EntityList {
        items: rows.into_iter().map(|r| entity_item(&state, r)).collect(),
        total,
        page: lq.page,
        per_page,
        ignored: lq.ignored.iter().map(|(k, _)| (*k).to_owned()).collect(),
    })
    .into_response()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegistrationSummary {
    pub id: i64,
    /// `matched`, `review_requested`, `approved` or `rejected`.
    pub verification: Option<String>,
    pub agreement_signed: bool,
    /// `pending`, `accepted` or `rejected`.
    pub sync_state: Option<String>,
    pub sync_reason: Option<String>,
    #[schema(value_type = Option<String>)]
    pub accepted_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OutreachItem {
    pub id: i64,
    #[schema(value_type = String)]
    pub contacted_at: String,
    pub channel: String,
    pub outcome: String,
    pub note: String,
    pub follow_up_on: Option<String>,
    /// The colleague's display name, or 同事.
    pub recorded_by: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntityDetailJson {
    pub id: i64,
    pub uscc: String,
    pub name: String,
    pub kind: String,
    pub township_code: Option<String>,
    pub township: String,
    pub status: String,
    /// Masked, as on the public search.
    pub legal_rep: String,
    pub stage: String,
    pub stage_label: String,
    #[schema(value_type = Option<String>)]
    pub last_contact_at: Option<String>,
    pub registration: Option<RegistrationSummary>,
    /// Newest first.
    pub outreach: Vec<OutreachItem>,
}

/// One of the department's entities: its stage, registration and outreach.
#[utoipa::path(get, path = "/api/v1/staff/entities/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = EntityDetailJson), (status = 401, body = Problem),
        (status = 404, body = Problem, description = "unknown, or another department's entity")),
    security(("bearer" = [])))]
pub async fn entity(
    staff: StaffApi,
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
) -> Response {
    let Some(id) = staff::parse_id(&raw_id) else {
        return not_found();
    };
    let e = match workspace::entity(&state.db, staff.department_id, id).await {
        Ok(Some(e)) => e,
        Ok(None) => return not_found(),
        Err(err) => return store_failure(&err),
    };
    let history = match outreach::history(&state.db, e.id).await {
        Ok(rows) => rows,
        Err(err) => return store_failure(&err),
    };
    let registration = e.registration_id.map(|rid| RegistrationSummary {
        id: rid,
        verification: e.verification.clone(),
        agreement_signed: e.signatures > 0,
        sync_state: e.sync_state.clone(),
        sync_reason: e.sync_reason.clone(),
        accepted_at: e.accepted_at.map(rfc3339),
    });
    Json(EntityDetailJson {
        township: staff::township_name(&state, e.township_code.as_deref()),
        legal_rep: person_name::mask(&e.legal_rep),
        stage_label: Stage::parse(&e.stage).map_or("", Stage::label).to_owned(),
        last_contact_at: e.last_contact_at.map(rfc3339),
        outreach: history
            .into_iter()
            .map(|o| OutreachItem {
                recorded_by: outreach::colleague(o.display_name.as_deref()),
                id: o.id,
                contacted_at: rfc3339(o.contacted_at),
                channel: o.channel,
                outcome: o.outcome,
                note: o.note,
                follow_up_on: o.follow_up_on,
            })
            .collect(),
        registration,
        id: e.id,
        uscc: e.uscc,
        name: e.name,
        kind: e.kind,
        township_code: e.township_code,
        status: e.status,
        stage: e.stage,
    })
    .into_response()
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct OutreachRequest {
    /// `phone`, `visit`, `leaflet`, `led`, `wechat` or `other`.
    #[serde(default)]
    pub channel: String,
    /// `reached`, `no_answer`, `refused`, `will_register`, `registered` or `other`.
    #[serde(default)]
    pub outcome: String,
    /// At most 500 characters.
    #[serde(default)]
    pub note: String,
    /// `YYYY-MM-DD` (Beijing); today when absent. Not in the future, not before 2020.
    #[serde(default)]
    pub contacted_on: Option<String>,
    /// `YYYY-MM-DD`; not before `contacted_on`.
    #[serde(default)]
    pub follow_up_on: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OutreachCreated {
    pub id: i64,
}

/// Record an outreach to one of the department's entities. Field error codes: `required`,
/// `invalid`, `too_long`, `in_future`, `too_early`, `before_contact`.
#[utoipa::path(post, path = "/api/v1/staff/entities/{id}/outreach", params(("id" = i64, Path)),
    request_body = OutreachRequest,
    responses((status = 201, body = OutreachCreated), (status = 401, body = Problem),
        (status = 404, body = Problem, description = "unknown, or another department's entity"),
        (status = 422, body = ApiErrors)),
    security(("bearer" = [])))]
pub async fn create_outreach(
    staff: StaffApi,
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Response {
    let Some(id) = staff::parse_id(&raw_id) else {
        return not_found();
    };
    match workspace::entity(&state.db, staff.department_id, id).await {
        Ok(Some(_)) => {}
        Ok(None) => return not_found(),
        Err(err) => return store_failure(&err),
    }
    let req: OutreachRequest = match json_object(body) {
        Ok(r) => r,
        Err(bad) => return bad.into_response(),
    };
    let input = OutreachInput {
        channel: req.channel,
        outcome: req.outcome,
        note: req.note,
        contacted_on: req.contacted_on.unwrap_or_default(),
        follow_up_on: req.follow_up_on.unwrap_or_default(),
    };
    let new = match input.check(crate::clock::today()) {
        Ok(new) => new,
        Err(errors) => {
            let mut by_field: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for e in errors {
                by_field
                    .entry(e.field.to_owned())
                    .or_default()
                    .push(e.code.to_owned());
            }
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(ApiErrors { errors: by_field }),
            )
                .into_response();
        }
    };
    match outreach::record(&state.db, id, staff.department_id, staff.account.id, &new).await {
        Ok(Some(id)) => (StatusCode::CREATED, Json(OutreachCreated { id })).into_response(),
        Ok(None) => not_found(),
        Err(err) => store_failure(&err),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FollowUpItem {
    pub entity_id: i64,
    pub uscc: String,
    pub name: String,
    /// `YYYY-MM-DD`.
    pub follow_up_on: String,
    /// Days past the follow-up date (0 when due today).
    pub overdue_days: i64,
    pub channel: String,
    pub outcome: String,
    pub note: String,
    pub recorded_by: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FollowUpList {
    pub today: String,
    pub items: Vec<FollowUpItem>,
}

/// Entities whose latest outreach asks for a follow-up today or earlier, most overdue first;
/// entities already onboarded are left out.
#[utoipa::path(get, path = "/api/v1/staff/follow-ups",
    responses((status = 200, body = FollowUpList), (status = 401, body = Problem),
        (status = 404, body = Problem, description = "not a staff account")),
    security(("bearer" = [])))]
pub async fn follow_ups(staff: StaffApi, State(state): State<AppState>) -> Response {
    let today = crate::clock::today();
    let rows = match outreach::follow_ups_due(&state.db, staff.department_id, today).await {
        Ok(rows) => rows,
        Err(err) => return store_failure(&err),
    };
    let items = rows
        .into_iter()
        .map(|f| FollowUpItem {
            overdue_days: f.overdue_days(today),
            entity_id: f.entity_id,
            uscc: f.uscc,
            name: f.name,
            follow_up_on: f.follow_up_on,
            channel: f.channel,
            outcome: f.outcome,
            note: f.note,
            recorded_by: outreach::colleague(f.display_name.as_deref()),
        })
        .collect();
    Json(FollowUpList {
        today: outreach::format_day(today),
        items,
    })
    .into_response()
}

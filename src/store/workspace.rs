//! The staff workspace's reads: a department's entities filtered, sorted and paged (and exported),
//! one entity with its registration, and the audited reveal of its contact details. Every query
//! takes the department and matches `entities.department_id` (indexed), so another department's
//! entity is simply not found.

use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::domain::entity_kind::EntityKind;
use crate::on_pool;

use super::audit::{self, AuditEntry};
use super::entities::SearchTerm;
use super::progress::{STAGE_SQL, Stage};
use super::{Context, Db, StoreError, WritePool, like_escape};

/// When an entity was last contacted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastContact {
    Never,
    /// More than [`STALE_DAYS`] days ago (never-contacted entities are not included).
    Stale,
    /// Within the last [`RECENT_DAYS`] days.
    Recent,
}

pub const STALE_DAYS: i64 = 14;
pub const RECENT_DAYS: i64 = 7;

impl LastContact {
    pub const ALL: [LastContact; 3] = [LastContact::Never, LastContact::Stale, LastContact::Recent];

    pub fn as_str(self) -> &'static str {
        match self {
            LastContact::Never => "never",
            LastContact::Stale => "stale",
            LastContact::Recent => "recent",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            LastContact::Never => "从未联系",
            LastContact::Stale => "超过14天未联系",
            LastContact::Recent => "7天内联系过",
        }
    }

    pub fn parse(s: &str) -> Option<LastContact> {
        LastContact::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    #[default]
    Name,
    Uscc,
    Stage,
    LastContact,
}

impl SortKey {
    pub const ALL: [SortKey; 4] = [
        SortKey::Name,
        SortKey::Uscc,
        SortKey::Stage,
        SortKey::LastContact,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Name => "name",
            SortKey::Uscc => "uscc",
            SortKey::Stage => "stage",
            SortKey::LastContact => "last_contact",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SortKey::Name => "名称",
            SortKey::Uscc => "统一社会信用代码",
            SortKey::Stage => "阶段",
            SortKey::LastContact => "最近联系",
        }
    }

    pub fn parse(s: &str) -> Option<SortKey> {
        SortKey::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// What the list shows: each filter is optional.
#[derive(Debug, Clone, Default)]
pub struct EntityFilter {
    pub stage: Option<Stage>,
    pub township: Option<String>,
    pub kind: Option<EntityKind>,
    pub last_contact: Option<LastContact>,
    pub search: Option<SearchTerm>,
    pub sort: SortKey,
    pub descending: bool,
}

/// One entity in the list.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EntityRow {
    pub id: i64,
    pub uscc: String,
    pub name: String,
    pub kind: String,
    pub township_code: Option<String>,
    pub stage: String,
    pub last_contact_at: Option<OffsetDateTime>,
    /// The follow-up date of the latest outreach (`YYYY-MM-DD`).
    pub follow_up_on: Option<String>,
}

impl EntityRow {
    pub fn stage(&self) -> Option<Stage> {
        Stage::parse(&self.stage)
    }
}

/// A value bound to a numbered placeholder of a query built at run time.
enum Bind {
    Int(i64),
    Text(String),
    Time(OffsetDateTime),
}

/// The filtered entities as a subquery `x` (with its stage), and its bound values.
fn filtered(department_id: i64, filter: &EntityFilter, now: OffsetDateTime) -> (String, Vec<Bind>) {
    let mut binds = vec![Bind::Int(department_id)];
    let mut inner = vec!["e.department_id = $1".to_owned()];
    let mut outer = Vec::new();
    let param = |binds: &mut Vec<Bind>, value: Bind| {
        binds.push(value);
        format!("${}", binds.len())
    };
    if let Some(township) = &filter.township {
        let p = param(&mut binds, Bind::Text(township.clone()));
        inner.push(format!("e.township_code = {p}"));
    }
    if let Some(kind) = filter.kind {
        let p = param(&mut binds, Bind::Text(kind.as_str().to_owned()));
        inner.push(format!("e.kind = {p}"));
    }
    match filter.last_contact {
        None => {}
        Some(LastContact::Never) => inner.push("e.last_contact_at IS NULL".to_owned()),
        Some(LastContact::Stale) => {
            let p = param(&mut binds, Bind::Time(now - Duration::days(STALE_DAYS)));
            inner.push(format!("e.last_contact_at < {p}"));
        }
        Some(LastContact::Recent) => {
            let p = param(&mut binds, Bind::Time(now - Duration::days(RECENT_DAYS)));
            inner.push(format!("e.last_contact_at >= {p}"));
        }
    }
    match &filter.search {
        None => {}
        Some(SearchTerm::Uscc(uscc)) => {
            let p = param(&mut binds, Bind::Text(uscc.as_str().to_owned()));
            inner.push(format!("e.uscc = {p}"));
        }
        Some(SearchTerm::UsccPrefix(prefix)) => {
            let p = param(&mut binds, Bind::Text(format!("{}%", like_escape(prefix))));
            inner.push(format!("e.uscc LIKE {p} ESCAPE '\\'"));
        }
        Some(SearchTerm::Name(name)) => {
            let p = param(&mut binds, Bind::Text(format!("%{}%", like_escape(name))));
            inner.push(format!("e.name LIKE {p} ESCAPE '\\'"));
        }
    }
    if let Some(stage) = filter.stage {
        let p = param(&mut binds, Bind::Text(stage.as_str().to_owned()));
        outer.push(format!("x.stage = {p}"));
    }
    let outer = if outer.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", outer.join(" AND "))
    };
    let sql = format!(
        "(SELECT e.id, e.uscc, e.name, e.kind, e.township_code, e.last_contact_at,
                 {STAGE_SQL} AS stage
          FROM entities e LEFT JOIN registrations r ON r.entity_id = e.id
          WHERE {}) x {outer}",
        inner.join(" AND ")
    );
    (sql, binds)
}

/// `ORDER BY` for the list; ties are broken by id so pages never overlap.
fn order_by(filter: &EntityFilter) -> String {
    let dir = if filter.descending { "DESC" } else { "ASC" };
    match filter.sort {
        SortKey::Name => format!("x.name {dir}, x.id {dir}"),
        SortKey::Uscc => format!("x.uscc {dir}, x.id {dir}"),
        SortKey::Stage => {
            let ordinal: Vec<String> = Stage::ALL
                .iter()
                .enumerate()
                .map(|(i, s)| format!("WHEN '{}' THEN {i}", s.as_str()))
                .collect();
            format!(
                "CASE x.stage {} ELSE 99 END {dir}, x.name {dir}, x.id {dir}",
                ordinal.join(" ")
            )
        }
        // Never contacted sorts as the longest ago, on both engines (their NULL orders differ).
        SortKey::LastContact => format!(
            "CASE WHEN x.last_contact_at IS NULL THEN 0 ELSE 1 END {dir}, x.last_contact_at {dir}, x.id {dir}"
        ),
    }
}

/// Binds `binds` in order to `$query`.
macro_rules! bind_all {
    ($query:expr, $binds:expr) => {{
        let mut query = $query;
        for b in $binds {
            query = match b {
                Bind::Int(v) => query.bind(*v),
                Bind::Text(v) => query.bind(v.as_str()),
                Bind::Time(v) => query.bind(*v),
            };
        }
        query
    }};
}

/// How many entities match.
pub async fn count_entities(
    db: &Db,
    department_id: i64,
    filter: &EntityFilter,
) -> Result<i64, StoreError> {
    let (from, binds) = filtered(department_id, filter, OffsetDateTime::now_utc());
    let sql = format!("SELECT COUNT(*) FROM {from}");
    Ok(on_pool!(db, |pool| {
        bind_all!(sqlx::query_scalar(&sql), &binds)
            .fetch_one(pool)
            .await
            .context("counting a department's entities")?
    }))
}

/// One page of matching entities (`limit` from `offset`), in the filter's order.
pub async fn list_entities(
    db: &Db,
    department_id: i64,
    filter: &EntityFilter,
    limit: i64,
    offset: i64,
) -> Result<Vec<EntityRow>, StoreError> {
    let (from, mut binds) = filtered(department_id, filter, OffsetDateTime::now_utc());
    binds.push(Bind::Int(limit));
    binds.push(Bind::Int(offset));
    let n = binds.len();
    let sql = format!(
        "SELECT x.id, x.uscc, x.name, x.kind, x.township_code, x.stage, x.last_contact_at,
                (SELECT o.follow_up_on FROM outreach o WHERE o.entity_id = x.id
                 ORDER BY o.contacted_at DESC, o.id DESC LIMIT 1) AS follow_up_on
         FROM {from}
         ORDER BY {}
         LIMIT ${} OFFSET ${n}",
        order_by(filter),
        n - 1
    );
    Ok(on_pool!(db, |pool| {
        bind_all!(sqlx::query_as::<_, EntityRow>(&sql), &binds)
            .fetch_all(pool)
            .await
            .context("listing a department's entities")?
    }))
}

/// The townships the department's entities are in (codes), for the filter's options.
pub async fn townships(db: &Db, department_id: i64) -> Result<Vec<String>, StoreError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_scalar(
            "SELECT DISTINCT township_code FROM entities
             WHERE department_id = $1 AND township_code IS NOT NULL ORDER BY township_code",
        )
        .bind(department_id)
        .fetch_all(pool)
        .await
        .context("listing a department's townships")?
    }))
}

/// A department's name and county.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DepartmentInfo {
    pub name: String,
    pub county_code: String,
}

pub async fn department(db: &Db, department_id: i64) -> Result<Option<DepartmentInfo>, StoreError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as::<_, DepartmentInfo>(
            "SELECT name, county_code FROM departments WHERE id = $1",
        )
        .bind(department_id)
        .fetch_optional(pool)
        .await
        .context("reading a department")?
    }))
}

/// One entity of the department with its registration's state (no personal data but the roster's
/// legal representative, which pages mask).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EntityDetail {
    pub id: i64,
    pub uscc: String,
    pub name: String,
    pub kind: String,
    pub legal_rep: String,
    pub township_code: Option<String>,
    pub status: String,
    pub last_contact_at: Option<OffsetDateTime>,
    pub stage: String,
    pub registration_id: Option<i64>,
    pub verification: Option<String>,
    pub sync_state: Option<String>,
    pub sync_reason: Option<String>,
    pub registered_at: Option<OffsetDateTime>,
    pub accepted_at: Option<OffsetDateTime>,
    pub signatures: i64,
}

impl EntityDetail {
    pub fn stage(&self) -> Option<Stage> {
        Stage::parse(&self.stage)
    }
}

/// The entity `id` if it is `department_id`'s.
pub async fn entity(
    db: &Db,
    department_id: i64,
    id: i64,
) -> Result<Option<EntityDetail>, StoreError> {
    let sql = format!(
        "SELECT e.id, e.uscc, e.name, e.kind, e.legal_rep, e.township_code, e.status,
                e.last_contact_at, {STAGE_SQL} AS stage,
                r.id AS registration_id, r.verification, r.sync_state, r.sync_reason,
                r.created_at AS registered_at, r.accepted_at,
                (SELECT COUNT(*) FROM signatures s WHERE s.registration_id = r.id) AS signatures
         FROM entities e LEFT JOIN registrations r ON r.entity_id = e.id
         WHERE e.id = $1 AND e.department_id = $2"
    );
    Ok(on_pool!(db, |pool| {
        sqlx::query_as::<_, EntityDetail>(&sql)
            .bind(id)
            .bind(department_id)
            .fetch_optional(pool)
            .await
            .context("reading a department's entity")?
    }))
}

/// Contact details shown on request.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Contact {
    pub mobile: String,
    pub legal_rep_name: String,
}

/// The registration's mobile and legal representative of the department's entity `id`, with an
/// audit row naming the fields shown (never their values). `None`: not the department's entity,
/// or not registered (nothing written).
pub async fn reveal_contact(
    db: &Db,
    department_id: i64,
    id: i64,
    actor: &str,
) -> Result<Option<Contact>, StoreError> {
    let now = OffsetDateTime::now_utc();
    Ok(on_pool!(db, |pool| {
        let mut tx = pool
            .begin_write()
            .await
            .context("starting to show contact details")?;
        let contact: Option<Contact> = sqlx::query_as(
            "SELECT r.mobile, r.legal_rep_name
             FROM entities e JOIN registrations r ON r.entity_id = e.id
             WHERE e.id = $1 AND e.department_id = $2",
        )
        .bind(id)
        .bind(department_id)
        .fetch_optional(&mut *tx)
        .await
        .context("reading contact details")?;
        if contact.is_some() {
            audit::append(
                &mut *tx,
                &AuditEntry {
                    actor,
                    action: "personal_data.viewed",
                    subject: &format!("entity:{id}"),
                    detail: json!({ "fields": ["mobile", "legal_rep_name"] }),
                },
                now,
            )
            .await?;
            tx.commit()
                .await
                .context("committing the contact details view")?;
        }
        contact
    }))
}

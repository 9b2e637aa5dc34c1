//! The leaders' read model: entities counted per county, township, responsible department, kind,
//! roster status and stage (`league_counts`), kept current by the transactions that change any of
//! those, and daily snapshots of it.
//!
//! How it stays right: every entity remembers the row it is counted in (`entities.counted_*`).
//! [`LeagueConnection::recount`] takes a set of entities out of the rows they are counted in,
//! reads their current county, township, department, kind, status and stage
//! ([`super::progress::STAGE_SQL`]), and adds them to the rows they belong in now — three
//! set-based statements inside the caller's transaction, whatever changed. [`rebuild`] starts
//! over from the roster, and [`check`] compares the model with a full recount.

use time::{Date, OffsetDateTime};

use crate::on_pool;

use super::Engine;
use super::audit::{self, AuditEntry};
use super::connection::for_each_connection;
use super::progress::STAGE_SQL;
use super::{Context, Db, StoreError, WritePool};

/// Which entities a recount covers.
#[derive(Debug, Clone, Copy)]
pub enum Which<'a> {
    /// By entity id.
    Entities(&'a [i64]),
    /// The roster entities of these registrations (registrations without one are not counted).
    Registrations(&'a [i64]),
    /// By USCC (a roster import batch).
    Usccs(&'a [&'a str]),
    /// Every entity of a county (after its assignment rules ran).
    County(&'a str),
    /// The whole roster.
    All,
}

/// Parameters per statement at most; both engines take far more, but long IN lists get slow.
const CHUNK: usize = 2_000;

impl Which<'_> {
    /// The condition on `entities e` and its values (ids, or text). `numbered`: `$1…$n`
    /// placeholders (PostgreSQL); otherwise `?` (SQLite, where sqlx finds each `$n` by a linear
    /// scan, which makes long lists quadratic).
    fn condition(&self, numbered: bool) -> (String, Vec<i64>, Vec<&str>) {
        let list = |n: usize| -> String {
            (1..=n)
                .map(|i| {
                    if numbered {
                        format!("${i}")
                    } else {
                        "?".to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Which::Entities(ids) => (
                format!("e.id IN ({})", list(ids.len())),
                ids.to_vec(),
                vec![],
            ),
            Which::Registrations(ids) => (
                format!(
                    "e.id IN (SELECT entity_id FROM registrations WHERE id IN ({}))",
                    list(ids.len())
                ),
                ids.to_vec(),
                vec![],
            ),
            Which::Usccs(codes) => (
                format!("e.uscc IN ({})", list(codes.len())),
                vec![],
                codes.to_vec(),
            ),
            Which::County(code) => (format!("e.county_code = {}", list(1)), vec![], vec![code]),
            Which::All => ("1 = 1".to_owned(), vec![], vec![]),
        }
    }

    /// The same set in pieces of at most [`CHUNK`] values.
    fn chunks(&self) -> Vec<Which<'_>> {
        match self {
            Which::Entities(ids) => ids.chunks(CHUNK).map(Which::Entities).collect(),
            Which::Registrations(ids) => ids.chunks(CHUNK).map(Which::Registrations).collect(),
            Which::Usccs(codes) => codes.chunks(CHUNK).map(Which::Usccs).collect(),
            other => vec![*other],
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Which::Entities(ids) | Which::Registrations(ids) => ids.is_empty(),
            Which::Usccs(codes) => codes.is_empty(),
            Which::County(_) | Which::All => false,
        }
    }
}

/// The columns of a `league_counts` row, in key order.
const KEY: &str = "county_code, township_code, department_id, kind, status, stage";
/// Where an entity is counted. County, township, kind and status are the entity's own columns:
/// only a roster import changes them, and it subtracts the old values itself before it writes
/// (`store::entities`), so between transactions they always name the row the entity is in.
/// Department and stage change under the model's feet (the row is updated first, then
/// recounted), so the entity keeps the counted ones (`counted_department`, `counted_stage`).
const COUNTED: &str = "e.county_code, COALESCE(e.township_code, ''), e.counted_department, e.kind, \
     e.status, e.counted_stage";

/// `sign` = `-` takes the entities out of their counted rows, `+` puts them in.
fn shift_sql(condition: &str, sign: char) -> String {
    format!(
        "INSERT INTO league_counts ({KEY}, n)
         SELECT {COUNTED}, {sign}COUNT(*) FROM entities e
         WHERE {condition} AND e.counted_stage IS NOT NULL
         GROUP BY {COUNTED}
         ON CONFLICT ({KEY}) DO UPDATE SET n = league_counts.n + excluded.n"
    )
}

/// Points each entity's `counted_*` at where it belongs now (only rows that moved are written).
fn retarget_sql(condition: &str) -> String {
    let stage = format!(
        "COALESCE((SELECT {STAGE_SQL} FROM registrations r WHERE r.entity_id = e.id LIMIT 1),
                  'not_started')"
    );
    format!(
        "UPDATE entities AS e SET
             counted_department = COALESCE(e.department_id, 0),
             counted_stage = {stage}
         WHERE {condition} AND (
             e.counted_stage IS NULL
             OR e.counted_department IS DISTINCT FROM COALESCE(e.department_id, 0)
             OR e.counted_stage IS DISTINCT FROM {stage})"
    )
}

/// A connection that can recount entities inside the caller's transaction: implemented for both
/// engines' connections, so a block inside [`on_pool!`] calls it on `&mut *tx`.
pub trait LeagueConnection {
    /// Moves `which` entities to the `league_counts` rows they belong in now.
    fn recount(&mut self, which: Which<'_>) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Takes `which` entities out of (`add == false`) or puts them into (`true`) the rows their
    /// `counted_*` columns name, without looking at where they belong. For writers that set
    /// `counted_*` themselves (the roster import: subtract, upsert, add).
    fn shift(
        &mut self,
        which: Which<'_>,
        add: bool,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Where each of `which` (that is counted at all) is counted now, by USCC: what a roster
    /// import takes out before it upserts.
    fn counted_keys(
        &mut self,
        which: Which<'_>,
    ) -> impl Future<Output = Result<Vec<(String, CountKey)>, StoreError>> + Send;

    /// Adds `deltas` to `league_counts` (negative ones subtract), dropping rows that reach 0.
    fn apply_deltas(
        &mut self,
        deltas: &Deltas,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A `league_counts` row's key: county, township ('' none), department (0 none), kind, status,
/// stage.
pub type CountKey = (String, String, i64, String, String, String);

/// Changes to apply to `league_counts`, by key.
pub type Deltas = std::collections::BTreeMap<CountKey, i64>;

/// Delta rows per INSERT: 7 values each.
const DELTA_ROWS: usize = 200;

/// `INSERT … VALUES (…), … ON CONFLICT … n + excluded.n` for `rows` delta rows.
fn deltas_sql(rows: usize, numbered: bool) -> String {
    let mut values = Vec::with_capacity(rows);
    for row in 0..rows {
        let cells: Vec<String> = (1..=7)
            .map(|i| {
                if numbered {
                    format!("${}", row * 7 + i)
                } else {
                    "?".to_owned()
                }
            })
            .collect();
        values.push(format!("({})", cells.join(", ")));
    }
    format!(
        "INSERT INTO league_counts ({KEY}, n) VALUES {}
         ON CONFLICT ({KEY}) DO UPDATE SET n = league_counts.n + excluded.n",
        values.join(", ")
    )
}

/// The steps the recount is made of, on an open connection.
trait LeagueSteps {
    /// Runs `statements(condition)` for each chunk of `which`, binding its values.
    fn for_each_chunk(
        &mut self,
        which: Which<'_>,
        statements: impl Fn(&str) -> Vec<String> + Send,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Rows emptied by moves are dropped, so reads stay proportional to what exists.
    fn drop_empty(&mut self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// `$n` placeholders on PostgreSQL, `?` on SQLite (see [`Which::condition`]).
const fn numbered(engine: Engine) -> bool {
    matches!(engine, Engine::Postgres)
}

for_each_connection! {
    impl LeagueSteps for Conn {
        async fn for_each_chunk(
            &mut self,
            which: Which<'_>,
            statements: impl Fn(&str) -> Vec<String> + Send,
        ) -> Result<(), StoreError> {
            for part in which.chunks() {
                let (condition, ids, texts) = part.condition(numbered(ENGINE));
                for sql in &statements(&condition) {
                    let mut query = sqlx::query(sql);
                    for id in &ids {
                        query = query.bind(*id);
                    }
                    for text in &texts {
                        query = query.bind(*text);
                    }
                    query
                        .execute(&mut *self)
                        .await
                        .context("recounting the league read model")?;
                }
            }
            Ok(())
        }

        async fn drop_empty(&mut self) -> Result<(), StoreError> {
            sqlx::query("DELETE FROM league_counts WHERE n = 0")
                .execute(&mut *self)
                .await
                .context("dropping empty league rows")?;
            Ok(())
        }
    }

    impl LeagueConnection for Conn {
        async fn recount(&mut self, which: Which<'_>) -> Result<(), StoreError> {
            if which.is_empty() {
                return Ok(());
            }
            self.for_each_chunk(which, |condition| {
                vec![
                    shift_sql(condition, '-'),
                    retarget_sql(condition),
                    shift_sql(condition, '+'),
                ]
            })
            .await?;
            self.drop_empty().await
        }

        async fn counted_keys(
            &mut self,
            which: Which<'_>,
        ) -> Result<Vec<(String, CountKey)>, StoreError> {
            let mut out = Vec::new();
            for part in which.chunks() {
                let (condition, ids, texts) = part.condition(numbered(ENGINE));
                let sql = format!(
                    "SELECT e.uscc, {COUNTED} FROM entities e
                     WHERE {condition} AND e.counted_stage IS NOT NULL"
                );
                let mut query = sqlx::query_as::<
                    _,
                    (String, String, String, i64, String, String, String),
                >(&sql);
                for id in &ids {
                    query = query.bind(*id);
                }
                for text in &texts {
                    query = query.bind(*text);
                }
                let rows = query
                    .fetch_all(&mut *self)
                    .await
                    .context("reading where entities are counted")?;
                out.extend(
                    rows.into_iter()
                        .map(|(uscc, c, t, d, k, s, g)| (uscc, (c, t, d, k, s, g))),
                );
            }
            Ok(out)
        }

        async fn apply_deltas(&mut self, deltas: &Deltas) -> Result<(), StoreError> {
            let changes: Vec<(&CountKey, &i64)> =
                deltas.iter().filter(|(_, n)| **n != 0).collect();
            for chunk in changes.chunks(DELTA_ROWS) {
                let sql = deltas_sql(chunk.len(), numbered(ENGINE));
                let mut query = sqlx::query(&sql);
                for ((county, township, department, kind, status, stage), n) in chunk {
                    query = query
                        .bind(county)
                        .bind(township)
                        .bind(*department)
                        .bind(kind)
                        .bind(status)
                        .bind(stage)
                        .bind(**n);
                }
                query
                    .execute(&mut *self)
                    .await
                    .context("adding to the league counts")?;
            }
            if changes.iter().any(|(_, n)| **n < 0) {
                self.drop_empty().await?;
            }
            Ok(())
        }

        async fn shift(&mut self, which: Which<'_>, add: bool) -> Result<(), StoreError> {
            if which.is_empty() {
                return Ok(());
            }
            let sign = if add { '+' } else { '-' };
            self.for_each_chunk(which, |condition| vec![shift_sql(condition, sign)])
                .await?;
            if add {
                self.drop_empty().await?;
            }
            Ok(())
        }
    }
}

/// Recounts `which` on `conn`: pass the transaction that makes the change (`&mut *tx`), so the
/// read model commits with it or not at all.
///
/// # Errors
/// Database errors.
pub async fn recount_in<C: LeagueConnection + ?Sized>(
    conn: &mut C,
    which: Which<'_>,
) -> Result<(), StoreError> {
    conn.recount(which).await
}

/// [`LeagueConnection::recount`] in a transaction of its own.
///
/// # Errors
/// Database errors.
pub async fn recount(db: &Db, which: Which<'_>) -> Result<(), StoreError> {
    on_pool!(db, |pool| {
        let mut tx = pool.begin_write().await.context("starting a recount")?;
        tx.recount(which).await?;
        tx.commit().await.context("committing a recount")?;
    });
    Ok(())
}

/// One row of the read model (or of a snapshot).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, sqlx::FromRow)]
pub struct CountRow {
    pub county_code: String,
    /// Empty when the roster gives no township.
    pub township_code: String,
    /// 0 when no department answers for these entities.
    pub department_id: i64,
    pub kind: String,
    pub status: String,
    pub stage: String,
    pub n: i64,
}

/// Every row of the read model for these counties, in key order.
///
/// # Errors
/// Database errors.
pub async fn counts(db: &Db, counties: &[String]) -> Result<Vec<CountRow>, StoreError> {
    let list = (1..=counties.len())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    if counties.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {KEY}, n FROM league_counts WHERE county_code IN ({list}) AND n <> 0
         ORDER BY {KEY}"
    );
    Ok(on_pool!(db, |pool| {
        let mut query = sqlx::query_as::<_, CountRow>(&sql);
        for c in counties {
            query = query.bind(c);
        }
        query
            .fetch_all(pool)
            .await
            .context("reading league counts")?
    }))
}

/// What the league tables count, summed in the database: per county, township, department and
/// stage (kinds and statuses added up), `cancelled` (注销) entities left out — a few rows per
/// department instead of one per kind and status. `kind` and `status` read `*`.
///
/// # Errors
/// Database errors.
pub async fn table_counts(db: &Db, counties: &[String]) -> Result<Vec<CountRow>, StoreError> {
    table_counts_from(db, None, counties)
        .await
        .map(Option::unwrap_or_default)
}

/// [`table_counts`] as `day`'s snapshot recorded them; `None` without a snapshot that day.
///
/// # Errors
/// Database errors.
pub async fn snapshot_table_counts(
    db: &Db,
    day: Date,
    counties: &[String],
) -> Result<Option<Vec<CountRow>>, StoreError> {
    if !has_snapshot(db, day).await? {
        return Ok(None);
    }
    table_counts_from(db, Some(day), counties).await
}

async fn has_snapshot(db: &Db, day: Date) -> Result<bool, StoreError> {
    let taken: Option<Date> = on_pool!(db, |pool| {
        sqlx::query_scalar("SELECT day FROM league_snapshot_runs WHERE day = $1")
            .bind(day)
            .fetch_optional(pool)
            .await
            .context("finding a league snapshot")?
    });
    Ok(taken.is_some())
}

async fn table_counts_from(
    db: &Db,
    day: Option<Date>,
    counties: &[String],
) -> Result<Option<Vec<CountRow>>, StoreError> {
    if counties.is_empty() {
        return Ok(Some(Vec::new()));
    }
    let first = if day.is_some() { 2 } else { 1 };
    let list = (first..first + counties.len())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let (table, when) = match day {
        Some(_) => ("league_snapshots", "day = $1 AND"),
        None => ("league_counts", ""),
    };
    let sql = format!(
        "SELECT county_code, township_code, department_id, '*' AS kind, '*' AS status, stage,
                CAST(SUM(n) AS BIGINT) AS n
         FROM {table}
         WHERE {when} county_code IN ({list}) AND status <> 'cancelled'
         GROUP BY county_code, township_code, department_id, stage
         HAVING SUM(n) <> 0"
    );
    Ok(Some(on_pool!(db, |pool| {
        let mut query = sqlx::query_as::<_, CountRow>(&sql);
        if let Some(day) = day {
            query = query.bind(day);
        }
        for c in counties {
            query = query.bind(c);
        }
        query
            .fetch_all(pool)
            .await
            .context("summing league counts")?
    })))
}

/// What a full recount from the roster gives, in the same shape as [`counts`] (for [`check`],
/// tests and the benchmark's baseline: this is the `GROUP BY` the read model saves).
///
/// # Errors
/// Database errors.
pub async fn recount_from_roster(
    db: &Db,
    counties: &[String],
) -> Result<Vec<CountRow>, StoreError> {
    if counties.is_empty() {
        return Ok(Vec::new());
    }
    let list = (1..=counties.len())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT county_code, township_code, department_id, kind, status, stage, COUNT(*) AS n
         FROM (SELECT e.county_code, COALESCE(e.township_code, '') AS township_code,
                      COALESCE(e.department_id, 0) AS department_id, e.kind, e.status,
                      {STAGE_SQL} AS stage
               FROM entities e LEFT JOIN registrations r ON r.entity_id = e.id
               WHERE e.county_code IN ({list})) t
         GROUP BY {KEY} ORDER BY {KEY}"
    );
    Ok(on_pool!(db, |pool| {
        let mut query = sqlx::query_as::<_, CountRow>(&sql);
        for c in counties {
            query = query.bind(c);
        }
        query
            .fetch_all(pool)
            .await
            .context("recounting the roster")?
    }))
}

/// Every county with entities in the roster.
async fn roster_counties(db: &Db) -> Result<Vec<String>, StoreError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_scalar("SELECT DISTINCT county_code FROM entities ORDER BY county_code")
            .fetch_all(pool)
            .await
            .context("listing the roster's counties")?
    }))
}

/// Where the read model and a full recount disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The row's key (`n` ignored).
    pub key: CountRow,
    pub model: i64,
    pub recount: i64,
}

/// Compares the read model with a full recount of the roster; empty when they agree.
///
/// # Errors
/// Database errors.
pub async fn check(db: &Db) -> Result<Vec<Mismatch>, StoreError> {
    let counties = roster_counties(db).await?;
    let mut model: std::collections::BTreeMap<CountRow, i64> = std::collections::BTreeMap::new();
    // Rows of counties no longer in the roster count too: they should not exist.
    let all_model: Vec<CountRow> = on_pool!(db, |pool| {
        sqlx::query_as(&format!(
            "SELECT {KEY}, n FROM league_counts WHERE n <> 0 ORDER BY {KEY}"
        ))
        .fetch_all(pool)
        .await
        .context("reading league counts")?
    });
    for row in all_model {
        let n = row.n;
        model.insert(CountRow { n: 0, ..row }, n);
    }
    let mut mismatches = Vec::new();
    for row in recount_from_roster(db, &counties).await? {
        let n = row.n;
        let key = CountRow { n: 0, ..row };
        let held = model.remove(&key).unwrap_or(0);
        if held != n {
            mismatches.push(Mismatch {
                key,
                model: held,
                recount: n,
            });
        }
    }
    mismatches.extend(model.into_iter().map(|(key, n)| Mismatch {
        key,
        model: n,
        recount: 0,
    }));
    Ok(mismatches)
}

/// Throws the read model away and counts every entity again, in one transaction.
///
/// # Errors
/// Database errors.
pub async fn rebuild(db: &Db) -> Result<(), StoreError> {
    on_pool!(db, |pool| {
        let mut tx = pool
            .begin_write()
            .await
            .context("starting a league rebuild")?;
        sqlx::query("DELETE FROM league_counts")
            .execute(&mut *tx)
            .await
            .context("clearing the league counts")?;
        sqlx::query("UPDATE entities SET counted_stage = NULL")
            .execute(&mut *tx)
            .await
            .context("forgetting what was counted")?;
        tx.recount(Which::All).await?;
        tx.commit().await.context("committing a league rebuild")?;
    });
    Ok(())
}

/// How a snapshot was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The midnight job.
    Schedule,
    /// `xinyidai league snapshot` or an admin's button.
    Manual,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Manual => "manual",
        }
    }
}

/// Records who took `day`'s snapshot (`league.snapshot_taken`), after [`take_snapshot`].
///
/// # Errors
/// Database errors.
pub async fn audit_snapshot(
    db: &Db,
    day: Date,
    trigger: Trigger,
    actor: &str,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    on_pool!(db, |pool| {
        let mut tx = pool
            .begin_write()
            .await
            .context("starting to audit a snapshot")?;
        audit::append(
            &mut *tx,
            &AuditEntry {
                actor,
                action: "league.snapshot_taken",
                subject: &format!("league_snapshot:{day}"),
                detail: serde_json::json!({ "day": day.to_string(), "trigger": trigger.as_str() }),
            },
            now,
        )
        .await?;
        tx.commit().await.context("auditing a snapshot")?;
    });
    Ok(())
}

/// Records the read model and every department (name, kind, township, the target of `day`'s
/// month) as the state at the end of `day`; taking it again replaces that day's snapshot.
///
/// # Errors
/// Database errors.
pub async fn take_snapshot(db: &Db, day: Date, trigger: Trigger) -> Result<(), StoreError> {
    let period = crate::domain::calendar::period_of(day);
    let now = OffsetDateTime::now_utc();
    on_pool!(db, |pool| {
        let mut tx = pool
            .begin_write()
            .await
            .context("starting a league snapshot")?;
        for table in [
            "league_snapshots",
            "league_snapshot_departments",
            "league_snapshot_runs",
        ] {
            sqlx::query(&format!("DELETE FROM {table} WHERE day = $1"))
                .bind(day)
                .execute(&mut *tx)
                .await
                .context("replacing a day's snapshot")?;
        }
        sqlx::query(&format!(
            "INSERT INTO league_snapshots (day, {KEY}, n)
             SELECT $1, {KEY}, n FROM league_counts WHERE n <> 0"
        ))
        .bind(day)
        .execute(&mut *tx)
        .await
        .context("copying the league counts")?;
        sqlx::query(
            "INSERT INTO league_snapshot_departments
                 (day, department_id, county_code, name, kind, township_code,
                  target_count, target_share, deadline)
             SELECT $1, d.id, d.county_code, d.name, d.kind, d.township_code,
                    t.target_count, t.target_share, t.deadline
             FROM departments d
             LEFT JOIN department_targets t ON t.department_id = d.id AND t.period = $2",
        )
        .bind(day)
        .bind(&period)
        .execute(&mut *tx)
        .await
        .context("copying the departments and their targets")?;
        sqlx::query(
            "INSERT INTO league_snapshot_runs (day, taken_at, trigger) VALUES ($1, $2, $3)",
        )
        .bind(day)
        .bind(now)
        .bind(trigger.as_str())
        .execute(&mut *tx)
        .await
        .context("recording a league snapshot")?;
        tx.commit().await.context("committing a league snapshot")?;
    });
    Ok(())
}

/// The read model as it was at the end of `day`, or `None` when no snapshot was taken that day.
///
/// # Errors
/// Database errors.
pub async fn snapshot_counts(
    db: &Db,
    day: Date,
    counties: &[String],
) -> Result<Option<Vec<CountRow>>, StoreError> {
    let taken: Option<Date> = on_pool!(db, |pool| {
        sqlx::query_scalar("SELECT day FROM league_snapshot_runs WHERE day = $1")
            .bind(day)
            .fetch_optional(pool)
            .await
            .context("finding a league snapshot")?
    });
    if taken.is_none() || counties.is_empty() {
        return Ok(taken.map(|_| Vec::new()));
    }
    let list = (2..=counties.len() + 1)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {KEY}, n FROM league_snapshots WHERE day = $1 AND county_code IN ({list})
         ORDER BY {KEY}"
    );
    Ok(Some(on_pool!(db, |pool| {
        let mut query = sqlx::query_as::<_, CountRow>(&sql).bind(day);
        for c in counties {
            query = query.bind(c);
        }
        query
            .fetch_all(pool)
            .await
            .context("reading a league snapshot")?
    })))
}

/// A department as a snapshot recorded it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SnapshotDepartment {
    pub department_id: i64,
    pub county_code: String,
    pub name: String,
    pub kind: String,
    pub township_code: Option<String>,
    pub target_count: Option<i64>,
    pub target_share: Option<f64>,
    pub deadline: Option<Date>,
}

/// The departments (and their targets) of `day`'s snapshot; empty when there is none.
///
/// # Errors
/// Database errors.
pub async fn snapshot_departments(
    db: &Db,
    day: Date,
) -> Result<Vec<SnapshotDepartment>, StoreError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as(
            "SELECT department_id, county_code, name, kind, township_code, target_count,
                    target_share, deadline
             FROM league_snapshot_departments WHERE day = $1 ORDER BY department_id",
        )
        .bind(day)
        .fetch_all(pool)
        .await
        .context("reading a snapshot's departments")?
    }))
}

/// The days that have a snapshot, newest first.
///
/// # Errors
/// Database errors.
pub async fn snapshot_days(db: &Db) -> Result<Vec<Date>, StoreError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_scalar("SELECT day FROM league_snapshot_runs ORDER BY day DESC")
            .fetch_all(pool)
            .await
            .context("listing league snapshots")?
    }))
}

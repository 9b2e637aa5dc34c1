//! The market-entity roster: bulk upsert from imports and look-ups for the public search.

use sqlx::{PgPool, SqlitePool};

use crate::domain::division;
use crate::domain::roster_entry::RosterEntry;
use crate::domain::uscc::Uscc;
use crate::on_pool;

use super::league::{CountKey, Deltas, LeagueConnection, Which};
use super::{Context, Db, StoreError, WritePool, like_escape};

const COLUMNS: &str =
    "uscc, name, kind, legal_rep, county_code, township_code, industry, address, founded, status";
const COLUMN_COUNT: usize = 10;
/// The leaders' read model (`store::league`): the department and stage a row is counted under.
/// A new row is written already counted (no department, not started), so an import never
/// rewrites the rows it has just inserted; the batch is then added to the counts in one
/// statement.
const COUNTED_COLUMNS: &str = "counted_department, counted_stage";
const COUNTED_COUNT: usize = 2;

/// Only rows whose data differ are touched, so importing the same file twice changes nothing
/// (not even `updated_at`), and `rows_affected` counts real inserts and changes.
///
/// A changed row keeps its counted department and stage; the batch's old rows were read (and
/// are subtracted) before, its new ones added after.
const UPSERT_TAIL: &str = r#"
 ON CONFLICT (uscc) DO UPDATE SET
   name = excluded.name, kind = excluded.kind, legal_rep = excluded.legal_rep,
   county_code = excluded.county_code, township_code = excluded.township_code,
   industry = excluded.industry, address = excluded.address, founded = excluded.founded,
   status = excluded.status, updated_at = excluded.updated_at
 WHERE (entities.name, entities.kind, entities.legal_rep, entities.county_code,
        entities.township_code, entities.industry, entities.address, entities.founded,
        entities.status)
   IS DISTINCT FROM
       (excluded.name, excluded.kind, excluded.legal_rep, excluded.county_code,
        excluded.township_code, excluded.industry, excluded.address, excluded.founded,
        excluded.status)"#;

/// Rows per multi-row `INSERT` on SQLite: 4,000 bound values, far below its 32,766 limit.
const SQLITE_ROWS_PER_STATEMENT: usize = 400;

/// Inserts or updates `entries` in ONE transaction; returns how many rows were inserted or
/// changed. The caller removes duplicate USCCs inside a batch (the roster validator does).
pub async fn upsert_batch(db: &Db, entries: &[RosterEntry]) -> Result<u64, StoreError> {
    if entries.is_empty() {
        return Ok(0);
    }
    match db {
        Db::Sqlite(pool) => upsert_sqlite(pool, entries).await,
        Db::Postgres(pool) => upsert_postgres(pool, entries).await,
    }
}

/// A multi-row insert with anonymous `?` placeholders, ending in `tail` (the upsert, or nothing).
/// SQLite only: sqlx looks up the name of every numbered (`$n`) parameter, and SQLite finds a
/// name by a linear scan, which made 4,000-parameter statements quadratic (two thirds of an
/// import's CPU time).
fn multi_row_insert_sql(rows: usize, tail: &str) -> String {
    // The counted columns: no department, not started.
    let row = format!("({}, 0, 'not_started')", ["?"; COLUMN_COUNT].join(", "));
    let values = vec![row.as_str(); rows].join(", ");
    format!("INSERT INTO entities ({COLUMNS}, {COUNTED_COLUMNS}) VALUES {values}{tail}")
}

/// Writes `entries` with `INSERT … tail`, statement by statement; rows inserted or changed.
async fn insert_sqlite(
    conn: &mut sqlx::SqliteConnection,
    entries: &[RosterEntry],
    tail: &str,
) -> Result<u64, sqlx::Error> {
    let full_sql = multi_row_insert_sql(SQLITE_ROWS_PER_STATEMENT, tail);
    let mut changed = 0;
    for chunk in entries.chunks(SQLITE_ROWS_PER_STATEMENT) {
        let tail_sql;
        let sql = if chunk.len() == SQLITE_ROWS_PER_STATEMENT {
            full_sql.as_str()
        } else {
            tail_sql = multi_row_insert_sql(chunk.len(), tail);
            tail_sql.as_str()
        };
        let mut query = sqlx::query(sql);
        for e in chunk {
            query = query
                .bind(e.uscc.as_str())
                .bind(&e.name)
                .bind(e.kind.as_str())
                .bind(&e.legal_rep)
                .bind(&e.county_code)
                .bind(&e.township_code)
                .bind(e.industry.map(String::from))
                .bind(&e.address)
                .bind(e.founded)
                .bind(e.status.as_str());
        }
        changed += query.execute(&mut *conn).await?.rows_affected();
    }
    Ok(changed)
}

/// A batch of new USCCs goes in with plain inserts and is added to the read model as it is;
/// if any USCC is already there, the batch is rolled back to the savepoint and upserted, after
/// reading where its existing rows were counted (a fresh roster never pays for that read).
async fn upsert_sqlite(pool: &SqlitePool, entries: &[RosterEntry]) -> Result<u64, StoreError> {
    let mut tx = pool
        .begin_write()
        .await
        .context("starting a roster batch")?;
    sqlx::query("SAVEPOINT roster_insert")
        .execute(&mut *tx)
        .await
        .context("opening a savepoint")?;
    let (changed, existing) = match insert_sqlite(&mut tx, entries, "").await {
        Ok(inserted) => (inserted, Vec::new()),
        Err(sqlx::Error::Database(err)) if err.is_unique_violation() => {
            sqlx::query("ROLLBACK TO SAVEPOINT roster_insert")
                .execute(&mut *tx)
                .await
                .context("rolling back to the savepoint")?;
            let existing = counted_before(&mut *tx, entries).await?;
            let changed = insert_sqlite(&mut tx, entries, UPSERT_TAIL)
                .await
                .context("upserting roster rows")?;
            (changed, existing)
        }
        Err(err) => return Err(err).context("inserting roster rows"),
    };
    tx.apply_deltas(&batch_deltas(entries, existing)).await?;
    tx.commit().await.context("committing a roster batch")?;
    Ok(changed)
}

/// PostgreSQL: a batch of new USCCs is `COPY`ed straight into `entities`, at the bulk loader's
/// own speed. If any USCC is already there the `COPY` fails on the unique key; the batch then
/// goes through a temporary table and one set-based upsert. Binding values row by row, or
/// upserting every batch through the staging table, was 2–5× slower at a million rows.
async fn upsert_postgres(pool: &PgPool, entries: &[RosterEntry]) -> Result<u64, StoreError> {
    let mut tx = pool
        .begin_write()
        .await
        .context("starting a roster batch")?;
    sqlx::query("SAVEPOINT roster_copy")
        .execute(&mut *tx)
        .await
        .context("opening a savepoint")?;
    match copy_rows(&mut tx, "entities", entries, true).await {
        Ok(()) => {
            // All new: nothing was counted before.
            tx.apply_deltas(&batch_deltas(entries, Vec::new())).await?;
            tx.commit().await.context("committing a roster batch")?;
            return Ok(entries.len() as u64);
        }
        Err(sqlx::Error::Database(err)) if err.is_unique_violation() => {
            sqlx::query("ROLLBACK TO SAVEPOINT roster_copy")
                .execute(&mut *tx)
                .await
                .context("rolling back to the savepoint")?;
        }
        Err(err) => return Err(err).context("copying roster rows"),
    }
    let existing = counted_before(&mut *tx, entries).await?;
    sqlx::query(
        "CREATE TEMPORARY TABLE entities_staging (
            uscc TEXT, name TEXT, kind TEXT, legal_rep TEXT, county_code TEXT,
            township_code TEXT, industry TEXT, address TEXT, founded DATE, status TEXT
         ) ON COMMIT DROP",
    )
    .execute(&mut *tx)
    .await
    .context("creating the roster staging table")?;
    copy_rows(&mut tx, "entities_staging", entries, false)
        .await
        .context("copying roster rows to the staging table")?;
    let changed = sqlx::query(&format!(
        "INSERT INTO entities ({COLUMNS}, {COUNTED_COLUMNS})
         SELECT {COLUMNS}, 0, 'not_started' FROM entities_staging {UPSERT_TAIL}"
    ))
    .execute(&mut *tx)
    .await
    .context("upserting staged roster rows")?
    .rows_affected();
    tx.apply_deltas(&batch_deltas(entries, existing)).await?;
    tx.commit().await.context("committing a roster batch")?;
    Ok(changed)
}

/// Where a new roster row is counted: its own county, township, kind and status; no department;
/// not started (matches the counted columns the inserts write).
fn new_key(e: &RosterEntry) -> CountKey {
    (
        e.county_code.clone(),
        e.township_code.clone().unwrap_or_default(),
        0,
        e.kind.as_str().to_owned(),
        e.status.as_str().to_owned(),
        "not_started".to_owned(),
    )
}

/// The batch's changes to the leaders' read model. `existing`: where the batch's rows that were
/// already in the roster were counted before the upsert (by USCC); they keep their department
/// and stage and move to their new county, township, kind and status. Everything else is new.
fn batch_deltas(entries: &[RosterEntry], existing: Vec<(String, CountKey)>) -> Deltas {
    let existing: std::collections::HashMap<String, CountKey> = existing.into_iter().collect();
    let mut deltas = Deltas::new();
    for e in entries {
        let mut key = new_key(e);
        if let Some(old) = existing.get(e.uscc.as_str()) {
            key.2 = old.2;
            key.5.clone_from(&old.5);
            *deltas.entry(old.clone()).or_insert(0) -= 1;
        }
        *deltas.entry(key).or_insert(0) += 1;
    }
    deltas
}

/// Where the batch's existing rows are counted, read before the upsert.
async fn counted_before<C: LeagueConnection + ?Sized>(
    conn: &mut C,
    entries: &[RosterEntry],
) -> Result<Vec<(String, CountKey)>, StoreError> {
    let usccs: Vec<&str> = entries.iter().map(|e| e.uscc.as_str()).collect();
    conn.counted_keys(Which::Usccs(&usccs)).await
}

/// `counted`: also the read-model columns of a new row (the staging table has none).
async fn copy_rows(
    conn: &mut sqlx::PgConnection,
    table: &str,
    entries: &[RosterEntry],
    counted: bool,
) -> Result<(), sqlx::Error> {
    let width = if counted {
        COLUMN_COUNT + COUNTED_COUNT
    } else {
        COLUMN_COUNT
    };
    let mut buf = String::with_capacity(entries.len() * 160);
    for e in entries {
        let founded = e.founded.map(|d| d.to_string());
        let industry = e.industry.map(String::from);
        let fields: [Option<&str>; COLUMN_COUNT + COUNTED_COUNT] = [
            Some(e.uscc.as_str()),
            Some(&e.name),
            Some(e.kind.as_str()),
            Some(&e.legal_rep),
            Some(&e.county_code),
            e.township_code.as_deref(),
            industry.as_deref(),
            e.address.as_deref(),
            founded.as_deref(),
            Some(e.status.as_str()),
            Some("0"),
            Some("not_started"),
        ];
        push_copy_csv_line(&mut buf, &fields[..width]);
    }
    let mut copy = conn
        .copy_in_raw(&format!(
            "COPY {table} ({COLUMNS}{}) FROM STDIN (FORMAT csv)",
            if counted {
                format!(", {COUNTED_COLUMNS}")
            } else {
                String::new()
            }
        ))
        .await?;
    copy.send(buf.into_bytes()).await?;
    copy.finish().await?;
    Ok(())
}

/// One line of PostgreSQL `COPY … (FORMAT csv)`: `None` is an unquoted empty field (NULL),
/// every value is quoted so an empty string stays an empty string.
fn push_copy_csv_line(buf: &mut String, fields: &[Option<&str>]) {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            buf.push(',');
        }
        if let Some(value) = field {
            buf.push('"');
            if value.contains('"') {
                buf.push_str(&value.replace('"', "\"\""));
            } else {
                buf.push_str(value);
            }
            buf.push('"');
        }
    }
    buf.push('\n');
}

/// An entity as shown in search results.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EntitySummary {
    pub uscc: String,
    pub name: String,
    pub kind: String,
    pub legal_rep: String,
    pub county_code: String,
    pub township_code: Option<String>,
    pub status: String,
}

/// How a search term is matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchTerm {
    /// A complete, valid USCC.
    Uscc(Uscc),
    /// The start of a USCC (letters and digits only, at least 4).
    UsccPrefix(String),
    /// Part of the entity's name.
    Name(String),
}

impl SearchTerm {
    /// `None` for a blank query.
    pub fn parse(q: &str) -> Option<SearchTerm> {
        let q = q.trim();
        if q.is_empty() {
            return None;
        }
        if let Ok(uscc) = Uscc::parse(q) {
            return Some(SearchTerm::Uscc(uscc));
        }
        let compact: String = q.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if compact.len() >= 4
            && compact.len() <= 18
            && compact.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Some(SearchTerm::UsccPrefix(compact.to_ascii_uppercase()));
        }
        Some(SearchTerm::Name(q.chars().take(50).collect()))
    }
}

/// Entities inside `jurisdiction` matching `term`, by name; at most `limit`.
pub async fn search(
    db: &Db,
    jurisdiction: &str,
    term: &SearchTerm,
    limit: u32,
) -> Result<Vec<EntitySummary>, StoreError> {
    let (condition, value) = match term {
        SearchTerm::Uscc(uscc) => ("uscc = $2", uscc.as_str().to_owned()),
        SearchTerm::UsccPrefix(p) => ("uscc LIKE $2 ESCAPE '\\'", format!("{}%", like_escape(p))),
        SearchTerm::Name(n) => ("name LIKE $2 ESCAPE '\\'", format!("%{}%", like_escape(n))),
    };
    let sql = format!(
        "SELECT uscc, name, kind, legal_rep, county_code, township_code, status
         FROM entities
         WHERE county_code LIKE $1 AND {condition}
         ORDER BY length(name), name, uscc
         LIMIT $3"
    );
    let scope = format!("{}%", division::code_prefix(jurisdiction));
    let rows = on_pool!(db, |pool| {
        sqlx::query_as::<_, EntitySummary>(&sql)
            .bind(&scope)
            .bind(&value)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .context("searching entities")?
    });
    Ok(rows)
}

pub async fn count(db: &Db) -> Result<i64, StoreError> {
    let n: i64 = on_pool!(db, |pool| {
        sqlx::query_scalar("SELECT COUNT(*) FROM entities")
            .fetch_one(pool)
            .await
            .context("counting entities")?
    });
    Ok(n)
}

/// The roster row for `uscc`, as needed for L2 matching.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RosterMatch {
    pub id: i64,
    pub name: String,
    pub legal_rep: String,
    pub county_code: String,
    pub status: String,
}

pub async fn by_uscc(db: &Db, uscc: &str) -> Result<Option<RosterMatch>, StoreError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as::<_, RosterMatch>(
            "SELECT id, name, legal_rep, county_code, status FROM entities WHERE uscc = $1",
        )
        .bind(uscc)
        .fetch_optional(pool)
        .await
        .context("finding an entity by USCC")?
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_row_sql_has_one_placeholder_per_value() {
        let sql = multi_row_insert_sql(2, UPSERT_TAIL);
        // The roster's columns, then the read model's department and stage as constants.
        let row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 'not_started')";
        assert!(
            sql.contains(&format!("VALUES {row}, {row}\n ON CONFLICT")),
            "{sql}"
        );
        assert_eq!(sql.matches('?').count(), 2 * COLUMN_COUNT);
        assert!(!multi_row_insert_sql(1, "").contains("ON CONFLICT"));
    }

    #[test]
    fn copy_csv_quotes_values_and_leaves_null_empty() {
        let mut buf = String::new();
        push_copy_csv_line(&mut buf, &[Some("a\"b"), None, Some(""), Some("x,y")]);
        assert_eq!(buf, "\"a\"\"b\",,\"\",\"x,y\"\n");
    }

    #[test]
    fn search_terms_are_classified() {
        assert_eq!(SearchTerm::parse("  "), None);
        assert!(
            matches!(SearchTerm::parse("91220322"), Some(SearchTerm::UsccPrefix(p)) if p == "91220322")
        );
        assert!(
            matches!(SearchTerm::parse("梨树 粮食"), Some(SearchTerm::Name(n)) if n == "梨树 粮食")
        );
        assert!(matches!(
            SearchTerm::parse("abc"),
            Some(SearchTerm::Name(_))
        ));
    }
}

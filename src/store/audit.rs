//! The audit log: one row per state change or view of full personal data, hash-chained.
//!
//! Each row stores `prev_hash`, the `hash` of the row before it (64 zeros for the first), and its
//! own `hash` = SHA-256 over `prev_hash` and its fields (see [`chain_hash`]). Editing, inserting or
//! removing a row in the middle breaks the link at or after it, which [`verify`] reports. The
//! database also refuses UPDATE and DELETE outright (triggers in the `0002` migration), and
//! `prev_hash` is UNIQUE, so two writers can never both extend the same head.
//!
//! Rows are written inside the caller's transaction, so an audit row exists exactly when the
//! state change it describes was committed.
//!
//! `detail` is JSON about the change (codes, states, versions, ids), never personal data:
//! the log is append-only, so anything written here can never be erased.

use std::fmt::Write as _;

use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, SqliteConnection};
use time::{OffsetDateTime, UtcOffset};

use crate::on_pool;

use super::connection::for_each_connection;
use super::{Context, Db, Engine, StoreError};

/// `prev_hash` of the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// PostgreSQL advisory lock serialising appends (transaction-scoped): "xydaudit" in ASCII.
const PG_CHAIN_LOCK: i64 = 0x7879_6461_7564_6974;

/// Prefix of the hashed bytes, so a chain hash can never equal a hash of anything else.
const HASH_DOMAIN: &[u8] = b"xinyidai audit v1\0";

/// Rows read per query by [`verify`].
const VERIFY_PAGE: i64 = 1000;

/// One audit row as the caller describes it.
#[derive(Debug, Clone)]
pub struct AuditEntry<'a> {
    /// Who acted: `"account:12"`, `"system"`, `"cli"`.
    pub actor: &'a str,
    /// What happened: `"registration.submitted"`.
    pub action: &'a str,
    /// What it happened to: `"registration:5"`.
    pub subject: &'a str,
    /// Facts about the change; no personal data (names, ID numbers, phones, emails, IPs).
    pub detail: Value,
}

/// A connection that can extend the chain: implemented for both engines' connections, so a
/// block inside [`on_pool!`] can call [`append`] on `&mut *tx` whatever the engine.
pub trait AuditConnection {
    /// See [`append_all`].
    fn append_audit(
        &mut self,
        entries: &[AuditEntry<'_>],
        at: OffsetDateTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Appends `entry` at time `at` to the chain, on `conn`: pass the transaction that makes the
/// state change (`&mut *tx`), so both commit or neither does.
///
/// `at` is stored in UTC with microsecond precision (what PostgreSQL keeps); finer digits are
/// dropped before hashing.
///
/// # Errors
/// Database errors; also a unique violation on `prev_hash` if the caller appends outside a write
/// transaction while another writer does too (the chain refuses to fork).
pub async fn append<C: AuditConnection + ?Sized>(
    conn: &mut C,
    entry: &AuditEntry<'_>,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    conn.append_audit(std::slice::from_ref(entry), at).await
}

/// [`append`] for several entries in order: the head is read (and on PostgreSQL the chain
/// locked) once, and the rows go in with multi-row inserts, which is what lets the outbox worker
/// record a batch of answers in one short transaction.
///
/// # Errors
/// As [`append`].
pub async fn append_all<C: AuditConnection + ?Sized>(
    conn: &mut C,
    entries: &[AuditEntry<'_>],
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    conn.append_audit(entries, at).await
}

const HEAD: &str = "SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1";
/// Rows per INSERT: 7 parameters each, well under either engine's limit.
const INSERT_CHUNK: usize = 100;

/// `INSERT … VALUES ($1…$7), ($8…$14), …` for `rows` rows.
fn insert_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO audit_log (at, actor, action, subject, detail, prev_hash, hash) VALUES ",
    );
    for row in 0..rows {
        let base = row * 7;
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for col in 1..=7 {
            if col > 1 {
                sql.push_str(", ");
            }
            sql.push('$');
            sql.push_str(&(base + col).to_string());
        }
        sql.push(')');
    }
    sql
}

/// The rows for `entries`, each chained to the one before, starting from `head`.
fn chain_rows(head: Option<String>, entries: &[AuditEntry<'_>], at: OffsetDateTime) -> Vec<NewRow> {
    let mut prev = head;
    entries
        .iter()
        .map(|entry| {
            let row = NewRow::new(prev.take(), entry, at);
            prev = Some(row.hash.clone());
            row
        })
        .collect()
}

/// Inserting chained rows, on an open connection.
trait AuditRows {
    /// Inserts `rows` (for `entries`) in chunks.
    fn insert_rows(
        &mut self,
        entries: &[AuditEntry<'_>],
        rows: &[NewRow],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

for_each_connection! {
    impl AuditRows for Conn {
        async fn insert_rows(
            &mut self,
            entries: &[AuditEntry<'_>],
            rows: &[NewRow],
        ) -> Result<(), StoreError> {
            for (entries, rows) in entries.chunks(INSERT_CHUNK).zip(rows.chunks(INSERT_CHUNK)) {
                let sql = insert_sql(rows.len());
                let mut query = sqlx::query(&sql);
                for (entry, row) in entries.iter().zip(rows) {
                    // SQLite keeps timestamps as RFC 3339 text: store exactly the hashed form.
                    query = match ENGINE {
                        Engine::Sqlite => query.bind(row.at_text.clone()),
                        Engine::Postgres => query.bind(row.at),
                    };
                    query = query
                        .bind(entry.actor)
                        .bind(entry.action)
                        .bind(entry.subject)
                        .bind(&row.detail)
                        .bind(&row.prev_hash)
                        .bind(&row.hash);
                }
                query
                    .execute(&mut *self)
                    .await
                    .context("appending to the audit log")?;
            }
            Ok(())
        }
    }
}

impl AuditConnection for SqliteConnection {
    /// No lock needed: the caller's `BEGIN IMMEDIATE` already holds SQLite's single write lock,
    /// so nobody else can append between reading the head and inserting.
    async fn append_audit(
        &mut self,
        entries: &[AuditEntry<'_>],
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let head: Option<String> = sqlx::query_scalar(HEAD)
            .fetch_optional(&mut *self)
            .await
            .context("reading the audit chain head")?;
        let rows = chain_rows(head, entries, at);
        self.insert_rows(entries, &rows).await
    }
}

impl AuditConnection for PgConnection {
    /// Concurrent transactions would all read the same head; the advisory lock (released at
    /// commit or rollback) makes them take turns. Under READ COMMITTED the head query after the
    /// lock sees the previous holder's committed row.
    async fn append_audit(
        &mut self,
        entries: &[AuditEntry<'_>],
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(PG_CHAIN_LOCK)
            .execute(&mut *self)
            .await
            .context("locking the audit chain")?;
        let head: Option<String> = sqlx::query_scalar(HEAD)
            .fetch_optional(&mut *self)
            .await
            .context("reading the audit chain head")?;
        let rows = chain_rows(head, entries, at);
        self.insert_rows(entries, &rows).await
    }
}

/// The computed columns of a row about to be inserted.
struct NewRow {
    at: OffsetDateTime,
    at_text: String,
    detail: String,
    prev_hash: String,
    hash: String,
}

impl NewRow {
    fn new(prev: Option<String>, entry: &AuditEntry<'_>, at: OffsetDateTime) -> NewRow {
        let at = to_stored_precision(at);
        let at_text = canonical_time(at);
        let detail = canonical_json(&entry.detail);
        let prev_hash = prev.unwrap_or_else(|| GENESIS.to_owned());
        let hash = chain_hash(&Link {
            prev_hash: &prev_hash,
            at: &at_text,
            actor: entry.actor,
            action: entry.action,
            subject: entry.subject,
            detail: &detail,
        });
        NewRow {
            at,
            at_text,
            detail,
            prev_hash,
            hash,
        }
    }
}

/// The hashed fields of one row. The row id is not among them: ids are the database's, the
/// chain is the content's.
struct Link<'a> {
    prev_hash: &'a str,
    /// [`canonical_time`] form.
    at: &'a str,
    actor: &'a str,
    action: &'a str,
    subject: &'a str,
    /// [`canonical_json`] form, as stored.
    detail: &'a str,
}

/// Lower-case hex SHA-256 of [`HASH_DOMAIN`] then each field as an 8-byte big-endian length and
/// its UTF-8 bytes: length prefixes make the encoding unambiguous whatever the fields contain.
fn chain_hash(link: &Link<'_>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(HASH_DOMAIN);
    for field in [
        link.prev_hash,
        link.at,
        link.actor,
        link.action,
        link.subject,
        link.detail,
    ] {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// UTC, truncated to the microsecond: what a PostgreSQL `TIMESTAMPTZ` round-trips exactly.
fn to_stored_precision(at: OffsetDateTime) -> OffsetDateTime {
    let at = at.to_offset(UtcOffset::UTC);
    at - time::Duration::nanoseconds(i64::from(at.nanosecond() % 1_000))
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`: RFC 3339, UTC, always six fractional digits.
fn canonical_time(at: OffsetDateTime) -> String {
    let at = at.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.microsecond()
    )
}

/// Compact JSON with object keys sorted (by UTF-8 bytes) at every depth, whatever order the
/// `Value` holds them in (serde_json keeps insertion order when `preserve_order` is on).
/// Strings and numbers use serde_json's own formatting.
fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                // `Display` for a `Value` cannot fail; writing to a `String` cannot either.
                let _ = write!(out, "{}", Value::from(key.as_str()));
                out.push(':');
                write_canonical(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => {
            let _ = write!(out, "{scalar}");
        }
    }
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Rows in the log.
    pub rows: u64,
    /// The first row whose `prev_hash` is not the previous row's `hash` (a row was removed or
    /// inserted before it) or whose `hash` does not match its content (the row was altered).
    pub broken_at: Option<i64>,
    /// `hash` of the last row. The chain alone cannot show that rows were cut off its end:
    /// write this down (or publish it) and later check that it is still in the log.
    pub head: Option<String>,
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        self.broken_at.is_none()
    }
}

/// Walks the whole log in id order, recomputing every link. Reads in pages by id, so memory stays
/// flat and no long read transaction holds up writers (or SQLite's checkpoints).
///
/// # Errors
/// Database errors only; a broken chain is a report, not an error.
pub async fn verify(db: &Db) -> Result<VerifyReport, StoreError> {
    // `at` is read as text in the canonical form, so the check hashes what is stored and a
    // mangled SQLite timestamp shows up as a broken link rather than a decoding error.
    let page_sql = match db.engine() {
        Engine::Sqlite => {
            "SELECT id, at, actor, action, subject, detail, prev_hash, hash
             FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2"
        }
        Engine::Postgres => {
            "SELECT id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS at,
                    actor, action, subject, detail, prev_hash, hash
             FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2"
        }
    };
    let mut check = ChainCheck::default();
    let mut after = 0_i64;
    loop {
        let page: Vec<StoredRow> = on_pool!(db, |pool| {
            sqlx::query_as(page_sql)
                .bind(after)
                .bind(VERIFY_PAGE)
                .fetch_all(pool)
                .await
                .context("reading the audit log")?
        });
        let Some(last) = page.last() else { break };
        after = last.id;
        for row in &page {
            check.push(row);
        }
    }
    Ok(check.report())
}

#[derive(sqlx::FromRow)]
struct StoredRow {
    id: i64,
    /// [`canonical_time`] form.
    at: String,
    actor: String,
    action: String,
    subject: String,
    detail: String,
    prev_hash: String,
    hash: String,
}

#[derive(Default)]
struct ChainCheck {
    rows: u64,
    broken_at: Option<i64>,
    head: Option<String>,
}

impl ChainCheck {
    fn push(&mut self, row: &StoredRow) {
        self.rows += 1;
        if self.broken_at.is_none() {
            let expected_prev = self.head.as_deref().unwrap_or(GENESIS);
            let recomputed = chain_hash(&Link {
                prev_hash: &row.prev_hash,
                at: &row.at,
                actor: &row.actor,
                action: &row.action,
                subject: &row.subject,
                detail: &row.detail,
            });
            if row.prev_hash != expected_prev || recomputed != row.hash {
                self.broken_at = Some(row.id);
            }
        }
        self.head = Some(row.hash.clone());
    }

    fn report(self) -> VerifyReport {
        VerifyReport {
            rows: self.rows,
            broken_at: self.broken_at,
            head: self.head,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::datetime;

    use super::*;

    fn link<'a>(prev: &'a str, detail: &'a str) -> Link<'a> {
        Link {
            prev_hash: prev,
            at: "2025-03-01T02:03:04.000005Z",
            actor: "account:12",
            action: "registration.submitted",
            subject: "registration:5",
            detail,
        }
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let a = json!({"b": 1, "a": {"y": [3, {"d": null, "c": "引号\""}], "x": true}});
        assert_eq!(
            canonical_json(&a),
            r#"{"a":{"x":true,"y":[3,{"c":"引号\"","d":null}]},"b":1}"#
        );
        let mut reordered = serde_json::Map::new();
        reordered.insert("b".into(), json!(1));
        reordered.insert("a".into(), a["a"].clone());
        assert_eq!(
            canonical_json(&Value::Object(reordered)),
            canonical_json(&a)
        );
    }

    #[test]
    fn time_is_utc_with_six_digits() {
        let at = datetime!(2025-03-01 10:03:04.123456789 +08:00);
        let stored = to_stored_precision(at);
        assert_eq!(stored.offset(), UtcOffset::UTC);
        assert_eq!(stored.nanosecond(), 123_456_000);
        assert_eq!(canonical_time(stored), "2025-03-01T02:03:04.123456Z");
        assert_eq!(
            canonical_time(datetime!(2025-03-01 02:03:04 UTC)),
            "2025-03-01T02:03:04.000000Z"
        );
    }

    #[test]
    fn hash_covers_every_field_unambiguously() {
        let base = chain_hash(&link(GENESIS, "{}"));
        assert_eq!(base.len(), 64);
        assert_eq!(base, chain_hash(&link(GENESIS, "{}")));
        let changes: [fn(&mut Link<'_>); 6] = [
            |l| l.prev_hash = "1",
            |l| l.at = "2025-03-01T02:03:04.000006Z",
            |l| l.actor = "account:13",
            |l| l.action = "registration.approved",
            |l| l.subject = "registration:6",
            |l| l.detail = "{\"a\":1}",
        ];
        for change in changes {
            let mut l = link(GENESIS, "{}");
            change(&mut l);
            assert_ne!(chain_hash(&l), base);
        }
        // Moving a boundary between fields changes the hash.
        let mut shifted = link(GENESIS, "{}");
        shifted.actor = "account:12r";
        shifted.action = "egistration.submitted";
        assert_ne!(chain_hash(&shifted), base);
    }

    #[test]
    fn chain_check_finds_the_first_broken_row() {
        let rows: Vec<StoredRow> = {
            let mut prev = GENESIS.to_owned();
            (1..=4)
                .map(|id| {
                    let entry = AuditEntry {
                        actor: "system",
                        action: "test.step",
                        subject: "test:1",
                        detail: json!({ "step": id }),
                    };
                    let new =
                        NewRow::new(Some(prev.clone()), &entry, datetime!(2025-03-01 0:00 UTC));
                    prev = new.hash.clone();
                    StoredRow {
                        id,
                        at: new.at_text,
                        actor: entry.actor.into(),
                        action: entry.action.into(),
                        subject: entry.subject.into(),
                        detail: new.detail,
                        prev_hash: new.prev_hash,
                        hash: new.hash,
                    }
                })
                .collect()
        };
        let check = |rows: &[StoredRow]| {
            let mut c = ChainCheck::default();
            rows.iter().for_each(|r| c.push(r));
            c.report()
        };
        let intact = check(&rows);
        assert_eq!(intact.rows, 4);
        assert_eq!(intact.broken_at, None);
        assert_eq!(intact.head.as_deref(), Some(rows[3].hash.as_str()));

        let mut edited = rows;
        edited[2].detail = r#"{"step":9}"#.into();
        assert_eq!(check(&edited).broken_at, Some(3));
        assert_eq!(check(&edited).rows, 4);
        edited.remove(2);
        assert_eq!(
            check(&edited).broken_at,
            Some(4),
            "a gap breaks the next link"
        );
    }
}

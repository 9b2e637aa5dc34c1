//! The simulator's own SQLite file: what it accepted, its counters, its idempotency.

use super::*;

// Storage

pub(super) async fn open_db(path: &str) -> Result<SqlitePool, SimError> {
    let memory = path == "sqlite::memory:" || path == ":memory:";
    let options = if memory {
        SqliteConnectOptions::new().in_memory(true)
    } else {
        let file = path.strip_prefix("sqlite://").unwrap_or(path);
        if let Some(dir) = FsPath::new(file)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            tokio::fs::create_dir_all(dir).await?;
        }
        SqliteConnectOptions::new()
            .filename(file)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL, not FULL: the simulator stands in for someone else's durable store and
            // must not make its own fsyncs the bottleneck of the capacity benchmark.
            .synchronous(SqliteSynchronous::Normal)
    }
    .foreign_keys(true)
    .busy_timeout(Duration::from_secs(10));
    // One connection: every write (counters on each request, the read-compare-write of a
    // registration) is then serialised without SQLITE_BUSY upgrades between connections, and
    // an in-memory database is one database rather than one per connection.
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        // Never retire the connection: for `sqlite::memory:` that would drop the data.
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(options)
        .await?;
    sqlx::raw_sql(SCHEMA).execute(&pool).await?;
    Ok(pool)
}

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sim_entities (
    uscc TEXT PRIMARY KEY,
    platform_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('accepted', 'rejected')),
    reject_code TEXT,
    reject_reason TEXT,
    body TEXT NOT NULL,
    contact_revision INTEGER NOT NULL DEFAULT 0,
    first_seen_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sim_contact_revisions (
    uscc TEXT NOT NULL REFERENCES sim_entities (uscc),
    revision INTEGER NOT NULL,
    mobile TEXT,
    email TEXT,
    applied_at INTEGER NOT NULL,
    PRIMARY KEY (uscc, revision)
);
CREATE TABLE IF NOT EXISTS sim_counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO sim_counters (name, value) VALUES
    ('received', 0), ('accepted', 0), ('duplicates', 0), ('updates', 0),
    ('rejected', 0), ('refused_auth', 0), ('faults_injected', 0), ('contacts', 0);
";

#[derive(Debug, Clone, Copy)]
pub(super) enum Counter {
    Received,
    Accepted,
    Duplicates,
    Updates,
    Contacts,
    Rejected,
    RefusedAuth,
    FaultsInjected,
}

impl Counter {
    pub(super) const fn name(self) -> &'static str {
        match self {
            Counter::Received => "received",
            Counter::Accepted => "accepted",
            Counter::Duplicates => "duplicates",
            Counter::Updates => "updates",
            Counter::Contacts => "contacts",
            Counter::Rejected => "rejected",
            Counter::RefusedAuth => "refused_auth",
            Counter::FaultsInjected => "faults_injected",
        }
    }
}

pub(super) async fn bump<'e, E>(executor: E, counter: Counter) -> Result<(), sqlx::Error>
where
    E: sqlx::Executor<'e, Database = Sqlite>,
{
    sqlx::query("UPDATE sim_counters SET value = value + 1 WHERE name = ?")
        .bind(counter.name())
        .execute(executor)
        .await?;
    Ok(())
}

pub(super) async fn read_stats(pool: &SqlitePool) -> Result<SimStats, sqlx::Error> {
    let rows: Vec<(String, i64)> = sqlx::query_as("SELECT name, value FROM sim_counters")
        .fetch_all(pool)
        .await?;
    let mut stats = SimStats::default();
    for (name, value) in rows {
        // Counters only ever grow from zero, so a negative value cannot occur; clamp anyway.
        let value = u64::try_from(value).unwrap_or(0);
        match name.as_str() {
            "received" => stats.received = value,
            "accepted" => stats.accepted = value,
            "duplicates" => stats.duplicates = value,
            "updates" => stats.updates = value,
            "contacts" => stats.contacts = value,
            "rejected" => stats.rejected = value,
            "refused_auth" => stats.refused_auth = value,
            "faults_injected" => stats.faults_injected = value,
            _ => {}
        }
    }
    Ok(stats)
}

/// The platform id is derived from the USCC so that it is stable across resubmissions and
/// simulator restarts without a sequence to keep.
pub(super) fn platform_id(uscc: &str) -> String {
    let digest = signing::body_digest(SignatureMethod::HmacSha256, uscc.as_bytes());
    format!("SIM-{}", &digest[..16])
}

pub(super) enum RegisterOutcome {
    Accepted,
    Duplicate,
    Updated,
    Rejected { code: String, message: String },
}

pub(super) async fn store_registration(
    pool: &SqlitePool,
    uscc: &str,
    body: &Value,
    rejection: Option<&(String, String)>,
) -> Result<RegisterOutcome, sqlx::Error> {
    let now = now_unix();
    let text = body.to_string();
    let mut tx = pool.begin().await?;
    let existing: Option<(String, String)> =
        sqlx::query_as("SELECT status, body FROM sim_entities WHERE uscc = ?")
            .bind(uscc)
            .fetch_optional(&mut *tx)
            .await?;
    let outcome = if let Some((code, message)) = rejection {
        sqlx::query(
            "INSERT INTO sim_entities
                 (uscc, platform_id, status, reject_code, reject_reason, body, first_seen_at, updated_at)
             VALUES (?, ?, 'rejected', ?, ?, ?, ?, ?)
             ON CONFLICT (uscc) DO UPDATE SET status = 'rejected', reject_code = excluded.reject_code,
                 reject_reason = excluded.reject_reason, body = excluded.body,
                 updated_at = excluded.updated_at",
        )
        .bind(uscc)
        .bind(platform_id(uscc))
        .bind(code)
        .bind(message)
        .bind(&text)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        RegisterOutcome::Rejected {
            code: code.clone(),
            message: message.clone(),
        }
    } else {
        match existing {
            Some((status, stored)) if status == "accepted" => {
                // Compare as JSON values, not text: key order and spacing are not content.
                let same = serde_json::from_str::<Value>(&stored).is_ok_and(|v| v == *body);
                if same {
                    RegisterOutcome::Duplicate
                } else {
                    sqlx::query("UPDATE sim_entities SET body = ?, updated_at = ? WHERE uscc = ?")
                        .bind(&text)
                        .bind(now)
                        .bind(uscc)
                        .execute(&mut *tx)
                        .await?;
                    RegisterOutcome::Updated
                }
            }
            // New, or rejected before under another configuration: now it is accepted, once.
            _ => {
                sqlx::query(
                    "INSERT INTO sim_entities
                         (uscc, platform_id, status, body, first_seen_at, updated_at)
                     VALUES (?, ?, 'accepted', ?, ?, ?)
                     ON CONFLICT (uscc) DO UPDATE SET status = 'accepted', reject_code = NULL,
                         reject_reason = NULL, body = excluded.body,
                         updated_at = excluded.updated_at",
                )
                .bind(uscc)
                .bind(platform_id(uscc))
                .bind(&text)
                .bind(now)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                RegisterOutcome::Accepted
            }
        }
    };
    let counter = match outcome {
        RegisterOutcome::Accepted => Counter::Accepted,
        RegisterOutcome::Duplicate => Counter::Duplicates,
        RegisterOutcome::Updated => Counter::Updates,
        RegisterOutcome::Rejected { .. } => Counter::Rejected,
    };
    // Same transaction as the record, so the counts can never disagree with the table.
    bump(&mut *tx, counter).await?;
    tx.commit().await?;
    Ok(outcome)
}

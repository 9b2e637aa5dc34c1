//! Storage: one set of SQL for SQLite and PostgreSQL.
//!
//! Queries are runtime `sqlx::query` strings with `$1…$n` placeholders, which both engines accept.
//! [`on_pool!`] expands a block once per engine, so the same code is type-checked against each
//! driver. The few paths that differ (bulk loading) say so where they branch.

pub mod accounts;
pub mod agreements;
pub mod assignment_sql;
pub mod assignments;
pub mod audit;
pub mod campaigns;
mod connection;
pub mod departments;
pub mod digests;
pub mod divisions;
pub mod entities;
pub mod league;
pub mod outbox;
pub mod outreach;
pub mod progress;
pub mod reconciliations;
pub mod registrations;
pub mod review;
pub mod sync_admin;
mod text_column;
pub mod workspace;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};
use thiserror::Error;

use crate::config::DatabaseUrl;

/// Runs `$body` with `$pool` bound to the concrete pool of whichever engine `$db` holds.
#[macro_export]
macro_rules! on_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite($pool) => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database error while {context}")]
    Sqlx {
        context: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("could not prepare the database directory {path}")]
    Directory {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    pub fn from_sqlx(context: &'static str, source: sqlx::Error) -> StoreError {
        StoreError::Sqlx { context, source }
    }
}

/// Attaches a short description of what we were doing to a driver error.
pub trait Context<T> {
    fn context(self, what: &'static str) -> Result<T, StoreError>;
}

impl<T> Context<T> for Result<T, sqlx::Error> {
    fn context(self, what: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Sqlx {
            context: what,
            source,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
        }
    }
}

/// A connection pool on one of the two supported engines.
#[derive(Debug, Clone)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Opens a write transaction the way each engine needs it.
pub trait WritePool {
    type Database: sqlx::Database;
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<Transaction<'static, Self::Database>, sqlx::Error>> + Send;
}

impl WritePool for SqlitePool {
    type Database = Sqlite;
    /// `BEGIN IMMEDIATE` takes the write lock up front: a deferred transaction that reads first
    /// can fail with "database is locked" when it later writes, whatever the busy timeout.
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<Transaction<'static, Sqlite>, sqlx::Error>> + Send {
        self.begin_with("BEGIN IMMEDIATE")
    }
}

impl WritePool for PgPool {
    type Database = Postgres;
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<Transaction<'static, Postgres>, sqlx::Error>> + Send {
        self.begin()
    }
}

impl Db {
    /// Connects without touching the schema.
    pub async fn connect(url: &DatabaseUrl, max_connections: u32) -> Result<Db, StoreError> {
        if url.is_postgres() {
            let options = PgConnectOptions::from_str(url.expose())
                .context("reading DATABASE_URL")?
                .application_name("xinyidai");
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await
                .context("connecting to PostgreSQL")?;
            return Ok(Db::Postgres(pool));
        }
        let options = SqliteConnectOptions::from_str(url.expose())
            .context("reading DATABASE_URL")?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // FULL: an acknowledged registration survives a power cut, not only a crash.
            .synchronous(SqliteSynchronous::Full)
            // 64 MiB of page cache per connection: a roster batch's dirty pages then stay in
            // memory until commit instead of spilling into the WAL mid-transaction.
            .pragma("cache_size", "-65536")
            // Larger pages: a batch rewrites most index pages, and each page is one write call.
            .page_size(16384)
            .pragma("wal_autocheckpoint", "4096");
        if let Some(dir) = options
            .get_filename()
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            create_dir(dir)?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await
            .context("opening the SQLite database")?;
        Ok(Db::Sqlite(pool))
    }

    /// Connects, applies pending migrations and the division seed.
    pub async fn open(url: &DatabaseUrl, max_connections: u32) -> Result<Db, StoreError> {
        let db = Db::connect(url, max_connections).await?;
        db.migrate().await?;
        Ok(db)
    }

    pub fn engine(&self) -> Engine {
        match self {
            Db::Sqlite(_) => Engine::Sqlite,
            Db::Postgres(_) => Engine::Postgres,
        }
    }

    /// Forward-only migrations, one folder per engine, embedded in the binary.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Db::Sqlite(pool) => sqlx::migrate!("migrations/sqlite").run(pool).await?,
            Db::Postgres(pool) => sqlx::migrate!("migrations/postgres").run(pool).await?,
        }
        divisions::seed(self, &crate::domain::division::DivisionTree::seed()).await?;
        agreements::ensure_built_in(self).await
    }

    /// Cheap round trip for `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query("SELECT 1")
                .execute(pool)
                .await
                .context("checking the database")?;
        });
        Ok(())
    }

    pub async fn close(&self) {
        on_pool!(self, |pool| pool.close().await)
    }
}

fn create_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::create_dir_all(dir).map_err(|source| StoreError::Directory {
        path: dir.display().to_string(),
        source,
    })
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
pub fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_match_wildcards_literally() {
        assert_eq!(like_escape("50%_a\\b"), "50\\%\\_a\\\\b");
        assert_eq!(like_escape("梨树"), "梨树");
    }
}

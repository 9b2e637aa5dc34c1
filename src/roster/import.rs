//! `import-roster`: stream a roster file through the row rules into the database.
//!
//! A reader thread parses and checks rows while the async side writes the previous batch, so the
//! two cores overlap. Each batch is one transaction: an interrupted import leaves whole batches,
//! and a rerun upserts the same rows again without changing anything.

use std::path::{Path, PathBuf};

use indicatif::ProgressBar;
use tokio::sync::mpsc;

use crate::domain::division::DivisionTree;
use crate::store::{self, Db, StoreError};

use super::rejects::RejectsWriter;
use super::row::RowValidator;
use super::source::{RosterFile, SourceError};
use crate::domain::roster_entry::RosterEntry;

#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Division code of the jurisdiction the file belongs to (a county or a city).
    pub scope: String,
    /// Rows per transaction.
    pub batch_size: usize,
    /// Where rejected rows go, with the original cells and a reason.
    pub rejects: Option<PathBuf>,
    /// "Today" for date checks (founded dates in the future are rejected).
    pub today: time::Date,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub accepted: u64,
    pub rejected: u64,
    /// Rows inserted or changed; 0 when the same file is imported again.
    pub changed: u64,
    pub encoding: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    Source(#[from] SourceError),
    #[error("辖区代码“{0}”不在行政区划表中")]
    UnknownScope(String),
    #[error("无法写入拒绝行文件“{path}”：{source}")]
    Rejects {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("写入数据库失败")]
    Store(#[from] StoreError),
    #[error("读取线程意外退出")]
    ReaderPanicked,
}

struct Batch {
    entries: Vec<RosterEntry>,
    /// Rows read (accepted or not) since the previous batch, for the progress bar.
    rows_read: u64,
}

struct ReaderOutcome {
    accepted: u64,
    rejected: u64,
}

/// Imports `path` into `db`. `progress` gets its length set and advances per row read.
pub async fn import_file(
    db: &Db,
    tree: &DivisionTree,
    path: &Path,
    options: &ImportOptions,
    progress: &ProgressBar,
) -> Result<ImportSummary, ImportError> {
    if tree.get(&options.scope).is_none() {
        return Err(ImportError::UnknownScope(options.scope.clone()));
    }
    let file = {
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || RosterFile::open(&path))
            .await
            .map_err(|_| ImportError::ReaderPanicked)??
    };
    let encoding = file.encoding();
    if let Some(rows) = file.row_count_hint() {
        progress.set_length(rows);
    }
    let rejects = match &options.rejects {
        Some(path) => Some(
            RejectsWriter::create(path, file.headers()).map_err(|source| ImportError::Rejects {
                path: path.clone(),
                source,
            })?,
        ),
        None => None,
    };

    // Two batches in flight: one being written, one ready. Bounded so memory stays flat.
    let (tx, mut rx) = mpsc::channel::<Batch>(2);
    let reader = {
        let tree = tree.clone();
        let options = options.clone();
        tokio::task::spawn_blocking(move || read_and_check(file, &tree, &options, rejects, &tx))
    };

    let mut changed = 0;
    let mut write_error = None;
    while let Some(batch) = rx.recv().await {
        match store::entities::upsert_batch(db, &batch.entries).await {
            Ok(n) => changed += n,
            Err(err) => {
                write_error = Some(err);
                break;
            }
        }
        progress.inc(batch.rows_read);
    }
    // Dropping the receiver makes the reader's next send fail, so it stops early on error.
    drop(rx);
    let outcome = reader.await.map_err(|_| ImportError::ReaderPanicked)?;
    if let Some(err) = write_error {
        return Err(err.into());
    }
    let outcome = outcome?;
    Ok(ImportSummary {
        accepted: outcome.accepted,
        rejected: outcome.rejected,
        changed,
        encoding,
    })
}

fn read_and_check(
    file: RosterFile,
    tree: &DivisionTree,
    options: &ImportOptions,
    mut rejects: Option<RejectsWriter>,
    tx: &mpsc::Sender<Batch>,
) -> Result<ReaderOutcome, ImportError> {
    let rejects_path = options.rejects.clone().unwrap_or_default();
    let rejects_error = |source| ImportError::Rejects {
        path: rejects_path.clone(),
        source,
    };
    let mut validator = RowValidator::new(tree, &options.scope, options.today);
    // Size the duplicate index once instead of regrowing it through a million rows.
    validator.reserve(file.row_count_hint().unwrap_or(0));
    let batch_size = options.batch_size.max(1);
    let mut outcome = ReaderOutcome {
        accepted: 0,
        rejected: 0,
    };
    let mut batch = Batch {
        entries: Vec::with_capacity(batch_size),
        rows_read: 0,
    };
    for row in file {
        batch.rows_read += 1;
        let rejected = match row {
            Ok(row) => match validator.check(row.line, &row.fields) {
                Ok(entry) => {
                    batch.entries.push(entry);
                    None
                }
                Err(rejection) => Some((row.original, format!("第{}行：{rejection}", row.line))),
            },
            Err(SourceError::MalformedRow {
                line,
                original,
                reason,
            }) => Some((original, format!("第{line}行：{reason}"))),
            Err(fatal) => return Err(fatal.into()),
        };
        if let Some((original, reason)) = rejected {
            outcome.rejected += 1;
            if let Some(w) = rejects.as_mut() {
                w.write(&original, &reason).map_err(rejects_error)?;
            }
        }
        if batch.entries.len() >= batch_size {
            outcome.accepted += batch.entries.len() as u64;
            let full = std::mem::replace(
                &mut batch,
                Batch {
                    entries: Vec::with_capacity(batch_size),
                    rows_read: 0,
                },
            );
            if tx.blocking_send(full).is_err() {
                // The writer stopped on an error; it reports it.
                return Ok(outcome);
            }
        }
    }
    outcome.accepted += batch.entries.len() as u64;
    if !batch.entries.is_empty() || batch.rows_read > 0 {
        let _ = tx.blocking_send(batch);
    }
    if let Some(w) = rejects {
        w.finish().map_err(rejects_error)?;
    }
    Ok(outcome)
}

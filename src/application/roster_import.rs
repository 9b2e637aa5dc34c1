//! Importing a county's roster file: the rows, then — when the county assigns responsible
//! departments by rules — the rules again, so new or moved entities get their department at
//! once. A county without rules has not started assigning yet, and is left alone.

use std::path::Path;

use indicatif::ProgressBar;

use crate::domain::division::{DivisionTree, Level};
use crate::roster::import::{self, ImportError, ImportOptions, ImportSummary};
use crate::store::assignments::{self, ApplyReport};
use crate::store::{Db, StoreError};

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterImported {
    pub summary: ImportSummary,
    /// The assignment rules' run after the import: `None` when no row changed, or the scope is
    /// not a county, or the county has no rules.
    pub reassigned: Option<ApplyReport>,
}

#[derive(Debug, thiserror::Error)]
pub enum RosterImportError {
    /// The rows could not be imported; no rule ran.
    #[error(transparent)]
    Import(#[from] ImportError),
    /// The rows are in; reading the county's rules failed.
    #[error(transparent)]
    Rules(StoreError),
    /// The rows are in; applying the county's rules failed.
    #[error("applying the assignment rules after the import")]
    Reassign(#[source] StoreError),
}

/// Imports `path` into `db` (see [`import::import_file`]), then re-applies the scope's
/// assignment rules, audited as `actor`'s, if any row was inserted or changed. `progress`
/// covers the rows: it is finished and cleared when they are in, before the rules run.
///
/// # Errors
/// [`RosterImportError`]: which step failed; batches already written stay.
pub async fn import_roster(
    db: &Db,
    tree: &DivisionTree,
    path: &Path,
    options: &ImportOptions,
    progress: &ProgressBar,
    actor: &str,
) -> Result<RosterImported, RosterImportError> {
    let summary = import::import_file(db, tree, path, options, progress).await;
    progress.finish_and_clear();
    let summary = summary?;
    let reassigned = if summary.changed > 0 {
        reapply_rules(db, tree, &options.scope, actor).await?
    } else {
        None
    };
    Ok(RosterImported {
        summary,
        reassigned,
    })
}

/// Applies the rules of `scope` when it is a county that has some.
async fn reapply_rules(
    db: &Db,
    tree: &DivisionTree,
    scope: &str,
    actor: &str,
) -> Result<Option<ApplyReport>, RosterImportError> {
    if tree.get(scope).map(|d| d.level) != Some(Level::County)
        || assignments::list_rules(db, scope)
            .await
            .map_err(RosterImportError::Rules)?
            .is_empty()
    {
        return Ok(None);
    }
    let report = assignments::apply_rules(db, scope, actor)
        .await
        .map_err(RosterImportError::Reassign)?;
    Ok(Some(report))
}

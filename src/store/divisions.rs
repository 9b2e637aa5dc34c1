//! The division tree as stored: seeded from code, read back whole (it is small).

use crate::domain::division::{Division, DivisionTree, Level};
use crate::on_pool;

use super::{Context, Db, StoreError, WritePool};

/// Upserts every division of `tree`, parents first, in one transaction.
pub async fn seed(db: &Db, tree: &DivisionTree) -> Result<(), StoreError> {
    on_pool!(db, |pool| {
        let mut tx = pool
            .begin_write()
            .await
            .context("starting the division seed")?;
        for d in tree.iter_ordered() {
            sqlx::query(
                r#"INSERT INTO divisions (code, name, level, parent_code) VALUES ($1, $2, $3, $4)
                   ON CONFLICT (code) DO UPDATE
                   SET name = excluded.name, level = excluded.level, parent_code = excluded.parent_code
                   WHERE (divisions.name, divisions.level, divisions.parent_code)
                         IS DISTINCT FROM (excluded.name, excluded.level, excluded.parent_code)"#,
            )
            .bind(&d.code)
            .bind(&d.name)
            .bind(d.level.as_str())
            .bind(&d.parent)
            .execute(&mut *tx)
            .await
            .context("seeding divisions")?;
        }
        tx.commit().await.context("committing the division seed")?;
    });
    Ok(())
}

pub async fn load(db: &Db) -> Result<DivisionTree, StoreError> {
    let rows: Vec<(String, String, String, Option<String>)> = on_pool!(db, |pool| {
        sqlx::query_as("SELECT code, name, level, parent_code FROM divisions")
            .fetch_all(pool)
            .await
            .context("loading divisions")?
    });
    Ok(DivisionTree::from_divisions(rows.into_iter().filter_map(
        |(code, name, level, parent)| {
            Some(Division {
                code,
                name,
                level: Level::parse(&level)?,
                parent,
            })
        },
    )))
}

//! Responsible departments (责任部门): bureaus, townships and financial institutions.

use crate::domain::division::{DivisionTree, Level};
use crate::on_pool;

use super::{Context, Db, StoreError, WritePool};

/// The bureaus every county deployment starts with (the county's meeting named them).
pub const STANDARD_BUREAUS: &[&str] = &[
    "发改局",
    "市场监管局",
    "税务局",
    "农业农村局",
    "商务局",
    "工信局",
    "人社局",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepartmentKind {
    Bureau,
    Township,
    Financial,
}

impl DepartmentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DepartmentKind::Bureau => "bureau",
            DepartmentKind::Township => "township",
            DepartmentKind::Financial => "financial",
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Department {
    pub id: i64,
    pub county_code: String,
    pub name: String,
    pub kind: String,
    pub township_code: Option<String>,
}

/// Creates the standard bureaus and one department per township of `county_code`;
/// running it again changes nothing. Returns how many departments the county has.
pub async fn seed_county(
    db: &Db,
    tree: &DivisionTree,
    county_code: &str,
) -> Result<usize, StoreError> {
    let mut wanted: Vec<(String, DepartmentKind, Option<String>)> = STANDARD_BUREAUS
        .iter()
        .map(|name| ((*name).to_owned(), DepartmentKind::Bureau, None))
        .collect();
    wanted.extend(
        tree.children(county_code)
            .filter(|d| d.level == Level::Township)
            .map(|d| {
                (
                    d.name.clone(),
                    DepartmentKind::Township,
                    Some(d.code.clone()),
                )
            }),
    );
    on_pool!(db, |pool| {
        let mut tx = pool
            .begin_write()
            .await
            .context("starting the department seed")?;
        for (name, kind, township) in &wanted {
            sqlx::query(
                "INSERT INTO departments (county_code, name, kind, township_code)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (county_code, name) DO NOTHING",
            )
            .bind(county_code)
            .bind(name)
            .bind(kind.as_str())
            .bind(township)
            .execute(&mut *tx)
            .await
            .context("seeding departments")?;
        }
        tx.commit()
            .await
            .context("committing the department seed")?;
    });
    Ok(list(db, county_code).await?.len())
}

pub async fn list(db: &Db, county_code: &str) -> Result<Vec<Department>, StoreError> {
    let rows = on_pool!(db, |pool| {
        sqlx::query_as::<_, Department>(
            "SELECT id, county_code, name, kind, township_code FROM departments
             WHERE county_code = $1 ORDER BY kind, COALESCE(township_code, ''), id",
        )
        .bind(county_code)
        .fetch_all(pool)
        .await
        .context("listing departments")?
    });
    Ok(rows)
}

//! Responsible departments (责任部门): bureaus, townships and financial institutions.

use crate::domain::division::{DivisionTree, Level};
use crate::on_pool;

use super::audit::{self, AuditEntry};

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

    pub const ALL: [DepartmentKind; 3] = [
        DepartmentKind::Bureau,
        DepartmentKind::Township,
        DepartmentKind::Financial,
    ];

    pub fn parse(code: &str) -> Option<DepartmentKind> {
        DepartmentKind::ALL.into_iter().find(|k| k.as_str() == code)
    }

    /// The kind in the admin's words.
    pub fn label_zh(self) -> &'static str {
        match self {
            DepartmentKind::Bureau => "县直部门",
            DepartmentKind::Township => "乡镇",
            DepartmentKind::Financial => "金融机构主管（金融办）",
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
    let wanted = standard_departments(tree, county_code);
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

/// The standard bureaus and one department per township of the county: (name, kind, township).
fn standard_departments(
    tree: &DivisionTree,
    county_code: &str,
) -> Vec<(String, DepartmentKind, Option<String>)> {
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
    wanted
}

/// [`seed_county`] for an admin in the browser: adds the standard departments the county lacks
/// and audits how many, in the same transaction. Returns how many were added.
pub async fn seed_county_audited(
    db: &Db,
    tree: &DivisionTree,
    county_code: &str,
    actor: &str,
) -> Result<u64, StoreError> {
    let wanted = standard_departments(tree, county_code);
    let now = time::OffsetDateTime::now_utc();
    Ok(on_pool!(db, |pool| {
        let mut tx = pool
            .begin_write()
            .await
            .context("starting the department seed")?;
        let mut added = 0;
        for (name, kind, township) in &wanted {
            added += sqlx::query(
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
            .context("seeding departments")?
            .rows_affected();
        }
        if added > 0 {
            audit::append(
                &mut *tx,
                &AuditEntry {
                    actor,
                    action: "department.seeded",
                    subject: &format!("county:{county_code}"),
                    detail: serde_json::json!({ "added": added }),
                },
                now,
            )
            .await?;
        }
        tx.commit()
            .await
            .context("committing the department seed")?;
        added
    }))
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

/// Why a new department was refused; the messages are shown to the admin as they are.
#[derive(Debug, thiserror::Error)]
pub enum CreateDepartmentError {
    #[error("本县已有名为“{0}”的部门，请换一个名称")]
    NameTaken(String),
    #[error("乡镇代码 {0} 不是本县的乡镇")]
    NotATownship(String),
    #[error("乡镇 {0} 已有责任部门“{1}”")]
    TownshipTaken(String, String),
    /// A township department needs its township; no other kind may have one.
    #[error("只有乡镇类部门需要乡镇代码")]
    TownshipMismatch,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A department to add to a county (name already trimmed and checked for length by the caller).
#[derive(Debug)]
pub struct NewDepartment<'a> {
    pub county_code: &'a str,
    pub name: &'a str,
    pub kind: DepartmentKind,
    pub township_code: Option<&'a str>,
    /// Who adds it, for the audit log: `cli` or `account:N`.
    pub actor: &'a str,
}

/// Adds a department to a county, audited. A township department must name a township of the
/// county that has no department yet. Returns the new id.
pub async fn create(db: &Db, new: &NewDepartment<'_>) -> Result<i64, CreateDepartmentError> {
    if (new.kind == DepartmentKind::Township) != new.township_code.is_some() {
        return Err(CreateDepartmentError::TownshipMismatch);
    }
    let now = time::OffsetDateTime::now_utc();
    Ok(on_pool!(db, |pool| {
        let mut tx = pool
            .begin_write()
            .await
            .context("starting to add a department")?;
        let taken: Option<i64> =
            sqlx::query_scalar("SELECT id FROM departments WHERE county_code = $1 AND name = $2")
                .bind(new.county_code)
                .bind(new.name)
                .fetch_optional(&mut *tx)
                .await
                .context("checking a department name")?;
        if taken.is_some() {
            return Err(CreateDepartmentError::NameTaken(new.name.to_owned()));
        }
        if let Some(code) = new.township_code {
            let township: Option<String> = sqlx::query_scalar(
                "SELECT code FROM divisions
                 WHERE code = $1 AND parent_code = $2 AND level = 'township'",
            )
            .bind(code)
            .bind(new.county_code)
            .fetch_optional(&mut *tx)
            .await
            .context("checking a township code")?;
            if township.is_none() {
                return Err(CreateDepartmentError::NotATownship(code.to_owned()));
            }
            let holder: Option<String> = sqlx::query_scalar(
                "SELECT name FROM departments WHERE county_code = $1 AND township_code = $2",
            )
            .bind(new.county_code)
            .bind(code)
            .fetch_optional(&mut *tx)
            .await
            .context("checking a township's department")?;
            if let Some(holder) = holder {
                return Err(CreateDepartmentError::TownshipTaken(
                    code.to_owned(),
                    holder,
                ));
            }
        }
        let id: i64 = match sqlx::query_scalar(
            "INSERT INTO departments (county_code, name, kind, township_code)
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(new.county_code)
        .bind(new.name)
        .bind(new.kind.as_str())
        .bind(new.township_code)
        .fetch_one(&mut *tx)
        .await
        {
            Ok(id) => id,
            // Checked above; a concurrent add of the same name lands here.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(CreateDepartmentError::NameTaken(new.name.to_owned()));
            }
            Err(e) => return Err(StoreError::from_sqlx("adding a department", e).into()),
        };
        audit::append(
            &mut *tx,
            &AuditEntry {
                actor: new.actor,
                action: "department.created",
                subject: &format!("department:{id}"),
                detail: serde_json::json!({
                    "county": new.county_code,
                    "kind": new.kind.as_str(),
                    "township": new.township_code,
                }),
            },
            now,
        )
        .await?;
        tx.commit().await.context("committing a new department")?;
        id
    }))
}

/// Enabled staff accounts per department of the county: (department id, count).
pub async fn staff_counts(db: &Db, county_code: &str) -> Result<Vec<(i64, i64)>, StoreError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as(
            "SELECT a.department_id, COUNT(*) FROM accounts a
             JOIN departments d ON d.id = a.department_id
             WHERE d.county_code = $1 AND a.role = 'staff' AND a.disabled_at IS NULL
             GROUP BY a.department_id",
        )
        .bind(county_code)
        .fetch_all(pool)
        .await
        .context("counting staff per department")?
    }))
}

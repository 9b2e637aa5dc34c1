//! Campaigns: a referral code per leaflet run or LED screen, owned by a department. A
//! registration made through the code (`registrations.referral_code`) is credited to the
//! campaign; visits to the start page with the code are counted per Beijing day.
//!
//! Every read for staff takes the department id, so another department's campaign is not found.

use time::{Date, OffsetDateTime};

use crate::domain::calendar;
use crate::on_pool;

use super::audit::{self, AuditEntry};
use super::progress::{STAGE_SQL, Stage};
use super::{Context, Db, StoreError, WritePool as _};

/// Letters and digits nobody misreads on a leaflet or types wrong: no 0/O, 1/I/L.
pub const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
pub const CODE_MIN: usize = 6;
pub const CODE_MAX: usize = 8;
/// Fresh codes tried before giving up; after a few collisions the codes get longer.
const CODE_ATTEMPTS: usize = 9;

/// A code of `len` characters from [`CODE_ALPHABET`].
pub fn new_code(len: usize) -> String {
    (0..len)
        .map(|_| {
            let i = rand::random_range(0..CODE_ALPHABET.len());
            char::from(CODE_ALPHABET[i])
        })
        .collect()
}

/// Whether `code` looks like a campaign code (before asking the database).
pub fn is_code(code: &str) -> bool {
    (CODE_MIN..=CODE_MAX).contains(&code.len()) && code.bytes().all(|b| CODE_ALPHABET.contains(&b))
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Campaign {
    pub id: i64,
    pub department_id: i64,
    pub department_name: String,
    pub county_code: String,
    pub code: String,
    pub name: String,
    pub slogan: String,
    pub created_by: i64,
    pub created_at: OffsetDateTime,
    pub ended_at: Option<OffsetDateTime>,
}

impl Campaign {
    pub fn is_ended(&self) -> bool {
        self.ended_at.is_some()
    }
}

/// A campaign with what came of it so far.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CampaignTotals {
    #[sqlx(flatten)]
    pub campaign: Campaign,
    pub visits: i64,
    pub registrations: i64,
    /// Registrations through the code that the province has accepted.
    pub onboarded: i64,
}

/// One campaign row with its totals; `{filter}` is the WHERE clause.
fn select_totals(filter: &str) -> String {
    format!(
        "SELECT c.id, c.department_id, d.name AS department_name, d.county_code, c.code, c.name,
                c.slogan, c.created_by, c.created_at, c.ended_at,
                CAST(COALESCE((SELECT SUM(v.visits) FROM campaign_visits v
                               WHERE v.campaign_id = c.id), 0) AS BIGINT) AS visits,
                (SELECT COUNT(*) FROM registrations r WHERE r.referral_code = c.code)
                    AS registrations,
                (SELECT COUNT(*) FROM registrations r
                 WHERE r.referral_code = c.code AND ({STAGE_SQL}) = 'synced') AS onboarded
         FROM campaigns c JOIN departments d ON d.id = c.department_id
         WHERE {filter}"
    )
}

/// The department's campaigns, running ones first, newest first.
pub async fn list(db: &Db, department_id: i64) -> Result<Vec<CampaignTotals>, StoreError> {
    let sql = select_totals("c.department_id = $1")
        + " ORDER BY CASE WHEN c.ended_at IS NULL THEN 0 ELSE 1 END, c.id DESC";
    Ok(on_pool!(db, |pool| {
        sqlx::query_as(&sql)
            .bind(department_id)
            .fetch_all(pool)
            .await
            .context("listing campaigns")?
    }))
}

/// One of the department's campaigns with its totals; `None` for another department's.
pub async fn get(
    db: &Db,
    department_id: i64,
    id: i64,
) -> Result<Option<CampaignTotals>, StoreError> {
    let sql = select_totals("c.department_id = $1 AND c.id = $2");
    Ok(on_pool!(db, |pool| {
        sqlx::query_as(&sql)
            .bind(department_id)
            .bind(id)
            .fetch_optional(pool)
            .await
            .context("reading a campaign")?
    }))
}

/// A campaign by its code, for the public LED page (no department: the code is the key).
pub async fn by_code(db: &Db, code: &str) -> Result<Option<CampaignTotals>, StoreError> {
    if !is_code(code) {
        return Ok(None);
    }
    let sql = select_totals("c.code = $1");
    Ok(on_pool!(db, |pool| {
        sqlx::query_as(&sql)
            .bind(code)
            .fetch_optional(pool)
            .await
            .context("reading a campaign by code")?
    }))
}

/// Creates a campaign with a fresh code, and its audit row; returns its id.
pub async fn create(
    db: &Db,
    department_id: i64,
    name: &str,
    slogan: &str,
    account_id: i64,
) -> Result<i64, StoreError> {
    // 31^6 ≈ 9 × 10^8 codes: collisions are rare, and each third one lengthens the code.
    let codes = (0..CODE_ATTEMPTS).map(|attempt| new_code((CODE_MIN + attempt / 3).min(CODE_MAX)));
    create_with_codes(db, department_id, name, slogan, account_id, codes).await
}

/// [`create`] with the first of `codes` that is still free (tests pass taken ones).
pub async fn create_with_codes(
    db: &Db,
    department_id: i64,
    name: &str,
    slogan: &str,
    account_id: i64,
    codes: impl IntoIterator<Item = String>,
) -> Result<i64, StoreError> {
    let now = OffsetDateTime::now_utc();
    for code in codes {
        let created = on_pool!(db, |pool| {
            let mut tx = pool.begin_write().await.context("starting a campaign")?;
            // DO NOTHING on a taken code: no error that would spoil the transaction, just no row.
            let id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO campaigns (department_id, code, name, slogan, created_by, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (code) DO NOTHING RETURNING id",
            )
            .bind(department_id)
            .bind(&code)
            .bind(name)
            .bind(slogan)
            .bind(account_id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await
            .context("creating a campaign")?;
            if let Some(id) = id {
                audit::append(
                    &mut *tx,
                    &AuditEntry {
                        actor: &format!("account:{account_id}"),
                        action: "campaign.created",
                        subject: &format!("campaign:{id}"),
                        detail: serde_json::json!({ "department_id": department_id }),
                    },
                    now,
                )
                .await?;
                tx.commit().await.context("committing a campaign")?;
            }
            id
        });
        if let Some(id) = created {
            return Ok(id);
        }
    }
    Err(StoreError::from_sqlx(
        "finding a free campaign code",
        sqlx::Error::Protocol("every generated campaign code was taken".into()),
    ))
}

/// Ends one of the department's running campaigns. `false` when there is no such running
/// campaign (another department's, or already ended): nothing is written then.
pub async fn end(
    db: &Db,
    department_id: i64,
    id: i64,
    account_id: i64,
) -> Result<bool, StoreError> {
    let now = OffsetDateTime::now_utc();
    Ok(on_pool!(db, |pool| {
        let mut tx = pool
            .begin_write()
            .await
            .context("starting to end a campaign")?;
        let ended = sqlx::query(
            "UPDATE campaigns SET ended_at = $1
             WHERE id = $2 AND department_id = $3 AND ended_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .bind(department_id)
        .execute(&mut *tx)
        .await
        .context("ending a campaign")?
        .rows_affected()
            == 1;
        if ended {
            audit::append(
                &mut *tx,
                &AuditEntry {
                    actor: &format!("account:{account_id}"),
                    action: "campaign.ended",
                    subject: &format!("campaign:{id}"),
                    detail: serde_json::json!({ "department_id": department_id }),
                },
                now,
            )
            .await?;
            tx.commit()
                .await
                .context("committing the end of a campaign")?;
        }
        ended
    }))
}

/// Counts one visit of the start page through `code` on `day` (Beijing). One statement, and
/// nothing about the visitor is kept. An unknown code counts nothing; returns whether it counted.
pub async fn count_visit(db: &Db, code: &str, day: Date) -> Result<bool, StoreError> {
    if !is_code(code) {
        return Ok(false);
    }
    let counted = on_pool!(db, |pool| {
        sqlx::query(
            "INSERT INTO campaign_visits (campaign_id, day, visits)
             SELECT id, $2, 1 FROM campaigns WHERE code = $1
             ON CONFLICT (campaign_id, day) DO UPDATE SET visits = campaign_visits.visits + 1",
        )
        .bind(code)
        .bind(day.to_string())
        .execute(pool)
        .await
        .context("counting a campaign visit")?
        .rows_affected()
    });
    Ok(counted > 0)
}

/// One Beijing day of a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayCount {
    pub day: Date,
    pub visits: i64,
    pub registrations: i64,
    pub onboarded: i64,
}

/// Visits and registrations per Beijing day from `from` to `to` (both included, oldest first),
/// zeros included so a table or chart reads without gaps.
pub async fn daily(
    db: &Db,
    campaign: &Campaign,
    from: Date,
    to: Date,
) -> Result<Vec<DayCount>, StoreError> {
    let mut days = Vec::new();
    let mut day = from;
    while day <= to {
        days.push(DayCount {
            day,
            visits: 0,
            registrations: 0,
            onboarded: 0,
        });
        match day.next_day() {
            Some(next) => day = next,
            None => break,
        }
    }
    let n = days.len();
    let slot = |d: Date| -> Option<usize> {
        let i = usize::try_from((d - from).whole_days()).ok()?;
        (i < n).then_some(i)
    };
    let visits: Vec<(String, i64)> = on_pool!(db, |pool| {
        sqlx::query_as(
            "SELECT day, visits FROM campaign_visits WHERE campaign_id = $1 AND day >= $2",
        )
        .bind(campaign.id)
        .bind(from.to_string())
        .fetch_all(pool)
        .await
        .context("reading campaign visits")?
    });
    let iso = time::macros::format_description!("[year]-[month]-[day]");
    for (day, n) in visits {
        if let Ok(d) = Date::parse(&day, iso)
            && let Some(i) = slot(d)
        {
            days[i].visits = n;
        }
    }
    // Grouping by Beijing day differs per engine; a campaign's registrations over a month are
    // few, so they are bucketed here.
    let sql = format!(
        "SELECT r.created_at, {STAGE_SQL} AS stage FROM registrations r
         WHERE r.referral_code = $1 AND r.created_at >= $2"
    );
    let registrations: Vec<(OffsetDateTime, String)> = on_pool!(db, |pool| {
        sqlx::query_as(&sql)
            .bind(&campaign.code)
            .bind(calendar::start_of(from))
            .fetch_all(pool)
            .await
            .context("reading a campaign's registrations")?
    });
    for (at, stage) in registrations {
        if let Some(i) = slot(calendar::day_of(at)) {
            days[i].registrations += 1;
            if Stage::parse(&stage) == Some(Stage::Synced) {
                days[i].onboarded += 1;
            }
        }
    }
    Ok(days)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_use_the_unambiguous_alphabet() {
        for len in CODE_MIN..=CODE_MAX {
            let code = new_code(len);
            assert_eq!(code.len(), len);
            assert!(is_code(&code), "{code}");
            assert!(!code.contains(['0', 'O', '1', 'I', 'L']));
        }
        assert!(!is_code("ABC23"));
        assert!(!is_code("ABC2345O"));
        assert!(!is_code("abc234"));
    }
}

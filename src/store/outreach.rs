//! The outreach log: who contacted which entity, how, what came of it, and when to call again.
//! Each record also moves `entities.last_contact_at` forward, so the staff list can filter and
//! sort on the latest contact without a subquery per row.

use serde_json::json;
use time::format_description::BorrowedFormatItem;
use time::macros::{date, format_description};
use time::{Date, OffsetDateTime, UtcOffset};

use crate::domain::calendar;
use crate::on_pool;

use super::audit::{self, AuditEntry};
use super::{Context, Db, StoreError, WritePool};

/// How the entity was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Phone,
    Visit,
    Leaflet,
    Led,
    Wechat,
    Other,
}

impl Channel {
    pub const ALL: [Channel; 6] = [
        Channel::Phone,
        Channel::Visit,
        Channel::Leaflet,
        Channel::Led,
        Channel::Wechat,
        Channel::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Phone => "phone",
            Channel::Visit => "visit",
            Channel::Leaflet => "leaflet",
            Channel::Led => "led",
            Channel::Wechat => "wechat",
            Channel::Other => "other",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Channel::Phone => "电话",
            Channel::Visit => "上门",
            Channel::Leaflet => "发放宣传单",
            Channel::Led => "LED屏",
            Channel::Wechat => "微信",
            Channel::Other => "其他",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// What came of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactOutcome {
    Reached,
    NoAnswer,
    Refused,
    WillRegister,
    Registered,
    Other,
}

impl ContactOutcome {
    pub const ALL: [ContactOutcome; 6] = [
        ContactOutcome::Reached,
        ContactOutcome::NoAnswer,
        ContactOutcome::Refused,
        ContactOutcome::WillRegister,
        ContactOutcome::Registered,
        ContactOutcome::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ContactOutcome::Reached => "reached",
            ContactOutcome::NoAnswer => "no_answer",
            ContactOutcome::Refused => "refused",
            ContactOutcome::WillRegister => "will_register",
            ContactOutcome::Registered => "registered",
            ContactOutcome::Other => "other",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ContactOutcome::Reached => "已联系上",
            ContactOutcome::NoAnswer => "未接通/未见到",
            ContactOutcome::Refused => "明确拒绝",
            ContactOutcome::WillRegister => "同意登记",
            ContactOutcome::Registered => "已完成登记",
            ContactOutcome::Other => "其他",
        }
    }

    pub fn parse(s: &str) -> Option<ContactOutcome> {
        ContactOutcome::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// Labels for codes read back from the database (unknown codes read as 其他).
pub fn channel_label(code: &str) -> &'static str {
    Channel::parse(code).map_or("其他", Channel::label)
}

pub fn outcome_label(code: &str) -> &'static str {
    ContactOutcome::parse(code).map_or("其他", ContactOutcome::label)
}

/// Longest note, in characters.
pub const NOTE_MAX: usize = 500;
/// Outreach before this day is a typing mistake (the programme started in 2020).
pub const EARLIEST: Date = date!(2020 - 01 - 01);

const DAY: &[BorrowedFormatItem<'static>] = format_description!("[year]-[month]-[day]");

/// `YYYY-MM-DD`, as dates are typed, stored in `follow_up_on` and shown.
pub fn format_day(day: Date) -> String {
    day.format(DAY).unwrap_or_default()
}

pub fn parse_day(s: &str) -> Option<Date> {
    Date::parse(s.trim(), DAY).ok()
}

/// An outreach as typed (a form or a JSON body), before it is checked.
#[derive(Debug, Clone, Default)]
pub struct OutreachInput {
    pub channel: String,
    pub outcome: String,
    pub note: String,
    /// Blank: today.
    pub contacted_on: String,
    /// Blank: no follow-up planned.
    pub follow_up_on: String,
}

/// A checked outreach.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOutreach {
    pub channel: Channel,
    pub outcome: ContactOutcome,
    pub note: String,
    pub contacted_on: Date,
    pub follow_up_on: Option<Date>,
}

/// One refused field: its name, a stable code for the API and the Chinese message for the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub code: &'static str,
    pub message: &'static str,
}

impl OutreachInput {
    /// The checked outreach, or every refused field; `today` is Beijing's.
    pub fn check(&self, today: Date) -> Result<NewOutreach, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut refuse = |field, code, message| {
            errors.push(FieldError {
                field,
                code,
                message,
            })
        };
        let channel = match self.channel.trim() {
            "" => {
                refuse("channel", "required", "请选择联系方式。");
                None
            }
            s => Channel::parse(s).or_else(|| {
                refuse("channel", "invalid", "联系方式无效，请从列表中选择。");
                None
            }),
        };
        let outcome = match self.outcome.trim() {
            "" => {
                refuse("outcome", "required", "请选择联系结果。");
                None
            }
            s => ContactOutcome::parse(s).or_else(|| {
                refuse("outcome", "invalid", "联系结果无效，请从列表中选择。");
                None
            }),
        };
        let note = self.note.trim().to_owned();
        if note.chars().count() > NOTE_MAX {
            refuse("note", "too_long", "备注不能超过500字，请精简后再提交。");
        }
        let contacted_on = if self.contacted_on.trim().is_empty() {
            Some(today)
        } else {
            match parse_day(&self.contacted_on) {
                None => {
                    refuse(
                        "contacted_on",
                        "invalid",
                        "联系日期格式不正确，请按“2026-01-31”的格式填写。",
                    );
                    None
                }
                Some(d) if d > today => {
                    refuse("contacted_on", "in_future", "联系日期不能晚于今天。");
                    None
                }
                Some(d) if d < EARLIEST => {
                    refuse(
                        "contacted_on",
                        "too_early",
                        "联系日期不能早于2020年1月1日。",
                    );
                    None
                }
                Some(d) => Some(d),
            }
        };
        let follow_up_on = if self.follow_up_on.trim().is_empty() {
            None
        } else {
            match parse_day(&self.follow_up_on) {
                None => {
                    refuse(
                        "follow_up_on",
                        "invalid",
                        "下次跟进日期格式不正确，请按“2026-01-31”的格式填写。",
                    );
                    None
                }
                Some(d) if contacted_on.is_some_and(|c| d < c) => {
                    refuse(
                        "follow_up_on",
                        "before_contact",
                        "下次跟进日期不能早于联系日期。",
                    );
                    None
                }
                Some(d) => Some(d),
            }
        };
        match (channel, outcome, contacted_on) {
            (Some(channel), Some(outcome), Some(contacted_on)) if errors.is_empty() => {
                Ok(NewOutreach {
                    channel,
                    outcome,
                    note,
                    contacted_on,
                    follow_up_on,
                })
            }
            _ => Err(errors),
        }
    }
}

/// The instant recorded for a contact on `day`: now when it is today, else noon that day
/// (Beijing), in UTC so stored timestamps compare in order on both engines.
fn contact_instant(day: Date, now: OffsetDateTime) -> OffsetDateTime {
    if day == calendar::day_of(now) {
        return now.to_offset(UtcOffset::UTC);
    }
    day.with_time(time::macros::time!(12:00))
        .assume_offset(calendar::BEIJING)
        .to_offset(UtcOffset::UTC)
}

/// Records an outreach to `entity_id` by `account_id` of `department_id`, moves the entity's
/// last contact forward and audits it, in one transaction. `None`: the entity is not the
/// department's (nothing written).
pub async fn record(
    db: &Db,
    entity_id: i64,
    department_id: i64,
    account_id: i64,
    new: &NewOutreach,
) -> Result<Option<i64>, StoreError> {
    let now = OffsetDateTime::now_utc();
    let contacted_at = contact_instant(new.contacted_on, now);
    let follow_up = new.follow_up_on.map(format_day);
    let actor = format!("account:{account_id}");
    let id = on_pool!(db, |pool| {
        let mut tx = pool
            .begin_write()
            .await
            .context("starting to record an outreach")?;
        let mine: Option<i64> =
            sqlx::query_scalar("SELECT id FROM entities WHERE id = $1 AND department_id = $2")
                .bind(entity_id)
                .bind(department_id)
                .fetch_optional(&mut *tx)
                .await
                .context("checking the entity of an outreach")?;
        if mine.is_none() {
            return Ok(None);
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO outreach (entity_id, department_id, account_id, channel, outcome, note,
                                   contacted_at, follow_up_on, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(entity_id)
        .bind(department_id)
        .bind(account_id)
        .bind(new.channel.as_str())
        .bind(new.outcome.as_str())
        .bind(&new.note)
        .bind(contacted_at)
        .bind(&follow_up)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .context("inserting an outreach")?;
        sqlx::query(
            "UPDATE entities SET last_contact_at = $1
             WHERE id = $2 AND (last_contact_at IS NULL OR last_contact_at < $1)",
        )
        .bind(contacted_at)
        .bind(entity_id)
        .execute(&mut *tx)
        .await
        .context("moving an entity's last contact")?;
        audit::append(
            &mut *tx,
            &AuditEntry {
                actor: &actor,
                action: "outreach.recorded",
                subject: &format!("entity:{entity_id}"),
                detail: json!({
                    "outreach_id": id,
                    "department_id": department_id,
                    "channel": new.channel.as_str(),
                    "outcome": new.outcome.as_str(),
                }),
            },
            now,
        )
        .await?;
        tx.commit().await.context("committing an outreach")?;
        id
    });
    Ok(Some(id))
}

/// One outreach as the entity page lists it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutreachRow {
    pub id: i64,
    pub contacted_at: OffsetDateTime,
    pub channel: String,
    pub outcome: String,
    pub note: String,
    pub follow_up_on: Option<String>,
    pub account_id: i64,
    pub display_name: Option<String>,
}

/// How colleagues are named in lists: their display name, or 同事 when they have none.
pub fn colleague(display_name: Option<&str>) -> String {
    match display_name.map(str::trim) {
        Some(name) if !name.is_empty() => name.to_owned(),
        _ => "同事".to_owned(),
    }
}

/// The entity's outreach, newest first (every department's: the history stays with the entity
/// when it is reassigned). The caller has checked the entity is the staff member's.
pub async fn history(db: &Db, entity_id: i64) -> Result<Vec<OutreachRow>, StoreError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as::<_, OutreachRow>(
            "SELECT o.id, o.contacted_at, o.channel, o.outcome, o.note, o.follow_up_on,
                    o.account_id, a.display_name
             FROM outreach o JOIN accounts a ON a.id = o.account_id
             WHERE o.entity_id = $1
             ORDER BY o.contacted_at DESC, o.id DESC
             LIMIT 500",
        )
        .bind(entity_id)
        .fetch_all(pool)
        .await
        .context("reading an entity's outreach")?
    }))
}

/// A follow-up that is due: the entity and its latest outreach.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FollowUp {
    pub entity_id: i64,
    pub uscc: String,
    pub name: String,
    pub follow_up_on: String,
    pub channel: String,
    pub outcome: String,
    pub note: String,
    pub contacted_at: OffsetDateTime,
    pub display_name: Option<String>,
}

/// The department's entities whose latest outreach asks for a follow-up on or before `today`,
/// except those already onboarded.
fn due_from_where() -> String {
    format!(
        "FROM entities e
         JOIN outreach o ON o.entity_id = e.id
         JOIN accounts a ON a.id = o.account_id
         LEFT JOIN registrations r ON r.entity_id = e.id
         WHERE e.department_id = $1
           AND o.id = (SELECT o2.id FROM outreach o2 WHERE o2.entity_id = e.id
                       ORDER BY o2.contacted_at DESC, o2.id DESC LIMIT 1)
           AND o.follow_up_on IS NOT NULL AND o.follow_up_on <= $2
           AND ({}) <> 'synced'",
        super::progress::STAGE_SQL
    )
}

impl FollowUp {
    /// Days past the follow-up date (0 when due today).
    pub fn overdue_days(&self, today: Date) -> i64 {
        parse_day(&self.follow_up_on).map_or(0, |d| (today - d).whole_days().max(0))
    }
}

/// Follow-ups listed at most.
pub const FOLLOW_UPS_MAX: i64 = 1000;

/// Due follow-ups, the most overdue first.
pub async fn follow_ups_due(
    db: &Db,
    department_id: i64,
    today: Date,
) -> Result<Vec<FollowUp>, StoreError> {
    let sql = format!(
        "SELECT e.id AS entity_id, e.uscc, e.name, o.follow_up_on, o.channel, o.outcome, o.note,
                o.contacted_at, a.display_name
         {} ORDER BY o.follow_up_on, e.id LIMIT $3",
        due_from_where()
    );
    // Dates are TEXT in both engines: bound as text so PostgreSQL compares text with text.
    let today = format_day(today);
    Ok(on_pool!(db, |pool| {
        sqlx::query_as::<_, FollowUp>(&sql)
            .bind(department_id)
            .bind(&today)
            .bind(FOLLOW_UPS_MAX)
            .fetch_all(pool)
            .await
            .context("listing due follow-ups")?
    }))
}

pub async fn follow_ups_due_count(
    db: &Db,
    department_id: i64,
    today: Date,
) -> Result<i64, StoreError> {
    let sql = format!("SELECT COUNT(*) {}", due_from_where());
    let today = format_day(today);
    Ok(on_pool!(db, |pool| {
        sqlx::query_scalar(&sql)
            .bind(department_id)
            .bind(&today)
            .fetch_one(pool)
            .await
            .context("counting due follow-ups")?
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(contacted_on: &str, follow_up_on: &str) -> OutreachInput {
        OutreachInput {
            channel: "phone".into(),
            outcome: "reached".into(),
            note: "  电话沟通  ".into(),
            contacted_on: contacted_on.into(),
            follow_up_on: follow_up_on.into(),
        }
    }

    fn codes(r: Result<NewOutreach, Vec<FieldError>>) -> Vec<(&'static str, &'static str)> {
        r.err()
            .unwrap_or_default()
            .iter()
            .map(|e| (e.field, e.code))
            .collect()
    }

    #[test]
    fn a_good_outreach_is_trimmed_and_defaults_to_today() {
        let today = date!(2026 - 11 - 30);
        let ok = input("", "2026-12-03").check(today);
        assert_eq!(
            ok,
            Ok(NewOutreach {
                channel: Channel::Phone,
                outcome: ContactOutcome::Reached,
                note: "电话沟通".into(),
                contacted_on: today,
                follow_up_on: Some(date!(2026 - 12 - 03)),
            })
        );
    }

    #[test]
    fn dates_are_checked() {
        let today = date!(2026 - 11 - 30);
        assert_eq!(
            codes(input("2026-12-01", "").check(today)),
            [("contacted_on", "in_future")]
        );
        assert_eq!(
            codes(input("2019-12-31", "").check(today)),
            [("contacted_on", "too_early")]
        );
        assert_eq!(
            codes(input("30/11/2026", "").check(today)),
            [("contacted_on", "invalid")]
        );
        assert_eq!(
            codes(input("2026-11-20", "2026-11-19").check(today)),
            [("follow_up_on", "before_contact")]
        );
        assert!(input("2026-11-20", "2026-11-20").check(today).is_ok());
    }

    #[test]
    fn contacts_on_past_days_are_at_noon_beijing() {
        let now = time::macros::datetime!(2026-11-30 02:00 UTC);
        assert_eq!(contact_instant(date!(2026 - 11 - 30), now), now);
        assert_eq!(
            contact_instant(date!(2026 - 11 - 28), now),
            time::macros::datetime!(2026-11-28 04:00 UTC)
        );
    }
}

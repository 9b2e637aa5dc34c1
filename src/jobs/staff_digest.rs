//! The weekly digest to department staff: their department's progress, the entities nobody has
//! contacted for [`STALE_DAYS`] days, and the follow-ups due. Sent once per account and ISO
//! week (`digest_sends`), by `xinyidai digest send` or on schedule by the server.
//!
//! Every digest carries an opt-out link whose token is an HMAC of the account id under a key
//! derived from the data key: nothing is stored, and a token cannot be made for another account.

use time::{Duration, OffsetDateTime};

use crate::config::DigestAt;
use crate::domain::calendar;
use crate::security::id_vault::IdVault;
use askama::Template;

use crate::mail::{MailError, MailKind, Mailer, Outgoing, messages};
use crate::store::digests::{self, Recipient};
use crate::store::progress::{self, Progress, Projection};
use crate::store::{Db, StoreError};

/// An entity counts as not contacted after this many days.
pub const STALE_DAYS: i64 = 14;
/// Names listed per section; the counts cover the rest.
pub const LIST_LIMIT: i64 = 20;
/// Where the opt-out link points.
pub const UNSUBSCRIBE_PATH: &str = "/digest/unsubscribe";

/// What one digest says, ready for the templates.
#[derive(Debug, Clone)]
pub struct DigestContent {
    pub greeting: String,
    pub department: String,
    pub week: String,
    pub today: String,
    pub assigned: i64,
    pub onboarded: i64,
    pub stages: Vec<(&'static str, i64)>,
    pub target: String,
    pub projection: String,
    pub stale_days: i64,
    pub stale_count: i64,
    pub stale_names: Vec<String>,
    pub follow_up_count: i64,
    pub follow_ups: Vec<(String, String)>,
    pub staff_link: String,
    pub stale_link: String,
    pub follow_ups_link: String,
    pub unsubscribe_link: String,
}

/// `ACCOUNT.TAG`: the account id and an HMAC of it, for the opt-out link.
pub fn unsubscribe_token(vault: &IdVault, account_id: i64) -> String {
    format!("{account_id}.{}", vault.link_tag(&message(account_id)))
}

/// The account a genuine token was made for; `None` for anything else.
pub fn verify_unsubscribe_token(vault: &IdVault, token: &str) -> Option<i64> {
    let (id, tag) = token.trim().split_once('.')?;
    let id: i64 = id.parse().ok().filter(|id| *id > 0)?;
    vault.verify_link_tag(&message(id), tag).then_some(id)
}

/// What the tag covers: the purpose as well as the id, so a tag made for another kind of link
/// can never pass as an opt-out.
fn message(account_id: i64) -> Vec<u8> {
    format!("digest-unsubscribe:{account_id}").into_bytes()
}

/// Projection and target in words.
fn progress_words(p: &Progress) -> (String, String) {
    let target = match &p.goal {
        None => format!("本月（{}）尚未设定目标。", p.period),
        Some(goal) if goal.days_left >= 0 => format!(
            "本月（{}）目标 {} 家，截止 {}，还剩 {} 天。",
            p.period, goal.entities, goal.deadline, goal.days_left
        ),
        Some(goal) => format!(
            "本月（{}）目标 {} 家，截止 {}，已过期 {} 天。",
            p.period, goal.entities, goal.deadline, -goal.days_left
        ),
    };
    let projection = match p.projection {
        Projection::NoTarget => String::new(),
        Projection::Reached => "目标已达成。".to_owned(),
        Projection::On(day) => format!(
            "按近 {} 天的速度（每天 {:.1} 家），预计 {day} 达成目标。",
            progress::PACE_WINDOW_DAYS,
            p.pace_per_day
        ),
        Projection::Stalled => format!(
            "近 {} 天没有新入驻的市场主体，按目前速度无法达成目标。",
            progress::PACE_WINDOW_DAYS
        ),
    };
    (target, projection)
}

/// Builds the digest for one recipient, as of `now`.
pub async fn build(
    db: &Db,
    vault: &IdVault,
    public_url: &str,
    to: &Recipient,
    now: OffsetDateTime,
) -> Result<DigestContent, StoreError> {
    let shared = department_content(db, public_url, to, now).await?;
    Ok(personalize(shared, vault, public_url, to))
}

/// The part of the digest every staff member of `to`'s department shares.
async fn department_content(
    db: &Db,
    public_url: &str,
    to: &Recipient,
    now: OffsetDateTime,
) -> Result<DigestContent, StoreError> {
    let today = calendar::day_of(now);
    let p = progress::department_progress(db, &to.county_code, to.department_id, today).await?;
    let (stale_count, stale_names) = digests::stale_entities(
        db,
        to.department_id,
        now - Duration::days(STALE_DAYS),
        LIST_LIMIT,
    )
    .await?;
    let (follow_up_count, follow_ups) =
        digests::follow_ups_due(db, to.department_id, today, LIST_LIMIT).await?;
    let (target, projection) = progress_words(&p);
    Ok(DigestContent {
        greeting: String::new(),
        department: to.department_name.clone(),
        week: calendar::iso_week_of(today),
        today: today.to_string(),
        assigned: p.assigned(),
        onboarded: p.onboarded(),
        stages: p.stages.iter().map(|(s, n)| (s.label(), n)).collect(),
        target,
        projection,
        stale_days: STALE_DAYS,
        stale_count,
        stale_names,
        follow_up_count,
        follow_ups,
        staff_link: format!("{public_url}/staff"),
        stale_link: format!("{public_url}/staff/entities?contact=stale"),
        follow_ups_link: format!("{public_url}/staff/follow-ups"),
        unsubscribe_link: String::new(),
    })
}

/// The department's digest addressed to `to`, with their own opt-out link.
fn personalize(
    shared: DigestContent,
    vault: &IdVault,
    public_url: &str,
    to: &Recipient,
) -> DigestContent {
    DigestContent {
        greeting: to.display_name.clone().unwrap_or_else(|| "同事".to_owned()),
        unsubscribe_link: format!(
            "{public_url}{UNSUBSCRIBE_PATH}?token={}",
            unsubscribe_token(vault, to.account_id)
        ),
        ..shared
    }
}

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendReport {
    pub sent: u64,
    /// Already sent this week.
    pub skipped: u64,
    /// Not sent: the mail server refused or could not be reached (tried again next run).
    pub failed: u64,
    /// Dry run: would have been sent.
    pub pending: u64,
}

/// Sends this ISO week's digest (Beijing calendar, as of `now`) to every recipient who has not
/// had it yet. With `dry_run`, only counts. A failed send is logged (without the address) and
/// left for the next run; the week's row is written only after the server took the message.
pub async fn send_week(
    db: &Db,
    mailer: &Mailer,
    vault: &IdVault,
    public_url: &str,
    now: OffsetDateTime,
    dry_run: bool,
) -> Result<SendReport, StoreError> {
    let week = calendar::iso_week_of(calendar::day_of(now));
    let mut report = SendReport::default();
    // Recipients come by department: its numbers are read once for all its staff.
    let mut shared: Option<(i64, DigestContent)> = None;
    for to in digests::recipients(db).await? {
        if digests::already_sent(db, to.account_id, &week).await? {
            report.skipped += 1;
            continue;
        }
        if dry_run {
            report.pending += 1;
            continue;
        }
        let department = match shared.take() {
            Some((id, content)) if id == to.department_id => content,
            _ => department_content(db, public_url, &to, now).await?,
        };
        let content = personalize(department.clone(), vault, public_url, &to);
        shared = Some((to.department_id, department));
        let mail = match digest_mail(&to.email, &content) {
            Ok(mail) => mail,
            Err(err) => {
                tracing::error!(account = to.account_id, error = %err, "digest not built");
                report.failed += 1;
                continue;
            }
        };
        // `Mailer::send` logs the failure itself, by kind and message id only.
        match mailer.send(mail).await {
            Ok(()) => {
                digests::record_sent(db, to.account_id, &week, OffsetDateTime::now_utc()).await?;
                report.sent += 1;
            }
            Err(_) => report.failed += 1,
        }
    }
    Ok(report)
}

/// The next `at` (Beijing weekday and time) strictly after `now`.
pub fn next_run(now: OffsetDateTime, at: DigestAt) -> OffsetDateTime {
    let local = calendar::in_beijing(now);
    let days_ahead = i64::from(
        (at.weekday.number_days_from_monday() + 7 - local.weekday().number_days_from_monday()) % 7,
    );
    let candidate = local.replace_time(at.time) + Duration::days(days_ahead);
    if candidate > local {
        candidate
    } else {
        candidate + Duration::weeks(1)
    }
}

/// Sends the digests every week at `at` until `shutdown` turns true (or its sender is gone).
/// A run that fails half-way is logged; the next week's run (or `xinyidai digest send`) picks up
/// whoever was missed, since the week's rows say who already has it.
pub async fn run_weekly(
    db: Db,
    mailer: Mailer,
    vault: std::sync::Arc<IdVault>,
    public_url: String,
    at: DigestAt,
    shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let next = |now| next_run(now, at);
    super::schedule::every("weekly digest", next, shutdown, |due| {
        let (db, mailer, vault, public_url) = (
            db.clone(),
            mailer.clone(),
            vault.clone(),
            public_url.clone(),
        );
        async move {
            match send_week(&db, &mailer, &vault, &public_url, due, false).await {
                Ok(r) => tracing::info!(
                    sent = r.sent,
                    skipped = r.skipped,
                    failed = r.failed,
                    "weekly digest sent"
                ),
                Err(err) => tracing::warn!(
                    error = %crate::telemetry::error_chain(&err),
                    "weekly digest stopped"
                ),
            }
        }
    })
    .await;
}

// ------------------------------------------------------------------ the mail

/// The weekly digest to one staff member .
pub fn digest_mail(to: &str, d: &DigestContent) -> Result<Outgoing, MailError> {
    let subject = messages::subject(&format!("本周入驻工作提醒（{}）", d.department));
    Ok(Outgoing {
        kind: MailKind::Digest,
        to: to.to_owned(),
        text: DigestText { d }.render()?,
        html: Some(
            DigestHtml {
                subject: &subject,
                d,
            }
            .render()?,
        ),
        subject,
    })
}

#[derive(Template)]
#[template(path = "mail/digest.txt")]
struct DigestText<'a> {
    d: &'a DigestContent,
}

#[derive(Template)]
#[template(path = "mail/digest.html")]
struct DigestHtml<'a> {
    subject: &'a str,
    d: &'a DigestContent,
}

#[cfg(test)]
mod tests {
    use time::macros::{datetime, time};

    use super::*;

    fn vault() -> IdVault {
        IdVault::from_hex(&"3c".repeat(32)).unwrap()
    }

    #[test]
    fn tokens_verify_for_their_own_account_only() {
        let v = vault();
        let token = unsubscribe_token(&v, 42);
        assert_eq!(verify_unsubscribe_token(&v, &token), Some(42));
        let forged = token.replacen("42.", "43.", 1);
        assert_eq!(verify_unsubscribe_token(&v, &forged), None);
        let other = IdVault::from_hex(&"5d".repeat(32)).unwrap();
        assert_eq!(verify_unsubscribe_token(&other, &token), None);
        for bad in ["", "42", "42.", "x.abcd", "-1.00", "42.zz"] {
            assert_eq!(verify_unsubscribe_token(&v, bad), None, "{bad}");
        }
    }

    #[test]
    fn next_run_is_the_coming_weekday_in_beijing() {
        let at = DigestAt::default();
        // Monday 2026-11-30 11:27 Beijing: next Monday.
        assert_eq!(
            next_run(datetime!(2026-11-30 03:27 UTC), at),
            datetime!(2026-12-07 08:00 +8)
        );
        // Sunday 23:00 UTC is Monday 07:00 Beijing: the same morning.
        assert_eq!(
            next_run(datetime!(2026-11-29 23:00 UTC), at),
            datetime!(2026-11-30 08:00 +8)
        );
        // Exactly at the time: a week later, so a quick run does not repeat.
        assert_eq!(
            next_run(datetime!(2026-11-30 00:00 UTC), at),
            datetime!(2026-12-07 08:00 +8)
        );
        let friday = DigestAt {
            weekday: time::Weekday::Friday,
            time: time!(17:30),
        };
        assert_eq!(
            next_run(datetime!(2026-11-30 03:27 UTC), friday),
            datetime!(2026-12-04 17:30 +8)
        );
    }
}

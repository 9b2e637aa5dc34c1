//! The weekly digest to leaders with the league table and the biggest movers (the daily league
//! snapshots it compares with are [`super::snapshots`]).
//!
//! The digest reuses the staff digest's machinery: `digest_sends` (once per account and ISO
//! week), the opt-out column, token and `/digest/unsubscribe` page, and the `XYD_DIGEST_AT`
//! schedule.

use std::collections::BTreeMap;

use time::{Date, Duration, OffsetDateTime};

use crate::config::DigestAt;
use crate::domain::calendar;
use crate::jobs::staff_digest::{SendReport, UNSUBSCRIBE_PATH, next_run, unsubscribe_token};
use crate::security::id_vault::IdVault;
use askama::Template;

use crate::mail::{MailError, MailKind, Mailer, Outgoing, messages};
use crate::report::league::{League, TableKind};
use crate::report::tally::{Tally, by_department, counties_of};
use crate::store::league;
use crate::store::{Db, StoreError, departments, digests};

/// Movers are measured against the snapshot this many days back.
pub const MOVERS_DAYS: i64 = 7;
/// Movers listed each way.
pub const MOVERS: usize = 3;

/// A department whose rate changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Mover {
    pub department_id: i64,
    pub name: String,
    /// Rates in percent, then and now.
    pub before: f64,
    pub now: f64,
    /// `now - before`, percentage points.
    pub change_pp: f64,
}

/// The [`MOVERS`] departments whose rate rose most and those whose rate fell most between
/// `before` and `now` (departments counted in both only; no change is no move).
pub fn movers(
    before: &BTreeMap<i64, Tally>,
    now: &BTreeMap<i64, Tally>,
    names: &BTreeMap<i64, String>,
) -> (Vec<Mover>, Vec<Mover>) {
    let mut all: Vec<Mover> = now
        .iter()
        .filter_map(|(id, t)| {
            let b = before.get(id).filter(|b| b.assigned > 0)?;
            (t.assigned > 0).then(|| Mover {
                department_id: *id,
                name: names
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| format!("部门 {id}")),
                before: b.rate(),
                now: t.rate(),
                change_pp: t.rate() - b.rate(),
            })
        })
        .collect();
    // Largest change first; equal changes by id so the order is stable.
    all.sort_by(|a, b| {
        b.change_pp
            .total_cmp(&a.change_pp)
            .then(a.department_id.cmp(&b.department_id))
    });
    let rising: Vec<Mover> = all
        .iter()
        .filter(|m| m.change_pp > 1e-9)
        .take(MOVERS)
        .cloned()
        .collect();
    let mut falling: Vec<Mover> = all.into_iter().filter(|m| m.change_pp < -1e-9).collect();
    falling.reverse();
    falling.truncate(MOVERS);
    (rising, falling)
}

/// One line of a table in the digest, ready to print.
#[derive(Debug, Clone, PartialEq)]
pub struct DigestRow {
    pub rank: usize,
    pub name: String,
    pub onboarded: i64,
    pub assigned: i64,
    pub rate: String,
    /// `+1.2` / `-0.5` percentage points, or `—`.
    pub change: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DigestTable {
    pub title: &'static str,
    pub rows: Vec<DigestRow>,
}

/// A mover in words.
#[derive(Debug, Clone, PartialEq)]
pub struct MoverLine {
    pub name: String,
    pub before: String,
    pub now: String,
    pub change: String,
}

/// What one leaders' digest says, ready for the templates.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadersDigestContent {
    pub greeting: String,
    pub jurisdiction: String,
    pub week: String,
    pub today: String,
    /// The whole jurisdiction (`None` without league data).
    pub total: Option<DigestRow>,
    /// Empty: "暂无排行数据".
    pub tables: Vec<DigestTable>,
    /// `None` when there is no snapshot [`MOVERS_DAYS`] days back.
    pub movers: Option<(Vec<MoverLine>, Vec<MoverLine>)>,
    /// The day movers are compared with.
    pub movers_since: String,
    pub leaders_link: String,
    pub trends_link: String,
    pub unsubscribe_link: String,
}

/// The title of a table.
pub fn table_title(kind: TableKind) -> &'static str {
    match kind {
        TableKind::Bureaus => "县直部门",
        TableKind::TownshipDepartments => "乡镇（责任部门）",
        TableKind::Financial => "金融机构",
        TableKind::Townships => "乡镇（按属地）",
        TableKind::Counties => "县区",
    }
}

fn percent(v: f64) -> String {
    format!("{v:.1}%")
}

fn points(v: f64) -> String {
    format!("{v:+.1}")
}

fn row_of(r: &crate::report::league::LeagueRow) -> DigestRow {
    DigestRow {
        rank: r.rank,
        name: r.name.clone(),
        onboarded: r.onboarded,
        assigned: r.assigned,
        rate: percent(r.rate * 100.0),
        change: r.change_pp.map_or_else(|| "—".to_owned(), points),
    }
}

/// Everything of the digest but the addressee: the same for every leader (a pure function, so
/// a hand-built [`League`] shows what leaders will read).
pub fn content(
    jurisdiction: &str,
    today: Date,
    league: Option<&League>,
    movers: Option<(Vec<Mover>, Vec<Mover>)>,
    public_url: &str,
) -> LeadersDigestContent {
    let lines = |list: Vec<Mover>| {
        list.into_iter()
            .map(|m| MoverLine {
                name: m.name,
                before: percent(m.before),
                now: percent(m.now),
                change: points(m.change_pp),
            })
            .collect::<Vec<_>>()
    };
    LeadersDigestContent {
        greeting: String::new(),
        jurisdiction: jurisdiction.to_owned(),
        week: calendar::iso_week_of(today),
        today: today.to_string(),
        total: league.map(|l| row_of(&l.total)),
        tables: league
            .map(|l| {
                l.tables
                    .iter()
                    .filter(|t| !t.rows.is_empty())
                    .map(|t| DigestTable {
                        title: table_title(t.kind),
                        rows: t.rows.iter().map(row_of).collect(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        movers: movers.map(|(up, down)| (lines(up), lines(down))),
        movers_since: (today - Duration::days(MOVERS_DAYS)).to_string(),
        leaders_link: format!("{public_url}/leaders"),
        trends_link: format!("{public_url}/leaders/trends"),
        unsubscribe_link: String::new(),
    }
}

/// The movers since [`MOVERS_DAYS`] days before `today` (`None` without that day's snapshot).
///
/// # Errors
/// Database errors.
pub async fn movers_since(
    db: &Db,
    counties: &[String],
    today: Date,
) -> Result<Option<(Vec<Mover>, Vec<Mover>)>, StoreError> {
    let then = today - Duration::days(MOVERS_DAYS);
    let Some(before) = league::snapshot_counts(db, then, counties).await? else {
        return Ok(None);
    };
    let now = league::counts(db, counties).await?;
    let mut names = BTreeMap::new();
    for county in counties {
        for d in departments::list(db, county).await? {
            names.insert(d.id, d.name);
        }
    }
    Ok(Some(movers(
        &by_department(&before),
        &by_department(&now),
        &names,
    )))
}

/// Sends this ISO week's leaders' digest (Beijing calendar, as of `now`) to every leader who has
/// not had it yet; like [`crate::jobs::staff_digest::send_week`], a failed send is retried next run.
///
/// # Errors
/// Database errors.
pub async fn send_week(
    db: &Db,
    mailer: &Mailer,
    vault: &IdVault,
    public_url: &str,
    jurisdiction: &str,
    now: OffsetDateTime,
    dry_run: bool,
) -> Result<SendReport, StoreError> {
    let today = calendar::day_of(now);
    let week = calendar::iso_week_of(today);
    let mut report = SendReport::default();
    let mut shared: Option<LeadersDigestContent> = None;
    for to in digests::leader_recipients(db).await? {
        if digests::already_sent(db, to.account_id, &week).await? {
            report.skipped += 1;
            continue;
        }
        if dry_run {
            report.pending += 1;
            continue;
        }
        let base = match &shared {
            Some(c) => c.clone(),
            None => {
                let c = shared_content(db, public_url, jurisdiction, today).await?;
                shared = Some(c.clone());
                c
            }
        };
        let content = LeadersDigestContent {
            greeting: to.display_name.clone().unwrap_or_else(|| "领导".to_owned()),
            unsubscribe_link: format!(
                "{public_url}{UNSUBSCRIBE_PATH}?token={}",
                unsubscribe_token(vault, to.account_id)
            ),
            ..base
        };
        let mail = match digest_mail(&to.email, &content) {
            Ok(mail) => mail,
            Err(err) => {
                tracing::error!(account = to.account_id, error = %err, "leaders' digest not built");
                report.failed += 1;
                continue;
            }
        };
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

/// The digest every leader shares, from the league of `today` and the movers.
async fn shared_content(
    db: &Db,
    public_url: &str,
    jurisdiction: &str,
    today: Date,
) -> Result<LeadersDigestContent, StoreError> {
    let tree = crate::store::divisions::load(db).await?;
    let counties = counties_of(&tree, jurisdiction);
    let table = crate::report::league::league(db, &tree, jurisdiction, today, today).await?;
    let movers = movers_since(db, &counties, today).await?;
    let name = tree
        .get(jurisdiction)
        .map_or_else(|| jurisdiction.to_owned(), |d| d.name.clone());
    Ok(content(&name, today, table.as_ref(), movers, public_url))
}

/// Sends the leaders' digest every week at `at` (the staff digest's time) until shutdown.
pub async fn run_weekly(
    db: Db,
    mailer: Mailer,
    vault: std::sync::Arc<IdVault>,
    public_url: String,
    jurisdiction: String,
    at: DigestAt,
    shutdown: tokio::sync::watch::Receiver<bool>,
) {
    super::schedule::every(
        "leaders' weekly digest",
        |now| next_run(now, at),
        shutdown,
        |due| {
            let (db, mailer, vault) = (db.clone(), mailer.clone(), vault.clone());
            let (public_url, jurisdiction) = (public_url.clone(), jurisdiction.clone());
            async move {
                match send_week(&db, &mailer, &vault, &public_url, &jurisdiction, due, false).await
                {
                    Ok(r) => tracing::info!(
                        sent = r.sent,
                        skipped = r.skipped,
                        failed = r.failed,
                        "leaders' weekly digest sent"
                    ),
                    Err(err) => tracing::warn!(
                        error = %crate::telemetry::error_chain(&err),
                        "leaders' weekly digest stopped"
                    ),
                }
            }
        },
    )
    .await;
}

// ------------------------------------------------------------------ the mail

/// The weekly digest to one leader .
pub fn digest_mail(to: &str, d: &LeadersDigestContent) -> Result<Outgoing, MailError> {
    let subject = messages::subject(&format!("本周入驻排行（{}，{}）", d.jurisdiction, d.week));
    Ok(Outgoing {
        kind: MailKind::LeadersDigest,
        to: to.to_owned(),
        text: LeadersDigestText { d }.render()?,
        html: Some(
            LeadersDigestHtml {
                subject: &subject,
                d,
            }
            .render()?,
        ),
        subject,
    })
}

#[derive(Template)]
#[template(path = "mail/leaders_digest.txt")]
struct LeadersDigestText<'a> {
    d: &'a LeadersDigestContent,
}

#[derive(Template)]
#[template(path = "mail/leaders_digest.html")]
struct LeadersDigestHtml<'a> {
    subject: &'a str,
    d: &'a LeadersDigestContent,
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;
    use crate::report::league::{LeagueRow, LeagueTable};
    use crate::store::progress::{Projection, StageCounts};

    fn tally(onboarded: i64, assigned: i64) -> Tally {
        Tally {
            onboarded,
            assigned,
        }
    }

    #[test]
    fn movers_are_the_biggest_changes_each_way() {
        let before: BTreeMap<i64, Tally> = (1..=8).map(|id| (id, tally(10, 100))).collect();
        let now: BTreeMap<i64, Tally> = [
            (1, tally(40, 100)), // +30
            (2, tally(20, 100)), // +10
            (3, tally(15, 100)), // +5
            (4, tally(11, 100)), // +1
            (5, tally(10, 100)), // 0
            (6, tally(5, 100)),  // -5
            (7, tally(0, 100)),  // -10
            (8, tally(9, 100)),  // -1
            (9, tally(50, 50)),  // new: no comparison
        ]
        .into_iter()
        .collect();
        let names = BTreeMap::new();
        let (up, down) = movers(&before, &now, &names);
        assert_eq!(
            up.iter().map(|m| m.department_id).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert_eq!(
            down.iter().map(|m| m.department_id).collect::<Vec<_>>(),
            [7, 6, 8]
        );
        assert!((up[0].change_pp - 30.0).abs() < 1e-9);
        assert!((down[0].change_pp + 10.0).abs() < 1e-9);
    }

    fn row(key: &str, name: &str, rank: usize, onboarded: i64, assigned: i64) -> LeagueRow {
        LeagueRow {
            key: key.into(),
            name: name.into(),
            rank,
            assigned,
            stages: StageCounts::default(),
            onboarded,
            rate: onboarded as f64 / assigned as f64,
            target: None,
            change_pp: Some(2.5),
            projection: Projection::NoTarget,
        }
    }

    #[test]
    fn a_hand_built_league_renders_into_the_digest() {
        let league = League {
            day: date!(2026 - 11 - 30),
            live: true,
            tables: vec![
                LeagueTable {
                    kind: TableKind::Bureaus,
                    rows: vec![row("1", "税务局", 1, 30, 40), row("2", "商务局", 2, 10, 40)],
                },
                LeagueTable {
                    kind: TableKind::Financial,
                    rows: vec![],
                },
            ],
            total: row("220322", "梨树县", 1, 40, 80),
        };
        let movers = (
            vec![Mover {
                department_id: 1,
                name: "税务局".into(),
                before: 50.0,
                now: 75.0,
                change_pp: 25.0,
            }],
            vec![],
        );
        let mut c = content(
            "梨树县",
            date!(2026 - 11 - 30),
            Some(&league),
            Some(movers),
            "https://x.test",
        );
        c.greeting = "李县长".into();
        c.unsubscribe_link = "https://x.test/digest/unsubscribe?token=1.ab".into();
        assert_eq!(c.tables.len(), 1, "empty tables are left out");
        assert_eq!(c.tables[0].rows[0].rate, "75.0%");
        assert_eq!(c.tables[0].rows[1].change, "+2.5");
        let mail = digest_mail("leader@example.org", &c).unwrap();
        assert!(mail.text.contains("税务局"), "{}", mail.text);
        assert!(mail.text.contains("75.0%"), "{}", mail.text);
        assert!(mail.text.contains("+25.0"), "{}", mail.text);
        assert!(mail.text.contains("2026-W49"), "{}", mail.text);
        assert!(!mail.text.contains("暂无排行数据"));
        let html = mail.html.unwrap();
        assert!(html.contains("李县长"));
        assert!(html.contains("梨树县"));

        let empty = content(
            "梨树县",
            date!(2026 - 11 - 30),
            None,
            None,
            "https://x.test",
        );
        let mail = digest_mail("leader@example.org", &empty).unwrap();
        assert!(mail.text.contains("暂无排行数据"), "{}", mail.text);
        assert!(mail.text.contains("2026-11-23"), "{}", mail.text);
    }
}

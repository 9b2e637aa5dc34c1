//! Responsible departments and targets on the engine under test: rules applied set-based agree
//! with the pure rule order, manual assignments survive, re-applying changes nothing, CSV
//! imports reject what they cannot use, targets are checked, and every change is audited.

use std::collections::HashMap;
use std::process::Command;

use xinyidai::application::assignment;
use xinyidai::config::DatabaseUrl;
use xinyidai::domain::assignment_rule::{self, EntityFacts, MatchKind, Rule, TargetAmount};
use xinyidai::domain::roster_entry::RosterEntry;
use xinyidai::on_pool;
use xinyidai::store::assignments::{self, AssignError};
use xinyidai::store::{self, Db};

use crate::cli::xinyidai;
use crate::helpers::{FreshDatabase, fresh_database};
use crate::import::entities;

const COUNTY: &str = "220322";
const ACTOR: &str = "account:1";

struct Setup {
    db: Db,
    roster: Vec<RosterEntry>,
    fresh: FreshDatabase,
}

/// A fresh database with 梨树县's departments and some hundred of its entities.
async fn setup() -> Setup {
    let fresh = fresh_database().await;
    let db = Db::open(&DatabaseUrl::new(fresh.url.clone()), 2)
        .await
        .unwrap();
    let tree = store::divisions::load(&db).await.unwrap();
    store::departments::seed_county(&db, &tree, COUNTY)
        .await
        .unwrap();
    let roster: Vec<RosterEntry> = entities(1_500, 21)
        .into_iter()
        .filter(|e| e.county_code == COUNTY)
        .collect();
    assert!(roster.len() > 100, "{}", roster.len());
    store::entities::upsert_batch(&db, &roster).await.unwrap();
    Setup { db, roster, fresh }
}

async fn department(db: &Db, name: &str) -> i64 {
    assignments::find_department(db, COUNTY, name)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no department {name}"))
        .id
}

#[derive(Debug, sqlx::FromRow)]
struct Assigned {
    uscc: String,
    township_code: Option<String>,
    industry: Option<String>,
    kind: String,
    department_id: Option<i64>,
    assigned_by: Option<String>,
}

async fn assigned(db: &Db) -> Vec<Assigned> {
    on_pool!(db, |pool| {
        sqlx::query_as::<_, Assigned>(
            "SELECT uscc, township_code, industry, kind, department_id, assigned_by
             FROM entities WHERE county_code = $1 ORDER BY uscc",
        )
        .bind(COUNTY)
        .fetch_all(pool)
        .await
        .unwrap()
    })
}

async fn audit_actions(db: &Db) -> Vec<(String, String, String)> {
    on_pool!(db, |pool| {
        sqlx::query_as::<_, (String, String, String)>(
            "SELECT action, subject, detail FROM audit_log
             WHERE action LIKE 'assignment.%' ORDER BY id",
        )
        .fetch_all(pool)
        .await
        .unwrap()
    })
}

/// The most common value of `f` among the roster, so a rule surely matches something.
fn most_common(roster: &[RosterEntry], f: impl Fn(&RosterEntry) -> Option<String>) -> String {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for e in roster {
        if let Some(v) = f(e) {
            *counts.entry(v).or_default() += 1;
        }
    }
    counts.into_iter().max_by_key(|(_, n)| *n).unwrap().0
}

#[tokio::test]
async fn rules_assign_in_priority_order_and_a_catch_all_leaves_no_entity_without_a_department() {
    let s = setup().await;
    let township = most_common(&s.roster, |e| e.township_code.clone());
    let industry = most_common(&s.roster, |e| e.industry.map(String::from));
    let (a, b, c, d) = (
        department(&s.db, "商务局").await,
        department(&s.db, "工信局").await,
        department(&s.db, "市场监管局").await,
        department(&s.db, "发改局").await,
    );
    let township_rule = assignments::add_rule(
        &s.db,
        COUNTY,
        MatchKind::Township,
        Some(&township),
        a,
        10,
        ACTOR,
    )
    .await
    .unwrap();
    assignments::add_rule(
        &s.db,
        COUNTY,
        MatchKind::Industry,
        Some(&industry),
        b,
        10,
        ACTOR,
    )
    .await
    .unwrap();
    assignments::add_rule(
        &s.db,
        COUNTY,
        MatchKind::Kind,
        Some("个体工商户"),
        c,
        5,
        ACTOR,
    )
    .await
    .unwrap();

    let first = assignments::apply_rules(&s.db, COUNTY, ACTOR)
        .await
        .unwrap();
    let rows = assigned(&s.db).await;
    let rules: Vec<Rule> = assignments::list_rules(&s.db, COUNTY)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.rule)
        .collect();
    assert_eq!(rules[0].kind, MatchKind::Kind, "priority 5 is tried first");
    assert_eq!(rules[1].id, township_rule, "then township before industry");
    // The set-based SQL agrees with the pure rule order on every entity.
    for row in &rows {
        let facts = EntityFacts {
            township_code: row.township_code.as_deref(),
            industry: row.industry.as_deref(),
            kind: &row.kind,
        };
        let expected = assignment_rule::decide(&rules, &facts).map(|r| r.department_id);
        assert_eq!(row.department_id, expected, "{row:?}");
        assert_eq!(
            row.assigned_by.as_deref(),
            expected.map(|_| "rule"),
            "{row:?}"
        );
    }
    let with = rows.iter().filter(|r| r.department_id.is_some()).count() as u64;
    assert!(with > 0 && first.unassigned > 0, "{first:?}");
    assert_eq!(first.assigned, with);
    assert_eq!(first.changed, with);
    assert_eq!(first.assigned + first.unassigned, rows.len() as u64);
    // Every department used is one of the rules'.
    assert!(
        rows.iter()
            .filter_map(|r| r.department_id)
            .all(|id| [a, b, c].contains(&id))
    );

    assignments::add_rule(&s.db, COUNTY, MatchKind::Any, None, d, 1000, ACTOR)
        .await
        .unwrap();
    let second = assignments::apply_rules(&s.db, COUNTY, ACTOR)
        .await
        .unwrap();
    assert_eq!(second.unassigned, 0);
    assert_eq!(
        second.changed, first.unassigned,
        "only the unassigned moved"
    );
    let rows = assigned(&s.db).await;
    assert!(rows.iter().all(|r| r.department_id.is_some()));
    assert_eq!(
        rows.iter().filter(|r| r.department_id == Some(d)).count() as u64,
        first.unassigned
    );

    let again = assignments::apply_rules(&s.db, COUNTY, ACTOR)
        .await
        .unwrap();
    assert_eq!(again.changed, 0, "idempotent");
    assert_eq!(again.assigned, rows.len() as u64);

    // Removing a rule hands its entities on at the next run.
    assignments::remove_rule(&s.db, COUNTY, township_rule, ACTOR)
        .await
        .unwrap();
    let after = assignments::apply_rules(&s.db, COUNTY, ACTOR)
        .await
        .unwrap();
    assert!(after.changed > 0);
    assert_eq!(after.unassigned, 0);
    assert!(
        assigned(&s.db)
            .await
            .iter()
            .all(|r| r.department_id != Some(a))
    );

    let actions: Vec<String> = audit_actions(&s.db)
        .await
        .into_iter()
        .map(|a| a.0)
        .collect();
    assert_eq!(
        actions,
        [
            "assignment.rule_added",
            "assignment.rule_added",
            "assignment.rule_added",
            "assignment.rules_applied",
            "assignment.rule_added",
            "assignment.rules_applied",
            "assignment.rules_applied",
            "assignment.rule_removed",
            "assignment.rules_applied",
        ]
    );
    let (_, subject, detail) = audit_actions(&s.db).await.remove(8);
    assert_eq!(subject, "county:220322");
    let detail: serde_json::Value = serde_json::from_str(&detail).unwrap();
    assert_eq!(detail["changed"], after.changed);
    assert_eq!(detail["unassigned"], 0);
    assert!(store::audit::verify(&s.db).await.unwrap().is_intact());
}

#[tokio::test]
async fn rules_are_checked_and_not_duplicated() {
    let s = setup().await;
    let d = department(&s.db, "发改局").await;
    let err = |r: Result<i64, AssignError>| r.unwrap_err().to_string();
    assert!(
        err(
            assignments::add_rule(&s.db, COUNTY, MatchKind::Industry, Some("Z"), d, 1, ACTOR).await
        )
        .contains("无法识别")
    );
    assert!(
        err(assignments::add_rule(
            &s.db,
            COUNTY,
            MatchKind::Township,
            Some("220381100"),
            d,
            1,
            ACTOR
        )
        .await)
        .contains("不属于本县")
    );
    assert!(
        err(assignments::add_rule(
            &s.db,
            COUNTY,
            MatchKind::Kind,
            Some("企业"),
            999_999,
            1,
            ACTOR
        )
        .await)
        .contains("部门")
    );
    assignments::add_rule(&s.db, COUNTY, MatchKind::Any, None, d, 1, ACTOR)
        .await
        .unwrap();
    assert!(
        err(assignments::add_rule(&s.db, COUNTY, MatchKind::Any, None, d, 2, ACTOR).await)
            .contains("已有一条")
    );
    assert!(matches!(
        assignments::remove_rule(&s.db, COUNTY, 424_242, ACTOR).await,
        Err(AssignError::UnknownRule(424_242))
    ));
    assert_eq!(
        assignments::list_rules(&s.db, COUNTY).await.unwrap().len(),
        1
    );
    assert_eq!(
        audit_actions(&s.db).await.len(),
        1,
        "refusals leave no trace"
    );
}

#[tokio::test]
async fn a_manual_assignment_survives_rules_and_is_audited() {
    let s = setup().await;
    let (rule_dept, manual_dept) = (
        department(&s.db, "发改局").await,
        department(&s.db, "税务局").await,
    );
    assignments::add_rule(&s.db, COUNTY, MatchKind::Any, None, rule_dept, 0, ACTOR)
        .await
        .unwrap();
    assignments::apply_rules(&s.db, COUNTY, ACTOR)
        .await
        .unwrap();
    let uscc = s.roster[0].uscc.as_str();
    let done = assignments::reassign(&s.db, COUNTY, uscc, manual_dept, ACTOR)
        .await
        .unwrap();
    assert_eq!(
        (done.from, done.to, done.changed),
        (Some(rule_dept), manual_dept, true)
    );
    let again = assignments::reassign(&s.db, COUNTY, uscc, manual_dept, ACTOR)
        .await
        .unwrap();
    assert!(!again.changed);

    let report = assignments::apply_rules(&s.db, COUNTY, ACTOR)
        .await
        .unwrap();
    assert_eq!(report.changed, 0);
    let row = assigned(&s.db)
        .await
        .into_iter()
        .find(|r| r.uscc == uscc)
        .unwrap();
    assert_eq!(row.department_id, Some(manual_dept));
    assert_eq!(row.assigned_by.as_deref(), Some("manual"));

    assert!(matches!(
        assignments::reassign(&s.db, COUNTY, "91220322MA00000000", manual_dept, ACTOR).await,
        Err(AssignError::UnknownEntity(_))
    ));
    assert!(matches!(
        assignments::reassign(&s.db, COUNTY, uscc, 999_999, ACTOR).await,
        Err(AssignError::UnknownDepartment(_))
    ));
    let reassigned: Vec<_> = audit_actions(&s.db)
        .await
        .into_iter()
        .filter(|a| a.0 == "assignment.reassigned")
        .collect();
    assert_eq!(reassigned.len(), 1);
    assert_eq!(reassigned[0].1, format!("entity:{uscc}"));
    let detail: serde_json::Value = serde_json::from_str(&reassigned[0].2).unwrap();
    assert_eq!(
        detail,
        serde_json::json!({"from": rule_dept, "to": manual_dept})
    );
    // No personal data: the legal representative's name is nowhere in the details.
    assert!(!reassigned[0].2.contains(&s.roster[0].legal_rep));
}

#[tokio::test]
async fn a_csv_import_assigns_by_hand_and_explains_every_reject() {
    let s = setup().await;
    let tax = department(&s.db, "税务局").await;
    let csv = format!(
        "统一社会信用代码,部门,备注\n{a},税务局,甲\n{b},{tax},乙\nNOSUCHCODE0000000X,税务局,丙\n{c},不存在的局,丁\n{a},商务局,重复\n",
        a = s.roster[0].uscc.as_str(),
        b = s.roster[1].uscc.as_str(),
        c = s.roster[2].uscc.as_str(),
    );
    let (gbk, _, _) = encoding_rs::GBK.encode(&csv);
    let file = assignment::read_assignment_csv(&gbk).unwrap();
    let report = assignments::import_assignments(&s.db, COUNTY, &file.rows, ACTOR)
        .await
        .unwrap();
    assert_eq!((report.accepted, report.changed), (2, 2));
    let reasons: Vec<(u64, &str)> = report
        .rejected
        .iter()
        .map(|r| (r.line, r.reason.as_str()))
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert_eq!(reasons[0].0, 4);
    assert!(reasons[0].1.contains("名录中没有"), "{reasons:?}");
    assert_eq!(reasons[1].0, 5);
    assert!(reasons[1].1.contains("“不存在的局”的部门"), "{reasons:?}");
    assert_eq!(reasons[2].0, 6);
    assert!(reasons[2].1.contains("与第2行重复"), "{reasons:?}");
    assert_eq!(report.rejected[1].original[2], "丁");

    let rows = assigned(&s.db).await;
    for e in &s.roster[..2] {
        let row = rows.iter().find(|r| r.uscc == e.uscc.as_str()).unwrap();
        assert_eq!(
            (row.department_id, row.assigned_by.as_deref()),
            (Some(tax), Some("manual"))
        );
    }
    // Importing again changes nothing.
    let again = assignments::import_assignments(&s.db, COUNTY, &file.rows, ACTOR)
        .await
        .unwrap();
    assert_eq!((again.accepted, again.changed), (2, 0));
    assert_eq!(
        audit_actions(&s.db)
            .await
            .iter()
            .filter(|a| a.0 == "assignment.reassigned")
            .count(),
        2
    );
}

#[tokio::test]
async fn targets_are_a_count_or_a_share_per_month() {
    let s = setup().await;
    let (a, b) = (
        department(&s.db, "发改局").await,
        department(&s.db, "商务局").await,
    );
    let deadline = time::macros::date!(2026 - 12 - 31);
    assignments::set_target(
        &s.db,
        COUNTY,
        a,
        "2026-12",
        TargetAmount::Count(120),
        deadline,
        ACTOR,
    )
    .await
    .unwrap();
    assignments::set_target(
        &s.db,
        COUNTY,
        b,
        "2026-12",
        TargetAmount::Share(0.8),
        deadline,
        ACTOR,
    )
    .await
    .unwrap();
    // Setting again replaces.
    assignments::set_target(
        &s.db,
        COUNTY,
        a,
        "2026-12",
        TargetAmount::Share(0.5),
        deadline,
        ACTOR,
    )
    .await
    .unwrap();
    let targets = assignments::targets_for(&s.db, COUNTY, "2026-12")
        .await
        .unwrap();
    let amounts: Vec<(i64, TargetAmount)> = targets
        .iter()
        .map(|t| (t.department_id, t.amount))
        .collect();
    assert_eq!(
        amounts,
        [(a, TargetAmount::Share(0.5)), (b, TargetAmount::Share(0.8))]
    );
    assert_eq!(targets[0].deadline, deadline);
    assert_eq!(targets[1].department_name, "商务局");
    assert!(
        assignments::targets_for(&s.db, COUNTY, "2027-01")
            .await
            .unwrap()
            .is_empty()
    );

    for (period, amount, expected) in [
        ("2026-13", TargetAmount::Count(1), "考核期"),
        ("2026-12", TargetAmount::Share(1.5), "目标比例"),
        ("2026-12", TargetAmount::Share(0.0), "目标比例"),
        ("2026-12", TargetAmount::Count(0), "目标数量"),
    ] {
        let error = assignments::set_target(&s.db, COUNTY, a, period, amount, deadline, ACTOR)
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains(expected), "{error}");
    }
    assert!(matches!(
        assignments::set_target(
            &s.db,
            COUNTY,
            999_999,
            "2026-12",
            TargetAmount::Count(1),
            deadline,
            ACTOR
        )
        .await,
        Err(AssignError::UnknownDepartment(_))
    ));
    // The database refuses both set, or neither, whatever the caller.
    let both = on_pool!(&s.db, |pool| {
        sqlx::query(
            "INSERT INTO department_targets (department_id, period, target_count, target_share, deadline)
             VALUES ($1, '2027-01', 5, 0.5, $2)",
        )
        .bind(a)
        .bind(deadline)
        .execute(pool)
        .await
        .is_err()
    });
    assert!(both);
    assert_eq!(
        audit_actions(&s.db)
            .await
            .iter()
            .filter(|a| a.0 == "assignment.target_set")
            .count(),
        3
    );
}

fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[tokio::test]
async fn the_assign_and_target_commands_work_and_refuse_bad_input_in_chinese() {
    let s = setup().await;
    let url = s.fresh.url.clone();
    let township = most_common(&s.roster, |e| e.township_code.clone());

    let (ok, _, stderr) = run(xinyidai(&url).args([
        "assign",
        "rule",
        "add",
        "--kind",
        "township",
        "--value",
        &township,
        "--department",
        "商务局",
        "--priority",
        "10",
    ]));
    assert!(ok, "{stderr}");
    let (ok, stdout, stderr) = run(xinyidai(&url).args(["assign", "apply"]));
    assert!(ok, "{stderr}");
    let last = stdout.lines().last().unwrap().to_owned();
    assert!(
        last.starts_with("assigned=") && !last.ends_with("unassigned=0"),
        "{last}"
    );
    assert!(stderr.contains("--kind any"), "{stderr}");

    let (ok, _, stderr) = run(xinyidai(&url).args([
        "assign",
        "rule",
        "add",
        "--kind",
        "any",
        "--department",
        "发改局",
        "--priority",
        "1000",
    ]));
    assert!(ok, "{stderr}");
    let (ok, stdout, _) = run(xinyidai(&url).args(["assign", "apply"]));
    assert!(ok);
    assert!(
        stdout.lines().last().unwrap().ends_with("unassigned=0"),
        "{stdout}"
    );
    let (ok, stdout, _) = run(xinyidai(&url).args(["assign", "apply"]));
    assert!(ok);
    let total = s.roster.len();
    assert_eq!(
        stdout.lines().last(),
        Some(format!("assigned={total} changed=0 unassigned=0").as_str())
    );
    let (ok, stdout, _) = run(xinyidai(&url).args(["assign", "rule", "list"]));
    assert!(ok);
    assert!(
        stdout.contains("商务局") && stdout.contains("any"),
        "{stdout}"
    );

    // CSV import with a rejects file.
    let csv = s.fresh.dir.path().join("分配.csv");
    let rejects = s.fresh.dir.path().join("bad.csv");
    std::fs::write(
        &csv,
        format!(
            "uscc,department\n{},税务局\nNOSUCHCODE0000000X,税务局\n",
            s.roster[0].uscc.as_str()
        ),
    )
    .unwrap();
    let (ok, stdout, stderr) = run(xinyidai(&url).args([
        "assign",
        "import",
        csv.to_str().unwrap(),
        "--rejects",
        rejects.to_str().unwrap(),
    ]));
    assert!(ok, "{stderr}");
    assert_eq!(stdout.lines().last(), Some("accepted=1 rejected=1"));
    let bad = std::fs::read_to_string(&rejects).unwrap();
    assert!(
        bad.contains("名录中没有") && bad.contains("NOSUCHCODE"),
        "{bad}"
    );

    let (ok, _, stderr) = run(xinyidai(&url).args([
        "target",
        "set",
        "--department",
        "税务局",
        "--period",
        "2026-12",
        "--share",
        "0.8",
        "--deadline",
        "2026-12-31",
    ]));
    assert!(ok, "{stderr}");

    let audit_before = audit_actions(&s.db).await.len();
    for (args, expected) in [
        (
            vec![
                "assign",
                "rule",
                "add",
                "--kind",
                "乡镇",
                "--department",
                "商务局",
            ],
            "--kind 应为",
        ),
        (
            vec![
                "assign",
                "rule",
                "add",
                "--kind",
                "any",
                "--department",
                "没有这个局",
            ],
            "没有名为“没有这个局”的部门",
        ),
        (
            vec![
                "target",
                "set",
                "--department",
                "税务局",
                "--period",
                "2026-12",
                "--share",
                "80",
                "--deadline",
                "2026-12-31",
            ],
            "目标比例",
        ),
        (
            vec![
                "target",
                "set",
                "--department",
                "税务局",
                "--period",
                "2026-12",
                "--count",
                "5",
                "--share",
                "0.5",
                "--deadline",
                "2026-12-31",
            ],
            "不能同时",
        ),
        (
            vec![
                "target",
                "set",
                "--department",
                "税务局",
                "--period",
                "26-12",
                "--count",
                "5",
                "--deadline",
                "2026-12-31",
            ],
            "考核期",
        ),
        (
            vec!["assign", "import", "/no/such/file.csv"],
            "无法读取文件",
        ),
    ] {
        let (ok, _, stderr) = run(xinyidai(&url).args(&args));
        assert!(!ok, "{args:?} succeeded");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    assert_eq!(
        audit_actions(&s.db).await.len(),
        audit_before,
        "refusals write nothing"
    );
    let targets = assignments::targets_for(&s.db, COUNTY, "2026-12")
        .await
        .unwrap();
    assert_eq!(targets.len(), 1);
    assert_eq!(targets[0].amount, TargetAmount::Share(0.8));
}

#[tokio::test]
async fn a_roster_import_gives_new_entities_their_department_at_once() {
    let fresh = fresh_database().await;
    let url = fresh.url.clone();
    let (ok, _, stderr) = run(xinyidai(&url).args([
        "assign",
        "rule",
        "add",
        "--kind",
        "any",
        "--department",
        "发改局",
        "--priority",
        "1000",
    ]));
    assert!(ok, "{stderr}");
    let roster: Vec<RosterEntry> = entities(400, 5)
        .into_iter()
        .filter(|e| e.county_code == COUNTY)
        .collect();
    let csv = fresh.dir.path().join("名录.csv");
    xinyidai::demo::write_roster_csv(std::fs::File::create(&csv).unwrap(), &roster).unwrap();
    let (ok, stdout, stderr) = run(xinyidai(&url).args(["import-roster", csv.to_str().unwrap()]));
    assert!(ok, "{stderr}");
    assert_eq!(
        stdout.lines().last(),
        Some(format!("accepted={} rejected=0", roster.len()).as_str())
    );
    assert!(stderr.contains("已按分配规则更新责任部门"), "{stderr}");
    let db = Db::open(&DatabaseUrl::new(url), 1).await.unwrap();
    let fdgj = department(&db, "发改局").await;
    let got = assigned(&db).await;
    assert_eq!(got.len(), roster.len());
    assert!(
        got.iter()
            .all(|a| a.department_id == Some(fdgj) && a.assigned_by.as_deref() == Some("rule"))
    );
    db.close().await;
}

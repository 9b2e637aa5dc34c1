//! Roster import through the library, on the engine under test.

use std::path::Path;

use indicatif::ProgressBar;
use xinyidai::demo;
use xinyidai::domain::division::DivisionTree;
use xinyidai::domain::roster_entry::RosterEntry;
use xinyidai::roster::import::{ImportError, ImportOptions, ImportSummary, import_file};
use xinyidai::store::Db;
use xinyidai::{config::DatabaseUrl, on_pool, store};

use crate::helpers::{FreshDatabase, fresh_database};

pub const HEADERS: [&str; 8] = demo::ROSTER_HEADERS;

pub fn today() -> time::Date {
    time::macros::date!(2026 - 11 - 29)
}

pub fn row_of(e: &RosterEntry) -> Vec<String> {
    demo::roster_record(e).to_vec()
}

/// Writes a UTF-8 roster CSV with Chinese headers.
pub fn write_csv(path: &Path, rows: &[Vec<String>]) {
    let mut w = csv::Writer::from_path(path).unwrap();
    w.write_record(HEADERS).unwrap();
    for r in rows {
        w.write_record(r).unwrap();
    }
    w.flush().unwrap();
}

/// Synthetic entities, as the demo makes them.
pub fn entities(n: usize, seed: u64) -> Vec<RosterEntry> {
    demo::synthesise(&DivisionTree::seed(), n, seed, today())
}

struct Setup {
    db: Db,
    tree: DivisionTree,
    fresh: FreshDatabase,
}

async fn setup() -> Setup {
    let fresh = fresh_database().await;
    let db = Db::open(&DatabaseUrl::new(fresh.url.clone()), 2)
        .await
        .unwrap();
    let tree = store::divisions::load(&db).await.unwrap();
    Setup { db, tree, fresh }
}

fn options(scope: &str, rejects: Option<&Path>) -> ImportOptions {
    ImportOptions {
        scope: scope.to_owned(),
        batch_size: 250,
        rejects: rejects.map(Path::to_owned),
        today: today(),
    }
}

async fn import(
    s: &Setup,
    file: &Path,
    opts: &ImportOptions,
) -> Result<ImportSummary, ImportError> {
    import_file(&s.db, &s.tree, file, opts, &ProgressBar::hidden()).await
}

/// One roster row, every column that an import may change.
#[derive(Debug, PartialEq, sqlx::FromRow)]
struct Dumped {
    uscc: String,
    name: String,
    kind: String,
    legal_rep: String,
    county_code: String,
    township_code: Option<String>,
    industry: Option<String>,
    address: Option<String>,
    founded: Option<time::Date>,
    status: String,
    updated_at: time::OffsetDateTime,
}

/// Every roster row in a stable order.
async fn dump(db: &Db) -> Vec<Dumped> {
    on_pool!(db, |pool| {
        sqlx::query_as::<_, Dumped>(
            "SELECT uscc, name, kind, legal_rep, county_code, township_code, industry, address,
                    founded, status, updated_at
             FROM entities ORDER BY uscc",
        )
        .fetch_all(pool)
        .await
        .unwrap()
    })
}

#[tokio::test]
async fn importing_the_same_file_twice_gives_the_same_database() {
    let s = setup().await;
    let all = entities(1_500, 5);
    let path = s.fresh.dir.path().join("roster.csv");
    write_csv(&path, &all.iter().map(row_of).collect::<Vec<_>>());
    let in_scope = all
        .iter()
        .filter(|e| e.county_code == "220300" || s.tree.is_within(&e.county_code, "220300"))
        .count();

    let first = import(&s, &path, &options("220300", None)).await.unwrap();
    assert_eq!(first.accepted as usize, in_scope);
    assert_eq!(first.rejected, 0);
    assert_eq!(first.changed, first.accepted);
    assert_eq!(first.encoding, "UTF-8");
    let before = dump(&s.db).await;
    assert_eq!(before.len(), in_scope);

    let second = import(&s, &path, &options("220300", None)).await.unwrap();
    assert_eq!(
        (second.accepted, second.rejected, second.changed),
        (first.accepted, 0, 0)
    );
    assert_eq!(
        dump(&s.db).await,
        before,
        "a second import changed the database"
    );
    s.db.close().await;
}

#[tokio::test]
async fn a_changed_row_is_updated_and_nothing_else_is_touched() {
    let s = setup().await;
    let all: Vec<RosterEntry> = entities(600, 6)
        .into_iter()
        .filter(|e| e.county_code == "220322")
        .collect();
    let path = s.fresh.dir.path().join("roster.csv");
    let mut rows: Vec<Vec<String>> = all.iter().map(row_of).collect();
    write_csv(&path, &rows);
    import(&s, &path, &options("220322", None)).await.unwrap();
    let before = dump(&s.db).await;

    rows[7][1] = format!("{}（已更名）", rows[7][1]);
    let to_cancel = rows.iter().position(|r| r[7] != "注销").unwrap();
    assert_ne!(to_cancel, 7);
    rows[to_cancel][7] = "注销".to_owned();
    let cancelled = rows[to_cancel][0].clone();
    // New entities in the same batches as known ones (PostgreSQL then takes the upsert path).
    let newcomers: Vec<Vec<String>> = entities(300, 60)
        .iter()
        .filter(|e| e.county_code == "220322")
        .take(3)
        .map(row_of)
        .collect();
    for (i, row) in newcomers.iter().enumerate() {
        rows.insert(i * 50, row.clone());
    }
    write_csv(&path, &rows);
    let again = import(&s, &path, &options("220322", None)).await.unwrap();
    assert_eq!(again.changed, 5);
    let mut after = dump(&s.db).await;
    assert_eq!(after.len(), before.len() + 3);
    after.retain(|r| !newcomers.iter().any(|n| n[0] == r.uscc));
    let differing: Vec<&str> = before
        .iter()
        .zip(&after)
        .filter(|(a, b)| a != b)
        .map(|(a, _)| a.uscc.as_str())
        .collect();
    assert_eq!(differing.len(), 2);
    assert!(after.iter().any(|r| r.name.ends_with("（已更名）")));
    assert!(
        after
            .iter()
            .any(|r| r.uscc == cancelled && r.status == "cancelled")
    );
    s.db.close().await;
}

#[tokio::test]
async fn bad_rows_are_rejected_with_reasons_and_good_rows_still_land() {
    let s = setup().await;
    let good: Vec<RosterEntry> = entities(400, 8)
        .into_iter()
        .filter(|e| e.county_code == "220322")
        .take(20)
        .collect();
    let mut rows: Vec<Vec<String>> = good.iter().map(row_of).collect();
    let template = rows[0].clone();
    let with = |col: usize, value: &str| {
        let mut r = template.clone();
        r[col] = value.to_owned();
        r
    };
    let mut bad_check = template[0].clone();
    let last = bad_check.pop().unwrap();
    bad_check.push(if last == '0' { '1' } else { '0' });
    let bad = vec![
        with(0, &bad_check), // check character
        with(0, ""),         // no code
        template.clone(),    // duplicate of line 2
        {
            let mut r = with(1, "");
            r[0] = good[1].uscc.as_str().to_owned();
            r
        }, // no name (and otherwise fine)
        {
            let mut r = with(3, "220382100");
            r[0] = good[2].uscc.as_str().to_owned();
            r
        }, // township in 双辽市
        {
            let mut r = with(6, "2099-01-01");
            r[0] = good[3].uscc.as_str().to_owned();
            r
        }, // founded in the future
    ];
    // The rows already used as templates for bad ones must not also appear good.
    rows.retain(|r| {
        ![
            good[1].uscc.as_str(),
            good[2].uscc.as_str(),
            good[3].uscc.as_str(),
        ]
        .contains(&r[0].as_str())
    });
    let good_count = rows.len();
    rows.extend(bad);
    let path = s.fresh.dir.path().join("roster.csv");
    let rejects = s.fresh.dir.path().join("rejects.csv");
    write_csv(&path, &rows);

    let summary = import(&s, &path, &options("220322", Some(&rejects)))
        .await
        .unwrap();
    assert_eq!(summary.accepted as usize, good_count);
    assert_eq!(summary.rejected, 6);
    assert_eq!(
        store::entities::count(&s.db).await.unwrap() as usize,
        good_count
    );

    let bytes = std::fs::read(&rejects).unwrap();
    assert!(
        bytes.starts_with(b"\xEF\xBB\xBF"),
        "rejects file has a BOM for Excel"
    );
    let mut reader = csv::Reader::from_reader(&bytes[3..]);
    let headers: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(&headers[..8], HEADERS);
    assert_eq!(headers[8], "reason");
    let reasons: Vec<String> = reader.records().map(|r| r.unwrap()[8].to_owned()).collect();
    assert_eq!(reasons.len(), 6);
    let expect = [
        "校验位",
        "统一社会信用代码",
        "重复",
        "名称",
        "不在本辖区",
        "成立日期",
    ];
    for (reason, word) in reasons.iter().zip(expect) {
        assert!(reason.contains(word), "{reason:?} should mention {word}");
        assert!(reason.starts_with('第'), "{reason:?} should give the line");
    }
    s.db.close().await;
}

#[tokio::test]
async fn a_file_without_the_required_columns_is_refused_before_writing() {
    let s = setup().await;
    let path = s.fresh.dir.path().join("roster.csv");
    std::fs::write(&path, "uscc,address\n91220322MA0000000X,somewhere\n").unwrap();
    let err = import(&s, &path, &options("220322", None))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("缺少必需的列") && msg.contains("名称") && msg.contains("法定代表人"),
        "{msg}"
    );
    assert_eq!(store::entities::count(&s.db).await.unwrap(), 0);

    let err = import(&s, &path, &options("990000", None))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("990000"));
    s.db.close().await;
}

#[tokio::test]
async fn english_headers_gbk_and_xlsx_files_import_alike() {
    let s = setup().await;
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/roster");
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&fixtures).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("roster") {
            continue;
        }
        let summary = import(&s, &path, &options("220322", None)).await.unwrap();
        assert!(
            summary.accepted > 0 && summary.rejected == 0,
            "{name}: {summary:?}"
        );
        seen.push((name, summary.encoding));
    }
    assert!(seen.len() >= 3, "fixtures: {seen:?}");
    assert!(
        seen.iter().any(|(_, enc)| enc.contains("GB")),
        "a GBK fixture: {seen:?}"
    );
    assert!(
        seen.iter().any(|(n, _)| n.ends_with(".xlsx")),
        "an XLSX fixture: {seen:?}"
    );
    s.db.close().await;
}

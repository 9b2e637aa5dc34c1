//! The `xinyidai` binary itself: commands, output contract, signals, interruption.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use xinyidai::config::DatabaseUrl;
use xinyidai::store::{self, Db};

use crate::helpers::{TempDir, engine_is_postgres, fresh_database};
use crate::import::{entities, row_of, write_csv};

/// The real binary with only the environment a test gives it.
pub fn xinyidai(database_url: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xinyidai"));
    // Only what we set: the developer's own DATABASE_URL must never leak into a test.
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .env("XYD_LOG", "warn");
    cmd
}

/// Runs `cmd`, asserts it succeeded, returns (stdout, stderr).
fn run_ok(cmd: &mut Command) -> (String, String) {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{cmd:?} failed: {stderr}");
    (String::from_utf8(out.stdout).unwrap(), stderr)
}

/// Starts a serving command and returns it with the URL it printed on stderr.
fn spawn_serving(cmd: &mut Command) -> (std::process::Child, String) {
    let mut child = cmd.stderr(Stdio::piped()).spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 {
        if let Some(rest) = line.split("http://").nth(1)
            && let Some(addr) = rest.split_whitespace().next()
        {
            return (child, format!("http://{addr}"));
        }
        line.clear();
    }
    let status = child.wait().unwrap();
    panic!("the command exited ({status}) without printing its URL");
}

fn kill(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn import_roster_ends_stdout_with_the_counts() {
    let fresh = fresh_database().await;
    let path = fresh.dir.path().join("roster.csv");
    let rejects = fresh.dir.path().join("rejects.csv");
    let mut rows: Vec<Vec<String>> = entities(800, 11)
        .iter()
        .filter(|e| e.county_code == "220322")
        .map(row_of)
        .collect();
    let good = rows.len();
    rows.push(vec![
        "不是代码".into(),
        "某公司".into(),
        "张三".into(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
    ]);
    write_csv(&path, &rows);

    let (stdout, stderr) = run_ok(xinyidai(&fresh.url).args([
        "import-roster",
        path.to_str().unwrap(),
        "--rejects",
        rejects.to_str().unwrap(),
    ]));
    assert_eq!(
        stdout.lines().last(),
        Some(format!("accepted={good} rejected=1").as_str())
    );
    assert!(
        stderr.contains("拒绝 1 行") && stderr.contains("rejects.csv"),
        "{stderr}"
    );

    // Idempotent from the command line too.
    let (_, stderr) = run_ok(xinyidai(&fresh.url).args(["import-roster", path.to_str().unwrap()]));
    assert!(stderr.contains("新增或变更 0 行"), "{stderr}");
}

#[tokio::test]
async fn import_roster_explains_a_missing_file_in_chinese() {
    let fresh = fresh_database().await;
    let out = xinyidai(&fresh.url)
        .args(["import-roster", "/no/such/file.csv"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("无法读取文件"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test]
async fn an_interrupted_import_leaves_whole_batches_and_can_be_rerun() {
    let fresh = fresh_database().await;
    let path = fresh.dir.path().join("big.csv");
    let all: Vec<Vec<String>> = entities(120_000, 12).iter().map(row_of).collect();
    let total = all.len();
    write_csv(&path, &all);
    let batch = 500;
    let db = Db::open(&DatabaseUrl::new(fresh.url.clone()), 1)
        .await
        .unwrap();

    let mut child = xinyidai(&fresh.url)
        .env("XYD_JURISDICTION", "220300")
        .args([
            "import-roster",
            path.to_str().unwrap(),
            "--batch-size",
            &batch.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n = store::entities::count(&db).await.unwrap_or(0);
        if n > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "import never wrote a batch");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    kill(child.id(), "-KILL");
    let _ = child.wait();

    let landed = store::entities::count(&db).await.unwrap() as usize;
    assert!(
        landed < total,
        "the import finished before it could be interrupted"
    );
    assert_eq!(
        landed % batch,
        0,
        "a partial batch was left behind: {landed}"
    );

    let (stdout, _) = run_ok(
        xinyidai(&fresh.url)
            .env("XYD_JURISDICTION", "220300")
            .args([
                "import-roster",
                path.to_str().unwrap(),
                "--batch-size",
                &batch.to_string(),
            ]),
    );
    assert_eq!(
        stdout.lines().last(),
        Some(format!("accepted={total} rejected=0").as_str())
    );
    assert_eq!(store::entities::count(&db).await.unwrap() as usize, total);
    db.close().await;
}

#[tokio::test]
async fn migrate_then_serve_then_stop_gracefully_on_sigterm() {
    let fresh = fresh_database().await;
    run_ok(xinyidai(&fresh.url).arg("migrate"));

    let (mut child, url) =
        spawn_serving(xinyidai(&fresh.url).args(["serve", "--listen", "127.0.0.1:0"]));
    let body = crate::helpers::http_client()
        .build()
        .unwrap()
        .get(format!("{url}healthz"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "ok");

    kill(child.id(), "-TERM");
    let status = child.wait().unwrap();
    assert!(status.success(), "serve exited with {status} after SIGTERM");
}

#[tokio::test]
async fn demo_builds_a_fresh_database_of_the_requested_size() {
    if engine_is_postgres() {
        return; // the demo always runs on its own embedded SQLite file
    }
    let dir = TempDir::new();
    let data = dir.path().join("demo");
    for _ in 0..2 {
        run_ok(xinyidai("sqlite://unused.db").args([
            "demo",
            "--entities",
            "1500",
            "--no-serve",
            "--data-dir",
            data.to_str().unwrap(),
        ]));
    }
    // Run twice: the second run starts from scratch rather than piling up.
    let db = Db::open(
        &DatabaseUrl::new(format!("sqlite://{}", data.join("xinyidai.db").display())),
        1,
    )
    .await
    .unwrap();
    assert_eq!(store::entities::count(&db).await.unwrap(), 1500);
    let departments = store::departments::list(&db, "220322").await.unwrap();
    assert!(departments.len() >= 7 + 20);
    db.close().await;
}

#[tokio::test]
async fn agreements_are_published_once_per_version_and_the_audit_chain_verifies() {
    let fresh = fresh_database().await;
    run_ok(xinyidai(&fresh.url).arg("migrate"));
    let text = fresh.dir.path().join("agreement.txt");
    std::fs::write(&text, "《用户服务协议》\n版本：2027.1\n新条款。\n").unwrap();
    let (_, stderr) = run_ok(xinyidai(&fresh.url).args([
        "agreement",
        "publish",
        text.to_str().unwrap(),
        "--version",
        "2027.1",
    ]));
    let digest =
        xinyidai::domain::agreement::sha256_hex("《用户服务协议》\n版本：2027.1\n新条款。\n");
    assert!(stderr.contains(&digest), "{stderr}");

    // Published versions are immutable: the same version again is refused, in Chinese.
    let out = xinyidai(&fresh.url)
        .args([
            "agreement",
            "publish",
            text.to_str().unwrap(),
            "--version",
            "2027.1",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("已经发布过"));

    let (_, stderr) = run_ok(xinyidai(&fresh.url).args(["audit", "verify"]));
    assert!(stderr.contains("审计日志完整"), "{stderr}");
}

#[tokio::test]
async fn the_province_simulator_runs_on_its_own_file_and_stops_on_sigterm() {
    let dir = TempDir::new();
    let db = dir.path().join("sim").join("province-sim.db");
    let (mut child, url) = spawn_serving(xinyidai("sqlite://unused.db").args([
        "province-sim",
        "--listen",
        "127.0.0.1:0",
        "--db",
        db.to_str().unwrap(),
        "--reject",
        "91220322MA0Y3K2B1F:entity_blacklisted:列入严重失信名单",
    ]));
    let stats: serde_json::Value = crate::helpers::http_client()
        .build()
        .unwrap()
        .get(format!("{url}sim/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["received"], 0);
    assert!(db.exists(), "the simulator's database file was not created");
    kill(child.id(), "-TERM");
    assert!(child.wait().unwrap().success());

    let out = xinyidai("sqlite://unused.db")
        .args(["province-sim", "--reject", "no-colons"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--reject 的格式"));
}

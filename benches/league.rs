//! `cargo bench --bench league` (`scripts/bench league`): the leaders' league page over a city
//! of a million entities, against the plain `GROUP BY` over the roster that the read model saves,
//! measured in the same run.
//!
//! 1. A fresh database (SQLite in a temporary directory, or PostgreSQL with `--engine postgres
//!    --pg-url URL`) gets `--entities` made-up entities across 四平市's five county-level units,
//!    imported in batches as `import-roster` does (the read model is kept as they go in); each
//!    county's standard departments plus financial institutions up to `--departments`, with
//!    township, kind, industry and catch-all rules applied; registrations at every stage; and
//!    the snapshots of 7 and 14 days ago (the page compares with them).
//! 2. The real server (jurisdiction 220300, the city) answers `GET /leaders` for a logged-in
//!    leader `--requests` times, one after another over a kept-alive connection.
//! 3. The baseline: the same counts straight from the roster (`entities` LEFT JOIN
//!    `registrations`, `GROUP BY` department, township, kind, status and stage), `--baseline`
//!    times.
//!
//! It prints p50/p95 of both and the ratio of the medians (targets: page p95 ≤ 20 ms, ≥ 5×
//! faster than the `GROUP BY`), and fails if the page did not answer 200 with every table.
#![allow(clippy::print_stdout, reason = "the figures are this program's output")]

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use sqlx::Connection as _;
use xinyidai::config::{DatabaseUrl, Secret, Settings};
use xinyidai::demo::{self, DEMO_COUNTIES};
use xinyidai::domain::assignment_rule::MatchKind;
use xinyidai::security::id_vault::IdVault;
use xinyidai::store::accounts::{self, NewAccount, Role, SessionKind};
use xinyidai::store::departments::{self, DepartmentKind, NewDepartment};
use xinyidai::store::league::{self, Trigger};
use xinyidai::store::{self, Db, assignments};
use xinyidai::web::server::Application;

struct Args {
    entities: usize,
    departments: usize,
    requests: usize,
    baseline: usize,
    pg_url: Option<String>,
}

impl Args {
    fn parse() -> anyhow::Result<Args> {
        let mut args = Args {
            entities: 1_000_000,
            departments: 200,
            requests: 300,
            baseline: 10,
            pg_url: None,
        };
        let mut engine = "sqlite".to_owned();
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
            match flag.as_str() {
                "--entities" => args.entities = value()?.parse()?,
                "--departments" => args.departments = value()?.parse()?,
                "--requests" => args.requests = value()?.parse()?,
                "--baseline" => args.baseline = value()?.parse()?,
                "--engine" => engine = value()?,
                "--pg-url" => args.pg_url = Some(value()?),
                // cargo bench passes this to every bench target.
                "--bench" => {}
                other => bail!("unknown flag {other}"),
            }
        }
        match engine.as_str() {
            "sqlite" => args.pg_url = None,
            "postgres" => ensure!(args.pg_url.is_some(), "--engine postgres needs --pg-url"),
            other => bail!("--engine is sqlite or postgres, not {other}"),
        }
        Ok(args)
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse()?;
    xinyidai::tls::install_crypto_provider();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(&args))
}

/// p50 and p95 of `samples`, in milliseconds.
fn percentiles(samples: &mut [Duration]) -> (f64, f64) {
    samples.sort();
    let at = |q: f64| {
        let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i].as_secs_f64() * 1000.0
    };
    (at(0.50), at(0.95))
}

async fn fresh_database(args: &Args, dir: &Path) -> anyhow::Result<(String, Option<String>)> {
    let Some(admin) = &args.pg_url else {
        return Ok((format!("sqlite://{}", dir.join("bench.db").display()), None));
    };
    let name = format!("xyd_bench_{:016x}", rand::random::<u64>());
    let mut conn = sqlx::PgConnection::connect(admin).await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    Ok((format!("{base}/{name}"), Some(name)))
}

/// The city's departments and rules: each county's standard ones, financial institutions until
/// there are `total`, and rules by township, kind, industry (J, finance, to a bank) and a
/// catch-all, applied.
async fn departments_and_rules(db: &Db, total: usize) -> anyhow::Result<usize> {
    let tree = store::divisions::load(db).await?;
    for (county, _) in DEMO_COUNTIES {
        departments::seed_county(db, &tree, county).await?;
    }
    let mut count: usize = 0;
    for (county, _) in DEMO_COUNTIES {
        count += departments::list(db, county).await?.len();
    }
    let mut n = 0;
    while count < total {
        let (county, _) = DEMO_COUNTIES[n % DEMO_COUNTIES.len()];
        let name = format!("农村商业银行第{}支行", n / DEMO_COUNTIES.len() + 1);
        departments::create(
            db,
            &NewDepartment {
                county_code: county,
                name: &name,
                kind: DepartmentKind::Financial,
                township_code: None,
                actor: "cli",
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("adding {name}: {e}"))?;
        count += 1;
        n += 1;
    }
    for (i, (county, _)) in DEMO_COUNTIES.iter().enumerate() {
        let list = departments::list(db, county).await?;
        let named = |name: &str| list.iter().find(|d| d.name == name).map(|d| d.id);
        for d in &list {
            if let Some(code) = &d.township_code {
                assignments::add_rule(db, county, MatchKind::Township, Some(code), d.id, 10, "cli")
                    .await?;
            }
        }
        // Kind, industry and catch-all rules are unique across the deployment (one rule per
        // value), so only the first county gets them; elsewhere the township rules carry it.
        if i == 0 {
            if let Some(id) = named("农业农村局") {
                let kind = Some("farmer_cooperative");
                assignments::add_rule(db, county, MatchKind::Kind, kind, id, 5, "cli").await?;
            }
            if let Some(bank) = list.iter().find(|d| d.kind == "financial") {
                assignments::add_rule(
                    db,
                    county,
                    MatchKind::Industry,
                    Some("J"),
                    bank.id,
                    1,
                    "cli",
                )
                .await?;
            }
            if let Some(id) = named("市场监管局") {
                assignments::add_rule(db, county, MatchKind::Any, None, id, 100, "cli").await?;
            }
        }
        assignments::apply_rules(db, county, "cli").await?;
    }
    Ok(count)
}

async fn run(args: &Args) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("xyd-league-{:016x}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir)?;
    let (url, pg_name) = fresh_database(args, &dir).await?;
    let db = Db::open(&DatabaseUrl::new(url.clone()), 8).await?;
    let today = xinyidai::clock::today();

    let t0 = Instant::now();
    let tree = store::divisions::load(&db).await?;
    let roster = demo::synthesise(&tree, args.entities, 2026, today);
    for batch in roster.chunks(5_000) {
        store::entities::upsert_batch(&db, batch).await?;
    }
    drop(roster);
    let departments = departments_and_rules(&db, args.departments).await?;
    // Registrations at every stage: matched and signed, half of them then accepted or refused.
    let vault = IdVault::from_hex(&"5a".repeat(32))?;
    let ids = demo::seed_ready_registrations(&db, &vault, 2_000, 2026, |n| {
        format!("bench{n}@bench.invalid")
    })
    .await?;
    xinyidai::on_pool!(&db, |pool| {
        for (i, id) in ids.iter().enumerate() {
            let state = match i % 4 {
                0 | 1 => "accepted",
                2 => "rejected",
                _ => continue,
            };
            sqlx::query("UPDATE registrations SET sync_state = $1 WHERE id = $2")
                .bind(state)
                .bind(id)
                .execute(pool)
                .await?;
        }
    });
    league::rebuild(&db).await?;
    for days in [14, 7] {
        league::take_snapshot(&db, today - time::Duration::days(days), Trigger::Manual).await?;
    }
    let counties: Vec<String> = DEMO_COUNTIES.iter().map(|(c, _)| (*c).to_owned()).collect();
    let rows = league::counts(&db, &counties).await?.len();
    eprintln!(
        "prepared {} entities, {departments} departments, {rows} read-model rows in {:.0} s",
        args.entities,
        t0.elapsed().as_secs_f64()
    );

    // A leader's browser session, straight from the store.
    let hash = xinyidai::security::password::PasswordHasher::new(1)
        .hash("Bench-Leader-2026")
        .await?;
    let leader = accounts::create_account(
        &db,
        &NewAccount {
            email: "leader@bench.invalid",
            password_hash: &hash,
            role: Role::Leader,
            department_id: None,
            display_name: None,
            temporary_password: false,
            actor: "cli",
        },
    )
    .await?;
    let session = accounts::create_session(&db, leader, SessionKind::Cookie).await?;

    let mut settings = Settings::with_database(url.clone());
    settings.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    settings.jurisdiction = "220300".to_owned();
    settings.data_key = Some(Secret::new("5a".repeat(32)));
    settings.mail.dir = dir.join("mail");
    let app = Application::build_with_db(settings, db.clone()).await?;
    let addr = app.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::builder().build()?;
    let cookie = format!(
        "{}={session}",
        xinyidai::web::session::session_cookie_name(false)
    );
    let page = |client: reqwest::Client, cookie: String| async move {
        let started = Instant::now();
        let resp = client
            .get(format!("http://{addr}/leaders"))
            .header(reqwest::header::COOKIE, cookie)
            .send()
            .await?;
        let status = resp.status();
        let body = resp.text().await?;
        let took = started.elapsed();
        ensure!(status == 200, "GET /leaders answered {status}");
        anyhow::Ok((took, body))
    };
    let (_, body) = page(client.clone(), cookie.clone()).await?;
    ensure!(
        body.matches("<table").count() >= 4,
        "the league page lacks its tables"
    );
    for _ in 0..10 {
        page(client.clone(), cookie.clone()).await?;
    }
    let mut page_times = Vec::with_capacity(args.requests);
    for _ in 0..args.requests {
        page_times.push(page(client.clone(), cookie.clone()).await?.0);
    }

    let mut scan_times = Vec::with_capacity(args.baseline);
    for _ in 0..args.baseline {
        let started = Instant::now();
        let recounted = league::recount_from_roster(&db, &counties).await?;
        scan_times.push(started.elapsed());
        ensure!(!recounted.is_empty());
    }
    // The server closes the pool when it stops.
    let _ = stop.send(());
    server.await??;
    if let (Some(admin), Some(name)) = (&args.pg_url, pg_name) {
        let mut conn = sqlx::PgConnection::connect(admin).await?;
        sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await?;
    }
    let _ = std::fs::remove_dir_all(&dir);

    let (page50, page95) = percentiles(&mut page_times);
    let (scan50, scan95) = percentiles(&mut scan_times);
    println!("{:<28} {:>10} {:>10}", "", "p50 ms", "p95 ms");
    println!(
        "{:<28} {page50:>10.2} {page95:>10.2}",
        "GET /leaders (read model)"
    );
    println!(
        "{:<28} {scan50:>10.2} {scan95:>10.2}",
        "GROUP BY over the roster"
    );
    println!(
        "ratio (GROUP BY p50 / page p50): {:.1}×   targets: page p95 ≤ 20 ms, ratio ≥ 5",
        scan50 / page50
    );
    Ok(())
}

//! `demo`: a fresh demo database of generated entities, the county's work seeded, an in-process
//! provincial simulator, then the server.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

use xinyidai::config::{self, Settings};
use xinyidai::demo;
use xinyidai::store::{self, Db};

use super::progress_bar;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// 生成的市场主体数量
    #[arg(long, default_value_t = 24_000, value_parser = clap::value_parser!(u64).range(1..=2_000_000))]
    entities: u64,
    /// 监听地址
    #[arg(long, default_value = config::DEFAULT_LISTEN)]
    listen: String,
    /// 演示数据目录（每次启动都会重建其中的数据库）
    #[arg(long, default_value = "data/demo")]
    data_dir: PathBuf,
    /// 随机种子：相同种子生成相同的名录
    #[arg(long, default_value_t = 20_221_015)]
    seed: u64,
    /// 生成数据后不启动服务
    #[arg(long)]
    no_serve: bool,
}

impl DemoArgs {
    pub async fn run(self, settings: Settings) -> anyhow::Result<()> {
        let Self {
            entities,
            listen,
            data_dir,
            seed,
            no_serve,
        } = self;
        let mut settings = prepare_demo(&data_dir, entities, seed, &listen, settings).await?;
        if no_serve {
            return Ok(());
        }
        settings.province = Some(start_demo_province(&data_dir).await?);
        super::serve::serve(settings).await
    }
}

/// The demo's admin, for /admin; its password is printed, since the demo is local.
const DEMO_ADMIN_EMAIL: &str = "admin@demo.xinyidai.invalid";
const DEMO_ADMIN_PASSWORD: &str = "Demo-Admin-2026";

/// Rebuilds the demo database and returns the settings to serve it.
async fn prepare_demo(
    data_dir: &std::path::Path,
    entities: u64,
    seed: u64,
    listen: &str,
    base: Settings,
) -> anyhow::Result<Settings> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let db_path = data_dir.join("xinyidai.db");
    for suffix in ["", "-wal", "-shm"] {
        let mut p = db_path.clone().into_os_string();
        p.push(suffix);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("removing old demo database {}", db_path.display()));
            }
        }
    }
    let mut settings = Settings::with_database(format!("sqlite://{}", db_path.display()));
    settings.listen = config::parse_listen(listen)?;
    // The demo spans Siping's five county-level units, so it serves the city.
    settings.jurisdiction = "220300".to_owned();
    settings.log_format = base.log_format;
    settings.log_filter = base.log_filter;

    let db = Db::open(&settings.database_url, 2).await?;
    let tree = store::divisions::load(&db).await?;
    let departments = store::departments::seed_county(&db, &tree, "220322").await?;

    let n = usize::try_from(entities).unwrap_or(usize::MAX);
    let generated = demo::synthesise(&tree, n, seed, xinyidai::clock::today());
    let progress = progress_bar("生成演示名录");
    progress.set_length(generated.len() as u64);
    for chunk in generated.chunks(5_000) {
        store::entities::upsert_batch(&db, chunk).await?;
        progress.inc(chunk.len() as u64);
    }
    progress.finish_and_clear();
    let mix: Vec<String> = demo::kind_counts(&generated)
        .iter()
        .map(|(kind, count)| format!("{} {count}", kind.label_zh()))
        .collect();
    eprintln!(
        "演示数据库：{}（{} 个市场主体：{}；梨树县 {} 个责任部门）",
        db_path.display(),
        generated.len(),
        mix.join("，"),
        departments
    );
    if let Some(sample) = generated.iter().find(|e| e.county_code == "220322") {
        eprintln!("可以试试查找：{} 或 “{}”", sample.uscc, sample.name);
    }
    // An admin for /admin/sync; the demo's own password, printed, since the demo is local.
    let hash = xinyidai::security::password::PasswordHasher::new(1)
        .hash(DEMO_ADMIN_PASSWORD)
        .await?;
    store::accounts::create_account(
        &db,
        &store::accounts::NewAccount {
            email: DEMO_ADMIN_EMAIL,
            password_hash: &hash,
            role: store::accounts::Role::Admin,
            department_id: None,
            display_name: Some("演示管理员"),
            temporary_password: false,
            actor: "cli",
        },
    )
    .await
    .context("creating the demo admin")?;
    eprintln!("演示管理员：{DEMO_ADMIN_EMAIL} / {DEMO_ADMIN_PASSWORD}（登录后进入 /admin）");

    // The key file the server will use too (it lives beside the database).
    let key = xinyidai::security::id_vault::load_or_create_key_file(&data_dir.join("xinyidai.key"))
        .context("reading or creating the demo's data key")?;
    let vault =
        xinyidai::security::id_vault::IdVault::from_hex(&key).context("the demo's data key")?;
    let work = demo::seed_county_work(&db, &vault, "220322", seed, xinyidai::clock::today())
        .await
        .context("seeding the county's work (rules, targets, registrations, staff)")?;
    eprintln!(
        "梨树县：按规则分配 {} 个市场主体；{} 户已登记签约（演示省级平台将逐一受理），{} 户等待人工审核",
        work.assigned, work.ready, work.awaiting_review
    );
    eprintln!(
        "演示工作人员（{}）：{} / {}（登录后进入 /staff）",
        work.staff_department,
        demo::DEMO_STAFF_EMAIL,
        demo::DEMO_STAFF_PASSWORD
    );
    eprintln!(
        "演示县领导：{} / {}（登录后进入 /leaders）",
        demo::DEMO_LEADER_EMAIL,
        demo::DEMO_LEADER_PASSWORD
    );
    db.close().await;
    Ok(settings)
}

/// Starts the provincial simulator in-process on a free port, over a fresh file in the demo
/// directory, and returns the link the outbox worker uses.
async fn start_demo_province(data_dir: &std::path::Path) -> anyhow::Result<config::ProvinceLink> {
    use xinyidai::province::simulator::{SimConfig, Simulator};
    let db = data_dir.join("province-sim.db");
    for suffix in ["", "-wal", "-shm"] {
        let mut p = db.clone().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the simulator")?;
    let sim = SimConfig {
        listen: listener.local_addr()?,
        db_path: db.display().to_string(),
        ..SimConfig::default()
    };
    let link = config::ProvinceLink {
        base_url: format!("http://{}", sim.listen),
        app_id: sim.app_id.clone(),
        secret: config::Secret::new(sim.secret.clone()),
        signature_method: "HMAC-SHA256".to_owned(),
        // Show the whole path: L3 verification, then registration.
        l3: true,
        timeout: std::time::Duration::from_secs(10),
    };
    let server = Simulator::build(sim, listener).await?;
    eprintln!(
        "省级平台模拟器：{}/sim/stats（演示用，登记后自动报送）",
        link.base_url
    );
    tokio::spawn(async move {
        if let Err(err) = server.run_until(std::future::pending()).await {
            tracing::error!(error = %err, "province simulator stopped");
        }
    });
    Ok(link)
}

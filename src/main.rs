//! The `xinyidai` command. Thin: parse arguments, build settings, call the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use xinyidai::app;
use xinyidai::config::{self, Settings};
use xinyidai::roster::import::{self, ImportOptions};
use xinyidai::store::{self, Db};
use xinyidai::web::server::Application;
use xinyidai::{demo, telemetry};

#[derive(Debug, Parser)]
#[command(
    name = "xinyidai",
    version,
    about = "信易贷市场主体实名入驻平台",
    long_about = "把辖区内的企业和个体工商户实名入驻省级“信易贷”平台。\n\
                  配置来自环境变量：DATABASE_URL（默认 sqlite://data/xinyidai.db）、XYD_LISTEN、\
                  XYD_JURISDICTION、XYD_LOG_FORMAT、XYD_LOG。"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// 启动网站服务（先自动应用数据库迁移）
    Serve {
        /// 监听地址，覆盖 XYD_LISTEN，例如 0.0.0.0:8080
        #[arg(long)]
        listen: Option<String>,
    },
    /// 应用尚未执行的数据库迁移，然后退出
    Migrate,
    /// 导入市场主体名录（CSV，UTF-8 或 GBK；或 XLSX）
    ImportRoster {
        /// 名录文件
        file: PathBuf,
        /// 把不合格的行连同原因写入这个 CSV 文件
        #[arg(long)]
        rejects: Option<PathBuf>,
        /// 名录所属辖区的行政区划代码（县或市），默认取 XYD_JURISDICTION
        #[arg(long)]
        jurisdiction: Option<String>,
        /// 每个事务写入的行数
        #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
        batch_size: u64,
    },
    /// 演示：新建演示数据库，生成市场主体，启动服务
    Demo {
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
    },
    /// 《用户服务协议》版本管理
    Agreement {
        #[command(subcommand)]
        action: AgreementAction,
    },
    /// 审计日志
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// 平台账户（管理员、县领导）
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// 省级“信易贷”平台模拟器（按 docs/provincial-api.md 的假定接口，供演示和测试）
    ProvinceSim {
        /// 监听地址
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: String,
        /// 接受的应用标识（X-App-Id）
        #[arg(long, default_value = xinyidai::province::simulator::DEFAULT_APP_ID)]
        app_id: String,
        /// 签名密钥
        #[arg(long, env = "XYD_PROVINCE_SECRET", default_value = xinyidai::province::simulator::DEFAULT_SECRET, hide_env_values = true)]
        secret: String,
        /// 模拟器自己的 SQLite 文件
        #[arg(long, default_value = xinyidai::province::simulator::DEFAULT_DB_PATH)]
        db: String,
        /// 故障注入的随机种子
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// 故意拒绝的主体：统一社会信用代码:错误码:原因，可重复
        #[arg(long, value_name = "USCC:CODE:MESSAGE")]
        reject: Vec<String>,
    },
    /// 与省级平台的同步
    Sync {
        #[command(subcommand)]
        action: SyncAction,
    },
    /// 责任部门：分配规则、按规则分配、从 CSV 手工分配（辖区取 XYD_JURISDICTION，须为县级代码）
    Assign {
        #[command(subcommand)]
        action: AssignAction,
    },
    /// 部门目标：每个部门每月要完成的入驻数量或比例
    Target {
        #[command(subcommand)]
        action: TargetAction,
    },
    /// 每周提醒邮件（发给各部门工作人员和县领导）
    Digest {
        #[command(subcommand)]
        action: DigestAction,
    },
    /// 领导看板的排行数据
    League {
        #[command(subcommand)]
        action: LeagueAction,
    },
    /// 生成一份虚构的名录 CSV（演示、培训和性能测试用）
    SampleRoster {
        /// 行数
        #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
        rows: u64,
        /// 输出文件
        #[arg(long)]
        output: PathBuf,
        /// 随机种子
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Debug, Subcommand)]
enum AgreementAction {
    /// 发布新版本：正文取自 FILE（UTF-8），摘要自动计算；已发布的版本不能修改
    Publish {
        file: PathBuf,
        /// 版本号，例如 2027.1
        #[arg(long)]
        version: String,
    },
}

#[derive(Debug, Subcommand)]
enum UserAction {
    /// 创建账户（邮箱直接视为已确认）。密码取自环境变量 XYD_NEW_PASSWORD，未设置时从标准输入读取一行
    Add {
        /// 登录邮箱
        #[arg(long)]
        email: String,
        /// 角色：admin（管理员）、leader（县领导）或 staff（部门工作人员，需同时给出 --department）
        #[arg(long)]
        role: String,
        /// staff 所属的责任部门：部门全称或编号（见 `assign rule list` 或 /admin/departments）
        #[arg(long)]
        department: Option<String>,
        /// 显示名称（如“张科长”），在工作台和审计页面上代替邮箱显示
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum AuditAction {
    /// 逐条核对审计日志的哈希链，发现篡改时以非零状态退出
    Verify,
}

#[derive(Debug, Subcommand)]
enum SyncAction {
    /// 对账：逐条向省级平台查询入驻状态，修复能确定的差异，矛盾的标记待人工处理
    ///
    /// 需要 XYD_PROVINCE_URL、XYD_PROVINCE_APP_ID、XYD_PROVINCE_SECRET。
    ///
    /// 省级平台出错时中止并以非零状态退出，已完成的修复保留。标准输出最后一行为 checked=N repaired=M flagged=K。
    Reconcile,
}

#[derive(Debug, Subcommand)]
enum DigestAction {
    /// 立即发送本周（北京时间，ISO 周）的提醒邮件；本周已发过的人跳过。标准输出最后一行为 sent=N skipped=M
    Send {
        /// 只统计，不发送也不记录（输出 sent=0 skipped=M pending=K）
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
enum LeagueAction {
    /// 生成某一天的排行快照（默认今天，北京时间）；当天已有快照时替换。标准输出最后一行为快照日期
    Snapshot {
        /// 日期，格式 YYYY-MM-DD
        #[arg(long, value_parser = parse_day)]
        day: Option<time::Date>,
    },
    /// 将排行读模型与名录全量重算逐行比对；有差异时列出并以非零状态退出
    Check,
    /// 从名录全量重算排行读模型（一个事务）
    Rebuild,
}

fn parse_day(value: &str) -> Result<time::Date, String> {
    time::Date::parse(
        value,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|_| format!("日期格式应为 YYYY-MM-DD，实际为“{value}”"))
}

#[derive(Debug, Subcommand)]
enum AssignAction {
    /// 分配规则的增、删、查
    Rule {
        #[command(subcommand)]
        action: RuleAction,
    },
    /// 按规则为本县每个市场主体分配责任部门（手工分配的不变）。标准输出最后一行为 assigned=N changed=M unassigned=K
    Apply,
    /// 从 CSV 手工分配：列“统一社会信用代码”和“部门”（部门名称或编号）。标准输出最后一行为 accepted=N rejected=M
    Import {
        /// CSV 文件（UTF-8 或 GBK）
        file: PathBuf,
        /// 把不合格的行连同原因写入这个 CSV 文件
        #[arg(long)]
        rejects: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum RuleAction {
    /// 新增规则。按优先级数字从小到大匹配；同一优先级时乡镇 > 行业门类 > 主体类型 > 全部
    Add {
        /// 匹配方式：township（乡镇代码）、industry（行业门类）、kind（主体类型）或 any（全部，兜底）
        #[arg(long)]
        kind: String,
        /// 匹配值：9位乡镇代码、行业门类字母（如 C）、主体类型（如 企业、个体工商户）；any 不需要
        #[arg(long)]
        value: Option<String>,
        /// 责任部门名称（或编号），须为本县的部门
        #[arg(long)]
        department: String,
        /// 优先级，数字越小越先匹配
        #[arg(long, default_value_t = 100)]
        priority: i64,
    },
    /// 按匹配顺序列出本县的规则
    List,
    /// 删除规则（下次 assign apply 时生效）
    Remove {
        /// 规则编号（见 assign rule list）
        id: i64,
    },
}

#[derive(Debug, Subcommand)]
enum TargetAction {
    /// 设置（或替换）部门某月的目标：数量（--count）或比例（--share）二选一
    Set {
        /// 部门名称（或编号）
        #[arg(long)]
        department: String,
        /// 考核期（月），如 2026-12
        #[arg(long)]
        period: String,
        /// 目标入驻数量（正整数）
        #[arg(long)]
        count: Option<i64>,
        /// 目标入驻比例，大于 0 且不超过 1，如 0.8
        #[arg(long)]
        share: Option<f64>,
        /// 截止日期，如 2026-12-31
        #[arg(long)]
        deadline: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    // One TLS provider for the process (ring; reqwest and lettre are built without their own).
    xinyidai::mail::install_crypto_provider();
    let cli = Cli::parse();
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(err) => {
            eprintln!("配置错误：{err}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(settings.log_format, &settings.log_filter);
    match run(cli.command, settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("错误：{err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, mut settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve { listen } => {
            if let Some(listen) = listen {
                settings.listen = config::parse_listen(&listen)?;
            }
            serve(settings).await
        }
        Command::Migrate => {
            let db = Db::open(&settings.database_url, 1).await?;
            tracing::info!(engine = db.engine().name(), "migrations applied");
            db.close().await;
            Ok(())
        }
        Command::ImportRoster {
            file,
            rejects,
            jurisdiction,
            batch_size,
        } => {
            let db = Db::open(&settings.database_url, 2).await?;
            let tree = store::divisions::load(&db).await?;
            let options = ImportOptions {
                scope: jurisdiction.unwrap_or(settings.jurisdiction),
                batch_size: usize::try_from(batch_size).unwrap_or(20_000),
                rejects: rejects.clone(),
                today: xinyidai::clock::today(),
            };
            let progress = progress_bar("导入名录");
            let summary = import::import_file(&db, &tree, &file, &options, &progress).await;
            progress.finish_and_clear();
            // New or moved entities get their responsible department at once, when the county
            // has rules (a county without rules has not started assigning yet).
            let reassigned = match &summary {
                Ok(summary) if summary.changed > 0 => {
                    reapply_rules(&db, &tree, &options.scope).await
                }
                _ => Ok(None),
            };
            db.close().await;
            let summary = summary?;
            if let Some(report) = reassigned? {
                eprintln!(
                    "已按分配规则更新责任部门：{} 个主体有责任部门，{} 个发生变化，{} 个未分配",
                    report.assigned, report.changed, report.unassigned
                );
            }
            eprintln!(
                "导入完成（{}）：接受 {} 行，其中新增或变更 {} 行；拒绝 {} 行{}",
                summary.encoding,
                summary.accepted,
                summary.changed,
                summary.rejected,
                match (&rejects, summary.rejected) {
                    (Some(path), n) if n > 0 => format!("，原因见 {}", path.display()),
                    (None, n) if n > 0 =>
                        "（加 --rejects 文件名 可保存被拒绝的行和原因）".to_owned(),
                    _ => String::new(),
                }
            );
            #[allow(clippy::print_stdout)] // the machine-readable result line, last on stdout
            {
                println!(
                    "accepted={} rejected={}",
                    summary.accepted, summary.rejected
                );
            }
            Ok(())
        }
        Command::Demo {
            entities,
            listen,
            data_dir,
            seed,
            no_serve,
        } => {
            let mut settings = prepare_demo(&data_dir, entities, seed, &listen, settings).await?;
            if no_serve {
                return Ok(());
            }
            settings.province = Some(start_demo_province(&data_dir).await?);
            serve(settings).await
        }
        Command::Agreement {
            action: AgreementAction::Publish { file, version },
        } => {
            let body = std::fs::read_to_string(&file).with_context(|| {
                format!("无法读取协议文件 {}（需为 UTF-8 文本）", file.display())
            })?;
            let db = Db::open(&settings.database_url, 1).await?;
            let published = store::agreements::publish(&db, version.trim(), &body).await;
            db.close().await;
            let published = published?;
            eprintln!(
                "已发布《用户服务协议》版本 {}（SHA-256 {}）。市场主体下次登录时须签署新版本。",
                published.version, published.digest
            );
            Ok(())
        }
        Command::Audit {
            action: AuditAction::Verify,
        } => {
            let db = Db::open(&settings.database_url, 1).await?;
            let report = store::audit::verify(&db).await;
            db.close().await;
            let report = report?;
            match report.broken_at {
                None => {
                    eprintln!("审计日志完整：共 {} 条，哈希链无断裂。", report.rows);
                    Ok(())
                }
                Some(id) => anyhow::bail!(
                    "审计日志在第 {id} 条处断裂（已核对 {} 条）：该条或其前一条被改动或删除",
                    report.rows
                ),
            }
        }
        Command::User {
            action:
                UserAction::Add {
                    email,
                    role,
                    department,
                    name,
                },
        } => {
            add_user(
                &settings,
                &email,
                &role,
                department.as_deref(),
                name.as_deref(),
            )
            .await
        }
        Command::ProvinceSim {
            listen,
            app_id,
            secret,
            db,
            seed,
            reject,
        } => {
            use xinyidai::province::simulator::{SimConfig, Simulator};
            let listen = config::parse_listen(&listen)?;
            let reject = reject
                .iter()
                .map(|r| {
                    let mut parts = r.splitn(3, ':');
                    match (parts.next(), parts.next(), parts.next()) {
                        (Some(uscc), Some(code), Some(message)) => {
                            Ok((uscc.to_owned(), code.to_owned(), message.to_owned()))
                        }
                        _ => Err(anyhow::anyhow!(
                            "--reject 的格式应为 统一社会信用代码:错误码:原因，实际为“{r}”"
                        )),
                    }
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("binding {listen}"))?;
            let server = Simulator::build(
                SimConfig {
                    listen,
                    app_id,
                    secret,
                    db_path: db,
                    seed,
                    reject,
                    ..SimConfig::default()
                },
                listener,
            )
            .await?;
            eprintln!(
                "省级平台模拟器已启动：http://{}/  （统计：/sim/stats，故障：/sim/faults）",
                server.local_addr()
            );
            server.run_until(app::shutdown_signal()).await?;
            Ok(())
        }
        Command::Sync {
            action: SyncAction::Reconcile,
        } => sync_reconcile(&settings).await,
        Command::Digest {
            action: DigestAction::Send { dry_run },
        } => digest_send(&settings, dry_run).await,
        Command::League { action } => league(&settings, action).await,
        Command::Assign { action } => assign(&settings, action).await,
        Command::Target { action } => target(&settings, action).await,
        Command::SampleRoster { rows, output, seed } => {
            let tree = xinyidai::domain::division::DivisionTree::seed();
            let n = usize::try_from(rows).unwrap_or(usize::MAX);
            let entries = demo::synthesise(&tree, n, seed, xinyidai::clock::today());
            let file = std::fs::File::create(&output)
                .with_context(|| format!("creating {}", output.display()))?;
            demo::write_roster_csv(std::io::BufWriter::new(file), &entries)
                .with_context(|| format!("writing {}", output.display()))?;
            eprintln!(
                "已生成 {} 行虚构名录：{}（四平市五个县区，导入时用 --jurisdiction 220300）",
                entries.len(),
                output.display()
            );
            Ok(())
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let application = Application::build(settings).await?;
    let addr = application.local_addr()?;
    tracing::info!(%addr, "listening");
    eprintln!("服务已启动：http://{addr}/  （Ctrl-C 停止）");
    application.run_until(app::shutdown_signal()).await
}

/// `sync reconcile`: one reconciliation run now, ending stdout with its counts.
async fn sync_reconcile(settings: &Settings) -> anyhow::Result<()> {
    use xinyidai::jobs::reconcile;
    use xinyidai::province::client::HttpProvince;
    let Some(link) = &settings.province else {
        anyhow::bail!(
            "未配置省级平台：对账需要设置 XYD_PROVINCE_URL、XYD_PROVINCE_APP_ID 和 XYD_PROVINCE_SECRET"
        );
    };
    let province = HttpProvince::new(app::province_settings(link)?)
        .context("省级平台配置无效（XYD_PROVINCE_*）")?;
    let db = Db::open(&settings.database_url, 2).await?;
    let progress = progress_bar("对账");
    let outcome = reconcile::reconcile(&db, &province, |done, total| {
        progress.set_length(total);
        progress.set_position(done);
    })
    .await;
    progress.finish_and_clear();
    db.close().await;
    let report = match &outcome {
        Ok(report) => Some(*report),
        Err(err) => err.partial().copied(),
    };
    if let Some(r) = report {
        eprintln!(
            "对账{}（第 {} 次）：核对 {} 条，修复 {} 条，待人工处理 {} 条",
            if outcome.is_ok() { "完成" } else { "中止" },
            r.run,
            r.checked,
            r.repaired,
            r.flagged
        );
        #[allow(clippy::print_stdout)] // the machine-readable result line, last on stdout
        {
            println!(
                "checked={} repaired={} flagged={}",
                r.checked, r.repaired, r.flagged
            );
        }
    }
    outcome
        .map(|_| ())
        .context("对账未完成：省级平台或数据库出错，已完成的修复保留，可稍后重新运行")
}

/// `digest send`: this week's digests now, ending stdout with the counts.
async fn digest_send(settings: &Settings, dry_run: bool) -> anyhow::Result<()> {
    let db = Db::open(&settings.database_url, 2).await?;
    let vault = app::open_vault(settings)?;
    let mailer = xinyidai::mail::Mailer::from_settings(&settings.mail)
        .context("邮件配置无效（XYD_SMTP_URL、XYD_MAIL_FROM）")?;
    if settings.mail.smtp_url.is_none() && !dry_run {
        eprintln!(
            "未设置 XYD_SMTP_URL：邮件写入 {} 目录，不会真正发出",
            settings.mail.dir.display()
        );
    }
    let now = time::OffsetDateTime::now_utc();
    let outcome = async {
        let staff = xinyidai::jobs::staff_digest::send_week(
            &db,
            &mailer,
            &vault,
            &settings.public_url,
            now,
            dry_run,
        )
        .await?;
        let leaders = xinyidai::jobs::leaders_digest::send_week(
            &db,
            &mailer,
            &vault,
            &settings.public_url,
            &settings.jurisdiction,
            now,
            dry_run,
        )
        .await?;
        Ok::<_, xinyidai::store::StoreError>((staff, leaders))
    }
    .await;
    db.close().await;
    let (staff, leaders) =
        outcome.context("发送每周提醒时数据库出错；已发出的已记录，可稍后重新运行")?;
    // One line for both kinds: staff digests and leaders' digests count alike.
    let report = xinyidai::jobs::staff_digest::SendReport {
        sent: staff.sent + leaders.sent,
        skipped: staff.skipped + leaders.skipped,
        failed: staff.failed + leaders.failed,
        pending: staff.pending + leaders.pending,
    };
    if report.failed > 0 {
        eprintln!(
            "{} 封未能发出（邮件服务器拒收或无法连接），下次运行会重试",
            report.failed
        );
    }
    #[allow(clippy::print_stdout)] // the machine-readable result line, last on stdout
    {
        if dry_run {
            println!(
                "sent=0 skipped={} pending={}",
                report.skipped, report.pending
            );
        } else {
            println!("sent={} skipped={}", report.sent, report.skipped);
        }
    }
    if report.failed > 0 {
        anyhow::bail!("{} 封提醒邮件未能发出", report.failed);
    }
    Ok(())
}

async fn league(settings: &Settings, action: LeagueAction) -> anyhow::Result<()> {
    match action {
        LeagueAction::Snapshot { day } => league_snapshot(settings, day).await,
        LeagueAction::Check => {
            let db = Db::open(&settings.database_url, 2).await?;
            let found = store::league::check(&db).await;
            db.close().await;
            let found = found.context("比对排行读模型时数据库出错")?;
            for m in found.iter().take(20) {
                let (county, township, department, kind, status, stage) = (
                    &m.key.county_code,
                    &m.key.township_code,
                    m.key.department_id,
                    &m.key.kind,
                    &m.key.status,
                    &m.key.stage,
                );
                eprintln!(
                    "{county} {township} 部门{department} {kind} {status} {stage}：读模型 {}，重算 {}",
                    m.model, m.recount
                );
            }
            #[allow(clippy::print_stdout)] // the machine-readable result line, last on stdout
            {
                println!("mismatches={}", found.len());
            }
            if found.is_empty() {
                eprintln!("排行读模型与名录全量重算一致");
                Ok(())
            } else {
                anyhow::bail!(
                    "排行读模型有 {} 行与全量重算不一致；运行 `xinyidai league rebuild` 重算",
                    found.len()
                )
            }
        }
        LeagueAction::Rebuild => {
            let db = Db::open(&settings.database_url, 2).await?;
            let started = std::time::Instant::now();
            let rebuilt = store::league::rebuild(&db).await;
            db.close().await;
            rebuilt.context("重算排行读模型时数据库出错，读模型保持原样")?;
            eprintln!(
                "排行读模型已从名录全量重算（用时 {:.1} 秒）",
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
    }
}

/// `league snapshot`: records `day` (default today, Beijing), ending stdout with the day.
async fn league_snapshot(settings: &Settings, day: Option<time::Date>) -> anyhow::Result<()> {
    let day = day.unwrap_or_else(xinyidai::clock::today);
    let db = Db::open(&settings.database_url, 2).await?;
    let outcome = xinyidai::jobs::leaders_digest::take_snapshot(
        &db,
        day,
        xinyidai::store::league::Trigger::Manual,
        "cli",
    )
    .await;
    db.close().await;
    outcome.context("生成排行快照时数据库出错")?;
    eprintln!("已生成 {day} 的排行快照");
    #[allow(clippy::print_stdout)] // the machine-readable result line, last on stdout
    {
        println!("{day}");
    }
    Ok(())
}

/// Rebuilds the demo database and returns the settings to serve it.
const DEMO_ADMIN_EMAIL: &str = "admin@demo.xinyidai.invalid";
const DEMO_ADMIN_PASSWORD: &str = "Demo-Admin-2026";

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

/// A bar on stderr; indicatif hides it when stderr is not a terminal (CI, pipes).
fn progress_bar(message: &'static str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{msg} [{bar:30}] {human_pos}/{human_len} 行 · {per_sec} · 剩余 {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message);
    bar
}

/// `user add`: every check runs before the database is touched, so a refusal leaves no trace.
async fn add_user(
    settings: &Settings,
    email: &str,
    role: &str,
    department: Option<&str>,
    name: Option<&str>,
) -> anyhow::Result<()> {
    use xinyidai::domain::email::EmailAddress;
    use xinyidai::store::accounts::Role;
    use xinyidai::store::accounts::{self, CreateAccountError, NewAccount};
    let role = match Role::parse(role.trim()) {
        Some(role @ (Role::Admin | Role::Leader | Role::Staff)) => role,
        Some(Role::Owner) => {
            anyhow::bail!("市场主体账户由经营者在网站上登记时自行创建，不能用命令创建")
        }
        None => anyhow::bail!(
            "--role 应为 admin（管理员）、leader（县领导）或 staff（部门工作人员），实际为“{role}”"
        ),
    };
    match (role, department) {
        (Role::Staff, None) => {
            anyhow::bail!("staff 账户必须用 --department 指定所属责任部门（部门全称或编号）")
        }
        (Role::Admin | Role::Leader, Some(_)) => {
            anyhow::bail!("只有 staff 账户属于某个部门；admin 和 leader 不要给出 --department")
        }
        _ => {}
    }
    let name = name.map(str::trim).filter(|n| !n.is_empty());
    if name.is_some_and(|n| n.chars().count() > 40) {
        anyhow::bail!("--name 最多 40 个字");
    }
    let email = EmailAddress::parse(email).map_err(|e| anyhow::anyhow!("--email 无效：{e}"))?;
    let password = match std::env::var("XYD_NEW_PASSWORD") {
        Ok(p) if !p.is_empty() => p,
        _ => {
            eprint!(
                "请输入新账户的密码（至少12位，含大写字母、小写字母、数字、符号中的三类；输入内容会显示在屏幕上）："
            );
            let mut line = String::new();
            let stdin = std::io::stdin();
            stdin
                .read_line(&mut line)
                .context("无法从标准输入读取密码")?;
            // Typed at a terminal, Enter ended the prompt's line; piped in, nothing did.
            if !std::io::IsTerminal::is_terminal(&stdin) {
                eprintln!();
            }
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    xinyidai::security::password::check_official_rules(&password, Some(email.as_str()))
        .map_err(|rule| anyhow::anyhow!("密码不符合要求：{rule}"))?;
    let hash = xinyidai::security::password::PasswordHasher::new(1)
        .hash(&password)
        .await
        .context("计算密码哈希失败")?;
    let db = Db::open(&settings.database_url, 1).await?;
    let department_id = match department {
        None => None,
        Some(key) => {
            let found = store::assignments::find_department(&db, &settings.jurisdiction, key).await;
            match found? {
                Some(d) => Some(d.id),
                None => {
                    db.close().await;
                    anyhow::bail!(
                        "辖区 {} 没有名为或编号为“{key}”的部门；可用 `assign rule list` 或在 /admin/departments 查看",
                        settings.jurisdiction
                    );
                }
            }
        }
    };
    let created = accounts::create_account(
        &db,
        &NewAccount {
            email: email.as_str(),
            password_hash: &hash,
            role,
            department_id,
            display_name: name,
            // The operator typed a password for somebody else: they choose their own at first
            // login. The first admin is usually the operator, who keeps theirs.
            temporary_password: role != Role::Admin,
            actor: "cli",
        },
    )
    .await;
    db.close().await;
    match created {
        Ok(id) => {
            let (label, next) = match role {
                Role::Admin => ("管理员", "现在可以登录。"),
                Role::Leader => ("县领导", "首次登录时须修改密码。"),
                _ => ("部门工作人员", "首次登录时须修改密码。"),
            };
            eprintln!("已创建{label}账户（编号 {id}），邮箱视为已确认，{next}");
            Ok(())
        }
        Err(CreateAccountError::EmailTaken) => {
            anyhow::bail!("这个邮箱已经有账户了，没有做任何修改；请换一个邮箱")
        }
        Err(CreateAccountError::DepartmentMismatch | CreateAccountError::NoSuchDepartment) => {
            anyhow::bail!("部门与角色不符，没有做任何修改")
        }
        Err(CreateAccountError::Store(e)) => Err(e.into()),
    }
}

/// After an import into a county with assignment rules: applies them (audited as the CLI's).
async fn reapply_rules(
    db: &Db,
    tree: &xinyidai::domain::division::DivisionTree,
    scope: &str,
) -> anyhow::Result<Option<store::assignments::ApplyReport>> {
    use xinyidai::domain::division::Level;
    if tree.get(scope).map(|d| d.level) != Some(Level::County)
        || store::assignments::list_rules(db, scope).await?.is_empty()
    {
        return Ok(None);
    }
    let report = store::assignments::apply_rules(db, scope, CLI_ACTOR)
        .await
        .context("applying the assignment rules after the import")?;
    Ok(Some(report))
}

/// The configured jurisdiction as a county, with its standard departments seeded (idempotent:
/// departments are reference data, and a fresh deployment has no other way to get them).
async fn open_county(settings: &Settings) -> anyhow::Result<(Db, String)> {
    use xinyidai::domain::division::Level;
    let county = settings.jurisdiction.clone();
    let db = Db::open(&settings.database_url, 1).await?;
    let tree = store::divisions::load(&db).await?;
    if tree.get(&county).map(|d| d.level) != Some(Level::County) {
        db.close().await;
        anyhow::bail!(
            "责任部门按县设置：XYD_JURISDICTION 应为县级行政区划代码（如 220322），实际为“{county}”"
        );
    }
    store::departments::seed_county(&db, &tree, &county).await?;
    Ok((db, county))
}

/// The county's department named (or numbered) `name`, or a Chinese error listing the names.
async fn department_named(db: &Db, county: &str, name: &str) -> anyhow::Result<i64> {
    if let Some(d) = store::assignments::find_department(db, county, name).await? {
        return Ok(d.id);
    }
    let names: Vec<String> = store::departments::list(db, county)
        .await?
        .into_iter()
        .map(|d| d.name)
        .collect();
    anyhow::bail!("本县没有名为“{name}”的部门；现有部门：{}", names.join("、"))
}

const CLI_ACTOR: &str = "cli";

/// `assign …`: rules, applying them, CSV import.
#[allow(clippy::print_stdout)] // listings and the machine-readable result line go to stdout
async fn assign(settings: &Settings, action: AssignAction) -> anyhow::Result<()> {
    use xinyidai::application::assignment::read_assignment_csv;
    use xinyidai::domain::assignment_rule::MatchKind;
    use xinyidai::store::assignments;
    // Files are read and checked before the database is opened: a bad file writes nothing.
    let file = match &action {
        AssignAction::Import { file, .. } => {
            let bytes =
                std::fs::read(file).with_context(|| format!("无法读取文件“{}”", file.display()))?;
            Some(
                read_assignment_csv(&bytes)
                    .map_err(|e| anyhow::anyhow!("{}：{e}", file.display()))?,
            )
        }
        _ => None,
    };
    let (db, county) = open_county(settings).await?;
    let outcome = async {
        match action {
            AssignAction::Rule {
                action:
                    RuleAction::Add {
                        kind,
                        value,
                        department,
                        priority,
                    },
            } => {
                let Some(kind) = MatchKind::parse(kind.trim()) else {
                    anyhow::bail!("--kind 应为 township（乡镇）、industry（行业门类）、kind（主体类型）或 any（全部），实际为“{kind}”");
                };
                let department_id = department_named(&db, &county, &department).await?;
                let id = assignments::add_rule(
                    &db,
                    &county,
                    kind,
                    value.as_deref(),
                    department_id,
                    priority,
                    CLI_ACTOR,
                )
                .await?;
                eprintln!("已新增规则 {id}：{} → {department}（优先级 {priority}）。运行 assign apply 生效。", kind.label_zh());
                Ok(())
            }
            AssignAction::Rule {
                action: RuleAction::List,
            } => {
                let rules = assignments::list_rules(&db, &county).await?;
                if rules.is_empty() {
                    eprintln!("本县还没有分配规则（assign rule add 新增）。");
                }
                println!("编号\t优先级\t匹配方式\t匹配值\t部门");
                for l in rules {
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        l.rule.id,
                        l.rule.priority,
                        l.rule.kind.as_str(),
                        l.rule.value.as_deref().unwrap_or("-"),
                        l.department_name
                    );
                }
                Ok(())
            }
            AssignAction::Rule {
                action: RuleAction::Remove { id },
            } => {
                assignments::remove_rule(&db, &county, id, CLI_ACTOR).await?;
                eprintln!("已删除规则 {id}。运行 assign apply 后，它分配的市场主体改由其他规则分配。");
                Ok(())
            }
            AssignAction::Apply => {
                let r = assignments::apply_rules(&db, &county, CLI_ACTOR).await?;
                eprintln!(
                    "按规则分配完成：有责任部门 {} 个，本次变更 {} 个，没有责任部门 {} 个",
                    r.assigned, r.changed, r.unassigned
                );
                if r.unassigned > 0 {
                    eprintln!("有市场主体没有匹配任何规则：请新增兜底规则，例如 assign rule add --kind any --department 发改局 --priority 1000");
                }
                println!("assigned={} changed={} unassigned={}", r.assigned, r.changed, r.unassigned);
                Ok(())
            }
            AssignAction::Import { rejects, .. } => {
                let Some(file) = file else {
                    anyhow::bail!("内部错误：文件未读取");
                };
                // The rejects file is created before anything is written, so a bad path fails first.
                let mut writer = match &rejects {
                    Some(path) => Some(
                        xinyidai::roster::rejects::RejectsWriter::create(path, &file.headers)
                            .with_context(|| format!("无法创建文件“{}”", path.display()))?,
                    ),
                    None => None,
                };
                let report = assignments::import_assignments(&db, &county, &file.rows, CLI_ACTOR).await?;
                if let Some(writer) = &mut writer {
                    for r in &report.rejected {
                        writer.write(&r.original, &r.reason).context("写入不合格行文件失败")?;
                    }
                }
                if let Some(writer) = writer {
                    writer.finish().context("写入不合格行文件失败")?;
                }
                let rejected = report.rejected.len();
                eprintln!(
                    "手工分配导入完成：接受 {} 行，其中变更 {} 行；拒绝 {rejected} 行{}",
                    report.accepted,
                    report.changed,
                    match (&rejects, rejected) {
                        (Some(path), n) if n > 0 => format!("，原因见 {}", path.display()),
                        (None, n) if n > 0 => {
                            let first: Vec<&str> = report.rejected.iter().take(5).map(|r| r.reason.as_str()).collect();
                            format!("（{}；加 --rejects 文件名 可保存全部被拒绝的行和原因）", first.join("；"))
                        }
                        _ => String::new(),
                    }
                );
                println!("accepted={} rejected={rejected}", report.accepted);
                Ok(())
            }
        }
    }
    .await;
    db.close().await;
    outcome
}

/// `target set`: every check runs before the database is touched.
async fn target(settings: &Settings, action: TargetAction) -> anyhow::Result<()> {
    use xinyidai::domain::assignment_rule::{TargetAmount, parse_deadline, parse_period};
    let TargetAction::Set {
        department,
        period,
        count,
        share,
        deadline,
    } = action;
    let amount = TargetAmount::new(count, share).map_err(|e| anyhow::anyhow!(e))?;
    let period = parse_period(&period).map_err(|e| anyhow::anyhow!(e))?;
    let deadline = parse_deadline(&deadline).map_err(|e| anyhow::anyhow!(e))?;
    let (db, county) = open_county(settings).await?;
    let outcome = async {
        let department_id = department_named(&db, &county, &department).await?;
        xinyidai::store::assignments::set_target(
            &db,
            &county,
            department_id,
            &period,
            amount,
            deadline,
            CLI_ACTOR,
        )
        .await?;
        let what = match amount {
            TargetAmount::Count(n) => format!("入驻 {n} 个"),
            TargetAmount::Share(s) => format!("入驻本部门市场主体的 {:.1}%", s * 100.0),
        };
        eprintln!("已设置 {department} {period} 的目标：{deadline} 前{what}。");
        Ok(())
    }
    .await;
    db.close().await;
    outcome
}

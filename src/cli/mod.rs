//! The command line: [`Cli`] and its subcommands, one file each, and the pieces they share.
//! Part of the binary, not the library: it is the outermost edge and starts the web server.

mod agreement;
mod assign;
mod audit;
mod demo;
mod digest;
mod league;
mod province_sim;
mod roster;
mod serve;
mod sync;
mod target;
mod user;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use xinyidai::config::Settings;
use xinyidai::store::{self, Db};

#[derive(Debug, Parser)]
#[command(
    name = "xinyidai",
    version,
    about = "信易贷市场主体实名入驻平台",
    long_about = "把辖区内的企业和个体工商户实名入驻省级“信易贷”平台。\n\
                  配置来自环境变量：DATABASE_URL（默认 sqlite://data/xinyidai.db）、XYD_LISTEN、\
                  XYD_JURISDICTION、XYD_LOG_FORMAT、XYD_LOG。"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// 启动网站服务（先自动应用数据库迁移）
    Serve(serve::ServeArgs),
    /// 应用尚未执行的数据库迁移，然后退出
    Migrate,
    /// 导入市场主体名录（CSV，UTF-8 或 GBK；或 XLSX）
    ImportRoster(roster::ImportRosterArgs),
    /// 演示：新建演示数据库，生成市场主体，启动服务
    Demo(demo::DemoArgs),
    /// 《用户服务协议》版本管理
    Agreement {
        #[command(subcommand)]
        action: agreement::AgreementAction,
    },
    /// 审计日志
    Audit {
        #[command(subcommand)]
        action: audit::AuditAction,
    },
    /// 平台账户（管理员、县领导）
    User {
        #[command(subcommand)]
        action: user::UserAction,
    },
    /// 省级“信易贷”平台模拟器（按 docs/provincial-api.md 的假定接口，供演示和测试）
    ProvinceSim(province_sim::ProvinceSimArgs),
    /// 与省级平台的同步
    Sync {
        #[command(subcommand)]
        action: sync::SyncAction,
    },
    /// 责任部门：分配规则、按规则分配、从 CSV 手工分配（辖区取 XYD_JURISDICTION，须为县级代码）
    Assign {
        #[command(subcommand)]
        action: assign::AssignAction,
    },
    /// 部门目标：每个部门每月要完成的入驻数量或比例
    Target {
        #[command(subcommand)]
        action: target::TargetAction,
    },
    /// 每周提醒邮件（发给各部门工作人员和县领导）
    Digest {
        #[command(subcommand)]
        action: digest::DigestAction,
    },
    /// 领导看板的排行数据
    League {
        #[command(subcommand)]
        action: league::LeagueAction,
    },
    /// 生成一份虚构的名录 CSV（演示、培训和性能测试用）
    SampleRoster(roster::SampleRosterArgs),
}

/// Runs the parsed command with the settings read from the environment.
pub async fn run(cli: Cli, settings: Settings) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => args.run(settings).await,
        Command::Migrate => serve::migrate(&settings).await,
        Command::ImportRoster(args) => args.run(&settings).await,
        Command::Demo(args) => args.run(settings).await,
        Command::Agreement { action } => action.run(&settings).await,
        Command::Audit { action } => action.run(&settings).await,
        Command::User { action } => action.run(&settings).await,
        Command::ProvinceSim(args) => args.run().await,
        Command::Sync { action } => action.run(&settings).await,
        Command::Assign { action } => action.run(&settings).await,
        Command::Target { action } => action.run(&settings).await,
        Command::Digest { action } => action.run(&settings).await,
        Command::League { action } => action.run(&settings).await,
        Command::SampleRoster(args) => args.run(),
    }
}

/// The actor the audit log records for changes made from the command line.
const CLI_ACTOR: &str = "cli";

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

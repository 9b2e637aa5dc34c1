//! `league …`: the leaders' league read model — snapshots, a full check, a full rebuild.

use anyhow::Context as _;
use clap::Subcommand;

use xinyidai::config::Settings;
use xinyidai::store::{self, Db};

use super::CLI_ACTOR;

#[derive(Debug, Subcommand)]
pub enum LeagueAction {
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

impl LeagueAction {
    pub async fn run(self, settings: &Settings) -> anyhow::Result<()> {
        match self {
            Self::Snapshot { day } => snapshot(settings, day).await,
            Self::Check => check(settings).await,
            Self::Rebuild => rebuild(settings).await,
        }
    }
}

/// `league check`: lists the first differences on stderr, ends stdout with `mismatches=N`.
async fn check(settings: &Settings) -> anyhow::Result<()> {
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

/// `league rebuild`: one transaction; the read model stays as it was if it fails.
async fn rebuild(settings: &Settings) -> anyhow::Result<()> {
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

/// `league snapshot`: records `day` (default today, Beijing), ending stdout with the day.
async fn snapshot(settings: &Settings, day: Option<time::Date>) -> anyhow::Result<()> {
    let day = day.unwrap_or_else(xinyidai::clock::today);
    let db = Db::open(&settings.database_url, 2).await?;
    let outcome = xinyidai::jobs::snapshots::take_snapshot(
        &db,
        day,
        xinyidai::store::league::Trigger::Manual,
        CLI_ACTOR,
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

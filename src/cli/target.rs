//! `target set`: a department's target for a month.

use clap::Subcommand;

use xinyidai::config::Settings;
use xinyidai::domain::assignment_rule::{TargetAmount, parse_deadline, parse_period};

use super::{CLI_ACTOR, department_named, open_county};

#[derive(Debug, Subcommand)]
pub enum TargetAction {
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

impl TargetAction {
    /// `target set`: every check runs before the database is touched.
    pub async fn run(self, settings: &Settings) -> anyhow::Result<()> {
        let Self::Set {
            department,
            period,
            count,
            share,
            deadline,
        } = self;
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
}

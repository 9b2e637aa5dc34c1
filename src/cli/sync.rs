//! `sync reconcile`: the provincial platform's view of every registration, checked now.

use anyhow::Context as _;
use clap::Subcommand;

use xinyidai::app;
use xinyidai::config::Settings;
use xinyidai::store::Db;

use super::progress_bar;

#[derive(Debug, Subcommand)]
pub enum SyncAction {
    /// 对账：逐条向省级平台查询入驻状态，修复能确定的差异，矛盾的标记待人工处理
    ///
    /// 需要 XYD_PROVINCE_URL、XYD_PROVINCE_APP_ID、XYD_PROVINCE_SECRET。
    ///
    /// 省级平台出错时中止并以非零状态退出，已完成的修复保留。标准输出最后一行为 checked=N repaired=M flagged=K。
    Reconcile,
}

impl SyncAction {
    pub async fn run(self, settings: &Settings) -> anyhow::Result<()> {
        let Self::Reconcile = self;
        sync_reconcile(settings).await
    }
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

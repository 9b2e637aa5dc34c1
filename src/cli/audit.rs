//! `audit verify`: the audit log's hash chain, row by row.

use clap::Subcommand;

use xinyidai::config::Settings;
use xinyidai::store::{self, Db};

#[derive(Debug, Subcommand)]
pub enum AuditAction {
    /// 逐条核对审计日志的哈希链，发现篡改时以非零状态退出
    Verify,
}

impl AuditAction {
    pub async fn run(self, settings: &Settings) -> anyhow::Result<()> {
        let Self::Verify = self;
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
}

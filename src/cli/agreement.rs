//! `agreement publish`: a new version of the user agreement.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;

use xinyidai::config::Settings;
use xinyidai::store::{self, Db};

#[derive(Debug, Subcommand)]
pub enum AgreementAction {
    /// 发布新版本：正文取自 FILE（UTF-8），摘要自动计算；已发布的版本不能修改
    Publish {
        file: PathBuf,
        /// 版本号，例如 2027.1
        #[arg(long)]
        version: String,
    },
}

impl AgreementAction {
    pub async fn run(self, settings: &Settings) -> anyhow::Result<()> {
        let Self::Publish { file, version } = self;
        let body = std::fs::read_to_string(&file)
            .with_context(|| format!("无法读取协议文件 {}（需为 UTF-8 文本）", file.display()))?;
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
}

//! `import-roster` and `sample-roster`: the county's roster of market entities in, and a
//! fictitious one out.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

use xinyidai::application::roster_import;
use xinyidai::config::Settings;
use xinyidai::demo;
use xinyidai::roster::import::ImportOptions;
use xinyidai::store::{self, Db};

use super::{CLI_ACTOR, progress_bar};

#[derive(Debug, Args)]
pub struct ImportRosterArgs {
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
}

impl ImportRosterArgs {
    /// Imports the file, re-applies the county's assignment rules if any row changed, and ends
    /// stdout with `accepted=N rejected=M`.
    pub async fn run(self, settings: &Settings) -> anyhow::Result<()> {
        let Self {
            file,
            rejects,
            jurisdiction,
            batch_size,
        } = self;
        let db = Db::open(&settings.database_url, 2).await?;
        let tree = store::divisions::load(&db).await?;
        let options = ImportOptions {
            scope: jurisdiction.unwrap_or_else(|| settings.jurisdiction.clone()),
            batch_size: usize::try_from(batch_size).unwrap_or(20_000),
            rejects: rejects.clone(),
            today: xinyidai::clock::today(),
        };
        let progress = progress_bar("导入名录");
        let imported =
            roster_import::import_roster(&db, &tree, &file, &options, &progress, CLI_ACTOR).await;
        db.close().await;
        let roster_import::RosterImported {
            summary,
            reassigned,
        } = imported?;
        if let Some(report) = reassigned {
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
                (None, n) if n > 0 => "（加 --rejects 文件名 可保存被拒绝的行和原因）".to_owned(),
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
}

#[derive(Debug, Args)]
pub struct SampleRosterArgs {
    /// 行数
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    rows: u64,
    /// 输出文件
    #[arg(long)]
    output: PathBuf,
    /// 随机种子
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

impl SampleRosterArgs {
    /// Writes the fictitious roster (Siping's five county-level units) to `--output`.
    pub fn run(self) -> anyhow::Result<()> {
        let Self { rows, output, seed } = self;
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

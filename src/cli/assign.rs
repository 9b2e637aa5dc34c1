//! `assign …`: the county's assignment rules, applying them, and manual assignment from a CSV.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;

use xinyidai::application::assignment::read_assignment_csv;
use xinyidai::config::Settings;
use xinyidai::domain::assignment_rule::MatchKind;
use xinyidai::store::assignments;

use super::{CLI_ACTOR, department_named, open_county};

#[derive(Debug, Subcommand)]
pub enum AssignAction {
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
pub enum RuleAction {
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

impl AssignAction {
    /// `assign …`: rules, applying them, CSV import.
    #[allow(clippy::print_stdout)] // listings and the machine-readable result line go to stdout
    pub async fn run(self, settings: &Settings) -> anyhow::Result<()> {
        // Files are read and checked before the database is opened: a bad file writes nothing.
        let file = match &self {
            AssignAction::Import { file, .. } => {
                let bytes = std::fs::read(file)
                    .with_context(|| format!("无法读取文件“{}”", file.display()))?;
                Some(
                    read_assignment_csv(&bytes)
                        .map_err(|e| anyhow::anyhow!("{}：{e}", file.display()))?,
                )
            }
            _ => None,
        };
        let (db, county) = open_county(settings).await?;
        let outcome = async {
        match self {
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
}

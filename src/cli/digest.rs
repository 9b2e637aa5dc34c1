//! `digest send`: this week's reminder mails to the departments' staff and the county's leaders.

use anyhow::Context as _;
use clap::Subcommand;

use xinyidai::app;
use xinyidai::config::Settings;
use xinyidai::store::Db;

#[derive(Debug, Subcommand)]
pub enum DigestAction {
    /// 立即发送本周（北京时间，ISO 周）的提醒邮件；本周已发过的人跳过。标准输出最后一行为 sent=N skipped=M
    Send {
        /// 只统计，不发送也不记录（输出 sent=0 skipped=M pending=K）
        #[arg(long)]
        dry_run: bool,
    },
}

impl DigestAction {
    pub async fn run(self, settings: &Settings) -> anyhow::Result<()> {
        let Self::Send { dry_run } = self;
        digest_send(settings, dry_run).await
    }
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

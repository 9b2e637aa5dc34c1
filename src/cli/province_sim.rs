//! `province-sim`: the provincial platform's simulator on its own file, until Ctrl-C or SIGTERM.

use anyhow::Context as _;
use clap::Args;

use xinyidai::app;
use xinyidai::config;
use xinyidai::province::simulator::{self, SimConfig, Simulator};

#[derive(Debug, Args)]
pub struct ProvinceSimArgs {
    /// 监听地址
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: String,
    /// 接受的应用标识（X-App-Id）
    #[arg(long, default_value = simulator::DEFAULT_APP_ID)]
    app_id: String,
    /// 签名密钥
    #[arg(long, env = "XYD_PROVINCE_SECRET", default_value = simulator::DEFAULT_SECRET, hide_env_values = true)]
    secret: String,
    /// 模拟器自己的 SQLite 文件
    #[arg(long, default_value = simulator::DEFAULT_DB_PATH)]
    db: String,
    /// 故障注入的随机种子
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// 故意拒绝的主体：统一社会信用代码:错误码:原因，可重复
    #[arg(long, value_name = "USCC:CODE:MESSAGE")]
    reject: Vec<String>,
}

impl ProvinceSimArgs {
    pub async fn run(self) -> anyhow::Result<()> {
        let Self {
            listen,
            app_id,
            secret,
            db,
            seed,
            reject,
        } = self;
        let listen = config::parse_listen(&listen)?;
        let reject = reject
            .iter()
            .map(|r| parse_reject(r))
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
}

/// One `--reject USCC:CODE:MESSAGE` (the message may itself contain colons).
fn parse_reject(r: &str) -> anyhow::Result<(String, String, String)> {
    let mut parts = r.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(uscc), Some(code), Some(message)) => {
            Ok((uscc.to_owned(), code.to_owned(), message.to_owned()))
        }
        _ => Err(anyhow::anyhow!(
            "--reject 的格式应为 统一社会信用代码:错误码:原因，实际为“{r}”"
        )),
    }
}

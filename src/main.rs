//! The `xinyidai` command. Thin: parse arguments, read settings, run the subcommand (each one
//! lives in [`cli`]), and turn the outcome into the exit code.

mod cli;

use std::process::ExitCode;

use clap::Parser as _;

use xinyidai::config::Settings;
use xinyidai::telemetry;

#[tokio::main]
async fn main() -> ExitCode {
    // One TLS provider for the process (ring; reqwest and lettre are built without their own).
    xinyidai::tls::install_crypto_provider();
    let cli = cli::Cli::parse();
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(err) => {
            eprintln!("配置错误：{err}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(settings.log_format, &settings.log_filter);
    match cli::run(cli, settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("错误：{err:#}");
            ExitCode::FAILURE
        }
    }
}

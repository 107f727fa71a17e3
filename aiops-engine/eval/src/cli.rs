//! The `aiops eval` subcommands.

use clap::Subcommand;

#[derive(Subcommand)]
pub enum EvalCommand {
    /// Log template mining against Loghub ground truth: GA, PA, FGA, FTA.
    #[command(long_about = crate::logs::LOGS_ABOUT)]
    Logs(crate::logs::LogsArgs),
    /// The shop's logs with their true templates, in Loghub's layout.
    #[command(long_about = crate::logs::RECORD_ABOUT)]
    RecordLogs(crate::logs::RecordArgs),
}

/// Runs one evaluation; the error says what was wrong with the input.
pub fn run(command: EvalCommand) -> anyhow::Result<()> {
    match command {
        EvalCommand::Logs(args) => crate::logs::run_logs(&args),
        EvalCommand::RecordLogs(args) => crate::logs::run_record(&args),
    }
}

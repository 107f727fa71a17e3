//! The `aiops eval` subcommands.

use clap::Subcommand;

#[derive(Subcommand)]
pub enum EvalCommand {
    /// Runs the shop, the engine and load as processes, injects each
    /// scenario's faults, and reports detection, time to detect, the faulted
    /// service's rank and incidents without a fault; side by side with the
    /// alert rules in `rules/prometheus` on a real Prometheus and
    /// Alertmanager when they are installed.
    Chaos(crate::chaos::ChaosArgs),
    /// Numenta Anomaly Benchmark: runs a detector over
    /// `<data>/data/<category>/<file>.csv`, writes NAB's results files to
    /// `<out>` and prints the normalised score of each profile, scored as
    /// NAB does.
    Nab(crate::nab::NabArgs),
    /// Log template mining against Loghub ground truth: GA, PA, FGA, FTA.
    #[command(long_about = crate::logs::LOGS_ABOUT)]
    Logs(crate::logs::LogsArgs),
    /// The shop's logs with their true templates, in Loghub's layout.
    #[command(long_about = crate::logs::RECORD_ABOUT)]
    RecordLogs(crate::logs::RecordArgs),
    /// Root-cause ranking (BARO, n-sigma) on recorded cases in RCAEval's
    /// layout: a JSON line per case, then AC@1, AC@3, Avg@5.
    #[cfg(feature = "rca")]
    Rca(crate::rca::RcaArgs),
    /// Summaries of recorded chaos incidents, deterministic and (with
    /// `--model-url`) a model's: grounding, naming the faulted service,
    /// latency and tokens.
    Summaries(crate::summaries::SummariesArgs),
    /// Similar past incidents on recorded chaos incidents from two or more
    /// runs: does each incident find the same fault's incident of another
    /// run, and no other fault's?
    Similar(crate::similar::SimilarArgs),
}

/// Runs one evaluation; the error says what was wrong with the input.
pub fn run(command: EvalCommand) -> anyhow::Result<()> {
    match command {
        EvalCommand::Chaos(args) => crate::chaos::run(args),
        EvalCommand::Nab(args) => crate::nab::run(args),
        EvalCommand::Logs(args) => crate::logs::run_logs(&args),
        EvalCommand::RecordLogs(args) => crate::logs::run_record(&args),
        #[cfg(feature = "rca")]
        EvalCommand::Rca(args) => crate::rca::run(&args),
        EvalCommand::Summaries(args) => crate::summaries::run(args),
        EvalCommand::Similar(args) => crate::similar::run(&args),
    }
}

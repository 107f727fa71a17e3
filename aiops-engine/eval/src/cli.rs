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
}

/// Runs one evaluation; the error says what was wrong with the input.
pub fn run(command: EvalCommand) -> anyhow::Result<()> {
    match command {
        EvalCommand::Chaos(args) => crate::chaos::run(args),
        EvalCommand::Nab(args) => crate::nab::run(args),
    }
}

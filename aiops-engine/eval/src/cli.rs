//! The `aiops eval` subcommands.

use clap::Subcommand;

#[derive(Subcommand)]
pub enum EvalCommand {
    /// Numenta Anomaly Benchmark: runs a detector over
    /// `<data>/data/<category>/<file>.csv`, writes NAB's results files to
    /// `<out>` and prints the normalised score of each profile, scored as
    /// NAB does.
    Nab(crate::nab::NabArgs),
}

/// Runs one evaluation; the error says what was wrong with the input.
pub fn run(command: EvalCommand) -> anyhow::Result<()> {
    match command {
        EvalCommand::Nab(args) => crate::nab::run(args),
    }
}

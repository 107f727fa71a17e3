//! The `aiops eval` subcommands.

use clap::Subcommand;

#[derive(Subcommand)]
pub enum EvalCommand {
    /// Root-cause ranking (BARO, n-sigma) on recorded cases in RCAEval's
    /// layout: a JSON line per case, then AC@1, AC@3, Avg@5.
    Rca(crate::rca::RcaArgs),
}

/// Runs one evaluation; the error says what was wrong with the input.
pub fn run(command: EvalCommand) -> anyhow::Result<()> {
    match command {
        EvalCommand::Rca(args) => crate::rca::run(&args),
    }
}

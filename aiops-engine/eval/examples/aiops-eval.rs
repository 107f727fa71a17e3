//! `aiops eval` without building the engine's server: the same
//! subcommands and the same code path, for measuring on a laptop or CI
//! box in seconds instead of after a full engine build.
//!
//! `cargo run --release -p aiops-eval --example aiops-eval -- rca --cases <dir>`

use clap::Parser;

#[derive(Parser)]
#[command(name = "aiops-eval")]
struct Cli {
    #[command(subcommand)]
    command: aiops_eval::cli::EvalCommand,
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = aiops_eval::cli::run(cli.command) {
        eprintln!("aiops eval: {e:#}");
        std::process::exit(1);
    }
}

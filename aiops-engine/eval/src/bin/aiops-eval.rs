//! `aiops eval` without the server: the same subcommands, for scripts and
//! benchmarks that should not build the whole engine.

use clap::Parser;

#[derive(Parser)]
#[command(name = "aiops-eval", about = "aiops eval, standalone")]
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

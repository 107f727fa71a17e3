//! `aiops eval nab` without building the server: the same arguments.
//!
//! `cargo run --release -p aiops-eval --example nab -- --data <dir> --out <dir>`

use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: aiops_eval::nab::NabArgs,
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = aiops_eval::nab::run(cli.args) {
        eprintln!("aiops eval nab: {e:#}");
        std::process::exit(1);
    }
}

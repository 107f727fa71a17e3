//! `aiops`: the engine's command line.

use std::path::PathBuf;

use aiops_server::config::{Config, EXIT_CONFIG, ProcessEnv};
use aiops_server::state::AppState;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "aiops", version, about = "the AIOps engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the engine: intake, store, query API.
    Serve {
        /// YAML configuration (see aiops.example.yaml); environment variables override it.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Runs the engine with the reference shop and its load generator as
    /// supervised children, wired together; optionally a game day (--chaos).
    Demo {
        #[command(flatten)]
        args: aiops_server::demo::DemoArgs,
    },
    /// Measures detection quality and speed on benchmark data (NAB, Loghub,
    /// RCAEval layouts) and on the shop's own faults.
    Eval {
        #[command(subcommand)]
        command: aiops_eval::cli::EvalCommand,
    },
    /// Internal to `demo`: starts a child that stops when the demo dies.
    #[command(name = "demo-child", hide = true)]
    DemoChild {
        #[arg(long)]
        parent: i32,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        command: Vec<std::ffi::OsString>,
    },
}

fn main() {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => serve(config),
        Command::Demo { args } => std::process::exit(aiops_server::demo::main(&args)),
        Command::Eval { command } => {
            if let Err(e) = aiops_eval::cli::run(command) {
                eprintln!("aiops eval: {e:#}");
                std::process::exit(1);
            }
        }
        Command::DemoChild { parent, command } => {
            std::process::exit(aiops_server::demo::exec_child(parent, &command))
        }
    }
}

fn serve(path: Option<PathBuf>) {
    let loaded = match &path {
        Some(p) => Config::load(p, &ProcessEnv),
        None => Config::parse("", &ProcessEnv),
    };
    let config = loaded.unwrap_or_else(|e| {
        eprintln!("aiops: {e}");
        std::process::exit(EXIT_CONFIG)
    });
    let _ = rustls::crypto::ring::default_provider().install_default();
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AIOPS_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("aiops: cannot start the runtime: {e}");
            std::process::exit(1)
        }
    };
    let result = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
        if config.ingest_tokens.is_empty() {
            tracing::warn!("ingest endpoints are open: no auth.ingest_tokens configured");
        }
        tracing::info!(address = %config.listen, "listening");
        let state = AppState::new(config);
        aiops_server::app::run(listener, state, shutdown_signal()).await?;
        tracing::info!("stopped");
        anyhow::Ok(())
    });
    if let Err(e) = result {
        eprintln!("aiops: {e:#}");
        std::process::exit(1);
    }
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = terminate => {},
    }
}

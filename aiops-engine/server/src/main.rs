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
    /// Playbooks: validate files, test one against a recorded incident,
    /// print the JSON Schema.
    Playbook {
        #[command(subcommand)]
        command: aiops_server::playbook_cli::PlaybookCommand,
    },
    /// The console: make a password hash for `console.users` (the password
    /// is read from standard input, so it stays out of the shell history).
    Console {
        #[command(subcommand)]
        command: ConsoleCommand,
    },
    /// Exits 0 when the engine on this host answers `/healthz` within two
    /// seconds, 1 otherwise: Docker's HEALTHCHECK (the image has no shell).
    Healthcheck {
        /// Defaults to `http://127.0.0.1:<port of AIOPS_LISTEN, else 9800>/healthz`.
        #[arg(long)]
        url: Option<String>,
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

#[derive(Subcommand)]
enum ConsoleCommand {
    /// Reads a password from standard input, prints its argon2id hash.
    HashPassword,
}

fn hash_password() -> i32 {
    let mut line = String::new();
    if let Err(e) = std::io::stdin().read_line(&mut line) {
        eprintln!("aiops console hash-password: cannot read standard input: {e}");
        return 1;
    }
    let password = line.trim_end_matches(['\n', '\r']);
    if password.len() < 8 {
        eprintln!("aiops console hash-password: a password needs at least 8 characters");
        return EXIT_CONFIG;
    }
    match aiops_console::auth::hash_password(password) {
        Ok(hash) => {
            println!("{hash}");
            0
        }
        Err(e) => {
            eprintln!("aiops console hash-password: {e}");
            1
        }
    }
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
        Command::Console {
            command: ConsoleCommand::HashPassword,
        } => std::process::exit(hash_password()),
        Command::Playbook { command } => {
            std::process::exit(aiops_server::playbook_cli::run(command))
        }
        Command::Healthcheck { url } => {
            let url = url.map_or_else(|| healthz_url(std::env::var("AIOPS_LISTEN").ok()), Ok);
            match url.and_then(|url| probe(&url)) {
                Ok(()) => std::process::exit(0),
                Err(e) => {
                    eprintln!("aiops healthcheck: {e}");
                    std::process::exit(1);
                }
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

/// The engine's own port on loopback when it listens on every address.
fn healthz_url(listen: Option<String>) -> Result<String, String> {
    let listen = listen.unwrap_or_else(|| "127.0.0.1:9800".into());
    let mut addr: std::net::SocketAddr = listen
        .trim()
        .parse()
        .map_err(|e| format!("AIOPS_LISTEN {listen:?} is not host:port: {e}"))?;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    Ok(format!("http://{addr}/healthz"))
}

fn probe(url: &str) -> Result<(), String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(2))
            .build()
            .map_err(|e| e.to_string())?;
        let response = client
            .get(url)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("{url} answered {}", response.status()));
        }
        Ok(())
    })
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

#[cfg(test)]
mod tests {
    use super::healthz_url;

    #[test]
    fn healthcheck_probes_the_own_port_on_loopback() {
        assert_eq!(
            healthz_url(Some("0.0.0.0:9800".into())).as_deref(),
            Ok("http://127.0.0.1:9800/healthz")
        );
        assert_eq!(
            healthz_url(None).as_deref(),
            Ok("http://127.0.0.1:9800/healthz")
        );
        let bad = healthz_url(Some("engine".into())).unwrap_err();
        assert!(bad.contains("AIOPS_LISTEN"), "{bad}");
    }
}

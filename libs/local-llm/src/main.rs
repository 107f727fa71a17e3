//! `local-llm --model <gguf> [--name smollm2] [--listen 127.0.0.1:11434]`:
//! Ollama's API on loopback, backed by a local GGUF model.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;

#[derive(Parser)]
#[command(about = "a local GGUF model behind Ollama's HTTP API")]
struct Args {
    /// The GGUF file (default: the test model under target/models).
    #[arg(long)]
    model: Option<PathBuf>,
    /// The model name clients ask for.
    #[arg(long, default_value = "smollm2")]
    name: String,
    #[arg(long, default_value = "127.0.0.1:11434")]
    listen: std::net::SocketAddr,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let Some(path) = args.model.or_else(local_llm::test_model_path) else {
        eprintln!("local-llm: no model: pass --model or set LOCAL_LLM_MODEL");
        std::process::exit(64);
    };
    let model = match local_llm::LocalModel::load(&path, &args.name) {
        Ok(m) => Arc::new(m),
        Err(e) => {
            eprintln!("local-llm: {e}");
            std::process::exit(64);
        }
    };
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("local-llm: cannot listen on {}: {e}", args.listen);
            std::process::exit(71);
        }
    };
    eprintln!(
        "local-llm: serving {} as {:?} on http://{}",
        path.display(),
        args.name,
        args.listen
    );
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Err(e) = local_llm::run(listener, model, shutdown).await {
        eprintln!("local-llm: {e}");
        std::process::exit(1);
    }
}

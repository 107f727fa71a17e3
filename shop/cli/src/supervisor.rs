//! `shop up`: the seven services as child processes of this one, kept
//! running by the project's one supervisor (restarted with back-off when
//! they die, as a container runtime would), their output prefixed with the
//! service name or written to a file per service, stopped in order on
//! Ctrl-C. With `--control`, the supervisor's control API (restart, deploy,
//! roll back, state) is served for the engine's remediation.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use shop_topology::{SERVICES, START_ORDER};
use supervisor::{Options, Output, Spec, Supervisor};

/// The variable that holds the control API's token.
pub const CONTROL_TOKEN_VAR: &str = "SHOP_CONTROL_TOKEN";

pub struct Up {
    pub load: Option<shop_loadgen::Options>,
    /// Serve the control API here.
    pub control: Option<SocketAddr>,
    /// One `<service>.log` per service here instead of prefixed stdout.
    pub logs: Option<PathBuf>,
}

pub fn up(up: Up) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(run(up))
}

/// The token in `var`, or a new one, printed for the person starting the shop.
fn token_or_new(var: &str, what: &str) -> String {
    match std::env::var(var) {
        Ok(t) if !t.is_empty() => t,
        _ => {
            let t = format!(
                "shop-{:016x}{:016x}",
                rand::random::<u64>(),
                rand::random::<u64>()
            );
            println!("shop | {what} (set {var} to choose your own): {t}");
            t
        }
    }
}

async fn run(up: Up) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let env = vec![(
        "SHOP_ADMIN_TOKEN".to_string(),
        token_or_new("SHOP_ADMIN_TOKEN", "chaos api token"),
    )];
    if let Some(dir) = &up.logs {
        std::fs::create_dir_all(dir)?;
    }
    // bind before starting anything: a taken control port is a usage error
    let control = match up.control {
        Some(addr) => Some((
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("cannot serve the control API on {addr}: {e}"))?,
            token_or_new(CONTROL_TOKEN_VAR, "control api token"),
        )),
        None => None,
    };
    let sup = Supervisor::new();
    for name in START_ORDER {
        let Some(service) = SERVICES.iter().find(|s| s.name == name) else {
            continue;
        };
        let mut service_env = env.clone();
        service_env.push(("SHOP_LISTEN".into(), format!("127.0.0.1:{}", service.port)));
        let output = match &up.logs {
            Some(dir) => Output::File(dir.join(format!("{name}.log"))),
            None => Output::Prefixed,
        };
        sup.start(
            name,
            Spec {
                program: exe.clone(),
                args: vec!["run".into(), name.into()],
                env: service_env,
            },
            Options {
                output,
                version_env: Some("SHOP_VERSION".into()),
                ..Options::default()
            },
        )?;
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let control_task = control.map(|(listener, token)| {
        let mut stopped = stop_rx.clone();
        let sup: Arc<Supervisor> = sup.clone();
        println!(
            "shop | control api on http://{}",
            listener
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_default()
        );
        tokio::spawn(async move {
            let _ = supervisor::control::serve(listener, sup, &token, async move {
                let _ = stopped.wait_for(|s| *s).await;
            })
            .await;
        })
    });
    let load_task = up.load.map(|options| {
        let mut stop_rx = stop_rx.clone();
        tokio::spawn(async move {
            if !wait_ready(&options.target, Duration::from_secs(60)).await {
                println!("loadgen | the frontend did not become ready; no load");
                return;
            }
            let stopped = async move {
                let _ = stop_rx.wait_for(|s| *s).await;
            };
            match shop_loadgen::run(options, stopped).await {
                Ok(summary) => {
                    for line in summary.to_string().lines() {
                        println!("loadgen | {line}");
                    }
                }
                Err(e) => println!("loadgen | failed: {e:#}"),
            }
        })
    });
    shop_common::service::shutdown_signal().await;
    println!("shop | stopping");
    let _ = stop_tx.send(true);
    if let Some(task) = load_task {
        let _ = task.await;
    }
    if let Some(task) = control_task {
        let _ = task.await;
    }
    // callers first, so the last requests find their peers
    let order: Vec<&str> = START_ORDER.iter().rev().copied().collect();
    sup.stop_all(&order).await;
    Ok(())
}

async fn wait_ready(base: &str, within: Duration) -> bool {
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        let ok = client
            .get(format!("{}/", base.trim_end_matches('/')))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ok {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    false
}

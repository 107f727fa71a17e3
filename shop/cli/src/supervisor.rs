//! `shop up`: the seven services as child processes of this one, their
//! output prefixed with the service name, restarted with backoff when they
//! die (as a container runtime would), and stopped with SIGTERM on Ctrl-C.

use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use shop_common::ports::SERVICES;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;

const MAX_BACKOFF: Duration = Duration::from_secs(30);
const STOP_GRACE: Duration = Duration::from_secs(10);

pub fn up(load: Option<shop_loadgen::Options>) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(run(load))
}

async fn run(load: Option<shop_loadgen::Options>) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let mut extra_env = Vec::new();
    if std::env::var_os("SHOP_ADMIN_TOKEN").is_none() {
        let token = format!("shop-{:016x}", rand::random::<u64>());
        println!("shop | chaos api token (set SHOP_ADMIN_TOKEN to choose your own): {token}");
        extra_env.push(("SHOP_ADMIN_TOKEN".to_string(), token));
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut supervisors = Vec::new();
    for (name, port) in SERVICES {
        let mut env = extra_env.clone();
        env.push(("SHOP_LISTEN".into(), format!("127.0.0.1:{port}")));
        supervisors.push(tokio::spawn(supervise(
            exe.clone(),
            name,
            env,
            stop_rx.clone(),
        )));
    }
    let load_task = load.map(|options| {
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
    for s in supervisors {
        let _ = s.await;
    }
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

/// Resolves once the stop flag is set (the watch guard is not held across awaits).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Keeps one service running until told to stop.
async fn supervise(
    exe: std::path::PathBuf,
    name: &'static str,
    env: Vec<(String, String)>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(500);
    loop {
        let started = tokio::time::Instant::now();
        let mut child = match spawn(&exe, name, &env) {
            Ok(c) => c,
            Err(e) => {
                println!("{name:>14} | cannot start: {e}");
                return;
            }
        };
        let exited = tokio::select! {
            status = child.wait() => status,
            _ = stopped(&mut stop) => {
                terminate(&mut child, name).await;
                return;
            }
        };
        let stopping = *stop.borrow();
        if stopping {
            return;
        }
        let status = exited
            .map(|s| s.to_string())
            .unwrap_or_else(|e| e.to_string());
        // A service that ran a while gets a fresh backoff.
        if started.elapsed() > Duration::from_secs(60) {
            backoff = Duration::from_millis(500);
        }
        println!(
            "{name:>14} | exited ({status}); restarting in {:.1}s",
            backoff.as_secs_f64()
        );
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stopped(&mut stop) => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

fn spawn(
    exe: &std::path::Path,
    name: &'static str,
    env: &[(String, String)],
) -> std::io::Result<Child> {
    let mut command = Command::new(exe);
    command
        .arg("run")
        .arg(name)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn()?;
    if let Some(out) = child.stdout.take() {
        tokio::spawn(prefix_lines(name, out));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(prefix_lines(name, err));
    }
    Ok(child)
}

async fn prefix_lines(name: &'static str, stream: impl AsyncRead + Unpin) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        println!("{name:>14} | {line}");
    }
}

/// SIGTERM, then SIGKILL if the child has not stopped within the grace period.
async fn terminate(child: &mut Child, name: &str) {
    if let Some(pid) = child.id().and_then(|id| i32::try_from(id).ok()) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    }
    if tokio::time::timeout(STOP_GRACE, child.wait())
        .await
        .is_err()
    {
        println!(
            "{name:>14} | did not stop within {}s; killing",
            STOP_GRACE.as_secs()
        );
        let _ = child.kill().await;
    }
}

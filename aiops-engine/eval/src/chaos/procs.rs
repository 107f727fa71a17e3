//! Child processes the harness runs and keeps running, as a container
//! runtime's restart policy would: each in its own process group, output
//! appended to a log file, restarted after a short back-off when it exits,
//! redeployed with a new environment on demand, stopped with SIGTERM then
//! SIGKILL.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use parking_lot::Mutex;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long a stopping child gets between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);
const RESTART_BACKOFF: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct Spec {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

pub struct Supervised {
    spec: Arc<Mutex<Spec>>,
    restarts: Arc<AtomicU32>,
    /// Bumped to make the loop replace the running child (a redeploy).
    generation: watch::Sender<u64>,
    stop: watch::Sender<bool>,
    /// Receives a value after each (re)start of the child.
    started: watch::Receiver<u64>,
    task: JoinHandle<()>,
}

impl Supervised {
    /// Starts `spec` and keeps it running until [`Supervised::stop`];
    /// `restart` false lets a child that exits stay down (a load generator).
    pub fn start(name: &str, spec: Spec, log: PathBuf, restart: bool) -> Supervised {
        let name: Arc<str> = Arc::from(name);
        let spec = Arc::new(Mutex::new(spec));
        let restarts = Arc::new(AtomicU32::new(0));
        let (generation, generation_rx) = watch::channel(0u64);
        let (stop, stop_rx) = watch::channel(false);
        let (started_tx, started) = watch::channel(0u64);
        let task = tokio::spawn(supervise(Loop {
            name: name.clone(),
            spec: spec.clone(),
            restarts: restarts.clone(),
            log,
            restart,
            generation: generation_rx,
            stop: stop_rx,
            started: started_tx,
        }));
        Supervised {
            spec,
            restarts,
            generation,
            stop,
            started,
            task,
        }
    }

    /// Times the child exited on its own and was started again.
    pub fn restarts(&self) -> u32 {
        self.restarts.load(Ordering::Relaxed)
    }

    /// A receiver that sees a new value after each (re)start.
    pub fn starts(&self) -> watch::Receiver<u64> {
        self.started.clone()
    }

    /// Replaces the environment variables named in `env` and restarts the
    /// child with them (SIGTERM, then start): a new release.
    pub fn redeploy(&self, env: &[(String, String)]) {
        {
            let mut spec = self.spec.lock();
            for (k, v) in env {
                spec.env.retain(|(name, _)| name != k);
                spec.env.push((k.clone(), v.clone()));
            }
        }
        self.generation.send_modify(|g| *g += 1);
    }

    /// Removes environment variables and redeploys (a rollback).
    pub fn redeploy_without(&self, names: &[&str]) {
        self.spec
            .lock()
            .env
            .retain(|(name, _)| !names.contains(&name.as_str()));
        self.generation.send_modify(|g| *g += 1);
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

struct Loop {
    name: Arc<str>,
    spec: Arc<Mutex<Spec>>,
    restarts: Arc<AtomicU32>,
    log: PathBuf,
    restart: bool,
    generation: watch::Receiver<u64>,
    stop: watch::Receiver<bool>,
    started: watch::Sender<u64>,
}

async fn supervise(mut l: Loop) {
    let mut starts = 0u64;
    loop {
        let spec = l.spec.lock().clone();
        let mut child = match spawn(&spec, &l.log).await {
            Ok(child) => child,
            Err(e) => {
                append(&l.log, &format!("harness: cannot start {}: {e}\n", l.name)).await;
                if !l.restart || wait_or_stop(&mut l.stop, RESTART_BACKOFF * 5).await {
                    return;
                }
                continue;
            }
        };
        starts += 1;
        let _ = l.started.send(starts);
        tokio::select! {
            status = child.wait() => {
                let status = status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                append(&l.log, &format!("harness: {} exited ({status})\n", l.name)).await;
                if !l.restart {
                    return;
                }
                l.restarts.fetch_add(1, Ordering::Relaxed);
                if wait_or_stop(&mut l.stop, RESTART_BACKOFF).await {
                    return;
                }
            }
            _ = l.generation.changed() => {
                terminate(&mut child).await;
            }
            _ = l.stop.changed() => {
                terminate(&mut child).await;
                return;
            }
        }
    }
}

/// Sleeps `pause`; true when asked to stop meanwhile.
async fn wait_or_stop(stop: &mut watch::Receiver<bool>, pause: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(pause) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

async fn spawn(spec: &Spec, log: &PathBuf) -> std::io::Result<Child> {
    let mut command = Command::new(&spec.program);
    command
        .args(&spec.args)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command.spawn()?;
    let file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .await?;
    let file = Arc::new(tokio::sync::Mutex::new(file));
    if let Some(out) = child.stdout.take() {
        tokio::spawn(copy_lines(out, file.clone()));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(copy_lines(err, file));
    }
    Ok(child)
}

/// Whole lines, so stdout and stderr never interleave inside one.
async fn copy_lines(
    stream: impl tokio::io::AsyncRead + Unpin,
    file: Arc<tokio::sync::Mutex<tokio::fs::File>>,
) {
    let mut reader = BufReader::new(stream).lines();
    while let Ok(Some(line)) = reader.next_line().await {
        let mut f = file.lock().await;
        let _ = f.write_all(line.as_bytes()).await;
        let _ = f.write_all(b"\n").await;
    }
}

async fn append(log: &PathBuf, text: &str) {
    if let Ok(mut f) = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .await
    {
        let _ = f.write_all(text.as_bytes()).await;
    }
}

/// SIGTERM to the child's group, SIGKILL after the grace period.
async fn terminate(child: &mut Child) {
    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGTERM);
        if tokio::time::timeout(STOP_GRACE, child.wait()).await.is_ok() {
            return;
        }
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
    let _ = child.kill().await;
    let _ = child.wait().await;
}

//! One supervised process: started, restarted with back-off when it exits
//! on its own (as a container runtime's restart policy would), restarted,
//! redeployed or rolled back on request, stopped with SIGTERM then SIGKILL.
//! Its state is readable at any time; every request is answered once the
//! new process has been started (or could not be).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::ControlError;

/// What to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// The base environment; a release's environment goes on top.
    pub env: Vec<(String, String)>,
}

/// What a process runs as beyond its spec: a version and the settings that
/// came with it. Deploying one keeps the one before, so a roll-back knows
/// where to go (and a roll-back of a roll-back goes forward again).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    /// Empty for the release the process was started with.
    #[serde(default)]
    pub version: String,
    /// Environment set on top of the spec's.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// Where a process's output goes.
#[derive(Debug, Clone)]
pub enum Output {
    /// Appended to a file, line by line.
    File(PathBuf),
    /// To this program's stdout, each line after `<name> | `.
    Prefixed,
    /// Dropped.
    Discard,
}

/// How a process is kept running.
#[derive(Debug, Clone)]
pub struct Options {
    pub output: Output,
    /// Start it again when it exits on its own.
    pub restart: bool,
    /// The first wait before starting a crashed process again, doubled per
    /// crash up to `backoff_max`, and back to the first after a run longer
    /// than `backoff_reset_after`.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    pub backoff_reset_after: Duration,
    /// Between SIGTERM and SIGKILL.
    pub stop_grace: Duration,
    /// In a process group of its own (signals go to the group); otherwise
    /// it stays in this program's group, so whatever stops this program's
    /// group stops it too.
    pub own_process_group: bool,
    /// The environment variable a release's version is set in (e.g.
    /// `SHOP_VERSION`), if any.
    pub version_env: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            output: Output::Prefixed,
            restart: true,
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            backoff_reset_after: Duration::from_secs(60),
            stop_grace: Duration::from_secs(10),
            own_process_group: false,
            version_env: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Running,
    /// Exited on its own; waiting before the next start.
    BackingOff,
    /// Exited on its own and is not restarted (its policy says so), or
    /// could not be started.
    Exited,
    Stopped,
}

/// A process as a reader sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessState {
    pub name: String,
    pub status: Status,
    pub pid: Option<u32>,
    /// Times a process was started.
    pub starts: u64,
    /// Times it exited without being asked to.
    pub crashes: u64,
    /// Times it was restarted on request (restart, deploy, roll back).
    pub restarts: u64,
    /// Unix milliseconds.
    pub started_at_ms: Option<i64>,
    pub last_exit: Option<String>,
    pub release: Release,
    pub previous_release: Option<Release>,
}

type Reply = oneshot::Sender<Result<ProcessState, ControlError>>;

enum Request {
    Restart(Reply),
    Deploy(Release, Reply),
    Rollback(Reply),
}

/// A handle on one supervised process.
pub struct Process {
    name: Arc<str>,
    state: Arc<Mutex<ProcessState>>,
    requests: mpsc::Sender<Request>,
    stop: watch::Sender<bool>,
    started: watch::Receiver<u64>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// Requests queued per process at most; more are refused as busy.
const MAX_QUEUED: usize = 8;

impl Process {
    pub fn start(name: &str, spec: Spec, options: Options) -> Process {
        let name: Arc<str> = Arc::from(name);
        let state = Arc::new(Mutex::new(ProcessState {
            name: name.to_string(),
            status: Status::Stopped,
            pid: None,
            starts: 0,
            crashes: 0,
            restarts: 0,
            started_at_ms: None,
            last_exit: None,
            release: Release::default(),
            previous_release: None,
        }));
        let (requests, requests_rx) = mpsc::channel(MAX_QUEUED);
        let (stop, stop_rx) = watch::channel(false);
        let (started_tx, started) = watch::channel(0u64);
        let task = tokio::spawn(supervise(Loop {
            name: name.clone(),
            spec,
            options,
            state: state.clone(),
            requests: requests_rx,
            stop: stop_rx,
            started: started_tx,
        }));
        Process {
            name,
            state,
            requests,
            stop,
            started,
            task: Mutex::new(Some(task)),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn state(&self) -> ProcessState {
        self.state.lock().clone()
    }

    /// A receiver that sees a new value after each start.
    pub fn starts(&self) -> watch::Receiver<u64> {
        self.started.clone()
    }

    /// Stops the process and starts it again with the same release.
    pub async fn restart(&self) -> Result<ProcessState, ControlError> {
        self.ask(Request::Restart).await
    }

    /// Starts `release` in place of the running one, which becomes the
    /// previous release.
    pub async fn deploy(&self, release: Release) -> Result<ProcessState, ControlError> {
        self.ask(|reply| Request::Deploy(release, reply)).await
    }

    /// Starts the previous release again; the one it replaces becomes the
    /// previous release.
    pub async fn rollback(&self) -> Result<ProcessState, ControlError> {
        if self.state.lock().previous_release.is_none() {
            return Err(ControlError::NoPreviousRelease(self.name.to_string()));
        }
        self.ask(Request::Rollback).await
    }

    async fn ask(&self, make: impl FnOnce(Reply) -> Request) -> Result<ProcessState, ControlError> {
        if *self.stop.borrow() {
            return Err(ControlError::Stopped(self.name.to_string()));
        }
        let (reply, answer) = oneshot::channel();
        self.requests
            .try_send(make(reply))
            .map_err(|_| ControlError::Busy(self.name.to_string()))?;
        answer
            .await
            .unwrap_or_else(|_| Err(ControlError::Stopped(self.name.to_string())))
    }

    /// Stops the process for good (SIGTERM, then SIGKILL after the grace).
    pub async fn stop(&self) {
        let _ = self.stop.send(true);
        let task = self.task.lock().take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

struct Loop {
    name: Arc<str>,
    spec: Spec,
    options: Options,
    state: Arc<Mutex<ProcessState>>,
    requests: mpsc::Receiver<Request>,
    stop: watch::Receiver<bool>,
    started: watch::Sender<u64>,
}

/// What ended a wait.
enum Wake {
    Exited(String),
    Asked(Request),
    Stop,
    /// The back-off is over.
    Due,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

async fn supervise(mut l: Loop) {
    let mut backoff = l.options.backoff_min;
    // a request waiting for the next start to be answered
    let mut pending: Option<Reply> = None;
    loop {
        if *l.stop.borrow() {
            l.state.lock().status = Status::Stopped;
            answer(&mut pending, Err(ControlError::Stopped(l.name.to_string())));
            return;
        }
        let release = l.state.lock().release.clone();
        let mut child = match spawn(&l, &release).await {
            Ok(child) => child,
            Err(e) => {
                let why = format!("cannot start: {e}");
                note(&l.options.output, &l.name, &why).await;
                {
                    let mut s = l.state.lock();
                    s.status = Status::Exited;
                    s.pid = None;
                    s.last_exit = Some(why.clone());
                }
                answer(
                    &mut pending,
                    Err(ControlError::Start(l.name.to_string(), why)),
                );
                let pause = l.options.restart.then_some(backoff);
                backoff = (backoff * 2).min(l.options.backoff_max);
                if let Wake::Asked(request) = wait(&mut l, None, pause).await {
                    pending = Some(apply(&l, request));
                }
                continue;
            }
        };
        let started_at = tokio::time::Instant::now();
        let starts = {
            let mut s = l.state.lock();
            s.status = Status::Running;
            s.pid = child.id();
            s.starts += 1;
            s.started_at_ms = Some(now_ms());
            s.starts
        };
        let _ = l.started.send(starts);
        answer(&mut pending, Ok(l.state.lock().clone()));
        // Run until it exits, is asked to change, or is stopped.
        loop {
            match wait(&mut l, Some(&mut child), None).await {
                Wake::Exited(status) => {
                    note(&l.options.output, &l.name, &format!("exited ({status})")).await;
                    {
                        let mut s = l.state.lock();
                        s.pid = None;
                        s.crashes += 1;
                        s.last_exit = Some(status);
                        s.status = if l.options.restart {
                            Status::BackingOff
                        } else {
                            Status::Exited
                        };
                    }
                    if started_at.elapsed() > l.options.backoff_reset_after {
                        backoff = l.options.backoff_min;
                    }
                    let pause = l.options.restart.then_some(backoff);
                    backoff = (backoff * 2).min(l.options.backoff_max);
                    match wait(&mut l, None, pause).await {
                        Wake::Due | Wake::Exited(_) | Wake::Stop => {}
                        Wake::Asked(request) => pending = Some(apply(&l, request)),
                    }
                    break;
                }
                Wake::Asked(request) => {
                    pending = Some(apply(&l, request));
                    terminate(&mut child, &l.options).await;
                    break;
                }
                Wake::Stop => {
                    terminate(&mut child, &l.options).await;
                    let mut s = l.state.lock();
                    s.status = Status::Stopped;
                    s.pid = None;
                    break;
                }
                Wake::Due => {}
            }
        }
    }
}

/// Changes the release a request asks for; returns where to answer it
/// once the process has started again.
fn apply(l: &Loop, request: Request) -> Reply {
    let mut s = l.state.lock();
    s.restarts += 1;
    match request {
        Request::Restart(reply) => reply,
        Request::Deploy(release, reply) => {
            let previous = std::mem::replace(&mut s.release, release);
            s.previous_release = Some(previous);
            reply
        }
        Request::Rollback(reply) => {
            if let Some(previous) = s.previous_release.take() {
                let current = std::mem::replace(&mut s.release, previous);
                s.previous_release = Some(current);
            }
            reply
        }
    }
}

fn answer(pending: &mut Option<Reply>, result: Result<ProcessState, ControlError>) {
    if let Some(reply) = pending.take() {
        let _ = reply.send(result);
    }
}

/// Waits for the child to exit (when there is one), a request, the stop
/// flag, or the end of `pause` (when given; otherwise no deadline).
async fn wait(l: &mut Loop, child: Option<&mut Child>, pause: Option<Duration>) -> Wake {
    let exited = async {
        match child {
            Some(child) => child
                .wait()
                .await
                .map(|s| s.to_string())
                .unwrap_or_else(|e| e.to_string()),
            None => std::future::pending().await,
        }
    };
    let due = async {
        match pause {
            Some(pause) => tokio::time::sleep(pause).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        status = exited => Wake::Exited(status),
        request = l.requests.recv() => match request {
            Some(request) => Wake::Asked(request),
            None => Wake::Stop,
        },
        _ = l.stop.wait_for(|s| *s) => Wake::Stop,
        () = due => Wake::Due,
    }
}

async fn spawn(l: &Loop, release: &Release) -> std::io::Result<Child> {
    let mut command = Command::new(&l.spec.program);
    command
        .args(&l.spec.args)
        .envs(l.spec.env.iter().map(|(k, v)| (k, v)))
        .envs(release.env.iter())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(var) = &l.options.version_env
        && !release.version.is_empty()
    {
        command.env(var, &release.version);
    }
    if l.options.own_process_group {
        command.process_group(0);
    }
    let mut child = command.spawn()?;
    let sink = Sink::open(&l.options.output, &l.name).await?;
    if let Some(out) = child.stdout.take() {
        tokio::spawn(copy_lines(out, sink.clone()));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(copy_lines(err, sink));
    }
    Ok(child)
}

/// Where one process's lines go; whole lines, so stdout and stderr never
/// interleave inside one.
#[derive(Clone)]
enum Sink {
    File(Arc<tokio::sync::Mutex<tokio::fs::File>>),
    Prefixed(Arc<str>),
    Discard,
}

impl Sink {
    async fn open(output: &Output, name: &Arc<str>) -> std::io::Result<Sink> {
        Ok(match output {
            Output::File(path) => Sink::File(Arc::new(tokio::sync::Mutex::new(
                tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .await?,
            ))),
            Output::Prefixed => Sink::Prefixed(name.clone()),
            Output::Discard => Sink::Discard,
        })
    }

    async fn line(&self, line: &str) {
        match self {
            Sink::File(file) => {
                // one write per line: appends from other handles (the
                // supervisor's own notes) never land inside it
                let mut whole = String::with_capacity(line.len() + 1);
                whole.push_str(line);
                whole.push('\n');
                let mut f = file.lock().await;
                let _ = f.write_all(whole.as_bytes()).await;
            }
            Sink::Prefixed(name) => println!("{name:>14} | {line}"),
            Sink::Discard => {}
        }
    }
}

async fn copy_lines(stream: impl AsyncRead + Unpin, sink: Sink) {
    let mut reader = BufReader::new(stream).lines();
    while let Ok(Some(line)) = reader.next_line().await {
        sink.line(&line).await;
    }
}

/// A line of the supervisor's own about a process, where its output goes.
async fn note(output: &Output, name: &Arc<str>, what: &str) {
    if let Ok(sink) = Sink::open(output, name).await {
        sink.line(&format!("supervisor: {name} {what}")).await;
    }
}

/// SIGTERM (to the group, when it has its own), SIGKILL after the grace.
async fn terminate(child: &mut Child, options: &Options) {
    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
        let pid = Pid::from_raw(pid);
        let signal = |sig| {
            if options.own_process_group {
                let _ = killpg(pid, sig);
            } else {
                let _ = kill(pid, sig);
            }
        };
        signal(Signal::SIGTERM);
        if tokio::time::timeout(options.stop_grace, child.wait())
            .await
            .is_ok()
        {
            return;
        }
        signal(Signal::SIGKILL);
    }
    let _ = child.kill().await;
    let _ = child.wait().await;
}

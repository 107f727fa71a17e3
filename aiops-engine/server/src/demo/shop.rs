//! The shop as one supervised child: `shop up --load`, which itself runs
//! the seven services and the load generator. The child gets its own
//! process group, so the terminal's Ctrl-C reaches only the demo, which then
//! stops the shop in order (SIGTERM, bounded wait, SIGKILL to the group).
//! If the demo dies without that, the kernel sends the shop SIGTERM
//! (PR_SET_PDEATHSIG, set by a small `aiops demo-child` step before exec).

use std::ffi::OsString;
use std::io;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use super::output;

use shop_topology::SERVICES;

/// Longer than `shop up`'s own 10 s per-service grace, so it can finish.
const STOP_GRACE: Duration = Duration::from_secs(15);
/// For stragglers left in the group after the shop itself is gone.
const SWEEP_GRACE: Duration = Duration::from_secs(3);

/// `shop` next to this executable (a cargo target dir or an install
/// prefix), else on PATH.
pub fn find_binary() -> Result<PathBuf, String> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("shop")))
        .filter(|p| p.is_file());
    let on_path = || {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("shop"))
                .find(|p| p.is_file())
        })
    };
    beside.or_else(on_path).ok_or_else(|| {
        "the shop binary was not found next to aiops nor on PATH; \
         build it with `cargo build --release --bins` (or `cargo build --bins`)"
            .to_string()
    })
}

/// The first shop port something already listens on. The ports are fixed,
/// and services that cannot bind would only crash-loop under the supervisor.
pub fn first_busy_port() -> Option<u16> {
    SERVICES
        .iter()
        .map(|s| s.port)
        .find(|port| std::net::TcpListener::bind(("127.0.0.1", *port)).is_err())
}

/// What the shop is started with.
pub struct Launch<'a> {
    pub shop: &'a Path,
    pub rate: f64,
    pub admin_token: &'a str,
    pub loki_url: &'a str,
    /// The supervisor's control API: the playbooks act through it.
    pub control: std::net::SocketAddr,
    pub control_token: &'a str,
    /// The services' own log lines go here (one file each) instead of the
    /// terminal.
    pub logs: Option<&'a Path>,
}

pub struct ShopProcess {
    child: Child,
    pid: Pid,
    exited: Option<ExitStatus>,
    /// Set once the whole group is known gone; until then, drop sweeps it.
    swept: bool,
    forwarders: Vec<JoinHandle<()>>,
}

/// Starts the shop. Call from the thread that lives as long as the demo
/// (the runtime's main thread): the parent-death signal follows the
/// spawning thread, not the process.
pub fn spawn(launch: &Launch<'_>) -> io::Result<ShopProcess> {
    let demo = std::env::current_exe()?;
    let mut command = Command::new(demo);
    command
        .arg("demo-child")
        .arg("--parent")
        .arg(std::process::id().to_string())
        .arg("--")
        .arg(launch.shop)
        .args(["up", "--load", "--rate", &launch.rate.to_string()])
        .arg("--control")
        .arg(launch.control.to_string())
        .args(
            launch
                .logs
                .map(|dir| {
                    vec![
                        std::ffi::OsString::from("--logs"),
                        dir.as_os_str().to_owned(),
                    ]
                })
                .unwrap_or_default(),
        )
        .env("SHOP_CONTROL_TOKEN", launch.control_token)
        .env("SHOP_ADMIN_TOKEN", launch.admin_token)
        .env("SHOP_LOKI_URL", launch.loki_url)
        // The engine scrapes the fixed ports: inherited overrides of where
        // the services listen or find their peers would break that wiring.
        .env_remove("SHOP_LISTEN")
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for service in SERVICES {
        command.env_remove(shop_topology::peer_url_var(service.name));
    }
    let mut child = command.spawn()?;
    let pid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw)
        .ok_or_else(|| io::Error::other("the shop exited at once"))?;
    let mut forwarders = Vec::new();
    if let Some(out) = child.stdout.take() {
        forwarders.push(tokio::spawn(forward(out)));
    }
    if let Some(err) = child.stderr.take() {
        forwarders.push(tokio::spawn(forward(err)));
    }
    Ok(ShopProcess {
        child,
        pid,
        exited: None,
        swept: false,
        forwarders,
    })
}

/// The shop already prefixes every line with the service it came from
/// (`      payments | ...`), so lines pass through as they are.
async fn forward(stream: impl AsyncRead + Unpin) {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                output::raw(text.trim_end_matches(['\n', '\r']));
            }
        }
    }
}

impl ShopProcess {
    /// Resolves when the shop exits by itself (it should not, until told).
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        let status = self.child.wait().await?;
        self.exited = Some(status);
        Ok(status)
    }

    /// SIGTERM to the shop, which stops its services and the load; SIGKILL
    /// to the whole group if that takes longer than the grace period or
    /// `hurry` resolves (a second Ctrl-C). Then sweeps the group, so no
    /// service outlives the demo even if the shop itself crashed.
    pub async fn stop(&mut self, hurry: impl std::future::Future<Output = ()>) {
        if self.exited.is_none() {
            let _ = kill(self.pid, Signal::SIGTERM);
            let outcome = tokio::select! {
                status = self.child.wait() => status.ok(),
                () = tokio::time::sleep(STOP_GRACE) => {
                    output::say("demo", &format!("the shop did not stop within {}s; killing it", STOP_GRACE.as_secs()));
                    None
                }
                () = hurry => {
                    output::say("demo", "stopping at once");
                    None
                }
            };
            self.exited = match outcome {
                Some(status) => Some(status),
                None => {
                    let _ = killpg(self.pid, Signal::SIGKILL);
                    self.child.wait().await.ok()
                }
            };
        }
        self.sweep().await;
        // Let the last lines reach the terminal.
        for task in self.forwarders.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(1), task).await;
        }
    }

    async fn sweep(&mut self) {
        // The group outlives its leader while any member is alive, so the
        // id cannot have been handed to someone else meanwhile.
        if killpg(self.pid, None).is_ok() {
            output::say("demo", "stopping shop services left behind");
            let _ = killpg(self.pid, Signal::SIGTERM);
            let deadline = tokio::time::Instant::now() + SWEEP_GRACE;
            while killpg(self.pid, None).is_ok() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let _ = killpg(self.pid, Signal::SIGKILL);
        }
        self.swept = true;
    }
}

impl Drop for ShopProcess {
    /// On any path that skipped `stop` (an error, a panic), at least ask the
    /// whole group to stop.
    fn drop(&mut self) {
        if !self.swept {
            let _ = killpg(self.pid, Signal::SIGTERM);
        }
    }
}

/// `aiops demo-child --parent <pid> -- <command...>`: asks the kernel for
/// SIGTERM when the demo dies, then becomes the command (the signal setting
/// survives exec). Returns only on failure, with the exit status to use.
pub fn exec_child(parent: i32, command: &[OsString]) -> i32 {
    let Some((program, args)) = command.split_first() else {
        eprintln!("aiops: demo-child needs a command");
        return super::EXIT_USAGE;
    };
    if let Err(e) = nix::sys::prctl::set_pdeathsig(Signal::SIGTERM) {
        eprintln!("aiops: cannot ask for the parent-death signal: {e}");
    }
    // The demo may have died before the request above took effect.
    if nix::unistd::getppid() != Pid::from_raw(parent) {
        eprintln!("aiops: the demo is gone; not starting the shop");
        return 1;
    }
    let err = std::process::Command::new(program).args(args).exec();
    eprintln!("aiops: cannot run {}: {err}", Path::new(program).display());
    127
}

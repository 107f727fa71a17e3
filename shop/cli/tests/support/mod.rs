//! Starts shop services as real processes (`shop run <service>`) on free
//! loopback ports, and stops them when dropped.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::TcpListener;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const ADMIN_TOKEN: &str = "integration-admin-token";
pub const SERVICES: [&str; 7] = [
    "frontend",
    "catalog",
    "cart",
    "orders",
    "checkout",
    "payments",
    "recommendation",
];

/// A port for a service this test process spawns. Ports come from a block
/// of 50 chosen by the process id, below the kernel's ephemeral range: an
/// ephemeral port (bind to 0, then release) could be handed to another
/// test running in parallel before our child binds it, and then the
/// journey talks to someone else's service.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    const BASE: u32 = 10_000;
    const BLOCK: u32 = 50;
    const BLOCKS: u32 = 400; // ports 10000-29999
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let block_start = BASE + (std::process::id() % BLOCKS) * BLOCK;
    for _ in 0..BLOCK {
        let offset = u32::from(NEXT.fetch_add(1, Ordering::Relaxed)) % BLOCK;
        let port = u16::try_from(block_start + offset).expect("below 30000");
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    // the block is full (another process shares it): fall back to the kernel
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

pub struct ServiceProcess {
    pub name: String,
    pub port: u16,
    pub child: Child,
    pub log_path: std::path::PathBuf,
}

impl ServiceProcess {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Everything the process wrote to stdout and stderr so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Spawns `shop run <name>` with the given environment (plus the admin token).
pub fn spawn(
    name: &str,
    port: u16,
    env: &HashMap<String, String>,
    dir: &std::path::Path,
) -> ServiceProcess {
    let log_path = dir.join(format!("{name}.log"));
    let log = std::fs::File::create(&log_path).expect("create log file");
    let log_err = log.try_clone().expect("clone log file");
    let child = Command::new(env!("CARGO_BIN_EXE_shop"))
        .arg("run")
        .arg(name)
        .env("SHOP_LISTEN", format!("127.0.0.1:{port}"))
        .env("SHOP_ADMIN_TOKEN", ADMIN_TOKEN)
        .envs(env)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .expect("spawn the shop binary");
    ServiceProcess {
        name: name.to_string(),
        port,
        child,
        log_path,
    }
}

pub async fn wait_ready(client: &reqwest::Client, process: &mut ServiceProcess, within: Duration) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(r) = client.get(format!("{}/readyz", process.url())).send().await
            && r.status().is_success()
        {
            return;
        }
        if let Ok(Some(status)) = process.child.try_wait() {
            panic!(
                "{} exited with {status} before it was ready:\n{}",
                process.name,
                process.output()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "{} not ready within {within:?}:\n{}",
        process.name,
        process.output()
    );
}

/// The seven services wired to each other on free ports.
pub struct Shop {
    pub dir: TempDir,
    pub processes: HashMap<String, ServiceProcess>,
}

impl Shop {
    /// `extra` adds environment per service name (e.g. DATABASE_URL for orders).
    pub async fn start(extra: &HashMap<&str, Vec<(String, String)>>) -> Shop {
        let dir = TempDir::new("shop");
        let ports: HashMap<&str, u16> = SERVICES.iter().map(|s| (*s, free_port())).collect();
        let mut env: HashMap<String, String> = HashMap::new();
        for (name, port) in &ports {
            env.insert(
                format!("SHOP_{}_URL", name.to_ascii_uppercase()),
                format!("http://127.0.0.1:{port}"),
            );
        }
        env.insert(
            "ORDERS_DB_PATH".into(),
            dir.path().join("orders.db").display().to_string(),
        );
        let client = reqwest::Client::new();
        let mut processes = HashMap::new();
        for name in SERVICES {
            let mut service_env = env.clone();
            for (k, v) in extra.get(name).into_iter().flatten() {
                service_env.insert(k.clone(), v.clone());
            }
            processes.insert(
                name.to_string(),
                spawn(name, ports[name], &service_env, dir.path()),
            );
        }
        for name in SERVICES {
            let p = processes.get_mut(name).expect("spawned");
            wait_ready(&client, p, Duration::from_secs(60)).await;
        }
        Shop { dir, processes }
    }

    pub fn url(&self, name: &str) -> String {
        self.processes[name].url()
    }
}

/// A temporary directory removed on drop (kept when KEEP_TEST_DIRS is set).
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "{prefix}-{}-{:x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Reads a metric's value from a Prometheus text exposition: the first
/// sample whose name and label subset match.
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric_name, rest) = match series.find('{') {
                Some(i) => (&series[..i], &series[i..]),
                None => (series, ""),
            };
            if metric_name != name {
                return None;
            }
            if !labels
                .iter()
                .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
            {
                return None;
            }
            value.parse().ok()
        })
}

/// A server-side environment requirement: in CI a missing one fails the
/// test; elsewhere the test is skipped, loudly.
pub fn required_env(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ if std::env::var_os("CI").is_some() => panic!("{var} is not set: CI must provide {what}"),
        _ => {
            eprintln!("SKIPPED: {var} is not set; this test needs {what}");
            None
        }
    }
}

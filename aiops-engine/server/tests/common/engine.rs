//! `aiops serve` as a process of a test, and what the process-level tests
//! drive it with: an Alertmanager alert, a supervised target whose
//! restarts are counted.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use supervisor::{Options, Output, Spec, Supervisor};

/// A running `aiops serve`; killed (SIGKILL) when dropped.
pub struct Engine {
    child: Child,
}

impl Engine {
    /// Starts `aiops serve --config <config>`, appending its output to `log`.
    pub fn start(config: &Path, log: &Path) -> Engine {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("engine log");
        let child = Command::new(env!("CARGO_BIN_EXE_aiops"))
            .args(["serve", "--config"])
            .arg(config)
            .env("AIOPS_LOG", "info")
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start aiops serve");
        Engine { child }
    }

    /// SIGTERM and a clean shutdown (its last writes), SIGKILL after 20 s.
    pub fn stop(&mut self) {
        stop_child(&mut self.child);
    }

    /// SIGKILL: no shutdown, no last write.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// SIGTERM, then up to 20 s for the process to exit, then SIGKILL.
pub fn stop_child(child: &mut Child) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Waits for `/readyz` to answer 200.
pub async fn wait_ready(client: &reqwest::Client, engine: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if client
            .get(format!("{engine}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the engine at {engine} did not come up");
}

/// A critical Alertmanager alert (webhook payload version 4) for `service`,
/// which opens an incident at once.
pub async fn fire_alert(client: &reqwest::Client, engine: &str, alertname: &str, service: &str) {
    let summary = format!("{service} is broken");
    fire_alert_with(
        client,
        engine,
        alertname,
        service,
        json!({"summary": summary}),
    )
    .await;
}

/// The same alert with the given annotations (the text an attacker may write).
pub async fn fire_alert_with(
    client: &reqwest::Client,
    engine: &str,
    alertname: &str,
    service: &str,
    annotations: Value,
) {
    let fingerprint = format!(
        "{:016x}",
        alertname
            .bytes()
            .chain(service.bytes())
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            })
    );
    let alert = json!({"version":"4","groupKey":format!("{{}}:{{alertname=\"{alertname}\"}}"),"truncatedAlerts":0,"status":"firing","receiver":"aiops",
        "groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://am:9093",
        "alerts":[{"status":"firing","labels":{"alertname":alertname,"service":service,"severity":"critical"},
        "annotations":annotations,"startsAt":"2026-01-01T00:00:00Z","endsAt":"0001-01-01T00:00:00Z",
        "generatorURL":"http://prom","fingerprint":fingerprint}]});
    let r = client
        .post(format!("{engine}/api/v1/alerts/alertmanager"))
        .json(&alert)
        .send()
        .await
        .expect("alert");
    assert!(r.status().is_success(), "{}", r.status());
}

/// A supervisor with one process, `target`, that ignores SIGTERM, so each
/// restart takes the whole stop grace (6 s): long enough to kill an engine
/// while the action runs. Its control API is served on `port` with `token`.
pub async fn slow_target(
    port: u16,
    token: &'static str,
) -> (Arc<Supervisor>, tokio::task::JoinHandle<()>) {
    let sup = Supervisor::new();
    sup.start(
        "target",
        Spec {
            program: "/bin/sh".into(),
            args: vec![
                "-c".into(),
                "trap '' TERM; while true; do sleep 1; done".into(),
            ],
            env: vec![],
        },
        Options {
            output: Output::Discard,
            stop_grace: Duration::from_secs(6),
            ..Options::default()
        },
    )
    .expect("start the target");
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("control port");
    let served = sup.clone();
    let handle = tokio::spawn(async move {
        let _ = supervisor::control::serve(listener, served, token, std::future::pending()).await;
    });
    (sup, handle)
}

/// How many restarts the supervisor was asked for.
pub fn restarts(sup: &Supervisor) -> u64 {
    sup.state("target").map_or(0, |s| s.restarts)
}

/// The `data` list an API path answers (reading is open); empty when the
/// engine does not answer.
pub async fn data(client: &reqwest::Client, engine: &str, path: &str) -> Vec<Value> {
    let Ok(r) = client.get(format!("{engine}{path}")).send().await else {
        return Vec::new();
    };
    r.json::<Value>()
        .await
        .ok()
        .and_then(|v| v["data"].as_array().cloned())
        .unwrap_or_default()
}

/// The engine's actions.
pub async fn actions(client: &reqwest::Client, engine: &str) -> Vec<Value> {
    data(client, engine, "/api/v1/actions").await
}

/// Waits for a restart action in `state`.
pub async fn until_action(
    client: &reqwest::Client,
    engine: &str,
    state: &str,
    within: Duration,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        if let Some(a) = actions(client, engine)
            .await
            .into_iter()
            .find(|a| a["action"] == "restart" && a["state"] == state)
        {
            return a;
        }
        assert!(
            Instant::now() < deadline,
            "no restart action {state} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for the restart action `id`, found running by an engine that
/// started or took over (its runner was killed), to be marked failed: the
/// same action, never carried out again.
pub async fn until_marked_not_redone(client: &reqwest::Client, engine: &str, id: &str) -> Value {
    let failed = until_action(client, engine, "failed", Duration::from_secs(30)).await;
    assert_eq!(failed["id"], id, "the same action, not a new one");
    assert!(
        failed["reason"]
            .as_str()
            .unwrap_or("")
            .contains("not carried out again"),
        "{failed}"
    );
    failed
}

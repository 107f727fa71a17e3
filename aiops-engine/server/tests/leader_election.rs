//! Two engines on one incidents database (`incidents.leader_lease`): both
//! ingest, one acts. The leader is killed (SIGKILL) while its action runs;
//! the other takes the lease within a bound, takes over the incident under
//! its id and the ledger, and does not repeat the action. Real `aiops
//! serve` processes, a real supervisor counting the restarts it was asked
//! for, one SQLite file (the embedded mode's database; PostgreSQL's lease
//! is the same statement, tested in `aiops-incident-db`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::free_port;
use serde_json::{Value, json};
use supervisor::{Options, Output, Spec, Supervisor};

const CONTROL_TOKEN: &str = "control-token-for-the-election-test";
const API_TOKEN: &str = "responder-token-for-the-election";
const ADMIN_TOKEN: &str = "admin-token-for-the-election-test";
/// Short, so the test is; the bound below follows from it.
const LEASE: Duration = Duration::from_secs(3);

struct Engine {
    child: Child,
    url: String,
}

impl Engine {
    fn start(dir: &Path, name: &str, database: &str, control_port: u16) -> Engine {
        let port = free_port();
        let playbooks = dir.join("playbooks");
        std::fs::create_dir_all(&playbooks).expect("dir");
        std::fs::write(
            playbooks.join("restart.yaml"),
            "name: restart-target\nmode: auto\nwhen:\n  alerts: [{alertname: TargetBroken}]\nsteps:\n  - action: restart\nguardrails:\n  verify_within: 5m\n",
        )
        .expect("playbook");
        let config = dir.join(format!("{name}.yaml"));
        std::fs::write(
            &config,
            format!(
                "listen: \"127.0.0.1:{port}\"\n\
                 auth:\n  api_tokens:\n    - {{name: rita, role: responder, token: {API_TOKEN}}}\n    - {{name: ada, role: admin, token: {ADMIN_TOKEN}}}\n\
                 scrape:\n  interval: 1s\n  jobs:\n    - {{job: engine, targets: [\"127.0.0.1:{port}\"]}}\n\
                 incidents:\n  database: \"{database}\"\n  evaluation_interval: 1s\n  leader_lease: {}s\n\
                 remediation:\n  playbooks: {}\n  executor: process\n  supervisor: {{url: \"http://127.0.0.1:{control_port}\", token: {CONTROL_TOKEN}}}\n",
                LEASE.as_secs(),
                playbooks.display()
            ),
        )
        .expect("config");
        let log = std::fs::File::create(dir.join(format!("{name}.log"))).expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_aiops"))
            .args(["serve", "--config"])
            .arg(&config)
            .env("AIOPS_LOG", "info")
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start aiops serve");
        Engine {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.kill9();
    }
}

async fn wait_ready(client: &reqwest::Client, engine: &Engine) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if client
            .get(format!("{}/readyz", engine.url))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the engine did not come up");
}

/// `aiops_leader` as the engine reports it.
async fn leads(client: &reqwest::Client, engine: &Engine) -> Option<bool> {
    let text = client
        .get(format!("{}/metrics", engine.url))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines().find_map(|l| match l {
        "aiops_leader 1" => Some(true),
        "aiops_leader 0" => Some(false),
        _ => None,
    })
}

async fn until_leads(client: &reqwest::Client, engine: &Engine, within: Duration) -> Duration {
    let started = Instant::now();
    while started.elapsed() < within {
        if leads(client, engine).await == Some(true) {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{} did not lead within {within:?}", engine.url);
}

async fn fire_alert(client: &reqwest::Client, engine: &Engine) {
    let alert = json!({"version":"4","groupKey":"{}:{alertname=\"TargetBroken\"}","truncatedAlerts":0,"status":"firing","receiver":"aiops",
        "groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://am:9093",
        "alerts":[{"status":"firing","labels":{"alertname":"TargetBroken","service":"target","severity":"critical"},
        "annotations":{"summary":"target is broken"},"startsAt":"2026-01-01T00:00:00Z","endsAt":"0001-01-01T00:00:00Z",
        "generatorURL":"http://prom","fingerprint":"00000000000000bb"}]});
    let r = client
        .post(format!("{}/api/v1/alerts/alertmanager", engine.url))
        .json(&alert)
        .send()
        .await
        .expect("alert");
    assert!(r.status().is_success(), "{}", r.status());
}

async fn get_data(client: &reqwest::Client, engine: &Engine, path: &str) -> Vec<Value> {
    let Ok(r) = client
        .get(format!("{}{path}", engine.url))
        .bearer_auth(API_TOKEN)
        .send()
        .await
    else {
        return Vec::new();
    };
    r.json::<Value>()
        .await
        .ok()
        .and_then(|v| v["data"].as_array().cloned())
        .unwrap_or_default()
}

async fn until_action(
    client: &reqwest::Client,
    engine: &Engine,
    state: &str,
    within: Duration,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        if let Some(a) = get_data(client, engine, "/api/v1/actions")
            .await
            .into_iter()
            .find(|a| a["action"] == "restart" && a["state"] == state)
        {
            return a;
        }
        assert!(
            Instant::now() < deadline,
            "no restart action {state} on {} within {within:?}",
            engine.url
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A supervisor with one process that ignores SIGTERM (each restart takes
/// the whole 6 s stop grace: time to kill the leader mid-action).
async fn target(port: u16) -> (Arc<Supervisor>, tokio::task::JoinHandle<()>) {
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
        let _ = supervisor::control::serve(listener, served, CONTROL_TOKEN, std::future::pending())
            .await;
    });
    (sup, handle)
}

fn restarts(sup: &Supervisor) -> u64 {
    sup.state("target").map_or(0, |s| s.restarts)
}

fn database(dir: &Path) -> (String, PathBuf) {
    let path = dir.join("incidents.db");
    (format!("sqlite:{}", path.display()), path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_follower_takes_over_a_killed_leaders_incident_without_repeating_its_action() {
    let dir = tempfile::tempdir().expect("tempdir");
    let control_port = free_port();
    let (sup, control) = target(control_port).await;
    let (database, _) = database(dir.path());
    let client = reqwest::Client::new();

    let mut first = Engine::start(dir.path(), "first", &database, control_port);
    wait_ready(&client, &first).await;
    until_leads(&client, &first, Duration::from_secs(20)).await;
    let second = Engine::start(dir.path(), "second", &database, control_port);
    wait_ready(&client, &second).await;
    // a lease period or two: the second has tried and failed to take it
    tokio::time::sleep(LEASE).await;
    assert_eq!(leads(&client, &second).await, Some(false), "one leader");

    // a follower takes no changes: they would be lost when it takes over
    let refused = client
        .post(format!("{}/api/v1/remediation", second.url))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"enabled": false, "reason": "test"}))
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status().as_u16(), 503);
    let why = refused.text().await.unwrap_or_default();
    assert!(why.contains("follows"), "{why}");

    tokio::time::sleep(Duration::from_secs(2)).await; // fresh telemetry
    // Alertmanager sends to both replicas
    fire_alert(&client, &first).await;
    fire_alert(&client, &second).await;
    let running = until_action(&client, &first, "running", Duration::from_secs(30)).await;
    let incident = running["incident_id"]
        .as_str()
        .expect("incident")
        .to_owned();
    let id = running["id"].as_str().expect("id").to_owned();
    // the follower saw the fault too, under an id of its own, and did nothing
    assert!(
        get_data(&client, &second, "/api/v1/actions")
            .await
            .is_empty()
    );

    // kill -9 the leader while the supervisor is still stopping the target
    first.kill9();
    let killed = Instant::now();
    until_leads(&client, &second, Duration::from_secs(30)).await;
    let took = killed.elapsed();
    eprintln!("takeover: the follower led {took:?} after the leader was killed (lease {LEASE:?})");
    assert!(
        took <= LEASE * 4,
        "took {took:?}, bound {:?} (the lease, a renewal period and the takeover)",
        LEASE * 4
    );

    let failed = until_action(&client, &second, "failed", Duration::from_secs(30)).await;
    assert_eq!(failed["id"], id.as_str(), "the same action, not a new one");
    assert!(
        failed["reason"]
            .as_str()
            .unwrap_or("")
            .contains("not carried out again"),
        "{failed}"
    );
    let incidents = get_data(&client, &second, "/api/v1/incidents").await;
    let open: Vec<&Value> = incidents
        .iter()
        .filter(|i| i["state"] != "resolved")
        .collect();
    assert_eq!(
        open.len(),
        1,
        "the follower's own incident gave way: {open:?}"
    );
    assert_eq!(open[0]["id"], incident.as_str(), "under the leader's id");

    // long enough for any repeat: the incident still matches, the alert still fires
    fire_alert(&client, &second).await;
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(
        restarts(&sup),
        1,
        "the supervisor was asked once: {:?}",
        get_data(&client, &second, "/api/v1/actions").await
    );
    let all = get_data(&client, &second, "/api/v1/actions").await;
    assert_eq!(
        all.iter().filter(|a| a["action"] == "restart").count(),
        1,
        "{all:?}"
    );
    control.abort();
    sup.stop_all(&[]).await;
}

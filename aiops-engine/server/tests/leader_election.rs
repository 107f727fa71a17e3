//! Two engines on one incidents database (`incidents.leader_lease`): both
//! ingest, one acts. The leader is killed (SIGKILL) while its action runs;
//! the other takes the lease within a bound, takes over the incident under
//! its id and the ledger, and does not repeat the action. Real `aiops
//! serve` processes, a real supervisor counting the restarts it was asked
//! for, one SQLite file (the embedded mode's database; PostgreSQL's lease
//! is the same statement, tested in `aiops-incident-db`).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::engine::{
    Engine, actions, data, fire_alert, restarts, slow_target, until_action,
    until_marked_not_redone, wait_ready,
};
use common::free_port;
use serde_json::{Value, json};

const CONTROL_TOKEN: &str = "control-token-for-the-election-test";
const API_TOKEN: &str = "responder-token-for-the-election";
const ADMIN_TOKEN: &str = "admin-token-for-the-election-test";
/// Short, so the test is; the bound below follows from it.
const LEASE: Duration = Duration::from_secs(3);

/// One of the two engines: the process and where it listens.
struct Replica {
    engine: Engine,
    url: String,
}

impl Replica {
    fn start(dir: &Path, name: &str, database: &str, control_port: u16) -> Replica {
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
        Replica {
            engine: Engine::start(&config, &dir.join(format!("{name}.log"))),
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

/// `aiops_leader` as the engine reports it.
async fn leads(client: &reqwest::Client, engine: &Replica) -> Option<bool> {
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

async fn until_leads(client: &reqwest::Client, engine: &Replica, within: Duration) -> Duration {
    let started = Instant::now();
    while started.elapsed() < within {
        if leads(client, engine).await == Some(true) {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{} did not lead within {within:?}", engine.url);
}

fn database(dir: &Path) -> (String, PathBuf) {
    let path = dir.join("incidents.db");
    (format!("sqlite:{}", path.display()), path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_follower_takes_over_a_killed_leaders_incident_without_repeating_its_action() {
    let dir = tempfile::tempdir().expect("tempdir");
    let control_port = free_port();
    let (sup, control) = slow_target(control_port, CONTROL_TOKEN).await;
    let (database, _) = database(dir.path());
    let client = reqwest::Client::new();

    let mut first = Replica::start(dir.path(), "first", &database, control_port);
    wait_ready(&client, &first.url).await;
    until_leads(&client, &first, Duration::from_secs(20)).await;
    let second = Replica::start(dir.path(), "second", &database, control_port);
    wait_ready(&client, &second.url).await;
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
    fire_alert(&client, &first.url, "TargetBroken", "target").await;
    fire_alert(&client, &second.url, "TargetBroken", "target").await;
    let running = until_action(&client, &first.url, "running", Duration::from_secs(30)).await;
    let incident = running["incident_id"]
        .as_str()
        .expect("incident")
        .to_owned();
    let id = running["id"].as_str().expect("id").to_owned();
    // the follower saw the fault too, under an id of its own, and did nothing
    assert!(actions(&client, &second.url).await.is_empty());

    // kill -9 the leader while the supervisor is still stopping the target
    first.engine.kill9();
    let killed = Instant::now();
    until_leads(&client, &second, Duration::from_secs(30)).await;
    let took = killed.elapsed();
    eprintln!("takeover: the follower led {took:?} after the leader was killed (lease {LEASE:?})");
    assert!(
        took <= LEASE * 4,
        "took {took:?}, bound {:?} (the lease, a renewal period and the takeover)",
        LEASE * 4
    );

    until_marked_not_redone(&client, &second.url, &id).await;
    let incidents = data(&client, &second.url, "/api/v1/incidents").await;
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
    fire_alert(&client, &second.url, "TargetBroken", "target").await;
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(
        restarts(&sup),
        1,
        "the supervisor was asked once: {:?}",
        actions(&client, &second.url).await
    );
    let all = actions(&client, &second.url).await;
    assert_eq!(
        all.iter().filter(|a| a["action"] == "restart").count(),
        1,
        "{all:?}"
    );
    control.abort();
    sup.stop_all(&[]).await;
}

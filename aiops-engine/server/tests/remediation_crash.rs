//! Killed at any step, the engine never repeats an action it carried out,
//! and a pending approval outlives it. A real `aiops serve` (killed with
//! SIGKILL, started again on the same database) acts through a real
//! supervisor's control API on a real process; the supervisor counts every
//! restart it was asked for, so "exactly once" is counted, not assumed.
//!
//! An Alertmanager alert opens the incident (a critical alert of service
//! `target`); the playbook restarts `target`. The target ignores SIGTERM, so
//! each restart takes the supervisor's whole stop grace (6 s): long enough
//! to kill the engine while the action runs.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::engine::{
    Engine, actions, fire_alert, restarts, slow_target, until_action, until_marked_not_redone,
    wait_ready,
};
use common::free_port;
use serde_json::json;

const CONTROL_TOKEN: &str = "control-token-for-the-test";
const API_TOKEN: &str = "responder-token-0123456";

fn setup(dir: &Path, mode: &str, engine_port: u16, control_port: u16) -> PathBuf {
    let playbooks = dir.join("playbooks");
    std::fs::create_dir_all(&playbooks).expect("dir");
    std::fs::write(
        playbooks.join("restart.yaml"),
        format!(
            "name: restart-target\nmode: {mode}\nwhen:\n  alerts: [{{alertname: TargetBroken}}]\nsteps:\n  - action: restart\nguardrails:\n  verify_within: 5m\n"
        ),
    )
    .expect("playbook");
    let config = dir.join("aiops.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: \"127.0.0.1:{engine_port}\"\n\
             auth:\n  api_tokens:\n    - {{name: rita, role: responder, token: {API_TOKEN}}}\n\
             scrape:\n  interval: 1s\n  jobs:\n    - {{job: engine, targets: [\"127.0.0.1:{engine_port}\"]}}\n\
             incidents:\n  database: \"sqlite:{}\"\n  evaluation_interval: 1s\n\
             remediation:\n  playbooks: {}\n  executor: process\n  supervisor: {{url: \"http://127.0.0.1:{control_port}\", token: {CONTROL_TOKEN}}}\n",
            dir.join("incidents.db").display(),
            playbooks.display()
        ),
    )
    .expect("config");
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_while_an_action_runs_it_is_never_carried_out_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine_port, control_port) = (free_port(), free_port());
    let (sup, control) = slow_target(control_port, CONTROL_TOKEN).await;
    let config = setup(dir.path(), "auto", engine_port, control_port);
    let log = dir.path().join("engine.log");
    let engine = format!("http://127.0.0.1:{engine_port}");
    let client = reqwest::Client::new();

    let mut first = Engine::start(&config, &log);
    wait_ready(&client, &engine).await;
    tokio::time::sleep(Duration::from_secs(2)).await; // fresh telemetry
    fire_alert(&client, &engine, "TargetBroken", "target").await;
    let running = until_action(&client, &engine, "running", Duration::from_secs(30)).await;
    // kill -9 while the supervisor is still stopping the target
    first.kill9();
    let id = running["id"].as_str().expect("id").to_owned();

    let mut second = Engine::start(&config, &log);
    wait_ready(&client, &engine).await;
    until_marked_not_redone(&client, &engine, &id).await;
    // long enough for any repeat: the incident still matches, the alert still fires
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert_eq!(
        restarts(&sup),
        1,
        "the supervisor was asked once: {:?}",
        actions(&client, &engine).await
    );
    let all = actions(&client, &engine).await;
    assert_eq!(
        all.iter().filter(|a| a["action"] == "restart").count(),
        1,
        "{all:?}"
    );

    // and after the action finished: killed again, still once
    second.kill9();
    let _third = Engine::start(&config, &log);
    wait_ready(&client, &engine).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(restarts(&sup), 1);
    control.abort();
    sup.stop_all(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_approval_outlives_the_engine_and_runs_once_approved() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine_port, control_port) = (free_port(), free_port());
    let (sup, control) = slow_target(control_port, CONTROL_TOKEN).await;
    let config = setup(dir.path(), "approve", engine_port, control_port);
    let log = dir.path().join("engine.log");
    let engine = format!("http://127.0.0.1:{engine_port}");
    let client = reqwest::Client::new();

    let mut first = Engine::start(&config, &log);
    wait_ready(&client, &engine).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    fire_alert(&client, &engine, "TargetBroken", "target").await;
    let pending = until_action(
        &client,
        &engine,
        "pending_approval",
        Duration::from_secs(30),
    )
    .await;
    let id = pending["id"].as_str().expect("id").to_owned();
    first.kill9();
    assert_eq!(restarts(&sup), 0);

    let _second = Engine::start(&config, &log);
    wait_ready(&client, &engine).await;
    let still = until_action(
        &client,
        &engine,
        "pending_approval",
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(still["id"], id.as_str(), "the approval survived");
    // a viewer-less anonymous caller may not approve; a responder may
    let refused = client
        .post(format!("{engine}/api/v1/actions/{id}/approve"))
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), reqwest::StatusCode::UNAUTHORIZED);
    let approved = client
        .post(format!("{engine}/api/v1/actions/{id}/approve"))
        .bearer_auth(API_TOKEN)
        .json(&json!({"note": "go"}))
        .send()
        .await
        .expect("approve");
    assert!(
        approved.status().is_success(),
        "{}",
        approved.text().await.unwrap_or_default()
    );
    let done = until_action(&client, &engine, "succeeded", Duration::from_secs(40)).await;
    assert_eq!(done["id"], id.as_str());
    assert!(
        done["history"]
            .as_array()
            .is_some_and(|h| h.iter().any(|t| t["by"] == "rita")),
        "who approved is recorded: {done}"
    );
    let again = client
        .post(format!("{engine}/api/v1/actions/{id}/approve"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .expect("approve again");
    assert_eq!(again.status(), reqwest::StatusCode::CONFLICT);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(restarts(&sup), 1, "approved once, carried out once");
    control.abort();
    sup.stop_all(&[]).await;
}

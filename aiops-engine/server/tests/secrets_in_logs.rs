//! No secret in any log: a whole `aiops demo` run with every secret the
//! demo can be given (its API token, which is also the console password,
//! the shop's chaos token, a Slack bot token and signing secret, a
//! PagerDuty routing key, a webhook signing secret), a fault injected
//! through the chaos API, an incident notified to Slack, PagerDuty and a
//! webhook (local recorders: neither Slack nor PagerDuty can be reached
//! from here), a console login, an approval asked and given; then the
//! demo's whole output, at debug level, and every file it left (the shop's
//! logs, the engine config) are searched for each secret.
//!
//! The shop's ports are fixed, so this takes the demo tests' lock.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use parking_lot::Mutex;
use serde_json::{Value, json};

mod common;
use common::demo::{Demo, start_demo};
use common::{busy_shop_port, ensure_shop_binary, exclusive, free_port, in_ci};

const DEMO_TOKEN: &str = "demo-secret-token-3f9a1c7e5b2d";
const CHAOS_TOKEN: &str = "chaos-secret-token-8e4b2a6c";
const SLACK_BOT_TOKEN: &str = "xoxb-secret-bot-token-5d7f9e1a3c";
const SLACK_SIGNING_SECRET: &str = "slack-signing-secret-2b4d6f8a0c";
const PAGERDUTY_KEY: &str = "pagerduty-routing-key-7c9e1b3d5f";
const WEBHOOK_SECRET: &str = "webhook-signing-secret-4a6c8e0b2d";

const SECRETS: [(&str, &str); 6] = [
    ("AIOPS_DEMO_TOKEN", DEMO_TOKEN),
    ("SHOP_ADMIN_TOKEN", CHAOS_TOKEN),
    ("AIOPS_SLACK_BOT_TOKEN", SLACK_BOT_TOKEN),
    ("AIOPS_SLACK_SIGNING_SECRET", SLACK_SIGNING_SECRET),
    ("AIOPS_PAGERDUTY_KEY", PAGERDUTY_KEY),
    ("AIOPS_WEBHOOK_SECRET", WEBHOOK_SECRET),
];

/// What the receivers got: the path of every request.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<String>>>);

impl Received {
    fn count(&self, prefix: &str) -> usize {
        self.0
            .lock()
            .iter()
            .filter(|p| p.starts_with(prefix))
            .count()
    }
}

/// Slack's Web API (as much as the engine uses), PagerDuty's Events API
/// and a webhook, on loopback; each checks the secret it is sent.
async fn start_receivers() -> (String, Received) {
    let received = Received::default();
    let app = Router::new()
        .route(
            "/slack/api/{method}",
            post(
                |State(r): State<Received>,
                 axum::extract::Path(method): axum::extract::Path<String>,
                 headers: axum::http::HeaderMap| async move {
                    let authed = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        == Some(&format!("Bearer {SLACK_BOT_TOKEN}"));
                    if !authed {
                        return axum::Json(json!({"ok": false, "error": "not_authed"}));
                    }
                    r.0.lock().push(format!("/slack/{method}"));
                    axum::Json(json!({"ok": true, "channel": "C0INCIDENTS", "ts": "1700000000.000100"}))
                },
            ),
        )
        .route(
            "/pagerduty",
            post(|State(r): State<Received>, body: Bytes| async move {
                let v: Value = serde_json::from_slice(&body).unwrap_or_default();
                if v["routing_key"] != PAGERDUTY_KEY {
                    return (StatusCode::BAD_REQUEST, axum::Json(json!({"status": "invalid event"})));
                }
                r.0.lock().push("/pagerduty".into());
                (
                    StatusCode::ACCEPTED,
                    axum::Json(json!({"status": "success", "message": "Event processed", "dedup_key": "k"})),
                )
            }),
        )
        .route(
            "/hook",
            post(|State(r): State<Received>| async move {
                r.0.lock().push("/hook".into());
                StatusCode::OK
            }),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, received)
}

/// The `--with` file: notifications to the three receivers, and the
/// approval playbook's folder.
fn write_settings(dir: &Path, receivers: &str, engine: &str) -> (String, String) {
    let routing = dir.join("notify.yaml");
    std::fs::write(
        &routing,
        format!(
            "route:\n  receiver: hook\n  routes:\n    - {{receiver: pager, continue: true}}\n    - {{receiver: chat, continue: true}}\n    - {{receiver: hook}}\n\
             receivers:\n  - name: hook\n    webhook: {{url: \"{receivers}/hook\", secret_env: AIOPS_WEBHOOK_SECRET}}\n\
             \x20 - name: pager\n    pagerduty: {{routing_key_env: AIOPS_PAGERDUTY_KEY}}\n\
             \x20 - name: chat\n    slack: {{channel: \"#incidents\"}}\n"
        ),
    )
    .expect("routing");
    let settings = dir.join("with.yaml");
    std::fs::write(
        &settings,
        format!(
            "notifications:\n  routing: {}\n  console_url: {engine}\n  pagerduty_url: {receivers}/pagerduty\n  slack:\n    api_url: {receivers}/slack/api\n    users: {{U024BE7LH: demo}}\n",
            routing.display()
        ),
    )
    .expect("settings");
    let playbooks = dir.join("playbooks");
    std::fs::create_dir_all(&playbooks).expect("playbooks");
    std::fs::write(
        playbooks.join("ask.yaml"),
        "name: restart-when-approved\nmode: approve\nwhen:\n  severity: warning\n  top_service:\n    min_score: 0.1\nsteps:\n  - action: restart\nguardrails:\n  verify_within: 60s\n  max_attempts_per_incident: 1\n",
    )
    .expect("playbook");
    (
        settings.display().to_string(),
        playbooks.display().to_string(),
    )
}

async fn eventually<F, Fut, T>(demo: &Demo, what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + within;
    loop {
        match check().await {
            Ok(v) => return v,
            Err(e) if Instant::now() >= deadline => {
                panic!("{what} within {within:?}: {e}\n{}", demo.tail())
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

/// Signs in to the console as `demo` (the login form's cookie and CSRF
/// field, as a browser sends them); returns the status.
async fn console_login(client: &reqwest::Client, engine: &str, password: &str) -> u16 {
    let page = client
        .get(format!("{engine}/login"))
        .send()
        .await
        .expect("login page");
    let cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|c| c.split(';').next())
        .collect::<Vec<_>>()
        .join("; ");
    let html = page.text().await.expect("login page");
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the login form's csrf field")
        .to_owned();
    client
        .post(format!("{engine}/login"))
        .header("cookie", cookie)
        .form(&[("name", "demo"), ("password", password), ("csrf", &csrf)])
        .send()
        .await
        .expect("login")
        .status()
        .as_u16()
}

/// Every text file under `dir`, with its path.
fn files(dir: &Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            found.push((
                path.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_demo_run_logs_no_secret() {
    let _lock = exclusive();
    if let Some(port) = busy_shop_port() {
        assert!(!in_ci(), "port {port} is taken; the shop's ports are fixed");
        eprintln!("SKIPPED: port {port} is taken");
        return;
    }
    if let Err(e) = ensure_shop_binary() {
        assert!(!in_ci(), "{e}");
        eprintln!("SKIPPED: {e}");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("data");
    let listen = format!("127.0.0.1:{}", free_port());
    let engine = format!("http://{listen}");
    let (receivers, received) = start_receivers().await;
    let (settings, playbooks) = write_settings(dir.path(), &receivers, &engine);
    let mut envs: Vec<(&str, &str)> = SECRETS.to_vec();
    envs.push(("AIOPS_LOG", "debug"));
    let control = format!("127.0.0.1:{}", free_port());
    let demo = start_demo(
        &[
            "--listen",
            &listen,
            "--data-dir",
            &data_dir.display().to_string(),
            "--with",
            &settings,
            "--playbooks",
            &playbooks,
            "--control",
            &control,
        ],
        &envs,
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    eventually(
        &demo,
        "the engine ready",
        Duration::from_secs(60),
        || async {
            match client.get(format!("{engine}/readyz")).send().await {
                Ok(r) if r.status().is_success() => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;

    // a console login (the password is the demo token), and a wrong one
    assert_eq!(console_login(&client, &engine, DEMO_TOKEN).await, 303);
    assert_eq!(
        console_login(&client, &engine, "not-the-password").await,
        401
    );

    // a baseline, then a fault through the chaos API
    tokio::time::sleep(Duration::from_secs(40)).await;
    let r = client
        .post("http://127.0.0.1:8085/admin/chaos")
        .bearer_auth(CHAOS_TOKEN)
        .json(&json!({"kind": "errors", "status": 500, "rate": 0.9}))
        .send()
        .await
        .expect("inject");
    assert!(r.status().is_success(), "{}", r.status());
    // and a refused one, with a wrong token
    let r = client
        .post("http://127.0.0.1:8085/admin/chaos")
        .bearer_auth(format!("{CHAOS_TOKEN}-wrong"))
        .json(&json!({"kind": "errors", "status": 500, "rate": 0.9}))
        .send()
        .await
        .expect("inject");
    assert_eq!(r.status().as_u16(), 401);

    let pending: Value = eventually(
        &demo,
        "an approval asked",
        Duration::from_secs(150),
        || async {
            let r = client
                .get(format!("{engine}/api/v1/actions"))
                .bearer_auth(DEMO_TOKEN)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let body: Value = r.json().await.map_err(|e| e.to_string())?;
            body["data"]
                .as_array()
                .and_then(|a| a.iter().find(|a| a["state"] == "pending_approval").cloned())
                .ok_or_else(|| format!("{body}"))
        },
    )
    .await;
    let id = pending["id"].as_str().expect("id").to_owned();
    let id = id.as_str();
    let r = client
        .post(format!("{engine}/api/v1/actions/{id}/approve"))
        .bearer_auth(DEMO_TOKEN)
        .json(&json!({"note": "go ahead"}))
        .send()
        .await
        .expect("approve");
    assert!(
        r.status().is_success(),
        "{}",
        r.text().await.unwrap_or_default()
    );
    eventually(
        &demo,
        "notifications sent",
        Duration::from_secs(60),
        || async {
            let counts = (
                received.count("/slack/"),
                received.count("/pagerduty"),
                received.count("/hook"),
            );
            if counts.0 > 0 && counts.1 > 0 && counts.2 > 0 {
                Ok(())
            } else {
                Err(format!("slack, pagerduty, webhook: {counts:?}"))
            }
        },
    )
    .await;
    eventually(
        &demo,
        "the approved action carried out",
        Duration::from_secs(60),
        || async {
            let r = client
                .get(format!("{engine}/api/v1/actions/{id}"))
                .bearer_auth(DEMO_TOKEN)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let body: Value = r.json().await.map_err(|e| e.to_string())?;
            let state = body["data"]["state"].as_str().unwrap_or("");
            if matches!(
                state,
                "succeeded" | "failed" | "verified" | "verification_failed"
            ) {
                Ok(())
            } else {
                Err(format!("{body}"))
            }
        },
    )
    .await;
    let _ = client
        .delete("http://127.0.0.1:8085/admin/chaos")
        .bearer_auth(CHAOS_TOKEN)
        .send()
        .await;

    let output = demo.output();
    drop(demo);
    let mut searched = vec![("the demo's output".to_owned(), output)];
    searched.extend(
        files(&data_dir)
            .into_iter()
            .filter(|(path, _)| !path.ends_with(".db") && !path.contains(".db-")),
    );
    assert!(
        searched.len() >= 3,
        "the shop's logs are there: {:?}",
        searched.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
    // the search sees the run: the approved action was logged as carried out
    assert!(
        searched.iter().any(|(_, text)| text
            .lines()
            .any(|l| l.contains("carrying out") && l.contains(id))),
        "the logs searched do not show the action {id} being carried out"
    );
    let mut leaks = Vec::new();
    for (name, secret) in SECRETS {
        for (place, text) in &searched {
            if text.contains(secret) {
                let line = text.lines().find(|l| l.contains(secret)).unwrap_or("");
                leaks.push(format!("{name} in {place}: {line}"));
            }
        }
    }
    assert!(leaks.is_empty(), "secrets in logs:\n{}", leaks.join("\n"));
    let lines: usize = searched.iter().map(|(_, t)| t.lines().count()).sum();
    eprintln!(
        "searched {} files, {lines} lines, for {} secrets: none found",
        searched.len(),
        SECRETS.len()
    );
}

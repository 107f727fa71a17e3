//! Notifications end to end on loopback: an alert opens a payments
//! incident, the routing tree sends it to PagerDuty (Events API v2) and to
//! a signed webhook, a resolution follows; a receiver that is down keeps
//! its messages pending across an engine restart, and they arrive once it
//! is up, each once. The PagerDuty and webhook ends are local recorders
//! checking the documented request shapes (PagerDuty cannot be reached
//! from here).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aiops_server::app::run;
use aiops_server::config::Config;
use aiops_server::state::AppState;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use parking_lot::Mutex;
use serde_json::Value;

type Got = (String, HashMap<String, String>, Value, Bytes);

#[derive(Clone, Default)]
struct Recorder {
    /// (path, headers, body, the body's bytes) of every request answered 2xx.
    got: Arc<Mutex<Vec<Got>>>,
    down: Arc<AtomicBool>,
}

async fn record(path: &str, rec: &Recorder, headers: &HeaderMap, raw: &Bytes) -> StatusCode {
    if rec.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let headers = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let body: Value = serde_json::from_slice(raw).expect("a JSON body");
    rec.got
        .lock()
        .push((path.to_owned(), headers, body, raw.clone()));
    StatusCode::ACCEPTED
}

async fn start_recorder() -> (String, Recorder) {
    let rec = Recorder::default();
    let app = Router::new()
        .route(
            "/hook",
            post(
                |State(r): State<Recorder>, h: HeaderMap, b: Bytes| async move {
                    record("/hook", &r, &h, &b).await
                },
            ),
        )
        .route(
            "/v2/enqueue",
            post(
                |State(r): State<Recorder>, h: HeaderMap, b: Bytes| async move {
                    record("/v2/enqueue", &r, &h, &b).await
                },
            ),
        )
        .with_state(rec.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, rec)
}

struct Engine {
    base: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// The engine with a webhook receiver and, for payments, a PagerDuty one,
/// both at `receiver`.
async fn start_engine(dir: &std::path::Path, receiver: &str) -> Engine {
    let routing = format!(
        "route:\n  receiver: hook\n  routes:\n    - match: {{service: [payments]}}\n      receiver: pager\n      continue: true\n    - receiver: hook\n\
         receivers:\n  - name: hook\n    webhook: {{url: \"{receiver}/hook\", secret_env: HOOK_SECRET}}\n  - name: pager\n    pagerduty: {{routing_key_env: PD_KEY}}\n"
    );
    let settings = format!(
        "  pagerduty_url: \"{receiver}/v2/enqueue\"\n  console_url: \"http://console.example\"\n"
    );
    let env = HashMap::from([
        ("HOOK_SECRET".to_owned(), "hook-s3cret".to_owned()),
        (
            "PD_KEY".to_owned(),
            "R0UT1NGKEY0123456789012345678901".to_owned(),
        ),
    ]);
    serve(dir, &routing, &settings, &env).await
}

/// The engine on loopback with `routing` as its routing file, `settings`
/// more lines of its `notifications:` section, an SQLite database in
/// `dir`, and alice as a responder; ready when it returns.
async fn serve(
    dir: &std::path::Path,
    routing: &str,
    settings: &str,
    env: &HashMap<String, String>,
) -> Engine {
    let routing_file = dir.join("notify.yaml");
    std::fs::write(&routing_file, routing).expect("routing file");
    let yaml = format!(
        "auth:\n  api_tokens:\n    - {{name: alice, role: responder, token: alice-token-0123456}}\n\
         incidents:\n  database: \"sqlite:{}\"\n  evaluation_interval: 1s\n\
         notifications:\n  routing: \"{}\"\n{settings}",
        dir.join("incidents.db").display(),
        routing_file.display()
    );
    let config = Config::parse(&yaml, env).expect("config");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(run(listener, AppState::new(config), async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Engine { base, stop, task }
}

impl Engine {
    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.expect("join").expect("clean stop");
    }
}

const ALERT: &str = r#"{"version":"4","groupKey":"{}:{alertname=\"ShopServiceDown\"}","truncatedAlerts":0,"status":"firing","receiver":"aiops",
  "groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://am:9093",
  "alerts":[{"status":"firing","labels":{"alertname":"ShopServiceDown","service":"payments","severity":"critical"},"annotations":{"summary":"payments is down"},
  "startsAt":"STARTS","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom/graph","fingerprint":"0123456789abcdef"}]}"#;

/// Fires the payments alert at the engine, starting now.
async fn post_alert(client: &reqwest::Client, base: &str) {
    let starts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let response = client
        .post(format!("{base}/api/v1/alerts/alertmanager"))
        .header("content-type", "application/json")
        .body(ALERT.replace("STARTS", &starts))
        .send()
        .await
        .expect("alert");
    assert!(response.status().is_success(), "{}", response.status());
}

/// Waits until the recorder holds `n` requests (the engine sends within a
/// few seconds; the bound only stops a broken run).
async fn wait_for(rec: &Recorder, n: usize) -> Vec<Got> {
    for _ in 0..600 {
        if rec.got.lock().len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    rec.got.lock().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_page_and_post_signed_once_and_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (receiver, rec) = start_recorder().await;
    // the receivers are down at first: messages stay pending
    rec.down.store(true, Ordering::SeqCst);
    let engine = start_engine(dir.path(), &receiver).await;
    let client = reqwest::Client::new();
    post_alert(&client, &engine.base).await;
    // decided and tried: the log says what failed
    let mut incident = Value::Null;
    for _ in 0..400 {
        let list: Value = client
            .get(format!("{}/api/v1/incidents", engine.base))
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        incident = list["data"][0].clone();
        let tried = incident["notifications"]
            .as_array()
            .is_some_and(|n| n.len() == 2 && n.iter().all(|e| e["attempts"].as_u64() >= Some(1)));
        if tried {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = incident["notifications"].as_array().expect("a log");
    assert_eq!(log.len(), 2, "{incident}");
    assert!(
        log.iter()
            .all(|e| e["error"].as_str().is_some_and(|s| s.contains("503"))
                && e["delivered_at_ms"].is_null()),
        "{log:?}"
    );
    let id = incident["id"].as_str().expect("id").to_owned();
    engine.stop().await;

    // the receivers come back, and so does the engine: nothing was lost
    rec.down.store(false, Ordering::SeqCst);
    let engine = start_engine(dir.path(), &receiver).await;
    let got = wait_for(&rec, 2).await;
    assert_eq!(got.len(), 2, "{got:?}");
    let pd = got
        .iter()
        .find(|g| g.0 == "/v2/enqueue")
        .expect("a PagerDuty event");
    assert_eq!(pd.2["event_action"], "trigger");
    assert_eq!(pd.2["dedup_key"], id.as_str());
    assert_eq!(pd.2["routing_key"], "R0UT1NGKEY0123456789012345678901");
    assert_eq!(pd.2["payload"]["source"], "aiops");
    assert_eq!(pd.2["payload"]["component"], "payments");
    assert!(
        pd.2["payload"]["summary"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    assert_eq!(
        pd.2["links"][0]["href"],
        format!("http://console.example/incidents/{id}").as_str()
    );
    let hook = got.iter().find(|g| g.0 == "/hook").expect("a webhook");
    assert_eq!(hook.2["kind"], "open");
    let timestamp: i64 = hook.1["x-aiops-timestamp"].parse().expect("a timestamp");
    assert!(
        aiops_notify::message::verify(
            b"hook-s3cret",
            timestamp,
            &hook.3,
            &hook.1["x-aiops-signature"]
        ),
        "the signature verifies: {:?}",
        hook.1
    );
    assert_eq!(hook.1["x-aiops-key"], hook.2["key"].as_str().unwrap_or(""));

    // resolved by a person: a resolution to each, once
    let response = client
        .post(format!("{}/api/v1/incidents/{id}/resolve", engine.base))
        .bearer_auth("alice-token-0123456")
        .send()
        .await
        .expect("resolve");
    assert!(response.status().is_success(), "{}", response.status());
    let got = wait_for(&rec, 4).await;
    assert_eq!(got.len(), 4, "{got:?}");
    assert!(
        got.iter()
            .any(|g| g.0 == "/v2/enqueue" && g.2["event_action"] == "resolve")
    );
    assert!(
        got.iter()
            .any(|g| g.0 == "/hook" && g.2["kind"] == "resolve")
    );
    let mut keys: Vec<String> = got
        .iter()
        .filter(|g| g.0 == "/hook")
        .map(|g| g.2["key"].as_str().unwrap_or("").to_owned())
        .collect();
    keys.dedup();
    assert_eq!(keys.len(), 2, "no webhook message twice: {keys:?}");
    // another round of the timer sends nothing more
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(rec.got.lock().len(), 4);
    engine.stop().await;
}

/// A real SMTP server: Python's aiosmtpd with its Maildir handler, killed
/// when dropped.
struct MailSink {
    child: std::process::Child,
    port: u16,
    maildir: std::path::PathBuf,
}

impl Drop for MailSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_mail_sink(dir: &std::path::Path) -> MailSink {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let maildir = dir.join("maildir");
    let child = std::process::Command::new("python3")
        .args(["-m", "aiosmtpd", "-n", "-l"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg(&maildir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3 runs");
    let mut sink = MailSink {
        child,
        port,
        maildir,
    };
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return sink;
        }
        if let Ok(Some(status)) = sink.child.try_wait() {
            panic!(
                "aiosmtpd exited ({status}): install it with `pip install aiosmtpd` (.ci/run does)"
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = sink.child.kill();
    panic!("aiosmtpd did not listen on {port}");
}

/// The messages the sink holds, oldest first.
async fn mails(sink: &MailSink, n: usize) -> Vec<String> {
    let mut found = Vec::new();
    for _ in 0..600 {
        found = std::fs::read_dir(sink.maildir.join("new"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                    .collect()
            })
            .unwrap_or_default();
        if found.len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // opened before resolved: the resolution is the one replying
    found.sort_by_key(|m: &String| m.contains("In-Reply-To"));
    found
}

fn header<'a>(mail: &'a str, name: &str) -> Option<&'a str> {
    mail.lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(": ")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_are_mailed_and_the_resolution_threads_on_the_opening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = start_mail_sink(dir.path()).await;
    let engine = serve(
        dir.path(),
        "route:\n  receiver: mail\nreceivers:\n  - name: mail\n    email: {to: [oncall@shop.example]}\n",
        &format!(
            "  smtp: {{host: 127.0.0.1, port: {}, tls: none, from: aiops@shop.example}}\n",
            sink.port
        ),
        &HashMap::new(),
    )
    .await;
    let base = engine.base.clone();
    let client = reqwest::Client::new();
    post_alert(&client, &base).await;
    let opened = mails(&sink, 1).await;
    assert_eq!(opened.len(), 1, "{opened:?}");
    let first = &opened[0];
    assert!(
        header(first, "Subject").is_some_and(|s| s.contains("[critical]")),
        "{first}"
    );
    assert_eq!(header(first, "To"), Some("oncall@shop.example"));
    assert_eq!(header(first, "From"), Some("aiops@shop.example"));
    let message_id = header(first, "Message-ID")
        .expect("a message id")
        .to_owned();
    assert!(message_id.ends_with("@aiops>"), "{message_id}");
    assert!(
        first.contains("multipart/alternative") && first.contains("text/html"),
        "{first}"
    );

    let list: Value = client
        .get(format!("{base}/api/v1/incidents"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let id = list["data"][0]["id"].as_str().expect("id").to_owned();
    let response = client
        .post(format!("{base}/api/v1/incidents/{id}/resolve"))
        .bearer_auth("alice-token-0123456")
        .send()
        .await
        .expect("resolve");
    assert!(response.status().is_success());
    let both = mails(&sink, 2).await;
    assert_eq!(both.len(), 2, "{both:?}");
    let resolved = &both[1];
    assert!(
        header(resolved, "Subject").is_some_and(|s| s.starts_with("Resolved: ")),
        "{resolved}"
    );
    assert_eq!(header(resolved, "In-Reply-To"), Some(message_id.as_str()));
    assert_eq!(header(resolved, "References"), Some(message_id.as_str()));
    engine.stop().await;
}

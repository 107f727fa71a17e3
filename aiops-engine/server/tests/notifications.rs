//! Notifications end to end on loopback: an alert opens a payments
//! incident, the routing tree sends it to PagerDuty (Events API v2) and to
//! a signed webhook, a resolution follows; a receiver that is down keeps
//! its messages pending across an engine restart, and they arrive once it
//! is up, each once. The PagerDuty, webhook and Slack ends are local
//! recorders checking the documented request shapes (neither PagerDuty nor
//! Slack can be reached from here); e-mail goes to a real SMTP server.

use std::collections::{HashMap, HashSet};
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
/// `dir`, alice as a responder and vera as a viewer; ready when it returns.
async fn serve(
    dir: &std::path::Path,
    routing: &str,
    settings: &str,
    env: &HashMap<String, String>,
) -> Engine {
    let routing_file = dir.join("notify.yaml");
    std::fs::write(&routing_file, routing).expect("routing file");
    let yaml = format!(
        "auth:\n  api_tokens:\n    - {{name: alice, role: responder, token: alice-token-0123456}}\n    - {{name: vera, role: viewer, token: vera-token-01234567}}\n\
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

/// A stand-in for Slack's Web API (`chat.postMessage`, `chat.update`) and
/// its `response_url` hooks: it checks the bot token and each request
/// against the shapes Slack documents, answers as Slack does (with a 429
/// and `Retry-After: 1` when told to), and records what it got.
#[derive(Clone, Default)]
struct FakeSlack {
    /// (method, body) of every call answered ok.
    calls: Arc<Mutex<Vec<(String, Value)>>>,
    /// Bodies posted to response URLs.
    replies: Arc<Mutex<Vec<Value>>>,
    /// Requests that broke a documented rule.
    violations: Arc<Mutex<Vec<String>>>,
    /// Calls refused with 429.
    limited: Arc<Mutex<Vec<std::time::Instant>>>,
    /// Refuse the next call with a 429.
    limit_next: Arc<AtomicBool>,
    /// When each ok call arrived (unix ms), by position in `calls`.
    arrived_ms: Arc<Mutex<Vec<i64>>>,
    next_ts: Arc<std::sync::atomic::AtomicU64>,
}

const BOT_TOKEN: &str = "xoxb-0000-test-token";
const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const CHANNEL_ID: &str = "C0INCIDENTS";

/// What Slack documents about a message's blocks, checked.
fn check_blocks(body: &Value) -> Result<(), String> {
    let Some(blocks) = body.get("blocks") else {
        return Ok(());
    };
    let blocks = blocks.as_array().ok_or("blocks is not an array")?;
    if blocks.is_empty() || blocks.len() > 50 {
        return Err(format!("{} blocks (1 to 50)", blocks.len()));
    }
    let mut action_ids = HashSet::new();
    for b in blocks {
        let kind = b["type"].as_str().ok_or("a block without a type")?;
        match kind {
            "header" => {
                let t = &b["text"];
                if t["type"] != "plain_text"
                    || t["text"].as_str().is_none_or(|s| s.chars().count() > 150)
                {
                    return Err(format!("header text must be plain_text up to 150: {b}"));
                }
            }
            "section" => {
                if b.get("text").is_none() && b.get("fields").is_none() {
                    return Err(format!("a section needs text or fields: {b}"));
                }
                if b["text"]["text"]
                    .as_str()
                    .is_some_and(|s| s.chars().count() > 3000)
                {
                    return Err("section text over 3000".into());
                }
                if let Some(fields) = b["fields"].as_array()
                    && (fields.len() > 10
                        || fields
                            .iter()
                            .any(|f| f["text"].as_str().is_none_or(|s| s.chars().count() > 2000)))
                {
                    return Err("fields: at most 10, each up to 2000".into());
                }
            }
            "actions" => {
                let elements = b["elements"].as_array().ok_or("actions without elements")?;
                if elements.is_empty() || elements.len() > 25 {
                    return Err("actions hold 1 to 25 elements".into());
                }
                for e in elements {
                    if e["type"] != "button" || e["text"]["type"] != "plain_text" {
                        return Err(format!("a button needs plain_text: {e}"));
                    }
                    if let Some(id) = e["action_id"].as_str()
                        && !action_ids.insert(format!("{id}/{}", e["value"]))
                    {
                        return Err(format!("action_id {id} twice in one message"));
                    }
                    if e["value"].as_str().is_some_and(|v| v.len() > 2000) {
                        return Err("a button value over 2000".into());
                    }
                }
            }
            "context" => {
                if b["elements"]
                    .as_array()
                    .is_none_or(|e| e.is_empty() || e.len() > 10)
                {
                    return Err("context holds 1 to 10 elements".into());
                }
            }
            "divider" => {}
            other => return Err(format!("unexpected block type {other}")),
        }
    }
    Ok(())
}

async fn fake_slack_api(
    State(fake): State<FakeSlack>,
    axum::extract::Path(method): axum::extract::Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let reply = |v: Value| axum::Json(v).into_response();
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {BOT_TOKEN}"))
    {
        return reply(serde_json::json!({"ok": false, "error": "not_authed"}));
    }
    if fake.limit_next.swap(false, Ordering::SeqCst) {
        fake.limited.lock().push(std::time::Instant::now());
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1"), ("content-type", "application/json")],
            r#"{"ok":false,"error":"ratelimited"}"#,
        )
            .into_response();
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/json") {
        fake.violations
            .lock()
            .push(format!("{method}: content-type {content_type}"));
        return reply(serde_json::json!({"ok": false, "error": "invalid_form_data"}));
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        fake.violations.lock().push(format!("{method}: not JSON"));
        return reply(serde_json::json!({"ok": false, "error": "invalid_json"}));
    };
    let problem = match method.as_str() {
        "chat.postMessage" | "chat.update" => {
            let mut problem = check_blocks(&body).err();
            if body["channel"].as_str().is_none_or(str::is_empty) {
                problem = Some("no channel".into());
            }
            if body["text"]
                .as_str()
                .is_none_or(|t| t.is_empty() || t.chars().count() > 40_000)
            {
                problem = Some("text (the fallback) is required, up to 40000".into());
            }
            if method == "chat.update" && body["ts"].as_str().is_none() {
                problem = Some("chat.update needs ts".into());
            }
            if method == "chat.update" && body["channel"] != CHANNEL_ID {
                problem = Some("chat.update needs the channel id, not its name".into());
            }
            problem
        }
        other => Some(format!("unexpected method {other}")),
    };
    if let Some(p) = problem {
        fake.violations.lock().push(format!("{method}: {p}"));
        return reply(serde_json::json!({"ok": false, "error": "invalid_arguments"}));
    }
    {
        let mut calls = fake.calls.lock();
        calls.push((method.clone(), body.clone()));
        fake.arrived_ms
            .lock()
            .push(chrono::Utc::now().timestamp_millis());
    }
    let ts = match body["ts"].as_str() {
        Some(ts) if method == "chat.update" => ts.to_owned(),
        _ => format!(
            "1700000000.{:06}",
            fake.next_ts.fetch_add(1, Ordering::SeqCst) + 100
        ),
    };
    let message = serde_json::json!({
        "type": "message", "subtype": "bot_message", "text": body["text"], "ts": ts,
        "bot_id": "B0AIOPS", "user": "U0AIOPSBOT", "blocks": body.get("blocks").cloned().unwrap_or(Value::Array(vec![])),
    });
    reply(serde_json::json!({"ok": true, "channel": CHANNEL_ID, "ts": ts, "message": message}))
}

async fn start_fake_slack() -> (String, FakeSlack) {
    let fake = FakeSlack::default();
    let app = Router::new()
        .route("/api/{method}", post(fake_slack_api))
        .route(
            "/hooks/{*rest}",
            post(|State(f): State<FakeSlack>, b: Bytes| async move {
                if let Ok(v) = serde_json::from_slice::<Value>(&b) {
                    f.replies.lock().push(v);
                }
                StatusCode::OK
            }),
        )
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, fake)
}

/// A signed request to one of the bot's endpoints, as Slack sends it.
async fn to_bot(
    client: &reqwest::Client,
    url: &str,
    body: &str,
    signature: Option<String>,
) -> reqwest::Response {
    let ts = chrono::Utc::now().timestamp().to_string();
    let signature = signature.unwrap_or_else(|| {
        aiops_notify::slack::sign(SIGNING_SECRET.as_bytes(), &ts, body.as_bytes())
    });
    client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts)
        .header("x-slack-signature", signature)
        .body(body.to_owned())
        .send()
        .await
        .expect("the bot answers")
}

/// A button press as Slack posts it: form-encoded `payload`.
fn button_press(user: &str, action_id: &str, value: &str, parent_ts: &str, slack: &str) -> String {
    let payload = serde_json::json!({
        "type": "block_actions",
        "user": {"id": user, "username": user.to_lowercase(), "name": user.to_lowercase(), "team_id": "T0SHOP"},
        "api_app_id": "A0AIOPS",
        "token": "legacy-verification-token",
        "container": {"type": "message", "message_ts": parent_ts, "channel_id": CHANNEL_ID, "is_ephemeral": false},
        "trigger_id": "1700000001.1234.abcdef",
        "team": {"id": "T0SHOP", "domain": "shop"},
        "enterprise": null,
        "is_enterprise_install": false,
        "channel": {"id": CHANNEL_ID, "name": "incidents"},
        "message": {"type": "message", "subtype": "bot_message", "text": "incident", "ts": parent_ts, "bot_id": "B0AIOPS"},
        "state": {"values": {}},
        "response_url": format!("{slack}/hooks/actions/T0SHOP/1/abc"),
        "actions": [{"action_id": action_id, "block_id": "b1", "text": {"type": "plain_text", "text": "x", "emoji": true}, "value": value, "type": "button", "action_ts": "1700000001.000200"}]
    });
    form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish()
}

fn slash(user: &str, text: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("token", "legacy")
        .append_pair("team_id", "T0SHOP")
        .append_pair("team_domain", "shop")
        .append_pair("channel_id", CHANNEL_ID)
        .append_pair("channel_name", "incidents")
        .append_pair("user_id", user)
        .append_pair("user_name", &user.to_lowercase())
        .append_pair("command", "/aiops")
        .append_pair("text", text)
        .append_pair(
            "response_url",
            "https://hooks.slack.com/commands/T0SHOP/1/abc",
        )
        .append_pair("trigger_id", "1700000001.1234.abcdef")
        .finish()
}

/// `/aiops <text>` from `user`, signed; Slack shows the JSON answer.
async fn command(client: &reqwest::Client, url: &str, user: &str, text: &str) -> Value {
    to_bot(client, url, &slash(user, text), None)
        .await
        .json()
        .await
        .expect("json")
}

async fn wait_calls(fake: &FakeSlack, n: usize) -> Vec<(String, Value)> {
    for _ in 0..600 {
        if fake.calls.lock().len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    fake.calls.lock().clone()
}

fn action_ids(message: &Value) -> Vec<String> {
    message["blocks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e["action_id"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_gets_one_parent_edited_in_place_a_thread_and_buttons_that_check_who_pressed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (slack, fake) = start_fake_slack().await;
    fake.limit_next.store(true, Ordering::SeqCst);
    let env = HashMap::from([
        ("AIOPS_SLACK_BOT_TOKEN".to_owned(), BOT_TOKEN.to_owned()),
        (
            "AIOPS_SLACK_SIGNING_SECRET".to_owned(),
            SIGNING_SECRET.to_owned(),
        ),
    ]);
    let engine = serve(
        dir.path(),
        "route:\n  receiver: chat\nreceivers:\n  - name: chat\n    slack: {channel: \"#incidents\"}\n",
        &format!(
            "  console_url: \"http://console.example\"\n  slack:\n    api_url: \"{slack}/api\"\n    response_url_prefix: \"{slack}/hooks/\"\n    users: {{U0ALICE: alice, U0VERA: vera}}\n"
        ),
        &env,
    )
    .await;
    let base = engine.base.clone();
    let client = reqwest::Client::new();
    post_alert(&client, &base).await;

    // the first call was refused with 429: the parent came after the pause, once
    let calls = wait_calls(&fake, 1).await;
    assert_eq!(fake.limited.lock().len(), 1);
    let (method, parent) = calls.first().cloned().expect("a parent message");
    assert_eq!(method, "chat.postMessage");
    assert!(
        fake.limited.lock()[0].elapsed() >= Duration::from_secs(1),
        "Retry-After was obeyed"
    );
    assert_eq!(parent["channel"], "#incidents");
    assert!(parent.get("thread_ts").is_none());
    assert_eq!(parent["blocks"][0]["type"], "header");
    let ids = action_ids(&parent);
    for id in [
        "incident_acknowledge",
        "incident_resolve",
        "incident_silence_1h",
    ] {
        assert!(ids.iter().any(|x| x == id), "{id} in {ids:?}");
    }
    let text = parent.to_string();
    assert!(text.contains("http://console.example/incidents/"), "{text}");
    assert!(text.contains("payments"), "{text}");
    let list: Value = client
        .get(format!("{base}/api/v1/incidents"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let id = list["data"][0]["id"].as_str().expect("id").to_owned();
    // the thread is stored with the incident
    let log = list["data"][0]["notifications"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let parent_ts = "1700000000.000100";
    assert!(
        log.iter()
            .any(|e| e["thread"] == format!("{CHANNEL_ID}/{parent_ts}").as_str()),
        "{log:?}"
    );

    let interactions = format!("{base}/slack/interactions");
    let commands = format!("{base}/slack/commands");
    // forged, unsigned and replayed requests get 401 and do nothing
    let press = button_press("U0ALICE", "incident_acknowledge", &id, parent_ts, &slack);
    let forged = to_bot(
        &client,
        &interactions,
        &press,
        Some(format!("v0={}", "ab".repeat(32))),
    )
    .await;
    assert_eq!(forged.status(), 401);
    assert!(
        forged
            .text()
            .await
            .unwrap_or_default()
            .contains("signature")
    );
    let unsigned = client
        .post(&interactions)
        .body(press.clone())
        .send()
        .await
        .expect("answer");
    assert_eq!(unsigned.status(), 401);
    // a viewer cannot act: refused, told why, nothing changes
    let viewer = button_press("U0VERA", "incident_acknowledge", &id, parent_ts, &slack);
    assert_eq!(
        to_bot(&client, &interactions, &viewer, None).await.status(),
        200
    );
    let approve = button_press(
        "U0VERA",
        "action_approve",
        "act-0123456789abcdef",
        parent_ts,
        &slack,
    );
    assert_eq!(
        to_bot(&client, &interactions, &approve, None)
            .await
            .status(),
        200
    );
    let stranger = button_press("U0MALLORY", "incident_resolve", &id, parent_ts, &slack);
    assert_eq!(
        to_bot(&client, &interactions, &stranger, None)
            .await
            .status(),
        200
    );
    let replies: Vec<String> = fake
        .replies
        .lock()
        .iter()
        .map(|r| {
            assert_eq!(r["response_type"], "ephemeral");
            r["text"].as_str().unwrap_or("").to_owned()
        })
        .collect();
    assert_eq!(replies.len(), 3, "{replies:?}");
    assert!(replies[0].contains("vera is a viewer"), "{replies:?}");
    assert!(replies[1].contains("vera is a viewer"), "{replies:?}");
    assert!(replies[2].contains("not mapped"), "{replies:?}");
    let state = |client: reqwest::Client, base: String, id: String| async move {
        let one: Value = client
            .get(format!("{base}/api/v1/incidents/{id}"))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        one["data"]["state"].as_str().unwrap_or("").to_owned()
    };
    assert_eq!(
        state(client.clone(), base.clone(), id.clone()).await,
        "open"
    );

    // alice acknowledges: the parent is edited, the thread says so
    let ts = chrono::Utc::now().timestamp().to_string();
    let signature = aiops_notify::slack::sign(SIGNING_SECRET.as_bytes(), &ts, press.as_bytes());
    let send_signed = |ts: String, signature: String| {
        client
            .post(&interactions)
            .header("x-slack-request-timestamp", ts)
            .header("x-slack-signature", signature)
            .body(press.clone())
            .send()
    };
    let first = send_signed(ts.clone(), signature.clone())
        .await
        .expect("answer");
    assert_eq!(first.status(), 200);
    assert_eq!(
        state(client.clone(), base.clone(), id.clone()).await,
        "acknowledged"
    );
    let replayed = send_signed(ts, signature).await.expect("answer");
    assert_eq!(replayed.status(), 401);
    assert!(
        replayed
            .text()
            .await
            .unwrap_or_default()
            .contains("already received")
    );
    let calls = wait_calls(&fake, 3).await;
    let update = calls
        .iter()
        .find(|(m, _)| m == "chat.update")
        .map(|(_, b)| b.clone())
        .expect("the parent edited");
    assert_eq!(update["ts"], parent_ts);
    assert!(update.to_string().contains("acknowledged"));
    assert!(
        !action_ids(&update)
            .iter()
            .any(|x| x == "incident_acknowledge")
    );
    let reply = calls
        .iter()
        .find(|(m, b)| m == "chat.postMessage" && b["thread_ts"] == parent_ts)
        .map(|(_, b)| b.clone())
        .expect("a thread reply");
    assert_eq!(reply["channel"], CHANNEL_ID);
    assert!(
        reply["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("*Acknowledged*")),
        "{reply}"
    );

    // the slash command: list, status, ack, and what is wrong with a bad one
    let listed = command(&client, &commands, "U0VERA", "incidents").await;
    assert_eq!(listed["response_type"], "ephemeral");
    assert!(
        listed["text"].as_str().is_some_and(|t| t.contains(&id)),
        "{listed}"
    );
    let status = command(&client, &commands, "U0VERA", "status payments").await;
    assert!(
        status["text"].as_str().is_some_and(|t| t.contains(&id)),
        "{status}"
    );
    let refused = command(&client, &commands, "U0VERA", &format!("ack {id}")).await;
    assert!(
        refused["text"]
            .as_str()
            .is_some_and(|t| t.contains("viewer")),
        "{refused}"
    );
    let bad = command(&client, &commands, "U0ALICE", "reboot everything").await;
    assert!(
        bad["text"]
            .as_str()
            .is_some_and(|t| t.contains("usage: /aiops")),
        "{bad}"
    );
    let garbage = to_bot(&client, &interactions, "payload=%7Bnot-json", None).await;
    assert_eq!(garbage.status(), 400);
    assert!(
        garbage
            .text()
            .await
            .unwrap_or_default()
            .contains("not a slack interaction")
    );

    // silenced for an hour from Slack: the silence is listed with who and why
    let silence = button_press("U0ALICE", "incident_silence_1h", &id, parent_ts, &slack);
    assert_eq!(
        to_bot(&client, &interactions, &silence, None)
            .await
            .status(),
        200
    );
    let silences: Value = client
        .get(format!("{base}/api/v1/silences"))
        .send()
        .await
        .expect("silences")
        .json()
        .await
        .expect("json");
    assert_eq!(
        silences["data"][0]["incident_id"],
        id.as_str(),
        "{silences}"
    );
    assert_eq!(silences["data"][0]["by"], "alice (slack)");

    // resolved from Slack: the resolution still goes out under the silence
    let before = fake.calls.lock().len();
    let resolve = button_press("U0ALICE", "incident_resolve", &id, parent_ts, &slack);
    assert_eq!(
        to_bot(&client, &interactions, &resolve, None)
            .await
            .status(),
        200
    );
    let calls = wait_calls(&fake, before + 2).await;
    let last_update = calls
        .iter()
        .rev()
        .find(|(m, _)| m == "chat.update")
        .map(|(_, b)| b.clone())
        .expect("edited again");
    assert!(
        last_update.to_string().contains("resolved"),
        "{last_update}"
    );
    let left = action_ids(&last_update);
    assert_eq!(
        left,
        vec!["open_console".to_owned()],
        "only the link is left"
    );
    assert!(calls.iter().any(|(m, b)| {
        m == "chat.postMessage"
            && b["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("*Resolved*"))
    }));
    // one parent, no message twice, every request as documented
    let parents = calls
        .iter()
        .filter(|(m, b)| m == "chat.postMessage" && b.get("thread_ts").is_none())
        .count();
    assert_eq!(parents, 1, "{calls:?}");
    assert!(
        fake.violations.lock().is_empty(),
        "{:?}",
        fake.violations.lock()
    );
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        fake.calls.lock().len(),
        calls.len(),
        "nothing more after the resolution"
    );
    engine.stop().await;
}

const STORM_SERVICES: [&str; 4] = ["payments", "checkout", "cart", "catalog"];
const STORM_ALERTS: [&str; 3] = ["HighErrorRate", "HighLatency", "PodRestarting"];

/// One Alertmanager webhook of the storm: ten distinct alerts, and the
/// flapping one (recommendation down, firing and resolved by turns).
fn storm_batch(batch: usize, flap_firing: bool) -> String {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut alerts: Vec<Value> = (0..10)
        .map(|j| {
            let n = batch * 10 + j;
            let service = STORM_SERVICES[n % STORM_SERVICES.len()];
            serde_json::json!({
                "status": "firing",
                "labels": {"alertname": STORM_ALERTS[(n / 4) % 3], "service": service, "instance": format!("{service}-{n}"), "severity": "warning"},
                "annotations": {"summary": format!("{service} storm alert {n}")},
                "startsAt": now, "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prom/graph", "fingerprint": format!("{n:016x}"),
            })
        })
        .collect();
    alerts.push(serde_json::json!({
        "status": if flap_firing { "firing" } else { "resolved" },
        "labels": {"alertname": "ShopServiceDown", "service": "recommendation", "severity": "critical"},
        "annotations": {"summary": "recommendation is down"},
        "startsAt": now,
        "endsAt": if flap_firing { "0001-01-01T00:00:00Z".to_owned() } else { now.clone() },
        "generatorURL": "http://prom/graph", "fingerprint": "f1a9f1a9f1a9f1a9",
    }));
    serde_json::json!({
        "version": "4", "groupKey": format!("storm-{batch}"), "truncatedAlerts": 0,
        "status": "firing", "receiver": "aiops", "groupLabels": {}, "commonLabels": {},
        "commonAnnotations": {}, "externalURL": "http://am:9093", "alerts": alerts,
    })
    .to_string()
}

/// The incident a Slack parent message is about (its context block).
fn incident_of(message: &Value) -> Option<String> {
    message["blocks"]
        .as_array()?
        .iter()
        .filter(|b| b["type"] == "context")
        .find_map(|b| b["elements"][0]["text"].as_str())
        .and_then(|t| t.split('`').nth(1))
        .map(str::to_owned)
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The issue's storm: 1,000 distinct alerts in a minute and a flapping
/// one, the engine restarted (gracefully, as a deploy does) halfway. Each
/// incident gets one Slack parent and a bounded thread, no webhook message
/// twice, and nothing is lost across the restart. The figures (messages
/// per incident, latency from the incident's opening to its parent
/// message) are printed: `cargo nextest run -p aiops-server --test
/// notifications storm --no-capture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_a_thousand_alerts_sends_one_parent_per_incident_and_loses_nothing_across_a_restart()
 {
    let dir = tempfile::tempdir().expect("tempdir");
    let (slack, fake) = start_fake_slack().await;
    let (receiver, rec) = start_recorder().await;
    let env = HashMap::from([
        ("AIOPS_SLACK_BOT_TOKEN".to_owned(), BOT_TOKEN.to_owned()),
        (
            "AIOPS_SLACK_SIGNING_SECRET".to_owned(),
            SIGNING_SECRET.to_owned(),
        ),
    ]);
    let routing = format!(
        "route:\n  receiver: chat\n  routes:\n    - receiver: audit\n      continue: true\n    - receiver: chat\n\
         receivers:\n  - name: chat\n    slack: {{channel: \"#incidents\"}}\n  - name: audit\n    webhook: {{url: \"{receiver}/hook\"}}\n"
    );
    let settings = format!(
        "  slack:\n    api_url: \"{slack}/api\"\n    response_url_prefix: \"{slack}/hooks/\"\n"
    );
    let mut engine = serve(dir.path(), &routing, &settings, &env).await;
    let client = reqwest::Client::new();
    let started = std::time::Instant::now();
    let batches = 100;
    let mut alerts_sent = 0;
    for batch in 0..batches {
        if batch == batches / 2 {
            engine.stop().await;
            engine = serve(dir.path(), &routing, &settings, &env).await;
        }
        // about 600 ms apart: 1,000 alerts in a minute
        let due = started + Duration::from_millis(600 * batch as u64);
        tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
        let body = storm_batch(batch, (batch / 8) % 2 == 0);
        let response = client
            .post(format!("{}/api/v1/alerts/alertmanager", engine.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("the engine takes alerts");
        assert!(response.status().is_success(), "{}", response.status());
        alerts_sent += 10;
    }
    let storm_s = started.elapsed().as_secs_f64();
    // quiet: nothing new for 8 s (each incident's updates are 30 s apart)
    let mut seen = (0, 0);
    let mut still_since = std::time::Instant::now();
    while still_since.elapsed() < Duration::from_secs(8)
        && started.elapsed() < Duration::from_secs(150)
    {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = (fake.calls.lock().len(), rec.got.lock().len());
        if now != seen {
            seen = now;
            still_since = std::time::Instant::now();
        }
    }
    let list: Value = client
        .get(format!("{}/api/v1/incidents?limit=500", engine.base))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let incidents = list["data"].as_array().cloned().unwrap_or_default();
    let calls = fake.calls.lock().clone();
    let arrived = fake.arrived_ms.lock().clone();
    let hooks = rec.got.lock().clone();
    let mut latencies = Vec::new();
    // every message: decided to delivered (a restart's wait included)
    let mut message_latencies = Vec::new();
    let mut per_incident = Vec::new();
    let mut notified = 0;
    for incident in &incidents {
        let id = incident["id"].as_str().unwrap_or("");
        let log = incident["notifications"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if log.is_empty() {
            continue;
        }
        notified += 1;
        // nothing left undelivered or given up
        for e in log.iter().filter(|e| e["send"] == true) {
            let delivered = e["delivered_at_ms"].as_i64();
            assert!(
                delivered.is_some(),
                "{id}: undelivered after the storm: {e}"
            );
            let decided = e["at_ms"].as_i64().unwrap_or(0);
            message_latencies.push(delivered.unwrap_or(decided) - decided);
        }
        let parents: Vec<usize> = calls
            .iter()
            .enumerate()
            .filter(|(_, (m, b))| {
                m == "chat.postMessage"
                    && b.get("thread_ts").is_none()
                    && incident_of(b).as_deref() == Some(id)
            })
            .map(|(i, _)| i)
            .collect();
        assert_eq!(
            parents.len(),
            1,
            "{id}: one Slack parent, got {}",
            parents.len()
        );
        let opened_ms = incident["opened_at_ms"].as_i64().expect("opened_at_ms");
        latencies.push(arrived[parents[0]] - opened_ms);
        let thread: usize = log
            .iter()
            .filter(|e| e["receiver"] == "chat" && e["send"] == true)
            .count();
        assert!(thread <= 2 + 50, "{id}: a bounded thread, got {thread}");
        let keys: Vec<&str> = hooks
            .iter()
            .filter(|g| g.2["incident"]["id"] == id)
            .map(|g| g.2["key"].as_str().unwrap_or(""))
            .collect();
        let unique: HashSet<&str> = keys.iter().copied().collect();
        assert_eq!(
            keys.len(),
            unique.len(),
            "{id}: a webhook message twice: {keys:?}"
        );
        per_incident.push(thread);
    }
    assert!(notified >= 1, "the storm opened incidents: {incidents:?}");
    let slack_messages = calls
        .iter()
        .filter(|(m, _)| m == "chat.postMessage")
        .count();
    let parents_total = calls
        .iter()
        .filter(|(m, b)| m == "chat.postMessage" && b.get("thread_ts").is_none())
        .count();
    assert_eq!(
        parents_total, notified,
        "no parent for an incident the engine does not know"
    );
    assert!(
        fake.violations.lock().is_empty(),
        "{:?}",
        fake.violations.lock()
    );
    latencies.sort_unstable();
    message_latencies.sort_unstable();
    per_incident.sort_unstable();
    println!(
        "storm: {alerts_sent} alerts + a flapping one in {storm_s:.0} s, engine restarted halfway; \
         {} incidents, {notified} notified; Slack: {parents_total} parents, {slack_messages} posts, {} edits; \
         webhook: {} messages; messages per incident to Slack (parent + thread): median {}, max {}; \
         latency open → Slack parent: p50 {} ms, p95 {} ms, max {} ms; \
         every message, decided → delivered: {} messages, p50 {} ms, p95 {} ms, max {} ms",
        incidents.len(),
        calls.iter().filter(|(m, _)| m == "chat.update").count(),
        hooks.len(),
        per_incident
            .get(per_incident.len() / 2)
            .copied()
            .unwrap_or(0),
        per_incident.last().copied().unwrap_or(0),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.95),
        latencies.last().copied().unwrap_or(0),
        message_latencies.len(),
        percentile(&message_latencies, 0.5),
        percentile(&message_latencies, 0.95),
        message_latencies.last().copied().unwrap_or(0),
    );
    engine.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silences_are_checked_listed_ended_and_kept_across_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (receiver, _rec) = start_recorder().await;
    let engine = start_engine(dir.path(), &receiver).await;
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/silences", engine.base);
    let post = |token: &'static str, body: String| {
        client
            .post(&url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    // what is wrong is said, and nothing is kept
    for (body, says) in [
        ("{not json".to_owned(), "not a silence"),
        (r#"{"duration": "1h"}"#.to_owned(), "missing field `reason`"),
        (
            r#"{"duration": "10s", "reason": "x"}"#.to_owned(),
            "between 1m and 7d",
        ),
        (
            r#"{"duration": "30d", "reason": "x"}"#.to_owned(),
            "between 1m and 7d",
        ),
        (
            r#"{"duration": "soon", "reason": "x"}"#.to_owned(),
            "duration",
        ),
        (r#"{"duration": "1h", "reason": ""}"#.to_owned(), "reason"),
        (
            format!(r#"{{"duration": "1h", "reason": "{}"}}"#, "x".repeat(501)),
            "reason",
        ),
        (
            r#"{"duration": "1h", "reason": "x", "services": ["<script>"]}"#.to_owned(),
            "services",
        ),
        (
            r#"{"duration": "1h", "reason": "x", "incident_id": "../etc"}"#.to_owned(),
            "incident_id",
        ),
        (
            r#"{"duration": "1h", "reason": "x", "until": "forever"}"#.to_owned(),
            "unknown field",
        ),
    ] {
        let response = post("alice-token-0123456", body.clone())
            .await
            .expect("answer");
        assert_eq!(response.status(), 400, "{body}");
        let text = response.text().await.unwrap_or_default();
        assert!(text.contains(says), "{body}: {text}");
    }
    // a viewer may look but not silence
    let refused = post(
        "vera-token-01234567",
        r#"{"duration": "1h", "reason": "deploy"}"#.into(),
    )
    .await
    .expect("answer");
    assert_eq!(refused.status(), 403);
    let made: Value = post(
        "alice-token-0123456",
        r#"{"duration": "2h", "reason": "payments deploy", "services": ["payments"]}"#.into(),
    )
    .await
    .expect("answer")
    .json()
    .await
    .expect("json");
    let id = made["data"]["id"].as_str().expect("an id").to_owned();
    assert_eq!(made["data"]["by"], "alice");
    assert_eq!(made["data"]["active"], true);
    engine.stop().await;

    // kept across a restart, then ended
    let engine = start_engine(dir.path(), &receiver).await;
    let url = format!("{}/api/v1/silences", engine.base);
    let listed: Value = client
        .get(&url)
        .bearer_auth("vera-token-01234567")
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(listed["data"][0]["id"], id.as_str(), "{listed}");
    assert_eq!(listed["data"][0]["services"][0], "payments");
    let ended = client
        .delete(format!("{url}/{id}"))
        .bearer_auth("alice-token-0123456")
        .send()
        .await
        .expect("end");
    assert_eq!(ended.status(), 200);
    let again = client
        .delete(format!("{url}/{id}"))
        .bearer_auth("alice-token-0123456")
        .send()
        .await
        .expect("end");
    assert_eq!(again.status(), 404);
    let listed: Value = client
        .get(&url)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(0), "{listed}");
    engine.stop().await;
}

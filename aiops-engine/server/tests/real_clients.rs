//! The engine as a real process, fed by real clients: Debian's Prometheus
//! remote-writing what it scrapes (the engine must hold the same series and
//! values Prometheus' own API returns), and Debian's Alertmanager firing and
//! resolving an alert through the webhook. In CI these fail when the
//! programs are missing; elsewhere they skip, loudly.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn find_program(names: &[&str], what: &str) -> Option<String> {
    for name in names {
        if Command::new("which")
            .arg(name)
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            return Some(name.to_string());
        }
    }
    if std::env::var_os("CI").is_some() {
        panic!("{what} is not installed: CI must install it");
    }
    eprintln!("SKIPPED: {what} is not installed");
    None
}

fn temp_dir(prefix: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("{prefix}-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

async fn wait_http(url: &str, within: Duration) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if reqwest::get(url)
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{url} did not answer within {within:?}");
}

fn start_engine(dir: &std::path::Path) -> (Process, String) {
    let port = free_port();
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../../aiops.example.yaml");
    let log = std::fs::File::create(dir.join("engine.log")).expect("log");
    let child = Command::new(env!("CARGO_BIN_EXE_aiops"))
        .args(["serve", "--config", config])
        .env("AIOPS_LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "AIOPS_DATABASE",
            format!("sqlite:{}", dir.join("incidents.db").display()),
        )
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("start aiops");
    (Process(child), format!("http://127.0.0.1:{port}"))
}

async fn get_json(url: &str, query: &[(&str, String)]) -> serde_json::Value {
    reqwest::Client::new()
        .get(url)
        .query(query)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn prometheus_remote_write_lands_as_the_same_series_and_values() {
    let Some(prometheus) = find_program(&["prometheus"], "prometheus (Debian package prometheus)")
    else {
        return;
    };
    let dir = temp_dir("aiops-prom");
    let (_engine, engine) = start_engine(&dir);
    wait_http(&format!("{engine}/healthz"), Duration::from_secs(30)).await;
    let prom_port = free_port();
    let prom = format!("http://127.0.0.1:{prom_port}");
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global: {{scrape_interval: 1s}}\nscrape_configs: [{{job_name: prom, static_configs: [{{targets: ['127.0.0.1:{prom_port}']}}]}}]\nremote_write: [{{url: '{engine}/api/v1/write', queue_config: {{batch_send_deadline: 500ms}}}}]\n"
        ),
    )
    .expect("config");
    let log = std::fs::File::create(dir.join("prometheus.log")).expect("log");
    let _prometheus = Process(
        Command::new(prometheus)
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start prometheus"),
    );
    wait_http(&format!("{prom}/-/ready"), Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(12)).await;

    let matcher = vec![("match[]", "{job=\"prom\"}".to_string())];
    let theirs = get_json(&format!("{prom}/api/v1/series"), &matcher).await;
    let ours = get_json(&format!("{engine}/api/v1/series"), &matcher).await;
    let set = |v: &serde_json::Value| -> std::collections::BTreeSet<String> {
        v["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    let (theirs, ours) = (set(&theirs), set(&ours));
    assert!(
        theirs.len() > 100,
        "prometheus holds {} series",
        theirs.len()
    );
    let missing: Vec<&String> = theirs.difference(&ours).collect();
    // Series born in the last second may not have been sent yet.
    assert!(
        missing.len() * 50 <= theirs.len(),
        "{} of {} series missing, e.g. {:?}",
        missing.len(),
        theirs.len(),
        missing.first()
    );

    // The same raw samples evaluate to the same values at the same steps.
    let end = chrono::Utc::now().timestamp() - 4;
    for query in [
        "prometheus_tsdb_head_samples_appended_total{job=\"prom\"}",
        "up{job=\"prom\"}",
        "prometheus_http_requests_total{job=\"prom\",handler=\"/-/ready\"}",
    ] {
        let params = vec![
            ("query", query.to_string()),
            ("start", (end - 6).to_string()),
            ("end", end.to_string()),
            ("step", "1".to_string()),
        ];
        let theirs = get_json(&format!("{prom}/api/v1/query_range"), &params).await;
        let ours = get_json(&format!("{engine}/api/v1/query_range"), &params).await;
        let points = |v: &serde_json::Value| -> Vec<(f64, String)> {
            v["data"]["result"][0]["values"]
                .as_array()
                .map(|vals| {
                    vals.iter()
                        .map(|p| {
                            (
                                p[0].as_f64().unwrap_or_default(),
                                p[1].as_str().unwrap_or_default().to_string(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let (theirs, ours) = (points(&theirs), points(&ours));
        assert!(!theirs.is_empty(), "{query}: prometheus has no points");
        assert_eq!(ours, theirs, "{query}");
    }
}

#[tokio::test]
async fn alertmanager_fires_and_resolves_through_the_webhook() {
    let Some(alertmanager) = find_program(
        &["prometheus-alertmanager", "alertmanager"],
        "alertmanager (Debian package prometheus-alertmanager)",
    ) else {
        return;
    };
    let dir = temp_dir("aiops-am");
    let (_engine, engine) = start_engine(&dir);
    wait_http(&format!("{engine}/healthz"), Duration::from_secs(30)).await;
    let am_port = free_port();
    let am = format!("http://127.0.0.1:{am_port}");
    std::fs::write(
        dir.join("alertmanager.yml"),
        format!(
            "route: {{receiver: aiops, group_by: [alertname], group_wait: 1s, group_interval: 1s, repeat_interval: 1h}}\nreceivers: [{{name: aiops, webhook_configs: [{{url: '{engine}/api/v1/alerts/alertmanager', send_resolved: true}}]}}]\n"
        ),
    )
    .expect("config");
    let log = std::fs::File::create(dir.join("alertmanager.log")).expect("log");
    let _am = Process(
        Command::new(alertmanager)
            .arg(format!(
                "--config.file={}",
                dir.join("alertmanager.yml").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg("--cluster.listen-address=")
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start alertmanager"),
    );
    wait_http(&format!("{am}/-/ready"), Duration::from_secs(30)).await;
    let starts = chrono::Utc::now();
    let alert = |ends: chrono::DateTime<chrono::Utc>| {
        serde_json::json!([{
            "labels": {"alertname": "PaymentsErrors", "service": "payments", "severity": "page"},
            "annotations": {"summary": "payments error ratio above SLO"},
            "startsAt": starts.to_rfc3339(),
            "endsAt": ends.to_rfc3339(),
        }])
    };
    let client = reqwest::Client::new();
    let posted = client
        .post(format!("{am}/api/v2/alerts"))
        .json(&alert(starts + chrono::Duration::hours(1)))
        .send()
        .await
        .expect("post");
    assert!(posted.status().is_success());
    let counter = |text: &str, kind: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(&format!("aiops_ingest_alerts_total{{kind=\"{kind}\"}}")))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    let wait_new = |n: f64| {
        let client = client.clone();
        let engine = engine.clone();
        async move {
            for _ in 0..100 {
                let text = client
                    .get(format!("{engine}/metrics"))
                    .send()
                    .await
                    .expect("metrics")
                    .text()
                    .await
                    .expect("text");
                if counter(&text, "new") >= n {
                    return text;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            panic!("the engine did not receive {n} alert episode events");
        }
    };
    wait_new(1.0).await;
    let resolved = client
        .post(format!("{am}/api/v2/alerts"))
        .json(&alert(chrono::Utc::now()))
        .send()
        .await
        .expect("post");
    assert!(resolved.status().is_success());
    let text = wait_new(2.0).await;
    assert_eq!(
        counter(&text, "new"),
        2.0,
        "one firing and one resolved event:\n{text}"
    );
}

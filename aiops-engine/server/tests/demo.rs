//! `aiops demo` end to end with the real binaries: the engine comes up, the
//! seven shop services answer, the engine scrapes all seven and receives
//! their logs, and SIGINT stops everything with exit 0, leaving no shop
//! process behind.
//!
//! The shop's ports are fixed (8080-8086), so this test takes a machine-wide
//! file lock, and skips loudly (fails in CI) when those ports are taken.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

mod common;
use common::demo::{Demo, alive, descendants, start_demo};
use common::{SERVICES, busy_shop_port, ensure_shop_binary, exclusive, free_port, in_ci};

/// Fails in CI, where everything the test needs must be there; skips on a laptop.
fn cannot_run(reason: &str) {
    assert!(!in_ci(), "the demo test cannot run: {reason}");
    eprintln!("SKIPPED demo test: {reason}");
}

async fn get(client: &reqwest::Client, url: &str) -> Option<(u16, String)> {
    let response = client.get(url).send().await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.text().await.ok()?))
}

/// Polls until `check` holds or `within` passes; panics with the demo's output.
async fn eventually<F, Fut>(demo: &Demo, what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let deadline = Instant::now() + within;
    loop {
        let last = match check().await {
            Ok(()) => return,
            Err(e) => e,
        };
        if Instant::now() > deadline {
            panic!(
                "{what} not within {}s: {last}\n--- demo output (tail) ---\n{}",
                within.as_secs(),
                demo.tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The last value of `up` per job over the last minute.
async fn up_by_job(
    client: &reqwest::Client,
    engine: &str,
) -> Result<HashMap<String, String>, String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let url = format!(
        "{engine}/api/v1/query_range?query=up&start={}&end={}&step=1",
        now - 60,
        now + 1
    );
    let (status, body) = get(client, &url).await.ok_or("no answer")?;
    if status != 200 {
        return Err(format!("query_range answered {status}: {body}"));
    }
    let json: serde_json::Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
    let mut last = HashMap::new();
    for series in json["data"]["result"].as_array().ok_or("no result")? {
        let job = series["metric"]["job"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if let Some(value) = series["values"]
            .as_array()
            .and_then(|v| v.last())
            .and_then(|pair| pair[1].as_str())
        {
            last.insert(job, value.to_string());
        }
    }
    Ok(last)
}

fn log_lines_ingested(metrics: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("aiops_ingest_log_lines_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_wires_the_shop_to_the_engine_and_stops_it_all() {
    let _lock = exclusive();
    if let Some(port) = busy_shop_port() {
        cannot_run(&format!("port {port} is taken; the shop's ports are fixed"));
        return;
    }
    if let Err(e) = ensure_shop_binary() {
        cannot_run(&e);
        return;
    }
    let data_dir = std::env::temp_dir().join(format!("aiops-demo-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    let listen = format!("127.0.0.1:{}", free_port());
    let engine = format!("http://{listen}");
    let mut demo = start_demo(
        &[
            "--listen",
            &listen,
            "--data-dir",
            &data_dir.display().to_string(),
        ],
        &[],
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .expect("client");

    eventually(&demo, "engine /readyz", Duration::from_secs(30), || async {
        match get(&client, &format!("{engine}/readyz")).await {
            Some((200, _)) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    eventually(
        &demo,
        "all seven /healthz",
        Duration::from_secs(60),
        || async {
            let mut down = Vec::new();
            for service in SERVICES {
                let url = format!("http://127.0.0.1:{}/healthz", service.port);
                if !matches!(get(&client, &url).await, Some((200, _))) {
                    down.push(service.name);
                }
            }
            if down.is_empty() {
                Ok(())
            } else {
                Err(format!("down: {down:?}"))
            }
        },
    )
    .await;
    let wanted: BTreeSet<String> = SERVICES.iter().map(|s| s.name.to_string()).collect();
    eventually(
        &demo,
        "up series for the seven jobs",
        Duration::from_secs(30),
        || async {
            let url = format!("{engine}/api/v1/series?match[]=up");
            let (status, body) = get(&client, &url).await.ok_or("no answer")?;
            let json: serde_json::Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
            let jobs: BTreeSet<String> = json["data"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s["job"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            if status == 200 && jobs == wanted {
                Ok(())
            } else {
                Err(format!("{status}: jobs {jobs:?}"))
            }
        },
    )
    .await;
    eventually(
        &demo,
        "up == 1 for the seven jobs",
        Duration::from_secs(30),
        || async {
            let last = up_by_job(&client, &engine).await?;
            let healthy: BTreeSet<String> = last
                .iter()
                .filter(|(_, v)| v.as_str() == "1")
                .map(|(job, _)| job.clone())
                .collect();
            if healthy == wanted {
                Ok(())
            } else {
                Err(format!("last up values: {last:?}"))
            }
        },
    )
    .await;
    eventually(
        &demo,
        "log lines pushed to the engine",
        Duration::from_secs(30),
        || async {
            let (_, body) = get(&client, &format!("{engine}/metrics"))
                .await
                .ok_or("no answer")?;
            let lines = log_lines_ingested(&body);
            if lines > 0.0 {
                Ok(())
            } else {
                Err(format!("aiops_ingest_log_lines_total = {lines}"))
            }
        },
    )
    .await;
    let output = demo.output();
    for expected in [
        "/api/v1/incidents",
        "/api/v1/services",
        "/api/v1/signals",
        "/metrics",
        "http://127.0.0.1:8080/",
        "chaos api token: demo-",
        "/admin/chaos",
    ] {
        assert!(
            output.contains(expected),
            "the banner lacks {expected}:\n{output}"
        );
    }
    assert!(
        data_dir.join("aiops-demo.yaml").is_file(),
        "the config is kept"
    );

    // The shop and its seven services, at least.
    let below = descendants(demo.pid());
    assert!(
        below.len() >= 8,
        "expected the shop and seven services below the demo, found {below:?}"
    );
    kill(Pid::from_raw(demo.pid()), Signal::SIGINT).expect("SIGINT");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = demo.child.try_wait().expect("try_wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the demo did not stop within 20s after SIGINT\n{}",
            demo.tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(status.success(), "exit status {status}\n{}", demo.tail());
    let lingering: Vec<i32> = below.iter().copied().filter(|p| alive(*p)).collect();
    assert!(
        lingering.is_empty(),
        "processes outlived the demo: {lingering:?}\n{}",
        demo.tail()
    );
    assert_eq!(busy_shop_port(), None, "a shop port is still bound");
    let _ = std::fs::remove_dir_all(&data_dir);
}

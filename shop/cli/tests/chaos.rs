//! Every fault kind, injected through the chaos API into a real service
//! process, shows its symptom in the service's own telemetry, and nothing
//! in that telemetry names the fault.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use support::{ADMIN_TOKEN, ServiceProcess, TempDir, free_port, metric, spawn, wait_ready};

async fn start(name: &str, env: &[(&str, &str)], dir: &TempDir) -> ServiceProcess {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut p = spawn(name, free_port(), &env, dir.path());
    wait_ready(&reqwest::Client::new(), &mut p, Duration::from_secs(30)).await;
    p
}

async fn inject(client: &reqwest::Client, p: &ServiceProcess, fault: &str) -> reqwest::StatusCode {
    client
        .post(format!("{}/admin/chaos", p.url()))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body(fault.to_string())
        .send()
        .await
        .expect("chaos api reachable")
        .status()
}

async fn metrics(client: &reqwest::Client, p: &ServiceProcess) -> String {
    client
        .get(format!("{}/metrics", p.url()))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

fn assert_no_fault_named(text: &str) {
    let lower = text.to_lowercase();
    for word in ["chaos", "fault", "inject"] {
        assert!(
            !lower.contains(word),
            "telemetry mentions {word:?}:\n{text}"
        );
    }
}

#[tokio::test]
async fn latency_shows_in_the_histogram() {
    let dir = TempDir::new("chaos-latency");
    let client = reqwest::Client::new();
    let p = start("catalog", &[], &dir).await;
    assert_eq!(
        inject(
            &client,
            &p,
            r#"{"kind":"latency","ms":300,"jitter_ms":50,"rate":1.0}"#
        )
        .await,
        201
    );
    for _ in 0..3 {
        assert!(
            client
                .get(format!("{}/products", p.url()))
                .send()
                .await
                .expect("get")
                .status()
                .is_success()
        );
    }
    let text = metrics(&client, &p).await;
    let labels = [
        ("http_route", "/products"),
        ("http_response_status_code", "200"),
    ];
    let fast = metric(
        &text,
        "http_server_request_duration_seconds_bucket",
        &[labels[0], labels[1], ("le", "0.25")],
    );
    let all = metric(&text, "http_server_request_duration_seconds_count", &labels);
    assert_eq!(
        fast,
        Some(0.0),
        "no request may finish under 250 ms:\n{text}"
    );
    assert_eq!(all, Some(3.0));
    assert_no_fault_named(&text);
    assert_no_fault_named(&p.output());
}

#[tokio::test]
async fn errors_show_in_the_status_counts_and_logs() {
    let dir = TempDir::new("chaos-errors");
    let client = reqwest::Client::new();
    let p = start("catalog", &[], &dir).await;
    assert_eq!(
        inject(&client, &p, r#"{"kind":"errors","status":500,"rate":0.5}"#).await,
        201
    );
    let mut failed = 0;
    for _ in 0..40 {
        let status = client
            .get(format!("{}/products", p.url()))
            .send()
            .await
            .expect("get")
            .status();
        failed += u32::from(status == 500);
    }
    assert!(
        (5..=35).contains(&failed),
        "about half should fail, {failed}/40 did"
    );
    let text = metrics(&client, &p).await;
    let count = metric(
        &text,
        "http_server_request_duration_seconds_count",
        &[
            ("http_route", "/products"),
            ("http_response_status_code", "500"),
        ],
    );
    assert_eq!(count, Some(f64::from(failed)));
    assert_no_fault_named(&text);
    let logs = p.output();
    assert!(
        logs.contains("\"request failed\""),
        "5xx replies are logged:\n{logs}"
    );
    assert_no_fault_named(&logs);
}

#[tokio::test]
async fn crash_now_and_after_n_requests_exit_the_process() {
    let dir = TempDir::new("chaos-crash");
    let client = reqwest::Client::new();
    let mut p = start("payments", &[], &dir).await;
    assert_eq!(inject(&client, &p, r#"{"kind":"crash"}"#).await, 201);
    let status = p
        .wait_exit(Duration::from_secs(10))
        .expect("the process crashed");
    assert!(!status.success(), "a crash is not a clean exit: {status}");

    let mut p = start("payments", &[], &dir).await;
    assert_eq!(
        inject(&client, &p, r#"{"kind":"crash","after_requests":3}"#).await,
        201
    );
    for _ in 0..2 {
        client
            .get(format!("{}/charges/test-cards", p.url()))
            .send()
            .await
            .expect("alive");
    }
    assert!(
        p.wait_exit(Duration::from_millis(300)).is_none(),
        "crashed too early"
    );
    let _ = client
        .get(format!("{}/charges/test-cards", p.url()))
        .send()
        .await;
    assert!(
        p.wait_exit(Duration::from_secs(10))
            .is_some_and(|s| !s.success())
    );
}

#[tokio::test]
async fn leak_grows_resident_memory() {
    let dir = TempDir::new("chaos-leak");
    let client = reqwest::Client::new();
    let p = start("recommendation", &[], &dir).await;
    let before = metric(
        &metrics(&client, &p).await,
        "process_resident_memory_bytes",
        &[],
    )
    .expect("rss");
    assert_eq!(
        inject(&client, &p, r#"{"kind":"leak","mb_per_min":1000}"#).await,
        201
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    let text = metrics(&client, &p).await;
    let after = metric(&text, "process_resident_memory_bytes", &[]).expect("rss");
    assert!(
        after - before > 30.0 * 1048576.0,
        "rss grew only {} MiB",
        (after - before) / 1048576.0
    );
    assert_no_fault_named(&text);
}

#[tokio::test]
async fn cpu_burn_shows_in_cpu_seconds() {
    let dir = TempDir::new("chaos-cpu");
    let client = reqwest::Client::new();
    let p = start("orders", &[], &dir).await;
    let before = metric(
        &metrics(&client, &p).await,
        "process_cpu_seconds_total",
        &[],
    )
    .expect("cpu");
    assert_eq!(
        inject(&client, &p, r#"{"kind":"cpu","percent":100}"#).await,
        201
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = metric(
        &metrics(&client, &p).await,
        "process_cpu_seconds_total",
        &[],
    )
    .expect("cpu");
    // One busy thread for 3 s; other tests share the cores, so expect a fraction.
    assert!(
        after - before > 0.5,
        "cpu seconds grew only {}",
        after - before
    );
}

#[tokio::test]
async fn readiness_fault_fails_readyz_only() {
    let dir = TempDir::new("chaos-ready");
    let client = reqwest::Client::new();
    let p = start("catalog", &[], &dir).await;
    assert_eq!(inject(&client, &p, r#"{"kind":"readiness"}"#).await, 201);
    assert_eq!(
        client
            .get(format!("{}/readyz", p.url()))
            .send()
            .await
            .expect("readyz")
            .status(),
        503
    );
    assert_eq!(
        client
            .get(format!("{}/healthz", p.url()))
            .send()
            .await
            .expect("healthz")
            .status(),
        200
    );
    let cleared = client
        .delete(format!("{}/admin/chaos", p.url()))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("delete");
    assert_eq!(cleared.status(), 204);
    assert_eq!(
        client
            .get(format!("{}/readyz", p.url()))
            .send()
            .await
            .expect("readyz")
            .status(),
        200
    );
}

#[tokio::test]
async fn peer_faults_fail_or_time_out_calls_to_that_peer() {
    let dir = TempDir::new("chaos-peer");
    let client = reqwest::Client::new();
    let catalog = start("catalog", &[], &dir).await;
    let catalog_url = catalog.url();
    let cart = start(
        "cart",
        &[
            ("SHOP_CATALOG_URL", &catalog_url),
            ("SHOP_PEER_TIMEOUT_MS", "300"),
        ],
        &dir,
    )
    .await;
    let add = || {
        client
            .post(format!("{}/carts/s1/items", cart.url()))
            .header("content-type", "application/json")
            .body(r#"{"product_id":"stoneware-mug-set","quantity":1}"#)
            .send()
    };
    assert_eq!(add().await.expect("post").status(), 200);
    assert_eq!(
        inject(
            &client,
            &cart,
            r#"{"kind":"peer","name":"catalog","mode":"timeout"}"#
        )
        .await,
        201
    );
    assert_eq!(add().await.expect("post").status(), 504);
    client
        .delete(format!("{}/admin/chaos", cart.url()))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("clear");
    assert_eq!(
        inject(
            &client,
            &cart,
            r#"{"kind":"peer","name":"catalog","mode":"error"}"#
        )
        .await,
        201
    );
    assert_eq!(add().await.expect("post").status(), 502);
    let text = metrics(&client, &cart).await;
    let peer = ("peer_service", "catalog");
    let timeouts = metric(
        &text,
        "http_client_request_duration_seconds_count",
        &[peer, ("error_type", "timeout")],
    );
    let refused = metric(
        &text,
        "http_client_request_duration_seconds_count",
        &[peer, ("error_type", "connect")],
    );
    // Each failed call was retried: three attempts per call.
    assert_eq!((timeouts, refused), (Some(3.0), Some(3.0)), "{text}");
    assert_no_fault_named(&text);
}

#[tokio::test]
async fn a_bad_release_starts_with_its_faults_and_version() {
    let dir = TempDir::new("chaos-release");
    let client = reqwest::Client::new();
    let faults = r#"[{"kind":"errors","status":503,"rate":1.0}]"#;
    let p = start(
        "catalog",
        &[("SHOP_VERSION", "2.0.0-bad"), ("SHOP_FAULTS", faults)],
        &dir,
    )
    .await;
    assert_eq!(
        client
            .get(format!("{}/products", p.url()))
            .send()
            .await
            .expect("get")
            .status(),
        503
    );
    let text = metrics(&client, &p).await;
    assert_eq!(
        metric(
            &text,
            "shop_build_info",
            &[("service_name", "catalog"), ("version", "2.0.0-bad")]
        ),
        Some(1.0)
    );
    assert_no_fault_named(&text);
}

#[tokio::test]
async fn bad_configuration_exits_64_before_binding() {
    let dir = TempDir::new("chaos-config");
    for (key, value) in [
        ("SHOP_FAULTS", "[{\"kind\":\"errors\",\"rate\":9}]"),
        ("SHOP_LISTEN", "nowhere"),
        ("SHOP_CATALOG_URL", "ftp://x"),
    ] {
        let env: HashMap<String, String> = [(key.to_string(), value.to_string())].into();
        let port = free_port();
        let mut p = spawn("recommendation", port, &env, dir.path());
        let status = p.wait_exit(Duration::from_secs(10)).expect("exits");
        assert_eq!(status.code(), Some(64), "{key}={value}: {}", p.output());
        assert!(
            p.output().contains(key),
            "the message names {key}: {}",
            p.output()
        );
    }
}

#[tokio::test]
async fn the_admin_api_refuses_without_the_token() {
    let dir = TempDir::new("chaos-auth");
    let client = reqwest::Client::new();
    let p = start("catalog", &[], &dir).await;
    let url = format!("{}/admin/chaos", p.url());
    assert_eq!(client.get(&url).send().await.expect("get").status(), 401);
    assert_eq!(
        client
            .get(&url)
            .bearer_auth("wrong-token-here")
            .send()
            .await
            .expect("get")
            .status(),
        401
    );
    let r = client
        .post(&url)
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body("{\"kind\":")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 422);
    let body: serde_json::Value = r.json().await.expect("json error body");
    assert_eq!(body["error"]["code"], "invalid_fault");
}

#[tokio::test]
async fn sigterm_stops_a_service_gracefully() {
    let dir = TempDir::new("sigterm");
    let mut p = start("orders", &[], &dir).await;
    let sent = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(p.child.id().to_string())
        .status()
        .expect("kill");
    assert!(sent.success());
    let status = p
        .wait_exit(Duration::from_secs(10))
        .expect("stops on SIGTERM");
    assert!(
        status.success(),
        "graceful stop exits 0, got {status}: {}",
        p.output()
    );
    assert!(p.output().contains("\"stopped\""), "{}", p.output());
}

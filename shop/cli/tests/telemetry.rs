//! Logs and traces across real processes: a service pushes its JSON logs to
//! a Loki push endpoint (protobuf + snappy), and a `traceparent` sent to one
//! service reaches the logs of the peer it calls.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use prost::Message;
use shop_common::loki::proto::PushRequest;
use support::{ADMIN_TOKEN, TempDir, free_port, spawn, wait_ready};

#[tokio::test]
async fn logs_reach_a_loki_push_endpoint() {
    let received: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let sink = received.clone();
    let loki = Router::new().route(
        "/loki/api/v1/push",
        post(move |headers: axum::http::HeaderMap, body: Bytes| {
            let sink = sink.clone();
            async move {
                assert_eq!(
                    headers.get("content-type").and_then(|v| v.to_str().ok()),
                    Some("application/x-protobuf")
                );
                let raw = snap::raw::Decoder::new()
                    .decompress_vec(&body)
                    .expect("snappy block");
                let request = PushRequest::decode(raw.as_slice()).expect("logproto.PushRequest");
                let mut lines = sink.lock().expect("lock");
                for stream in request.streams {
                    for entry in stream.entries {
                        lines.push((stream.labels.clone(), entry.line));
                    }
                }
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let loki_url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, loki).await });

    let dir = TempDir::new("loki");
    let env: HashMap<String, String> = [("SHOP_LOKI_URL".to_string(), loki_url)].into();
    let mut p = spawn("catalog", free_port(), &env, dir.path());
    wait_ready(&reqwest::Client::new(), &mut p, Duration::from_secs(30)).await;
    let mut found = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        found = received
            .lock()
            .expect("lock")
            .iter()
            .find(|(_, line)| line.contains("listening"))
            .cloned();
        if found.is_some() {
            break;
        }
    }
    let (labels, line) = found.expect("the start-up log line reached Loki");
    assert_eq!(labels, r#"{service_name="catalog", level="info"}"#);
    let json: serde_json::Value = serde_json::from_str(&line).expect("a JSON log line");
    assert_eq!(json["service"], "catalog");
    assert_eq!(json["level"], "info");
    assert!(json["timestamp"].is_string() && json["version"].is_string());
}

#[tokio::test]
async fn traceparent_reaches_the_peer_logs() {
    let dir = TempDir::new("trace");
    let client = reqwest::Client::new();
    let mut catalog = spawn("catalog", free_port(), &HashMap::new(), dir.path());
    wait_ready(&client, &mut catalog, Duration::from_secs(30)).await;
    let env: HashMap<String, String> = [("SHOP_CATALOG_URL".to_string(), catalog.url())].into();
    let mut cart = spawn("cart", free_port(), &env, dir.path());
    wait_ready(&client, &mut cart, Duration::from_secs(30)).await;
    // Catalog fails every request, so it logs "request failed" with the trace id it was given.
    let injected = client
        .post(format!("{}/admin/chaos", catalog.url()))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body(r#"{"kind":"errors","status":500}"#)
        .send()
        .await
        .expect("chaos");
    assert_eq!(injected.status(), 201);
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let status = client
        .post(format!("{}/carts/s1/items", cart.url()))
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .header("content-type", "application/json")
        .body(r#"{"product_id":"stoneware-mug-set","quantity":1}"#)
        .send()
        .await
        .expect("get")
        .status();
    assert!(status.is_server_error());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logs = catalog.output();
    let failed: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"] == "request failed")
        .collect();
    assert!(!failed.is_empty(), "{logs}");
    assert!(failed.iter().all(|v| v["trace_id"] == trace_id), "{logs}");
}

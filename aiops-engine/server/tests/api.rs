//! The engine's HTTP API in memory (`tower::ServiceExt::oneshot`): every
//! intake accepts what it should, refuses hostile input with the right
//! status and a readable reason, counts the refusal, and loses nothing
//! already accepted; the read API answers in Prometheus' shapes.

use std::sync::Arc;

use aiops_core::model::{
    LabelPairs, LogBatch, LogEntry, LogStream, SampleBatch, SampleValue, SeriesSamples,
};
use aiops_server::app::app;
use aiops_server::config::Config;
use aiops_server::state::{AppState, Clock};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

const NOW_MS: i64 = 1_700_000_000_000;

struct FixedClock;
impl Clock for FixedClock {
    fn now_ms(&self) -> i64 {
        NOW_MS
    }
}

fn state_with(yaml: &str) -> AppState {
    let config = Config::parse(yaml, &std::collections::HashMap::new()).expect("config");
    AppState::with_clock(config, Arc::new(FixedClock))
}

async fn send(
    app: &Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let mut request = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::from(body)).expect("request"))
        .await
        .expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

fn labels(pairs: &[(&str, &str)]) -> LabelPairs {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn batch(series: usize, samples: usize) -> SampleBatch {
    SampleBatch {
        series: (0..series)
            .map(|i| SeriesSamples {
                labels: labels(&[
                    ("__name__", "node_load1"),
                    ("instance", &format!("host-{i}")),
                    ("job", "node"),
                ]),
                samples: (0..samples)
                    .map(|j| SampleValue {
                        ts_ms: NOW_MS - 60_000 + j as i64 * 1000,
                        value: j as f64,
                    })
                    .collect(),
            })
            .collect(),
        ..SampleBatch::default()
    }
}

const V1: (&str, &str) = ("content-type", "application/x-protobuf");
const V2: (&str, &str) = (
    "content-type",
    "application/x-protobuf;proto=io.prometheus.write.v2.Request",
);
const SNAPPY: (&str, &str) = ("content-encoding", "snappy");

async fn metrics(app: &Router) -> String {
    send(app, "GET", "/metrics", &[], vec![]).await.2
}

#[tokio::test]
async fn remote_write_v1_and_v2_are_stored_and_read_back() {
    let state = state_with("");
    let app = app(state.clone());
    let (status, _, body) = send(
        &app,
        "POST",
        "/api/v1/write",
        &[V1, SNAPPY],
        aiops_ingest::encode_remote_write_v1(&batch(3, 5)),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let mut later = batch(2, 5);
    for s in &mut later.series {
        s.labels.push(("zone".into(), "b".into()));
        s.labels.sort();
    }
    let (status, headers, body) = send(
        &app,
        "POST",
        "/api/v1/write",
        &[V2, SNAPPY],
        aiops_ingest::encode_remote_write_v2(&later),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(
        headers
            .get("x-prometheus-remote-write-samples-written")
            .and_then(|v| v.to_str().ok()),
        Some("10")
    );

    let (status, _, body) = send(
        &app,
        "GET",
        "/api/v1/series?match[]=node_load1",
        &[],
        vec![],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json["status"], "success");
    assert_eq!(json["data"].as_array().map(Vec::len), Some(5), "{body}");

    let uri = format!(
        "/api/v1/query_range?query={}&start={}&end={}&step=1",
        "node_load1%7Binstance%3D%22host-1%22%2Czone%3D%22%22%7D",
        (NOW_MS - 60_000) / 1000,
        (NOW_MS - 56_000) / 1000
    );
    let (status, _, body) = send(&app, "GET", &uri, &[], vec![]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json["data"]["resultType"], "matrix");
    let values = &json["data"]["result"][0]["values"];
    assert_eq!(values.as_array().map(Vec::len), Some(5), "{body}");
    assert_eq!(values[4][1], "4");
    assert!(
        metrics(&app)
            .await
            .contains("aiops_ingest_samples_total{source=\"remote_write_v2\"} 10")
    );
}

#[tokio::test]
async fn remote_write_refusals_say_why_and_are_counted() {
    let state = state_with("ingest: {max_body_bytes: 2048, max_labels_per_series: 3}");
    let app = app(state.clone());
    let good = aiops_ingest::encode_remote_write_v1(&batch(1, 1));
    // (headers, body, expected status, counted reason)
    type Case<'a> = (Vec<(&'a str, &'a str)>, Vec<u8>, StatusCode, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            vec![("content-type", "application/json"), SNAPPY],
            good.clone(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_content_type",
        ),
        (
            vec![
                (
                    "content-type",
                    "application/x-protobuf;proto=io.prometheus.write.v9.Request",
                ),
                SNAPPY,
            ],
            good.clone(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_content_type",
        ),
        (
            vec![V1, ("content-encoding", "zstd")],
            good.clone(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_content_encoding",
        ),
        (
            vec![V1, SNAPPY],
            b"not snappy at all".to_vec(),
            StatusCode::BAD_REQUEST,
            "snappy",
        ),
        // a snappy header claiming 4 GiB of output: refused before allocating
        (
            vec![V1, SNAPPY],
            vec![0xff, 0xff, 0xff, 0xff, 0x0f, 0x00],
            StatusCode::PAYLOAD_TOO_LARGE,
            "decompression_bomb",
        ),
        (
            vec![V1, SNAPPY],
            vec![7u8; 4096],
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
        ),
    ];
    for (headers, body, expected, reason) in cases {
        let (status, _, text) = send(&app, "POST", "/api/v1/write", &headers, body).await;
        assert_eq!(status, expected, "{reason}: {text}");
        assert!(!text.trim().is_empty(), "{reason}: a reason is given");
        if status != StatusCode::PAYLOAD_TOO_LARGE || reason != "too_large" {
            let m = metrics(&app).await;
            assert!(m.contains(&format!("aiops_ingest_rejected_requests_total{{endpoint=\"remote_write\",reason=\"{reason}\"}}")), "{reason}:\n{m}");
        }
    }
    let mut too_many = batch(1, 1);
    too_many.series[0].labels.push(("a".into(), "1".into()));
    too_many.series[0].labels.sort();
    let (status, _, text) = send(
        &app,
        "POST",
        "/api/v1/write",
        &[V1, SNAPPY],
        aiops_ingest::encode_remote_write_v1(&too_many),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("label"), "{text}");
    // nothing refused reached the store, and what was accepted before stays
    let (status, _, _) = send(&app, "POST", "/api/v1/write", &[V1, SNAPPY], good).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(state.series.stats().active_series, 1);
    assert_eq!(state.series.stats().samples, 1);
}

#[tokio::test]
async fn samples_outside_the_window_are_counted_not_stored() {
    let state = state_with("");
    let app = app(state.clone());
    let mut old = batch(1, 1);
    old.series[0].samples[0].ts_ms = NOW_MS - 4 * 3_600_000;
    let (status, _, _) = send(
        &app,
        "POST",
        "/api/v1/write",
        &[V1, SNAPPY],
        aiops_ingest::encode_remote_write_v1(&old),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(metrics(&app).await.contains(
        "aiops_store_rejected_samples_total{endpoint=\"remote_write\",reason=\"too_old\"} 1"
    ));
}

#[tokio::test]
async fn tokens_guard_the_ingest_endpoints() {
    let app = app(state_with("auth: {ingest_tokens: [0123456789abcdef0123]}"));
    let body = aiops_ingest::encode_remote_write_v1(&batch(1, 1));
    let (status, _, _) = send(&app, "POST", "/api/v1/write", &[V1, SNAPPY], body.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = send(
        &app,
        "POST",
        "/api/v1/write",
        &[
            V1,
            SNAPPY,
            ("authorization", "Bearer wrong-wrong-wrong-wrong"),
        ],
        body.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = send(
        &app,
        "POST",
        "/loki/api/v1/push",
        &[("content-type", "application/json")],
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = send(
        &app,
        "POST",
        "/api/v1/write",
        &[V1, SNAPPY, ("authorization", "Bearer 0123456789abcdef0123")],
        body,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let m = metrics(&app).await;
    assert!(
        m.contains("{endpoint=\"remote_write\",reason=\"unauthorized\"} 2"),
        "{m}"
    );
    assert!(
        m.contains("{endpoint=\"loki_push\",reason=\"unauthorized\"} 1"),
        "{m}"
    );
}

/// Holds the one ingest slot of an engine configured with one.
async fn take_the_only_slot(state: &AppState) -> tokio::sync::OwnedSemaphorePermit {
    state
        .ingest_slots
        .clone()
        .acquire_owned()
        .await
        .expect("slot")
}

#[tokio::test]
async fn an_overloaded_engine_answers_429_with_retry_after() {
    let state = state_with("ingest: {max_inflight_requests: 1, queue_wait: 0s}");
    let app = app(state.clone());
    let held = take_the_only_slot(&state).await;
    let (status, headers, _) = send(
        &app,
        "POST",
        "/api/v1/write",
        &[V1, SNAPPY],
        aiops_ingest::encode_remote_write_v1(&batch(1, 1)),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        headers.get("retry-after").and_then(|v| v.to_str().ok()),
        Some("1")
    );
    // still ready: the 429 is the back-pressure, not leaving the Service
    let (status, _, body) = send(&app, "GET", "/readyz", &[], vec![]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("intake saturated"), "{body}");
    drop(held);
    let (_, _, body) = send(&app, "GET", "/readyz", &[], vec![]).await;
    assert_eq!(body, "ready\n");
    let (status, _, _) = send(
        &app,
        "POST",
        "/api/v1/write",
        &[V1, SNAPPY],
        aiops_ingest::encode_remote_write_v1(&batch(1, 1)),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

/// Refusals come before the body is read: a sender whose body never ends
/// is still answered at once, and a refused request costs no decoding.
#[tokio::test]
async fn refusals_come_before_the_body_is_read() {
    let state = state_with(
        "auth: {ingest_tokens: [0123456789abcdef0123]}\ningest: {max_inflight_requests: 1, queue_wait: 0s}",
    );
    let app = app(state.clone());
    let endless = || {
        Body::from_stream(futures::stream::pending::<
            Result<bytes::Bytes, std::io::Error>,
        >())
    };
    let answer = |request: Request<Body>| {
        let app = app.clone();
        async move {
            tokio::time::timeout(std::time::Duration::from_secs(30), app.oneshot(request))
                .await
                .expect("answered without waiting for the body")
                .expect("infallible")
        }
    };
    for uri in [
        "/api/v1/write",
        "/loki/api/v1/push",
        "/api/v1/alerts/alertmanager",
    ] {
        let request = Request::post(uri).body(endless()).expect("request");
        assert_eq!(
            answer(request).await.status(),
            StatusCode::UNAUTHORIZED,
            "{uri}"
        );

        let held = take_the_only_slot(&state).await;
        let request = Request::post(uri)
            .header("authorization", "Bearer 0123456789abcdef0123")
            .body(endless())
            .expect("request");
        let response = answer(request).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "{uri}");
        assert_eq!(
            response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("1")
        );
        drop(held);
    }
    let m = metrics(&app).await;
    for endpoint in ["remote_write", "loki_push", "alertmanager"] {
        for reason in ["unauthorized", "overloaded"] {
            let line = format!("{{endpoint=\"{endpoint}\",reason=\"{reason}\"}} 1");
            assert!(m.contains(&line), "{line} in {m}");
        }
    }
}

fn log_batch() -> LogBatch {
    LogBatch {
        tenant: "fake".into(),
        streams: vec![LogStream {
            labels: labels(&[("level", "info"), ("service_name", "cart")]),
            entries: (0..3)
                .map(|i| LogEntry {
                    ts_ns: (NOW_MS - 1000 + i) * 1_000_000,
                    line: format!("line {i}"),
                    metadata: vec![],
                })
                .collect(),
        }],
    }
}

#[tokio::test]
async fn loki_push_takes_protobuf_json_and_gzip() {
    let state = state_with("");
    let app = app(state.clone());
    let (status, _, body) = send(
        &app,
        "POST",
        "/loki/api/v1/push",
        &[("content-type", "application/x-protobuf")],
        aiops_ingest::encode_loki_push(&log_batch()),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let ts = (NOW_MS - 500) * 1_000_000;
    let json = format!(
        r#"{{"streams":[{{"stream":{{"service_name":"cart","level":"error"}},"values":[["{ts}","boom",{{"trace_id":"abc"}}]]}}]}}"#
    );
    let (status, _, body) = send(
        &app,
        "POST",
        "/loki/api/v1/push",
        &[("content-type", "application/json")],
        json.clone().into_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let gz =
        aiops_ingest::compression::gzip_compress(json.replace("boom", "boom again").as_bytes());
    let (status, _, body) = send(
        &app,
        "POST",
        "/loki/api/v1/push",
        &[
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
            ("x-scope-orgid", "team-a"),
        ],
        gz,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(state.logs.stats().entries, 5);
    assert_eq!(state.logs.stats().streams, 3, "tenants keep streams apart");

    for (headers, body, expected) in [
        (
            vec![("content-type", "application/json")],
            b"{\"streams\":[{\"stream\":{},\"values\":[]}]".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            vec![("content-type", "application/json")],
            br#"{"streams":[{"stream":{"a":"b"},"values":[["soon","x"]]}]}"#.to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            vec![("content-type", "text/plain")],
            b"hello".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            vec![("content-type", "application/x-protobuf")],
            b"\x00\x01garbage".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            vec![
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ],
            b"not gzip".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (status, _, text) = send(&app, "POST", "/loki/api/v1/push", &headers, body).await;
        assert_eq!(status, expected, "{text}");
    }
    assert_eq!(
        state.logs.stats().entries,
        5,
        "refused pushes stored nothing and lost nothing"
    );
}

#[tokio::test]
async fn alertmanager_redeliveries_are_stored_once() {
    let state = state_with("");
    let app = app(state.clone());
    let payload = r#"{"version":"4","groupKey":"{}:{alertname=\"HighErrors\"}","truncatedAlerts":0,"status":"firing","receiver":"aiops",
      "groupLabels":{"alertname":"HighErrors"},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://am:9093",
      "alerts":[{"status":"firing","labels":{"alertname":"HighErrors","service":"payments"},"annotations":{"summary":"errors"},
      "startsAt":"2023-11-14T22:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom/graph","fingerprint":"a1b2c3d4e5f60718"}]}"#;
    for _ in 0..2 {
        let (status, _, body) = send(
            &app,
            "POST",
            "/api/v1/alerts/alertmanager",
            &[("content-type", "application/json")],
            payload.as_bytes().to_vec(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert_eq!(state.alerts.stats().episodes, 1);
    let m = metrics(&app).await;
    assert!(
        m.contains("aiops_ingest_alerts_total{kind=\"new\"} 1")
            && m.contains("aiops_ingest_alerts_total{kind=\"duplicate\"} 1"),
        "{m}"
    );
    let (status, _, _) = send(
        &app,
        "POST",
        "/api/v1/alerts/alertmanager",
        &[],
        payload.replace("\"4\"", "\"3\"").into_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = send(
        &app,
        "POST",
        "/api/v1/alerts/alertmanager",
        &[],
        b"[".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn read_api_refuses_bad_queries_in_prometheus_shape() {
    let app = app(state_with(""));
    for uri in [
        "/api/v1/series",
        "/api/v1/series?match[]=%7B",
        "/api/v1/series?match[]=%7Bjob%3D~%22.*%22%7D",
        "/api/v1/series?match[]=up&start=yesterday",
        "/api/v1/query_range?query=rate(up%5B5m%5D)&start=1&end=2&step=1",
        "/api/v1/query_range?query=up&start=2&end=1&step=1",
        "/api/v1/query_range?query=up&start=1&end=2&step=0",
        "/api/v1/query_range?query=up&start=0&end=100000000&step=1",
    ] {
        let (status, _, body) = send(&app, "GET", uri, &[], vec![]).await;
        assert!(status.is_client_error(), "{uri}: {status} {body}");
        let json: serde_json::Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{uri}: {e}: {body}"));
        assert_eq!(json["status"], "error", "{uri}");
        assert!(
            json["errorType"].is_string() && json["error"].is_string(),
            "{uri}: {body}"
        );
    }
    assert_eq!(
        send(&app, "GET", "/healthz", &[], vec![]).await.0,
        StatusCode::OK
    );
    let m = metrics(&app).await;
    assert!(
        m.contains("process_resident_memory_bytes")
            && m.contains("aiops_http_request_duration_seconds_bucket"),
        "{m}"
    );
}

/// Serves `app` on a loopback port with scraping and compaction running.
async fn serve(state: AppState) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(aiops_server::app::run(listener, state, async move {
        let _ = stop_rx.await;
    }));
    (url, stop_tx)
}

#[tokio::test]
async fn scraping_adds_job_instance_and_up() {
    let exposition =
        "# TYPE shop_orders_total counter\nshop_orders_total{status=\"ok\"} 7\n# EOF\n";
    let target = Router::new().route(
        "/metrics",
        axum::routing::get(move || async move { exposition }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let live = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move { axum::serve(listener, target).await });
    let dead = format!(
        "127.0.0.1:{}",
        std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port()
    );
    let yaml = format!(
        "scrape: {{interval: 200ms, timeout: 100ms, jobs: [{{job: shop, targets: ['{live}', '{dead}']}}]}}"
    );
    let config = Config::parse(&yaml, &std::collections::HashMap::new()).expect("config");
    let state = AppState::new(config);
    let (_url, _stop) = serve(state.clone()).await;
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let selector = |s: &str| vec![aiops_core::Selector::parse(s).expect("selector")];
    let found = state.series.series(
        &selector(&format!(
            "shop_orders_total{{job=\"shop\",instance=\"{live}\",status=\"ok\"}}"
        )),
        i64::MIN,
        i64::MAX,
    );
    assert_eq!(found.len(), 1);
    let now = chrono::Utc::now().timestamp_millis();
    let up_live = state
        .series
        .query_range(
            &selector(&format!("up{{instance=\"{live}\"}}"))[0],
            now,
            now,
            1000,
            60_000,
        )
        .expect("query");
    assert_eq!(up_live[0].points.last().map(|p| p.1), Some(1.0));
    let up_dead = state
        .series
        .query_range(
            &selector(&format!("up{{instance=\"{dead}\"}}"))[0],
            now,
            now,
            1000,
            60_000,
        )
        .expect("query");
    assert_eq!(up_dead[0].points.last().map(|p| p.1), Some(0.0));
    assert_eq!(
        state
            .series
            .series(&selector("scrape_duration_seconds"), i64::MIN, i64::MAX)
            .len(),
        2
    );
}

#[tokio::test]
async fn the_shops_log_pusher_reaches_the_engine() {
    let state =
        AppState::new(Config::parse("", &std::collections::HashMap::new()).expect("config"));
    let (url, _stop) = serve(state.clone()).await;
    let dropped = prometheus_client::metrics::counter::Counter::default();
    let sink =
        shop_common::loki::spawn_pusher(&url, "cart", reqwest::Client::new(), dropped.clone());
    let now_ns = chrono::Utc::now().timestamp_nanos_opt().expect("now");
    for i in 0..3 {
        sink.send(shop_common::loki::LogRecord {
            ts_ns: now_ns + i,
            level: "info",
            trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
            line: format!("{{\"message\":\"cart updated\",\"n\":{i}}}"),
        });
    }
    for _ in 0..50 {
        if state.logs.stats().entries == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(state.logs.stats().entries, 3);
    assert_eq!(dropped.get(), 0);
    let selector = aiops_core::Selector::parse("{service_name=\"cart\"}").expect("selector");
    let entries = state.logs.query("fake", &selector, 0, i64::MAX, 10);
    assert_eq!(entries.len(), 3);
    assert_eq!(
        entries[0].entry.metadata,
        vec![(
            "trace_id".to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736".to_string()
        )]
    );
}

#[tokio::test]
async fn a_real_loki_client_library_pushes_to_the_engine() {
    use tracing_subscriber::layer::SubscriberExt;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let state =
        AppState::new(Config::parse("", &std::collections::HashMap::new()).expect("config"));
    let (url, _stop) = serve(state.clone()).await;
    let (layer, task) = tracing_loki::builder()
        .label("service_name", "tracing-loki-client")
        .expect("label")
        .build_url(tracing_loki::url::Url::parse(&url).expect("url"))
        .expect("layer");
    tokio::spawn(task);
    // Global, as an application installs it (nextest runs each test in its own process).
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
        .expect("first subscriber");
    tracing::info!(order = 42, "order placed");
    tracing::error!("payment failed");
    // the library ships in the background; on a loaded machine that takes a while
    for _ in 0..300 {
        let selector =
            aiops_core::Selector::parse("{service_name=\"tracing-loki-client\",level=\"error\"}")
                .expect("selector");
        if state
            .logs
            .query("fake", &selector, 0, i64::MAX, 1000)
            .iter()
            .any(|e| e.entry.line.contains("payment failed"))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let selector =
        aiops_core::Selector::parse("{service_name=\"tracing-loki-client\",level=~\"info|error\"}")
            .expect("selector");
    let entries = state.logs.query("fake", &selector, 0, i64::MAX, 10_000);
    // The library ships every event of the process (the server's own too).
    for message in ["order placed", "payment failed"] {
        assert!(
            entries.iter().any(|e| e.entry.line.contains(message)),
            "{message} missing: {entries:?}"
        );
    }
    assert!(
        entries
            .iter()
            .any(|e| e.labels.get("level") == Some("error"))
    );
}

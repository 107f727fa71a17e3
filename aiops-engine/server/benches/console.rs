//! The console's figures: the weight and the time to first byte of the
//! incident page for an incident with 1,000 timeline entries, through the
//! engine's real router and gzip, on loopback; and how soon a change
//! reaches a page's live-update stream (server-sent events).
//!
//! `cargo bench --workspace --bench console` (a plain program: it
//! prints its figures; nothing is asserted).

use std::time::{Duration, Instant};

use aiops_analysis::{
    Cause, Direction, Incident, IncidentState, Member, Severity, Signal, SignalKind, TimelineEntry,
    Weight,
};
use aiops_server::config::Config;
use aiops_server::state::AppState;
use futures::StreamExt;

const TOKEN: &str = "bench-viewer-token-012345";

fn incident(id: &str, now: i64) -> Incident {
    let signal = |service: &str, metric: &str| Signal {
        key: format!("{service}/{metric}"),
        kind: SignalKind::MetricAnomaly,
        service: service.into(),
        peer: None,
        labels: Default::default(),
        metric: metric.into(),
        score: 0.9,
        direction: Direction::Up,
        weight: Weight::Strong,
        onset_ms: now - 600_000,
        detected_ms: now - 590_000,
        ended_ms: None,
        value: Some(0.5),
        baseline: Some(0.0),
        deviation: Some(9.0),
        why: format!("{service} {metric} 0.50 vs baseline 0.00, 100 robust sigmas above"),
    };
    Incident {
        id: id.into(),
        state: IncidentState::Open,
        title: "payments: error ratio anomaly".into(),
        opened_at_ms: now - 590_000,
        updated_at_ms: now,
        acknowledged_at_ms: None,
        resolved_at_ms: None,
        last_active_ms: now,
        services: vec!["checkout".into(), "frontend".into(), "payments".into()],
        root_cause: ["payments", "checkout", "frontend"]
            .iter()
            .map(|s| Cause {
                service: (*s).into(),
                score: 0.5,
                reasons: vec!["one of its own signals is anomalous (strength 1.00)".into(), "among the first to show symptoms".into()],
                evidence: vec![format!("{s} error ratio 0.50 vs baseline 0.00")],
            })
            .collect(),
        signals: ["payments", "checkout", "frontend"]
            .iter()
            .flat_map(|s| ["error_ratio", "latency_p99"].map(|m| signal(s, m)))
            .map(|s| Member {
                joined_at_ms: s.detected_ms,
                reason: "part of this incident".into(),
                starts: 1,
                signal: s,
            })
            .collect(),
        timeline: (0..1_000)
            .map(|i| TimelineEntry {
                ts_ms: now - 590_000 + i * 500,
                event: if i % 3 == 0 { "flap" } else { "signal" }.into(),
                detail: format!("checkout is already part of this incident: checkout calling payments: peer error ratio 0.{i:03} vs baseline 0.00 (median of last 12 points), 2 consecutive points"),
            })
            .collect(),
        revision: 1_000,
        signals_dropped: 0,
        window_causes: vec![],
        severity: Severity::Critical,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let yaml = format!(
            "listen: 127.0.0.1:0\nauth:\n  api_tokens:\n    - {{name: bench, role: responder, token: {TOKEN}}}\nincidents:\n  database: \"sqlite:{}\"\n",
            dir.path().join("bench.db").display()
        );
        let config = Config::parse(&yaml, &std::collections::HashMap::new()).expect("config");
        let state = AppState::new(config);
        let now = state.clock.now_ms();
        let mut incidents = vec![incident("inc-big", now)];
        for i in 0..30 {
            incidents.push(incident(&format!("inc-{i}"), now));
        }
        state.analysis.lock().restore(incidents, now);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let server_state = state.clone();
        tokio::spawn(async move {
            let _ = aiops_server::app::run(listener, server_state, std::future::pending()).await;
        });
        let http = reqwest::Client::builder().build().expect("client");
        for _ in 0..100 {
            if http.get(format!("{base}/readyz")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let page = format!("{base}/incidents/inc-big");
        // weight, as sent (gzip) and as read
        let raw = http
            .get(&page)
            .bearer_auth(TOKEN)
            .header("accept-encoding", "gzip")
            .send()
            .await
            .expect("page");
        let encoding = raw.headers().get("content-encoding").and_then(|v| v.to_str().ok()).unwrap_or("none").to_owned();
        let compressed = raw.bytes().await.expect("body").len();
        let plain = http.get(&page).bearer_auth(TOKEN).send().await.expect("page").text().await.expect("text");
        let entries = plain.matches("<li class=\"flap\"").count() + plain.matches("<li class=\"signal\"").count();
        // time to first byte over 200 requests, gzip accepted
        let mut ttfb = Vec::new();
        for _ in 0..200 {
            let started = Instant::now();
            let response = http
                .get(&page)
                .bearer_auth(TOKEN)
                .header("accept-encoding", "gzip")
                .send()
                .await
                .expect("page");
            let mut body = response.bytes_stream();
            let _ = body.next().await;
            ttfb.push(started.elapsed());
            while body.next().await.is_some() {}
        }
        ttfb.sort();
        // a change to an incident, to the event on a page's stream
        let mut events = http
            .get(format!("{base}/events"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("events")
            .bytes_stream();
        let mut latency = Vec::new();
        for i in 0..30 {
            let started = Instant::now();
            let changed = http
                .post(format!("{base}/api/v1/incidents/inc-{i}/acknowledge"))
                .bearer_auth(TOKEN)
                .send()
                .await
                .expect("acknowledge");
            assert!(changed.status().is_success(), "{}", changed.status());
            let wanted = format!("data: inc-{i}\n");
            let mut seen = String::new();
            while !seen.contains(&wanted) {
                match tokio::time::timeout(Duration::from_secs(5), events.next()).await {
                    Ok(Some(Ok(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
                    _ => panic!("no event for inc-{i} within 5 s"),
                }
            }
            latency.push(started.elapsed());
        }
        latency.sort();
        println!("incident page, 1,000 timeline entries ({entries} rendered), gzip ({encoding}): {:.1} KB sent, {:.1} KB as HTML (goal: under 100 KB compressed)", compressed as f64 / 1024.0, plain.len() as f64 / 1024.0);
        println!(
            "time to first byte over 200 requests: median {:.1} ms, p99 {:.1} ms (goal: under 50 ms)",
            percentile(&ttfb, 0.5).as_secs_f64() * 1e3,
            percentile(&ttfb, 0.99).as_secs_f64() * 1e3
        );
        println!(
            "a change to its server-sent event, 30 changes: median {:.1} ms, worst {:.1} ms (goal: within 1 s)",
            percentile(&latency, 0.5).as_secs_f64() * 1e3,
            latency.last().map_or(0.0, |d| d.as_secs_f64() * 1e3)
        );
    });
}

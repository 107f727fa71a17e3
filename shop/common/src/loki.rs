//! Pushes log lines to Loki push endpoints (`/loki/api/v1/push`) as
//! protobuf + snappy, in batches, from a bounded queue per endpoint (Loki
//! and the engine each get every line). When a queue is full or its
//! endpoint keeps failing, lines are dropped and counted, never blocking the
//! service.

use std::collections::BTreeMap;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use tokio::sync::mpsc;

/// `logproto.PushRequest` and friends, shared with the engine's decoder.
pub use loki_proto as proto;

#[derive(Debug, Clone)]
pub struct LogRecord {
    pub ts_ns: i64,
    pub level: &'static str,
    pub trace_id: Option<String>,
    pub line: String,
}

pub const QUEUE_CAPACITY: usize = 10_000;
const MAX_BATCH: usize = 1_000;
const FLUSH_EVERY: Duration = Duration::from_secs(1);
const MAX_ATTEMPTS: u32 = 3;

#[derive(Clone)]
pub struct LokiSink {
    queues: Vec<mpsc::Sender<LogRecord>>,
    dropped: Counter,
}

impl LokiSink {
    /// Queues a line for every endpoint; drops and counts it where a queue
    /// is full.
    pub fn send(&self, record: LogRecord) {
        let Some((last, others)) = self.queues.split_last() else {
            return;
        };
        for queue in others {
            if queue.try_send(record.clone()).is_err() {
                self.dropped.inc();
            }
        }
        if last.try_send(record).is_err() {
            self.dropped.inc();
        }
    }
}

/// Starts the pusher task. `url` is the Loki base URL (without the path).
pub fn spawn_pusher(url: &str, service: &str, http: reqwest::Client, dropped: Counter) -> LokiSink {
    spawn_pushers(&[url.to_owned()], service, http, dropped)
}

/// One pusher task per base URL, each with its own queue, so a slow or
/// failing endpoint costs the others nothing.
pub fn spawn_pushers(
    urls: &[String],
    service: &str,
    http: reqwest::Client,
    dropped: Counter,
) -> LokiSink {
    let mut queues = Vec::with_capacity(urls.len());
    for url in urls {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let endpoint = format!("{}/loki/api/v1/push", url.trim_end_matches('/'));
        tokio::spawn(run_pusher(
            endpoint,
            service.to_string(),
            http.clone(),
            rx,
            dropped.clone(),
        ));
        queues.push(tx);
    }
    LokiSink { queues, dropped }
}

async fn run_pusher(
    endpoint: String,
    service: String,
    http: reqwest::Client,
    mut rx: mpsc::Receiver<LogRecord>,
    dropped: Counter,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        let deadline = tokio::time::sleep(FLUSH_EVERY);
        tokio::pin!(deadline);
        let closed = loop {
            tokio::select! {
                received = rx.recv() => match received {
                    Some(record) => {
                        batch.push(record);
                        if batch.len() >= MAX_BATCH { break false; }
                    }
                    None => break true,
                },
                _ = &mut deadline => break false,
            }
        };
        if !batch.is_empty() {
            let body = encode_push(&service, &batch);
            if !push_with_retries(&http, &endpoint, body).await {
                dropped.inc_by(batch.len() as u64);
            }
            batch.clear();
        }
        if closed {
            return;
        }
    }
}

async fn push_with_retries(http: &reqwest::Client, endpoint: &str, body: Vec<u8>) -> bool {
    let mut backoff = Duration::from_millis(200);
    for attempt in 1..=MAX_ATTEMPTS {
        let sent = http
            .post(endpoint)
            .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
            .header(reqwest::header::CONTENT_ENCODING, "snappy")
            .timeout(Duration::from_secs(5))
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(resp) if resp.status().is_success() => return true,
            // A 4xx other than 429 will not get better by retrying.
            Ok(resp) if resp.status().is_client_error() && resp.status().as_u16() != 429 => {
                return false;
            }
            _ if attempt < MAX_ATTEMPTS => {
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
            _ => {}
        }
    }
    false
}

/// Groups records into streams by level and encodes a snappy-compressed
/// `PushRequest`.
pub fn encode_push(service: &str, records: &[LogRecord]) -> Vec<u8> {
    let mut streams: BTreeMap<&'static str, proto::StreamAdapter> = BTreeMap::new();
    for r in records {
        let stream = streams
            .entry(r.level)
            .or_insert_with(|| proto::StreamAdapter {
                labels: format!("{{service_name=\"{service}\", level=\"{}\"}}", r.level),
                entries: Vec::new(),
                hash: 0,
            });
        stream.entries.push(proto::EntryAdapter {
            timestamp: Some(proto::Timestamp {
                seconds: r.ts_ns.div_euclid(1_000_000_000),
                nanos: r.ts_ns.rem_euclid(1_000_000_000) as i32,
            }),
            line: r.line.clone(),
            structured_metadata: r
                .trace_id
                .iter()
                .map(|t| proto::LabelPairAdapter {
                    name: "trace_id".into(),
                    value: t.clone(),
                })
                .collect(),
        });
    }
    let request = proto::PushRequest {
        streams: streams.into_values().collect(),
    };
    let raw = prost::Message::encode_to_vec(&request);
    // Compressing a Vec in memory cannot fail except on absurd sizes; send raw then.
    snap::raw::Encoder::new().compress_vec(&raw).unwrap_or(raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// A Loki stand-in on loopback that counts the lines pushed to it.
    async fn counting_receiver() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let lines = std::sync::Arc::new(AtomicUsize::new(0));
        let seen = lines.clone();
        let app = axum::Router::new().route(
            "/loki/api/v1/push",
            axum::routing::post(move |body: axum::body::Bytes| {
                let seen = seen.clone();
                async move {
                    let raw = snap::raw::Decoder::new()
                        .decompress_vec(&body)
                        .unwrap_or_default();
                    if let Ok(req) = proto::PushRequest::decode(raw.as_slice()) {
                        let n: usize = req.streams.iter().map(|s| s.entries.len()).sum();
                        seen.fetch_add(n, Ordering::SeqCst);
                    }
                    axum::http::StatusCode::NO_CONTENT
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, lines)
    }

    #[tokio::test]
    async fn every_endpoint_gets_every_line() {
        use std::sync::atomic::Ordering;
        let (loki, at_loki) = counting_receiver().await;
        let (engine, at_engine) = counting_receiver().await;
        let sink = spawn_pushers(
            &[loki, engine],
            "cart",
            reqwest::Client::new(),
            Counter::default(),
        );
        for i in 0..3 {
            sink.send(LogRecord {
                ts_ns: 1_700_000_000_000_000_000 + i,
                level: "info",
                trace_id: None,
                line: format!("line {i}"),
            });
        }
        for _ in 0..50 {
            if at_loki.load(Ordering::SeqCst) == 3 && at_engine.load(Ordering::SeqCst) == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(at_loki.load(Ordering::SeqCst), 3);
        assert_eq!(at_engine.load(Ordering::SeqCst), 3);
        assert_eq!(sink.dropped.get(), 0);
    }

    #[test]
    fn push_request_round_trips() {
        let records = vec![
            LogRecord {
                ts_ns: 1_700_000_000_123_456_789,
                level: "info",
                trace_id: Some("ab".into()),
                line: "hello".into(),
            },
            LogRecord {
                ts_ns: 1_700_000_001_000_000_000,
                level: "error",
                trace_id: None,
                line: "boom".into(),
            },
        ];
        let body = encode_push("cart", &records);
        let raw = snap::raw::Decoder::new()
            .decompress_vec(&body)
            .expect("snappy");
        let req = proto::PushRequest::decode(raw.as_slice()).expect("protobuf");
        assert_eq!(req.streams.len(), 2);
        let info = req
            .streams
            .iter()
            .find(|s| s.labels.contains("info"))
            .expect("info stream");
        assert_eq!(info.labels, r#"{service_name="cart", level="info"}"#);
        assert_eq!(info.entries[0].line, "hello");
        assert_eq!(
            info.entries[0]
                .timestamp
                .as_ref()
                .map(|t| (t.seconds, t.nanos)),
            Some((1_700_000_000, 123_456_789))
        );
        assert_eq!(info.entries[0].structured_metadata[0].value, "ab");
    }
}

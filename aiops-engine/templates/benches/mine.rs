//! Lines mined per CPU-second: the shop's JSON lines, HDFS-like plain lines
//! (Loghub), and a mix. The clock is this process's CPU time (getrusage,
//! user + system), not the wall: on a shared machine other work would
//! otherwise count as slow mining. Mining is single-threaded. The lines
//! are made up front; only mining is timed.

use std::hint::black_box;
use std::time::Duration;

use aiops_templates::{LogSignals, Templates};
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nix::sys::resource::{UsageWho, getrusage};

/// Criterion's clock swapped for CPU time; values are durations, so wall
/// time's formatting applies unchanged.
struct CpuTime(WallTime);

fn cpu_now() -> Duration {
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(u) => {
            let us = |t: nix::sys::time::TimeVal| {
                Duration::from_secs(u64::try_from(t.tv_sec()).unwrap_or(0))
                    + Duration::from_micros(u64::try_from(t.tv_usec()).unwrap_or(0))
            };
            us(u.user_time()) + us(u.system_time())
        }
        // getrusage(RUSAGE_SELF) cannot fail on Linux; a zero would show
        // as an absurd result rather than pass unnoticed.
        Err(_) => Duration::ZERO,
    }
}

impl Measurement for CpuTime {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        cpu_now()
    }
    fn end(&self, start: Duration) -> Duration {
        cpu_now().saturating_sub(start)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, v: &Duration) -> f64 {
        v.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        self.0.formatter()
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn hex(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b"0123456789abcdef"[(self.next() % 16) as usize]))
            .collect()
    }
    fn alnum(&mut self, n: usize) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..n)
            .map(|_| char::from(A[(self.next() % 62) as usize]))
            .collect()
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

const PRODUCTS: &[&str] = &[
    "chef-knife-8in",
    "cast-iron-skillet",
    "espresso-cups-set-4",
    "linen-apron",
    "oak-spoon",
];

/// (service, line) as shop/common/src/logging.rs writes them.
fn shop_lines(n: usize) -> Vec<(&'static str, String)> {
    let mut r = Rng(7);
    (0..n)
        .map(|i| {
            let ts = format!("2023-11-14T22:{:02}:{:02}.{:06}Z", (i / 60_000) % 60, (i / 1000) % 60, r.next() % 1_000_000);
            let trace = r.hex(32);
            let (svc, level, msg, fields) = match r.next() % 10 {
                0 | 1 => ("cart", "info", "item added to cart", format!(r#"{{"product_id":"{}","quantity":{},"lines":{}}}"#, r.pick(PRODUCTS), r.next() % 5 + 1, r.next() % 9)),
                2 => ("checkout", "info", "checkout started", format!(r#"{{"checkout_id":"chk_{}"}}"#, r.hex(40))),
                3 => ("checkout", "info", "checkout completed", format!(r#"{{"checkout_id":"chk_{}","order_id":"ord_{}","charge_id":"ch_{}","total_minor":{}}}"#, r.hex(40), r.hex(32), r.alnum(24), r.next() % 90_000)),
                4 => ("payments", "info", "charge created", format!(r#"{{"charge_id":"ch_{}","amount_minor":{},"brand":"{}"}}"#, r.alnum(24), r.next() % 90_000, r.pick(&["visa", "mastercard", "amex"]))),
                5 => ("orders", "info", "order created", format!(r#"{{"order_id":"ord_{}","checkout_id":"chk_{}","lines":{},"total_minor":{}}}"#, r.hex(32), r.hex(40), r.next() % 6 + 1, r.next() % 90_000)),
                6 => ("frontend", "error", "request failed", format!(r#"{{"http_route":"{}","http_request_method":"GET","status":{}}}"#, r.pick(&["/products/{id}", "/cart", "/orders/{id}"]), 500 + r.next() % 4)),
                7 => ("checkout", "warn", "payment failed", format!(r#"{{"checkout_id":"chk_{}","error":"payments did not answer within {}ms"}}"#, r.hex(40), r.next() % 3000)),
                8 => ("recommendation", "info", "catalog refreshed", format!(r#"{{"products":{},"generation":{}}}"#, r.next() % 40, r.next() % 500)),
                _ => ("frontend", "warn", "recommendations unavailable", format!(r#"{{"error":"cannot reach recommendation: error sending request for url (http://127.0.0.1:8086/recommendations/{})"}}"#, r.pick(PRODUCTS))),
            };
            let line = format!(r#"{{"timestamp":"{ts}","level":"{level}","service":"{svc}","version":"1.0.0","trace_id":"{trace}","message":"{msg}","fields":{fields}}}"#);
            (svc, line)
        })
        .collect()
}

/// Lines in the shape of Loghub's HDFS sample.
fn hdfs_lines(n: usize) -> Vec<(&'static str, String)> {
    let mut r = Rng(11);
    (0..n)
        .map(|i| {
            let head = format!("081109 {:06} {}", 203_615 + i % 1000, r.next() % 3000);
            let blk = format!("blk_{}{}", if r.next().is_multiple_of(2) { "-" } else { "" }, r.next() * 1_000_000_007 % 9_000_000_000_000_000_000);
            let ip = format!("10.250.{}.{}:50010", r.next() % 256, r.next() % 256);
            let line = match r.next() % 6 {
                0 => format!("{head} INFO dfs.DataNode$PacketResponder: PacketResponder {} for block {blk} terminating", r.next() % 3),
                1 => format!("{head} INFO dfs.DataNode$PacketResponder: Received block {blk} of size {} from /{}", r.next() % 67_108_864, &ip[..ip.len() - 6]),
                2 => format!("{head} INFO dfs.DataNode$DataXceiver: Receiving block {blk} src: /{ip} dest: /{ip}"),
                3 => format!("{head} INFO dfs.FSNamesystem: BLOCK* NameSystem.addStoredBlock: blockMap updated: {ip} is added to {blk} size {}", r.next() % 67_108_864),
                4 => format!("{head} INFO dfs.FSNamesystem: BLOCK* NameSystem.allocateBlock: /user/root/rand/_temporary/_task_200811092030_0001_m_{:06}_0/part-{:05}. {blk}", r.next() % 2000, r.next() % 2000),
                _ => format!("{head} WARN dfs.DataNode$DataXceiver: {ip}:Got exception while serving {blk} to /{}:", &ip[..ip.len() - 6]),
            };
            ("hdfs", line)
        })
        .collect()
}

fn bench(c: &mut Criterion<CpuTime>) {
    let shop = shop_lines(20_000);
    let hdfs = hdfs_lines(20_000);
    let mut mix: Vec<(&'static str, String)> = Vec::with_capacity(40_000);
    for (a, b) in shop.iter().zip(&hdfs) {
        mix.push(a.clone());
        mix.push(b.clone());
    }
    let mut g = c.benchmark_group("mine");
    for (name, lines) in [("shop_json", &shop), ("hdfs_plain", &hdfs), ("mix", &mix)] {
        g.throughput(Throughput::Elements(lines.len() as u64));
        // Warm miners: the steady state, where nearly every line matches
        // a known template.
        let mut t = Templates::default();
        for (i, (svc, line)) in lines.iter().enumerate() {
            t.observe(svc, i as i64, None, line);
        }
        g.bench_function(name, |b| {
            b.iter(|| {
                for (i, (svc, line)) in lines.iter().enumerate() {
                    black_box(t.observe(svc, i as i64, None, black_box(line)));
                }
            })
        });
    }
    g.throughput(Throughput::Elements(shop.len() as u64));
    let mut t = Templates::default();
    let mut s = LogSignals::default();
    let mut out = Vec::new();
    let mut ts = 0i64;
    g.bench_function("shop_json_with_signals", |b| {
        b.iter(|| {
            for (svc, line) in &shop {
                ts += 1_000_000;
                let obs = t.observe(svc, ts, None, line);
                s.observe(svc, ts, &obs, &mut out);
                out.clear();
            }
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(CpuTime(WallTime));
    targets = bench
}
criterion_main!(benches);

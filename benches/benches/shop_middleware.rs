//! Per-request overhead of the shop's middleware (telemetry + trace + chaos
//! layer, no fault active): the same trivial handler served bare and through
//! `shop_common::full_router`. The overhead is the difference of the two.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use shop_common::{AlwaysReady, ServiceContext, full_router};
use tower::ServiceExt;

async fn handler() -> &'static str {
    "ok"
}

fn api() -> Router {
    Router::new().route("/items/{id}", get(handler))
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let bare = api();
    let ctx = ServiceContext::for_tests("bench");
    let full = full_router(&ctx, api(), Arc::new(AlwaysReady));
    let mut group = c.benchmark_group("shop_request");
    for (name, router) in [("bare", bare), ("with_middleware", full)] {
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter(|| {
                let router = router.clone();
                async move {
                    let request = Request::builder()
                        .uri("/items/42")
                        .header(
                            "traceparent",
                            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                        )
                        .body(Body::empty())
                        .expect("request");
                    let response = router.oneshot(request).await.expect("infallible");
                    assert!(response.status().is_success());
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

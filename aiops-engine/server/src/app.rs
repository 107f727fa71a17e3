//! The router and the server's life: `run(listener, state, shutdown)`.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tokio::net::TcpListener;

use crate::config::Role;
use crate::routes::access::{Needs, leader_only, require};
use crate::routes::{
    Intake, actions, admit, alertmanager, health, incidents, loki, query, silences, templates,
    write,
};
use crate::scrape;
use crate::state::AppState;
use crate::telemetry;

/// Slack's interaction payloads carry the whole message: 64 KiB is not
/// always enough, 1 MiB is.
const SLACK_BODY_LIMIT: usize = 1024 * 1024;

/// How often expired samples, lines and unused strings are dropped.
const COMPACT_EVERY: Duration = Duration::from_secs(30);

pub fn app(state: AppState) -> Router {
    // the token and a slot first, before the body is read
    let admitted = |endpoint| {
        axum::middleware::from_fn_with_state(
            Intake {
                state: state.clone(),
                endpoint,
            },
            admit,
        )
    };
    let ingest = Router::new()
        .route(
            "/api/v1/write",
            post(write::remote_write).layer(admitted(write::ENDPOINT)),
        )
        .route(
            "/loki/api/v1/push",
            post(loki::push).layer(admitted(loki::ENDPOINT)),
        )
        .route(
            "/api/v1/alerts/alertmanager",
            post(alertmanager::webhook).layer(admitted(alertmanager::ENDPOINT)),
        )
        // The body limit is checked before the body is read: a breach is a 413.
        .layer(DefaultBodyLimit::max(state.config.limits.max_body_bytes));
    let needs = |role| {
        axum::middleware::from_fn_with_state(
            Needs {
                state: state.clone(),
                role,
            },
            require,
        )
    };
    let read = Router::new()
        .route("/api/v1/series", get(query::series).post(query::series))
        .route(
            "/api/v1/query_range",
            get(query::query_range).post(query::query_range),
        )
        .route("/api/v1/incidents", get(incidents::list))
        .route("/api/v1/incidents/{id}", get(incidents::get))
        .route("/api/v1/incidents/{id}/actions", get(actions::of_incident))
        .route("/api/v1/signals", get(incidents::signals))
        .route("/api/v1/services", get(incidents::services))
        .route("/api/v1/log-digests", get(incidents::log_digests))
        .route("/api/v1/templates", get(templates::list))
        .route("/api/v1/history", get(incidents::history))
        .route("/api/v1/actions", get(actions::list))
        .route("/api/v1/actions/{id}", get(actions::one))
        .route("/api/v1/remediation", get(actions::status))
        .route("/api/v1/playbooks", get(actions::playbooks))
        .route("/api/v1/silences", get(silences::list))
        .route_layer(needs(Role::Viewer));
    let on_leader = || axum::middleware::from_fn_with_state(state.clone(), leader_only);
    // every change needs a token with a role, and is recorded under its name
    let respond = Router::new()
        .route(
            "/api/v1/incidents/{id}/acknowledge",
            post(incidents::acknowledge),
        )
        .route("/api/v1/incidents/{id}/mitigate", post(incidents::mitigate))
        .route("/api/v1/incidents/{id}/resolve", post(incidents::resolve))
        .route("/api/v1/actions/{id}/approve", post(actions::approve))
        .route("/api/v1/actions/{id}/deny", post(actions::deny))
        .route("/api/v1/silences", post(silences::create))
        .route(
            "/api/v1/silences/{id}",
            axum::routing::delete(silences::end),
        )
        .route_layer(on_leader())
        .route_layer(needs(Role::Responder));
    // Slack signs its requests: checked by the handlers, not by tokens
    let slack = Router::new()
        .route(
            "/slack/interactions",
            post(crate::slack::routes::interactions),
        )
        .route("/slack/commands", post(crate::slack::routes::commands))
        .route_layer(on_leader())
        .layer(DefaultBodyLimit::max(SLACK_BODY_LIMIT));
    let administer = Router::new()
        .route("/api/v1/remediation", post(actions::switch))
        .route_layer(on_leader())
        .route_layer(needs(Role::Admin));
    let health = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz));
    let read = read
        .merge(respond)
        .merge(administer)
        .merge(health)
        .layer(DefaultBodyLimit::max(64 * 1024))
        .merge(slack);
    let metrics = Router::new()
        .route("/metrics", get(telemetry::metrics_handler))
        .with_state(state.metrics.clone());
    ingest
        .merge(read)
        .with_state(state.clone())
        .merge(metrics)
        .merge(crate::routes::console::router(state.clone()))
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            telemetry::track,
        ))
}

/// Serves until `shutdown` resolves; scrapes and compacts meanwhile.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    crate::analysis::connect_incidents(&state)
        .await
        .map_err(std::io::Error::other)?;
    crate::remediation::restore(&state)
        .await
        .map_err(|e| std::io::Error::other(format!("remediation ledger: {e}")))?;
    if let Some(db) = state.incident_db.get() {
        // after the ledger: past incidents are indexed with their actions
        let indexed = crate::similar::load(&state, db)
            .await
            .map_err(std::io::Error::other)?;
        tracing::info!(indexed, "past incidents indexed for similarity");
        crate::notifications::restore(&state).await;
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let scrapers = scrape::spawn_all(&state, stop_rx.clone());
    let analysis = crate::analysis::spawn(&state, stop_rx.clone());
    let docker = crate::docker::spawn(&state, stop_rx.clone());
    #[cfg(feature = "kubernetes")]
    let kube_watch = crate::kube_watch::spawn(&state, stop_rx.clone());
    // stopped last: the lease is let go after the last writes
    let (lead_stop_tx, lead_stop_rx) = tokio::sync::watch::channel(false);
    let leadership = crate::leadership::spawn(&state, lead_stop_rx);
    let remediation = crate::remediation::spawn(&state, stop_rx.clone());
    let summaries = crate::summaries::spawn(&state, stop_rx.clone());
    let digests = crate::digests::spawn(&state, stop_rx.clone());
    let notifications = crate::notifications::spawn(&state, stop_rx.clone());
    let compactor = tokio::spawn(compact_loop(state.clone(), stop_rx));
    // the peer's address: the console throttles failed logins per name and address
    let served = axum::serve(
        listener,
        app(state.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    let _ = stop_tx.send(true);
    for task in scrapers {
        let _ = task.await;
    }
    let _ = compactor.await;
    if let Some(docker) = docker {
        let _ = docker.await;
    }
    #[cfg(feature = "kubernetes")]
    if let Some(kube_watch) = kube_watch {
        let _ = kube_watch.await;
    }
    if let Some(remediation) = remediation {
        let _ = remediation.await;
    }
    // a summary being written holds nothing worth waiting a model's
    // timeout for
    if let Some(summaries) = summaries {
        summaries.abort();
    }
    digests.abort();
    if let Some(notifications) = notifications {
        let _ = notifications.await;
    }
    for task in analysis {
        let _ = task.await;
    }
    crate::analysis::persist_changed(&state).await;
    let unwritten = state.incident_writes.status().queued;
    if unwritten > 0 {
        tracing::error!(
            unwritten,
            "incidents database failing at shutdown: the newest changes of these incidents are lost"
        );
    }
    crate::analysis::save_templates(&state, 0).await;
    let _ = lead_stop_tx.send(true);
    if let Some(leadership) = leadership {
        let _ = leadership.await;
    }
    if let Some(db) = state.incident_db.get() {
        db.close().await;
    }
    served
}

async fn compact_loop(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(COMPACT_EVERY);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => return,
        }
        let now = state.clock.now_ms();
        let series = state.series.clone();
        let logs = state.logs.clone();
        let _ = tokio::task::spawn_blocking(move || {
            series.compact(now);
            logs.compact(now);
        })
        .await;
    }
}

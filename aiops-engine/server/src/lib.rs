//! The engine's edges: configuration, the HTTP intake and query API,
//! scraping, and the engine's own telemetry. The algorithms and the store
//! live in `aiops-core`; the wire formats in `aiops-ingest`.

pub mod analysis;
pub mod analysis_metrics;
pub mod app;
pub mod auth;
pub mod config;
pub mod demo;
pub mod digests;
pub mod docker;
pub mod incident_writes;
pub mod ingest_workers;
#[cfg(feature = "kubernetes")]
pub mod kube_watch;
pub mod leadership;
pub mod notifications;
pub mod playbook_cli;
pub mod remediation;
pub mod routes;
pub mod scrape;
pub mod similar;
pub mod slack;
pub mod state;
pub mod summaries;
pub mod telemetry;
pub mod window_rank;

//! What every shop service shares at run time: common configuration, the
//! context handed to a service while it builds its routes, the full router
//! (API + health + metrics + chaos admin, with the middleware stack), and the
//! `main` that reads config, binds, serves and shuts down gracefully.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;

use crate::chaos::{self, Chaos, Fault};
use crate::client::PeerClient;
use crate::config::{ConfigError, EnvSource, ProcessEnv, Vars, exit_on_config_error};
use crate::error::{method_not_allowed_fallback, not_found_fallback};
use crate::telemetry::{self, Telemetry};
use crate::{logging, loki};

/// Settings every service reads the same way.
#[derive(Debug, Clone)]
pub struct CommonConfig {
    pub listen: SocketAddr,
    pub version: String,
    pub admin_token: Option<String>,
    /// Loki push base URLs (`SHOP_LOKI_URL`, comma-separated): each gets
    /// every line.
    pub loki_urls: Vec<String>,
    pub log_level: tracing::Level,
    /// Faults active from start-up: with `version`, a "bad release".
    pub startup_faults: Vec<Fault>,
    pub max_body_bytes: usize,
    pub peer_timeout: Duration,
    pub leak_cap_mb: u64,
}

impl CommonConfig {
    pub fn from_env(env: &dyn EnvSource, default_port: u16) -> Result<Self, ConfigError> {
        let vars = Vars(env);
        let listen = vars.socket_addr(
            "SHOP_LISTEN",
            SocketAddr::from(([127, 0, 0, 1], default_port)),
        )?;
        let version = vars
            .string("SHOP_VERSION")
            .unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_string());
        if version.len() > 64 || !version.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::new(
                "SHOP_VERSION",
                "must be 1 to 64 printable characters without spaces",
            ));
        }
        let admin_token = vars.string("SHOP_ADMIN_TOKEN");
        if admin_token.as_ref().is_some_and(|t| t.len() < 8) {
            return Err(ConfigError::new(
                "SHOP_ADMIN_TOKEN",
                "must be at least 8 characters",
            ));
        }
        let log_level = match vars
            .string("SHOP_LOG_LEVEL")
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("info") => tracing::Level::INFO,
            Some("error") => tracing::Level::ERROR,
            Some("warn") => tracing::Level::WARN,
            Some("debug") => tracing::Level::DEBUG,
            Some("trace") => tracing::Level::TRACE,
            Some(other) => {
                return Err(ConfigError::new(
                    "SHOP_LOG_LEVEL",
                    format!("{other:?} is not one of error, warn, info, debug, trace"),
                ));
            }
        };
        let startup_faults = match vars.string("SHOP_FAULTS") {
            None => Vec::new(),
            Some(raw) => {
                let faults: Vec<Fault> = serde_json::from_str(&raw).map_err(|e| {
                    ConfigError::new("SHOP_FAULTS", format!("not a JSON list of faults: {e}"))
                })?;
                for f in &faults {
                    f.validate()
                        .map_err(|e| ConfigError::new("SHOP_FAULTS", e))?;
                }
                if faults.len() > chaos::MAX_ACTIVE_FAULTS {
                    return Err(ConfigError::new("SHOP_FAULTS", "too many faults"));
                }
                faults
            }
        };
        Ok(Self {
            listen,
            version,
            admin_token,
            loki_urls: vars.urls("SHOP_LOKI_URL")?,
            log_level,
            startup_faults,
            max_body_bytes: vars.bounded_u64("SHOP_MAX_BODY_BYTES", 64 * 1024, 1024, 16 << 20)?
                as usize,
            peer_timeout: vars.millis(
                "SHOP_PEER_TIMEOUT_MS",
                Duration::from_secs(2),
                10,
                60_000,
            )?,
            leak_cap_mb: vars.bounded_u64("SHOP_CHAOS_LEAK_CAP_MB", 1024, 1, 16 * 1024)?,
        })
    }
}

/// What a service gets while it builds: shared telemetry, chaos and an HTTP
/// client for its peers.
#[derive(Clone)]
pub struct ServiceContext {
    pub name: &'static str,
    pub config: CommonConfig,
    pub telemetry: Arc<Telemetry>,
    pub chaos: Arc<Chaos>,
    pub http: reqwest::Client,
}

impl ServiceContext {
    pub fn new(name: &'static str, config: CommonConfig) -> Self {
        let telemetry = Telemetry::new(name, &config.version);
        let chaos = Chaos::new(config.admin_token.clone(), config.leak_cap_mb);
        let http = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(1))
            .build()
            .unwrap_or_default();
        Self {
            name,
            config,
            telemetry,
            chaos,
            http,
        }
    }

    /// A context with defaults for unit tests.
    pub fn for_tests(name: &'static str) -> Self {
        let config = CommonConfig::from_env(&crate::config::MapEnv::default(), 0)
            .unwrap_or_else(|e| panic!("defaults are valid: {e}"));
        let mut ctx = Self::new(name, config);
        ctx.chaos = Chaos::new(Some("test-admin-token".into()), 64);
        ctx
    }

    pub fn peer(&self, name: &str, base_url: &str) -> PeerClient {
        PeerClient::new(
            name,
            base_url,
            self.http.clone(),
            self.telemetry.clone(),
            self.chaos.clone(),
            self.config.peer_timeout,
        )
    }
}

pub type ReadinessFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// A service's own readiness: its storage and other hard dependencies.
pub trait Readiness: Send + Sync + 'static {
    fn check(&self) -> ReadinessFuture<'_>;
}

/// No dependencies: ready whenever alive.
pub struct AlwaysReady;

impl Readiness for AlwaysReady {
    fn check(&self) -> ReadinessFuture<'_> {
        Box::pin(async { Ok(()) })
    }
}

#[derive(Clone)]
struct HealthState {
    chaos: Arc<Chaos>,
    readiness: Arc<dyn Readiness>,
}

async fn healthz() -> Response {
    telemetry::text(StatusCode::OK, "ok\n")
}

async fn readyz(State(state): State<HealthState>) -> Response {
    if state.chaos.readiness_failing() {
        return telemetry::text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n");
    }
    match tokio::time::timeout(Duration::from_secs(2), state.readiness.check()).await {
        Ok(Ok(())) => telemetry::text(StatusCode::OK, "ready\n"),
        Ok(Err(reason)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {reason}\n"),
        )
            .into_response(),
        Err(_) => telemetry::text(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: readiness check timed out\n",
        ),
    }
}

/// The whole router of a service: its API behind the chaos layer and the
/// body limit, plus `/healthz`, `/readyz` and `/metrics`, all timed by the
/// telemetry middleware; and `/admin/chaos`, kept outside the telemetry so
/// that injecting a fault leaves no trace in the service's own signals.
pub fn full_router(ctx: &ServiceContext, api: Router, readiness: Arc<dyn Readiness>) -> Router {
    let api = api
        .layer(axum::middleware::from_fn_with_state(
            ctx.chaos.clone(),
            chaos::inject_faults,
        ))
        .layer(DefaultBodyLimit::max(ctx.config.max_body_bytes));
    let health = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(HealthState {
            chaos: ctx.chaos.clone(),
            readiness,
        });
    let metrics = Router::new()
        .route("/metrics", get(telemetry::metrics_handler))
        .with_state(ctx.telemetry.clone());
    api.merge(health)
        .merge(metrics)
        .fallback(not_found_fallback)
        .method_not_allowed_fallback(method_not_allowed_fallback)
        .layer(axum::middleware::from_fn_with_state(
            ctx.telemetry.clone(),
            telemetry::track_requests,
        ))
        .merge(chaos::admin_router(ctx.chaos.clone()))
}

/// One shop service: its name, port, configuration and how it builds its API.
pub trait Service {
    const NAME: &'static str;
    const DEFAULT_PORT: u16;
    type Config: Send + 'static;

    fn config(env: &dyn EnvSource) -> Result<Self::Config, ConfigError>;

    /// Connects storage and peers and returns the API routes (without the
    /// shared endpoints) and the readiness check.
    fn build(
        ctx: &ServiceContext,
        config: Self::Config,
    ) -> impl Future<Output = anyhow::Result<(Router, Arc<dyn Readiness>)>> + Send;
}

/// Installs the process-wide pieces (TLS provider, logger) once.
pub fn init_process(name: &str, config: &CommonConfig) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    logging::init(name, &config.version, config.log_level);
}

/// Serves a built router on `listener` until `shutdown` resolves, then drains.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

/// The whole life of a service process, reading the process environment.
/// Exits 64 on bad configuration before binding, 1 when start-up fails.
pub fn main<S: Service>() -> ! {
    let env = ProcessEnv;
    let common =
        CommonConfig::from_env(&env, S::DEFAULT_PORT).unwrap_or_else(|e| exit_on_config_error(&e));
    let config = S::config(&env).unwrap_or_else(|e| exit_on_config_error(&e));
    init_process(S::NAME, &common);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let result = runtime.block_on(run::<S>(common, config, shutdown_signal()));
    match result {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "service failed");
            eprintln!("{}: {e:#}", S::NAME);
            std::process::exit(1);
        }
    }
}

/// Builds the service, binds its port and serves until `shutdown`.
pub async fn run<S: Service>(
    common: CommonConfig,
    config: S::Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let ctx = ServiceContext::new(S::NAME, common.clone());
    if !common.loki_urls.is_empty() {
        logging::attach_loki(loki::spawn_pushers(
            &common.loki_urls,
            S::NAME,
            ctx.http.clone(),
            ctx.telemetry.log_lines_dropped.clone(),
        ));
    }
    for fault in common.startup_faults.iter().cloned() {
        ctx.chaos
            .add(fault)
            .map_err(|e| anyhow::anyhow!("SHOP_FAULTS: {e}"))?;
    }
    let (api, readiness) = S::build(&ctx, config).await?;
    let app = full_router(&ctx, api, readiness);
    let listener = TcpListener::bind(common.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", common.listen))?;
    tracing::info!(address = %common.listen, version = %common.version, "listening");
    serve(listener, app, shutdown).await?;
    tracing::info!("stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{call, call_raw};
    use axum::routing::post;

    fn app() -> (ServiceContext, Router) {
        let ctx = ServiceContext::for_tests("test");
        let api = Router::new()
            .route("/items/{id}", get(|| async { "item" }))
            .route(
                "/echo",
                post(
                    |crate::Json(v): crate::Json<serde_json::Value>| async move { crate::Json(v) },
                ),
            );
        let router = full_router(&ctx, api, Arc::new(AlwaysReady));
        (ctx, router)
    }

    const AUTH: (&str, &str) = ("authorization", "Bearer test-admin-token");

    #[tokio::test]
    async fn shared_endpoints_and_json_errors() {
        let (_, app) = app();
        assert_eq!(
            call(&app, "GET", "/healthz", &[], None).await.0,
            StatusCode::OK
        );
        assert_eq!(
            call(&app, "GET", "/readyz", &[], None).await.0,
            StatusCode::OK
        );
        let (status, body) = call(&app, "GET", "/nope", &[], None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"]["code"], "not_found");
        let (status, body) = call(&app, "DELETE", "/items/1", &[], None).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(body["error"]["code"], "method_not_allowed");
        let (status, body) = call(&app, "POST", "/echo", &[], Some("{not json")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["code"], "malformed_json");
        let (status, body) = call(
            &app,
            "POST",
            "/echo",
            &[("content-type", "text/plain")],
            Some("{}"),
        )
        .await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
        let big = format!("\"{}\"", "x".repeat(70 * 1024));
        let (status, body) = call(&app, "POST", "/echo", &[], Some(&big)).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
        assert_eq!(body["error"]["code"], "body_too_large");
    }

    #[tokio::test]
    async fn chaos_api_needs_the_token_and_validates() {
        let (_, app) = app();
        let fault = r#"{"kind":"errors","status":503,"rate":1.0}"#;
        assert_eq!(
            call(&app, "POST", "/admin/chaos", &[], Some(fault)).await.0,
            StatusCode::UNAUTHORIZED
        );
        let wrong = ("authorization", "Bearer nope-nope-nope");
        assert_eq!(
            call(&app, "POST", "/admin/chaos", &[wrong], Some(fault))
                .await
                .0,
            StatusCode::UNAUTHORIZED
        );
        let (status, body) = call(
            &app,
            "POST",
            "/admin/chaos",
            &[AUTH],
            Some(r#"{"kind":"errors","rate":7}"#),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["error"]["code"], "invalid_fault");
        let (status, body) = call(&app, "POST", "/admin/chaos", &[AUTH], Some("[oops")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        // a list is all or nothing
        let mixed = r#"[{"kind":"readiness"},{"kind":"cpu","percent":0}]"#;
        assert_eq!(
            call(&app, "POST", "/admin/chaos", &[AUTH], Some(mixed))
                .await
                .0,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        let (_, list) = call(&app, "GET", "/admin/chaos", &[AUTH], None).await;
        assert_eq!(list["data"].as_array().map(Vec::len), Some(0));
    }

    #[tokio::test]
    async fn injected_faults_show_only_as_symptoms() {
        let (_, app) = app();
        let fault = r#"{"kind":"errors","status":503,"rate":1.0}"#;
        let (status, added) = call(&app, "POST", "/admin/chaos", &[AUTH], Some(fault)).await;
        assert_eq!(status, StatusCode::CREATED);
        let id = added["data"][0]["id"].as_u64().expect("id");
        let (status, body) = call(&app, "GET", "/items/1", &[], None).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["error"]["code"], "internal");
        // health and metrics are not faulted
        assert_eq!(
            call(&app, "GET", "/healthz", &[], None).await.0,
            StatusCode::OK
        );
        let (_, metrics) = call_raw(&app, "GET", "/metrics", &[], None).await;
        let metrics = String::from_utf8(metrics).expect("utf-8");
        assert!(metrics.contains(r#"http_route="/items/{id}",http_request_method="GET",http_response_status_code="503""#), "{metrics}");
        assert!(
            !metrics.contains("chaos") && !metrics.contains("fault"),
            "{metrics}"
        );
        assert_eq!(
            call(&app, "DELETE", &format!("/admin/chaos/{id}"), &[AUTH], None)
                .await
                .0,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            call(&app, "GET", "/items/1", &[], None).await.0,
            StatusCode::OK
        );
        // readiness fault
        call(
            &app,
            "POST",
            "/admin/chaos",
            &[AUTH],
            Some(r#"{"kind":"readiness"}"#),
        )
        .await;
        assert_eq!(
            call(&app, "GET", "/readyz", &[], None).await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            call(&app, "GET", "/healthz", &[], None).await.0,
            StatusCode::OK
        );
        assert_eq!(
            call(&app, "DELETE", "/admin/chaos", &[AUTH], None).await.0,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            call(&app, "GET", "/readyz", &[], None).await.0,
            StatusCode::OK
        );
    }

    #[test]
    fn bad_common_config_names_the_variable() {
        use crate::config::MapEnv;
        for (key, value) in [
            ("SHOP_LISTEN", "localhost"),
            ("SHOP_FAULTS", "[{\"kind\":\"errors\",\"rate\":3}]"),
            ("SHOP_FAULTS", "nope"),
            ("SHOP_LOG_LEVEL", "loud"),
            ("SHOP_ADMIN_TOKEN", "short"),
            ("SHOP_LOKI_URL", "loki:3100"),
            ("SHOP_MAX_BODY_BYTES", "1"),
        ] {
            let err = CommonConfig::from_env(&MapEnv::new([(key, value)]), 1).expect_err(value);
            assert_eq!(err.key, key);
        }
        let ok = CommonConfig::from_env(
            &MapEnv::new([
                ("SHOP_FAULTS", r#"[{"kind":"latency","ms":100}]"#),
                ("SHOP_VERSION", "2.0.0-rc1"),
            ]),
            1,
        )
        .expect("valid");
        assert_eq!(ok.startup_faults.len(), 1);
        assert_eq!(ok.version, "2.0.0-rc1");
    }
}

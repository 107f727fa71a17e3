//! `aiops demo`: the embedded mode in one command. The engine runs in this
//! process and scrapes the shop; the shop (`shop up --load`: seven services
//! plus the load generator) runs as one supervised child whose services push
//! their logs to the engine. `--chaos` adds a game day: a random fault now
//! and then, cleared after a while. SIGINT or SIGTERM stops the shop first
//! (so its last logs still land), then the engine.

mod chaos;
mod engine_config;
mod game_day;
mod options;
mod output;
mod shop;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Local;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::time::Instant;

pub use options::DemoArgs;
pub use shop::exec_child;

use crate::config::{Config, EXIT_CONFIG, ProcessEnv};
use crate::state::AppState;
use options::{ChaosOptions, Options};

/// Bad flags, an unusable data directory, a bad config: before any port.
pub const EXIT_USAGE: i32 = EXIT_CONFIG;

/// How long the engine gets to finish in-flight requests once the shop is down.
const ENGINE_STOP_GRACE: Duration = Duration::from_secs(10);
/// How long the readiness note waits before naming what is still down.
const READY_WITHIN: Duration = Duration::from_secs(90);

/// Runs the demo; returns the process exit status.
pub fn main(args: &DemoArgs) -> i32 {
    let options = match Options::from_args(args) {
        Ok(o) => o,
        Err(e) => return usage(&e),
    };
    let mut yaml = engine_config::yaml(&options.listen, &options.data_dir);
    if let Some(extra) = &options.extra_config {
        yaml.push_str("\n# added with --with\n");
        yaml.push_str(extra);
    }
    if options.print_config {
        print!("{yaml}");
        return 0;
    }
    let (api_token, generated_api_token) = match options::api_token(
        std::env::var("AIOPS_DEMO_TOKEN")
            .ok()
            .filter(|t| !t.is_empty()),
    ) {
        Ok(t) => t,
        Err(e) => return usage(&e),
    };
    let mut config = match Config::parse(&yaml, &DemoEnv) {
        Ok(c) => c,
        Err(e) => return usage(&e.to_string()),
    };
    // the tokens go into the running config, never into the file it writes
    config.api.tokens = vec![crate::config::ApiToken {
        name: "demo".into(),
        role: crate::config::Role::Admin,
        token: api_token.clone(),
    }];
    // the console: user demo, its password the API token
    match aiops_console::auth::hash_password(&api_token) {
        Ok(hash) => {
            config.console.users = vec![aiops_console::auth::User {
                name: "demo".into(),
                role: crate::config::Role::Admin,
                password_hash: hash,
            }];
        }
        Err(e) => eprintln!("aiops: no console user (the password could not be hashed: {e})"),
    }
    // plain http on loopback: a Secure cookie would not come back to curl
    config.console.secure_cookies = !config.listen.ip().is_loopback();
    let control_token = format!(
        "ctl-{:016x}{:016x}",
        rand::random::<u64>(),
        rand::random::<u64>()
    );
    if let Some(path) = &options.playbooks {
        let (playbooks, errors) = aiops_playbooks::load::load_all(std::slice::from_ref(path));
        if !errors.is_empty() {
            let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
            return usage(&format!("--playbooks:\n{}", all.join("\n")));
        }
        config.remediation = crate::config::RemediationConfig {
            playbooks,
            source: Some(path.clone()),
            enabled: true,
            executor: Some(crate::config::ExecutorConfig::Process {
                url: format!("http://{}", options.control),
                token: control_token.clone(),
            }),
            settings: aiops_playbooks::Settings::default(),
        };
    }
    let env_token = std::env::var("SHOP_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.is_empty());
    let (token, generated) = match options::admin_token(env_token) {
        Ok(t) => t,
        Err(e) => return usage(&e),
    };
    let config_path = match options::prepare_data_dir(&options.data_dir, &yaml) {
        Ok(p) => p,
        Err(e) => return usage(&e),
    };
    let shop_binary = match shop::find_binary() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("aiops: {e}");
            return 1;
        }
    };
    if let Some(port) = shop::first_busy_port() {
        eprintln!(
            "aiops: port {port} is already in use; the shop's ports (8080-8086) are fixed: \
             is another `aiops demo` or `shop up` running?"
        );
        return 1;
    }
    if std::net::TcpListener::bind(options.control).is_err() {
        eprintln!(
            "aiops: {} (the supervisor's control API, --control) is already in use",
            options.control
        );
        return 1;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    init_logging();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("aiops: cannot start the runtime: {e}");
            return 1;
        }
    };
    // block_on polls on this (the main) thread, which the shop's
    // parent-death signal is tied to: the shop is spawned from there.
    runtime.block_on(run(Demo {
        config,
        config_path,
        shop_binary,
        rate: options.rate,
        token,
        generated_token: generated,
        api_token,
        generated_api_token,
        control: options.control,
        control_token,
        shop_logs: (!options.shop_logs).then(|| options.data_dir.join("shop-logs")),
        chaos: options.chaos,
    }))
}

fn usage(message: &str) -> i32 {
    eprintln!("aiops: {message}");
    EXIT_USAGE
}

/// The process environment, where the only API token is named `demo`:
/// settings added with `--with` may name the demo's user (a Slack user
/// acting as `demo`). The token itself is set after parsing (the demo's,
/// from AIOPS_DEMO_TOKEN or generated), so none from outside is accepted.
struct DemoEnv;

impl crate::config::EnvSource for DemoEnv {
    fn var(&self, key: &str) -> Option<String> {
        if key == "AIOPS_API_TOKENS" {
            return Some("demo:admin:placeholder-until-the-demo-sets-its-token".into());
        }
        crate::config::EnvSource::var(&ProcessEnv, key)
    }
}

fn init_logging() {
    use std::io::IsTerminal as _;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AIOPS_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal())
        .with_writer(|| output::Prefixed("aiops"))
        .try_init();
}

struct Demo {
    config: Config,
    config_path: PathBuf,
    shop_binary: PathBuf,
    rate: f64,
    token: String,
    generated_token: bool,
    /// The API token (role admin) scripts and people drive the demo with.
    api_token: String,
    generated_api_token: bool,
    /// The shop supervisor's control API, and its token.
    control: SocketAddr,
    control_token: String,
    /// Where the services' log lines go (none: the terminal).
    shop_logs: Option<PathBuf>,
    chaos: Option<ChaosOptions>,
}

/// SIGINT and SIGTERM, both meaning "stop"; a second one means "now".
struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    fn new() -> std::io::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "interrupted",
            _ = self.terminate.recv() => "terminated",
        }
    }
}

async fn run(demo: Demo) -> i32 {
    // Before anything starts, so an early Ctrl-C still stops it all in order.
    let mut signals = match Signals::new() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("aiops: cannot handle signals: {e}");
            return 1;
        }
    };
    let listen = demo.config.listen;
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("aiops: cannot listen on {listen}: {e}");
            return 1;
        }
    };
    let engine_url = format!("http://{}", reachable(listen));
    print_banner(&demo, &engine_url);
    let (stop_engine, engine_stopped) = tokio::sync::oneshot::channel::<()>();
    let state = AppState::new(demo.config.clone());
    let mut engine = tokio::spawn(crate::app::run(listener, state.clone(), async move {
        let _ = engine_stopped.await;
    }));
    // The shop takes Loki's base URL and appends /loki/api/v1/push itself.
    let loki_url = engine_url.clone();
    let mut shop = match shop::spawn(&shop::Launch {
        shop: &demo.shop_binary,
        rate: demo.rate,
        admin_token: &demo.token,
        loki_url: &loki_url,
        control: demo.control,
        control_token: &demo.control_token,
        logs: demo.shop_logs.as_deref(),
    }) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("aiops: cannot start {}: {e}", demo.shop_binary.display());
            let _ = stop_engine.send(());
            let _ = tokio::time::timeout(ENGINE_STOP_GRACE, engine).await;
            return 1;
        }
    };
    let started = Instant::now();
    let announce = tokio::spawn(announce_ready(engine_url.clone()));
    let narrate = tokio::spawn(narrate(state.clone(), engine_url.clone()));
    let game_day = demo.chaos.as_ref().map(|c| {
        tokio::spawn(game_day::run(
            chaos::Planner::new(c.seed, c.schedule),
            started,
            demo.token.clone(),
        ))
    });

    let mut engine_done = None;
    let mut code = tokio::select! {
        why = signals.recv() => {
            output::say("demo", &format!("{why}: stopping the shop, then the engine (again to hurry)"));
            0
        }
        status = shop.wait() => {
            let status = status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
            output::say("demo", &format!("the shop exited unexpectedly ({status}); stopping"));
            1
        }
        result = &mut engine => {
            output::say("demo", &format!("the engine stopped unexpectedly: {}; stopping", engine_outcome(&result)));
            engine_done = Some(result);
            1
        }
    };
    announce.abort();
    narrate.abort();
    if let Some(task) = game_day {
        task.abort();
    }
    shop.stop(async {
        signals.recv().await;
    })
    .await;
    let _ = stop_engine.send(());
    if engine_done.is_none() {
        match tokio::time::timeout(ENGINE_STOP_GRACE, &mut engine).await {
            Ok(result) => {
                if !matches!(result, Ok(Ok(()))) {
                    output::say(
                        "demo",
                        &format!("the engine failed: {}", engine_outcome(&result)),
                    );
                    code = 1;
                }
            }
            Err(_) => {
                output::say(
                    "demo",
                    &format!(
                        "the engine did not stop within {}s; leaving",
                        ENGINE_STOP_GRACE.as_secs()
                    ),
                );
                engine.abort();
            }
        }
    }
    output::say("demo", "stopped");
    code
}

fn engine_outcome(result: &Result<std::io::Result<()>, tokio::task::JoinError>) -> String {
    match result {
        Ok(Ok(())) => "ok".into(),
        Ok(Err(e)) => e.to_string(),
        Err(e) => e.to_string(),
    }
}

/// Where the shop and a person's browser reach a listener bound to "any".
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), addr.port())
        }
        _ => addr,
    }
}

fn print_banner(demo: &Demo, engine: &str) {
    let (token_note, bearer) = if demo.generated_token {
        (
            format!(
                "chaos api token: {} (generated; set SHOP_ADMIN_TOKEN to choose your own)",
                demo.token
            ),
            demo.token.clone(),
        )
    } else {
        (
            "chaos api token: the one in SHOP_ADMIN_TOKEN".to_string(),
            "$SHOP_ADMIN_TOKEN".to_string(),
        )
    };
    let payments = "http://127.0.0.1:8085/admin/chaos";
    let mut lines = vec![
        String::new(),
        format!("  console     {engine}/  (user demo, password: the api token below)"),
        String::new(),
        "aiops demo: the engine (this process), the seven shop services and the load generator"
            .to_string(),
        String::new(),
        format!("  incidents   {engine}/api/v1/incidents"),
        format!("  services    {engine}/api/v1/services"),
        format!("  signals     {engine}/api/v1/signals"),
        format!("  actions     {engine}/api/v1/actions"),
        format!("  metrics     {engine}/metrics"),
        "  the shop    http://127.0.0.1:8080/".to_string(),
        format!("  config      {}", display(&demo.config_path)),
        format!("  incidents   kept in {}", demo.config.incidents.database),
        match &demo.shop_logs {
            Some(dir) => format!(
                "  shop logs   {} (--shop-logs shows them here)",
                display(dir)
            ),
            None => "  shop logs   in this terminal".to_string(),
        },
        String::new(),
        format!("  {}", playbooks_note(demo)),
        if demo.generated_api_token {
            format!(
                "  api token (role admin): {} (generated; set AIOPS_DEMO_TOKEN to choose your own)",
                demo.api_token
            )
        } else {
            "  api token (role admin): the one in AIOPS_DEMO_TOKEN".to_string()
        },
        format!("  {token_note}"),
        "  inject a fault by hand (half of the payments fail), then clear it:".to_string(),
        format!(
            "    curl -X POST -H \"Authorization: Bearer {bearer}\" -H 'Content-Type: application/json' -d '{{\"kind\":\"errors\",\"status\":500,\"rate\":0.5}}' {payments}"
        ),
        format!("    curl -X DELETE -H \"Authorization: Bearer {bearer}\" {payments}"),
        String::new(),
    ];
    if let Some(chaos) = &demo.chaos {
        let first =
            Local::now() + chrono::Duration::from_std(chaos.schedule.warmup).unwrap_or_default();
        lines.push(format!(
            "  game day: a random fault every {} for {}, the first at {} (seed {}; --seed {} replays the plan)",
            humantime::format_duration(chaos.schedule.every),
            humantime::format_duration(chaos.schedule.duration),
            first.format("%H:%M:%S"),
            chaos.seed,
            chaos.seed,
        ));
    }
    if !demo.config.ingest_tokens.is_empty() {
        lines.push(
            "  note: ingest tokens are configured, but the shop pushes its logs without one: \
             the engine will refuse them"
                .to_string(),
        );
    }
    lines.push("  ctrl-c stops everything".to_string());
    lines.push(String::new());
    for line in lines {
        output::raw(&line);
    }
}

fn playbooks_note(demo: &Demo) -> String {
    let r = &demo.config.remediation;
    match &r.source {
        Some(source) if !r.playbooks.is_empty() => format!(
            "playbooks   {} from {} ({}), acting through the supervisor at http://{}",
            r.playbooks.len(),
            display(source),
            r.playbooks
                .iter()
                .map(|p| format!("{} {}", p.name.value, p.mode.as_str()))
                .collect::<Vec<_>>()
                .join(", "),
            demo.control
        ),
        _ => {
            "playbooks   none loaded (--playbooks): the engine detects, it does not act".to_string()
        }
    }
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

/// One line whenever an incident opens, changes what matters (its state,
/// severity or top-ranked service) or resolves, with its console link.
async fn narrate(state: AppState, engine: String) {
    let mut changes = state.events.subscribe();
    let mut known: std::collections::HashMap<String, (String, String, String)> =
        std::collections::HashMap::new();
    loop {
        let id = match changes.recv().await {
            Ok(id) => id,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        };
        let Some(incident) = state.analysis.lock().correlator().get(&id).cloned() else {
            continue;
        };
        let top = incident
            .root_cause
            .first()
            .map(|c| c.service.clone())
            .unwrap_or_default();
        let now = (
            incident.state.as_str().to_owned(),
            incident.severity.as_str().to_owned(),
            top.clone(),
        );
        let before = known.insert(id.clone(), now.clone());
        let what = match &before {
            None => "opened",
            Some(b) if *b == now => continue,
            Some(_) if incident.is_resolved() => "resolved",
            Some(_) => "changed",
        };
        if known.len() > 10_000 {
            known.clear();
        }
        output::say(
            "demo",
            &format!(
                "incident {what}: {} [{}, {}] {engine}/incidents/{id}",
                incident.title, now.1, now.0
            ),
        );
    }
}

/// One line once the engine and all seven services answer, or, if that
/// takes too long, one naming what does not.
async fn announce_ready(engine: String) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap_or_default();
    let mut targets = vec![("engine".to_string(), format!("{engine}/readyz"))];
    for service in shop_topology::SERVICES {
        targets.push((
            service.name.to_string(),
            format!("http://127.0.0.1:{}/healthz", service.port),
        ));
    }
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        let mut waiting = Vec::new();
        for (name, url) in &targets {
            let ok = client
                .get(url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if !ok {
                waiting.push(name.as_str());
            }
        }
        if waiting.is_empty() {
            output::say(
                "demo",
                "ready: the engine and all seven services answer; the load generator is shopping",
            );
            return;
        }
        if Instant::now() >= deadline {
            output::say(
                "demo",
                &format!(
                    "still waiting after {}s for: {}",
                    READY_WITHIN.as_secs(),
                    waiting.join(", ")
                ),
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_address_is_reached_on_loopback() {
        let any: SocketAddr = "0.0.0.0:9800".parse().expect("addr");
        assert_eq!(reachable(any).to_string(), "127.0.0.1:9800");
        let any6: SocketAddr = "[::]:9800".parse().expect("addr");
        assert_eq!(reachable(any6).to_string(), "[::1]:9800");
        let one: SocketAddr = "10.0.0.1:1".parse().expect("addr");
        assert_eq!(reachable(one), one);
    }
}

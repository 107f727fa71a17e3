//! `shop`: run one shop service (`shop run catalog`), all seven as
//! supervised processes (`shop up`), or the load generator (`shop load`).

mod supervisor;

use std::time::Duration;

use clap::{Parser, Subcommand};
use shop_common::service;
use shop_loadgen::{Journey, LoadPlan};

#[derive(Parser)]
#[command(
    name = "shop",
    version,
    about = "the reference shop the AIOps engine watches"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs one service in this process (configuration from the environment).
    Run {
        /// frontend, catalog, cart, orders, checkout, payments or recommendation
        service: String,
    },
    /// Starts all seven services as child processes on their ports, restarts
    /// any that die, and stops them all on Ctrl-C.
    Up {
        /// Also run the load generator against the frontend.
        #[arg(long)]
        load: bool,
        /// Serve the supervisor's control API (restart, deploy, roll back,
        /// state) here, e.g. 127.0.0.1:9801; its bearer token is
        /// SHOP_CONTROL_TOKEN (made up and printed when unset).
        #[arg(long)]
        control: Option<std::net::SocketAddr>,
        /// Write each service's output to <dir>/<service>.log instead of
        /// this terminal.
        #[arg(long)]
        logs: Option<std::path::PathBuf>,
        #[command(flatten)]
        load_args: LoadArgs,
    },
    /// Exits 0 when this host's service answers `/healthz` within two
    /// seconds, 1 otherwise: Docker's HEALTHCHECK (the images have no shell).
    Healthcheck {
        /// Defaults to `http://127.0.0.1:<port of SHOP_LISTEN>/healthz`.
        #[arg(long)]
        url: Option<String>,
    },
    /// Runs the load generator against a frontend and prints a summary.
    Load {
        #[command(flatten)]
        load_args: LoadArgs,
        /// Print the summary as JSON as well.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args, Clone, Debug)]
struct LoadArgs {
    /// The frontend's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    target: String,
    /// Concurrent virtual shoppers.
    #[arg(long, default_value_t = 20)]
    users: usize,
    /// Journeys started per second (when no --steps).
    #[arg(long, default_value_t = 5.0)]
    rate: f64,
    /// How long to run (when no --steps), e.g. 60s, 10m; default: until stopped.
    #[arg(long)]
    duration: Option<String>,
    /// Ramp steps RATE@DURATION,..., e.g. 5@60s,10@60s,5@60s.
    #[arg(long)]
    steps: Option<String>,
    /// Only this journey instead of the weighted mix.
    #[arg(long)]
    only: Option<Journey>,
    /// Per-request timeout in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
    /// Seed of the journey mix.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

impl LoadArgs {
    fn options(&self) -> Result<shop_loadgen::Options, String> {
        let plan = match (&self.steps, &self.duration) {
            (Some(steps), _) => LoadPlan::parse_steps(steps)?,
            (None, duration) => {
                if !(self.rate.is_finite() && self.rate > 0.0 && self.rate <= 10_000.0) {
                    return Err(format!(
                        "--rate must be within (0, 10000], got {}",
                        self.rate
                    ));
                }
                let duration = match duration {
                    Some(d) => shop_loadgen::plan::parse_duration(d)?,
                    None => Duration::from_secs(7 * 86_400),
                };
                LoadPlan::constant(self.rate, duration)
            }
        };
        if self.users == 0 || self.users > 10_000 {
            return Err("--users must be within 1..=10000".into());
        }
        if self.timeout_ms == 0 || self.timeout_ms > 600_000 {
            return Err("--timeout-ms must be within 1..=600000".into());
        }
        Ok(shop_loadgen::Options {
            target: self.target.clone(),
            users: self.users,
            plan,
            timeout: Duration::from_millis(self.timeout_ms),
            seed: self.seed,
            only: self.only,
        })
    }
}

fn main() {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { service } => run_service(&service),
        Command::Up {
            load,
            control,
            logs,
            load_args,
        } => {
            let load = load.then(|| load_args.options().unwrap_or_else(|e| usage_error(&e)));
            exit_with(supervisor::up(supervisor::Up {
                load,
                control,
                logs,
            }));
        }
        Command::Healthcheck { url } => {
            let url = url.map_or_else(|| healthz_url(std::env::var("SHOP_LISTEN").ok()), Ok);
            let url = url.unwrap_or_else(|e| usage_error(&e));
            exit_with(probe(&url));
        }
        Command::Load { load_args, json } => {
            let options = load_args.options().unwrap_or_else(|e| usage_error(&e));
            exit_with(run_load(options, json));
        }
    }
}

fn usage_error(message: &str) -> ! {
    eprintln!("shop: {message}");
    std::process::exit(shop_common::config::EXIT_CONFIG)
}

fn exit_with(result: anyhow::Result<()>) -> ! {
    match result {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("shop: {e:#}");
            std::process::exit(1)
        }
    }
}

fn run_service(name: &str) -> ! {
    match name {
        "frontend" => service::main::<shop_frontend::Frontend>(),
        "catalog" => service::main::<shop_catalog::Catalog>(),
        "cart" => service::main::<shop_cart::Cart>(),
        "orders" => service::main::<shop_orders::Orders>(),
        "checkout" => service::main::<shop_checkout::Checkout>(),
        "payments" => service::main::<shop_payments::Payments>(),
        "recommendation" => service::main::<shop_recommendation::Recommendation>(),
        other => usage_error(&format!(
            "unknown service {other:?}: one of frontend, catalog, cart, orders, checkout, payments, recommendation"
        )),
    }
}

/// Where to probe the service this container runs: its own port, on
/// loopback when it listens on every address.
fn healthz_url(listen: Option<String>) -> Result<String, String> {
    let listen = listen.ok_or("healthcheck: SHOP_LISTEN is not set; pass --url")?;
    let mut addr: std::net::SocketAddr = listen
        .trim()
        .parse()
        .map_err(|e| format!("healthcheck: SHOP_LISTEN {listen:?} is not host:port: {e}"))?;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    Ok(format!("http://{addr}/healthz"))
}

fn probe(url: &str) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        let response = client.get(url).send().await?;
        anyhow::ensure!(
            response.status().is_success(),
            "{url} answered {}",
            response.status()
        );
        Ok(())
    })
}

fn run_load(options: shop_loadgen::Options, json: bool) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Runtime::new()?;
    let summary = runtime.block_on(shop_loadgen::run(options, service::shutdown_signal()))?;
    print!("{summary}");
    if json {
        println!("{}", serde_json::to_string(&summary)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::healthz_url;

    #[test]
    fn healthcheck_probes_the_own_port_on_loopback() {
        assert_eq!(
            healthz_url(Some("0.0.0.0:8082".into())).as_deref(),
            Ok("http://127.0.0.1:8082/healthz")
        );
        assert_eq!(
            healthz_url(Some("10.1.2.3:8085".into())).as_deref(),
            Ok("http://10.1.2.3:8085/healthz")
        );
        let missing = healthz_url(None).unwrap_err();
        assert!(missing.contains("SHOP_LISTEN"), "{missing}");
        let bad = healthz_url(Some("cart".into())).unwrap_err();
        assert!(bad.contains("\"cart\""), "{bad}");
    }
}

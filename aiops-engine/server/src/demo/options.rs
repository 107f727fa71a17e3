//! `aiops demo` flags, checked before anything starts: every value is taken
//! as text and validated here, so a bad one gets a message naming the flag
//! and exit status 64, as `serve` does for its configuration.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::chaos::Schedule;

#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Where the engine listens (AIOPS_LISTEN, if set, wins).
    #[arg(long, default_value = "127.0.0.1:9800")]
    pub listen: String,
    /// Where the incident database and the generated engine config are kept.
    #[arg(long, default_value = "./aiops-demo-data")]
    pub data_dir: PathBuf,
    /// Shopping journeys the load generator starts per second. At 20, the
    /// backends see a request or more per second, enough for a 5 s scrape to
    /// show an error ratio change at once (about 3% of one core).
    #[arg(long, default_value = "20")]
    pub rate: String,
    /// Inject a random fault into a random service now and then, as a game day would.
    #[arg(long)]
    pub chaos: bool,
    /// How often a fault is injected.
    #[arg(long, default_value = "5m", requires = "chaos")]
    pub chaos_every: String,
    /// How long each fault stays before it is cleared (at most --chaos-every).
    #[arg(long, default_value = "2m", requires = "chaos")]
    pub chaos_duration: String,
    /// Quiet time before the first fault, so the engine learns a baseline.
    #[arg(long, default_value = "3m", requires = "chaos")]
    pub chaos_warmup: String,
    /// Seed of the fault plan (default: random, printed so a game day can be replayed).
    #[arg(long, requires = "chaos")]
    pub seed: Option<String>,
    /// Remediation playbooks (a folder or a file), loaded in `auto` mode as
    /// written; `none` for none. The default is used when it exists.
    #[arg(long, default_value = "rules/playbooks")]
    pub playbooks: String,
    /// Where the shop's supervisor serves its control API (restart, roll
    /// back), which the playbooks act through.
    #[arg(long, default_value = "127.0.0.1:9801")]
    pub control: String,
    /// Show the shop services' own log lines in this terminal (by default
    /// they go to one file per service under <data-dir>/shop-logs).
    #[arg(long)]
    pub shop_logs: bool,
    /// Print the engine configuration the demo uses, then exit.
    #[arg(long)]
    pub print_config: bool,
    /// More engine settings (a YAML file in `aiops serve`'s format), added
    /// to the demo's: notifications, a model, redaction. The demo's own
    /// sections (listen, scrape, incidents) stay the demo's, and its API
    /// token replaces any configured. Secrets stay in the environment.
    #[arg(long, value_name = "FILE")]
    pub with: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub listen: String,
    /// Absolute, so the printed database URL works from anywhere.
    pub data_dir: PathBuf,
    pub rate: f64,
    pub chaos: Option<ChaosOptions>,
    /// `None`: no playbooks (`--playbooks none`, or the default folder is missing).
    pub playbooks: Option<PathBuf>,
    pub control: std::net::SocketAddr,
    pub shop_logs: bool,
    pub print_config: bool,
    /// `--with`'s settings, as written, checked to add sections only.
    pub extra_config: Option<String>,
}

/// The sections the demo writes itself; `--with` may not change them.
const DEMO_SECTIONS: [&str; 3] = ["listen", "scrape", "incidents"];

/// At most this much YAML from `--with`.
const MAX_EXTRA_CONFIG_BYTES: u64 = 1 << 20;

#[derive(Debug, Clone, PartialEq)]
pub struct ChaosOptions {
    pub schedule: Schedule,
    pub seed: u64,
}

const DAY: Duration = Duration::from_secs(86_400);
const DEFAULT_PLAYBOOKS: &str = "rules/playbooks";

impl Options {
    pub fn from_args(args: &DemoArgs) -> Result<Options, String> {
        let rate: f64 = args
            .rate
            .trim()
            .parse()
            .map_err(|_| format!("--rate: {:?} is not a number", args.rate))?;
        // The load generator's own bounds.
        if !(rate.is_finite() && rate > 0.0 && rate <= 10_000.0) {
            return Err(format!("--rate: must be within (0, 10000], got {rate}"));
        }
        let data_dir = std::path::absolute(&args.data_dir).map_err(|e| {
            format!(
                "--data-dir: cannot resolve {}: {e}",
                args.data_dir.display()
            )
        })?;
        if data_dir.to_str().is_none() {
            return Err("--data-dir: the path must be valid UTF-8".into());
        }
        let chaos = if args.chaos {
            let every = duration(
                "--chaos-every",
                &args.chaos_every,
                Duration::from_secs(10),
                DAY,
            )?;
            let length = duration(
                "--chaos-duration",
                &args.chaos_duration,
                Duration::from_secs(5),
                DAY,
            )?;
            if length > every {
                return Err(format!(
                    "--chaos-duration: {} is longer than --chaos-every {}; one fault at a time keeps the root cause clear",
                    args.chaos_duration, args.chaos_every
                ));
            }
            let warmup = duration("--chaos-warmup", &args.chaos_warmup, Duration::ZERO, DAY)?;
            let seed = match &args.seed {
                Some(raw) => raw
                    .trim()
                    .parse()
                    .map_err(|_| format!("--seed: {raw:?} is not a whole number"))?,
                None => rand::random(),
            };
            Some(ChaosOptions {
                schedule: Schedule {
                    warmup,
                    every,
                    duration: length,
                },
                seed,
            })
        } else {
            None
        };
        let playbooks = match args.playbooks.trim() {
            "none" => None,
            raw => {
                let path = PathBuf::from(raw);
                if path.exists() {
                    Some(path)
                } else if raw == DEFAULT_PLAYBOOKS {
                    None
                } else {
                    return Err(format!("--playbooks: {raw} does not exist"));
                }
            }
        };
        let control = args
            .control
            .trim()
            .parse()
            .map_err(|e| format!("--control: {:?} is not host:port: {e}", args.control))?;
        Ok(Options {
            listen: args.listen.trim().to_string(),
            data_dir,
            rate,
            chaos,
            playbooks,
            control,
            shop_logs: args.shop_logs,
            print_config: args.print_config,
            extra_config: args.with.as_deref().map(extra_config).transpose()?,
        })
    }
}

/// Reads `--with`: a YAML mapping of sections other than the demo's own.
fn extra_config(path: &Path) -> Result<String, String> {
    let shown = path.display();
    let size = std::fs::metadata(path)
        .map_err(|e| format!("--with: cannot read {shown}: {e}"))?
        .len();
    if size > MAX_EXTRA_CONFIG_BYTES {
        return Err(format!(
            "--with: {shown} is {size} bytes; at most {MAX_EXTRA_CONFIG_BYTES}"
        ));
    }
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("--with: cannot read {shown}: {e}"))?;
    let sections: std::collections::BTreeMap<String, serde::de::IgnoredAny> =
        serde_saphyr::from_str(&text)
            .map_err(|e| format!("--with: {shown} is not a YAML mapping of sections: {e}"))?;
    if let Some(own) = sections
        .keys()
        .find(|k| DEMO_SECTIONS.contains(&k.as_str()))
    {
        return Err(format!(
            "--with: {own} is set by the demo itself ({}); run `aiops serve --config` to choose it",
            DEMO_SECTIONS.join(", ")
        ));
    }
    Ok(text)
}

fn duration(flag: &str, raw: &str, min: Duration, max: Duration) -> Result<Duration, String> {
    let parsed = humantime::parse_duration(raw.trim())
        .map_err(|e| format!("{flag}: {raw:?} is not a duration like 90s or 5m: {e}"))?;
    if parsed < min || parsed > max {
        return Err(format!(
            "{flag}: {raw} is outside {} to {}",
            humantime::format_duration(min),
            humantime::format_duration(max)
        ));
    }
    Ok(parsed)
}

/// Creates the data directory and writes the engine config into it, which
/// also proves the directory is writable before any port is bound.
pub fn prepare_data_dir(dir: &Path, config_yaml: &str) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("--data-dir: cannot create {}: {e}", dir.display()))?;
    let path = dir.join("aiops-demo.yaml");
    std::fs::write(&path, config_yaml)
        .map_err(|e| format!("--data-dir: cannot write {}: {e}", path.display()))?;
    Ok(path)
}

/// The API token people and scripts drive the demo with (role admin, name
/// `demo`): AIOPS_DEMO_TOKEN if set (at least 16 printable characters, as
/// every API token), else a fresh one.
pub fn api_token(from_env: Option<String>) -> Result<(String, bool), String> {
    match from_env {
        Some(token) if token.len() < 16 || !token.bytes().all(|b| b.is_ascii_graphic()) => {
            Err("AIOPS_DEMO_TOKEN: must be at least 16 printable characters without spaces".into())
        }
        Some(token) => Ok((token, false)),
        None => Ok((
            format!(
                "demo-{:016x}{:016x}",
                rand::random::<u64>(),
                rand::random::<u64>()
            ),
            true,
        )),
    }
}

/// The chaos API token: SHOP_ADMIN_TOKEN if set (checked as the shop checks
/// it, or every service would refuse to start), else a fresh one.
pub fn admin_token(from_env: Option<String>) -> Result<(String, bool), String> {
    match from_env {
        Some(token) if token.len() < 8 || !token.bytes().all(|b| b.is_ascii_graphic()) => {
            Err("SHOP_ADMIN_TOKEN: must be at least 8 printable characters without spaces".into())
        }
        Some(token) => Ok((token, false)),
        None => Ok((format!("demo-{:016x}", rand::random::<u64>()), true)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: DemoArgs,
    }

    fn options(flags: &[&str]) -> Result<Options, String> {
        let cli = Cli::try_parse_from(std::iter::once("demo").chain(flags.iter().copied()))
            .map_err(|e| e.to_string())?;
        Options::from_args(&cli.args)
    }

    #[test]
    fn with_adds_sections_and_refuses_the_demos_own_or_no_mapping() {
        let dir = tempfile::tempdir().expect("tempdir");
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("write");
            path.display().to_string()
        };
        let good = write("good.yaml", "redaction: {ip_addresses: true}\n");
        let o = options(&["--with", &good]).expect("extra sections");
        assert_eq!(
            o.extra_config.as_deref(),
            Some("redaction: {ip_addresses: true}\n")
        );
        let own = write("own.yaml", "scrape: {interval: 1s}\n");
        let e = options(&["--with", &own]).expect_err("the demo's own section");
        assert!(e.contains("scrape is set by the demo itself"), "{e}");
        let list = write("list.yaml", "- a\n- b\n");
        let e = options(&["--with", &list]).expect_err("not a mapping");
        assert!(
            e.starts_with("--with:") && e.contains("not a YAML mapping"),
            "{e}"
        );
        let huge = write("huge.yaml", &"#".repeat(2 << 20));
        let e = options(&["--with", &huge]).expect_err("too large");
        assert!(e.contains("at most 1048576"), "{e}");
        let e = options(&["--with", "/nonexistent/extra.yaml"]).expect_err("missing");
        assert!(e.contains("cannot read /nonexistent/extra.yaml"), "{e}");
    }

    #[test]
    fn defaults_are_valid_and_chaos_is_off() {
        let o = options(&[]).expect("defaults");
        assert_eq!(o.listen, "127.0.0.1:9800");
        assert!(o.data_dir.is_absolute());
        assert!(o.data_dir.ends_with("aiops-demo-data"));
        assert!((o.rate - 20.0).abs() < f64::EPSILON);
        assert_eq!(o.chaos, None);
    }

    #[test]
    fn chaos_flags_take_durations_and_a_seed() {
        let o = options(&[
            "--chaos",
            "--chaos-every",
            "90s",
            "--chaos-duration",
            "30s",
            "--chaos-warmup",
            "0s",
            "--seed",
            "7",
        ])
        .expect("valid");
        let chaos = o.chaos.expect("on");
        assert_eq!(chaos.seed, 7);
        assert_eq!(chaos.schedule.every, Duration::from_secs(90));
        assert_eq!(chaos.schedule.duration, Duration::from_secs(30));
        assert_eq!(chaos.schedule.warmup, Duration::ZERO);
        let d = options(&["--chaos"]).expect("defaults").chaos.expect("on");
        assert_eq!(d.schedule.every, Duration::from_secs(300));
        assert_eq!(d.schedule.duration, Duration::from_secs(120));
        assert_eq!(d.schedule.warmup, Duration::from_secs(180));
    }

    #[test]
    fn bad_values_name_the_flag() {
        for (flags, flag) in [
            (&["--rate", "fast"][..], "--rate"),
            (&["--rate", "0"], "--rate"),
            (&["--rate", "NaN"], "--rate"),
            (&["--chaos", "--chaos-every", "often"], "--chaos-every"),
            (&["--chaos", "--chaos-every", "1s"], "--chaos-every"),
            (&["--chaos", "--chaos-duration", "10m"], "--chaos-duration"),
            (&["--chaos", "--chaos-warmup", "forever"], "--chaos-warmup"),
            (&["--chaos", "--chaos-warmup", "2d"], "--chaos-warmup"),
            (&["--chaos", "--seed", "abc"], "--seed"),
        ] {
            let err = options(flags).expect_err(flags.join(" ").as_str());
            assert!(err.starts_with(flag), "{flags:?}: {err}");
        }
        // Chaos settings without --chaos are a mistake clap reports.
        assert!(options(&["--chaos-every", "1m"]).is_err());
    }

    #[test]
    fn the_admin_token_is_checked_or_made() {
        assert!(admin_token(Some("short".into())).is_err());
        assert!(admin_token(Some("has a space".into())).is_err());
        assert_eq!(
            admin_token(Some("long-enough".into())).expect("ok"),
            ("long-enough".to_string(), false)
        );
        let (made, generated) = admin_token(None).expect("made");
        assert!(generated && made.len() >= 8);
    }

    #[test]
    fn playbooks_and_the_control_address() {
        let o = options(&["--playbooks", "none"]).expect("valid");
        assert_eq!(o.playbooks, None);
        assert_eq!(o.control.port(), 9801);
        let err = options(&["--playbooks", "/no/such/dir"]).expect_err("missing");
        assert!(err.starts_with("--playbooks"), "{err}");
        let err = options(&["--control", "nowhere"]).expect_err("bad");
        assert!(err.starts_with("--control"), "{err}");
        assert!(api_token(Some("short-token".into())).is_err());
        let (made, generated) = api_token(None).expect("made");
        assert!(generated && made.len() >= 16);
    }

    #[test]
    fn an_unusable_data_dir_is_reported() {
        let file = std::env::temp_dir().join(format!("aiops-demo-notadir-{}", std::process::id()));
        std::fs::write(&file, "x").expect("temp file");
        let err = prepare_data_dir(&file.join("sub"), "listen: x").expect_err("not a dir");
        assert!(err.starts_with("--data-dir"), "{err}");
        let _ = std::fs::remove_file(&file);
    }
}

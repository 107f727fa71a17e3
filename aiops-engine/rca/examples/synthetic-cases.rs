//! Writes a suite of synthetic incidents in RCAEval's layout
//! (`<root>_<fault>_<n>/data.csv` + `inject_time.txt`) for `aiops eval
//! rca`: 3 to 7 services, a fault of varied kind (delay, errors, a
//! stopped service, a CPU burn, a memory leak) and size in a varied
//! service, weaker symptoms in its callers, noise, and a load step in
//! every service in half of them.
//!
//! `cargo run --release -p aiops-rca --example synthetic-cases -- <dir> [cases] [seed] [noise] [propagation]`
//!
//! noise is the relative noise of every series (default 0.05), propagation
//! the share of a symptom each caller up the tree sees (default 0.5).

use std::path::PathBuf;

use aiops_rca::synthetic::{Fault, Scenario};

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next().map(PathBuf::from) else {
        eprintln!(
            "usage: synthetic-cases <dir> [cases, default 100] [seed, default 1] [noise, default 0.05] [propagation, default 0.5]"
        );
        std::process::exit(64);
    };
    let number = |text: Option<String>, default: u64, what: &str| match text {
        None => default,
        Some(t) => t.parse().unwrap_or_else(|_| {
            eprintln!("synthetic-cases: {what} {t:?} is not a whole number");
            std::process::exit(64)
        }),
    };
    let cases = number(args.next(), 100, "cases");
    let seed = number(args.next(), 1, "seed");
    let fraction = |text: Option<String>, default: f64, what: &str| match text {
        None => default,
        Some(t) => match t.parse::<f64>() {
            Ok(x) if (0.0..=1.0).contains(&x) => x,
            _ => {
                eprintln!("synthetic-cases: {what} {t:?} is not a number from 0 to 1");
                std::process::exit(64)
            }
        },
    };
    let noise = fraction(args.next(), 0.05, "noise");
    let propagation = fraction(args.next(), 0.5, "propagation");
    for i in 0..cases {
        let case_seed = seed.wrapping_mul(1_000_003).wrapping_add(i);
        // a splitmix64 hash of the case and a salt picks the scenario's shape
        let pick = |salt: u64, n: u64| {
            let mut z = case_seed ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)) % n
        };
        let services = 3 + pick(1, 5) as usize;
        let fault = Fault::ALL[pick(2, Fault::ALL.len() as u64) as usize];
        let step = pick(3, 8) as f64;
        let size = match fault {
            Fault::Latency => 0.5 + 0.25 * step,
            Fault::Errors => 0.02 + 0.02 * step,
            Fault::Stop => 0.3 + 0.1 * step,
            Fault::Cpu => 0.2 + 0.1 * step,
            Fault::Leak => 0.1 + 0.05 * step,
        };
        let scenario = Scenario {
            services,
            root: pick(4, services as u64) as usize,
            fault,
            size,
            noise,
            propagation,
            load_step: if pick(5, 2) == 0 {
                0.0
            } else {
                0.5 + 0.25 * pick(6, 4) as f64
            },
            seed: case_seed,
            ..Scenario::default()
        };
        let case = scenario.generate();
        let path = dir.join(format!("{}_{}_{i}", case.root, fault.name()));
        if let Err(e) = case.write_rcaeval(&path) {
            eprintln!("synthetic-cases: {}: {e}", path.display());
            std::process::exit(1);
        }
    }
    println!("{cases} cases in {}", dir.display());
}

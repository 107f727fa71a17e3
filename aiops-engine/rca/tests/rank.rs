//! Ranking on frames whose scores can be worked out by hand, and on
//! synthetic incidents with a known root cause.

// helpers outside #[test] functions unwrap too: a failed setup is a failed test
#![allow(clippy::unwrap_used)]

use aiops_rca::synthetic::{Fault, Scenario};
use aiops_rca::{
    AlignOptions, Departure, Departures, Direction, Method, MetricFrame, RankOptions, RcaError,
    Scale, SeriesInput, rank,
};

const STEP: i64 = 1_000;

/// Columns of values at 0 s, 1 s, 2 s, ...
fn frame(columns: &[(&str, &str, Vec<f64>)]) -> MetricFrame {
    let points: Vec<Vec<(i64, f64)>> = columns
        .iter()
        .map(|(_, _, values)| {
            values
                .iter()
                .enumerate()
                .map(|(i, v)| (i as i64 * STEP, *v))
                .collect()
        })
        .collect();
    let inputs: Vec<SeriesInput<'_>> = columns
        .iter()
        .zip(&points)
        .map(|((service, metric, _), points)| SeriesInput {
            service,
            metric,
            points,
        })
        .collect();
    MetricFrame::from_series(
        &inputs,
        &AlignOptions {
            step_ms: STEP,
            origin_ms: 0,
            max_fill_steps: 0,
        },
    )
    .unwrap()
}

fn with(pre: &[f64], post: &[f64]) -> Vec<f64> {
    pre.iter().chain(post).copied().collect()
}

const PRE: [f64; 8] = [10.0, 12.0, 11.0, 13.0, 9.0, 10.0, 12.0, 11.0];

#[test]
fn baro_scores_the_largest_deviation_in_iqrs() {
    // PRE sorted: 9 10 10 11 11 12 12 13: median 11, q1 10, q3 12 (linear
    // at 1.75 and 5.25), IQR 2
    let f = frame(&[
        ("cart", "latency", with(&PRE, &[11.0, 25.0, 12.0])),
        ("catalog", "latency", with(&PRE, &[12.0, 14.0, 11.0])),
    ]);
    let r = rank(&f, 8 * STEP, Method::Baro, &RankOptions::default()).unwrap();
    assert_eq!((r.pre_rows, r.post_rows), (8, 3));
    let top = &r.services[0];
    assert_eq!(top.service, "cart");
    let m = &top.metrics[0];
    assert_eq!(m.baseline.center, 11.0);
    assert_eq!((m.baseline.q1, m.baseline.q3), (Some(10.0), Some(12.0)));
    assert_eq!((m.baseline.scale, m.baseline.scale_kind), (2.0, Scale::Iqr));
    assert_eq!((m.extreme, m.extreme_ms), (25.0, 9 * STEP));
    assert_eq!(m.direction, Direction::Up);
    assert_eq!(m.score, 7.0);
    assert_eq!(
        m.reason,
        "latency 7.0 IQRs above its pre-onset median (11 -> 25)"
    );
    // catalog: (14 - 11) / 2
    assert_eq!(r.services[1].strength, 1.5);
    assert!((top.score - 7.0 / 8.5).abs() < 1e-12);
    assert!((r.services.iter().map(|s| s.score).sum::<f64>() - 1.0).abs() < 1e-12);
}

#[test]
fn nsigma_scores_in_population_standard_deviations() {
    // PRE mean 11, squared deviations 1+1+0+4+4+1+1+0 = 12, /8 = 1.5
    let f = frame(&[("cart", "latency", with(&PRE, &[11.0, 5.0]))]);
    let r = rank(&f, 8 * STEP, Method::Nsigma, &RankOptions::default()).unwrap();
    let m = &r.services[0].metrics[0];
    assert_eq!(m.baseline.center, 11.0);
    assert!((m.baseline.scale - 1.5f64.sqrt()).abs() < 1e-12);
    assert_eq!(m.direction, Direction::Down);
    assert!((m.score - 6.0 / 1.5f64.sqrt()).abs() < 1e-12);
    assert!(
        m.reason
            .contains("standard deviations below its pre-onset mean (11 -> 5)"),
        "{}",
        m.reason
    );
}

#[test]
fn a_drop_counts_as_much_as_a_rise() {
    // RCAEval's max(zscores) would give the falling service -7 and rank
    // it last
    let f = frame(&[
        ("down", "rate", with(&PRE, &[-3.0])),
        ("up", "rate", with(&PRE, &[20.0])),
    ]);
    let r = rank(&f, 8 * STEP, Method::Baro, &RankOptions::default()).unwrap();
    assert_eq!(r.services[0].service, "down");
    assert_eq!(r.services[0].strength, 7.0);
    assert_eq!(r.services[0].metrics[0].direction, Direction::Down);
}

#[test]
fn constant_before_and_moved_after_is_strong_but_bounded() {
    let idle = [0.0; 8];
    let f = frame(&[
        // idle error ratio that starts failing: scored 100, the cap
        ("payments", "error_ratio", with(&idle, &[0.0, 0.3, 0.3])),
        // constant 0.5 cpu to 0.6: 0.1 against 1% of 0.5
        ("orders", "cpu", with(&[0.5; 8], &[0.6, 0.5])),
        // constant on both sides: no evidence, listed as skipped
        ("cart", "cpu", with(&[2.0; 8], &[2.0, 2.0])),
        ("cart", "latency", with(&PRE, &[12.0])),
    ]);
    let r = rank(&f, 8 * STEP, Method::Baro, &RankOptions::default()).unwrap();
    let order: Vec<&str> = r.services.iter().map(|s| s.service.as_str()).collect();
    assert_eq!(order, ["payments", "orders", "cart"]);
    let p = &r.services[0].metrics[0];
    assert_eq!(p.baseline.scale_kind, Scale::ChangeFloor);
    assert!((p.score - 100.0).abs() < 1e-9, "{}", p.score);
    assert!(
        p.reason
            .starts_with("error ratio was constant at 0 before the onset, then rose to 0.3"),
        "{}",
        p.reason
    );
    assert!((r.services[1].strength - 20.0).abs() < 1e-9);
    assert!(
        r.skipped
            .iter()
            .any(|s| s.column == "cart_cpu" && s.reason.contains("constant before and after"))
    );
}

#[test]
fn an_idle_series_with_blips_is_scaled_by_its_largest_blip() {
    let blips = [0.0, 0.0, 0.01, 0.0, 0.0, 0.0, 0.02, 0.0, 0.0, 0.0, 0.0, 0.0];
    let f = frame(&[
        ("quiet", "error_ratio", with(&blips, &[0.0, 0.02, 0.0])),
        ("failing", "error_ratio", with(&blips, &[0.4, 0.5])),
    ]);
    let r = rank(&f, 12 * STEP, Method::Baro, &RankOptions::default()).unwrap();
    assert_eq!(r.services[0].service, "failing");
    assert_eq!(
        r.services[0].metrics[0].baseline.scale_kind,
        Scale::Excursion
    );
    assert!((r.services[0].strength - 25.0).abs() < 1e-9);
    // a blip no bigger than the ones before scores 1
    assert!((r.services[1].strength - 1.0).abs() < 1e-9);
}

#[test]
fn ties_are_broken_by_name_and_the_ranking_is_repeatable() {
    let same = with(&PRE, &[20.0]);
    let f = frame(&[
        ("zeta", "cpu", same.clone()),
        ("alpha", "cpu", same.clone()),
        ("mid", "cpu", same),
    ]);
    let once = rank(&f, 8 * STEP, Method::Baro, &RankOptions::default()).unwrap();
    let order: Vec<&str> = once.services.iter().map(|s| s.service.as_str()).collect();
    assert_eq!(order, ["alpha", "mid", "zeta"]);
    let again = rank(&f, 8 * STEP, Method::Baro, &RankOptions::default()).unwrap();
    assert_eq!(once, again);
}

#[test]
fn windows_limit_what_is_learnt_and_scored() {
    // an old outlier (100) before the last 8 rows, and a late spike (40)
    // after the first 2 post rows
    let pre: Vec<f64> = [100.0].iter().chain(PRE.iter()).copied().collect();
    let f = frame(&[("a", "cpu", with(&pre, &[13.0, 12.0, 40.0]))]);
    let options = RankOptions {
        max_pre_rows: Some(8),
        max_post_rows: Some(2),
        ..RankOptions::default()
    };
    let r = rank(&f, 9 * STEP, Method::Nsigma, &options).unwrap();
    let m = &r.services[0].metrics[0];
    assert_eq!((r.pre_rows, r.post_rows), (8, 2));
    assert_eq!(m.baseline.center, 11.0);
    assert_eq!(m.extreme, 13.0);
}

#[test]
fn a_shift_every_service_shares_is_taken_out() {
    // request rates double everywhere (load); cart's latency rises 3 IQRs
    let rate_pre = [100.0, 104.0, 98.0, 102.0, 96.0, 100.0, 103.0, 97.0];
    let doubled: Vec<f64> = rate_pre.iter().map(|r| r * 2.0).collect();
    let f = frame(&[
        ("a", "rate", with(&rate_pre, &doubled)),
        ("b", "rate", with(&rate_pre, &doubled)),
        ("cart", "rate", with(&rate_pre, &doubled)),
        ("cart", "latency", with(&PRE, &[17.0; 8])),
    ]);
    let onset = 8 * STEP;
    let plain = RankOptions {
        departures: Departures::all().without(Departure::SharedShift),
        ..RankOptions::default()
    };
    let r = rank(&f, onset, Method::Baro, &plain).unwrap();
    // without it every rate is ~20 IQRs away and the latency's 3 is lost
    assert_eq!(r.services[0].metrics[0].metric, "rate");
    let r = rank(&f, onset, Method::Baro, &RankOptions::default()).unwrap();
    assert_eq!(r.services[0].service, "cart");
    let m = &r.services[0].metrics[0];
    assert_eq!(m.metric, "latency");
    assert_eq!(m.score, 3.0);
    let rate = r.services[0]
        .metrics
        .iter()
        .find(|m| m.metric == "rate")
        .unwrap();
    let shift = rate.shared_shift.unwrap();
    assert_eq!(shift.services, 3);
    assert!((shift.relative - 1.0).abs() < 0.03, "{}", shift.relative);
    assert!(rate.score < 3.0, "{}", rate.score);
    assert!(rate.raw_deviation > 15.0, "{}", rate.raw_deviation);
    assert!(
        rate.reason
            .contains("median change of rate over 3 services"),
        "{}",
        rate.reason
    );
}

#[test]
fn the_onset_and_the_pre_window_are_checked() {
    let f = frame(&[("a", "cpu", with(&PRE, &[20.0]))]);
    let options = RankOptions::default();
    let err = rank(&f, -1, Method::Baro, &options).unwrap_err();
    assert!(
        matches!(
            err,
            RcaError::OnsetOutsideData {
                first_ms: 0,
                last_ms: 8_000,
                ..
            }
        ),
        "{err}"
    );
    let err = rank(&f, 9 * STEP, Method::Baro, &options).unwrap_err();
    assert!(matches!(err, RcaError::OnsetOutsideData { .. }), "{err}");
    let err = rank(&f, 3 * STEP, Method::Baro, &options).unwrap_err();
    assert!(
        matches!(err, RcaError::TooFewBefore { rows: 3, needed: 5 }),
        "{err}"
    );
    // a column with too few values of its own is skipped, not fatal
    let mut sparse = vec![f64::NAN; 6];
    sparse.extend([1.0, 2.0, 9.0]);
    let f = frame(&[("a", "cpu", with(&PRE, &[20.0])), ("b", "cpu", sparse)]);
    let r = rank(&f, 8 * STEP, Method::Baro, &options).unwrap();
    assert_eq!(r.services.len(), 1);
    assert!(
        r.skipped
            .iter()
            .any(|s| s.column == "b_cpu" && s.reason.contains("only 2 values"))
    );
    let f = frame(&[("a", "cpu", vec![1.0; 9])]);
    let err = rank(&f, 8 * STEP, Method::Baro, &options).unwrap_err();
    assert!(matches!(err, RcaError::NothingScorable), "{err}");
}

fn scenario(seed: u64, services: usize, fault: Fault, load_step: f64) -> Scenario {
    Scenario {
        services,
        root: (seed as usize * 7 + 1) % services,
        fault,
        size: if fault == Fault::Latency { 1.5 } else { 0.1 },
        load_step,
        seed,
        ..Scenario::default()
    }
}

fn top_is_root(s: &Scenario, method: Method, options: &RankOptions) -> bool {
    root_position(s, method, options) == 1
}

#[test]
fn synthetic_faults_are_found_in_the_root_not_its_callers() {
    let mut found = [0, 0];
    for (i, method) in [Method::Baro, Method::Nsigma].into_iter().enumerate() {
        for seed in 0..12 {
            let services = 3 + (seed as usize % 5);
            for fault in [Fault::Latency, Fault::Errors] {
                let s = scenario(seed, services, fault, 0.0);
                found[i] += usize::from(top_is_root(&s, method, &RankOptions::default()));
            }
        }
    }
    assert_eq!(found[0], 24, "baro");
    // n-sigma is fooled by an idle error ratio whose rare pre-onset blips
    // make its standard deviation tiny: one stray blip after the onset is
    // then "37 sigmas" (BARO scales such series by their largest blip)
    assert!(found[1] >= 22, "nsigma found {} of 24", found[1]);
}

#[test]
fn a_load_step_everywhere_does_not_outrank_the_fault() {
    let mut with_shift = 0;
    let mut without = 0;
    for seed in 0..12 {
        let s = Scenario {
            size: 1.0,
            ..scenario(seed, 3 + (seed as usize % 5), Fault::Latency, 1.0)
        };
        with_shift += usize::from(top_is_root(&s, Method::Baro, &RankOptions::default()));
        let plain = RankOptions {
            departures: Departures::all().without(Departure::SharedShift),
            ..RankOptions::default()
        };
        without += usize::from(top_is_root(&s, Method::Baro, &plain));
    }
    assert_eq!(with_shift, 12);
    // RCAEval's scoring, without the shared shift, loses most of them to
    // the doubled request rates
    assert!(
        without < 6,
        "{without} of 12 found without the shared shift"
    );
}

#[test]
fn idle_series_are_not_scaled_finer_than_their_peers() {
    let zeros = [0.0; 12];
    let blips = |size: f64| {
        let mut v = zeros;
        v[3] = size;
        v[9] = size / 2.0;
        v
    };
    let f = frame(&[
        // the root fails more than twice as hard as its caller, but its
        // calm before was noisier: alone, 0.12 / 0.004 = 30 < 0.05 /
        // 0.001 = 50
        ("root", "error_ratio", with(&blips(0.004), &[0.12])),
        ("caller", "error_ratio", with(&blips(0.001), &[0.05])),
        ("other", "error_ratio", with(&blips(0.002), &[0.0])),
        // never failed before, one failed request in a thousand now
        ("idle", "error_ratio", with(&zeros, &[0.001])),
    ]);
    let r = rank(&f, 12 * STEP, Method::Baro, &RankOptions::default()).unwrap();
    let order: Vec<&str> = r.services.iter().map(|s| s.service.as_str()).collect();
    assert_eq!(order, ["root", "caller", "idle", "other"]);
    // peers' median largest blip: 0.002
    let caller = &r.services[1].metrics[0];
    assert_eq!(
        caller.peer_scale.map(|p| (p.scale, p.services)),
        Some((0.002, 3))
    );
    assert!((caller.score - 25.0).abs() < 1e-9, "{}", caller.score);
    assert!(
        caller.reason.contains(
            "scaled by 0.002, the median largest pre-onset excursion of error ratio over 3 services"
        ),
        "{}",
        caller.reason
    );
    assert_eq!(r.services[0].metrics[0].peer_scale, None);
    let idle = &r.services[2].metrics[0];
    assert_eq!(idle.baseline.scale_kind, Scale::ChangeFloor);
    assert!((idle.score - 0.5).abs() < 1e-9, "{}", idle.score);
}

#[test]
fn a_shared_shift_explains_moves_away_but_never_makes_one() {
    // a fault's latency reached three of four services: the median change
    // is large, yet the one whose latency held is not "below expected"
    let doubled: Vec<f64> = PRE.iter().map(|x| x * 2.0).collect();
    let f = frame(&[
        ("root", "latency", with(&PRE, &[33.0; 4])),
        ("a", "latency", with(&PRE, &doubled)),
        ("b", "latency", with(&PRE, &doubled)),
        ("steady", "latency", with(&PRE, &[12.0, 11.0, 10.0, 11.0])),
    ]);
    let r = rank(&f, 8 * STEP, Method::Baro, &RankOptions::default()).unwrap();
    assert_eq!(r.services[0].service, "root");
    let steady = r.services.iter().find(|s| s.service == "steady").unwrap();
    let m = &steady.metrics[0];
    assert_eq!(m.shared_shift, None, "{}", m.reason);
    assert_eq!(m.score, 0.5);
    // root: 33 is 11 IQRs from the old median, 5.5 from the shifted one
    let m = &r.services[0].metrics[0];
    assert!(m.shared_shift.is_some());
    assert_eq!((m.expected, m.score, m.raw_deviation), (22.0, 5.5, 11.0));
    assert_eq!(
        m.reason,
        "latency 5.5 IQRs above its expected level (11 -> 33, against 22); expected: its pre-onset \
         median moved +100%, the median change of latency over 4 services (a shared cause such as \
         load); 11.0 from the median itself"
    );
}

#[test]
fn rcaeval_scoring_is_kept_for_comparison() {
    let rcaeval = RankOptions {
        departures: Departures::none(),
        ..RankOptions::default()
    };
    let blips = [0.0, 0.0, 0.01, 0.0, 0.0, 0.0, 0.02, 0.0, 0.0, 0.0, 0.0, 0.0];
    let pre: Vec<f64> = PRE.iter().chain(&PRE[..4]).copied().collect();
    let f = frame(&[
        // a fall: RCAEval's signed max ignores it (its largest signed
        // score is 1 / 2 = 0.5, from the 12)
        ("down", "rate", with(&pre, &[12.0, -3.0])),
        // an idle error ratio at 0.5: IQR 0, so divided by 1
        ("failing", "error_ratio", with(&blips, &[0.5, 0.4])),
        // constant before: RCAEval leaves it out
        ("fresh", "cpu", with(&[1.0; 12], &[9.0, 9.0])),
        ("up", "rate", with(&pre, &[14.0, 13.0])),
    ]);
    let r = rank(&f, 12 * STEP, Method::Baro, &rcaeval).unwrap();
    let scores: Vec<(&str, f64)> = r
        .services
        .iter()
        .map(|s| (s.service.as_str(), s.strength))
        .collect();
    // PRE plus its first four: median 11, q1 10, q3 12
    assert_eq!(scores, [("up", 1.5), ("down", 0.5), ("failing", 0.5)]);
    let failing = &r.services[2].metrics[0];
    assert_eq!(failing.baseline.scale_kind, Scale::Unit);
    assert!(
        failing.reason.contains("which RCAEval replaces by 1"),
        "{}",
        failing.reason
    );
    assert!(r.skipped.iter().any(|s| s.column == "fresh_cpu"));
    // the same frame as this crate ranks it
    let ours = rank(&f, 12 * STEP, Method::Baro, &RankOptions::default()).unwrap();
    let order: Vec<&str> = ours.services.iter().map(|s| s.service.as_str()).collect();
    assert_eq!(order, ["fresh", "failing", "down", "up"]);
}

/// 1-based rank of the case's root.
fn root_position(s: &Scenario, method: Method, options: &RankOptions) -> usize {
    let case = s.generate();
    let series = case.series();
    let inputs: Vec<SeriesInput<'_>> = series.iter().map(|s| s.input()).collect();
    let f = MetricFrame::from_series(
        &inputs,
        &AlignOptions {
            step_ms: s.step_s * 1000,
            origin_ms: case.inject_s * 1000,
            max_fill_steps: 5,
        },
    )
    .unwrap();
    let r = rank(&f, case.inject_s * 1000, method, options).unwrap();
    r.position(&case.root).unwrap()
}

#[test]
fn every_synthetic_fault_kind_is_found_in_its_root() {
    // sizes well clear of the noise: the kind, not the size, is tried
    let size = |fault: Fault| match fault {
        Fault::Latency => 1.5,
        Fault::Errors => 0.1,
        Fault::Stop => 0.8,
        Fault::Cpu => 0.8,
        Fault::Leak => 0.4,
    };
    for fault in Fault::ALL {
        for seed in 0..6 {
            let s = Scenario {
                size: size(fault),
                ..scenario(seed, 4 + seed as usize % 3, fault, 0.0)
            };
            let position = root_position(&s, Method::Baro, &RankOptions::default());
            // a stopped service's fall is measured against its own noise,
            // its callers' failures against an idle error ratio's: from the
            // window alone the callers look worse, so a stop is only
            // required near the top (the engine's dependency view is what
            // puts it first)
            let required = if fault == Fault::Stop { 3 } else { 1 };
            assert!(
                position <= required,
                "{} in service {} of {} (seed {seed}) ranked {position}",
                fault.name(),
                s.root,
                s.services
            );
        }
    }
}

#[test]
fn a_stopped_services_fall_counts_only_with_absolute_scores() {
    let s = Scenario {
        services: 5,
        root: 2,
        fault: Fault::Stop,
        size: 0.3,
        seed: 4,
        ..Scenario::default()
    };
    let absolute = root_position(&s, Method::Baro, &RankOptions::default());
    let signed = root_position(
        &s,
        Method::Baro,
        &RankOptions {
            departures: Departures::all().without(Departure::Absolute),
            ..RankOptions::default()
        },
    );
    // the root's request rate and CPU fell; nothing of it rose
    assert!(absolute <= 2, "ranked {absolute} with absolute scores");
    assert!(signed > absolute, "ranked {signed} with signed scores");
}

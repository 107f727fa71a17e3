//! Behaviour of whole detectors on simulated series with simulated time.

use proptest::prelude::*;

use crate::*;

const T0: i64 = 1_700_000_000_000;
const STEP_MS: i64 = 5_000;
const MIB: f64 = 1024.0 * 1024.0;

/// A deterministic noise source: 64-bit LCG (Knuth's MMIX constants).
struct Lcg(u64);

impl Lcg {
    fn uniform(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Approximately standard normal (Irwin-Hall of 12), bounded at 6.
    fn gauss(&mut self) -> f64 {
        (0..12).map(|_| self.uniform()).sum::<f64>() - 6.0
    }
}

fn ts(i: usize) -> i64 {
    T0 + i as i64 * STEP_MS
}

#[derive(Debug, Default)]
struct Run {
    started: Vec<(usize, Anomaly)>,
    ended: Vec<(usize, Ended)>,
    verdicts: Vec<Verdict>,
}

fn run_at(cfg: &DetectorConfig, points: impl IntoIterator<Item = (i64, f64)>) -> Run {
    let mut d = SeriesDetector::new(cfg).unwrap();
    let mut run = Run::default();
    for (i, (t, x)) in points.into_iter().enumerate() {
        let v = d.observe(t, x);
        if let Some(a) = &v.started {
            run.started.push((i, a.clone()));
        }
        if let Some(e) = &v.ended {
            run.ended.push((i, e.clone()));
        }
        run.verdicts.push(v);
    }
    run
}

fn run(cfg: &DetectorConfig, values: &[f64]) -> Run {
    run_at(cfg, values.iter().enumerate().map(|(i, x)| (ts(i), *x)))
}

fn cfg(signal: SignalKind) -> DetectorConfig {
    DetectorConfig::default_for(signal)
}

/// A realistic value of `signal` at rest, with noise.
fn at_rest(signal: SignalKind, n: &mut Lcg) -> f64 {
    let g = n.gauss();
    match signal {
        SignalKind::RequestRate => 50.0 + 3.0 * g,
        SignalKind::ErrorRatio | SignalKind::PeerErrorRatio => (0.01 + 0.003 * g).max(0.0),
        SignalKind::Latency | SignalKind::PeerLatency => 0.120 * (1.0 + 0.05 * g),
        SignalKind::Cpu => 0.5 + 0.05 * g,
        SignalKind::Memory => 200.0 * MIB + 2.0 * MIB * g,
        SignalKind::OpenFds => (40.0 + 2.0 * g).round(),
        SignalKind::Restarts => 0.0,
        SignalKind::Up => 1.0,
        SignalKind::Other => 100.0 + 5.0 * g,
    }
}

const ALL_SIGNALS: [SignalKind; 11] = [
    SignalKind::RequestRate,
    SignalKind::ErrorRatio,
    SignalKind::Latency,
    SignalKind::Cpu,
    SignalKind::Memory,
    SignalKind::OpenFds,
    SignalKind::Restarts,
    SignalKind::Up,
    SignalKind::PeerErrorRatio,
    SignalKind::PeerLatency,
    SignalKind::Other,
];

#[test]
fn error_ratio_step_is_confirmed_on_its_second_point_with_exact_onset() {
    let t = 200;
    let values: Vec<f64> = (0..300).map(|i| if i < t { 0.0 } else { 0.3 }).collect();
    let r = run(&cfg(SignalKind::ErrorRatio), &values);
    assert_eq!(r.started.len(), 1, "{:?}", r.started);
    let (i, a) = &r.started[0];
    assert_eq!(*i, t + 1, "confirm 2: the second point of the step");
    assert_eq!(a.onset_ms, ts(t));
    assert_eq!(a.detected_ms, ts(t + 1));
    assert_eq!(a.direction, Direction::Up);
    assert_eq!(a.detector, "robust");
    assert_eq!(a.baseline, 0.0);
    assert!((a.effect - 0.3).abs() < 1e-12);
    assert!(a.deviation > 5.0);
    assert!(
        a.why.starts_with("error ratio 0.30 vs baseline 0.00 (median of last 120 points), +0.30 absolute, 60.0 robust sigmas above, 2 consecutive points"),
        "{}",
        a.why
    );
    assert_eq!(a.why, a.why.to_lowercase());
}

#[test]
fn noisy_error_ratio_step_is_found_within_three_points() {
    let mut n = Lcg(7);
    let t = 400;
    let values: Vec<f64> = (0..500)
        .map(|i| at_rest(SignalKind::ErrorRatio, &mut n) + if i < t { 0.0 } else { 0.3 })
        .collect();
    let r = run(&cfg(SignalKind::ErrorRatio), &values);
    assert_eq!(r.started.len(), 1, "{:?}", r.started);
    let (i, a) = &r.started[0];
    assert!((t + 1..=t + 2).contains(i), "detected at {i}");
    assert!(
        (a.onset_ms - ts(t)).abs() <= STEP_MS,
        "onset {}",
        a.onset_ms - ts(t)
    );
    assert_eq!(a.direction, Direction::Up);
}

#[test]
fn stationary_noise_raises_nothing_with_the_defaults() {
    for signal in ALL_SIGNALS {
        let mut n = Lcg(signal as u64 + 1);
        let values: Vec<f64> = (0..10_000).map(|_| at_rest(signal, &mut n)).collect();
        let r = run(&cfg(signal), &values);
        assert!(r.started.is_empty(), "{signal:?}: {:?}", r.started);
        let max = r.verdicts.iter().map(|v| v.score).fold(0.0, f64::max);
        assert!(max < 0.5, "{signal:?}: max score {max}");
    }
}

#[test]
fn every_signal_fires_on_a_fault_it_should_see() {
    // guards the test above: the same defaults are not simply deaf
    for (signal, fault) in [
        (SignalKind::RequestRate, -49.0),
        (SignalKind::ErrorRatio, 0.1),
        (SignalKind::Latency, 0.5),
        (SignalKind::Cpu, 0.8),
        (SignalKind::Memory, 300.0 * MIB),
        (SignalKind::OpenFds, 200.0),
        (SignalKind::Restarts, 1.0),
        (SignalKind::Up, -1.0),
        (SignalKind::PeerErrorRatio, 0.5),
        (SignalKind::PeerLatency, 1.0),
        (SignalKind::Other, 60.0),
    ] {
        let mut n = Lcg(3);
        let values: Vec<f64> = (0..300)
            .map(|i| at_rest(signal, &mut n) + if i >= 200 { fault } else { 0.0 })
            .collect();
        let r = run(&cfg(signal), &values);
        assert_eq!(r.started.len(), 1, "{signal:?}: {:?}", r.started);
        let (i, a) = &r.started[0];
        assert!(*i <= 202, "{signal:?} detected at {i}");
        assert_eq!(a.direction, Direction::of(fault), "{signal:?}");
    }
}

#[test]
fn traffic_steps_of_half_are_not_anomalies_but_a_collapse_is() {
    for factor in [1.5, 0.5] {
        let mut n = Lcg(11);
        let values: Vec<f64> = (0..2_000)
            .map(|i| {
                let x = at_rest(SignalKind::RequestRate, &mut n);
                if i >= 500 { x * factor } else { x }
            })
            .collect();
        let r = run(&cfg(SignalKind::RequestRate), &values);
        assert!(r.started.is_empty(), "x{factor}: {:?}", r.started);
    }
    let mut n = Lcg(11);
    let values: Vec<f64> = (0..600)
        .map(|i| {
            let x = at_rest(SignalKind::RequestRate, &mut n);
            if i >= 500 { x * 0.02 } else { x }
        })
        .collect();
    let r = run(&cfg(SignalKind::RequestRate), &values);
    assert_eq!(r.started.len(), 1);
    assert_eq!(r.started[0].1.direction, Direction::Down);
    assert!(
        r.started[0].1.why.contains("req/s"),
        "{}",
        r.started[0].1.why
    );
}

#[test]
fn a_ten_percent_latency_shift_is_below_the_minimum_effect() {
    let mut n = Lcg(5);
    let values: Vec<f64> = (0..3_000)
        .map(|i| {
            let x = 0.120 * (1.0 + 0.02 * n.gauss());
            if i >= 500 { x * 1.1 } else { x }
        })
        .collect();
    let r = run(&cfg(SignalKind::Latency), &values);
    assert!(r.started.is_empty(), "{:?}", r.started);
    // a doubling is reported, in milliseconds
    let values: Vec<f64> = values
        .iter()
        .enumerate()
        .map(|(i, x)| if i >= 2_500 { x * 2.0 } else { *x })
        .collect();
    let r = run(&cfg(SignalKind::Latency), &values);
    assert_eq!(r.started.len(), 1, "{:?}", r.started);
    assert!(r.started[0].1.why.contains(" ms"), "{}", r.started[0].1.why);
}

/// One point a minute, a daily sinusoid 100 +/- 50 with noise sigma 1.
fn daily_sinusoid(days: usize, n: &mut Lcg) -> Vec<(i64, f64)> {
    let per_day = 1_440;
    (0..days * per_day)
        .map(|i| {
            let phase = (i % per_day) as f64 / per_day as f64;
            let x = 100.0 + 50.0 * (2.0 * std::f64::consts::PI * phase).sin() + n.gauss();
            (i as i64 * 60_000, x)
        })
        .collect()
}

fn seasonal_cfg(kind: DetectorKind) -> DetectorConfig {
    DetectorConfig {
        kind,
        season: Some(SeasonConfig::daily()),
        ..cfg(SignalKind::Other)
    }
}

#[test]
fn seasonal_baseline_follows_a_daily_cycle_that_the_window_does_not() {
    let points = daily_sinusoid(10, &mut Lcg(21));
    let seasonal = run_at(&seasonal_cfg(DetectorKind::Seasonal), points.clone());
    assert!(seasonal.started.is_empty(), "{:?}", seasonal.started);
    // the plain window (with its changepoint companion) sees every slope of
    // the cycle as a shift: the median of the last two hours lags it. (A
    // median / MAD z-score alone stays below ~1.4 sigma on a linear slope,
    // so it is the CUSUM that trips.)
    let plain = run_at(&cfg(SignalKind::Other), points.clone());
    assert!(plain.started.len() >= 5, "{:?}", plain.started.len());
}

#[test]
fn seasonal_catches_a_trough_spike_that_would_be_normal_at_a_peak() {
    let mut points = daily_sinusoid(10, &mut Lcg(22));
    // day 8: the trough is at 18:00 (value ~50), the peak at 06:00 (~150)
    let trough = 8 * 1_440 + 1_080;
    let peak = 8 * 1_440 + 360;
    for i in 0..3 {
        points[trough + i].1 = 150.0;
        points[peak + i].1 = 150.0;
    }
    let r = run_at(&seasonal_cfg(DetectorKind::Seasonal), points);
    assert_eq!(r.started.len(), 1, "{:?}", r.started);
    let (i, a) = &r.started[0];
    assert_eq!(*i, trough + 1);
    assert_eq!(a.detector, "seasonal");
    assert_eq!(a.direction, Direction::Up);
    assert!((a.baseline - 50.0).abs() < 3.0, "baseline {}", a.baseline);
    assert!(
        a.why.contains("seasonal median for slot 37 of 48"),
        "{}",
        a.why
    );
    assert!(
        r.ended.len() == 1 && r.ended[0].0 == trough + 5,
        "{:?}",
        r.ended
    );
}

#[test]
fn changepoint_finds_a_small_sustained_shift_and_its_onset() {
    // +2.5 sigma: below the robust threshold of 5, plain robust misses it
    let mut n = Lcg(31);
    let t = 1_000;
    let values: Vec<f64> = (0..1_400)
        .map(|i| 100.0 + 5.0 * n.gauss() + if i >= t { 12.5 } else { 0.0 })
        .collect();
    let robust = run(
        &DetectorConfig {
            kind: DetectorKind::Robust,
            ..cfg(SignalKind::Other)
        },
        &values,
    );
    assert!(robust.started.is_empty(), "{:?}", robust.started);
    let cp_cfg = DetectorConfig {
        kind: DetectorKind::Changepoint,
        ..cfg(SignalKind::Other)
    };
    let r = run(&cp_cfg, &values);
    assert!(!r.started.is_empty());
    let (i, a) = &r.started[0];
    assert!((t..t + 20).contains(i), "detected at {i}");
    assert!(
        (a.onset_ms - ts(t)).abs() <= 3 * STEP_MS,
        "onset off by {} points",
        (a.onset_ms - ts(t)) / STEP_MS
    );
    assert!(a.onset_ms < a.detected_ms);
    assert_eq!(a.detector, "changepoint");
    assert!(a.why.contains("level shift since"), "{}", a.why);
}

#[test]
fn changepoint_finds_a_slow_latency_ramp_before_it_gets_large() {
    // 100 ms rising 1 ms per point from t: +50% (the minimum) after 50
    // points, while every single point stays close to its recent past
    let mut n = Lcg(41);
    let t = 1_000;
    let values: Vec<f64> = (0..1_400)
        .map(|i| {
            let ramp = if i >= t { (i - t) as f64 * 0.001 } else { 0.0 };
            0.100 * (1.0 + 0.02 * n.gauss()) + ramp
        })
        .collect();
    let r = run(
        &DetectorConfig {
            kind: DetectorKind::Changepoint,
            ..cfg(SignalKind::Latency)
        },
        &values,
    );
    assert!(!r.started.is_empty());
    let (i, a) = &r.started[0];
    assert!((t + 50..t + 120).contains(i), "detected at {i}");
    let onset = (a.onset_ms - ts(0)) / STEP_MS;
    assert!(
        (t as i64 - 5..t as i64 + 40).contains(&onset),
        "onset at point {onset}"
    );
    assert!(a.onset_ms < a.detected_ms - 20 * STEP_MS, "{a:?}");
}

#[test]
fn non_finite_points_are_skipped_without_changing_the_outcome() {
    let mut n = Lcg(51);
    let clean: Vec<(i64, f64)> = (0..600)
        .map(|i| {
            let x = at_rest(SignalKind::ErrorRatio, &mut n) + if i >= 400 { 0.2 } else { 0.0 };
            (ts(i), x)
        })
        .collect();
    let mut holey = Vec::new();
    for (i, p) in clean.iter().enumerate() {
        if i % 3 == 0 {
            holey.push((p.0 - 1, f64::NAN));
        }
        if i % 7 == 0 {
            holey.push((p.0 - 2, f64::INFINITY));
        }
        holey.push(*p);
    }
    let c = &cfg(SignalKind::ErrorRatio);
    let a = run_at(c, clean);
    let b = run_at(c, holey.iter().copied());
    let kept: Vec<&Verdict> = b
        .verdicts
        .iter()
        .zip(&holey)
        .filter(|(_, p)| p.1.is_finite())
        .map(|(v, _)| v)
        .collect();
    assert_eq!(kept, a.verdicts.iter().collect::<Vec<_>>());
    assert_eq!(a.started.len(), 1);
    for (v, p) in b.verdicts.iter().zip(&holey) {
        if !p.1.is_finite() {
            assert_eq!(v.score, 0.0);
            assert!(v.started.is_none() && v.ended.is_none());
        }
    }
}

#[test]
fn out_of_order_and_repeated_timestamps_are_ignored() {
    let c = cfg(SignalKind::ErrorRatio);
    let mut d = SeriesDetector::new(&c).unwrap();
    for i in 0..100 {
        d.observe(ts(i), 0.0);
    }
    // a late burst of errors must not open anything
    for i in 0..10 {
        let v = d.observe(ts(50 + i), 0.9);
        assert_eq!(v, Verdict::quiet(State::Normal));
        let v = d.observe(ts(99), 0.9);
        assert_eq!(v, Verdict::quiet(State::Normal));
    }
    assert_eq!(d.state(), State::Normal);
}

#[test]
fn memory_is_fixed_at_construction() {
    for c in [
        cfg(SignalKind::Latency),
        cfg(SignalKind::Other),
        seasonal_cfg(DetectorKind::Auto),
    ] {
        let mut d = build(&c).unwrap();
        let before = d.memory_bytes();
        let mut n = Lcg(61);
        for i in 0..1_000_000 {
            let fault = if i % 50_000 > 45_000 { 10.0 } else { 0.0 };
            d.observe(ts(i), at_rest(SignalKind::Other, &mut n) + fault);
        }
        assert_eq!(d.memory_bytes(), before, "{:?}", c.kind);
        assert!(before < 16 * 1024, "{} bytes", before);
    }
}

#[test]
fn an_anomaly_ends_when_the_value_returns_to_baseline() {
    let values: Vec<f64> = (0..400)
        .map(|i| if (200..220).contains(&i) { 0.3 } else { 0.0 })
        .collect();
    let r = run(&cfg(SignalKind::ErrorRatio), &values);
    assert_eq!(r.started.len(), 1);
    assert_eq!(r.ended.len(), 1, "{:?}", r.ended);
    let (i, e) = &r.ended[0];
    assert_eq!(*i, 222, "clear 3: the third point back");
    assert_eq!(e.reason, EndReason::Recovered);
    assert_eq!(e.ended_ms, ts(222));
    assert!(e.why.contains("back near baseline 0.00"), "{}", e.why);
    for (k, v) in r.verdicts.iter().enumerate() {
        let want = if (201..222).contains(&k) {
            State::Anomalous
        } else {
            State::Normal
        };
        assert_eq!(v.state, want, "point {k}");
    }
}

#[test]
fn the_baseline_freezes_during_an_anomaly_then_accepts_a_long_shift() {
    // error ratio 0.01 -> 0.25 for good; 30 minutes = 360 points at 5 s
    let mut n = Lcg(71);
    let t = 300;
    let values: Vec<f64> = (0..1_200)
        .map(|i| {
            let x = at_rest(SignalKind::ErrorRatio, &mut n);
            if (t..900).contains(&i) {
                x + 0.24
            } else if i >= 900 {
                x + 0.5
            } else {
                x
            }
        })
        .collect();
    let r = run(&cfg(SignalKind::ErrorRatio), &values);
    // frozen: still anomalous long after the window (120 points) would
    // have been flooded by the new level
    assert!(
        r.verdicts[t + 1..t + 359]
            .iter()
            .all(|v| v.state == State::Anomalous)
    );
    let (i, e) = &r.ended[0];
    assert_eq!(*i, t + 360);
    assert_eq!(e.reason, EndReason::Rebaselined);
    assert!(
        e.why.starts_with(
            "accepted error ratio 0.25 as the new baseline after 30m of persistent shift (was 0.0"
        ),
        "{}",
        e.why
    );
    // the new level is now normal ...
    assert!(
        r.verdicts[t + 361..900]
            .iter()
            .all(|v| v.state == State::Normal)
    );
    // ... and a further rise is judged against it
    assert_eq!(r.started.len(), 2, "{:?}", r.started);
    let (i, a) = &r.started[1];
    assert_eq!(*i, 901);
    assert!((a.baseline - 0.25).abs() < 0.01, "{}", a.baseline);
}

#[test]
fn no_rebaseline_when_disabled() {
    let values: Vec<f64> = (0..2_000)
        .map(|i| if i < 100 { 0.0 } else { 0.3 })
        .collect();
    let c = DetectorConfig {
        rebaseline_after: 0,
        ..cfg(SignalKind::ErrorRatio)
    };
    let r = run(&c, &values);
    assert_eq!(r.started.len(), 1);
    assert!(r.ended.is_empty());
}

#[test]
fn same_input_same_output() {
    let points = daily_sinusoid(3, &mut Lcg(81));
    let c = seasonal_cfg(DetectorKind::Auto);
    let a = run_at(&c, points.clone());
    let b = run_at(&c, points);
    assert_eq!(a.verdicts, b.verdicts);
}

#[test]
fn verdicts_serialize() {
    let values: Vec<f64> = (0..60).map(|i| if i < 40 { 0.0 } else { 0.5 }).collect();
    let r = run(&cfg(SignalKind::ErrorRatio), &values);
    let v = &r.verdicts[r.started[0].0];
    let json = serde_json::to_value(v).unwrap();
    assert_eq!(json["state"], "anomalous");
    assert_eq!(json["started"]["direction"], "up");
    assert_eq!(json["started"]["detector"], "robust");
}

fn any_config() -> impl Strategy<Value = DetectorConfig> {
    (0..ALL_SIGNALS.len(), 0..5usize, 8..40usize, 1..4usize).prop_map(
        |(signal, kind, window, confirm)| {
            let mut c = cfg(ALL_SIGNALS[signal]);
            c.window = window;
            c.warmup = 3;
            c.confirm = confirm;
            c.rebaseline_after = 60_000;
            match kind {
                0 => c.kind = DetectorKind::Robust,
                1 => c.kind = DetectorKind::Changepoint,
                2 => {
                    c.kind = DetectorKind::Seasonal;
                    c.season = Some(SeasonConfig {
                        period: 60_000,
                        slots: 6,
                        periods: 2,
                    });
                }
                3 => {
                    c.kind = DetectorKind::Auto;
                    c.season = Some(SeasonConfig {
                        period: 30_000,
                        slots: 3,
                        periods: 3,
                    });
                }
                _ => c.kind = DetectorKind::Auto,
            }
            c
        },
    )
}

fn any_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        prop::num::f64::ANY,
        -1e3..1e3f64,
        Just(0.0),
        Just(f64::MAX),
        Just(f64::MIN),
        Just(f64::MIN_POSITIVE),
    ]
}

fn any_ts() -> impl Strategy<Value = i64> {
    prop_oneof![any::<i64>(), 0..10_000i64, Just(i64::MAX), Just(i64::MIN)]
}

proptest! {
    #[test]
    fn never_panics_and_scores_stay_in_range(
        c in any_config(),
        points in prop::collection::vec((any_ts(), any_value()), 0..400),
        ordered in prop::collection::vec(any_value(), 0..400),
    ) {
        let mut d = build(&c).unwrap();
        let bytes = d.memory_bytes();
        let start = 1_000i64;
        let steps = ordered.iter().enumerate().map(|(i, x)| (start + i as i64 * 1_000, *x));
        for (t, x) in steps.chain(points) {
            let v = d.observe(t, x);
            prop_assert!((0.0..=1.0).contains(&v.score), "score {}", v.score);
            if let Some(a) = &v.started {
                prop_assert!(a.onset_ms <= a.detected_ms);
                prop_assert!(a.why.starts_with(|c: char| c.is_ascii_lowercase()), "{}", a.why);
            }
        }
        prop_assert_eq!(d.memory_bytes(), bytes);
    }
}

use super::*;

const STEP_MS: i64 = 300_000;

/// Deterministic noise in [-1, 1].
fn noise(state: &mut u64) -> f64 {
    *state = state
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    ((*state >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
}

fn noisy(n: usize, seed: u64) -> Vec<f64> {
    let mut state = seed;
    (0..n).map(|_| 50.0 + 2.0 * noise(&mut state)).collect()
}

fn run(values: &[f64]) -> Vec<f64> {
    let mut d = NabDetector::new();
    values
        .iter()
        .enumerate()
        .map(|(i, v)| d.observe(i as i64 * STEP_MS, *v))
        .collect()
}

/// The score an alarm (4 deviations) maps to.
fn alarm_score() -> f64 {
    alarm::ALARM / (alarm::ALARM + OUTPUT_SCALE)
}

#[test]
fn scores_are_in_unit_range_and_replay_identically() {
    let mut values = noisy(3000, 7);
    values[2000] = 90.0;
    let a = run(&values);
    let b = run(&values);
    assert_eq!(a, b);
    assert!(a.iter().all(|s| (0.0..1.0).contains(s)));
    assert!(a[..WARMUP - 1].iter().all(|s| *s == 0.0));
}

#[test]
fn a_spike_in_calm_noise_is_one_alarm() {
    let mut values = noisy(3000, 11);
    values[2000] = 90.0;
    let scores = run(&values);
    assert!(
        scores[2000] >= alarm_score(),
        "spike scored {}",
        scores[2000]
    );
    // the points right after it are held back
    assert!(scores[2001..2031].iter().all(|s| *s < alarm_score()));
}

#[test]
fn steady_noise_rarely_alarms() {
    let values = noisy(6000, 3);
    let scores = run(&values);
    let alarms = scores[1000..]
        .iter()
        .filter(|s| **s >= alarm_score())
        .count();
    assert!(alarms <= 5, "{alarms} alarms in 5000 points of plain noise");
}

#[test]
fn a_level_shift_alarms_within_a_few_points() {
    let mut values = noisy(3000, 5);
    for v in &mut values[2000..] {
        *v += 12.0;
    }
    let scores = run(&values);
    let first = scores[2000..]
        .iter()
        .position(|s| *s >= alarm_score())
        .expect("the shift raises an alarm");
    assert!(first <= 5, "alarm {first} points after the shift");
}

#[test]
fn a_drop_in_the_daily_plateau_alarms() {
    // ten days of a square wave (high 08:00-20:00) with a little noise;
    // on day 8 the plateau drops to 40 from 14:00 to 16:00
    let per_day = (86_400_000 / STEP_MS) as usize;
    let mut state = 1;
    let values: Vec<f64> = (0..per_day * 10)
        .map(|i| {
            let minute = (i as i64 * STEP_MS / 60_000) % 1440;
            let high = (480..1200).contains(&minute);
            let dropped = i / per_day == 8 && (840..960).contains(&minute);
            let level = if dropped {
                40.0
            } else if high {
                80.0
            } else {
                20.0
            };
            level + noise(&mut state)
        })
        .collect();
    let scores = run(&values);
    let onset = per_day * 8 + 14 * 12;
    assert!(
        scores[onset..onset + 6].iter().any(|s| *s >= alarm_score()),
        "the drop was not seen"
    );
    // the day before is quiet
    let day7 = per_day * 7;
    assert!(
        scores[day7..day7 + per_day]
            .iter()
            .all(|s| *s < alarm_score())
    );
}

#[test]
fn non_finite_values_score_zero_and_change_nothing() {
    let values = noisy(500, 9);
    let mut clean = NabDetector::new();
    let mut dirty = NabDetector::new();
    for (i, v) in values.iter().enumerate() {
        let ts = i as i64 * STEP_MS;
        if i % 50 == 0 {
            assert_eq!(dirty.observe(ts, f64::NAN), 0.0);
            assert_eq!(dirty.observe(ts, f64::INFINITY), 0.0);
        }
        assert_eq!(clean.observe(ts, *v), dirty.observe(ts, *v));
    }
}

#[test]
fn memory_stops_growing() {
    let mut d = NabDetector::new();
    let values = noisy(20_000, 13);
    for (i, v) in values.iter().enumerate().take(1000) {
        d.observe(i as i64 * STEP_MS, *v);
    }
    let after_warmup = d.heap_bytes();
    for (i, v) in values.iter().enumerate().skip(1000) {
        d.observe(i as i64 * STEP_MS, *v);
    }
    assert_eq!(d.heap_bytes(), after_warmup);
    assert!(after_warmup < 200_000);
}

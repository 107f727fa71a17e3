//! Properties the scores must have whatever the numbers.

// helpers outside #[test] functions unwrap too: a failed setup is a failed test
#![allow(clippy::unwrap_used)]

use aiops_rca::{
    AlignOptions, Departure, Departures, Method, MetricFrame, RankOptions, SeriesInput, rank,
};
use proptest::prelude::*;

fn frame(columns: &[(String, Vec<f64>)]) -> MetricFrame {
    let points: Vec<Vec<(i64, f64)>> = columns
        .iter()
        .map(|(_, v)| {
            v.iter()
                .enumerate()
                .map(|(i, x)| (i as i64 * 1000, *x))
                .collect()
        })
        .collect();
    let inputs: Vec<SeriesInput<'_>> = columns
        .iter()
        .zip(&points)
        .map(|((service, _), points)| SeriesInput {
            service,
            metric: "m",
            points,
        })
        .collect();
    let align = AlignOptions {
        step_ms: 1000,
        origin_ms: 0,
        max_fill_steps: 0,
    };
    MetricFrame::from_series(&inputs, &align).unwrap()
}

fn plain() -> RankOptions {
    RankOptions {
        departures: Departures::all().without(Departure::SharedShift),
        ..RankOptions::default()
    }
}

proptest! {
    /// A robust z-score does not care about units or offsets: scaling a
    /// column by a > 0 and shifting it by b leaves its score unchanged.
    #[test]
    fn scores_are_unit_free(
        values in prop::collection::vec(-1e3f64..1e3, 12..40),
        a in 1e-3f64..1e3,
        b in -1e4f64..1e4,
        method in prop_oneof![Just(Method::Baro), Just(Method::Nsigma)],
    ) {
        let onset = (values.len() as i64 / 2) * 1000;
        let scaled: Vec<f64> = values.iter().map(|x| a * x + b).collect();
        let one = rank(&frame(&[("s".into(), values)]), onset, method, &plain());
        let two = rank(&frame(&[("s".into(), scaled)]), onset, method, &plain());
        match (one, two) {
            (Ok(one), Ok(two)) => {
                let (x, y) = (one.services[0].strength, two.services[0].strength);
                prop_assert!((x - y).abs() <= 1e-6 * x.abs().max(1.0), "{x} vs {y}");
            }
            // both constant-before-and-after, or neither
            (one, two) => prop_assert_eq!(one.is_err(), two.is_err()),
        }
    }

    /// The ranking depends on the data, not on the order columns came in.
    #[test]
    fn column_order_does_not_matter(
        columns in prop::collection::vec(prop::collection::vec(0f64..100.0, 16), 2..6),
        method in prop_oneof![Just(Method::Baro), Just(Method::Nsigma)],
    ) {
        let named: Vec<(String, Vec<f64>)> = columns
            .into_iter()
            .enumerate()
            .map(|(i, v)| (format!("svc{i}"), v))
            .collect();
        let mut reversed = named.clone();
        reversed.reverse();
        let one = rank(&frame(&named), 8_000, method, &RankOptions::default()).unwrap();
        let two = rank(&frame(&reversed), 8_000, method, &RankOptions::default()).unwrap();
        prop_assert_eq!(one.services, two.services);
    }
}

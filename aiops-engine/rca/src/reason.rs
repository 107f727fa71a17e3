//! The sentence an operator reads next to a score, built from the same
//! numbers that made it.

use crate::Method;
use crate::baseline::{CHANGE_FLOOR, Scale};
use crate::score::{Direction, MetricScore};

/// Three significant digits, no trailing zeros; exponent form outside
/// 0.001..100000 so bytes and ratios both stay short.
pub fn number(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{}", if x == 0.0 { 0.0 } else { x });
    }
    let magnitude = x.abs().log10().floor();
    if !(-3.0..5.0).contains(&magnitude) {
        return format!("{x:.2e}");
    }
    let decimals = (2.0 - magnitude).max(0.0) as usize;
    let text = format!("{x:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

fn metric_words(metric: &str) -> String {
    metric.replace('_', " ")
}

pub(crate) fn explain(method: Method, score: &MetricScore) -> String {
    let metric = metric_words(&score.metric);
    let b = &score.baseline;
    let center_name = match method {
        Method::Baro => "median",
        Method::Nsigma => "mean",
    };
    let side = match score.direction {
        Direction::Up => "above",
        Direction::Down => "below",
    };
    // with a shared shift the move is measured from the shifted level, and
    // "below its median" would misread a value that rose less than the rest
    let (reference, values) = match score.shared_shift {
        None => (
            format!("its pre-onset {center_name}"),
            format!("{} -> {}", number(b.center), number(score.extreme)),
        ),
        Some(_) => (
            "its expected level".to_owned(),
            format!(
                "{} -> {}, against {}",
                number(b.center),
                number(score.extreme),
                number(score.expected)
            ),
        ),
    };
    let mut text = match b.scale_kind {
        Scale::ChangeFloor => {
            let moved = match score.direction {
                Direction::Up => "rose to",
                Direction::Down => "fell to",
            };
            let against = if score.peer_scale.is_some() {
                String::new()
            } else {
                format!(
                    " against {}% of the larger of its level and its change",
                    number(CHANGE_FLOOR * 100.0)
                )
            };
            format!(
                "{metric} was constant at {} before the onset, then {moved} {} (scored {:.1}{against})",
                number(b.center),
                number(score.extreme),
                score.score,
            )
        }
        Scale::Unit => format!(
            "{metric} {} {side} {reference} in its own units ({values}; its scale was 0, which RCAEval replaces by 1)",
            number(score.score.abs()),
        ),
        Scale::Excursion => format!(
            "{metric} {:.1} times its largest pre-onset distance from its median, {side} {reference} ({values}; its IQR was 0)",
            score.score,
        ),
        Scale::Iqr | Scale::Std => {
            let unit = match (b.scale_kind, score.score.abs() == 1.0) {
                (Scale::Iqr, false) => "IQRs",
                (Scale::Iqr, true) => "IQR",
                (_, false) => "standard deviations",
                (_, true) => "standard deviation",
            };
            format!(
                "{metric} {:.1} {unit} {side} {reference} ({values})",
                score.score.abs(),
            )
        }
    };
    if let Some(peer) = score.peer_scale {
        text.push_str(&format!(
            "; scaled by {}, the median largest pre-onset excursion of {metric} over {} services, as its own was smaller",
            number(peer.scale),
            peer.services,
        ));
    }
    if let Some(shift) = score.shared_shift {
        text.push_str(&format!(
            "; expected: its pre-onset {center_name} moved {:+.0}%, the median change of {metric} over {} services (a shared cause such as load); {:.1} from the {center_name} itself",
            shift.relative * 100.0,
            shift.services,
            score.raw_deviation.abs(),
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::number;

    #[test]
    fn numbers_keep_three_significant_digits() {
        assert_eq!(number(0.0), "0");
        assert_eq!(number(0.012), "0.012");
        assert_eq!(number(0.8123), "0.812");
        assert_eq!(number(14.26), "14.3");
        assert_eq!(number(250.0), "250");
        assert_eq!(number(-3.5), "-3.5");
        assert_eq!(number(123_456_789.0), "1.23e8");
        assert_eq!(number(0.000_2), "2.00e-4");
    }
}

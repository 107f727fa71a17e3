//! The load plan: arrival rate over time, as steps.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Journeys started per second.
    pub rate: f64,
    pub duration: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoadPlan {
    pub steps: Vec<Step>,
}

impl LoadPlan {
    pub fn constant(rate: f64, duration: Duration) -> Self {
        Self {
            steps: vec![Step { rate, duration }],
        }
    }

    /// Parses `RATE@DURATION,...`, e.g. `5@60s,10@2m,5@30s`. Durations take
    /// `ms`, `s`, `m` or `h`.
    pub fn parse_steps(spec: &str) -> Result<Self, String> {
        let mut steps = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (rate, duration) = part
                .split_once('@')
                .ok_or_else(|| format!("step {part:?} is not RATE@DURATION (e.g. 5@60s)"))?;
            let rate: f64 = rate
                .trim()
                .parse()
                .map_err(|_| format!("step {part:?}: rate {rate:?} is not a number"))?;
            if !(rate.is_finite() && rate > 0.0 && rate <= 10_000.0) {
                return Err(format!(
                    "step {part:?}: rate must be within (0, 10000] journeys per second"
                ));
            }
            steps.push(Step {
                rate,
                duration: parse_duration(duration)?,
            });
        }
        if steps.is_empty() {
            return Err("no steps given".into());
        }
        if steps.len() > 1000 {
            return Err("at most 1000 steps".into());
        }
        Ok(Self { steps })
    }

    pub fn total_duration(&self) -> Duration {
        self.steps.iter().map(|s| s.duration).sum()
    }
}

/// `500ms`, `30s`, `2m`, `1h`; a bare number is seconds.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let (number, unit) = match raw.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => raw.split_at(i),
        None => (raw, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("duration {raw:?} is not a number with ms, s, m or h"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("duration {raw:?}: unit must be ms, s, m or h")),
    };
    if !(seconds.is_finite() && seconds > 0.0 && seconds <= 7.0 * 86_400.0) {
        return Err(format!(
            "duration {raw:?} must be positive and at most a week"
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_parse_and_bad_ones_say_why() {
        let plan = LoadPlan::parse_steps("5@60s, 10@2m,2.5@500ms").expect("valid");
        assert_eq!(plan.steps.len(), 3);
        assert_eq!(
            plan.steps[1],
            Step {
                rate: 10.0,
                duration: Duration::from_secs(120)
            }
        );
        assert_eq!(plan.total_duration(), Duration::from_millis(180_500));
        for bad in ["", "5", "x@1s", "5@", "5@1y", "-1@1s", "0@1s", "5@0s"] {
            assert!(LoadPlan::parse_steps(bad).is_err(), "{bad:?} accepted");
        }
    }
}

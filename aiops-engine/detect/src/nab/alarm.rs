//! What turns evidence into an output: a point is reported only when its
//! evidence beats the decaying memory of the evidence before it, and after
//! an alarm the detector stays quiet for a while. NAB counts only the
//! first detection in a window and charges every detection outside one,
//! and an operator wants one page per event, not one per point.

/// Evidence (in deviations) that makes an alarm and starts the quiet time.
pub(crate) const ALARM: f64 = 4.0;
/// Points of quiet after an alarm, by default.
pub(crate) const QUIET: usize = 30;
/// Per point, the memory of earlier evidence fades by this fraction, by
/// default.
pub(crate) const FADE: f64 = 0.01;

#[derive(Debug, Clone)]
pub(crate) struct Refractory {
    memory: f64,
    quiet: usize,
    quiet_for: usize,
    fade: f64,
}

impl Default for Refractory {
    fn default() -> Self {
        Self::new(QUIET, FADE)
    }
}

impl Refractory {
    pub(crate) fn new(quiet_for: usize, fade: f64) -> Self {
        Refractory {
            memory: 0.0,
            quiet: 0,
            quiet_for,
            fade: fade.clamp(0.0, 1.0),
        }
    }

    /// The evidence to report for this point (0 when held back).
    pub(crate) fn update(&mut self, evidence: f64) -> f64 {
        let mut report = if evidence > self.memory {
            evidence
        } else {
            0.0
        };
        self.memory = (self.memory * (1.0 - self.fade)).max(evidence);
        if self.quiet > 0 {
            self.quiet -= 1;
            report = 0.0;
        } else if report >= ALARM {
            self.quiet = self.quiet_for;
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_report_per_event() {
        let mut r = Refractory::default();
        assert_eq!(r.update(1.0), 1.0);
        // rising evidence: the first alarm is reported, the rest held back
        assert_eq!(r.update(5.0), 5.0);
        assert_eq!(r.update(6.0), 0.0);
        for _ in 0..QUIET {
            r.update(0.0);
        }
        // after the quiet time the memory has faded: a new alarm shows
        assert_eq!(r.update(5.0), 5.0);
    }

    #[test]
    fn evidence_below_recent_evidence_is_not_reported() {
        let mut r = Refractory::default();
        r.update(3.0);
        assert_eq!(r.update(2.5), 0.0);
        assert!(r.update(3.5) > 0.0);
    }
}

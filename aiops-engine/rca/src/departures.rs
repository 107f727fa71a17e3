//! Where this crate's scoring departs from RCAEval's BARO and n-sigma,
//! each departure on its own switch, so `aiops eval rca --ablate` can
//! weigh what each is worth on a case set and the engine can keep only
//! those that earn their place.
//!
//! With none of them, [`crate::rank()`] scores as RCAEval does: sklearn's
//! scale of 1 where the IQR (or standard deviation) is 0, the largest
//! *signed* deviation after the onset, columns constant within either
//! window left out, and no look across services.

use std::fmt;
use std::str::FromStr;

/// One departure from RCAEval's scoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Departure {
    /// The largest *absolute* deviation after the onset, its direction
    /// kept, instead of the largest signed one: a service that stops
    /// serving shows its fault as a fall.
    Absolute,
    /// A zero IQR over a pre-onset window that did vary (an idle series
    /// with rare blips) becomes the largest pre-onset excursion from the
    /// median, instead of sklearn's 1 in the column's own units.
    ZeroScale,
    /// Columns constant within one window are scored: one constant before
    /// the onset against a floor of its level and change
    /// ([`crate::Scale::ChangeFloor`]), one gone constant after it (a
    /// crash) as any other; only those constant at one value on both
    /// sides are left out. RCAEval leaves out every column constant in
    /// either window.
    KeepConstant,
    /// A column with no IQR of its own is not scaled finer than the same
    /// metric's pre-onset noise in other services ([`crate::PeerScale`]).
    PeerScale,
    /// A move most services' same metric shared (load) is taken out of
    /// the baseline ([`crate::SharedShift`]).
    SharedShift,
}

impl Departure {
    pub const ALL: [Departure; 5] = [
        Departure::Absolute,
        Departure::ZeroScale,
        Departure::KeepConstant,
        Departure::PeerScale,
        Departure::SharedShift,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Departure::Absolute => "absolute",
            Departure::ZeroScale => "zero-scale",
            Departure::KeepConstant => "keep-constant",
            Departure::PeerScale => "peer-scale",
            Departure::SharedShift => "shared-shift",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Departure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Departure {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Departure::ALL
            .into_iter()
            .find(|d| d.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Departure::ALL.iter().map(|d| d.name()).collect();
                format!("unknown departure {s:?} (one of {})", names.join(", "))
            })
    }
}

/// A set of [`Departure`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Departures(u8);

impl Departures {
    /// RCAEval's scoring.
    pub const fn none() -> Self {
        Departures(0)
    }

    pub fn all() -> Self {
        Departure::ALL.into_iter().fold(Self::none(), Self::with)
    }

    pub fn with(self, departure: Departure) -> Self {
        Departures(self.0 | departure.bit())
    }

    pub fn without(self, departure: Departure) -> Self {
        Departures(self.0 & !departure.bit())
    }

    pub fn has(self, departure: Departure) -> bool {
        self.0 & departure.bit() != 0
    }

    pub fn iter(self) -> impl Iterator<Item = Departure> {
        Departure::ALL.into_iter().filter(move |d| self.has(*d))
    }
}

impl Default for Departures {
    /// The engine's scoring: every departure. On the case sets
    /// `aiops eval rca --ablate` was run on (README, Evaluation), taking
    /// any of them out lost accuracy somewhere and gained it nowhere,
    /// except [`Departure::PeerScale`], which changed nothing there and
    /// stays because the live ranking's figures were measured with it.
    fn default() -> Self {
        Self::all()
    }
}

impl fmt::Display for Departures {
    /// `none`, or the names joined by `+`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("none");
        }
        let names: Vec<&str> = self.iter().map(Departure::name).collect();
        f.write_str(&names.join("+"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sets_combine() {
        for d in Departure::ALL {
            assert_eq!(d.name().parse::<Departure>(), Ok(d));
        }
        assert!("signed".parse::<Departure>().is_err());
        let some = Departures::none()
            .with(Departure::Absolute)
            .with(Departure::SharedShift);
        assert_eq!(some.to_string(), "absolute+shared-shift");
        assert!(!some.has(Departure::PeerScale));
        assert_eq!(
            Departures::all()
                .without(Departure::ZeroScale)
                .iter()
                .count(),
            4
        );
        assert_eq!(Departures::none().to_string(), "none");
    }
}

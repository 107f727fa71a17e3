//! Whether the last few values, each reduced to one of a few coarse
//! levels of the recent range, form a sequence the series has shown
//! before. A new shape (a flat stretch in a cycle, an oscillation in a
//! calm series) is new here even when every single value is ordinary.

const BINS: f64 = 8.0;
const ORDER: usize = 3;
const TABLE_BITS: u32 = 16;
/// What a never-seen sequence scores; a sequence seen n times scores
/// this over 1 + n.
pub(crate) const NEW: f64 = 20.0;

#[derive(Debug, Clone)]
pub(crate) struct SequenceNovelty {
    levels: [u8; ORDER],
    counts: Vec<u8>,
}

impl Default for SequenceNovelty {
    fn default() -> Self {
        SequenceNovelty {
            levels: [0; ORDER],
            counts: vec![0; 1 << TABLE_BITS],
        }
    }
}

impl SequenceNovelty {
    /// `low..=high` is the recent range; values outside it get levels of
    /// their own.
    pub(crate) fn update(&mut self, value: f64, low: f64, high: f64) -> f64 {
        let level = if high > low {
            ((value - low) / (high - low) * BINS)
                .floor()
                .clamp(-1.0, BINS)
                + 1.0
        } else if value > high {
            BINS + 1.0
        } else if value < low {
            0.0
        } else {
            1.0
        } as u8;
        self.levels.copy_within(1.., 0);
        self.levels[ORDER - 1] = level;
        // FNV-1a over the levels; collisions only make a sequence look
        // more familiar than it is
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for l in self.levels {
            h = (h ^ u64::from(l)).wrapping_mul(0x0100_0000_01b3);
        }
        let at = (h >> 16) as usize & ((1 << TABLE_BITS) - 1);
        let seen = self.counts[at];
        self.counts[at] = seen.saturating_add(1);
        NEW / (1.0 + f64::from(seen))
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.counts.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_cycle_becomes_familiar_and_a_new_shape_is_new() {
        let mut n = SequenceNovelty::default();
        let cycle = [0.0, 1.0, 2.0, 3.0, 2.0, 1.0];
        let mut last = 0.0;
        for i in 0..600 {
            last = n.update(cycle[i % 6], 0.0, 3.0);
        }
        assert!(last < 0.5);
        // a flat stretch at the top: levels never seen in a row
        n.update(3.0, 0.0, 3.0);
        assert_eq!(n.update(3.0, 0.0, 3.0), NEW);
    }
}

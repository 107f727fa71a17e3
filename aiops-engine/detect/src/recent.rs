//! The last points seen, learned or not. While an anomaly freezes the
//! baseline these are the only record of the new level, so when a shift has
//! lasted long enough to be accepted the baseline is rebuilt from them.

#[derive(Debug, Clone, Copy)]
pub(crate) struct Point {
    pub(crate) ts_ms: i64,
    pub(crate) value: f64,
    /// Value minus the seasonal level at the time; NaN when there was none.
    pub(crate) residual: f64,
}

#[derive(Debug, Clone)]
pub(crate) struct RecentPoints {
    ring: Box<[Point]>,
    head: usize,
    len: usize,
}

impl RecentPoints {
    pub(crate) fn new(capacity: usize) -> Self {
        RecentPoints {
            ring: vec![
                Point {
                    ts_ms: 0,
                    value: 0.0,
                    residual: f64::NAN
                };
                capacity.max(1)
            ]
            .into_boxed_slice(),
            head: 0,
            len: 0,
        }
    }

    pub(crate) fn push(&mut self, p: Point) {
        let cap = self.ring.len();
        self.ring[self.head] = p;
        self.head += 1;
        if self.head == cap {
            self.head = 0;
        }
        self.len = (self.len + 1).min(cap);
    }

    /// Points at or after `from_ms`, oldest first.
    pub(crate) fn since(&self, from_ms: i64) -> impl Iterator<Item = Point> + '_ {
        let cap = self.ring.len();
        let start = (self.head + cap - self.len) % cap;
        (0..self.len)
            .map(move |i| self.ring[(start + i) % cap])
            .filter(move |p| p.ts_ms >= from_ms)
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.ring.len() * size_of::<Point>()
    }
}

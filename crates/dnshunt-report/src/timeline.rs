//! Time buckets sized from the data's span while it streams by.
//!
//! The span of the input is unknown until the end, so the bucket width starts at one second
//! and steps up a ladder of widths (each dividing the next, so an old bucket always falls in
//! exactly one new one) whenever the events seen so far no longer fit in [`MAX_BUCKETS`]
//! buckets. Every series (total volume, NXDOMAIN, record types, per host, per process) is an
//! array of that many counters, remapped in place when the width grows: memory is fixed
//! whatever the input size.

/// Buckets per chart: enough for a readable chart 1,000 pixels wide.
pub const MAX_BUCKETS: usize = 240;

/// Bucket widths in seconds; after a day the width doubles.
const LADDER_S: [i64; 13] = [1, 5, 10, 30, 60, 300, 600, 1800, 3600, 10_800, 21_600, 43_200, 86_400];

/// One series: a counter per bucket.
pub type Row = Box<[u32; MAX_BUCKETS]>;

pub fn new_row() -> Row {
    Box::new([0; MAX_BUCKETS])
}

/// The current bucket layout: bucket `i` covers `[start + i·width, start + (i+1)·width)` ms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub start_ms: i64,
    pub width_ms: i64,
}

impl Layout {
    pub fn bucket_start(&self, i: usize) -> i64 {
        self.start_ms + i as i64 * self.width_ms
    }
}

/// The time axis of every series of a summary.
#[derive(Debug, Default)]
pub struct Timeline {
    layout: Option<Layout>,
    /// First and last event time seen (ms).
    min_ms: i64,
    max_ms: i64,
}

/// What a caller must do to its rows before using the returned index.
#[derive(Debug)]
pub enum Placed {
    Index(usize),
    /// The layout changed: remap every row from `old` to the current layout, then use `index`.
    Remapped {
        old: Layout,
        index: usize,
    },
}

impl Timeline {
    pub fn layout(&self) -> Option<Layout> {
        self.layout
    }

    /// The bucket of `t_ms`, growing the layout when `t_ms` falls outside it.
    pub fn place(&mut self, t_ms: i64) -> Placed {
        let Some(layout) = self.layout else {
            let width_ms = 1000;
            self.layout = Some(Layout {
                start_ms: t_ms.div_euclid(width_ms) * width_ms,
                width_ms,
            });
            self.min_ms = t_ms;
            self.max_ms = t_ms;
            return Placed::Index(0);
        };
        self.min_ms = self.min_ms.min(t_ms);
        self.max_ms = self.max_ms.max(t_ms);
        let offset = t_ms - layout.start_ms;
        if offset >= 0 && offset < layout.width_ms * MAX_BUCKETS as i64 {
            return Placed::Index((offset / layout.width_ms) as usize);
        }
        let mut width_ms = layout.width_ms;
        loop {
            let start_ms = self.min_ms.div_euclid(width_ms) * width_ms;
            if (self.max_ms - start_ms) / width_ms < MAX_BUCKETS as i64 {
                let new = Layout { start_ms, width_ms };
                self.layout = Some(new);
                let index = ((t_ms - start_ms) / width_ms) as usize;
                return Placed::Remapped { old: layout, index };
            }
            width_ms = next_width(width_ms);
        }
    }
}

fn next_width(width_ms: i64) -> i64 {
    let s = width_ms / 1000;
    LADDER_S.iter().find(|&&w| w > s).map_or(width_ms.saturating_mul(2), |w| w * 1000)
}

/// Moves the counts of `row` from the `old` layout to `new` (whose buckets each hold whole old
/// buckets).
pub fn remap(row: &mut [u32; MAX_BUCKETS], old: Layout, new: Layout) {
    let before = std::mem::replace(row, [0; MAX_BUCKETS]);
    for (i, n) in before.iter().enumerate().filter(|(_, n)| **n > 0) {
        let t = old.bucket_start(i);
        let j = (t - new.start_ms).div_euclid(new.width_ms);
        if let Ok(j) = usize::try_from(j) {
            if j < MAX_BUCKETS {
                row[j] = row[j].saturating_add(*n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_divide_each_other() {
        let mut w = 1000;
        for _ in 0..20 {
            let next = next_width(w);
            assert_eq!(next % w, 0, "{w} → {next}");
            w = next;
        }
    }

    #[test]
    fn grows_to_cover_the_span_and_keeps_counts() {
        let mut timeline = Timeline::default();
        let mut row = new_row();
        let base = 1_710_000_000_000i64;
        // Two hours, one event every 7 s, out of order by halves.
        let times: Vec<i64> = (0..1029).map(|i| base + i * 7000).collect();
        let (a, b) = times.split_at(500);
        for &t in b.iter().chain(a) {
            match timeline.place(t) {
                Placed::Index(i) => row[i] += 1,
                Placed::Remapped { old, index } => {
                    remap(&mut row, old, timeline.layout().unwrap());
                    row[index] += 1;
                }
            }
        }
        let layout = timeline.layout().unwrap();
        assert_eq!(row.iter().map(|&n| n as usize).sum::<usize>(), times.len());
        assert_eq!(layout.width_ms, 30_000, "two hours fit 240 buckets of 30 s");
        assert!(layout.start_ms <= base && layout.bucket_start(MAX_BUCKETS) > times[times.len() - 1]);
    }
}

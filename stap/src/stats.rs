//! Statistics aggregates (`<<<`) and their histograms, printed in SystemTap's layout.

/// Log histograms: 64 buckets for negative values, one for 0, 64 for positive ones.
const LOG_BUCKETS: usize = 128;
const LOG_BUCKET0: usize = 64;
/// The bar's width, SystemTap's HIST_WIDTH.
const WIDTH: u64 = 50;
/// Zero rows kept on each side of a run of zero rows before it is elided with `~`.
const ELISION: usize = 2;
/// SystemTap's STP_MAX_BUCKETS for linear histograms.
pub const MAX_LINEAR_BUCKETS: i64 = 128;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HistKind {
    Log,
    Linear { start: i64, stop: i64, interval: i64 },
}

impl HistKind {
    fn buckets(self) -> usize {
        match self {
            HistKind::Log => LOG_BUCKETS,
            // Underflow and overflow buckets around the range.
            HistKind::Linear { start, stop, interval } => ((stop - start) / interval + 3) as usize,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    pub count: i64,
    pub sum: i64,
    pub min: i64,
    pub max: i64,
    pub hist: Option<Box<[u64]>>,
}

impl Stat {
    pub fn new(hist: Option<HistKind>) -> Self {
        Stat { hist: hist.map(|k| vec![0u64; k.buckets()].into_boxed_slice()), ..Stat::default() }
    }

    #[inline]
    pub fn add(&mut self, v: i64, hist: Option<HistKind>) {
        if self.count == 0 {
            self.min = v;
            self.max = v;
        } else {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        self.count += 1;
        self.sum = self.sum.wrapping_add(v);
        if let (Some(kind), Some(buckets)) = (hist, self.hist.as_mut()) {
            let i = match kind {
                HistKind::Log => log_bucket(v),
                HistKind::Linear { start, interval, .. } => {
                    let off = v.wrapping_sub(start);
                    let i = if off < 0 { 0 } else { (off / interval) as usize + 1 };
                    i.min(buckets.len() - 1)
                }
            };
            buckets[i] += 1;
        }
    }

    pub fn avg(&self) -> i64 {
        if self.count == 0 {
            0
        } else {
            self.sum / self.count
        }
    }

    /// The histogram as SystemTap prints it (`value |---…--- count`, rows, a blank line).
    pub fn print_hist(&self, kind: HistKind, out: &mut String) {
        let empty = [0u64; 0];
        let h: &[u64] = self.hist.as_deref().unwrap_or(&empty);
        print_histogram(kind, h, out);
    }
}

/// The bucket of a log histogram: 64 for 0, 64 + k + 1 for 2^k ≤ v < 2^(k+1), mirrored below
/// 64 for negative values.
fn log_bucket(v: i64) -> usize {
    if v == 0 {
        return LOG_BUCKET0;
    }
    let mag = v.unsigned_abs();
    let bits = 64 - mag.leading_zeros() as usize;
    if v > 0 {
        (LOG_BUCKET0 + bits).min(LOG_BUCKETS - 1)
    } else {
        LOG_BUCKET0 - bits.min(LOG_BUCKET0)
    }
}

/// The lowest value of a log bucket.
fn log_value(i: usize) -> i64 {
    match i.cmp(&LOG_BUCKET0) {
        core::cmp::Ordering::Equal => 0,
        core::cmp::Ordering::Greater => 1i64 << (i - LOG_BUCKET0 - 1),
        core::cmp::Ordering::Less => i64::MIN >> i,
    }
}

fn digits(v: i64) -> usize {
    let mut n = if v < 0 { 1 } else { 0 };
    let mut m = v.unsigned_abs();
    if m == 0 {
        return 1;
    }
    while m > 0 {
        m /= 10;
        n += 1;
    }
    n
}

fn print_histogram(kind: HistKind, h: &[u64], out: &mut String) {
    use core::fmt::Write;
    let n = h.len();
    if n == 0 || h.iter().all(|&c| c == 0) {
        // Nothing was added: SystemTap prints only the header.
        let _ = writeln!(out, "value |{} count", "-".repeat(WIDTH as usize));
        out.push('\n');
        return;
    }
    let mut low = h.iter().position(|&c| c > 0).unwrap_or(0);
    let mut high = h.iter().rposition(|&c| c > 0).unwrap_or(0);
    let max = h.iter().copied().max().unwrap_or(0);
    // Up to two zero rows either side; a log histogram does not go negative unless it has
    // negative values.
    for _ in 0..2 {
        match kind {
            HistKind::Log => {
                if low != LOG_BUCKET0 && low > 0 {
                    low -= 1;
                }
            }
            HistKind::Linear { .. } => {
                low = low.saturating_sub(1);
            }
        }
        if high < n - 1 {
            high += 1;
        }
    }
    let (mut under, mut over) = (0, 0);
    if let HistKind::Linear { .. } = kind {
        if low == 0 && h[0] == 0 {
            low += 1;
        }
        if high == n - 1 && h[high] == 0 {
            high -= 1;
        }
        under = usize::from(low == 0);
        over = usize::from(high == n - 1);
    }
    let scale = if max <= WIDTH { 1 } else { max.div_ceil(WIDTH) };
    let cnt_space = digits(max as i64);
    let value = |i: usize| -> (i64, &'static str) {
        match kind {
            HistKind::Log => (log_value(i), ""),
            HistKind::Linear { start, interval, .. } => {
                if i == 0 {
                    (start, "<")
                } else if i == n - 1 {
                    (start + (i as i64 - 2) * interval, ">")
                } else {
                    (start + (i as i64 - 1) * interval, "")
                }
            }
        }
    };
    let val_space = match kind {
        HistKind::Linear { start, interval, .. } => {
            (digits(start) + under).max(digits(start + interval * high as i64) + over)
        }
        HistKind::Log => digits(log_value(high)).max(digits(log_value(low))),
    }
    .max(5);
    let _ = writeln!(out, "{:>val_space$} |{} count", "value", "-".repeat(WIDTH as usize));
    let mut eliding = false;
    for i in low..=high {
        let lo = i.saturating_sub(ELISION).max(low);
        let hi = (i + ELISION).min(high);
        if h[lo..=hi].iter().all(|&c| c == 0) {
            eliding = true;
            continue;
        }
        if eliding {
            let _ = writeln!(out, "{:>val_space$} ~", "");
            eliding = false;
        }
        let (v, prefix) = value(i);
        let _ = write!(out, "{:>w$}{v} |", prefix, w = val_space - digits(v));
        let bar = h[i] / scale;
        for _ in 0..bar {
            out.push('@');
        }
        let _ = writeln!(out, "{:>w$}", h[i], w = (WIDTH - bar + 1) as usize + cnt_space);
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_buckets() {
        assert_eq!(log_bucket(0), 64);
        assert_eq!(log_bucket(1), 65);
        assert_eq!(log_bucket(2), 66);
        assert_eq!(log_bucket(3), 66);
        assert_eq!(log_bucket(4), 67);
        assert_eq!(log_bucket(-1), 63);
        assert_eq!(log_value(65), 1);
        assert_eq!(log_value(67), 4);
        assert_eq!(log_value(63), -1);
        assert_eq!(log_value(62), -2);
        assert_eq!(log_bucket(i64::MAX), 127);
    }
}

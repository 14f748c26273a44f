//! Aggregations kept in the handler's own memory, printed as bpftrace prints its maps:
//! `count()`, `sum()`, `min()`, `max()`, `avg()`, `stats()`, `hist()` and `lhist()`, keyed
//! by anything [`Key`] (a pid, a command name, a string, a tuple, or `()` for none), with
//! bpftrace's `print(@m, N)` (sorted by value, the top N) and `clear()`/`zero()`/`delete()`.
//! Histograms also print in SystemTap's `@hist_log` / `@hist_linear` layout.
//!
//! ```ignore
//! use wprobe_sdk::agg::Agg;
//! let mut lat: Agg<ShortStr> = Agg::hist("@usecs");
//! lat.add(execname(), latency_ns()? as i64 / 1000);
//! // in `end`:
//! lat.print(0);
//! ```
//!
//! The C, Python and JavaScript SDKs implement the same rules and print the same bytes
//! (guest-sdk/c/src/wprobe_agg.c, guest-sdk/python/wprobe_agg.py, guest-sdk/js/agg.js).

use core::cmp::Ordering;
use core::fmt::{self, Write};
use core::hash::Hash;
use std::collections::HashMap;

/// SystemTap's log histogram: 128 buckets, 64 holds zero, 65 + k holds `[2^k, 2^(k+1))`,
/// 63 - k the negative values whose magnitude is in that range (0 holds `i64::MIN`).
/// bpftrace's 65 buckets (all negatives, zero, then powers of two) are sums of these.
const LOG_BUCKETS: usize = 128;
const LOG_ZERO: usize = 64;
/// bpftrace's limit on `lhist()` buckets.
const MAX_LINEAR_BUCKETS: i64 = 1000;
/// bpftrace's bar width; SystemTap's.
const BPF_BAR: usize = 52;
const STAP_BAR: u64 = 50;

/// What an [`Agg`] computes for each key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Count,
    Sum,
    Min,
    Max,
    Avg,
    Stats,
    /// Power-of-two histogram, bpftrace's `hist()`.
    Hist,
    /// Linear histogram, bpftrace's `lhist(v, min, max, step)`.
    Lhist {
        min: i64,
        max: i64,
        step: i64,
    },
}

/// `lhist()` parameters bpftrace would refuse; the message is bpftrace's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggError(pub String);

impl fmt::Display for AggError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AggError {}

impl From<AggError> for String {
    fn from(e: AggError) -> String {
        e.0
    }
}

/// A map key, printed between `[` `]` as bpftrace prints it: numbers in decimal, strings as
/// they are, tuples joined by `, `, `()` as no brackets at all. Ties in value print in key
/// order (`cmp_key`): numbers by value, strings by bytes, tuples element by element.
pub trait Key: Eq + Hash + Clone {
    fn write_key(&self, out: &mut String);
    fn cmp_key(&self, other: &Self) -> Ordering;
    /// `()`: the map is a single value, printed `@name: value`.
    fn is_unit() -> bool {
        false
    }
}

macro_rules! ord_keys {
    ($($t:ty),*) => {$(
        impl Key for $t {
            fn write_key(&self, out: &mut String) {
                let _ = write!(out, "{self}");
            }
            fn cmp_key(&self, other: &Self) -> Ordering {
                self.cmp(other)
            }
        }
    )*};
}
ord_keys!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize, String, &'static str);

impl Key for crate::ShortStr {
    fn write_key(&self, out: &mut String) {
        out.push_str(self);
    }
    fn cmp_key(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Key for () {
    fn write_key(&self, _: &mut String) {}
    fn cmp_key(&self, _: &Self) -> Ordering {
        Ordering::Equal
    }
    fn is_unit() -> bool {
        true
    }
}

macro_rules! tuple_keys {
    ($(($($n:tt $t:ident),+)),*) => {$(
        impl<$($t: Key),+> Key for ($($t,)+) {
            fn write_key(&self, out: &mut String) {
                $(
                    if $n > 0 {
                        out.push_str(", ");
                    }
                    self.$n.write_key(out);
                )+
            }
            fn cmp_key(&self, other: &Self) -> Ordering {
                Ordering::Equal $(.then_with(|| self.$n.cmp_key(&other.$n)))+
            }
        }
    )*};
}
tuple_keys!((0 A, 1 B), (0 A, 1 B, 2 C), (0 A, 1 B, 2 C, 3 D));

/// One key's state: every kind keeps the same few numbers, and histograms their buckets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    count: u64,
    total: i64,
    min: i64,
    max: i64,
    buckets: Vec<u64>,
}

impl Entry {
    /// Values added (what `count()` prints; a histogram's total count).
    pub fn count(&self) -> u64 {
        self.count
    }
    /// Their sum, wrapping at 64 bits as bpftrace's does.
    pub fn sum(&self) -> i64 {
        self.total
    }
    /// The smallest value added; 0 before any (as bpftrace prints a zeroed min).
    pub fn min(&self) -> i64 {
        self.min
    }
    pub fn max(&self) -> i64 {
        self.max
    }
    /// `sum / count` rounded toward zero, 0 before any value (bpftrace's `avg()`).
    pub fn avg(&self) -> i64 {
        if self.count == 0 {
            0
        } else {
            // The count is taken as signed, as bpftrace does.
            self.total.wrapping_div(self.count as i64)
        }
    }

    fn add(&mut self, kind: Kind, v: i64) {
        if self.count == 0 || v < self.min {
            self.min = v;
        }
        if self.count == 0 || v > self.max {
            self.max = v;
        }
        self.count += 1;
        self.total = self.total.wrapping_add(v);
        match kind {
            Kind::Hist => self.buckets[log_bucket(v)] += 1,
            Kind::Lhist { min, step, .. } => {
                let last = self.buckets.len() - 1;
                let i = if v < min { 0 } else { (((v - min) / step) as u64 + 1).min(last as u64) as usize };
                self.buckets[i] += 1;
            }
            _ => {}
        }
    }

    fn zero(&mut self) {
        self.count = 0;
        self.total = 0;
        self.min = 0;
        self.max = 0;
        self.buckets.iter_mut().for_each(|b| *b = 0);
    }
}

/// SystemTap's log bucket of `v` (see [`LOG_BUCKETS`]).
fn log_bucket(v: i64) -> usize {
    let k = |u: u64| 63 - u.leading_zeros() as usize;
    match v.cmp(&0) {
        Ordering::Equal => LOG_ZERO,
        Ordering::Greater => LOG_ZERO + 1 + k(v as u64),
        Ordering::Less => LOG_ZERO - 1 - k(v.unsigned_abs()),
    }
}

/// Linear buckets, SystemTap's way: under `min`, `(max - min) / step + 1` steps from `min`
/// (one past `max`, as `@hist_linear` has), over. bpftrace's `lhist` folds the last two.
fn linear_buckets(min: i64, max: i64, step: i64) -> usize {
    ((max - min) / step) as usize + 3
}

/// Checks `lhist()` parameters as bpftrace 0.17 does, with its words.
fn check_lhist(min: i64, max: i64, step: i64) -> Result<(), AggError> {
    let e = |s: String| Err(AggError(s));
    if step <= 0 {
        return e(format!("lhist() step must be >= 1 ({step} provided)"));
    }
    if min < 0 {
        return e(format!("lhist() min must be non-negative (provided min {min})"));
    }
    if min > max {
        return e(format!("lhist() min must be less than max (provided min {min} and max {max})"));
    }
    if max - min < step {
        return e(format!(
            "lhist() step is too large for the given range (provided step {step} for range {})",
            max - min
        ));
    }
    if (max - min) / step > MAX_LINEAR_BUCKETS {
        return e(format!("lhist() too many buckets, must be <= 1000 (would need {})", (max - min) / step));
    }
    Ok(())
}

/// A bpftrace map of one aggregation kind: `@name[key] = count()` and its siblings.
#[derive(Clone, Debug)]
pub struct Agg<K: Key = ()> {
    name: String,
    kind: Kind,
    entries: HashMap<K, Entry>,
}

impl<K: Key> Agg<K> {
    fn new(name: &str, kind: Kind) -> Self {
        Agg { name: name.to_string(), kind, entries: HashMap::new() }
    }
    /// `@name[key] = count()`. `name` is printed as given: `"@opens"`, or `"@"`.
    pub fn count(name: &str) -> Self {
        Self::new(name, Kind::Count)
    }
    pub fn sum(name: &str) -> Self {
        Self::new(name, Kind::Sum)
    }
    pub fn min(name: &str) -> Self {
        Self::new(name, Kind::Min)
    }
    pub fn max(name: &str) -> Self {
        Self::new(name, Kind::Max)
    }
    pub fn avg(name: &str) -> Self {
        Self::new(name, Kind::Avg)
    }
    /// `stats()`: count, average and total on one line.
    pub fn stats(name: &str) -> Self {
        Self::new(name, Kind::Stats)
    }
    /// `hist()`: power-of-two buckets.
    pub fn hist(name: &str) -> Self {
        Self::new(name, Kind::Hist)
    }
    /// `lhist(v, min, max, step)`, with bpftrace's checks of its parameters.
    pub fn lhist(name: &str, min: i64, max: i64, step: i64) -> Result<Self, AggError> {
        check_lhist(min, max, step)?;
        Ok(Self::new(name, Kind::Lhist { min, max, step }))
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Adds one value under `key` (a `count()` counts it, whatever it is). Values are
    /// signed 64-bit as in bpftrace: pass a `u64` with `as i64`, and `u64::MAX` is -1.
    pub fn add(&mut self, key: K, value: i64) {
        let kind = self.kind;
        match self.entries.get_mut(&key) {
            Some(e) => e.add(kind, value),
            None => {
                let mut e = Entry { buckets: vec![0; self.bucket_count()], ..Entry::default() };
                e.add(kind, value);
                self.entries.insert(key, e);
            }
        }
    }

    /// `add(key, 1)`: `@name[key] = count()`.
    pub fn inc(&mut self, key: K) {
        self.add(key, 1);
    }

    fn bucket_count(&self) -> usize {
        match self.kind {
            Kind::Hist => LOG_BUCKETS,
            Kind::Lhist { min, max, step } => linear_buckets(min, max, step),
            _ => 0,
        }
    }

    pub fn get(&self, key: &K) -> Option<&Entry> {
        self.entries.get(key)
    }

    /// bpftrace's `delete(@name[key])`.
    pub fn delete(&mut self, key: &K) -> bool {
        self.entries.remove(key).is_some()
    }

    /// bpftrace's `clear(@name)`: every key goes. A map without keys is zeroed instead, as
    /// bpftrace does, so it still prints `@name: 0`.
    pub fn clear(&mut self) {
        if K::is_unit() {
            self.zero();
        } else {
            self.entries.clear();
        }
    }

    /// bpftrace's `zero(@name)`: every key stays, with its value back to 0.
    pub fn zero(&mut self) {
        self.entries.values_mut().for_each(Entry::zero);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries as `print` orders them: by value ascending (a histogram by its total
    /// count, `avg`/`stats` by the average), ties by key.
    pub fn sorted(&self) -> Vec<(&K, &Entry)> {
        let mut rows: Vec<_> = self.entries.iter().collect();
        let kind = self.kind;
        rows.sort_by(|a, b| sort_value(kind, a.1).cmp(&sort_value(kind, b.1)).then_with(|| a.0.cmp_key(b.0)));
        rows
    }

    /// bpftrace's `print(@name, top)`: the `top` largest (all for 0), largest last.
    pub fn print(&self, top: usize) {
        crate::output::with_buffer(|out| self.write(top, out));
    }

    /// What `print` prints.
    pub fn text(&self, top: usize) -> String {
        let mut s = String::new();
        self.write(top, &mut s);
        s
    }

    fn write(&self, top: usize, out: &mut String) {
        let rows = self.sorted();
        let skip = if top > 0 && rows.len() > top { rows.len() - top } else { 0 };
        for (i, (key, e)) in rows.iter().skip(skip).enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(&self.name);
            if !K::is_unit() {
                out.push('[');
                key.write_key(out);
                out.push(']');
            }
            out.push_str(": ");
            let _ = match self.kind {
                Kind::Count => write!(out, "{}", e.count),
                Kind::Sum => write!(out, "{}", e.total),
                Kind::Min => write!(out, "{}", e.min),
                Kind::Max => write!(out, "{}", e.max),
                Kind::Avg => write!(out, "{}", e.avg()),
                Kind::Stats => write!(out, "count {}, average {}, total {}", e.count, e.avg(), e.total),
                Kind::Hist => {
                    out.push('\n');
                    write_bpf_table(out, &bpf_log_counts(&e.buckets), write_log_label)
                }
                Kind::Lhist { min, max, step } => {
                    out.push('\n');
                    let counts = bpf_linear_counts(&e.buckets);
                    let last = counts.len() - 1;
                    write_bpf_table(out, &counts, |out, i| write_linear_label(out, i, last, min, max, step))
                }
            };
        }
        out.push('\n');
        // bpftrace ends avg() and stats() maps with an empty line.
        if matches!(self.kind, Kind::Avg | Kind::Stats) {
            out.push('\n');
        }
    }

    /// SystemTap's `print(@hist_log(v))` / `print(@hist_linear(v, min, max, step))` of the
    /// histogram under `key`; nothing for another kind, a missing key, or no values
    /// (where SystemTap stops with "aggregate element not found").
    pub fn print_stap(&self, key: &K) {
        crate::output::with_buffer(|out| self.write_stap(key, out));
    }

    /// What `print_stap` prints.
    pub fn stap_text(&self, key: &K) -> String {
        let mut s = String::new();
        self.write_stap(key, &mut s);
        s
    }

    fn write_stap(&self, key: &K, out: &mut String) {
        let Some(e) = self.entries.get(key) else { return };
        match self.kind {
            Kind::Hist => write_stap_table(out, &e.buckets, None),
            Kind::Lhist { min, step, .. } => write_stap_table(out, &e.buckets, Some((min, step))),
            _ => {}
        }
    }
}

fn sort_value(kind: Kind, e: &Entry) -> i128 {
    match kind {
        Kind::Count | Kind::Hist | Kind::Lhist { .. } => e.count as i128,
        Kind::Sum => e.total as i128,
        Kind::Min => e.min as i128,
        Kind::Max => e.max as i128,
        Kind::Avg | Kind::Stats => e.avg() as i128,
    }
}

/// bpftrace's `hist()` buckets from SystemTap's: every negative value, zero, then
/// `[2^k, 2^(k+1))` for k = 0..62.
fn bpf_log_counts(b: &[u64]) -> Vec<u64> {
    let mut v = Vec::with_capacity(65);
    v.push(b[..LOG_ZERO].iter().sum());
    v.extend_from_slice(&b[LOG_ZERO..]);
    v
}

/// bpftrace's `lhist()` buckets: under `min`, the steps up to `max`, and `[max, ...)`,
/// which also holds SystemTap's extra step past `max`.
fn bpf_linear_counts(b: &[u64]) -> Vec<u64> {
    let n = b.len();
    let mut v = b[..n - 1].to_vec();
    v[n - 2] += b[n - 1];
    v
}

/// bpftrace's size label: `2^p` with K, M, G, T, P, E for each factor of 2^10.
fn write_pow2(out: &mut String, p: usize) {
    let _ = write!(out, "{}", 1u64 << (p % 10));
    if p >= 10 {
        out.push(b" KMGTPE"[p / 10] as char);
    }
}

fn write_log_label(out: &mut String, i: usize) {
    match i {
        0 => out.push_str("(..., 0)"),
        1 => out.push_str("[0]"),
        2 => out.push_str("[1]"),
        _ => {
            out.push('[');
            write_pow2(out, i - 2);
            out.push_str(", ");
            write_pow2(out, i - 1);
            out.push(')');
        }
    }
}

/// bpftrace 0.17's `lhist` label: a multiple of 1M or 1K with its suffix.
fn write_linear_number(out: &mut String, n: i64) {
    const K: i64 = 1024;
    const M: i64 = 1024 * 1024;
    let _ = if n != 0 && n % M == 0 {
        write!(out, "{}M", n / M)
    } else if n != 0 && n % K == 0 {
        write!(out, "{}K", n / K)
    } else {
        write!(out, "{n}")
    };
}

fn write_linear_label(out: &mut String, i: usize, last: usize, min: i64, max: i64, step: i64) {
    if i == 0 {
        out.push_str("(..., ");
        write_linear_number(out, min);
        out.push(')');
    } else if i == last {
        out.push('[');
        write_linear_number(out, max);
        out.push_str(", ...)");
    } else {
        out.push('[');
        write_linear_number(out, (i as i64 - 1) * step + min);
        out.push_str(", ");
        write_linear_number(out, i as i64 * step + min);
        out.push(')');
    }
}

/// bpftrace's histogram rows, from the first non-empty bucket to the last: the label
/// left-aligned in 16 columns, the count right-aligned in 8, and a bar of 52 columns whose
/// length is `count / max * 52` computed in single precision and truncated, as bpftrace does.
fn write_bpf_table(out: &mut String, counts: &[u64], label: impl Fn(&mut String, usize)) -> fmt::Result {
    let Some(first) = counts.iter().position(|&c| c > 0) else { return Ok(()) };
    let last = counts.iter().rposition(|&c| c > 0).unwrap_or(first);
    let max = counts.iter().copied().max().unwrap_or(0);
    let mut head = String::new();
    for (i, &c) in counts.iter().enumerate().take(last + 1).skip(first) {
        head.clear();
        label(&mut head, i);
        let bar = ((c as f32 / max as f32) * BPF_BAR as f32) as usize;
        writeln!(out, "{head:<16}{c:>8} |{:<w$}|", "@".repeat(bar), w = BPF_BAR)?;
    }
    Ok(())
}

/// Columns a decimal takes, sign included (SystemTap's `needed_space`).
fn digits(v: i64) -> usize {
    let mut n = if v < 0 { 1 } else { 0 };
    let mut u = v.unsigned_abs();
    loop {
        n += 1;
        u /= 10;
        if u == 0 {
            return n;
        }
    }
}

/// SystemTap's log bucket value: its lower bound's magnitude, signed.
fn stap_log_value(i: usize) -> i64 {
    match i.cmp(&LOG_ZERO) {
        Ordering::Equal => 0,
        Ordering::Greater => 1i64 << (i - LOG_ZERO - 1),
        Ordering::Less => i64::MIN >> i,
    }
}

/// SystemTap's histogram table (runtime/stat-common.c): two empty buckets of margin on
/// each side (a log histogram goes below zero only with negative values; a linear one shows
/// its under/overflow rows only when they count), runs of empty rows elided to `~`, bars
/// of at most 50 `@` scaled by `ceil(max / 50)`.
fn write_stap_table(out: &mut String, h: &[u64], linear: Option<(i64, i64)>) {
    let n = h.len();
    let Some(mut low) = h.iter().position(|&c| c > 0) else { return };
    let mut high = h.iter().rposition(|&c| c > 0).unwrap_or(low);
    let valmax = h.iter().copied().max().unwrap_or(0);
    for _ in 0..2 {
        if low > 0 && (linear.is_some() || low != LOG_ZERO) {
            low -= 1;
        }
        if high < n - 1 {
            high += 1;
        }
    }
    let (mut under, mut over) = (false, false);
    if linear.is_some() {
        if low == 0 && h[0] == 0 {
            low += 1;
        }
        if high == n - 1 && h[high] == 0 {
            high -= 1;
        }
        under = low == 0;
        over = high == n - 1;
    }
    let scale = if valmax <= STAP_BAR { 1 } else { valmax.div_ceil(STAP_BAR) };
    let cnt_space = digits(valmax as i64);
    let val_space = match linear {
        Some((start, interval)) => {
            (digits(start) + under as usize).max(digits(start + interval * high as i64) + over as usize)
        }
        None => digits(stap_log_value(high)).max(digits(stap_log_value(low))),
    }
    .max(5);
    let _ = writeln!(out, "{:>val_space$} |{} count", "value", "-".repeat(STAP_BAR as usize));
    let mut eliding = false;
    for i in low..=high {
        let (from, to) = (i.saturating_sub(2).max(low), (i + 2).min(high));
        if h[from..=to].iter().all(|&c| c == 0) {
            eliding = true;
            continue;
        }
        if eliding {
            let _ = writeln!(out, "{:val_space$} ~", "");
            eliding = false;
        }
        let (prefix, val) = match linear {
            Some((start, _)) if i == 0 => ("<", start),
            Some((start, interval)) if i == n - 1 => (">", start + (i as i64 - 2) * interval),
            Some((start, interval)) => ("", start + (i as i64 - 1) * interval),
            None => ("", stap_log_value(i)),
        };
        let v = h[i] / scale;
        let pad = val_space.saturating_sub(digits(val));
        let _ = writeln!(
            out,
            "{prefix:>pad$}{val} |{}{:>w$}",
            "@".repeat(v as usize),
            h[i],
            w = (STAP_BAR - v) as usize + 1 + cnt_space
        );
    }
    out.push('\n');
}

#[cfg(test)]
mod tests;

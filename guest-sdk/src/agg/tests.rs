//! Expected texts: bpftrace 0.17's own output for the same values (Debian's bpftrace, run
//! with `bpftrace -e 'BEGIN { @h = hist(5); … print(@h); exit(); }'`), SystemTap's testsuite
//! output (testsuite/systemtap.maps/linear*.exp) for its data, and tables worked out by hand
//! from the rules in agg.rs where neither peer prints the case.

use super::*;

fn hist_of(values: &[i64]) -> Agg {
    let mut h = Agg::hist("@h");
    for &v in values {
        h.add((), v);
    }
    h
}

#[test]
fn hist_prints_as_bpftrace_does() {
    let h = hist_of(&[5, 0, -3, 1, 1, 1024, 1 << 20, 3_000_000_000]);
    let bar26 = "@".repeat(26);
    let bar52 = "@".repeat(52);
    let empty = " ".repeat(52);
    let mut expected = String::from("@h: \n");
    let row = |label: &str, n: u64| {
        let bar = match n {
            0 => empty.clone(),
            1 => format!("{bar26}{}", " ".repeat(26)),
            _ => bar52.clone(),
        };
        format!("{label:<16}{n:>8} |{bar}|\n")
    };
    expected += &row("(..., 0)", 1);
    expected += &row("[0]", 1);
    expected += &row("[1]", 2);
    let labels = [
        "[2, 4)",
        "[4, 8)",
        "[8, 16)",
        "[16, 32)",
        "[32, 64)",
        "[64, 128)",
        "[128, 256)",
        "[256, 512)",
        "[512, 1K)",
        "[1K, 2K)",
        "[2K, 4K)",
        "[4K, 8K)",
        "[8K, 16K)",
        "[16K, 32K)",
        "[32K, 64K)",
        "[64K, 128K)",
        "[128K, 256K)",
        "[256K, 512K)",
        "[512K, 1M)",
        "[1M, 2M)",
        "[2M, 4M)",
        "[4M, 8M)",
        "[8M, 16M)",
        "[16M, 32M)",
        "[32M, 64M)",
        "[64M, 128M)",
        "[128M, 256M)",
        "[256M, 512M)",
        "[512M, 1G)",
        "[1G, 2G)",
        "[2G, 4G)",
    ];
    for l in labels {
        let n = ["[4, 8)", "[1K, 2K)", "[1M, 2M)", "[2G, 4G)"].contains(&l) as u64;
        expected += &row(l, n);
    }
    expected += "\n";
    assert_eq!(h.text(0), expected);
    // The first lines, literally as bpftrace printed them.
    assert!(h.text(0).starts_with(
        "@h: \n(..., 0)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |\n\
         [0]                    1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |\n\
         [1]                    2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n"
    ));
}

#[test]
fn hist_edges_follow_bpftrace() {
    // u64::MAX is -1 to bpftrace's signed hist(): the negative bucket.
    let h = hist_of(&[u64::MAX as i64]);
    assert_eq!(h.text(0), format!("@h: \n(..., 0)               1 |{}|\n\n", "@".repeat(52)));
    // Past 4G the buckets go on (bpftrace 0.17's BPF log2 stopped at [2G, 4G); later
    // bpftrace and this one do not), with P and E past T.
    let h = hist_of(&[1 << 40, i64::MAX]);
    let t = h.text(0);
    assert!(t.starts_with("@h: \n[1T, 2T)               1 |"), "{t}");
    assert!(t.contains("\n[2P, 4P)               0 |"), "{t}");
    assert!(
        t.ends_with("\n[4E, 8E)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n\n"),
        "{t}"
    );
    // Only zeroes: "[0]" alone. Nothing added: the name line alone, and an empty line.
    assert_eq!(hist_of(&[0, 0]).text(0), format!("@h: \n[0]                    2 |{}|\n\n", "@".repeat(52)));
    let mut h = hist_of(&[3]);
    h.zero();
    assert_eq!(h.text(0), "@h: \n\n");
}

#[test]
fn bars_are_single_precision_and_truncated() {
    // 1/3 * 52 = 17.33 -> 17; 2/3 * 52 = 34.67 -> 34 (truncated, not rounded).
    let h = hist_of(&[2, 4, 4, 8, 8, 8]);
    let t = h.text(0);
    assert!(t.contains(&format!("[2, 4)                 1 |{}{}|", "@".repeat(17), " ".repeat(35))), "{t}");
    assert!(t.contains(&format!("[4, 8)                 2 |{}{}|", "@".repeat(34), " ".repeat(18))), "{t}");
}

#[test]
fn lhist_prints_as_bpftrace_does() {
    let mut l = Agg::lhist("@l", 0, 100, 10).unwrap();
    for v in [5, 150, -1, 100, 55] {
        l.add((), v);
    }
    let half = format!("{}{}", "@".repeat(26), " ".repeat(26));
    let none = " ".repeat(52);
    let full = "@".repeat(52);
    let mut expected = format!("@l: \n(..., 0)               1 |{half}|\n[0, 10)                1 |{half}|\n");
    for lo in (10..50).step_by(10) {
        expected += &format!("{:<16}       0 |{none}|\n", format!("[{lo}, {})", lo + 10));
    }
    expected += &format!("[50, 60)               1 |{half}|\n");
    for lo in (60..100).step_by(10) {
        expected += &format!("{:<16}       0 |{none}|\n", format!("[{lo}, {})", lo + 10));
    }
    expected += &format!("[100, ...)             2 |{full}|\n\n");
    assert_eq!(l.text(0), expected);

    let mut k = Agg::lhist("@k", 0, 4096, 1024).unwrap();
    k.add((), 3000);
    assert_eq!(k.text(0), format!("@k: \n[2K, 3K)               1 |{full}|\n\n"));
    let mut m = Agg::lhist("@m", 0, 4 << 20, 1 << 20).unwrap();
    m.add((), 2 << 20);
    assert_eq!(m.text(0), format!("@m: \n[2M, 3M)               1 |{full}|\n\n"));
    // A range that is not a whole number of steps: the rest of it goes to [max, ...).
    let mut r = Agg::lhist("@r", 0, 25, 10).unwrap();
    r.add((), 24);
    r.add((), 31);
    assert_eq!(r.text(0), format!("@r: \n[25, ...)              2 |{full}|\n\n"));
}

#[test]
fn lhist_refuses_what_bpftrace_refuses() {
    let err = |min, max, step| Agg::<()>::lhist("@l", min, max, step).unwrap_err().to_string();
    assert_eq!(err(0, 100, 0), "lhist() step must be >= 1 (0 provided)");
    assert_eq!(err(-1, 100, 10), "lhist() min must be non-negative (provided min -1)");
    assert_eq!(err(10, 5, 1), "lhist() min must be less than max (provided min 10 and max 5)");
    assert_eq!(err(0, 5, 10), "lhist() step is too large for the given range (provided step 10 for range 5)");
    assert_eq!(err(0, 10_010, 10), "lhist() too many buckets, must be <= 1000 (would need 1001)");
    assert!(Agg::<()>::lhist("@l", 0, 10_000, 10).is_ok());
}

#[test]
fn keyed_maps_print_sorted_by_value_top_last() {
    let mut c: Agg<u32> = Agg::count("@c");
    for k in [1, 1, 2, 30, 30, 30] {
        c.inc(k);
    }
    assert_eq!(c.text(0), "@c[2]: 1\n@c[1]: 2\n@c[30]: 3\n");
    assert_eq!(c.text(2), "@c[1]: 2\n@c[30]: 3\n");
    assert_eq!(c.text(5), c.text(0));
    // Ties print in key order (bpftrace leaves them in hash order).
    let mut s: Agg<(&str, u32)> = Agg::sum("@s2");
    s.add(("b", 1), 2);
    s.add(("a", 2), 2);
    s.add(("c", 0), 2);
    assert_eq!(s.text(0), "@s2[a, 2]: 2\n@s2[b, 1]: 2\n@s2[c, 0]: 2\n");
    let mut t: Agg<(i64, String)> = Agg::sum("@t");
    t.add((1, "a".into()), 3);
    t.add((2, "b".into()), 1);
    assert_eq!(t.text(0), "@t[2, b]: 1\n@t[1, a]: 3\n");
    let mut str_keys: Agg<String> = Agg::count("@str");
    for k in ["abc", "x y", "x y"] {
        str_keys.inc(k.to_string());
    }
    assert_eq!(str_keys.text(0), "@str[abc]: 1\n@str[x y]: 2\n");
    let mut comm: Agg<crate::ShortStr> = Agg::count("@cm");
    comm.inc(crate::ShortStr::from_str_truncating("bpftrace"));
    assert_eq!(comm.text(0), "@cm[bpftrace]: 1\n");
}

#[test]
fn single_values_print_as_bpftrace_does() {
    let one = |mut a: Agg, values: &[i64]| {
        for &v in values {
            a.add((), v);
        }
        a.text(0)
    };
    assert_eq!(one(Agg::sum("@s"), &[5, -10]), "@s: -5\n");
    assert_eq!(one(Agg::min("@mn"), &[5, -7]), "@mn: -7\n");
    assert_eq!(one(Agg::max("@mx"), &[3, -2]), "@mx: 3\n");
    assert_eq!(one(Agg::avg("@a"), &[5, 6]), "@a: 5\n\n");
    // Rounded toward zero: -3 / 2 is -1.
    assert_eq!(one(Agg::avg("@an"), &[-5, 2]), "@an: -1\n\n");
    assert_eq!(one(Agg::stats("@st"), &[4, 7]), "@st: count 2, average 5, total 11\n\n");
    assert_eq!(one(Agg::count("@c"), &[9]), "@c: 1\n");
    // Sums wrap at 64 bits, as in the kernel.
    assert_eq!(one(Agg::sum("@w"), &[i64::MAX, 1]), format!("@w: {}\n", i64::MIN));
}

#[test]
fn empty_cleared_and_zeroed_maps_print_as_bpftrace_does() {
    let mut e: Agg<u32> = Agg::count("@e");
    assert_eq!(e.text(0), "\n");
    e.inc(1);
    assert!(e.delete(&1));
    assert_eq!(e.text(0), "\n");
    assert_eq!(Agg::<u32>::avg("@a").text(0), "\n\n");
    // clear() of a map without keys zeroes it.
    let mut z: Agg = Agg::count("@z");
    z.inc(());
    z.clear();
    assert_eq!(z.text(0), "@z: 0\n");
    let mut zc: Agg<u32> = Agg::count("@zc");
    zc.inc(1);
    zc.zero();
    assert_eq!(zc.text(0), "@zc[1]: 0\n");
    zc.clear();
    assert_eq!(zc.text(0), "\n");
    assert!(zc.is_empty());
}

#[test]
fn keyed_histograms_sort_by_total_count() {
    let mut h: Agg<u32> = Agg::hist("@h");
    for (k, v) in [(1, 5), (1, 6), (2, 100), (3, 1), (3, 1), (3, 1)] {
        h.add(k, v);
    }
    let full = "@".repeat(52);
    assert_eq!(
        h.text(2),
        format!("@h[1]: \n[4, 8)                 2 |{full}|\n\n@h[3]: \n[1]                    3 |{full}|\n\n")
    );
    let mut a: Agg<u32> = Agg::avg("@ka");
    for (k, v) in [(1, 10), (2, 3), (3, 7)] {
        a.add(k, v);
    }
    assert_eq!(a.text(2), "@ka[3]: 7\n@ka[1]: 10\n\n");
    assert_eq!(a.get(&1).map(Entry::avg), Some(10));
}

/// SystemTap's testsuite data: 16 multiples of each key below 100.
fn stap_suite_data() -> Vec<i64> {
    let mut v = Vec::new();
    for key in 0..100 {
        for m in [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 12, 13, 14, 15] {
            v.push(key * m);
        }
    }
    v
}

#[test]
fn hist_linear_prints_as_systemtap_does() {
    let mut a = Agg::lhist("@agg", 0, 1500, 50).unwrap();
    let mut b = Agg::lhist("@agg", 250, 1000, 50).unwrap();
    for v in stap_suite_data() {
        a.add((), v);
        b.add((), v);
    }
    let rows = |rows: &[(&str, u64)], scale: u64, cnt: usize| {
        let mut s = String::from("value |-------------------------------------------------- count\n");
        for (label, n) in rows {
            let bar = n / scale;
            s += &format!("{label:>5} |{}{n:>w$}\n", "@".repeat(bar as usize), w = 50 - bar as usize + 1 + cnt);
        }
        s + "\n"
    };
    let linear: Vec<(String, u64)> = [
        177, 170, 117, 122, 94, 94, 79, 79, 65, 67, 55, 54, 51, 45, 41, 40, 34, 33, 31, 27, 23, 24, 19, 18, 12, 9, 7,
        7, 3, 3, 0,
    ]
    .iter()
    .enumerate()
    .map(|(i, &n)| ((i * 50).to_string(), n))
    .collect();
    let linear: Vec<(&str, u64)> = linear.iter().map(|(l, n)| (l.as_str(), *n)).collect();
    assert_eq!(a.stap_text(&()), rows(&linear, 4, 3));
    // The first rows as testsuite/systemtap.maps/linear.exp has them.
    assert!(a.stap_text(&()).starts_with(
        "value |-------------------------------------------------- count\n    0 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@       177\n"
    ));
    let overunder = [
        ("<250", 680),
        ("250", 94),
        ("300", 79),
        ("350", 79),
        ("400", 65),
        ("450", 67),
        ("500", 55),
        ("550", 54),
        ("600", 51),
        ("650", 45),
        ("700", 41),
        ("750", 40),
        ("800", 34),
        ("850", 33),
        ("900", 31),
        ("950", 27),
        ("1000", 23),
        (">1000", 102),
    ];
    assert_eq!(b.stap_text(&()), rows(&overunder, 14, 3));
    assert!(b.stap_text(&()).contains("\n>1000 |@@@@@@@                                            102\n"));
}

#[test]
fn hist_log_prints_as_systemtap_does() {
    // By hand from stat-common.c: buckets 0 (x1), 1 (x2), 2..3 (x3), 4..7 (x1), 512..1023
    // (x1); two empty rows of margin above the top, none below zero (no negative value);
    // the rows 32 and 64, more than two rows from any count, elided to "~".
    let h = hist_of(&[0, 1, 1, 2, 3, 3, 5, 1000]);
    assert_eq!(
        h.stap_text(&()),
        "value |-------------------------------------------------- count\n\
         \x20   0 |@                                                  1\n\
         \x20   1 |@@                                                 2\n\
         \x20   2 |@@@                                                3\n\
         \x20   4 |@                                                  1\n\
         \x20   8 |                                                   0\n\
         \x20  16 |                                                   0\n\
         \x20     ~\n\
         \x20 128 |                                                   0\n\
         \x20 256 |                                                   0\n\
         \x20 512 |@                                                  1\n\
         \x201024 |                                                   0\n\
         \x202048 |                                                   0\n\
         \n"
    );
    // Negative values widen the value column and extend the margin below them; zero is a
    // row of its own between -1 and 1.
    let h = hist_of(&[-1, -6, 1]);
    assert_eq!(
        h.stap_text(&()),
        "value |-------------------------------------------------- count\n\
         \x20 -16 |                                                   0\n\
         \x20  -8 |                                                   0\n\
         \x20  -4 |@                                                  1\n\
         \x20  -2 |                                                   0\n\
         \x20  -1 |@                                                  1\n\
         \x20   0 |                                                   0\n\
         \x20   1 |@                                                  1\n\
         \x20   2 |                                                   0\n\
         \x20   4 |                                                   0\n\
         \n"
    );
    // Nothing added, another kind, or a missing key: nothing printed.
    assert_eq!(hist_of(&[]).stap_text(&()), "");
    assert_eq!(Agg::<u32>::count("@c").stap_text(&7), "");
}

//! The C SDK's `wprobe_printf` formats byte for byte as wasi-libc's `snprintf`, which its
//! guide promises: `examples/c/printf_check.c` prints every case twice, through
//! `wprobe_printf` (the SDK's own formatter, guest-sdk/c/src/wprobe_fmt.c) and through
//! `snprintf`, over arguments from the events' registers: edge values of every width and
//! random ones.

use super::*;

/// Values where digit counts, widths and signs change: 0, powers of ten and of two and their
/// neighbours, the limits of every integer type.
fn edge_values() -> Vec<u64> {
    let mut v = vec![0, 1, 12345, u64::MAX, i64::MAX as u64, i64::MIN as u64];
    let mut p = 1u64;
    for _ in 0..20 {
        v.extend([p - 1, p, p + 1, p.wrapping_neg(), (p - 1).wrapping_neg()]);
        p = p.wrapping_mul(10);
    }
    for bits in 0..64 {
        let b = 1u64 << bits;
        v.extend([b - 1, b, b + 1, b.wrapping_neg()]);
    }
    for t in [i8::MIN as i64, i8::MAX as i64, i16::MIN as i64, i16::MAX as i64, i32::MIN as i64, i32::MAX as i64] {
        v.extend([t as u64, (t + 1) as u64, (t - 1) as u64]);
    }
    v
}

/// splitmix64: random values without a dependency.
fn random_values(n: usize) -> Vec<u64> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..n)
        .map(|i| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            // Every size of number, not only 20-digit ones.
            z >> (i % 64)
        })
        .collect()
}

/// Events whose six argument registers carry `values`, six per event.
fn events(values: &[u64]) -> Vec<Vec<u8>> {
    const ARGS: [usize; 6] = [x86_64::RDI, x86_64::RSI, x86_64::RDX, x86_64::RCX, x86_64::R8, x86_64::R9];
    values
        .chunks(6)
        .enumerate()
        .map(|(i, chunk)| {
            let mut regs = [0u64; x86_64::NREGS];
            for (&v, &slot) in chunk.iter().zip(&ARGS) {
                regs[slot] = v;
            }
            let pid = 1 + (chunk[0] % 5_000_000) as u32;
            let header =
                EventHeader { pid, tid: pid, cpu: i as u32 % 64, comm: *b"printf-check\0\0\0\0", ..Default::default() };
            make_record(Arch::X86_64, &header, &regs)
        })
        .collect()
}

#[test]
fn c_printf_formats_as_snprintf_does() {
    let Some(path) = built("printf_check_c") else { return };
    let mut values = edge_values();
    values.extend(random_values(600));
    let records = events(&values);
    let out = output(&path, &[], &records, 3).unwrap_or_else(|e| panic!("printf_check_c: {e}"));
    let lines: Vec<&str> = out.split('\n').collect();
    // Two lines per case and a last empty piece after the final newline.
    assert_eq!(lines.last(), Some(&""));
    let lines = &lines[..lines.len() - 1];
    assert!(lines.len().is_multiple_of(2), "an odd number of lines: {}", lines.len());
    let pairs = lines.len() / 2;
    // Some 60 cases per argument, six arguments per event: a check that nearly nothing was
    // printed would pass trivially.
    assert!(pairs >= 300 * records.len(), "{pairs} cases for {} events", records.len());
    for (k, pair) in lines.chunks(2).enumerate() {
        assert_eq!(pair[0], pair[1], "case {k}: wprobe_printf (left) differs from snprintf (right)");
    }
    // The values reached the formats.
    for seen in ["18446744073709551615", "-9223372036854775808", "FFFFFFFFFFFFFFFF", "[-2147483648 ", "(null)"] {
        assert!(out.contains(seen), "no {seen:?} in the output");
    }
}

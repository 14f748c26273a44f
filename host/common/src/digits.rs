//! Digit tables for formatting integers two digits per lookup, shared by the Rust SDK's
//! `printf!` formatter and the script interpreter's, which print integers alike.

/// "00" to "99": the two decimal digits of `n` < 100 are `DEC_PAIRS[2 * n..2 * n + 2]`.
pub const DEC_PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// The two hexadecimal digits of a byte `b` are `HEX_LOWER[2 * b..2 * b + 2]` (or upper case).
pub const HEX_LOWER: [u8; 512] = hex_pairs(b"0123456789abcdef");
pub const HEX_UPPER: [u8; 512] = hex_pairs(b"0123456789ABCDEF");

const fn hex_pairs(digits: &[u8; 16]) -> [u8; 512] {
    let mut t = [0u8; 512];
    let mut b = 0;
    while b < 256 {
        t[2 * b] = digits[b >> 4];
        t[2 * b + 1] = digits[b & 15];
        b += 1;
    }
    t
}

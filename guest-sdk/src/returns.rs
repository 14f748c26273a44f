//! Typed decodes of [`returnval()`], for return probes on functions whose C return type is
//! narrower than a register or unsigned.
//!
//! `returnval()` is SystemTap's: the whole return register (rax, x0), signed. A function
//! declared `int` leaves only the low 32 bits defined: `return -ENOENT` may leave rax =
//! `0x00000000_fffffffe`, which `returnval()` shows as `4294967294`. Pick the decode that
//! matches the function's declared return type:
//!
//! | C return type | call | `-2` from the kernel |
//! |---|---|---|
//! | `int` (most kernel functions: `0` or `-errno`) | [`int_returnval()`] | `-2` |
//! | `unsigned int`, `u32` | [`uint_returnval()`] | `4294967294` |
//! | `long`, `ssize_t`, `s64`, pointers as numbers | [`long_returnval()`] | `-2` |
//! | `unsigned long`, `size_t`, `u64` | [`ulong_returnval()`] | `18446744073709551614` |
//!
//! [`errno_str()`] names an errno: `printf!("{r} ({})\n", errno_str(r).unwrap_or("?"))`
//! prints `-2 (ENOENT)`.

use crate::context::returnval;
use crate::error::AccessError;

/// The return value of a function returning `int`: the low 32 bits, signed. Return probes
/// only.
#[inline]
pub fn int_returnval() -> Result<i32, AccessError> {
    returnval().map(|v| v as i32)
}

/// The return value of a function returning `unsigned int`: the low 32 bits. Return probes
/// only.
#[inline]
pub fn uint_returnval() -> Result<u32, AccessError> {
    returnval().map(|v| v as u32)
}

/// The return value of a function returning `long` (64-bit): the whole register, signed,
/// the same as [`returnval()`]. Return probes only.
#[inline]
pub fn long_returnval() -> Result<i64, AccessError> {
    returnval()
}

/// The return value of a function returning `unsigned long`: the whole register,
/// unsigned. Return probes only.
#[inline]
pub fn ulong_returnval() -> Result<u64, AccessError> {
    returnval().map(|v| v as u64)
}

/// SystemTap's `errno_str`: the name of errno `e` (`ENOENT` for `2` or `-2`), or `None`
/// when Linux defines no errno of that number (`0` included).
pub fn errno_str(e: i64) -> Option<&'static str> {
    // The table is keyed by the negated value, as return values carry it.
    wprobe_common::errno::name_of_negated(if e > 0 { -e } else { e })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_names_either_sign() {
        assert_eq!(errno_str(-2), Some("ENOENT"));
        assert_eq!(errno_str(2), Some("ENOENT"));
        assert_eq!(errno_str(-111), Some("ECONNREFUSED"));
        assert_eq!(errno_str(0), None);
        assert_eq!(errno_str(-3333), None);
        assert_eq!(errno_str(i64::MIN), None);
    }
}

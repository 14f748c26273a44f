//! A return probe on a function declared `int`, returning 0 or a negated errno as most
//! kernel functions do: `wprobe run errno_ret.wasm --kretprobe tcp_v4_connect` prints
//!
//! ```text
//! kprobe.function("tcp_v4_connect").return: int -2 (ENOENT), unsigned int 4294967294, long 4294967294, unsigned long 4294967294
//! ```
//!
//! `returnval()` is the whole register; an `int` function defines only its low 32 bits, so
//! the line shows every decode and which one fits which C return type.
use wprobe_sdk::prelude::*;

fn errno_ret() -> Result<(), AccessError> {
    let r = int_returnval()?;
    printf!("{}: int {r}", pp());
    if let Some(name) = errno_str(r.into()).filter(|_| r < 0) {
        printf!(" ({name})");
    }
    printf!(", unsigned int {}, long {}, unsigned long {}\n", uint_returnval()?, long_returnval()?, ulong_returnval()?);
    Ok(())
}

wprobe_sdk::handler!(fn errno_ret);

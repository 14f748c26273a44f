//! The article's return probe:
//!
//! ```text
//! probe kprobe.function("tcp_v4_connect").return { asmlinkage(); printf("%d\n", returnval()); }
//! ```
//!
//! `wprobe run tcp_connect_ret.wasm --kretprobe tcp_v4_connect` prints `0` per successful call.
use wprobe_sdk::prelude::*;

fn tcp_connect_ret() -> Result<(), AccessError> {
    asmlinkage();
    printf!("{}\n", returnval()?);
    Ok(())
}

wprobe_sdk::handler!(fn tcp_connect_ret);

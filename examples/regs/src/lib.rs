//! The article's register probe, followed by a full register dump:
//!
//! ```text
//! probe kprobe.function("tcp_v4_connect") { printf("%d, %d, %x\n", pid(), cpu(), register("rip")); print_regs() }
//! ```
//!
//! prints `4859, 10, ffffffff8025b538` and then the saved registers.
use wprobe_sdk::prelude::*;

fn regs() -> Result<(), AccessError> {
    // `{:x}` of a negative i64 prints its two's complement, as SystemTap's `%x` does.
    printf!("{}, {}, {:x}\n", pid(), cpu(), register("rip")?);
    print_regs()
}

wprobe_sdk::handler!(fn regs);

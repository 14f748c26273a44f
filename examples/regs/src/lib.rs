//! The article's register probe, followed by a full register dump:
//!
//! ```text
//! probe kprobe.function("tcp_v4_connect") { printf("%d, %d, %x\n", pid(), cpu(), register("rip")); print_regs() }
//! ```
//!
//! prints `4859, 10, ffffffff8025b538` and then the saved registers. The instruction
//! pointer is `rip` on x86_64 and `pc` on aarch64 (the snapshots' architecture).
use wprobe_sdk::prelude::*;
use wprobe_sdk::Arch;

struct Regs {
    ip: &'static str,
}

impl Handler for Regs {
    fn init(session: &Session) -> Result<Self, String> {
        let ip = match session.arch() {
            Arch::Aarch64 => "pc",
            _ => "rip",
        };
        Ok(Regs { ip })
    }

    fn event(&mut self) -> Result<(), Error> {
        // `{:x}` of a negative i64 prints its two's complement, as SystemTap's `%x` does.
        printf!("{}, {}, {:x}\n", pid(), cpu(), register(self.ip)?);
        print_regs()?;
        Ok(())
    }
}

wprobe_sdk::handler!(Regs);

//! Shared by dump_flat and dump_cursor: prints what every accessor answers for the event,
//! errors included, so that a test can check that both delivery paths agree byte for byte.
use wprobe_sdk::prelude::*;

pub struct Dump;

pub fn init() -> Result<Dump, String> {
    Ok(Dump)
}

pub fn event() -> Result<(), Error> {
    printf!(
        "{} pid={} tid={} uid={} cpu={} ts={} probe={} return={} lost={} comm={:?}\n",
        pp(),
        pid(),
        tid(),
        uid(),
        cpu(),
        timestamp_ns(),
        probe_id(),
        is_return(),
        lost_events(),
        execname()
    );
    for n in 0..=9 {
        printf!(
            "  arg {n}: {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?}\n",
            int_arg(n),
            uint_arg(n),
            long_arg(n),
            ulong_arg(n),
            longlong_arg(n),
            ulonglong_arg(n),
            pointer_arg(n),
            s32_arg(n),
            u32_arg(n),
            s64_arg(n),
            u64_arg(n)
        );
    }
    printf!("  returnval={:?} returnstr={:?}\n", returnval(), returnstr());
    for name in ["rip", "RSP", "eax", "r8d", "orig_rax", "x0", "w1", "lr", "pc", "nope"] {
        printf!("  {name}: {:?} {:?}\n", register(name), u_register(name));
    }
    print_regs()?;
    Ok(())
}

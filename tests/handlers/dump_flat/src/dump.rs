//! The conformance dump, shared by dump_flat and dump_cursor and written alike in C, Python
//! and JavaScript (`examples/{c,python,js}/dump.*`): every accessor's answer, or its access
//! error's words, for every event, one line each, in a format every language prints the
//! same way (integers in decimal, strings between quotes as they are, bytes in hex). The
//! tests compare the four byte for byte. A new accessor is one line here and one in each.
use wprobe_sdk::prelude::*;

pub struct Dump {
    /// Per probe id: the tracepoint's field names, for `field` and `field_string`.
    fields: Vec<Vec<String>>,
}

const SYSCALLS: [u64; 5] = [0, 59, 221, 257, 100_000];
const REGISTERS: [&str; 10] = ["rip", "RSP", "eax", "r8d", "orig_rax", "x0", "w1", "lr", "pc", "nope"];

pub fn init(session: &Session) -> Result<Dump, String> {
    let fields = session.probes().iter().map(|p| p.fields.iter().map(|f| f.name.to_string()).collect()).collect();
    Ok(Dump { fields })
}

fn show<T: core::fmt::Display>(call: &str, r: Result<T, AccessError>) {
    match r {
        Ok(v) => printf!("{call} = {v}\n"),
        Err(e) => printf!("{call} ! {e}\n"),
    }
}

fn show_str<T: core::fmt::Display>(call: &str, r: Result<T, AccessError>) {
    show(call, r.map(|s| format!("\"{s}\"")))
}

fn show_bytes(call: &str, r: Result<Vec<u8>, AccessError>) {
    show(call, r.map(|b| b.iter().map(|x| format!("{x:02x}")).collect::<String>()))
}

pub fn event(dump: &Dump) -> Result<(), Error> {
    asmlinkage();
    printf!(
        "event pid={} tid={} uid={} cpu={} ts={} probe={} return={} lost={} target={} comm=\"{}\" pp=\"{}\"\n",
        pid(),
        tid(),
        uid(),
        cpu(),
        timestamp_ns(),
        probe_id(),
        is_return(),
        lost_events(),
        target(),
        execname(),
        pp()
    );
    for n in 0..=9 {
        show(&format!("int_arg({n})"), int_arg(n));
        show(&format!("uint_arg({n})"), uint_arg(n));
        show(&format!("long_arg({n})"), long_arg(n));
        show(&format!("ulong_arg({n})"), ulong_arg(n));
        show(&format!("longlong_arg({n})"), longlong_arg(n));
        show(&format!("ulonglong_arg({n})"), ulonglong_arg(n));
        show(&format!("pointer_arg({n})"), pointer_arg(n));
        show(&format!("s32_arg({n})"), s32_arg(n));
        show(&format!("u32_arg({n})"), u32_arg(n));
        show(&format!("s64_arg({n})"), s64_arg(n));
        show(&format!("u64_arg({n})"), u64_arg(n));
    }
    show("returnval()", returnval());
    show_str("returnstr()", returnstr());
    for name in REGISTERS {
        show(&format!("register({name})"), register(name));
        show(&format!("u_register({name})"), u_register(name));
    }
    printf!("print_regs()\n");
    if let Err(e) = print_regs() {
        printf!("print_regs() ! {e}\n");
    }
    for nr in SYSCALLS {
        match syscall_name(nr) {
            Some(name) => printf!("syscall_name({nr}) = \"{name}\"\n"),
            None => printf!("syscall_name({nr}) = none\n"),
        }
    }
    show("entry_timestamp_ns()", entry_timestamp_ns());
    show("latency_ns()", latency_ns());
    // Addresses: one nothing covers, the pointer arguments and 8 past them, the return value.
    let mut addrs = vec![0x1234u64];
    for n in 1..=3 {
        if let Ok(a) = pointer_arg(n) {
            addrs.extend([a, a.wrapping_add(8)]);
        }
    }
    if let Ok(r) = returnval() {
        addrs.push(r as u64);
    }
    for a in addrs {
        show_str(&format!("kernel_string({a:#x})"), kernel_string(a));
        show_str(&format!("kernel_string_n({a:#x}, 4)"), kernel_string_n(a, 4));
        show_str(&format!("user_string({a:#x})"), user_string(a));
        show_str(&format!("user_string_n({a:#x}, 4)"), user_string_n(a, 4));
        show_bytes(&format!("kernel_bytes({a:#x}, 4)"), kernel_bytes(a, 4));
        show_bytes(&format!("user_bytes({a:#x}, 4)"), user_bytes(a, 4));
        show(&format!("kernel_char({a:#x})"), kernel_char(a));
        show(&format!("kernel_short({a:#x})"), kernel_short(a));
        show(&format!("kernel_int({a:#x})"), kernel_int(a));
        show(&format!("kernel_long({a:#x})"), kernel_long(a));
        show(&format!("kernel_pointer({a:#x})"), kernel_pointer(a));
        show(&format!("user_char({a:#x})"), user_char(a));
        show(&format!("user_short({a:#x})"), user_short(a));
        show(&format!("user_int({a:#x})"), user_int(a));
        show(&format!("user_long({a:#x})"), user_long(a));
    }
    let names = dump.fields.get(probe_id() as usize).map(Vec::as_slice).unwrap_or(&[]);
    for name in names.iter().map(String::as_str).chain(["nope"]) {
        show(&format!("field({name})"), field(name));
        show_str(&format!("field_string({name})"), field_string(name));
    }
    Ok(())
}

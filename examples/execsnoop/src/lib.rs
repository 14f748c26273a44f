//! What gets executed: the `sched:sched_process_exec` tracepoint's fields, decoded from its
//! format file (no BTF, no DWARF).
//!
//! ```text
//! wprobe run execsnoop.wasm 'kernel.trace("sched:sched_process_exec")'
//! 4242 ls /usr/bin/ls
//! stap -e 'probe kernel.trace("sched:sched_process_exec") { printf("%d %s\n", pid(), kernel_string($filename)) }'
//! bpftrace -e 'tracepoint:sched:sched_process_exec { printf("%d %s %s\n", pid, comm, str(args.filename)) }'
//! ```
use wprobe_sdk::prelude::*;

fn execsnoop() -> Result<(), AccessError> {
    printf!("{} {} {}\n", field("pid")?, execname(), field_string("filename")?);
    Ok(())
}

wprobe_sdk::handler!(fn execsnoop);

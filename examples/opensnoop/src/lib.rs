//! Who opens what: the file name an `openat` was given, taken in the kernel at the call.
//!
//! ```text
//! wprobe run opensnoop.wasm nd_syscall.openat
//! stap -e 'probe nd_syscall.openat { printf("%d %s %s\n", pid(), execname(), user_string(pointer_arg(2))) }'
//! bpftrace -e 'tracepoint:syscalls:sys_enter_openat { printf("%d %s %s\n", pid, comm, str(args.filename)) }'
//! ```
//!
//! Prints `PID COMM FLAGS PATH` per call; with `nd_syscall.openat.return` as well (or
//! instead), the return line adds the file descriptor or the error, and the path is the
//! entry's (captured at the entry: `at` defaults to the entry).
use wprobe_sdk::prelude::*;

struct Opensnoop;

impl Handler for Opensnoop {
    fn init(session: &Session) -> Result<Self, String> {
        // openat(dfd, filename, flags, mode): the path is a user-space string.
        session.capture(Capture::user_string(Base::Arg(2), 256));
        Ok(Opensnoop)
    }

    fn event(&mut self) -> Result<(), Error> {
        // The kernel may not be able to read the name at the hit (a page not yet faulted
        // in): say so, and go on with the next call.
        let path = match user_string(pointer_arg(2)?) {
            Ok(path) => path,
            Err(AccessError::Fault(addr)) => format!("<unreadable name at {addr:#x}>"),
            Err(e) => return Err(e.into()),
        };
        if is_return() {
            printf!("{} {} {:#o} {} = {}\n", pid(), execname(), int_arg(3)?, path, returnstr()?);
        } else {
            printf!("{} {} {:#o} {}\n", pid(), execname(), int_arg(3)?, path);
        }
        Ok(())
    }
}

wprobe_sdk::handler!(Opensnoop);

//! Test handler: returns an accessor's error from `event`, so the host reports it with the
//! event. `--arg what=argument` (default) reads `pointer_arg(9)`, `what=register` reads
//! `register("nope")`, `what=returnval` reads `returnval()` (an error in an entry probe),
//! `what=memory` reads `user_string(pointer_arg(1))` (not captured, or a faulted capture),
//! `what=address` reads `kernel_string(0x1234)` (an address no argument holds),
//! `what=field` reads `field("nope")` (not a tracepoint), `what=entry` reads `latency_ns()`
//! (a return probe whose entry was not seen, or an entry probe).
use wprobe_sdk::prelude::*;

enum What {
    Argument,
    Register,
    Returnval,
    Memory,
    Address,
    Field,
    Entry,
}

struct AccessErrorHandler {
    what: What,
}

impl Handler for AccessErrorHandler {
    fn init(session: &Session) -> Result<Self, String> {
        let what = match session.arg("what").unwrap_or("argument") {
            "argument" => What::Argument,
            "register" => What::Register,
            "returnval" => What::Returnval,
            "memory" => What::Memory,
            "address" => What::Address,
            "field" => What::Field,
            "entry" => What::Entry,
            other => {
                return Err(format!(
                    "--arg what={other}: expected argument, register, returnval, memory, address, field or entry"
                ))
            }
        };
        Ok(AccessErrorHandler { what })
    }

    fn event(&mut self) -> Result<(), Error> {
        match self.what {
            What::Argument => printf!("{:#x}\n", pointer_arg(9)?),
            What::Register => printf!("{}\n", register("nope")?),
            What::Returnval => printf!("{}\n", returnval()?),
            What::Memory => printf!("{}\n", user_string(pointer_arg(1)?)?),
            What::Address => printf!("{}\n", kernel_string(0x1234)?),
            What::Field => printf!("{}\n", field("nope")?),
            What::Entry => printf!("{}\n", latency_ns()?),
        }
        Ok(())
    }
}

wprobe_sdk::handler!(AccessErrorHandler);

//! Test handler: returns an accessor's error from `event`, so the host reports it with the
//! event. `--arg what=argument` (default) reads `pointer_arg(9)`, `what=register` reads
//! `register("nope")`, `what=returnval` reads `returnval()` (an error in an entry probe).
use wprobe_sdk::prelude::*;

enum What {
    Argument,
    Register,
    Returnval,
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
            other => return Err(format!("--arg what={other}: expected argument, register or returnval")),
        };
        Ok(AccessErrorHandler { what })
    }

    fn event(&mut self) -> Result<(), Error> {
        match self.what {
            What::Argument => printf!("{:#x}\n", pointer_arg(9)?),
            What::Register => printf!("{}\n", register("nope")?),
            What::Returnval => printf!("{}\n", returnval()?),
        }
        Ok(())
    }
}

wprobe_sdk::handler!(AccessErrorHandler);

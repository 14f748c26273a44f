//! Test handler: panics on event number N of the session (`--arg n=N`, counted from 1,
//! default 1), after printing one line per event. The host must turn the panic into a trap
//! and show the SDK's warning, which carries the message and the event.
use wprobe_sdk::prelude::*;

struct Trap {
    n: u64,
    seen: u64,
}

impl Handler for Trap {
    fn init(session: &Session) -> Result<Self, String> {
        Ok(Trap { n: session.arg_or("n", 1)?, seen: 0 })
    }

    fn event(&mut self) -> Result<(), Error> {
        self.seen += 1;
        printf!("event {} pid {}\n", self.seen, pid());
        if self.seen == self.n {
            panic!("trap test handler: reached event {}", self.n);
        }
        Ok(())
    }
}

wprobe_sdk::handler!(Trap);

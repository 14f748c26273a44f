//! Test handler: slower than any event stream. Spins `--arg spins=N` iterations (default
//! 200000, about a millisecond) on every event, counts the events and prints the count at
//! the end, so a test can see whether the end hook ran. With a full ring it is always
//! behind: wprobe must still stop promptly on a signal.
use wprobe_sdk::prelude::*;

struct Slow {
    spins: u64,
    events: u64,
}

impl Handler for Slow {
    fn init(session: &Session) -> Result<Self, String> {
        Ok(Slow { spins: session.arg_or("spins", 200_000)?, events: 0 })
    }

    fn event(&mut self) -> Result<(), Error> {
        let mut i = 0u64;
        while i < self.spins {
            // black_box keeps the optimizer from folding the loop away.
            i = std::hint::black_box(i + 1);
        }
        self.events += 1;
        Ok(())
    }

    fn end(&mut self) -> Result<(), Error> {
        printf!("slow: {} events\n", self.events);
        Ok(())
    }
}

wprobe_sdk::handler!(Slow);

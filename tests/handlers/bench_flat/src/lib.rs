//! Benchmark handler, flat delivery (see bench.rs for the work it does).
mod bench;

use wprobe_sdk::{Delivery, Error, Handler, Session};

impl Handler for bench::Bench {
    const DELIVERY: Delivery = Delivery::Flat;

    fn init(_: &Session) -> Result<Self, String> {
        Ok(bench::Bench::default())
    }

    fn event(&mut self) -> Result<(), Error> {
        bench::Bench::event(self)
    }

    fn end(&mut self) -> Result<(), Error> {
        bench::Bench::end(self)
    }
}

wprobe_sdk::handler!(bench::Bench);

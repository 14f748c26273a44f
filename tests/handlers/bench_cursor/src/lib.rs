//! Benchmark handler, cursor delivery (see bench.rs for the work it does).
#[path = "../../bench_flat/src/bench.rs"]
mod bench;

use wprobe_sdk::{Delivery, Error, Handler, Session};

impl Handler for bench::Bench {
    const DELIVERY: Delivery = Delivery::Cursor;

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

//! Benchmark handler, cursor delivery: reads `pid()` and `uint_arg(3)` on every event and
//! prints one summary line at the end. Identical to bench_flat but for `DELIVERY`.
use wprobe_sdk::prelude::*;

#[derive(Default)]
struct Bench {
    events: u64,
    pid_sum: u64,
    arg3_sum: u64,
}

impl Handler for Bench {
    const DELIVERY: Delivery = Delivery::Cursor;

    fn init(_: &Session) -> Result<Self, String> {
        Ok(Bench::default())
    }

    fn event(&mut self) -> Result<(), Error> {
        self.events += 1;
        self.pid_sum += u64::from(pid());
        self.arg3_sum += u64::from(uint_arg(3)?);
        Ok(())
    }

    fn end(&mut self) -> Result<(), Error> {
        printf!("events {} pid_sum {} arg3_sum {}\n", self.events, self.pid_sum, self.arg3_sum);
        Ok(())
    }
}

wprobe_sdk::handler!(Bench);

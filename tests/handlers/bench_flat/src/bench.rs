//! The benchmark handler's work, shared by bench_flat and bench_cursor, which differ only in
//! how the events are delivered: read pid() and uint_arg(3), count, print a summary at the end.
use wprobe_sdk::prelude::*;

#[derive(Default)]
pub struct Bench {
    events: u64,
    pid_sum: u64,
    arg3_sum: u64,
}

impl Bench {
    pub fn event(&mut self) -> Result<(), Error> {
        self.events += 1;
        self.pid_sum += u64::from(pid());
        self.arg3_sum += u64::from(uint_arg(3)?);
        Ok(())
    }

    pub fn end(&mut self) -> Result<(), Error> {
        printf!("events {} pid_sum {} arg3_sum {}\n", self.events, self.pid_sum, self.arg3_sum);
        Ok(())
    }
}

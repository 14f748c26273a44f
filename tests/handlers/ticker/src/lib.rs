//! Test handler: timers. Counts events, and at each tick prints how many events each timer
//! saw since its previous tick; the end hook prints the totals.
//!
//! `--arg ms=P[,P…]` declares one timer per period (milliseconds; default `10`);
//! `--arg fail_at_tick=N` returns an error from the N-th tick (1-based, all timers),
//! `--arg exit_at_tick=N` calls `exit()` in it.
use wprobe_sdk::prelude::*;

#[derive(Default)]
struct Ticker {
    /// Events since each timer's previous tick.
    since: Vec<u64>,
    events: u64,
    ticks: u64,
    fail_at: u64,
    exit_at: u64,
}

impl Handler for Ticker {
    fn init(session: &Session) -> Result<Self, String> {
        let periods = session.arg("ms").unwrap_or("10");
        for p in periods.split(',') {
            let ms = p.parse().map_err(|_| format!("--arg ms={periods}: expected periods in milliseconds"))?;
            session.timer_ms(ms);
        }
        Ok(Ticker {
            since: vec![0; session.timers().len()],
            fail_at: session.arg_or("fail_at_tick", 0)?,
            exit_at: session.arg_or("exit_at_tick", 0)?,
            ..Ticker::default()
        })
    }

    fn event(&mut self) -> Result<(), Error> {
        self.events += 1;
        self.since.iter_mut().for_each(|n| *n += 1);
        Ok(())
    }

    fn tick(&mut self, timer: u32) -> Result<(), Error> {
        self.ticks += 1;
        let n = std::mem::take(&mut self.since[timer as usize]);
        printf!("timer {timer}: {n} events\n");
        if self.ticks == self.fail_at {
            return Err(Error::msg(format!("failing at tick {}", self.ticks)));
        }
        if self.ticks == self.exit_at {
            exit();
        }
        Ok(())
    }

    fn end(&mut self) -> Result<(), Error> {
        printf!("end: {} events, {} ticks\n", self.events, self.ticks);
        Ok(())
    }
}

wprobe_sdk::handler!(Ticker);

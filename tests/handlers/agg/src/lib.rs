//! Test handler: every aggregation of the SDK, fed from the events (pid, command name, the
//! first argument as a signed 64-bit value, the third as an unsigned 32-bit one) and printed
//! in `end`. The C, Python and JavaScript versions (`examples/{c,python,js}/agg.*`) must
//! print the same bytes, and this one what bpftrace's rules give (tests/all/languages.rs).
use wprobe_sdk::agg::Agg;
use wprobe_sdk::prelude::*;
use wprobe_sdk::ShortStr;

struct Aggs {
    pids: Agg<u32>,
    comms: Agg<ShortStr>,
    bytes: Agg<(u32, ShortStr)>,
    sum: Agg,
    min: Agg,
    max: Agg,
    avg: Agg<ShortStr>,
    stats: Agg,
    hist: Agg,
    sizes: Agg<ShortStr>,
    lin: Agg,
}

impl Handler for Aggs {
    fn init(_: &Session) -> Result<Self, String> {
        Ok(Aggs {
            pids: Agg::count("@pids"),
            comms: Agg::count("@comm"),
            bytes: Agg::sum("@bytes"),
            sum: Agg::sum("@sum"),
            min: Agg::min("@min"),
            max: Agg::max("@max"),
            avg: Agg::avg("@avg"),
            stats: Agg::stats("@stats"),
            hist: Agg::hist("@hist"),
            sizes: Agg::hist("@size"),
            lin: Agg::lhist("@lin", 0, 100, 10)?,
        })
    }

    fn event(&mut self) -> Result<(), Error> {
        let (p, comm, v, n) = (pid(), execname(), long_arg(1)?, uint_arg(3)?);
        self.pids.inc(p);
        self.comms.inc(comm);
        self.bytes.add((p, comm), n.into());
        self.sum.add((), v);
        self.min.add((), v);
        self.max.add((), v);
        self.avg.add(comm, n.into());
        self.stats.add((), v);
        self.hist.add((), v);
        self.sizes.add(comm, n.into());
        self.lin.add((), n.into());
        Ok(())
    }

    fn end(&mut self) -> Result<(), Error> {
        self.pids.print(3);
        self.pids.print(0);
        self.comms.print(0);
        self.bytes.print(0);
        self.sum.print(0);
        self.min.print(0);
        self.max.print(0);
        self.avg.print(0);
        self.stats.print(0);
        self.hist.print(0);
        self.sizes.print(2);
        self.lin.print(0);
        self.hist.print_stap(&());
        self.lin.print_stap(&());
        // Cleared: a keyed map prints an empty line, a single value 0.
        self.pids.clear();
        self.pids.print(0);
        self.sum.clear();
        self.sum.print(0);
        printf!("pids {} comms {}\n", self.pids.len(), self.comms.len());
        Ok(())
    }
}

wprobe_sdk::handler!(Aggs);

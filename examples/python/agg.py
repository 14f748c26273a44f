"""Test handler: every aggregation of the SDK (wprobe_agg), fed from the events and printed
in end; prints byte for byte what the Rust tests/handlers/agg prints."""
from wprobe import *
from wprobe_agg import Agg


@handler
class Aggs(Handler):
    def __init__(self, session):
        self.pids = Agg.count("@pids")
        self.comms = Agg.count("@comm")
        self.bytes = Agg.sum("@bytes")
        self.sum = Agg.sum("@sum")
        self.min = Agg.min("@min")
        self.max = Agg.max("@max")
        self.avg = Agg.avg("@avg")
        self.stats = Agg.stats("@stats")
        self.hist = Agg.hist("@hist")
        self.sizes = Agg.hist("@size")
        self.lin = Agg.lhist("@lin", 0, 100, 10)

    def event(self):
        p, comm, v, n = pid(), execname(), long_arg(1), uint_arg(3)
        self.pids.inc(p)
        self.comms.inc(comm)
        self.bytes.add((p, comm), n)
        self.sum.add(None, v)
        self.min.add(None, v)
        self.max.add(None, v)
        self.avg.add(comm, n)
        self.stats.add(None, v)
        self.hist.add(None, v)
        self.sizes.add(comm, n)
        self.lin.add(None, n)

    def end(self):
        self.pids.print(3)
        self.pids.print(0)
        self.comms.print()
        self.bytes.print()
        self.sum.print()
        self.min.print()
        self.max.print()
        self.avg.print()
        self.stats.print()
        self.hist.print()
        self.sizes.print(2)
        self.lin.print()
        self.hist.print_stap()
        self.lin.print_stap()
        # Cleared: a keyed map prints an empty line, a single value 0.
        self.pids.clear()
        self.pids.print()
        self.sum.clear()
        self.sum.print()
        printf("pids %d comms %d\n", len(self.pids), len(self.comms))

// Test handler: every aggregation of the SDK (agg.js), fed from the events and printed in
// end; prints byte for byte what the Rust tests/handlers/agg prints.
import { handler, printf, pid, execname, long_arg, uint_arg } from './wprobe.js';
import { Agg } from './wprobe_agg.js';

handler(
  class Aggs {
    constructor() {
      this.pids = Agg.count('@pids');
      this.comms = Agg.count('@comm');
      this.bytes = Agg.sum('@bytes');
      this.sum = Agg.sum('@sum');
      this.min = Agg.min('@min');
      this.max = Agg.max('@max');
      this.avg = Agg.avg('@avg');
      this.stats = Agg.stats('@stats');
      this.hist = Agg.hist('@hist');
      this.sizes = Agg.hist('@size');
      this.lin = Agg.lhist('@lin', 0, 100, 10);
    }

    event() {
      const [p, comm, v, n] = [pid(), execname(), long_arg(1), uint_arg(3)];
      this.pids.inc(p);
      this.comms.inc(comm);
      this.bytes.add([p, comm], n);
      this.sum.add(null, v);
      this.min.add(null, v);
      this.max.add(null, v);
      this.avg.add(comm, n);
      this.stats.add(null, v);
      this.hist.add(null, v);
      this.sizes.add(comm, n);
      this.lin.add(null, n);
    }

    end() {
      this.pids.print(3);
      this.pids.print(0);
      this.comms.print();
      this.bytes.print();
      this.sum.print();
      this.min.print();
      this.max.print();
      this.avg.print();
      this.stats.print();
      this.hist.print();
      this.sizes.print(2);
      this.lin.print();
      this.hist.print_stap();
      this.lin.print_stap();
      // Cleared: a keyed map prints an empty line, a single value 0.
      this.pids.clear();
      this.pids.print();
      this.sum.clear();
      this.sum.print();
      printf('pids %d comms %d\n', this.pids.len(), this.comms.len());
    }
  },
);

export { init, handleBatch, tick, end } from './wprobe.js';

// Counts events per process and prints a summary when the session ends, SystemTap's
//
//   global hits; probe kprobe.function("tcp_v4_connect") { hits[pid(), execname()]++ }
//   probe end { foreach ([p, e] in hits-) printf("pid %d (%s): %d\n", p, e, hits[p, e]) }
//
// with the same output as the Rust example (examples/count):
//
//   pid 4859 (curl): 12
//   pid 977 (sshd): 3
//   total: 15
//
// `--arg exit_after=N` ends the session after N events, as SystemTap's `if (++n == N) exit()`.
import { handler, printf, pid, execname, exit } from './wprobe.js';

handler(
  class Count {
    constructor(session) {
      this.hits = new Map(); // pid -> { n: events, name: command name at the first event }
      this.seen = 0;
      const n = session.arg('exit_after');
      this.exitAfter = null;
      if (n !== undefined) {
        if (!/^\d+$/.test(n)) throw new Error(`--arg exit_after=${n}: expected a number of events`);
        this.exitAfter = Number(n);
      }
    }

    event() {
      const p = pid();
      const row = this.hits.get(p);
      if (row === undefined) {
        // The name is copied only the first time a pid shows up.
        this.hits.set(p, { n: 1, name: execname() });
      } else {
        row.n++;
      }
      if (++this.seen === this.exitAfter) exit();
    }

    end() {
      const rows = [...this.hits].sort(([pa, a], [pb, b]) => b.n - a.n || pa - pb);
      let total = 0;
      for (const [p, { n, name }] of rows) {
        printf('pid %d (%s): %d\n', p, name, n);
        total += n;
      }
      printf('total: %d\n', total);
    }
  },
);

export { init, handleBatch, tick, end } from './wprobe.js';

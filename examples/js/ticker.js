// Timers in JavaScript, line for line the Rust test handler tests/handlers/ticker: counts
// events, and at each tick prints how many events each timer saw since its previous tick;
// the end hook prints the totals. `--arg ms=P[,P…]` declares one timer per period (default
// 10 ms); `--arg fail_at_tick=N` throws in the N-th tick, `--arg exit_at_tick=N` calls exit().
import { handler, printf, exit } from './wprobe.js';

class Ticker {
  constructor(session) {
    const periods = session.arg('ms', '10');
    for (const p of periods.split(',')) {
      if (!/^[0-9]+$/.test(p)) throw new Error(`--arg ms=${periods}: expected periods in milliseconds`);
      session.timer_ms(Number(p));
    }
    this.since = session.timers.map(() => 0);
    this.events = 0;
    this.ticks = 0;
    this.failAt = Number(session.arg('fail_at_tick', '0'));
    this.exitAt = Number(session.arg('exit_at_tick', '0'));
  }

  event() {
    this.events++;
    for (let i = 0; i < this.since.length; i++) this.since[i]++;
  }

  tick(timer) {
    this.ticks++;
    const n = this.since[timer];
    this.since[timer] = 0;
    printf('timer %d: %d events\n', timer, n);
    if (this.ticks === this.failAt) throw new Error(`failing at tick ${this.ticks}`);
    if (this.ticks === this.exitAt) exit();
  }

  end() {
    printf('end: %d events, %d ticks\n', this.events, this.ticks);
  }
}

handler(Ticker);

export { init, handleBatch, tick, end } from './wprobe.js';

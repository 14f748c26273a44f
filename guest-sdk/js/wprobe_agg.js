// Aggregations kept in the handler's own memory, printed as bpftrace prints its maps: the
// same rules and bytes as the Rust SDK's wprobe_sdk::agg (guest-sdk/src/agg.rs).
//
//   import { Agg } from './wprobe_agg.js';
//   const opens = Agg.count('@opens');      // @opens[comm] = count()
//   opens.inc(execname());
//   opens.print(10);                        // print(@opens, 10)
//
// Keys: null/undefined for a single value (printed `@name: value`), a number, BigInt or
// string, or an array of them for a tuple (printed `@name[7, curl]: 3`). Values (Number or
// BigInt) are signed 64-bit as in bpftrace: 2n ** 64n - 1n counts as -1. print() sorts by
// value ascending (histograms by total count, avg and stats by the average), ties by key,
// and with top > 0 prints the top largest.
import { printf } from './wprobe.js';

const LOG_BUCKETS = 128;
const LOG_ZERO = 64;
const BPF_BAR = 52;
const STAP_BAR = 50n;
const COUNTED = new Set(['count', 'hist', 'lhist']);

const i64 = (v) => BigInt.asIntN(64, typeof v === 'bigint' ? v : BigInt(v));
const bitLength = (u) => (u === 0n ? 0 : u.toString(2).length);

function unit(key) {
  return key === null || key === undefined || (Array.isArray(key) && key.length === 0);
}

/** A Map key for `key`: numbers and BigInts of one value are the same key. */
function keyId(key) {
  if (unit(key)) return '';
  if (Array.isArray(key)) return JSON.stringify(key.map(keyId));
  return typeof key === 'string' ? 's' + key : 'n' + BigInt(key).toString();
}

function keyText(key) {
  if (Array.isArray(key)) return key.map(keyText).join(', ');
  return String(key);
}

/** Key order for ties: numbers by value, strings by code point, arrays part by part. */
function cmpKeys(a, b) {
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const c = cmpKeys(a[i], b[i]);
      if (c) return c;
    }
    return a.length - b.length;
  }
  if (typeof a === 'string' && typeof b === 'string') {
    const x = [...a].map((c) => c.codePointAt(0));
    const y = [...b].map((c) => c.codePointAt(0));
    return cmpKeys(x, y);
  }
  if (unit(a) || unit(b)) return 0;
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** One key's numbers: values added, their sum (wrapping at 64 bits), smallest, largest. */
export class Entry {
  constructor(nbuckets) {
    this.count = 0n;
    this.sum = 0n;
    this.min = 0n;
    this.max = 0n;
    this.buckets = new Array(nbuckets).fill(0n);
  }

  /** sum / count rounded toward zero, 0 before any value (bpftrace's avg()). */
  avg() {
    return this.count ? this.sum / this.count : 0n;
  }
}

function logBucket(v) {
  if (v === 0n) return LOG_ZERO;
  return v > 0n ? LOG_ZERO + bitLength(v) : LOG_ZERO - bitLength(-v);
}

/** A bpftrace map of one aggregation kind. `name` is printed as given ("@opens"). */
export class Agg {
  constructor(name, kind, min = 0n, max = 0n, step = 1n) {
    this.name = String(name);
    this.kind = kind;
    this.lmin = BigInt(min);
    this.lmax = BigInt(max);
    this.step = BigInt(step);
    // SystemTap's layouts: log buckets; linear: under min, the steps to one past max, over.
    this.nbuckets =
      kind === 'hist' ? LOG_BUCKETS : kind === 'lhist' ? Number((this.lmax - this.lmin) / this.step) + 3 : 0;
    this.entries = new Map(); // keyId -> [key, Entry]
  }

  static count(name) {
    return new Agg(name, 'count');
  }
  static sum(name) {
    return new Agg(name, 'sum');
  }
  static min(name) {
    return new Agg(name, 'min');
  }
  static max(name) {
    return new Agg(name, 'max');
  }
  static avg(name) {
    return new Agg(name, 'avg');
  }
  static stats(name) {
    return new Agg(name, 'stats');
  }
  /** hist(): power-of-two buckets. */
  static hist(name) {
    return new Agg(name, 'hist');
  }
  /** lhist(v, min, max, step); throws, in bpftrace's words, for what it refuses. */
  static lhist(name, min, max, step) {
    [min, max, step] = [BigInt(min), BigInt(max), BigInt(step)];
    if (step <= 0n) throw new Error(`lhist() step must be >= 1 (${step} provided)`);
    if (min < 0n) throw new Error(`lhist() min must be non-negative (provided min ${min})`);
    if (min > max) throw new Error(`lhist() min must be less than max (provided min ${min} and max ${max})`);
    if (max - min < step) {
      throw new Error(`lhist() step is too large for the given range (provided step ${step} for range ${max - min})`);
    }
    if ((max - min) / step > 1000n) {
      throw new Error(`lhist() too many buckets, must be <= 1000 (would need ${(max - min) / step})`);
    }
    return new Agg(name, 'lhist', min, max, step);
  }

  /** Adds one value under `key` (a count() map counts it, whatever it is). */
  add(key, value) {
    const id = keyId(key);
    const v = i64(value);
    let row = this.entries.get(id);
    if (row === undefined) {
      row = [unit(key) ? null : key, new Entry(this.nbuckets)];
      this.entries.set(id, row);
    }
    const e = row[1];
    if (e.count === 0n || v < e.min) e.min = v;
    if (e.count === 0n || v > e.max) e.max = v;
    e.count += 1n;
    e.sum = BigInt.asIntN(64, e.sum + v);
    if (this.kind === 'hist') {
      e.buckets[logBucket(v)] += 1n;
    } else if (this.kind === 'lhist') {
      const last = this.nbuckets - 1;
      let i = 0;
      if (v >= this.lmin) {
        const q = (v - this.lmin) / this.step + 1n;
        i = q < BigInt(last) ? Number(q) : last;
      }
      e.buckets[i] += 1n;
    }
  }

  /** add(key, 1): `@name[key] = count()`. */
  inc(key = null) {
    this.add(key, 1n);
  }

  /** The key's Entry, or undefined. */
  get(key = null) {
    const row = this.entries.get(keyId(key));
    return row && row[1];
  }

  /** delete(@name[key]): true if the key was there. */
  delete(key = null) {
    return this.entries.delete(keyId(key));
  }

  /** clear(@name): every key goes; a single value is zeroed instead, as bpftrace does. */
  clear() {
    const single = this.entries.has('');
    this.entries = new Map();
    if (single) this.entries.set('', [null, new Entry(this.nbuckets)]);
  }

  /** zero(@name): every key stays, its value back to 0. */
  zero() {
    for (const row of this.entries.values()) row[1] = new Entry(this.nbuckets);
  }

  len() {
    return this.entries.size;
  }

  value(e) {
    if (COUNTED.has(this.kind)) return e.count;
    if (this.kind === 'sum') return e.sum;
    if (this.kind === 'min') return e.min;
    if (this.kind === 'max') return e.max;
    return e.avg();
  }

  /** [key, Entry] pairs as print orders them: by value ascending, ties by key. */
  sorted() {
    return [...this.entries.values()].sort(([ka, a], [kb, b]) => {
      const x = this.value(a);
      const y = this.value(b);
      return x < y ? -1 : x > y ? 1 : cmpKeys(ka, kb);
    });
  }

  /** What print(top) prints. */
  text(top = 0) {
    let rows = this.sorted();
    if (top > 0 && rows.length > top) rows = rows.slice(rows.length - top);
    const parts = rows.map(([key, e]) => {
      const head = key === null ? this.name : `${this.name}[${keyText(key)}]`;
      let value;
      if (this.kind === 'stats') value = `count ${e.count}, average ${e.avg()}, total ${e.sum}`;
      else if (this.kind === 'hist') value = '\n' + this.bpfLogTable(e.buckets);
      else if (this.kind === 'lhist') value = '\n' + this.bpfLinearTable(e.buckets);
      else value = String(this.value(e));
      return `${head}: ${value}`;
    });
    const out = parts.join('\n') + '\n';
    // bpftrace ends avg() and stats() maps with an empty line.
    return this.kind === 'avg' || this.kind === 'stats' ? out + '\n' : out;
  }

  /** print(@name, top): the top largest (all for 0), largest last. */
  print(top = 0) {
    printf('%s', this.text(top));
  }

  /** SystemTap's print(@hist_log(v)) / print(@hist_linear(v, min, max, step)) of the
   * histogram under `key`; '' for another kind, a missing key, or no values. */
  stap_text(key = null) {
    const e = this.get(key);
    if (e === undefined || (this.kind !== 'hist' && this.kind !== 'lhist')) return '';
    return stapTable(e.buckets, this.kind === 'lhist' ? [this.lmin, this.step] : null);
  }

  print_stap(key = null) {
    printf('%s', this.stap_text(key));
  }

  bpfLogTable(b) {
    const counts = [b.slice(0, LOG_ZERO).reduce((s, c) => s + c, 0n), ...b.slice(LOG_ZERO)];
    return bpfTable(counts, (i) => {
      if (i === 0) return '(..., 0)';
      if (i === 1) return '[0]';
      if (i === 2) return '[1]';
      return `[${pow2(i - 2)}, ${pow2(i - 1)})`;
    });
  }

  bpfLinearTable(b) {
    // lhist's [max, ...) also holds SystemTap's extra step past max.
    const counts = b.slice(0, b.length - 1);
    counts[counts.length - 1] += b[b.length - 1];
    const last = counts.length - 1;
    const { lmin, lmax, step } = this;
    return bpfTable(counts, (i) => {
      if (i === 0) return `(..., ${linearNumber(lmin)})`;
      if (i === last) return `[${linearNumber(lmax)}, ...)`;
      const lo = BigInt(i - 1) * step + lmin;
      return `[${linearNumber(lo)}, ${linearNumber(lo + step)})`;
    });
  }
}

function pow2(p) {
  return String(1 << p % 10) + (p >= 10 ? ' KMGTPE'[Math.floor(p / 10)] : '');
}

function linearNumber(n) {
  const K = 1024n;
  const M = 1024n * 1024n;
  if (n !== 0n && n % M === 0n) return `${n / M}M`;
  if (n !== 0n && n % K === 0n) return `${n / K}K`;
  return String(n);
}

/** Rows from the first non-empty bucket to the last; the bar is count / max * 52 in single
 * precision, truncated, as bpftrace computes it. */
function bpfTable(counts, label) {
  const first = counts.findIndex((c) => c > 0n);
  if (first < 0) return '';
  let last = first;
  let max = 0n;
  counts.forEach((c, i) => {
    if (c > 0n) last = i;
    if (c > max) max = c;
  });
  const top = Math.fround(Number(max));
  let s = '';
  for (let i = first; i <= last; i++) {
    const c = counts[i];
    const bar = Math.trunc(Math.fround(Math.fround(Math.fround(Number(c)) / top) * BPF_BAR));
    s += label(i).padEnd(16) + String(c).padStart(8) + ' |' + '@'.repeat(bar).padEnd(BPF_BAR) + '|\n';
  }
  return s;
}

const digits = (v) => String(v).length;

function stapLogValue(i) {
  if (i === LOG_ZERO) return 0n;
  if (i > LOG_ZERO) return 1n << BigInt(i - LOG_ZERO - 1);
  return -(1n << BigInt(LOG_ZERO - 1 - i));
}

/** SystemTap's table (runtime/stat-common.c); see write_stap_table in agg.rs. */
function stapTable(h, linear) {
  const n = h.length;
  let low = h.findIndex((c) => c > 0n);
  if (low < 0) return '';
  let high = low;
  let valmax = 0n;
  h.forEach((c, i) => {
    if (c > 0n) high = i;
    if (c > valmax) valmax = c;
  });
  for (let k = 0; k < 2; k++) {
    if (low > 0 && (linear !== null || low !== LOG_ZERO)) low--;
    if (high < n - 1) high++;
  }
  let under = 0;
  let over = 0;
  if (linear !== null) {
    if (low === 0 && h[0] === 0n) low++;
    if (high === n - 1 && h[high] === 0n) high--;
    under = low === 0 ? 1 : 0;
    over = high === n - 1 ? 1 : 0;
  }
  const scale = valmax <= STAP_BAR ? 1n : (valmax + STAP_BAR - 1n) / STAP_BAR;
  const cntSpace = digits(valmax);
  let valSpace;
  if (linear !== null) {
    const [start, interval] = linear;
    valSpace = Math.max(digits(start) + under, digits(start + interval * BigInt(high)) + over);
  } else {
    valSpace = Math.max(digits(stapLogValue(high)), digits(stapLogValue(low)));
  }
  valSpace = Math.max(valSpace, 5);
  let s = 'value'.padStart(valSpace) + ' |' + '-'.repeat(Number(STAP_BAR)) + ' count\n';
  let eliding = false;
  for (let i = low; i <= high; i++) {
    const window = h.slice(Math.max(low, i - 2), Math.min(high, i + 2) + 1);
    if (window.every((c) => c === 0n)) {
      eliding = true;
      continue;
    }
    if (eliding) {
      s += ' '.repeat(valSpace) + ' ~\n';
      eliding = false;
    }
    let prefix = '';
    let val;
    if (linear === null) val = stapLogValue(i);
    else if (i === 0) [prefix, val] = ['<', linear[0]];
    else if (i === n - 1) [prefix, val] = ['>', linear[0] + BigInt(i - 2) * linear[1]];
    else val = linear[0] + BigInt(i - 1) * linear[1];
    const v = Number(h[i] / scale);
    const pad = Math.max(valSpace - digits(val), 0);
    s += prefix.padStart(pad) + String(val) + ' |' + '@'.repeat(v);
    s += String(h[i]).padStart(Number(STAP_BAR) - v + 1 + cntSpace) + '\n';
  }
  return s + '\n';
}

// wprobe handlers in JavaScript: SystemTap's accessors and a C-style printf over
// componentize-js's bindings of wit/probe.wit.
//
// A handler module registers its probe body with `handler(...)` and re-exports the
// component's exports from this module:
//
//     import { handler, asmlinkage, printf, pp, pid, cpu, pointer_arg, uint_arg } from './wprobe.js';
//
//     handler(() => {
//       asmlinkage();
//       printf('%s, %d, %d, 0x%x, 0x%x, %d\n', pp(), pid(), cpu(), pointer_arg(1), pointer_arg(2), uint_arg(3));
//     });
//
//     export { init, handleBatch, tick, end } from './wprobe.js';
//
// `handler` takes a function (the probe body, run once per event) or a class
// (`constructor(session)` as `probe begin`, `event()` per event, `end()` as `probe end`).
// 64-bit values (pointer_arg, ulong_arg, returnval, register, timestamp_ns, ...) are
// BigInts; 32-bit ones (pid, cpu, int_arg, uint_arg, ...) are Numbers. See README.md.

// The host's accessors, imported by the generated module (which names the WIT's version).
import { __ctx as ctx } from './wprobe_context.js';

// ---- State: one handler per component instance ------------------------------------------

let factory = null; // what handler() registered
let instance = null; // the running handler: { event(), end() }
let inEvent = false; // true while the cursor stands on an event
let index = 0; // the current event's index in its batch
let lost = 0n;
const ppById = new Map(); // probe id -> pp, from the session's probe table
let view = null; // a DataView of the flat batch, or null on the cursor path
let off = 0; // the current record's offset in it
let out = ''; // pending printf text
let hostNext = 0; // next() calls made this batch: the host's cursor is on event hostNext - 1
let argSlots = null; // the batch's architecture's argument slots (ARG_SLOTS)
let retSlot = 10;
let recordSize = 0; // of a record's fixed part, in the current flat batch
let batchHasExt = false; // whether a record of the current flat batch has an extension area

// The flat batch layout and the access errors' words: generated from wprobe-common.
import {
  BATCH_MAGIC,
  BATCH_HEADER_SIZE,
  B_COUNT,
  B_RECORD_SIZE,
  B_LOST,
  RECORD_HEADER_SIZE,
  FLAG_RETURN,
  FLAG_EXT,
  EXT_HEADER_SIZE,
  ITEM_HEADER_SIZE,
  KIND_ENTRY,
  KIND_TRACEPOINT,
  R_PROBE_ID,
  R_FLAGS,
  R_PID,
  R_TID,
  R_UID,
  R_CPU,
  R_TIME,
  R_COMM,
  COMM_LEN,
} from './wprobe_common.js';
import * as common from './wprobe_common.js';
// Register slots of the arguments passed in registers and of the return value, by arch
// (wprobe_common::abi). An entry item holds u64 timestamp-ns, then the entry's registers.
const { ARG_SLOTS, RET_SLOT } = common;

/** Moves the host's cursor to the current event, for the accessors that ask the host. */
function sync() {
  while (hostNext <= index) {
    ctx.next();
    hostNext++;
  }
}

const decoder = new TextDecoder();

/**
 * Pending output is sent to the host once per batch, or as soon as this much is pending.
 * Small on purpose: pending text is a chain of strings, and what of it is alive when the
 * engine collects its young generation moves to the long-lived heap, which only a major
 * collection frees, after tens of MiB. A short chain keeps that small (measured: a third
 * less growth than 64 KiB) for a few more import calls per batch.
 */
export const FLUSH_AT = 4 * 1024;

// ---- Errors -----------------------------------------------------------------------------

/**
 * An accessor could not answer (`pointer_arg(9)`, `returnval()` in an entry probe, ...).
 * Uncaught, it ends the session and is reported with the event it happened on.
 * `kind` is the WIT variant's tag: 'no-such-argument', 'no-such-register',
 * 'not-a-return-probe', 'no-current-event', 'not-captured', 'fault', 'no-entry',
 * 'not-a-tracepoint' or 'no-such-field'; `value` its payload (argument number, register
 * name, `{ addr, arg }`, the faulting address, the host's field text) or undefined.
 */
export class AccessError extends Error {
  constructor(kind, value) {
    super(describe(kind, value));
    this.name = 'AccessError';
    this.kind = kind;
    this.value = value;
  }
}

function describe(kind, value) {
  if (kind === 'not-captured') {
    return value.arg === 0 ? common.TEXT_NOT_CAPTURED(value) : common.TEXT_NOT_CAPTURED_ARG(value);
  }
  const text = common[`TEXT_${String(kind).toUpperCase().replaceAll('-', '_')}`] ?? common.TEXT_NO_CURRENT_EVENT;
  return text({ n: value, name: value, addr: value, what: value });
}

function converted(e) {
  const p = e && e.payload;
  if (p && typeof p.tag === 'string') return new AccessError(p.tag, p.val);
  return e;
}

function outside(name) {
  throw new Error(`wprobe ${name}() called outside an event: accessors read the current event, in the event handler`);
}

// ---- The accessors that ask the host ---------------------------------------------------
// Generated from the WIT into wprobe_context.js (returnstr, registers, entry values,
// captured memory, tracepoint fields, target, syscall_name), re-exported here. They reach
// this module's state through __rt, which is not for handlers.

export * from './wprobe_context.js';

/** For the generated accessors (wprobe_context.js); not for handlers. */
export const __rt = Object.freeze({
  /** False outside an event; else moves the host's cursor to the current event. */
  enter() {
    if (!inEvent) return false;
    if (view !== null) sync();
    return true;
  },
  noCurrentEvent: () => new AccessError('no-current-event'),
  converted,
  outside,
});

// ---- Context: always answer on an event; outside one they throw -------------------------

/** Process id: the thread-group id of the task that hit the probe. */
export function pid() {
  if (!inEvent) outside('pid');
  if (view !== null) return view.getUint32(off + R_PID, true);
  return ctx.pid();
}
/** Thread id of the task. */
export function tid() {
  if (!inEvent) outside('tid');
  if (view !== null) return view.getUint32(off + R_TID, true);
  return ctx.tid();
}
/** Real user id of the task. */
export function uid() {
  if (!inEvent) outside('uid');
  if (view !== null) return view.getUint32(off + R_UID, true);
  return ctx.uid();
}
/** CPU the probe fired on. */
export function cpu() {
  if (!inEvent) outside('cpu');
  if (view !== null) return view.getUint32(off + R_CPU, true);
  return ctx.cpu();
}
/** CLOCK_MONOTONIC at the hit, in nanoseconds (BigInt). */
export function timestamp_ns() {
  if (!inEvent) outside('timestamp_ns');
  if (view !== null) return view.getBigUint64(off + R_TIME, true);
  return ctx.timestampNs();
}
/** Index of the event's probe in the session's probe table. */
export function probe_id() {
  if (!inEvent) outside('probe_id');
  if (view !== null) return view.getUint32(off + R_PROBE_ID, true);
  return ctx.probeId();
}
/** True in a return probe. */
export function is_return() {
  if (!inEvent) outside('is_return');
  if (view !== null) return (view.getUint32(off + R_FLAGS, true) & FLAG_RETURN) !== 0;
  return ctx.isReturn();
}
/** The probe point, `kprobe.function("tcp_v4_connect")`, from the probe table init received. */
export function pp() {
  if (!inEvent) outside('pp');
  const p = ppById.get(view !== null ? view.getUint32(off + R_PROBE_ID, true) : ctx.probeId());
  if (p !== undefined) return p;
  if (view !== null) sync();
  return ctx.pp();
}
/** The task's command name as captured at the hit (up to 15 bytes). */
export function execname() {
  if (!inEvent) outside('execname');
  if (view !== null) {
    let end = off + R_COMM;
    while (end < off + R_COMM + COMM_LEN && view.getUint8(end) !== 0) end++;
    return decoder.decode(new Uint8Array(view.buffer, view.byteOffset + off + R_COMM, end - off - R_COMM));
  }
  return ctx.execname();
}
/** Events the kernel dropped (ring buffer full) before the current batch (BigInt). */
export function lost_events() {
  return lost;
}
/** SystemTap's calling-convention hint; changes nothing on x86_64 and aarch64. */
export function asmlinkage() {}

// ---- Arguments (n from 1), return value, registers: throw AccessError -------------------


// On the flat path the arguments and the return value are decoded here, from the record's
// registers (or, in a return probe, its entry's), as wprobe_common does on the host: no
// import call, and nothing allocated but the BigInt of a 64-bit value.

/** The byte offset of argument n's register in the batch, or throws as the host would. */
function argAt(n) {
  if (!inEvent) throw new AccessError('no-current-event');
  const slot = argSlots[n - 1];
  if (slot === undefined) throw new AccessError('no-such-argument', n >>> 0);
  if ((view.getUint32(off + R_FLAGS, true) & FLAG_RETURN) === 0) return off + RECORD_HEADER_SIZE + 8 * slot;
  const entry = entryAt();
  if (entry < 0) throw new AccessError('no-entry');
  return entry + 8 + 8 * slot;
}

/** The offset of the current record's entry item's data, or -1 without one. */
function entryAt() {
  return itemAt(KIND_ENTRY);
}

function flatOr(fn, local) {
  return function (n) {
    if (view !== null) return local(n);
    if (!inEvent) throw new AccessError('no-current-event');
    try {
      return fn(n);
    } catch (e) {
      throw converted(e);
    }
  };
}

// Each accessor reads the flat record itself (one call fewer per value than a shared
// wrapper: calls are much of an event's cost in the interpreter), else asks the host.

/**
 * The host answers about the current event (on the flat path, its cursor moved there first),
 * its access errors as AccessError.
 */
function viaHost(fn, n) {
  if (!inEvent) throw new AccessError('no-current-event');
  if (view !== null) sync();
  try {
    return fn(n);
  } catch (e) {
    throw converted(e);
  }
}

/** Argument n as a C int: the low 32 bits, signed (Number). */
export function int_arg(n) {
  return view !== null ? view.getInt32(argAt(n), true) : viaHost(ctx.intArg, n);
}
/** Argument n's low 32 bits, unsigned (Number). */
export function uint_arg(n) {
  return view !== null ? view.getUint32(argAt(n), true) : viaHost(ctx.uintArg, n);
}
/** Argument n as a signed 64-bit value (BigInt). */
export function long_arg(n) {
  return view !== null ? view.getBigInt64(argAt(n), true) : viaHost(ctx.longArg, n);
}
/** Argument n as an unsigned 64-bit value (BigInt). */
export function ulong_arg(n) {
  return view !== null ? view.getBigUint64(argAt(n), true) : viaHost(ctx.ulongArg, n);
}
export function longlong_arg(n) {
  return view !== null ? view.getBigInt64(argAt(n), true) : viaHost(ctx.longlongArg, n);
}
export function ulonglong_arg(n) {
  return view !== null ? view.getBigUint64(argAt(n), true) : viaHost(ctx.ulonglongArg, n);
}
/** Argument n as a pointer (BigInt). */
export function pointer_arg(n) {
  return view !== null ? view.getBigUint64(argAt(n), true) : viaHost(ctx.pointerArg, n);
}
export function s32_arg(n) {
  return view !== null ? view.getInt32(argAt(n), true) : viaHost(ctx.s32Arg, n);
}
export function u32_arg(n) {
  return view !== null ? view.getUint32(argAt(n), true) : viaHost(ctx.u32Arg, n);
}
export function s64_arg(n) {
  return view !== null ? view.getBigInt64(argAt(n), true) : viaHost(ctx.s64Arg, n);
}
export function u64_arg(n) {
  return view !== null ? view.getBigUint64(argAt(n), true) : viaHost(ctx.u64Arg, n);
}
/** The return value register (rax, x0), signed (BigInt). Return probes only. */
export const returnval = flatOr(ctx.returnval, () => {
  if (!inEvent) throw new AccessError('no-current-event');
  if ((view.getUint32(off + R_FLAGS, true) & FLAG_RETURN) === 0) throw new AccessError('not-a-return-probe');
  return view.getBigInt64(off + RECORD_HEADER_SIZE + 8 * retSlot, true);
});

// Typed return values. returnval() is SystemTap's: the whole return register (rax, x0),
// signed. A function declared `int` defines only the low 32 bits, so `return -ENOENT` can
// read as 4294967294 there. Decode by the probed function's C return type: int ->
// int_returnval() (a Number), unsigned int -> uint_returnval() (a Number), long/ssize_t ->
// long_returnval() (a BigInt), unsigned long/size_t -> ulong_returnval() (a BigInt).

/** The return value of a function returning `int`: the low 32 bits, signed (Number). */
export const int_returnval = () => Number(BigInt.asIntN(32, returnval()));
/** The return value of a function returning `unsigned int`: the low 32 bits (Number). */
export const uint_returnval = () => Number(BigInt.asUintN(32, returnval()));
/** The return value of a function returning `long`: the whole register, signed (BigInt). */
export const long_returnval = () => returnval();
/** The return value of a function returning `unsigned long`: the whole register (BigInt). */
export const ulong_returnval = () => BigInt.asUintN(64, returnval());

// ---- Registers by name and tracepoint fields ---------------------------------------------

// Decoded here on the flat path, as the other accessors: componentize-js never frees the
// string an import call passes, so asking the host for register('rdi') or field('pid') once
// per event leaked the name's bytes, some 16 per call and without end (README.md,
// "Memory"). What these fast paths do not cover (a name the tables lack, a field of another
// type, a string not in ASCII, a record without tracepoint data) is asked of the host once,
// whose answer and error words are the other SDKs'.

let regNames = common.REGISTERS[1]; // the current batch's architecture's register names
const fieldsById = new Map(); // probe id -> Map(field name -> field-info), from init
let itemLen = 0; // the length of the item itemAt found
let fieldRaw = 0; // the offset of the tracepoint record fieldAt found the field in

/** A register's [slot, low 32 bits only] by name (any case), or undefined. */
function regRef(name) {
  const r = regNames.get(name);
  if (r !== undefined || typeof name !== 'string') return r;
  return regNames.get(name.replace(/[A-Z]/g, (c) => c.toLowerCase()));
}

/**
 * A saved register by name, signed (BigInt; 32-bit names such as `eax`, `w0` sign-extended).
 * x86_64: `rax`..`r15`, `rip`, `rsp`, `rbp`, `eflags`, `orig_rax`, `cs`, `ss`, SystemTap's
 * aliases (`ax`, `ip`, `sp`, ...) and 32-bit names; aarch64: `x0`..`x30`, `w0`..`w30`, `fp`,
 * `lr`, `sp`, `pc`, `pstate`. Case-insensitive.
 */
export function register(name) {
  const r = view !== null && inEvent ? regRef(name) : undefined;
  if (r === undefined) return viaHost(ctx.register, name);
  const at = off + RECORD_HEADER_SIZE + 8 * r[0];
  return r[1] ? BigInt(view.getInt32(at, true)) : view.getBigInt64(at, true);
}

/** register(name), unsigned (BigInt; 32-bit names zero-extended). */
export function u_register(name) {
  const r = view !== null && inEvent ? regRef(name) : undefined;
  if (r === undefined) return viaHost(ctx.uRegister, name);
  const at = off + RECORD_HEADER_SIZE + 8 * r[0];
  return r[1] ? BigInt(view.getUint32(at, true)) : view.getBigUint64(at, true);
}

/** The offset of the current record's first extension item of `kind`'s data, or -1. */
function itemAt(kind) {
  if ((view.getUint32(off + R_FLAGS, true) & FLAG_EXT) === 0) return -1;
  let at = off + recordSize;
  const end = at + EXT_HEADER_SIZE + view.getUint32(at, true);
  at += EXT_HEADER_SIZE;
  while (at + ITEM_HEADER_SIZE <= end) {
    const len = view.getUint32(at + 4, true);
    if (view.getUint8(at) === kind) {
      itemLen = len;
      return at + ITEM_HEADER_SIZE;
    }
    at += ITEM_HEADER_SIZE + ((len + 7) & ~7);
  }
  return -1;
}

/** The current event's tracepoint field `name` (its record's offset in fieldRaw), or null. */
function fieldAt(name) {
  if (view === null || !inEvent) return null;
  const f = fieldsById.get(view.getUint32(off + R_PROBE_ID, true))?.get(name);
  if (f === undefined) return null;
  fieldRaw = itemAt(KIND_TRACEPOINT);
  return fieldRaw < 0 || f.offset + f.size > itemLen ? null : f;
}

/**
 * A tracepoint's integer field, signed as its format says (BigInt; an unsigned 64-bit value
 * above 2^63 - 1 wraps: BigInt.asUintN(64, v) reads it unsigned).
 */
export function field(name) {
  const f = fieldAt(name);
  if (f !== null) {
    const raw = fieldRaw;
    const at = raw + f.offset;
    const signed = f.kind === 'signed';
    if (signed || f.kind === 'unsigned') {
      switch (f.size) {
        case 1:
          return BigInt(signed ? view.getInt8(at) : view.getUint8(at));
        case 2:
          return BigInt(signed ? view.getInt16(at, true) : view.getUint16(at, true));
        case 4:
          return BigInt(signed ? view.getInt32(at, true) : view.getUint32(at, true));
        case 8:
          return view.getBigInt64(at, true);
      }
    }
  }
  return viaHost(ctx.field, name);
}

/** A tracepoint's string field (`char[N]`, `__data_loc char[]`), up to its NUL. */
export function field_string(name) {
  const f = fieldAt(name);
  if (f !== null) {
    const raw = fieldRaw;
    let start = f.offset;
    let len = f.size;
    const dynamic = f.kind === 'data-loc-string' || f.kind === 'rel-loc-string';
    if (dynamic && len === 4) {
      const loc = view.getUint32(raw + start, true);
      start = (f.kind === 'rel-loc-string' ? start + 4 : 0) + (loc & 0xffff);
      len = loc >>> 16;
    }
    if ((dynamic ? f.size === 4 : f.kind === 'chars') && start + len <= itemLen) {
      let end = raw + start;
      const stop = end + len;
      let ascii = true;
      for (let b; end < stop && (b = view.getUint8(end)) !== 0; end++) ascii = ascii && b < 0x80;
      if (ascii) return decoder.decode(new Uint8Array(view.buffer, view.byteOffset + raw + start, end - raw - start));
    }
  }
  return viaHost(ctx.fieldString, name);
}

/**
 * SystemTap's errno_str: the name of errno `e` (Number or BigInt, either sign): 'ENOENT' for
 * 2 or -2; null when Linux defines no such errno.
 * `const r = int_returnval(); printf(`${r} (${errno_str(r)})\n`)` prints `-2 (ENOENT)`.
 */
export function errno_str(e) {
  let n = Number(e);
  if (n < 0) n = -n;
  let name = '';
  if (n >= 1 && n <= common.ERRNO_NAMES.length) name = common.ERRNO_NAMES[n - 1];
  else if (n - common.ERRNO_FIRST_INTERNAL >= 0 && n - common.ERRNO_FIRST_INTERNAL < common.ERRNO_INTERNAL.length)
    name = common.ERRNO_INTERNAL[n - common.ERRNO_FIRST_INTERNAL];
  return name || null;
}

/** Prints every saved register in SystemTap's layout, in order with printf's output. */
export function print_regs() {
  if (!inEvent) throw new AccessError('no-current-event');
  flush();
  if (view !== null) sync();
  try {
    ctx.printRegs();
  } catch (e) {
    throw converted(e);
  }
}

// ---- Captures --------------------------------------------------------------------------

/**
 * Where a capture's address starts: `Base.arg(n)`, `Base.register('rdi')`,
 * `Base.returnval()`, `Base.field('filename')` (the WIT `capture-base` variant).
 */
export const Base = Object.freeze({
  /** Argument n (from 1): the syscall's for syscall probes, the entry's in a return probe. */
  arg: (n) => ({ tag: 'arg', val: n }),
  register: (name) => ({ tag: 'register', val: String(name) }),
  /** The return value (return probes; read at the return). */
  returnval: () => ({ tag: 'returnval' }),
  /** A tracepoint field holding a pointer. */
  field: (name) => ({ tag: 'field', val: String(name) }),
});

/**
 * Memory for the kernel side to read at each hit, declared in the handler's constructor with
 * `session.capture(Capture.user_string(Base.arg(2), 256))`: a handler runs later, when the
 * memory has changed, so it says what to read as data. The address is `base + offset`, then
 * for each `deref(d)` `*(u64 *)addr + d`. The builder methods return the capture, so they
 * chain. Offsets may be Numbers or BigInts.
 */
export class Capture {
  constructor(base, size, kind, space) {
    this.probeId = undefined;
    this.base = base;
    this.off = 0n;
    this.derefs = [];
    this.kind = kind;
    this.size = size;
    this.space = space;
    this.at = 'entry';
  }
  /** A NUL-terminated user-space string of at most `max - 1` bytes. */
  static user_string(base, max) {
    return new Capture(base, max, 'string', 'user');
  }
  /** A NUL-terminated kernel string of at most `max - 1` bytes. */
  static kernel_string(base, max) {
    return new Capture(base, max, 'string', 'kernel');
  }
  /** Exactly n bytes of user memory. */
  static user_bytes(base, n) {
    return new Capture(base, n, 'bytes', 'user');
  }
  /** Exactly n bytes of kernel memory. */
  static kernel_bytes(base, n) {
    return new Capture(base, n, 'bytes', 'kernel');
  }
  /** Adds `offset` to the address (a field of the struct the base points to). */
  offset(offset) {
    this.off = BigInt(offset);
    return this;
  }
  /** Follows the pointer at the address so far, then adds `offset`. */
  deref(offset) {
    this.derefs.push(BigInt(offset));
    return this;
  }
  /** Only for the probe with this id (by default: every probe). */
  probe(id) {
    this.probeId = id;
    return this;
  }
  /** Return probes: read at the return, not at the entry. Entry probes ignore it. */
  at_return() {
    this.at = 'return';
    return this;
  }
  /** The WIT `capture` record. */
  toWit() {
    return {
      probe: this.probeId,
      base: this.base,
      offset: this.off,
      derefs: this.derefs,
      kind: this.kind,
      size: this.size,
      space: this.space,
      at: this.at,
    };
  }
}

// ---- Output and control -----------------------------------------------------------------

/**
 * SystemTap's printf: C format directives (%d %i %u %x %X %o %c %s %p %f %e %g %%, with
 * flags `-+ 0#`, width, precision; length modifiers like `ll` are accepted and ignored).
 * Numbers and BigInts both work; %u, %x, %o print a negative value as its 64-bit two's
 * complement, as SystemTap does. No newline is added.
 */
export function printf(fmt, ...args) {
  out += (compiled.get(fmt) ?? formatter(String(fmt)))(args);
  if (out.length >= FLUSH_AT) flush();
}

/** SystemTap's warn(): `WARNING: text` on wprobe's stderr, after the output printed so far. */
export function warn(fmt, ...args) {
  flush();
  ctx.warn(args.length ? sprintf(fmt, ...args) : String(fmt));
}

/** SystemTap's exit(): ends the session after the current batch; end still runs. */
export function exit() {
  flush();
  ctx.exit();
}

/**
 * Sends the pending text. Whole lines go out through the engine's console.log, which
 * StarlingMonkey writes to WASI stdout natively (wprobe puts a handler's stdout into its
 * output, in order, under the same cap as printf): a string handed to an import is measured
 * for UTF-8 by componentize-js's bindings one UTF-16 unit at a time in the interpreter, which
 * cost some 40 µs per printed line, about ten times all the rest. A tail without a newline
 * (rare: a line printed in pieces across a flush) still goes through printf.
 */
function flush() {
  if (out.length) {
    const text = out;
    out = '';
    const nl = text.lastIndexOf('\n');
    if (nl >= 0) console.log(text.slice(0, nl)); // console.log adds the newline back
    if (nl < text.length - 1) ctx.printf(nl >= 0 ? text.slice(nl + 1) : text);
  }
}

const DIRECTIVE = /%([-+ 0#]*)(\*|\d+)?(?:\.(\*|\d*))?(?:hh|h|ll|l|L|j|z|t|q)?([diouxXcspfFeEgG%])/g;
const U64 = (1n << 64n) - 1n;

function toBig(v) {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'boolean') return v ? 1n : 0n;
  const n = Number(v);
  return Number.isFinite(n) ? BigInt(Math.trunc(n)) : 0n;
}

/** Format strings compiled once into functions of the arguments array (see compileFn). */
const compiled = new Map();

function compile(fmt) {
  const parts = [];
  let last = 0;
  DIRECTIVE.lastIndex = 0;
  for (let m = DIRECTIVE.exec(fmt); m !== null; m = DIRECTIVE.exec(fmt)) {
    if (m.index > last) parts.push(fmt.slice(last, m.index));
    if (m[4] === '%') parts.push('%');
    else parts.push({ flags: m[1], width: m[2], prec: m[3], conv: m[4] });
    last = DIRECTIVE.lastIndex;
  }
  if (last < fmt.length) parts.push(fmt.slice(last));
  return parts;
}

/**
 * Compiles a format into a function of the arguments array that returns the text: one
 * expression concatenating the literal text and, for the common directives (`%s %d %i %u %x`
 * with no flags, width or precision), the value's own string when it is of the usual type;
 * everything else goes through `directive`. The engine is an interpreter, so a line built by
 * one expression costs about half of walking the parts for each line (the per-value checks
 * are those directive() makes first). A format with `*` widths is walked (format()).
 */
function compileFn(fmt) {
  const parts = compile(fmt);
  const slow = [];
  const terms = [];
  let next = 0;
  for (const p of parts) {
    if (typeof p === 'string') {
      terms.push(JSON.stringify(p));
      continue;
    }
    if (p.width === '*' || p.prec === '*') return (args) => format(fmt, args);
    const v = `a[${next++}]`;
    const other = `F(${slow.length}, ${v})`;
    slow.push(p);
    const plain = p.flags === '' && p.width === undefined && p.prec === undefined;
    let term = other;
    if (plain && p.conv === 's') term = `(typeof ${v} === 'string' ? ${v} : String(${v}))`;
    else if (plain && (p.conv === 'd' || p.conv === 'i')) {
      term = `(typeof ${v} === 'number' ? ((${v} | 0) === ${v} ? '' + ${v} : ${other}) : typeof ${v} === 'bigint' ? '' + ${v} : ${other})`;
    } else if (plain && (p.conv === 'u' || p.conv === 'x')) {
      const digits = p.conv === 'x' ? `${v}.toString(16)` : `'' + ${v}`;
      term = `(typeof ${v} === 'number' ? ((${v} >>> 0) === ${v} ? ${digits} : ${other}) : typeof ${v} === 'bigint' && ${v} >= 0n ? ${digits} : ${other})`;
    }
    terms.push(term);
  }
  const body = `'use strict'; return (a) => '' + ${terms.length ? terms.join(' + ') : "''"};`;
  const F = (k, v) => directive(slow[k].flags, slow[k].width, slow[k].prec, slow[k].conv, v);
  return new Function('F', body)(F);
}

/** The compiled function of `fmt` (up to 256 formats are kept). */
function formatter(fmt) {
  let fn = compiled.get(fmt);
  if (fn === undefined) {
    fn = compileFn(fmt);
    if (compiled.size < 256) compiled.set(fmt, fn);
  }
  return fn;
}

/** C-style formatting into a string; printf's formatter. */
export function sprintf(fmt, ...args) {
  return formatter(String(fmt))(args);
}

/** Walks a format's parts for each line: for formats with `*` widths or precisions. */
function format(fmt, args) {
  const parts = compile(fmt);
  let s = '';
  let next = 0;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    if (typeof p === 'string') {
      s += p;
      continue;
    }
    let width = p.width;
    let prec = p.prec;
    if (width === '*') width = Number(args[next++]);
    if (prec === '*') prec = Number(args[next++]);
    s += directive(p.flags, width, prec, p.conv, args[next++]);
  }
  return s;
}

function directive(flags, width, prec, conv, v) {
  // The common cases first: no flags, width or precision.
  if (flags === '' && width === undefined && prec === undefined) {
    switch (conv) {
      case 's':
        return String(v);
      case 'd':
      case 'i':
        if (typeof v === 'number' && Number.isInteger(v)) return String(v);
        if (typeof v === 'bigint') return v.toString();
        break;
      case 'x':
        if (typeof v === 'bigint' && v >= 0n) return v.toString(16);
        if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v.toString(16);
        break;
      case 'u':
        if ((typeof v === 'bigint' && v >= 0n) || (typeof v === 'number' && Number.isInteger(v) && v >= 0)) {
          return v.toString();
        }
        break;
    }
  }
  width = width === undefined ? 0 : Number(width);
  prec = prec === undefined ? undefined : Number(prec || 0);
  let left = flags.includes('-');
  if (width < 0) {
    left = true;
    width = -width;
  }
  let sign = '';
  let body;
  let numeric = true;
  switch (conv) {
    case 'd':
    case 'i': {
      let b = toBig(v);
      if (b < 0n) {
        sign = '-';
        b = -b;
      } else if (flags.includes('+')) sign = '+';
      else if (flags.includes(' ')) sign = ' ';
      body = b.toString();
      break;
    }
    case 'u':
    case 'x':
    case 'X':
    case 'o': {
      let b = toBig(v);
      if (b < 0n) b &= U64;
      body = b.toString(conv === 'u' ? 10 : conv === 'o' ? 8 : 16);
      if (conv === 'X') body = body.toUpperCase();
      if (flags.includes('#') && b !== 0n) {
        if (conv === 'x') sign = '0x';
        else if (conv === 'X') sign = '0X';
        else if (conv === 'o') body = '0' + body;
      }
      break;
    }
    case 'p':
      body = (toBig(v) & U64).toString(16);
      sign = '0x';
      break;
    case 'c':
      numeric = false;
      body = typeof v === 'string' ? v.slice(0, 1) : String.fromCharCode(Number(v));
      break;
    case 's':
      numeric = false;
      body = String(v);
      if (prec !== undefined) body = body.slice(0, prec);
      break;
    default: {
      // f F e E g G
      const n = Number(v);
      const p = prec === undefined ? 6 : prec;
      if (n < 0 || Object.is(n, -0)) sign = '-';
      else if (flags.includes('+')) sign = '+';
      else if (flags.includes(' ')) sign = ' ';
      const a = Math.abs(n);
      if (!Number.isFinite(a)) body = Number.isNaN(a) ? 'nan' : 'inf';
      else if (conv === 'f' || conv === 'F') body = a.toFixed(p);
      else if (conv === 'e' || conv === 'E') body = a.toExponential(p).replace(/e([+-])(\d)$/, 'e$10$2');
      else {
        const P = p === 0 ? 1 : p;
        const exp = a === 0 ? 0 : Math.floor(Math.log10(a));
        body =
          exp < -4 || exp >= P
            ? a.toExponential(P - 1).replace(/e([+-])(\d)$/, 'e$10$2')
            : a.toFixed(Math.max(0, P - 1 - exp));
        if (!flags.includes('#')) body = body.replace(/\.?0+(e|$)/, '$1');
      }
      if (conv === 'E' || conv === 'G' || conv === 'F') body = body.toUpperCase();
      prec = undefined;
      break;
    }
  }
  if (numeric && prec !== undefined && conv !== 'p') {
    body = body.padStart(prec, '0');
    if (prec === 0 && body === '0') body = '';
  }
  const len = sign.length + body.length;
  if (len >= width) return sign + body;
  if (left) return sign + body + ' '.repeat(width - len);
  if (numeric && flags.includes('0') && prec === undefined) return sign + '0'.repeat(width - len) + body;
  return ' '.repeat(width - len) + sign + body;
}

// ---- Handlers ---------------------------------------------------------------------------

/**
 * What init learns: `args` (`[key, value]` pairs of `--arg key=value`, in order),
 * `probes` (`{ id, pp, isReturn, fields }`; `fields` a tracepoint's `{ name, offset, size,
 * kind }`, empty for other probes), `arch` ('x86_64' or 'aarch64').
 */
export class Session {
  constructor(args, probes, arch) {
    this.args = args;
    this.probes = probes;
    this.arch = arch;
    this.captures = [];
    this.timers = [];
  }

  /**
   * Asks for `tick(timer)` every `periodMs` milliseconds (at least 1): SystemTap's
   * `probe timer.ms(N)`. Returns the timer's number, which `tick` is called with.
   */
  timer_ms(periodMs) {
    this.timers.push(periodMs >>> 0);
    return this.timers.length - 1;
  }

  /** `timer_ms` in seconds: SystemTap's `timer.s(N)`. */
  timer_s(periodS) {
    return this.timer_ms(Math.min(periodS * 1000, 0xffffffff));
  }

  /**
   * Declares memory to take at every hit (of every probe, or of the one `Capture.probe`
   * names), for the memory accessors to read in `event()`. Returns the session.
   */
  capture(capture) {
    this.captures.push(capture);
    return this;
  }

  /** The value of `--arg key=...` (the last one if repeated), or `fallback`. */
  arg(key, fallback = undefined) {
    for (let i = this.args.length - 1; i >= 0; i--) {
      if (this.args[i][0] === key) return this.args[i][1];
    }
    return fallback;
  }
}

/**
 * Registers the module's handler: a function (the probe body, run once per event) or a
 * class (constructed with the Session, then `event()` per event and `end()`). Returns it.
 */
export function handler(h) {
  if (factory !== null) throw new Error('wprobe handler(): a handler is already registered');
  factory = h;
  return h;
}

function isClass(f) {
  return typeof f === 'function' && /^class[\s{]/.test(Function.prototype.toString.call(f));
}

function message(e) {
  if (e instanceof AccessError) return e.message;
  if (e instanceof Error) {
    const name = e.name && e.name !== 'Error' ? `${e.name}: ` : '';
    return `${name}${e.message}`;
  }
  return String(e);
}

// ---- The component's exports: re-export them from the handler module --------------------

export function init(session) {
  let s;
  try {
    for (const p of session.probes) {
      ppById.set(p.id, p.pp);
      fieldsById.set(p.id, new Map(p.fields.map((f) => [f.name, f])));
    }
    s = new Session(
      session.args.map(([k, v]) => [k, v]),
      session.probes.map((p) => ({ id: p.id, pp: p.pp, isReturn: p.isReturn, fields: p.fields })),
      session.arch === 'aarch64' ? 'aarch64' : 'x86_64',
    );
    if (factory === null) throw new Error('no handler registered: call handler(...) in the handler module');
    if (isClass(factory)) {
      const h = new factory(s);
      if (typeof h.event !== 'function') throw new Error('the handler class has no event() method');
      instance = {
        event: () => h.event(),
        tick: (t) => (typeof h.tick === 'function' ? h.tick(t) : undefined),
        end: () => (typeof h.end === 'function' ? h.end() : undefined),
      };
    } else {
      const f = factory;
      instance = { event: f, tick: () => {}, end: () => {} };
    }
  } catch (e) {
    throw message(e);
  } finally {
    flush();
  }
  return { delivery: 'flat', captures: s.captures.map((c) => c.toWit()), timers: s.timers };
}

/**
 * Checks a flat batch's records and returns their number: a 24-byte header (magic, arch,
 * count, record size, lost), then `count` records of `record-size` bytes, each followed by
 * its extension area when its flags have FLAG_EXT. Records vary in length, so they are
 * walked, and all of them are checked before the first event runs, as the host would; the
 * events loop walks them again with nextRecord (an array of offsets would be garbage).
 */
function checkRecords(v) {
  const len = v.byteLength;
  const malformed = () => new Error('the host sent a malformed flat batch');
  if (len < BATCH_HEADER_SIZE || v.getUint32(0, true) !== BATCH_MAGIC) throw malformed();
  const count = v.getUint32(B_COUNT, true);
  const size = v.getUint32(B_RECORD_SIZE, true);
  if (size < RECORD_HEADER_SIZE) throw malformed();
  let at = BATCH_HEADER_SIZE;
  batchHasExt = false;
  for (let i = 0; i < count; i++) {
    if (at + size > len) throw malformed();
    let next = at + size;
    if ((v.getUint32(at + R_FLAGS, true) & FLAG_EXT) !== 0) {
      batchHasExt = true;
      if (next + EXT_HEADER_SIZE > len) throw malformed();
      next += EXT_HEADER_SIZE + v.getUint32(next, true);
      if (next > len) throw malformed();
    }
    at = next;
  }
  return count;
}

/** The offset of the record after the one at `at`, in a checked batch. */
function nextRecord(v, at) {
  const next = at + recordSize;
  return (v.getUint32(at + R_FLAGS, true) & FLAG_EXT) === 0 ? next : next + EXT_HEADER_SIZE + v.getUint32(next, true);
}

export function handleBatch(flat) {
  if (instance === null) throw 'handle-batch called before a successful init';
  const event = instance.event;
  hostNext = 0;
  try {
    if (flat !== undefined && flat !== null) {
      const v = new DataView(flat.buffer, flat.byteOffset, flat.byteLength);
      const count = checkRecords(v);
      lost = v.getBigUint64(B_LOST, true);
      const arch = v.getUint8(4);
      argSlots = ARG_SLOTS[arch] ?? ARG_SLOTS[1];
      retSlot = RET_SLOT[arch] ?? RET_SLOT[1];
      regNames = common.REGISTERS[arch] ?? common.REGISTERS[1];
      recordSize = v.getUint32(B_RECORD_SIZE, true);
      view = v;
      let at = BATCH_HEADER_SIZE;
      for (let i = 0; i < count; i++) {
        index = i;
        off = at;
        inEvent = true;
        event();
        inEvent = false;
        at = batchHasExt ? nextRecord(v, at) : at + recordSize;
      }
    } else {
      lost = ctx.lostEvents();
      let i = 0;
      while (ctx.next()) {
        index = i;
        inEvent = true;
        event();
        inEvent = false;
        i++;
      }
    }
  } catch (e) {
    // The host words where it happened from its cursor: put it on this event.
    if (view !== null && inEvent) sync();
    throw message(e);
  } finally {
    inEvent = false;
    view = null;
    flush();
    release(flat);
  }
}

/**
 * Frees the batch's bytes now. The bindings hand each batch over as a fresh ArrayBuffer
 * whose bytes live outside the JS heap; SpiderMonkey counts them towards a malloc threshold
 * of tens of MiB before it collects, so a long run would otherwise hold some 60 MiB of dead
 * batches. Transferring the buffer to a zero-length one detaches it and releases its bytes.
 */
function release(flat) {
  const buffer = flat && flat.buffer;
  if (buffer && typeof buffer.transfer === 'function' && !buffer.detached) buffer.transfer(0);
}

export function tick(timer) {
  if (instance === null) throw 'tick called before a successful init';
  try {
    instance.tick(timer);
  } catch (e) {
    throw message(e); // the host's report names the timer
  } finally {
    flush();
  }
}

export function end() {
  if (instance === null) throw 'end called before a successful init';
  try {
    instance.end();
  } catch (e) {
    throw message(e);
  } finally {
    flush();
  }
}

// The conformance dump in JavaScript: every accessor's answer, or its access error's words,
// for every event, in the format of tests/handlers/dump_flat/src/dump.rs (the Rust one), which
// the language tests compare byte for byte. A new accessor is one line here.
import * as w from './wprobe.js';

const SYSCALLS = [0, 59, 221, 257, 100000];
const REGISTERS = ['rip', 'RSP', 'eax', 'r8d', 'orig_rax', 'x0', 'w1', 'lr', 'pc', 'nope'];

function show(call, fn, args, fmt = String) {
  let value;
  try {
    value = fmt(fn(...args));
  } catch (e) {
    if (!(e instanceof w.AccessError)) throw e;
    w.printf('%s ! %s\n', call, e.message);
    return;
  }
  w.printf('%s = %s\n', call, value);
}

const text = (s) => `"${s}"`;
const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
const addr = (a) => `0x${a.toString(16)}`;

w.handler(
  class Dump {
    constructor(session) {
      this.fields = new Map(session.probes.map((p) => [p.id, p.fields.map((f) => f.name)]));
    }

    event() {
      w.asmlinkage();
      w.printf(
        'event pid=%s tid=%s uid=%s cpu=%s ts=%s probe=%s return=%s lost=%s target=%s comm="%s" pp="%s"\n',
        w.pid(), w.tid(), w.uid(), w.cpu(), w.timestamp_ns(), w.probe_id(), String(w.is_return()),
        w.lost_events(), w.target(), w.execname(), w.pp(),
      );
      for (let n = 0; n <= 9; n++) {
        show(`int_arg(${n})`, w.int_arg, [n]);
        show(`uint_arg(${n})`, w.uint_arg, [n]);
        show(`long_arg(${n})`, w.long_arg, [n]);
        show(`ulong_arg(${n})`, w.ulong_arg, [n]);
        show(`longlong_arg(${n})`, w.longlong_arg, [n]);
        show(`ulonglong_arg(${n})`, w.ulonglong_arg, [n]);
        show(`pointer_arg(${n})`, w.pointer_arg, [n]);
        show(`s32_arg(${n})`, w.s32_arg, [n]);
        show(`u32_arg(${n})`, w.u32_arg, [n]);
        show(`s64_arg(${n})`, w.s64_arg, [n]);
        show(`u64_arg(${n})`, w.u64_arg, [n]);
      }
      show('returnval()', w.returnval, []);
      show('returnstr()', w.returnstr, [], text);
      for (const name of REGISTERS) {
        show(`register(${name})`, w.register, [name]);
        show(`u_register(${name})`, w.u_register, [name]);
      }
      w.printf('print_regs()\n');
      try {
        w.print_regs();
      } catch (e) {
        if (!(e instanceof w.AccessError)) throw e;
        w.printf('print_regs() ! %s\n', e.message);
      }
      for (const nr of SYSCALLS) {
        const name = w.syscall_name(nr);
        w.printf('syscall_name(%s) = %s\n', String(nr), name == null ? 'none' : text(name));
      }
      show('entry_timestamp_ns()', w.entry_timestamp_ns, []);
      show('latency_ns()', w.latency_ns, []);
      // Addresses: one nothing covers, the pointer arguments and 8 past them, the return value.
      const addrs = [0x1234n];
      for (const n of [1, 2, 3]) {
        try {
          const a = BigInt(w.pointer_arg(n));
          addrs.push(a, BigInt.asUintN(64, a + 8n));
        } catch (e) {
          if (!(e instanceof w.AccessError)) throw e;
        }
      }
      try {
        addrs.push(BigInt.asUintN(64, BigInt(w.returnval())));
      } catch (e) {
        if (!(e instanceof w.AccessError)) throw e;
      }
      for (const a of addrs) {
        show(`kernel_string(${addr(a)})`, w.kernel_string, [a], text);
        show(`kernel_string_n(${addr(a)}, 4)`, w.kernel_string_n, [a, 4], text);
        show(`user_string(${addr(a)})`, w.user_string, [a], text);
        show(`user_string_n(${addr(a)}, 4)`, w.user_string_n, [a, 4], text);
        show(`kernel_bytes(${addr(a)}, 4)`, w.kernel_bytes, [a, 4], hex);
        show(`user_bytes(${addr(a)}, 4)`, w.user_bytes, [a, 4], hex);
        show(`kernel_char(${addr(a)})`, w.kernel_char, [a]);
        show(`kernel_short(${addr(a)})`, w.kernel_short, [a]);
        show(`kernel_int(${addr(a)})`, w.kernel_int, [a]);
        show(`kernel_long(${addr(a)})`, w.kernel_long, [a]);
        show(`kernel_pointer(${addr(a)})`, w.kernel_pointer, [a]);
        show(`user_char(${addr(a)})`, w.user_char, [a]);
        show(`user_short(${addr(a)})`, w.user_short, [a]);
        show(`user_int(${addr(a)})`, w.user_int, [a]);
        show(`user_long(${addr(a)})`, w.user_long, [a]);
      }
      for (const name of [...(this.fields.get(w.probe_id()) ?? []), 'nope']) {
        show(`field(${name})`, w.field, [name]);
        show(`field_string(${name})`, w.field_string, [name], text);
      }
    }
  },
);

export { init, handleBatch, tick, end } from './wprobe.js';

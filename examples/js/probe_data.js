// The probe-time data of WIT 0.2.0, as the Rust test handler tests/handlers/probe_data (the
// tests compare the two byte for byte): the constructor declares a capture with every base
// and modifier; each event prints what the memory accessors read from the captured regions
// of an entry event (arguments 1 to 3 point at them), and in a return event the entry's
// values, the latency and the memory the return value points at.
import * as w from './wprobe.js';

const { Base, Capture, printf } = w;

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

w.handler(
  class ProbeData {
    constructor(session) {
      session
        .capture(Capture.user_string(Base.arg(2), 256))
        .capture(Capture.kernel_bytes(Base.arg(1), 16).offset(8).probe(0))
        .capture(Capture.kernel_string(Base.register('rdx'), 32).deref(0).deref(-8))
        .capture(Capture.user_string(Base.returnval(), 64).probe(1).at_return())
        .capture(Capture.user_bytes(Base.field('filename'), 4).offset(-16));
    }

    event() {
      printf('%d target=%d', w.pid(), w.target());
      if (w.is_return()) {
        const ret = BigInt.asUintN(64, w.returnval());
        printf(
          ' return entry_ts=%d latency=%d arg1=%#x name=%s uchar=%d ushort=%d uint=%d ulong=%d ubytes=%s\n',
          w.entry_timestamp_ns(),
          w.latency_ns(),
          w.pointer_arg(1),
          w.user_string(ret),
          w.user_char(ret),
          w.user_short(ret),
          w.user_int(ret),
          w.user_long(ret),
          hex(w.user_bytes(ret, 3)),
        );
      } else {
        const [a1, a2, a3] = [w.pointer_arg(1), w.pointer_arg(2), w.pointer_arg(3)];
        printf(
          ' entry path=%s path4=%s char=%d short=%d int=%d long=%d ptr=%#x kbytes=%s kstr=%s kstr2=%s\n',
          w.user_string(a2),
          w.user_string_n(a2, 4),
          w.kernel_char(a1 + 8n),
          w.kernel_short(a1 + 8n),
          w.kernel_int(a1 + 8n),
          w.kernel_long(a1 + 8n),
          w.kernel_pointer(a1 + 16n),
          hex(w.kernel_bytes(a1 + 9n, 4)),
          w.kernel_string(a3),
          w.kernel_string_n(a3, 2),
        );
      }
    }
  },
);

export { init, handleBatch, tick, end } from './wprobe.js';

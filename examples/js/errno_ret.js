// A return probe on a function declared `int`, returning 0 or a negated errno as most kernel
// functions do, in JavaScript: `wprobe run errno_ret_js.wasm --kretprobe tcp_v4_connect` prints
//
//   kprobe.function("tcp_v4_connect").return: int -2 (ENOENT), unsigned int 4294967294, long 4294967294, unsigned long 4294967294
//
// returnval() is the whole register; an `int` function defines only its low 32 bits, so the
// line shows every decode and which one fits which C return type.
import {
  handler, printf, pp, int_returnval, uint_returnval, long_returnval, ulong_returnval, errno_str,
} from './wprobe.js';

handler(() => {
  const r = int_returnval();
  printf('%s: int %d', pp(), r);
  const name = errno_str(r);
  if (r < 0 && name) printf(' (%s)', name);
  printf(', unsigned int %u, long %d, unsigned long %u\n', uint_returnval(), long_returnval(), ulong_returnval());
});

export { init, handleBatch, tick, end } from './wprobe.js';

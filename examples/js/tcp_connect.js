// The article's first probe, on kprobe.function("tcp_v4_connect"), in JavaScript:
//
//   probe kprobe.function("tcp_v4_connect") {
//     asmlinkage();
//     printf("%s, %d, %d, 0x%x, 0x%x, %d\n", pp(), pid(), cpu(), pointer_arg(1), pointer_arg(2), uint_arg(3));
//   }
//
// prints `kprobe.function("tcp_v4_connect"), 32372, 11, 0xffff81024ce51380, 0xffff81038aa2fec8, 16`.
import { handler, asmlinkage, printf, pp, pid, cpu, pointer_arg, uint_arg } from './wprobe.js';

// int tcp_v4_connect(struct sock *sk, struct sockaddr *uaddr, int addr_len)
handler(() => {
  asmlinkage();
  printf('%s, %d, %d, 0x%x, 0x%x, %d\n', pp(), pid(), cpu(), pointer_arg(1), pointer_arg(2), uint_arg(3));
});

export { init, handleBatch, tick, end } from './wprobe.js';

/*
 * {{name}}: a wprobe handler. SystemTap's
 *
 *   probe kprobe.function("tcp_v4_connect") {
 *     asmlinkage();
 *     printf("%s, %d, %d, 0x%x, 0x%x, %d\n", pp(), pid(), cpu(), pointer_arg(1), pointer_arg(2), uint_arg(3));
 *   }
 *
 * as a probe body. Build: `make`; run: `wprobe run {{name}}.wasm --kprobe tcp_v4_connect`.
 * guest-sdk/c/README.md in the wprobe checkout lists every accessor.
 */
#include <inttypes.h>
#include <wprobe.h>

/* int tcp_v4_connect(struct sock *sk, struct sockaddr *uaddr, int addr_len) */
void wprobe_event(void) {
    asmlinkage();
    wprobe_printf("%s, %" PRIu32 ", %" PRIu32 ", 0x%" PRIx64 ", 0x%" PRIx64 ", %" PRIu32 "\n", pp(), pid(), cpu(),
                  pointer_arg(1), pointer_arg(2), uint_arg(3));
}

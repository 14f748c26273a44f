/*
 * A return probe on a function declared `int`, returning 0 or a negated errno as most kernel
 * functions do, in C: `wprobe run errno_ret_c.wasm --kretprobe tcp_v4_connect` prints
 *
 *   kprobe.function("tcp_v4_connect").return: int -2 (ENOENT), unsigned int 4294967294, long 4294967294, unsigned long 4294967294
 *
 * returnval() is the whole register; an `int` function defines only its low 32 bits, so the
 * line shows every decode and which one fits which C return type.
 */
#include <inttypes.h>
#include <wprobe.h>

void wprobe_event(void) {
    int32_t r = int_returnval();
    const char *name = errno_str(r);
    wprobe_printf("%s: int %" PRId32, pp(), r);
    if (r < 0 && name) wprobe_printf(" (%s)", name);
    wprobe_printf(", unsigned int %" PRIu32 ", long %" PRId64 ", unsigned long %" PRIu64 "\n", uint_returnval(),
                  long_returnval(), ulong_returnval());
}

/*
 * How long a function takes: a log2 histogram of its latency in nanoseconds, bpftrace's
 * `hist()` and BCC's funclatency, printed every `--arg interval=N` seconds (then cleared) and
 * at the end, with the count and the mean. The same output as the Rust example
 * (examples/funclatency, without its `--arg calls=1`):
 *
 *   wprobe run funclatency_c.wasm --uretprobe /bin/bash:readline --arg interval=1
 *   @ns:
 *   [1M, 2M)               3 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
 *
 *   3 calls, mean 1520112 ns
 */
#include <inttypes.h>
#include <stdlib.h>
#include <wprobe.h>
#include <wprobe_agg.h>

static wprobe_agg *hist;
static uint64_t calls, total_ns;

int wprobe_init(const wprobe_session *session) {
    const char *interval = wprobe_arg_value(session, "interval");
    if (interval) {
        char *end;
        unsigned long s = strtoul(interval, &end, 10);
        if (*interval == '\0' || *interval == '-' || *end != '\0' || s > UINT32_MAX) {
            wprobe_fail("--arg interval=%s: expected a number of seconds", interval);
            return 1;
        }
        if (s > 0) wprobe_timer_s((uint32_t)s);
    }
    hist = wprobe_agg_hist("@ns");
    return 0;
}

void wprobe_event(void) {
    if (!is_return()) return;
    uint64_t ns;
    /* Attached mid-call: no entry, no latency. */
    if (latency_ns_checked(&ns) != WPROBE_OK) return;
    calls++;
    total_ns += ns;
    wprobe_agg_add(hist, (int64_t)ns, "");
}

void wprobe_tick(uint32_t timer) {
    (void)timer;
    wprobe_agg_print(hist, 0);
    wprobe_agg_clear(hist);
}

void wprobe_end(void) {
    wprobe_agg_print(hist, 0);
    wprobe_printf("%" PRIu64 " calls, mean %" PRIu64 " ns\n", calls, calls ? total_ns / calls : 0);
}

/*
 * How long a function takes: a log2 histogram of its latency in nanoseconds, bpftrace's
 * `hist()` and BCC's funclatency, printed every `--arg interval=N` seconds (`interval_ms=N`:
 * every N ms; then cleared) and at the end, with the count and the mean. The same output as
 * the Rust example
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

/* `--arg key=N` into *out when given; false (and a recorded error) when not a number. */
static bool number_arg(const wprobe_session *session, const char *key, uint64_t *out) {
    const char *v = wprobe_arg_value(session, key);
    if (!v) return true;
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    if (*v == '\0' || *v == '-' || *end != '\0') {
        wprobe_fail("--arg %s=%s: expected a number", key, v);
        return false;
    }
    *out = n;
    return true;
}

int wprobe_init(const wprobe_session *session) {
    uint64_t ms = 0;
    if (!number_arg(session, "interval", &ms)) return 1;
    ms *= 1000;
    if (!number_arg(session, "interval_ms", &ms)) return 1;
    if (ms > UINT32_MAX) {
        wprobe_fail("the interval is too long: at most %u ms", UINT32_MAX);
        return 1;
    }
    if (ms > 0) wprobe_timer_ms((uint32_t)ms);
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

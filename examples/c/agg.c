/*
 * Test handler: every aggregation of the SDK (wprobe_agg.h), fed from the events and
 * printed in wprobe_end(); prints byte for byte what the Rust tests/handlers/agg prints.
 */
#include <inttypes.h>
#include <wprobe.h>
#include <wprobe_agg.h>

static wprobe_agg *pids, *comms, *bytes, *sum, *min, *max, *avg, *stats, *hist, *sizes, *lin;

int wprobe_init(const wprobe_session *session) {
    (void)session;
    pids = wprobe_agg_count("@pids");
    comms = wprobe_agg_count("@comm");
    bytes = wprobe_agg_sum("@bytes");
    sum = wprobe_agg_sum("@sum");
    min = wprobe_agg_min("@min");
    max = wprobe_agg_max("@max");
    avg = wprobe_agg_avg("@avg");
    stats = wprobe_agg_stats("@stats");
    hist = wprobe_agg_hist("@hist");
    sizes = wprobe_agg_hist("@size");
    lin = wprobe_agg_lhist("@lin", 0, 100, 10);
    return lin ? 0 : 1;
}

void wprobe_event(void) {
    uint64_t p = pid();
    const char *comm = execname();
    int64_t v = long_arg(1), n = uint_arg(3);
    wprobe_agg_inc(pids, "u", p);
    wprobe_agg_inc(comms, "s", comm);
    wprobe_agg_add(bytes, n, "us", p, comm);
    wprobe_agg_add(sum, v, "");
    wprobe_agg_add(min, v, "");
    wprobe_agg_add(max, v, "");
    wprobe_agg_add(avg, n, "s", comm);
    wprobe_agg_add(stats, v, "");
    wprobe_agg_add(hist, v, "");
    wprobe_agg_add(sizes, n, "s", comm);
    wprobe_agg_add(lin, n, "");
}

void wprobe_end(void) {
    wprobe_agg_print(pids, 3);
    wprobe_agg_print(pids, 0);
    wprobe_agg_print(comms, 0);
    wprobe_agg_print(bytes, 0);
    wprobe_agg_print(sum, 0);
    wprobe_agg_print(min, 0);
    wprobe_agg_print(max, 0);
    wprobe_agg_print(avg, 0);
    wprobe_agg_print(stats, 0);
    wprobe_agg_print(hist, 0);
    wprobe_agg_print(sizes, 2);
    wprobe_agg_print(lin, 0);
    wprobe_agg_print_stap(hist, "");
    wprobe_agg_print_stap(lin, "");
    /* Cleared: a keyed map prints an empty line, a single value 0. */
    wprobe_agg_clear(pids);
    wprobe_agg_print(pids, 0);
    wprobe_agg_clear(sum);
    wprobe_agg_print(sum, 0);
    wprobe_printf("pids %zu comms %zu\n", wprobe_agg_len(pids), wprobe_agg_len(comms));
}

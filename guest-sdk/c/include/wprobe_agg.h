/*
 * wprobe_agg.h: aggregations kept in the handler's own memory, printed as bpftrace prints
 * its maps (the same bytes as the Rust SDK's wprobe_sdk::agg, Python's wprobe_agg, and
 * JavaScript's agg.js):
 *
 *     static wprobe_agg *opens, *lat;
 *     int wprobe_init(const wprobe_session *s) {
 *         opens = wprobe_agg_count("@opens");            // @opens[comm] = count()
 *         lat = wprobe_agg_hist("@usecs");               // @usecs = hist(...)
 *         return 0;
 *     }
 *     void wprobe_event(void) {
 *         wprobe_agg_inc(opens, "s", execname());
 *         wprobe_agg_add(lat, (int64_t)(latency_ns() / 1000), "");
 *     }
 *     void wprobe_end(void) {
 *         wprobe_agg_print(opens, 10);                   // print(@opens, 10)
 *         wprobe_agg_print(lat, 0);
 *     }
 *
 * Keys. Every call that names a key takes a key format and the key's parts: "" for none
 * (a single value, printed `@name: value`), and one letter per part: 'u' a uint64_t, 'd' an
 * int64_t, 's' a const char * (copied). Cast narrower integers: `"us", (uint64_t)pid(), comm`.
 * A key prints as bpftrace's: `@name[7, curl]: 3`.
 *
 * Values are signed 64-bit, as in bpftrace: a uint64_t above INT64_MAX counts as negative.
 * print() sorts by value ascending (histograms by their total count, avg and stats by the
 * average), ties by key, and with top > 0 prints only the top largest. A bad key format, or
 * lhist() parameters bpftrace refuses, record the error as wprobe_fail() does (the lhist
 * constructor then returns NULL, which every function here accepts and ignores).
 */
#ifndef WPROBE_AGG_H
#define WPROBE_AGG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wprobe_agg wprobe_agg;

/* One key's numbers: values added, their sum (wrapping at 64 bits), smallest and largest
 * (0 before any value). */
typedef struct wprobe_agg_entry {
    uint64_t count;
    int64_t sum, min, max;
} wprobe_agg_entry;

/* bpftrace's map kinds. `name` is printed as given ("@opens", or "@"). */
wprobe_agg *wprobe_agg_count(const char *name);
wprobe_agg *wprobe_agg_sum(const char *name);
wprobe_agg *wprobe_agg_min(const char *name);
wprobe_agg *wprobe_agg_max(const char *name);
wprobe_agg *wprobe_agg_avg(const char *name);
wprobe_agg *wprobe_agg_stats(const char *name);
/* hist(): power-of-two buckets. */
wprobe_agg *wprobe_agg_hist(const char *name);
/* lhist(v, min, max, step): NULL, with the error recorded, for parameters bpftrace refuses. */
wprobe_agg *wprobe_agg_lhist(const char *name, int64_t min, int64_t max, int64_t step);
void wprobe_agg_free(wprobe_agg *a);

/* Adds one value under a key (a count() map counts it, whatever it is). */
void wprobe_agg_add(wprobe_agg *a, int64_t value, const char *key, ...);
/* wprobe_agg_add(a, 1, key, ...): `@name[key] = count()`. */
void wprobe_agg_inc(wprobe_agg *a, const char *key, ...);
/* The key's numbers, or NULL. Valid until the map changes. */
const wprobe_agg_entry *wprobe_agg_get(const wprobe_agg *a, const char *key, ...);
/* sum / count rounded toward zero, 0 before any value (bpftrace's avg()). */
int64_t wprobe_agg_entry_avg(const wprobe_agg_entry *e);
/* delete(@name[key]): true if the key was there. */
bool wprobe_agg_delete(wprobe_agg *a, const char *key, ...);
/* clear(@name): every key goes; a single value (key "") is zeroed instead, as bpftrace does. */
void wprobe_agg_clear(wprobe_agg *a);
/* zero(@name): every key stays, its value back to 0. */
void wprobe_agg_zero(wprobe_agg *a);
size_t wprobe_agg_len(const wprobe_agg *a);

/* print(@name, top): the top largest (all for 0), largest last. */
void wprobe_agg_print(const wprobe_agg *a, size_t top);
/* SystemTap's print(@hist_log(v)) / print(@hist_linear(v, min, max, step)) of the
 * histogram under the key; nothing for another kind, a missing key or no values. */
void wprobe_agg_print_stap(const wprobe_agg *a, const char *key, ...);

#ifdef __cplusplus
}
#endif

#endif

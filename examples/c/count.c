/*
 * Counts events per process and prints a summary when the session ends, SystemTap's
 *
 *   global hits; probe kprobe.function("tcp_v4_connect") { hits[pid(), execname()]++ }
 *   probe end { foreach ([p, e] in hits-) printf("pid %d (%s): %d\n", p, e, hits[p, e]) }
 *
 * with the same output as the Rust example (examples/count):
 *
 *   pid 4859 (curl): 12
 *   pid 977 (sshd): 3
 *   total: 15
 *
 * `--arg exit_after=N` ends the session after N events, as SystemTap's `if (++n == N) exit()`.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <wprobe.h>

/* pid -> (events, command name at the first event), in an open-addressing table. */
struct row {
    uint32_t pid;
    bool used;
    uint64_t n;
    char name[16];
};

static struct row *rows;
static size_t cap, len;
static uint64_t seen, exit_after;
static bool has_exit_after;

int wprobe_init(const wprobe_session *session) {
    const char *n = wprobe_arg_value(session, "exit_after");
    if (n) {
        char *end;
        exit_after = strtoull(n, &end, 10);
        if (*n == '\0' || *n == '-' || *end != '\0') {
            wprobe_fail("--arg exit_after=%s: expected a number of events", n);
            return 1;
        }
        has_exit_after = true;
    }
    return 0;
}

static struct row *slot(struct row *table, size_t size, uint32_t pid) {
    size_t i = (pid * 2654435761u) & (size - 1);
    while (table[i].used && table[i].pid != pid) i = (i + 1) & (size - 1);
    return &table[i];
}

static void grow(void) {
    size_t size = cap ? cap * 2 : 64;
    struct row *table = calloc(size, sizeof *table);
    if (!table) abort();
    for (size_t i = 0; i < cap; i++) {
        if (rows[i].used) *slot(table, size, rows[i].pid) = rows[i];
    }
    free(rows);
    rows = table;
    cap = size;
}

void wprobe_event(void) {
    if (2 * (len + 1) > cap) grow();
    uint32_t p = pid();
    struct row *r = slot(rows, cap, p);
    if (!r->used) {
        /* The name is copied only the first time a pid shows up. */
        r->used = true;
        r->pid = p;
        strncpy(r->name, execname(), sizeof r->name - 1);
        len++;
    }
    r->n++;
    if (++seen == exit_after && has_exit_after) wprobe_exit();
}

/* Most events first, then by pid. */
static int by_count(const void *a, const void *b) {
    const struct row *x = a, *y = b;
    if (x->n != y->n) return x->n < y->n ? 1 : -1;
    return x->pid < y->pid ? -1 : x->pid > y->pid;
}

void wprobe_end(void) {
    size_t n = 0;
    for (size_t i = 0; i < cap; i++) {
        if (rows[i].used) rows[n++] = rows[i];
    }
    qsort(rows, n, sizeof *rows, by_count);
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        wprobe_printf("pid %" PRIu32 " (%s): %" PRIu64 "\n", rows[i].pid, rows[i].name, rows[i].n);
        total += rows[i].n;
    }
    wprobe_printf("total: %" PRIu64 "\n", total);
}

/*
 * Aggregations (wprobe_agg.h): the rules of guest-sdk/src/agg.rs, which the language tests
 * hold byte for byte. Keys are stored serialized (a tag byte per part, then 8 bytes or a
 * NUL-terminated string) in an open-addressing table.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wprobe.h>
#include <wprobe_agg.h>

enum kind { COUNT, SUM, MIN, MAX, AVG, STATS, HIST, LHIST };

/* SystemTap's log buckets: 64 holds zero, 65 + k holds [2^k, 2^(k+1)), 63 - k the negative
 * values of that magnitude; bpftrace's hist() buckets are sums of these. */
#define LOG_BUCKETS 128
#define LOG_ZERO 64
#define BPF_BAR 52
#define STAP_BAR 50

struct entry {
    wprobe_agg_entry e; /* first: wprobe_agg_get() hands it out */
    unsigned char *key;
    size_t key_len;
    uint64_t hash;
    uint64_t buckets[]; /* histograms only */
};

struct wprobe_agg {
    char *name;
    enum kind kind;
    int64_t min, max, step;
    size_t nbuckets;
    struct entry **slots; /* open addressing, NULL = free */
    size_t cap, len;
    struct entry *single; /* the entry of the empty key (a map without keys), once made */
};

/* ---- Keys ------------------------------------------------------------------------------ */

struct keybuf {
    unsigned char *p;
    size_t len, cap;
};

/* Room for n more bytes. */
static void kb_reserve(struct keybuf *k, size_t n) {
    if (k->len + n > k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 64;
        while (cap < k->len + n) cap *= 2;
        unsigned char *p = realloc(k->p, cap);
        if (!p) abort();
        k->p = p;
        k->cap = cap;
    }
}

static void kb_put(struct keybuf *k, const void *bytes, size_t n) {
    kb_reserve(k, n);
    memcpy(k->p + k->len, bytes, n);
    k->len += n;
}

/* The key of `fmt` and its arguments, serialized into `k`; false after recording an error. */
static bool make_key(struct keybuf *k, const char *fmt, va_list ap) {
    k->len = 0;
    for (const char *f = fmt; *f; f++) {
        if (k->cap - k->len < 9) kb_reserve(k, 9);
        k->p[k->len++] = (unsigned char)*f;
        if (*f == 'u' || *f == 'd') {
            uint64_t v = *f == 'u' ? va_arg(ap, uint64_t) : (uint64_t)va_arg(ap, int64_t);
            memcpy(k->p + k->len, &v, 8);
            k->len += 8;
        } else if (*f == 's') {
            const char *s = va_arg(ap, const char *);
            if (!s) s = "";
            kb_put(k, s, strlen(s) + 1);
        } else {
            wprobe_fail("wprobe_agg: key format \"%s\": '%c' is not u (uint64_t), d (int64_t) or s (string)", fmt, *f);
            return false;
        }
    }
    return true;
}

/* FNV-1a over 8-byte words (the last one zero-padded), then mixed. */
static uint64_t hash_key(const unsigned char *p, size_t n) {
    uint64_t h = 1469598103934665603ull ^ n;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 1099511628211ull;
    }
    if (n) {
        uint64_t w = 0;
        for (size_t i = 0; i < n; i++) w |= (uint64_t)p[i] << (8 * i);
        h = (h ^ w) * 1099511628211ull;
    }
    return h ^ (h >> 29);
}

static bool same_key(const unsigned char *a, const unsigned char *b, size_t n) {
    for (; n >= 8; a += 8, b += 8, n -= 8) {
        uint64_t x, y;
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        if (x != y) return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (a[i] != b[i]) return false;
    }
    return true;
}

/* Key order for ties: part by part, numbers by value, strings by bytes. */
static int cmp_keys(const unsigned char *a, size_t an, const unsigned char *b, size_t bn) {
    size_t i = 0, j = 0;
    while (i < an && j < bn) {
        if (a[i] != b[j]) return a[i] < b[j] ? -1 : 1;
        char tag = (char)a[i];
        i++, j++;
        if (tag == 's') {
            int c = strcmp((const char *)a + i, (const char *)b + j);
            if (c) return c < 0 ? -1 : 1;
            i += strlen((const char *)a + i) + 1;
            j += strlen((const char *)b + j) + 1;
        } else {
            uint64_t x, y;
            memcpy(&x, a + i, 8);
            memcpy(&y, b + j, 8);
            if (tag == 'd' ? (int64_t)x != (int64_t)y : x != y) {
                return (tag == 'd' ? (int64_t)x < (int64_t)y : x < y) ? -1 : 1;
            }
            i += 8, j += 8;
        }
    }
    return (i < an) - (j < bn);
}

static void print_key(const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n;) {
        if (i > 0) wprobe_printf(", ");
        char tag = (char)p[i++];
        if (tag == 's') {
            wprobe_printf("%s", (const char *)p + i);
            i += strlen((const char *)p + i) + 1;
        } else {
            uint64_t v;
            memcpy(&v, p + i, 8);
            if (tag == 'd') {
                wprobe_printf("%" PRId64, (int64_t)v);
            } else {
                wprobe_printf("%" PRIu64, v);
            }
            i += 8;
        }
    }
}

/* ---- The table ------------------------------------------------------------------------- */

static wprobe_agg *make(const char *name, enum kind kind) {
    wprobe_agg *a = calloc(1, sizeof *a);
    if (!a || !(a->name = strdup(name ? name : ""))) abort();
    a->kind = kind;
    if (kind == HIST) a->nbuckets = LOG_BUCKETS;
    return a;
}

wprobe_agg *wprobe_agg_count(const char *name) { return make(name, COUNT); }
wprobe_agg *wprobe_agg_sum(const char *name) { return make(name, SUM); }
wprobe_agg *wprobe_agg_min(const char *name) { return make(name, MIN); }
wprobe_agg *wprobe_agg_max(const char *name) { return make(name, MAX); }
wprobe_agg *wprobe_agg_avg(const char *name) { return make(name, AVG); }
wprobe_agg *wprobe_agg_stats(const char *name) { return make(name, STATS); }
wprobe_agg *wprobe_agg_hist(const char *name) { return make(name, HIST); }

/* bpftrace 0.17's checks, in its words. */
wprobe_agg *wprobe_agg_lhist(const char *name, int64_t min, int64_t max, int64_t step) {
    if (step <= 0) {
        wprobe_fail("lhist() step must be >= 1 (%" PRId64 " provided)", step);
    } else if (min < 0) {
        wprobe_fail("lhist() min must be non-negative (provided min %" PRId64 ")", min);
    } else if (min > max) {
        wprobe_fail("lhist() min must be less than max (provided min %" PRId64 " and max %" PRId64 ")", min, max);
    } else if (max - min < step) {
        wprobe_fail("lhist() step is too large for the given range (provided step %" PRId64 " for range %" PRId64 ")",
                    step, max - min);
    } else if ((max - min) / step > 1000) {
        wprobe_fail("lhist() too many buckets, must be <= 1000 (would need %" PRId64 ")", (max - min) / step);
    } else {
        wprobe_agg *a = make(name, LHIST);
        a->min = min, a->max = max, a->step = step;
        /* SystemTap's layout: under min, the steps to one past max, over. */
        a->nbuckets = (size_t)((max - min) / step) + 3;
        return a;
    }
    return NULL;
}

void wprobe_agg_free(wprobe_agg *a) {
    if (!a) return;
    for (size_t i = 0; i < a->cap; i++) {
        if (a->slots[i]) free(a->slots[i]->key), free(a->slots[i]);
    }
    free(a->slots);
    free(a->name);
    free(a);
}

static size_t find_slot(struct entry **slots, size_t cap, const unsigned char *key, size_t n, uint64_t h) {
    size_t i = (size_t)h & (cap - 1);
    while (slots[i] && !(slots[i]->hash == h && slots[i]->key_len == n && same_key(slots[i]->key, key, n))) {
        i = (i + 1) & (cap - 1);
    }
    return i;
}

static void grow(wprobe_agg *a) {
    size_t cap = a->cap ? a->cap * 2 : 16;
    struct entry **slots = calloc(cap, sizeof *slots);
    if (!slots) abort();
    for (size_t i = 0; i < a->cap; i++) {
        struct entry *e = a->slots[i];
        if (e) slots[find_slot(slots, cap, e->key, e->key_len, e->hash)] = e;
    }
    free(a->slots);
    a->slots = slots;
    a->cap = cap;
}

static struct entry *lookup(const wprobe_agg *a, const struct keybuf *k) {
    if (!a->cap) return NULL;
    return a->slots[find_slot(a->slots, a->cap, k->p, k->len, hash_key(k->p, k->len))];
}

/* One scratch key: handlers are single-threaded. */
static struct keybuf scratch;

static void log_add(uint64_t *b, int64_t v) {
    if (v == 0) {
        b[LOG_ZERO]++;
    } else if (v > 0) {
        b[LOG_ZERO + 1 + (63 - __builtin_clzll((uint64_t)v))]++;
    } else {
        uint64_t u = (uint64_t)0 - (uint64_t)v;
        b[LOG_ZERO - 1 - (63 - __builtin_clzll(u))]++;
    }
}

/* The entry of fmt's key, made if new; NULL after recording an error. */
static struct entry *add_entry(wprobe_agg *a, const char *fmt, va_list ap) {
    if (!make_key(&scratch, fmt, ap)) return NULL;
    if (2 * (a->len + 1) > a->cap) grow(a);
    uint64_t h = hash_key(scratch.p, scratch.len);
    size_t i = find_slot(a->slots, a->cap, scratch.p, scratch.len, h);
    struct entry *e = a->slots[i];
    if (!e) {
        e = calloc(1, sizeof *e + a->nbuckets * sizeof(uint64_t));
        if (!e || !(e->key = malloc(scratch.len ? scratch.len : 1))) abort();
        memcpy(e->key, scratch.p, scratch.len);
        e->key_len = scratch.len;
        e->hash = h;
        a->slots[i] = e;
        a->len++;
    }
    if (scratch.len == 0) a->single = e;
    return e;
}

static void add_v(wprobe_agg *a, int64_t v, const char *fmt, va_list ap) {
    if (!a) return;
    /* A map without keys: its one entry, without a key to make or look up. */
    struct entry *e = *fmt ? NULL : a->single;
    if (!e) e = add_entry(a, fmt, ap);
    if (!e) return;
    wprobe_agg_entry *s = &e->e;
    if (s->count == 0 || v < s->min) s->min = v;
    if (s->count == 0 || v > s->max) s->max = v;
    s->count++;
    s->sum = (int64_t)((uint64_t)s->sum + (uint64_t)v);
    if (a->kind == HIST) {
        log_add(e->buckets, v);
    } else if (a->kind == LHIST) {
        uint64_t last = a->nbuckets - 1;
        uint64_t b = v < a->min ? 0 : (uint64_t)(v - a->min) / (uint64_t)a->step + 1;
        e->buckets[b < last ? b : last]++;
    }
}

void wprobe_agg_add(wprobe_agg *a, int64_t value, const char *key, ...) {
    va_list ap;
    va_start(ap, key);
    add_v(a, value, key, ap);
    va_end(ap);
}

void wprobe_agg_inc(wprobe_agg *a, const char *key, ...) {
    va_list ap;
    va_start(ap, key);
    add_v(a, 1, key, ap);
    va_end(ap);
}

static struct entry *get_v(const wprobe_agg *a, const char *fmt, va_list ap) {
    if (!a || !make_key(&scratch, fmt, ap)) return NULL;
    return lookup(a, &scratch);
}

const wprobe_agg_entry *wprobe_agg_get(const wprobe_agg *a, const char *key, ...) {
    va_list ap;
    va_start(ap, key);
    struct entry *e = get_v(a, key, ap);
    va_end(ap);
    return e ? &e->e : NULL;
}

int64_t wprobe_agg_entry_avg(const wprobe_agg_entry *e) {
    return e->count ? e->sum / (int64_t)e->count : 0;
}

/* Removes slot i and re-places the run after it (linear probing has no tombstones). */
static void remove_slot(wprobe_agg *a, size_t i) {
    struct entry *e = a->slots[i];
    if (e == a->single) a->single = NULL;
    free(e->key);
    free(e);
    a->slots[i] = NULL;
    a->len--;
    for (size_t j = (i + 1) & (a->cap - 1); a->slots[j]; j = (j + 1) & (a->cap - 1)) {
        struct entry *m = a->slots[j];
        a->slots[j] = NULL;
        a->slots[find_slot(a->slots, a->cap, m->key, m->key_len, m->hash)] = m;
    }
}

bool wprobe_agg_delete(wprobe_agg *a, const char *key, ...) {
    va_list ap;
    va_start(ap, key);
    bool ok = a && make_key(&scratch, key, ap);
    va_end(ap);
    if (!ok || !a->cap) return false;
    size_t i = find_slot(a->slots, a->cap, scratch.p, scratch.len, hash_key(scratch.p, scratch.len));
    if (!a->slots[i]) return false;
    remove_slot(a, i);
    return true;
}

static void zero_entry(const wprobe_agg *a, struct entry *e) {
    memset(&e->e, 0, sizeof e->e);
    memset(e->buckets, 0, a->nbuckets * sizeof(uint64_t));
}

void wprobe_agg_zero(wprobe_agg *a) {
    if (!a) return;
    for (size_t i = 0; i < a->cap; i++) {
        if (a->slots[i]) zero_entry(a, a->slots[i]);
    }
}

void wprobe_agg_clear(wprobe_agg *a) {
    if (!a) return;
    for (size_t i = 0; i < a->cap; i++) {
        struct entry *e = a->slots[i];
        if (!e) continue;
        if (e->key_len == 0) {
            zero_entry(a, e);
        } else {
            if (e == a->single) a->single = NULL;
            free(e->key);
            free(e);
            a->slots[i] = NULL;
            a->len--;
        }
    }
    /* Whatever stayed (a single value) is put back where a probe finds it. */
    struct entry **old = a->slots;
    size_t cap = a->cap;
    a->slots = cap ? calloc(cap, sizeof *a->slots) : NULL;
    if (cap && !a->slots) abort();
    for (size_t i = 0; i < cap; i++) {
        if (old[i]) a->slots[find_slot(a->slots, cap, old[i]->key, old[i]->key_len, old[i]->hash)] = old[i];
    }
    free(old);
}

size_t wprobe_agg_len(const wprobe_agg *a) { return a ? a->len : 0; }

/* ---- Printing -------------------------------------------------------------------------- */

static int64_t avg_of(const wprobe_agg_entry *e) { return wprobe_agg_entry_avg(e); }

/* The value print() sorts by; counts are unsigned, the rest signed. */
static int cmp_value(const wprobe_agg *a, const struct entry *x, const struct entry *y) {
    switch (a->kind) {
    case COUNT:
    case HIST:
    case LHIST:
        return x->e.count < y->e.count ? -1 : x->e.count > y->e.count;
    default: {
        int64_t u, v;
        if (a->kind == SUM) u = x->e.sum, v = y->e.sum;
        else if (a->kind == MIN) u = x->e.min, v = y->e.min;
        else if (a->kind == MAX) u = x->e.max, v = y->e.max;
        else u = avg_of(&x->e), v = avg_of(&y->e);
        return u < v ? -1 : u > v;
    }
    }
}

static const wprobe_agg *sorting;

static int by_value(const void *p, const void *q) {
    const struct entry *x = *(struct entry *const *)p, *y = *(struct entry *const *)q;
    int c = cmp_value(sorting, x, y);
    return c ? c : cmp_keys(x->key, x->key_len, y->key, y->key_len);
}

/* Labels are built in a small buffer first: bpftrace pads them to 16 columns. */
static char label[96];
static size_t label_len;

static void lab(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void lab(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(label + label_len, sizeof label - label_len, fmt, ap);
    va_end(ap);
    if (n > 0) label_len += (size_t)n < sizeof label - label_len ? (size_t)n : sizeof label - label_len - 1;
}

static void lab_pow2(int p) {
    lab("%" PRIu64, (uint64_t)1 << (p % 10));
    if (p >= 10) lab("%c", " KMGTPE"[p / 10]);
}

static void lab_linear(int64_t n) {
    const int64_t K = 1024, M = 1024 * 1024;
    if (n != 0 && n % M == 0) lab("%" PRId64 "M", n / M);
    else if (n != 0 && n % K == 0) lab("%" PRId64 "K", n / K);
    else lab("%" PRId64, n);
}

/* Bars are printed as a prefix of this. */
static char ats[BPF_BAR + 1];

static const char *bars(void) {
    if (!ats[0]) memset(ats, '@', BPF_BAR);
    return ats;
}

/* The bar is count / max * 52 in single precision, truncated, as bpftrace computes it. */
static void bpf_row(uint64_t c, uint64_t max) {
    int bar = (int)((float)c / (float)max * (float)BPF_BAR);
    wprobe_printf("%-16s%8" PRIu64 " |%.*s%*s|\n", label, c, bar, bars(), BPF_BAR - bar, "");
}

/* The first and last non-empty buckets (n and 0 if none) and the largest count. */
static uint64_t span(const uint64_t *c, size_t n, size_t *first, size_t *last) {
    uint64_t max = 0;
    *first = n, *last = 0;
    for (size_t i = 0; i < n; i++) {
        if (c[i] > 0) {
            if (*first == n) *first = i;
            *last = i;
        }
        if (c[i] > max) max = c[i];
    }
    return max;
}

/* bpftrace's table, from the first non-empty bucket to the last. */
static void bpf_table(const wprobe_agg *a, const uint64_t *b) {
    size_t n = a->kind == HIST ? 65 : a->nbuckets - 1;
    uint64_t counts[1003];
    if (a->kind == HIST) {
        counts[0] = 0;
        for (size_t i = 0; i < LOG_ZERO; i++) counts[0] += b[i];
        for (size_t i = 1; i < n; i++) counts[i] = b[LOG_ZERO + i - 1];
    } else {
        /* lhist's [max, ...) also holds SystemTap's extra step past max. */
        for (size_t i = 0; i < n; i++) counts[i] = b[i];
        counts[n - 1] += b[n];
    }
    size_t first, last;
    uint64_t max = span(counts, n, &first, &last);
    for (size_t i = first; i <= last && first < n; i++) {
        label_len = 0;
        label[0] = '\0';
        if (a->kind == HIST) {
            if (i == 0) lab("(..., 0)");
            else if (i == 1) lab("[0]");
            else if (i == 2) lab("[1]");
            else lab("["), lab_pow2((int)i - 2), lab(", "), lab_pow2((int)i - 1), lab(")");
        } else if (i == 0) {
            lab("(..., "), lab_linear(a->min), lab(")");
        } else if (i == n - 1) {
            lab("["), lab_linear(a->max), lab(", ...)");
        } else {
            lab("["), lab_linear((int64_t)(i - 1) * a->step + a->min), lab(", ");
            lab_linear((int64_t)i * a->step + a->min), lab(")");
        }
        bpf_row(counts[i], max);
    }
}

void wprobe_agg_print(const wprobe_agg *a, size_t top) {
    if (!a) return;
    struct entry **rows = malloc((a->len ? a->len : 1) * sizeof *rows);
    if (!rows) abort();
    size_t n = 0;
    for (size_t i = 0; i < a->cap; i++) {
        if (a->slots[i]) rows[n++] = a->slots[i];
    }
    sorting = a;
    qsort(rows, n, sizeof *rows, by_value);
    size_t skip = top > 0 && n > top ? n - top : 0;
    for (size_t i = skip; i < n; i++) {
        const struct entry *e = rows[i];
        if (i > skip) wprobe_printf("\n");
        wprobe_printf("%s", a->name);
        if (e->key_len) {
            wprobe_printf("[");
            print_key(e->key, e->key_len);
            wprobe_printf("]");
        }
        wprobe_printf(": ");
        switch (a->kind) {
        case COUNT: wprobe_printf("%" PRIu64, e->e.count); break;
        case SUM: wprobe_printf("%" PRId64, e->e.sum); break;
        case MIN: wprobe_printf("%" PRId64, e->e.min); break;
        case MAX: wprobe_printf("%" PRId64, e->e.max); break;
        case AVG: wprobe_printf("%" PRId64, avg_of(&e->e)); break;
        case STATS:
            wprobe_printf("count %" PRIu64 ", average %" PRId64 ", total %" PRId64, e->e.count, avg_of(&e->e),
                          e->e.sum);
            break;
        case HIST:
        case LHIST:
            wprobe_printf("\n");
            bpf_table(a, e->buckets);
            break;
        }
    }
    free(rows);
    wprobe_printf("\n");
    /* bpftrace ends avg() and stats() maps with an empty line. */
    if (a->kind == AVG || a->kind == STATS) wprobe_printf("\n");
}

/* Columns a decimal takes, sign included (SystemTap's needed_space). */
static int digits(int64_t v) {
    int n = v < 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do n++, u /= 10;
    while (u);
    return n;
}

static int64_t stap_log_value(size_t i) {
    if (i == LOG_ZERO) return 0;
    if (i > LOG_ZERO) return (int64_t)1 << (i - LOG_ZERO - 1);
    return INT64_MIN >> i;
}

/* SystemTap's table (runtime/stat-common.c); see write_stap_table in agg.rs. */
static void stap_table(const wprobe_agg *a, const uint64_t *h) {
    bool linear = a->kind == LHIST;
    size_t n = a->nbuckets, low, high;
    uint64_t valmax = span(h, n, &low, &high);
    if (low == n) return;
    for (int k = 0; k < 2; k++) {
        if (low > 0 && (linear || low != LOG_ZERO)) low--;
        if (high < n - 1) high++;
    }
    bool under = false, over = false;
    if (linear) {
        if (low == 0 && h[0] == 0) low++;
        if (high == n - 1 && h[high] == 0) high--;
        under = low == 0;
        over = high == n - 1;
    }
    uint64_t scale = valmax <= STAP_BAR ? 1 : (valmax + STAP_BAR - 1) / STAP_BAR;
    int cnt_space = digits((int64_t)valmax), val_space;
    if (linear) {
        int x = digits(a->min) + under, y = digits(a->min + a->step * (int64_t)high) + over;
        val_space = x > y ? x : y;
    } else {
        int x = digits(stap_log_value(high)), y = digits(stap_log_value(low));
        val_space = x > y ? x : y;
    }
    if (val_space < 5) val_space = 5;
    wprobe_printf("%*s |--------------------------------------------------", val_space, "value");
    wprobe_printf(" count\n");
    bool eliding = false;
    for (size_t i = low; i <= high; i++) {
        size_t from = i >= low + 2 ? i - 2 : low, to = i + 2 < high ? i + 2 : high;
        bool empty = true;
        for (size_t k = from; k <= to; k++) empty = empty && h[k] == 0;
        if (empty) {
            eliding = true;
            continue;
        }
        if (eliding) {
            wprobe_printf("%*s ~\n", val_space, "");
            eliding = false;
        }
        const char *prefix = "";
        int64_t val;
        if (!linear) val = stap_log_value(i);
        else if (i == 0) prefix = "<", val = a->min;
        else if (i == n - 1) prefix = ">", val = a->min + (int64_t)(i - 2) * a->step;
        else val = a->min + (int64_t)(i - 1) * a->step;
        uint64_t v = h[i] / scale;
        int pad = val_space > digits(val) ? val_space - digits(val) : 0;
        wprobe_printf("%*s%" PRId64 " |%.*s%*" PRIu64 "\n", pad, prefix, val, (int)v, bars(),
                      (int)(STAP_BAR - v + 1) + cnt_space, h[i]);
    }
    wprobe_printf("\n");
}

void wprobe_agg_print_stap(const wprobe_agg *a, const char *key, ...) {
    va_list ap;
    va_start(ap, key);
    struct entry *e = get_v(a, key, ap);
    va_end(ap);
    if (e && (a->kind == HIST || a->kind == LHIST)) stap_table(a, e->buckets);
}

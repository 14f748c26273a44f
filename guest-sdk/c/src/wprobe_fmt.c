/*
 * wprobe_printf's formatter: formats whose directives are `%d %i %u %x %X %c %s %%`, with
 * the length modifiers hh, h, l, ll, j, z, t, a width, and the flag `-` (or `0` for the
 * integers), are formatted here, straight into the output buffer, byte for byte as
 * wasi-libc's vsnprintf would (tests/all/languages/c_printf.rs compares the two over edge
 * and random values). Anything else (a precision, `*`, the flags `+ #'` and space, floating
 * point, `%p`, `%n`, wide characters) is left to vsnprintf, decided before anything is
 * written.
 *
 * In the guest, what costs is work per call that could be done once, calls (each with
 * wasmtime's entry checks), loops, and what wasmtime turns into calls out of the sandbox (a
 * `memory.copy` of a length not known at compile time). So:
 * - A format is parsed into steps (literal text, then a directive specialized by argument
 *   width). wprobe.h's wprobe_printf macro tells string literals apart
 *   (__builtin_constant_p): a literal never changes and keeps its address, so its steps
 *   are kept in a table keyed by that address. Any other format is parsed at every call,
 *   into the stack.
 * - A literal's text is copied as one or two 16-byte words (it lies in the module's data,
 *   so reading past its end is harmless); strings are copied a word at a time while looking
 *   for their NUL; digits are made eight at a time with word arithmetic (hex: nibbles spread
 *   to bytes; decimal: lanes divided by multiplying, with the digit pairs of wprobe_common.h
 *   for numbers below 100). The writes may run up to SLACK bytes past the text, into room
 *   reserved for it and overwritten next.
 */
/* No SystemTap short names here (field(), ...). */
#define WPROBE_NO_SHORT_NAMES
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wprobe_common.h"
#include "wprobe_internal.h"

_Static_assert(sizeof(size_t) == sizeof(long) && sizeof(ptrdiff_t) == sizeof(long), "z and t read a long");

static const char dec_pairs[WP_DEC_PAIRS_LEN + 1] = WP_DEC_PAIRS;

enum conv { CV_NONE, CV_SIGNED, CV_UNSIGNED, CV_HEX, CV_HEX_UPPER, CV_CHAR, CV_STRING };
enum size { SZ_INT, SZ_CHAR, SZ_SHORT, SZ_LONG, SZ_LLONG, SZ_MAX };
enum flag { F_LEFT = 1, F_ZERO = 2 };

/* Widths above this are left to vsnprintf (they would only need a larger reservation). */
#define MAX_WIDTH 4096u
/* The longest integer: `-` and 19 digits, or 20 digits, or 16 hex digits. */
#define MAX_INTEGER 20u
/* Formats with more directives than this are left to vsnprintf. */
#define MAX_STEPS 64u
/* The writers may write up to this many bytes past the end of what they write (garbage
 * that the next piece overwrites, or that lies past the output's end): run_steps() requires
 * that much room beyond the format's need. */
#define SLACK 16u

/* Literal text lit[0, len) (in the format), then a directive (conv CV_NONE: none; the last
 * step). */
struct step {
    const char *lit;
    uint32_t len;
    /* What the steps after this one may write, strings aside, SLACK included. */
    uint32_t rest;
    uint16_t width;
    uint8_t conv, size, flags, op;
};

struct format {
    const char *fmt;
    /* Bytes this format can write besides its strings: literal text, integers at their
     * longest, widths. 0 with nsteps 0: vsnprintf's. */
    size_t need;
    uint32_t nsteps;
    struct step steps[];
};

/* What a step does after its text: one case per directive and argument width (the common
 * ones without a width), the rest through OP_FIELD. */
enum op { OP_NONE, OP_S32, OP_S64, OP_U32, OP_U64, OP_X32, OP_X64, OP_STR, OP_FIELD };

static uint8_t op_of(const struct step *s) {
    if (s->conv == CV_NONE) return OP_NONE;
    if (s->width) return OP_FIELD;
    bool wide = s->size == SZ_LLONG || s->size == SZ_MAX;
    switch (s->conv) {
    case CV_SIGNED: return wide ? OP_S64 : OP_S32;
    case CV_UNSIGNED: return wide ? OP_U64 : OP_U32;
    case CV_HEX:
    case CV_HEX_UPPER: return wide ? OP_X64 : OP_X32;
    case CV_STRING: return OP_STR;
    default: return OP_FIELD;
    }
}

/* ---- Parsing ---------------------------------------------------------------------------- */

/* Parses fmt into at most MAX_STEPS steps; returns how many, or 0 when vsnprintf must do it.
 * *need gets what struct format's need says. */
static uint32_t parse(const char *fmt, struct step *steps, size_t *need) {
    uint32_t n = 0;
    size_t total = 0;
    const char *lit = fmt, *p = fmt;
    for (;;) {
        while (*p && *p != '%') p++;
        if (n == MAX_STEPS || (size_t)(p - fmt) > UINT32_MAX) return 0;
        struct step *s = &steps[n++];
        s->lit = lit;
        s->len = (uint32_t)(p - lit);
        s->conv = CV_NONE;
        s->size = SZ_INT;
        s->flags = 0;
        s->width = 0;
        s->op = OP_NONE;
        total += s->len;
        if (!*p) break;
        p++; /* the % */
        if (*p == '%') {
            /* `%%`: the first % ends this step's text; the next step's starts after both. */
            s->len++;
            total++;
            lit = ++p;
            continue;
        }
        for (;; p++) {
            if (*p == '-') s->flags |= F_LEFT;
            else if (*p == '0') s->flags |= F_ZERO;
            else break;
        }
        /* Both: vsnprintf's business (so are the flags not recognised above). */
        if (s->flags == (F_LEFT | F_ZERO)) return 0;
        uint32_t width = 0;
        while (*p >= '0' && *p <= '9') {
            width = width * 10 + (uint32_t)(*p++ - '0');
            if (width > MAX_WIDTH) return 0;
        }
        s->width = (uint16_t)width;
        switch (*p) {
        case 'h':
            if (p[1] == 'h') p++, s->size = SZ_CHAR;
            else s->size = SZ_SHORT;
            p++;
            break;
        case 'l':
            if (p[1] == 'l') p++, s->size = SZ_LLONG;
            else s->size = SZ_LONG;
            p++;
            break;
        case 'j': s->size = SZ_MAX, p++; break;
        case 'z':
        case 't': s->size = SZ_LONG, p++; break;
        default: break;
        }
        switch (*p) {
        case 'd':
        case 'i': s->conv = CV_SIGNED; break;
        case 'u': s->conv = CV_UNSIGNED; break;
        case 'x': s->conv = CV_HEX; break;
        case 'X': s->conv = CV_HEX_UPPER; break;
        case 'c': s->conv = CV_CHAR; break;
        case 's': s->conv = CV_STRING; break;
        default: return 0;
        }
        /* %lc and %ls are wide; `0` pads %c and %s with spaces in musl: leave both alone. */
        if (s->conv >= CV_CHAR && (s->size != SZ_INT || (s->flags & F_ZERO))) return 0;
        s->op = op_of(s);
        total += width > MAX_INTEGER ? width : MAX_INTEGER;
        lit = ++p;
    }
    /* Where each step ends, what the rest may need (SLACK: see the writers). */
    size_t used = 0;
    for (uint32_t i = 0; i < n; i++) {
        used += steps[i].len;
        if (steps[i].conv != CV_NONE) used += steps[i].width > MAX_INTEGER ? steps[i].width : MAX_INTEGER;
        steps[i].rest = (uint32_t)(total + SLACK - used);
    }
    *need = total;
    return n;
}

/* The steps of the literal fmt, parsed once: an open-addressing table keyed by its address,
 * which grows and never evicts (a program has as many literal formats as it has). */
static struct format **table;
static uint32_t table_bits, table_used;

static uint32_t slot_of(const char *fmt, uint32_t bits) {
    return (uint32_t)((uint32_t)(uintptr_t)fmt * 2654435761u) >> (32 - bits);
}

static bool insert(struct format **t, uint32_t bits, struct format *f) {
    uint32_t mask = (1u << bits) - 1;
    for (uint32_t i = slot_of(f->fmt, bits);; i = (i + 1) & mask) {
        if (!t[i]) {
            t[i] = f;
            return true;
        }
    }
}

static bool grow(void) {
    uint32_t bits = table_bits ? table_bits + 1 : 6;
    struct format **t = calloc((size_t)1 << bits, sizeof *t);
    if (!t) return false;
    for (uint32_t i = 0; table && i < (1u << table_bits); i++) {
        if (table[i]) insert(t, bits, table[i]);
    }
    free(table);
    table = t;
    table_bits = bits;
    return true;
}

/* Parses the literal fmt and keeps it in the table; NULL when out of memory. */
static __attribute__((noinline)) const struct format *cache_miss(const char *fmt) {
    if (2 * (table_used + 1) > (table ? 1u << table_bits : 0) && !grow()) return NULL;
    struct step steps[MAX_STEPS];
    size_t need = 0;
    uint32_t n = parse(fmt, steps, &need);
    struct format *f = malloc(sizeof *f + n * sizeof *steps);
    if (!f) return NULL;
    f->fmt = fmt;
    f->need = need;
    f->nsteps = n;
    memcpy(f->steps, steps, n * sizeof *steps);
    insert(table, table_bits, f);
    table_used++;
    return f;
}

/* The literal fmt's parsed steps, or NULL when out of memory. */
static inline const struct format *cached(const char *fmt) {
    static const struct format *last; /* a handler often prints with one format */
    if (last && last->fmt == fmt) return last;
    if (table) {
        uint32_t mask = (1u << table_bits) - 1;
        for (uint32_t i = slot_of(fmt, table_bits); table[i]; i = (i + 1) & mask) {
            if (table[i]->fmt == fmt) return last = table[i];
        }
    }
    return last = cache_miss(fmt);
}

/* ---- Writing ---------------------------------------------------------------------------- */

static inline void copy8(char *d, const char *s) { memcpy(d, s, 8); }
static inline void copy16(char *d, const char *s) {
    copy8(d, s);
    copy8(d + 8, s + 8);
}
static inline void copy32(char *d, const char *s) {
    copy16(d, s);
    copy16(d + 16, s + 16);
}
static inline void store8(char *d, uint64_t v) { memcpy(d, &v, 8); }

/* Copies n bytes of s to p, reading and writing no byte outside them; returns the end. Up
 * to 64 bytes (nearly all literal text and most strings) with at most eight word loads and
 * stores, the two halves overlapping instead of running past n. */
static inline char *put(char *p, const char *s, size_t n) {
    if (n > 64) {
        memcpy(p, s, n);
    } else if (n >= 32) {
        copy32(p, s);
        copy32(p + n - 32, s + n - 32);
    } else if (n >= 16) {
        copy16(p, s);
        copy16(p + n - 16, s + n - 16);
    } else if (n >= 8) {
        copy8(p, s);
        copy8(p + n - 8, s + n - 8);
    } else if (n >= 4) {
        memcpy(p, s, 4);
        memcpy(p + n - 4, s + n - 4, 4);
    } else if (n > 0) {
        p[0] = s[0];
        p[n / 2] = s[n / 2];
        p[n - 1] = s[n - 1];
    }
    return p + n;
}

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* A mask of w's bytes that are 0, exact up to the first (bytes above it may show too). */
static inline uint64_t zero_bytes(uint64_t w) { return (w - ONES) & ~w & HIGHS; }

/* Copies the NUL-terminated s to p, 8 bytes at a time: strlen and the copy in one pass.
 * Reads only whole aligned words (which never cross the end of memory, as a byte-wise
 * read of the string would not), writes up to 8 bytes past the string, and never at or
 * after `limit`. Returns the end, or NULL when the string does not fit. */
static inline char *put_string(char *p, const char *s, const char *limit) {
    uintptr_t skew = (uintptr_t)s & 7;
    const uint64_t *w = (const uint64_t *)(const void *)(s - skew);
    /* The first word from s on; the bytes before s are made non-zero. */
    uint64_t x = *w++ >> (8 * skew) | (skew ? ~0ull << (64 - 8 * skew) : 0);
    size_t step = 8 - skew;
    for (;;) {
        if (limit - p < 8) return NULL;
        uint64_t z = zero_bytes(x);
        store8(p, x);
        if (z) return p + (__builtin_ctzll(z) >> 3);
        p += step;
        x = *w++;
        step = 8;
    }
}

static inline char *fill(char *p, char c, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) p[i] = c;
    return p + n;
}

static const uint32_t pow10_32[10] = {0, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000};
static const uint64_t pow10_64[20] = {
    0, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull, 100000000ull, 1000000000ull,
    10000000000ull, 100000000000ull, 1000000000000ull, 10000000000000ull, 100000000000000ull,
    1000000000000000ull, 10000000000000000ull, 100000000000000000ull, 1000000000000000000ull,
    10000000000000000000ull,
};

/* Decimal digits of v: log2 to log10 with a correction. */
static inline uint32_t dec_len32(uint32_t v) {
    uint32_t t = ((32 - (uint32_t)__builtin_clz(v | 1)) * 1233) >> 12;
    return t + (v >= pow10_32[t]);
}
static inline uint32_t dec_len64(uint64_t v) {
    uint32_t t = ((64 - (uint32_t)__builtin_clzll(v | 1)) * 1233) >> 12;
    return t + (v >= pow10_64[t]);
}

/* The eight decimal digits of v < 10^8, leading zeros included, as ASCII in a word whose
 * first byte in memory is the first digit: the word is split into halves of 4 digits, of 2,
 * of 1, each lane divided by a multiply and shift, all lanes at once. */
static inline uint64_t eight_digits(uint32_t v) {
    uint32_t hi = (uint32_t)(((uint64_t)v * 109951163) >> 40); /* v / 10000 */
    uint64_t x = hi | (uint64_t)(v - hi * 10000) << 32;
    uint64_t q = ((x * 10486) >> 20) & 0x0000007f0000007full; /* each 32-bit lane / 100 */
    x = q | (x - q * 100) << 16;
    q = ((x * 103) >> 10) & 0x000f000f000f000full; /* each 16-bit lane / 10 */
    x = q | (x - q * 10) << 8;
    return x | 0x3030303030303030ull;
}

/* Writes v < 10^8 of len digits at p, and up to 8 bytes in all. */
static inline void dec_small(char *p, uint32_t v, uint32_t len) {
    if (v < 100) {
        if (v < 10) *p = (char)('0' + v);
        else memcpy(p, dec_pairs + 2 * v, 2);
    } else {
        store8(p, eight_digits(v) >> (8 * (8 - len)));
    }
}

/* Writes v's len decimal digits at p, and up to SLACK bytes in all past p + len. */
static void dec_write(char *p, uint64_t v, uint32_t len) {
    if (v < 100000000) {
        dec_small(p, (uint32_t)v, len);
        return;
    }
    /* v = head * 10^8 + low: head's digits, then exactly eight. */
    uint64_t head = v / 100000000;
    uint32_t low = (uint32_t)(v - head * 100000000);
    uint32_t head_len = len - 8;
    if (head < 100000000) {
        dec_small(p, (uint32_t)head, head_len);
    } else {
        /* Above 10^16: up to four digits, then eight. */
        uint32_t top = (uint32_t)(head / 100000000);
        dec_small(p, top, head_len - 8);
        store8(p + head_len - 8, eight_digits((uint32_t)(head - (uint64_t)top * 100000000)));
    }
    store8(p + head_len, eight_digits(low));
}

/* Writes v in decimal at p; returns the end. */
static inline char *dec32(char *p, uint32_t v) {
    if (v < 10) {
        *p = (char)('0' + v);
        return p + 1;
    }
    uint32_t len = dec_len32(v);
    if (v < 100000000) dec_small(p, v, len);
    else dec_write(p, v, len);
    return p + len;
}

/* The same for a 64-bit v. */
static inline char *dec64(char *p, uint64_t v) {
    uint32_t len = dec_len64(v);
    dec_write(p, v, len);
    return p + len;
}

/* Hexadecimal digits of v. */
static inline uint32_t hex_len(uint64_t v) { return (67 - (uint32_t)__builtin_clzll(v | 1)) >> 2; }

/* The eight hex digits of v as ASCII in a word whose first byte in memory is the first
 * digit: nibbles spread to bytes, then '0' added, and 'a' - '0' - 10 (or 'A' - ...) more to
 * those above 9. */
static inline uint64_t eight_hex(uint32_t v, uint64_t letters) {
    uint64_t x = (v >> 16) | (uint64_t)(v & 0xffff) << 32;
    x = ((x >> 8) & 0x000000ff000000ffull) | (x & 0x000000ff000000ffull) << 16;
    x = ((x >> 4) & 0x000f000f000f000full) | (x & 0x000f000f000f000full) << 8;
    uint64_t above9 = ((x + 0x0606060606060606ull) >> 4) & 0x0101010101010101ull;
    return x + 0x3030303030303030ull + above9 * letters;
}

#define LOWER 0x27u /* 'a' - '0' - 10 */
#define UPPER 0x07u /* 'A' - '0' - 10 */

/* Writes v's len hex digits at p, and 16 bytes in all. */
static inline void hex_write(char *p, uint64_t v, uint32_t len, uint64_t letters) {
    v <<= 4 * (16 - len); /* the first digit to the top */
    store8(p, eight_hex((uint32_t)(v >> 32), letters));
    store8(p + 8, eight_hex((uint32_t)v, letters));
}

/* ---- Running a format ---------------------------------------------------------------------- */

static inline __attribute__((always_inline)) int64_t signed_arg(uint8_t size, va_list *ap) {
    switch (size) {
    case SZ_CHAR: return (signed char)va_arg(*ap, int);
    case SZ_SHORT: return (short)va_arg(*ap, int);
    case SZ_LONG: return va_arg(*ap, long);
    case SZ_LLONG: return va_arg(*ap, long long);
    case SZ_MAX: return va_arg(*ap, intmax_t);
    default: return va_arg(*ap, int);
    }
}

static inline __attribute__((always_inline)) uint64_t unsigned_arg(uint8_t size, va_list *ap) {
    switch (size) {
    case SZ_CHAR: return (unsigned char)va_arg(*ap, unsigned);
    case SZ_SHORT: return (unsigned short)va_arg(*ap, unsigned);
    case SZ_LONG: return va_arg(*ap, unsigned long);
    case SZ_LLONG: return va_arg(*ap, unsigned long long);
    case SZ_MAX: return va_arg(*ap, uintmax_t);
    default: return va_arg(*ap, unsigned);
    }
}

/* Starts a field of `len` bytes (a sign included) in s's width: writes the spaces before
 * it; *zeros gets the zeros after the sign, *trail the spaces after the field. */
static inline char *field_start(char *p, const struct step *s, uint32_t len, uint32_t *zeros, uint32_t *trail) {
    uint32_t pad = s->width > len ? s->width - len : 0;
    *zeros = *trail = 0;
    if (s->flags & F_LEFT) *trail = pad;
    else if (s->flags & F_ZERO) *zeros = pad;
    else p = fill(p, ' ', pad);
    return p;
}

/* A directive with a width, or %c, of the argument v (read by the directive's type; a
 * string's pointer): the general case. Returns the end, or NULL when a string does not fit
 * in `room` bytes. */
static __attribute__((noinline)) char *padded(char *p, const struct step *s, uint64_t v, size_t room) {
    uint32_t zeros, trail;
    switch (s->conv) {
    case CV_SIGNED: {
        bool negative = (int64_t)v < 0;
        uint64_t mag = negative ? 0 - v : v;
        uint32_t len = dec_len64(mag);
        p = field_start(p, s, len + negative, &zeros, &trail);
        if (negative) *p++ = '-';
        p = fill(p, '0', zeros);
        dec_write(p, mag, len);
        p += len;
        break;
    }
    case CV_UNSIGNED: {
        uint32_t len = dec_len64(v);
        p = fill(field_start(p, s, len, &zeros, &trail), '0', zeros);
        dec_write(p, v, len);
        p += len;
        break;
    }
    case CV_HEX:
    case CV_HEX_UPPER: {
        uint32_t len = hex_len(v);
        p = fill(field_start(p, s, len, &zeros, &trail), '0', zeros);
        hex_write(p, v, len, s->conv == CV_HEX ? LOWER : UPPER);
        p += len;
        break;
    }
    case CV_CHAR:
        p = field_start(p, s, 1, &zeros, &trail);
        *p++ = (char)(unsigned char)v;
        break;
    default: { /* CV_STRING */
        const char *text = (const char *)(uintptr_t)v;
        if (!text) text = "(null)"; /* as wasi-libc prints it */
        size_t len = strlen(text);
        if (len > room) return NULL;
        p = field_start(p, s, len > MAX_WIDTH ? MAX_WIDTH : (uint32_t)len, &zeros, &trail);
        p = put(p, text, len);
        break;
    }
    }
    return fill(p, ' ', trail);
}

/* Formats the steps into buf (room for cap bytes) with the arguments at ap; returns the
 * length, or -1 when it does not fit. `overread`: literal text may be copied in 16-byte
 * words, reading past its end (only for formats in the module's static data, which is never
 * at the end of memory). */
static inline __attribute__((always_inline)) int run_steps(const struct format *f, char *buf, size_t cap,
                                                           va_list args, bool overread) {
    if (f->need + SLACK > cap) return -1;
    /* `args` is this function's own (wasm32's va_list is a pointer, copied by the call, and
     * the caller passes a va_copy): no va_copy here, whose intrinsic would keep it in memory
     * rather than in a register. */
    char *p = buf, *limit = buf + cap;
    /* The last step is the text after the last directive: copied after the loop. */
    const struct step *s = f->steps, *end = s + f->nsteps - 1;
    int result = -1;
    for (; s < end; s++) {
        /* Read before writing (stores through p could alias the step). */
        const char *lit = s->lit;
        uint32_t len = s->len, op = s->op, size = s->size;
        if (overread && len <= 16) {
            copy16(p, lit);
            p += len;
        } else {
            p = put(p, lit, len);
        }
        switch (op) {
        case OP_NONE: break;
        case OP_S32: {
            int32_t v = va_arg(args, int);
            if (size == SZ_CHAR) v = (signed char)v;
            else if (size == SZ_SHORT) v = (short)v;
            uint32_t mag = v < 0 ? 0 - (uint32_t)v : (uint32_t)v;
            *p = '-';
            p += v < 0;
            p = dec32(p, mag);
            break;
        }
        case OP_S64: {
            int64_t v = va_arg(args, long long);
            uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
            *p = '-';
            p += v < 0;
            p = dec64(p, mag);
            break;
        }
        case OP_U32: {
            uint32_t v = va_arg(args, unsigned);
            if (size == SZ_CHAR) v = (unsigned char)v;
            else if (size == SZ_SHORT) v = (unsigned short)v;
            p = dec32(p, v);
            break;
        }
        case OP_U64: {
            uint64_t v = va_arg(args, unsigned long long);
            p = dec64(p, v);
            break;
        }
        case OP_X32: {
            uint32_t v = va_arg(args, unsigned);
            if (size == SZ_CHAR) v = (unsigned char)v;
            else if (size == SZ_SHORT) v = (unsigned short)v;
            uint32_t n = hex_len(v);
            store8(p, eight_hex(v << (4 * (8 - n)), s->conv == CV_HEX ? LOWER : UPPER));
            p += n;
            break;
        }
        case OP_X64: {
            uint64_t v = va_arg(args, unsigned long long);
            uint32_t n = hex_len(v);
            hex_write(p, v, n, s->conv == CV_HEX ? LOWER : UPPER);
            p += n;
            break;
        }
        case OP_STR: {
            const char *text = va_arg(args, const char *);
            if ((uintptr_t)text - (uintptr_t)wprobe__pp_lo < (uintptr_t)wprobe__pp_hi - (uintptr_t)wprobe__pp_lo) {
                /* A probe name (pp()): its length is before it. */
                uint32_t n;
                memcpy(&n, text - 4, 4);
                if (n > (size_t)(limit - p) - s->rest) goto out;
                p = put(p, text, n);
                break;
            }
            if (!text) text = "(null)"; /* as wasi-libc prints it */
            p = put_string(p, text, limit - s->rest);
            if (!p) goto out;
            break;
        }
        default: {
            uint64_t v;
            switch (s->conv) {
            case CV_SIGNED: v = (uint64_t)signed_arg(size, &args); break;
            case CV_STRING: v = (uintptr_t)va_arg(args, const char *); break;
            case CV_CHAR: v = (unsigned)va_arg(args, int); break;
            default: v = unsigned_arg(size, &args); break;
            }
            p = padded(p, s, v, (size_t)(limit - p) - s->rest);
            if (!p) goto out;
            break;
        }
        }
    }
    if (overread && end->len <= 16) {
        copy16(p, end->lit);
        p += end->len;
    } else {
        p = put(p, end->lit, end->len);
    }
    if ((size_t)(p - buf) <= INT32_MAX) result = (int)(p - buf);
out:
    return result;
}

static inline __attribute__((always_inline)) int run_literal(const struct format *f, char *buf, size_t cap, va_list ap) {
    return run_steps(f, buf, cap, ap, true);
}

/* A format that is not a literal (or a literal when there is no memory for the table):
 * parsed for this call only. */
static __attribute__((noinline)) int run_once(char *buf, size_t cap, const char *fmt, va_list ap) {
    _Alignas(struct format) char local[sizeof(struct format) + MAX_STEPS * sizeof(struct step)];
    struct format *f = (struct format *)local;
    f->fmt = fmt;
    f->nsteps = parse(fmt, f->steps, &f->need);
    if (f->nsteps == 0) return -1;
    return run_steps(f, buf, cap, ap, false);
}

/* wprobe.h's wprobe_printf. A literal format that fits the room left in the output buffer
 * is formatted here, with no further call; anything else goes through wprobe.c's general
 * path (room made, vsnprintf for what the fast path declines). */
void wprobe__printf(int literal, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    const struct format *f;
    struct wprobe__output *o = &wprobe__out;
    /* SystemTap's error(): with an error pending, the rest of the event prints nothing. */
    if (literal && !wprobe__error_msg && (f = cached(fmt)) && f->nsteps && o->cap - o->len > f->need + SLACK) {
        /* One byte kept for the NUL vsnprintf writes (the general path's invariant). */
        va_list args;
        va_copy(args, ap);
        int n = run_literal(f, o->buf + o->len, o->cap - o->len - 1, args);
        va_end(args);
        if (n >= 0) {
            o->len += (size_t)n;
            if (o->len >= WPROBE__FLUSH_AT) wprobe__flush();
            va_end(ap);
            return;
        }
    }
    wprobe__append_v(literal != 0, fmt, ap);
    va_end(ap);
}

int wprobe__format_fast(char *buf, size_t cap, const char *fmt, bool literal, va_list ap) {
    const struct format *f = literal ? cached(fmt) : NULL;
    if (f && f->nsteps == 0) return -1;
    va_list args;
    va_copy(args, ap);
    int n = f ? run_literal(f, buf, cap, args) : run_once(buf, cap, fmt, args);
    va_end(args);
    return n;
}

/*
 * printf's fast path: a format whose directives are all plain `%d %i %u %x %X %s %%` (with the
 * length modifiers hh, h, l, ll, j, no flags, width or precision) is formatted here, straight
 * into the output buffer, byte for byte as wasi-libc's vsnprintf would. Anything else is
 * left to vsnprintf. The seed's line is all plain directives, and vsnprintf's general
 * machinery cost C handlers more per event than the Rust SDK's own formatter.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "wprobe_internal.h"

enum length { L_INT, L_CHAR, L_SHORT, L_LONG, L_LLONG, L_MAX };

/* Reads a length modifier at *p, moving past it. (z and t are left to vsnprintf: the
 * conversion then checks the letter after them.) */
static void length_of(const char **p, enum length *len) {
    const char *s = *p;
    *len = L_INT;
    if (s[0] == 'h') {
        *len = s[1] == 'h' ? L_CHAR : L_SHORT;
        s += s[1] == 'h' ? 2 : 1;
    } else if (s[0] == 'l') {
        *len = s[1] == 'l' ? L_LLONG : L_LONG;
        s += s[1] == 'l' ? 2 : 1;
    } else if (s[0] == 'j') {
        *len = L_MAX;
        s++;
    }
    *p = s;
}

static bool plain(char c) { return c == 'd' || c == 'i' || c == 'u' || c == 'x' || c == 'X' || c == 's'; }

/* Whether every directive of fmt is one this path formats. */
static bool all_plain(const char *fmt) {
    for (const char *p = fmt; (p = strchr(p, '%')) != NULL;) {
        p++;
        if (*p == '%') {
            p++;
            continue;
        }
        enum length len;
        length_of(&p, &len);
        if (!plain(*p)) return false;
        p++;
    }
    return true;
}

static int64_t signed_arg(enum length len, va_list *ap) {
    switch (len) {
    case L_CHAR: return (signed char)va_arg(*ap, int);
    case L_SHORT: return (short)va_arg(*ap, int);
    case L_LONG: return va_arg(*ap, long);
    case L_LLONG: return va_arg(*ap, long long);
    case L_MAX: return va_arg(*ap, intmax_t);
    default: return va_arg(*ap, int);
    }
}

static uint64_t unsigned_arg(enum length len, va_list *ap) {
    switch (len) {
    case L_CHAR: return (unsigned char)va_arg(*ap, unsigned);
    case L_SHORT: return (unsigned short)va_arg(*ap, unsigned);
    case L_LONG: return va_arg(*ap, unsigned long);
    case L_LLONG: return va_arg(*ap, unsigned long long);
    case L_MAX: return va_arg(*ap, uintmax_t);
    default: return va_arg(*ap, unsigned);
    }
}

/* v's digits in `base`, written backwards ending at end; returns where they start. */
static char *digits(char *end, uint64_t v, unsigned base, const char *set) {
    do {
        *--end = set[v % base];
        v /= base;
    } while (v);
    return end;
}

int wprobe__format_fast(char *buf, size_t cap, const char *fmt, va_list ap) {
    if (!all_plain(fmt)) return -1;
    va_list args;
    va_copy(args, ap);
    size_t n = 0;
    int result = -1;
    for (const char *p = fmt;;) {
        const char *pct = strchr(p, '%');
        size_t lit = pct ? (size_t)(pct - p) : strlen(p);
        if (lit > cap - n) goto out;
        memcpy(buf + n, p, lit);
        n += lit;
        if (!pct) break;
        p = pct + 1;
        if (*p == '%') {
            if (n == cap) goto out;
            buf[n++] = '%';
            p++;
            continue;
        }
        enum length len;
        length_of(&p, &len);
        char conv = *p++;
        char tmp[24];
        const char *text;
        size_t tlen;
        if (conv == 's') {
            text = va_arg(args, const char *);
            if (!text) text = "(null)"; /* as wasi-libc prints it */
            tlen = strlen(text);
        } else {
            char *end = tmp + sizeof tmp, *start;
            if (conv == 'd' || conv == 'i') {
                int64_t v = signed_arg(len, &args);
                start = digits(end, v < 0 ? 0 - (uint64_t)v : (uint64_t)v, 10, "0123456789");
                if (v < 0) *--start = '-';
            } else {
                uint64_t v = unsigned_arg(len, &args);
                start = conv == 'u'   ? digits(end, v, 10, "0123456789")
                        : conv == 'x' ? digits(end, v, 16, "0123456789abcdef")
                                      : digits(end, v, 16, "0123456789ABCDEF");
            }
            text = start;
            tlen = (size_t)(end - start);
        }
        if (tlen > cap - n) goto out;
        memcpy(buf + n, text, tlen);
        n += tlen;
    }
    if (n <= INT32_MAX) result = (int)n;
out:
    va_end(args);
    return result;
}

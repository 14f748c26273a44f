/*
 * Test handler: wprobe_printf against wasi-libc's snprintf. For each event, every case
 * prints two lines: wprobe_printf's (the SDK's own formatter, guest-sdk/c/src/wprobe_fmt.c,
 * or vsnprintf where it declines), then snprintf's of the same format and arguments,
 * through stdout. tests/all/languages/c_printf.rs feeds it edge and random values in the
 * argument registers and checks that the two lines of every pair are equal.
 *
 * The formats cover every directive, length modifier, flag and width the fast path formats,
 * literal text and strings of every length its copies treat apart (0 to 70 bytes), `%%`,
 * formats it leaves to vsnprintf, and formats that are not string literals (parsed at each
 * call, never kept: one of them changes between calls at the same address).
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <wprobe.h>

static char ref[4096];

/* One case: the fast line, then the reference line. The format must be a string literal
 * here, so that wprobe_printf takes its literal (cached) path. */
#define CASE(...)                                                                                  \
    do {                                                                                           \
        wprobe_printf(__VA_ARGS__);                                                                \
        wprobe_printf("\n");                                                                       \
        snprintf(ref, sizeof ref, __VA_ARGS__);                                                    \
        fputs(ref, stdout);                                                                        \
        fputs("\n", stdout);                                                                       \
    } while (0)

/* The same with a format that is not a literal. */
static void dynamic_case(const char *fmt, uint64_t v) {
    wprobe_printf(fmt, v);
    wprobe_printf("\n");
    snprintf(ref, sizeof ref, fmt, v);
    fputs(ref, stdout);
    fputs("\n", stdout);
}

static const char text[] = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ+-*/=<>()[]{}";

static void integers(uint64_t v) {
    int32_t i = (int32_t)v;
    uint32_t u = (uint32_t)v;
    int64_t l = (int64_t)v;
    CASE("%d", i);
    CASE("%i", i);
    CASE("%u", u);
    CASE("%x", u);
    CASE("%X", u);
    CASE("%hhd %hhu %hhx %hhX %hhi", (signed char)v, (unsigned char)v, (unsigned char)v, (unsigned char)v,
         (signed char)v);
    CASE("%hd %hu %hx %hX %hi", (short)v, (unsigned short)v, (unsigned short)v, (unsigned short)v, (short)v);
    CASE("%ld %lu %lx %lX %li", (long)i, (unsigned long)u, (unsigned long)u, (unsigned long)u, (long)i);
    CASE("%lld", (long long)l);
    CASE("%llu", (unsigned long long)v);
    CASE("%llx", (unsigned long long)v);
    CASE("%llX", (unsigned long long)v);
    CASE("%lli", (long long)l);
    CASE("%" PRId64 " %" PRIu64 " %" PRIx64 " %" PRIX64, l, v, v, v);
    CASE("%" PRId32 " %" PRIu32 " %" PRIx32 " %" PRIX32, i, u, u, u);
    CASE("%jd %ju %jx", (intmax_t)l, (uintmax_t)v, (uintmax_t)v);
    CASE("%zu %zx %zd %td", (size_t)u, (size_t)u, (ptrdiff_t)i, (ptrdiff_t)i);
    CASE("%c|%3c|%-3c|", (char)(32 + v % 95), (char)(33 + v % 94), (char)(34 + v % 93));
    /* Widths and flags. */
    CASE("[%5d] [%-5d] [%05d] [%0d] [%1d] [%12d] [%-12d] [%012d]", i, i, i, i, i, i, i, i);
    CASE("[%5u] [%-5u] [%05u] [%11u] [%012u]", u, u, u, u, u);
    CASE("[%5x] [%-5x] [%05x] [%08x] [%9X] [%-9X] [%09X]", u, u, u, u, u, u, u);
    CASE("[%20lld] [%-20lld] [%020lld] [%21lld] [%025lld] [%-25lld]", l, l, l, l, l, l);
    CASE("[%20llu] [%-22llu] [%021llu] [%16llx] [%-17llx] [%017llX]", v, v, v, v, v, v);
    CASE("[%3hhd] [%-4hd] [%06hu] [%03hhx]", (signed char)v, (short)v, (unsigned short)v, (unsigned char)v);
    CASE("[%100d]", i);
    CASE("[%-70llu]", v);
    CASE("%d%d%d%u%u%x%x%lld%llu%llx", i, -i, i / 7, u, u >> 3, u, u >> 9, l, v, v >> 5);
    /* Left to vsnprintf: precision, other flags, %p, floating point. */
    CASE("%.3d %+d % d %#x %#llX %.0u %p", i, i, i, u, v, u, (void *)(uintptr_t)u);
    CASE("%5.1f %e %g", (double)i / 8, (double)l, (double)u);
}

static void strings(uint64_t v) {
    const char *comm = execname();
    size_t n = (size_t)(v % (sizeof text));
    const char *s = text + sizeof text - 1 - n; /* n bytes */
    const char *null = v == 12345 ? "x" : NULL; /* NULL, unknown to the compiler */
    CASE("%s", s);
    CASE("[%s] [%s] [%s]", comm, pp(), "");
    CASE("[%10s] [%-10s] [%1s] [%-1s] [%40s] [%-40s]", s, s, s, s, s, s);
    CASE("%s|%s", null, s);
    CASE("%3s|%-8s|", null, null);
    CASE("%%");
    CASE("%%%d%%%%%s%%", (int)v, s);
    CASE("100%% of %s", s);
    CASE("%.5s|%.*s|%*s|%-*d", s, (int)(v % 9), s, (int)(v % 13), s, (int)(v % 11), (int)v);
}

/* Literal text of every length from 0 to 70 around a directive, via the lengths a copy
 * treats apart. */
static void literals(uint64_t v) {
    int i = (int)v;
    CASE("%d", i);
    CASE("a%d", i);
    CASE("ab%dc", i);
    CASE("abc%dde", i);
    CASE("abcdefg%dabcdefgh", i);
    CASE("abcdefghijklmno%dabcdefghijklmnop", i);
    CASE("abcdefghijklmnopqrstuvwxyz01234%dabcdefghijklmnopqrstuvwxyz012345", i);
    CASE("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ+%d", i);
    CASE("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ+-%dabcdefghijklmnopqrstuvwxyz0123456789ABCD"
         "EFGHIJKLMNOPQRSTUVWXYZ+-*/=<>()",
         i);
    CASE("no directive at all");
    CASE("%s, %" PRIu32 ", %" PRIu32 ", 0x%" PRIx64 ", 0x%" PRIx64 ", %" PRIu32, pp(), pid(), cpu(), pointer_arg(1),
         pointer_arg(2), uint_arg(3));
}

/* Formats that are not literals: parsed at every call. */
static const char *const dynamic[] = {"%llu", "%llx|%llX", "[%20lld]", "[%-19llu]", "%llu%%", "%5.2llu", "[%-05llu]", "[%0-5llx]"};

static void non_literals(uint64_t v) {
    for (size_t k = 0; k < sizeof dynamic / sizeof *dynamic; k++) dynamic_case(dynamic[k], v);
    /* The same address, a different format each time. */
    static char changing[32];
    snprintf(changing, sizeof changing, "<%%%dllu|%%%%>", (int)(v % 25));
    dynamic_case(changing, v);
    snprintf(changing, sizeof changing, "<%%-%dllx>", (int)(v % 23));
    dynamic_case(changing, v);
}

void wprobe_event(void) {
    for (uint32_t n = 1; n <= 6; n++) {
        uint64_t v = ulong_arg(n);
        integers(v);
        strings(v);
        literals(v);
        non_literals(v);
    }
}

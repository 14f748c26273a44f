/* Between the runtime (wprobe.c), printf's fast path (wprobe_fmt.c) and the WASI answers
 * (wasi_deny.c). Not for handlers. */
#ifndef WPROBE_INTERNAL_H
#define WPROBE_INTERNAL_H
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* WASI stdout: into the printf buffer, in order with wprobe_printf. */
void wprobe__write_stdout(const void *bytes, size_t len);
/* WASI stderr: to wprobe's diagnostics, as wprobe_warn. */
void wprobe__write_stderr(const void *bytes, size_t len);

/* Formats fmt into buf (at most cap bytes, no NUL) when every directive is a plain one;
 * returns the length, or -1 (nothing consumed from ap) for vsnprintf to do it. */
int wprobe__format_fast(char *buf, size_t cap, const char *fmt, va_list ap);

#endif

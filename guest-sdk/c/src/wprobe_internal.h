/* Between the runtime (wprobe.c), printf's fast path (wprobe_fmt.c), the WASI answers
 * (wasi_deny.c) and the generated accessors (wprobe_context.c). Not for handlers. */
#ifndef WPROBE_INTERNAL_H
#define WPROBE_INTERNAL_H
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "handler.h"
#include "wprobe.h"

/* WASI stdout: into the printf buffer, in order with wprobe_printf. */
void wprobe__write_stdout(const void *bytes, size_t len);
/* WASI stderr: to wprobe's diagnostics, as wprobe_warn. */
void wprobe__write_stderr(const void *bytes, size_t len);

/* The pending output: sent once it reaches WPROBE__FLUSH_AT bytes, and at the end of every
 * export call. `buf` has room for `cap` bytes (a NUL after the text included). */
#define WPROBE__FLUSH_AT (64 * 1024)
struct wprobe__output {
    char *buf;
    size_t len, cap;
};
extern struct wprobe__output wprobe__out;
/* Sends the pending output. */
void wprobe__flush(void);
/* The first error of the current export call (the rest of an event's output is dropped
 * while there is one), or NULL. */
extern char *wprobe__error_msg;
/* printf's general path: makes room, formats (wprobe__format_fast or vsnprintf), flushes
 * when due. */
void wprobe__append_v(bool literal, const char *fmt, va_list ap);

/* The probe names (pp()), each after its length as a uint32_t: printf copies a string in
 * this range without looking for its end. */
extern const char *wprobe__pp_lo, *wprobe__pp_hi;

/* Formats fmt into buf (at most cap bytes, no NUL) when every directive is one the fast
 * path knows (wprobe_fmt.c); returns the length, or -1 (ap untouched) for vsnprintf to do
 * it. `literal`: fmt is a string literal (wprobe.h's wprobe_printf macro says so), whose
 * parsed form is kept by its address. */
int wprobe__format_fast(char *buf, size_t cap, const char *fmt, bool literal, va_list ap);
/* False outside an event (the accessor fails with WPROBE_NO_CURRENT_EVENT); else moves the
 * host's cursor to the current event. */
bool wprobe__on_event(void);
/* Traps, naming the accessor, outside an event; else moves the host's cursor there. */
void wprobe__enter(const char *name);
/* The host's error as the SDK's code (the payload kept for the message); frees it. */
wprobe_error wprobe__convert(wprobe_probe_context_access_error_t *err);
/* Records the error's message, as the plain (not _checked) accessors do. */
void wprobe__record(wprobe_error e, uint32_t n, const char *name);
/* The host's string, copied and kept until the event ends; frees it. */
const char *wprobe__keep_string(handler_string_t *s);

#endif

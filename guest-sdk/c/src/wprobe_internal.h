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

/* Formats fmt into buf (at most cap bytes, no NUL) when every directive is a plain one;
 * returns the length, or -1 (nothing consumed from ap) for vsnprintf to do it. */
int wprobe__format_fast(char *buf, size_t cap, const char *fmt, va_list ap);
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

/* Between the runtime (wprobe.c) and the WASI answers (wasi_deny.c). Not for handlers. */
#ifndef WPROBE_INTERNAL_H
#define WPROBE_INTERNAL_H
#include <stddef.h>

/* WASI stdout: into the printf buffer, in order with wprobe_printf. */
void wprobe__write_stdout(const void *bytes, size_t len);
/* WASI stderr: to wprobe's diagnostics, as wprobe_warn. */
void wprobe__write_stderr(const void *bytes, size_t len);

#endif

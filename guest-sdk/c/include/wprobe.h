/*
 * wprobe.h: probe handlers in C.
 *
 * A handler defines the probe body, wprobe_event(), and optionally wprobe_init() (SystemTap's
 * `probe begin`) and wprobe_end() (`probe end`). Inside wprobe_event() SystemTap's accessors
 * read the current event:
 *
 *     #include <wprobe.h>
 *
 *     void wprobe_event(void) {
 *         asmlinkage();
 *         wprobe_printf("%s, %u, %u, 0x%llx, 0x%llx, %u\n", pp(), pid(), cpu(),
 *                       pointer_arg(1), pointer_arg(2), uint_arg(3));
 *     }
 *
 * Errors. An accessor that cannot answer (argument 9, returnval() in an entry probe, a
 * register that does not exist) returns 0 (or "") and records the error, as SystemTap's
 * error(): the rest of the event's output is dropped, and when wprobe_event() returns the
 * session ends with the message, reported with the event it happened on. wprobe_fail() does
 * the same with a message of yours. To handle an error yourself, use the `_checked` form,
 * which returns WPROBE_OK or the error and records nothing:
 *
 *     uint64_t p;
 *     if (pointer_arg_checked(1, &p) != WPROBE_OK) p = 0;
 *
 * Names. Every call exists as wprobe_NAME(); unless WPROBE_NO_SHORT_NAMES is defined, the
 * SystemTap names are also function-like macros (pid(), pointer_arg(n), ...), which leave
 * variables of the same name alone (`uint32_t pid = pid();` works). Two differ: register
 * is a C keyword, so SystemTap's register("rip") is register_("rip"); and exit() stays
 * libc's, SystemTap's exit() is wprobe_exit().
 *
 * Output. wprobe_printf() formats with vsnprintf and collects the text in one buffer that
 * reaches wprobe once per batch (and before print_regs(), wprobe_warn(), wprobe_exit(),
 * after init and end, and whenever 64 KiB are pending). stdio's printf()/puts() work too:
 * stdout is line-buffered into the same buffer.
 *
 * Sandbox. The handler links against wasi-libc, but the SDK answers every WASI call itself,
 * so the component imports nothing but wprobe's context: no files (fopen fails), no
 * environment (getenv returns NULL), no arguments, clocks frozen at 0, no sockets, no
 * randomness (getentropy fails).
 */
#ifndef WPROBE_H
#define WPROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Lifecycle: what the handler defines ------------------------------------------- */

typedef enum wprobe_arch { WPROBE_ARCH_X86_64 = 0, WPROBE_ARCH_AARCH64 = 1 } wprobe_arch;

/* One probe of the session. `id` is what probe_id() returns for its events. */
typedef struct wprobe_probe {
    uint32_t id;
    const char *pp; /* SystemTap's spelling: kprobe.function("tcp_v4_connect") */
    bool is_return;
} wprobe_probe;

/* One `--arg key=value`. */
typedef struct wprobe_arg {
    const char *key;
    const char *value;
} wprobe_arg;

/* What init learns. Valid for the whole session. */
typedef struct wprobe_session {
    size_t nargs;
    const wprobe_arg *args; /* in command-line order */
    size_t nprobes;
    const wprobe_probe *probes;
    wprobe_arch arch;
} wprobe_session;

/* The probe body, once per event. Required. */
void wprobe_event(void);
/* `probe begin`, once before any event. Return 0 to start; anything else (or a
 * wprobe_fail() call) refuses to start, with the wprobe_fail() message. Optional. */
int wprobe_init(const wprobe_session *session);
/* `probe end`, once after the last batch. Optional. */
void wprobe_end(void);

/* The value of `--arg key=...` (the last one if repeated), or NULL. */
const char *wprobe_arg_value(const wprobe_session *session, const char *key);

/* ---- Errors ----------------------------------------------------------------------- */

typedef enum wprobe_error {
    WPROBE_OK = 0,
    /* Argument n is not passed in a register (n counts from 1; x86_64 passes 6, aarch64 8). */
    WPROBE_NO_SUCH_ARGUMENT = 1,
    /* The architecture has no register of that name. */
    WPROBE_NO_SUCH_REGISTER = 2,
    /* returnval() / returnstr() in an entry probe. */
    WPROBE_NOT_A_RETURN_PROBE = 3,
    /* Called in init or end: there is no current event. */
    WPROBE_NO_CURRENT_EVENT = 4,
} wprobe_error;

/* Records an error, printf-style, as SystemTap's error(): the event's further output is
 * dropped and the session ends with the message when the current export returns (in init,
 * it refuses to start). The first error of an event wins. */
void wprobe_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The recorded error's message, or NULL. */
const char *wprobe_failed(void);

/* ---- Context: always answer on an event; outside one (init, end) they trap ------------ */

uint32_t wprobe_pid(void);          /* thread-group id */
uint32_t wprobe_tid(void);
uint32_t wprobe_uid(void);          /* real uid */
uint32_t wprobe_cpu(void);
const char *wprobe_pp(void);        /* from the probe table: no copy per event */
const char *wprobe_execname(void);  /* valid until the next event */
uint64_t wprobe_timestamp_ns(void); /* CLOCK_MONOTONIC at the hit */
uint32_t wprobe_probe_id(void);     /* index into session->probes */
bool wprobe_is_return(void);
uint64_t wprobe_lost_events(void);  /* dropped by the kernel before this batch */
void wprobe_asmlinkage(void);       /* changes nothing on x86_64 and aarch64 */

/* ---- Arguments, n from 1: the value, or 0 and a recorded error --------------------------- */

int32_t wprobe_int_arg(uint32_t n);
uint32_t wprobe_uint_arg(uint32_t n);
int64_t wprobe_long_arg(uint32_t n);
uint64_t wprobe_ulong_arg(uint32_t n);
int64_t wprobe_longlong_arg(uint32_t n);
uint64_t wprobe_ulonglong_arg(uint32_t n);
uint64_t wprobe_pointer_arg(uint32_t n);
int32_t wprobe_s32_arg(uint32_t n);
uint32_t wprobe_u32_arg(uint32_t n);
int64_t wprobe_s64_arg(uint32_t n);
uint64_t wprobe_u64_arg(uint32_t n);

wprobe_error wprobe_int_arg_checked(uint32_t n, int32_t *out);
wprobe_error wprobe_uint_arg_checked(uint32_t n, uint32_t *out);
wprobe_error wprobe_long_arg_checked(uint32_t n, int64_t *out);
wprobe_error wprobe_ulong_arg_checked(uint32_t n, uint64_t *out);
wprobe_error wprobe_longlong_arg_checked(uint32_t n, int64_t *out);
wprobe_error wprobe_ulonglong_arg_checked(uint32_t n, uint64_t *out);
wprobe_error wprobe_pointer_arg_checked(uint32_t n, uint64_t *out);
wprobe_error wprobe_s32_arg_checked(uint32_t n, int32_t *out);
wprobe_error wprobe_u32_arg_checked(uint32_t n, uint32_t *out);
wprobe_error wprobe_s64_arg_checked(uint32_t n, int64_t *out);
wprobe_error wprobe_u64_arg_checked(uint32_t n, uint64_t *out);

/* ---- Return value and registers ---------------------------------------------------- */

int64_t wprobe_returnval(void);        /* return probes only */
const char *wprobe_returnstr(void);    /* "-111 (ECONNREFUSED)"; valid until the next call */
int64_t wprobe_register(const char *name);   /* "rip", "eax", "x0", ...: case-insensitive */
uint64_t wprobe_u_register(const char *name);
void wprobe_print_regs(void);          /* SystemTap's print_regs(), in order with printf */

wprobe_error wprobe_returnval_checked(int64_t *out);

/*
 * Typed return values. returnval() is SystemTap's: the whole return register (rax, x0),
 * signed. A function declared `int` defines only the low 32 bits, so `return -ENOENT` can
 * read as 4294967294 there. Decode by the probed function's C return type:
 *
 *     int (0 or -errno, most kernel functions)  int_returnval()    -> -2
 *     unsigned int, u32                         uint_returnval()   -> 4294967294
 *     long, ssize_t, s64                        long_returnval()   -> -2 (= returnval())
 *     unsigned long, size_t, u64                ulong_returnval()  -> 18446744073709551614
 *
 * errno_str(e) names an errno of either sign ("ENOENT" for 2 or -2), NULL for none:
 *
 *     int32_t r = int_returnval();
 *     const char *name = errno_str(r);
 *     wprobe_printf("%d (%s)\n", r, name ? name : "?");     // -2 (ENOENT)
 *
 * Errors are recorded as for returnval() (in an entry probe they return 0).
 */
int32_t wprobe_int_returnval(void);
uint32_t wprobe_uint_returnval(void);
int64_t wprobe_long_returnval(void);
uint64_t wprobe_ulong_returnval(void);
const char *wprobe_errno_str(int64_t e);
wprobe_error wprobe_register_checked(const char *name, int64_t *out);
wprobe_error wprobe_u_register_checked(const char *name, uint64_t *out);

/* ---- Output and control ------------------------------------------------------------ */

/* SystemTap's printf: C format, no newline added. */
void wprobe_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* SystemTap's warn(): `WARNING: text` on wprobe's stderr, after the output so far. */
void wprobe_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* SystemTap's exit(): ends the session after the current batch; wprobe_end() still runs. */
void wprobe_exit(void);

/* ---- SystemTap's names ------------------------------------------------------------- */

#ifndef WPROBE_NO_SHORT_NAMES
#define pid() wprobe_pid()
#define tid() wprobe_tid()
#define uid() wprobe_uid()
#define cpu() wprobe_cpu()
#define pp() wprobe_pp()
#define execname() wprobe_execname()
#define timestamp_ns() wprobe_timestamp_ns()
#define probe_id() wprobe_probe_id()
#define is_return() wprobe_is_return()
#define lost_events() wprobe_lost_events()
#define asmlinkage() wprobe_asmlinkage()
#define int_arg(n) wprobe_int_arg(n)
#define uint_arg(n) wprobe_uint_arg(n)
#define long_arg(n) wprobe_long_arg(n)
#define ulong_arg(n) wprobe_ulong_arg(n)
#define longlong_arg(n) wprobe_longlong_arg(n)
#define ulonglong_arg(n) wprobe_ulonglong_arg(n)
#define pointer_arg(n) wprobe_pointer_arg(n)
#define s32_arg(n) wprobe_s32_arg(n)
#define u32_arg(n) wprobe_u32_arg(n)
#define s64_arg(n) wprobe_s64_arg(n)
#define u64_arg(n) wprobe_u64_arg(n)
#define int_arg_checked(n, out) wprobe_int_arg_checked(n, out)
#define uint_arg_checked(n, out) wprobe_uint_arg_checked(n, out)
#define long_arg_checked(n, out) wprobe_long_arg_checked(n, out)
#define ulong_arg_checked(n, out) wprobe_ulong_arg_checked(n, out)
#define longlong_arg_checked(n, out) wprobe_longlong_arg_checked(n, out)
#define ulonglong_arg_checked(n, out) wprobe_ulonglong_arg_checked(n, out)
#define pointer_arg_checked(n, out) wprobe_pointer_arg_checked(n, out)
#define s32_arg_checked(n, out) wprobe_s32_arg_checked(n, out)
#define u32_arg_checked(n, out) wprobe_u32_arg_checked(n, out)
#define s64_arg_checked(n, out) wprobe_s64_arg_checked(n, out)
#define u64_arg_checked(n, out) wprobe_u64_arg_checked(n, out)
#define returnval() wprobe_returnval()
#define returnstr() wprobe_returnstr()
#define int_returnval() wprobe_int_returnval()
#define uint_returnval() wprobe_uint_returnval()
#define long_returnval() wprobe_long_returnval()
#define ulong_returnval() wprobe_ulong_returnval()
#define errno_str(e) wprobe_errno_str(e)
#define register_(name) wprobe_register(name)
#define u_register(name) wprobe_u_register(name)
#define print_regs() wprobe_print_regs()
#endif

#ifdef __cplusplus
}
#endif
#endif /* WPROBE_H */

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
 * Output. wprobe_printf() formats as snprintf would (common directives by the SDK itself, a
 * literal format parsed once, the rest by vsnprintf) and collects the text in one buffer that
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

/* How a tracepoint field's bytes are read (wit/probe.wit, `field-kind`, in its order). */
typedef enum wprobe_field_kind {
    WPROBE_FIELD_UNSIGNED = 0,
    WPROBE_FIELD_SIGNED = 1,
    WPROBE_FIELD_CHARS = 2,
    WPROBE_FIELD_DATA_LOC_STRING = 3,
    WPROBE_FIELD_DATA_LOC_BYTES = 4,
    WPROBE_FIELD_REL_LOC_STRING = 5,
    WPROBE_FIELD_REL_LOC_BYTES = 6,
    WPROBE_FIELD_BYTES = 7,
} wprobe_field_kind;

/* One field of a tracepoint's record. */
typedef struct wprobe_field_info {
    const char *name;
    uint16_t offset; /* from the start of the tracepoint's record */
    uint16_t size;
    wprobe_field_kind kind;
} wprobe_field_info;

/* One probe of the session. `id` is what probe_id() returns for its events. */
typedef struct wprobe_probe {
    uint32_t id;
    const char *pp; /* SystemTap's spelling: kprobe.function("tcp_v4_connect") */
    bool is_return;
    size_t nfields; /* tracepoint probes: the fields field() reads; 0 for other probes */
    const wprobe_field_info *fields;
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
/* `probe timer.ms(N)`: called every period of a timer declared with wprobe_timer_ms() (or
 * wprobe_timer_s()) in wprobe_init, with the number that call returned. No event is
 * current; printing works. Optional. */
void wprobe_tick(uint32_t timer);
/* Declares a timer (only in wprobe_init): wprobe_tick(n) every period_ms milliseconds (at
 * least 1). Returns the timer's number n, or -1 (and a recorded error) outside
 * wprobe_init or out of memory. */
int wprobe_timer_ms(uint32_t period_ms);
int wprobe_timer_s(uint32_t period_s);

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
    /* The memory was not captured at probe time: declare a capture in wprobe_init. */
    WPROBE_NOT_CAPTURED = 5,
    /* The capture of that address faulted in the kernel. */
    WPROBE_FAULT = 6,
    /* A return probe whose entry was not seen: entry arguments and latency are unknown. */
    WPROBE_NO_ENTRY = 7,
    /* field() / field_string() on a probe that is not a tracepoint. */
    WPROBE_NOT_A_TRACEPOINT = 8,
    /* The tracepoint has no field of that name, or not of the accessor's type. */
    WPROBE_NO_SUCH_FIELD = 9,
} wprobe_error;

/* Records an error, printf-style, as SystemTap's error(): the event's further output is
 * dropped and the session ends with the message when the current export returns (in init,
 * it refuses to start). The first error of an event wins. */
void wprobe_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The recorded error's message, or NULL. */
const char *wprobe_failed(void);
/* SystemTap's try/catch: the recorded error's message, or NULL, and the error is cleared,
 * so the event goes on (its output too). Valid until the next call. */
const char *wprobe_catch(void);

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

/* ---- Arguments (n counts from 1), return value, entry values ------------------------------
 * Read from the flat record, like the Rust SDK: no import call per argument. A fallible one
 * returns 0 and records the error; its `_checked` form returns the error instead. */

int32_t wprobe_int_arg(uint32_t n);
wprobe_error wprobe_int_arg_checked(uint32_t n, int32_t *out);
uint32_t wprobe_uint_arg(uint32_t n);
wprobe_error wprobe_uint_arg_checked(uint32_t n, uint32_t *out);
int64_t wprobe_long_arg(uint32_t n);
wprobe_error wprobe_long_arg_checked(uint32_t n, int64_t *out);
uint64_t wprobe_ulong_arg(uint32_t n);
wprobe_error wprobe_ulong_arg_checked(uint32_t n, uint64_t *out);
int64_t wprobe_longlong_arg(uint32_t n);
wprobe_error wprobe_longlong_arg_checked(uint32_t n, int64_t *out);
uint64_t wprobe_ulonglong_arg(uint32_t n);
wprobe_error wprobe_ulonglong_arg_checked(uint32_t n, uint64_t *out);
uint64_t wprobe_pointer_arg(uint32_t n);
wprobe_error wprobe_pointer_arg_checked(uint32_t n, uint64_t *out);
int32_t wprobe_s32_arg(uint32_t n);
wprobe_error wprobe_s32_arg_checked(uint32_t n, int32_t *out);
uint32_t wprobe_u32_arg(uint32_t n);
wprobe_error wprobe_u32_arg_checked(uint32_t n, uint32_t *out);
int64_t wprobe_s64_arg(uint32_t n);
wprobe_error wprobe_s64_arg_checked(uint32_t n, int64_t *out);
uint64_t wprobe_u64_arg(uint32_t n);
wprobe_error wprobe_u64_arg_checked(uint32_t n, uint64_t *out);
/* The return value register (rax, x0), signed. Return probes only. */
int64_t wprobe_returnval(void);
wprobe_error wprobe_returnval_checked(int64_t *out);
/* CLOCK_MONOTONIC at the paired entry. Return probes only; `no-entry` if unseen. */
uint64_t wprobe_entry_timestamp_ns(void);
wprobe_error wprobe_entry_timestamp_ns_checked(uint64_t *out);
/* Nanoseconds from the paired entry to this return. */
uint64_t wprobe_latency_ns(void);
wprobe_error wprobe_latency_ns_checked(uint64_t *out);

/* ---- The accessors that ask the host ---------------------------------------------------- */
/*
 * Arguments (n from 1; in a return probe the paired entry's, SystemTap's @entry, or
 * WPROBE_NO_ENTRY when the entry was not seen), the return value, registers by name
 * ("rip", "eax", "x0", ...: case-insensitive), entry values, captured memory (declare it in
 * wprobe_init, below: an address no capture covers is WPROBE_NOT_CAPTURED; strings come up
 * to the NUL, bytes that are not UTF-8 as \xNN), tracepoint fields by name, target(): each
 * returns the value, or 0 (or "") and a recorded error; its wprobe_NAME_checked form
 * returns the error instead. Returned strings stay valid until the event ends, so several
 * can be printed together. Declared in wprobe_context.h, generated from wit/probe.wit.
 */
#include "wprobe_context.h"

void wprobe_print_regs(void); /* SystemTap's print_regs(), in order with printf */

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

/* The name of syscall number nr on the session's architecture ("openat" for 257 on x86_64),
 * or NULL; valid for the whole session. Works outside events too. */
const char *wprobe_syscall_name(uint64_t nr);

/* n raw bytes of captured memory into buf (zeros and a recorded error when they were not
 * captured). */
void wprobe_kernel_bytes(uint64_t addr, uint32_t n, void *buf);
void wprobe_user_bytes(uint64_t addr, uint32_t n, void *buf);
wprobe_error wprobe_kernel_bytes_checked(uint64_t addr, uint32_t n, void *buf);
wprobe_error wprobe_user_bytes_checked(uint64_t addr, uint32_t n, void *buf);

/* ---- Captures: memory to take at each hit, declared in wprobe_init ------------------- */
/*
 * A handler runs later, in a sandbox, when the memory has changed: it says *what* to read,
 * and wprobe's kernel side reads it at the hit. The address is base + offset, then for each
 * deref d, *(u64 *)addr + d. Each wprobe_capture_* call returns the capture's number for
 * the modifiers, or -1 (and a recorded error) outside wprobe_init or out of memory:
 *
 *     int wprobe_init(const wprobe_session *s) {
 *         wprobe_capture_user_string(wprobe_base_arg(2), 256); // openat's file name
 *         return 0;
 *     }
 *
 * At most 8 captures a probe, 4 derefs each, 4096 bytes each.
 */
typedef enum wprobe_base_kind {
    WPROBE_BASE_ARG = 0,       /* argument n (the entry's in a return probe) */
    WPROBE_BASE_REGISTER = 1,  /* a register by name, as u_register() reads it */
    WPROBE_BASE_RETURNVAL = 2, /* the return value (return probes, read at the return) */
    WPROBE_BASE_FIELD = 3,     /* a tracepoint field holding a pointer */
} wprobe_base_kind;

typedef struct wprobe_base {
    wprobe_base_kind kind;
    uint32_t arg;     /* WPROBE_BASE_ARG */
    const char *name; /* WPROBE_BASE_REGISTER, WPROBE_BASE_FIELD: copied */
} wprobe_base;

static inline wprobe_base wprobe_base_arg(uint32_t n) { return (wprobe_base){WPROBE_BASE_ARG, n, NULL}; }
static inline wprobe_base wprobe_base_register(const char *name) {
    return (wprobe_base){WPROBE_BASE_REGISTER, 0, name};
}
static inline wprobe_base wprobe_base_returnval(void) { return (wprobe_base){WPROBE_BASE_RETURNVAL, 0, NULL}; }
static inline wprobe_base wprobe_base_field(const char *name) { return (wprobe_base){WPROBE_BASE_FIELD, 0, name}; }

/* A NUL-terminated string of at most max - 1 bytes, or exactly n bytes. */
int wprobe_capture_user_string(wprobe_base base, uint32_t max);
int wprobe_capture_kernel_string(wprobe_base base, uint32_t max);
int wprobe_capture_user_bytes(wprobe_base base, uint32_t n);
int wprobe_capture_kernel_bytes(wprobe_base base, uint32_t n);
/* Adds offset to the address (a field of the struct the base points to). */
void wprobe_capture_offset(int capture, int64_t offset);
/* Follows the pointer at the address so far, then adds offset. */
void wprobe_capture_deref(int capture, int64_t offset);
/* Only for the probe with this id (by default: every probe). */
void wprobe_capture_probe(int capture, uint32_t probe_id);
/* Return probes: read at the return, not at the entry. Entry probes ignore it. */
void wprobe_capture_at_return(int capture);

/* ---- Output and control ------------------------------------------------------------ */

/* SystemTap's printf: C format, no newline added. */
void wprobe_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* wprobe_printf, told whether fmt is a string literal: a literal's format is parsed once and
 * kept by its address (a literal never changes), any other format at every call. */
void wprobe__printf(int literal, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define WPROBE__FIRST(first, ...) first
#define wprobe_printf(...) wprobe__printf(__builtin_constant_p(WPROBE__FIRST(__VA_ARGS__, 0)), __VA_ARGS__)
/* SystemTap's warn(): `WARNING: text` on wprobe's stderr, after the output so far. */
void wprobe_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* SystemTap's exit(): ends the session after the current batch; wprobe_end() still runs. */
void wprobe_exit(void);

/* ---- Inline fast paths ------------------------------------------------------------------
 * A call into the SDK costs a wasm call's entry checks, more than what the record accessors
 * do: the SystemTap names of those read the current flat record inline, and call the
 * function only when there is none (outside an event, or the cursor path). Not an API. */

#include "wprobe_layout.h"

struct wprobe__current {
    const unsigned char *record; /* the current event's flat record, or NULL */
    uint32_t nargs;              /* arguments passed in registers (this batch's architecture) */
    uint32_t arg_offsets[8];     /* where each is in a record */
    uint32_t npp;                /* pp() by probe id, for ids below npp (NULL: ask) */
    const char *const *pp;
};
extern struct wprobe__current wprobe__cur;

static inline uint32_t wprobe__u32(uint32_t offset) {
    uint32_t v;
    __builtin_memcpy(&v, wprobe__cur.record + offset, 4);
    return v;
}

#define WPROBE__RECORD_U32(name, offset)                                                     \
    static inline uint32_t wprobe__##name##_fast(void) {                                     \
        return wprobe__cur.record ? wprobe__u32(offset) : wprobe_##name();                   \
    }
WPROBE__RECORD_U32(pid, WP_R_PID)
WPROBE__RECORD_U32(tid, WP_R_TID)
WPROBE__RECORD_U32(uid, WP_R_UID)
WPROBE__RECORD_U32(cpu, WP_R_CPU)
WPROBE__RECORD_U32(probe_id, WP_R_PROBE_ID)

static inline uint64_t wprobe__timestamp_ns_fast(void) {
    if (!wprobe__cur.record) return wprobe_timestamp_ns();
    return wprobe__u32(WP_R_TIME) | (uint64_t)wprobe__u32(WP_R_TIME + 4) << 32;
}

static inline bool wprobe__is_return_fast(void) {
    return wprobe__cur.record ? (wprobe__u32(WP_R_FLAGS) & WP_FLAG_RETURN) != 0 : wprobe_is_return();
}

static inline const char *wprobe__pp_fast(void) {
    if (wprobe__cur.record) {
        uint32_t id = wprobe__u32(WP_R_PROBE_ID);
        if (id < wprobe__cur.npp && wprobe__cur.pp[id]) return wprobe__cur.pp[id];
    }
    return wprobe_pp();
}

/* An entry record's argument n; the function for everything else (return probes read the
 * entry's, errors are recorded). */
#define WPROBE__ARG(type, name)                                                                \
    static inline type wprobe__##name##_fast(uint32_t n) {                                     \
        const unsigned char *r = wprobe__cur.record;                                           \
        if (r && n - 1 < wprobe__cur.nargs && !(wprobe__u32(WP_R_FLAGS) & WP_FLAG_RETURN)) {   \
            uint64_t v;                                                                        \
            __builtin_memcpy(&v, r + wprobe__cur.arg_offsets[n - 1], 8);                       \
            return (type)v;                                                                    \
        }                                                                                      \
        return wprobe_##name(n);                                                               \
    }
WPROBE__ARG(int32_t, int_arg)
WPROBE__ARG(uint32_t, uint_arg)
WPROBE__ARG(int64_t, long_arg)
WPROBE__ARG(uint64_t, ulong_arg)
WPROBE__ARG(int64_t, longlong_arg)
WPROBE__ARG(uint64_t, ulonglong_arg)
WPROBE__ARG(uint64_t, pointer_arg)
WPROBE__ARG(int32_t, s32_arg)
WPROBE__ARG(uint32_t, u32_arg)
WPROBE__ARG(int64_t, s64_arg)
WPROBE__ARG(uint64_t, u64_arg)

/* ---- SystemTap's names ------------------------------------------------------------- */

#ifndef WPROBE_NO_SHORT_NAMES
#define pid() wprobe__pid_fast()
#define tid() wprobe__tid_fast()
#define uid() wprobe__uid_fast()
#define cpu() wprobe__cpu_fast()
#define pp() wprobe__pp_fast()
#define execname() wprobe_execname()
#define timestamp_ns() wprobe__timestamp_ns_fast()
#define probe_id() wprobe__probe_id_fast()
#define is_return() wprobe__is_return_fast()
#define lost_events() wprobe_lost_events()
#define asmlinkage() ((void)0) /* wprobe_asmlinkage() does nothing either */
#define int_arg_checked(n, out) wprobe_int_arg_checked(n, out)
#define int_arg(n) wprobe__int_arg_fast(n)
#define uint_arg_checked(n, out) wprobe_uint_arg_checked(n, out)
#define uint_arg(n) wprobe__uint_arg_fast(n)
#define long_arg_checked(n, out) wprobe_long_arg_checked(n, out)
#define long_arg(n) wprobe__long_arg_fast(n)
#define ulong_arg_checked(n, out) wprobe_ulong_arg_checked(n, out)
#define ulong_arg(n) wprobe__ulong_arg_fast(n)
#define longlong_arg_checked(n, out) wprobe_longlong_arg_checked(n, out)
#define longlong_arg(n) wprobe__longlong_arg_fast(n)
#define ulonglong_arg_checked(n, out) wprobe_ulonglong_arg_checked(n, out)
#define ulonglong_arg(n) wprobe__ulonglong_arg_fast(n)
#define pointer_arg_checked(n, out) wprobe_pointer_arg_checked(n, out)
#define pointer_arg(n) wprobe__pointer_arg_fast(n)
#define s32_arg_checked(n, out) wprobe_s32_arg_checked(n, out)
#define s32_arg(n) wprobe__s32_arg_fast(n)
#define u32_arg_checked(n, out) wprobe_u32_arg_checked(n, out)
#define u32_arg(n) wprobe__u32_arg_fast(n)
#define s64_arg_checked(n, out) wprobe_s64_arg_checked(n, out)
#define s64_arg(n) wprobe__s64_arg_fast(n)
#define u64_arg_checked(n, out) wprobe_u64_arg_checked(n, out)
#define u64_arg(n) wprobe__u64_arg_fast(n)
#define returnval_checked(out) wprobe_returnval_checked(out)
#define returnval() wprobe_returnval()
#define entry_timestamp_ns_checked(out) wprobe_entry_timestamp_ns_checked(out)
#define entry_timestamp_ns() wprobe_entry_timestamp_ns()
#define latency_ns_checked(out) wprobe_latency_ns_checked(out)
#define latency_ns() wprobe_latency_ns()
#define int_returnval() wprobe_int_returnval()
#define uint_returnval() wprobe_uint_returnval()
#define long_returnval() wprobe_long_returnval()
#define ulong_returnval() wprobe_ulong_returnval()
#define errno_str(e) wprobe_errno_str(e)
#define print_regs() wprobe_print_regs()
#define syscall_name(nr) wprobe_syscall_name(nr)
#define kernel_bytes(addr, n, buf) wprobe_kernel_bytes(addr, n, buf)
#define user_bytes(addr, n, buf) wprobe_user_bytes(addr, n, buf)
#endif

#ifdef __cplusplus
}
#endif
#endif /* WPROBE_H */

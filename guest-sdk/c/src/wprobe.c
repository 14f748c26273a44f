/*
 * The C handler runtime: implements the component's exports (init, handle-batch, end) over
 * the `wit-bindgen c` bindings in ../bindings, and SystemTap's accessors on the current event.
 *
 * Delivery is `flat`: the host hands over the whole batch as one buffer in the layout that
 * wit/probe.wit documents, and the record header's fields (pid, tid, uid, cpu, timestamp,
 * probe id, return flag, command name) are read from it with no import call, and so are
 * the arguments, the return value, the entry's time and the latency (decoded here by the
 * calling convention, as wprobe_common does). Registers by name and the other probe-time
 * data accessors (captured memory, tracepoint fields) are import calls on the host's
 * cursor, which the runtime moves to the current event (next()) only when one of them is
 * used. Output collects in one buffer sent once per batch.
 */
#include "wprobe.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handler.h"
#include "wprobe_common.h"
#include "wprobe_internal.h"

/* Send the output as soon as this much is pending. */
#define FLUSH_AT WPROBE__FLUSH_AT
/* After a flush, a buffer that grew past this gives its memory back. */
#define KEEP_CAPACITY (4 * FLUSH_AT)

static bool started;
static bool in_init; /* captures can be declared only now: init's answer carries them */
static bool in_event;
static uint32_t event_index;
/* The current event's record in the flat batch, or NULL on the cursor path; with what
 * wprobe.h's inline accessors read. */
struct wprobe__current wprobe__cur;
#define current wprobe__cur.record
/* How many times next() was called in this batch: the host's cursor is on event
 * host_next - 1. */
static uint32_t host_next;
static uint64_t lost;
static wprobe_session session;

/* The pending output, shared with printf's fast path (wprobe_fmt.c). */
struct wprobe__output wprobe__out;
#define out_buf wprobe__out.buf
#define out_len wprobe__out.len
#define out_cap wprobe__out.cap
#define flush wprobe__flush

/* The first error of the current export call (malloc'ed), or NULL. */
char *wprobe__error_msg;
#define error_msg wprobe__error_msg

static char execname_buf[64];
static bool execname_valid;
static char *pp_fallback;

/* ---- Output ------------------------------------------------------------------------- */

static void send(void (*sink)(handler_string_t *), const char *text, size_t len) {
    handler_string_t s = {(uint8_t *)text, len};
    sink(&s);
}

void wprobe__flush(void) {
    if (out_len == 0) return;
    send(wprobe_probe_context_printf, out_buf, out_len);
    out_len = 0;
    if (out_cap > KEEP_CAPACITY) {
        free(out_buf);
        out_buf = NULL;
        out_cap = 0;
    }
}

/* Room for `extra` more bytes plus a NUL. */
static bool reserve(size_t extra) {
    size_t need = out_len + extra + 1;
    if (need <= out_cap) return true;
    size_t cap = out_cap ? out_cap : 4096;
    while (cap < need) cap *= 2;
    char *p = realloc(out_buf, cap);
    if (!p) return false;
    out_buf = p;
    out_cap = cap;
    return true;
}

void wprobe__write_stdout(const void *bytes, size_t len) {
    if (error_msg || len == 0 || !reserve(len)) return;
    memcpy(out_buf + out_len, bytes, len);
    out_len += len;
    if (out_len >= FLUSH_AT) flush();
}

void wprobe__write_stderr(const void *bytes, size_t len) {
    flush();
    const char *text = bytes;
    if (len > 0 && text[len - 1] == '\n') len--;
    send(wprobe_probe_context_warn, text, len);
}

void wprobe__append_v(bool literal, const char *fmt, va_list ap) {
    if (error_msg) return; /* SystemTap's error(): the rest of the event prints nothing */
    if (!reserve(255)) return;
    int n = wprobe__format_fast(out_buf + out_len, out_cap - out_len - 1, fmt, literal, ap);
    if (n >= 0) {
        out_len += (size_t)n;
        if (out_len >= FLUSH_AT) flush();
        return;
    }
    va_list again;
    va_copy(again, ap);
    n = vsnprintf(out_buf + out_len, out_cap - out_len, fmt, ap);
    if (n >= 0 && (size_t)n >= out_cap - out_len) {
        if (reserve((size_t)n)) {
            vsnprintf(out_buf + out_len, out_cap - out_len, fmt, again);
        } else {
            n = -1;
        }
    }
    va_end(again);
    if (n <= 0) return;
    out_len += (size_t)n;
    if (out_len >= FLUSH_AT) flush();
}

/* In parentheses: wprobe.h's macro of the same name calls wprobe__printf (wprobe_fmt.c). */
void(wprobe_printf)(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    wprobe__append_v(false, fmt, ap);
    va_end(ap);
}

/* vsnprintf into a fresh malloc'ed string: the fast formatter's when it can (an accessor's
 * error message, formatted at every error). */
static char *format_v(const char *fmt, va_list ap) {
    char text[256];
    int fast = wprobe__format_fast(text, sizeof text, fmt, false, ap);
    if (fast >= 0) {
        char *s = malloc((size_t)fast + 1);
        if (s) {
            memcpy(s, text, (size_t)fast);
            s[fast] = '\0';
        }
        return s;
    }
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s) vsnprintf(s, (size_t)n + 1, fmt, again);
    va_end(again);
    return s;
}

static char *format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *format(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = format_v(fmt, ap);
    va_end(ap);
    return s;
}

void wprobe_warn(const char *fmt, ...) {
    flush();
    va_list ap;
    va_start(ap, fmt);
    char *s = format_v(fmt, ap);
    va_end(ap);
    if (s) {
        send(wprobe_probe_context_warn, s, strlen(s));
        free(s);
    }
}

void wprobe_exit(void) {
    flush();
    wprobe_probe_context_exit();
}

/* ---- Errors --------------------------------------------------------------------------- */

static char *dup_string(const handler_string_t *s) { return strndup((const char *)s->ptr, s->len); }

static void set_error(char *msg) {
    if (error_msg) {
        free(msg);
        return;
    }
    error_msg = msg ? msg : strdup("out of memory");
}

void wprobe_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = format_v(fmt, ap);
    va_end(ap);
    set_error(s);
}

const char *wprobe_failed(void) { return error_msg; }

const char *wprobe_catch(void) {
    static char *caught;
    free(caught);
    caught = error_msg;
    error_msg = NULL;
    return caught;
}

/* The payload of the last error convert() saw, for the messages of the errors WIT 0.2.0
 * added (the codes alone do not say which address or field). */
static struct {
    uint64_t addr;
    uint32_t arg;
    char *text; /* no-such-field's text from the host (malloc'ed), or NULL */
} last_error;

/* The words come from wprobe_common.h, generated from the one table every SDK uses. */
static void record(wprobe_error e, uint32_t n, const char *name) {
    switch (e) {
    case WPROBE_OK: return;
    case WPROBE_NO_SUCH_ARGUMENT: set_error(format(WP_TEXT_NO_SUCH_ARGUMENT, n)); return;
    case WPROBE_NO_SUCH_REGISTER: set_error(format(WP_TEXT_NO_SUCH_REGISTER, name)); return;
    case WPROBE_NOT_A_RETURN_PROBE: set_error(strdup(WP_TEXT_NOT_A_RETURN_PROBE)); return;
    case WPROBE_NO_CURRENT_EVENT: set_error(strdup(WP_TEXT_NO_CURRENT_EVENT)); return;
    case WPROBE_NOT_CAPTURED:
        if (last_error.arg == 0) {
            set_error(format(WP_TEXT_NOT_CAPTURED, last_error.addr));
        } else {
            set_error(format(WP_TEXT_NOT_CAPTURED_ARG, last_error.addr, last_error.arg));
        }
        return;
    case WPROBE_FAULT: set_error(format(WP_TEXT_FAULT, last_error.addr)); return;
    case WPROBE_NO_ENTRY: set_error(strdup(WP_TEXT_NO_ENTRY)); return;
    case WPROBE_NOT_A_TRACEPOINT: set_error(strdup(WP_TEXT_NOT_A_TRACEPOINT)); return;
    case WPROBE_NO_SUCH_FIELD: set_error(format(WP_TEXT_NO_SUCH_FIELD, last_error.text ? last_error.text : "")); return;
    }
}

/* Converts (and frees) the host's error. */
static wprobe_error convert(wprobe_probe_context_access_error_t *err) {
    wprobe_error e;
    switch (err->tag) {
    case WPROBE_PROBE_TYPES_ACCESS_ERROR_NO_SUCH_ARGUMENT: e = WPROBE_NO_SUCH_ARGUMENT; break;
    case WPROBE_PROBE_TYPES_ACCESS_ERROR_NO_SUCH_REGISTER: e = WPROBE_NO_SUCH_REGISTER; break;
    case WPROBE_PROBE_TYPES_ACCESS_ERROR_NOT_A_RETURN_PROBE: e = WPROBE_NOT_A_RETURN_PROBE; break;
    case WPROBE_PROBE_TYPES_ACCESS_ERROR_NOT_CAPTURED:
        e = WPROBE_NOT_CAPTURED;
        last_error.addr = err->val.not_captured.addr;
        last_error.arg = err->val.not_captured.arg;
        break;
    case WPROBE_PROBE_TYPES_ACCESS_ERROR_FAULT:
        e = WPROBE_FAULT;
        last_error.addr = err->val.fault;
        break;
    case WPROBE_PROBE_TYPES_ACCESS_ERROR_NO_ENTRY: e = WPROBE_NO_ENTRY; break;
    case WPROBE_PROBE_TYPES_ACCESS_ERROR_NOT_A_TRACEPOINT: e = WPROBE_NOT_A_TRACEPOINT; break;
    case WPROBE_PROBE_TYPES_ACCESS_ERROR_NO_SUCH_FIELD:
        e = WPROBE_NO_SUCH_FIELD;
        free(last_error.text);
        last_error.text = dup_string(&err->val.no_such_field);
        break;
    default: e = WPROBE_NO_CURRENT_EVENT; break;
    }
    wprobe_probe_context_access_error_free(err);
    return e;
}

/* ---- Context -------------------------------------------------------------------------- */

__attribute__((noreturn, cold)) static void outside(const char *name) {
    flush();
    char *s = format("wprobe_%s() called outside an event: accessors read the current event, "
                     "in wprobe_event",
                     name);
    if (s) send(wprobe_probe_context_warn, s, strlen(s));
    __builtin_trap();
}

/* Moves the host's cursor to the current event, for the accessors that ask the host. */
static void sync_cursor(void) {
    while (host_next <= event_index) {
        wprobe_probe_context_next();
        host_next++;
    }
}

static uint32_t u32_at(size_t off) {
    uint32_t v;
    memcpy(&v, current + off, 4);
    return v;
}

static uint64_t u64_of(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* ---- The flat record's registers, decoded here as wprobe_common does on the host --------- */
/* Arguments, the return value and the entry's time need no import call (nor the host's
 * cursor): a handler that prints them per event costs what the Rust SDK's does. */

/* Register slots of the arguments passed in registers (wprobe_common::abi): x86_64 rdi rsi
 * rdx rcx r8 r9, aarch64 x0..x7; the return value: rax, x0. */
static const uint8_t arg_slots_x86_64[6] = {14, 13, 12, 11, 9, 8};
static const uint8_t arg_slots_aarch64[8] = {0, 1, 2, 3, 4, 5, 6, 7};
#define RET_SLOT_X86_64 10u
#define RET_SLOT_AARCH64 0u

/* The current flat batch's architecture (WP_ARCH_*) and record size. */
static uint8_t batch_arch;
static uint32_t batch_record_size;
/* Its arguments passed in registers: how many, and where each is in a record. */
#define batch_nargs wprobe__cur.nargs
#define batch_arg_offsets wprobe__cur.arg_offsets

static bool flat_is_return(void) { return (u32_at(WP_R_FLAGS) & WP_FLAG_RETURN) != 0; }

/* The current record's entry item's data (u64 time, then the entry's registers), or NULL
 * when it has none (attached mid-call, the entry lost). The batch was checked whole before
 * the first event, so the extension area lies inside it. */
static const uint8_t *flat_entry(void) {
    if (!(u32_at(WP_R_FLAGS) & WP_FLAG_EXT)) return NULL;
    const uint8_t *ext = current + batch_record_size;
    uint32_t xlen;
    memcpy(&xlen, ext + WP_X_LEN, 4);
    const uint8_t *p = ext + WP_EXT_HEADER_SIZE, *end = p + xlen;
    size_t nregs = batch_arch == WP_ARCH_AARCH64 ? WP_NREGS_AARCH64 : WP_NREGS_X86_64;
    while ((size_t)(end - p) >= WP_ITEM_HEADER_SIZE) {
        uint32_t n;
        memcpy(&n, p + WP_I_LEN, 4);
        size_t padded = ((size_t)n + 7) & ~(size_t)7;
        if (padded > (size_t)(end - p) - WP_ITEM_HEADER_SIZE) return NULL;
        if (p[WP_I_KIND] == WP_KIND_ENTRY) return n >= 8 + 8 * nregs ? p + WP_ITEM_HEADER_SIZE : NULL;
        p += WP_ITEM_HEADER_SIZE + padded;
    }
    return NULL;
}

/* Argument n (from 1): the record's register, or in a return probe its entry's. */
static wprobe_error flat_arg(uint32_t n, uint64_t *out) {
    bool a64 = batch_arch == WP_ARCH_AARCH64;
    uint32_t nslots = a64 ? sizeof arg_slots_aarch64 : sizeof arg_slots_x86_64;
    if (n == 0 || n > nslots) return WPROBE_NO_SUCH_ARGUMENT;
    size_t slot = (a64 ? arg_slots_aarch64 : arg_slots_x86_64)[n - 1];
    if (!flat_is_return()) {
        *out = u64_of(current + WP_R_REGS + 8 * slot);
        return WPROBE_OK;
    }
    const uint8_t *entry = flat_entry();
    if (!entry) return WPROBE_NO_ENTRY;
    *out = u64_of(entry + 8 + 8 * slot);
    return WPROBE_OK;
}

static wprobe_error flat_returnval(int64_t *out) {
    if (!flat_is_return()) return WPROBE_NOT_A_RETURN_PROBE;
    size_t slot = batch_arch == WP_ARCH_AARCH64 ? RET_SLOT_AARCH64 : RET_SLOT_X86_64;
    *out = (int64_t)u64_of(current + WP_R_REGS + 8 * slot);
    return WPROBE_OK;
}

static wprobe_error flat_entry_timestamp_ns(uint64_t *out) {
    if (!flat_is_return()) return WPROBE_NOT_A_RETURN_PROBE;
    const uint8_t *entry = flat_entry();
    if (!entry) return WPROBE_NO_ENTRY;
    *out = u64_of(entry);
    return WPROBE_OK;
}

static wprobe_error flat_latency_ns(uint64_t *out) {
    uint64_t start;
    wprobe_error e = flat_entry_timestamp_ns(&start);
    if (e != WPROBE_OK) return e;
    uint64_t now = u64_of(current + WP_R_TIME);
    *out = now > start ? now - start : 0;
    return WPROBE_OK;
}

#define CONTEXT_ACCESSOR(type, name, read)                                                  \
    type wprobe_##name(void) {                                                              \
        if (!in_event) outside(#name);                                                      \
        if (current) return read;                                                            \
        return wprobe_probe_context_##name();                                               \
    }

CONTEXT_ACCESSOR(uint32_t, pid, u32_at(WP_R_PID))
CONTEXT_ACCESSOR(uint32_t, tid, u32_at(WP_R_TID))
CONTEXT_ACCESSOR(uint32_t, uid, u32_at(WP_R_UID))
CONTEXT_ACCESSOR(uint32_t, cpu, u32_at(WP_R_CPU))
CONTEXT_ACCESSOR(uint64_t, timestamp_ns, u32_at(WP_R_TIME) | (uint64_t)u32_at(WP_R_TIME + 4) << 32)
CONTEXT_ACCESSOR(uint32_t, probe_id, u32_at(WP_R_PROBE_ID))
CONTEXT_ACCESSOR(bool, is_return, (u32_at(WP_R_FLAGS) & WP_FLAG_RETURN) != 0)

static const char *pp_of(uint32_t id) {
    if (id < session.nprobes && session.probes[id].id == id) return session.probes[id].pp;
    for (size_t i = 0; i < session.nprobes; i++) {
        if (session.probes[i].id == id) return session.probes[i].pp;
    }
    return NULL;
}

const char *wprobe_pp(void) {
    if (!in_event) outside("pp");
    const char *p = pp_of(wprobe_probe_id());
    if (p) return p;
    /* Not in the table: ask the host. */
    if (current) sync_cursor();
    handler_string_t s;
    wprobe_probe_context_pp(&s);
    free(pp_fallback);
    pp_fallback = strndup((const char *)s.ptr, s.len);
    handler_string_free(&s);
    return pp_fallback ? pp_fallback : "";
}

const char *wprobe_execname(void) {
    if (!in_event) outside("execname");
    if (!execname_valid && current) {
        /* NUL-padded, up to 16 bytes. */
        memcpy(execname_buf, current + WP_R_COMM, WP_COMM_LEN);
        execname_buf[WP_COMM_LEN] = '\0';
        execname_valid = true;
    }
    if (!execname_valid) {
        handler_string_t s;
        wprobe_probe_context_execname(&s);
        size_t n = s.len < sizeof execname_buf - 1 ? s.len : sizeof execname_buf - 1;
        memcpy(execname_buf, s.ptr, n);
        execname_buf[n] = '\0';
        handler_string_free(&s);
        execname_valid = true;
    }
    return execname_buf;
}

uint64_t wprobe_lost_events(void) { return lost; }

void wprobe_asmlinkage(void) {}

/* ---- Arguments --------------------------------------------------------------------------- */
/* From the flat record's registers, as the Rust SDK does: no import call per argument. */

/* The common case first: an entry record of a flat batch (`current` is set only while an
 * event runs), argument n passed in a register. */
static inline __attribute__((always_inline)) bool entry_arg(uint32_t n, uint64_t *out) {
    if (!current || n - 1 >= batch_nargs || (u32_at(WP_R_FLAGS) & WP_FLAG_RETURN)) return false;
    *out = u64_of(current + batch_arg_offsets[n - 1]);
    return true;
}

#define ARG_ACCESSOR(type, name)                                                            \
    wprobe_error wprobe_##name##_checked(uint32_t n, type *out) {                            \
        uint64_t raw;                                                                       \
        if (entry_arg(n, &raw)) {                                                           \
            *out = (type)raw;                                                               \
            return WPROBE_OK;                                                               \
        }                                                                                   \
        *out = 0;                                                                           \
        if (!in_event) return WPROBE_NO_CURRENT_EVENT;                                      \
        if (current) {                                                                      \
            wprobe_error e = flat_arg(n, &raw);                                             \
            if (e == WPROBE_OK) *out = (type)raw;                                           \
            return e;                                                                       \
        }                                                                                   \
        wprobe_probe_context_access_error_t err;                                            \
        if (wprobe_probe_context_##name(n, out, &err)) return WPROBE_OK;                    \
        return convert(&err);                                                               \
    }                                                                                       \
    type wprobe_##name(uint32_t n) {                                                        \
        uint64_t raw;                                                                       \
        if (entry_arg(n, &raw)) return (type)raw;                                           \
        type v;                                                                             \
        record(wprobe_##name##_checked(n, &v), n, NULL);                                    \
        return v;                                                                           \
    }

ARG_ACCESSOR(int32_t, int_arg)
ARG_ACCESSOR(uint32_t, uint_arg)
ARG_ACCESSOR(int64_t, long_arg)
ARG_ACCESSOR(uint64_t, ulong_arg)
ARG_ACCESSOR(int64_t, longlong_arg)
ARG_ACCESSOR(uint64_t, ulonglong_arg)
ARG_ACCESSOR(uint64_t, pointer_arg)
ARG_ACCESSOR(int32_t, s32_arg)
ARG_ACCESSOR(uint32_t, u32_arg)
ARG_ACCESSOR(int64_t, s64_arg)
ARG_ACCESSOR(uint64_t, u64_arg)

/* ---- Return value and registers ---------------------------------------------------- */

wprobe_error wprobe_returnval_checked(int64_t *out) {
    *out = 0;
    if (!in_event) return WPROBE_NO_CURRENT_EVENT;
    if (current) return flat_returnval(out);
    wprobe_probe_context_access_error_t err;
    if (wprobe_probe_context_returnval(out, &err)) return WPROBE_OK;
    return convert(&err);
}

int64_t wprobe_returnval(void) {
    int64_t v;
    record(wprobe_returnval_checked(&v), 0, NULL);
    return v;
}

/* returnstr, register, u_register: generated (wprobe_context.c). */

void wprobe_print_regs(void) {
    if (!in_event) {
        record(WPROBE_NO_CURRENT_EVENT, 0, NULL);
        return;
    }
    if (error_msg) return;
    flush();
    if (current) sync_cursor();
    wprobe_probe_context_access_error_t err;
    if (!wprobe_probe_context_print_regs(&err)) record(convert(&err), 0, NULL);
}

/* ---- Typed return values ------------------------------------------------------------ */

int32_t wprobe_int_returnval(void) { return (int32_t)wprobe_returnval(); }
uint32_t wprobe_uint_returnval(void) { return (uint32_t)wprobe_returnval(); }
int64_t wprobe_long_returnval(void) { return wprobe_returnval(); }
uint64_t wprobe_ulong_returnval(void) { return (uint64_t)wprobe_returnval(); }

/* Linux errno names (wprobe_common.h, generated from the host's table). */
static const char *const errno_names[] = WP_ERRNO_NAMES;
static const char *const errno_internal[] = WP_ERRNO_INTERNAL;
#define COUNT(a) ((int64_t)(sizeof(a) / sizeof *(a)))

const char *wprobe_errno_str(int64_t e) {
    if (e == INT64_MIN) return NULL; /* -e would overflow */
    if (e < 0) e = -e;                /* SystemTap's errno_str takes either sign */
    const char *name = NULL;
    if (e >= 1 && e <= COUNT(errno_names)) name = errno_names[e - 1];
    else if (e >= WP_ERRNO_FIRST_INTERNAL && e < WP_ERRNO_FIRST_INTERNAL + COUNT(errno_internal))
        name = errno_internal[e - WP_ERRNO_FIRST_INTERNAL];
    return name && *name ? name : NULL;
}

/* ---- Probe-time data: entry values, captured memory, tracepoint fields ---------------- */
/* Thin wrappers over the imports: the host answers from the record's extension area. */

/* The strings these accessors returned during the current event, freed when it ends: so
 * that a handler can print several together without copying them. */
static char **event_strings;
static size_t event_strings_len, event_strings_cap;

static const char *keep_for_event(char *text) {
    if (!text) return "";
    if (event_strings_len == event_strings_cap) {
        size_t cap = event_strings_cap ? 2 * event_strings_cap : 8;
        char **p = realloc(event_strings, cap * sizeof *p);
        if (!p) {
            free(text);
            return "";
        }
        event_strings = p;
        event_strings_cap = cap;
    }
    event_strings[event_strings_len++] = text;
    return text;
}

static void free_event_strings(void) {
    for (size_t i = 0; i < event_strings_len; i++) free(event_strings[i]);
    event_strings_len = 0;
}

/* Whether an accessor that asks the host may run now; moves the host's cursor if so. */
static bool on_event(void) {
    if (!in_event) return false;
    if (current) sync_cursor();
    return true;
}

/* ---- For the generated accessors (wprobe_context.c, wprobe_internal.h) ------------------- */

bool wprobe__on_event(void) { return on_event(); }

void wprobe__enter(const char *name) {
    if (!in_event) outside(name);
    if (current) sync_cursor();
}

wprobe_error wprobe__convert(wprobe_probe_context_access_error_t *err) { return convert(err); }

void wprobe__record(wprobe_error e, uint32_t n, const char *name) { record(e, n, name); }

const char *wprobe__keep_string(handler_string_t *s) {
    const char *kept = keep_for_event(dup_string(s));
    handler_string_free(s);
    return kept;
}


/* Syscall numbers are below 1024 on every architecture: each name is asked for once and
 * kept, so the memory stays bounded however often a handler prints it. */
#define SYSCALL_NAMES 1024
static const char *syscall_names[SYSCALL_NAMES];

const char *wprobe_syscall_name(uint64_t nr) {
    if (nr >= SYSCALL_NAMES) return NULL;
    if (!syscall_names[nr]) {
        handler_string_t name;
        if (wprobe_probe_context_syscall_name(nr, &name)) {
            syscall_names[nr] = dup_string(&name);
            handler_string_free(&name);
        } else {
            syscall_names[nr] = "";
        }
    }
    return *syscall_names[nr] ? syscall_names[nr] : NULL;
}

/* Entry values of a return probe, from the flat record's entry item. */
#define EVENT_U64_ACCESSOR(name)                                                            \
    wprobe_error wprobe_##name##_checked(uint64_t *out) {                                   \
        *out = 0;                                                                           \
        if (in_event && current) return flat_##name(out);                                   \
        if (!on_event()) return WPROBE_NO_CURRENT_EVENT;                                    \
        wprobe_probe_context_access_error_t err;                                            \
        if (wprobe_probe_context_##name(out, &err)) return WPROBE_OK;                       \
        return convert(&err);                                                               \
    }                                                                                       \
    uint64_t wprobe_##name(void) {                                                          \
        uint64_t v;                                                                         \
        record(wprobe_##name##_checked(&v), 0, NULL);                                       \
        return v;                                                                           \
    }

EVENT_U64_ACCESSOR(entry_timestamp_ns)
EVENT_U64_ACCESSOR(latency_ns)



#define MEM_BYTES_ACCESSOR(name)                                                            \
    wprobe_error wprobe_##name##_checked(uint64_t addr, uint32_t n, void *buf) {            \
        memset(buf, 0, n);                                                                  \
        if (!on_event()) return WPROBE_NO_CURRENT_EVENT;                                    \
        handler_list_u8_t bytes;                                                            \
        wprobe_probe_context_access_error_t err;                                            \
        if (!wprobe_probe_context_##name(addr, n, &bytes, &err)) return convert(&err);      \
        memcpy(buf, bytes.ptr, bytes.len < n ? bytes.len : n);                              \
        handler_list_u8_free(&bytes);                                                       \
        return WPROBE_OK;                                                                   \
    }                                                                                       \
    void wprobe_##name(uint64_t addr, uint32_t n, void *buf) {                              \
        record(wprobe_##name##_checked(addr, n, buf), 0, NULL);                             \
    }

MEM_BYTES_ACCESSOR(kernel_bytes)
MEM_BYTES_ACCESSOR(user_bytes)



/* ---- Captures -------------------------------------------------------------------------- */

/* Grows *array (len elements of elem bytes, *cap allocated) so that one more fits: twice
 * as large each time. False when out of memory (the array is unchanged). */
static bool room_for_one(void **array, size_t len, size_t *cap, size_t elem) {
    if (len < *cap) return true;
    size_t n = *cap ? 2 * *cap : 4;
    void *p = realloc(*array, n * elem);
    if (!p) return false;
    *array = p;
    *cap = n;
    return true;
}

/* The captures wprobe_init declared, in the WIT's own form: init's answer hands the array
 * (and the names and derefs in it) to the bindings, which free it after the call. */
static wprobe_probe_types_capture_t *captures;
static size_t captures_len, captures_cap;

static int add_capture(wprobe_base base, uint32_t size, wprobe_probe_types_capture_kind_t kind,
                       wprobe_probe_types_address_space_t space) {
    if (!in_init) {
        wprobe_fail("captures are declared in wprobe_init: the kernel side is set up before the first event");
        return -1;
    }
    if (!room_for_one((void **)&captures, captures_len, &captures_cap, sizeof *captures)) {
        wprobe_fail("out of memory");
        return -1;
    }
    wprobe_probe_types_capture_t c;
    memset(&c, 0, sizeof c);
    switch (base.kind) {
    case WPROBE_BASE_ARG:
        c.base.tag = WPROBE_PROBE_TYPES_CAPTURE_BASE_ARG;
        c.base.val.arg = base.arg;
        break;
    case WPROBE_BASE_REGISTER:
    case WPROBE_BASE_FIELD: {
        char *name = strdup(base.name ? base.name : "");
        if (!name) {
            wprobe_fail("out of memory");
            return -1;
        }
        handler_string_t s = {(uint8_t *)name, strlen(name)};
        if (s.len == 0) {
            /* The bindings free only non-empty strings after the call. */
            free(name);
            s.ptr = NULL;
        }
        if (base.kind == WPROBE_BASE_REGISTER) {
            c.base.tag = WPROBE_PROBE_TYPES_CAPTURE_BASE_REGISTER;
            c.base.val.register_ = s;
        } else {
            c.base.tag = WPROBE_PROBE_TYPES_CAPTURE_BASE_FIELD;
            c.base.val.field = s;
        }
        break;
    }
    case WPROBE_BASE_RETURNVAL:
        c.base.tag = WPROBE_PROBE_TYPES_CAPTURE_BASE_RETURNVAL;
        break;
    default:
        wprobe_fail("wprobe_capture: unknown base kind %d", (int)base.kind);
        return -1;
    }
    c.kind = kind;
    c.size = size;
    c.space = space;
    c.at = WPROBE_PROBE_TYPES_CAPTURE_TIME_ENTRY;
    captures[captures_len] = c;
    return (int)captures_len++;
}

int wprobe_capture_user_string(wprobe_base base, uint32_t max) {
    return add_capture(base, max, WPROBE_PROBE_TYPES_CAPTURE_KIND_STRING, WPROBE_PROBE_TYPES_ADDRESS_SPACE_USER);
}
int wprobe_capture_kernel_string(wprobe_base base, uint32_t max) {
    return add_capture(base, max, WPROBE_PROBE_TYPES_CAPTURE_KIND_STRING, WPROBE_PROBE_TYPES_ADDRESS_SPACE_KERNEL);
}
int wprobe_capture_user_bytes(wprobe_base base, uint32_t n) {
    return add_capture(base, n, WPROBE_PROBE_TYPES_CAPTURE_KIND_BYTES, WPROBE_PROBE_TYPES_ADDRESS_SPACE_USER);
}
int wprobe_capture_kernel_bytes(wprobe_base base, uint32_t n) {
    return add_capture(base, n, WPROBE_PROBE_TYPES_CAPTURE_KIND_BYTES, WPROBE_PROBE_TYPES_ADDRESS_SPACE_KERNEL);
}

/* The capture a modifier names, or NULL (and a recorded error). */
static wprobe_probe_types_capture_t *capture_at(int capture, const char *what) {
    if (!in_init || capture < 0 || (size_t)capture >= captures_len) {
        wprobe_fail("wprobe_capture_%s(%d): no such capture (declare captures in wprobe_init)", what, capture);
        return NULL;
    }
    return &captures[capture];
}

void wprobe_capture_offset(int capture, int64_t offset) {
    wprobe_probe_types_capture_t *c = capture_at(capture, "offset");
    if (c) c->offset = offset;
}

void wprobe_capture_deref(int capture, int64_t offset) {
    wprobe_probe_types_capture_t *c = capture_at(capture, "deref");
    if (!c) return;
    int64_t *p = realloc(c->derefs.ptr, (c->derefs.len + 1) * sizeof *p);
    if (!p) {
        wprobe_fail("out of memory");
        return;
    }
    p[c->derefs.len] = offset;
    c->derefs.ptr = p;
    c->derefs.len++;
}

void wprobe_capture_probe(int capture, uint32_t probe_id) {
    wprobe_probe_types_capture_t *c = capture_at(capture, "probe");
    if (!c) return;
    c->probe.is_some = true;
    c->probe.val = probe_id;
}

void wprobe_capture_at_return(int capture) {
    wprobe_probe_types_capture_t *c = capture_at(capture, "at_return");
    if (c) c->at = WPROBE_PROBE_TYPES_CAPTURE_TIME_RETURN;
}

/* ---- Lifecycle ---------------------------------------------------------------------- */

__attribute__((weak)) int wprobe_init(const wprobe_session *s) {
    (void)s;
    return 0;
}

__attribute__((weak)) void wprobe_end(void) {}

__attribute__((weak)) void wprobe_tick(uint32_t timer) { (void)timer; }

/* The timers wprobe_init declared; init's answer hands the array to the bindings. */
static uint32_t *timers;
static size_t timers_len, timers_cap;

int wprobe_timer_ms(uint32_t period_ms) {
    if (!in_init) {
        wprobe_fail("timers are declared in wprobe_init");
        return -1;
    }
    if (!room_for_one((void **)&timers, timers_len, &timers_cap, sizeof *timers)) {
        wprobe_fail("out of memory declaring a timer");
        return -1;
    }
    timers[timers_len] = period_ms;
    return (int)timers_len++;
}

int wprobe_timer_s(uint32_t period_s) {
    uint64_t ms = (uint64_t)period_s * 1000;
    return wprobe_timer_ms(ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms);
}

const char *wprobe_arg_value(const wprobe_session *s, const char *key) {
    for (size_t i = s->nargs; i > 0; i--) {
        if (strcmp(s->args[i - 1].key, key) == 0) return s->args[i - 1].value;
    }
    return NULL;
}


/* Hands `msg` to the host as the export's error (the bindings free it after the call). */
static bool fail_with(handler_string_t *err, char *msg) {
    if (!msg) msg = strdup("out of memory");
    err->ptr = (uint8_t *)msg;
    err->len = strlen(msg);
    return false;
}

static char *take_error(void) {
    char *e = error_msg;
    error_msg = NULL;
    return e;
}

/* The probe names live in one arena, each after its length (a uint32_t), for printf: a %s
 * argument inside [wprobe__pp_lo, wprobe__pp_hi) is copied without looking for its end. */
const char *wprobe__pp_lo, *wprobe__pp_hi;
static char *pp_arena;
static size_t pp_arena_len, pp_arena_cap;

/* Reserves the arena for `names` (before keep_pp). */
static bool reserve_pp(const handler_session_t *s) {
    size_t n = 0;
    for (size_t i = 0; i < s->probes.len; i++) n += 8 + ((s->probes.ptr[i].pp.len + 4) & ~(size_t)3);
    pp_arena = malloc(n ? n : 1);
    pp_arena_cap = n;
    pp_arena_len = 0;
    return pp_arena != NULL;
}

static const char *keep_pp(const handler_string_t *name) {
    uint32_t len = (uint32_t)name->len;
    size_t at = (pp_arena_len + 3) & ~(size_t)3;
    memcpy(pp_arena + at, &len, 4);
    char *text = pp_arena + at + 4;
    memcpy(text, name->ptr, len);
    text[len] = '\0';
    pp_arena_len = at + 4 + len + 1;
    return text;
}

bool exports_handler_init(handler_session_t *s, handler_handler_config_t *ret, handler_string_t *err) {
    wprobe_arg *args = calloc(s->args.len ? s->args.len : 1, sizeof *args);
    wprobe_probe *probes = calloc(s->probes.len ? s->probes.len : 1, sizeof *probes);
    if (!args || !probes || !reserve_pp(s)) return fail_with(err, strdup("out of memory"));
    for (size_t i = 0; i < s->args.len; i++) {
        args[i].key = dup_string(&s->args.ptr[i].f0);
        args[i].value = dup_string(&s->args.ptr[i].f1);
    }
    for (size_t i = 0; i < s->probes.len; i++) {
        probes[i].id = s->probes.ptr[i].id;
        probes[i].pp = keep_pp(&s->probes.ptr[i].pp);
        probes[i].is_return = s->probes.ptr[i].is_return;
        const wprobe_probe_types_list_field_info_t *fields = &s->probes.ptr[i].fields;
        wprobe_field_info *infos = calloc(fields->len ? fields->len : 1, sizeof *infos);
        if (!infos) return fail_with(err, strdup("out of memory"));
        for (size_t j = 0; j < fields->len; j++) {
            infos[j].name = dup_string(&fields->ptr[j].name);
            infos[j].offset = fields->ptr[j].offset;
            infos[j].size = fields->ptr[j].size;
            /* The WIT enum's order is wprobe_field_kind's. */
            infos[j].kind = (wprobe_field_kind)fields->ptr[j].kind;
        }
        probes[i].nfields = fields->len;
        probes[i].fields = infos;
    }
    session.nargs = s->args.len;
    session.args = args;
    session.nprobes = s->probes.len;
    session.probes = probes;
    /* pp() by probe id for wprobe.h's inline accessor (NULL where pp_of finds none). */
    const char **pps = calloc(s->probes.len ? s->probes.len : 1, sizeof *pps);
    if (!pps) return fail_with(err, strdup("out of memory"));
    for (uint32_t id = 0; id < s->probes.len; id++) pps[id] = pp_of(id);
    wprobe__cur.pp = pps;
    wprobe__cur.npp = (uint32_t)s->probes.len;
    wprobe__pp_lo = pp_arena;
    wprobe__pp_hi = pp_arena + pp_arena_len;
    session.arch = s->arch == WPROBE_PROBE_TYPES_ARCH_AARCH64 ? WPROBE_ARCH_AARCH64 : WPROBE_ARCH_X86_64;
    handler_session_free(s);

    in_init = true;
    int rc = wprobe_init(&session);
    in_init = false;
    flush();
    char *e = take_error();
    if (e) return fail_with(err, e);
    if (rc != 0) return fail_with(err, format("wprobe_init returned %d", rc));
    started = true;
    ret->delivery = WPROBE_PROBE_TYPES_DELIVERY_FLAT;
    /* Ownership passes to the bindings, which free the list after the call. */
    ret->captures.ptr = captures;
    ret->captures.len = captures_len;
    captures = NULL;
    captures_len = captures_cap = 0;
    ret->timers.ptr = timers;
    ret->timers.len = timers_len;
    timers = NULL;
    timers_len = timers_cap = 0;
    return true;
}

/* Runs the handler on the current event; on an error, the message for the host. */
static char *run_event(uint32_t i) {
    event_index = i;
    execname_valid = false;
    in_event = true;
    wprobe_event();
    char *failure = NULL;
    if (error_msg) {
        /* The host words where it happened from its cursor: put it on this event. */
        if (current) sync_cursor();
        failure = take_error();
    }
    in_event = false;
    free_event_strings();
    return failure;
}

static uint32_t le32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* The length of the record at `p`, of which `left` bytes are in the batch: its fixed part,
 * plus its extension area when WP_FLAG_EXT says it has one; 0 when it does not fit. */
static size_t record_len(const uint8_t *p, size_t left, uint32_t size) {
    if (left < size) return 0;
    if (!(le32(p + WP_R_FLAGS) & WP_FLAG_EXT)) return size;
    if (left - size < WP_EXT_HEADER_SIZE) return 0;
    uint32_t ext = le32(p + size);
    if (left - size - WP_EXT_HEADER_SIZE < ext) return 0;
    return size + WP_EXT_HEADER_SIZE + ext;
}

/* Whether `count` records fit the batch exactly, checked before the first event runs. */
static bool records_fit(const uint8_t *b, size_t len, uint32_t count, uint32_t size) {
    size_t at = WP_BATCH_HEADER_SIZE;
    for (uint32_t i = 0; i < count; i++) {
        size_t n = record_len(b + at, len - at, size);
        if (n == 0) return false;
        at += n;
    }
    return at == len;
}

bool exports_handler_handle_batch(handler_list_u8_t *maybe_flat, handler_string_t *err) {
    if (!started) {
        if (maybe_flat) handler_list_u8_free(maybe_flat);
        return fail_with(err, strdup("handle-batch called before a successful init"));
    }
    char *failure = NULL;
    host_next = 0;
    if (maybe_flat) {
        /* The flat layout: a header, then `count` records of `size` bytes, each followed by
         * its extension area when its flags have WP_FLAG_EXT. */
        const uint8_t *b = maybe_flat->ptr;
        size_t len = maybe_flat->len;
        bool has_header = len >= WP_BATCH_HEADER_SIZE;
        uint32_t count = has_header ? le32(b + WP_B_COUNT) : 0, size = has_header ? le32(b + WP_B_RECORD_SIZE) : 0;
        if (!has_header || le32(b) != WP_BATCH_MAGIC || size < WP_RECORD_HEADER_SIZE ||
            !records_fit(b, len, count, size)) {
            handler_list_u8_free(maybe_flat);
            return fail_with(err, strdup("the host sent a malformed flat batch"));
        }
        memcpy(&lost, b + WP_B_LOST, 8);
        batch_arch = b[WP_B_ARCH];
        batch_record_size = size;
        bool a64 = batch_arch == WP_ARCH_AARCH64;
        batch_nargs = a64 ? sizeof arg_slots_aarch64 : sizeof arg_slots_x86_64;
        for (uint32_t i = 0; i < batch_nargs; i++) {
            batch_arg_offsets[i] = WP_R_REGS + 8u * (a64 ? arg_slots_aarch64 : arg_slots_x86_64)[i];
        }
        size_t at = WP_BATCH_HEADER_SIZE;
        for (uint32_t i = 0; i < count && !failure; i++) {
            current = b + at;
            at += record_len(current, len - at, size);
            failure = run_event(i);
        }
        current = NULL;
        handler_list_u8_free(maybe_flat);
    } else {
        lost = wprobe_probe_context_lost_events();
        for (uint32_t i = 0; !failure && wprobe_probe_context_next(); i++) failure = run_event(i);
    }
    flush();
    if (failure) return fail_with(err, failure);
    return true;
}

bool exports_handler_tick(uint32_t timer, handler_string_t *err) {
    if (!started) return fail_with(err, strdup("tick called before a successful init"));
    wprobe_tick(timer);
    flush();
    /* The message only: the host's report names the timer. */
    char *e = take_error();
    if (e) return fail_with(err, e);
    return true;
}

bool exports_handler_end(handler_string_t *err) {
    if (!started) return fail_with(err, strdup("end called before a successful init"));
    wprobe_end();
    flush();
    /* The message only: the host's report says it was in end. */
    char *e = take_error();
    if (e) return fail_with(err, e);
    return true;
}

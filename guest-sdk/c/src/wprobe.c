/*
 * The C handler runtime: implements the component's exports (init, handle-batch, end) over
 * the `wit-bindgen c` bindings in ../bindings, and SystemTap's accessors on the current event.
 *
 * Delivery is `flat`: the host hands over the whole batch as one buffer in the layout that
 * wit/probe.wit documents, and the record header's fields (pid, tid, uid, cpu, timestamp,
 * probe id, return flag, command name) are read from it with no import call. Arguments,
 * the return value and registers need the calling convention, which only the host decodes:
 * those accessors are import calls on the host's cursor, which the runtime moves to the
 * current event (next()) only when one of them is used. Output collects in one buffer sent
 * once per batch.
 */
#include "wprobe.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handler.h"
#include "wprobe_internal.h"

/* Send the output as soon as this much is pending. */
#define FLUSH_AT (64 * 1024)
/* After a flush, a buffer that grew past this gives its memory back. */
#define KEEP_CAPACITY (4 * FLUSH_AT)

static bool started;
static bool in_event;
static uint32_t event_index;
/* The current event's record in the flat batch, or NULL on the cursor path. */
static const uint8_t *current;
/* How many times next() was called in this batch: the host's cursor is on event
 * host_next - 1. */
static uint32_t host_next;
static uint64_t lost;
static wprobe_session session;

static char *out_buf;
static size_t out_len, out_cap;

/* The first error of the current export call (malloc'ed), or NULL. */
static char *error_msg;

static char execname_buf[64];
static bool execname_valid;
static char *returnstr_buf;
static char *pp_fallback;

/* ---- Output ------------------------------------------------------------------------- */

static void send(void (*sink)(handler_string_t *), const char *text, size_t len) {
    handler_string_t s = {(uint8_t *)text, len};
    sink(&s);
}

static void flush(void) {
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

static void append_v(const char *fmt, va_list ap) {
    if (error_msg) return; /* SystemTap's error(): the rest of the event prints nothing */
    if (!reserve(255)) return;
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(out_buf + out_len, out_cap - out_len, fmt, ap);
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

void wprobe_printf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    append_v(fmt, ap);
    va_end(ap);
}

/* vsnprintf into a fresh malloc'ed string. */
static char *format_v(const char *fmt, va_list ap) {
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

/* The same messages as the Rust SDK's AccessError. */
static void record(wprobe_error e, uint32_t n, const char *name) {
    switch (e) {
    case WPROBE_OK:
        return;
    case WPROBE_NO_SUCH_ARGUMENT:
        set_error(format("argument %u is not passed in a register (arguments count from 1; "
                         "x86_64 passes 6 in registers, aarch64 8)",
                         n));
        return;
    case WPROBE_NO_SUCH_REGISTER:
        set_error(format("no register named \"%s\" on this architecture", name));
        return;
    case WPROBE_NOT_A_RETURN_PROBE:
        set_error(strdup("the return value exists only in a return probe (`.return`, --kretprobe, --uretprobe)"));
        return;
    case WPROBE_NO_CURRENT_EVENT:
        set_error(strdup("no current event: accessors work in wprobe_event, not in init or end"));
        return;
    }
}

/* Converts (and frees) the host's error. */
static wprobe_error convert(wprobe_probe_context_access_error_t *err) {
    wprobe_error e;
    switch (err->tag) {
    case WPROBE_PROBE_TYPES_ACCESS_ERROR_NO_SUCH_ARGUMENT: e = WPROBE_NO_SUCH_ARGUMENT; break;
    case WPROBE_PROBE_TYPES_ACCESS_ERROR_NO_SUCH_REGISTER: e = WPROBE_NO_SUCH_REGISTER; break;
    case WPROBE_PROBE_TYPES_ACCESS_ERROR_NOT_A_RETURN_PROBE: e = WPROBE_NOT_A_RETURN_PROBE; break;
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

/* Record header offsets (wit/probe.wit, `delivery::flat`). */
enum { R_PROBE_ID = 0, R_FLAGS = 4, R_PID = 8, R_TID = 12, R_UID = 16, R_CPU = 20, R_TIME = 24, R_COMM = 32 };

#define CONTEXT_ACCESSOR(type, name, read)                                                  \
    type wprobe_##name(void) {                                                              \
        if (!in_event) outside(#name);                                                      \
        if (current) return read;                                                            \
        return wprobe_probe_context_##name();                                               \
    }

CONTEXT_ACCESSOR(uint32_t, pid, u32_at(R_PID))
CONTEXT_ACCESSOR(uint32_t, tid, u32_at(R_TID))
CONTEXT_ACCESSOR(uint32_t, uid, u32_at(R_UID))
CONTEXT_ACCESSOR(uint32_t, cpu, u32_at(R_CPU))
CONTEXT_ACCESSOR(uint64_t, timestamp_ns, u32_at(R_TIME) | (uint64_t)u32_at(R_TIME + 4) << 32)
CONTEXT_ACCESSOR(uint32_t, probe_id, u32_at(R_PROBE_ID))
CONTEXT_ACCESSOR(bool, is_return, (u32_at(R_FLAGS) & 1) != 0)

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
        memcpy(execname_buf, current + R_COMM, 16);
        execname_buf[16] = '\0';
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

#define ARG_ACCESSOR(type, name)                                                            \
    wprobe_error wprobe_##name##_checked(uint32_t n, type *out) {                            \
        *out = 0;                                                                           \
        if (!in_event) return WPROBE_NO_CURRENT_EVENT;                                      \
        if (current) sync_cursor();                                                          \
        wprobe_probe_context_access_error_t err;                                            \
        if (wprobe_probe_context_##name(n, out, &err)) return WPROBE_OK;                    \
        return convert(&err);                                                               \
    }                                                                                       \
    type wprobe_##name(uint32_t n) {                                                        \
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
    if (current) sync_cursor();
    wprobe_probe_context_access_error_t err;
    if (wprobe_probe_context_returnval(out, &err)) return WPROBE_OK;
    return convert(&err);
}

int64_t wprobe_returnval(void) {
    int64_t v;
    record(wprobe_returnval_checked(&v), 0, NULL);
    return v;
}

const char *wprobe_returnstr(void) {
    if (!in_event) {
        record(WPROBE_NO_CURRENT_EVENT, 0, NULL);
        return "";
    }
    if (current) sync_cursor();
    handler_string_t s;
    wprobe_probe_context_access_error_t err;
    if (!wprobe_probe_context_returnstr(&s, &err)) {
        record(convert(&err), 0, NULL);
        return "";
    }
    free(returnstr_buf);
    returnstr_buf = strndup((const char *)s.ptr, s.len);
    handler_string_free(&s);
    return returnstr_buf ? returnstr_buf : "";
}

wprobe_error wprobe_register_checked(const char *name, int64_t *out) {
    *out = 0;
    if (!in_event) return WPROBE_NO_CURRENT_EVENT;
    if (current) sync_cursor();
    handler_string_t s = {(uint8_t *)name, strlen(name)};
    wprobe_probe_context_access_error_t err;
    if (wprobe_probe_context_register(&s, out, &err)) return WPROBE_OK;
    return convert(&err);
}

wprobe_error wprobe_u_register_checked(const char *name, uint64_t *out) {
    *out = 0;
    if (!in_event) return WPROBE_NO_CURRENT_EVENT;
    if (current) sync_cursor();
    handler_string_t s = {(uint8_t *)name, strlen(name)};
    wprobe_probe_context_access_error_t err;
    if (wprobe_probe_context_u_register(&s, out, &err)) return WPROBE_OK;
    return convert(&err);
}

int64_t wprobe_register(const char *name) {
    int64_t v;
    record(wprobe_register_checked(name, &v), 0, name);
    return v;
}

uint64_t wprobe_u_register(const char *name) {
    uint64_t v;
    record(wprobe_u_register_checked(name, &v), 0, name);
    return v;
}

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

/* Linux errno names: 1..133 as in the uapi headers, 512..530 the kernel-internal codes
 * (the same table as the host's returnstr()); "" where Linux defines no code. */
static const char *const errno_names[133] = {
    "EPERM", "ENOENT", "ESRCH", "EINTR", "EIO", "ENXIO", "E2BIG", "ENOEXEC", "EBADF",
    "ECHILD", "EAGAIN", "ENOMEM", "EACCES", "EFAULT", "ENOTBLK", "EBUSY", "EEXIST",
    "EXDEV", "ENODEV", "ENOTDIR", "EISDIR", "EINVAL", "ENFILE", "EMFILE", "ENOTTY",
    "ETXTBSY", "EFBIG", "ENOSPC", "ESPIPE", "EROFS", "EMLINK", "EPIPE", "EDOM", "ERANGE",
    "EDEADLK", "ENAMETOOLONG", "ENOLCK", "ENOSYS", "ENOTEMPTY", "ELOOP", "", "ENOMSG",
    "EIDRM", "ECHRNG", "EL2NSYNC", "EL3HLT", "EL3RST", "ELNRNG", "EUNATCH", "ENOCSI",
    "EL2HLT", "EBADE", "EBADR", "EXFULL", "ENOANO", "EBADRQC", "EBADSLT", "", "EBFONT",
    "ENOSTR", "ENODATA", "ETIME", "ENOSR", "ENONET", "ENOPKG", "EREMOTE", "ENOLINK",
    "EADV", "ESRMNT", "ECOMM", "EPROTO", "EMULTIHOP", "EDOTDOT", "EBADMSG", "EOVERFLOW",
    "ENOTUNIQ", "EBADFD", "EREMCHG", "ELIBACC", "ELIBBAD", "ELIBSCN", "ELIBMAX",
    "ELIBEXEC", "EILSEQ", "ERESTART", "ESTRPIPE", "EUSERS", "ENOTSOCK", "EDESTADDRREQ",
    "EMSGSIZE", "EPROTOTYPE", "ENOPROTOOPT", "EPROTONOSUPPORT", "ESOCKTNOSUPPORT",
    "EOPNOTSUPP", "EPFNOSUPPORT", "EAFNOSUPPORT", "EADDRINUSE", "EADDRNOTAVAIL",
    "ENETDOWN", "ENETUNREACH", "ENETRESET", "ECONNABORTED", "ECONNRESET", "ENOBUFS",
    "EISCONN", "ENOTCONN", "ESHUTDOWN", "ETOOMANYREFS", "ETIMEDOUT", "ECONNREFUSED",
    "EHOSTDOWN", "EHOSTUNREACH", "EALREADY", "EINPROGRESS", "ESTALE", "EUCLEAN", "ENOTNAM",
    "ENAVAIL", "EISNAM", "EREMOTEIO", "EDQUOT", "ENOMEDIUM", "EMEDIUMTYPE", "ECANCELED",
    "ENOKEY", "EKEYEXPIRED", "EKEYREVOKED", "EKEYREJECTED", "EOWNERDEAD",
    "ENOTRECOVERABLE", "ERFKILL", "EHWPOISON",
};
static const char *const errno_internal[19] = {
    "ERESTARTSYS", "ERESTARTNOINTR", "ERESTARTNOHAND", "ENOIOCTLCMD",
    "ERESTART_RESTARTBLOCK", "EPROBE_DEFER", "EOPENSTALE", "ENOPARAM", "", "EBADHANDLE",
    "ENOTSYNC", "EBADCOOKIE", "ENOTSUPP", "ETOOSMALL", "ESERVERFAULT", "EBADTYPE",
    "EJUKEBOX", "EIOCBQUEUED", "ERECALLCONFLICT",
};

const char *wprobe_errno_str(int64_t e) {
    if (e == INT64_MIN) return NULL; /* -e would overflow */
    if (e < 0) e = -e;                /* SystemTap's errno_str takes either sign */
    const char *name = NULL;
    if (e >= 1 && e <= 133) name = errno_names[e - 1];
    else if (e >= 512 && e <= 530) name = errno_internal[e - 512];
    return name && *name ? name : NULL;
}

/* ---- Lifecycle ---------------------------------------------------------------------- */

__attribute__((weak)) int wprobe_init(const wprobe_session *s) {
    (void)s;
    return 0;
}

__attribute__((weak)) void wprobe_end(void) {}

const char *wprobe_arg_value(const wprobe_session *s, const char *key) {
    for (size_t i = s->nargs; i > 0; i--) {
        if (strcmp(s->args[i - 1].key, key) == 0) return s->args[i - 1].value;
    }
    return NULL;
}

static char *dup_string(const handler_string_t *s) { return strndup((const char *)s->ptr, s->len); }

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

bool exports_handler_init(handler_session_t *s, handler_handler_config_t *ret, handler_string_t *err) {
    wprobe_arg *args = calloc(s->args.len ? s->args.len : 1, sizeof *args);
    wprobe_probe *probes = calloc(s->probes.len ? s->probes.len : 1, sizeof *probes);
    if (!args || !probes) return fail_with(err, strdup("out of memory"));
    for (size_t i = 0; i < s->args.len; i++) {
        args[i].key = dup_string(&s->args.ptr[i].f0);
        args[i].value = dup_string(&s->args.ptr[i].f1);
    }
    for (size_t i = 0; i < s->probes.len; i++) {
        probes[i].id = s->probes.ptr[i].id;
        probes[i].pp = dup_string(&s->probes.ptr[i].pp);
        probes[i].is_return = s->probes.ptr[i].is_return;
    }
    session.nargs = s->args.len;
    session.args = args;
    session.nprobes = s->probes.len;
    session.probes = probes;
    session.arch = s->arch == WPROBE_PROBE_TYPES_ARCH_AARCH64 ? WPROBE_ARCH_AARCH64 : WPROBE_ARCH_X86_64;
    handler_session_free(s);

    int rc = wprobe_init(&session);
    flush();
    char *e = take_error();
    if (e) return fail_with(err, e);
    if (rc != 0) return fail_with(err, format("wprobe_init returned %d", rc));
    started = true;
    ret->delivery = WPROBE_PROBE_TYPES_DELIVERY_FLAT;
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
        char *e = take_error();
        const char *p = pp_of(wprobe_probe_id());
        failure = format("event %u of the batch (pid %u, %s): %s", i + 1, wprobe_pid(), p ? p : "<unknown probe>", e);
        free(e);
    }
    in_event = false;
    return failure;
}

static uint32_t le32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

bool exports_handler_handle_batch(handler_list_u8_t *maybe_flat, handler_string_t *err) {
    if (!started) {
        if (maybe_flat) handler_list_u8_free(maybe_flat);
        return fail_with(err, strdup("handle-batch called before a successful init"));
    }
    char *failure = NULL;
    host_next = 0;
    if (maybe_flat) {
        /* The flat layout: a 24-byte header, then `count` records of `size` bytes. */
        const uint8_t *b = maybe_flat->ptr;
        size_t len = maybe_flat->len;
        uint32_t count = len >= 24 ? le32(b + 8) : 0, size = len >= 24 ? le32(b + 12) : 0;
        if (len < 24 || memcmp(b, "WPB1", 4) != 0 || size < 48 || (len - 24) / size < count) {
            handler_list_u8_free(maybe_flat);
            return fail_with(err, strdup("the host sent a malformed flat batch"));
        }
        memcpy(&lost, b + 16, 8);
        for (uint32_t i = 0; i < count && !failure; i++) {
            current = b + 24 + (size_t)i * size;
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

bool exports_handler_end(handler_string_t *err) {
    if (!started) return fail_with(err, strdup("end called before a successful init"));
    wprobe_end();
    flush();
    char *e = take_error();
    if (e) {
        char *msg = format("in end: %s", e);
        free(e);
        return fail_with(err, msg);
    }
    return true;
}

/*
 * The conformance dump in C: every accessor's answer, or its access error's words, for every
 * event, in the format of tests/handlers/dump_flat/src/dump.rs (the Rust one), which the
 * language tests compare byte for byte. A new accessor is one line here.
 */
#include <inttypes.h>

#include "wprobe.h"

static const wprobe_session *session;

int wprobe_init(const wprobe_session *s) {
    session = s;
    return 0;
}

/* One accessor's line: `CALL = VALUE`, or `CALL ! ERROR` with the error it recorded, which
 * wprobe_catch() clears so that the event goes on. The value is read first, then the error;
 * the call's text is a format and its arguments, printed with the value in one line. */
#define SHOW(type, value_fmt, expr, call_fmt, ...)                                                  \
    do {                                                                                            \
        type v_ = (type)(expr);                                                                     \
        const char *e_ = wprobe_catch();                                                            \
        if (e_) {                                                                                   \
            wprobe_printf(call_fmt " ! %s\n", ##__VA_ARGS__, e_);                                   \
        } else {                                                                                    \
            wprobe_printf(call_fmt " = " value_fmt "\n", ##__VA_ARGS__, v_);                        \
        }                                                                                           \
    } while (0)
#define SHOW_I(expr, ...) SHOW(int64_t, "%" PRId64, expr, __VA_ARGS__)
#define SHOW_U(expr, ...) SHOW(uint64_t, "%" PRIu64, expr, __VA_ARGS__)
#define SHOW_S(expr, ...) SHOW(const char *, "\"%s\"", expr, __VA_ARGS__)
#define SHOW_B(fn, a, call_fmt, ...)                                                                \
    do {                                                                                            \
        uint8_t b_[4];                                                                              \
        fn(a, 4, b_);                                                                               \
        const char *e_ = wprobe_catch();                                                            \
        if (e_) {                                                                                   \
            wprobe_printf(call_fmt " ! %s\n", ##__VA_ARGS__, e_);                                   \
        } else {                                                                                    \
            wprobe_printf(call_fmt " = %02x%02x%02x%02x\n", ##__VA_ARGS__, b_[0], b_[1], b_[2], b_[3]); \
        }                                                                                           \
    } while (0)

static const uint64_t syscalls[] = {0, 59, 221, 257, 100000};
static const char *const registers[] = {"rip", "RSP", "eax", "r8d", "orig_rax", "x0", "w1", "lr", "pc", "nope"};

void wprobe_event(void) {
    wprobe_asmlinkage();
    wprobe_printf("event pid=%" PRIu32 " tid=%" PRIu32 " uid=%" PRIu32 " cpu=%" PRIu32 " ts=%" PRIu64
                  " probe=%" PRIu32 " return=%s lost=%" PRIu64 " target=%" PRIu32 " comm=\"%s\" pp=\"%s\"\n",
                  wprobe_pid(), wprobe_tid(), wprobe_uid(), wprobe_cpu(), wprobe_timestamp_ns(), wprobe_probe_id(),
                  wprobe_is_return() ? "true" : "false", wprobe_lost_events(), wprobe_target(), wprobe_execname(),
                  wprobe_pp());
    for (uint32_t n = 0; n <= 9; n++) {
        SHOW_I(wprobe_int_arg(n), "int_arg(%u)", n);
        SHOW_U(wprobe_uint_arg(n), "uint_arg(%u)", n);
        SHOW_I(wprobe_long_arg(n), "long_arg(%u)", n);
        SHOW_U(wprobe_ulong_arg(n), "ulong_arg(%u)", n);
        SHOW_I(wprobe_longlong_arg(n), "longlong_arg(%u)", n);
        SHOW_U(wprobe_ulonglong_arg(n), "ulonglong_arg(%u)", n);
        SHOW_U(wprobe_pointer_arg(n), "pointer_arg(%u)", n);
        SHOW_I(wprobe_s32_arg(n), "s32_arg(%u)", n);
        SHOW_U(wprobe_u32_arg(n), "u32_arg(%u)", n);
        SHOW_I(wprobe_s64_arg(n), "s64_arg(%u)", n);
        SHOW_U(wprobe_u64_arg(n), "u64_arg(%u)", n);
    }
    SHOW_I(wprobe_returnval(), "returnval()");
    SHOW_S(wprobe_returnstr(), "returnstr()");
    for (size_t i = 0; i < sizeof registers / sizeof *registers; i++) {
        SHOW_I(wprobe_register(registers[i]), "register(%s)", registers[i]);
        SHOW_U(wprobe_u_register(registers[i]), "u_register(%s)", registers[i]);
    }
    wprobe_printf("print_regs()\n");
    wprobe_print_regs();
    const char *e = wprobe_catch();
    if (e) wprobe_printf("print_regs() ! %s\n", e);
    for (size_t i = 0; i < sizeof syscalls / sizeof *syscalls; i++) {
        const char *name = wprobe_syscall_name(syscalls[i]);
        if (name) {
            wprobe_printf("syscall_name(%" PRIu64 ") = \"%s\"\n", syscalls[i], name);
        } else {
            wprobe_printf("syscall_name(%" PRIu64 ") = none\n", syscalls[i]);
        }
    }
    SHOW_U(wprobe_entry_timestamp_ns(), "entry_timestamp_ns()");
    SHOW_U(wprobe_latency_ns(), "latency_ns()");

    /* Addresses: one nothing covers, the pointer arguments and 8 past them, the return value. */
    uint64_t addrs[8];
    size_t naddrs = 0;
    addrs[naddrs++] = 0x1234;
    for (uint32_t n = 1; n <= 3; n++) {
        uint64_t a;
        if (wprobe_pointer_arg_checked(n, &a) == WPROBE_OK) {
            addrs[naddrs++] = a;
            addrs[naddrs++] = a + 8;
        }
    }
    int64_t r;
    if (wprobe_returnval_checked(&r) == WPROBE_OK) addrs[naddrs++] = (uint64_t)r;
    for (size_t i = 0; i < naddrs; i++) {
        uint64_t a = addrs[i];
        SHOW_S(wprobe_kernel_string(a), "kernel_string(0x%" PRIx64 ")", a);
        SHOW_S(wprobe_kernel_string_n(a, 4), "kernel_string_n(0x%" PRIx64 ", 4)", a);
        SHOW_S(wprobe_user_string(a), "user_string(0x%" PRIx64 ")", a);
        SHOW_S(wprobe_user_string_n(a, 4), "user_string_n(0x%" PRIx64 ", 4)", a);
        SHOW_B(wprobe_kernel_bytes, a, "kernel_bytes(0x%" PRIx64 ", 4)", a);
        SHOW_B(wprobe_user_bytes, a, "user_bytes(0x%" PRIx64 ", 4)", a);
        SHOW_I(wprobe_kernel_char(a), "kernel_char(0x%" PRIx64 ")", a);
        SHOW_I(wprobe_kernel_short(a), "kernel_short(0x%" PRIx64 ")", a);
        SHOW_I(wprobe_kernel_int(a), "kernel_int(0x%" PRIx64 ")", a);
        SHOW_I(wprobe_kernel_long(a), "kernel_long(0x%" PRIx64 ")", a);
        SHOW_U(wprobe_kernel_pointer(a), "kernel_pointer(0x%" PRIx64 ")", a);
        SHOW_I(wprobe_user_char(a), "user_char(0x%" PRIx64 ")", a);
        SHOW_I(wprobe_user_short(a), "user_short(0x%" PRIx64 ")", a);
        SHOW_I(wprobe_user_int(a), "user_int(0x%" PRIx64 ")", a);
        SHOW_I(wprobe_user_long(a), "user_long(0x%" PRIx64 ")", a);
    }

    uint32_t id = wprobe_probe_id();
    const wprobe_probe *probe = NULL;
    for (size_t i = 0; i < session->nprobes; i++) {
        if (session->probes[i].id == id) probe = &session->probes[i];
    }
    size_t nfields = probe ? probe->nfields : 0;
    for (size_t i = 0; i <= nfields; i++) {
        const char *name = i < nfields ? probe->fields[i].name : "nope";
        SHOW_I(wprobe_field(name), "field(%s)", name);
        SHOW_S(wprobe_field_string(name), "field_string(%s)", name);
    }
}

/*
 * The conformance dump in C: every accessor's answer, or its access error's words, for every
 * event, in the format of tests/handlers/dump_flat/src/dump.rs (the Rust one), which the
 * language tests compare byte for byte. A new accessor is one line here.
 */
#include <inttypes.h>
#include <stdio.h>

#include "wprobe.h"

static const wprobe_session *session;

int wprobe_init(const wprobe_session *s) {
    session = s;
    return 0;
}

/* Ends the accessor's line: its value (already formatted into `value`), or the error it
 * recorded, which wprobe_catch() clears so that the event goes on. */
static void line(const char *call, const char *value) {
    const char *e = wprobe_catch();
    if (e) {
        wprobe_printf("%s ! %s\n", call, e);
    } else {
        wprobe_printf("%s = %s\n", call, value);
    }
}

static char call[96], val[96];

#define CALL(...) snprintf(call, sizeof call, __VA_ARGS__)
#define SHOW_I(expr) (snprintf(val, sizeof val, "%" PRId64, (int64_t)(expr)), line(call, val))
#define SHOW_U(expr) (snprintf(val, sizeof val, "%" PRIu64, (uint64_t)(expr)), line(call, val))
#define SHOW_S(expr)                                                                                \
    do {                                                                                            \
        const char *s_ = (expr);                                                                    \
        const char *e_ = wprobe_catch();                                                            \
        if (e_) {                                                                                   \
            wprobe_printf("%s ! %s\n", call, e_);                                                   \
        } else {                                                                                    \
            wprobe_printf("%s = \"%s\"\n", call, s_);                                               \
        }                                                                                           \
    } while (0)
#define SHOW_B(fn, a)                                                                               \
    do {                                                                                            \
        uint8_t b_[4];                                                                              \
        fn(a, 4, b_);                                                                               \
        snprintf(val, sizeof val, "%02x%02x%02x%02x", b_[0], b_[1], b_[2], b_[3]);                  \
        line(call, val);                                                                            \
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
        CALL("int_arg(%u)", n), SHOW_I(wprobe_int_arg(n));
        CALL("uint_arg(%u)", n), SHOW_U(wprobe_uint_arg(n));
        CALL("long_arg(%u)", n), SHOW_I(wprobe_long_arg(n));
        CALL("ulong_arg(%u)", n), SHOW_U(wprobe_ulong_arg(n));
        CALL("longlong_arg(%u)", n), SHOW_I(wprobe_longlong_arg(n));
        CALL("ulonglong_arg(%u)", n), SHOW_U(wprobe_ulonglong_arg(n));
        CALL("pointer_arg(%u)", n), SHOW_U(wprobe_pointer_arg(n));
        CALL("s32_arg(%u)", n), SHOW_I(wprobe_s32_arg(n));
        CALL("u32_arg(%u)", n), SHOW_U(wprobe_u32_arg(n));
        CALL("s64_arg(%u)", n), SHOW_I(wprobe_s64_arg(n));
        CALL("u64_arg(%u)", n), SHOW_U(wprobe_u64_arg(n));
    }
    CALL("returnval()"), SHOW_I(wprobe_returnval());
    CALL("returnstr()");
    SHOW_S(wprobe_returnstr());
    for (size_t i = 0; i < sizeof registers / sizeof *registers; i++) {
        CALL("register(%s)", registers[i]), SHOW_I(wprobe_register(registers[i]));
        CALL("u_register(%s)", registers[i]), SHOW_U(wprobe_u_register(registers[i]));
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
    CALL("entry_timestamp_ns()"), SHOW_U(wprobe_entry_timestamp_ns());
    CALL("latency_ns()"), SHOW_U(wprobe_latency_ns());

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
        CALL("kernel_string(0x%" PRIx64 ")", a);
        SHOW_S(wprobe_kernel_string(a));
        CALL("kernel_string_n(0x%" PRIx64 ", 4)", a);
        SHOW_S(wprobe_kernel_string_n(a, 4));
        CALL("user_string(0x%" PRIx64 ")", a);
        SHOW_S(wprobe_user_string(a));
        CALL("user_string_n(0x%" PRIx64 ", 4)", a);
        SHOW_S(wprobe_user_string_n(a, 4));
        CALL("kernel_bytes(0x%" PRIx64 ", 4)", a);
        SHOW_B(wprobe_kernel_bytes, a);
        CALL("user_bytes(0x%" PRIx64 ", 4)", a);
        SHOW_B(wprobe_user_bytes, a);
        CALL("kernel_char(0x%" PRIx64 ")", a), SHOW_I(wprobe_kernel_char(a));
        CALL("kernel_short(0x%" PRIx64 ")", a), SHOW_I(wprobe_kernel_short(a));
        CALL("kernel_int(0x%" PRIx64 ")", a), SHOW_I(wprobe_kernel_int(a));
        CALL("kernel_long(0x%" PRIx64 ")", a), SHOW_I(wprobe_kernel_long(a));
        CALL("kernel_pointer(0x%" PRIx64 ")", a), SHOW_U(wprobe_kernel_pointer(a));
        CALL("user_char(0x%" PRIx64 ")", a), SHOW_I(wprobe_user_char(a));
        CALL("user_short(0x%" PRIx64 ")", a), SHOW_I(wprobe_user_short(a));
        CALL("user_int(0x%" PRIx64 ")", a), SHOW_I(wprobe_user_int(a));
        CALL("user_long(0x%" PRIx64 ")", a), SHOW_I(wprobe_user_long(a));
    }

    uint32_t id = wprobe_probe_id();
    const wprobe_probe *probe = NULL;
    for (size_t i = 0; i < session->nprobes; i++) {
        if (session->probes[i].id == id) probe = &session->probes[i];
    }
    size_t nfields = probe ? probe->nfields : 0;
    for (size_t i = 0; i <= nfields; i++) {
        const char *name = i < nfields ? probe->fields[i].name : "nope";
        CALL("field(%s)", name), SHOW_I(wprobe_field(name));
        CALL("field_string(%s)", name);
        SHOW_S(wprobe_field_string(name));
    }
}

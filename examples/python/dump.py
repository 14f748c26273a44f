"""The conformance dump in Python: every accessor's answer, or its access error's words, for
every event, in the format of tests/handlers/dump_flat/src/dump.rs (the Rust one), which the
language tests compare byte for byte. A new accessor is one line here."""
from wprobe import *

SYSCALLS = (0, 59, 221, 257, 100000)
REGISTERS = ("rip", "RSP", "eax", "r8d", "orig_rax", "x0", "w1", "lr", "pc", "nope")
U64 = (1 << 64) - 1


def show(call, fn, *args, fmt=str):
    try:
        value = fmt(fn(*args))
    except AccessError as e:
        printf("%s ! %s\n", call, e)
        return
    printf("%s = %s\n", call, value)


def text(s):
    return '"%s"' % s


def flag(b):
    return "true" if b else "false"


@handler
class Dump(Handler):
    def __init__(self, session):
        self.fields = {p.id: [f.name for f in p.fields] for p in session.probes}

    def event(self):
        asmlinkage()
        printf('event pid=%d tid=%d uid=%d cpu=%d ts=%d probe=%d return=%s lost=%d target=%d comm="%s" pp="%s"\n',
               pid(), tid(), uid(), cpu(), timestamp_ns(), probe_id(), flag(is_return()), lost_events(),
               target(), execname(), pp())
        for n in range(10):
            show("int_arg(%d)" % n, int_arg, n)
            show("uint_arg(%d)" % n, uint_arg, n)
            show("long_arg(%d)" % n, long_arg, n)
            show("ulong_arg(%d)" % n, ulong_arg, n)
            show("longlong_arg(%d)" % n, longlong_arg, n)
            show("ulonglong_arg(%d)" % n, ulonglong_arg, n)
            show("pointer_arg(%d)" % n, pointer_arg, n)
            show("s32_arg(%d)" % n, s32_arg, n)
            show("u32_arg(%d)" % n, u32_arg, n)
            show("s64_arg(%d)" % n, s64_arg, n)
            show("u64_arg(%d)" % n, u64_arg, n)
        show("returnval()", returnval)
        show("returnstr()", returnstr, fmt=text)
        for name in REGISTERS:
            show("register(%s)" % name, register, name)
            show("u_register(%s)" % name, u_register, name)
        printf("print_regs()\n")
        try:
            print_regs()
        except AccessError as e:
            printf("print_regs() ! %s\n", e)
        for nr in SYSCALLS:
            name = syscall_name(nr)
            printf("syscall_name(%d) = %s\n", nr, "none" if name is None else text(name))
        show("entry_timestamp_ns()", entry_timestamp_ns)
        show("latency_ns()", latency_ns)
        # Addresses: one nothing covers, the pointer arguments and 8 past them, the return value.
        addrs = [0x1234]
        for n in (1, 2, 3):
            try:
                a = pointer_arg(n)
            except AccessError:
                continue
            addrs += [a, (a + 8) & U64]
        try:
            addrs.append(returnval() & U64)
        except AccessError:
            pass
        for a in addrs:
            show("kernel_string(%#x)" % a, kernel_string, a, fmt=text)
            show("kernel_string_n(%#x, 4)" % a, kernel_string_n, a, 4, fmt=text)
            show("user_string(%#x)" % a, user_string, a, fmt=text)
            show("user_string_n(%#x, 4)" % a, user_string_n, a, 4, fmt=text)
            show("kernel_bytes(%#x, 4)" % a, kernel_bytes, a, 4, fmt=bytes.hex)
            show("user_bytes(%#x, 4)" % a, user_bytes, a, 4, fmt=bytes.hex)
            show("kernel_char(%#x)" % a, kernel_char, a)
            show("kernel_short(%#x)" % a, kernel_short, a)
            show("kernel_int(%#x)" % a, kernel_int, a)
            show("kernel_long(%#x)" % a, kernel_long, a)
            show("kernel_pointer(%#x)" % a, kernel_pointer, a)
            show("user_char(%#x)" % a, user_char, a)
            show("user_short(%#x)" % a, user_short, a)
            show("user_int(%#x)" % a, user_int, a)
            show("user_long(%#x)" % a, user_long, a)
        for name in self.fields.get(probe_id(), []) + ["nope"]:
            show("field(%s)" % name, field, name)
            show("field_string(%s)" % name, field_string, name, fmt=text)

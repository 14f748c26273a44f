"""The probe-time data of WIT 0.2.0, as the Rust test handler tests/handlers/probe_data (the
tests compare the two byte for byte): ``__init__`` declares a capture with every base and
modifier; each event prints what the memory accessors read from the captured regions of an
entry event (arguments 1 to 3 point at them), and in a return event the entry's values, the
latency and the memory the return value points at."""
from wprobe import *


@handler
class ProbeData(Handler):
    def __init__(self, session):
        (session
         .capture(Capture.user_string(Base.arg(2), 256))
         .capture(Capture.kernel_bytes(Base.arg(1), 16).offset(8).probe(0))
         .capture(Capture.kernel_string(Base.register("rdx"), 32).deref(0).deref(-8))
         .capture(Capture.user_string(Base.returnval(), 64).probe(1).at_return())
         .capture(Capture.user_bytes(Base.field("filename"), 4).offset(-16)))

    def event(self):
        printf("%d target=%d", pid(), target())
        if is_return():
            ret = returnval() & 0xffffffffffffffff
            printf(" return entry_ts=%d latency=%d arg1=%#x name=%s uchar=%d ushort=%d uint=%d "
                   "ulong=%d ubytes=%s\n",
                   entry_timestamp_ns(), latency_ns(), pointer_arg(1), user_string(ret),
                   user_char(ret), user_short(ret), user_int(ret), user_long(ret),
                   user_bytes(ret, 3).hex())
        else:
            a1, a2, a3 = pointer_arg(1), pointer_arg(2), pointer_arg(3)
            printf(" entry path=%s path4=%s char=%d short=%d int=%d long=%d ptr=%#x kbytes=%s "
                   "kstr=%s kstr2=%s\n",
                   user_string(a2), user_string_n(a2, 4), kernel_char(a1 + 8), kernel_short(a1 + 8),
                   kernel_int(a1 + 8), kernel_long(a1 + 8), kernel_pointer(a1 + 16),
                   kernel_bytes(a1 + 9, 4).hex(), kernel_string(a3), kernel_string_n(a3, 2))

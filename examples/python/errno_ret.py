"""A return probe on a function declared ``int``, returning 0 or a negated errno as most
kernel functions do, in Python: ``wprobe run errno_ret_py.wasm --kretprobe tcp_v4_connect``
prints

    kprobe.function("tcp_v4_connect").return: int -2 (ENOENT), unsigned int 4294967294, long 4294967294, unsigned long 4294967294

returnval() is the whole register; an ``int`` function defines only its low 32 bits, so the
line shows every decode and which one fits which C return type.
"""
from wprobe import *


@handler
def errno_ret():
    r = int_returnval()
    printf("%s: int %d", pp(), r)
    name = errno_str(r)
    if r < 0 and name:
        printf(" (%s)", name)
    printf(", unsigned int %d, long %d, unsigned long %d\n", uint_returnval(), long_returnval(), ulong_returnval())

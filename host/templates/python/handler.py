"""{{name}}: a wprobe handler. SystemTap's

    probe kprobe.function("tcp_v4_connect") {
      asmlinkage();
      printf("%s, %d, %d, 0x%x, 0x%x, %d\n", pp(), pid(), cpu(), pointer_arg(1), pointer_arg(2), uint_arg(3));
    }

as a probe body. Build: `sh build.sh`; run: `wprobe run {{name}}.wasm --kprobe tcp_v4_connect`.
guest-sdk/python/README.md in the wprobe checkout lists every accessor.
"""
from wprobe import *


@handler
def {{name}}():
    """int tcp_v4_connect(struct sock *sk, struct sockaddr *uaddr, int addr_len)"""
    asmlinkage()
    printf("%s, %d, %d, 0x%x, 0x%x, %d\n", pp(), pid(), cpu(), pointer_arg(1), pointer_arg(2), uint_arg(3))

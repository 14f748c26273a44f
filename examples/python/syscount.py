"""Which syscalls a process makes, and how often: counts per syscall from the
``raw_syscalls:sys_enter`` tracepoint, the top N every interval and in total at the end.
The same output as the Rust example (examples/syscount)::

    wprobe run syscount_py.wasm --tracepoint raw_syscalls:sys_enter -c 'ls /' --arg interval=1

``--arg interval=N`` prints and clears ``@syscalls`` every N seconds; ``--arg top=N`` the N
most frequent (default 10, 0 for all); ``--arg pid=P`` counts only process P."""
from wprobe import *
from wprobe_agg import Agg


def _int_arg(session, key, default):
    v = session.arg(key)
    if v is None:
        return default
    try:
        n = int(v)
    except ValueError:
        n = -1
    if n < 0:
        raise ValueError("--arg %s=%s: expected a number" % (key, v))
    return n


def _print_named(by_nr, name, top):
    named = Agg.sum(name)
    for nr, e in by_nr.sorted():
        key = syscall_name(nr)
        named.add("syscall_%d" % nr if key is None else key, e.count)
    named.print(top)


@handler
class Syscount(Handler):
    def __init__(self, session):
        if not any(f.name == "id" for p in session.probes for f in p.fields):
            raise ValueError("syscount counts the `id` field of raw_syscalls:sys_enter: run it with "
                             "--tracepoint raw_syscalls:sys_enter")
        interval = _int_arg(session, "interval", 0)
        if interval > 0:
            session.timer_s(interval)
        self.top = _int_arg(session, "top", 10)
        pid_arg = session.arg("pid")
        self.pid = None if pid_arg is None else _int_arg(session, "pid", 0)
        # By syscall number: no name lookup per event.
        self.interval = Agg.count("@syscalls")
        self.total = Agg.count("@total")

    def event(self):
        if self.pid is not None and pid() != self.pid:
            return
        nr = field("id")
        self.interval.inc(nr)
        self.total.inc(nr)

    def tick(self, timer):
        _print_named(self.interval, "@syscalls", self.top)
        printf("\n")
        self.interval.clear()

    def end(self):
        _print_named(self.total, "@total", self.top)

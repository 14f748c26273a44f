"""Counts events per process and prints a summary when the session ends, SystemTap's

    global hits; probe kprobe.function("tcp_v4_connect") { hits[pid(), execname()]++ }
    probe end { foreach ([p, e] in hits-) printf("pid %d (%s): %d\n", p, e, hits[p, e]) }

with the same output as the Rust example (examples/count):

    pid 4859 (curl): 12
    pid 977 (sshd): 3
    total: 15

`--arg exit_after=N` ends the session after N events, as SystemTap's `if (++n == N) exit()`.
"""
from wprobe import *


@handler
class Count(Handler):
    def __init__(self, session):
        self.hits = {}  # pid -> [events, command name at the first event]
        self.seen = 0
        n = session.arg("exit_after")
        try:
            self.exit_after = None if n is None else int(n)
        except ValueError:
            raise ValueError("--arg exit_after=%s: expected a number of events" % n) from None

    def event(self):
        p = pid()
        row = self.hits.get(p)
        if row is None:
            # The name is copied only the first time a pid shows up.
            self.hits[p] = [1, execname()]
        else:
            row[0] += 1
        self.seen += 1
        if self.seen == self.exit_after:
            exit()

    def end(self):
        rows = sorted(self.hits.items(), key=lambda r: (-r[1][0], r[0]))
        for p, (n, name) in rows:
            printf("pid %d (%s): %d\n", p, name, n)
        printf("total: %d\n", sum(n for _, (n, _) in rows))

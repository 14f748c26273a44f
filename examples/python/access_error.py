"""An accessor that cannot answer, as the Rust test handler tests/handlers/access_error:
`--arg what=argument` (default) reads pointer_arg(9), `what=register` register("nope"),
`what=returnval` returnval() (an error in an entry probe), `what=memory`
user_string(pointer_arg(1)) (not captured, or a faulted capture), `what=address`
kernel_string(0x1234), `what=field` field("nope") (not a tracepoint), `what=entry`
latency_ns() (a return whose entry was not seen). The AccessError is not caught, so the
session ends with its message and the event, exactly as a Rust handler's `?` reports it."""
from wprobe import *

WHATS = ("argument", "register", "returnval", "memory", "address", "field", "entry")


@handler
class AccessErrorHandler(Handler):
    def __init__(self, session):
        self.what = session.arg("what", "argument")
        if self.what not in WHATS:
            raise ValueError("--arg what=%s: expected argument, register, returnval, memory, address, "
                             "field or entry" % self.what)

    def event(self):
        if self.what == "argument":
            printf("0x%x\n", pointer_arg(9))
        elif self.what == "register":
            printf("%d\n", register("nope"))
        elif self.what == "returnval":
            printf("%d\n", returnval())
        elif self.what == "memory":
            printf("%s\n", user_string(pointer_arg(1)))
        elif self.what == "address":
            printf("%s\n", kernel_string(0x1234))
        elif self.what == "field":
            printf("%d\n", field("nope"))
        else:
            printf("%d\n", latency_ns())

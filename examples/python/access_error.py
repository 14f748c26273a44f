"""An accessor that cannot answer, as the Rust test handler tests/handlers/access_error:
`--arg what=argument` (default) reads pointer_arg(9), `what=register` register("nope"),
`what=returnval` returnval() (an error in an entry probe). The AccessError is not caught,
so the session ends with its message and the event, exactly as a Rust handler's `?`
reports it."""
from wprobe import *


@handler
class AccessErrorHandler(Handler):
    def __init__(self, session):
        self.what = session.arg("what", "argument")
        if self.what not in ("argument", "register", "returnval"):
            raise ValueError("--arg what=%s: expected argument, register or returnval" % self.what)

    def event(self):
        if self.what == "argument":
            printf("0x%x\n", pointer_arg(9))
        elif self.what == "register":
            printf("%d\n", register("nope"))
        else:
            printf("%d\n", returnval())

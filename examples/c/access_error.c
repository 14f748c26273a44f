/*
 * An accessor that cannot answer, as the Rust test handler tests/handlers/access_error:
 * `--arg what=argument` (default) reads pointer_arg(9), `what=register` register_("nope"),
 * `what=returnval` returnval() (an error in an entry probe). The error is recorded, the
 * event's output dropped, and the session ends with the message and the event, exactly as
 * a Rust handler's `?` reports it. `wprobe_*_checked` would let the handler decide instead.
 */
#include <inttypes.h>
#include <string.h>
#include <wprobe.h>

static const char *what = "argument";

int wprobe_init(const wprobe_session *session) {
    const char *w = wprobe_arg_value(session, "what");
    if (w) what = w;
    if (strcmp(what, "argument") && strcmp(what, "register") && strcmp(what, "returnval")) {
        wprobe_fail("--arg what=%s: expected argument, register or returnval", what);
        return 1;
    }
    return 0;
}

void wprobe_event(void) {
    if (!strcmp(what, "argument")) {
        wprobe_printf("0x%" PRIx64 "\n", pointer_arg(9));
    } else if (!strcmp(what, "register")) {
        wprobe_printf("%" PRId64 "\n", register_("nope"));
    } else {
        wprobe_printf("%" PRId64 "\n", returnval());
    }
}

/*
 * An accessor that cannot answer, as the Rust test handler tests/handlers/access_error:
 * `--arg what=argument` (default) reads pointer_arg(9), `what=register` register_("nope"),
 * `what=returnval` returnval() (an error in an entry probe), `what=memory`
 * user_string(pointer_arg(1)) (not captured, or a faulted capture), `what=address`
 * kernel_string(0x1234), `what=field` field("nope") (not a tracepoint), `what=entry`
 * latency_ns() (a return whose entry was not seen). The error is recorded, the event's
 * output dropped, and the session ends with the message and the event, exactly as a Rust
 * handler's `?` reports it. `wprobe_*_checked` would let the handler decide instead.
 */
#include <inttypes.h>
#include <string.h>
#include <wprobe.h>

static const char *what = "argument";
static const char *const whats[] = {"argument", "register", "returnval", "memory", "address", "field", "entry"};

int wprobe_init(const wprobe_session *session) {
    const char *w = wprobe_arg_value(session, "what");
    if (w) what = w;
    for (size_t i = 0; i < sizeof whats / sizeof *whats; i++) {
        if (!strcmp(what, whats[i])) return 0;
    }
    wprobe_fail("--arg what=%s: expected argument, register, returnval, memory, address, field or entry", what);
    return 1;
}

void wprobe_event(void) {
    if (!strcmp(what, "argument")) {
        wprobe_printf("0x%" PRIx64 "\n", pointer_arg(9));
    } else if (!strcmp(what, "register")) {
        wprobe_printf("%" PRId64 "\n", register_("nope"));
    } else if (!strcmp(what, "returnval")) {
        wprobe_printf("%" PRId64 "\n", returnval());
    } else if (!strcmp(what, "memory")) {
        wprobe_printf("%s\n", user_string(pointer_arg(1)));
    } else if (!strcmp(what, "address")) {
        wprobe_printf("%s\n", kernel_string(0x1234));
    } else if (!strcmp(what, "field")) {
        wprobe_printf("%" PRId64 "\n", field("nope"));
    } else {
        wprobe_printf("%" PRIu64 "\n", latency_ns());
    }
}

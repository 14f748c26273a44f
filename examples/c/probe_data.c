/*
 * The probe-time data of WIT 0.2.0, as the Rust test handler tests/handlers/probe_data
 * (the tests compare the two byte for byte): wprobe_init declares a capture with every base
 * and modifier; each event prints what the memory accessors read from the captured regions
 * of an entry event (arguments 1 to 3 point at them), and in a return event the entry's
 * values, the latency and the memory the return value points at.
 */
#include <inttypes.h>
#include <stdio.h>
#include <wprobe.h>

int wprobe_init(const wprobe_session *session) {
    (void)session;
    wprobe_capture_user_string(wprobe_base_arg(2), 256);
    int k = wprobe_capture_kernel_bytes(wprobe_base_arg(1), 16);
    wprobe_capture_offset(k, 8);
    wprobe_capture_probe(k, 0);
    int r = wprobe_capture_kernel_string(wprobe_base_register("rdx"), 32);
    wprobe_capture_deref(r, 0);
    wprobe_capture_deref(r, -8);
    int ret = wprobe_capture_user_string(wprobe_base_returnval(), 64);
    wprobe_capture_probe(ret, 1);
    wprobe_capture_at_return(ret);
    int f = wprobe_capture_user_bytes(wprobe_base_field("filename"), 4);
    wprobe_capture_offset(f, -16);
    return 0;
}

/* n bytes as lowercase hex, into out (2n + 1 bytes). */
static const char *hex(const uint8_t *bytes, size_t n, char *out) {
    for (size_t i = 0; i < n; i++) snprintf(out + 2 * i, 3, "%02x", bytes[i]);
    out[2 * n] = '\0';
    return out;
}

void wprobe_event(void) {
    char h[16];
    uint8_t b[4];
    wprobe_printf("%u target=%u", pid(), target());
    if (is_return()) {
        uint64_t ret = (uint64_t)returnval();
        uint64_t entry_ts = entry_timestamp_ns(), latency = latency_ns(), arg1 = pointer_arg(1);
        const char *name = user_string(ret);
        int c = user_char(ret), s = user_short(ret);
        int32_t i = user_int(ret);
        int64_t l = user_long(ret);
        user_bytes(ret, 3, b);
        wprobe_printf(" return entry_ts=%" PRIu64 " latency=%" PRIu64 " arg1=0x%" PRIx64
                      " name=%s uchar=%d ushort=%d uint=%" PRId32 " ulong=%" PRId64 " ubytes=%s\n",
                      entry_ts, latency, arg1, name, c, s, i, l, hex(b, 3, h));
    } else {
        uint64_t a1 = pointer_arg(1), a2 = pointer_arg(2), a3 = pointer_arg(3);
        const char *path = user_string(a2), *path4 = user_string_n(a2, 4);
        int c = kernel_char(a1 + 8), s = kernel_short(a1 + 8);
        int32_t i = kernel_int(a1 + 8);
        int64_t l = kernel_long(a1 + 8);
        uint64_t p = kernel_pointer(a1 + 16);
        kernel_bytes(a1 + 9, 4, b);
        const char *kstr = kernel_string(a3), *kstr2 = kernel_string_n(a3, 2);
        wprobe_printf(" entry path=%s path4=%s char=%d short=%d int=%" PRId32 " long=%" PRId64 " ptr=0x%" PRIx64
                      " kbytes=%s kstr=%s kstr2=%s\n",
                      path, path4, c, s, i, l, p, hex(b, 4, h), kstr, kstr2);
    }
}

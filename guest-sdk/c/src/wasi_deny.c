/*
 * WASI, answered inside the handler: wasi-libc calls these `__imported_wasi_snapshot_preview1_*`
 * functions for every WASI call, and because they are defined here the linker binds the calls
 * to them instead of importing WASI. So a C handler's component imports nothing but wprobe's
 * context, and libc grants nothing:
 *
 *   - no arguments, no environment variables (getenv returns NULL);
 *   - no preopened directories, so no file can be opened (fopen fails, errno ENOTCAPABLE
 *     or ENOENT);
 *   - clocks frozen at 0, as wprobe's own WASI (time comes from timestamp_ns());
 *   - no sockets, no polling, no randomness (getentropy fails);
 *   - stdin is empty; stdout goes into the printf buffer and stderr to wprobe_warn;
 *   - proc_exit (exit(), abort()) warns and traps: the session ends with wprobe_exit().
 *
 * The signatures are the core-wasm ones of WASI preview1 (pointers and sizes as i32, 64-bit
 * values as i64); they must match wasi-libc's imports exactly.
 */
#include <stdint.h>
#include <string.h>

#include "wprobe_internal.h"

enum {
    OK = 0,
    EBADF = 8,
    ENOSYS = 52,
    ENOTSUP = 58,
    ESPIPE = 70,
    ENOTCAPABLE = 76,
};

static void put32(int32_t ptr, uint32_t v) { memcpy((void *)(uintptr_t)ptr, &v, 4); }
static void put64(int32_t ptr, uint64_t v) { memcpy((void *)(uintptr_t)ptr, &v, 8); }

/* fdstat for stdin/stdout/stderr: a character device without seek rights, which libc takes
 * for a terminal, so stdout is line-buffered and a line reaches the output in order. */
static int32_t fdstat(int32_t fd, int32_t out) {
    if (fd < 0 || fd > 2) return EBADF;
    uint8_t st[24] = {0};
    st[0] = 2; /* filetype: character device */
    uint64_t rights = fd == 0 ? (1u << 1) /* fd_read */ : (1u << 6) /* fd_write */;
    memcpy(st + 8, &rights, 8);
    memcpy((void *)(uintptr_t)out, st, sizeof st);
    return OK;
}

static int32_t fd_write(int32_t fd, int32_t iovs, int32_t n, int32_t written) {
    if (fd != 1 && fd != 2) return EBADF;
    uint32_t total = 0;
    for (int32_t i = 0; i < n; i++) {
        uint32_t iov[2];
        memcpy(iov, (const void *)(uintptr_t)(iovs + 8 * i), 8);
        const void *buf = (const void *)(uintptr_t)iov[0];
        if (fd == 1) {
            wprobe__write_stdout(buf, iov[1]);
        } else {
            wprobe__write_stderr(buf, iov[1]);
        }
        total += iov[1];
    }
    put32(written, total);
    return OK;
}

int32_t __imported_wasi_snapshot_preview1_args_get(int32_t a1, int32_t a2) { (void)a1; (void)a2; return OK; }
int32_t __imported_wasi_snapshot_preview1_args_sizes_get(int32_t a1, int32_t a2) { put32(a1, 0); put32(a2, 0); return OK; }
int32_t __imported_wasi_snapshot_preview1_environ_get(int32_t a1, int32_t a2) { (void)a1; (void)a2; return OK; }
int32_t __imported_wasi_snapshot_preview1_environ_sizes_get(int32_t a1, int32_t a2) { put32(a1, 0); put32(a2, 0); return OK; }
int32_t __imported_wasi_snapshot_preview1_clock_res_get(int32_t a1, int32_t a2) { (void)a1; put64(a2, 1000000000); return OK; }
int32_t __imported_wasi_snapshot_preview1_clock_time_get(int32_t a1, int64_t a2, int32_t a3) { (void)a1; (void)a2; put64(a3, 0); return OK; }
int32_t __imported_wasi_snapshot_preview1_fd_advise(int32_t a1, int64_t a2, int64_t a3, int32_t a4) { (void)a1; (void)a2; (void)a3; (void)a4; return EBADF; }
int32_t __imported_wasi_snapshot_preview1_fd_allocate(int32_t a1, int64_t a2, int64_t a3) { (void)a1; (void)a2; (void)a3; return EBADF; }
int32_t __imported_wasi_snapshot_preview1_fd_close(int32_t a1) { return a1 <= 2 ? OK : EBADF; }
int32_t __imported_wasi_snapshot_preview1_fd_datasync(int32_t a1) { (void)a1; return EBADF; }
int32_t __imported_wasi_snapshot_preview1_fd_fdstat_get(int32_t a1, int32_t a2) { return fdstat(a1, a2); }
int32_t __imported_wasi_snapshot_preview1_fd_fdstat_set_flags(int32_t a1, int32_t a2) { (void)a1; (void)a2; return EBADF; }
int32_t __imported_wasi_snapshot_preview1_fd_fdstat_set_rights(int32_t a1, int64_t a2, int64_t a3) { (void)a1; (void)a2; (void)a3; return EBADF; }
int32_t __imported_wasi_snapshot_preview1_fd_filestat_get(int32_t a1, int32_t a2) { (void)a1; (void)a2; return EBADF; }
int32_t __imported_wasi_snapshot_preview1_fd_filestat_set_size(int32_t a1, int64_t a2) { (void)a1; (void)a2; return EBADF; }
int32_t __imported_wasi_snapshot_preview1_fd_filestat_set_times(int32_t a1, int64_t a2, int64_t a3, int32_t a4) { (void)a1; (void)a2; (void)a3; (void)a4; return EBADF; }
int32_t __imported_wasi_snapshot_preview1_fd_pread(int32_t a1, int32_t a2, int32_t a3, int64_t a4, int32_t a5) { (void)a1; (void)a2; (void)a3; (void)a4; (void)a5; return EBADF; }
int32_t __imported_wasi_snapshot_preview1_fd_prestat_get(int32_t a1, int32_t a2) { (void)a1; (void)a2; return EBADF; /* no preopened directories */ }
int32_t __imported_wasi_snapshot_preview1_fd_prestat_dir_name(int32_t a1, int32_t a2, int32_t a3) { (void)a1; (void)a2; (void)a3; return EBADF; }
int32_t __imported_wasi_snapshot_preview1_fd_pwrite(int32_t a1, int32_t a2, int32_t a3, int64_t a4, int32_t a5) { (void)a1; (void)a2; (void)a3; (void)a4; (void)a5; return EBADF; }
int32_t __imported_wasi_snapshot_preview1_fd_read(int32_t a1, int32_t a2, int32_t a3, int32_t a4) { (void)a2; (void)a3; if (a1 != 0) return EBADF; put32(a4, 0); return OK; /* stdin: at its end */ }
int32_t __imported_wasi_snapshot_preview1_fd_readdir(int32_t a1, int32_t a2, int32_t a3, int64_t a4, int32_t a5) { (void)a1; (void)a2; (void)a3; (void)a4; (void)a5; return EBADF; }
int32_t __imported_wasi_snapshot_preview1_fd_renumber(int32_t a1, int32_t a2) { (void)a1; (void)a2; return EBADF; }
int32_t __imported_wasi_snapshot_preview1_fd_seek(int32_t a1, int64_t a2, int32_t a3, int32_t a4) { (void)a2; (void)a3; (void)a4; return a1 <= 2 ? ESPIPE : EBADF; }
int32_t __imported_wasi_snapshot_preview1_fd_sync(int32_t a1) { (void)a1; return EBADF; }
int32_t __imported_wasi_snapshot_preview1_fd_tell(int32_t a1, int32_t a2) { (void)a2; return a1 <= 2 ? ESPIPE : EBADF; }
int32_t __imported_wasi_snapshot_preview1_fd_write(int32_t a1, int32_t a2, int32_t a3, int32_t a4) { return fd_write(a1, a2, a3, a4); }
int32_t __imported_wasi_snapshot_preview1_path_create_directory(int32_t a1, int32_t a2, int32_t a3) { (void)a1; (void)a2; (void)a3; return ENOTCAPABLE; }
int32_t __imported_wasi_snapshot_preview1_path_filestat_get(int32_t a1, int32_t a2, int32_t a3, int32_t a4, int32_t a5) { (void)a1; (void)a2; (void)a3; (void)a4; (void)a5; return ENOTCAPABLE; }
int32_t __imported_wasi_snapshot_preview1_path_filestat_set_times(int32_t a1, int32_t a2, int32_t a3, int32_t a4, int64_t a5, int64_t a6, int32_t a7) { (void)a1; (void)a2; (void)a3; (void)a4; (void)a5; (void)a6; (void)a7; return ENOTCAPABLE; }
int32_t __imported_wasi_snapshot_preview1_path_link(int32_t a1, int32_t a2, int32_t a3, int32_t a4, int32_t a5, int32_t a6, int32_t a7) { (void)a1; (void)a2; (void)a3; (void)a4; (void)a5; (void)a6; (void)a7; return ENOTCAPABLE; }
int32_t __imported_wasi_snapshot_preview1_path_open(int32_t a1, int32_t a2, int32_t a3, int32_t a4, int32_t a5, int64_t a6, int64_t a7, int32_t a8, int32_t a9) { (void)a1; (void)a2; (void)a3; (void)a4; (void)a5; (void)a6; (void)a7; (void)a8; (void)a9; return ENOTCAPABLE; }
int32_t __imported_wasi_snapshot_preview1_path_readlink(int32_t a1, int32_t a2, int32_t a3, int32_t a4, int32_t a5, int32_t a6) { (void)a1; (void)a2; (void)a3; (void)a4; (void)a5; (void)a6; return ENOTCAPABLE; }
int32_t __imported_wasi_snapshot_preview1_path_remove_directory(int32_t a1, int32_t a2, int32_t a3) { (void)a1; (void)a2; (void)a3; return ENOTCAPABLE; }
int32_t __imported_wasi_snapshot_preview1_path_rename(int32_t a1, int32_t a2, int32_t a3, int32_t a4, int32_t a5, int32_t a6) { (void)a1; (void)a2; (void)a3; (void)a4; (void)a5; (void)a6; return ENOTCAPABLE; }
int32_t __imported_wasi_snapshot_preview1_path_symlink(int32_t a1, int32_t a2, int32_t a3, int32_t a4, int32_t a5) { (void)a1; (void)a2; (void)a3; (void)a4; (void)a5; return ENOTCAPABLE; }
int32_t __imported_wasi_snapshot_preview1_path_unlink_file(int32_t a1, int32_t a2, int32_t a3) { (void)a1; (void)a2; (void)a3; return ENOTCAPABLE; }
int32_t __imported_wasi_snapshot_preview1_poll_oneoff(int32_t a1, int32_t a2, int32_t a3, int32_t a4) { (void)a1; (void)a2; (void)a3; (void)a4; return ENOTSUP; }
int32_t __imported_wasi_snapshot_preview1_random_get(int32_t a1, int32_t a2) { (void)a1; (void)a2; return ENOSYS; }
int32_t __imported_wasi_snapshot_preview1_sched_yield(void) { return OK; }
int32_t __imported_wasi_snapshot_preview1_sock_accept(int32_t a1, int32_t a2, int32_t a3) { (void)a1; (void)a2; (void)a3; return EBADF; }
int32_t __imported_wasi_snapshot_preview1_sock_recv(int32_t a1, int32_t a2, int32_t a3, int32_t a4, int32_t a5, int32_t a6) { (void)a1; (void)a2; (void)a3; (void)a4; (void)a5; (void)a6; return EBADF; }
int32_t __imported_wasi_snapshot_preview1_sock_send(int32_t a1, int32_t a2, int32_t a3, int32_t a4, int32_t a5) { (void)a1; (void)a2; (void)a3; (void)a4; (void)a5; return EBADF; }
int32_t __imported_wasi_snapshot_preview1_sock_shutdown(int32_t a1, int32_t a2) { (void)a1; (void)a2; return EBADF; }

void __imported_wasi_snapshot_preview1_proc_exit(int32_t code) {
    static const char msg[] = "exit() or abort() called: a handler ends the session with wprobe_exit()";
    (void)code;
    wprobe__write_stderr(msg, sizeof msg - 1);
    __builtin_trap();
}

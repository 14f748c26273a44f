/*
 * A deterministic workload for comparing wprobe's classic tools with bpftrace's one-liners.
 *
 *   wprobe_workload DIR
 *
 * 1. opens (creating) DIR/file-00 … DIR/file-11 with openat, closing each;
 * 2. calls getsid 37 times and sched_yield 11 times through syscall(2), so that no libc
 *    caching hides a call;
 * 3. calls workload_sleep(us) for 1500 µs, 6000 µs and 24000 µs, five times each: the
 *    middle of the log2 buckets [1M, 2M), [4M, 8M) and [16M, 32M) ns;
 * 4. copies /bin/true to DIR/exec-true and runs it three times (fork, execve, wait).
 *
 * DIR must exist. Prints "done" at the end.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

__attribute__((noinline, used, visibility("default"))) void workload_sleep(long us) {
    __asm__ volatile("" ::: "memory");
    usleep((useconds_t)us);
}

static void (*volatile sleeper)(long) = workload_sleep;

static void copy_file(const char *from, const char *to) {
    int in = open(from, O_RDONLY);
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    if (in < 0 || out < 0) {
        perror("copy");
        exit(1);
    }
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0) {
        if (write(out, buf, (size_t)n) != n) {
            perror("write");
            exit(1);
        }
    }
    close(in);
    close(out);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: wprobe_workload DIR\n");
        return 2;
    }
    char path[4096];
    for (int i = 0; i < 12; i++) {
        snprintf(path, sizeof path, "%s/file-%02d", argv[1], i);
        int fd = openat(AT_FDCWD, path, O_WRONLY | O_CREAT, 0600);
        if (fd < 0) {
            perror(path);
            return 1;
        }
        close(fd);
    }
    for (int i = 0; i < 37; i++) syscall(SYS_getsid, 0);
    for (int i = 0; i < 11; i++) syscall(SYS_sched_yield);
    static const long sleeps[] = {1500, 6000, 24000};
    for (int s = 0; s < 3; s++) {
        for (int i = 0; i < 5; i++) sleeper(sleeps[s]);
    }
    char exe[4096];
    snprintf(exe, sizeof exe, "%s/exec-true", argv[1]);
    copy_file("/bin/true", exe);
    for (int i = 0; i < 3; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            execl(exe, exe, (char *)NULL);
            _exit(127);
        }
        int status;
        waitpid(pid, &status, 0);
    }
    puts("done");
    return 0;
}

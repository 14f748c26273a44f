/*
 * A process for wprobe's probe-data tests: what a handler can only see through captures,
 * entry values and syscall probes.
 *
 *   wprobe_data open PATH     opens PATH read-only (it need not exist), prints the result
 *   wprobe_data recurse N     calls wprobe_recurse(N), which calls itself down to 1
 *   wprobe_data sleep MS      calls wprobe_sleep(MS), which sleeps MS milliseconds
 *
 * Each prints "pid P" first, then waits for one line on stdin when a second argument
 * "wait" follows, so that a test can attach before anything fires.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Returns its argument at every level, so that each return can be checked against the
 * entry it pairs with. */
__attribute__((noinline, used, visibility("default"))) long wprobe_recurse(long n) {
    __asm__ volatile("" ::: "memory");
    if (n > 1 && wprobe_recurse(n - 1) != n - 1)
        abort();
    return n;
}

__attribute__((noinline, used, visibility("default"))) long wprobe_sleep(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    return ms;
}

static long (*volatile recurse)(long) = wprobe_recurse;
static long (*volatile sleeper)(long) = wprobe_sleep;

int main(int argc, char **argv) {
    if (argc < 3)
        return 2;
    printf("pid %ld\n", (long)getpid());
    fflush(stdout);
    if (argc > 3 && strcmp(argv[3], "wait") == 0) {
        char line[16];
        if (!fgets(line, sizeof line, stdin))
            return 2;
    }
    if (strcmp(argv[1], "open") == 0) {
        int fd = open(argv[2], O_RDONLY);
        printf("open %d\n", fd);
    } else if (strcmp(argv[1], "recurse") == 0) {
        printf("recurse %ld\n", recurse(atol(argv[2])));
    } else if (strcmp(argv[1], "sleep") == 0) {
        printf("sleep %ld\n", sleeper(atol(argv[2])));
    } else {
        return 2;
    }
    return 0;
}

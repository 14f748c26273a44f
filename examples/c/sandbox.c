/*
 * What a C handler can reach of the machine: nothing. In `probe begin` it tries a file, the
 * environment, the clock, randomness and a directory through ordinary libc calls and prints
 * what it got; then stdio's printf, which lands in wprobe's output like wprobe_printf.
 * tests/all/languages.rs checks the answers.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <wprobe.h>

extern char **environ;

int wprobe_init(const wprobe_session *session) {
    (void)session;
    FILE *f = fopen("/etc/hostname", "r");
    if (f) {
        wprobe_printf("fopen /etc/hostname: opened\n");
        fclose(f);
    } else {
        wprobe_printf("fopen /etc/hostname: error: %s\n", strerror(errno));
    }
    DIR *d = opendir("/");
    wprobe_printf("opendir /: %s\n", d ? "opened" : "error");
    if (d) closedir(d);
    const char *path = getenv("PATH");
    wprobe_printf("getenv PATH: %s\n", path ? path : "(null)");
    size_t n = 0;
    while (environ && environ[n]) n++;
    wprobe_printf("env vars: %zu\n", n);
    wprobe_printf("time: %lld\n", (long long)time(NULL));
    unsigned char buf[8];
    wprobe_printf("getentropy: %s\n", getentropy(buf, sizeof buf) == 0 ? "ok" : "error");
    printf("stdio printf: into the output\n");
    return 0;
}

void wprobe_event(void) { wprobe_printf("event: pid %u\n", pid()); }

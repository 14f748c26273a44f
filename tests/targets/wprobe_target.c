/*
 * A process for wprobe's live tests to probe.
 *
 *   wprobe_target N [THREADS [RATE [stamp]]]
 *
 * prints "pid P main-tid T1 thread-tid T2", waits for one line on stdin (so that the test
 * can attach to this pid before anything fires), then calls wprobe_target(7, 0xdeadbeef, 16)
 * N times on the main thread and, unless THREADS is 1, N times on a second thread, and
 * prints "sum S" (S = THREADS * N * 23). RATE paces the calls per thread: up to 1000/s by
 * sleeping (so that a slow pinger leaves the CPUs to the tracer), above by spinning. With
 * "stamp", the second argument is CLOCK_MONOTONIC in ns just before each call instead of
 * 0xdeadbeef (for latency benchmarks). With "pingpong" (two threads), the main thread runs
 * on CPU 0 and the second on CPU 1, and they take turns: call i (0, 1, 2, ... 2N-1) passes i
 * as the second argument and is made only after call i-1 returned on the other CPU, so the
 * calls are ordered by cause and effect across CPUs (for the reader's merge of per-CPU rings).
 *
 * wprobe_target is exported, never inlined, and called through a volatile pointer so that
 * no compiler can specialise or fold the calls: every call passes its arguments in
 * rdi/rsi/rdx and returns a + c = 23 in rax.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

__attribute__((noinline, used, visibility("default"))) long wprobe_target(long a, long b, long c) {
    __asm__ volatile("" ::: "memory");
    (void)b;
    return a + c;
}

static long (*volatile target)(long, long, long) = wprobe_target;
static long calls;
static int threads;
static pthread_barrier_t go;
static long thread_tid;

static long rate; /* calls per second per thread; 0: as fast as possible */
static int stamp;
static int pingpong;
static long turn; /* pingpong: the next call's number; thread k makes the calls of parity k */

static long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
}

static long run_pingpong(int parity) {
    pin(parity);
    long sum = 0;
    for (long i = parity; i < 2 * calls; i += 2) {
        while (__atomic_load_n(&turn, __ATOMIC_ACQUIRE) != i)
            ;
        sum += target(7, i, 16);
        __atomic_store_n(&turn, i + 1, __ATOMIC_RELEASE);
    }
    return sum;
}

static long run(void) {
    long sum = 0;
    long start = now_ns();
    for (long i = 0; i < calls; i++) {
        long due = start + i * (1000000000L / (rate > 0 ? rate : 1));
        if (rate > 0 && rate <= 1000) {
            struct timespec ts = {due / 1000000000L, due % 1000000000L};
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        } else if (rate > 0) {
            /* Spinning: sleeping is far coarser than the gaps at high rates. */
            while (now_ns() < due)
                ;
        }
        sum += target(7, stamp ? now_ns() : 0xdeadbeef, 16);
    }
    return sum;
}

/* The second thread: report its tid, wait for the go-ahead, then call. */
static void *second_thread(void *unused) {
    (void)unused;
    __atomic_store_n(&thread_tid, syscall(SYS_gettid), __ATOMIC_SEQ_CST);
    pthread_barrier_wait(&go);
    return (void *)(threads == 1 ? 0 : pingpong ? run_pingpong(1) : run());
}

int main(int argc, char **argv) {
    calls = argc > 1 ? atol(argv[1]) : 1;
    threads = argc > 2 ? atoi(argv[2]) : 2;
    rate = argc > 3 ? atol(argv[3]) : 0;
    stamp = argc > 4 && strcmp(argv[4], "stamp") == 0;
    pingpong = argc > 4 && strcmp(argv[4], "pingpong") == 0;

    pthread_barrier_init(&go, NULL, 2);
    pthread_t thread;
    if (pthread_create(&thread, NULL, second_thread, NULL) != 0)
        return 1;
    while (__atomic_load_n(&thread_tid, __ATOMIC_SEQ_CST) == 0)
        usleep(100);

    printf("pid %ld main-tid %ld thread-tid %ld\n", (long)getpid(), (long)syscall(SYS_gettid), thread_tid);
    fflush(stdout);
    char line[16];
    if (!fgets(line, sizeof line, stdin))
        return 2;

    pthread_barrier_wait(&go);
    long sum = pingpong ? run_pingpong(0) : run();
    void *thread_sum;
    pthread_join(thread, &thread_sum);
    sum += (long)thread_sum;
    printf("sum %ld\n", sum);
    return 0;
}

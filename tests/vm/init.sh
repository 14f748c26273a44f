#!/bin/sh
# /init of the wprobe test VM (built into the initramfs by `cargo xtask vm-test` / `cargo xtask vm`).
#
# It mounts what wprobe needs (proc, sysfs, devtmpfs, debugfs, tracefs, bpffs), brings up
# `lo`, then, as /etc/wprobe-vm/config says:
#   MODE=test     runs every /etc/wprobe-vm/scenarios/*.sh and reports with markers;
#   MODE=command  loads $MODULES, runs /etc/wprobe-vm/command.sh on the console;
#   MODE=shell    loads $MODULES, starts an interactive shell on the console;
# and powers off. Every line the host parses starts with "@@wprobe-vm " (see xtask/src/vm/console.rs):
#   info KEY VALUE          about the guest (kernel release, cpus, paging levels)
#   begin SCENARIO / end SCENARIO
#   fact SCENARIO KEY VALUE a value the scenario measured in the guest (a pid, an address)
#   run SCENARIO LABEL ARGS the wprobe command a step runs
#   out|err SCENARIO LABEL LINE   one line of that command's stdout / stderr
#   lines SCENARIO LABEL out|err N  how many lines it wrote (only the first 2000 are shown)
#   exit SCENARIO LABEL STATUS    and its exit status
#   killed SCENARIO LABEL WHY     the step time-out's watchdog signalled it
#   time SCENARIO LABEL SECS      how long it ran
#   left SCENARIO LABEL WHAT: LINE  a kprobe, trace event or BPF pin still there after it exited
#   cmd-begin / cmd-exit STATUS   around the command of MODE=command
#   done                    the guest finished and is powering off

/bin/busybox mkdir -p /proc /sys /dev /tmp /run /root /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root WPROBE_CACHE_DIR=/tmp/wprobe-cache

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug
mount -t tracefs tracefs /sys/kernel/tracing
mount -t bpf bpf /sys/fs/bpf
ip link set lo up

M='@@wprobe-vm'
STEP_TIMEOUT=120
MODULES=
. /etc/wprobe-vm/config

echo "$M info kernel $(uname -r)"
echo "$M info ncpus $(nproc)"
# The kernel clears the la57 flag unless it runs with 5-level page tables (kernel addresses
# then start at 0xff00000000000000 instead of 0xffff800000000000).
if grep -qw la57 /proc/cpuinfo; then echo "$M info paging 5"; else echo "$M info paging 4"; fi

# modload NAME: insmod NAME.ko and the modules it depends on (the host wrote their load order
# into NAME.load), skipping those already loaded.
modload() {
    for m in $(cat "/lib/modules/$1.load"); do
        grep -q "^$m " /proc/modules || insmod "/lib/modules/$m.ko" || return 1
    done
}

# ksym NAME: NAME's address in /proc/kallsyms (hex, no 0x), kernel or module text.
ksym() {
    awk -v n="$1" '$3 == n && ($2 == "t" || $2 == "T") { print $1; exit }' /proc/kallsyms
}

# kvar NAME: the /proc/kallsyms address of the kernel variable NAME (data, bss, rodata).
kvar() {
    awk -v n="$1" '$3 == n && $2 ~ /^[dDbBrR]$/ { print $1; exit }' /proc/kallsyms
}

# fact KEY VALUE...: report a value measured in the guest for the current scenario.
fact() {
    k=$1
    shift
    echo "$M fact $S $k $*"
}

# emit KIND LABEL FILE: every line of FILE as a marker (also a last line without newline),
# at most MAX_LINES of them, then a `lines` marker with the file's real line count.
MAX_LINES=2000
emit() {
    awk -v p="$M $1 $S $2 " -v max=$MAX_LINES -v n="$M lines $S $2 $1 " \
        'NR <= max { print p $0 } END { print n NR }' "$3"
}

uptime_cs() {
    awk '{ split($1, a, "."); print a[1] a[2] }' /proc/uptime
}

# leftovers LABEL: after a wprobe run, report every kprobe the kernel still lists, every
# kprobe/uprobe trace event and every pinned BPF object. Nothing else in this guest creates
# any, so each one is wprobe's. Waits up to 1 s for the kernel to finish detaching.
leftovers() {
    i=0
    while [ -n "$(cat /sys/kernel/debug/kprobes/list)" ] && [ $i -lt 10 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    for f in /sys/kernel/debug/kprobes/list /sys/kernel/tracing/kprobe_events /sys/kernel/tracing/uprobe_events; do
        awk -v p="$M left $S $1 $f: " '{ print p $0 }' "$f"
    done
    ls -A /sys/fs/bpf | awk -v p="$M left $S $1 /sys/fs/bpf: " '{ print p $0 }'
}

# wp LABEL ARGS...: run `wprobe ARGS...` to completion and report it. After STEP_TIMEOUT
# seconds it gets SIGTERM, 5 s later SIGKILL, and a `killed` marker says so.
wp() {
    wp_start "$@"
    wp_finish "$1"
}

# wp_start LABEL ARGS...: start `wprobe ARGS...` in the background (with the step time-out's
# watchdog); wp_stop LABEL SIGNAL sends it SIGNAL and reports it as wp does. With WP_USER set
# (`WP_USER=tenant wp_start …`) wprobe runs as that user (see as_user).
wp_start() {
    l=$1
    shift
    echo "$M run $S $l wprobe $*"
    uptime_cs >"/tmp/wp.$l.t0"
    if [ -n "$WP_USER" ]; then
        as_user "$WP_USER" wprobe "$@" </dev/null >"/tmp/wp.$l.out" 2>"/tmp/wp.$l.err" &
    else
        wprobe "$@" </dev/null >"/tmp/wp.$l.out" 2>"/tmp/wp.$l.err" &
    fi
    pid=$!
    echo $pid >"/tmp/wp.$l.pid"
    (
        sleep "$STEP_TIMEOUT"
        kill -0 $pid 2>/dev/null || exit
        stuck "$l" $pid
        echo "$M killed $S $l SIGTERM after the ${STEP_TIMEOUT} s step time-out"
        kill -TERM $pid
        sleep 5
        kill -0 $pid 2>/dev/null || exit
        echo "$M killed $S $l SIGKILL: still running 5 s after SIGTERM"
        kill -KILL $pid
    ) &
    echo $! >"/tmp/wp.$l.watchdog"
}

# stuck LABEL PID: where each thread of a step that overran its time-out is, in user space
# (state, syscall) and in the kernel (wait channel, stack), so that a hang seen once (in CI)
# can be understood from the console log alone. The host ignores these markers; the log is
# printed whole when a scenario fails.
stuck() {
    for t in /proc/"$2"/task/*; do
        tid=${t##*/}
        echo "$M stuck $S $1 thread $tid $(cat "$t/comm") state $(cut -d' ' -f3 "$t/stat") wchan $(cat "$t/wchan") syscall $(cat "$t/syscall")"
        awk -v p="$M stuck $S $1 thread $tid kernel: " '{ print p $0 }' "$t/stack" 2>/dev/null
    done
}

# wp_start_as USER LABEL ARGS...: wp_start, with wprobe running as USER.
wp_start_as() {
    WP_USER=$1
    shift
    wp_start "$@"
    WP_USER=
}

wp_stop() {
    kill "-$2" "$(cat "/tmp/wp.$1.pid")"
    wp_finish "$1"
}

wp_finish() {
    l=$1
    wait "$(cat "/tmp/wp.$l.pid")"
    rc=$?
    kill "$(cat "/tmp/wp.$l.watchdog")" 2>/dev/null
    t0=$(cat "/tmp/wp.$l.t0")
    t1=$(uptime_cs)
    emit out "$l" "/tmp/wp.$l.out"
    emit err "$l" "/tmp/wp.$l.err"
    echo "$M exit $S $l $rc"
    echo "$M time $S $l $(((t1 - t0) / 100)).$(((t1 - t0) % 100 / 10))"
    leftovers "$l"
}

# as_user USER COMMAND...: COMMAND as USER of /etc/passwd (`tenant`: uid and gid 1000, the
# one unprivileged user). busybox's su and the shell it starts both exec, so COMMAND keeps
# the pid $! gives; the arguments pass through unquoted. (busybox's setpriv cannot set ids.)
as_user() {
    u=$1
    shift
    # `--` ends su's options: COMMAND's own (`-c`, `--connect`) are not taken for su's.
    su -c 'exec "$0" "$@"' -- "$u" "$@"
}

# wait_line LABEL TEXT: wait until wp_start's LABEL has written TEXT to its stderr, while it
# runs (at most the step time-out).
wait_line() {
    pid=$(cat "/tmp/wp.$1.pid")
    i=0
    while ! grep -qF "$2" "/tmp/wp.$1.err" && kill -0 "$pid" 2>/dev/null && [ $i -lt $((STEP_TIMEOUT * 10)) ]; do
        sleep 0.1
        i=$((i + 1))
    done
}

# wait_kprobes LABEL N: wait until the kernel lists N kprobes, while wp_start's LABEL runs
# (at most the step time-out).
wait_kprobes() {
    pid=$(cat "/tmp/wp.$1.pid")
    i=0
    while [ "$(grep -c . /sys/kernel/debug/kprobes/list)" -lt "$2" ] && kill -0 "$pid" 2>/dev/null && [ $i -lt $((STEP_TIMEOUT * 10)) ]; do
        sleep 0.1
        i=$((i + 1))
    done
    fact kprobes_listed "$(grep -c . /sys/kernel/debug/kprobes/list)"
}

# listen PORT: a TCP listener on 127.0.0.1:PORT for one connection, ready when this returns.
listen() {
    nc -l -p "$1" </dev/null >/dev/null 2>&1 &
    LISTENERS="$LISTENERS $!"
    hex=$(printf ':%04X ' "$1")
    i=0
    # busybox nc listens on :: (IPv4 too) when the kernel has IPv6: look in both tables.
    while ! grep -q "$hex" /proc/net/tcp /proc/net/tcp6 && [ $i -lt 50 ]; do
        sleep 0.1
        i=$((i + 1))
    done
}

run_scenario() {
    S=$(basename "$1" .sh)
    S=${S#*-}
    echo "$M begin $S"
    LISTENERS=
    (
        cd /tmp
        . "$1"
        # shellcheck disable=SC2086
        [ -n "$LISTENERS" ] && kill $LISTENERS 2>/dev/null
    )
    echo "$M end $S"
}

for m in $MODULES; do
    modload "$m" || echo "$M info modload-failed $m (dmesg: $(dmesg | tail -1))"
done

case "$MODE" in
test)
    for s in /etc/wprobe-vm/scenarios/*.sh; do
        run_scenario "$s"
    done
    ;;
command)
    echo "$M cmd-begin"
    sh /etc/wprobe-vm/command.sh </dev/null
    echo "$M cmd-exit $?"
    ;;
shell)
    echo "wprobe VM: $(uname -r); wprobe, busybox, /handlers/*.wasm; 'exit' powers off"
    setsid cttyhack sh -l
    ;;
esac

echo "$M done"
poweroff -f

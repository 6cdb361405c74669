#!/usr/bin/env bash
# Calibration of --request-shutdown (issue 8): how long a child stays busy ("finishing", not
# back in accept) after the client has seen the end of its response, on real PHP-FPM 8.2
# and on epoll-listen-fork, in one invocation. Each server runs one child (pm = static,
# pm.max_children = 1; the simulator --model static --max-children 1 --request-shutdown 0)
# on a unix socket; bench/fork/fpm-client.c sends N back-to-back FastCGI requests of
# SLEEP_US each; `perf trace` (tracepoints, no ptrace stops) records the child's shutdown,
# close and accept calls. Per request: from the syscall that gives the client its EOF
# (PHP-FPM: shutdown(SHUT_WR) in fcgi_close, which then waits for the client to close
# before close(); the simulator: close()) to the start of the next accept(). Prints every
# run's median and p10/p90 and, per server, the median over the runs; the difference is the
# --request-shutdown that makes the simulator's child as late back in accept as PHP-FPM's.
#
# Unix sockets in a tempdir only; every run bounded. Needs cargo, gcc, python3, perf and
# php-fpm8.2 (apt-get install php8.2-fpm linux-perf); downloads nothing. Root (perf trace).
# Usage: bench/fork/finishing.sh   (env: N=200 SLEEP_US=1000 RUNS=5)
set -euo pipefail

N=${N:-200}
SLEEP_US=${SLEEP_US:-1000}
RUNS=${RUNS:-5}

. "$(dirname "$0")/fpm-common.sh"
fpm_setup finishing static "1" perf
sim_cmd="$tool --unix $tmp/sim.sock --model static --max-children 1 --sleep $((SLEEP_US))us --request-shutdown 0 --format json"

echo "# machine: $(uname -srm), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# date: $(date -u +%FT%TZ)   N=$N SLEEP_US=$SLEEP_US RUNS=$RUNS"
echo "# php-fpm: $("$fpm" -v | head -1)   ($fpm -F -y CONF $root_flag, pm = static, 1 child)"
echo "# simulator: $sim_cmd"

results="$tmp/results.txt"
# gaps TRACE: per request, microseconds from the EOF-giving syscall to the next accept.
gaps() {
    python3 - "$1" <<'PY'
import re, statistics, sys
# The connection is the fd the last accept returned; its first shutdown or close gives
# the client its EOF.
eof = None
conn = None
gaps = []
for line in open(sys.argv[1]):
    m = re.match(r"\s*([\d.?]+) \(.*?\): (?:\.\.\. \[continued\]: )?(\w+)\((.*?)\)\s+= (-?\d+)", line)
    if not m:
        continue
    t, call, args, ret = m.group(1), m.group(2), m.group(3), m.group(4)
    if call in ("accept", "accept4"):
        if eof is not None and t != "?":
            gaps.append((float(t) - eof) * 1000)
        eof, conn = None, ret
    elif call in ("shutdown", "close") and conn is not None and eof is None \
            and re.match(rf"fd: {conn}\b", args):
        eof = float(t)
gaps = gaps[1:]  # the first request also pays first-use costs
q = statistics.quantiles(gaps, n=10)
print(f"{statistics.median(gaps):.1f} {q[0]:.1f} {q[-1]:.1f} {len(gaps)}")
PY
}

# trace SERVER_PID CHILD_PID SOCKET NAME: the load on SOCKET with the child traced.
trace() {
    local child=$2 sock=$3 name=$4
    perf trace -p "$child" -e shutdown,close,accept,accept4 -o "$tmp/trace.txt" 2>"$tmp/perf.err" &
    local perf=$!
    # perf trace prints nothing when attached: give it a moment (bounded, not a wait on
    # the server, which is ready already).
    sleep 1
    "$tmp/fpm-client" "$sock" "$N" 0 "$tmp/sleep.php" "$SLEEP_US" >/dev/null
    kill -INT "$perf"
    wait "$perf" || true
    read -r med p10 p90 count < <(gaps "$tmp/trace.txt")
    echo "$name $med" >>"$results"
    printf '%-10s median %7.1f us   p10 %7.1f   p90 %7.1f   (%s requests)\n' "$name" "$med" "$p10" "$p90" "$count"
}

fpm_run() {
    rm -f "$tmp/fpm.log"
    "$fpm" -F -y "$tmp/php-fpm.conf" $root_flag 2>/dev/null &
    server=$!
    for _ in $(seq 1000); do grep -qs 'ready to handle connections' "$tmp/fpm.log" && break; sleep 0.01; done
    local child
    child=$(pgrep -P "$server" | head -1)
    trace "$server" "$child" "$tmp/fpm.sock" php-fpm
    kill -TERM "$server"; wait "$server" || true; server=
}

sim_run() {
    rm -f "$tmp/fifo"; mkfifo "$tmp/fifo"
    # shellcheck disable=SC2086
    $sim_cmd >"$tmp/fifo" 2>"$tmp/sim.err" &
    server=$!
    exec 3<"$tmp/fifo"
    local line child
    read -r -t 10 -u 3 line || { echo "no readiness line from the simulator" >&2; exit 1; }
    cat <&3 >/dev/null &
    local drain=$!
    for _ in $(seq 1000); do child=$(pgrep -P "$server" | head -1) && break; sleep 0.01; done
    trace "$server" "$child" "$tmp/sim.sock" simulator
    kill -TERM "$server"; wait "$server" || true; server=
    wait "$drain"; exec 3<&-
}

for run in $(seq 1 "$RUNS"); do
    if ((run % 2)); then fpm_run; sim_run; else sim_run; fpm_run; fi
done

python3 - "$results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
med = {s: statistics.median(float(v) for n, v in rows if n == s) for s in ("php-fpm", "simulator")}
rng = {s: (min(float(v) for n, v in rows if n == s), max(float(v) for n, v in rows if n == s)) for s in med}
print()
for s in med:
    print(f"{s:<10} EOF -> next accept: median of run medians {med[s]:.1f} us  [{rng[s][0]:.1f}-{rng[s][1]:.1f}]")
print(f"difference (the --request-shutdown to add): {med['php-fpm'] - med['simulator']:.1f} us")
PY

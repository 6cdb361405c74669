#!/usr/bin/env bash
# Calibration of --parent-memory and --child-startup (issue 8): how long a fork takes in
# the parent, and how long from the fork to the new child's first accept(), on real
# PHP-FPM 8.2 and on epoll-listen-fork, in one invocation. Each server is an ondemand pool
# (pm.max_children = 30; the simulator --model ondemand --max-children 30 with its default
# --parent-memory and --child-startup 0) on a unix socket; N connects of 1 s requests,
# GAP_MS apart, each finding every child busy, so each forks one child. `perf trace -a`
# (system-wide tracepoints: a new child is seen from its first syscall) records clone and
# accept; per fork: the parent's clone() duration, and from the clone's start to the
# child's first accept(). Prints each run's medians and, per server, the median over the
# runs; the difference of the second is the --child-startup that makes ours as slow to
# start as PHP-FPM's, and the clone durations say whether --parent-memory matches.
#
# Unix sockets in a tempdir only; every run bounded. Needs cargo, gcc, python3, perf and
# php-fpm8.2; root (perf trace -a); downloads nothing.
# Usage: bench/fork/startup.sh   (env: N=20 GAP_MS=50 RUNS=5 SIM_EXTRA=)
set -euo pipefail

N=${N:-20}
GAP_MS=${GAP_MS:-50}
RUNS=${RUNS:-5}
SIM_EXTRA=${SIM_EXTRA:-}

. "$(dirname "$0")/fpm-common.sh"
fpm_setup startup ondemand "30" perf
sim_cmd="$tool --unix $tmp/sim.sock --model ondemand --max-children 30 --sleep 1s --child-startup 0 --format json $SIM_EXTRA"

echo "# machine: $(uname -srm), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# date: $(date -u +%FT%TZ)   N=$N GAP_MS=$GAP_MS RUNS=$RUNS"
echo "# php-fpm: $("$fpm" -v | head -1)   ($fpm -F -y CONF $root_flag, pm = ondemand)"
echo "# simulator: $sim_cmd"

results="$tmp/results.txt"
gap_s=$(python3 -c "print($GAP_MS / 1000)")
# forks TRACE PARENT: "clone_ms_median start_to_accept_ms_median count" for the forks of
# process PARENT (other processes are traced too: -a).
forks() {
    python3 - "$1" "$2" <<'PY'
import re, statistics, sys
parent = int(sys.argv[2])
clone = {}   # child pid -> (start ms, duration ms)
first_accept = {}
for line in open(sys.argv[1]):
    m = re.match(r"\s*([\d.]+) \(\s*([\d.]*)(?: ms)?\s*\): (\S+)/(\d+) (.*)", line)
    if not m:
        continue
    t, dur, pid, rest = float(m.group(1)), m.group(2), int(m.group(4)), m.group(5)
    c = re.search(r"clone3?\(.*= (\d+) \(", rest)
    if c and dur and pid == parent:
        clone[int(c.group(1))] = (t, float(dur))
    elif re.match(r"accept4?\(", rest) and pid not in first_accept:
        first_accept[pid] = t
pairs = [(clone[p][1], first_accept[p] - clone[p][0]) for p in clone if p in first_accept]
durs, starts = [d for d, _ in pairs], [s for _, s in pairs]
print(f"{statistics.median(durs):.3f} {statistics.median(starts):.3f} {len(pairs)}")
PY
}

# load NAME PARENT SOCKET: N connects GAP_MS apart, traced system-wide.
load() {
    local name=$1 parent=$2 sock=$3 pids=()
    rm -f "$tmp/trace.txt"
    perf trace -a -e clone,clone3,accept,accept4 -o "$tmp/trace.txt" 2>"$tmp/perf.err" &
    local perf=$!
    # perf trace says nothing when it is attached: wait (bounded, 10 s) for its first
    # event, from any process (-a), then a moment more.
    for _ in $(seq 100); do [ -s "$tmp/trace.txt" ] && break; sleep 0.1; done
    sleep 1
    for _ in $(seq "$N"); do
        "$tmp/fpm-client" "$sock" 1 0 "$tmp/sleep.php" 1000000 >/dev/null &
        pids+=($!)
        sleep "$gap_s"
    done
    wait "${pids[@]}"
    kill -INT "$perf"
    wait "$perf" || true
    read -r clone_ms start_ms count < <(forks "$tmp/trace.txt" "$parent")
    echo "$name $clone_ms $start_ms" >>"$results"
    printf '%-10s fork() %6.3f ms   fork -> first accept %6.3f ms   (%s forks)\n' "$name" "$clone_ms" "$start_ms" "$count"
}

fpm_run() {
    rm -f "$tmp/fpm.log"
    "$fpm" -F -y "$tmp/php-fpm.conf" $root_flag 2>/dev/null &
    server=$!
    for _ in $(seq 1000); do grep -qs 'ready to handle connections' "$tmp/fpm.log" && break; sleep 0.01; done
    load php-fpm "$server" "$tmp/fpm.sock"
    kill -TERM "$server"; wait "$server" || true; server=
}

sim_run() {
    rm -f "$tmp/fifo"; mkfifo "$tmp/fifo"
    # shellcheck disable=SC2086
    $sim_cmd >"$tmp/fifo" 2>"$tmp/sim.err" &
    server=$!
    exec 3<"$tmp/fifo"
    local line
    read -r -t 10 -u 3 line || { echo "no readiness line from the simulator" >&2; exit 1; }
    cat <&3 >/dev/null &
    local drain=$!
    load simulator "$server" "$tmp/sim.sock"
    kill -TERM "$server"; wait "$server" || true; server=
    wait "$drain"; exec 3<&-
}

for run in $(seq 1 "$RUNS"); do
    if ((run % 2)); then fpm_run; sim_run; else sim_run; fpm_run; fi
done

python3 - "$results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
def col(server, i):
    xs = [float(r[i]) for r in rows if r[0] == server]
    return statistics.median(xs), min(xs), max(xs)
print()
for s in ("php-fpm", "simulator"):
    c, s2 = col(s, 1), col(s, 2)
    print(f"{s:<10} fork() {c[0]:.3f} ms [{c[1]:.3f}-{c[2]:.3f}]   fork -> first accept {s2[0]:.3f} ms [{s2[1]:.3f}-{s2[2]:.3f}]")
print(f"difference fork -> first accept (the --child-startup to add): {col('php-fpm', 2)[0] - col('simulator', 2)[0]:.3f} ms")
PY

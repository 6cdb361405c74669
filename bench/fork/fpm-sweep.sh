#!/usr/bin/env bash
# Calibration for issue 8: forks of real PHP-FPM (pm = ondemand) beside epoll-listen-fork
# --model ondemand on the same load, in one invocation. For each gap between connects
# (GAPS, in ms): N connects of SLEEP_MS requests (bench/fork/fpm-client.c writes one
# FastCGI request right after each connect and reads until the server closes), RUNS times
# per server, alternating the order each round, each run on a fresh server. Three servers:
# PHP-FPM, the simulator with the PHP-FPM models' default costs, and the simulator with the
# costs turned off (--parent-memory 0 --child-startup 0 --request-shutdown 0). Prints every
# run and, per gap, the forks of each (median and range) and their max_children warnings.
#
# PHP-FPM: `php-fpm8.2 -F -y CONF` (-R as root), one pool `pm = ondemand`,
# pm.max_children = MAX_CHILDREN, on a unix socket, log_level notice, the distribution's
# php.ini and extensions (so its master is as large as a real one). Its forks are its
# children once the load is done (`pgrep -c -P MASTER`: none has exited yet, the idle
# timeout is 10 s), its warnings the `reached max_children` lines of its log.
# Simulator: `epoll-listen-fork --unix PATH --model ondemand --max-children MAX_CHILDREN
# --sleep SLEEP_MSms --format json $SIM_EXTRA` (SIM_EXTRA: further flags for both simulator
# variants), and the same with `$ZERO_COSTS` added; forks and max_children_warnings from its
# summary after SIGTERM.
#
# Unix sockets in a tempdir only; every run bounded. Needs cargo, gcc, python3 and
# php-fpm8.2 (apt-get install php8.2-fpm); downloads nothing.
# Usage: bench/fork/fpm-sweep.sh   (env: GAPS="0 0.1 0.2 0.5 1" N=50 SLEEP_MS=200 RUNS=5
#        MAX_CHILDREN=10 SIM_EXTRA= ZERO_COSTS="--parent-memory 0 --child-startup 0
#        --request-shutdown 0": the flags of the second simulator column, e.g. one cost only)
set -euo pipefail

GAPS=${GAPS:-0 0.1 0.2 0.5 1}
N=${N:-50}
SLEEP_MS=${SLEEP_MS:-200}
RUNS=${RUNS:-5}
MAX_CHILDREN=${MAX_CHILDREN:-10}
SIM_EXTRA=${SIM_EXTRA:-}
ZERO_COSTS=${ZERO_COSTS:-"--parent-memory 0 --child-startup 0 --request-shutdown 0"}

. "$(dirname "$0")/fpm-common.sh"
fpm_setup fpm-sweep ondemand "$MAX_CHILDREN"
sim_cmd="$tool --unix $tmp/sim.sock --model ondemand --max-children $MAX_CHILDREN --sleep ${SLEEP_MS}ms --format json $SIM_EXTRA"

echo "# machine: $(uname -srm), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# date: $(date -u +%FT%TZ)   GAPS=\"$GAPS\" ms  N=$N SLEEP_MS=$SLEEP_MS RUNS=$RUNS MAX_CHILDREN=$MAX_CHILDREN"
echo "# php-fpm: $("$fpm" -v | head -1)"
echo "#   $fpm -F -y CONF $root_flag   (pm = ondemand, pm.max_children = $MAX_CHILDREN, unix socket)"
echo "# simulator: $sim_cmd   (sim-zero: the same with $ZERO_COSTS)"
echo "# client: fpm-client SOCKET $N GAP_US SCRIPT $((SLEEP_MS * 1000)) (bench/fork/fpm-client.c)"

results="$tmp/results.jsonl"
# row SERVER GAP FORKS WARNINGS CLIENT_JSON: one result line, also shown.
row() {
    python3 -c 'import json, sys; c = json.loads(sys.argv[5]); c.update(server=sys.argv[1], gap_ms=float(sys.argv[2]), forks=int(sys.argv[3]), warnings=int(sys.argv[4])); print(json.dumps(c))' "$@" | tee -a "$results"
}

# fpm_run GAP: a fresh PHP-FPM master, ready (its log line, waited for at most 10 s), the
# load, its children counted, then SIGTERM and reaped.
fpm_run() {
    local gap=$1 client forks warnings
    rm -f "$tmp/fpm.log"
    "$fpm" -F -y "$tmp/php-fpm.conf" $root_flag 2>/dev/null &
    server=$!
    for _ in $(seq 1000); do grep -qs 'ready to handle connections' "$tmp/fpm.log" && break; sleep 0.01; done
    grep -qs 'ready to handle connections' "$tmp/fpm.log" || { echo "php-fpm did not start:" >&2; cat "$tmp/fpm.log" >&2; exit 1; }
    client=$("$tmp/fpm-client" "$tmp/fpm.sock" "$N" "$(python3 -c "print($gap * 1000)")" "$tmp/sleep.php" $((SLEEP_MS * 1000)))
    forks=$(pgrep -c -P "$server" || true)
    warnings=$(grep -c 'reached max_children setting' "$tmp/fpm.log" || true)
    kill -TERM "$server"
    wait "$server" || true
    server=
    row php-fpm "$gap" "$forks" "$warnings" "$client"
}

# sim_run GAP NAME [FLAGS...]: the simulator (with FLAGS added), its readiness line read (at
# most 10 s), the load, SIGTERM, its summary; NAME in the results.
sim_run() {
    local gap=$1 name=$2 client line summary
    shift 2
    rm -f "$tmp/fifo"
    mkfifo "$tmp/fifo"
    # shellcheck disable=SC2086 # SIM_EXTRA is meant to be split
    $sim_cmd "$@" >"$tmp/fifo" 2>"$tmp/sim.err" &
    server=$!
    exec 3<"$tmp/fifo"
    read -r -t 10 -u 3 line || { echo "no readiness line from the simulator" >&2; cat "$tmp/sim.err" >&2; exit 1; }
    cat <&3 >"$tmp/sim.out" &
    local drain=$!
    client=$("$tmp/fpm-client" "$tmp/sim.sock" "$N" "$(python3 -c "print($gap * 1000)")" "$tmp/sleep.php" $((SLEEP_MS * 1000)))
    kill -TERM "$server"
    wait "$server" || true
    server=
    wait "$drain"
    exec 3<&-
    summary=$(tail -1 "$tmp/sim.out")
    row "$name" "$gap" \
        "$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["forks"])' "$summary")" \
        "$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["max_children_warnings"])' "$summary")" \
        "$client"
}

for run in $(seq 1 "$RUNS"); do
    for gap in $GAPS; do
        # Alternate the order so drift (other load, thermal) hits both alike.
        # shellcheck disable=SC2086 # ZERO_COSTS is meant to be split
        if ((run % 2)); then
            fpm_run "$gap"; sim_run "$gap" simulator; sim_run "$gap" sim-zero $ZERO_COSTS
        else
            sim_run "$gap" sim-zero $ZERO_COSTS; sim_run "$gap" simulator; fpm_run "$gap"
        fi
    done
done

python3 - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def cell(server, gap, key):
    xs = [r[key] for r in rows if r["server"] == server and r["gap_ms"] == gap]
    return f"{statistics.median(xs):g} [{min(xs)}-{max(xs)}]"
bad = [r for r in rows if r["done"] != r["connections"]]
print()
servers = ["php-fpm", "simulator", "sim-zero"]
def inside(gap, server):
    xs = [r["forks"] for r in rows if r["server"] == "php-fpm" and r["gap_ms"] == gap]
    med = statistics.median(r["forks"] for r in rows if r["server"] == server and r["gap_ms"] == gap)
    return "yes" if min(xs) <= med <= max(xs) else "NO"
for key in ("forks", "warnings"):
    print(f"{'gap ms':>7}" + "".join(f"  {s + ' ' + key:>20}" for s in servers)
          + ("  sim median in php-fpm range  sim-zero median in range" if key == "forks" else ""))
    for gap in sorted({r["gap_ms"] for r in rows}):
        line = f"{gap:>7g}" + "".join(f"  {cell(s, gap, key):>20}" for s in servers)
        if key == "forks":
            line += f"  {inside(gap, 'simulator'):>27}  {inside(gap, 'sim-zero'):>24}"
        print(line)
    print()
print("(median [min-max] over the runs; simulator: the PHP-FPM models' default costs, sim-zero: costs 0)")
if bad:
    print(f"{len(bad)} runs did not finish every connection: {bad}")
PY

#!/usr/bin/env bash
# Benchmark: epoll-listen-fork's per-event model against a minimal fork-per-connection
# server (bench/fork/baseline.c: accept in the parent, fork, no epoll), in one invocation.
#
# For each server, in alternating rounds: a storm (N connections, C in flight) gives
# connections per second and forks per second; a calm pass (LAT_N connections, one at a
# time) gives the delay from a connection's arrival to its child's accept, measured on the
# client as connect() -> first byte (the children run with --greet and --sleep 0).
# Prints the machine, the commands, per-run numbers, medians and ratios to the baseline.
#
# Loopback only; every count is bounded. Needs cargo, gcc and python3; downloads nothing.
# Usage: bench/fork/run.sh   (env: N=2000 C=32 LAT_N=500 RUNS=5)
set -euo pipefail

N=${N:-2000}
C=${C:-32}
LAT_N=${LAT_N:-500}
RUNS=${RUNS:-5}

root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
cd "$root"
cargo build --release --quiet -p listenlab-listener --bin epoll-listen-fork
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -O2 -Wall -o "$tmp/fork-baseline" bench/fork/baseline.c
gcc -O2 -Wall -o "$tmp/fork-client" bench/fork/client.c
tool="$root/target/release/epoll-listen-fork"

echo "# machine: $(uname -srm), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "# date: $(date -u +%FT%TZ)   N=$N C=$C LAT_N=$LAT_N RUNS=$RUNS"

# server_cmd NAME COUNT: the server command line, stopping by itself after COUNT accepts.
server_cmd() {
    case "$1" in
    baseline) echo "$tmp/fork-baseline $2 0 1" ;;
    edge | level)
        echo "$tool --inet 127.0.0.1:0 --model per-event --trigger $1 --greet --sleep 0 --format json --exit-after $2" ;;
    esac
}

echo "# servers:"
for s in baseline edge level; do echo "#   $s: $(server_cmd "$s" COUNT)"; done
echo "# client: fork-client PORT COUNT CONCURRENCY (bench/fork/client.c)"

results="$tmp/results.jsonl"
mkfifo "$tmp/fifo"
# one NAME PHASE COUNT CONCURRENCY: start the server, wait for its readiness line, run the
# client, wait for the server's summary (SIGTERM first if the client saw connections
# stranded, so the server never reaches COUNT), append one JSON line to $results.
one() {
    local name=$1 phase=$2 count=$3 conc=$4 out="$tmp/server.out" line port client pid drain
    # shellcheck disable=SC2046 # the command line is meant to be split
    $(server_cmd "$name" "$count") >"$tmp/fifo" 2>"$tmp/server.err" &
    pid=$!
    exec 3<"$tmp/fifo"
    read -r -t 10 -u 3 line || { echo "no readiness line from $name" >&2; exit 1; }
    port=${line##*:}
    port=${port%%\"*}
    # Drain the event lines while the client runs, so a full pipe never stalls the server.
    cat <&3 >"$out" &
    drain=$!
    client=$("$tmp/fork-client" "$port" "$count" "$conc")
    case "$client" in *'"stranded":0,'*) ;; *) kill -TERM "$pid" ;; esac
    wait "$pid"
    wait "$drain"
    exec 3<&-
    python3 - "$name" "$phase" "$client" "$out" >>"$results" <<'EOF'
import json, sys
name, phase, client, out = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
summary = json.loads(open(out).read().strip().splitlines()[-1])
client.update(server=name, phase=phase, forks=summary["forks"],
              forks_per_s=summary["forks"] / client["elapsed_s"])
print(json.dumps(client))
EOF
    tail -1 "$results"
}

for run in $(seq 1 "$RUNS"); do
    # Alternate the order each round so drift (thermal, other load) hits every server alike.
    if ((run % 2)); then order="baseline edge level"; else order="level edge baseline"; fi
    for s in $order; do
        one "$s" storm "$N" "$C"
        one "$s" calm "$LAT_N" 1
    done
done

python3 - "$results" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def med(server, phase, key):
    return statistics.median(r[key] for r in rows if r["server"] == server and r["phase"] == phase)
print()
print(f"{'medians':<28}{'baseline':>12}{'edge':>12}{'level':>12}{'edge/base':>11}{'level/base':>11}")
for phase, key, label in [
    ("storm", "rate_per_s", "storm connections/s"),
    ("storm", "forks_per_s", "storm forks/s"),
    ("storm", "forks", "storm forks (N conns)"),
    ("storm", "stranded", "storm stranded conns"),
    ("storm", "p50_us", "storm connect->byte p50 us"),
    ("storm", "p99_us", "storm connect->byte p99 us"),
    ("calm", "p50_us", "calm connect->byte p50 us"),
    ("calm", "p90_us", "calm connect->byte p90 us"),
    ("calm", "p99_us", "calm connect->byte p99 us"),
]:
    b, e, l = (med(s, phase, key) for s in ("baseline", "edge", "level"))
    ratio = lambda x: f"{x / b:>11.2f}" if b else f"{'-':>11}"
    print(f"{label:<28}{b:>12.1f}{e:>12.1f}{l:>12.1f}{ratio(e)}{ratio(l)}")
EOF

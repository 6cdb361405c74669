#!/usr/bin/env bash
# docs/plots.sh: draws the README's pictures (docs/img/*.svg) from real runs of the three
# tools on loopback, with their own --plot (release builds). Each run is bounded: the
# simulators stop by --duration, socket-connect by --count and --hold 0.
#
#   socket-connect.svg     2000 paced connects (--rate 1000) to an ondemand pool whose
#                          children greet and hold each connection 5 ms: the connect,
#                          first-byte and complete spectra, corrected and raw, and
#                          latency and counts per 250 ms interval
#   epoll-listen-fork.svg  a dynamic pool (10 / 2 / 1 / 3, PHP-FPM's www.conf shape) under
#                          60 one-second requests: forks one tick at a time, seems-busy and
#                          max_children warnings, then idle kills once the load is gone
#   listen-watch.svg       listen-watch around socket-connect loading an 8-child ondemand
#                          pool at 200 connects/s, more than it serves: the queue grows,
#                          and the client's latency per 250 ms interval with it
#
# Usage: docs/plots.sh      (from anywhere in the repository; needs cargo)
set -euo pipefail

root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
cd "$root"
cargo build --release --quiet -p listenlab-listener -p listenlab-connector
# Programs by name, so the pictures' subtitles show what one would type.
export PATH="$root/target/release:$PATH"
mkdir -p docs/img

# Starts epoll-listen-fork with "$@" in the background (JSON lines into $log) and sets
# $addr from its readiness line, waiting at most 10 s for it.
start_pool() {
    log=$(mktemp)
    epoll-listen-fork --format json --inet 127.0.0.1:0 "$@" >"$log" &
    pool=$!
    for _ in $(seq 100); do
        addr=$(head -n1 "$log" | sed -n 's/.*"addr":"\([^"]*\)".*/\1/p')
        [[ -n "$addr" ]] && return 0
        # Not a readiness wait in a test: a script polling the line, bounded.
        sleep 0.1
    done
    echo "docs/plots.sh: no listening line from epoll-listen-fork" >&2
    kill "$pool"
    exit 1
}

# Waits for the pool to stop (its --duration), then drops its log.
stop_pool() {
    wait "$pool"
    rm -f "$log"
}

start_pool --model ondemand --max-children 16 --sleep 5ms --greet --duration 5s
socket-connect -q --inet "$addr" --count 2000 --rate 1000 --read close --hold 0 \
    --interval 250ms --plot docs/img/socket-connect.svg >/dev/null
stop_pool

start_pool --model dynamic --max-children 10 --start-servers 2 --min-spare-servers 1 \
    --max-spare-servers 3 --sleep 1s --duration 16s --plot docs/img/epoll-listen-fork.svg
socket-connect -q --inet "$addr" --count 60 --rate 20 --read close --hold 0 >/dev/null
stop_pool

start_pool --model ondemand --max-children 8 --sleep 50ms --duration 5s
listen-watch --inet "$addr" --format json --plot docs/img/listen-watch.svg -- \
    socket-connect -q --format json --inet "$addr" --count 400 --rate 200 --hold 0 \
    --interval 250ms >/dev/null
stop_pool

ls -l docs/img/*.svg

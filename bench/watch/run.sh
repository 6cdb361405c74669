#!/usr/bin/env bash
# bench/watch: the CPU cost of listen-watch sampling 10 TCP listeners at 1 kHz, against
# running `ss -ltn` once per sample (what people script today), and against floor.c (the
# same kernel calls a sample needs and nothing else). Builds listen-watch (release) and
# floor.c, and runs bench.py; arguments go to bench.py (e.g. --seconds 10 --runs 3).
# Loopback only: the listeners are 127.0.0.1:0 sockets that bench.py holds.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --quiet -p listenlab-listener --bin listen-watch
mkdir -p target/bench-watch
gcc -O2 -Wall -o target/bench-watch/floor bench/watch/floor.c
exec python3 bench/watch/bench.py "$@"

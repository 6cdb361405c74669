#!/usr/bin/env bash
# bench/watch: the CPU cost of listen-watch sampling 10 TCP listeners at 1 kHz, against
# running `ss -ltn` once per sample (what people script today). Builds listen-watch
# (release) and runs bench.py; arguments go to bench.py (e.g. --seconds 10 --runs 3).
# Loopback only: the listeners are 127.0.0.1:0 sockets that bench.py holds.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --quiet -p listenlab-listener --bin listen-watch
exec python3 bench/watch/bench.py "$@"

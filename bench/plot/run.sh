#!/usr/bin/env bash
# bench/plot: what --plot costs listen-watch, the tool where it runs on every sample:
# CPU per sample with --plot against the same run without it, alternated in one
# invocation (medians of --runs). Builds listen-watch (release) and runs bench.py;
# arguments go to bench.py (e.g. --seconds 5 --runs 5). Loopback listeners only.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --quiet -p listenlab-listener --bin listen-watch
exec python3 bench/plot/bench.py "$@"

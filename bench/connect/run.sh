#!/usr/bin/env bash
# bench/connect: build socket-connect (release), the baseline dialer, the accept-and-hold
# server, the greeting server and client and the paced client, then run the comparison (bench.py). Arguments go to bench.py, e.g. --runs 3.
# Only loopback and temporary unix sockets are used; builds go to target/bench-connect/.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p target/bench-connect
cargo build --release --quiet -p listenlab-connector
gcc -O2 -Wall -o target/bench-connect/hold_server bench/connect/hold_server.c
gcc -O2 -Wall -o target/bench-connect/baseline bench/connect/baseline.c
gcc -O2 -Wall -o target/bench-connect/greet_server bench/connect/greet_server.c
gcc -O2 -Wall -o target/bench-connect/greet_client bench/connect/greet_client.c
gcc -O2 -Wall -o target/bench-connect/paced_client bench/connect/paced_client.c
exec python3 bench/connect/bench.py "$@"

#!/usr/bin/env bash
# bench/probe/readme-sample.sh: runs the real epoll-socket-test (release build, default
# arguments: every part, every family, temporary sockets) and prints the README's sample
# section: a heading naming the kernel and the machine, then the text report verbatim,
# up to (not including) its closing "What this means", which the README carries as its
# own section. Nothing is collapsed or edited: what the tool printed is what you see.
#
# Usage: bench/probe/readme-sample.sh            print the section
#        bench/probe/readme-sample.sh --update   also replace it in README.md, from the
#                                                "### Sample (" heading to the line before
#                                                "### What this means"
# Loopback and temporary unix sockets only (the probe's defaults). Needs cargo and awk.
set -euo pipefail

root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
cd "$root"
cargo build --release --quiet -p listenlab-listener --bin epoll-socket-test

out=$(mktemp)
trap 'rm -f "$out" "$out.section" "$out.readme"' EXIT
./target/release/epoll-socket-test --format text >"$out"

kernel=$(uname -r)
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
{
    echo "### Sample (Linux ${kernel%%-*}, $(nproc) cores, ${cpu:-unknown CPU}; \`bench/probe/readme-sample.sh\`)"
    echo
    echo '```'
    awk '/^What this means$/ { exit } { print }' "$out" | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'
    echo '```'
    echo
} >"$out.section"

cat "$out.section"

if [[ "${1:-}" == "--update" ]]; then
    awk -v section="$out.section" '
        /^### Sample \(/ && !done { while ((getline line < section) > 0) print line; skip = 1; done = 1; next }
        skip && /^### What this means/ { skip = 0 }
        !skip { print }
    ' README.md >"$out.readme"
    grep -q '^### Sample (' "$out.readme" || { echo "README.md has no sample heading" >&2; exit 1; }
    cp "$out.readme" README.md
    echo "README.md updated" >&2
fi

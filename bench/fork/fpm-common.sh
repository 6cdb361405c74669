# bench/fork/fpm-common.sh: the set-up the PHP-FPM calibration scripts share (fpm-sweep.sh,
# finishing.sh, startup.sh); sourced, not run. Usage: `fpm_setup NAME PM MAX_CHILDREN
# [perf]` finds php-fpm8.2 (exit 1 naming NAME if absent; with `perf`, perf too), builds
# epoll-listen-fork (release) into $tool, makes the tempdir $tmp (removed on exit, with the
# server whose pid is in $server stopped first), compiles bench/fork/fpm-client.c into
# $tmp/fpm-client, writes the sleeping PHP script $tmp/sleep.php and a one-pool
# $tmp/php-fpm.conf (pm = PM, pm.max_children = MAX_CHILDREN, on $tmp/fpm.sock), and sets
# $fpm, $root and $root_flag (-R as root). Unix sockets in the tempdir only.

fpm_setup() {
    local name=$1 pm=$2 max_children=$3 need=${4:-}
    fpm=$(command -v php-fpm8.2 || command -v php-fpm || true)
    [ -n "$fpm" ] || for f in /usr/sbin/php-fpm8.2 /usr/sbin/php-fpm; do [ -x "$f" ] && fpm=$f && break; done
    [ -n "$fpm" ] || { echo "$name: php-fpm8.2 is not installed (apt-get install php8.2-fpm)" >&2; exit 1; }
    if [ "$need" = perf ]; then
        command -v perf >/dev/null || { echo "$name: perf is not installed (apt-get install linux-perf)" >&2; exit 1; }
    fi
    root=$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)
    cd "$root"
    cargo build --release --quiet -p listenlab-listener --bin epoll-listen-fork
    tool="$root/target/release/epoll-listen-fork"
    tmp=$(mktemp -d)
    server=
    trap fpm_cleanup EXIT
    gcc -O2 -Wall -o "$tmp/fpm-client" bench/fork/fpm-client.c
    printf '<?php\nusleep((int)($_GET["us"] ?? 0));\necho "served by ", getmypid(), "\\n";\n' >"$tmp/sleep.php"
    cat >"$tmp/php-fpm.conf" <<CONF
[global]
pid = $tmp/php-fpm.pid
error_log = $tmp/fpm.log
daemonize = no
process_control_timeout = 2s
[bench]
listen = $tmp/fpm.sock
pm = $pm
pm.max_children = $max_children
CONF
    root_flag=
    [ "$(id -u)" = 0 ] && root_flag=-R
    return 0
}

# Stops the server still running, if any, and removes the tempdir.
fpm_cleanup() {
    if [ -n "$server" ]; then kill -TERM "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$tmp"
}

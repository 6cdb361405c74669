#!/usr/bin/env python3
"""bench/connect: socket-connect against a minimal blocking-connect baseline dialer.

Run through run.sh, which builds the binaries first. Every run gets a fresh accept-and-hold
server on a new port (or unix path). The server is killed before the dialer releases its
connections, so the server side closes first and the TIME_WAIT states land on the
server's (never reused) port, not on the client's ephemeral ports: runs do not poison
each other. Rates are each dialer's own measurement of its connect phase (first connect
started to last finished), so process start-up and teardown are left out of both.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import signal
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.join(ROOT, "target", "bench-connect")
SERVER = os.path.join(BUILD, "hold_server")
BASELINE = os.path.join(BUILD, "baseline")
GREET_SERVER = os.path.join(BUILD, "greet_server")
GREET_CLIENT = os.path.join(BUILD, "greet_client")
PACED_CLIENT = os.path.join(BUILD, "paced_client")
# SOCKET_CONNECT=/path/to/socket-connect measures another build (e.g. main's, to compare).
SC = os.environ.get("SOCKET_CONNECT", os.path.join(ROOT, "target", "release", "socket-connect"))
TIMEOUT = 300  # seconds any single step may take
# --pin: the server on the last CPU, the dialers on the first, so that the scheduler's
# placement (both on one CPU, or migrating) does not add to the run-to-run noise.
PIN = {"server": [], "dialer": []}


class Server:
    """A fresh accept-and-hold server on 127.0.0.1:0 or a new unix path (or, with
    greet=True, the greeting server on TCP, which writes one byte on accept)."""

    def __init__(self, kind, tmpdir, index, greet=False):
        arg = "127.0.0.1" if kind == "tcp" else os.path.join(tmpdir, f"s{index}.sock")
        cmd = [GREET_SERVER, arg] if greet else [SERVER, kind, arg]
        self.proc = subprocess.Popen([*PIN["server"], *cmd], stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "ready":
            raise SystemExit(f"hold_server did not start: {line}")
        self.addr = line[1]

    def stop(self):
        self.proc.kill()
        self.proc.wait(timeout=TIMEOUT)


def target_args(kind, server):
    if kind == "tcp":
        return ["--inet", f"127.0.0.1:{server.addr}"]
    return ["--unix", server.addr]


def vmrss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def run_baseline(kind, server, n):
    if kind == "tcp":
        args = [BASELINE, "tcp", "127.0.0.1", server.addr, str(n)]
    else:
        args = [BASELINE, "unix", server.addr, str(n)]
    proc = subprocess.Popen([*PIN["dialer"], *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    result = json.loads(proc.stdout.readline())
    server.stop()  # the server closes first (see the module doc)
    proc.stdin.close()
    proc.wait(timeout=TIMEOUT)
    return result


def run_socket_connect(kind, server, n, extra=(), rss=False):
    args = [*PIN["dialer"], SC, "--format", "json", "--quiet", "--count", str(n), *target_args(kind, server), *extra]
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    first = json.loads(proc.stdout.readline())
    while first.get("event") == "interval":  # live figures (--interval) come first
        first = json.loads(proc.stdout.readline())
    kib = None
    if first.get("event") == "holding":
        if rss:
            kib = vmrss_kib(proc.pid)
        server.stop()
        proc.stdin.write("\n")
        proc.stdin.flush()
        report = json.loads(proc.stdout.readline())
    else:
        report = first
        server.stop()
    proc.stdin.close()
    proc.wait(timeout=TIMEOUT)
    if proc.returncode != 0:
        raise SystemExit(f"socket-connect exited {proc.returncode}")
    report["rss_kib"] = kib
    return report


def median(values):
    return statistics.median(values)


def compare(kind, n, runs, tmpdir, extra):
    base_rates, sc_rates = [], []
    print(f"\n== {kind}: N={n}, {runs} alternating runs each (connections/s)")
    for i in range(runs):
        server = Server(kind, tmpdir, f"b{i}")
        b = run_baseline(kind, server, n)
        server = Server(kind, tmpdir, f"c{i}")
        s = run_socket_connect(kind, server, n, extra)
        if b["connected"] != n or s["connected"] != n:
            print(f"   warning: connected baseline {b['connected']}, socket-connect {s['connected']} "
                  f"(errors {s['errors']})")
        base_rates.append(b["connect_rate_per_s"])
        sc_rates.append(s["connect_rate_per_s"])
        print(f"   run {i + 1}: baseline {b['connect_rate_per_s']:>9.0f}   socket-connect "
              f"{s['connect_rate_per_s']:>9.0f}   (p50 {s['connect_latency_us']['p50']} us, "
              f"p99 {s['connect_latency_us']['p99']} us)")
        time.sleep(0.2)
    b, s = median(base_rates), median(sc_rates)
    print(f"   median: baseline {b:.0f}/s, socket-connect {s:.0f}/s, ratio {s / b:.2f}x (target >= 0.90x)")
    return s / b


def source_spread(n, runs, tmpdir, sources):
    without, with_ = [], []
    print(f"\n== tcp: N={n} to one port, without and with --source {sources} ({runs} runs each)")
    for i in range(runs):
        server = Server("tcp", tmpdir, f"w{i}")
        w = run_socket_connect("tcp", server, n)
        server = Server("tcp", tmpdir, f"s{i}")
        s = run_socket_connect("tcp", server, n, ["--source", sources])
        for name, r in (("without", w), ("with", s)):
            if r["connected"] != n:
                print(f"   warning: {name} --source connected {r['connected']}: {r['errors']}")
        without.append(w["elapsed_ms"])
        with_.append(s["elapsed_ms"])
        print(f"   run {i + 1}: without {w['elapsed_ms']:>9.1f} ms ({w['connect_rate_per_s']:.0f}/s)   "
              f"with {s['elapsed_ms']:>7.1f} ms ({s['connect_rate_per_s']:.0f}/s)")
        time.sleep(0.2)
    w, s = median(without), median(with_)
    print(f"   median: without {w:.1f} ms, with {s:.1f} ms: {w / s:.1f}x faster with --source "
          f"(target >= 20x)")
    return w / s


def rss_per_connection(n, runs, tmpdir):
    per = []
    print(f"\n== RSS per held connection (tcp, N={n}, {runs} runs)")
    for i in range(runs):
        server = Server("tcp", tmpdir, f"r1{i}")
        one = run_socket_connect("tcp", server, 1, rss=True)["rss_kib"]
        server = Server("tcp", tmpdir, f"rn{i}")
        many = run_socket_connect("tcp", server, n, rss=True)["rss_kib"]
        bytes_per = (many - one) * 1024 / (n - 1)
        per.append(bytes_per)
        print(f"   run {i + 1}: VmRSS {one} KiB with 1, {many} KiB with {n}: {bytes_per:.0f} B/connection")
    m = median(per)
    print(f"   median: {m:.0f} bytes per held connection (target < 2048)")
    return m


def pacer(runs, tmpdir):
    """Corrected connect p50 at --rate 1000 and 10000 against the unpaced p50 (issue 7:
    the pacer must not add a timer floor; target within 100 us), and what paced_client, a
    C client sleeping with clock_nanosleep to each scheduled start, gets on this machine."""
    cases = [("unpaced", 2000, []), ("--rate 1000", 2000, ["--rate", "1000"]),
             ("--rate 10000", 10000, ["--rate", "10000"])]
    p50s = {name: [] for name, _, _ in cases}
    c_p50s = {"--rate 1000": [], "--rate 10000": []}
    print(f"\n== pacer: corrected connect p50 (tcp, hold_server), {runs} runs of each")
    for i in range(runs):
        row = []
        for name, n, flags in cases:
            server = Server("tcp", tmpdir, f"p{i}{len(row)}")
            r = run_socket_connect("tcp", server, n, ["--hold", "0", *flags])
            if r["connected"] != n:
                print(f"   warning: {name} connected {r['connected']}: {r['errors']}")
            p50s[name].append(r["connect_latency_us"]["p50"])
            lag = r["schedule_lag_us"]
            row.append(f"{name} p50 {r['connect_latency_us']['p50']} us"
                       + (f" (lag p50 {lag['p50']} us, raw p50 {r['connect_latency_raw_us']['p50']} us)" if lag else ""))
        print(f"   run {i + 1}: " + ";  ".join(row))
        c_row = []
        for name, n, flags in cases[1:]:
            server = Server("tcp", tmpdir, f"pc{i}{len(c_row)}")
            proc = subprocess.run([*PIN["dialer"], PACED_CLIENT, "127.0.0.1", server.addr, str(n), flags[1]],
                                  capture_output=True, text=True, timeout=TIMEOUT)
            server.stop()
            c = json.loads(proc.stdout)
            c_p50s[name].append(c["p50"])
            c_row.append(f"{name} p50 {c['p50']:.0f} us (lag p50 {c['lag_p50']:.0f} us)")
        print(f"          C paced_client: " + ";  ".join(c_row))
        time.sleep(0.2)
    m = {name: median(v) for name, v in p50s.items()}
    base = m["unpaced"]
    out = {}
    for name in ("--rate 1000", "--rate 10000"):
        out[name] = m[name] - base
        print(f"   median: {name} {m[name]:.0f} us vs unpaced {base:.0f} us: {m[name] - base:+.0f} us "
              f"(target within 100 us); C paced_client {median(c_p50s[name]):.0f} us")
    return m, out


def first_byte(n, runs, tmpdir):
    """First-byte latency against the C greeting server: socket-connect --read first-byte
    at --rate 1000 (the server idle between connects, as for a client that dials one at a
    time) against greet_client, a blocking C client timing socket() to the read() that
    returns the byte, one connection at a time."""
    sc, c = [], []
    print(f"\n== first byte: greet_server, N={n} (C: one at a time; socket-connect: --rate 1000), "
          f"{runs} alternating runs (p50, us)")
    for i in range(runs):
        server = Server("tcp", tmpdir, f"g{i}", greet=True)
        proc = subprocess.run([*PIN["dialer"], GREET_CLIENT, "127.0.0.1", server.addr, str(n)],
                              capture_output=True, text=True, timeout=TIMEOUT)
        server.stop()
        base = json.loads(proc.stdout)
        server = Server("tcp", tmpdir, f"h{i}", greet=True)
        r = run_socket_connect("tcp", server, n, ["--hold", "0", "--rate", "1000", "--read", "first-byte"])
        fb = r["first_byte_latency_us"]
        if base["connected"] != n or fb["count"] != n:
            print(f"   warning: C client got {base['connected']}, socket-connect {fb['count']} first bytes "
                  f"({r['exchange_errors']})")
        c.append(base["p50"])
        sc.append(fb["p50"])
        print(f"   run {i + 1}: C client p50 {base['p50']:.1f} us (p99 {base['p99']:.1f})   socket-connect "
              f"p50 {fb['p50']} us (p99 {fb['p99']}, raw p50 {r['first_byte_latency_raw_us']['p50']}, "
              f"connect p50 {r['connect_latency_us']['p50']})")
        time.sleep(0.2)
    b, s = median(c), median(sc)
    print(f"   median: C client {b:.1f} us, socket-connect {s:.0f} us: {s - b:+.1f} us "
          f"(no 1 ms floor: target within 100 us)")
    return b, s


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_first_byte_pending(n, runs, tmpdir, sources):
    """VmRSS per connection waiting for a first byte that never comes (hold_server accepts
    and never writes): with N pending, minus with 1 pending, over N - 1."""
    per = []
    print(f"\n== RSS per connection with --read first-byte pending (tcp, N={n}, {runs} runs)")

    def pending_rss(count, index):
        server = Server("tcp", tmpdir, f"q{index}{count}")
        args = [*PIN["dialer"], SC, "--format", "json", "--quiet", "--count", str(count),
                "--inet", f"127.0.0.1:{server.addr}", "--source", sources, "--read", "first-byte",
                "--read-timeout", "120s", "--hold", "0"]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        deadline = time.monotonic() + TIMEOUT
        # Every connection open (its descriptor), then VmRSS steady over 5 samples 50 ms
        # apart: all of them registered and waiting.
        while fd_count(proc.pid) < count + 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        samples = []
        while time.monotonic() < deadline:
            samples.append(vmrss_kib(proc.pid))
            if len(samples) >= 5 and len(set(samples[-5:])) == 1:
                break
            time.sleep(0.05)
        kib = samples[-1]
        proc.send_signal(signal.SIGINT)
        report = json.loads(proc.stdout.readline())
        proc.wait(timeout=TIMEOUT)
        server.stop()
        if report["connected"] != count or report["exchange_failed"] != 0:
            print(f"   warning: connected {report['connected']} of {count}, exchange errors "
                  f"{report['exchange_errors']}")
        return kib

    for i in range(runs):
        one = pending_rss(1, i)
        many = pending_rss(n, i)
        bytes_per = (many - one) * 1024 / (n - 1)
        per.append(bytes_per)
        print(f"   run {i + 1}: VmRSS {one} KiB with 1 pending, {many} KiB with {n}: {bytes_per:.0f} B/connection")
    m = median(per)
    print(f"   median: {m:.0f} bytes per connection waiting for its first byte (target < 1024)")
    return m


def load():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(l.split(":", 1)[1].strip() for l in info if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        ports = " ".join(f.read().split())
    return (f"{os.cpu_count()} cores ({cpu}), Linux {platform.release()}, "
            f"ip_local_port_range {ports}, python-orchestrated, dialers built with -O2 / --release")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5, help="alternating runs per comparison")
    p.add_argument("-n", type=int, default=10000, help="connections per rate run")
    p.add_argument("--big", type=int, default=19000, help="connections for the --source comparison")
    p.add_argument("--big-runs", type=int, default=3, help="runs of the --source comparison")
    p.add_argument("--sources", default="127.0.0.2-127.0.0.9")
    p.add_argument("--only", choices=["tcp", "unix", "source", "rss", "pacer", "first-byte", "rss-pending"],
                   action="append")
    p.add_argument("--fb-n", type=int, default=2000, help="connections per first-byte run")
    p.add_argument("--extra", default="", help="extra socket-connect flags for the rate runs")
    p.add_argument("--pin", action="store_true", help="pin server and dialers to separate CPUs (taskset)")
    args = p.parse_args()
    if args.pin:
        last = (os.cpu_count() or 2) - 1
        PIN["server"], PIN["dialer"] = ["taskset", "-c", str(last)], ["taskset", "-c", "0"]
    only = set(args.only or ["tcp", "unix", "source", "rss", "pacer", "first-byte", "rss-pending"])
    extra = args.extra.split()
    print("machine:", machine(), "(pinned: server on the last CPU, dialers on CPU 0)" if args.pin else "")
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-connect-") as tmpdir:
        if "tcp" in only:
            results["tcp ratio"] = f"{compare('tcp', args.n, args.runs, tmpdir, extra):.2f}x"
        if "unix" in only:
            # The blocking baseline waits when the server's accept queue is full; so does
            # socket-connect with --wait-for-backlog (otherwise it counts would_block).
            unix_extra = ["--wait-for-backlog", *extra]
            results["unix ratio"] = f"{compare('unix', args.n, args.runs, tmpdir, unix_extra):.2f}x"
        if "source" in only:
            results["--source speed-up"] = f"{source_spread(args.big, args.big_runs, tmpdir, args.sources):.1f}x"
        if "rss" in only:
            results["RSS per held connection"] = f"{rss_per_connection(args.n, args.big_runs, tmpdir):.0f} B"
        if "pacer" in only:
            m, over = pacer(args.runs, tmpdir)
            results["pacer, corrected connect p50"] = (
                f"unpaced {m['unpaced']:.0f} us, --rate 1000 {over['--rate 1000']:+.0f} us, "
                f"--rate 10000 {over['--rate 10000']:+.0f} us")
        if "first-byte" in only:
            b, s = first_byte(args.fb_n, args.runs, tmpdir)
            results["first-byte p50"] = f"C client {b:.1f} us, socket-connect {s:.0f} us ({s - b:+.1f} us)"
        if "rss-pending" in only:
            m = rss_first_byte_pending(args.big, args.big_runs, tmpdir, args.sources)
            results["RSS per connection, first byte pending"] = f"{m:.0f} B"
    print(f"\n== summary (load average at the end: {load()})")
    for k, v in results.items():
        print(f"   {k}: {v}")


if __name__ == "__main__":
    sys.exit(main())

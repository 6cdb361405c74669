"""bench/watch: CPU of listen-watch at 1 kHz on 10 listeners vs one `ss -ltn` per sample,
and vs the kernel floor of a sample (floor.c).

Usage: bench/watch/run.sh [--seconds 5] [--runs 3] [--listeners 10] [--interval 1ms]
                          [--steady] [--watch PATH] [--unix]

Holds 10 TCP listeners on 127.0.0.1 (with --unix: 10 unix listeners in a temp dir), never
accepting, 3 connections queued on each, then for each run:
  - listen-watch --port P (x10, or --unix PATH) --interval 1ms --duration S --format json: CPU time
    (user+sys, from wait4's rusage) over wall time, and the samples it took (summary);
  - floor (bench/watch/floor.c) for the same time at the same interval: the syscalls a
    sample of those listeners needs and nothing else (an absolute sleep, one datagram of
    exact sock_diag lookups, one recvmmsg, one pread of our wchan), its CPU per sample from
    wait4 as well: what the kernel charges for the reads themselves on this machine;
  - a loop that runs `ss -ltn` back to back for S seconds (as fast as it can: it cannot
    keep 1 kHz): CPU time of the ss processes plus the loop, and how many ran.
Prints per-run figures and the medians: % of one core, CPU microseconds per sample, the
ratio of listen-watch to the floor, and for ss the % of one core that 1000 runs per second
would take (CPU per run x 1000).

A run's CPU includes listen-watch's start-up: observing the wchan names and the first,
full /proc scan for the owners, whose cost grows with every fd of every process on the
machine. With --steady, each run also runs listen-watch for twice --seconds, and the
difference of the two (CPU and samples) gives the cost of sampling alone, start-up
excluded: what a long watch costs per sample and per second.
Every loop is bounded by --seconds; only loopback sockets are used.
"""

import argparse
import json
import os
import platform
import resource
import socket
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WATCH = os.path.join(ROOT, "target", "release", "listen-watch")
FLOOR = os.path.join(ROOT, "target", "bench-watch", "floor")


def listeners(n, queued, unix_dir=None):
    """n listeners that never accept, `queued` connections waiting on each: on 127.0.0.1:0,
    or bound in `unix_dir`."""
    servers, clients = [], []
    for i in range(n):
        if unix_dir:
            s = socket.socket(socket.AF_UNIX)
            s.bind(os.path.join(unix_dir, f"l{i}.sock"))
        else:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
        s.listen(16)
        servers.append(s)
        for _ in range(queued):
            c = socket.socket(s.family)
            c.connect(s.getsockname())
            clients.append(c)
    return servers, clients


def targets(servers):
    """listen-watch's target flags for `servers`."""
    if servers[0].family == socket.AF_UNIX:
        return [a for s in servers for a in ("--unix", s.getsockname())]
    return [a for s in servers for a in ("--port", str(s.getsockname()[1]))]


def cpu(ru):
    return ru.ru_utime + ru.ru_stime


def run_rusage(args):
    """args under fork/exec with wait4, so its own rusage is exact: (cpu, wall, stdout)."""
    r, w = os.pipe()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.dup2(w, 1)
        os.close(r)
        os.execv(args[0], args)
    os.close(w)
    chunks = []
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    _, _status, ru = os.wait4(pid, 0)
    wall = time.monotonic() - start
    return cpu(ru), wall, b"".join(chunks).decode()


def run_watch_rusage(servers, seconds, interval):
    args = [WATCH, "--interval", interval, "--duration", f"{seconds}s", "--format", "json"]
    used, wall, out = run_rusage(args + targets(servers))
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["event"] == "summary", summary
    assert len(summary["listeners"]) == len(servers), summary
    return used, wall, summary["samples"]


def interval_us(text):
    for unit, scale in (("us", 1), ("ms", 1000), ("s", 1000000)):
        if text.endswith(unit) and text[: -len(unit)].isdigit():
            return int(text[: -len(unit)]) * scale
    raise SystemExit(f"--interval {text!r}: give a whole number of us, ms or s")


def run_floor(servers, seconds, interval):
    args = [FLOOR, str(seconds), str(interval_us(interval)), str(os.getpid())]
    if servers[0].family == socket.AF_UNIX:
        args.append("unix")
    else:
        args += [str(s.getsockname()[1]) for s in servers]
    used, wall, out = run_rusage(args)
    return used, wall, int(out.strip())


def run_ss(seconds):
    before = cpu(resource.getrusage(resource.RUSAGE_CHILDREN))
    start = time.monotonic()
    runs = 0
    while time.monotonic() - start < seconds:
        subprocess.run(["ss", "-ltn"], stdout=subprocess.DEVNULL, check=True)
        runs += 1
    wall = time.monotonic() - start
    used = cpu(resource.getrusage(resource.RUSAGE_CHILDREN)) - before
    return used, wall, runs


def main():
    global WATCH
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--listeners", type=int, default=10)
    ap.add_argument("--interval", default="1ms", help="listen-watch --interval")
    ap.add_argument("--steady", action="store_true", help="also the cost without start-up")
    ap.add_argument("--watch", default=WATCH, help="the listen-watch binary (for an A/B)")
    ap.add_argument("--unix", action="store_true", help="unix listeners (in a temp dir) instead of TCP")
    a = ap.parse_args()
    WATCH = a.watch
    unix_dir = tempfile.TemporaryDirectory() if a.unix else None
    servers, clients = listeners(a.listeners, 3, unix_dir and unix_dir.name)
    cpu_model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    print(f"# machine: {platform.system()} {platform.release()} {platform.machine()}, {os.cpu_count()} CPUs, {cpu_model}")
    print(f"# date: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}  listeners={len(servers)} seconds={a.seconds} runs={a.runs}")
    print(f"# listen-watch: {WATCH} --interval {a.interval} --duration {a.seconds}s --format json {'--unix PATH' if a.unix else '--port P'} x{len(servers)}")
    print("# ss: `ss -ltn` back to back for the same time")
    print(f"# floor: {FLOOR} (bench/watch/floor.c) for the same time and interval")
    w_pct, w_us, s_pct, s_us, s_rate, st_us, st_pct = [], [], [], [], [], [], []
    f_pct, f_us = [], []
    for i in range(a.runs):
        used, wall, samples = run_watch_rusage(servers, a.seconds, a.interval)
        w_pct.append(100 * used / wall)
        w_us.append(1e6 * used / samples)
        print(f"run {i + 1}: listen-watch {samples} samples in {wall:.2f} s ({samples / wall:.0f}/s), "
              f"CPU {used:.3f} s = {w_pct[-1]:.2f}% of one core, {w_us[-1]:.1f} us/sample")
        if a.steady:
            used2, wall2, samples2 = run_watch_rusage(servers, 2 * a.seconds, a.interval)
            st_us.append(1e6 * (used2 - used) / (samples2 - samples))
            st_pct.append(100 * (used2 - used) / (wall2 - wall))
            print(f"run {i + 1}: listen-watch {samples2} samples in {wall2:.2f} s, CPU {used2:.3f} s; "
                  f"without start-up: {st_us[-1]:.1f} us/sample, {st_pct[-1]:.2f}% of one core")
        used, wall, samples = run_floor(servers, a.seconds, a.interval)
        f_pct.append(100 * used / wall)
        f_us.append(1e6 * used / samples)
        print(f"run {i + 1}: floor {samples} samples in {wall:.2f} s, CPU {used:.3f} s = "
              f"{f_pct[-1]:.2f}% of one core, {f_us[-1]:.1f} us/sample")
        used, wall, runs = run_ss(a.seconds)
        s_pct.append(100 * used / wall)
        s_us.append(1e6 * used / runs)
        s_rate.append(runs / wall)
        print(f"run {i + 1}: ss -ltn {runs} runs in {wall:.2f} s ({s_rate[-1]:.0f}/s), "
              f"CPU {used:.3f} s = {s_pct[-1]:.1f}% of one core, {s_us[-1]:.0f} us/run")
    med = statistics.median
    print(f"median listen-watch: {med(w_pct):.2f}% of one core at --interval {a.interval}, {med(w_us):.1f} us CPU per sample")
    if a.steady:
        print(f"median listen-watch without start-up: {med(st_pct):.2f}% of one core, {med(st_us):.1f} us CPU per sample")
    print(f"median floor (the same kernel calls, nothing else): {med(f_pct):.2f}% of one core, {med(f_us):.1f} us CPU per sample")
    steady = med(st_us) if a.steady else med(w_us)
    print(f"ratio: listen-watch{' without start-up' if a.steady else ''} costs {steady / med(f_us):.2f}x the floor per sample")
    print(f"median ss -ltn: {med(s_us):.0f} us CPU per run, at most {med(s_rate):.0f} runs/s; "
          f"1000 runs/s would need {med(s_us) / 10:.0f}% of one core")
    print(f"ratio: one ss -ltn costs {med(s_us) / med(w_us):.0f}x one listen-watch sample")
    load = open("/proc/loadavg").read().split()[:3]
    print(f"# load average at the end: {' '.join(load)}")


if __name__ == "__main__":
    main()

"""bench/plot: CPU per sample of listen-watch with and without --plot.

Usage: bench/plot/run.sh [--seconds 5] [--runs 5] [--listeners 10] [--interval 1ms]

Holds the listeners of bench/watch (127.0.0.1, never accepting, 3 connections queued on
each), then alternates, --runs times: listen-watch --port P (each) --interval I
--duration S --format json, once plain (the baseline) and once with --plot into a temp
file. CPU is user+sys from wait4's rusage of listen-watch itself, over the samples its
summary counts; drawing the SVG at the end is included. Prints each run, the medians and
the ratio. Bounded by --seconds per run; loopback only.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "watch"))
import bench as watch_bench  # noqa: E402  (bench/watch/bench.py: the listeners, cpu())


def run(ports, seconds, interval, plot):
    args = [watch_bench.WATCH, "--interval", interval, "--duration", f"{seconds}s", "--format", "json"]
    for p in ports:
        args += ["--port", str(p)]
    if plot:
        args += ["--plot", plot]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE)
    out = proc.stdout.read()
    _, status, ru = os.wait4(proc.pid, 0)
    assert status == 0, status
    summary = json.loads(out.decode().strip().splitlines()[-1])
    assert summary["event"] == "summary", summary
    return watch_bench.cpu(ru), summary["samples"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--listeners", type=int, default=10)
    ap.add_argument("--interval", default="1ms")
    a = ap.parse_args()
    servers, clients = watch_bench.listeners(a.listeners, 3)
    ports = [s.getsockname()[1] for s in servers]
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    print(f"# {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}, {os.cpu_count()} CPUs, "
          f"load {' '.join(load)}; listeners={len(ports)} interval={a.interval} seconds={a.seconds}")
    base, plotted, size = [], [], 0
    with tempfile.TemporaryDirectory() as tmp:
        svg = os.path.join(tmp, "watch.svg")
        for i in range(a.runs):
            used, samples = run(ports, a.seconds, a.interval, None)
            base.append(1e6 * used / samples)
            used, samples = run(ports, a.seconds, a.interval, svg)
            plotted.append(1e6 * used / samples)
            size = os.path.getsize(svg)
            print(f"run {i + 1}: plain {base[-1]:.1f} us/sample, --plot {plotted[-1]:.1f} us/sample "
                  f"({samples} samples, {size} bytes of SVG)")
    med = statistics.median
    print(f"median: plain {med(base):.1f} us/sample, --plot {med(plotted):.1f} us/sample; "
          f"ratio {med(plotted) / med(base):.3f}")


if __name__ == "__main__":
    main()

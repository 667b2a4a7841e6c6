#!/usr/bin/python3
"""How long one durable 512 KiB journal append takes on this file system, per way of making it durable: write +
fdatasync (what the intake journal does), O_DIRECT + fdatasync, O_DIRECT|O_DSYNC, O_DSYNC. The file is written with
zeros first (as the journal preallocates), so no write allocates. Median, p10 and p90 of N appends per mode; the
modes alternate for two rounds. Used for docs/benchmarks.md (issue 16, whether O_DIRECT would lower the flush).

    /usr/bin/python3 bench/journal-write-modes.py [/tmp/journal-modes.dat] [--n 300]
"""
import argparse
import mmap
import os
import statistics
import time

p = argparse.ArgumentParser()
p.add_argument("path", nargs="?", default="/tmp/journal-modes.dat")
p.add_argument("--n", type=int, default=300)
a = p.parse_args()
n, size = a.n, 512 * 1024 + 4096  # a 512x512 int16 CT image and its header, rounded to whole pages for O_DIRECT

fd = os.open(a.path, os.O_RDWR | os.O_CREAT, 0o644)
os.pwrite(fd, bytes(n * size), 0)
os.fsync(fd)
os.close(fd)
buf = mmap.mmap(-1, size)  # page-aligned, as O_DIRECT needs
buf.write(os.urandom(size))


def run(mode):
    flags = os.O_RDWR | (os.O_DIRECT if "direct" in mode else 0) | (os.O_DSYNC if "dsync" in mode else 0)
    fd = os.open(a.path, flags)
    ms = []
    for i in range(n):
        t = time.perf_counter()
        os.pwrite(fd, buf, i * size)
        if "dsync" not in mode:
            os.fdatasync(fd)
        ms.append((time.perf_counter() - t) * 1000)
    os.close(fd)
    ms.sort()
    return f"{mode:14s} median {statistics.median(ms):.3f} ms  p10 {ms[n // 10]:.3f}  p90 {ms[9 * n // 10]:.3f}"


try:
    for _ in range(2):
        for m in ("buffered", "direct", "direct+dsync", "dsync"):
            print(run(m), flush=True)
finally:
    os.unlink(a.path)

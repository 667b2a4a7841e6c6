#!/usr/bin/python3
"""What writing a new 512 KiB file costs, through the page cache (as storescp and a buffered filing write it) and around
it (O_DIRECT from a page-aligned buffer, whole blocks, then cut to length: what the study store's filing after the
answer does, Store:UncachedFiling): wall-clock median and p90 per file and process CPU per file, 133 files per mode
(one LIDC-IDRI-0001 series), the modes alternated for three rounds. Used for docs/benchmarks.md (issue 16, "filing
around the page cache"). The folder must be on the file system under test (not /tmp if that is tmpfs).

    /usr/bin/python3 bench/new-file-write-modes.py DIR
"""
import mmap
import os
import statistics
import sys
import time

d = sys.argv[1]
n, size, padded = 133, 525_000, 528_384  # a 512x512 int16 slice with its header; rounded up to 4 KiB blocks
buf = mmap.mmap(-1, padded)  # page-aligned, as O_DIRECT needs
buf.write(os.urandom(padded))
mv = memoryview(buf)


def run(mode, r):
    sub = os.path.join(d, f"{mode}{r}")
    os.makedirs(sub)
    wall = []
    c0 = time.process_time()
    for i in range(n):
        t = time.perf_counter()
        p = os.path.join(sub, f"{i}.dcm")
        if mode == "buffered":
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(fd, mv[:size])
        else:
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_DIRECT, 0o644)
            os.write(fd, mv[:padded])
            os.ftruncate(fd, size)
        os.close(fd)
        wall.append((time.perf_counter() - t) * 1000)
    cpu = (time.process_time() - c0) * 1000 / n
    wall.sort()
    return f"{mode:9s} wall median {statistics.median(wall):.3f} ms  p90 {wall[int(n * .9)]:.3f}  CPU per file {cpu:.3f} ms"


os.makedirs(d, exist_ok=True)
try:
    for r in range(3):
        for m in ("buffered", "direct"):
            print(run(m, r), flush=True)
finally:
    for r in range(3):
        for m in ("buffered", "direct"):
            sub = os.path.join(d, f"{m}{r}")
            if os.path.isdir(sub):
                for f in os.listdir(sub):
                    os.unlink(os.path.join(sub, f))
                os.rmdir(sub)

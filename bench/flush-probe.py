#!/usr/bin/python3
"""How long this disk takes to make a write durable, the floor under the intake journal (docs/benchmarks.md, "The
intake journal"): a 256 MiB preallocated, synced file in DIR (default: the current folder; removed at the end), and
150 rounds each of: A) 532 KB written + fdatasync (one CT slice, as the journal does); B) the same with the write-back
waited for first (sync_file_range), so the fdatasync is the cache flush alone; C) 4 KB + fdatasync; D) 128 KiB pieces
written and their write-back started as they come, then one fdatasync. Prints median, 10th/90th percentile and mean ms.
    /usr/bin/python3 bench/flush-probe.py [DIR]
"""
import os, sys, time, ctypes, statistics
libc = ctypes.CDLL("libc.so.6", use_errno=True)
SFR_WAIT_BEFORE, SFR_WRITE, SFR_WAIT_AFTER = 1, 2, 4
path = os.path.join(sys.argv[1] if len(sys.argv) > 1 else ".", "flush-probe.bin")
size = 256 << 20
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
buf = os.urandom(532 * 1024 // 4096 * 4096 + 4096)
if os.fstat(fd).st_size < size:
    z = b"\0" * (1 << 20)
    for i in range(size >> 20): os.write(fd, z)
    os.fsync(fd)
def run(label, fn, n=150):
    off = 0; ts = []; ts2 = []
    for i in range(n):
        t0 = time.perf_counter(); t1 = fn(off); t2 = time.perf_counter()
        ts.append((t2 - t0) * 1000); ts2.append((t2 - t1) * 1000)
        off = (off + len(buf)) % (size - len(buf))
    q = statistics.quantiles(ts, n=10)
    print(f"{label}: total median {statistics.median(ts):.3f} (p10 {q[0]:.3f} p90 {q[-1]:.3f}) mean {statistics.mean(ts):.3f}; final-flush median {statistics.median(ts2):.3f} mean {statistics.mean(ts2):.3f}")
def a(off):
    os.pwrite(fd, buf, off); t = time.perf_counter(); os.fdatasync(fd); return t
def b(off):
    os.pwrite(fd, buf, off); libc.sync_file_range(fd, ctypes.c_longlong(off), ctypes.c_longlong(len(buf)), SFR_WAIT_BEFORE|SFR_WRITE|SFR_WAIT_AFTER); t = time.perf_counter(); os.fdatasync(fd); return t
def c(off):
    os.pwrite(fd, buf[:4096], off); t = time.perf_counter(); os.fdatasync(fd); return t
def d(off):
    # chunks of 128 KiB written and their write-back started as they come (as P-DATA would), then one flush
    step = 128 << 10
    for s in range(0, len(buf), step):
        os.pwrite(fd, buf[s:s+step], off + s)
        libc.sync_file_range(fd, ctypes.c_longlong(off + s), ctypes.c_longlong(step), SFR_WRITE)
    t = time.perf_counter(); os.fdatasync(fd); return t
for r in range(2):
    run("A write 532K + fdatasync", a)
    run("B write + sfr wait + fdatasync", b)
    run("C 4K + fdatasync", c)
    run("D 128K chunks + sfr start, fdatasync", d)
os.close(fd); os.unlink(path)

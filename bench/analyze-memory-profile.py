#!/usr/bin/python3
"""Resident memory of one `medainode analyze` over time, and its peak within each analysis stage.

Samples VmRSS from /proc/PID/status every 20 ms while the analysis runs, then places the stages from the run's own
stage times (measurements.json, "timing") ending 0.6 s before the process exits (writing the outputs), and prints the
peak RSS in each. The placement is approximate: time no stage counts (loading the model, collections, writing) shifts
the stages, so a peak near a boundary can land in the neighbouring stage. The chest CT's peak that this shows under
"postprocess" is the end of the model run (docs/benchmarks.md, "where the peak is"). Usage (after `dotnet build -c Release src/MedAiNode.Worker`):
  /usr/bin/python3 bench/analyze-memory-profile.py SERIES_FOLDER OUT_FOLDER [--model ct-lung-quant] [--runs 3] [--summary]
Environment variables (DOTNET_GCConserveMemory=0, DOTNET_GCHeapHardLimit=...) pass through to the analysis.
"""
import argparse, json, os, re, shutil, statistics, subprocess, time

STAGES = ["select", "assemble", "preprocess", "inference", "postprocess", "measure", "results"]
WRITE_TAIL_S = 0.6

def run_once(dll, series, out, model, summary):
    shutil.rmtree(out, ignore_errors=True)
    cmd = ["dotnet", dll, "analyze", series, "--out", out, "--model", model] + ([] if summary else ["--no-summary"])
    t0 = time.time()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    samples = []
    while p.poll() is None:
        try:
            with open(f"/proc/{p.pid}/status") as f:
                rss = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) / 1024
            samples.append((time.time() - t0, rss))
        except (OSError, AttributeError):
            pass
        time.sleep(0.02)
    end = time.time() - t0
    if p.returncode != 0:
        raise SystemExit(f"analyze exited {p.returncode}: {p.stderr.read()[-2000:]}")
    timing = json.load(open(os.path.join(out, "measurements.json")))["timing"]
    stages = timing["stages"]
    start = end - WRITE_TAIL_S - sum(stages[k] for k in STAGES)
    peaks, at = {}, start
    for k in STAGES:
        window = [r for (x, r) in samples if at <= x < at + stages[k]]
        peaks[k] = max(window) if window else float("nan")
        at += stages[k]
    return max(r for _, r in samples), timing["totalSeconds"], peaks

def main():
    a = argparse.ArgumentParser()
    a.add_argument("series"); a.add_argument("out")
    a.add_argument("--model", default="ct-lung-quant"); a.add_argument("--runs", type=int, default=3)
    a.add_argument("--summary", action="store_true", help="also write the summary images (left out by default)")
    a.add_argument("--dll", default=os.path.join(os.path.dirname(__file__), "..", "src", "MedAiNode.Worker", "bin", "Release", "net10.0", "medainode.dll"))
    args = a.parse_args()
    peaks, totals = [], []
    for i in range(args.runs):
        peak, total, by_stage = run_once(args.dll, args.series, args.out, args.model, args.summary)
        peaks.append(peak); totals.append(total)
        print(f"run {i + 1}: peak {peak:.0f} MiB, analysis {total:.1f} s; by stage: " +
              ", ".join(f"{k} {v:.0f}" for k, v in by_stage.items()) + f"; load {os.getloadavg()[0]:.2f}")
    print(f"peak RSS median {statistics.median(peaks):.0f} MiB ({min(peaks):.0f}-{max(peaks):.0f}); "
          f"analysis median {statistics.median(totals):.1f} s ({min(totals):.1f}-{max(totals):.1f})")

if __name__ == "__main__":
    main()

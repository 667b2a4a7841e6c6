"""Times the upstream BLAST-CT PyTorch network (upstream code, eager, torch.no_grad) on given tiles of the shared head CT.
Called by bench/MedAiNode.Bench.Blast (compare); prints one JSON line {"seconds": ..., "torch": ...}.
/usr/bin/python3 upstream_bench.py --threads 2 --tile 170 --member 1 --tiles "0,90,0;90,90,0"
"""
import argparse, json, os, sys, time
import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
repo = os.path.dirname(os.path.dirname(here))
sys.path.insert(0, os.path.join(repo, "models", "blast-ct-v1"))
import build  # noqa: E402  (loads the upstream network and cuts head tiles the same way as the exporter)

ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--tile", type=int, default=170)
ap.add_argument("--member", type=int, default=1)
ap.add_argument("--tiles", required=True)
a = ap.parse_args()
torch.set_num_threads(a.threads)
model = build.load_upstream(build.DEFAULT_UPSTREAM, a.member)
margin = build.MARGIN // 2
tiles = [build.head_tile(a.tile, [int(c) - margin for c in t.split(",")]) for t in a.tiles.split(";")]
start = time.perf_counter()
with torch.no_grad():
    for x in tiles:
        model(x)
print(json.dumps({"seconds": time.perf_counter() - start, "torch": torch.__version__, "threads": torch.get_num_threads()}))

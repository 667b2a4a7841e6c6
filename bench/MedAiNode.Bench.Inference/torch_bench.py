"""PyTorch side of the U-Net benchmark: the same network (same seed, same weights) on the same 96^3 patches.
Usage: /usr/bin/python3 torch_bench.py THREADS PATCHES   -> prints one JSON line."""
import json, os, sys, time
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models", "unet-bench"))
import build  # noqa: E402

threads, patches = int(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(threads)
torch.manual_seed(0)
model = build.UNet().eval()
rng = np.random.default_rng(7)
data = [torch.from_numpy(rng.standard_normal((1, 1, 96, 96, 96), dtype=np.float32)) for _ in range(patches)]
with torch.inference_mode():
    model(data[0])  # warm-up
    times = []
    for x in data:
        t = time.perf_counter()
        model(x)
        times.append(time.perf_counter() - t)
print(json.dumps({"threads": torch.get_num_threads(), "patches": patches, "mean_s": sum(times) / len(times), "min_s": min(times), "torch": torch.__version__}))

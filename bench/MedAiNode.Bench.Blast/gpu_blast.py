# Upstream BLAST-CT (PyTorch) on a GPU, for docs/benchmarks.md "BLAST-CT v1": model_1 on the whole shared head with the
# reference's 170^3 -> 90^3 tiling in FP32, TF32 and FP16 autocast, and 110^3 in FP32; label agreement with the shared
# reference and with each other; GPU time (median of 3) and peak memory. Run on a CUDA machine from a folder holding
# blast_ct/ (the upstream package with data/config.json and data/saved_models/model_1.pt, from
# ../shared/data/models/blast-ct-v1/upstream) and data.npz (head = head_ct_1mm_lps.nii.gz's int16 array, ref = the
# reference argmax, both as nibabel reads them, x y z): python3 gpu_blast.py; writes gpu_blast.json to $OUT or here.
import json, os, sys, time, numpy as np, torch
here = os.path.dirname(os.path.abspath(__file__)); sys.path.insert(0, here)
from blast_ct.models.deepmedic import DeepMedic
cfg = json.load(open(os.path.join(here, 'blast_ct/data/config.json')))
m = DeepMedic(cfg['data']['input_channels'], cfg['data']['num_classes'], **cfg['model']['DeepMedic'])
m.load_state_dict(torch.load(os.path.join(here, 'blast_ct/data/saved_models/model_1.pt'), map_location='cpu')); m.eval().cuda()
z = np.load(os.path.join(here, 'data.npz')); hu = z['head'].astype(np.float32); ref = z['ref']
v = (2 * np.clip(hu, -15, 100) - 85) / 115
out = {'gpu': torch.cuda.get_device_name(0), 'torch': torch.__version__}
def run(T, mode):
    o = T - 80
    torch.backends.cudnn.allow_tf32 = mode == 'tf32'; torch.backends.cuda.matmul.allow_tf32 = mode == 'tf32'
    torch.backends.cudnn.benchmark = True
    lab = np.zeros(v.shape, np.uint8); starts = [list(range(0, n, o)) for n in v.shape]
    tiles = [(x, y, zz) for x in starts[0] for y in starts[1] for zz in starts[2]]
    def one(t):
        idx = [np.clip(np.arange(s - 40, s - 40 + T), 0, n - 1) for s, n in zip(t, v.shape)]
        x = torch.from_numpy(np.ascontiguousarray(v[np.ix_(*idx)].transpose(2, 1, 0)))[None, None].cuda()
        with torch.no_grad(), torch.autocast('cuda', dtype=torch.float16, enabled=mode == 'fp16'):
            r, _ = m(x)
        return r.float()[0].argmax(0).cpu().numpy().transpose(2, 1, 0)
    one(tiles[0]); torch.cuda.synchronize()
    times = []
    for rep in range(3):
        t0 = time.time()
        for t in tiles:
            a = one(t); sl = tuple(slice(s, min(s + o, n)) for s, n in zip(t, v.shape))
            lab[sl] = a[tuple(slice(0, e.stop - e.start) for e in sl)]
        torch.cuda.synchronize(); times.append(time.time() - t0)
    return lab, sorted(times), len(tiles)
labs = {}
for T, mode in [(170, 'fp32'), (170, 'tf32'), (170, 'fp16'), (110, 'fp32')]:
    lab, times, n = run(T, mode); labs[(T, mode)] = lab
    u = (lab > 0) | (ref > 0)
    out[f'{T}-{mode}'] = {'tiles': n, 'seconds_median': times[1], 'seconds_min': times[0], 'seconds_max': times[2],
        'vs_reference_all': float((lab == ref).mean()), 'vs_reference_lesion': float((lab[u] == ref[u]).mean()),
        'counts': np.bincount(lab.ravel(), minlength=5).tolist()}
    print(T, mode, out[f'{T}-{mode}'], flush=True)
b = labs[(170, 'fp32')]
for k, lab in labs.items():
    u = (lab > 0) | (b > 0)
    out[f'{k[0]}-{k[1]}-vs-170-fp32-lesion'] = float((lab[u] == b[u]).mean()) if u.any() else 1.0
out['peak_gpu_mib'] = torch.cuda.max_memory_allocated() / 2**20
print(json.dumps(out, indent=1))
json.dump(out, open(os.path.join(os.environ.get('OUT', '.'), 'gpu_blast.json'), 'w'), indent=1)

"""Exports BLAST-CT v1 (DeepMedic, biomedia-mira/blast-ct, Apache-2.0, Copyright 2020 Imperial College London;
Monteiro et al., Lancet Digital Health 2020) to ONNX, one file per ensemble member, and writes their SHA-256 into
manifest.json (model_1 alone) and ../blast-ct-v1-ensemble/manifest.json (all members).

The upstream forward computes its crops from tensor shapes at run time; here every crop is fixed for one tile size
(input 80+30k -> output 30k per axis), so the graph holds only constant slices. Weights are the upstream state dicts,
unchanged, in float32. Run with Debian's python3-torch and python3-onnx:

    /usr/bin/python3 models/blast-ct-v1/build.py [--upstream DIR] [--tile 110] [--members 1 2 3] [--check]

DIR defaults to ../shared/data/models/blast-ct-v1/upstream (the upstream checkout, not in this repository).
Input  "image"  float32 [N, 1, T, T, T] (z, y, x of a 1 mm LPS grid, HU clipped to [-15, 100] mapped to [-1, 1]).
Output "logits" float32 [N, 5, T-80, T-80, T-80], the centre of the input tile; softmax + argmax give
0 background, 1 intraparenchymal haemorrhage, 2 extra-axial haemorrhage, 3 perilesional oedema,
4 intraventricular haemorrhage.
--check compares each exported graph with the upstream eager forward on a real head-CT tile (ONNX Runtime when
the onnxruntime module is importable) and writes export-check.json, which the C# tests replay through ONNX Runtime.
"""
import argparse
import hashlib
import json
import os
import re
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_UPSTREAM = os.path.join(REPO, "..", "shared", "data", "models", "blast-ct-v1", "upstream")
MARGIN = 80  # input - output per axis (the scale-5 path's field of view)


def load_upstream(upstream, member):
    sys.path.insert(0, upstream)
    from blast_ct.models.deepmedic import DeepMedic
    with open(os.path.join(upstream, "blast_ct", "data", "config.json")) as f:
        config = json.load(f)
    data, kw = config["data"], config["model"]["DeepMedic"]
    model = DeepMedic(data["input_channels"], data["num_classes"], **kw)
    state = torch.load(os.path.join(upstream, "blast_ct", "data", "saved_models", f"model_{member}.pt"), map_location="cpu")
    model.load_state_dict(state)
    return model.eval()


def crop_static(x, size_in, size_out):
    """Upstream crop_center with the sizes known in advance: constant slices in the graph."""
    if tuple(size_in) == tuple(size_out):
        return x
    sl = [slice(c // 2 - s // 2, c // 2 + s // 2 + s % 2) for c, s in zip(size_in, size_out)]
    return x[:, :, sl[0], sl[1], sl[2]]


class FixedTile(torch.nn.Module):
    """The upstream DeepMedic forward for one input size, every crop precomputed from the upstream size rules."""

    def __init__(self, model, tile):
        super().__init__()
        self.model = model
        self.tile = (tile, tile, tile)
        self.output_size = model.get_output_size(self.tile)  # raises for sizes other than 80+30k
        self.plans = []
        for path in model.paths:
            path_in = path.calculate_input_size(self.output_size)
            path_out = path.calculate_output_size(path_in)
            self.plans.append((path_in, path_out))

    def forward(self, image):
        activations = []
        for path, (path_in, path_out) in zip(self.model.paths, self.plans):
            out = crop_static(image, self.tile, path_in)
            out = path.path(out)
            activations.append(crop_static(out, path_out, self.output_size))
        out = torch.cat(activations, dim=1)
        return self.model.fully_connected(out)


def export(model, tile, path):
    wrapped = FixedTile(model, tile).eval()
    dummy = torch.zeros(1, 1, tile, tile, tile)
    with torch.no_grad():
        torch.onnx.export(wrapped, dummy, path, input_names=["image"], output_names=["logits"],
                          dynamic_axes={"image": {0: "n"}, "logits": {0: "n"}}, opset_version=13,
                          do_constant_folding=True)
    import onnx
    onnx.checker.check_model(onnx.load(path))
    return wrapped


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def head_tile(tile, origin):
    """The shared head CT (1 mm LPS, x fastest), normalised as upstream, cut to one edge-padded tile as [1,1,z,y,x]."""
    import nibabel as nib
    shared = os.path.join(REPO, "..", "shared", "data", "models", "blast-ct-v1", "head_ct_1mm_lps.nii.gz")
    hu = np.asarray(nib.load(shared).dataobj, dtype=np.float32)  # (x, y, z)
    v = (2.0 * np.clip(hu, -15.0, 100.0) - (-15.0) - 100.0) / (100.0 - (-15.0))
    idx = [np.clip(np.arange(o, o + tile), 0, n - 1) for o, n in zip(origin, v.shape)]
    t = v[np.ix_(idx[0], idx[1], idx[2])]  # (x, y, z)
    return torch.from_numpy(np.ascontiguousarray(t.transpose(2, 1, 0)))[None, None]


def update_manifest(files, tile):
    """blast-ct-v1 runs the first member alone (a head in about a minute on two cores); blast-ct-v1-ensemble all of them."""
    for folder, chosen, prefix in ((HERE, files[:1], ""), (os.path.join(os.path.dirname(HERE), "blast-ct-v1-ensemble"), files, "../blast-ct-v1/")):
        path = os.path.join(folder, "manifest.json")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            text = f.read()
        members = ",\n".join(f'    {{ "file": "{prefix}{name}", "sha256": "{digest}" }}' for name, digest in chosen)
        text = re.sub(r'"ensemble": \[[^\]]*\]', '"ensemble": [\n' + members + "\n  ]", text, flags=re.S)
        text = re.sub(r'"patchSize": \[[^\]]*\]', f'"patchSize": [{tile}, {tile}, {tile}]', text)
        text = re.sub(r'"outputSize": \[[^\]]*\]', f'"outputSize": [{tile - MARGIN}, {tile - MARGIN}, {tile - MARGIN}]', text)
        with open(path, "w") as f:
            f.write(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", default=DEFAULT_UPSTREAM)
    ap.add_argument("--tile", type=int, default=110)
    ap.add_argument("--members", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--no-manifest", action="store_true")
    args = ap.parse_args()
    if (args.tile - MARGIN) % 30 != 0 or args.tile <= MARGIN:
        sys.exit(f"--tile must be 80+30k (110, 140, 170, ...), got {args.tile}")
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    files, checks = [], []
    # A tile over the brain with the reference's lesions in it: output tile starting at (90, 90, 90).
    origin_out = (90, 90, 90)
    for member in args.members:
        model = load_upstream(args.upstream, member)
        name = f"blast-ct-v1-m{member}-t{args.tile}.onnx"
        path = os.path.join(args.out, name)
        wrapped = export(model, args.tile, path)
        files.append((name, sha256(path)))
        print(f"{name}: {os.path.getsize(path):,} bytes, sha256 {files[-1][1]}")
        if args.check:
            x = head_tile(args.tile, [o - MARGIN // 2 for o in origin_out])
            with torch.no_grad():
                upstream_out, _ = model(x)  # the upstream forward, crops from shapes
                fixed = wrapped(x)
            assert torch.equal(upstream_out, fixed), "fixed-crop forward differs from the upstream forward"
            ref = upstream_out.numpy()
            try:
                import onnxruntime as ort
                so = ort.SessionOptions()
                sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
                got = sess.run(["logits"], {"image": x.numpy()})[0]
                diff = float(np.abs(got - ref).max())
                agree = float((got.argmax(1) == ref.argmax(1)).mean())
                print(f"  ONNX Runtime vs PyTorch: max |logit diff| {diff:.2e}, argmax agreement {agree:.6f}")
                assert diff < 1e-3
            except ImportError:
                print("  (python onnxruntime not installed: the C# test replays export-check.json through ONNX Runtime)")
            # A fixed sample of output voxels (z, y, x in the output tile) with their upstream logits.
            rng = np.random.default_rng(15)
            o = ref.shape[2]
            pts = rng.integers(0, o, size=(64, 3)).tolist()
            lesion = np.argwhere(ref[0].argmax(0) > 0)[:16].tolist()
            pts += lesion
            checks.append({"file": name, "voxels": pts,
                           "logits": [[float(ref[0, c, z, y, xx]) for c in range(ref.shape[1])] for z, y, xx in pts],
                           "argmaxCounts": np.bincount(ref[0].argmax(0).ravel(), minlength=ref.shape[1]).tolist()})
    if args.check:
        with open(os.path.join(args.out, "export-check.json"), "w") as f:
            json.dump({"tile": args.tile, "outputOrigin": list(origin_out), "padding": "edge",
                       "note": "upstream PyTorch logits on the shared head CT tile whose output starts at outputOrigin (x, y, z); voxels are (z, y, x) in the output tile",
                       "members": checks}, f, indent=1)
    if not args.no_manifest and args.out == HERE:
        update_manifest(files, args.tile)


if __name__ == "__main__":
    main()

"""Builds ct-lung-quant.onnx: body, left lung, right lung and airway from CT HU with thresholds and morphology.

No training: every step is a fixed operation (thresholds, separable max-pool dilation/erosion, directional
"enclosed by tissue" fills, the body's centre line for left/right) written as a PyTorch module and exported to ONNX.
Run with Debian's python3-torch and python3-onnx:  /usr/bin/python3 models/ct-lung-quant/build.py
Input  "ct"     float32 [1, 1, z, y, x]: HU on a 2 mm LPS grid (x towards patient left, y posterior, z superior).
Output "labels" float32 [1, 1, z, y, x]: 0 background, 1 body, 2 left lung, 3 right lung, 4 airway (manifest output.kind
"labels": the graph's own argmax). Until 2026-12-02 it returned five score channels (background 0.5, body 1, lungs 2,
airway 3) for the node's argmax; the class map now comes straight from the masks, the same labels voxel for voxel, and
the network's peak memory no longer holds five channels and their concatenation (docs/benchmarks.md).
"""
import hashlib
import json
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
SPACING_MM = 2.0


def vox(mm):
    return max(1, int(round(mm / SPACING_MM)))


def dilate(m, r):
    """Cube dilation of radius r voxels, separable (three 1-D max pools)."""
    k = 2 * r + 1
    m = F.max_pool3d(m, (k, 1, 1), stride=1, padding=(r, 0, 0))
    m = F.max_pool3d(m, (1, k, 1), stride=1, padding=(0, r, 0))
    return F.max_pool3d(m, (1, 1, k), stride=1, padding=(0, 0, r))


def erode(m, r):
    return 1.0 - dilate(1.0 - m, r)


def seen_before(m, dim, reverse):
    """1 where some voxel at a lower (or higher) index along dim is set (the voxel itself included).

    A cumulative sum of the 0/1 mask (whole numbers, exact in float32) instead of a cumulative max by doubling shifts:
    the same values, but ONNX Runtime no longer holds the padded and shifted copies at once, which made this graph's
    tensors take about twice as much memory as they do now (docs/benchmarks.md).
    """
    c = torch.cumsum(m, dim)
    if reverse:
        c = c.narrow(dim, c.shape[dim] - 1, 1) - c + m  # count at or after each index
    return (c > 0.5).float()


class LungQuant(torch.nn.Module):
    def forward(self, ct):
        tissue = (ct > -500.0).float()
        # Inside the body in each axial plane: tissue somewhere left, right, in front and behind.
        inside = seen_before(tissue, 4, False) * seen_before(tissue, 4, True) * seen_before(tissue, 3, False) * seen_before(tissue, 3, True)
        body = erode(dilate(inside, vox(4)), vox(4))            # close small gaps in the skin line
        body = dilate(erode(body, vox(6)), vox(6))              # open: drops the table and cables
        core = erode(body, vox(6))                              # keep away from skin folds

        air = (ct < -400.0).float() * core
        # Parenchyma survives an opening wider than the airways; trachea and main bronchi do not.
        wide = dilate(erode(air, vox(10)), vox(10))
        very_dark = (ct < -930.0).float()

        # Body centre line (x index of its centre of mass) splits left from right.
        w = ct.shape[4]
        xs = torch.arange(w, dtype=torch.float32).view(1, 1, 1, 1, w)
        cx = (body * xs).sum() / body.sum().clamp(min=1.0)
        central = ((xs - cx).abs() < (25.0 / SPACING_MM)).float()
        airway = air * (1.0 - wide) * very_dark * central

        # Bowel and stomach gas is pure air (about -1000 HU) over whole centimetres; aerated lung never is, because
        # vessels and septa keep its local mean near -850. Their surroundings are excluded as well.
        local_mean = F.avg_pool3d(ct, 2 * vox(4) + 1, stride=1, padding=vox(4), count_include_pad=False)
        gas = dilate((local_mean < -960.0).float() * (1.0 - central), vox(6))
        # Aerated lung lies between -970 and -400 HU; thin shells of partial volume around gas pockets do not
        # survive a small opening, the parenchyma does.
        parenchyma = air * (ct > -970.0).float() * (1.0 - airway) * (1.0 - gas)
        parenchyma = dilate(erode(parenchyma, 1), 1)
        left_side = (xs > cx).float()
        left = erode(dilate(parenchyma * left_side, vox(4)), vox(4)) * body * left_side * (1.0 - airway)
        right = erode(dilate(parenchyma * (1.0 - left_side), vox(4)), vox(4)) * body * (1.0 - left_side) * (1.0 - airway)

        # The masks are 0/1 and exclusive where it matters: the lungs and the airway lie in the body, the lungs exclude
        # the airway and each other. So the sum is the argmax the five score channels gave (airway 4 over lung over
        # body 1 over background 0), exact in float32.
        return body + left + 2.0 * right + 3.0 * airway


def main():
    out = os.path.join(HERE, "ct-lung-quant.onnx")
    model = LungQuant().eval()
    dummy = torch.full((1, 1, 40, 64, 64), -1000.0)
    torch.onnx.export(model, dummy, out, input_names=["ct"], output_names=["labels"], opset_version=13,
                      dynamic_axes={"ct": {0: "n", 2: "z", 3: "y", 4: "x"}, "labels": {0: "n", 2: "z", 3: "y", 4: "x"}})
    digest = hashlib.sha256(open(out, "rb").read()).hexdigest()
    # ct-body runs the same file for its body label.
    for manifest_path in (os.path.join(HERE, "manifest.json"), os.path.join(HERE, "..", "ct-body", "manifest.json")):
        with open(manifest_path) as f:
            text = f.read()
        old = json.loads(text)["onnx"]["sha256"]
        if old != digest:
            with open(manifest_path, "w") as f:
                f.write(text.replace(old, digest))
    print(out, digest)


if __name__ == "__main__":
    sys.exit(main())

"""Renders the axial slice with the most lesion voxels of a BLAST-CT label map over its head CT (brain window), ours
beside the reference when given. /usr/bin/python3 overlay.py CT.nii.gz LABELS.nii.gz OUT.png [REFERENCE.nii.gz]"""
import sys
import numpy as np
import nibabel as nib
from PIL import Image

COLOURS = {1: (220, 40, 40), 2: (255, 160, 0), 3: (80, 200, 255), 4: (200, 0, 200)}
ct = np.asarray(nib.load(sys.argv[1]).dataobj, dtype=np.float32)
maps = [np.asarray(nib.load(p).dataobj) for p in [sys.argv[2]] + sys.argv[4:5]]
z = int(np.argmax((maps[0] > 0).sum(axis=(0, 1))))
grey = np.clip((ct[:, :, z] - 0) / 80.0, 0, 1) * 255  # window 40/80 HU
panels = []
for labels in maps:
    rgb = np.repeat(grey[..., None], 3, axis=2)
    for value, colour in COLOURS.items():
        m = labels[:, :, z] == value
        rgb[m] = 0.4 * rgb[m] + 0.6 * np.array(colour)
    # x (towards patient left) to the right of the screen, y (posterior) downward: radiological view flips x.
    panels.append(np.flipud(np.rot90(rgb.astype(np.uint8)))[:, ::-1])
img = Image.fromarray(np.concatenate(panels, axis=1)).resize((panels[0].shape[1] * 2 * len(panels), panels[0].shape[0] * 2), Image.NEAREST)
img.save(sys.argv[3])
print(f"slice z={z}: lesion voxels {[(int((m[:, :, z] == v).sum())) for m in maps for v in COLOURS]}")

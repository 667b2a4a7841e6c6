#!/usr/bin/python3
"""A thin-slice chest CT of the size issue 16 names (300 slices of 512x512, 150 MiB of int16) for the memory
benchmark, made from a real one: LIDC-IDRI-0001 (133 slices at 2.5 mm) resampled in z by linear interpolation to N
slices over the same extent (300: 1.10 mm apart). Also makes a thin head CT of the same size from the tilted one
(--source ../shared/data/ct/ge-head-tilt-varspacing), for the head model's memory. Every other attribute is the source's; each file gets new Study,
Series and SOP Instance UIDs. Nothing is written into the repository (the data's licence is in ../shared/data/README.md).

    /usr/bin/python3 bench/make-thin-chest.py OUT_DIR [--slices 300] [--source ../shared/data/ct/lidc-idri-0001-chest]
"""
import argparse
import glob
import os

import numpy as np
import pydicom
from pydicom.uid import generate_uid

here = os.path.dirname(os.path.abspath(__file__))
default_source = os.path.join(os.environ.get("MEDAINODE_SHARED_DATA", os.path.join(here, "..", "..", "shared", "data")),
                              "ct", "lidc-idri-0001-chest")
p = argparse.ArgumentParser()
p.add_argument("out")
p.add_argument("--slices", type=int, default=300)
p.add_argument("--source", default=default_source)
a = p.parse_args()

files = [pydicom.dcmread(f) for f in glob.glob(os.path.join(a.source, "*.dcm"))]
files.sort(key=lambda d: float(d.ImagePositionPatient[2]))
if len({(str(d.RescaleSlope), str(d.RescaleIntercept)) for d in files}) != 1:
    raise SystemExit("slices with different rescale: interpolating stored values would be wrong")
z = np.array([float(d.ImagePositionPatient[2]) for d in files])
vol = np.stack([d.pixel_array for d in files]).astype(np.float32)
new_z = np.linspace(z[0], z[-1], a.slices)
spacing = new_z[1] - new_z[0]
study, series = generate_uid(), generate_uid()
os.makedirs(a.out, exist_ok=True)
template = files[0]
dtype = template.pixel_array.dtype
for n, zz in enumerate(new_z):
    k = min(int(np.searchsorted(z, zz, side="right")) - 1, len(z) - 2)
    t = (zz - z[k]) / (z[k + 1] - z[k])
    plane = np.rint((1 - t) * vol[k] + t * vol[k + 1]).astype(dtype)
    d = pydicom.dcmread(os.path.join(a.source, os.path.basename(files[k].filename)))
    d.StudyInstanceUID, d.SeriesInstanceUID = study, series
    d.SOPInstanceUID = d.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    d.InstanceNumber = n + 1
    # x and y interpolated too: on a tilted series (the head CT) each slice's corner moves in y with z.
    # Where the two neighbours agree (an axial series), the value as the source has it.
    a0, a1 = ([float(v) for v in files[j].ImagePositionPatient] for j in (k, k + 1))
    xy = [a0[i] if a0[i] == a1[i] else float(f"{(1 - t) * a0[i] + t * a1[i]:.4f}") for i in (0, 1)]
    d.ImagePositionPatient = [xy[0], xy[1], float(f"{zz:.4f}")]
    d.SliceLocation = f"{zz:.4f}"
    d.SliceThickness = f"{spacing:.4f}"
    d.PixelData = plane.tobytes()
    d.save_as(os.path.join(a.out, f"{n + 1:06d}.dcm"))
print(f"{a.slices} slices, {spacing:.3f} mm apart, in {a.out}")

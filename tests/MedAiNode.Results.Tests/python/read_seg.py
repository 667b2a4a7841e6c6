"""Reads a SEG with pydicom (the system's /usr/bin/python3) and writes the mask it gives back on the source grid.

argv: seg.dcm out.bin source_dir
out.bin: for each source SOP Instance UID with a frame, sorted: the UID, a newline, then rows*cols label bytes.
Also checks, independently of our reader, that every frame sits on its source slice's plane (IPP and IOP).
"""
import os
import sys

import numpy as np
import pydicom

seg = pydicom.dcmread(sys.argv[1])
assert seg.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4", seg.SOPClassUID
assert seg.SegmentationType == "BINARY"
sources = {}
for name in os.listdir(sys.argv[3]):
    if not name.endswith(".dcm"):
        continue
    ds = pydicom.dcmread(os.path.join(sys.argv[3], name), stop_before_pixels=True)
    uid = ds.get("SOPInstanceUID") or ds.file_meta.MediaStorageSOPInstanceUID
    sources[str(uid)] = ds

arr = seg.pixel_array
if arr.ndim == 2:
    arr = arr[None]
assert arr.shape[0] == int(seg.NumberOfFrames)
shared = seg.SharedFunctionalGroupsSequence[0]
out = {}
for i, fg in enumerate(seg.PerFrameFunctionalGroupsSequence):
    uid = str(fg.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID)
    number = int(fg.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
    assert list(fg.FrameContentSequence[0].DimensionIndexValues)[0] == number
    src = sources[uid]
    ipp = [float(v) for v in fg.PlanePositionSequence[0].ImagePositionPatient]
    assert np.allclose(ipp, [float(v) for v in src.ImagePositionPatient], atol=1e-3), (uid, ipp)
    orient = fg.PlaneOrientationSequence[0] if "PlaneOrientationSequence" in fg else shared.PlaneOrientationSequence[0]
    assert np.allclose([float(v) for v in orient.ImageOrientationPatient], [float(v) for v in src.ImageOrientationPatient], atol=1e-5)
    m = out.setdefault(uid, np.zeros(arr.shape[1:], np.uint8))
    on = arr[i] == 1
    assert not (m[on] != 0).any(), "segments overlap in a label-map SEG"
    m[on] = number

with open(sys.argv[2], "wb") as f:
    for uid in sorted(out):
        f.write(uid.encode() + b"\n")
        f.write(out[uid].tobytes())
print("frames", arr.shape[0], "instances", len(out), "segments", len(seg.SegmentSequence))

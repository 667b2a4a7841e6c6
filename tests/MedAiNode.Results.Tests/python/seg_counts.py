"""Per (source SOP Instance UID, segment) voxel counts of a BINARY SEG as pydicom decodes it, one 'uid segment count' line each."""
import sys
from collections import Counter

import pydicom

seg = pydicom.dcmread(sys.argv[1])
arr = seg.pixel_array
if arr.ndim == 2:
    arr = arr[None]
shared = seg.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in seg else None
counts = Counter()
for i, fg in enumerate(seg.PerFrameFunctionalGroupsSequence):
    d = fg.DerivationImageSequence if "DerivationImageSequence" in fg else shared.DerivationImageSequence
    uid = d[0].SourceImageSequence[0].ReferencedSOPInstanceUID
    s = fg.SegmentIdentificationSequence if "SegmentIdentificationSequence" in fg else shared.SegmentIdentificationSequence
    counts[(uid, int(s[0].ReferencedSegmentNumber))] += int((arr[i] == 1).sum())
for (uid, n), c in sorted(counts.items()):
    if c:
        print(uid, n, c)

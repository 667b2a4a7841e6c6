"""Reads our TID 1500 SR with pydicom and prints each measurement group's tracking id, referenced segment and measurements."""
import sys

import pydicom

sr = pydicom.dcmread(sys.argv[1])
assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34", sr.SOPClassUID
assert sr.ContentTemplateSequence[0].TemplateIdentifier == "1500"


def name(item):
    return item.ConceptNameCodeSequence[0].CodeMeaning if "ConceptNameCodeSequence" in item else ""


measurements = [c for c in sr.ContentSequence if name(c) == "Imaging Measurements"][0]
for group in measurements.ContentSequence:
    assert group.ContentTemplateSequence[0].TemplateIdentifier == "1411"
    parts = []
    for c in group.ContentSequence:
        if name(c) == "Tracking Identifier":
            parts.append("id=" + c.TextValue)
        elif name(c) == "Referenced Segment":
            parts.append("segment=%d" % c.ReferencedSOPSequence[0].ReferencedSegmentNumber)
        elif c.ValueType == "NUM":
            mv = c.MeasuredValueSequence[0]
            parts.append("%s=%s[%s]" % (name(c), mv.NumericValue, mv.MeasurementUnitsCodeSequence[0].CodeValue))
        elif c.ValueType == "SCOORD3D":
            parts.append("%s=%s@%s" % (c.GraphicType, "/".join("%.2f" % v for v in c.GraphicData), c.ReferencedFrameOfReferenceUID))
    print("group " + " ".join(parts))

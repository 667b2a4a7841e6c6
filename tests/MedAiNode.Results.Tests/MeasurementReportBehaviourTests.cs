using MedAiNode.Dicom;
using MedAiNode.Results;
using MedAiNode.Results.Reports;
using MedAiNode.Results.Segmentation;

namespace MedAiNode.Results.Tests;

public class MeasurementReportBehaviourTests
{
    private static (SourceSeries Source, SegmentDescription[] Segments, SegmentationResult Seg) Setup()
    {
        var images = Fixtures.SyntheticSeries(5, 16, 16);
        var source = SourceSeries.Create(images);
        var segments = Fixtures.Segments(4);
        var seg = SegmentationWriter.Create(source, segments, Fixtures.SyntheticLabels(images, 4), Fixtures.Algorithm, new SegmentationOptions { UidSeed = "sr-job" });
        return (source, segments, seg);
    }

    private static IEnumerable<DicomDataset> Walk(DicomDataset ds)
    {
        foreach (var item in ds.GetSequence(DicomTags.ContentSequence)?.Items ?? [])
        {
            yield return item;
            foreach (var child in Walk(item)) yield return child;
        }
    }

    private static string? Concept(DicomDataset item) => CodedConcept.FromSequence(item, DicomTags.ConceptNameCodeSequence)?.Meaning;

    [Fact]
    public void Groups_reference_the_seg_segment_and_carry_units_tracking_and_algorithm()
    {
        var (source, segments, seg) = Setup();
        var measurements = new List<SegmentMeasurement>
        {
            new() { SegmentNumber = 1, VolumeMl = 1234.5678, MeanHu = 55.44, LongestDiameterMm = 180.04 },
            new() { SegmentNumber = 3, Laa950Percent = 12.345 },
            new() { SegmentNumber = 4, LesionNumber = 2, VolumeMl = 0.42, CentroidMm = [1.5, -2.25, 30], Finding = new("27925004", "SCT", "Nodule") },
        };
        var sr = MeasurementReportWriter.Create(source, seg, segments, measurements.ToGroups(), Fixtures.Algorithm, new MeasurementReportOptions { UidSeed = "sr-job" });
        var ds = sr.Dataset;
        Assert.Equal(DicomUids.Comprehensive3DSRStorage, ds.GetString(DicomTags.SOPClassUID));
        Assert.Equal(source.StudyInstanceUid, ds.GetString(DicomTags.StudyInstanceUID));
        var groups = Walk(ds).Where(i => Concept(i) == "Measurement Group").ToList();
        Assert.Equal(3, groups.Count);

        var g0 = Walk(groups[0]).ToList();
        var segRef = g0.Single(i => Concept(i) == "Referenced Segment").GetSequence(DicomTags.ReferencedSOPSequence)!.Items[0];
        Assert.Equal(seg.SopInstanceUid, segRef.GetString(DicomTags.ReferencedSOPInstanceUID));
        Assert.Equal(1, segRef.GetValue<int>(DicomTags.ReferencedSegmentNumber));
        Assert.Equal("Liver", g0.Single(i => Concept(i) == "Tracking Identifier").GetString(DicomTags.TextValue));
        Assert.Equal(sr.TrackingUids[0], g0.Single(i => Concept(i) == "Tracking Unique Identifier").GetString(DicomTags.UID));
        var volume = g0.Single(i => Concept(i) == "Volume").GetSequence(DicomTags.MeasuredValueSequence)!.Items[0];
        Assert.Equal("1234.568", volume.GetString(DicomTags.NumericValue));
        Assert.Equal(1234.5678, volume.GetValue<double>(DicomTags.FloatingPointValue)); // the measured value, unrounded
        Assert.Equal("ml", CodedConcept.FromSequence(volume, DicomTags.MeasurementUnitsCodeSequence)!.Value);
        var hu = g0.Single(i => Concept(i) == "Attenuation Coefficient").GetSequence(DicomTags.MeasuredValueSequence)!.Items[0];
        Assert.Equal("[hnsf'U]", CodedConcept.FromSequence(hu, DicomTags.MeasurementUnitsCodeSequence)!.Value);
        Assert.Equal("55.4", hu.GetString(DicomTags.NumericValue));
        Assert.Contains(g0, i => Concept(i) == "Algorithm Name" && i.GetString(DicomTags.TextValue) == Fixtures.Algorithm.Name);
        Assert.Contains(g0, i => Concept(i) == "Algorithm Version" && i.GetString(DicomTags.TextValue) == Fixtures.Algorithm.Version);

        var g1 = Walk(groups[1]).ToList();
        var laa = g1.Single(i => Concept(i) == Groups.Laa950.Meaning).GetSequence(DicomTags.MeasuredValueSequence)!.Items[0];
        Assert.Equal("%", CodedConcept.FromSequence(laa, DicomTags.MeasurementUnitsCodeSequence)!.Value);
        Assert.Equal("99MEDAI", ds.GetSequence(DicomTags.CodingSchemeIdentificationSequence)!.Items[0].GetString(DicomTags.CodingSchemeDesignator));

        var g2 = Walk(groups[2]).ToList();
        Assert.Equal("Nodule lesion 2", g2.Single(i => Concept(i) == "Tracking Identifier").GetString(DicomTags.TextValue));
        Assert.Equal("Nodule", CodedConcept.FromSequence(g2.Single(i => Concept(i) == "Finding"), DicomTags.ConceptCodeSequence)!.Meaning);
        Assert.Equal("Lung", CodedConcept.FromSequence(g2.Single(i => Concept(i) == "Finding Site"), DicomTags.ConceptCodeSequence)!.Meaning);
        var point = g2.Single(i => i.GetString(DicomTags.ValueType) == "SCOORD3D");
        Assert.Equal("POINT", point.GetString(DicomTags.GraphicType));
        Assert.Equal([1.5f, -2.25f, 30f], point.GetValues<float>(DicomTags.GraphicData));
        Assert.Equal(source.FrameOfReferenceUid, point.GetString(DicomTags.ReferencedFrameOfReferenceUID));

        // Image Library lists every source image; evidence lists the sources and the SEG
        var library = Walk(ds).Where(i => i.GetString(DicomTags.ValueType) == "IMAGE" && Concept(i) is null).ToList();
        Assert.Equal(source.Images.Select(i => i.SopInstanceUid), library.Select(i => i.GetSequence(DicomTags.ReferencedSOPSequence)!.Items[0].GetString(DicomTags.ReferencedSOPInstanceUID)));
        var evidence = ds.GetSequence(DicomTags.CurrentRequestedProcedureEvidenceSequence)!.Items[0].GetSequence(DicomTags.ReferencedSeriesSequence)!.Items;
        Assert.Contains(evidence, s => s.GetString(DicomTags.SeriesInstanceUID) == seg.SeriesInstanceUid);
        Assert.Contains(evidence, s => s.GetString(DicomTags.SeriesInstanceUID) == source.SeriesInstanceUid);
    }

    [Fact]
    public void A_group_over_several_segments_ends_with_the_centroid_point_of_their_union()
    {
        var (source, segments, seg) = Setup();
        int[] both = [2, 3];
        var union = new MeasurementGroup
        {
            Segments = both,
            CentroidMm = [1.5, -2.25, 12],
            Measurements = [new Measurement(Codes.Volume, 7.5, Codes.Milliliter) { Labels = both, Modifiers = [new(Codes.MeasurementMethod, Codes.SumOfSegmentedVoxelVolumes)] }],
        };
        var groups = new SegmentMeasurement[] { new() { SegmentNumber = 1, VolumeMl = 12, CentroidMm = [5, 0, 26] } }.ToGroups();
        groups.Add(union);
        var sr = MeasurementReportWriter.Create(source, seg, segments, groups, Fixtures.Algorithm, new MeasurementReportOptions { UidSeed = "union" });
        var group = Walk(sr.Dataset).Where(i => Concept(i) == "Measurement Group").Last();
        Assert.Equal("1501", group.GetSequence(DicomTags.ContentTemplateSequence)!.Items[0].GetString(DicomTags.TemplateIdentifier));
        var items = group.GetSequence(DicomTags.ContentSequence)!.Items;
        // OHIF takes the group's first group-level SCOORD/SCOORD3D as its place; the one here is the union's centroid.
        var point = items.Single(i => i.GetString(DicomTags.ValueType) is "SCOORD3D" or "SCOORD");
        Assert.Same(items[^1], point);
        Assert.Equal("Center of Mass", Concept(point));
        Assert.Equal("CONTAINS", point.GetString(DicomTags.RelationshipType));
        Assert.Equal("POINT", point.GetString(DicomTags.GraphicType));
        Assert.Equal([1.5f, -2.25f, 12f], point.GetValues<float>(DicomTags.GraphicData));
        Assert.Equal(source.FrameOfReferenceUid, point.GetString(DicomTags.ReferencedFrameOfReferenceUID));
        // ... and the first UIDREF in the group is its Tracking Unique Identifier (what OHIF keys the group by).
        Assert.Equal("Tracking Unique Identifier", Concept(items.First(i => i.GetString(DicomTags.ValueType) == "UIDREF")));
        var path = Path.Combine(TestData.TempDir("sr-union"), "sr.dcm");
        sr.File.Save(path);
        Dciodvfy.Check(path, MeasurementReportWriterTests.ExplainedSrWarnings);
    }

    [Fact]
    public void Long_axis_is_inferred_from_a_two_point_polyline_of_its_length_and_a_lesion_has_its_centroid_point()
    {
        var (source, segments, seg) = Setup();
        double[] segmentEnds = [-10.25, 3.5, 12, 20.75, -4, 40];
        double[] lesionEnds = [1, 2, 3, 4.5, 6, 3];
        var measurements = new List<SegmentMeasurement>
        {
            new() { SegmentNumber = 1, VolumeMl = 12, LongestDiameterMm = MeasurementReportWriterTests.Distance(segmentEnds), LongAxisEndsMm = segmentEnds, CentroidMm = [5, 0, 26] },
            new() { SegmentNumber = 4, LesionNumber = 1, VolumeMl = 0.4, LongestDiameterMm = MeasurementReportWriterTests.Distance(lesionEnds), LongAxisEndsMm = lesionEnds, CentroidMm = [2.5, 4, 3] },
            new() { SegmentNumber = 2, VolumeMl = 3, LongestDiameterMm = 7 }, // no end points given: no SCOORD3D
        };
        var sr = MeasurementReportWriter.Create(source, seg, segments, measurements.ToGroups(), Fixtures.Algorithm, new MeasurementReportOptions { UidSeed = "axis" });
        var groups = Walk(sr.Dataset).Where(i => Concept(i) == "Measurement Group").ToList();
        Assert.Equal(3, groups.Count);

        for (var k = 0; k < 2; k++)
        {
            var group = groups[k].GetSequence(DicomTags.ContentSequence)!.Items;
            var axis = group.Single(i => Concept(i) == "Long axis");
            var reported = double.Parse(axis.GetSequence(DicomTags.MeasuredValueSequence)!.Items[0].GetString(DicomTags.NumericValue)!, System.Globalization.CultureInfo.InvariantCulture);
            var line = axis.GetSequence(DicomTags.ContentSequence)!.Items.Single(i => i.GetString(DicomTags.ValueType) == "SCOORD3D");
            Assert.Equal("INFERRED FROM", line.GetString(DicomTags.RelationshipType));
            Assert.Equal("POLYLINE", line.GetString(DicomTags.GraphicType));
            var xyz = line.GetValues<float>(DicomTags.GraphicData);
            Assert.Equal(6, xyz.Length); // exactly two 3D points
            Assert.Equal(source.FrameOfReferenceUid, line.GetString(DicomTags.ReferencedFrameOfReferenceUID));
            var length = Math.Sqrt(Math.Pow(xyz[0] - xyz[3], 2) + Math.Pow(xyz[1] - xyz[4], 2) + Math.Pow(xyz[2] - xyz[5], 2));
            Assert.True(Math.Abs(length - reported) <= 0.05 + 1e-4, $"polyline length {length} vs Long axis {reported}");
            Assert.Equal((k == 0 ? segmentEnds : lesionEnds).Select(v => (float)v), xyz);

            // One group-level SCOORD3D: the centroid POINT, in the same Frame of Reference (what OHIF takes as the group's place).
            var point = group.Single(i => i.GetString(DicomTags.ValueType) == "SCOORD3D");
            Assert.Equal("Center of Mass", Concept(point));
            Assert.Equal("CONTAINS", point.GetString(DicomTags.RelationshipType));
            Assert.Equal("POINT", point.GetString(DicomTags.GraphicType));
            Assert.Equal(3, point.GetValues<float>(DicomTags.GraphicData).Length);
            Assert.Equal(source.FrameOfReferenceUid, point.GetString(DicomTags.ReferencedFrameOfReferenceUID));
        }
        Assert.Equal([2.5f, 4f, 3f], groups[1].GetSequence(DicomTags.ContentSequence)!.Items.Single(i => Concept(i) == "Center of Mass").GetValues<float>(DicomTags.GraphicData));
        Assert.DoesNotContain(Walk(groups[2]), i => i.GetString(DicomTags.ValueType) == "SCOORD3D");
        // The volume stays segment-based: it points at the SEG segment, not at coordinates.
        Assert.DoesNotContain(Walk(groups[0]).Single(i => Concept(i) == "Volume").GetSequence(DicomTags.ContentSequence)!.Items, i => i.GetString(DicomTags.ValueType) == "SCOORD3D");
        Assert.Equal(1, Walk(groups[0]).Single(i => Concept(i) == "Referenced Segment").GetSequence(DicomTags.ReferencedSOPSequence)!.Items[0].GetValue<int>(DicomTags.ReferencedSegmentNumber));
    }

    [Fact]
    public void Same_seed_same_uids()
    {
        var (source, segments, seg) = Setup();
        var m = new List<SegmentMeasurement> { new() { SegmentNumber = 2, VolumeMl = 3 }, new() { SegmentNumber = 2, LesionNumber = 1, VolumeMl = 1 } };
        var a = MeasurementReportWriter.Create(source, seg, segments, m.ToGroups(), Fixtures.Algorithm, new MeasurementReportOptions { UidSeed = "x" });
        var b = MeasurementReportWriter.Create(source, seg, segments, m.ToGroups(), Fixtures.Algorithm, new MeasurementReportOptions { UidSeed = "x" });
        var c = MeasurementReportWriter.Create(source, seg, segments, m.ToGroups(), Fixtures.Algorithm, new MeasurementReportOptions());
        Assert.Equal(a.SopInstanceUid, b.SopInstanceUid);
        Assert.Equal(a.TrackingUids, b.TrackingUids);
        Assert.NotEqual(a.SopInstanceUid, c.SopInstanceUid);
        // A whole segment's group carries the SEG's Tracking UID for that segment, whatever the SR's seed, so a viewer
        // knows they are one finding; a lesion is a finding of its own, named by the SR's seed.
        var segUid = seg.Dataset.GetSequence(DicomTags.SegmentSequence)!.Items.Single(i => i.GetString(DicomTags.SegmentNumber) == "2").GetString(DicomTags.TrackingUID);
        Assert.Equal(segUid, a.TrackingUids[0]);
        Assert.Equal(segUid, c.TrackingUids[0]);
        Assert.NotEqual(a.TrackingUids[1], c.TrackingUids[1]);
        Assert.NotEqual(segUid, a.TrackingUids[1]);
    }

    [Fact]
    public void A_key_slice_long_axis_is_a_planar_group_beside_its_region_with_its_image_coordinates()
    {
        var (source, segments, seg) = Setup();
        var key = source.Images[2];
        var groups = new SegmentMeasurement[]
        {
            new() { SegmentNumber = 1, VolumeMl = 1234.5678, LongestDiameterMm = 20 },
            new() { SegmentNumber = 4, LesionNumber = 2, VolumeMl = 0.42, CentroidMm = [1.5, -2.25, 30], Finding = new("27925004", "SCT", "Nodule") },
            new() { SegmentNumber = 3, Laa950Percent = 12.345 },
        }.ToGroups();
        groups[0] = groups[0] with { KeySliceLongAxis = new KeySliceLongAxis(key.SopInstanceUid, 2.5, 3.5, 12.5, 7.5, 10.77) };
        groups[1] = groups[1] with { KeySliceLongAxis = new KeySliceLongAxis(key.SopInstanceUid, 8.5, 8.5, 9.5, 8.5, 1) };
        var sr = MeasurementReportWriter.Create(source, seg, segments, groups, Fixtures.Algorithm, new MeasurementReportOptions { UidSeed = "planar" });
        var all = Walk(sr.Dataset).Where(i => Concept(i) == "Measurement Group").ToList();
        string Tracking(DicomDataset g) => g.GetSequence(DicomTags.ContentSequence)!.Items.Single(i => Concept(i) == "Tracking Identifier").GetString(DicomTags.TextValue)!;
        // Each planar group follows the group of its region; the group without an axis has none.
        Assert.Equal(["Liver", MeasurementReportOptions.CornerstoneLengthTrackingIdentifier, "Nodule lesion 2", MeasurementReportOptions.CornerstoneLengthTrackingIdentifier, "Lung"],
            all.Select(Tracking));
        Assert.Equal(3, sr.TrackingUids.Count); // one per group given; the planar groups are extra

        var planar = all[1];
        Assert.Equal("1501", planar.GetSequence(DicomTags.ContentTemplateSequence)!.Items[0].GetString(DicomTags.TemplateIdentifier));
        var items = planar.GetSequence(DicomTags.ContentSequence)!.Items;
        // Its own Tracking UID (OHIF merges groups sharing one, and would then place this on the region's 3D point).
        var uid = items.Single(i => Concept(i) == "Tracking Unique Identifier").GetString(DicomTags.UID)!;
        Assert.DoesNotContain(uid, sr.TrackingUids);
        Assert.Equal("Liver, volume 1234.568 ml", items.Single(i => Concept(i) == "Comment").GetString(DicomTags.TextValue));
        Assert.Equal("Liver", CodedConcept.FromSequence(items.Single(i => Concept(i) == "Finding"), DicomTags.ConceptCodeSequence)!.Meaning);
        // No group-level coordinates: OHIF reads it as a measurement whose NUM carries its SCOORD (TID 300 style).
        Assert.DoesNotContain(items, i => i.GetString(DicomTags.ValueType) is "SCOORD" or "SCOORD3D");
        var num = items.Single(i => i.GetString(DicomTags.ValueType) == "NUM");
        Assert.Equal("Long axis", Concept(num));
        var mv = num.GetSequence(DicomTags.MeasuredValueSequence)!.Items[0];
        Assert.Equal("10.8", mv.GetString(DicomTags.NumericValue));
        Assert.Equal("mm", CodedConcept.FromSequence(mv, DicomTags.MeasurementUnitsCodeSequence)!.Value);
        Assert.Contains(Walk(num), i => Concept(i) == "Algorithm Name" && i.GetString(DicomTags.TextValue) == Fixtures.Algorithm.Name);
        var line = num.GetSequence(DicomTags.ContentSequence)!.Items.Single(i => i.GetString(DicomTags.ValueType) == "SCOORD");
        Assert.Equal(("INFERRED FROM", "POLYLINE"), (line.GetString(DicomTags.RelationshipType), line.GetString(DicomTags.GraphicType)));
        Assert.Equal([2.5f, 3.5f, 12.5f, 7.5f], line.GetValues<float>(DicomTags.GraphicData));
        var image = Assert.Single(line.GetSequence(DicomTags.ContentSequence)!.Items);
        Assert.Equal(("SELECTED FROM", "IMAGE"), (image.GetString(DicomTags.RelationshipType), image.GetString(DicomTags.ValueType)));
        var referenced = image.GetSequence(DicomTags.ReferencedSOPSequence)!.Items[0];
        Assert.Equal((key.SopClassUid, key.SopInstanceUid), (referenced.GetString(DicomTags.ReferencedSOPClassUID), referenced.GetString(DicomTags.ReferencedSOPInstanceUID)));
        Assert.Equal("Nodule lesion 2, volume 0.42 ml", all[3].GetSequence(DicomTags.ContentSequence)!.Items.Single(i => Concept(i) == "Comment").GetString(DicomTags.TextValue));

        // Same seed, same UIDs; switched off, no planar group.
        var again = MeasurementReportWriter.Create(source, seg, segments, groups, Fixtures.Algorithm, new MeasurementReportOptions { UidSeed = "planar" });
        Assert.Equal(uid, Walk(again.Dataset).Where(i => Concept(i) == "Tracking Unique Identifier").Select(i => i.GetString(DicomTags.UID)).ElementAt(1));
        var off = MeasurementReportWriter.Create(source, seg, segments, groups, Fixtures.Algorithm, new MeasurementReportOptions { KeySliceLengths = false });
        Assert.Equal(3, Walk(off.Dataset).Count(i => Concept(i) == "Measurement Group"));

        var path = Path.Combine(TestData.TempDir("sr-planar"), "sr.dcm");
        sr.File.Save(path);
        Dciodvfy.Check(path, MeasurementReportWriterTests.ExplainedSrWarnings);
        var dump = Tool.Run("dsrdump", ["-Ee", "-Ec", path]);
        Assert.True(dump.ExitCode == 0 && !dump.StdErr.Contains("E:") && !dump.StdErr.Contains("W:"), dump.StdErr);

        // An axis off its image, on an image not in the series, or of a group over several segments is refused.
        foreach (var bad in new[]
        {
            groups[0] with { KeySliceLongAxis = new KeySliceLongAxis(key.SopInstanceUid, 2.5, 3.5, 17, 7.5, 10) },
            groups[0] with { KeySliceLongAxis = new KeySliceLongAxis("1.2.3", 2.5, 3.5, 12.5, 7.5, 10) },
            groups[0] with { KeySliceLongAxis = new KeySliceLongAxis(key.SopInstanceUid, 2.5, 3.5, 2.5, 3.5, 0) },
            new MeasurementGroup { Segments = [2, 3], KeySliceLongAxis = new KeySliceLongAxis(key.SopInstanceUid, 2.5, 3.5, 12.5, 7.5, 10) },
        })
            Assert.Throws<ResultsInputException>(() => MeasurementReportWriter.Create(source, seg, segments, [bad], Fixtures.Algorithm));
    }

    [Fact]
    public void Bad_measurements_and_options_get_clear_errors()
    {
        var (source, segments, seg) = Setup();
        var e = Assert.Throws<ResultsInputException>(() => MeasurementReportWriter.Create(source, seg, segments, new SegmentMeasurement[] { new() { SegmentNumber = 9, VolumeMl = 1 } }.ToGroups(), Fixtures.Algorithm));
        Assert.Contains("segment 9", e.Message);
        e = Assert.Throws<ResultsInputException>(() => MeasurementReportWriter.Create(source, seg, segments, new SegmentMeasurement[] { new() { SegmentNumber = 1, MeanHu = double.NaN } }.ToGroups(), Fixtures.Algorithm));
        Assert.Contains("finite", e.Message);
        e = Assert.Throws<ResultsInputException>(() => MeasurementReportWriter.Create(source, seg, segments, new SegmentMeasurement[] { new() { SegmentNumber = 1, CentroidMm = [1, 2] } }.ToGroups(), Fixtures.Algorithm));
        Assert.Contains("3 coordinates", e.Message);
        var onePoint = new MeasurementGroup { SegmentNumber = 1, Measurements = [new Measurement(Codes.LongAxis, 3, Codes.Millimeter) { Labels = [1], Geometry = SpatialCoordinates.Point(1, 2, 3) }] };
        Assert.Null(Record.Exception(() => MeasurementReportWriter.Create(source, seg, segments, [onePoint], Fixtures.Algorithm)));
        Assert.Throws<ArgumentException>(() => SpatialCoordinates.Line(0, 0, double.NaN, 1, 1, 1));
        e = Assert.Throws<ResultsInputException>(() => MeasurementReportWriter.Create(source, seg, segments, new SegmentMeasurement[] { new() { SegmentNumber = 1 }, new() { SegmentNumber = 1 } }.ToGroups(), Fixtures.Algorithm));
        Assert.Contains("twice", e.Message);
        var a = Assert.Throws<ArgumentException>(() => MeasurementReportWriter.Create(source, seg, segments, [], Fixtures.Algorithm, new MeasurementReportOptions { CompletionFlag = "DONE" }));
        Assert.Contains("Results:Report:CompletionFlag", a.Message);
    }
}

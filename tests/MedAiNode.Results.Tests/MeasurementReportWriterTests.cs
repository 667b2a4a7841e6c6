using MedAiNode.Dicom;
using MedAiNode.Results;
using MedAiNode.Results.Reports;
using MedAiNode.Results.Segmentation;

namespace MedAiNode.Results.Tests;

public class MeasurementReportWriterTests
{
    internal static readonly string[] ExplainedSrWarnings = ["Unrecognized defined term <99MEDAI> for value 1 of attribute <Coding Scheme Designator>"];

    internal static List<SegmentMeasurement> Measurements(SourceSeries source, LabelMap labels, SegmentDescription[] segments)
    {
        var list = new List<SegmentMeasurement>();
        var voxelMl = source.First.PixelSpacing[0] * source.First.PixelSpacing[1] * (source.First.SliceThickness ?? 1) / 1000.0;
        foreach (var s in segments)
        {
            long count = 0;
            double sx = 0, sy = 0, sz = 0;
            double[]? first = null, last = null;
            foreach (var img in source.Images)
            {
                if (!labels.TryGet(img.SopInstanceUid, out var l)) continue;
                var span = l.Span;
                for (var i = 0; i < span.Length; i++)
                {
                    if (span[i] != s.Number) continue;
                    count++;
                    var p = img.PixelToPatient(i / img.Columns, i % img.Columns);
                    sx += p[0]; sy += p[1]; sz += p[2];
                    first ??= p;
                    last = p;
                }
            }
            if (count == 0) continue;
            // A diameter as the pipeline gives it: a length and the two voxel centres it joins (here the segment's first
            // and last voxel, whose distance is the length); every segment's group has its centroid, as in the pipeline.
            var ends = first!.Concat(last!).ToArray();
            list.Add(new SegmentMeasurement
            {
                SegmentNumber = s.Number,
                VolumeMl = count * voxelMl,
                MeanHu = -50 + 10 * s.Number,
                LongestDiameterMm = Distance(ends),
                LongAxisEndsMm = Distance(ends) > 0 ? ends : null,
                Laa950Percent = s.Label == "Lung" ? 7.25 : null,
                CentroidMm = [sx / count, sy / count, sz / count],
            });
            if (s.Label == "Nodule")
                list.Add(new SegmentMeasurement
                {
                    SegmentNumber = s.Number, LesionNumber = 1, VolumeMl = count * voxelMl, LongestDiameterMm = 8.4,
                    CentroidMm = [sx / count, sy / count, sz / count], Finding = new CodedConcept("27925004", "SCT", "Nodule"),
                });
        }
        return list;
    }

    [Fact]
    public void Synthetic_sr_passes_dciodvfy_and_dsrdump()
    {
        var images = Fixtures.SyntheticSeries(10, 40, 48);
        var source = SourceSeries.Create(images);
        var segments = Fixtures.Segments(4);
        var labels = Fixtures.SyntheticLabels(images, 4);
        var seg = SegmentationWriter.Create(source, segments, labels, Fixtures.Algorithm, new SegmentationOptions { UidSeed = "job-sr" });
        var measurements = Measurements(source, labels, segments);
        var sr = MeasurementReportWriter.Create(source, seg, segments, measurements.ToGroups(), Fixtures.Algorithm, new MeasurementReportOptions { UidSeed = "job-sr" });
        var dir = TestData.TempDir("sr-synthetic");
        var path = Path.Combine(dir, "sr.dcm");
        sr.File.Save(path);
        Dciodvfy.Check(path, ExplainedSrWarnings);
        var dump = Tool.Run("dsrdump", ["-Ee", "-Ec", path]);
        Assert.True(dump.ExitCode == 0, dump.StdErr + dump.StdOut);
        Assert.DoesNotContain("Warning", dump.StdErr + dump.StdOut);
        Assert.DoesNotContain("Error", dump.StdErr + dump.StdOut);
        Assert.Contains("Imaging Measurement Report", dump.StdOut);
        Assert.Equal(measurements.Count, CountOccurrences(dump.StdOut, "\"Measurement Group\""));
        Assert.Contains("(ml,UCUM,\"milliliter\")", dump.StdOut);
        Assert.Contains("SCOORD3D", dump.StdOut);
    }

    internal static double Distance(double[] ends) =>
        Math.Sqrt((ends[0] - ends[3]) * (ends[0] - ends[3]) + (ends[1] - ends[4]) * (ends[1] - ends[4]) + (ends[2] - ends[5]) * (ends[2] - ends[5]));

    internal static int CountOccurrences(string text, string what)
    {
        int n = 0, i = 0;
        while ((i = text.IndexOf(what, i, StringComparison.Ordinal)) >= 0) { n++; i += what.Length; }
        return n;
    }
}

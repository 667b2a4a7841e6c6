using System.Text;
using MedAiNode.Dicom;
using MedAiNode.Results;
using MedAiNode.Results.Reports;
using MedAiNode.Results.Segmentation;

namespace MedAiNode.Results.Tests;

/// <summary>SEG and SR for each real CT series in ../shared/data/ct, checked by dciodvfy, dsrdump, pydicom and our reader.</summary>
public class RealSeriesTests
{
    public static TheoryData<string, bool> Series => new()
    {
        { "ge-head-tilt-varspacing", true },   // tilted gantry, uneven gaps: frames must keep each slice's own plane
        { "philips-phantom-5mm", true },
        { "totalseg-abdomen-j2k", false },     // JPEG 2000 pixels need the codecs layer: geometry-only label map
    };

    /// <summary>Warnings about values copied unchanged from the source images (see conformance/results.md): the real
    /// series have empty Type 2 Patient ID / Study ID / Study Date / Study Time, and patient names without '^'.</summary>
    internal static readonly string[] InheritedWarnings =
    [
        "Missing attribute or value that would be needed to build DICOMDIR - Patient ID",
        "Missing attribute or value that would be needed to build DICOMDIR - Study ID",
        "Missing attribute or value that would be needed to build DICOMDIR - Study Date",
        "Missing attribute or value that would be needed to build DICOMDIR - Study Time",
        "(0x0010,0x0010) PN Patient's Name  PN [1] = <",
    ];

    internal static string Script(string name) => Path.Combine(TestData.RepoRoot, "tests", "MedAiNode.Results.Tests", "python", name);

    internal sealed record Written(SourceSeries Source, LabelMap Labels, SegmentDescription[] Segments, string SegPath, string SrPath,
        SegmentationResult Seg, MeasurementReportResult Sr, List<SegmentMeasurement> Measurements);

    internal static Written WriteFor(string name, bool thresholdPixels, string dir)
    {
        var files = Fixtures.OpenSeries(name, withPixels: thresholdPixels);
        var source = SourceSeries.Create(files.Select(f => f.Image));
        var segments = Fixtures.Segments(3);
        var labels = thresholdPixels ? Fixtures.ThresholdLabels(files) : Fixtures.GeometricLabels(source.Images, 3);
        var seg = SegmentationWriter.Create(source, segments, labels, Fixtures.Algorithm, new SegmentationOptions { UidSeed = "real|" + name });
        var measurements = MeasurementReportWriterTests.Measurements(source, labels, segments);
        measurements.Add(new SegmentMeasurement
        {
            SegmentNumber = 1, LesionNumber = 1, VolumeMl = 1.5, LongestDiameterMm = 14.2,
            CentroidMm = source.Images[source.Images.Count / 2].PixelToPatient(256, 256), Finding = new CodedConcept("27925004", "SCT", "Nodule"),
        });
        var sr = MeasurementReportWriter.Create(source, seg, segments, measurements.ToGroups(), Fixtures.Algorithm, new MeasurementReportOptions { UidSeed = "real|" + name });
        var segPath = Path.Combine(dir, "seg.dcm");
        var srPath = Path.Combine(dir, "sr.dcm");
        seg.File.Save(segPath);
        sr.File.Save(srPath);
        return new Written(source, labels, segments, segPath, srPath, seg, sr, measurements);
    }

    [Theory]
    [MemberData(nameof(Series))]
    public void Seg_and_sr_pass_dciodvfy_dsrdump_and_pydicom(string name, bool thresholdPixels)
    {
        var dir = TestData.TempDir("real-" + name);
        var w = WriteFor(name, thresholdPixels, dir);
        Assert.True(w.Seg.Frames.Count > 0);

        Dciodvfy.Check(w.SegPath, [.. SegmentationWriterTests.ExplainedSegWarnings, .. InheritedWarnings]);
        Dciodvfy.Check(w.SrPath, [.. MeasurementReportWriterTests.ExplainedSrWarnings, .. InheritedWarnings]);

        var dump = Tool.Run("dsrdump", ["-Ee", "-Ec", w.SrPath]);
        Assert.True(dump.ExitCode == 0, dump.StdErr + dump.StdOut);
        Assert.DoesNotContain("Warning", dump.StdErr);
        Assert.DoesNotContain("Error", dump.StdErr);
        Assert.Equal(w.Measurements.Count, MeasurementReportWriterTests.CountOccurrences(dump.StdOut, "\"Measurement Group\""));

        // pydicom reads the SR's groups with the values and units we wrote
        var py = Tool.Run("/usr/bin/python3", [Script("read_sr.py"), w.SrPath]);
        Assert.True(py.ExitCode == 0, py.StdErr);
        var groups = py.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(w.Measurements.Count, groups.Length);
        for (var i = 0; i < groups.Length; i++)
        {
            var m = w.Measurements[i];
            Assert.Contains($"segment={m.SegmentNumber}", groups[i]);
            if (m.VolumeMl is { } v) Assert.Contains($"Volume={DicomDataset.FormatDecimal(Math.Round(v, 3))}[ml]", groups[i]);
            if (m.LongestDiameterMm is { } d) Assert.Contains($"Long axis={DicomDataset.FormatDecimal(Math.Round(d, 1))}[mm]", groups[i]);
            if (m.CentroidMm is not null) Assert.Contains("POINT=", groups[i]);
        }
    }

    [Theory]
    [MemberData(nameof(Series))]
    public void Seg_reads_back_voxel_for_voxel_with_our_reader_and_pydicom(string name, bool thresholdPixels)
    {
        var dir = TestData.TempDir("roundtrip-" + name);
        var w = WriteFor(name, thresholdPixels, dir);
        var pixels = w.Source.Rows * w.Source.Columns;

        var ours = SegmentationReader.Read(w.SegPath, w.Source);
        Assert.Equal(w.Segments.Select(s => s.Label), ours.Segments.Select(s => s.Label));
        Assert.Equal(Fixtures.Algorithm.Parameters, ours.Segments[0].AlgorithmParameters);

        var outPath = Path.Combine(dir, "pydicom-mask.bin");
        var py = Tool.Run("/usr/bin/python3", [Script("read_seg.py"), w.SegPath, outPath, Fixtures.CtDir(name)]);
        Assert.True(py.ExitCode == 0, py.StdErr + py.StdOut);
        var fromPy = ParseMasks(File.ReadAllBytes(outPath), pixels);

        long setVoxels = 0;
        foreach (var img in w.Source.Images)
        {
            var expected = w.Labels.TryGet(img.SopInstanceUid, out var l) ? l.ToArray() : new byte[pixels];
            setVoxels += expected.Count(b => b != 0);
            Assert.Equal(expected, ours.GetLabels(img.SopInstanceUid));
            Assert.Equal(expected, fromPy.TryGetValue(img.SopInstanceUid, out var p) ? p : new byte[pixels]);
        }
        Assert.True(setVoxels > 1000, $"the label map should exercise the writer (only {setVoxels} voxels set)");
    }

    private static Dictionary<string, byte[]> ParseMasks(byte[] data, int pixels)
    {
        var result = new Dictionary<string, byte[]>();
        var at = 0;
        while (at < data.Length)
        {
            var nl = Array.IndexOf(data, (byte)'\n', at);
            var uid = Encoding.ASCII.GetString(data, at, nl - at);
            result[uid] = data.AsSpan(nl + 1, pixels).ToArray();
            at = nl + 1 + pixels;
        }
        return result;
    }
}

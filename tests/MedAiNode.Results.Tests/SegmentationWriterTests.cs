using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.Results;
using MedAiNode.Results.Segmentation;

namespace MedAiNode.Results.Tests;

public class SegmentationWriterTests
{
    /// <summary>Warnings dciodvfy gives for every SEG we write, each explained in conformance/results.md.</summary>
    internal static readonly string[] ExplainedSegWarnings = [];

    private static SegmentationResult Write(List<SourceImage> images, int segments, SegmentationOptions? options = null, LabelMap? labels = null) =>
        SegmentationWriter.Create(SourceSeries.Create(images), Fixtures.Segments(segments), labels ?? Fixtures.SyntheticLabels(images, segments), Fixtures.Algorithm,
            options ?? new SegmentationOptions { UidSeed = "job-1" });

    [Fact]
    public void Synthetic_seg_passes_dciodvfy_and_round_trips()
    {
        var images = Fixtures.SyntheticSeries(12, 37, 45); // 37*45 is odd: frames are packed across byte boundaries
        var labels = Fixtures.SyntheticLabels(images, 3);
        var seg = Write(images, 3, labels: labels);
        var dir = TestData.TempDir("seg-synthetic");
        var path = Path.Combine(dir, "seg.dcm");
        seg.File.Save(path);
        Dciodvfy.Check(path, ExplainedSegWarnings);

        var back = SegmentationReader.Read(path);
        foreach (var img in images)
        {
            var expected = labels.TryGet(img.SopInstanceUid, out var l) ? l.ToArray() : new byte[37 * 45];
            Assert.Equal(expected, back.GetLabels(img.SopInstanceUid));
        }
    }
}

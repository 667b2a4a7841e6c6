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

    [Fact]
    public void The_frames_are_packed_straight_into_the_pixel_data_without_a_packed_copy_of_each()
    {
        // 60 slices of 512x512 with two segments on every slice: 120 frames, 3.75 MiB of pixel data. Packing each frame
        // on its own first and then copying it in allocated 1.71x the pixel data (headers included, some of the packed
        // frames reused from the shared pool; now 1.25x); a 300-slice chest SEG paid ~30 MiB more at the results stage.
        var images = Fixtures.SyntheticSeries(60, 512, 512);
        var labels = new LabelMap();
        foreach (var img in images)
        {
            var map = new byte[512 * 512];
            map.AsSpan(0, 512 * 200).Fill(1);
            map.AsSpan(512 * 300, 512 * 120).Fill(2);
            labels.Set(img.SopInstanceUid, map);
        }
        Write(images, 2, labels: labels); // the first call pays for JIT and static tables

        var before = GC.GetAllocatedBytesForCurrentThread();
        var seg = Write(images, 2, labels: labels);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        var pixelData = seg.File.Dataset.GetBytes(DicomTags.PixelData).Length;
        Assert.Equal(120 * 512 * 512 / 8, pixelData);
        Assert.True(allocated < 1.45 * pixelData, $"allocated {allocated / 1048576.0:0.00} MiB for {pixelData / 1048576.0:0.00} MiB of pixel data");
    }
}

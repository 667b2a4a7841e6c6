using System.Globalization;
using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.Results.Segmentation;

namespace MedAiNode.Results.Tests;

/// <summary>What `seg-info` prints (SegmentationSummary, in this library); the verb itself is tested in the host's tests.</summary>
public class SegInfoVerbTests
{
    [Fact]
    public void Describes_segments_voxels_and_volumes_without_patient_data()
    {
        var dir = TestData.TempDir("seg-info");
        var w = RealSeriesTests.WriteFor("philips-phantom-5mm", true, dir);
        var text = SegmentationSummary.Describe(w.SegPath, Fixtures.CtDir("philips-phantom-5mm"));
        Assert.Contains(w.Seg.SopInstanceUid, text);
        foreach (var s in w.Segments)
        {
            long count = 0;
            double ml = 0;
            foreach (var img in w.Source.Images)
            {
                if (!w.Labels.TryGet(img.SopInstanceUid, out var l)) continue;
                var n = l.ToArray().Count(b => b == s.Number);
                count += n;
                ml += n * img.PixelSpacing[0] * img.PixelSpacing[1] * img.SliceThickness!.Value / 1000.0;
            }
            Assert.Contains($"segment {s.Number} \"{s.Label}\"", text);
            Assert.Contains($"{count} voxels", text);
            Assert.Contains($"{ml.ToString("F3", CultureInfo.InvariantCulture)} mL", text);
        }
        var patientName = w.Source.First.Dataset.GetString(MedAiNode.Dicom.DicomTags.PatientName);
        if (!string.IsNullOrEmpty(patientName)) Assert.DoesNotContain(patientName, text);
    }
}

/// <summary>seg-info volumes on stacks where SliceThickness is not the slice spacing: a gantry tilt and a missing slice.</summary>
public class SegInfoVolumeTests
{
    private const int Rows = 16, Cols = 16;
    private const double PixelArea = 0.75 * 0.8; // the synthetic series' PixelSpacing

    /// <summary>Writes the source headers and a SEG whose segment 1 is the same 8x8 square on every slice; returns the SEG path and source folder.</summary>
    private static (string Seg, string SourceDir) Write(IReadOnlyList<SourceImage> images, string name)
    {
        var dir = TestData.TempDir("seg-info-" + name);
        var srcDir = Directory.CreateDirectory(Path.Combine(dir, "source")).FullName;
        for (var i = 0; i < images.Count; i++)
            new DicomFile(images[i].Dataset, DicomTransferSyntax.ExplicitVRLittleEndian).Save(Path.Combine(srcDir, $"{i:D3}.dcm"));
        var labels = new LabelMap();
        foreach (var img in images)
        {
            var slice = new byte[Rows * Cols];
            for (var r = 4; r < 12; r++) for (var c = 4; c < 12; c++) slice[r * Cols + c] = 1;
            labels.Set(img.SopInstanceUid, slice);
        }
        var seg = SegmentationWriter.Create(SourceSeries.Create(images), Fixtures.Segments(1), labels, Fixtures.Algorithm, new SegmentationOptions { UidSeed = "seg-info|" + name });
        var segPath = Path.Combine(dir, "seg.dcm");
        seg.File.Save(segPath);
        return (segPath, srcDir);
    }

    private static double Ml(string text)
    {
        var m = System.Text.RegularExpressions.Regex.Match(text, @"\d+ voxels on \d+ slices, ([0-9.]+) mL");
        Assert.True(m.Success, text);
        return double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    [Fact]
    public void Tilted_stack_uses_the_spacing_along_the_normal_not_slice_thickness()
    {
        // 10 slices 2.5 mm apart along a direction 20 degrees off the normal: the planes are 2.5 cos 20 = 2.349 mm apart.
        var tilt = 20 * Math.PI / 180;
        var images = Fixtures.SyntheticSeries(10, Rows, Cols, spacing: 2.5, stepDirection: [0, Math.Sin(tilt), Math.Cos(tilt)], seed: "tilted");
        var (seg, src) = Write(images, "tilted");
        // The object: an 8x8-pixel square prism, sheared, 10 slabs of 2.5 cos(tilt) mm each.
        var trueMl = 64 * PixelArea * 10 * 2.5 * Math.Cos(tilt) / 1000;
        var byThickness = 64 * PixelArea * 10 * 2.5 / 1000;
        foreach (var text in new[] { SegmentationSummary.Describe(seg, src), SegmentationSummary.Describe(seg) })
        {
            Assert.Contains("640 voxels on 10 slices", text);
            Assert.Equal(trueMl, Ml(text), 3);
            Assert.True(Math.Abs(Ml(text) - byThickness) > 0.01, text); // the old figure (+6.4 %) is no longer printed
        }
    }

    [Fact]
    public void Stack_with_a_missing_slice_counts_the_gap_once()
    {
        // 7 planes 2.5 mm apart, the 4th missing: the square spans 7 slabs (17.5 mm) but only 6 slices are present.
        var all = Fixtures.SyntheticSeries(7, Rows, Cols, spacing: 2.5, seed: "gap");
        var images = all.Where((_, i) => i != 3).ToList();
        var (seg, src) = Write(images, "gap");
        var trueMl = 64 * PixelArea * 7 * 2.5 / 1000;
        var byThickness = 64 * PixelArea * 6 * 2.5 / 1000;
        foreach (var text in new[] { SegmentationSummary.Describe(seg, src), SegmentationSummary.Describe(seg) })
        {
            Assert.Contains("384 voxels on 6 slices", text);
            Assert.Equal(trueMl, Ml(text), 3);
            Assert.True(Math.Abs(Ml(text) - byThickness) > 0.01, text);
            Assert.Contains("uneven slice spacing", text);
        }
    }

    [Fact]
    public void Slabs_reach_half_way_to_each_neighbour()
    {
        Assert.Equal([2.5, 2.5, 3.75, 3.75, 2.5, 2.5], SegmentationSummary.SlabThicknesses([0, 2.5, 5, 10, 12.5, 15]));
        Assert.True(double.IsNaN(SegmentationSummary.SlabThicknesses([4.0])[0]));
    }
}

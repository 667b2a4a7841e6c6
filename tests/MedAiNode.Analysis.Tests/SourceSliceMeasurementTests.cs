using System.Globalization;
using System.Text.RegularExpressions;
using MedAiNode.Dicom;
using MedAiNode.Imaging.Geometry;
using MedAiNode.Imaging.Series;
using MedAiNode.Inference.Manifests;
using MedAiNode.Inference.Runtime;
using MedAiNode.Results.Segmentation;
using MedAiNode.Imaging.Tests;

namespace MedAiNode.Analysis.Tests;

/// <summary>The SR measures exactly the voxels the SEG shows, also when a missing slice was bridged for the model.</summary>
public class SourceSliceMeasurementTests
{
    private static readonly Vec3 Centre = new(16, 16, 11);
    private const double Radius = 9;

    /// <summary>A 32x32 axial series (1 mm pixels) at <paramref name="t"/> mm: a ball of +200 HU in -800 HU, written to disk.</summary>
    private static (string Dir, List<string> Paths) Series(string name, double[] t)
    {
        var dir = TestData.TempDir(name);
        var paths = new List<string>();
        var files = Synthetic.Stack(new Vec3(0, 0, 0), new Vec3(1, 0, 0), new Vec3(0, 1, 0), new Vec3(0, 0, 1), t, 1, 32,
            p => (p - Centre).Length <= Radius ? 200 : -800, "1.2.826.0.1.3680043.10.543.7");
        for (var i = 0; i < files.Count; i++)
        {
            files[i].Dataset.Set(DicomTags.StudyInstanceUID, "1.2.826.0.1.3680043.10.543.6");
            files[i].Dataset.Set(DicomTags.FrameOfReferenceUID, "1.2.826.0.1.3680043.10.543.5");
            var path = Path.Combine(dir, $"{i:000}.dcm");
            files[i].Save(path);
            paths.Add(path);
        }
        return (dir, paths);
    }

    private static ModelManifest Model()
    {
        var m = Fixtures.Manifest(patch: [16, 16, 8]);
        m.Modalities = ["CT"];
        m.Intensity = new IntensitySpec { Kind = IntensityKind.ScaleIntensityRange, AMin = -100, AMax = 100, BMin = -1, BMax = 1 };
        m.SeriesSelection = new SeriesSelectionRules { MinSlices = 5 };
        return m;
    }

    /// <summary>The ball's pixels on each source slice times that slice's slab (half-way to its neighbours), in mL.</summary>
    private static double Expected(double[] t)
    {
        double mm3 = 0;
        for (var i = 0; i < t.Length; i++)
        {
            var before = i > 0 ? t[i] - t[i - 1] : t[1] - t[0];
            var after = i < t.Length - 1 ? t[i + 1] - t[i] : t[^1] - t[^2];
            var pixels = 0;
            for (var r = 0; r < 32; r++) for (var c = 0; c < 32; c++) if ((new Vec3(c, r, t[i]) - Centre).Length <= Radius) pixels++;
            mm3 += pixels * (before + after) / 2;
        }
        return mm3 / 1000;
    }

    private static double SegInfoMl(AnalysisResult result, string sourceDir)
    {
        var seg = Path.Combine(TestData.TempDir("source-slice-seg"), "seg.dcm");
        result.Seg!.Save(seg);
        var text = SegmentationSummary.Describe(seg, sourceDir);
        return double.Parse(Regex.Match(text, @"([0-9.]+) mL").Groups[1].Value, CultureInfo.InvariantCulture);
    }

    [Fact]
    public void WithAMissingSlice_TheSrVolumeIsTheSegsVoxelsTimesTheRealSliceSpacing()
    {
        double[] t = [0, 2, 4, 6, 8, 10, 14, 16, 18, 20, 22, 24]; // the slice at 12 mm is missing
        var (dir, paths) = Series("source-slice-gap", t);
        using var cache = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"] });
        var result = new AnalysisPipeline(cache).Run(paths, Model(), new AnalysisOptions());
        Assert.Contains(result.Notes, n => n.StartsWith("Missing slice") && n.Contains("between slices 6 and 7 of 12") && n.Contains("at patient z 10 to 14 mm"));
        Assert.Contains(result.Notes, n => n.Contains("measured on the received slices"));
        Assert.Equal(13, result.Labels.Dims.Z); // the model saw the gap filled

        var sr = result.Measurements.Single(m => m.Id == "volume").Value;
        var expected = Expected(t);
        Assert.Equal(expected, sr, 9);
        Assert.Equal(expected, result.LabelStatistics.Single(l => l.Label == 1).Statistics.VolumeMl, 9);
        Assert.Equal(Math.Round(sr, 3), SegInfoMl(result, dir), 6);
        Assert.Equal(200, result.Measurements.Single(m => m.Id == "meanHu").Value, 3);
        // The grid, with its interpolated slice the SEG does not have, would have said something else.
        var grid = result.Labels.Count(1) * result.Labels.VoxelVolumeMm3 / 1000;
        Assert.True(Math.Abs(grid - sr) > 0.01, $"grid {grid} mL, SEG {sr} mL");
        // The SR carries that number.
        Assert.Contains(result.Groups, g => g.SegmentNumber == 1);
    }

    [Fact]
    public void OnAnEvenSeries_TheGridMeasurementStands_AndEqualsTheSeg()
    {
        double[] t = [.. Enumerable.Range(0, 12).Select(i => 2.0 * i)];
        var (dir, paths) = Series("source-slice-even", t);
        using var cache = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"] });
        var result = new AnalysisPipeline(cache).Run(paths, Model(), new AnalysisOptions());
        Assert.DoesNotContain(result.Notes, n => n.Contains("Missing slice") || n.Contains("measured on the received slices"));
        var sr = result.Measurements.Single(m => m.Id == "volume").Value;
        Assert.Equal(result.Labels.Count(1) * result.Labels.VoxelVolumeMm3 / 1000, sr, 12);
        Assert.Equal(Expected(t), sr, 9);
        Assert.Equal(Math.Round(sr, 3), SegInfoMl(result, dir), 6);
    }

    [Fact]
    public void TheSameFileTwice_AndALocalizer_InTheSeries_AreAnalysedAsOneVolume()
    {
        double[] t = [.. Enumerable.Range(0, 12).Select(i => 2.0 * i)];
        var (dir, paths) = Series("source-slice-dupes", t);
        var copy = Path.Combine(dir, "copy.dcm");
        File.Copy(paths[3], copy);
        var localizer = Synthetic.Slice(new Vec3(0, 0, 0), new Vec3(1, 0, 0), new Vec3(0, 0, -1), 1, 24, 40, _ => -800, "1.2.826.0.1.3680043.10.543.7", 77, ["ORIGINAL", "PRIMARY", "LOCALIZER"]);
        localizer.Dataset.Set(DicomTags.StudyInstanceUID, "1.2.826.0.1.3680043.10.543.6");
        localizer.Dataset.Set(DicomTags.FrameOfReferenceUID, "1.2.826.0.1.3680043.10.543.5");
        var lpath = Path.Combine(dir, "localizer.dcm");
        localizer.Save(lpath);
        using var cache = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"] });
        var result = new AnalysisPipeline(cache).Run([lpath, .. paths, copy], Model(), new AnalysisOptions());
        Assert.Contains(result.Notes, n => n.Contains("Dropped 1 localizer image(s)") && n.Contains("instance 77"));
        Assert.Contains(result.Notes, n => n.Contains("received more than once"));
        Assert.Equal(12, result.Labels.Dims.Z);
        Assert.Equal(12, result.Selection!.Chosen!.SliceCount);
        Assert.Equal(Expected(t), result.Measurements.Single(m => m.Id == "volume").Value, 9);
    }
}

using MedAiNode.Imaging.Geometry;
using MedAiNode.Imaging.Nifti;
using MedAiNode.Imaging.Volumes;
using MedAiNode.Inference.Manifests;
using MedAiNode.Inference.Postprocessing;
using MedAiNode.Inference.Runtime;
using MedAiNode.Inference.SlidingWindow;

namespace MedAiNode.Analysis.Tests;

public class PipelineTests
{
    [Fact]
    public void BrainchopMeshNet_AgreesWithReferenceArgmax()
    {
        var manifest = ModelManifest.Load(Path.Combine(Fixtures.ModelsDir, "mr-brainchop-tissue3", "manifest.json"));
        using var cache = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"], ModelSearchPaths = [TestData.Path_("models")] });
        var model = cache.Get(manifest);
        var t1 = NiftiIO.Read(TestData.Path_("models", "t1_crop.nii.gz"));
        var reference = NiftiIO.ReadLabels(TestData.Path_("models", "t1_crop_meshnet_argmax_reference.nii.gz"));
        var result = new AnalysisPipeline(cache).RunModel(t1, manifest);
        Assert.Equal(reference.Dims, result.Labels.Dims);
        long agree = 0;
        for (var i = 0; i < reference.Data.Length; i++) if (reference.Data[i] == result.Labels.Data[i]) agree++;
        var fraction = (double)agree / reference.Data.Length;
        Assert.True(fraction >= 0.999, $"agreement {fraction:P4}");
        Console.WriteLine($"brainchop agreement {fraction:P4} ({agree} of {reference.Data.Length}), {result.WindowStats.ModelSeconds:0.0} s in the network of {result.TotalSeconds:0.0} s");
        // Counts near the reference's 518,540 grey / 735,212 white voxels.
        Assert.InRange(result.Labels.Count(1), 518_540 * 0.99, 518_540 * 1.01);
        Assert.InRange(result.Labels.Count(2), 735_212 * 0.99, 735_212 * 1.01);
        var wm = result.Measurements.Single(m => m.Id == "volume" && m.Labels.SequenceEqual([2]));
        Assert.Equal(result.Labels.Count(2) * t1.VoxelVolumeMm3 / 1000, wm.Value, 6);
    }

    [Fact]
    public void Pipeline_ResamplesToModelGrid_AndMapsLabelsBackOntoTheInput()
    {
        // Oblique, anisotropic input; the model wants 2 mm LPS. Positive half-space x_patient > 0 must come back where it was.
        var (row, col) = (new Vec3(Math.Cos(0.3), Math.Sin(0.3), 0), new Vec3(-Math.Sin(0.3), Math.Cos(0.3), 0));
        var affine = new Affine(new Vec3(-30, -30, -10), row * 1.2, col * 1.2, new Vec3(0, 0, 3));
        var v = new Volume(new Dims(50, 50, 8), affine);
        for (var z = 0; z < 8; z++) for (var y = 0; y < 50; y++) for (var x = 0; x < 50; x++)
            v[x, y, z] = (float)v.IndexToPatient(x, y, z).X;
        var m = Fixtures.Manifest(patch: [16, 16, 8]);
        m.Spacing = [2, 2, 2];
        m.Orientation = "RAS";
        m.Intensity = new IntensitySpec { Kind = IntensityKind.ScaleIntensityRange, AMin = -100, AMax = 100, BMin = -1, BMax = 1 };
        m.Measurements = [new MeasurementSpec { Id = "vol", Kind = MeasurementKind.Volume, Labels = [1], Unit = "mL" },
                          new MeasurementSpec { Id = "mean", Kind = MeasurementKind.MeanValue, Labels = [1], PerLabel = true },
                          new MeasurementSpec { Id = "below", Kind = MeasurementKind.PercentBelow, Labels = [1], Threshold = 10 }];
        using var cache = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"] });
        var progress = new List<double>();
        var result = new AnalysisPipeline(cache).RunModel(v, m, new Collect(progress));
        var t = result.Times;
        Assert.True(t.Preprocess > 0 && t.Postprocess > 0 && t.Measure > 0 && t.Model > 0, t.ToString());
        Assert.True(t.Model <= t.Inference && Math.Abs(t.Preprocess + t.Inference + t.Postprocess + t.Measure - result.TotalSeconds) < 1e-9, $"{t}, total {result.TotalSeconds}");
        Assert.Equal(v.Dims, result.Labels.Dims);
        Assert.Equal(v.Affine, result.Labels.Affine);
        Assert.Equal("RAS", MedAiNode.Imaging.Resampling.Reorientation.OrientationCode(result.ModelGridLabels.Affine));
        Assert.Equal(2, result.ModelGridLabels.Spacing.X, 6);
        long wrong = 0, total = 0;
        for (var i = 0; i < v.Data.Length; i++)
        {
            if (Math.Abs(v.Data[i]) < 2.5) continue; // within a model voxel of the boundary
            total++;
            if ((v.Data[i] > 0 ? 1 : 0) != result.Labels.Data[i]) wrong++;
        }
        Assert.True(wrong < total * 0.001, $"{wrong} of {total} voxels mislabelled");
        var mean = result.Measurements.Single(x => x.Id == "mean").Value;
        Assert.True(mean > 0);
        var expectedBelow = 100.0 * v.Data.Where((x, i) => result.Labels.Data[i] == 1 && x < 10).Count() / result.Labels.Count(1);
        Assert.Equal(expectedBelow, result.Measurements.Single(x => x.Id == "below").Value, 9);
        Assert.Equal(result.Labels.Count(1) * v.VoxelVolumeMm3 / 1000, result.Measurements.Single(x => x.Id == "vol").Value, 9);
        Assert.Equal(1.0, progress[^1]);
        Assert.InRange(result.WindowStats.OverheadShare, 0, 1);
    }

    [Fact]
    public void Postprocessing_LargestComponentMinSizeAndLesions()
    {
        var d = new Dims(30, 30, 30);
        var v = new Volume(d, new Affine(new Vec3(0, 0, 0), new Vec3(2, 0, 0), new Vec3(0, 2, 0), new Vec3(0, 0, 2)));
        Array.Fill(v.Data, -1f);
        void Ball(int cx, int cy, int cz, int r, float value)
        {
            for (var z = 0; z < 30; z++) for (var y = 0; y < 30; y++) for (var x = 0; x < 30; x++)
                if ((x - cx) * (x - cx) + (y - cy) * (y - cy) + (z - cz) * (z - cz) <= r * r) v[x, y, z] = value;
        }
        Ball(8, 8, 8, 5, 2f);   // 515 voxels * 8 mm3 = 4.1 mL
        Ball(22, 22, 22, 3, 1f); // 123 voxels = 0.98 mL
        Ball(22, 6, 22, 1, 3f);  // 7 voxels
        var m = Fixtures.Manifest(patch: [16, 16, 16]);
        m.Labels[0].Postprocessing = new LabelPostprocessing { MinSizeMl = 0.5, Lesions = true };
        using var cache = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"] });
        var result = new AnalysisPipeline(cache).RunModel(v, m);
        Assert.Equal(2, result.Lesions.Count);
        var big = result.Lesions[0];
        Assert.Equal(515, big.Voxels);
        Assert.Equal(515 * 8 / 1000.0, big.VolumeMl, 9);
        Assert.True((big.CentroidMm - new Vec3(16, 16, 16)).Length < 1e-9);
        Assert.Equal(Math.Sqrt(2 * 2 * 100 + 0) > 0 ? 20.0 : 0, big.LongestDiameterMm, 0); // 2 * r voxels * 2 mm along an axis
        // Mean softmax probability of (-x, x) logits at x = 2 is 1 / (1 + e^-4).
        Assert.Equal(1 / (1 + Math.Exp(-4)), big.MeanProbability, 4);
        Assert.Equal(1 / (1 + Math.Exp(-2)), result.Lesions[1].MeanProbability, 4);
        m.Labels[0].Postprocessing = new LabelPostprocessing { LargestComponent = true };
        var largest = new AnalysisPipeline(cache).RunModel(v, m);
        Assert.Equal(515, largest.Labels.Count(1));
        var stats = Assert.Single(largest.LabelStatistics);
        Assert.Equal(2.0, stats.Statistics.MeanValue!.Value, 5);
    }

    [Fact]
    public void IntensityNormalisation_MatchesTheLibraryFormulas()
    {
        float[] x = [-2000, -1000, 0, 400, 3000];
        var a = (float[])x.Clone();
        MedAiNode.Inference.Preprocessing.IntensityNormalizer.Apply(new IntensitySpec { Kind = IntensityKind.ScaleIntensityRange, AMin = -1000, AMax = 1000, BMin = 0, BMax = 1, Clip = true }, a);
        Assert.Equal([0f, 0f, 0.5f, 0.7f, 1f], a, (p, q) => Math.Abs(p - q) < 1e-6f);
        var b = (float[])x.Clone();
        MedAiNode.Inference.Preprocessing.IntensityNormalizer.Apply(new IntensitySpec { Kind = IntensityKind.NnUNetCT, PercentileLow = -1000, PercentileHigh = 1000, Mean = 100, Std = 200 }, b);
        Assert.Equal([-5.5f, -5.5f, -0.5f, 1.5f, 4.5f], b, (p, q) => Math.Abs(p - q) < 1e-6f);
        var c = (float[])x.Clone();
        MedAiNode.Inference.Preprocessing.IntensityNormalizer.Apply(new IntensitySpec { Kind = IntensityKind.ZScore }, c);
        Assert.Equal(0, c.Average(), 5);
        Assert.Equal(1, Math.Sqrt(c.Select(q => (double)q * q).Average()), 5);
        var d = (float[])x.Clone();
        MedAiNode.Inference.Preprocessing.IntensityNormalizer.Apply(new IntensitySpec { Kind = IntensityKind.MinMax }, d);
        Assert.Equal(0, d[0]); Assert.Equal(1, d[4]); Assert.Equal(0.4f, d[2], 1e-6f);
        float[] nz = [0, 0, 2, 4];
        MedAiNode.Inference.Preprocessing.IntensityNormalizer.Apply(new IntensitySpec { Kind = IntensityKind.ZScore, NonZero = true }, nz);
        Assert.Equal([0f, 0f, -1f, 1f], nz, (p, q) => Math.Abs(p - q) < 1e-6f);
    }
}

internal sealed class Collect(List<double> into) : IProgress<double>
{
    public void Report(double value) => into.Add(value);
}

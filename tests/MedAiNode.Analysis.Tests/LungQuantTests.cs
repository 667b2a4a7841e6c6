using MedAiNode.Imaging.Nifti;
using MedAiNode.Imaging.Volumes;
using MedAiNode.Inference.Manifests;
using MedAiNode.Inference.Runtime;

namespace MedAiNode.Analysis.Tests;

public class LungQuantTests
{
    private static double Dice(LabelVolume a, Func<byte, bool> inA, LabelVolume b, Func<byte, bool> inB)
    {
        long both = 0, na = 0, nb = 0;
        for (var i = 0; i < a.Data.Length; i++)
        {
            var x = inA(a.Data[i]); var y = inB(b.Data[i]);
            if (x) na++;
            if (y) nb++;
            if (x && y) both++;
        }
        return na + nb == 0 ? 1 : 2.0 * both / (na + nb);
    }

    public static (double Left, double Right, double Both, AnalysisResult Result) RunOnExample(string ct = "example_ct_sm.nii.gz")
    {
        var manifest = ModelManifest.Load(Path.Combine(Fixtures.ModelsDir, "ct-lung-quant", "manifest.json"));
        using var cache = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"] });
        var volume = NiftiIO.Read(TestData.Path_("nifti", ct));
        var reference = NiftiIO.ReadLabels(TestData.Path_("nifti", "example_seg.nii.gz"));
        var result = new AnalysisPipeline(cache).RunModel(volume, manifest);
        // TotalSegmentator v2: 10/11 left upper/lower lobe, 12/13/14 right upper/middle/lower lobe.
        var left = Dice(result.Labels, l => l == 2, reference, l => l is 10 or 11);
        var right = Dice(result.Labels, l => l == 3, reference, l => l is 12 or 13 or 14);
        var both = Dice(result.Labels, l => l is 2 or 3, reference, l => l is >= 10 and <= 14);
        return (left, right, both, result);
    }

    [Fact]
    public void LungModel_AgreesWithTotalSegmentatorLobes()
    {
        var (left, right, both, result) = RunOnExample();
        Console.WriteLine($"ct-lung-quant Dice left {left:0.000} right {right:0.000} both {both:0.000}; " +
            string.Join(", ", result.Measurements.Select(m => $"{m.Id} {string.Join("+", m.Labels)} {m.Value:0.##} {m.Unit.Value}")));
        Assert.True(left > 0.8, $"left lung Dice {left:0.000}");
        Assert.True(right > 0.85, $"right lung Dice {right:0.000}");
        var laa = result.Measurements.Single(m => m.Id == "laa950").Value;
        Assert.InRange(laa, 0, 100);
        var mld = result.Measurements.Single(m => m.Id == "meanLungDensity").Value;
        Assert.InRange(mld, -950, -600); // aerated lung
        Assert.True(result.Labels.Count(1) > result.Labels.Count(2) + result.Labels.Count(3)); // body is the largest label
    }
}

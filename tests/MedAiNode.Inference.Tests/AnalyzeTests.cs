using System.Globalization;
using System.Text.Json;
using MedAiNode.Imaging.Nifti;
using MedAiNode.Inference.Manifests;
using MedAiNode.Inference.Pipeline;
using MedAiNode.Inference.Runtime;

namespace MedAiNode.Inference.Tests;

public class AnalyzeTests
{
    private static AnalysisRunner Runner(ModelSessionCache cache) => new(cache, ModelCatalog.LoadAll([Fixtures.ModelsDir]));

    [Fact]
    public void AnalyzeNifti_WritesLabelMapOnTheInputGrid_AndMeasurements()
    {
        using var cache = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"] });
        var outDir = TestData.TempDir("analyze-nifti");
        var input = TestData.Path_("nifti", "example_ct_sm.nii.gz");
        var o = Runner(cache).Run(input, outDir);
        Assert.Equal("ct-lung-quant", o.Result.ModelId);
        var labels = NiftiIO.ReadLabels(o.LabelMapPath);
        var ct = NiftiIO.Read(input);
        Assert.Equal(ct.Dims, labels.Dims);
        // nibabel sees the same affine on both files.
        var r = Tool.Python("import sys, nibabel as nib, numpy as np; a = nib.load(sys.argv[1]).affine; b = nib.load(sys.argv[2]).affine; print(float(np.abs(a - b).max()))", input, o.LabelMapPath);
        Assert.True(r.ExitCode == 0, r.StdErr);
        Assert.True(double.Parse(r.StdOut.Trim(), CultureInfo.InvariantCulture) < 1e-3);
        using var json = JsonDocument.Parse(File.ReadAllText(o.MeasurementsPath));
        var ids = json.RootElement.GetProperty("measurements").EnumerateArray().Select(m => m.GetProperty("id").GetString()).ToList();
        Assert.Contains("laa950", ids);
        Assert.Contains("Lung volume", AnalysisRunner.Format(o));
    }

    [Fact]
    public void AnalyzeDicomFolder_SelectsAssemblesAndSegmentsTheTiltedSeries()
    {
        using var cache = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"] });
        var head = TestData.Path_("ct", "ge-head-tilt-varspacing");
        // The lung model's rules refuse a head CT (Body Part Examined HEAD) and say why.
        var refusal = Assert.Throws<InvalidOperationException>(() => Runner(cache).Run(head, TestData.TempDir("o"), "ct-lung-quant"));
        Assert.Contains("body part HEAD", refusal.Message);
        // With the body-part rule lifted, the whole chain runs on the tilted, unevenly spaced series.
        var models = ModelCatalog.LoadAll([Fixtures.ModelsDir]);
        models.Single(m => m.Id == "ct-lung-quant").SeriesSelection!.BodyParts = [];
        var outDir = TestData.TempDir("analyze-dicom");
        var o = new AnalysisRunner(cache, models).Run(head, outDir, "ct-lung-quant");
        Assert.NotNull(o.SeriesInstanceUid);
        Assert.Contains(o.Notes, n => n.Contains("gantry tilt"));
        var labels = NiftiIO.ReadLabels(o.LabelMapPath);
        Assert.Equal(512, labels.Dims.X);
        Assert.False(labels.Affine.IsOrthogonal()); // the label map keeps the sheared source geometry
        var body = o.Result.LabelStatistics.Single(l => l.Label == 1).Statistics;
        Assert.InRange(body.VolumeMl, 500, 8000); // a head
    }

    [Fact]
    public void BadInputs_GiveClearErrors()
    {
        using var cache = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"] });
        var empty = TestData.TempDir("analyze-empty");
        File.WriteAllText(Path.Combine(empty, "notes.txt"), "not dicom");
        Assert.Contains("no readable DICOM", Assert.Throws<InvalidOperationException>(() => Runner(cache).Run(empty, TestData.TempDir("o"))).Message);
        Assert.Contains("Unknown model", Assert.Throws<ArgumentException>(() => Runner(cache).Run(TestData.Path_("nifti", "example_ct_sm.nii.gz"), TestData.TempDir("o"), "nope")).Message);
        Assert.Throws<FileNotFoundException>(() => Runner(cache).Run("/nonexistent/x.nii.gz", TestData.TempDir("o")));
    }
}

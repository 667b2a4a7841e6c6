using System.Globalization;
using System.Text.Json;
using MedAiNode.Imaging.Nifti;
using MedAiNode.Inference.Manifests;
using MedAiNode.Inference.Runtime;

namespace MedAiNode.Analysis.Tests;

public class AnalyzeTests
{
    private static IReadOnlyList<ModelManifest> Models => ModelCatalog.LoadAll([Fixtures.ModelsDir]);

    private static IEnumerable<string> Files(string dir) => Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal);

    [Fact]
    public void AnalyzeNifti_WritesLabelMapOnTheInputGrid_AndMeasurements()
    {
        using var cache = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"] });
        var outDir = TestData.TempDir("analyze-nifti");
        var input = TestData.Path_("nifti", "example_ct_sm.nii.gz");
        var result = new AnalysisPipeline(cache).RunModel(NiftiIO.Read(input), AnalysisPipeline.ChooseModel(Models, null, null));
        Assert.Equal("ct-lung-quant", result.Model.Id);
        var o = AnalysisFiles.Write(result, outDir);
        Assert.Null(o.Seg); // NIfTI has no source images to put a SEG on
        var labels = NiftiIO.ReadLabels(o.LabelMap);
        var ct = NiftiIO.Read(input);
        Assert.Equal(ct.Dims, labels.Dims);
        // nibabel sees the same affine on both files.
        var r = Tool.Python("import sys, nibabel as nib, numpy as np; a = nib.load(sys.argv[1]).affine; b = nib.load(sys.argv[2]).affine; print(float(np.abs(a - b).max()))", input, o.LabelMap);
        Assert.True(r.ExitCode == 0, r.StdErr);
        Assert.True(double.Parse(r.StdOut.Trim(), CultureInfo.InvariantCulture) < 1e-3);
        using var json = JsonDocument.Parse(File.ReadAllText(o.Measurements));
        var measured = json.RootElement.GetProperty("measurements").EnumerateArray().ToList();
        var laa = measured.Single(m => m.GetProperty("id").GetString() == "laa950");
        // Measurements are data: the concept and unit come from the manifest's declaration, with the threshold in the code.
        Assert.Equal("PCTBELOW-950", laa.GetProperty("concept").GetProperty("value").GetString());
        Assert.Equal("%", laa.GetProperty("unit").GetString());
        Assert.Equal(["Left lung", "Right lung"], laa.GetProperty("segments").EnumerateArray().Select(x => x.GetString()));
        Assert.Contains("Lung volume", AnalysisFiles.Format(result, o));
    }

    [Fact]
    public void AnalyzeDicomFolder_SelectsAssemblesAndSegmentsTheTiltedSeries()
    {
        using var cache = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"] });
        var head = TestData.Path_("ct", "ge-head-tilt-varspacing");
        // The lung model's rules refuse a head CT (Body Part Examined HEAD) and say why.
        var lung = Models.Single(m => m.Id == "ct-lung-quant");
        var refusal = Assert.Throws<AnalysisRejectedException>(() => new AnalysisPipeline(cache).Run(Files(head), lung, new AnalysisOptions()));
        Assert.Contains("body part HEAD", refusal.Message);
        // With the body-part rule lifted, the whole chain runs on the tilted, unevenly spaced series.
        lung.SeriesSelection!.BodyParts = [];
        var result = new AnalysisPipeline(cache).Run(Files(head), lung, new AnalysisOptions());
        Assert.NotNull(result.SeriesInstanceUid);
        Assert.Contains(result.Notes, n => n.Contains("gantry tilt"));
        Assert.True(result.Times.Select > 0 && result.Times.Assemble > 0 && result.Times.Results > 0, result.Times.ToString());
        var o = AnalysisFiles.Write(result, TestData.TempDir("analyze-dicom"));
        Assert.True(File.Exists(o.Seg) && File.Exists(o.Sr) && File.Exists(o.Measurements));
        var labels = NiftiIO.ReadLabels(o.LabelMap);
        Assert.Equal(512, labels.Dims.X);
        Assert.False(labels.Affine.IsOrthogonal()); // the label map keeps the sheared source geometry
        var body = result.LabelStatistics.Single(l => l.Label == 1).Statistics;
        Assert.InRange(body.VolumeMl, 500, 8000); // a head
    }

    [Fact]
    public void BadInputs_GiveClearErrors()
    {
        using var cache = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"] });
        var empty = TestData.TempDir("analyze-empty");
        File.WriteAllText(Path.Combine(empty, "notes.txt"), "not dicom");
        var lung = Models.Single(m => m.Id == "ct-lung-quant");
        Assert.Contains("no readable DICOM", Assert.Throws<AnalysisRejectedException>(() => new AnalysisPipeline(cache).Run(Files(empty), lung, new AnalysisOptions())).Message);
        Assert.Contains("Unknown model", Assert.Throws<ArgumentException>(() => AnalysisPipeline.ChooseModel(Models, "nope", null)).Message);
        Assert.Contains("No model for modality US", Assert.Throws<ArgumentException>(() => AnalysisPipeline.ChooseModel(Models, null, "US")).Message);
    }
}

using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.Imaging.Series;
using MedAiNode.Imaging.Volumes;
using MedAiNode.Inference.Manifests;
using MedAiNode.Inference.Runtime;

namespace MedAiNode.Analysis.Tests;

/// <summary>The pipeline analyses a CT series as int16 HU (half the memory of float); every stage must give exactly what
/// it gives on the same values as float: the label map voxel for voxel, every measurement and every nodule candidate.</summary>
public class Int16InputTests
{
    [Fact]
    public void The_lung_analysis_of_a_real_chest_ct_is_identical_on_int16_and_float()
    {
        var files = Directory.GetFiles(TestData.Path_("ct", "lidc-idri-0001-chest"), "*.dcm").Select(p => DicomFile.Open(p)).ToList();
        var assembled = VolumeAssembler.Assemble(files);
        var hu = Assert.IsType<HuVolume>(assembled.Hu);
        var manifest = ModelManifest.Load(Path.Combine(Fixtures.ModelsDir, "ct-lung-quant", "manifest.json"));
        using var cache = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"] });
        var pipeline = new AnalysisPipeline(cache);

        var fromInt16 = pipeline.RunModel(hu, manifest);
        var fromFloat = pipeline.RunModel(hu.ToVolume(), manifest);

        Assert.True(fromFloat.Labels.Data.AsSpan().SequenceEqual(fromInt16.Labels.Data), "label maps differ");
        Assert.True(fromFloat.ModelGridLabels.Data.AsSpan().SequenceEqual(fromInt16.ModelGridLabels.Data), "model-grid label maps differ");
        Assert.Equal(Describe(fromFloat.Measurements), Describe(fromInt16.Measurements));
        Assert.Equal(fromFloat.LabelStatistics.Select(s => s.Statistics), fromInt16.LabelStatistics.Select(s => s.Statistics));
        Assert.Equal(fromFloat.Lesions, fromInt16.Lesions);
        Assert.Equal(fromFloat.Notes.Where(n => !n.StartsWith("execution provider")), fromInt16.Notes.Where(n => !n.StartsWith("execution provider")));
        // Not a vacuous comparison: the analysis found lungs, measured them, and searched for nodules.
        Assert.Contains(fromInt16.Measurements, m => m.Id == "meanLungDensity" && m.Value is > -950 and < -600);
        Assert.Contains(fromInt16.Lesions, l => l.Label == manifest.Anatomy!.Nodules!.Label);
    }

    private static List<string> Describe(IEnumerable<Measurement> ms) =>
        ms.Select(m => $"{m.Id} {string.Join("+", m.Labels)} {m.Value:R} {m.Unit.Value}").ToList();
}

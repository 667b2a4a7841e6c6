using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.Imaging.Series;
using MedAiNode.Imaging.Volumes;
using MedAiNode.Inference.Manifests;
using MedAiNode.Inference.Runtime;

namespace MedAiNode.Analysis.Tests;

/// <summary>The pipeline analyses a CT series as int16 HU (half the memory of float), let go during the network run and
/// read again after it; every stage must give exactly what it gives on the same values as float: the label map voxel
/// for voxel, every measurement and every nodule candidate.</summary>
public class Int16InputTests
{
    [Fact]
    public void The_lung_analysis_of_a_real_chest_ct_is_identical_on_int16_and_float()
    {
        var files = Directory.GetFiles(TestData.Path_("ct", "lidc-idri-0001-chest"), "*.dcm").Select(p => DicomFile.Open(p)).ToList();
        var manifest = ModelManifest.Load(Path.Combine(Fixtures.ModelsDir, "ct-lung-quant", "manifest.json"));
        using var cache = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"] });

        // The int16 run goes the whole pipeline's way, which lets the volume go while the network runs (the analysis'
        // memory peak) and reads it again from the files for the nodule search and the measurements: the values must
        // be unreachable then, and what is read back must give exactly the float run's result.
        WeakReference? assembledValues = null;
        bool? heldDuringNetwork = null;
        var pipeline = new AnalysisPipeline(cache)
        {
            Assembled = a => assembledValues = new WeakReference(Assert.IsType<HuVolume>(a.Hu).Data),
            NetworkStarts = () =>
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                GC.Collect();
                heldDuringNetwork = assembledValues!.IsAlive;
            },
        };
        var fromInt16 = pipeline.Run(files, 0, manifest, new AnalysisOptions { Summary = new() { Enabled = false } });
        Assert.True(heldDuringNetwork == false, $"the input volume was {(heldDuringNetwork is null ? "never checked" : "still reachable")} while the network ran");
        var fromFloat = new AnalysisPipeline(cache).RunModel(VolumeAssembler.Assemble(files).Volume, manifest);

        Assert.True(fromFloat.Labels.Data.AsSpan().SequenceEqual(fromInt16.Labels.Data), "label maps differ");
        Assert.True(fromFloat.ModelGridLabels.Data.AsSpan().SequenceEqual(fromInt16.ModelGridLabels.Data), "model-grid label maps differ");
        Assert.Equal(Describe(fromFloat.Measurements), Describe(fromInt16.Measurements));
        Assert.Equal(fromFloat.LabelStatistics.Select(s => s.Statistics), fromInt16.LabelStatistics.Select(s => s.Statistics));
        Assert.Equal(fromFloat.Lesions, fromInt16.Lesions);
        // The pipeline adds its own notes (the series chosen, the content rule) around the model stages'.
        var stageNotes = fromFloat.Notes.Where(n => !n.StartsWith("execution provider")).ToList();
        Assert.NotEmpty(stageNotes);
        Assert.Equal(stageNotes, fromInt16.Notes.Where(stageNotes.Contains));
        // Not a vacuous comparison: the analysis found lungs, measured them, and searched for nodules.
        Assert.Contains(fromInt16.Measurements, m => m.Id == "meanLungDensity" && m.Value is > -950 and < -600);
        Assert.Contains(fromInt16.Lesions, l => l.Label == manifest.Anatomy!.Nodules!.Label);
    }

    private static List<string> Describe(IEnumerable<Measurement> ms) =>
        ms.Select(m => $"{m.Id} {string.Join("+", m.Labels)} {m.Value:R} {m.Unit.Value}").ToList();
}

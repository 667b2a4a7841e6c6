using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.Imaging.Morphology;
using MedAiNode.Imaging.Series;
using MedAiNode.Inference.Manifests;
using MedAiNode.Inference.Runtime;

namespace MedAiNode.Analysis.Tests;

/// <summary>
/// Which model a study gets, with the default models: head CT to BLAST-CT, chest CT to the lung analysis, by Body Part
/// Examined and, where a series has none, by what the images show; each refusal says why.
/// </summary>
public class RoutingTests
{
    private static ModelManifest Load(string id) => ModelManifest.Load(Path.Combine(Fixtures.ModelsDir, id, "manifest.json"));

    private static List<DicomFile> Series(string folder) => AnalysisPipeline.Open(Directory.EnumerateFiles(TestData.Path_("ct", folder)), out _);

    [Theory]
    [InlineData("ge-head-tilt-varspacing", "blast-ct-v1", null)]                      // HEAD
    [InlineData("ge-head-tilt-varspacing", "ct-lung-quant", "rule body part")]
    [InlineData("lidc-idri-0001-chest", "ct-lung-quant", null)]                       // CHEST
    [InlineData("lidc-idri-0001-chest", "blast-ct-v1", "rule body part")]
    [InlineData("philips-phantom-5mm", "ct-lung-quant", "rule body part")]            // BRAIN
    public void BodyPartExamined_RoutesTheSeries(string folder, string model, string? refusal)
    {
        var selection = AnalysisPipeline.Select(Series(folder), Load(model));
        if (refusal is null) Assert.NotNull(selection.Chosen);
        else
        {
            Assert.Null(selection.Chosen);
            Assert.Contains(refusal, selection.Explain());
        }
    }

    [Fact]
    public void Content_TellsAHeadFromAChest()
    {
        var head = VolumeAssembler.Assemble(Series("ge-head-tilt-varspacing")).Volume;
        var lidc = VolumeAssembler.Assemble(Series("lidc-idri-0001-chest")).Volume;
        var petct = VolumeAssembler.Assemble(Series("lungpetctdx-a0001-chest")).Volume;
        var h = BodyRegion.Measure(head);
        var c1 = BodyRegion.Measure(lidc);
        var c2 = BodyRegion.Measure(petct);
        Console.WriteLine($"head: {h}; LIDC chest: {c1}; Lung-PET-CT-Dx chest: {c2}");
        Assert.True(h.IsHead && !h.IsChest, h.ToString());
        // A brain: 1,000 to 1,700 mL of tissue inside the skull (this head is cut off above the vertex).
        Assert.InRange(h.IntracranialMl, 700, 1700);
        Assert.True(c1.IsChest && !c1.IsHead, c1.ToString());
        Assert.True(c2.IsChest && !c2.IsHead, c2.ToString());
        // The LIDC lungs measure 3,902 mL with the lung analysis; aerated lung by density is of the same order.
        Assert.InRange(c1.AeratedLungMl, 1500, 6000);
    }

    [Fact]
    public void WithoutBodyPart_AChestIsRefusedByTheHeadModel_SayingWhatItShows()
    {
        // Lung-PET-CT-Dx has no Body Part Examined: both models' header rules pass; the head model's content rule refuses
        // it before any network runs, and the reason names the measured evidence.
        var files = Series("lungpetctdx-a0001-chest");
        Assert.All(files, f => Assert.True(string.IsNullOrEmpty(f.Dataset.GetString(DicomTags.BodyPartExamined))));
        var blast = Load("blast-ct-v1");
        var selection = AnalysisPipeline.Select(files, blast);
        Assert.NotNull(selection.Chosen);
        using var cache = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"], WarmUp = false });
        var e = Assert.Throws<AnalysisRejectedException>(() => new AnalysisPipeline(cache).Run(selection, blast, new AnalysisOptions()));
        Assert.StartsWith("rule content:", e.Message);
        Assert.Contains("does not look like a head", e.Message);
        Assert.Contains("aerated lung", e.Message);
    }

    [Fact]
    public void WithoutBodyPart_AHeadIsRefusedByTheLungModel()
    {
        // The GE head with its Body Part Examined removed, as some scanners send it.
        var files = Series("ge-head-tilt-varspacing");
        foreach (var f in files) f.Dataset.Remove(DicomTags.BodyPartExamined);
        var lung = Load("ct-lung-quant");
        var selection = AnalysisPipeline.Select(files, lung);
        Assert.NotNull(selection.Chosen);
        using var cache = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"], WarmUp = false });
        var e = Assert.Throws<AnalysisRejectedException>(() => new AnalysisPipeline(cache).Run(selection, lung, new AnalysisOptions()));
        Assert.Contains("does not look like a chest", e.Message);
    }

    [Fact]
    public void AContentRuleOtherThanHeadOrChest_IsRefused_NamingTheKey()
    {
        var rules = new SeriesSelectionRules { Content = "abdomen" };
        var e = Assert.Throws<ArgumentException>(() => rules.Validate("models/x: seriesSelection"));
        Assert.Contains("seriesSelection:Content", e.Message);
    }
}

using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.Inference.Manifests;
using MedAiNode.Inference.Runtime;
using MedAiNode.Results;
using MedAiNode.Results.Segmentation;
using MedAiNode.Results.Summary;

namespace MedAiNode.Analysis.Tests;

/// <summary>The pipeline's "AI summary" series on real CT: key slices in the SEG's colours exactly where the SEG has its
/// segments, valid SC that DCMTK converts; "nothing found" and "not analysed" pages.</summary>
public class SummaryTests
{
    private static IReadOnlyList<ModelManifest> Models => ModelCatalog.LoadAll([Fixtures.ModelsDir]);
    private static List<string> Files(string name) => Directory.EnumerateFiles(TestData.Path_("ct", name), "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();

    /// <summary>dciodvfy without errors, and dcm2pnm's PNG next to it (the artefact a person looks at).</summary>
    private static void CheckAndConvert(IReadOnlyList<DicomFile> pages, string dir)
    {
        var paths = AnalysisFiles.WriteSummary(pages, dir);
        foreach (var path in paths)
        {
            var v = Tool.Run("dciodvfy", [path]);
            Assert.DoesNotContain("Error", v.StdOut + v.StdErr);
            var png = Tool.Run("dcm2pnm", ["--write-png", path, Path.ChangeExtension(path, ".png")]);
            Assert.True(png.ExitCode == 0 && new FileInfo(Path.ChangeExtension(path, ".png")).Length > 1000, png.StdErr);
        }
    }

    [Fact]
    public void Chest_CT_key_slices_show_each_lung_in_its_SEG_colour_where_the_SEG_has_it()
    {
        using var cache = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"] });
        var lung = Models.Single(m => m.Id == "ct-lung-quant");
        var result = new AnalysisPipeline(cache).Run(Files("lidc-idri-0001-chest"), lung, new AnalysisOptions { UidSeed = "summary-lidc" });
        var dir = TestData.TempDir("summary-lidc");
        CheckAndConvert(result.Summary, dir);
        Console.WriteLine($"summary images in {dir}");
        Assert.InRange(result.Summary.Count, 3, 1 + new SummaryOptions().MaxKeySlices);
        var seg = result.Seg!;
        var study = seg.Dataset.GetString(DicomTags.StudyInstanceUID);
        Assert.All(result.Summary, f => Assert.Equal(study, f.Dataset.GetString(DicomTags.StudyInstanceUID)));
        Assert.Single(result.Summary.Select(f => f.Dataset.GetString(DicomTags.SeriesInstanceUID)).Distinct());

        var mask = SegmentationReader.Read(seg);
        var leftLung = mask.Segments.Single(s => s.Label == "Left lung").Number;
        // The page that shows the left lung's largest area shows the slice where the SEG has most of it.
        var page = result.Summary.Single(f => f.Dataset.GetString(DicomTags.DerivationDescription)!.Contains("largest area of Left lung"));
        var sop = page.Dataset.GetSequence(DicomTags.SourceImageSequence)!.Items.Single().GetString(DicomTags.ReferencedSOPInstanceUID)!;
        var areas = mask.Instances.ToDictionary(uid => uid, uid => mask.GetLabels(uid).Count(l => l == leftLung));
        Assert.Equal(areas.Values.Max(), areas[sop]);

        // On it, every pixel inside the left lung is the lung colour (128, 174, 128) blended over grey: green above red by
        // 40 % of 46, red equal to blue; every pixel outside all segments is grey.
        var labels = mask.GetLabels(sop);
        int rows = mask.Rows, cols = mask.Columns, width = page.Dataset.GetValueOrDefault<int>(DicomTags.Columns, 0);
        var rgb = page.Dataset.GetBytes(DicomTags.PixelData).Span;
        int inside = 0, outside = 0;
        for (var r = 1; r < rows - 1; r++)
            for (var c = 1; c < cols - 1; c++)
            {
                var l = labels[r * cols + c];
                var interior = labels[(r - 1) * cols + c] == l && labels[(r + 1) * cols + c] == l && labels[r * cols + c - 1] == l && labels[r * cols + c + 1] == l;
                if (!interior) continue;
                var (x, y) = SummaryLayout.PagePixel(r, c, rows, cols);
                var i = (y * width + x) * 3;
                var (R, G, B) = (rgb[i], rgb[i + 1], rgb[i + 2]);
                if (l == leftLung)
                {
                    Assert.True(R == B && G - R is 18 or 19, $"left lung pixel ({r},{c}) is ({R},{G},{B})");
                    inside++;
                }
                else if (l == 0)
                {
                    Assert.True(R == G && G == B, $"pixel ({r},{c}) outside every segment is ({R},{G},{B})");
                    outside++;
                }
            }
        Assert.True(inside > 5000 && outside > 5000, $"{inside} left-lung and {outside} background pixels checked");
    }

    [Fact]
    public void Nothing_found_is_an_SR_saying_so_and_one_summary_page_without_SEG()
    {
        // The identity fixture with every voxel mapped below zero: no voxel gets the label.
        var m = Fixtures.Manifest();
        m.SlidingWindow.PatchSize = null;
        m.Spacing = [4, 4, 5];
        m.Modalities = ["CT"];
        m.Intensity = new IntensitySpec { Kind = IntensityKind.ScaleIntensityRange, AMin = -5000, AMax = 5000, BMin = -1, BMax = -0.5f };
        using var cache = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"] });
        var files = Files("philips-phantom-5mm");
        var result = new AnalysisPipeline(cache).Run(files, m, new AnalysisOptions());
        Assert.Null(result.Seg);
        var page = Assert.Single(result.Summary);
        Assert.Contains("nothing found", page.Dataset.GetString(DicomTags.ImageComments));
        var dir = TestData.TempDir("summary-nothing");
        CheckAndConvert(result.Summary, dir);

        // The SR: TID 1500 without measurement groups; each label looked for is coded Absent under Qualitative Evaluations.
        var sr = Assert.IsType<DicomFile>(result.Sr);
        var path = Path.Combine(dir, "nothing-found-sr.dcm");
        sr.Save(path);
        var v = Tool.Run("dciodvfy", [path]);
        Assert.DoesNotContain("Error", v.StdOut + v.StdErr);
        var dump = Tool.Run("dsrdump", [path]);
        Assert.Equal(0, dump.ExitCode);
        Assert.Contains("Qualitative Evaluations", dump.StdOut);
        Assert.Contains("Absent", dump.StdOut);
        Assert.DoesNotContain("Measurement Group", dump.StdOut);
        Assert.Equal(m.Labels.Length, dump.StdOut.Split('\n').Count(l => l.Contains("Absent")));

        // With the summary off the SR alone goes out: nothing found is still a result.
        var off = new AnalysisPipeline(cache).Run(files, m, new AnalysisOptions { Summary = new SummaryOptions { Enabled = false } });
        Assert.NotNull(off.Sr);
        Assert.Empty(off.Summary);
    }

    [Fact]
    public void A_study_the_model_does_not_analyse_gets_one_page_saying_why()
    {
        using var cache = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"] });
        var lung = Models.Single(m => m.Id == "ct-lung-quant");
        var files = AnalysisPipeline.Open(Files("ge-head-tilt-varspacing"), out _);
        var options = new AnalysisOptions();
        var refusal = Assert.Throws<AnalysisRejectedException>(() => new AnalysisPipeline(cache).Run(files, 0, lung, options));
        var page = Assert.Single(AnalysisPipeline.NotAnalysedSummary(files, lung, refusal.Message, options));
        Assert.Contains("not analysed: ", page.Dataset.GetString(DicomTags.ImageComments));
        Assert.Contains("body part HEAD", page.Dataset.GetString(DicomTags.ImageComments));
        Assert.Equal(files[0].Dataset.GetString(DicomTags.StudyInstanceUID), page.Dataset.GetString(DicomTags.StudyInstanceUID));
        CheckAndConvert([page], TestData.TempDir("summary-not-analysed"));
        Assert.Empty(AnalysisPipeline.NotAnalysedSummary(files, lung, refusal.Message, new AnalysisOptions { Summary = new SummaryOptions { Enabled = false } }));
    }
}

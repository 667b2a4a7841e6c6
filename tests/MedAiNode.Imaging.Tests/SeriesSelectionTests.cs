using MedAiNode.Imaging.Geometry;
using MedAiNode.Imaging.Series;

namespace MedAiNode.Imaging.Tests;

public class SeriesSelectionTests
{
    private static readonly (Vec3 Row, Vec3 Col) Axial = (new Vec3(1, 0, 0), new Vec3(0, 1, 0));

    private static IEnumerable<MedAiNode.Dicom.IO.DicomFile> Series(string uid, int count, string[]? imageType = null, string modality = "CT", string? kernel = null, double thickness = 1, (Vec3 Row, Vec3 Col)? orientation = null)
    {
        var (row, col) = orientation ?? Axial;
        var n = row.Cross(col);
        return Enumerable.Range(0, count).Select(i => Synthetic.Slice(n * i, row, col, 1, 4, 4, _ => 0, uid, i + 1, imageType, modality, kernel, thickness));
    }

    [Fact]
    public void ChoosesPreferredKernel_AndExplainsEverySkippedSeries()
    {
        var files = Series("1.1", 30, kernel: "B70f")
            .Concat(Series("1.2", 25, kernel: "B30f"))
            .Concat(Series("1.3", 1, ["ORIGINAL", "PRIMARY", "LOCALIZER"]))
            .Concat(Series("1.4", 30, ["DERIVED", "SECONDARY", "AXIAL"]))
            .Concat(Series("1.5", 5))
            .Concat(Series("1.6", 30, modality: "MR"))
            .Concat(Series("1.7", 30, thickness: 10))
            .Concat(Series("1.8", 30, orientation: (new Vec3(0, 1, 0), new Vec3(0, 0, -1))))
            .ToList();
        var rules = new SeriesSelectionRules { MinSlices = 20, PreferredKernels = ["B30", "B70"] };
        var result = SeriesSelector.Select(files, rules);
        Assert.Equal("1.2", result.Chosen!.SeriesInstanceUid);
        var reasons = result.Skipped.ToDictionary(s => s.SeriesInstanceUid, s => s.Reason);
        Assert.Contains("less preferred", reasons["1.1"]);
        Assert.Contains("localizer", reasons["1.3"]);
        Assert.Contains("not ORIGINAL\\PRIMARY", reasons["1.4"]);
        Assert.Contains("fewer than the 20", reasons["1.5"]);
        Assert.Contains("modality MR", reasons["1.6"]);
        Assert.Contains("thickness 10", reasons["1.7"]);
        Assert.Contains("not axial", reasons["1.8"]);
        Assert.Equal(7, result.Skipped.Count);
        Assert.Contains("Chose 1.2", result.Explain());
    }

    [Fact]
    public void WithoutKernelPreference_MoreSlicesWin_AndNoneQualifyingIsExplained()
    {
        var result = SeriesSelector.Select(Series("2.1", 22).Concat(Series("2.2", 40)), new SeriesSelectionRules());
        Assert.Equal("2.2", result.Chosen!.SeriesInstanceUid);
        var none = SeriesSelector.Select(Series("3.1", 3), new SeriesSelectionRules());
        Assert.Null(none.Chosen);
        Assert.Contains("3 slices", none.Explain());
    }

    [Fact]
    public void RealGeSeries_PassesHeadRules()
    {
        var files = Directory.GetFiles(TestData.Path_("ct", "ge-head-tilt-varspacing"), "*.dcm").Select(p => MedAiNode.Dicom.IO.DicomFile.Open(p));
        var result = SeriesSelector.Select(files, new SeriesSelectionRules { MaxSliceThicknessMm = 5, PreferredKernels = ["STD"] });
        Assert.NotNull(result.Chosen);
        Assert.Equal(28, result.Chosen!.SliceCount);
        Assert.Equal("STD+", result.Chosen.Kernel);
    }

    [Fact]
    public void BodyPartRule_SkipsOtherRegions_ButAcceptsSeriesWithoutTheAttribute()
    {
        var abdomen = Series("4.1", 30).ToList();
        foreach (var f in abdomen) f.Dataset.Set(MedAiNode.Dicom.DicomTags.BodyPartExamined, "ABDOMEN");
        var chest = Series("4.2", 25).ToList();
        foreach (var f in chest) f.Dataset.Set(MedAiNode.Dicom.DicomTags.BodyPartExamined, "CHEST");
        var rules = new SeriesSelectionRules { BodyParts = ["CHEST", "THORAX"] };
        var result = SeriesSelector.Select(abdomen.Concat(chest), rules);
        Assert.Equal("4.2", result.Chosen!.SeriesInstanceUid);
        Assert.Contains("body part ABDOMEN", result.Skipped.Single(s => s.SeriesInstanceUid == "4.1").Reason);
        Assert.NotNull(SeriesSelector.Select(Series("4.3", 25), rules).Chosen);
    }

    [Fact]
    public void InvalidRules_NameTheKey()
    {
        var e = Assert.Throws<ArgumentException>(() => new SeriesSelectionRules { MinSlices = 0 }.Validate());
        Assert.Contains("SeriesSelection:MinSlices", e.Message);
    }
}

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
            .Concat(Series("1.4", 30, ["DERIVED", "SECONDARY", "MIP"]))
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
        Assert.Contains("rule localizer", reasons["1.3"]);
        Assert.Contains("rule derived image", reasons["1.4"]);
        Assert.Contains("contains MIP", reasons["1.4"]);
        Assert.Contains("fewer than the 20", reasons["1.5"]);
        Assert.Contains("modality MR", reasons["1.6"]);
        Assert.Contains("thickness 10", reasons["1.7"]);
        Assert.Contains("not axial", reasons["1.8"]);
        Assert.Equal(7, result.Skipped.Count);
        Assert.Contains("Chose 1.2", result.Explain());
    }

    [Theory]
    [InlineData("ORIGINAL", "SECONDARY", "AXIAL")]
    [InlineData("DERIVED", "SECONDARY", "AXIAL")]
    [InlineData("ORIGINAL", "PRIMARY", "AXIAL")]
    public void PlainAxialReconstructions_AreAccepted_WhatEverValue1And2Say(string v1, string v2, string v3)
    {
        var result = SeriesSelector.Select(Series("5.1", 30, [v1, v2, v3]), new SeriesSelectionRules());
        Assert.Equal("5.1", result.Chosen?.SeriesInstanceUid);
        // The strict rule is still there for a site that wants it, and names itself.
        var strict = SeriesSelector.Select(Series("5.1", 30, [v1, v2, v3]), new SeriesSelectionRules { RequireOriginalPrimary = true });
        if (v1 == "ORIGINAL" && v2 == "PRIMARY") Assert.NotNull(strict.Chosen);
        else Assert.Contains("rule original primary", strict.Skipped.Single().Reason);
    }

    [Fact]
    public void WhatCannotBeAnalysed_IsRefused_NamingTheRule()
    {
        var files = Series("6.1", 3, ["ORIGINAL", "PRIMARY", "LOCALIZER"])
            .Concat(Series("6.2", 1))
            .Concat(Series("6.3", 30, ["DERIVED", "SECONDARY", "AXIAL", "SUBTRACTION"]))
            .Concat(Series("6.4", 30, ["DERIVED", "PRIMARY", "PERFUSION", "CBF"]))
            .Concat(Series("6.5", 30, ["DERIVED", "SECONDARY", "CORONAL"]))
            .Concat(Series("6.6", 30, ["ORIGINAL", "SECONDARY", "AXIAL"], thickness: 8))
            .Concat(Series("6.7", 30, ["DERIVED", "SECONDARY", "AXIAL"], orientation: (new Vec3(1, 0, 0), new Vec3(0, 0, -1))))
            .Concat(Series("6.8", 30, ["DERIVED", "SECONDARY", "OTHER", "MPR"]))
            .ToList();
        var result = SeriesSelector.Select(files, new SeriesSelectionRules());
        Assert.Null(result.Chosen);
        var reasons = result.Skipped.ToDictionary(s => s.SeriesInstanceUid, s => s.Reason);
        // Each series, and the words its refusal must hold: the rule that decided, and what in the data made it decide.
        (string Series, string[] Words)[] expected =
        [
            ("6.1", ["rule localizer"]), ("6.2", ["rule single image"]), ("6.3", ["rule derived image", "SUBTRACTION"]),
            ("6.4", ["PERFUSION"]), ("6.5", ["rule axial"]), ("6.6", ["rule slice thickness"]),
            ("6.7", ["rule axial", "not axial"]), ("6.8", ["MPR"]),
        ];
        foreach (var (series, words) in expected)
        foreach (var word in words) Assert.Contains(word, reasons[series]);
        foreach (var s in result.Skipped) Assert.Contains($"{s.SeriesInstanceUid}: {s.Reason}", result.Explain());
    }

    [Fact]
    public void LocalizerAndRepeatedInstancesInsideTheSeries_DoNotCountAndDoNotRefuseIt()
    {
        var files = Series("7.1", 25).ToList();
        // A coronal localizer of another size first (ImageType LOCALIZER), and the same instances received twice.
        files.Insert(0, Synthetic.Slice(new Vec3(0, 0, 0), new Vec3(1, 0, 0), new Vec3(0, 0, -1), 2, 8, 6, _ => 0, "7.1", 99, ["ORIGINAL", "PRIMARY", "LOCALIZER"]));
        files.AddRange(Series("7.1", 3));
        var result = SeriesSelector.Select(files, new SeriesSelectionRules());
        Assert.Equal("7.1", result.Chosen?.SeriesInstanceUid);
        Assert.Equal(25, result.Chosen!.SliceCount);
    }

    [Fact]
    public void WithoutKernelPreference_MoreSlicesWin_AndNoneQualifyingIsExplained()
    {
        var result = SeriesSelector.Select(Series("2.1", 22).Concat(Series("2.2", 40)), new SeriesSelectionRules());
        Assert.Equal("2.2", result.Chosen!.SeriesInstanceUid);
        var none = SeriesSelector.Select(Series("3.1", 3), new SeriesSelectionRules());
        Assert.Null(none.Chosen);
        Assert.Contains("3 slices", none.Explain());
        Assert.Contains("rule min slices", none.Explain());
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
    public void RealChestCt_ExportedAsOriginalSecondaryAxial_IsAccepted()
    {
        var files = Directory.GetFiles(TestData.Path_("ct", "lidc-idri-0001-chest"), "*.dcm").Select(p => MedAiNode.Dicom.IO.DicomFile.Open(p)).ToList();
        foreach (var f in files) f.Dataset.Set(MedAiNode.Dicom.DicomTags.ImageType, "ORIGINAL", "SECONDARY", "AXIAL");
        var rules = new SeriesSelectionRules { MinSlices = 20, MaxSliceThicknessMm = 5, PreferredKernels = ["B30", "STANDARD", "FC17"] };
        var result = SeriesSelector.Select(files, rules);
        Assert.NotNull(result.Chosen);
        Assert.Equal(files.Count, result.Chosen!.SliceCount);
        rules.RequireOriginalPrimary = true;
        Assert.Contains("rule original primary", SeriesSelector.Select(files, rules).Skipped.Single().Reason);
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

using MedAiNode.Results.Summary;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace MedAiNode.Worker.Tests;

/// <summary>Results:Summary is bound once by the host, on by default, and a bad value stops the start naming its key.</summary>
public class SummaryOptionsTests
{
    private sealed class RegistrationsTaken : Exception;

    private static ServiceProvider Provider(params string[] args)
    {
        IServiceCollection? captured = null;
        Assert.Throws<RegistrationsTaken>(() => ServiceHost.Build(args, services =>
        {
            captured = services;
            throw new RegistrationsTaken();
        }));
        return captured!.BuildServiceProvider();
    }

    [Fact]
    public void The_summary_is_on_by_default_and_can_be_turned_off_or_changed()
    {
        using (var p = Provider())
        {
            var o = p.GetRequiredService<IOptions<SummaryOptions>>().Value;
            Assert.True(o.Enabled);
            Assert.Equal(SummaryWindow.Auto, o.Window);
            Assert.Equal("AI summary", o.SeriesDescription);
        }
        using (var p = Provider("--Results:Summary:Enabled=false", "--Results:Summary:Window=Lung", "--Results:Summary:SeriesNumber=42"))
        {
            var o = p.GetRequiredService<IOptions<SummaryOptions>>().Value;
            Assert.False(o.Enabled);
            Assert.Equal(SummaryWindow.Lung, o.Window);
            Assert.Equal(42, o.SeriesNumber);
        }
    }

    [Theory]
    [InlineData("--Results:Summary:MaxKeySlices=100", "Results:Summary:MaxKeySlices")]
    [InlineData("--Results:Summary:Window=Sagittal", "Results:Summary:Window")]
    [InlineData("--Results:Summary:FontFile=/nonexistent/font.ttf", "Results:Summary:FontFile")]
    public void A_bad_value_is_a_start_up_error_naming_the_key(string arg, string key)
    {
        using var p = Provider(arg);
        var e = Assert.Throws<OptionsValidationException>(() => p.GetRequiredService<IOptions<SummaryOptions>>().Value);
        Assert.Contains(key, e.Message);
    }
}

/// <summary>`medainode analyze` writes the summary beside seg.dcm and sr.dcm, a "not analysed" page when the model refuses
/// the study, and none with --no-summary.</summary>
public class AnalyzeSummaryTests
{
    private static ToolResult Analyze(string series, string output, params string[] extra) =>
        Tool.Run("dotnet", [Path.Combine(AppContext.BaseDirectory, "medainode.dll"), "analyze", TestData.Path_("ct", series), "--out", output, .. extra]);

    [Fact]
    public void A_refused_study_gets_a_not_analysed_page_and_no_summary_means_none()
    {
        var output = TestData.TempDir("analyze-refused");
        var r = Analyze("ge-head-tilt-varspacing", output, "--model", "ct-lung-quant");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("body part HEAD", r.StdErr);
        var page = Assert.Single(Directory.GetFiles(output, "summary_*.dcm"));
        var v = Tool.Run("dciodvfy", [page]);
        Assert.DoesNotContain("Error", v.StdOut + v.StdErr);
        var ds = MedAiNode.Dicom.IO.DicomFile.Open(page).Dataset;
        Assert.StartsWith("Not for diagnostic use", ds.GetString(MedAiNode.Dicom.DicomTags.ImageComments));
        Assert.Contains("not analysed: ", ds.GetString(MedAiNode.Dicom.DicomTags.ImageComments));

        var off = TestData.TempDir("analyze-no-summary");
        Assert.Equal(2, Analyze("ge-head-tilt-varspacing", off, "--model", "ct-lung-quant", "--no-summary").ExitCode);
        Assert.Empty(Directory.GetFiles(off, "summary_*.dcm"));
    }

    [Fact]
    public void Without_a_model_named_a_CT_is_routed_as_the_service_does_and_each_refusal_is_said()
    {
        // The J2K abdomen (Body Part Examined PARTIALBODY): neither the chest nor the head model takes it.
        var output = TestData.TempDir("analyze-routed");
        var r = Analyze("totalseg-abdomen-j2k", output);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("model ct-lung-quant not run", r.StdErr);
        Assert.Contains("model blast-ct-v1 not run", r.StdErr);
        Assert.Contains("body part PARTIALBODY", r.StdErr);
        // No summary page here: this series' datasets carry no Study Instance UID to file one under (the quirk it was kept for).
        Assert.Empty(Directory.GetFiles(output, "seg.dcm"));
    }
}

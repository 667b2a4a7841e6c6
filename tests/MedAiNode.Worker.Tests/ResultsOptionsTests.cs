using MedAiNode.Results.Reports;
using MedAiNode.Results.Segmentation;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace MedAiNode.Worker.Tests;

/// <summary>Results:Segmentation and Results:Report are bound once by the host and a bad value stops the start naming its key.</summary>
public class ResultsOptionsTests
{
    private static ServiceProvider Provider(params string[] args) => SummaryOptionsTests.Provider(args);

    [Fact]
    public void The_seg_and_sr_options_have_their_defaults_and_take_configured_values()
    {
        using (var p = Provider())
        {
            var seg = p.GetRequiredService<IOptions<SegmentationOptions>>().Value;
            var sr = p.GetRequiredService<IOptions<MeasurementReportOptions>>().Value;
            Assert.Equal((9901, "AI Segmentation", "AI_SEGMENTATION"), (seg.SeriesNumber, seg.SeriesDescription, seg.ContentLabel));
            Assert.Equal((9902, "AI Measurements", true), (sr.SeriesNumber, sr.SeriesDescription, sr.KeySliceLengths));
        }
        using (var p = Provider("--Results:Segmentation:SeriesNumber=77", "--Results:Segmentation:ContentLabel=BODY_AI", "--Results:Segmentation:Equipment:Manufacturer=Hospital AI",
                   "--Results:Report:SeriesNumber=78", "--Results:Report:KeySliceLengths=false", "--Results:Report:CompletionFlag=PARTIAL"))
        {
            var seg = p.GetRequiredService<IOptions<SegmentationOptions>>().Value;
            var sr = p.GetRequiredService<IOptions<MeasurementReportOptions>>().Value;
            Assert.Equal((77, "BODY_AI", "Hospital AI"), (seg.SeriesNumber, seg.ContentLabel, seg.Equipment.Manufacturer));
            Assert.Equal((78, false, "PARTIAL"), (sr.SeriesNumber, sr.KeySliceLengths, sr.CompletionFlag));
        }
    }

    [Theory]
    [InlineData("--Results:Segmentation:ContentLabel=lower case", "Results:Segmentation:ContentLabel")]
    [InlineData("--Results:Segmentation:SeriesNumber=-1", "Results:Segmentation:SeriesNumber")]
    [InlineData("--Results:Segmentation:Equipment:Manufacturer=A\\B", "Results:Segmentation:Equipment:Manufacturer")]
    [InlineData("--Results:Report:CompletionFlag=DONE", "Results:Report:CompletionFlag")]
    [InlineData("--Results:Report:KeySliceLengths=perhaps", "Results:Report:KeySliceLengths")]
    public void A_bad_value_is_a_start_up_error_naming_the_key(string arg, string key)
    {
        using var p = Provider(arg);
        var e = Assert.Throws<OptionsValidationException>(() =>
            key.StartsWith("Results:Segmentation", StringComparison.Ordinal)
                ? (object)p.GetRequiredService<IOptions<SegmentationOptions>>().Value
                : p.GetRequiredService<IOptions<MeasurementReportOptions>>().Value);
        Assert.Contains(key, e.Message);
    }
}

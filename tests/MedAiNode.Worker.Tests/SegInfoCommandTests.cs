using System.CommandLine;
using MedAiNode.Worker.Commands;

namespace MedAiNode.Worker.Tests;

/// <summary>`medainode seg-info` as the host builds it (the summary itself is tested with the Results library).</summary>
public class SegInfoCommandTests
{
    [Fact]
    public void Verb_returns_2_with_a_message_for_a_file_that_is_not_a_seg()
    {
        var root = new RootCommand { SegInfoCommand.Create() };
        var err = new StringWriter();
        var rc = root.Parse(["seg-info", TestData.Path_("seg-sr", "highdicom", "ct_image.dcm")]).Invoke(new InvocationConfiguration { Output = TextWriter.Null, Error = err });
        Assert.Equal(2, rc);
        Assert.Contains("Not a Segmentation", err.ToString());
    }

    [Fact]
    public void Verb_prints_the_summary_of_a_seg()
    {
        var seg = TestData.Path_("seg-sr", "highdicom", "seg_image_ct_binary.dcm");
        var root = new RootCommand { SegInfoCommand.Create() };
        var output = new StringWriter();
        var err = new StringWriter();
        var rc = root.Parse(["seg-info", seg]).Invoke(new InvocationConfiguration { Output = output, Error = err });
        Assert.True(rc == 0, err.ToString());
        Assert.Equal(MedAiNode.Results.Segmentation.SegmentationSummary.Describe(seg), output.ToString());
        Assert.Contains("segment 1 ", output.ToString());
    }
}

using MedAiNode.Results;
using MedAiNode.Results.Segmentation;

namespace MedAiNode.Results.Tests;

/// <summary>Our reader on SEGs written by other tools (highdicom, dcmqi), checked against pydicom's decoding.</summary>
public class SegmentationReaderInteropTests
{
    [Theory]
    [InlineData("seg-sr/highdicom/seg_image_ct_binary.dcm", 1)]
    [InlineData("seg-sr/highdicom/seg_image_ct_binary_single_frame.dcm", 1)]
    [InlineData("seg-sr/dcmqi/liver_seg.dcm", 1)]
    public void Reads_other_writers_segs_like_pydicom(string relative, int segments)
    {
        var path = TestData.Path_(relative.Split('/'));
        var mask = SegmentationReader.Read(path);
        Assert.Equal(segments, mask.Segments.Count);
        Assert.All(mask.Segments, s => Assert.False(string.IsNullOrEmpty(s.Label)));

        var ours = new List<string>();
        foreach (var uid in mask.Instances.Order(StringComparer.Ordinal))
        {
            var labels = mask.GetLabels(uid);
            foreach (var g in labels.Where(b => b != 0).GroupBy(b => b).OrderBy(g => g.Key))
                ours.Add($"{uid} {g.Key} {g.Count()}");
        }
        var py = Tool.Run("/usr/bin/python3", [RealSeriesTests.Script("seg_counts.py"), path]);
        Assert.True(py.ExitCode == 0, py.StdErr);
        var theirs = py.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
        Assert.NotEmpty(theirs);
        Assert.Equal(theirs, ours);
    }

    [Fact]
    public void Overlapping_segments_get_a_clear_error_not_a_wrong_label_map()
    {
        var e = Assert.Throws<ResultsInputException>(() => SegmentationReader.Read(TestData.Path_("seg-sr", "highdicom", "seg_image_ct_binary_overlap.dcm")));
        Assert.Contains("claim", e.Message);
    }

    [Fact]
    public void Non_seg_and_fractional_inputs_are_refused_clearly()
    {
        var e = Assert.Throws<ResultsInputException>(() => SegmentationReader.Read(TestData.Path_("seg-sr", "highdicom", "ct_image.dcm")));
        Assert.Contains("Not a Segmentation", e.Message);
        e = Assert.Throws<ResultsInputException>(() => SegmentationReader.Read(TestData.Path_("seg-sr", "highdicom", "seg_image_ct_true_fractional.dcm")));
        Assert.Contains("BINARY", e.Message);
    }
}

namespace MedAiNode.Worker.Tests;

/// <summary>`medainode analyze` on each real CT series: SEG and SR that dciodvfy, dsrdump and pydicom accept, and a SEG
/// whose mask read back lies on the source slices (tilted GE series and JPEG 2000 series included).</summary>
public class AnalyzeCommandTests
{
    [Theory]
    [InlineData("ge-head-tilt-varspacing")]
    [InlineData("philips-phantom-5mm")]
    [InlineData("totalseg-abdomen-j2k")]
    public void Analyze_writes_valid_seg_and_sr_for_a_real_series(string series)
    {
        var output = TestData.TempDir("analyze-" + series);
        var r = Tool.Run("dotnet", [Path.Combine(AppContext.BaseDirectory, "medainode.dll"), "analyze", TestData.Path_("ct", series), "--out", output, "--model", "ct-body"]);
        Assert.True(r.ExitCode == 0, r.StdErr + r.StdOut);
        Assert.Contains("segment 1: volume", r.StdOut);
        foreach (var name in new[] { "seg.dcm", "sr.dcm" })
        {
            var v = Tool.Run("dciodvfy", [Path.Combine(output, name)]);
            var errors = (v.StdOut + v.StdErr).Split('\n').Where(l => l.StartsWith("Error", StringComparison.Ordinal)).ToList();
            Assert.True(errors.Count == 0, $"{name}: {string.Join("\n", errors)}");
        }
        var d = Tool.Run("dsrdump", [Path.Combine(output, "sr.dcm")]);
        Assert.True(d.ExitCode == 0 && !d.StdErr.Contains("E: "), d.StdErr);
        var py = Tool.Python("""
import sys, pydicom
seg = pydicom.dcmread(sys.argv[1]); sr = pydicom.dcmread(sys.argv[2])
frames = seg.NumberOfFrames
refs = {f.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID for f in seg.PerFrameFunctionalGroupsSequence}
print(frames, len(refs), len(seg.SegmentSequence), sr.ContentTemplateSequence[0].TemplateIdentifier)
""", Path.Combine(output, "seg.dcm"), Path.Combine(output, "sr.dcm"));
        Assert.True(py.ExitCode == 0, py.StdErr);
        var parts = py.StdOut.Trim().Split(' ');
        Assert.True(int.Parse(parts[0]) > 0);
        Assert.Equal(parts[0], parts[1]); // one frame per source slice with body in it, each referencing its own slice
        Assert.Equal("1", parts[2]);
        Assert.Equal("1500", parts[3]);
        Assert.True(File.Exists(Path.Combine(output, "labels.nii.gz")));
    }
}

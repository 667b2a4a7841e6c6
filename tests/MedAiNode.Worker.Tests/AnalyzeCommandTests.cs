namespace MedAiNode.Worker.Tests;

/// <summary>`medainode analyze` on each real CT series: SEG and SR that dciodvfy, dsrdump and pydicom accept, and a SEG
/// whose mask read back lies on the source slices (tilted GE series and JPEG 2000 series included).</summary>
public class AnalyzeCommandTests
{
    [Theory]
    [InlineData("ge-head-tilt-varspacing", "ct-body")]
    [InlineData("philips-phantom-5mm", "ct-body")]
    [InlineData("totalseg-abdomen-j2k", "ct-body")]
    [InlineData("lidc-idri-0001-chest", "ct-lung-quant")] // per-lung groups and a TID 1501 group over both lungs
    public void Analyze_writes_valid_seg_and_sr_for_a_real_series(string series, string model)
    {
        var output = TestData.TempDir("analyze-" + series);
        var r = Tool.Run("dotnet", [Path.Combine(AppContext.BaseDirectory, "medainode.dll"), "analyze", TestData.Path_("ct", series), "--out", output, "--model", model]);
        Assert.True(r.ExitCode == 0, r.StdErr + r.StdOut);
        Assert.Contains("Chose ", r.StdOut); // what was selected, and why
        Assert.Matches(@"Body\s+Volume\s+\d+(\.\d+)? ml", r.StdOut);
        // measurements.json beside SEG and SR holds the same coded numbers.
        using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "measurements.json")));
        var measured = json.RootElement.GetProperty("measurements").EnumerateArray().ToList();
        var bodyVolume = measured.Single(m => m.GetProperty("id").GetString() == "volume" && m.GetProperty("labels")[0].GetInt32() == 1);
        Assert.Equal("118565006", bodyVolume.GetProperty("concept").GetProperty("value").GetString());
        Assert.InRange(bodyVolume.GetProperty("value").GetDouble(), 100, 100_000);
        // The AI summary beside them: the measurement page and at least one key slice.
        var summary = Directory.GetFiles(output, "summary_*.dcm").Select(f => Path.GetFileName(f)!).Order(StringComparer.Ordinal).ToList();
        Assert.True(summary.Count >= 2, $"summary images: {string.Join(", ", summary)}");
        foreach (var name in new[] { "seg.dcm", "sr.dcm" }.Concat(summary))
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
        // One frame per segment and source slice it is on, each referencing its own slice (body alone: one per slice).
        if (model == "ct-body") Assert.Equal(parts[0], parts[1]);
        else Assert.InRange(int.Parse(parts[1]), 1, int.Parse(parts[0]));
        // Body; or body, both lungs and airway, and the nodule candidates' segment (LIDC-IDRI-0001 has a nodule).
        Assert.Equal(model == "ct-body" ? "1" : "5", parts[2]);
        Assert.Equal("1500", parts[3]);
        Assert.True(File.Exists(Path.Combine(output, "labels.nii.gz")));
    }

    [Fact]
    public void Analyze_reports_skipped_files_and_geometry_warnings()
    {
        // The tilted, unevenly spaced head series plus a file that is not DICOM.
        var input = TestData.TempDir("analyze-warnings");
        foreach (var f in Directory.EnumerateFiles(TestData.Path_("ct", "ge-head-tilt-varspacing")))
            File.Copy(f, Path.Combine(input, Path.GetFileName(f)));
        File.WriteAllText(Path.Combine(input, "README.txt"), "not an image");
        var output = TestData.TempDir("analyze-warnings-out");
        var r = Tool.Run("dotnet", [Path.Combine(AppContext.BaseDirectory, "medainode.dll"), "analyze", input, "--out", output, "--model", "ct-body"]);
        Assert.True(r.ExitCode == 0, r.StdErr + r.StdOut);
        Assert.Contains("1 files are not DICOM or are damaged; skipped", r.StdOut);
        Assert.Contains("gantry tilt", r.StdOut);
        Assert.Contains("Uneven slice steps", r.StdOut);
        using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "measurements.json")));
        Assert.Contains(json.RootElement.GetProperty("notes").EnumerateArray(), n => n.GetString()!.Contains("gantry tilt"));

        // A model whose rules refuse the series says why, and exits with an error.
        var refused = Tool.Run("dotnet", [Path.Combine(AppContext.BaseDirectory, "medainode.dll"), "analyze", input, "--out", output, "--model", "ct-lung-quant"]);
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("body part HEAD", refused.StdErr);
    }

    /// <summary>An invalid manifest in a model folder (a newer manifest kind, a researcher's work in progress) does not
    /// stop `analyze` of another model: it is reported on stderr and left out; asking for that model names its error.</summary>
    [Fact]
    public void An_invalid_manifest_is_reported_and_left_out_unless_it_is_the_model_asked_for()
    {
        var extra = TestData.TempDir("analyze-bad-manifest");
        Directory.CreateDirectory(Path.Combine(extra, "half-done"));
        File.WriteAllText(Path.Combine(extra, "half-done", "manifest.json"), """{ "id": "half-done", "output": { "kind": "nonsense" """);
        var models = Path.Combine(AppContext.BaseDirectory, "models");
        var output = TestData.TempDir("analyze-bad-manifest-out");
        var exe = Path.Combine(AppContext.BaseDirectory, "medainode.dll");

        var r = Tool.Run("dotnet", [exe, "analyze", TestData.Path_("ct", "ge-head-tilt-varspacing"), "--out", output, "--model", "ct-body", "--no-summary", "--models", extra, models]);

        Assert.True(r.ExitCode == 0, r.StdErr + r.StdOut);
        Assert.Contains($"warning: model manifest {Path.Combine(extra, "half-done", "manifest.json")} left out: ", r.StdErr);
        Assert.True(File.Exists(Path.Combine(output, "seg.dcm")));

        var asked = Tool.Run("dotnet", [exe, "analyze", TestData.Path_("ct", "ge-head-tilt-varspacing"), "--out", output, "--model", "half-done", "--models", extra, models]);

        Assert.Equal(2, asked.ExitCode);
        Assert.Contains("model half-done: ", asked.StdErr);
        Assert.Contains("not a valid model manifest", asked.StdErr);
    }
}

using System.Text.Json;
using MedAiNode.Results;

namespace MedAiNode.Results.Tests;

/// <summary>
/// What OHIF would see: dcmjs and @cornerstonejs/adapters (Node, tests/MedAiNode.Results.Tests/node) load each SEG
/// (segment count, labels, which source image each frame lands on, voxel counts) and the SR's measurement groups.
/// </summary>
public class NodeViewerTests
{
    private static readonly string NodeDir = Path.Combine(TestData.RepoRoot, "tests", "MedAiNode.Results.Tests", "node");
    private static readonly Lazy<string?> Install = new(EnsureNodeModules);

    /// <summary>Installs the pinned packages (package-lock.json) on first use; node_modules is not committed.</summary>
    private static string? EnsureNodeModules()
    {
        if (Directory.Exists(Path.Combine(NodeDir, "node_modules", "@cornerstonejs", "adapters"))) return null;
        var r = Tool.Run("npm", ["ci", "--no-audit", "--no-fund", "--prefix", NodeDir], timeoutMs: 600_000);
        return r.ExitCode == 0 ? null : $"npm ci in {NodeDir} failed (apt packages nodejs and npm are needed):\n{r.StdErr}";
    }

    /// <summary>A coordinate as the SR holds it (FL) and as check.mjs rounds it.</summary>
    private static object Rounded(double x) => Math.Round((double)(float)x * 100, MidpointRounding.AwayFromZero) / 100;

    [Theory]
    [MemberData(nameof(RealSeriesTests.Series), MemberType = typeof(RealSeriesTests))]
    public void Ohif_libraries_load_seg_and_sr(string name, bool thresholdPixels)
    {
        Assert.Null(Install.Value);
        var dir = TestData.TempDir("node-" + name);
        var w = RealSeriesTests.WriteFor(name, thresholdPixels, dir);

        var segmentsOn = new Dictionary<string, int[]>();
        var counts = new Dictionary<string, SortedDictionary<string, int>>();
        foreach (var img in w.Source.Images)
        {
            if (!w.Labels.TryGet(img.SopInstanceUid, out var l)) continue;
            var c = new SortedDictionary<string, int>(Comparer<string>.Create((a, b) => int.Parse(a).CompareTo(int.Parse(b))));
            foreach (var v in l.Span) if (v != 0) c[v.ToString()] = c.GetValueOrDefault(v.ToString()) + 1;
            if (c.Count == 0) continue;
            counts[img.SopInstanceUid] = c;
            segmentsOn[img.SopInstanceUid] = c.Keys.Select(int.Parse).Order().ToArray();
        }
        var groups = w.Measurements.Select((m, i) =>
        {
            var values = new Dictionary<string, object>();
            if (m.VolumeMl is { } v) values["Volume"] = new object[] { Math.Round(v, 3), "ml" };
            if (m.MeanHu is { } hu) values["Attenuation Coefficient"] = new object[] { Math.Round(hu, 1), "[hnsf'U]" };
            if (m.LongestDiameterMm is { } d) values["Long axis"] = new object[] { Math.Round(d, 1), "mm" };
            if (m.LongAxisEndsMm is { } e) values["Long axis from"] = new object[] { "POLYLINE" }.Concat(e.Select(Rounded)).ToArray();
            if (m.Laa950Percent is { } laa) values[Groups.Laa950.Meaning] = new object[] { Math.Round(laa, 2), "%" };
            if (m.CentroidMm is { } c) values["Center of Mass"] = new object[] { "POINT" }.Concat(c.Select(Rounded)).ToArray();
            return new { trackingUid = w.Sr.TrackingUids[i], segment = m.SegmentNumber, values };
        }).ToArray();
        var spec = new
        {
            seg = w.SegPath,
            sr = w.SrPath,
            sources = Directory.EnumerateFiles(Fixtures.CtDir(name), "*.dcm").Order(StringComparer.Ordinal).ToArray(),
            sourceSeriesUid = w.Source.SeriesInstanceUid,
            frameOfReferenceUid = w.Source.FrameOfReferenceUid,
            expected = new
            {
                segments = w.Segments.Select(s => new { number = s.Number, label = s.Label }),
                segmentsOnSource = segmentsOn,
                voxelCounts = counts,
                groups,
            },
        };
        var specPath = Path.Combine(dir, "case.json");
        File.WriteAllText(specPath, JsonSerializer.Serialize(spec));
        var r = Tool.Run("node", [Path.Combine(NodeDir, "check.mjs"), specPath], timeoutMs: 300_000);
        Assert.True(r.ExitCode == 0, $"node check failed ({r.ExitCode}):\n{r.StdErr}\n{r.StdOut}");
        Assert.StartsWith("ok ", r.StdOut.Trim().Split('\n')[^1]);
    }
}

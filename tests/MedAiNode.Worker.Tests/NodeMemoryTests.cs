using System.Globalization;

namespace MedAiNode.Worker.Tests;

/// <summary>Issue 16: what one analysis used is given back once it is over, so the next one does not start on top of it.</summary>
public class NodeMemoryTests
{
    /// <summary>
    /// The node collects after each analysis. What survives that collection (the runtime's own meter on /metrics) must
    /// be small next to the volume analysed: volume-sized scratch rented from the shared array pool stayed there for
    /// the life of the process (the component filter's voxel list, rounded up to a power of two, and the surface point
    /// lists), about 150 MB after one chest CT of 66.5 MB.
    /// </summary>
    [Fact]
    public async Task After_a_chest_analysis_the_managed_heap_holds_less_than_the_raw_volume()
    {
        var root = TestData.TempDir("worker-memory");
        await using var worker = new WorkerProcess(root, "--Models:Enabled:0=ct-lung-quant");
        await worker.StartAsync();
        var files = Directory.GetFiles(TestData.Path_("ct", "lidc-idri-0001-chest"), "*.dcm").Order(StringComparer.Ordinal).ToArray();
        var first = MedAiNode.Dicom.IO.DicomFile.Open(files[0], new MedAiNode.Dicom.IO.DicomReadOptions { StopBeforePixelData = true }).Dataset;
        long raw = (long)files.Length * first.GetValue<int>(MedAiNode.Dicom.DicomTags.Rows) * first.GetValue<int>(MedAiNode.Dicom.DicomTags.Columns) * 2;
        var send = Tool.Run("storescu", new[] { "-aet", "CT_SCANNER", "-aec", "MEDAINODE", "127.0.0.1", worker.DicomPort.ToString() }.Concat(files));
        Assert.True(send.ExitCode == 0, send.StdErr + send.StdOut);

        var study = await worker.WaitForStudyAsync(s => s["state"]!.GetValue<string>() is "Delivered" or "Failed", TimeSpan.FromMinutes(10));
        Assert.Equal("Delivered", study["state"]!.GetValue<string>());
        var metrics = await worker.Http.GetStringAsync($"http://127.0.0.1:{worker.HttpPort}/metrics");
        var generations = metrics.Split('\n')
            .Where(l => l.StartsWith("dotnet_gc_last_collection_heap_size_bytes{", StringComparison.Ordinal))
            .Select(l => long.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture))
            .ToList();
        Assert.True(generations.Count >= 4, "/metrics has no per-generation heap size from the System.Runtime meter:\n" + metrics);
        var heap = generations.Sum();
        Assert.True(heap < raw, $"{heap / 1048576.0:0.0} MiB of managed heap survived the collection after the analysis; the raw volume is {raw / 1048576.0:0.0} MiB");
    }

    /// <summary>
    /// The analysis's live managed memory, bounded: with the managed heap capped at 300 MiB (4.5x the 66.5 MiB raw volume;
    /// a container's memory limit sets such a cap, 75 % of the limit by default) the lung analysis of LIDC-IDRI-0001
    /// completes with its usual labels. Measured 2026-12-01: it completes at 256 MiB (3 of 3 runs; one of three at 266 MiB
    /// ran out, so the cap keeps a margin) and runs out at 224 (in the nodule search) since that search no longer holds
    /// the 1 mm CT whole; before, it needed 288 MiB, and 384 MiB before the int16 input volume.
    /// </summary>
    [Fact]
    public void The_lung_analysis_of_a_chest_ct_completes_with_the_managed_heap_capped_at_4_5x_its_raw_volume()
    {
        var output = TestData.TempDir("analyze-heap-cap");
        var r = Tool.Run("dotnet", [Path.Combine(AppContext.BaseDirectory, "medainode.dll"), "analyze", TestData.Path_("ct", "lidc-idri-0001-chest"),
            "--out", output, "--model", "ct-lung-quant", "--no-summary"], timeoutMs: 900_000,
            environment: new Dictionary<string, string> { ["DOTNET_GCHeapHardLimit"] = "0x12C00000" });
        Assert.True(r.ExitCode == 0, $"analyze under a 300 MiB heap cap exited {r.ExitCode}: {r.StdErr[Math.Max(0, r.StdErr.Length - 3000)..]}");
        using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "measurements.json")));
        Assert.Contains("meanLungDensity", json.RootElement.GetRawText());
        Assert.True(File.Exists(Path.Combine(output, "labels.nii.gz")));
    }
}

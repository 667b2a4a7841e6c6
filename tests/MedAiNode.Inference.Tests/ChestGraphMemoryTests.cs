using System.Runtime.InteropServices;
using MedAiNode.Imaging.Geometry;
using MedAiNode.Imaging.Volumes;
using MedAiNode.Inference.Manifests;
using MedAiNode.Inference.Runtime;
using MedAiNode.Inference.SlidingWindow;

namespace MedAiNode.Inference.Tests;

/// <summary>Alone: the native heap is the whole process's, so no other test may run beside these.</summary>
[CollectionDefinition(nameof(NativeMemory), DisableParallelization = true)]
public sealed class NativeMemory;

/// <summary>
/// What ONNX Runtime holds while the chest graph (ct-lung-quant) runs on a whole volume, which sets a chest analysis's
/// peak memory: the graph's own tensors, and the arena they come from. Before the graph's cumulative sums and the
/// shared arena grown by what is asked, this graph's run held about 15 volumes of native memory (docs/benchmarks.md).
/// </summary>
[Collection(nameof(NativeMemory))]
public class ChestGraphMemoryTests
{
    [StructLayout(LayoutKind.Sequential)]
    private struct MallInfo2 { public nuint Arena, Ordblks, Smblks, Hblks, Hblkhd, Usmblks, Fsmblks, Uordblks, Fordblks, Keepcost; }

    [DllImport("libc", EntryPoint = "mallinfo2")]
    private static extern MallInfo2 MallInfo();

    /// <summary>Bytes glibc has handed out and not had back: mmap'd blocks and the heap's allocated chunks.</summary>
    private static long NativeInUse() { var m = MallInfo(); return (long)m.Hblkhd + (long)m.Uordblks; }

    /// <summary>A chest in HU on the model's 2 mm grid: air, a body of soft tissue, two aerated lungs, a trachea.</summary>
    private static Volume Chest(Dims d)
    {
        var v = new Volume(d, new Affine(new Vec3(0, 0, 0), new Vec3(2, 0, 0), new Vec3(0, 2, 0), new Vec3(0, 0, 2)));
        for (var z = 0; z < d.Z; z++)
        for (var y = 0; y < d.Y; y++)
        for (var x = 0; x < d.X; x++)
        {
            double cx = (x - d.X / 2.0) / (d.X * 0.42), cy = (y - d.Y / 2.0) / (d.Y * 0.32);
            float hu = -1000;
            if (cx * cx + cy * cy < 1) hu = 40;
            foreach (var side in new[] { -0.22, 0.22 })
            {
                double lx = (x - d.X * (0.5 + side)) / (d.X * 0.15), ly = (y - d.Y / 2.0) / (d.Y * 0.2), lz = (z - d.Z * 0.45) / (d.Z * 0.4);
                if (lx * lx + ly * ly + lz * lz < 1) hu = -850 + (x * 7 + y * 13 + z) % 40;
            }
            double tx = (x - d.X / 2.0) / 5, ty = (y - d.Y * 0.45) / 5;
            if (z > d.Z * 0.6 && tx * tx + ty * ty < 1) hu = -1000;
            v.Data[d.Index(x, y, z)] = hu;
        }
        return v;
    }

    [Fact]
    public void A_whole_volume_run_of_the_chest_graph_holds_under_ten_volumes_and_gives_them_back()
    {
        var manifest = ModelManifest.Load(Path.Combine(Fixtures.ModelsDir, "ct-lung-quant", "manifest.json"));
        using var cache = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"] });
        var inferer = new SlidingWindowInferer(cache.Get(manifest));
        var volume = Chest(new Dims(160, 160, 120));
        var volumeBytes = volume.Data.Length * 4L;
        inferer.Run(Chest(new Dims(24, 24, 24))); // the first run's one-off allocations are not the graph's

        var before = NativeInUse();
        var peak = before;
        var sampling = true;
        var sampler = new Thread(() => { while (Volatile.Read(ref sampling)) { peak = Math.Max(peak, NativeInUse()); Thread.Sleep(1); } });
        sampler.Start();
        ScoreMap scores;
        try { scores = inferer.Run(volume); }
        finally { Volatile.Write(ref sampling, false); sampler.Join(); }
        var after = NativeInUse();

        // The graph's tensors, not the output: that is the managed score map the run writes into.
        var held = (double)(peak - before) / volumeBytes;
        Console.WriteLine($"chest graph: native peak {held:0.0} volumes over the start, {(double)(after - before) / volumeBytes:0.00} left after the run");
        Assert.True(held < 10, $"the run held {held:0.0} volumes of native memory (about 7.5 expected; 15 before)");
        Assert.True(after - before < volumeBytes, $"{(after - before) / 1048576.0:0} MiB stayed with ONNX Runtime after the run");
        // And it is the graph that ran: a body and two lungs come out.
        var labels = Postprocessing.Postprocessor.ToLabels(scores, manifest.Output, volume);
        Assert.True(labels.Count(1) > 0 && labels.Count(2) > 0 && labels.Count(3) > 0, "no body or lungs in the graph's output");
    }
}

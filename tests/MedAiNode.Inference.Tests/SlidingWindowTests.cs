using MedAiNode.Imaging.Volumes;
using MedAiNode.Inference.Manifests;
using MedAiNode.Inference.Postprocessing;
using MedAiNode.Inference.Runtime;
using MedAiNode.Inference.SlidingWindow;

namespace MedAiNode.Inference.Tests;

public class SlidingWindowTests
{
    private static readonly ModelSessionCache Cache = new(new InferenceOptions { ExecutionProviders = ["CPU"], IntraOpThreads = 1 });

    [Theory]
    [InlineData(100, 96, 0.5, new[] { 0, 4 })]
    [InlineData(10, 4, 0.5, new[] { 0, 2, 4, 6 })]
    [InlineData(10, 4, 0.25, new[] { 0, 3, 6 })]
    [InlineData(96, 96, 0.5, new[] { 0 })]
    [InlineData(50, 96, 0.5, new[] { 0 })]
    [InlineData(300, 96, 0.5, new[] { 0, 48, 96, 144, 192, 204 })]
    public void WindowStarts_FollowMonaiScanInterval(int size, int patch, double overlap, int[] expected) =>
        Assert.Equal(expected, SlidingWindowInferer.WindowStarts(size, patch, overlap));

    [Fact]
    public void GaussianImportanceMap_PeaksInTheCentreAndIsFloored()
    {
        var map = SlidingWindowInferer.ImportanceMap(9, 9, 5, BlendMode.Gaussian, 0.125);
        Assert.Equal(1f, map[(2 * 9 + 4) * 9 + 4], 5);
        Assert.Equal(map[0], map[map.Length - 1], 6);
        Assert.True(map.Min() >= 1e-3f);
        Assert.True(map[(2 * 9 + 4) * 9 + 0] < map[(2 * 9 + 4) * 9 + 3]);
        Assert.All(SlidingWindowInferer.ImportanceMap(4, 4, 4, BlendMode.Constant, 0.125), v => Assert.Equal(1f, v));
    }

    [Theory]
    [InlineData("zyx", BlendMode.Gaussian, 0.5, 1, new int[0])]
    [InlineData("zyx", BlendMode.Constant, 0.25, 3, new int[0])]
    [InlineData("xyz", BlendMode.Gaussian, 0.5, 2, new int[0])]
    [InlineData("zyx", BlendMode.Gaussian, 0.5, 4, new[] { 0, 1, 2 })]
    [InlineData("xyz", BlendMode.Constant, 0.0, 1, new[] { 2 })]
    public void BlendedOutput_OfAnIdentityNetwork_ReproducesTheInput(string layout, BlendMode blend, double overlap, int batch, int[] mirror)
    {
        var m = Fixtures.Manifest(patch: [16, 12, 8]);
        m.Input.Layout = layout;
        m.SlidingWindow.Blending = blend;
        m.SlidingWindow.Overlap = overlap;
        m.SlidingWindow.BatchSize = batch;
        m.SlidingWindow.MirrorAxes = mirror;
        var model = Cache.Get(m);
        var v = Fixtures.Random(new Dims(37, 29, 11));
        var reports = new List<InferenceProgress>();
        var inferer = new SlidingWindowInferer(model);
        var scores = inferer.Run(v, new SyncProgress(reports.Add));
        var c1 = scores.Channel(1);
        var c0 = scores.Channel(0);
        for (var i = 0; i < v.Data.Length; i++)
        {
            Assert.Equal(v.Data[i], c1[i], 1e-5f);
            Assert.Equal(-v.Data[i], c0[i], 1e-5f);
        }
        var expectedWindows = SlidingWindowInferer.WindowStarts(37, 16, overlap).Count * SlidingWindowInferer.WindowStarts(29, 12, overlap).Count * SlidingWindowInferer.WindowStarts(11, 8, overlap).Count;
        Assert.Equal(expectedWindows, inferer.LastStats!.Patches);
        var jobs = expectedWindows * (1 << mirror.Length);
        Assert.Equal(jobs, reports[^1].PatchesTotal);
        Assert.Equal(jobs, reports[^1].PatchesDone);
        Assert.Equal((jobs + batch - 1) / batch, inferer.LastStats.Runs);
        var labels = Postprocessor.ToLabels(scores, m.Output, v);
        for (var i = 0; i < v.Data.Length; i++) Assert.Equal(v.Data[i] > 0 ? 1 : 0, labels.Data[i]);
    }

    /// <summary>The CPU arena (shrunk after every run) against plain malloc: the same scores on the tiled path and on the
    /// whole-volume path whose output is bound, and again on a second run after the arena has been shrunk.</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void CpuArenaShrunkAfterEachRun_GivesTheSameScoresAsPlainMalloc_RunAfterRun(bool whole)
    {
        var dims = new Dims(37, 29, 11);
        var m = Fixtures.Manifest(patch: whole ? [37, 29, 11] : [16, 12, 8]);
        var v = Fixtures.Random(dims, seed: 7);
        using var arena = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"], IntraOpThreads = 1, CpuMemArena = true });
        using var malloc = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"], IntraOpThreads = 1, CpuMemArena = false });
        var withArena = new SlidingWindowInferer(arena.Get(m));
        var reference = new SlidingWindowInferer(malloc.Get(m)).Run(v);
        for (var run = 0; run < 2; run++)
        {
            var scores = withArena.Run(v);
            Assert.Equal(whole ? 1 : SlidingWindowInferer.WindowStarts(37, 16, 0.5).Count * SlidingWindowInferer.WindowStarts(29, 12, 0.5).Count * SlidingWindowInferer.WindowStarts(11, 8, 0.5).Count,
                withArena.LastStats!.Patches);
            Assert.Equal(reference.Channel(1).ToArray(), scores.Channel(1).ToArray());
            for (var i = 0; i < v.Data.Length; i++) Assert.Equal(v.Data[i], scores.Channel(1)[i], 1e-5f);
        }
    }

    [Fact]
    public void VolumeSmallerThanPatch_IsPaddedAndCroppedBack()
    {
        var model = Cache.Get(Fixtures.Manifest(patch: [32, 32, 16]));
        var v = Fixtures.Random(new Dims(20, 9, 5), seed: 4);
        var scores = new SlidingWindowInferer(model).Run(v);
        Assert.Equal(v.Dims, scores.Dims);
        for (var i = 0; i < v.Data.Length; i++) Assert.Equal(v.Data[i], scores.Channel(1)[i], 1e-5f);
    }

    [Fact]
    public void Float16Model_IsAccepted()
    {
        var model = Cache.Get(Fixtures.Manifest("identity2_fp16.onnx"));
        Assert.True(model.InputIsFloat16);
        var v = Fixtures.Random(new Dims(20, 20, 10), seed: 2);
        var scores = new SlidingWindowInferer(model).Run(v);
        for (var i = 0; i < v.Data.Length; i++) Assert.Equal(v.Data[i], scores.Channel(1)[i], 1e-3f);
    }

    [Fact]
    public void SigmoidOutput_IsThresholded()
    {
        var m = Fixtures.Manifest("sigmoid1.onnx", kind: OutputKind.Sigmoid, channels: 1);
        m.Output.Threshold = 0.6f; // sigmoid(x) > 0.6  <=>  x > 0.405
        var model = Cache.Get(m);
        var v = Fixtures.Random(new Dims(17, 13, 9), seed: 3);
        var scores = new SlidingWindowInferer(model).Run(v);
        var labels = Postprocessor.ToLabels(scores, m.Output, v);
        for (var i = 0; i < v.Data.Length; i++) Assert.Equal(v.Data[i] > Math.Log(0.6 / 0.4) ? 1 : 0, labels.Data[i]);
    }

    [Fact]
    public void A_graph_ending_in_its_own_argmax_gives_the_labels_the_nodes_argmax_gives()
    {
        // identity2's logits through the node's argmax, and the same logits through ArgMax inside the graph (int64 out).
        var logits = Fixtures.Manifest(whole: true);
        var inGraph = Fixtures.Manifest("argmax2.onnx", kind: OutputKind.Labels, whole: true);
        var v = Fixtures.Random(new Dims(23, 19, 11), seed: 5);
        for (var i = 0; i < v.Data.Length; i += 7) v.Data[i] = 0; // ties: both argmaxes pick the first channel
        var expected = Postprocessor.ToLabels(new SlidingWindowInferer(Cache.Get(logits)).Run(v), logits.Output, v);
        var scores = new SlidingWindowInferer(Cache.Get(inGraph)).Run(v);
        Assert.Equal(1, scores.Channels); // one channel of indices, not two of scores
        var labels = Postprocessor.ToLabels(scores, inGraph.Output, v);
        Assert.Equal(expected.Data, labels.Data);
        Assert.Contains((byte)1, labels.Data);
        Assert.Contains((byte)0, labels.Data);
    }

    [Theory]
    [InlineData(1.5f, "holds 1.5 at voxel (4, 2, 1)")]
    [InlineData(3f, "holds 3 at voxel (4, 2, 1)")]
    [InlineData(-1f, "holds -1 at voxel (4, 2, 1)")]
    [InlineData(float.NaN, "holds NaN at voxel (4, 2, 1)")]
    public void A_labels_output_that_is_not_class_indices_fails_naming_the_voxel(float value, string expected)
    {
        // sigmoid1 returns its input: a float output whose values the test chooses.
        var m = Fixtures.Manifest("sigmoid1.onnx", kind: OutputKind.Labels, channels: 3, whole: true);
        var model = Cache.Get(m);
        var v = new Volume(new Dims(6, 5, 4), Fixtures.Random(new Dims(1, 1, 1)).Affine);
        for (var i = 0; i < v.Data.Length; i++) v.Data[i] = i % 3;
        Assert.Equal(v.Data.Select(x => (byte)x), Postprocessor.ToLabels(new SlidingWindowInferer(model).Run(v), m.Output, v).Data);
        v.Data[v.Dims.Index(4, 2, 1)] = value;
        v.Data[v.Dims.Index(5, 4, 3)] = 2.5f; // a later one is not the one named
        // A manifest that does not describe its model: the study fails at once (FailureClassifier), not retried.
        var e = Assert.Throws<ManifestException>(() => Postprocessor.ToLabels(new SlidingWindowInferer(model).Run(v), m.Output, v));
        Assert.Contains(expected, e.Message);
        Assert.Contains("0..2", e.Message);
    }

    [Fact]
    public void Cancellation_StopsBetweenBatches()
    {
        var model = Cache.Get(Fixtures.Manifest(patch: [8, 8, 8]));
        using var cts = new CancellationTokenSource();
        var v = Fixtures.Random(new Dims(40, 40, 40));
        Assert.Throws<OperationCanceledException>(() => new SlidingWindowInferer(model).Run(v, new SyncProgress(p => { if (p.PatchesDone > 3) cts.Cancel(); }), cts.Token));
    }
}

/// <summary>IProgress that reports synchronously (Progress&lt;T&gt; posts to the thread pool).</summary>
internal sealed class SyncProgress(Action<InferenceProgress> report) : IProgress<InferenceProgress>
{
    public void Report(InferenceProgress value) => report(value);
}

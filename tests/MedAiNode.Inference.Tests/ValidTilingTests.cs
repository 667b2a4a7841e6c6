using MedAiNode.Imaging.Volumes;
using MedAiNode.Inference.Manifests;
using MedAiNode.Inference.Runtime;
using MedAiNode.Inference.SlidingWindow;

namespace MedAiNode.Inference.Tests;

/// <summary>
/// Valid-convolution tiling (DeepMedic-style networks whose output tile is smaller than the input patch), checked with
/// valid_box3.onnx: logits (-m, m), m the mean of each voxel's 3x3x3 block, so every output voxel can be computed here.
/// </summary>
public class ValidTilingTests
{
    private static readonly ModelSessionCache Cache = new(new InferenceOptions { ExecutionProviders = ["CPU"], IntraOpThreads = 1, WarmUp = false });

    private static ModelManifest Box3(PadMode padding, float pad = 0, bool skip = false, string layout = "zyx", int batch = 1, string[]? ensemble = null)
    {
        var m = Fixtures.Manifest("valid_box3.onnx", patch: [12, 10, 8]);
        m.Input.Layout = layout;
        m.SlidingWindow = new SlidingWindowSpec
        {
            PatchSize = [12, 10, 8], OutputSize = [10, 8, 6], Blending = BlendMode.None, Padding = padding, PadValue = pad,
            SkipUniformTiles = skip, BatchSize = batch,
        };
        if (ensemble is not null)
        {
            m.Onnx = new OnnxFileInfo();
            m.Ensemble = ensemble.Select(f => new OnnxFileInfo { File = f, Sha256 = Fixtures.Sha(Path.Combine(Fixtures.FixtureDir, f)) }).ToArray();
        }
        m.Validate();
        return m;
    }

    /// <summary>The 3x3x3 mean at each voxel with the border padded as the manifest says.</summary>
    private static float[] ExpectedMean(Volume v, PadMode mode, float pad)
    {
        var d = v.Dims;
        var result = new float[d.Count];
        float At(int x, int y, int z)
        {
            if (mode == PadMode.Edge) return v[Math.Clamp(x, 0, d.X - 1), Math.Clamp(y, 0, d.Y - 1), Math.Clamp(z, 0, d.Z - 1)];
            return d.Contains(x, y, z) ? v[x, y, z] : pad;
        }
        for (var z = 0; z < d.Z; z++) for (var y = 0; y < d.Y; y++) for (var x = 0; x < d.X; x++)
        {
            double s = 0;
            for (var k = -1; k <= 1; k++) for (var j = -1; j <= 1; j++) for (var i = -1; i <= 1; i++) s += At(x + i, y + j, z + k);
            result[d.Index(x, y, z)] = (float)(s / 27);
        }
        return result;
    }

    [Theory]
    [InlineData(PadMode.Edge, 0f, "zyx", 1)]
    [InlineData(PadMode.Constant, -1f, "zyx", 2)]
    [InlineData(PadMode.Edge, 0f, "xyz", 3)]
    [InlineData(PadMode.Constant, 0.5f, "xyz", 1)]
    public void EveryVoxel_IsTheNetworksOutputForThePatchAroundIt_WithTheDeclaredPadding(PadMode mode, float pad, string layout, int batch)
    {
        var model = Cache.Get(Box3(mode, pad, layout: layout, batch: batch));
        // Sizes that are not multiples of the 10x8x6 output tile: the last tiles overhang the border.
        var v = Fixtures.Random(new Dims(23, 17, 13));
        var inferer = new SlidingWindowInferer(model);
        var reports = new List<InferenceProgress>();
        var scores = inferer.Run(v, new SyncProgress(reports.Add));
        var expected = ExpectedMean(v, mode, pad);
        var c0 = scores.Channel(0); var c1 = scores.Channel(1);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i], c1[i], 1e-5f);
            Assert.Equal(-expected[i], c0[i], 1e-5f);
        }
        // Tiles at 0, 10, 20 x 0, 8, 16 x 0, 6, 12: stride = output size, no overlap.
        Assert.Equal(3 * 3 * 3, inferer.LastStats!.Patches);
        Assert.Equal((int)Math.Ceiling(27.0 / batch), inferer.LastStats.Runs);
        Assert.Equal(27, reports[^1].PatchesDone);
        Assert.Equal(OutputKind.Logits, scores.Kind);
    }

    [Fact]
    public void TileStarts_BeginAtTheFirstVoxel_WithStrideEqualToTheOutput()
    {
        Assert.Equal([0, 90, 180], SlidingWindowInferer.TileStarts(251, 90));
        Assert.Equal([0, 30], SlidingWindowInferer.TileStarts(60, 30));
        Assert.Equal([0], SlidingWindowInferer.TileStarts(5, 30));
    }

    [Fact]
    public void TissueTiles_RunOnlyWhereTheMaskIs_AndAShiftedGridCoversItWithFewerTiles_SameScores()
    {
        // Air everywhere but a block placed across tile borders of the unshifted grid (x 6-12 against tiles of 10,
        // y 5-9 against 8, z 4-7 against 6): 8 tiles hold it at shift 0, one tile once the grid moves by (6, 4, 4).
        var v = new Volume(new Dims(30, 20, 15), Fixtures.Random(new Dims(1, 1, 1)).Affine);
        Array.Fill(v.Data, -1f);
        var rng = new Random(5);
        for (var z = 4; z < 7; z++) for (var y = 5; y < 9; y++) for (var x = 6; x < 12; x++) v[x, y, z] = (float)rng.NextDouble();
        // The mask: the block grown by the network's 1-voxel reach, so every voxel whose output sees tissue is covered.
        var mask = new byte[v.Data.Length];
        for (var z = 3; z < 8; z++) for (var y = 4; y < 10; y++) for (var x = 5; x < 13; x++) mask[v.Dims.Index(x, y, z)] = 1;
        var full = new SlidingWindowInferer(Cache.Get(Box3(PadMode.Edge))).Run(v);
        var plain = Box3(PadMode.Edge);
        plain.SlidingWindow.TissueTiles = new TissueTileSpec();
        var masked = new SlidingWindowInferer(Cache.Get(plain));
        Assert.Equal(full.Scores, masked.Run(v, tissue: mask).Scores);
        Assert.Equal(8 + 1, masked.LastStats!.Runs); // the 8 tiles with tissue and one all-air tile
        var phased = Box3(PadMode.Edge);
        phased.SlidingWindow.TissueTiles = new TissueTileSpec();
        phased.SlidingWindow.TilePhase = 2;
        phased.Validate();
        var shifted = new SlidingWindowInferer(Cache.Get(phased));
        Assert.Equal(full.Scores, shifted.Run(v, tissue: mask).Scores);
        Assert.Equal((6, 4, 4), shifted.LastStats!.TileShift);
        Assert.Equal(1 + 1, shifted.LastStats.Runs);
        // A phase that does not divide the output tile is refused, naming the key.
        phased.SlidingWindow.TilePhase = 4;
        Assert.Contains("slidingWindow.tilePhase", Assert.Throws<ManifestException>(() => phased.Validate()).Message);
    }

    [Fact]
    public void UniformTiles_AreNotRun_AndGetTheSameOutputAsIfTheyWere()
    {
        // Air (one value) everywhere but one block of tissue: most tiles see only air.
        var v = new Volume(new Dims(60, 40, 30), Fixtures.Random(new Dims(1, 1, 1)).Affine);
        Array.Fill(v.Data, -1f);
        var rng = new Random(3);
        for (var z = 12; z < 20; z++) for (var y = 10; y < 20; y++) for (var x = 25; x < 40; x++) v[x, y, z] = (float)rng.NextDouble();
        var all = new SlidingWindowInferer(Cache.Get(Box3(PadMode.Edge)));
        var full = all.Run(v);
        var skipping = new SlidingWindowInferer(Cache.Get(Box3(PadMode.Edge, skip: true)));
        var fast = skipping.Run(v);
        Assert.Equal(full.Scores, fast.Scores);
        var tiles = 6 * 5 * 5;
        Assert.Equal(tiles, skipping.LastStats!.Patches);
        Assert.True(skipping.LastStats.SkippedUniform > tiles / 2, $"{skipping.LastStats.SkippedUniform} of {tiles} skipped");
        // One run for the first all-air tile, one per tile that holds tissue; no other.
        Assert.Equal(tiles - skipping.LastStats.SkippedUniform, skipping.LastStats.Runs);
        Assert.Equal(tiles, all.LastStats!.Runs);
    }

    [Fact]
    public void Ensemble_AveragesTheMembersSoftmax()
    {
        var model = Cache.Get(Box3(PadMode.Edge, ensemble: ["valid_box3.onnx", "valid_box3_x2.onnx"]));
        Assert.Equal(2, model.Sessions.Count);
        var v = Fixtures.Random(new Dims(23, 17, 13), seed: 5);
        var scores = new SlidingWindowInferer(model).Run(v);
        Assert.Equal(OutputKind.Softmax, scores.Kind);
        var m = ExpectedMean(v, PadMode.Edge, 0);
        var c1 = scores.Channel(1); var c0 = scores.Channel(0);
        for (var i = 0; i < m.Length; i++)
        {
            // softmax(-m, m)[1] = sigmoid(2m); the second member's logits are doubled.
            var p = (Sigmoid(2 * m[i]) + Sigmoid(4 * m[i])) / 2;
            Assert.Equal(p, c1[i], 1e-5f);
            Assert.Equal(1 - p, c0[i], 1e-5f);
        }
    }

    private static float Sigmoid(float x) => 1f / (1f + MathF.Exp(-x));

    [Theory]
    [InlineData(false, "zyx")]
    [InlineData(false, "xyz")]
    [InlineData(true, "zyx")]
    public void Classes_only_give_the_full_maps_labels_and_each_voxels_probability_to_the_bit(bool ensemble, string layout)
    {
        var m = Box3(PadMode.Edge, skip: true, layout: layout, ensemble: ensemble ? ["valid_box3.onnx", "valid_box3_x2.onnx"] : null);
        var inferer = new SlidingWindowInferer(Cache.Get(m));
        var v = Fixtures.Random(new Dims(27, 19, 14), seed: 7);
        for (var z = 0; z < 6; z++) for (var y = 0; y < v.Dims.Y; y++) for (var x = 0; x < v.Dims.X; x++) v[x, y, z] = -1f; // uniform tiles
        for (var i = 0; i < v.Data.Length; i += 11) if (v.Data[i] > -1f) v.Data[i] = 0f; // ties between the channels where m is 0
        var full = inferer.Run(v);
        var compact = inferer.Run(v, classesOnly: true);

        Assert.Equal(OutputKind.Labels, compact.Kind);
        Assert.Empty(compact.Scores);
        Assert.Equal(v.Data.Length, compact.Classes!.Length); // one byte per voxel, not a float per channel
        var expectedLabels = Postprocessing.Postprocessor.ToLabels(full, m.Output, v);
        var labels = Postprocessing.Postprocessor.ToLabels(compact, m.Output, v);
        Assert.Equal(expectedLabels.Data, labels.Data);
        Assert.Contains((byte)0, labels.Data);
        Assert.Contains((byte)1, labels.Data);
        for (var i = 0; i < v.Data.Length; i++)
        {
            var label = labels.Data[i];
            // The background's is not kept (never read: lesions are foreground labels).
            if (label == 0) { Assert.Throws<InvalidOperationException>(() => Postprocessing.Postprocessor.Probability(compact, compact.Kind, 0, i)); continue; }
            Assert.Equal(Postprocessing.Postprocessor.Probability(full, full.Kind, label, i), Postprocessing.Postprocessor.Probability(compact, compact.Kind, label, i));
        }
        // Another class's probability was not kept: asked for, it is refused rather than made up.
        var other = labels.Data[0] == 0 ? 1 : 0;
        Assert.Throws<InvalidOperationException>(() => Postprocessing.Postprocessor.Probability(compact, compact.Kind, other, 0));
    }

    [Fact]
    public void Classes_only_keep_probabilities_only_on_the_pages_a_foreground_class_reaches()
    {
        var m = Box3(PadMode.Edge, skip: true);
        var inferer = new SlidingWindowInferer(Cache.Get(m));
        // Five pages of voxels, all class 0 (m = -1) but for a block of class 1 in the first page.
        var v = Fixtures.Random(new Dims(128, 128, 20));
        Array.Fill(v.Data, -1f);
        for (var z = 1; z < 3; z++) for (var y = 5; y < 15; y++) for (var x = 5; x < 25; x++) v[x, y, z] = 1f;
        var full = inferer.Run(v);
        var compact = inferer.Run(v, classesOnly: true);

        Assert.Equal(5, (int)((v.Data.Length + PagedFloats.PageLength - 1) / PagedFloats.PageLength));
        Assert.Equal(1, compact.Probabilities!.PagesAllocated);
        var labels = Postprocessing.Postprocessor.ToLabels(compact, m.Output, v);
        Assert.Equal(Postprocessing.Postprocessor.ToLabels(full, m.Output, v).Data, labels.Data);
        var foreground = Enumerable.Range(0, labels.Data.Length).Where(i => labels.Data[i] == 1).ToList();
        Assert.NotEmpty(foreground);
        foreach (var i in foreground)
            Assert.Equal(Postprocessing.Postprocessor.Probability(full, full.Kind, 1, i), Postprocessing.Postprocessor.Probability(compact, compact.Kind, 1, i));
    }

    [Fact]
    public void Paged_floats_allocate_a_page_on_its_first_write_and_tell_unwritten_from_zero()
    {
        var map = new PagedFloats(3L * PagedFloats.PageLength + 5);
        Assert.Equal(0, map.PagesAllocated);
        Assert.False(map.TryGet(70_000, out _));
        map[70_000] = 0.25f;
        map[3L * PagedFloats.PageLength + 4] = 0.5f;
        Assert.Equal(2, map.PagesAllocated);
        Assert.True(map.TryGet(70_000, out var a)); Assert.Equal(0.25f, a);
        Assert.True(map.TryGet(70_001, out var b)); Assert.Equal(0f, b); // same page, never set
        Assert.True(map.TryGet(3L * PagedFloats.PageLength + 4, out var c)); Assert.Equal(0.5f, c);
        Assert.False(map.TryGet(5, out _));
        Assert.Throws<ArgumentOutOfRangeException>(() => map[3L * PagedFloats.PageLength + 5] = 1f);
        Assert.Throws<ArgumentOutOfRangeException>(() => map.TryGet(-1, out _));
    }

    [Fact]
    public void Classes_only_is_ignored_by_blended_windows()
    {
        var m = Fixtures.Manifest(patch: [8, 8, 8]);
        var v = Fixtures.Random(new Dims(12, 10, 9), seed: 8);
        var compact = new SlidingWindowInferer(Cache.Get(m)).Run(v, classesOnly: true);
        Assert.Equal(2, compact.Channels);
        Assert.Equal(OutputKind.Logits, compact.Kind);
    }

    [Fact]
    public void Ensemble_IdentityCoversEveryMember_AndAWrongMemberHashIsRefused()
    {
        var one = Box3(PadMode.Edge, ensemble: ["valid_box3.onnx", "valid_box3_x2.onnx"]);
        var other = Box3(PadMode.Edge, ensemble: ["valid_box3_x2.onnx", "valid_box3.onnx"]);
        Assert.Equal(64, one.ModelSha256.Length);
        Assert.NotEqual(one.ModelSha256, other.ModelSha256);
        Assert.NotEqual(one.Ensemble![0].Sha256, one.ModelSha256);
        one.Ensemble[1].Sha256 = new string('0', 64);
        var e = Assert.Throws<ManifestException>(() => new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"], WarmUp = false }).Get(one));
        Assert.Contains("valid_box3_x2.onnx", e.Message);
    }

    [Theory]
    [InlineData("outputSize without none blending", "blending")]
    [InlineData("odd margin", "outputSize")]
    [InlineData("larger output", "outputSize")]
    [InlineData("none blending without outputSize", "blending")]
    [InlineData("skip without outputSize", "skipUniformTiles")]
    [InlineData("onnx and ensemble", "onnx")]
    [InlineData("empty ensemble", "ensemble")]
    public void InvalidTilingOrEnsembleManifests_AreRefused_NamingTheKey(string what, string key)
    {
        var m = Box3(PadMode.Edge);
        switch (what)
        {
            case "outputSize without none blending": m.SlidingWindow.Blending = BlendMode.Gaussian; break;
            case "odd margin": m.SlidingWindow.OutputSize = [9, 8, 6]; break;
            case "larger output": m.SlidingWindow.OutputSize = [14, 8, 6]; break;
            case "none blending without outputSize": m.SlidingWindow.OutputSize = null; break;
            case "skip without outputSize": m.SlidingWindow.OutputSize = null; m.SlidingWindow.Blending = BlendMode.Constant; m.SlidingWindow.SkipUniformTiles = true; break;
            case "onnx and ensemble": m.Ensemble = [new OnnxFileInfo { File = "valid_box3.onnx", Sha256 = m.Onnx.Sha256 }]; break;
            case "empty ensemble": m.Ensemble = []; m.Onnx = new OnnxFileInfo(); break;
        }
        var e = Assert.Throws<ManifestException>(() => m.Validate());
        Assert.Contains(key, e.Message);
    }
}

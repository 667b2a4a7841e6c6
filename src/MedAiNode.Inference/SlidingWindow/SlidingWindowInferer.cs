using System.Diagnostics;
using MedAiNode.Imaging.Volumes;
using MedAiNode.Inference.Manifests;
using MedAiNode.Inference.Runtime;

namespace MedAiNode.Inference.SlidingWindow;

public readonly record struct InferenceProgress(int PatchesDone, int PatchesTotal)
{
    public double Fraction => PatchesTotal == 0 ? 1 : (double)PatchesDone / PatchesTotal;
}

/// <summary>Network output on the volume grid: <c>Scores[c * voxels + i]</c>; with <see cref="OutputKind.Labels"/> one
/// channel, each voxel's class (in <see cref="Classes"/> when the inferer kept only the classes of a scores output).</summary>
public sealed record ScoreMap(float[] Scores, int Channels, Dims Dims)
{
    /// <summary>What the scores are: the manifest's output kind, or softmax for an ensemble's averaged probabilities.</summary>
    public OutputKind Kind { get; init; } = OutputKind.Logits;
    /// <summary>With <see cref="OutputKind.Labels"/> from scores (<see cref="SlidingWindowInferer.Run"/> with classesOnly):
    /// each voxel's class, one byte per voxel (<see cref="Scores"/> is then empty).</summary>
    public byte[]? Classes { get; init; }
    /// <summary>With <see cref="Classes"/>: the probability of each voxel's class, as <c>Postprocessor.Probability</c>
    /// computes it from the scores, kept for the voxels of a foreground class (not 0) only.</summary>
    public PagedFloats? Probabilities { get; init; }
    public long Voxels => Dims.Count;
    public Span<float> Channel(int c) => Scores.AsSpan(checked((int)(c * Voxels)), checked((int)Voxels));

    /// <summary>Softmax of <paramref name="label"/> among <paramref name="channels"/> logits at <c>values[k * stride]</c>:
    /// the largest subtracted, summed in double. The one formula for a voxel's probability, in the score map and in a
    /// tile, so both give the same float.</summary>
    public static float Softmax(ReadOnlySpan<float> values, int stride, int channels, int label)
    {
        var max = float.NegativeInfinity;
        for (var k = 0; k < channels; k++) max = Math.Max(max, values[k * stride]);
        double sum = 0;
        for (var k = 0; k < channels; k++) sum += Math.Exp(values[k * stride] - max);
        return (float)(Math.Exp(values[label * stride] - max) / sum);
    }
}

public sealed record SlidingWindowStats(int Patches, int Runs, double TotalSeconds, double ModelSeconds)
{
    /// <summary>Valid-convolution tiles not run because their input was one value (their output was reused).</summary>
    public int SkippedUniform { get; init; }
    /// <summary>Valid-convolution tiles not run because their output region held no tissue (slidingWindow.tissueTiles).</summary>
    public int SkippedNoTissue { get; init; }
    /// <summary>Valid-convolution tiling: how far the tile grid was moved back from the first voxel (slidingWindow.tilePhase).</summary>
    public (int X, int Y, int Z) TileShift { get; init; }
    /// <summary>Share of time spent outside the network's own run (extraction, blending, bookkeeping).</summary>
    public double OverheadShare => TotalSeconds <= 0 ? 0 : (TotalSeconds - ModelSeconds) / TotalSeconds;
}

/// <summary>
/// Sliding-window inference as MONAI's SlidingWindowInferer: windows every patch*(1-overlap) voxels, the last one flush
/// with the border, outputs blended with a constant or Gaussian importance map. Patches are extracted one batch at a
/// time into a reused buffer; only the output grid (channels x voxels) and one weight map are held in float32.
/// </summary>
public sealed class SlidingWindowInferer(LoadedModel model)
{
    private readonly PatchRunner _runner = new(model);

    public SlidingWindowStats? LastStats { get; private set; }

    public static List<int> WindowStarts(int size, int patch, double overlap)
    {
        if (size <= patch) return [0];
        var interval = Math.Max((int)(patch * (1 - overlap)), 1);
        var starts = new List<int>();
        for (var i = 0; ; i++)
        {
            var s = Math.Min(i * interval, size - patch);
            if (starts.Count == 0 || starts[^1] != s) starts.Add(s);
            if (s == size - patch) break;
        }
        return starts;
    }

    /// <summary>MONAI compute_importance_map: separable Gaussian, sigma = sigmaScale * patch, peak 1, floored at its smallest non-zero value.</summary>
    public static float[] ImportanceMap(int px, int py, int pz, BlendMode mode, double sigmaScale)
    {
        var map = new float[(long)px * py * pz];
        if (mode == BlendMode.Constant) { Array.Fill(map, 1f); return map; }
        float[] G(int p)
        {
            var g = new float[p];
            var sigma = sigmaScale * p;
            for (var i = 0; i < p; i++) { var x = i - (p - 1) / 2.0; g[i] = (float)Math.Exp(-(x * x) / (2 * sigma * sigma)); }
            return g;
        }
        var gx = G(px); var gy = G(py); var gz = G(pz);
        var max = 0f;
        for (var z = 0; z < pz; z++) for (var y = 0; y < py; y++) for (var x = 0; x < px; x++)
        {
            var v = gx[x] * gy[y] * gz[z];
            map[((long)z * py + y) * px + x] = v;
            if (v > max) max = v;
        }
        var min = float.MaxValue;
        for (var i = 0; i < map.Length; i++) { map[i] /= max; if (map[i] > 0 && map[i] < min) min = map[i]; }
        min = Math.Max(min, 1e-3f);
        for (var i = 0; i < map.Length; i++) if (map[i] < min) map[i] = min;
        return map;
    }

    /// <param name="tissue">Valid-convolution tiling: voxels whose tiles must run (<see cref="TissueMask"/>); null runs every tile.</param>
    /// <param name="classesOnly">Valid-convolution tiling of a logits or softmax model: keep each voxel's class (the
    /// argmax) and its probability instead of every channel's score (2 floats per voxel instead of one per channel); the
    /// map then has kind Labels and <see cref="ScoreMap.Probabilities"/>, from which the labels and the probability of
    /// each voxel's own class are those the full map gives. Other tilings ignore it.</param>
    public ScoreMap Run(Volume normalized, IProgress<InferenceProgress>? progress = null, CancellationToken ct = default, byte[]? tissue = null, bool classesOnly = false)
    {
        var m = model.Manifest;
        var sw = m.SlidingWindow;
        if (sw.IsValidConvolution)
            return RunValid(normalized, progress, ct, tissue, classesOnly && (ScoreKind is OutputKind.Logits or OutputKind.Softmax) && m.Output.TensorChannels <= 256);
        if (tissue is not null) throw new ArgumentException("A tissue mask needs valid-convolution tiling (slidingWindow.outputSize).", nameof(tissue));
        var d = normalized.Dims;
        var patch = sw.PatchSize is { } p ? new Dims(p[0], p[1], p[2]) : d;
        // A volume smaller than the patch is padded symmetrically (as MONAI does); padding voxels are never accumulated.
        var padded = new Dims(Math.Max(d.X, patch.X), Math.Max(d.Y, patch.Y), Math.Max(d.Z, patch.Z));
        var before = ((padded.X - d.X) / 2, (padded.Y - d.Y) / 2, (padded.Z - d.Z) / 2);
        var windows = (from z in WindowStarts(padded.Z, patch.Z, sw.Overlap)
                       from y in WindowStarts(padded.Y, patch.Y, sw.Overlap)
                       from x in WindowStarts(padded.X, patch.X, sw.Overlap)
                       select (X: x - before.Item1, Y: y - before.Item2, Z: z - before.Item3)).ToList();
        var mirrors = MirrorSets(sw.MirrorAxes);
        var channels = m.Output.TensorChannels;
        var voxels = d.Count;
        if (windows.Count == 1 && patch == d && mirrors.Count == 1 && m.Input.Layout != "xyz")
            return RunWhole(normalized, channels, progress, ct);
        var scores = new float[checked(channels * voxels)];
        var weight = new float[voxels];
        var importance = ImportanceMap(patch.X, patch.Y, patch.Z, sw.Blending, sw.SigmaScale);
        var patchVoxels = (int)patch.Count;
        var batch = sw.BatchSize;
        var input = new float[(long)batch * patchVoxels];
        var xyz = m.Input.Layout == "xyz";
        long[] TensorShape(int n) => xyz ? [n, 1, patch.X, patch.Y, patch.Z] : [n, 1, patch.Z, patch.Y, patch.X];

        var total = Stopwatch.StartNew();
        var runSecondsBefore = _runner.RunSeconds; // the network's own seconds, not the wait for the node's slot
        var runs = 0;
        var jobs = (from w in windows from mir in mirrors select (w, mir)).ToList();
        // Blending of batch k runs while the network works on batch k+1; two output buffers take turns.
        float[][] buffers = [[], []];
        Task pending = Task.CompletedTask;
        for (var at = 0; at < jobs.Count; at += batch)
        {
            ct.ThrowIfCancellationRequested();
            var n = Math.Min(batch, jobs.Count - at);
            var buf = input.AsSpan(0, n * patchVoxels);
            for (var b = 0; b < n; b++)
                Extract(normalized.Data, d, jobs[at + b].w, jobs[at + b].mir, patch, input.AsSpan(b * patchVoxels, patchVoxels), sw.PadValue, xyz);
            var tensor = n == batch ? input : buf.ToArray();
            var slot = runs % 2;
            var (output, shape) = _runner.Run(tensor, TensorShape(n), ref buffers[slot], ct: ct);
            runs++;
            if (shape.Length != 5 || shape[0] != n || shape[1] != channels || shape[2] * shape[3] * shape[4] != patchVoxels)
            {
                pending.Wait();
                throw new InvalidOperationException($"Model {m.Id} returned shape [{string.Join(",", shape)}]; expected [{n},{channels},...] with the patch's {patchVoxels} voxels.");
            }
            pending.GetAwaiter().GetResult(); // one blend in flight at a time: both write the same output grid
            var first = at;
            pending = Task.Run(() =>
            {
                for (var b = 0; b < n; b++)
                    Accumulate(output, b * channels * patchVoxels, channels, scores, weight, d, jobs[first + b].w, jobs[first + b].mir, patch, importance, xyz);
            });
            progress?.Report(new InferenceProgress(Math.Min(at + n, jobs.Count), jobs.Count));
        }
        pending.GetAwaiter().GetResult();
        Parallel.For(0, channels, c =>
        {
            var s = scores.AsSpan(checked((int)(c * voxels)), (int)voxels);
            for (var i = 0; i < s.Length; i++) s[i] /= weight[i];
        });
        LastStats = new SlidingWindowStats(windows.Count, runs, total.Elapsed.TotalSeconds, _runner.RunSeconds - runSecondsBefore);
        return new ScoreMap(scores, channels, d) { Kind = ScoreKind };
    }

    /// <summary>
    /// One window that is the volume itself (a model run on the whole volume, as ct-lung-quant is): the volume's own
    /// array is the input and the network's output array is the score map. Blending one window with weight 1 would give
    /// the same values through a copy of the input, a weight and an importance map, and a second copy of the output:
    /// about three times the output's size at the stage that sets a chest analysis's peak memory.
    /// </summary>
    private ScoreMap RunWhole(Volume normalized, int channels, IProgress<InferenceProgress>? progress, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var d = normalized.Dims;
        var total = Stopwatch.StartNew();
        float[] output = [];
        var runSecondsBefore = _runner.RunSeconds;
        var (scores, shape) = _runner.Run(normalized.Data, [1, 1, d.Z, d.Y, d.X], ref output, [1, channels, d.Z, d.Y, d.X], ct);
        var modelSeconds = _runner.RunSeconds - runSecondsBefore;
        if (shape.Length != 5 || shape[0] != 1 || shape[1] != channels || shape[2] * shape[3] * shape[4] != d.Count)
            throw new InvalidOperationException($"Model {model.Manifest.Id} returned shape [{string.Join(",", shape)}]; expected [1,{channels},...] with the patch's {d.Count} voxels.");
        progress?.Report(new InferenceProgress(1, 1));
        LastStats = new SlidingWindowStats(1, 1, total.Elapsed.TotalSeconds, modelSeconds);
        return new ScoreMap(scores, channels, d) { Kind = ScoreKind };
    }

    private OutputKind ScoreKind => model.IsEnsemble ? OutputKind.Softmax : model.Manifest.Output.Kind;

    /// <summary>Output tile starts along one axis: -shift, -shift + out, ... while inside the volume (the first and last tiles may overhang).</summary>
    public static List<int> TileStarts(int size, int output, int shift = 0)
    {
        var starts = new List<int>();
        for (var s = -shift; s < size; s += output) starts.Add(s);
        return starts;
    }

    /// <summary>
    /// The tile grid shift (a multiple of <paramref name="phase"/> below the tile size, per axis) whose tiles holding tissue
    /// are fewest; ties keep the smaller shift.
    /// </summary>
    public static (int X, int Y, int Z) BestShift(byte[] tissue, Dims d, Dims outTile, int phase)
    {
        var best = (X: 0, Y: 0, Z: 0);
        var fewest = int.MaxValue;
        for (var sz = 0; sz < outTile.Z; sz += phase)
        for (var sy = 0; sy < outTile.Y; sy += phase)
        for (var sx = 0; sx < outTile.X; sx += phase)
        {
            var n = 0;
            foreach (var z in TileStarts(d.Z, outTile.Z, sz))
            foreach (var y in TileStarts(d.Y, outTile.Y, sy))
            foreach (var x in TileStarts(d.X, outTile.X, sx))
                if (TissueMask.Any(tissue, d, (x, y, z), outTile)) n++;
            if (n < fewest) { fewest = n; best = (sx, sy, sz); }
        }
        return best;
    }

    /// <summary>
    /// Valid-convolution tiling (DeepMedic): each output tile of outputSize voxels is cut from an input patch centred on
    /// it, reaching (patch - output) / 2 beyond it on each side, padded past the volume's border by edge replication or a
    /// constant. Tiles do not overlap, so outputs are copied, not blended. A tile whose input is one value throughout
    /// (air once clipped) reuses the output computed for the first such tile: a constant input gives a constant output.
    /// With a tissue mask, a tile whose output region holds none of it gets the output of an all-air tile (the volume's
    /// minimum throughout) without running: air outside the head cannot hold a finding.
    /// </summary>
    private ScoreMap RunValid(Volume normalized, IProgress<InferenceProgress>? progress, CancellationToken ct, byte[]? tissue, bool classesOnly)
    {
        if (tissue is not null && tissue.Length != normalized.Data.Length)
            throw new ArgumentException($"Tissue mask has {tissue.Length} voxels; the volume {normalized.Data.Length}.", nameof(tissue));
        var m = model.Manifest;
        var sw = m.SlidingWindow;
        var d = normalized.Dims;
        var patch = new Dims(sw.PatchSize![0], sw.PatchSize[1], sw.PatchSize[2]);
        var outTile = new Dims(sw.OutputSize![0], sw.OutputSize[1], sw.OutputSize[2]);
        var margin = ((patch.X - outTile.X) / 2, (patch.Y - outTile.Y) / 2, (patch.Z - outTile.Z) / 2);
        var shift = tissue is not null && sw.TilePhase is { } phase ? BestShift(tissue, d, outTile, phase) : (X: 0, Y: 0, Z: 0);
        var tiles = (from z in TileStarts(d.Z, outTile.Z, shift.Z) from y in TileStarts(d.Y, outTile.Y, shift.Y) from x in TileStarts(d.X, outTile.X, shift.X)
                     select (X: x, Y: y, Z: z)).ToList();
        var channels = m.Output.TensorChannels;
        var voxels = d.Count;
        // Tiles do not overlap, so each voxel's class can be taken as its tile is placed: a BLAST-CT head's five channels
        // on the 1 mm grid were 180 MB, the analysis' peak. The classes take a byte each, and the probabilities are kept
        // only where a tile places a foreground class (lesions' voxels; background's probability is never read): a
        // 300-slice head's two float maps were 64 MiB under the network's tiles, then its peak.
        var scores = classesOnly ? [] : new float[checked(channels * voxels)];
        var classes = classesOnly ? new byte[voxels] : null;
        var probabilities = classesOnly ? new PagedFloats(voxels) : null;
        var kind = ScoreKind;
        void Place(ReadOnlySpan<float> tile, int channels, float[] scores, Dims d, (int X, int Y, int Z) s, Dims t, bool xyz)
        {
            if (probabilities is null) PlaceScores(tile, channels, scores, d, s, t, xyz);
            else PlaceClasses(tile, channels, kind, classes!, probabilities, d, s, t, xyz);
        }
        var patchVoxels = (int)patch.Count;
        var outVoxels = (int)outTile.Count;
        var batch = sw.BatchSize;
        var input = new float[(long)batch * patchVoxels];
        var xyz = m.Input.Layout == "xyz";
        long[] TensorShape(int n) => xyz ? [n, 1, patch.X, patch.Y, patch.Z] : [n, 1, patch.Z, patch.Y, patch.X];
        // Output of a tile whose whole input is one value, by that value.
        var uniformOutputs = new Dictionary<float, float[]>();

        var total = Stopwatch.StartNew();
        var runSecondsBefore = _runner.RunSeconds; // the network's own seconds, not the wait for the node's slot
        var runs = 0;
        var skipped = 0;
        var noTissue = 0;
        var done = 0;
        float[] buffer = [];
        var pendingTiles = new List<(int X, int Y, int Z)>(batch);
        var pendingUniform = new List<float?>(batch);
        void Flush()
        {
            if (pendingTiles.Count == 0) return;
            var n = pendingTiles.Count;
            var (output, shape) = _runner.Run(n == batch ? input : input.AsSpan(0, n * patchVoxels).ToArray(), TensorShape(n), ref buffer, ct: ct);
            runs++;
            var expected = xyz ? new long[] { n, channels, outTile.X, outTile.Y, outTile.Z } : [n, channels, outTile.Z, outTile.Y, outTile.X];
            if (!shape.SequenceEqual(expected))
                throw new InvalidOperationException($"Model {m.Id} returned shape [{string.Join(",", shape)}]; slidingWindow.outputSize expects [{string.Join(",", expected)}] for a {patch} patch.");
            for (var b = 0; b < n; b++)
            {
                var tileOut = output.AsSpan(b * channels * outVoxels, channels * outVoxels);
                Place(tileOut, channels, scores, d, pendingTiles[b], outTile, xyz);
                if (pendingUniform[b] is { } value) uniformOutputs.TryAdd(value, tileOut.ToArray());
            }
            done += n;
            pendingTiles.Clear(); pendingUniform.Clear();
            progress?.Report(new InferenceProgress(done + skipped, tiles.Count));
        }
        float[]? airOutput = null;
        foreach (var t in tiles)
        {
            ct.ThrowIfCancellationRequested();
            if (tissue is not null && !TissueMask.Any(tissue, d, t, outTile))
            {
                airOutput ??= AirOutput();
                Place(airOutput, channels, scores, d, t, outTile, xyz);
                noTissue++;
                continue;
            }
            var slot = input.AsSpan(pendingTiles.Count * patchVoxels, patchVoxels);
            ExtractPadded(normalized.Data, d, (t.X - margin.Item1, t.Y - margin.Item2, t.Z - margin.Item3), patch, slot, sw.Padding, sw.PadValue, xyz);
            float? uniform = sw.SkipUniformTiles && IsUniform(slot) ? slot[0] : null;
            if (uniform is { } u && uniformOutputs.TryGetValue(u, out var known))
            {
                Place(known, channels, scores, d, t, outTile, xyz);
                skipped++;
                continue;
            }
            pendingTiles.Add(t); pendingUniform.Add(uniform);
            // A second uniform tile of the same value waits for this one's output rather than running again.
            if (pendingTiles.Count == batch || uniform is not null) Flush();
        }
        Flush();
        LastStats = new SlidingWindowStats(tiles.Count, runs, total.Elapsed.TotalSeconds, _runner.RunSeconds - runSecondsBefore) { SkippedUniform = skipped, SkippedNoTissue = noTissue, TileShift = shift };
        return probabilities is null
            ? new ScoreMap(scores, channels, d) { Kind = ScoreKind }
            : new ScoreMap(scores, 1, d) { Kind = OutputKind.Labels, Classes = classes, Probabilities = probabilities };

        // The network's output for a tile of the volume's minimum throughout (air), run once, outside any pending batch.
        float[] AirOutput()
        {
            var air = normalized.Data.Length == 0 ? 0f : normalized.Range().Min;
            if (uniformOutputs.TryGetValue(air, out var known)) return known;
            var one = new float[patchVoxels];
            Array.Fill(one, air);
            float[] own = [];
            var (output, shape) = _runner.Run(one, TensorShape(1), ref own, ct: ct);
            runs++;
            if (shape.Aggregate(1L, (a, b) => a * b) != channels * outVoxels)
                throw new InvalidOperationException($"Model {m.Id} returned shape [{string.Join(",", shape)}] for an all-air tile.");
            var copy = output.AsSpan(0, channels * outVoxels).ToArray();
            uniformOutputs[air] = copy;
            return copy;
        }
    }

    private static bool IsUniform(ReadOnlySpan<float> v)
    {
        var first = v[0];
        // Span.IndexOfAnyExcept is vectorised; a tile with tissue in it stops at its first differing voxel.
        return v.IndexOfAnyExcept(first) < 0;
    }

    /// <summary>The patch whose first voxel is volume voxel <paramref name="s"/>; outside the volume: the nearest border voxel (Edge) or <paramref name="pad"/>.</summary>
    private static void ExtractPadded(float[] src, Dims d, (int X, int Y, int Z) s, Dims p, Span<float> dst, PadMode mode, float pad, bool xyz)
    {
        var edge = mode == PadMode.Edge;
        // The x range inside the volume, copied as one run per row; the rest is padding.
        int x0 = Math.Clamp(-s.X, 0, p.X), x1 = Math.Clamp(d.X - s.X, 0, p.X);
        for (var z = 0; z < p.Z; z++)
        {
            var sz = s.Z + z;
            var zIn = (uint)sz < (uint)d.Z;
            if (edge) sz = Math.Clamp(sz, 0, d.Z - 1);
            for (var y = 0; y < p.Y; y++)
            {
                var sy = s.Y + y;
                var inside = zIn && (uint)sy < (uint)d.Y;
                if (edge) { sy = Math.Clamp(sy, 0, d.Y - 1); inside = true; }
                var rowBase = d.Index(0, Math.Max(sy, 0), Math.Max(sz, 0));
                if (!xyz)
                {
                    var row = dst.Slice((z * p.Y + y) * p.X, p.X);
                    if (!inside) { row.Fill(pad); continue; }
                    if (x1 > x0) src.AsSpan(checked((int)(rowBase + s.X + x0)), x1 - x0).CopyTo(row[x0..x1]);
                    if (edge)
                    {
                        if (x0 > 0) row[..x0].Fill(src[rowBase]);
                        if (x1 < p.X) row[x1..].Fill(src[rowBase + d.X - 1]);
                    }
                    else
                    {
                        if (x0 > 0) row[..x0].Fill(pad);
                        if (x1 < p.X) row[x1..].Fill(pad);
                    }
                    continue;
                }
                for (var x = 0; x < p.X; x++)
                {
                    var sx = s.X + x;
                    float v;
                    if (edge) v = src[rowBase + Math.Clamp(sx, 0, d.X - 1)];
                    else v = inside && (uint)sx < (uint)d.X ? src[rowBase + sx] : pad;
                    dst[(x * p.Y + y) * p.Z + z] = v;
                }
            }
        }
    }

    /// <summary>As <see cref="PlaceScores"/>, keeping each voxel's class (first maximum, as Postprocessor.ToLabels
    /// takes it) and, for a foreground class, its probability (as Postprocessor.Probability computes it: softmax in
    /// double for logits).</summary>
    private static void PlaceClasses(ReadOnlySpan<float> tile, int channels, OutputKind kind, byte[] classes, PagedFloats probabilities, Dims d, (int X, int Y, int Z) s, Dims t, bool xyz)
    {
        var tv = (int)t.Count;
        int x0 = Math.Max(0, -s.X), y0 = Math.Max(0, -s.Y), z0 = Math.Max(0, -s.Z);
        int x1 = Math.Min(t.X, d.X - s.X), y1 = Math.Min(t.Y, d.Y - s.Y), z1 = Math.Min(t.Z, d.Z - s.Z);
        for (var z = z0; z < z1; z++)
        for (var y = y0; y < y1; y++)
        for (var x = x0; x < x1; x++)
        {
            var q = xyz ? (x * t.Y + y) * t.Z + z : (z * t.Y + y) * t.X + x;
            var best = 0; var bv = tile[q];
            for (var k = 1; k < channels; k++) { var v = tile[k * tv + q]; if (v > bv) { bv = v; best = k; } }
            var at = d.Index(s.X + x, s.Y + y, s.Z + z);
            classes[at] = (byte)best;
            if (best != 0) probabilities[at] = kind == OutputKind.Softmax ? bv : ScoreMap.Softmax(tile[q..], tv, channels, best);
        }
    }

    /// <summary>Copies one output tile (channels x tile voxels, tensor layout) onto the grid; the parts past the borders are dropped.</summary>
    private static void PlaceScores(ReadOnlySpan<float> tile, int channels, float[] scores, Dims d, (int X, int Y, int Z) s, Dims t, bool xyz)
    {
        var voxels = d.Count;
        var tv = (int)t.Count;
        int x0 = Math.Max(0, -s.X), y0 = Math.Max(0, -s.Y), z0 = Math.Max(0, -s.Z);
        int x1 = Math.Min(t.X, d.X - s.X), y1 = Math.Min(t.Y, d.Y - s.Y), z1 = Math.Min(t.Z, d.Z - s.Z);
        if (x1 <= x0) return;
        for (var c = 0; c < channels; c++)
        {
            var src = tile.Slice(c * tv, tv);
            for (var z = z0; z < z1; z++)
            for (var y = y0; y < y1; y++)
            {
                var at = c * voxels + d.Index(s.X + x0, s.Y + y, s.Z + z);
                if (!xyz) { src.Slice((z * t.Y + y) * t.X + x0, x1 - x0).CopyTo(scores.AsSpan(checked((int)at), x1 - x0)); continue; }
                for (var x = x0; x < x1; x++) scores[at + x - x0] = src[(x * t.Y + y) * t.Z + z];
            }
        }
    }

    private static List<(bool X, bool Y, bool Z)> MirrorSets(int[] axes)
    {
        var sets = new List<(bool, bool, bool)>();
        for (var mask = 0; mask < 8; mask++)
        {
            var fx = (mask & 1) != 0; var fy = (mask & 2) != 0; var fz = (mask & 4) != 0;
            if ((fx && !axes.Contains(0)) || (fy && !axes.Contains(1)) || (fz && !axes.Contains(2))) continue;
            sets.Add((fx, fy, fz));
        }
        return sets;
    }

    /// <summary>Patch voxel (x, y, z) reads source voxel start + (flipped) offset; outside the volume it is padding.</summary>
    private static void Extract(float[] src, Dims d, (int X, int Y, int Z) s, (bool X, bool Y, bool Z) flip, Dims p, Span<float> dst, float pad, bool xyz)
    {
        var dstArr = dst;
        for (var z = 0; z < p.Z; z++)
        {
            var sz = s.Z + (flip.Z ? p.Z - 1 - z : z);
            for (var y = 0; y < p.Y; y++)
            {
                var sy = s.Y + (flip.Y ? p.Y - 1 - y : y);
                var inside = (uint)sz < (uint)d.Z && (uint)sy < (uint)d.Y;
                long rowBase = inside ? d.Index(0, sy, sz) : 0;
                if (!xyz && !flip.X && inside && s.X >= 0 && s.X + p.X <= d.X)
                {
                    src.AsSpan(checked((int)(rowBase + s.X)), p.X).CopyTo(dstArr.Slice((z * p.Y + y) * p.X, p.X));
                    continue;
                }
                for (var x = 0; x < p.X; x++)
                {
                    var sx = s.X + (flip.X ? p.X - 1 - x : x);
                    var v = inside && (uint)sx < (uint)d.X ? src[rowBase + sx] : pad;
                    dstArr[xyz ? (x * p.Y + y) * p.Z + z : (z * p.Y + y) * p.X + x] = v;
                }
            }
        }
    }

    private static void Accumulate(float[] outArr, int offset, int channels, float[] scores, float[] weight, Dims d, (int X, int Y, int Z) s, (bool X, bool Y, bool Z) flip, Dims p, float[] importance, bool xyz)
    {
        var pv = (int)p.Count;
        var voxels = d.Count;
        // Common case: x not mirrored, zyx layout, the row fully inside: whole rows blend as vectors.
        var fastRows = !xyz && !flip.X && s.X >= 0 && s.X + p.X <= d.X;
        Parallel.For(0, p.Z, z =>
        {
            var sz = s.Z + (flip.Z ? p.Z - 1 - z : z);
            if ((uint)sz >= (uint)d.Z) return;
            for (var y = 0; y < p.Y; y++)
            {
                var sy = s.Y + (flip.Y ? p.Y - 1 - y : y);
                if ((uint)sy >= (uint)d.Y) continue;
                var rowBase = d.Index(0, sy, sz);
                var pRow = (z * p.Y + y) * p.X;
                if (fastRows)
                {
                    var w = importance.AsSpan(pRow, p.X);
                    var dst = checked((int)(rowBase + s.X));
                    AddTo(weight.AsSpan(dst, p.X), w);
                    for (var c = 0; c < channels; c++)
                        MultiplyAddTo(scores.AsSpan(checked((int)(c * voxels + dst)), p.X), w, outArr.AsSpan(offset + c * pv + pRow, p.X));
                    continue;
                }
                for (var x = 0; x < p.X; x++)
                {
                    var sx = s.X + (flip.X ? p.X - 1 - x : x);
                    if ((uint)sx >= (uint)d.X) continue;
                    var q = xyz ? (x * p.Y + y) * p.Z + z : (z * p.Y + y) * p.X + x;
                    var w = importance[pRow + x];
                    var dst = rowBase + sx;
                    weight[dst] += w;
                    for (var c = 0; c < channels; c++) scores[c * voxels + dst] += w * outArr[offset + c * pv + q];
                }
            }
        });
    }

    private static void AddTo(Span<float> dst, ReadOnlySpan<float> w)
    {
        var i = 0;
        if (System.Numerics.Vector.IsHardwareAccelerated)
        {
            var n = System.Numerics.Vector<float>.Count;
            for (; i <= dst.Length - n; i += n)
                (new System.Numerics.Vector<float>(dst[i..]) + new System.Numerics.Vector<float>(w[i..])).CopyTo(dst[i..]);
        }
        for (; i < dst.Length; i++) dst[i] += w[i];
    }

    private static void MultiplyAddTo(Span<float> dst, ReadOnlySpan<float> w, ReadOnlySpan<float> v)
    {
        var i = 0;
        if (System.Numerics.Vector.IsHardwareAccelerated)
        {
            var n = System.Numerics.Vector<float>.Count;
            for (; i <= dst.Length - n; i += n)
                (new System.Numerics.Vector<float>(dst[i..]) + new System.Numerics.Vector<float>(w[i..]) * new System.Numerics.Vector<float>(v[i..])).CopyTo(dst[i..]);
        }
        for (; i < dst.Length; i++) dst[i] += w[i] * v[i];
    }
}

using MedAiNode.Imaging.Geometry;
using MedAiNode.Imaging.Morphology;
using MedAiNode.Imaging.Volumes;
using MedAiNode.Inference.Manifests;
using MedAiNode.Inference.SlidingWindow;

namespace MedAiNode.Inference.Postprocessing;

/// <summary>A connected component reported as a finding: where, how big, and how sure the model was.</summary>
public sealed record LesionCandidate(int Label, int Index, long Voxels, double VolumeMl, Vec3 CentroidMm, double LongestDiameterMm, double MeanProbability)
{
    /// <summary>The two voxel centres the longest diameter joins (patient mm); null for a single voxel.</summary>
    public DiameterEnds? LongestDiameterEndsMm { get; init; }
    /// <summary>Mean intensity (HU on CT) over the lesion's voxels, where measured.</summary>
    public double? MeanValue { get; init; }
}

public static class Postprocessor
{
    /// <summary>Argmax for softmax/logits outputs; per-channel threshold for sigmoid outputs (the highest label wins overlaps);
    /// the values themselves for a labels output, which must be class indices 0..channels-1.</summary>
    /// <exception cref="ManifestException">A labels output holds a value that is not such an index: the manifest does not
    /// describe the model, the same on every run (so the study fails at once, not retried).</exception>
    public static LabelVolume ToLabels(ScoreMap scores, OutputSpec output, Volume grid)
    {
        var labels = new LabelVolume(scores.Dims, grid.Affine);
        var n = scores.Voxels;
        var s = scores.Scores;
        var c = scores.Channels;
        // The classes the inferer kept of a scores output (classesOnly), or a labels output.
        if (scores.Classes is { } classes)
        {
            classes.CopyTo(labels.Data, 0);
            return labels;
        }
        if (scores.Kind == OutputKind.Labels) return CopyLabels(scores, output.Channels, labels);
        Parallel.For(0, (int)((n + 65535) / 65536), block =>
        {
            var end = Math.Min(n, (block + 1) * 65536L);
            for (var i = block * 65536L; i < end; i++)
            {
                if (output.Kind == OutputKind.Sigmoid)
                {
                    byte label = 0;
                    for (var k = 0; k < c; k++) if (Sigmoid(s[k * n + i]) > output.Threshold) label = (byte)(k + 1);
                    labels.Data[i] = label;
                }
                else
                {
                    var best = 0; var bv = s[i];
                    for (var k = 1; k < c; k++) { var v = s[k * n + i]; if (v > bv) { bv = v; best = k; } }
                    labels.Data[i] = (byte)best;
                }
            }
        });
        return labels;
    }

    public static float Sigmoid(float x) => 1f / (1f + MathF.Exp(-x));

    private static LabelVolume CopyLabels(ScoreMap scores, int classes, LabelVolume labels)
    {
        if (scores.Channels != 1) throw new InvalidOperationException($"A labels output has one channel, not {scores.Channels}.");
        var s = scores.Scores;
        var n = scores.Voxels;
        var bad = long.MaxValue;
        Parallel.For(0, (int)((n + 65535) / 65536), block =>
        {
            var end = Math.Min(n, (block + 1) * 65536L);
            for (var i = block * 65536L; i < end; i++)
            {
                var v = s[i];
                // Whole numbers only (NaN fails too): a fraction means the output is scores, not the argmax's indices.
                if (v >= 0 && v < classes && v == MathF.Floor(v)) { labels.Data[i] = (byte)v; continue; }
                InterlockedMin(ref bad, i);
                return;
            }
        });
        if (bad != long.MaxValue)
        {
            var d = scores.Dims;
            var (x, y, z) = (bad % d.X, bad / d.X % d.Y, bad / ((long)d.X * d.Y));
            throw new ManifestException($"The model's output (kind labels) holds {s[bad]} at voxel ({x}, {y}, {z}); a labels output holds class indices 0..{classes - 1} (output.channels {classes}). Is the output scores rather than its argmax?");
        }
        return labels;
    }

    private static void InterlockedMin(ref long target, long value)
    {
        for (var seen = Volatile.Read(ref target); value < seen; seen = Volatile.Read(ref target))
            if (Interlocked.CompareExchange(ref target, value, seen) == seen) return;
    }

    /// <summary>Probability of <paramref name="label"/> at voxel <paramref name="i"/>.</summary>
    public static float Probability(ScoreMap scores, OutputKind kind, int label, long i)
    {
        var n = scores.Voxels; var s = scores.Scores;
        switch (kind)
        {
            case OutputKind.Sigmoid: return Sigmoid(s[(label - 1) * n + i]);
            case OutputKind.Softmax: return s[label * n + i];
            case OutputKind.Labels:
                // Only the probability of each voxel's own foreground class was kept; a voxel relabelled after the network
                // has none.
                if (scores is { Classes: { } classes, Probabilities: { } p } && label != 0 && classes[i] == label && p.TryGet(i, out var kept)) return kept;
                throw new InvalidOperationException(scores.Probabilities is null
                    ? "A labels output gives no probabilities (the manifest refuses lesions with it)."
                    : label == 0 ? "The probability of the background (class 0) was not kept."
                    : $"Only the probability of the network's own class was kept; voxel {i} is label {label}, the network's class {scores.Classes![i]}.");
            default:
                return ScoreMap.Softmax(s.AsSpan(checked((int)i)), checked((int)n), scores.Channels, label);
        }
    }

    /// <summary>Per-label largest-component and minimum-size filters from the manifest.</summary>
    public static void ApplyFilters(LabelVolume labels, ModelManifest manifest)
    {
        foreach (var l in manifest.Labels)
        {
            var pp = l.Postprocessing;
            if (pp is null || (!pp.LargestComponent && pp.MinSizeMl <= 0)) continue;
            var minVoxels = pp.MinSizeMl > 0 ? (long)Math.Ceiling(pp.MinSizeMl * 1000 / labels.VoxelVolumeMm3) : 0;
            // In place, without per-label masks (the same result as KeepLargest then RemoveSmall on MaskOf).
            BinaryMorphology.FilterComponents(labels, (byte)l.Value, pp.LargestComponent, minVoxels);
        }
    }

    /// <summary>Connected components of lesion labels with centroid, longest diameter, volume and mean probability;
    /// numbered per label from the largest (ties in index order of their first voxel).</summary>
    public static List<LesionCandidate> Lesions(LabelVolume labels, ScoreMap? scores, ModelManifest manifest)
    {
        var result = new List<LesionCandidate>();
        foreach (var l in manifest.Labels.Where(l => l.Postprocessing?.Lesions == true))
        {
            // Each component's own voxels, not a component map of the whole grid per label: a 1 mm head's four lesion
            // labels made 180 MB of volume-sized scratch, the peak of a BLAST-CT analysis (docs/benchmarks.md).
            var comps = BinaryMorphology.ComponentsOf(labels, (byte)l.Value);
            var bySize = Enumerable.Range(0, comps.Count).OrderByDescending(comps.Size).ToArray(); // stable: ties keep scan order
            for (var id = 1; id <= bySize.Length; id++)
            {
                var voxels = new long[comps.Size(bySize[id - 1])];
                var k = 0;
                foreach (var v in comps.Of(bySize[id - 1])) voxels[k++] = v;
                // In index order, as a scan of the grid sums them.
                Array.Sort(voxels);
                var stats = RegionMeasurements.Measure(labels, voxels);
                double p = 0;
                if (scores is not null)
                {
                    foreach (var i in voxels) p += Probability(scores, scores.Kind, l.Value, i);
                    p /= stats.VoxelCount;
                }
                else p = double.NaN;
                result.Add(new LesionCandidate(l.Value, id, stats.VoxelCount, stats.VolumeMl, stats.CentroidMm, stats.LongestDiameterMm, p)
                    { LongestDiameterEndsMm = stats.LongestDiameterEndsMm });
            }
        }
        return result;
    }
}

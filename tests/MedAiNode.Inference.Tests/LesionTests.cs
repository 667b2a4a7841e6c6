using MedAiNode.Imaging.Geometry;
using MedAiNode.Imaging.Morphology;
using MedAiNode.Imaging.Volumes;
using MedAiNode.Inference.Manifests;
using MedAiNode.Inference.Postprocessing;
using MedAiNode.Inference.SlidingWindow;

namespace MedAiNode.Inference.Tests;

public class LesionTests
{
    /// <summary>Three lesion labels as scattered balls (about 1 % of the grid, some touching, some at the border) and
    /// random logits for background + 3 classes.</summary>
    private static (LabelVolume Labels, ScoreMap Scores, ModelManifest Manifest) Case(int seed)
    {
        var rng = new Random(seed);
        var d = new Dims(90, 70, 48);
        var labels = new LabelVolume(d, new Affine(new Vec3(-40, 12, 7), new Vec3(0.9, 0, 0), new Vec3(0, 0.9, 0), new Vec3(0, 0, 1.5)));
        for (var b = 0; b < 60; b++)
        {
            int cx = rng.Next(d.X), cy = rng.Next(d.Y), cz = rng.Next(d.Z), r = rng.Next(0, 3);
            var value = (byte)rng.Next(1, 4);
            for (var z = Math.Max(0, cz - r); z <= Math.Min(d.Z - 1, cz + r); z++)
            for (var y = Math.Max(0, cy - r); y <= Math.Min(d.Y - 1, cy + r); y++)
            for (var x = Math.Max(0, cx - r); x <= Math.Min(d.X - 1, cx + r); x++)
                if ((x - cx) * (x - cx) + (y - cy) * (y - cy) + (z - cz) * (z - cz) <= r * r) labels[x, y, z] = value;
        }
        var scores = new float[4 * d.Count];
        for (var i = 0; i < scores.Length; i++) scores[i] = (float)(rng.NextDouble() * 6 - 3);
        var manifest = Fixtures.Manifest(channels: 4);
        manifest.Labels = [.. Enumerable.Range(1, 3).Select(v => new LabelSpec
        {
            Value = v, Name = $"lesion {v}", Category = new("49755003", "SCT", "Morphologically Abnormal Structure"), Type = new("50960005", "SCT", "Hemorrhage"),
            Postprocessing = new LabelPostprocessing { Lesions = true },
        })];
        return (labels, new ScoreMap(scores, 4, d) { Kind = OutputKind.Logits }, manifest);
    }

    /// <summary>What Postprocessor.Lesions computed before 2026-12-02: a component map of the whole grid per label, and
    /// each component measured and its probability summed by a scan of the whole grid.</summary>
    private static List<LesionCandidate> ByWholeGridScans(LabelVolume labels, ScoreMap scores, ModelManifest manifest)
    {
        var result = new List<LesionCandidate>();
        foreach (var l in manifest.Labels)
        {
            var comps = BinaryMorphology.Label(BinaryMorphology.MaskOf(labels, (byte)l.Value), labels.Dims);
            for (var id = 1; id <= comps.Count; id++)
            {
                var cid = id;
                var stats = RegionMeasurements.Measure(labels, i => comps.Labels[i] == cid);
                double p = 0;
                for (long i = 0; i < comps.Labels.LongLength; i++) if (comps.Labels[i] == cid) p += Postprocessor.Probability(scores, scores.Kind, l.Value, i);
                p /= stats.VoxelCount;
                result.Add(new LesionCandidate(l.Value, id, stats.VoxelCount, stats.VolumeMl, stats.CentroidMm, stats.LongestDiameterMm, p)
                    { LongestDiameterEndsMm = stats.LongestDiameterEndsMm });
            }
        }
        return result;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Lesions_are_those_whole_grid_scans_gave_to_the_bit_without_volume_sized_scratch(int seed)
    {
        var (labels, scores, manifest) = Case(seed);
        var expected = ByWholeGridScans(labels, scores, manifest);
        Assert.True(expected.Count > 20, $"{expected.Count} lesions: the case should have many");
        Assert.Contains(expected, e => e.Voxels == 1); // ties of size: numbering must keep scan order

        var before = GC.GetAllocatedBytesForCurrentThread();
        var actual = Postprocessor.Lesions(labels, scores, manifest);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(expected, actual); // records: every field, probabilities and diameter ends to the bit
        // The whole-grid way allocated a mask and an int map of the grid per label (15 bytes per voxel here).
        Assert.True(allocated < labels.Data.Length, $"{allocated} bytes allocated for a grid of {labels.Data.Length} voxels");
    }
}

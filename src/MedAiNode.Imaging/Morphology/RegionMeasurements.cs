using MedAiNode.Imaging.Geometry;
using MedAiNode.Imaging.Volumes;

namespace MedAiNode.Imaging.Morphology;

/// <summary>Size and position of a region in patient terms.</summary>
public sealed record RegionStatistics(long VoxelCount, double VolumeMl, Vec3 CentroidMm, double LongestDiameterMm, double? MeanValue);

public static class RegionMeasurements
{
    /// <summary>Measures the voxels of <paramref name="mask"/> for which <paramref name="select"/> holds.</summary>
    public static RegionStatistics Measure<T>(VoxelVolume<T> grid, Func<long, bool> select, float[]? values = null) where T : unmanaged
    {
        var d = grid.Dims;
        long n = 0; double sx = 0, sy = 0, sz = 0, sv = 0;
        var surface = new List<Vec3>();
        for (var z = 0; z < d.Z; z++)
        for (var y = 0; y < d.Y; y++)
        for (var x = 0; x < d.X; x++)
        {
            var i = d.Index(x, y, z);
            if (!select(i)) continue;
            n++; sx += x; sy += y; sz += z;
            if (values is not null) sv += values[i];
            var onSurface = x == 0 || y == 0 || z == 0 || x == d.X - 1 || y == d.Y - 1 || z == d.Z - 1
                || !select(i - 1) || !select(i + 1) || !select(i - d.X) || !select(i + d.X) || !select(i - (long)d.X * d.Y) || !select(i + (long)d.X * d.Y);
            if (onSurface) surface.Add(grid.IndexToPatient(x, y, z));
        }
        if (n == 0) return new RegionStatistics(0, 0, default, 0, null);
        var centroid = grid.IndexToPatient(sx / n, sy / n, sz / n);
        return new RegionStatistics(n, n * grid.VoxelVolumeMm3 / 1000.0, centroid, LongestDiameter(surface), values is null ? null : sv / n);
    }

    public static RegionStatistics Measure(LabelVolume labels, byte label, float[]? values = null) =>
        Measure(labels, i => labels.Data[i] == label, values);

    /// <summary>Largest distance between two voxel centres (the farthest pair always lies on the surface).</summary>
    public static double LongestDiameter(List<Vec3> points)
    {
        if (points.Count < 2) return 0;
        // Prune to candidates that are extreme along many directions, then compare all pairs among them.
        var candidates = points;
        if (points.Count > 3000)
        {
            var set = new HashSet<int>();
            var rng = new Random(17);
            for (var k = 0; k < 400; k++)
            {
                var dir = new Vec3(rng.NextDouble() * 2 - 1, rng.NextDouble() * 2 - 1, rng.NextDouble() * 2 - 1);
                int lo = 0, hi = 0; double min = double.MaxValue, max = double.MinValue;
                for (var i = 0; i < points.Count; i++)
                {
                    var p = points[i].Dot(dir);
                    if (p < min) { min = p; lo = i; }
                    if (p > max) { max = p; hi = i; }
                }
                set.Add(lo); set.Add(hi);
            }
            candidates = set.Select(i => points[i]).ToList();
            // Refine: the farthest point from each candidate over all points.
            var extra = new List<Vec3>();
            foreach (var c in candidates.Take(64))
            {
                var best = 0.0; var bp = c;
                foreach (var p in points) { var l = (p - c).Length; if (l > best) { best = l; bp = p; } }
                extra.Add(bp);
            }
            candidates.AddRange(extra);
        }
        double bestD = 0;
        for (var i = 0; i < candidates.Count; i++)
        for (var j = i + 1; j < candidates.Count; j++)
            bestD = Math.Max(bestD, (candidates[i] - candidates[j]).Length);
        return bestD;
    }
}

using System.Buffers;
using System.Numerics;
using System.Runtime.InteropServices;
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

    public static RegionStatistics Measure(LabelVolume labels, byte label, float[]? values = null) => Measure(labels, [label], values)[0];

    /// <summary>
    /// Statistics of several labels from one pass over the grid, without a call per voxel. Voxels are visited in index
    /// order, so each label's value sum and surface point list come out exactly as a pass per label gives them (the
    /// results are bit-identical to <see cref="Measure{T}(VoxelVolume{T}, Func{long, bool}, float[])"/>).
    /// </summary>
    public static RegionStatistics[] Measure(LabelVolume labels, ReadOnlySpan<byte> labelValues, float[]? values = null)
    {
        var d = labels.Dims;
        var data = labels.Data;
        if (values is not null && values.LongLength != data.LongLength)
            throw new ArgumentException($"{values.LongLength} values for {data.LongLength} voxels.", nameof(values));
        Span<int> slot = stackalloc int[256];
        slot.Fill(-1);
        var wanted = new List<byte>();
        foreach (var l in labelValues) if (slot[l] < 0) { slot[l] = wanted.Count; wanted.Add(l); }
        var search = System.Buffers.SearchValues.Create(CollectionsMarshal.AsSpan(wanted));
        var k = wanted.Count;
        // Coordinate sums are integers: exact in long, and exact again as double at the end (they stay far below 2^53),
        // so they equal the double sums of the per-label pass.
        var n = new long[k]; var sx = new long[k]; var sy = new long[k]; var sz = new long[k];
        var sv = new double[k];
        var surfaces = new PointBuffer[k];
        for (var s = 0; s < k; s++) surfaces[s] = new PointBuffer();
        try
        {
            int nx = d.X, ny = d.Y, nz = d.Z, plane = nx * ny;
            for (var z = 0; z < nz; z++)
            for (var y = 0; y < ny; y++)
            {
                var start = (int)d.Index(0, y, z);
                var row = data.AsSpan(start, nx);
                var borderRow = y == 0 || z == 0 || y == ny - 1 || z == nz - 1;
                var x = 0;
                while (x < nx)
                {
                    var l = row[x];
                    var s = slot[l];
                    if (s < 0)
                    {
                        // Background and labels not asked for: jump to the next wanted voxel (vectorised search).
                        var next = row[x..].IndexOfAny(search);
                        if (next < 0) break;
                        x += next;
                        continue;
                    }
                    var i = start + x;
                    n[s]++; sx[s] += x; sy[s] += y; sz[s] += z;
                    if (values is not null) sv[s] += values[i];
                    if (borderRow || x == 0 || x == nx - 1 || data[i - 1] != l || data[i + 1] != l
                        || data[i - nx] != l || data[i + nx] != l || data[i - plane] != l || data[i + plane] != l)
                        surfaces[s].Add(labels.IndexToPatient(x, y, z));
                    x++;
                }
            }
            var perLabel = new RegionStatistics[k];
            for (var s = 0; s < k; s++)
            {
                if (n[s] == 0) { perLabel[s] = new RegionStatistics(0, 0, default, 0, null); continue; }
                var count = n[s];
                var centroid = labels.IndexToPatient((double)sx[s] / count, (double)sy[s] / count, (double)sz[s] / count);
                perLabel[s] = new RegionStatistics(count, count * labels.VoxelVolumeMm3 / 1000.0, centroid,
                    LongestDiameter(surfaces[s]), values is null ? null : sv[s] / count);
            }
            var result = new RegionStatistics[labelValues.Length];
            for (var j = 0; j < result.Length; j++) result[j] = perLabel[slot[labelValues[j]]];
            return result;
        }
        finally
        {
            foreach (var b in surfaces) b.Dispose();
        }
    }

    /// <summary>Largest distance between two voxel centres (the farthest pair always lies on the surface).</summary>
    public static double LongestDiameter(List<Vec3> points)
    {
        using var buffer = new PointBuffer();
        foreach (var p in points) buffer.Add(p);
        return LongestDiameter(buffer);
    }

    private const int Directions = 400;
    private const int Refinements = 64;

    /// <summary>
    /// Prunes to candidates that are extreme along many directions, then compares all pairs among them. The direction
    /// scans and the refinement run vectorised over points in cache-sized blocks, several directions per block and both
    /// cores at once; ties keep the first point, as a plain scan in point order does, so the candidates are the same.
    /// </summary>
    private static double LongestDiameter(PointBuffer points)
    {
        var count = points.Count;
        if (count < 2) return 0;
        if (count <= 3000) return LongestPair(points.X, points.Y, points.Z, Enumerable.Range(0, count).ToList(), []);
        var (candidates, farthest) = Candidates(points);
        return LongestPair(points.X, points.Y, points.Z, candidates, farthest);
    }

    /// <summary>The pruned candidates (as point indices, in order) and the farthest point from each of the first ones.</summary>
    private static (List<int> Candidates, int[] Farthest) Candidates(PointBuffer points)
    {
        var count = points.Count;
        var xs = points.X; var ys = points.Y; var zs = points.Z;
        var rng = new Random(17);
        var dirs = new Vec3[Directions];
        for (var k = 0; k < Directions; k++) dirs[k] = new Vec3(rng.NextDouble() * 2 - 1, rng.NextDouble() * 2 - 1, rng.NextDouble() * 2 - 1);
        var lo = new int[Directions]; var hi = new int[Directions];
        const int perTask = 25;
        Parallel.For(0, (Directions + perTask - 1) / perTask, t =>
        {
            var first = t * perTask;
            Extremes(xs, ys, zs, count, dirs.AsSpan(first, Math.Min(perTask, Directions - first)), lo.AsSpan(first), hi.AsSpan(first));
        });
        // Candidate order matters (the first ones are refined): insertion order of the set, as before.
        var set = new HashSet<int>();
        for (var k = 0; k < Directions; k++) { set.Add(lo[k]); set.Add(hi[k]); }
        var candidates = set.ToList();
        // Refine: the farthest point from each of the first candidates over all points.
        var refined = candidates.Take(Refinements).ToArray();
        var farthest = new int[refined.Length];
        const int refinePerTask = 8;
        Parallel.For(0, (refined.Length + refinePerTask - 1) / refinePerTask, t =>
        {
            var first = t * refinePerTask;
            var n = Math.Min(refinePerTask, refined.Length - first);
            Farthest(xs, ys, zs, count, refined.AsSpan(first, n), farthest.AsSpan(first, n));
        });
        return (candidates, farthest);
    }

    /// <summary>For tests: the candidate points of a large set, in the order the pair search sees them.</summary>
    internal static List<Vec3> DiameterCandidates(List<Vec3> points)
    {
        using var buffer = new PointBuffer();
        foreach (var p in points) buffer.Add(p);
        var (candidates, farthest) = Candidates(buffer);
        return candidates.Concat(farthest).Select(i => new Vec3(buffer.X[i], buffer.Y[i], buffer.Z[i])).ToList();
    }

    /// <summary>Largest pairwise distance among the listed points; the maximum does not depend on the order of the pairs.</summary>
    private static double LongestPair(double[] xs, double[] ys, double[] zs, List<int> a, int[] b)
    {
        var pts = new Vec3[a.Count + b.Length];
        for (var i = 0; i < a.Count; i++) pts[i] = new Vec3(xs[a[i]], ys[a[i]], zs[a[i]]);
        for (var i = 0; i < b.Length; i++) pts[a.Count + i] = new Vec3(xs[b[i]], ys[b[i]], zs[b[i]]);
        double best = 0;
        for (var i = 0; i < pts.Length; i++)
        for (var j = i + 1; j < pts.Length; j++)
            best = Math.Max(best, (pts[i] - pts[j]).Length);
        return best;
    }

    private const int BlockPoints = 2048; // three doubles each: 48 KiB, stays in L2 while every direction passes over it

    /// <summary>First index of the smallest and of the largest projection p·dir, for each direction.</summary>
    private static void Extremes(double[] xs, double[] ys, double[] zs, int count, ReadOnlySpan<Vec3> dirs, Span<int> lo, Span<int> hi)
    {
        var w = Vector<double>.Count;
        var nd = dirs.Length;
        var minV = new Vector<double>[nd]; var maxV = new Vector<double>[nd];
        var minI = new Vector<long>[nd]; var maxI = new Vector<long>[nd];
        Array.Fill(minV, new Vector<double>(double.MaxValue));
        Array.Fill(maxV, new Vector<double>(double.MinValue));
        var lanes = LaneIndices();
        var vectorEnd = count - count % w;
        for (var block = 0; block < vectorEnd; block += BlockPoints)
        {
            var end = Math.Min(block + BlockPoints, vectorEnd);
            for (var k = 0; k < nd; k++)
            {
                var dx = new Vector<double>(dirs[k].X); var dy = new Vector<double>(dirs[k].Y); var dz = new Vector<double>(dirs[k].Z);
                var mn = minV[k]; var mx = maxV[k]; var mni = minI[k]; var mxi = maxI[k];
                for (var i = block; i < end; i += w)
                {
                    // Same operations in the same order as Vec3.Dot: (x*dx + y*dy) + z*dz.
                    var p = new Vector<double>(xs, i) * dx + new Vector<double>(ys, i) * dy + new Vector<double>(zs, i) * dz;
                    var idx = lanes + new Vector<long>(i);
                    var lt = Vector.LessThan(p, mn);
                    mn = Vector.ConditionalSelect(lt, p, mn); mni = Vector.ConditionalSelect(lt, idx, mni);
                    var gt = Vector.GreaterThan(p, mx);
                    mx = Vector.ConditionalSelect(gt, p, mx); mxi = Vector.ConditionalSelect(gt, idx, mxi);
                }
                minV[k] = mn; maxV[k] = mx; minI[k] = mni; maxI[k] = mxi;
            }
        }
        for (var k = 0; k < nd; k++)
        {
            // Lanes hold the first extreme of their own points; across lanes the smaller index wins a tie.
            double min = double.MaxValue, max = double.MinValue; long l = 0, h = 0;
            for (var j = 0; j < w; j++)
            {
                if (minV[k][j] < min || minV[k][j] == min && minI[k][j] < l) { min = minV[k][j]; l = minI[k][j]; }
                if (maxV[k][j] > max || maxV[k][j] == max && maxI[k][j] < h) { max = maxV[k][j]; h = maxI[k][j]; }
            }
            var dir = dirs[k];
            for (var i = vectorEnd; i < count; i++)
            {
                var p = new Vec3(xs[i], ys[i], zs[i]).Dot(dir);
                if (p < min) { min = p; l = i; }
                if (p > max) { max = p; h = i; }
            }
            lo[k] = (int)l; hi[k] = (int)h;
        }
    }

    /// <summary>For each candidate, the first point farthest from it (the candidate itself when all points coincide with it).</summary>
    private static void Farthest(double[] xs, double[] ys, double[] zs, int count, ReadOnlySpan<int> candidates, Span<int> result)
    {
        var w = Vector<double>.Count;
        var nc = candidates.Length;
        var bestV = new Vector<double>[nc];
        var bestI = new Vector<long>[nc];
        Array.Fill(bestI, new Vector<long>(-1));
        var lanes = LaneIndices();
        var vectorEnd = count - count % w;
        for (var block = 0; block < vectorEnd; block += BlockPoints)
        {
            var end = Math.Min(block + BlockPoints, vectorEnd);
            for (var k = 0; k < nc; k++)
            {
                var c = candidates[k];
                var cx = new Vector<double>(xs[c]); var cy = new Vector<double>(ys[c]); var cz = new Vector<double>(zs[c]);
                var bv = bestV[k]; var bi = bestI[k];
                for (var i = block; i < end; i += w)
                {
                    // (p - c).Length: the same subtractions, products, sums and correctly rounded square root.
                    var ex = new Vector<double>(xs, i) - cx; var ey = new Vector<double>(ys, i) - cy; var ez = new Vector<double>(zs, i) - cz;
                    var len = Vector.SquareRoot(ex * ex + ey * ey + ez * ez);
                    var gt = Vector.GreaterThan(len, bv);
                    bv = Vector.ConditionalSelect(gt, len, bv); bi = Vector.ConditionalSelect(gt, lanes + new Vector<long>(i), bi);
                }
                bestV[k] = bv; bestI[k] = bi;
            }
        }
        for (var k = 0; k < nc; k++)
        {
            // -1: no point farther than 0 yet (the scan starts from the candidate itself at distance 0).
            double best = 0; long at = -1;
            for (var j = 0; j < w; j++)
            {
                var v = bestV[k][j]; var i = bestI[k][j];
                if (i < 0) continue;
                if (v > best || v == best && (at < 0 || i < at)) { best = v; at = i; }
            }
            var c = candidates[k];
            var cv = new Vec3(xs[c], ys[c], zs[c]);
            for (var i = vectorEnd; i < count; i++)
            {
                var l = (new Vec3(xs[i], ys[i], zs[i]) - cv).Length;
                if (l > best) { best = l; at = i; }
            }
            result[k] = at < 0 ? c : (int)at;
        }
    }

    private static Vector<long> LaneIndices()
    {
        Span<long> l = stackalloc long[Vector<long>.Count];
        for (var j = 0; j < l.Length; j++) l[j] = j;
        return new Vector<long>(l);
    }

    /// <summary>Surface points as three coordinate arrays (what the vector scans read), rented from the shared pool.</summary>
    private sealed class PointBuffer : IDisposable
    {
        private double[] _x = [], _y = [], _z = [];
        private int _capacity;
        public int Count { get; private set; }
        public double[] X => _x;
        public double[] Y => _y;
        public double[] Z => _z;

        public void Add(Vec3 p)
        {
            if (Count == _capacity) Grow();
            _x[Count] = p.X; _y[Count] = p.Y; _z[Count] = p.Z;
            Count++;
        }

        private void Grow()
        {
            var size = Math.Max(1024, _capacity * 2);
            _x = Regrow(_x, size); _y = Regrow(_y, size); _z = Regrow(_z, size);
            _capacity = size;
        }

        private double[] Regrow(double[] old, int size)
        {
            var next = ArrayPool<double>.Shared.Rent(size);
            old.AsSpan(0, Count).CopyTo(next);
            if (old.Length > 0) ArrayPool<double>.Shared.Return(old);
            return next;
        }

        public void Dispose()
        {
            if (_x.Length > 0) { ArrayPool<double>.Shared.Return(_x); ArrayPool<double>.Shared.Return(_y); ArrayPool<double>.Shared.Return(_z); }
            _x = _y = _z = [];
            Count = _capacity = 0;
        }
    }
}

using System.Buffers;
using System.Numerics;
using System.Runtime.InteropServices;
using MedAiNode.Imaging.Geometry;
using MedAiNode.Imaging.Volumes;

namespace MedAiNode.Imaging.Morphology;

/// <summary>Size and position of a region in patient terms.</summary>
public sealed record RegionStatistics(long VoxelCount, double VolumeMl, Vec3 CentroidMm, double LongestDiameterMm, double? MeanValue)
{
    /// <summary>The two voxel centres (patient mm) whose distance is <see cref="LongestDiameterMm"/>; null when the region
    /// has fewer than two voxels or the diameter is 0.</summary>
    public DiameterEnds? LongestDiameterEndsMm { get; init; }
}

/// <summary>The end points of a longest diameter, in patient coordinates (mm).</summary>
public sealed record DiameterEnds(Vec3 A, Vec3 B)
{
    public double Length => (A - B).Length;
}

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
        using var buffer = new PointBuffer();
        foreach (var p in surface) buffer.Add(p);
        var (diameter, ends) = LongestDiameter(buffer);
        return new RegionStatistics(n, n * grid.VoxelVolumeMm3 / 1000.0, centroid, diameter, values is null ? null : sv / n) { LongestDiameterEndsMm = ends };
    }

    public static RegionStatistics Measure(LabelVolume labels, byte label) => Measure(labels, [label])[0];

    /// <summary>Measures the listed voxels (a small region: visits only them, not the whole grid).</summary>
    public static RegionStatistics Measure<T>(VoxelVolume<T> grid, IReadOnlyCollection<long> voxels, float[]? values = null) where T : unmanaged =>
        Measure<T, float>(grid, voxels, values);

    /// <summary>As above, with the values float or int16 (<see cref="HuVolume"/>): the same result for the same values.</summary>
    public static RegionStatistics Measure<T, TV>(VoxelVolume<T> grid, IReadOnlyCollection<long> voxels, TV[]? values) where T : unmanaged where TV : unmanaged, INumberBase<TV> =>
        Measure(grid, voxels, values is null ? null : (i, _, _, _) => double.CreateTruncating(values[i]));

    /// <summary>As above, with the values of a box of the grid that holds the voxels (a region read back on its own).</summary>
    public static RegionStatistics Measure<T, TV>(VoxelVolume<T> grid, IReadOnlyCollection<long> voxels, VoxelWindow<TV> values) where T : unmanaged where TV : unmanaged, INumberBase<TV> =>
        Measure(grid, voxels, (_, x, y, z) => values.Box.Contains(x, y, z)
            ? double.CreateTruncating(values.At(x, y, z))
            : throw new ArgumentException($"Voxel ({x}, {y}, {z}) is outside the values' box {values.Box}.", nameof(values)));

    /// <param name="value">The value of grid index i at (x, y, z); null for no mean.</param>
    private static RegionStatistics Measure<T>(VoxelVolume<T> grid, IReadOnlyCollection<long> voxels, Func<long, int, int, int, double>? value) where T : unmanaged
    {
        var set = voxels as IReadOnlySet<long> ?? voxels.ToHashSet();
        var d = grid.Dims;
        long n = 0; double sx = 0, sy = 0, sz = 0, sv = 0;
        using var buffer = new PointBuffer();
        var plane = (long)d.X * d.Y;
        foreach (var i in voxels.Order())
        {
            int z = (int)(i / plane), y = (int)(i % plane / d.X), x = (int)(i % d.X);
            n++; sx += x; sy += y; sz += z;
            if (value is not null) sv += value(i, x, y, z);
            var onSurface = x == 0 || y == 0 || z == 0 || x == d.X - 1 || y == d.Y - 1 || z == d.Z - 1
                || !set.Contains(i - 1) || !set.Contains(i + 1) || !set.Contains(i - d.X) || !set.Contains(i + d.X) || !set.Contains(i - plane) || !set.Contains(i + plane);
            if (onSurface) buffer.Add(grid.IndexToPatient(x, y, z));
        }
        if (n == 0) return new RegionStatistics(0, 0, default, 0, null);
        var (diameter, ends) = LongestDiameter(buffer);
        return new RegionStatistics(n, n * grid.VoxelVolumeMm3 / 1000.0, grid.IndexToPatient(sx / n, sy / n, sz / n), diameter, value is null ? null : sv / n)
            { LongestDiameterEndsMm = ends };
    }

    /// <summary>
    /// Geometry of several labels (voxel count, volume, centroid, longest diameter; no mean: the analysis sums the values
    /// a few planes at a time, <c>Measuring</c>) from one pass over the label map, without a call per voxel: slabs of
    /// slices on all cores, runs of equal labels along x, vectorised neighbour tests. The results are bit-identical to
    /// <see cref="Measure{T}(VoxelVolume{T}, Func{long, bool}, float[])"/> per label: coordinate sums are exact integers
    /// and surface points are concatenated in index order.
    /// </summary>
    public static RegionStatistics[] Measure(LabelVolume labels, ReadOnlySpan<byte> labelValues)
    {
        var d = labels.Dims;
        var slot = new int[256];
        Array.Fill(slot, -1);
        var wanted = new List<byte>();
        foreach (var l in labelValues) if (slot[l] < 0) { slot[l] = wanted.Count; wanted.Add(l); }
        var search = System.Buffers.SearchValues.Create(CollectionsMarshal.AsSpan(wanted));
        var k = wanted.Count;
        var slabs = new Slab[Math.Min(d.Z, 4 * Environment.ProcessorCount)];
        var merged = new PointBuffer[k];
        try
        {
            Parallel.For(0, slabs.Length, c =>
                slabs[c] = Scan(labels, slot, search, k, (int)((long)c * d.Z / slabs.Length), (int)((long)(c + 1) * d.Z / slabs.Length)));
            var perLabel = new RegionStatistics[k];
            for (var s = 0; s < k; s++)
            {
                long count = 0, sx = 0, sy = 0, sz = 0;
                // Sized once, and each slab's part let go as it is copied: a body's surface is millions of points (24
                // bytes each), and the slabs' and merged copies of every label at once set the analysis' memory peak.
                merged[s] = new PointBuffer(slabs.Sum(slab => slab.Surface[s].Count));
                foreach (var slab in slabs)
                {
                    count += slab.N[s]; sx += slab.Sx[s]; sy += slab.Sy[s]; sz += slab.Sz[s];
                    foreach (var i in slab.Surface[s]) merged[s].Add(Position(labels, i));
                    slab.Surface[s] = [];
                }
                if (count == 0) { perLabel[s] = new RegionStatistics(0, 0, default, 0, null); continue; }
                var centroid = labels.IndexToPatient((double)sx / count, (double)sy / count, (double)sz / count);
                var (diameter, ends) = LongestDiameter(merged[s]);
                merged[s].Dispose();
                perLabel[s] = new RegionStatistics(count, count * labels.VoxelVolumeMm3 / 1000.0, centroid,
                    diameter, null) { LongestDiameterEndsMm = ends };
            }
            var result = new RegionStatistics[labelValues.Length];
            for (var j = 0; j < result.Length; j++) result[j] = perLabel[slot[labelValues[j]]];
            return result;
        }
        finally
        {
            foreach (var b in merged) b?.Dispose();
        }
    }

    /// <summary>For tests: one label's surface points as the pass collects them (slabs merged), in order.</summary>
    internal static List<Vec3> SurfacePoints(LabelVolume labels, byte label, int slabs)
    {
        var slot = new int[256];
        Array.Fill(slot, -1);
        slot[label] = 0;
        var parts = Enumerable.Range(0, slabs).Select(c => Scan(labels, slot, System.Buffers.SearchValues.Create([label]), 1,
            (int)((long)c * labels.Dims.Z / slabs), (int)((long)(c + 1) * labels.Dims.Z / slabs))).ToList();
        return parts.SelectMany(p => p.Surface[0]).Select(i => Position(labels, i)).ToList();
    }

    /// <summary>The patient position of grid index <paramref name="i"/> (x fastest), as the pass computed it from x, y, z.</summary>
    private static Vec3 Position(LabelVolume labels, long i)
    {
        var d = labels.Dims;
        return labels.IndexToPatient((int)(i % d.X), (int)(i / d.X % d.Y), (int)(i / ((long)d.X * d.Y)));
    }

    /// <summary>Per-label sums and surface voxels of the slices z0..z1-1; the surface as grid indices (8 bytes a point, not
    /// the 24 of its patient position, computed when the slabs are merged: a body's surface is millions of points).</summary>
    private sealed class Slab
    {
        public Slab(int k)
        {
            N = new long[k]; Sx = new long[k]; Sy = new long[k]; Sz = new long[k];
            Surface = new List<long>[k];
            for (var s = 0; s < k; s++) Surface[s] = [];
        }

        public long[] N, Sx, Sy, Sz;
        public List<long>[] Surface;
    }

    private static Slab Scan(LabelVolume labels, int[] slot, System.Buffers.SearchValues<byte> search, int k, int z0, int z1)
    {
        var d = labels.Dims;
        var data = labels.Data;
        int nx = d.X, ny = d.Y, nz = d.Z, plane = nx * ny;
        var r = new Slab(k);
        for (var z = z0; z < z1; z++)
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
                    // Background and labels not asked for: jump to the next wanted voxel.
                    var next = row[x..].IndexOfAny(search);
                    if (next < 0) break;
                    x += next;
                    continue;
                }
                var rest = row[(x + 1)..].IndexOfAnyExcept(l);
                var end = rest < 0 ? nx : x + 1 + rest;
                var len = end - x;
                r.N[s] += len; r.Sx[s] += (long)(x + end - 1) * len / 2; r.Sy[s] += (long)y * len; r.Sz[s] += (long)z * len;
                var surface = r.Surface[s];
                if (borderRow)
                {
                    for (var q = x; q < end; q++) surface.Add(start + q);
                }
                else
                {
                    // The ends of a run differ from their x neighbour (or touch the border); inside it only the rows
                    // above and below and the neighbouring slices can make a voxel surface.
                    surface.Add(start + x);
                    if (len > 2) InteriorSurface(data, l, start + x + 1, len - 2, nx, plane, surface);
                    if (len > 1) surface.Add(start + end - 1);
                }
                x = end;
            }
        }
        return r;
    }

    private static void InteriorSurface(byte[] data, byte l, int at, int m, int nx, int plane, List<long> surface)
    {
        var up = data.AsSpan(at - nx, m); var down = data.AsSpan(at + nx, m);
        var front = data.AsSpan(at - plane, m); var back = data.AsSpan(at + plane, m);
        var w = Vector<byte>.Count;
        var lv = new Vector<byte>(l);
        var j = 0;
        for (; j + w <= m; j += w)
        {
            var same = Vector.Equals(new Vector<byte>(up[j..]), lv) & Vector.Equals(new Vector<byte>(down[j..]), lv)
                & Vector.Equals(new Vector<byte>(front[j..]), lv) & Vector.Equals(new Vector<byte>(back[j..]), lv);
            if (same == Vector<byte>.AllBitsSet) continue;
            for (var q = 0; q < w; q++) if (same[q] == 0) surface.Add(at + j + q);
        }
        for (; j < m; j++)
            if (up[j] != l || down[j] != l || front[j] != l || back[j] != l) surface.Add(at + j);
    }

    /// <summary>Largest distance between two voxel centres (the farthest pair always lies on the surface).</summary>
    public static double LongestDiameter(List<Vec3> points) => LongestDiameterWithEnds(points).Length;

    /// <summary>The longest diameter and the two points it joins (the first such pair in pair order); ends are null when it is 0.</summary>
    public static (double Length, DiameterEnds? Ends) LongestDiameterWithEnds(List<Vec3> points)
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
    private static (double Length, DiameterEnds? Ends) LongestDiameter(PointBuffer points)
    {
        var count = points.Count;
        if (count < 2) return (0, null);
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

    /// <summary>
    /// Largest pairwise distance among the listed points (the maximum does not depend on the order of the pairs), and
    /// the first pair that reaches it. A strict "greater than" keeps the same maximum as Math.Max did: lengths are never NaN.
    /// </summary>
    private static (double Length, DiameterEnds? Ends) LongestPair(double[] xs, double[] ys, double[] zs, List<int> a, int[] b)
    {
        var pts = new Vec3[a.Count + b.Length];
        for (var i = 0; i < a.Count; i++) pts[i] = new Vec3(xs[a[i]], ys[a[i]], zs[a[i]]);
        for (var i = 0; i < b.Length; i++) pts[a.Count + i] = new Vec3(xs[b[i]], ys[b[i]], zs[b[i]]);
        double best = 0; int bi = -1, bj = -1;
        for (var i = 0; i < pts.Length; i++)
        for (var j = i + 1; j < pts.Length; j++)
        {
            var d = (pts[i] - pts[j]).Length;
            if (d > best) { best = d; bi = i; bj = j; }
        }
        return (best, bi < 0 ? null : new DiameterEnds(pts[bi], pts[bj]));
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

    /// <summary>Surface points as three coordinate arrays (what the vector scans read); small ones rented from the shared pool.</summary>
    private sealed class PointBuffer : IDisposable
    {
        private double[] _x = [], _y = [], _z = [];
        private int _capacity;
        public int Count { get; private set; }

        public PointBuffer() { }

        /// <summary>Room for <paramref name="capacity"/> points from the start (no growing, no slack).</summary>
        public PointBuffer(int capacity)
        {
            if (capacity <= 0) return;
            _x = Take(capacity); _y = Take(capacity); _z = Take(capacity);
            _capacity = capacity;
        }
        public double[] X => _x;
        public double[] Y => _y;
        public double[] Z => _z;

        public void AddRange(PointBuffer other)
        {
            while (_capacity < Count + other.Count) Grow();
            other._x.AsSpan(0, other.Count).CopyTo(_x.AsSpan(Count));
            other._y.AsSpan(0, other.Count).CopyTo(_y.AsSpan(Count));
            other._z.AsSpan(0, other.Count).CopyTo(_z.AsSpan(Count));
            Count += other.Count;
        }

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

        /// <summary>Largest array taken from the shared pool (512 KiB). A large region's surface gets arrays of its own:
        /// the pool would keep them for the life of the process, on top of the next analysis.</summary>
        private const int PooledMax = 1 << 16;

        private static double[] Take(int size) => size <= PooledMax ? ArrayPool<double>.Shared.Rent(size) : GC.AllocateUninitializedArray<double>(size);

        private double[] Regrow(double[] old, int size)
        {
            var next = Take(size);
            old.AsSpan(0, Count).CopyTo(next);
            Give(old);
            return next;
        }

        private static void Give(double[] a)
        {
            if (a.Length > 0 && a.Length <= PooledMax) ArrayPool<double>.Shared.Return(a);
        }

        public void Dispose()
        {
            Give(_x); Give(_y); Give(_z);
            _x = _y = _z = [];
            Count = _capacity = 0;
        }
    }
}

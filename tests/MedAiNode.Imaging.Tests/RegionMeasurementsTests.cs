using MedAiNode.Imaging.Geometry;
using MedAiNode.Imaging.Morphology;
using MedAiNode.Imaging.Volumes;

namespace MedAiNode.Imaging.Tests;

/// <summary>
/// The one-pass multi-label statistics and the vectorised longest diameter must give exactly (bit for bit) what the
/// straightforward per-label pass and per-point scans give: the reference below is the code they replaced.
/// </summary>
public class RegionMeasurementsTests
{
    private static class Reference
    {
        public static List<Vec3> Surface(LabelVolume grid, byte label)
        {
            var d = grid.Dims;
            bool select(long i) => grid.Data[i] == label;
            var surface = new List<Vec3>();
            for (var z = 0; z < d.Z; z++)
            for (var y = 0; y < d.Y; y++)
            for (var x = 0; x < d.X; x++)
            {
                var i = d.Index(x, y, z);
                if (!select(i)) continue;
                var onSurface = x == 0 || y == 0 || z == 0 || x == d.X - 1 || y == d.Y - 1 || z == d.Z - 1
                    || !select(i - 1) || !select(i + 1) || !select(i - d.X) || !select(i + d.X) || !select(i - (long)d.X * d.Y) || !select(i + (long)d.X * d.Y);
                if (onSurface) surface.Add(grid.IndexToPatient(x, y, z));
            }
            return surface;
        }

        public static RegionStatistics Measure(LabelVolume grid, byte label, float[]? values)
        {
            var d = grid.Dims;
            bool select(long i) => grid.Data[i] == label;
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

        public static double LongestDiameter(List<Vec3> points)
        {
            if (points.Count < 2) return 0;
            var candidates = points.Count > 3000 ? Candidates(points) : points;
            double bestD = 0;
            for (var i = 0; i < candidates.Count; i++)
            for (var j = i + 1; j < candidates.Count; j++)
                bestD = Math.Max(bestD, (candidates[i] - candidates[j]).Length);
            return bestD;
        }

        public static List<Vec3> Candidates(List<Vec3> points)
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
            var candidates = set.Select(i => points[i]).ToList();
            var extra = new List<Vec3>();
            foreach (var c in candidates.Take(64))
            {
                var best = 0.0; var bp = c;
                foreach (var p in points) { var l = (p - c).Length; if (l > best) { best = l; bp = p; } }
                extra.Add(bp);
            }
            candidates.AddRange(extra);
            return candidates;
        }
    }

    /// <summary>Random overlapping ellipsoids of labels 1..5 on an oblique anisotropic grid, touching the borders.</summary>
    private static (LabelVolume Labels, float[] Values) Phantom(int seed, Dims d)
    {
        var rng = new Random(seed);
        var (row, col) = Synthetic.Oblique(10, 20, 30);
        var affine = new Affine(new Vec3(-100.25, 33.3, 7.1), row * 0.77, col * 0.77, row.Cross(col) * 1.3);
        var labels = new LabelVolume(d, affine);
        for (var blob = 0; blob < 12; blob++)
        {
            var label = (byte)rng.Next(1, 6);
            var c = new Vec3(rng.NextDouble() * d.X, rng.NextDouble() * d.Y, rng.NextDouble() * d.Z);
            var r = new Vec3(2 + rng.NextDouble() * d.X / 3, 2 + rng.NextDouble() * d.Y / 3, 1 + rng.NextDouble() * d.Z / 3);
            for (var z = 0; z < d.Z; z++) for (var y = 0; y < d.Y; y++) for (var x = 0; x < d.X; x++)
            {
                var q = new Vec3((x - c.X) / r.X, (y - c.Y) / r.Y, (z - c.Z) / r.Z);
                if (q.Dot(q) <= 1) labels[x, y, z] = label;
            }
        }
        // Runs of random length and label in every third row: neighbours that differ anywhere along long runs,
        // in the vector part and in the tail of the neighbour test.
        for (var r = 0; r < d.Y * d.Z; r += 3)
        for (var x = 0; x < d.X;)
        {
            var len = rng.Next(1, 80);
            var label = (byte)rng.Next(0, 4);
            for (var q = x; q < Math.Min(d.X, x + len); q++) labels.Data[(long)r * d.X + q] = label;
            x += len;
        }
        // Non-integer values of mixed magnitude, so a sum in another order would round differently.
        var values = new float[d.Count];
        for (var i = 0; i < values.Length; i++) values[i] = (float)((rng.NextDouble() - 0.7) * Math.Pow(10, rng.Next(-3, 4)));
        return (labels, values);
    }

    [Theory]
    [InlineData(1, 23, 17, 11)]
    [InlineData(2, 64, 61, 29)]
    [InlineData(3, 97, 80, 40)] // large regions: more than 3000 surface points, the pruned diameter path
    public void MultiLabelPass_EqualsPerLabelReference_BitForBit(int seed, int x, int y, int z)
    {
        var (labels, _) = Phantom(seed, new Dims(x, y, z));
        byte[] asked = [0, 1, 2, 3, 4, 5, 7, 2]; // background, every label, one absent, one twice
        var all = RegionMeasurements.Measure(labels, asked);
        Assert.Equal(asked.Length, all.Length);
        for (var k = 0; k < asked.Length; k++)
        {
            Assert.Equal(Reference.Measure(labels, asked[k], null), NoEnds(all[k]));
            Assert.Equal(all[k], RegionMeasurements.Measure(labels, asked[k]));
            EndsAreOnTheSurfaceAndMakeTheDiameter(labels, asked[k], all[k]);
        }
        Assert.Equal(0, all[6].VoxelCount);
        // The surface points themselves, in order, however the slices are split into slabs.
        foreach (var label in new byte[] { 0, 1, 3 })
        foreach (var slabs in new[] { 1, 3, z })
            Assert.Equal(Reference.Surface(labels, label), RegionMeasurements.SurfacePoints(labels, label, slabs));
        if (seed == 3) Assert.Contains(all, s => s.VoxelCount > 20000);
    }

    /// <summary>The statistics the reference computes: everything but the diameter's end points, checked on their own.</summary>
    private static RegionStatistics NoEnds(RegionStatistics s) => s with { LongestDiameterEndsMm = null };

    /// <summary>The end points are two of the region's surface voxel centres, and their distance is the diameter bit for bit.</summary>
    private static void EndsAreOnTheSurfaceAndMakeTheDiameter(LabelVolume labels, byte label, RegionStatistics s)
    {
        if (s.LongestDiameterMm == 0) { Assert.Null(s.LongestDiameterEndsMm); return; }
        var ends = Assert.IsType<DiameterEnds>(s.LongestDiameterEndsMm);
        Assert.Equal(s.LongestDiameterMm, ends.Length);
        Assert.Equal(s.LongestDiameterMm, (ends.A - ends.B).Length);
        var surface = Reference.Surface(labels, label);
        Assert.Contains(ends.A, surface);
        Assert.Contains(ends.B, surface);
    }

    [Theory]
    [InlineData(5003, false)]
    [InlineData(12000, false)]
    [InlineData(20001, true)]
    public void LongestDiameter_EqualsReference_BitForBit(int count, bool onGrid)
    {
        var rng = new Random(count);
        var pts = new List<Vec3>();
        for (var i = 0; i < count; i++)
        {
            // Grid points: many equal projections and equal distances, where the first point must win as before.
            pts.Add(onGrid
                ? new Vec3(rng.Next(0, 20) * 0.75, rng.Next(0, 20) * 0.75, rng.Next(0, 10) * 2.5)
                : new Vec3(rng.NextDouble() * 80 - 40, rng.NextDouble() * 30, rng.NextDouble() * 50 + 100));
        }
        // The same candidates in the same order (ties broken towards the first point), not only the same answer.
        Assert.Equal(Reference.Candidates(pts), RegionMeasurements.DiameterCandidates(pts));
        Assert.Equal(Reference.LongestDiameter(pts), RegionMeasurements.LongestDiameter(pts));
        var (length, ends) = RegionMeasurements.LongestDiameterWithEnds(pts);
        Assert.Equal(Reference.LongestDiameter(pts), length);
        Assert.Equal(length, ends!.Length);
        Assert.Contains(ends.A, pts);
        Assert.Contains(ends.B, pts);
        Assert.Null(RegionMeasurements.LongestDiameterWithEnds([new Vec3(1, 2, 3)]).Ends);
        Assert.Equal(0.0, RegionMeasurements.LongestDiameter([new Vec3(1, 2, 3)]));
        var same = Enumerable.Repeat(new Vec3(1, 2, 3), 4000).ToList();
        Assert.Equal(0.0, RegionMeasurements.LongestDiameter(same));
    }

    [Fact]
    public void BoxSurface_LongestDiameterIsTheSpaceDiagonal()
    {
        // A full box: its surface has many symmetric ties; the answer is exact.
        var d = new Dims(40, 30, 20);
        var labels = new LabelVolume(d, new Affine(new Vec3(0, 0, 0), new Vec3(1, 0, 0), new Vec3(0, 1, 0), new Vec3(0, 0, 2)));
        Array.Fill(labels.Data, (byte)1);
        var s = RegionMeasurements.Measure(labels, 1);
        Assert.Equal(Reference.Measure(labels, 1, null), NoEnds(s));
        Assert.Equal(Math.Sqrt(39.0 * 39 + 29 * 29 + 38 * 38), s.LongestDiameterMm, 12);
        // Opposite corners of the box, in patient mm.
        var ends = s.LongestDiameterEndsMm!;
        Assert.Equal(new[] { 39.0, 29.0, 38.0 }, new[] { Math.Abs(ends.A.X - ends.B.X), Math.Abs(ends.A.Y - ends.B.Y), Math.Abs(ends.A.Z - ends.B.Z) });
    }
}

public class VolumeRangeTests
{
    [Fact]
    public void Range_EqualsTheScalarScan_NaNZeroSignsAndTails()
    {
        static (float, float) Scalar(float[] data)
        {
            var min = float.PositiveInfinity; var max = float.NegativeInfinity;
            foreach (var v in data) { if (v < min) min = v; if (v > max) max = v; }
            return (min, max);
        }
        var rng = new Random(8);
        List<float[]> cases =
        [
            [], [float.NaN], [float.NaN, 3, float.NaN], [0f, -0f, 5f], [-0f, 0f, 5f], [-7f, 0f, -0f], [-7f, -0f, 0f],
            Enumerable.Range(0, 1001).Select(_ => (float)(rng.NextDouble() * 2000 - 1024)).ToArray(),
            Enumerable.Range(0, 77).Select(i => i % 5 == 0 ? float.NaN : i % 2 == 0 ? -0f : 0f).ToArray(),
            Enumerable.Range(0, 77).Select(i => i == 70 ? float.NegativeInfinity : i).ToArray(),
        ];
        foreach (var data in cases)
        {
            var v = new Volume(new Dims(Math.Max(1, data.Length), 1, 1), new Affine(default, new Vec3(1, 0, 0), new Vec3(0, 1, 0), new Vec3(0, 0, 1)), data.Length == 0 ? [float.NaN] : data);
            var (emin, emax) = Scalar(v.Data);
            var (min, max) = v.Range();
            Assert.Equal(BitConverter.SingleToInt32Bits(emin), BitConverter.SingleToInt32Bits(min));
            Assert.Equal(BitConverter.SingleToInt32Bits(emax), BitConverter.SingleToInt32Bits(max));
        }
    }
}

[CollectionDefinition(nameof(AllocationCounting), DisableParallelization = true)]
public sealed class AllocationCounting;

[Collection(nameof(AllocationCounting))]
public class RegionMeasurementsAllocationTests
{
    /// <summary>
    /// A body's surface is millions of points, and at the measurement of a 300-slice chest they set the analysis' memory
    /// peak: the pass keeps them as 8-byte grid indices per slab and makes the 24-byte patient positions for one label at
    /// a time, sized once. Here two labels of a speckled grid (every labelled voxel on the surface, 1.5 M points) allocate under
    /// 56 bytes per point (46 here; the slabs' patient positions, their growing and a merged copy of every label took 94).
    /// The process' allocation counter counts every thread, so no other test of this assembly runs meanwhile.
    /// </summary>
    [Fact]
    public void MultiLabelPass_SurfacePoints_TakeAboutTheirIndicesAndOneLabelsPositions()
    {
        var d = new Dims(160, 150, 96);
        var grid = new LabelVolume(d, Affine.FromDirections(new Vec3(3, -7, 11), new Vec3(0.7, 0.7, 1.5), new Vec3(1, 0, 0), new Vec3(0, 1, 0), new Vec3(0, 0, 1)));
        var rng = new Random(5);
        for (var i = 0; i < grid.Data.Length; i++) grid.Data[i] = (byte)rng.Next(0, 3);
        RegionMeasurements.Measure(grid, [1, 2]); // compiled and the pools warmed: only the pass itself is counted below
        var before = GC.GetTotalAllocatedBytes(precise: true);
        var stats = RegionMeasurements.Measure(grid, [1, 2]);
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        var points = stats.Sum(s => s.VoxelCount); // speckle: every labelled voxel has a neighbour of another label
        Assert.True(points > 1_400_000, $"{points} points");
        Assert.True(allocated < 56 * points, $"{allocated / (double)points:0.0} bytes allocated per surface point");
    }
}

using MedAiNode.Imaging.Geometry;
using MedAiNode.Imaging.Morphology;
using MedAiNode.Imaging.Resampling;
using MedAiNode.Imaging.Volumes;

namespace MedAiNode.Imaging.Tests;

public class MorphologyTests
{
    private static LabelVolume Sphere(Dims d, Vec3 centreIdx, double radiusVox, Affine? a = null, byte label = 1)
    {
        var v = new LabelVolume(d, a ?? new Affine(new Vec3(0, 0, 0), new Vec3(1, 0, 0), new Vec3(0, 1, 0), new Vec3(0, 0, 1)));
        for (var z = 0; z < d.Z; z++) for (var y = 0; y < d.Y; y++) for (var x = 0; x < d.X; x++)
            if ((new Vec3(x, y, z) - centreIdx).Length <= radiusVox) v[x, y, z] = label;
        return v;
    }

    [Fact]
    public void ConnectedComponents_6And26Differ_OnDiagonalContact()
    {
        var d = new Dims(5, 5, 5);
        var m = new byte[d.Count];
        m[d.Index(1, 1, 1)] = 1; m[d.Index(2, 2, 2)] = 1; // corner contact only
        m[d.Index(4, 4, 4)] = 1; m[d.Index(4, 4, 3)] = 1; m[d.Index(4, 3, 3)] = 1;
        var c6 = BinaryMorphology.Label(m, d, Connectivity.Faces6);
        var c26 = BinaryMorphology.Label(m, d, Connectivity.Full26);
        Assert.Equal(3, c6.Count);
        Assert.Equal(2, c26.Count);
        Assert.Equal(3, c6.Sizes[1]); // largest first
        Assert.Equal(c26.Labels[d.Index(1, 1, 1)], c26.Labels[d.Index(2, 2, 2)]);
    }

    [Fact]
    public void ErodeDilateOpenClose_OnCube()
    {
        var d = new Dims(12, 12, 12);
        var m = new byte[d.Count];
        for (var z = 3; z < 9; z++) for (var y = 3; y < 9; y++) for (var x = 3; x < 9; x++) m[d.Index(x, y, z)] = 1;
        Assert.Equal(4 * 4 * 4, BinaryMorphology.Erode(m, d, Connectivity.Full26).Count(b => b == 1));
        Assert.Equal(8 * 8 * 8, BinaryMorphology.Dilate(m, d, Connectivity.Full26).Count(b => b == 1));
        Assert.Equal(6 * 6 * 6 + 6 * 36, BinaryMorphology.Dilate(m, d, Connectivity.Faces6).Count(b => b == 1));
        Assert.Equal(m, BinaryMorphology.Open(m, d, Connectivity.Full26));
        // A one-voxel speck disappears on opening; a one-voxel hole is filled on closing.
        var speck = (byte[])m.Clone(); speck[d.Index(0, 0, 0)] = 1;
        Assert.Equal(m, BinaryMorphology.Open(speck, d, Connectivity.Full26));
        var hole = (byte[])m.Clone(); hole[d.Index(5, 5, 5)] = 0;
        Assert.Equal(m, BinaryMorphology.Close(hole, d, Connectivity.Faces6));
        Assert.Equal(216, BinaryMorphology.RemoveSmall(speck, d, 2).Count(b => b == 1));
        Assert.Equal(216, BinaryMorphology.KeepLargest(speck, d).Count(b => b == 1));
    }

    [Fact]
    public void SphereMeasurements_VolumeCentroidDiameter_InPatientMm()
    {
        // Anisotropic, oblique voxel grid: 0.8 x 0.8 x 2 mm.
        var (row, col) = Synthetic.Oblique(10, 20, 30);
        var affine = new Affine(new Vec3(100, -50, 20), row * 0.8, col * 0.8, row.Cross(col) * 2.0);
        var d = new Dims(60, 60, 24);
        var labels = new LabelVolume(d, affine);
        var centre = affine.IndexToPatient(30, 30, 12);
        const double r = 15; // mm
        for (var z = 0; z < d.Z; z++) for (var y = 0; y < d.Y; y++) for (var x = 0; x < d.X; x++)
            if ((affine.IndexToPatient(x, y, z) - centre).Length <= r) labels[x, y, z] = 3;
        var s = RegionMeasurements.Measure(labels, 3);
        var exact = 4.0 / 3 * Math.PI * r * r * r / 1000;
        Assert.InRange(s.VolumeMl, exact * 0.95, exact * 1.05);
        Assert.True((s.CentroidMm - centre).Length < 0.2, $"centroid {s.CentroidMm} vs {centre}");
        Assert.InRange(s.LongestDiameterMm, 2 * r - 2.5, 2 * r + 0.01);
        Assert.Equal(0, RegionMeasurements.Measure(labels, 7).VoxelCount);
    }

    /// <summary>Random labels 1..<paramref name="labels"/>: many components, many of equal size (single voxels), touching the borders.</summary>
    private static LabelVolume RandomLabels(int seed, Dims d, double empty, int labels)
    {
        var rng = new Random(seed);
        var v = new LabelVolume(d, new Affine(new Vec3(0, 0, 0), new Vec3(1, 0, 0), new Vec3(0, 1, 0), new Vec3(0, 0, 1)));
        for (var i = 0; i < v.Data.Length; i++) v.Data[i] = rng.NextDouble() < empty ? (byte)0 : (byte)rng.Next(1, labels + 1);
        return v;
    }

    [Theory]
    [InlineData(1, Connectivity.Full26)]
    [InlineData(2, Connectivity.Faces6)]
    [InlineData(3, Connectivity.Full26)]
    public void FilterComponents_EqualsKeepLargestThenRemoveSmallOnTheMask(int seed, Connectivity connectivity)
    {
        var original = RandomLabels(seed, new Dims(31, 26, 17), empty: 0.55, labels: 3);
        var d = original.Dims;
        foreach (var largest in new[] { true, false })
        foreach (var minVoxels in new long[] { 0, 1, 2, 5, 40, 100000 })
        foreach (var label in new byte[] { 1, 2, 3, 9 })
        {
            if (!largest && minVoxels == 0) continue;
            // What Postprocessor.ApplyFilters did before.
            var expected = new LabelVolume(d, original.Affine, (byte[])original.Data.Clone());
            var mask = BinaryMorphology.MaskOf(expected, label);
            var keep = mask;
            if (largest) keep = BinaryMorphology.KeepLargest(keep, d, connectivity);
            if (minVoxels > 0) keep = BinaryMorphology.RemoveSmall(keep, d, minVoxels, connectivity);
            long clearedExpected = 0;
            for (var i = 0; i < mask.Length; i++) if (mask[i] != 0 && keep[i] == 0) { expected.Data[i] = 0; clearedExpected++; }

            var actual = new LabelVolume(d, original.Affine, (byte[])original.Data.Clone());
            var cleared = BinaryMorphology.FilterComponents(actual, label, largest, minVoxels, connectivity);
            Assert.Equal(expected.Data, actual.Data);
            Assert.Equal(clearedExpected, cleared);
        }
    }

    [Theory]
    [InlineData(4, Connectivity.Full26)]
    [InlineData(5, Connectivity.Faces6)]
    public void ComponentsOf_a_label_are_Labels_components_of_its_mask_in_the_order_found(int seed, Connectivity connectivity)
    {
        var v = RandomLabels(seed, new Dims(29, 23, 15), empty: 0.6, labels: 2);
        var d = v.Dims;
        foreach (var label in new byte[] { 1, 2, 7 })
        {
            var expected = BinaryMorphology.Label(BinaryMorphology.MaskOf(v, label), d, connectivity);
            var actual = BinaryMorphology.ComponentsOf(v, label, connectivity);
            Assert.Equal(expected.Count, actual.Count);
            // Label numbers by size, ties in the order found: the same order as actual's, sorted stably by size.
            var bySize = Enumerable.Range(0, actual.Count).OrderByDescending(actual.Size).ToArray();
            for (var id = 1; id <= expected.Count; id++)
            {
                var members = Enumerable.Range(0, v.Data.Length).Where(i => expected.Labels[i] == id).ToArray();
                Assert.Equal(members, actual.Of(bySize[id - 1]).ToArray().Order().ToArray());
            }
            Assert.Equal(v.Data.Count(x => x == label), actual.Voxels.Length);
        }
    }

    [Fact]
    public void FilterComponents_KeepsTheFirstOfEquallyLargeComponents()
    {
        var d = new Dims(9, 3, 3);
        var v = new LabelVolume(d, new Affine(new Vec3(0, 0, 0), new Vec3(1, 0, 0), new Vec3(0, 1, 0), new Vec3(0, 0, 1)));
        v[1, 1, 1] = 5; v[2, 1, 1] = 5; // first two-voxel component
        v[6, 1, 1] = 5; v[7, 1, 1] = 5; // second, same size
        Assert.Equal(2, BinaryMorphology.FilterComponents(v, 5, largestOnly: true, minVoxels: 0));
        Assert.Equal(5, v[1, 1, 1]);
        Assert.Equal(0, v[6, 1, 1]);
        Assert.Equal(2, BinaryMorphology.FilterComponents(v, 5, largestOnly: true, minVoxels: 3));
        Assert.Equal(0, v.Count(5));
    }

    [Fact]
    public void LongestDiameter_OfLargeRegionMatchesBruteForce()
    {
        var rng = new Random(5);
        var pts = Enumerable.Range(0, 5000).Select(_ => new Vec3(rng.NextDouble() * 80, rng.NextDouble() * 30, rng.NextDouble() * 50)).ToList();
        double brute = 0;
        for (var i = 0; i < pts.Count; i++) for (var j = i + 1; j < pts.Count; j++) brute = Math.Max(brute, (pts[i] - pts[j]).Length);
        Assert.Equal(brute, RegionMeasurements.LongestDiameter(pts), 6);
    }

    [Fact]
    public void NearestNeighbourLabelResampling_KeepsLabelsAndVolume()
    {
        var labels = Sphere(new Dims(40, 40, 40), new Vec3(20, 20, 20), 10, label: 5);
        var (d, a) = Resampler.GridWithSpacing(labels.Dims, labels.Affine, new Vec3(0.5, 0.5, 0.5));
        var fine = Resampler.Resample(labels, d, a);
        Assert.Equal(new byte[] { 0, 5 }, fine.Data.Distinct().OrderBy(x => x));
        var v0 = RegionMeasurements.Measure(labels, 5).VolumeMl;
        var v1 = RegionMeasurements.Measure(fine, 5).VolumeMl;
        Assert.InRange(v1, v0 * 0.97, v0 * 1.03);
        var cropped = Resampler.CropOrPad(labels, (10, -5, 10), new Dims(20, 30, 20));
        Assert.Equal(labels[15, 0, 20], cropped[5, 5, 10]);
        Assert.Equal(0, cropped[0, 0, 0]);
        Assert.True((cropped.IndexToPatient(5, 5, 10) - labels.IndexToPatient(15, 0, 20)).Length < 1e-9);
    }
}

public class LabelResamplingTests
{
    /// <summary>Nearest-neighbour resampling as the general per-voxel path computes it.</summary>
    private static byte[] NearestReference(LabelVolume source, Dims dims, Affine target, byte outside)
    {
        var inv = source.Affine.Inverse();
        var o = inv.Apply(target.Origin);
        var dx = inv.Apply(target.Origin + target.Col0) - o;
        var dy = inv.Apply(target.Origin + target.Col1) - o;
        var dz = inv.Apply(target.Origin + target.Col2) - o;
        var result = new byte[dims.Count];
        var sd = source.Dims;
        for (var k = 0; k < dims.Z; k++)
        for (var j = 0; j < dims.Y; j++)
        {
            var row = o + dy * j + dz * k;
            for (var i = 0; i < dims.X; i++)
            {
                int ix = (int)Math.Round(row.X + dx.X * i), iy = (int)Math.Round(row.Y + dx.Y * i), iz = (int)Math.Round(row.Z + dx.Z * i);
                result[dims.Index(i, j, k)] = sd.Contains(ix, iy, iz) ? source.Data[sd.Index(ix, iy, iz)] : outside;
            }
        }
        return result;
    }

    [Fact]
    public void Nearest_RowPath_EqualsThePerVoxelPath()
    {
        var rng = new Random(4);
        // A 2 mm model grid and 0.75 x 0.75 x 1 mm input grids around it: same axes (the row path), flipped, partly
        // outside, half-voxel offsets (rounding ties), and an oblique one (the general path).
        var model = new LabelVolume(new Dims(23, 19, 11), new Affine(new Vec3(-20, -15, 4), new Vec3(2, 0, 0), new Vec3(0, 2, 0), new Vec3(0, 0, 2)));
        for (var i = 0; i < model.Data.Length; i++) model.Data[i] = (byte)rng.Next(0, 5);
        var targets = new[]
        {
            new Affine(new Vec3(-20, -15, 4), new Vec3(0.75, 0, 0), new Vec3(0, 0.75, 0), new Vec3(0, 0, 1)),
            new Affine(new Vec3(-25.5, -16, 1), new Vec3(0.5, 0, 0), new Vec3(0, 1, 0), new Vec3(0, 0, 0.5)),
            new Affine(new Vec3(30, 25, 30), new Vec3(-0.75, 0, 0), new Vec3(0, -0.75, 0), new Vec3(0, 0, -1)),
            new Affine(new Vec3(-20, -15, 4), new Vec3(0.75, 0.1, 0), new Vec3(-0.1, 0.75, 0), new Vec3(0, 0, 1)),
        };
        foreach (var t in targets)
        {
            var dims = new Dims(70, 61, 29);
            Assert.Equal(NearestReference(model, dims, t, 7), Resampler.Resample(model, dims, t, 7).Data);
        }
    }

    [Fact]
    public void PerLabelLinear_UpsamplesASphereCloserToItsTrueShapeThanNearest()
    {
        // A 6 mm-radius ball on a coarse 2 mm grid, upsampled to 0.5 mm: compare each with the true ball.
        var coarse = new LabelVolume(new Dims(12, 12, 12), new Affine(new Vec3(0, 0, 0), new Vec3(2, 0, 0), new Vec3(0, 2, 0), new Vec3(0, 0, 2)));
        var centre = new Vec3(11, 11, 11);
        for (var z = 0; z < 12; z++) for (var y = 0; y < 12; y++) for (var x = 0; x < 12; x++)
            if ((coarse.IndexToPatient(x, y, z) - centre).Length <= 6) coarse[x, y, z] = 4;
        var (d, a) = Resampler.GridWithSpacing(coarse.Dims, coarse.Affine, new Vec3(0.5, 0.5, 0.5));
        var nearest = Resampler.Resample(coarse, d, a);
        var linear = Resampler.ResampleLinear(coarse, d, a);
        Assert.Equal(new byte[] { 0, 4 }, linear.Data.Distinct().OrderBy(v => v));
        long Errors(LabelVolume l)
        {
            long e = 0;
            for (var z = 0; z < d.Z; z++) for (var y = 0; y < d.Y; y++) for (var x = 0; x < d.X; x++)
                if ((l[x, y, z] == 4) != ((l.IndexToPatient(x, y, z) - centre).Length <= 6)) e++;
            return e;
        }
        Assert.True(Errors(linear) < Errors(nearest), $"linear {Errors(linear)} vs nearest {Errors(nearest)} wrong voxels");
        // On the source grid itself it is the identity.
        Assert.Equal(coarse.Data, Resampler.ResampleLinear(coarse, coarse.Dims, coarse.Affine).Data);
    }
}

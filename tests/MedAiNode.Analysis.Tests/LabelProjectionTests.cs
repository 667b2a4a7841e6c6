using System.Runtime.InteropServices;
using MedAiNode.Imaging.Geometry;
using MedAiNode.Imaging.Volumes;
using MedAiNode.Results;

namespace MedAiNode.Analysis.Tests;

/// <summary>The label volume onto the SEG's source slices: planes of the volume itself when the slices are its grid,
/// sampled otherwise, the same bytes either way.</summary>
public class LabelProjectionTests
{
    private const int Size = 20;
    private const double Pixel = 0.8;
    private const double Gap = 2.5;

    private static SourceSeries Series(Vec3 origin, Vec3 row, Vec3 col, double[] at) =>
        SyntheticSeries.Axial(origin, row, col, at, Pixel, Size, "1.2.826.0.1.3680043.10.543.8");

    /// <summary>Six axial planes at origin (10, -20, -50): labels 1 and 2 on planes 1 to 3, plane 0, 4 and 5 empty.</summary>
    private static LabelVolume Volume()
    {
        var v = new LabelVolume(new Dims(Size, Size, 6), new Affine(new Vec3(10, -20, -50), new Vec3(Pixel, 0, 0), new Vec3(0, Pixel, 0), new Vec3(0, 0, Gap)));
        for (var z = 1; z <= 3; z++)
        for (var y = 3; y < 9 + z; y++)
        for (var x = 2; x < 7 + 2 * z; x++)
            v[x, y, z] = 1;
        v[15, 15, 2] = 2;
        v[16, 4, 3] = 2;
        return v;
    }

    private static void AssertSameBytes(SourceSeries source, LabelMap expected, LabelMap actual)
    {
        Assert.Equal(expected.Instances.Order(), actual.Instances.Order());
        foreach (var img in source.Images)
            if (expected.TryGet(img.SopInstanceUid, out var e))
            {
                Assert.True(actual.TryGet(img.SopInstanceUid, out var a));
                Assert.Equal(e.ToArray(), a.ToArray());
            }
    }

    private static bool Shares(LabelMap map, LabelVolume volume) =>
        map.Instances.All(uid => map.TryGet(uid, out var m) && MemoryMarshal.TryGetArray(m, out var segment) && ReferenceEquals(segment.Array, volume.Data));

    [Fact]
    public void Slices_on_the_volumes_own_grid_share_its_planes_with_the_bytes_sampling_gives()
    {
        var volume = Volume();
        // The slices in reverse order (as a series may list them): each still finds its own plane.
        var source = Series(new Vec3(10, -20, -50), new Vec3(1, 0, 0), new Vec3(0, 1, 0), [12.5, 10, 7.5, 5, 2.5, 0]);

        var shared = LabelProjection.OntoSourceSlices(volume, source, null);
        var sampled = LabelProjection.OntoSourceSlices(volume, source, null, sharePlanes: false);

        Assert.Equal(3, shared.Instances.Count); // the empty planes have no frame
        AssertSameBytes(source, sampled, shared);
        Assert.True(Shares(shared, volume));
        var at5mm = source.Images.Single(i => Math.Abs(i.ImagePositionPatient[2] - (-45)) < 1e-6);
        Assert.True(shared.TryGet(at5mm.SopInstanceUid, out var plane2)); // plane 2
        Assert.Equal(2, plane2.Span[15 * Size + 15]);
    }

    [Fact]
    public void A_label_the_projection_drops_or_slices_off_the_grid_are_sampled_into_copies()
    {
        var volume = Volume();
        var onGrid = Series(new Vec3(10, -20, -50), new Vec3(1, 0, 0), new Vec3(0, 1, 0), [0, 2.5, 5, 7.5, 10, 12.5]);
        var keepOne = new HashSet<byte> { 1 };
        var kept = LabelProjection.OntoSourceSlices(volume, onGrid, keepOne);
        Assert.False(Shares(kept, volume));
        Assert.DoesNotContain(kept.Instances, uid => kept.TryGet(uid, out var m) && m.Span.Contains((byte)2));
        AssertSameBytes(onGrid, LabelProjection.OntoSourceSlices(volume, onGrid, keepOne, sharePlanes: false), kept);

        // Half a pixel across, a tenth of a pixel down, half-way between planes, tilted: each is sampled.
        foreach (var source in new[]
                 {
                     Series(new Vec3(10 + Pixel / 2, -20, -50), new Vec3(1, 0, 0), new Vec3(0, 1, 0), [0, 2.5, 5, 7.5]),
                     Series(new Vec3(10, -20 + Pixel / 10, -50), new Vec3(1, 0, 0), new Vec3(0, 1, 0), [0, 2.5, 5, 7.5]),
                     Series(new Vec3(10, -20, -50 + Gap / 2), new Vec3(1, 0, 0), new Vec3(0, 1, 0), [0, 2.5, 5, 7.5]),
                     Series(new Vec3(10, -20, -50), new Vec3(1, 0, 0), new Vec3(0, Math.Cos(0.05), Math.Sin(0.05)), [0, 2.5, 5, 7.5]),
                 })
        {
            var map = LabelProjection.OntoSourceSlices(volume, source, null);
            Assert.NotEmpty(map.Instances);
            Assert.False(Shares(map, volume));
            AssertSameBytes(source, LabelProjection.OntoSourceSlices(volume, source, null, sharePlanes: false), map);
        }
    }
}

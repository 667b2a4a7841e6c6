using MedAiNode.Imaging.Geometry;
using MedAiNode.Imaging.Resampling;
using MedAiNode.Imaging.Volumes;

namespace MedAiNode.Imaging.Tests;

/// <summary>The resampled view (the nodule search's 1 mm CT, never stored whole) gives every voxel exactly the value the
/// resampled volume holds, by planes and one voxel at a time.</summary>
public class ResampledViewTests
{
    private static (HuVolume Source, Dims Dims, Affine Target) Oblique()
    {
        var rng = new Random(7);
        var sd = new Dims(23, 19, 11);
        var source = new HuVolume(sd, Affine.FromDirections(new Vec3(-40, 12, 300), new Vec3(0.7, 0.7, 2.5), new Vec3(1, 0, 0), new Vec3(0, 1, 0), new Vec3(0, 0, 1)));
        for (var i = 0; i < source.Data.Length; i++) source.Data[i] = (short)rng.Next(-1024, 2000);
        // A 1 mm grid turned a little about z and y, reaching beyond the source so the outside value shows too.
        double a = 0.3, b = 0.1;
        var ex = new Vec3(Math.Cos(a), Math.Sin(a), 0);
        var ey = new Vec3(-Math.Sin(a) * Math.Cos(b), Math.Cos(a) * Math.Cos(b), Math.Sin(b));
        var ez = ex.Cross(ey).Normalized();
        return (source, new Dims(21, 17, 31), new Affine(new Vec3(-43, 9, 297), ex, ey, ez));
    }

    [Fact]
    public void Every_voxel_read_alone_equals_the_resampled_volume()
    {
        var (source, dims, target) = Oblique();
        var whole = Resampler.ResampleScalar(source, dims, target, -1024f);
        var view = new Resampler.ResampledView<short>(source, dims, target, -1024f);
        var outside = 0;
        for (long i = 0; i < dims.Count; i++)
        {
            var v = view[i];
            if (BitConverter.SingleToInt32Bits(v) != BitConverter.SingleToInt32Bits(whole.Data[i]))
                Assert.Fail($"voxel {i}: view {v}, resampled {whole.Data[i]}");
            if (v == -1024f) outside++;
        }
        // Both inside and outside voxels were compared, and the inside ones are interpolated, not copied.
        Assert.InRange(outside, 1, dims.Count - 1);
        Assert.Contains(whole.Data, x => x != MathF.Round(x));
    }

    [Fact]
    public void Planes_filled_in_pieces_equal_the_resampled_volume()
    {
        var (source, dims, target) = Oblique();
        var whole = Resampler.ResampleScalar(source, dims, target, -1024f);
        var view = new Resampler.ResampledView<short>(source, dims, target, -1024f);
        var plane = dims.X * dims.Y;
        var buffer = new float[5 * plane];
        for (var first = 0; first < dims.Z; first += 5)
        {
            var count = Math.Min(5, dims.Z - first);
            Array.Fill(buffer, float.NaN);
            view.FillPlanes(first, count, buffer);
            Assert.Equal(whole.Data.AsSpan(first * plane, count * plane).ToArray(), buffer.AsSpan(0, count * plane).ToArray());
        }
    }

    [Fact]
    public void Planes_beyond_the_grid_or_a_short_buffer_are_refused()
    {
        var (source, dims, target) = Oblique();
        var view = new Resampler.ResampledView<short>(source, dims, target);
        var plane = dims.X * dims.Y;
        Assert.Throws<ArgumentOutOfRangeException>(() => view.FillPlanes(dims.Z - 1, 2, new float[2 * plane]));
        Assert.Throws<ArgumentOutOfRangeException>(() => view.FillPlanes(-1, 1, new float[plane]));
        var e = Assert.Throws<ArgumentException>(() => view.FillPlanes(0, 2, new float[plane]));
        Assert.Contains("2 planes", e.Message);
    }
}

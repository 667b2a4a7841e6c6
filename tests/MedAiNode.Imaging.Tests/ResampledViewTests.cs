using MedAiNode.Imaging.Geometry;
using MedAiNode.Imaging.Resampling;
using MedAiNode.Imaging.Volumes;

namespace MedAiNode.Imaging.Tests;

/// <summary>The resampled view (the nodule search's 1 mm CT, never stored whole) gives every voxel exactly the value the
/// resampled volume holds, by planes and one voxel at a time.</summary>
public class ResampledViewTests
{
    private static (HuVolume Source, Dims Dims, Affine Target) Oblique() =>
        // Reaching beyond the source, so the outside value shows too.
        (RandomSource(new Dims(23, 19, 11), 7), new Dims(21, 17, 31), Turned(new Vec3(-43, 9, 297)));

    /// <summary>Random HU on an axial grid of 0.7 x 0.7 x 2.5 mm voxels.</summary>
    private static HuVolume RandomSource(Dims sd, int seed)
    {
        var rng = new Random(seed);
        var source = new HuVolume(sd, Affine.FromDirections(new Vec3(-40, 12, 300), new Vec3(0.7, 0.7, 2.5), new Vec3(1, 0, 0), new Vec3(0, 1, 0), new Vec3(0, 0, 1)));
        for (var i = 0; i < source.Data.Length; i++) source.Data[i] = (short)rng.Next(-1024, 2000);
        return source;
    }

    /// <summary>A 1 mm grid turned a little about z and y.</summary>
    private static Affine Turned(Vec3 origin)
    {
        double a = 0.3, b = 0.1;
        var ex = new Vec3(Math.Cos(a), Math.Sin(a), 0);
        var ey = new Vec3(-Math.Sin(a) * Math.Cos(b), Math.Cos(a) * Math.Cos(b), Math.Sin(b));
        return new Affine(origin, ex, ey, ex.Cross(ey).Normalized());
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

    /// <summary>The nodule search holds only the box of the CT its 1 mm grid reads (the input is read back for it box by
    /// box). A view on that box gives every value the view on the whole volume gives, to the bit: the source indices are
    /// computed on the whole grid and only offset when read.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_view_on_the_source_box_alone_equals_the_view_on_the_whole_volume(bool reachingOutside)
    {
        var sd = new Dims(61, 53, 37);
        var source = RandomSource(sd, 11);
        // Inside the source (a crop around an organ), or reaching beyond its corner (the box is clipped there).
        var (origin, dims) = reachingOutside ? (new Vec3(-45, 8, 296), new Dims(18, 15, 40)) : (new Vec3(-25, 22, 330), new Dims(14, 11, 19));
        var target = Turned(origin);

        var box = Resampler.SourceBox(sd, source.Affine, dims, target);
        Assert.True(box.Size.Count < sd.Count / 2, $"box {box} of {sd}: the grid reads a small part of the source");
        var held = new HuVolume(box.Size, source.Affine);
        for (var k = 0; k < box.Size.Z; k++)
        for (var j = 0; j < box.Size.Y; j++)
        for (var i = 0; i < box.Size.X; i++)
            held[i, j, k] = source[box.X + i, box.Y + j, box.Z + k];

        var whole = new Resampler.ResampledView<short>(source, dims, target, -1024f);
        var part = new Resampler.ResampledView<short>(new VoxelWindow<short>(held, box), sd, source.Affine, dims, target, -1024f);
        var planes = new float[dims.Count];
        var partPlanes = new float[dims.Count];
        whole.FillPlanes(0, dims.Z, planes);
        part.FillPlanes(0, dims.Z, partPlanes);
        var outside = 0;
        for (long i = 0; i < dims.Count; i++)
        {
            if (BitConverter.SingleToInt32Bits(part[i]) != BitConverter.SingleToInt32Bits(whole[i])) Assert.Fail($"voxel {i}: box {part[i]}, whole {whole[i]}");
            if (BitConverter.SingleToInt32Bits(partPlanes[i]) != BitConverter.SingleToInt32Bits(planes[i])) Assert.Fail($"plane voxel {i}: box {partPlanes[i]}, whole {planes[i]}");
            if (planes[i] == -1024f) outside++;
        }
        if (reachingOutside) Assert.InRange(outside, 1, dims.Count - 1);
        else Assert.Equal(0, outside);
    }

    [Fact]
    public void A_box_that_is_not_inside_the_source_is_refused()
    {
        var (source, dims, target) = Oblique();
        var box = new VoxelBox(20, 0, 0, new Dims(5, 2, 2));
        var e = Assert.Throws<ArgumentException>(() => new Resampler.ResampledView<short>(new VoxelWindow<short>(new HuVolume(box.Size, source.Affine), box), source.Dims, source.Affine, dims, target));
        Assert.Contains("not inside", e.Message);
        Assert.Throws<ArgumentException>(() => new VoxelWindow<short>(new HuVolume(new Dims(2, 2, 2), source.Affine), box));
    }

    /// <summary>Counts what the resampling read: boxes, their largest plane count and all planes together.</summary>
    private sealed class CountingReader(HuVolume volume) : IVoxelReader<short>
    {
        private readonly HeldVolumeReader<short> _inner = new(volume);
        public int Reads, WidestPlanes, Planes;
        public VoxelWindow<short> Read(VoxelBox box) => throw new InvalidOperationException("whole boxes only, into a buffer");
        public void Read(VoxelBox box, short[] into)
        {
            Reads++;
            WidestPlanes = Math.Max(WidestPlanes, box.Size.Z);
            Planes += box.Size.Z;
            _inner.Read(box, into);
        }
    }

    /// <summary>The model's grid made from a volume that is not in memory (read back a window of planes at a time, the
    /// planes a slab shares with the next kept): each value is the whole volume's resampled value to the bit, for a
    /// gantry-tilted stack (its slices shifted along y) onto an orthogonal 1 mm grid, and each plane is read once.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    [InlineData(64)]
    public void A_grid_made_from_windows_of_planes_equals_the_resampled_volume(int slab)
    {
        var sd = new Dims(40, 36, 48);
        var tilt = Math.Tan(18.5 * Math.PI / 180);
        var affine = new Affine(new Vec3(-10, 4, 120), new Vec3(0.5, 0, 0), new Vec3(0, 0.5, 0), new Vec3(0, 0.625 * tilt, 0.625));
        var source = new HuVolume(sd, affine);
        var rng = new Random(11);
        for (var i = 0; i < source.Data.Length; i++) source.Data[i] = (short)rng.Next(-1024, 2000);
        var (dims, target) = Resampler.OrthogonalGrid(sd, affine, new Vec3(1, 1, 1));
        var whole = Resampler.ResampleScalar(source, dims, target, -1024f);
        var reader = new CountingReader(source);
        var fromPlanes = Resampler.ResampleFromReader(reader, sd, affine, dims, target, -1024f, slab);
        Assert.Equal(dims, fromPlanes.Dims);
        for (long i = 0; i < dims.Count; i++)
            if (BitConverter.SingleToInt32Bits(fromPlanes.Data[i]) != BitConverter.SingleToInt32Bits(whole.Data[i]))
                Assert.Fail($"voxel {i}: from planes {fromPlanes.Data[i]}, resampled {whole.Data[i]}");
        Assert.Contains(whole.Data, x => x != MathF.Round(x) && x != -1024f);
        Assert.Equal(sd.Z, reader.Planes); // every plane read once: the shared ones are kept, not read again
        if (slab < dims.Z) Assert.True(reader.WidestPlanes < sd.Z, $"a window of {reader.WidestPlanes} planes: the whole stack");
    }
}

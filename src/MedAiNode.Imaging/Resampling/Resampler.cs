using System.Numerics;
using MedAiNode.Imaging.Geometry;
using MedAiNode.Imaging.Volumes;

namespace MedAiNode.Imaging.Resampling;

/// <summary>
/// Moves voxels between grids through patient space: each target voxel centre is mapped to the source grid's
/// continuous index and sampled there (trilinear for images, nearest for labels).
/// </summary>
public static class Resampler
{
    public static Volume Resample(Volume source, Dims dims, Affine target, float outside = 0f) => ResampleScalar(source, dims, target, outside);

    /// <summary>Trilinear resampling of a float or int16 (<see cref="HuVolume"/>) volume onto a float grid; int16 values
    /// are read as the floats they equal, so both give the same result for the same values.</summary>
    public static Volume ResampleScalar<T>(VoxelVolume<T> source, Dims dims, Affine target, float outside = 0f) where T : unmanaged, INumberBase<T>
    {
        var result = new Volume(dims, target);
        new ResampledView<T>(source, dims, target, outside).FillPlanes(0, dims.Z, result.Data);
        return result;
    }

    /// <summary>
    /// <see cref="ResampleScalar{T}"/> without the result volume: planes or single voxels of the target grid computed when
    /// asked, each value the one the whole resampled volume holds (the same steps, the same arithmetic).
    /// </summary>
    public sealed class ResampledView<T> where T : unmanaged, INumberBase<T>
    {
        private readonly Window<T> _source;
        private readonly float _outside;
        private readonly Vec3 _o, _dx, _dy, _dz;

        public ResampledView(VoxelVolume<T> source, Dims dims, Affine target, float outside = 0f)
            : this(VoxelWindow<T>.Whole(source), source.Dims, source.Affine, dims, target, outside) { }

        /// <summary>A view of a volume of which only <paramref name="window"/> is in memory; it must hold every voxel the
        /// target grid reads (<see cref="SourceBox"/>). The source indices are computed on the whole grid
        /// (<paramref name="sourceDims"/>, <paramref name="sourceAffine"/>) and only offset when read, so each value is
        /// the one the view of the whole volume gives, to the bit.</summary>
        public ResampledView(VoxelWindow<T> window, Dims sourceDims, Affine sourceAffine, Dims dims, Affine target, float outside = 0f)
            : this(new Window<T>(window, sourceDims), sourceAffine, dims, target, outside) { }

        /// <summary>As above, the box's values at the start of <paramref name="values"/> (x fastest), which may be longer:
        /// a buffer reused from one box to the next.</summary>
        public ResampledView(T[] values, VoxelBox box, Dims sourceDims, Affine sourceAffine, Dims dims, Affine target, float outside = 0f)
            : this(new Window<T>(values, box, sourceDims), sourceAffine, dims, target, outside) { }

        private ResampledView(Window<T> source, Affine sourceAffine, Dims dims, Affine target, float outside)
        {
            _source = source;
            _outside = outside;
            Dims = dims;
            Affine = target;
            (_o, _dx, _dy, _dz) = Steps(sourceAffine, target);
        }

        public Dims Dims { get; }
        public Affine Affine { get; }

        /// <summary>The value at target voxel <paramref name="index"/> (x fastest).</summary>
        public float this[long index]
        {
            get
            {
                int nx = Dims.X, ny = Dims.Y;
                int i = (int)(index % nx), j = (int)(index / nx % ny), k = (int)(index / ((long)nx * ny));
                var row = _o + _dy * j + _dz * k;
                return Trilinear(_source, row.X + _dx.X * i, row.Y + _dx.Y * i, row.Z + _dx.Z * i, _outside);
            }
        }

        /// <summary>Target planes <paramref name="first"/> to <paramref name="first"/> + <paramref name="count"/> - 1 into
        /// <paramref name="destination"/>, plane <paramref name="first"/> at its start.</summary>
        public void FillPlanes(int first, int count, float[] destination)
        {
            var planeSize = (long)Dims.X * Dims.Y;
            if (first < 0 || count < 0 || first + count > Dims.Z) throw new ArgumentOutOfRangeException(nameof(count), $"planes {first}..{first + count - 1} of {Dims.Z}");
            if (destination.LongLength < count * planeSize) throw new ArgumentException($"{count} planes need {count * planeSize} values; the buffer holds {destination.LongLength}", nameof(destination));
            Run(_o, _dx, _dy, _dz, Dims, first, count, new TrilinearSampler<T>(_source, destination, _outside, first * planeSize));
        }

        /// <summary>As <see cref="FillPlanes"/>, into <paramref name="whole"/>, which holds the whole target grid: each
        /// plane at its own place.</summary>
        public void FillPlanesInPlace(int first, int count, float[] whole)
        {
            if (first < 0 || count < 0 || first + count > Dims.Z) throw new ArgumentOutOfRangeException(nameof(count), $"planes {first}..{first + count - 1} of {Dims.Z}");
            if (whole.LongLength < Dims.Count) throw new ArgumentException($"the grid has {Dims.Count} values; the buffer holds {whole.LongLength}", nameof(whole));
            Run(_o, _dx, _dy, _dz, Dims, first, count, new TrilinearSampler<T>(_source, whole, _outside, 0));
        }
    }

    /// <summary>
    /// <see cref="ResampleScalar{T}"/> of a volume that is not in memory, read from <paramref name="reader"/> a window of
    /// whole source planes at a time: the target is made <paramref name="slab"/> planes at a time from the source planes
    /// those need (<see cref="SourceBox(Dims, Affine, Dims, Affine, int, int)"/>), keeping the planes the next slab shares
    /// and reading only the new ones. Each value is the one <see cref="ResampleScalar{T}"/> gives, to the bit (the same
    /// view, offset reads). Memory: the target plus the widest window (a few planes for a stack parallel to the target's
    /// planes, more for a tilted one), not the whole source.
    /// </summary>
    public static Volume ResampleFromReader<T>(IVoxelReader<T> reader, Dims sourceDims, Affine sourceAffine, Dims dims, Affine target,
        float outside = 0f, int slab = 8) where T : unmanaged, INumberBase<T>
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(slab, 1);
        var result = new Volume(dims, target);
        var plane = (long)sourceDims.X * sourceDims.Y;
        var ranges = new List<(int First, int Count, int Z0, int Z1)>();
        var widest = 0;
        for (var first = 0; first < dims.Z; first += slab)
        {
            var count = Math.Min(slab, dims.Z - first);
            var box = SourceBox(sourceDims, sourceAffine, dims, target, first, count);
            ranges.Add((first, count, box.Z, box.Z + box.Size.Z - 1));
            widest = Math.Max(widest, box.Size.Z);
        }
        var window = new T[widest * plane];
        T[]? fresh = null;
        int w0 = 0, w1 = -1; // source planes held at the window's start, inclusive; none yet
        foreach (var (first, count, z0, z1) in ranges)
        {
            var n = z1 - z0 + 1;
            var kept = z0 >= w0 && z0 <= w1 ? Math.Min(w1, z1) - z0 + 1 : 0;
            if (kept > 0)
            {
                // Moving forward: the shared planes to the front, the new ones read after them.
                if (z0 > w0) Array.Copy(window, (z0 - w0) * plane, window, 0, kept * plane);
                var missing = n - kept;
                if (missing > 0)
                {
                    // Not pooled: the caller collects the window and this with it, and a pool would keep them.
                    if (fresh is null || fresh.LongLength < missing * plane) fresh = new T[missing * plane];
                    reader.Read(new VoxelBox(0, 0, z0 + kept, sourceDims with { Z = missing }), fresh);
                    Array.Copy(fresh, 0, window, kept * plane, missing * plane);
                }
            }
            else reader.Read(new VoxelBox(0, 0, z0, sourceDims with { Z = n }), window);
            (w0, w1) = (z0, z1);
            new ResampledView<T>(window, new VoxelBox(0, 0, z0, sourceDims with { Z = n }), sourceDims, sourceAffine, dims, target, outside)
                .FillPlanesInPlace(first, count, result.Data);
        }
        return result;
    }

    public static LabelVolume Resample(LabelVolume source, Dims dims, Affine target, byte outside = 0)
    {
        var result = new LabelVolume(dims, target) { Slices = source.Slices };
        var (o, dx, dy, dz) = Steps(source.Affine, target);
        if (dx.Y != 0 || dx.Z != 0)
        {
            Run(source.Dims, source.Affine, dims, target, new NearestSampler(source, result.Data, outside));
            return result;
        }
        // Rows of the target run along a source row (labels back onto the input grid, model grid axes = input axes):
        // y and z are the same along the row (row.Y + 0 * i is row.Y, up to the sign of zero, which rounds alike), so
        // only x is rounded per voxel; the same values as the general path.
        var sd = source.Dims;
        Parallel.For(0, dims.Z, k =>
        {
            for (var j = 0; j < dims.Y; j++)
            {
                var row = o + dy * j + dz * k;
                var dst = result.Data.AsSpan(checked((int)dims.Index(0, j, k)), dims.X);
                var iy = (int)Math.Round(row.Y); var iz = (int)Math.Round(row.Z);
                if ((uint)iy >= (uint)sd.Y || (uint)iz >= (uint)sd.Z) { dst.Fill(outside); continue; }
                var src = source.Data.AsSpan(checked((int)sd.Index(0, iy, iz)), sd.X);
                for (var i = 0; i < dst.Length; i++)
                {
                    var ix = (int)Math.Round(row.X + dx.X * i);
                    dst[i] = (uint)ix < (uint)src.Length ? src[ix] : outside;
                }
            }
        });
        return result;
    }

    /// <summary>
    /// Per-label linear resampling of a label map: each label's indicator is interpolated trilinearly and the label
    /// with the largest weight wins (smoother than nearest neighbour when upsampling, never invents label values).
    /// </summary>
    public static LabelVolume ResampleLinear(LabelVolume source, Dims dims, Affine target)
    {
        var result = new LabelVolume(dims, target) { Slices = source.Slices };
        Run(source.Dims, source.Affine, dims, target, new LinearLabelSampler(source, result.Data));
        return result;
    }

    // Samplers are structs so Run is compiled once per kind and the per-voxel call is inlined, not a delegate call
    // (78 M of them when labels go back onto a 512x512x300 grid).
    private interface ISampler
    {
        void Sample(long dst, double x, double y, double z);
    }

    /// <summary>
    /// The source voxels trilinear sampling of grid <paramref name="dims"/>/<paramref name="target"/> can read: the box
    /// around the source indices of the grid's corners (the map is affine, so every sample lies between them), one voxel
    /// wider on each side for rounding and the upper neighbour, clipped to the source.
    /// </summary>
    public static VoxelBox SourceBox(Dims sourceDims, Affine source, Dims dims, Affine target) =>
        SourceBox(sourceDims, source, dims, target, 0, dims.Z);

    /// <summary><see cref="SourceBox(Dims, Affine, Dims, Affine)"/> for target planes <paramref name="firstPlane"/> to
    /// <paramref name="firstPlane"/> + <paramref name="planeCount"/> - 1 only.</summary>
    public static VoxelBox SourceBox(Dims sourceDims, Affine source, Dims dims, Affine target, int firstPlane, int planeCount)
    {
        if (firstPlane < 0 || planeCount <= 0 || firstPlane + planeCount > dims.Z)
            throw new ArgumentOutOfRangeException(nameof(planeCount), $"planes {firstPlane}..{firstPlane + planeCount - 1} of {dims.Z}");
        var (o, dx, dy, dz) = Steps(source, target);
        double[] min = [double.MaxValue, double.MaxValue, double.MaxValue], max = [double.MinValue, double.MinValue, double.MinValue];
        foreach (var i in new[] { 0, dims.X - 1 })
        foreach (var j in new[] { 0, dims.Y - 1 })
        foreach (var k in new[] { firstPlane, firstPlane + planeCount - 1 })
        {
            var p = o + dx * i + dy * j + dz * k;
            double[] c = [p.X, p.Y, p.Z];
            for (var q = 0; q < 3; q++) { min[q] = Math.Min(min[q], c[q]); max[q] = Math.Max(max[q], c[q]); }
        }
        Span<int> lo = stackalloc int[3], hi = stackalloc int[3];
        for (var q = 0; q < 3; q++)
        {
            var n = sourceDims[q];
            lo[q] = (int)Math.Clamp(Math.Floor(min[q]) - 1, 0, n - 1);
            hi[q] = (int)Math.Clamp(Math.Floor(max[q]) + 2, 0, n - 1);
            // The grid lies wholly outside on this axis: every sample is the outside value, none reads a voxel.
            if (hi[q] < lo[q]) hi[q] = lo[q];
        }
        return new VoxelBox(lo[0], lo[1], lo[2], new Dims(hi[0] - lo[0] + 1, hi[1] - lo[1] + 1, hi[2] - lo[2] + 1));
    }

    /// <summary>A source for trilinear sampling: the whole grid's size (for the bounds) and the values of a box of it.</summary>
    private readonly struct Window<T> where T : unmanaged
    {
        public readonly T[] Data;
        public readonly Dims Whole, Held;
        public readonly int X0, Y0, Z0;

        public Window(VoxelWindow<T> w, Dims whole)
        {
            var b = w.Box;
            if (!b.Within(whole))
                throw new ArgumentException($"Box {b} is not inside a grid of {whole}.", nameof(w));
            (Data, Whole, Held, X0, Y0, Z0) = (w.Values.Data, whole, b.Size, b.X, b.Y, b.Z);
        }

        public Window(T[] values, VoxelBox b, Dims whole)
        {
            if (!b.Within(whole))
                throw new ArgumentException($"Box {b} is not inside a grid of {whole}.", nameof(b));
            if (values.LongLength < b.Size.Count)
                throw new ArgumentException($"{values.LongLength} values cannot hold a box of {b.Size}.", nameof(values));
            (Data, Whole, Held, X0, Y0, Z0) = (values, whole, b.Size, b.X, b.Y, b.Z);
        }

        public Window(VoxelVolume<T> v) => (Data, Whole, Held) = (v.Data, v.Dims, v.Dims);
    }

    private readonly struct TrilinearSampler<T>(Window<T> source, float[] result, float outside, long offset) : ISampler where T : unmanaged, INumberBase<T>
    {
        public void Sample(long dst, double x, double y, double z) => result[dst - offset] = Trilinear(source, x, y, z, outside);
    }

    private readonly struct NearestSampler(LabelVolume source, byte[] result, byte outside) : ISampler
    {
        private readonly Dims _sd = source.Dims;
        private readonly byte[] _src = source.Data;

        public void Sample(long dst, double x, double y, double z)
        {
            var ix = (int)Math.Round(x); var iy = (int)Math.Round(y); var iz = (int)Math.Round(z);
            result[dst] = _sd.Contains(ix, iy, iz) ? _src[_sd.Index(ix, iy, iz)] : outside;
        }
    }

    private readonly struct LinearLabelSampler(LabelVolume source, byte[] result) : ISampler
    {
        public void Sample(long dst, double x, double y, double z)
        {
            var sd = source.Dims;
            if (x < -0.5 || y < -0.5 || z < -0.5 || x > sd.X - 0.5 || y > sd.Y - 0.5 || z > sd.Z - 0.5) { result[dst] = 0; return; }
            x = Math.Clamp(x, 0, sd.X - 1); y = Math.Clamp(y, 0, sd.Y - 1); z = Math.Clamp(z, 0, sd.Z - 1);
            int x0 = (int)x, y0 = (int)y, z0 = (int)z;
            double fx = x - x0, fy = y - y0, fz = z - z0;
            Span<byte> labels = stackalloc byte[8];
            Span<double> weights = stackalloc double[8];
            var n = 0;
            for (var corner = 0; corner < 8; corner++)
            {
                int cx = Math.Min(x0 + (corner & 1), sd.X - 1), cy = Math.Min(y0 + (corner >> 1 & 1), sd.Y - 1), cz = Math.Min(z0 + (corner >> 2 & 1), sd.Z - 1);
                var w = ((corner & 1) != 0 ? fx : 1 - fx) * ((corner >> 1 & 1) != 0 ? fy : 1 - fy) * ((corner >> 2 & 1) != 0 ? fz : 1 - fz);
                var l = source.Data[sd.Index(cx, cy, cz)];
                var k = 0;
                while (k < n && labels[k] != l) k++;
                if (k == n) { labels[n] = l; weights[n] = 0; n++; }
                weights[k] += w;
            }
            var best = 0;
            for (var k = 1; k < n; k++) if (weights[k] > weights[best]) best = k;
            result[dst] = labels[best];
        }
    }

    /// <summary>Target index -> source index is one affine map: the source index of target voxel 0 and the steps along each target axis.</summary>
    private static (Vec3 Origin, Vec3 Dx, Vec3 Dy, Vec3 Dz) Steps(Affine src, Affine target)
    {
        var inv = src.Inverse();
        var o = inv.Apply(target.Origin);
        return (o, inv.Apply(target.Origin + target.Col0) - o, inv.Apply(target.Origin + target.Col1) - o, inv.Apply(target.Origin + target.Col2) - o);
    }

    // Walks the target grid row by row, the source index incrementally along x.
    private static void Run<TSampler>(Dims srcDims, Affine src, Dims dims, Affine target, TSampler sample) where TSampler : struct, ISampler
    {
        var (o, dx, dy, dz) = Steps(src, target);
        Run(o, dx, dy, dz, dims, 0, dims.Z, sample);
    }

    private static void Run<TSampler>(Vec3 o, Vec3 dx, Vec3 dy, Vec3 dz, Dims dims, int firstPlane, int planes, TSampler sample) where TSampler : struct, ISampler
    {
        Parallel.For(firstPlane, firstPlane + planes, k =>
        {
            for (var j = 0; j < dims.Y; j++)
            {
                var row = o + dy * j + dz * k;
                var at = dims.Index(0, j, k);
                for (var i = 0; i < dims.X; i++)
                {
                    sample.Sample(at + i, row.X + dx.X * i, row.Y + dx.Y * i, row.Z + dx.Z * i);
                }
            }
        });
    }

    /// <summary>Trilinear sample at a continuous index; outside the grid (beyond half a voxel) gives <paramref name="outside"/>.</summary>
    public static float Trilinear(Volume v, double x, double y, double z, float outside = 0f) => Trilinear(new Window<float>(v), x, y, z, outside);

    private static float Trilinear<T>(in Window<T> v, double x, double y, double z, float outside) where T : unmanaged, INumberBase<T>
    {
        var d = v.Whole;
        if (x < -0.5 || y < -0.5 || z < -0.5 || x > d.X - 0.5 || y > d.Y - 0.5 || z > d.Z - 0.5) return outside;
        x = Math.Clamp(x, 0, d.X - 1); y = Math.Clamp(y, 0, d.Y - 1); z = Math.Clamp(z, 0, d.Z - 1);
        int x0 = Math.Min((int)x, d.X - 1), y0 = Math.Min((int)y, d.Y - 1), z0 = Math.Min((int)z, d.Z - 1);
        int x1 = Math.Min(x0 + 1, d.X - 1), y1 = Math.Min(y0 + 1, d.Y - 1), z1 = Math.Min(z0 + 1, d.Z - 1);
        float fx = (float)(x - x0), fy = (float)(y - y0), fz = (float)(z - z0);
        var a = v.Data;
        // Bounds and weights above are the whole grid's; only the reads are offset into the box held.
        var h = v.Held;
        x0 -= v.X0; x1 -= v.X0; y0 -= v.Y0; y1 -= v.Y0; z0 -= v.Z0; z1 -= v.Z0;
        // float.CreateTruncating is the identity for float and exact for int16: one compiled copy per type, no cost.
        float c00 = Lerp(float.CreateTruncating(a[h.Index(x0, y0, z0)]), float.CreateTruncating(a[h.Index(x1, y0, z0)]), fx);
        float c10 = Lerp(float.CreateTruncating(a[h.Index(x0, y1, z0)]), float.CreateTruncating(a[h.Index(x1, y1, z0)]), fx);
        float c01 = Lerp(float.CreateTruncating(a[h.Index(x0, y0, z1)]), float.CreateTruncating(a[h.Index(x1, y0, z1)]), fx);
        float c11 = Lerp(float.CreateTruncating(a[h.Index(x0, y1, z1)]), float.CreateTruncating(a[h.Index(x1, y1, z1)]), fx);
        return Lerp(Lerp(c00, c10, fy), Lerp(c01, c11, fy), fz);
    }

    private static float Lerp(float a, float b, float t) => a + (b - a) * t;

    /// <summary>Same directions, new spacing; the first voxel centre stays where it is and the grid covers the same extent.</summary>
    public static (Dims Dims, Affine Affine) GridWithSpacing(Dims dims, Affine affine, Vec3 spacing)
    {
        var old = affine.Spacing;
        var nd = new Dims(
            Math.Max(1, (int)Math.Round(dims.X * old.X / spacing.X)),
            Math.Max(1, (int)Math.Round(dims.Y * old.Y / spacing.Y)),
            Math.Max(1, (int)Math.Round(dims.Z * old.Z / spacing.Z)));
        return (nd, new Affine(affine.Origin, affine.DirectionX * spacing.X, affine.DirectionY * spacing.Y, affine.DirectionZ * spacing.Z));
    }

    public static Volume ToSpacing(Volume v, Vec3 spacing, float outside = 0f)
    {
        var (d, a) = GridWithSpacing(v.Dims, v.Affine, spacing);
        return Resample(v, d, a, outside);
    }

    /// <summary>
    /// A rectangular grid covering a (possibly sheared, e.g. gantry-tilted) volume: in-plane axes kept, third axis on
    /// the slice normal, spacing along it = the slice distance measured on the normal.
    /// </summary>
    public static (Dims Dims, Affine Affine) OrthogonalGrid(Dims dims, Affine a, Vec3? spacing = null)
    {
        var ex = a.DirectionX; var ey = a.DirectionY;
        var n = ex.Cross(ey).Normalized();
        if (n.Dot(a.Col2) < 0) n = -n;
        var s = spacing ?? new Vec3(a.Col0.Length, a.Col1.Length, Math.Abs(a.Col2.Dot(n)));
        double[] min = [double.MaxValue, double.MaxValue, double.MaxValue], max = [double.MinValue, double.MinValue, double.MinValue];
        foreach (var ci in new[] { 0, dims.X - 1 })
        foreach (var cj in new[] { 0, dims.Y - 1 })
        foreach (var ck in new[] { 0, dims.Z - 1 })
        {
            var p = a.IndexToPatient(ci, cj, ck) - a.Origin;
            double[] c = [p.Dot(ex), p.Dot(ey), p.Dot(n)];
            for (var q = 0; q < 3; q++) { min[q] = Math.Min(min[q], c[q]); max[q] = Math.Max(max[q], c[q]); }
        }
        var nd = new Dims((int)Math.Round((max[0] - min[0]) / s.X) + 1, (int)Math.Round((max[1] - min[1]) / s.Y) + 1, (int)Math.Round((max[2] - min[2]) / s.Z) + 1);
        var origin = a.Origin + ex * min[0] + ey * min[1] + n * min[2];
        return (nd, new Affine(origin, ex * s.X, ey * s.Y, n * s.Z));
    }

    public static Volume ToOrthogonal(Volume v, Vec3? spacing = null, float outside = -1024f)
    {
        var (d, a) = OrthogonalGrid(v.Dims, v.Affine, spacing);
        var r = Resample(v, d, a, outside);
        return new Volume(r.Dims, r.Affine, r.Data) { Slices = v.Slices };
    }

    /// <summary>Crops (or pads, for ranges reaching outside) to <paramref name="size"/> voxels starting at <paramref name="start"/>.</summary>
    public static Volume CropOrPad(Volume v, (int X, int Y, int Z) start, Dims size, float pad = 0f)
    {
        var result = new Volume(size, v.Affine with { Origin = v.Affine.IndexToPatient(start.X, start.Y, start.Z) });
        CopyBox(v.Data, v.Dims, result.Data, size, start, pad);
        return result;
    }

    public static LabelVolume CropOrPad(LabelVolume v, (int X, int Y, int Z) start, Dims size, byte pad = 0)
    {
        var result = new LabelVolume(size, v.Affine with { Origin = v.Affine.IndexToPatient(start.X, start.Y, start.Z) });
        CopyBox(v.Data, v.Dims, result.Data, size, start, pad);
        return result;
    }

    private static void CopyBox<T>(T[] src, Dims sd, T[] dst, Dims dd, (int X, int Y, int Z) start, T pad) where T : unmanaged
    {
        for (var k = 0; k < dd.Z; k++)
        for (var j = 0; j < dd.Y; j++)
        {
            var row = dst.AsSpan(checked((int)dd.Index(0, j, k)), dd.X);
            var sz = k + start.Z; var sy = j + start.Y;
            if ((uint)sz >= (uint)sd.Z || (uint)sy >= (uint)sd.Y) { row.Fill(pad); continue; }
            for (var i = 0; i < dd.X; i++)
            {
                var sx = i + start.X;
                row[i] = (uint)sx < (uint)sd.X ? src[sd.Index(sx, sy, sz)] : pad;
            }
        }
    }
}

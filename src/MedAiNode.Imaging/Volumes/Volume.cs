using MedAiNode.Imaging.Geometry;

namespace MedAiNode.Imaging.Volumes;

/// <summary>Size of a voxel grid; x (columns) varies fastest, then y (rows), then z (slices).</summary>
public readonly record struct Dims(int X, int Y, int Z)
{
    public long Count => (long)X * Y * Z;
    public long Index(int x, int y, int z) => ((long)z * Y + y) * X + x;
    public bool Contains(int x, int y, int z) => (uint)x < (uint)X && (uint)y < (uint)Y && (uint)z < (uint)Z;
    public int this[int axis] => axis switch { 0 => X, 1 => Y, 2 => Z, _ => throw new ArgumentOutOfRangeException(nameof(axis)) };
    public override string ToString() => $"{X}x{Y}x{Z}";
}

/// <summary>A box of a grid's voxels: its first voxel (in the grid's indices) and its size.</summary>
public readonly record struct VoxelBox(int X, int Y, int Z, Dims Size)
{
    public static VoxelBox Whole(Dims d) => new(0, 0, 0, d);
    /// <summary>Whether voxel (<paramref name="x"/>, <paramref name="y"/>, <paramref name="z"/>) of the grid is in the box.</summary>
    public bool Contains(int x, int y, int z) => Size.Contains(x - X, y - Y, z - Z);
    /// <summary>Whether the box lies inside a grid of <paramref name="d"/>.</summary>
    public bool Within(Dims d) => X >= 0 && Y >= 0 && Z >= 0 && X + Size.X <= d.X && Y + Size.Y <= d.Y && Z + Size.Z <= d.Z;

    /// <summary>The smallest box holding every grid index of <paramref name="indices"/> (x fastest) of a grid of <paramref name="d"/>.</summary>
    public static VoxelBox Enclosing(Dims d, IEnumerable<long> indices)
    {
        int x0 = int.MaxValue, y0 = int.MaxValue, z0 = int.MaxValue, x1 = -1, y1 = -1, z1 = -1;
        var plane = (long)d.X * d.Y;
        foreach (var i in indices)
        {
            int z = (int)(i / plane), y = (int)(i % plane / d.X), x = (int)(i % d.X);
            x0 = Math.Min(x0, x); y0 = Math.Min(y0, y); z0 = Math.Min(z0, z);
            x1 = Math.Max(x1, x); y1 = Math.Max(y1, y); z1 = Math.Max(z1, z);
        }
        if (x1 < 0) throw new ArgumentException("No index to enclose.", nameof(indices));
        return new VoxelBox(x0, y0, z0, new Dims(x1 - x0 + 1, y1 - y0 + 1, z1 - z0 + 1));
    }

    public override string ToString() => $"{Size} at ({X}, {Y}, {Z})";
}

/// <summary>Some of a volume's values: <see cref="Values"/> holds box <see cref="Box"/> of the volume's grid (the whole
/// volume when the box is the whole grid), so a stage that reads a region need not hold the rest.</summary>
public sealed class VoxelWindow<T> where T : unmanaged
{
    public VoxelWindow(VoxelVolume<T> values, VoxelBox box)
    {
        if (values.Dims != box.Size) throw new ArgumentException($"Values of {values.Dims} for a box of {box.Size}.", nameof(values));
        Values = values;
        Box = box;
    }

    public VoxelVolume<T> Values { get; }
    public VoxelBox Box { get; }

    public static VoxelWindow<T> Whole(VoxelVolume<T> v) => new(v, VoxelBox.Whole(v.Dims));

    /// <summary>The value at (<paramref name="x"/>, <paramref name="y"/>, <paramref name="z"/>) of the volume's grid (inside <see cref="Box"/>).</summary>
    public T At(int x, int y, int z) => Values.Data[Values.Dims.Index(x - Box.X, y - Box.Y, z - Box.Z)];
}

/// <summary>A volume's values read again on demand (from the files they were assembled from) instead of held.</summary>
public interface IVoxelReader<T> where T : unmanaged
{
    /// <summary>A window holding at least box <paramref name="box"/> of the grid (a reader of a volume held in memory gives
    /// the whole volume); read values through the window's own <see cref="VoxelWindow{T}.Box"/>.</summary>
    VoxelWindow<T> Read(VoxelBox box);

    /// <summary>Box <paramref name="box"/>'s values into the start of <paramref name="into"/> (x fastest, then y, then z).</summary>
    void Read(VoxelBox box, T[] into);
}

/// <summary>A volume held in memory as an <see cref="IVoxelReader{T}"/>: boxes are the volume itself, or copied into a
/// caller's buffer.</summary>
public sealed class HeldVolumeReader<T>(VoxelVolume<T> volume) : IVoxelReader<T> where T : unmanaged
{
    public VoxelWindow<T> Read(VoxelBox box) =>
        box.Within(volume.Dims) ? VoxelWindow<T>.Whole(volume) : throw new ArgumentOutOfRangeException(nameof(box), $"Box {box} is not inside a volume of {volume.Dims}.");

    public void Read(VoxelBox box, T[] into) => CopyBox(volume, box, into);

    /// <summary>Box <paramref name="box"/> of <paramref name="volume"/> into the start of <paramref name="into"/>, row by row.</summary>
    public static void CopyBox(VoxelVolume<T> volume, VoxelBox box, T[] into)
    {
        var d = volume.Dims;
        var s = box.Size;
        if (!box.Within(d)) throw new ArgumentOutOfRangeException(nameof(box), $"Box {box} is not inside a volume of {d}.");
        if (into.LongLength < s.Count) throw new ArgumentException($"{into.LongLength} values cannot hold a box of {s}.", nameof(into));
        if (s.X == d.X && s.Y == d.Y)
        {
            // Whole planes (the measurements' reads): one copy.
            Array.Copy(volume.Data, d.Index(0, 0, box.Z), into, 0, s.Count);
            return;
        }
        for (var z = 0; z < s.Z; z++)
        for (var y = 0; y < s.Y; y++)
            volume.Data.AsSpan(checked((int)d.Index(box.X, box.Y + y, box.Z + z)), s.X).CopyTo(into.AsSpan(checked((int)s.Index(0, y, z)), s.X));
    }
}

/// <summary>Where one z slice of a volume came from: the SEG writer references source instances through this.</summary>
public sealed record SliceReference(string SopInstanceUid, string SopClassUid, int FrameNumber, Vec3 ImagePositionPatient, Vec3 RowDirection, Vec3 ColumnDirection, string? SourcePath = null)
{
    /// <summary>The z index of this instance in the assembled (possibly resampled) volume; fractional when the volume was regridded.</summary>
    public double VolumeZ { get; init; }
    public int Rows { get; init; }
    public int Columns { get; init; }
    /// <summary>Pixel Spacing value 1: distance between rows (mm).</summary>
    public double RowSpacing { get; init; }
    /// <summary>Pixel Spacing value 2: distance between columns (mm).</summary>
    public double ColumnSpacing { get; init; }

    /// <summary>Patient position of pixel (column c, row r) of the source image (PS3.3 C.7.6.2.1.1).</summary>
    public Vec3 PixelToPatient(double c, double r) => ImagePositionPatient + RowDirection * (c * ColumnSpacing) + ColumnDirection * (r * RowSpacing);
}

/// <summary>Brings a label map back onto the pixels of one source image, for writers that reference source instances (DICOM SEG).</summary>
public static class SourceSliceProjection
{
    /// <summary>Label of every source pixel (row-major, Rows x Columns), nearest voxel of <paramref name="labels"/> at the pixel's patient position.</summary>
    public static byte[] Sample(LabelVolume labels, SliceReference slice)
    {
        if (slice.Rows <= 0 || slice.Columns <= 0) throw new ArgumentException($"Slice {slice.SopInstanceUid} has no pixel geometry.", nameof(slice));
        var result = new byte[slice.Rows * slice.Columns];
        var inv = labels.Affine.Inverse();
        var d = labels.Dims;
        for (var r = 0; r < slice.Rows; r++)
        for (var c = 0; c < slice.Columns; c++)
        {
            var idx = inv.Apply(slice.PixelToPatient(c, r));
            int x = (int)Math.Round(idx.X), y = (int)Math.Round(idx.Y), z = (int)Math.Round(idx.Z);
            result[r * slice.Columns + c] = d.Contains(x, y, z) ? labels.Data[d.Index(x, y, z)] : (byte)0;
        }
        return result;
    }
}

/// <summary>A 3D voxel grid with a full voxel-to-patient (LPS) mapping.</summary>
public abstract class VoxelVolume<T> where T : unmanaged
{
    protected VoxelVolume(Dims dims, Affine affine, T[]? data)
    {
        if (dims.X <= 0 || dims.Y <= 0 || dims.Z <= 0) throw new ArgumentException($"Volume dimensions must be positive, got {dims}.", nameof(dims));
        Dims = dims;
        Affine = affine;
        Data = data ?? new T[dims.Count];
        if (Data.LongLength != dims.Count) throw new ArgumentException($"Voxel array holds {Data.LongLength} values, {dims} needs {dims.Count}.", nameof(data));
    }

    public Dims Dims { get; }
    public Affine Affine { get; }
    public T[] Data { get; }
    public Vec3 Spacing => Affine.Spacing;
    public Vec3 Origin => Affine.Origin;

    /// <summary>Source slices in z order; empty for volumes that did not come from DICOM.</summary>
    public IReadOnlyList<SliceReference> Slices { get; init; } = [];

    public T this[int x, int y, int z]
    {
        get => Data[Dims.Index(x, y, z)];
        set => Data[Dims.Index(x, y, z)] = value;
    }

    public Span<T> Slice(int z) => Data.AsSpan(checked((int)Dims.Index(0, 0, z)), Dims.X * Dims.Y);

    public Vec3 IndexToPatient(double i, double j, double k) => Affine.IndexToPatient(i, j, k);
    public Vec3 PatientToIndex(Vec3 p) => Affine.PatientToIndex(p);

    /// <summary>Volume of one voxel in mm³ (the parallelepiped spanned by the axes, so sheared grids are right too).</summary>
    public double VoxelVolumeMm3 => Math.Abs(Affine.Col0.Dot(Affine.Col1.Cross(Affine.Col2)));
}

/// <summary>Scalar image (CT in HU, MR intensities) stored as float32.</summary>
public sealed class Volume : VoxelVolume<float>
{
    public Volume(Dims dims, Affine affine, float[]? data = null) : base(dims, affine, data) { }

    public Volume WithData(float[] data) => new(Dims, Affine, data) { Slices = Slices };
    /// <summary>Smallest and largest value, NaN ignored (infinities when there is none).</summary>
    public (float Min, float Max) Range()
    {
        // Vectorised; NaN never compares less or greater, so it is skipped as in the scalar loop.
        var data = Data.AsSpan();
        var w = System.Numerics.Vector<float>.Count;
        var vmin = new System.Numerics.Vector<float>(float.PositiveInfinity);
        var vmax = new System.Numerics.Vector<float>(float.NegativeInfinity);
        var i = 0;
        for (; i + w <= data.Length; i += w)
        {
            var v = new System.Numerics.Vector<float>(data[i..]);
            vmin = System.Numerics.Vector.ConditionalSelect(System.Numerics.Vector.LessThan(v, vmin), v, vmin);
            vmax = System.Numerics.Vector.ConditionalSelect(System.Numerics.Vector.GreaterThan(v, vmax), v, vmax);
        }
        var min = float.PositiveInfinity; var max = float.NegativeInfinity;
        for (var j = 0; j < w; j++) { if (vmin[j] < min) min = vmin[j]; if (vmax[j] > max) max = vmax[j]; }
        for (; i < data.Length; i++) { var v = data[i]; if (v < min) min = v; if (v > max) max = v; }
        // +0 and -0 compare equal, so which one a scan keeps depends on the order: find it as the scalar loop does.
        if (min == 0 || max == 0) return ScalarRange();
        return (min, max);
    }

    private (float Min, float Max) ScalarRange()
    {
        var min = float.PositiveInfinity; var max = float.NegativeInfinity;
        foreach (var v in Data) { if (v < min) min = v; if (v > max) max = v; }
        return (min, max);
    }
}

/// <summary>
/// CT values in HU held as int16: a series whose rescaled values are all whole numbers in the int16 range (almost every
/// CT) is held exactly at half the memory of <see cref="Volume"/>. Stages that need floats make their own copy on their
/// own (usually smaller) grid.
/// </summary>
public sealed class HuVolume : VoxelVolume<short>
{
    public HuVolume(Dims dims, Affine affine, short[]? data = null) : base(dims, affine, data) { }

    /// <summary>Smallest and largest value (as <see cref="Volume.Range"/>).</summary>
    public (float Min, float Max) Range()
    {
        var data = Data.AsSpan();
        var w = System.Numerics.Vector<short>.Count;
        var vmin = new System.Numerics.Vector<short>(short.MaxValue);
        var vmax = new System.Numerics.Vector<short>(short.MinValue);
        var i = 0;
        for (; i + w <= data.Length; i += w)
        {
            var v = new System.Numerics.Vector<short>(data[i..]);
            vmin = System.Numerics.Vector.Min(vmin, v);
            vmax = System.Numerics.Vector.Max(vmax, v);
        }
        int min = short.MaxValue, max = short.MinValue;
        for (var j = 0; j < w; j++) { min = Math.Min(min, vmin[j]); max = Math.Max(max, vmax[j]); }
        for (; i < data.Length; i++) { min = Math.Min(min, data[i]); max = Math.Max(max, data[i]); }
        return (min, max);
    }

    /// <summary>The same values as float32 (exact), with the same grid and source slices.</summary>
    public Volume ToVolume()
    {
        var result = new Volume(Dims, Affine) { Slices = Slices };
        var src = Data; var dst = result.Data;
        Parallel.For(0, Dims.Z, z =>
        {
            var at = (int)Dims.Index(0, 0, z);
            for (var i = at; i < at + Dims.X * Dims.Y; i++) dst[i] = src[i];
        });
        return result;
    }
}

/// <summary>Scalar values of a <see cref="Volume"/> or an <see cref="HuVolume"/> read as float, for code written once for both.</summary>
public static class ScalarVolumes
{
    /// <summary>Smallest value (NaN ignored).</summary>
    public static float Min<T>(VoxelVolume<T> v) where T : unmanaged => v switch
    {
        Volume f => f.Range().Min,
        HuVolume h => h.Range().Min,
        _ => throw new NotSupportedException($"Scalar volumes are float or int16, not {typeof(T).Name}."),
    };

    /// <summary>The values as a float volume: the volume itself when it already is one.</summary>
    public static Volume AsFloat<T>(VoxelVolume<T> v) where T : unmanaged => v switch
    {
        Volume f => f,
        HuVolume h => h.ToVolume(),
        _ => throw new NotSupportedException($"Scalar volumes are float or int16, not {typeof(T).Name}."),
    };
}

/// <summary>Label map (0 = background), one byte per voxel.</summary>
public sealed class LabelVolume : VoxelVolume<byte>
{
    public LabelVolume(Dims dims, Affine affine, byte[]? data = null) : base(dims, affine, data) { }

    public static LabelVolume Like<TOther>(VoxelVolume<TOther> reference) where TOther : unmanaged =>
        new(reference.Dims, reference.Affine) { Slices = reference.Slices };

    public long Count(byte label)
    {
        long n = 0;
        foreach (var v in Data) if (v == label) n++;
        return n;
    }
}
